// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk backend over a QCOW2 image (user/lib/qcow2), synchronous on
 * the disk's I/O thread: each request is carried out and answered before
 * the next starts.  The engine refuses at open what it does not support
 * (encryption, external data files, ...) with a message naming the
 * feature, and that message is the launch error.  DISCARD and
 * WRITE_ZEROES are offered on writable version 3 images, where the
 * engine has zero clusters.
 *
 * The top image is locked like a raw file; the engine takes a shared
 * lock on each backing file it opens (QCOW2_O_LOCK_BACKING), so that no
 * READ_WRITE disk elsewhere can change a backing file under an overlay.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk_backend.h"
#include "qcow2.h"

struct blk_qcow2 {
	struct blk_backend be;
	int fd;
	struct qcow2 *q;
};

static struct blk_qcow2 *to_q(struct blk_backend *b)
{
	return (struct blk_qcow2 *)b;
}

static void q_submit(struct blk_backend *b, struct vblk_req *r)
{
	struct blk_qcow2 *q = to_q(b);
	uint64_t off = r->sector * VBLK_SECTOR;
	int i, ret = 0;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (r->type == VIRTIO_BLK_T_OUT && b->ro) {
			ret = -EROFS;
			break;
		}
		for (i = 0; i < r->niov && !ret; i++) {
			ret = r->type == VIRTIO_BLK_T_IN ?
			      qcow2_pread(q->q, r->iov[i].iov_base,
					  r->iov[i].iov_len, off) :
			      qcow2_pwrite(q->q, r->iov[i].iov_base,
					   r->iov[i].iov_len, off);
			off += r->iov[i].iov_len;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (!b->ro)
			ret = qcow2_flush(q->q);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		for (i = 0; i < r->nrange && !ret; i++) {
			uint64_t o = r->range[i].sector * VBLK_SECTOR;
			uint64_t l = r->range[i].sectors * VBLK_SECTOR;

			ret = r->type == VIRTIO_BLK_T_DISCARD ?
			      qcow2_discard(q->q, o, l) :
			      qcow2_write_zeroes(q->q, o, l);
		}
		break;
	default:
		blk_done(b, r, VIRTIO_BLK_S_UNSUPP);
		return;
	}
	blk_done(b, r, ret ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static int q_pread(struct blk_backend *b, void *buf, size_t len,
		   uint64_t off)
{
	return qcow2_pread(to_q(b)->q, buf, len, off);
}

static void q_destroy(struct blk_backend *b)
{
	struct blk_qcow2 *q = to_q(b);
	int ret = qcow2_close(q->q);

	if (ret)
		fprintf(stderr, "virtzd: qcow2: flushing at close: %s\n",
			strerror(-ret));
	close(q->fd);
	free(q);
}

static const struct blk_backend_ops q_ops = {
	.name = "qcow2",
	.submit = q_submit,
	.pread = q_pread,
	.destroy = q_destroy,
};

struct blk_backend *blk_qcow2_open(const char *path, bool ro, bool exclusive,
				   char *err, size_t errlen)
{
	struct blk_qcow2 *q = calloc(1, sizeof(*q));
	char dir[4096], why[400];
	struct qcow2_info info;
	int ret;

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (q->fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == EACCES || errno == EROFS ?
			 " (mode=ro or mode=volatile open it read-only)" : "");
		goto err_free;
	}
	if (blk_lock(q->fd, path, exclusive, err, errlen))
		goto err_close;
	ret = qcow2_probe(q->fd);
	if (ret != 1) {
		snprintf(err, errlen, "%s: %s", path,
			 ret < 0 ? strerror(-ret) : "not a qcow2 image (format=qcow2)");
		goto err_close;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	ret = qcow2_open_fd(q->fd, dirname(dir),
			    QCOW2_O_LOCK_BACKING | (ro ? 0 : QCOW2_O_RDWR),
			    &q->q, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto err_close;
	}
	qcow2_get_info(q->q, &info);
	q->be = (struct blk_backend){
		.ops = &q_ops,
		.size = qcow2_virtual_size(q->q) & ~(VBLK_SECTOR - 1),
		.block_size = 512,
		.ro = ro,
		.discard = !ro && info.version >= 3,
		.write_zeroes = !ro && info.version >= 3,
		.poll_fd = -1,
	};
	if (!q->be.size) {
		snprintf(err, errlen, "%s: virtual size under one sector", path);
		qcow2_close(q->q);
		goto err_close;
	}
	return &q->be;

err_close:
	close(q->fd);
err_free:
	free(q);
	return NULL;
}
