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
 * A virtio request goes out in parts: each part takes one reqid (a slot)
 * and, when it is several FIFO requests, a group (8 at most in flight),
 * answered once.  A request that fits the free FIFO entries is one part;
 * a larger one (a 1 MiB request from scattered 4 KiB guest pages is 256
 * FIFO requests, and the FIFO holds 64) goes out in as many parts as the
 * FIFO takes, more as earlier parts are answered, and is answered when
 * its last part is.  Only the request at the head of the queue is ever
 * partly out, so requests still start in order.
 * FLUSH is FLUSH, DISCARD is TRIM, and when the guest did not accept
 * VIRTIO_BLK_F_FLUSH (a write-through disk) writes carry FORCE_ACCESS.
 * WRITE_ZEROES is WRITE from a VMO of zeros (a sealed memfd of
 * max_transfer_size bytes, attached read-only), one FIFO request per
 * max_transfer_size of the range; TRIM would not promise zeros.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>

#include "blk_backend.h"
#include "vzblock.h"

#define SLOTS	VIRTZ_BLOCK_FIFO_DEPTH
#define GROUPS	VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT

/* One FIFO request's share of a virtio request. */
struct sess_ext {
	uint16_t vmoid;
	uint32_t blocks;
	uint64_t vmo_block;
	uint64_t dev_block;
};

/* FIFO requests one virtio request may need: a segment or a range each. */
#define EXT_MAX	VIRTQ_MAX_SEGS
_Static_assert(EXT_MAX >= VBLK_MAX_RANGES, "a DISCARD's ranges must fit");

struct blk_session {
	struct blk_backend be;
	int bdev_fd;
	int sfd;
	uint16_t vmoid;
	const uint8_t *mem;
	uint64_t mem_size;
	uint32_t bs;
	uint32_t max_xfer;		/* bytes per FIFO request, bs multiple */

	/*
	 * All of this is the I/O thread's alone.  slot[] is the request
	 * each reqid's part belongs to (a request may hold several); the
	 * request's pending_ops counts its parts not yet answered.
	 */
	struct vblk_req *slot[SLOTS];
	int slot_fifo[SLOTS];		/* FIFO entries the part took */
	int slot_group[SLOTS];		/* its group, or -1 */
	bool dead;			/* a submit failed: all I/O fails */
	unsigned int nerr;		/* failures reported on stderr */
	uint8_t *bounce;		/* VIRTQ_MAX_BYTES, block-aligned */
	uint16_t bounce_vmoid;
	struct vblk_req *bounce_owner;	/* whose data is in @bounce */
	uint16_t zero_vmoid;		/* max_xfer bytes of zeros */
	bool group_busy[GROUPS];

	/* Said on stderr when the disk closes. */
	char path[64];
	unsigned long long nreq, nparted, nbounced;

	/* The request going out in parts (the head of @wait), if any. */
	struct vblk_req *cur;
	struct sess_ext cur_x[EXT_MAX];
	int cur_n, cur_pos;
	uint8_t cur_op;
	uint32_t cur_flags;
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

/*
 * Splits @r into the FIFO requests that carry it, at most EXT_MAX of
 * them, into @x.  Guest-physically contiguous data segments become one
 * request of at most max_xfer bytes.  Returns how many (0: nothing to
 * do), -1 when @r cannot be carried out, or -2 when its segments are not
 * block aligned or one is larger than max_xfer: then the data must go
 * through the bounce buffer.
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
			if (len > s->max_xfer)
				return -2;
			if (n == EXT_MAX)
				return -1;
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
	case VIRTIO_BLK_T_WRITE_ZEROES:
		/* Ranges are block aligned (vblk_parse()); zeros per max_xfer. */
		for (i = 0; i < r->nrange; i++) {
			uint64_t left = r->range[i].sectors * VBLK_SECTOR / s->bs;

			dev = r->range[i].sector * VBLK_SECTOR / s->bs;
			while (left) {
				uint32_t b = left < s->max_xfer / s->bs ? left :
					     s->max_xfer / s->bs;

				if (n == EXT_MAX)
					return -1;
				x[n++] = (struct sess_ext){ s->zero_vmoid, b, 0,
							    dev };
				dev += b;
				left -= b;
			}
		}
		return n;
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

		if (n == EXT_MAX)
			return -1;
		x[n++] = (struct sess_ext){ s->bounce_vmoid, len / s->bs,
					    at / s->bs, dev };
		dev += len / s->bs;
		at += len;
	}
	return n;
}

