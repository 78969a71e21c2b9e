// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk backend over a block FIFO session (/dev/virtz-block).
 *
 * Guest RAM (the memfd) is attached once as a VMO, so a request's data
 * segments become FIFO requests whose vmo_offset is the guest-physical
 * address in blocks: no bounce buffer, the kernel moves data straight
 * between the device and guest pages.  Segments that follow each other
 * in guest-physical memory share one FIFO request, up to the session's
 * max_transfer_size.  A segment not aligned to the block size cannot be
 * expressed that way (an O_DIRECT buffer in a Linux guest need only be
 * 512-aligned on a 4 KiB-block disk): such a request goes through a
 * bounce buffer of VIRTQ_MAX_BYTES, attached as a second VMO, one request
 * at a time, in pieces of at most max_transfer_size.
 *
 * One virtio request takes one reqid (its slot); when it needs several
 * FIFO requests they form a group (8 at most in flight), answered once.
 * FLUSH is FLUSH, DISCARD is TRIM, and when the guest did not accept
 * VIRTIO_BLK_F_FLUSH (a write-through disk) writes carry FORCE_ACCESS.
 * Requests wait in order when the FIFO (64 entries) or the groups are
 * full.  WRITE_ZEROES is not offered: TRIM does not promise zeros.
 *
 * The VMO keeps the memfd, not its pages: the kernel looks the pages up
 * for each request, so the balloon may punch guest RAM at any time (see
 * Documentation/admin-guide/block-sessions.rst).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>

#include "blk_backend.h"
#include "vzblock.h"

#define SLOTS	VIRTZ_BLOCK_FIFO_DEPTH
#define GROUPS	VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT

struct blk_session {
	struct blk_backend be;
	int bdev_fd;
	int sfd;
	uint16_t vmoid;
	const uint8_t *mem;
	uint64_t mem_size;
	uint32_t bs;
	uint32_t max_xfer;		/* bytes per FIFO request, bs multiple */

	struct vblk_req *slot[SLOTS];
	int slot_fifo[SLOTS];		/* FIFO entries the slot's request took */
	int slot_group[SLOTS];		/* its group, or -1 */
	bool slot_bounce[SLOTS];	/* its data is in @bounce */
	bool dead;			/* a submit failed: all I/O fails */
	unsigned int nerr;		/* failures reported on stderr */
	uint8_t *bounce;		/* VIRTQ_MAX_BYTES, block-aligned */
	uint16_t bounce_vmoid;
	bool bounce_busy;
	bool group_busy[GROUPS];
	int fifo_used;
	struct vblk_req *wait, **wait_tail;

	struct virtz_block_fifo_request out[SLOTS];
	int nout;
};

static struct blk_session *to_sess(struct blk_backend *b)
{
	return (struct blk_session *)b;
}

/* Is @rdev a device-mapper device whose table is one "fvm" target? */
bool blk_is_fvm_volume(dev_t rdev)
{
	union {
		struct dm_ioctl io;
		uint8_t raw[16384];
	} u;
	struct dm_target_spec *t;
	bool fvm = false;
	int fd;

	memset(&u, 0, sizeof(u.io));
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(u.io);
	u.io.dev = rdev;
	u.io.flags = DM_STATUS_TABLE_FLAG;
	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (!ioctl(fd, DM_TABLE_STATUS, &u.io) && u.io.target_count >= 1 &&
	    u.io.data_start + sizeof(*t) <= sizeof(u)) {
		t = (struct dm_target_spec *)(u.raw + u.io.data_start);
		fvm = !strncmp(t->target_type, "fvm", DM_MAX_TYPE_NAME);
	}
	close(fd);
	return fvm;
}

static int free_slot(struct blk_session *s)
{
	int i;

	for (i = 0; i < SLOTS; i++)
		if (!s->slot[i])
			return i;
	return -1;
}

static int free_group(struct blk_session *s)
{
	int i;

	for (i = 0; i < GROUPS; i++)
		if (!s->group_busy[i])
			return i;
	return -1;
}

/* One FIFO request's share of a virtio request. */
struct sess_ext {
	uint16_t vmoid;
	uint32_t blocks;
	uint64_t vmo_block;
	uint64_t dev_block;
};

