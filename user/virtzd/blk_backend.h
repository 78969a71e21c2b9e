/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a virtio-blk backend offers the device (virtio_blk.c).
 *
 * Every op runs on the disk's I/O thread, never on a vCPU thread.  The
 * device hands over parsed, range-checked requests (blk_req.h) with
 * submit(); the backend answers each exactly once through b->done(),
 * either from submit() itself (synchronous backends) or later from
 * reap(), which the I/O thread calls when poll_fd is readable.
 */
#ifndef VIRTZD_BLK_BACKEND_H
#define VIRTZD_BLK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blk_req.h"

struct blk_backend;

struct blk_backend_ops {
	const char *name;
	/* Starts @r (IN, OUT, FLUSH, DISCARD or WRITE_ZEROES). */
	void (*submit)(struct blk_backend *b, struct vblk_req *r);
	/* Issues what submit() queued; may be NULL. */
	void (*commit)(struct blk_backend *b);
	/* Completions are ready (poll_fd was readable); may be NULL. */
	void (*reap)(struct blk_backend *b);
	/* Synchronous read for a layer above (the volatile overlay). */
	int (*pread)(struct blk_backend *b, void *buf, size_t len,
		     uint64_t off);
	/* Waits for what is in flight, flushes, and frees @b. */
	void (*destroy)(struct blk_backend *b);
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	uint64_t size;		/* bytes, a multiple of 512 */
	uint32_t block_size;	/* logical block size, bytes */
	bool ro;		/* opened read-only */
	bool discard;		/* DISCARD can be carried out */
	bool write_zeroes;	/* WRITE_ZEROES can be carried out */
	/* Its limits, 0 for VBLK_MAX_RANGE_SECTORS and VBLK_MAX_RANGES. */
	uint32_t wz_max_sectors;
	uint32_t wz_max_seg;
	bool direct;		/* I/O bypasses the host page cache */
	int poll_fd;		/* completion eventfd, or -1 */
	/* Set by the device: how a request is answered. */
	void (*done)(void *ctx, struct vblk_req *r, uint8_t status);
	void *ctx;
};

static inline void blk_done(struct blk_backend *b, struct vblk_req *r,
			    uint8_t status)
{
	b->done(b->ctx, r, status);
}

/*
 * blk_file.c: a regular file or a block device, I/O through io_uring.
 * @exclusive takes the backing's lock exclusively (READ_WRITE disks);
 * otherwise shared.  @direct asks for O_DIRECT (cache=none); when the
 * filesystem has no direct I/O the backend is buffered and ->direct says
 * so.  NULL with @err set on failure.
 */
struct blk_backend *blk_file_open(const char *path, bool ro, bool exclusive,
				  bool direct, char *err, size_t errlen);
/*
 * Takes a flock on @fd (exclusive or shared, never waiting); on conflict
 * fills @err naming @path and, when /proc/locks tells, the holder.
 */
int blk_lock(int fd, const char *path, bool exclusive, char *err,
	     size_t errlen);

/*
 * blk_volatile.c: VOLATILE_WRITE over @lower (opened read-only): writes
 * land in an in-memory overlay at sector granularity, reads merge it over
 * @lower.  Takes ownership of @lower, also on failure.
 */
struct blk_backend *blk_volatile_wrap(struct blk_backend *lower, char *err,
				      size_t errlen);

/*
 * blk_session.c: a block device through a /dev/virtz-block session, guest
 * RAM (@mem_fd, mapped at @mem) attached once as its VMO.
 */
struct blk_backend *blk_session_open(const char *path, bool ro,
				     bool exclusive, int mem_fd,
				     const uint8_t *mem, uint64_t mem_size,
				     char *err, size_t errlen);
/* Is @rdev a dm device whose table is an "fvm" target (a volume)? */
bool blk_is_fvm_volume(dev_t rdev);

/*
 * blk_qcow2.c: a QCOW2 image through user/lib/qcow2, synchronous on the
 * I/O thread.  The engine's refusal (naming the feature) is @err.
 */
struct blk_backend *blk_qcow2_open(const char *path, bool ro, bool exclusive,
				   char *err, size_t errlen);

/* Sync helpers over an iovec for the synchronous backends. */
void blk_iov_to_buf(const struct vblk_req *r, uint8_t *buf);
void blk_buf_to_iov(const struct vblk_req *r, const uint8_t *buf);

#endif