/* Answers @r, all its parts done; copies a bounced read back first. */
static void complete(struct blk_session *s, struct vblk_req *r)
{
	if (s->bounce_owner == r) {
		if (r->type == VIRTIO_BLK_T_IN && !r->err)
			blk_buf_to_iov(r, s->bounce);
		s->bounce_owner = NULL;
	}
	blk_done(&s->be, r, r->err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

/* Plans @r as s->cur.  Returns 1, 0 if it must wait, or -1 if answered. */
static int begin(struct blk_session *s, struct vblk_req *r)
{
	int n = plan(s, r, s->cur_x);
	bool bounce = n == -2;

	if (bounce) {
		if (s->bounce_owner)
			return 0;
		n = plan_bounce(s, r, s->cur_x);
	}
	if (s->dead)
		n = -1;
	if (n <= 0) {
		blk_done(&s->be, r, !n ? VIRTIO_BLK_S_OK :
			 r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT ||
			 r->type == VIRTIO_BLK_T_WRITE_ZEROES ?
			 VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_UNSUPP);
		return -1;
	}
	s->cur_flags = 0;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		s->cur_op = VIRTZ_BLOCK_OP_READ;
		break;
	case VIRTIO_BLK_T_OUT:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		s->cur_op = VIRTZ_BLOCK_OP_WRITE;
		if (r->fua)
			s->cur_flags |= VIRTZ_BLOCK_IO_FORCE_ACCESS;
		break;
	case VIRTIO_BLK_T_FLUSH:
		s->cur_op = VIRTZ_BLOCK_OP_FLUSH;
		break;
	default:
		s->cur_op = VIRTZ_BLOCK_OP_TRIM;
		break;
	}
	s->nreq++;
	if (bounce) {
		s->nbounced++;
		s->bounce_owner = r;
		if (r->type == VIRTIO_BLK_T_OUT)
			blk_iov_to_buf(r, s->bounce);
	}
	s->cur = r;
	s->cur_n = n;
	s->cur_pos = 0;
	r->pending_ops = 0;
	return 1;
}

/*
 * Sends out what the FIFO takes of @r: all of it, or the next parts of
 * it.  Returns false if (the rest of) @r must wait for answers.
 */
static bool start(struct blk_session *s, struct vblk_req *r)
{
	if (s->cur != r) {
		int ret = begin(s, r);

		if (ret <= 0)
			return ret < 0;
	}
	while (s->cur_pos < s->cur_n) {
		int left = s->cur_n - s->cur_pos, room = SLOTS - s->fifo_used;
		int part = left < room ? left : room, slot, group = -1, i;

		if (s->dead) {
			/* The parts already out still answer. */
			r->err = -EIO;
			break;
		}
		slot = free_slot(s);
		if (slot < 0 || !part)
			return false;
		if (part > 1) {
			group = free_group(s);
			if (group < 0)
				part = 1;
		}
		for (i = 0; i < part; i++) {
			const struct sess_ext *x = &s->cur_x[s->cur_pos + i];
			struct virtz_block_fifo_request *q = &s->out[s->nout++];
			uint32_t flags = s->cur_flags;

			if (group >= 0)
				flags |= VIRTZ_BLOCK_IO_GROUP_ITEM |
					 (i == part - 1 ? VIRTZ_BLOCK_IO_GROUP_LAST : 0);
			vzb_req(q, s->cur_op, flags, slot, x->vmoid, x->blocks,
				x->vmo_block, x->dev_block);
			if (group >= 0)
				q->group = group;
		}
		/* A first part that is not the whole: the request is parted. */
		if (!s->cur_pos && part < s->cur_n)
			s->nparted++;
		s->slot[slot] = r;
		s->slot_fifo[slot] = part;
		s->slot_group[slot] = group;
		if (group >= 0)
			s->group_busy[group] = true;
		s->fifo_used += part;
		s->cur_pos += part;
		r->pending_ops++;
	}
	s->cur = NULL;
	if (!r->pending_ops)
		complete(s, r);
	return true;
}

/*
 * Takes the answer to the part in @slot, failed when @err says so, and
 * frees the FIFO entries and group it held.  The request is answered
 * with its last part, failed if any part failed.
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
	s->slot[slot] = NULL;
	if (!--r->pending_ops && s->cur != r)
		complete(s, r);
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
			 * answer could otherwise meet a reused slot.  A
			 * request's entries share a reqid: its part fails
			 * once, the rest find the slot free.
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

	if ((r->type == VIRTIO_BLK_T_OUT ||
	     r->type == VIRTIO_BLK_T_WRITE_ZEROES) && b->ro) {
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
	if (s->nreq)
		fprintf(stderr, "virtzd: block session %s: %llu requests, %llu of them in parts, %llu through the bounce buffer\n",
			s->path, s->nreq, s->nparted, s->nbounced);
	/* A request in parts holds several slots; one partly out also waits. */
	for (i = 0; i < SLOTS; i++) {
		int j;

		r = s->slot[i];
		if (!r)
			continue;
		for (j = i; j < SLOTS; j++)
			if (s->slot[j] == r)
				s->slot[j] = NULL;
		if (r != s->cur)
			free(r);
	}
	while ((r = s->wait)) {
		s->wait = r->next;
		free(r);
	}
	close(s->bdev_fd);
	free(s->bounce);
	free(s);
}

/*
 * The VMO WRITE_ZEROES writes from: a memfd of max_xfer bytes that nobody
 * can write (sealed), attached read-only.  Its pages are the kernel's to
 * fill with zeros at first use; the fd goes with the attach.
 */
static int attach_zeros(struct blk_session *s)
{
	int fd = memfd_create("virtz-zeros", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int ret;

	if (fd < 0)
		return -errno;
	/* VMOs are whole pages; only the first max_xfer bytes are used. */
	if (ftruncate(fd, (s->max_xfer + 4095) & ~4095U) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		ret = -errno;
	else
		ret = vzb_attach_memfd(s->sfd, fd, 0, 0, VIRTZ_BLOCK_VMO_READONLY,
				       &s->zero_vmoid);
	close(fd);
	return ret;
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
	uint64_t wz;
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
	snprintf(s->path, sizeof(s->path), "%s", path);
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
		.poll_fd = s->sfd,
	};
	if (s->be.ro && !ro) {
		snprintf(err, errlen, "%s: the device is read-only (use mode=ro)",
			 path);
		goto err_close;
	}
	if (!s->be.ro) {
		ret = attach_zeros(s);
		if (ret) {
			snprintf(err, errlen, "%s: block session: a VMO of zeros: %s",
				 path, strerror(-ret));
			goto err_close;
		}
		/* One range, and no more FIFO requests than plan() takes. */
		s->be.write_zeroes = true;
		s->be.wz_max_seg = 1;
		wz = (uint64_t)EXT_MAX * s->max_xfer / VBLK_SECTOR;
		s->be.wz_max_sectors = wz < VBLK_MAX_RANGE_SECTORS ? wz :
				       VBLK_MAX_RANGE_SECTORS;
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