/*
 * Splits @r into the FIFO requests that carry it, at most SLOTS of them,
 * into @x.  Guest-physically contiguous data segments become one request
 * of at most max_xfer bytes.  Returns how many (0: nothing to do), -1
 * when @r cannot be carried out, or -2 when its segments are not block
 * aligned or need more FIFO entries than the FIFO holds: then the data
 * must go through the bounce buffer.
 */
static int plan(struct blk_session *s, const struct vblk_req *r,
		struct sess_ext *x)
{
	uint64_t dev = r->sector * VBLK_SECTOR / s->bs;
	int i, n = 0;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		for (i = 0; i < r->niov; i++) {
			uint64_t gpa = (const uint8_t *)r->iov[i].iov_base - s->mem;
			uint64_t len = r->iov[i].iov_len;
			struct sess_ext *prev = n ? &x[n - 1] : NULL;

			if (gpa >= s->mem_size || len > s->mem_size - gpa)
				return -1;
			if (gpa % s->bs || len % s->bs)
				return r->len % s->bs ? -1 : -2;
			if (prev && prev->vmo_block + prev->blocks == gpa / s->bs &&
			    ((uint64_t)prev->blocks * s->bs + len) <= s->max_xfer) {
				prev->blocks += len / s->bs;
				continue;
			}
			if (n == SLOTS || len > s->max_xfer)
				return -2;
			x[n++] = (struct sess_ext){ s->vmoid, len / s->bs,
						    gpa / s->bs, 0 };
		}
		for (i = 0; i < n; i++) {
			x[i].dev_block = dev;
			dev += x[i].blocks;
		}
		return n;
	case VIRTIO_BLK_T_FLUSH:
		x[0] = (struct sess_ext){ 0 };
		return 1;
	case VIRTIO_BLK_T_DISCARD:
		for (i = 0; i < r->nrange; i++)
			x[i] = (struct sess_ext){ 0,
				r->range[i].sectors * VBLK_SECTOR / s->bs, 0,
				r->range[i].sector * VBLK_SECTOR / s->bs };
		return r->nrange;
	default:
		return -1;
	}
}

/* The bounce buffer's share of @r: pieces of at most max_xfer bytes. */
static int plan_bounce(struct blk_session *s, const struct vblk_req *r,
		       struct sess_ext *x)
{
	uint64_t dev = r->sector * VBLK_SECTOR / s->bs, at = 0;
	int n = 0;

	while (at < r->len) {
		uint32_t len = r->len - at < s->max_xfer ? r->len - at :
			       s->max_xfer;

		if (n == SLOTS)
			return -1;
		x[n++] = (struct sess_ext){ s->bounce_vmoid, len / s->bs,
					    at / s->bs, dev };
		dev += len / s->bs;
		at += len;
	}
	return n;
}

/* Queues @r's FIFO requests if there is room; false if it must wait. */
static bool start(struct blk_session *s, struct vblk_req *r)
{
	struct sess_ext x[SLOTS];
	int n = plan(s, r, x), slot, group = -1, i;
	bool bounce = n == -2;
	uint32_t flags = 0, gflags;
	uint8_t op;

	if (bounce) {
		if (s->bounce_busy)
			return false;
		n = plan_bounce(s, r, x);
	}
	if (s->dead)
		n = -1;
	if (n < 0) {
		blk_done(&s->be, r, r->type == VIRTIO_BLK_T_IN ||
			 r->type == VIRTIO_BLK_T_OUT ? VIRTIO_BLK_S_IOERR :
			 VIRTIO_BLK_S_UNSUPP);
		return true;
	}
	if (!n) {
		blk_done(&s->be, r, VIRTIO_BLK_S_OK);
		return true;
	}
	slot = free_slot(s);
	if (n > 1)
		group = free_group(s);
	if (slot < 0 || s->fifo_used + n > SLOTS || (n > 1 && group < 0))
		return false;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		op = VIRTZ_BLOCK_OP_READ;
		break;
	case VIRTIO_BLK_T_OUT:
		op = VIRTZ_BLOCK_OP_WRITE;
		if (r->fua)
			flags |= VIRTZ_BLOCK_IO_FORCE_ACCESS;
		break;
	case VIRTIO_BLK_T_FLUSH:
		op = VIRTZ_BLOCK_OP_FLUSH;
		break;
	default:
		op = VIRTZ_BLOCK_OP_TRIM;
		break;
	}
	if (bounce && r->type == VIRTIO_BLK_T_OUT)
		blk_iov_to_buf(r, s->bounce);
	for (i = 0; i < n; i++) {
		struct virtz_block_fifo_request *q = &s->out[s->nout++];

		gflags = flags;
		if (group >= 0)
			gflags |= VIRTZ_BLOCK_IO_GROUP_ITEM |
				  (i == n - 1 ? VIRTZ_BLOCK_IO_GROUP_LAST : 0);
		vzb_req(q, op, gflags, slot, x[i].vmoid, x[i].blocks,
			x[i].vmo_block, x[i].dev_block);
		if (group >= 0)
			q->group = group;
	}
	s->slot[slot] = r;
	s->slot_fifo[slot] = n;
	s->slot_group[slot] = group;
	s->slot_bounce[slot] = bounce;
	if (bounce)
		s->bounce_busy = true;
	if (group >= 0)
		s->group_busy[group] = true;
	s->fifo_used += n;
	return true;
}

