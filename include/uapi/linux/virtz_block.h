/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * virtz block FIFO sessions: Fuchsia's fuchsia.storage.block session
 * protocol for any Linux block device, on /dev/virtz-block.
 *
 * Open a session with VIRTZ_BLOCK_IOC_OPEN_SESSION on /dev/virtz-block,
 * passing a block device fd the caller already holds; the ioctl returns a
 * new session fd.  On the session fd:
 *
 *  - VIRTZ_BLOCK_IOC_GET_INFO describes the device as the session sees it;
 *  - VIRTZ_BLOCK_IOC_ATTACH_VMO attaches memory (a memfd, or a range of the
 *    caller's address space) and returns its vmoid;
 *  - write() submits whole 64-byte struct virtz_block_fifo_request entries;
 *  - read() returns whole 64-byte struct virtz_block_fifo_response entries;
 *  - poll() reports EPOLLIN when a response is ready and EPOLLOUT when a
 *    request would be accepted;
 *  - VIRTZ_BLOCK_IOC_SUBMIT_REAP does a write() and a read() in one call.
 *
 * The request and response layouts are Fuchsia's block FIFO entries, byte
 * for byte.  Fields are in the host's byte order, which is little-endian
 * on every architecture virtz supports, as on Fuchsia.  See
 * Documentation/admin-guide/block-sessions.rst.
 */
#ifndef _UAPI_LINUX_VIRTZ_BLOCK_H
#define _UAPI_LINUX_VIRTZ_BLOCK_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Request opcodes (BlockOpcode). */
#define VIRTZ_BLOCK_OP_READ		1
#define VIRTZ_BLOCK_OP_WRITE		2
#define VIRTZ_BLOCK_OP_FLUSH		3
#define VIRTZ_BLOCK_OP_TRIM		4
#define VIRTZ_BLOCK_OP_CLOSE_VMO	5

/* Request flags (BlockIoFlag). */
#define VIRTZ_BLOCK_IO_GROUP_ITEM		0x01
#define VIRTZ_BLOCK_IO_GROUP_LAST		0x02
#define VIRTZ_BLOCK_IO_FORCE_ACCESS		0x04
#define VIRTZ_BLOCK_IO_PRE_BARRIER		0x08
#define VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD	0x10
#define VIRTZ_BLOCK_IO_INLINE_ENCRYPTION_ENABLED 0x20

/* struct virtz_block_info flags (DeviceFlag). */
#define VIRTZ_BLOCK_DEV_READONLY		0x01
#define VIRTZ_BLOCK_DEV_REMOVABLE		0x02
#define VIRTZ_BLOCK_DEV_TRIM_SUPPORT		0x08
#define VIRTZ_BLOCK_DEV_FUA_SUPPORT		0x10
#define VIRTZ_BLOCK_DEV_ZSTD_DECOMPRESSION_SUPPORT 0x20
#define VIRTZ_BLOCK_DEV_BARRIER_SUPPORT		0x40

#define VIRTZ_BLOCK_VMOID_INVALID	0
#define VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT	8
#define VIRTZ_BLOCK_MAX_DECOMPRESSED_BYTES (128U << 20)
#define VIRTZ_BLOCK_MAX_TRANSFER_UNBOUNDED 0xffffffffU

/*
 * Requests accepted and not yet answered, per session: Fuchsia's FIFO of
 * 4096 bytes holds 64 entries of 64 bytes in each direction.
 */
#define VIRTZ_BLOCK_FIFO_DEPTH		64
/* VMOs attached at once, per session; vmoids are 1..VIRTZ_BLOCK_MAX_VMOS. */
#define VIRTZ_BLOCK_MAX_VMOS		256
/* Largest transfer of one request, in bytes (BlockInfo.max_transfer_size). */
#define VIRTZ_BLOCK_MAX_TRANSFER	(1U << 20)

struct virtz_block_fifo_request {
	__u8 opcode;			/* VIRTZ_BLOCK_OP_* */
	__u8 pad0[3];
	__u32 flags;			/* VIRTZ_BLOCK_IO_* */
	__u32 reqid;			/* echoed in the response */
	__u16 group;			/* 0..MAX_TXN_GROUP_COUNT-1, with GROUP_ITEM */
	__u16 vmoid;
	__u32 length;			/* blocks */
	__u32 total_compressed_bytes;	/* DECOMPRESS_WITH_ZSTD */
	__u64 vmo_offset;		/* blocks */
	__u64 dev_offset;		/* blocks */
	__u64 trace_flow_id;
	__u64 dun;			/* INLINE_ENCRYPTION_ENABLED */
	__u8 slot;			/* INLINE_ENCRYPTION_ENABLED */
	__u8 pad1;
	__u16 compressed_prefix_bytes;	/* DECOMPRESS_WITH_ZSTD */
	__u32 uncompressed_bytes;	/* DECOMPRESS_WITH_ZSTD */
};

struct virtz_block_fifo_response {
	__s32 status;			/* 0 or a negative errno */
	__u32 reqid;
	__u16 group;
	__u16 pad0;
	__u32 count;			/* requests this response answers */
	__u8 pad1[48];
};

/* BlockInfo, as the session sees the device. */
struct virtz_block_info {
	__u64 block_count;
	__u32 block_size;		/* bytes */
	__u32 max_transfer_size;	/* bytes */
	__u32 flags;			/* VIRTZ_BLOCK_DEV_* */
	__u32 pad;
};

/* BlockOffsetMapping: all three in blocks. */
struct virtz_block_offset_map {
	__u64 source_block_offset;	/* as the session's requests say it */
	__u64 target_block_offset;	/* on the device */
	__u64 length;
};

/* VIRTZ_BLOCK_IOC_OPEN_SESSION: returns the new session fd. */
#define VIRTZ_BLOCK_OPEN_OFFSET_MAP	0x1	/* apply @map */

struct virtz_block_open_session {
	__s32 bdev_fd;			/* an open block device, read or read-write */
	__u32 flags;			/* VIRTZ_BLOCK_OPEN_* */
	struct virtz_block_offset_map map;
};

/*
 * VIRTZ_BLOCK_IOC_ATTACH_VMO: @fd >= 0 attaches @size bytes of a memfd
 * (any shmem file) from byte @offset, @size 0 meaning up to its end; @fd
 * == -1 attaches @size bytes of the caller's memory at @addr.  Offsets,
 * addresses and sizes are page-aligned.  The kernel returns @vmoid.
 * Memory is pinned while attached; a memfd's pages are looked up per
 * request and held only until it is answered, so holes punched in the
 * memfd are memory given back, and pages past its end answer -EFAULT.
 */
#define VIRTZ_BLOCK_VMO_READONLY	0x1	/* the session may not write into it */

struct virtz_block_attach_vmo {
	__s32 fd;
	__u32 flags;			/* VIRTZ_BLOCK_VMO_* */
	__u64 addr;			/* fd == -1 */
	__u64 offset;			/* fd >= 0 */
	__u64 size;
	__u16 vmoid;			/* out */
	__u16 pad[3];
};

/*
 * VIRTZ_BLOCK_IOC_SUBMIT_REAP: write() and read() in one system call.
 * Submits up to @nr_requests from @requests without waiting for room,
 * then returns up to @nr_responses responses in @responses, first
 * waiting (unless the session is O_NONBLOCK) until @min_responses are
 * ready or nothing is left in flight.  On return @nr_requests and
 * @nr_responses say how many were taken and returned.
 */
struct virtz_block_submit_reap {
	__u64 requests;			/* struct virtz_block_fifo_request[] */
	__u64 responses;		/* struct virtz_block_fifo_response[] */
	__u32 nr_requests;		/* in: offered; out: taken */
	__u32 nr_responses;		/* in: room; out: returned */
	__u32 min_responses;		/* at most nr_responses and FIFO_DEPTH */
	__u32 flags;			/* 0 */
};

#define VIRTZ_BLOCK_IOC_MAGIC		0xbf
/* On /dev/virtz-block. */
#define VIRTZ_BLOCK_IOC_OPEN_SESSION	\
	_IOW(VIRTZ_BLOCK_IOC_MAGIC, 1, struct virtz_block_open_session)
/* On a session fd. */
#define VIRTZ_BLOCK_IOC_GET_INFO	_IOR(VIRTZ_BLOCK_IOC_MAGIC, 2, struct virtz_block_info)
#define VIRTZ_BLOCK_IOC_ATTACH_VMO	\
	_IOWR(VIRTZ_BLOCK_IOC_MAGIC, 3, struct virtz_block_attach_vmo)
#define VIRTZ_BLOCK_IOC_SUBMIT_REAP	\
	_IOWR(VIRTZ_BLOCK_IOC_MAGIC, 4, struct virtz_block_submit_reap)

#endif /* _UAPI_LINUX_VIRTZ_BLOCK_H */
