// SPDX-License-Identifier: GPL-2.0
/*
 * VOLATILE_WRITE: the guest's writes land in an overlay in host memory
 * and nothing reaches the backing, which is opened read-only (so a
 * read-only file works).  Reads merge the overlay over the backing.
 *
 * The overlay is a sparse memfd as large as the disk, plus a bitmap of
 * the 512-byte sectors written, in 16 MiB leaves allocated on first
 * write: host memory grows with what the guest writes, not with the disk.
 * DISCARD and WRITE_ZEROES punch the overlay, so those sectors read as
 * zeros.  Everything is synchronous on the disk's I/O thread; the memory
 * is given back when the guest stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blk_backend.h"

#define LEAF_SHIFT	15		/* sectors per leaf: 16 MiB */
#define LEAF_SECTORS	(1ULL << LEAF_SHIFT)
#define LEAF_WORDS	(LEAF_SECTORS / 64)

struct blk_volatile {
	struct blk_backend be;
	struct blk_backend *lower;
	int memfd;
	uint64_t nleaves;
	uint64_t **leaf;	/* NULL: nothing written in that 16 MiB */
	uint8_t *buf;		/* one request's data, VIRTQ_MAX_BYTES */
};

static struct blk_volatile *to_vol(struct blk_backend *b)
{
	return (struct blk_volatile *)b;
}

static bool written(struct blk_volatile *v, uint64_t s)
{
	uint64_t *l = v->leaf[s >> LEAF_SHIFT];

	s &= LEAF_SECTORS - 1;
	return l && (l[s / 64] >> (s % 64) & 1);
}

static int mark(struct blk_volatile *v, uint64_t s, uint64_t n)
{
	for (; n; s++, n--) {
		uint64_t **l = &v->leaf[s >> LEAF_SHIFT], i;

		if (!*l) {
			*l = calloc(LEAF_WORDS, sizeof(uint64_t));
			if (!*l)
				return -ENOMEM;
		}
		i = s & (LEAF_SECTORS - 1);
		(*l)[i / 64] |= 1ULL << (i % 64);
	}
	return 0;
}

static int full_pwrite(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	uint64_t at = 0;

	while (at < len) {
		ssize_t n = pwrite(fd, p + at, len - at, off + at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		at += n;
	}
	return 0;
}

/* Reads sectors [s, s + n) into @p, each from wherever it lives. */
static int merged_read(struct blk_volatile *v, uint8_t *p, uint64_t s,
		       uint64_t n)
{
	while (n) {
		bool ov = written(v, s);
		uint64_t run = 1;
		int ret;

		while (run < n && written(v, s + run) == ov)
			run++;
		if (ov)
			ret = vblk_pread_full(v->memfd, p, run * VBLK_SECTOR,
					 s * VBLK_SECTOR);
		else
			ret = v->lower->ops->pread(v->lower, p, run * VBLK_SECTOR,
						   s * VBLK_SECTOR);
		if (ret)
			return ret;
		p += run * VBLK_SECTOR;
		s += run;
		n -= run;
	}
	return 0;
}

static void vol_submit(struct blk_backend *b, struct vblk_req *r)
{
	struct blk_volatile *v = to_vol(b);
	uint64_t n = r->len / VBLK_SECTOR;
	int i, ret = 0;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		ret = merged_read(v, v->buf, r->sector, n);
		if (!ret)
			blk_buf_to_iov(r, v->buf);
		break;
	case VIRTIO_BLK_T_OUT:
		blk_iov_to_buf(r, v->buf);
		ret = full_pwrite(v->memfd, v->buf, r->len,
				  r->sector * VBLK_SECTOR);
		if (!ret)
			ret = mark(v, r->sector, n);
		break;
	case VIRTIO_BLK_T_FLUSH:
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		for (i = 0; i < r->nrange && !ret; i++) {
			if (fallocate(v->memfd,
				      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      r->range[i].sector * VBLK_SECTOR,
				      r->range[i].sectors * VBLK_SECTOR) < 0)
				ret = -errno;
			else
				ret = mark(v, r->range[i].sector,
					   r->range[i].sectors);
		}
		break;
	default:
		blk_done(b, r, VIRTIO_BLK_S_UNSUPP);
		return;
	}
	blk_done(b, r, ret ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static int vol_pread(struct blk_backend *b, void *buf, size_t len,
		     uint64_t off)
{
	return merged_read(to_vol(b), buf, off / VBLK_SECTOR, len / VBLK_SECTOR);
}

static void vol_destroy(struct blk_backend *b)
{
	struct blk_volatile *v = to_vol(b);
	uint64_t i;

	for (i = 0; i < v->nleaves; i++)
		free(v->leaf[i]);
	free(v->leaf);
	free(v->buf);
	close(v->memfd);
	v->lower->ops->destroy(v->lower);
	free(v);
}

static const struct blk_backend_ops vol_ops = {
	.name = "volatile",
	.submit = vol_submit,
	.pread = vol_pread,
	.destroy = vol_destroy,
};

struct blk_backend *blk_volatile_wrap(struct blk_backend *lower, char *err,
				      size_t errlen)
{
	struct blk_volatile *v = calloc(1, sizeof(*v));

	if (!v)
		goto nomem;
	v->lower = lower;
	v->nleaves = (lower->size / VBLK_SECTOR + LEAF_SECTORS - 1) >> LEAF_SHIFT;
	v->leaf = calloc(v->nleaves, sizeof(*v->leaf));
	v->buf = malloc(VIRTQ_MAX_BYTES);
	if (!v->leaf || !v->buf)
		goto nomem;
	v->memfd = memfd_create("virtz-volatile-disk", MFD_CLOEXEC);
	if (v->memfd < 0 || ftruncate(v->memfd, lower->size) < 0) {
		snprintf(err, errlen, "volatile overlay: %s", strerror(errno));
		if (v->memfd >= 0)
			close(v->memfd);
		goto fail;
	}
	v->be = (struct blk_backend){
		.ops = &vol_ops,
		.size = lower->size,
		.block_size = lower->block_size,
		.discard = true,
		.write_zeroes = true,
		.poll_fd = -1,
	};
	return &v->be;

nomem:
	snprintf(err, errlen, "volatile overlay: out of memory");
fail:
	if (v) {
		free(v->leaf);
		free(v->buf);
	}
	free(v);
	lower->ops->destroy(lower);
	return NULL;
}