/*
 * Answers the request in @slot (a group answers once, a lone request
 * once too), failed when @err or an earlier error says so, and frees
 * the FIFO entries, group and bounce buffer it held.
 */
static void finish_slot(struct blk_session *s, uint32_t slot, int err)
{
	struct vblk_req *r;

	if (slot >= SLOTS || !s->slot[slot])
		return;		/* not ours: the kernel would be wrong */
	r = s->slot[slot];
	if (err && s->nerr++ < 8)
		fprintf(stderr, "virtzd: block session: %s of %u bytes at sector %llu failed: %s%s\n",
			vblk_type_name(r->type), (unsigned int)r->len,
			(unsigned long long)r->sector, strerror(-err),
			s->nerr == 8 ? " (not reporting more)" : "");
	if (err)
		r->err = err;
	s->fifo_used -= s->slot_fifo[slot];
	if (s->slot_group[slot] >= 0)
		s->group_busy[s->slot_group[slot]] = false;
	if (s->slot_bounce[slot]) {
		if (r->type == VIRTIO_BLK_T_IN && !r->err)
			blk_buf_to_iov(r, s->bounce);
		s->bounce_busy = false;
	}
	s->slot[slot] = NULL;
	blk_done(&s->be, r, r->err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static void flush_out(struct blk_session *s)
{
	int at = 0, i;

	while (at < s->nout) {
		ssize_t n = vzb_submit(s->sfd, s->out + at, s->nout - at);

		if (n <= 0) {
			/*
			 * The session is broken (the device went away, or
			 * the kernel refused the FIFO): fail what it did not
			 * take, and from now on everything, since a late
			 * answer could otherwise meet a reused slot.
			 */
			fprintf(stderr, "virtzd: block session submit: %s; failing the disk's I/O from now on\n",
				strerror(n < 0 ? (int)-n : EIO));
			s->dead = true;
			for (i = at; i < s->nout; i++)
				finish_slot(s, s->out[i].reqid, -EIO);
			break;
		}
		at += n;
	}
	s->nout = 0;
}

static void admit(struct blk_session *s)
{
	struct vblk_req *r;

	/* start() may answer and free @r at once: take its successor first. */
	while ((r = s->wait)) {
		struct vblk_req *next = r->next;

		if (!start(s, r))
			break;
		s->wait = next;
		if (!next)
			s->wait_tail = &s->wait;
	}
}

static void sess_submit(struct blk_backend *b, struct vblk_req *r)
{
	struct blk_session *s = to_sess(b);

	if (r->type == VIRTIO_BLK_T_OUT && b->ro) {
		blk_done(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	r->next = NULL;
	/* Keep order: nothing overtakes a waiting request. */
	if (!s->wait && start(s, r))
		return;
	*s->wait_tail = r;
	s->wait_tail = &r->next;
}

static void sess_commit(struct blk_backend *b)
{
	flush_out(to_sess(b));
}

static void sess_reap(struct blk_backend *b)
{
	struct blk_session *s = to_sess(b);
	struct virtz_block_fifo_response resp[SLOTS];
	ssize_t n, i;

	n = vzb_reap(s->sfd, resp, SLOTS);
	for (i = 0; i < n; i++)
		finish_slot(s, resp[i].reqid, resp[i].status);
	admit(s);
	flush_out(s);
}

static int sess_pread(struct blk_backend *b, void *buf, size_t len,
		      uint64_t off)
{
	return vblk_pread_full(to_sess(b)->bdev_fd, buf, len, off);
}

static void sess_destroy(struct blk_backend *b)
{
	struct blk_session *s = to_sess(b);
	struct vblk_req *r;
	int i;

	/* Closing the session waits for its bios (guest RAM stays mapped). */
	close(s->sfd);
	for (i = 0; i < SLOTS; i++)
		free(s->slot[i]);
	while ((r = s->wait)) {
		s->wait = r->next;
		free(r);
	}
	close(s->bdev_fd);
	free(s->bounce);
	free(s);
}

static const struct blk_backend_ops sess_ops = {
	.name = "session",
	.submit = sess_submit,
	.commit = sess_commit,
	.reap = sess_reap,
	.pread = sess_pread,
	.destroy = sess_destroy,
};

struct blk_backend *blk_session_open(const char *path, bool ro,
				     bool exclusive, int mem_fd,
				     const uint8_t *mem, uint64_t mem_size,
				     char *err, size_t errlen)
{
	struct blk_session *s = calloc(1, sizeof(*s));
	struct virtz_block_info info;
	struct stat st;
	int ret;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->sfd = -1;
	s->wait_tail = &s->wait;
	s->bdev_fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC |
			  (exclusive ? O_EXCL : 0));
	if (s->bdev_fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == EBUSY ? " (the device is in use)" : "");
		goto err_free;
	}
	if (fstat(s->bdev_fd, &st) < 0 || !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "%s: backend=session needs a block device",
			 path);
		goto err_close;
	}
	if (blk_lock(s->bdev_fd, path, exclusive, err, errlen))
		goto err_close;
	ret = vzb_open(s->bdev_fd, NULL);
	if (ret < 0) {
		snprintf(err, errlen, "%s: cannot open a block session: %s%s",
			 path, strerror(-ret),
			 ret == -ENOENT ? " (is virtz_fvm loaded?)" : "");
		goto err_close;
	}
	s->sfd = ret;
	ret = vzb_get_info(s->sfd, &info);
	if (!ret)
		ret = vzb_attach_memfd(s->sfd, mem_fd, 0, 0, 0, &s->vmoid);
	if (!ret && posix_memalign((void **)&s->bounce, 4096, VIRTQ_MAX_BYTES))
		ret = -ENOMEM;
	if (!ret)
		ret = vzb_attach_mem(s->sfd, s->bounce, VIRTQ_MAX_BYTES, 0,
				     &s->bounce_vmoid);
	if (ret) {
		snprintf(err, errlen, "%s: block session: %s", path,
			 strerror(-ret));
		goto err_close;
	}
	s->mem = mem;
	s->mem_size = mem_size;
	s->bs = info.block_size;
	s->max_xfer = info.max_transfer_size;
	if (!s->max_xfer || s->max_xfer > VIRTQ_MAX_BYTES)
		s->max_xfer = VIRTQ_MAX_BYTES;
	s->max_xfer -= s->max_xfer % s->bs;
	if (!s->max_xfer) {
		snprintf(err, errlen, "%s: block session: max transfer %u below the block size %u",
			 path, info.max_transfer_size, info.block_size);
		goto err_close;
	}
	s->be = (struct blk_backend){
		.ops = &sess_ops,
		.size = info.block_count * info.block_size,
		.block_size = info.block_size,
		.ro = ro || (info.flags & VIRTZ_BLOCK_DEV_READONLY),
		.discard = !ro && (info.flags & VIRTZ_BLOCK_DEV_TRIM_SUPPORT),
		.write_zeroes = false,
		.poll_fd = s->sfd,
	};
	if (s->be.ro && !ro) {
		snprintf(err, errlen, "%s: the device is read-only (use mode=ro)",
			 path);
		goto err_close;
	}
	return &s->be;

err_close:
	if (s->sfd >= 0)
		close(s->sfd);
	close(s->bdev_fd);
	free(s->bounce);
err_free:
	free(s);
	return NULL;
}
