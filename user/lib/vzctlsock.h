/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The virtzd instance control protocol: Fuchsia's Guest and
 * BalloonController served by each virtzd on an AF_UNIX SOCK_SEQPACKET
 * socket (by default /run/virtz/guest-<cid>.sock).
 *
 * One request, one reply, in order.  Every message is a struct
 * vz_ctl_hdr followed by hdr.len payload bytes, in one datagram of at
 * most VZ_CTL_MAX_MSG bytes, host byte order.  A reply carries the
 * request's type and seq, VZ_CTL_F_REPLY, and a payload that starts
 * with struct vz_ctl_status: error 0 and the type's reply data, or a
 * negative errno and a NUL-terminated message naming the problem.
 * Handles (the serial socket) travel as SCM_RIGHTS on the reply.
 */
#ifndef VIRTZ_VZCTLSOCK_H
#define VIRTZ_VZCTLSOCK_H

#include <stddef.h>
#include <stdint.h>

#define VZ_CTL_MAGIC	0x315a4356U	/* "VCZ1" little-endian */
#define VZ_CTL_MAX_MSG	1024
#define VZ_CTL_F_REPLY	0x1

enum vz_ctl_type {
	/* Guest */
	VZ_CTL_GUEST_GET_INFO = 1,	/* -> struct vz_ctl_guest_info */
	VZ_CTL_GUEST_GET_SERIAL = 2,	/* -> SCM_RIGHTS: a stream socket */
	VZ_CTL_GUEST_STOP = 3,		/* -> nothing; virtzd then exits */
	VZ_CTL_GUEST_GET_DISK = 4,	/* uint32_t index -> vz_ctl_disk_info;
					 * -ENOENT past the last disk */
	/* BalloonController */
	VZ_CTL_BALLOON_GET_NUM_PAGES = 16,	/* -> uint32_t */
	VZ_CTL_BALLOON_REQUEST_NUM_PAGES = 17,	/* uint32_t -> nothing */
	VZ_CTL_BALLOON_GET_MEM_STATS = 18,	/* -> vz_ctl_mem_stat[] */
};

struct vz_ctl_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
	uint32_t len;		/* payload bytes after this header */
};

struct vz_ctl_status {
	int32_t error;		/* 0 or -errno */
};

struct vz_ctl_guest_info {
	uint32_t cid;		/* 0 when not registered */
	uint32_t env_id;
	uint32_t cpus;
	uint32_t pid;
	uint64_t mem_bytes;
	uint64_t serial_bytes;	/* guest serial output so far */
	char label[128];
};

/* One LaunchInfo.block_devices entry as virtzd runs it. */
#define VZ_CTL_DISK_RO			0x1	/* the guest sees it read-only */
#define VZ_CTL_DISK_DISCARD		0x2	/* DISCARD offered */
#define VZ_CTL_DISK_WRITE_ZEROES	0x4	/* WRITE_ZEROES offered */
#define VZ_CTL_DISK_PATH_TRUNCATED	0x8	/* path did not fit */

struct vz_ctl_disk_info {
	char id[24];		/* the virtio-blk serial, NUL-terminated */
	char mode[12];		/* "rw", "ro" or "volatile" */
	char format[8];		/* "raw" or "qcow2" */
	char backend[12];	/* "file", "session" or "qcow2" */
	uint32_t block_size;	/* bytes */
	uint32_t flags;		/* VZ_CTL_DISK_* */
	uint64_t size;		/* bytes */
	char path[512];		/* the backing file, NUL-terminated */
};

struct vz_ctl_mem_stat {
	uint16_t tag;		/* virtio-balloon tags 0..15 */
	uint16_t pad[3];
	uint64_t val;
};

#define VZ_CTL_RUN_DIR	"/run/virtz"

/* Fills @buf with the control socket path of guest @cid. */
void vzctl_path(char *buf, size_t len, unsigned int cid);

/* Connects to a control socket; returns the fd or -errno. */
int vzctl_connect(const char *path);

/*
 * One request/reply.  On success returns the number of reply data bytes
 * copied to @out (after the status); on a virtzd error returns its
 * negative errno with its message in @msg.  @fd_out, when not NULL,
 * receives a passed handle or -1.
 */
int vzctl_call(int sock, uint16_t type, const void *payload, uint32_t len,
	       void *out, size_t outlen, int *fd_out, char *msg,
	       size_t msglen);

#endif
