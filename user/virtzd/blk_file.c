// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk backend over a regular file or a block device, with io_uring
 * (liburing) on the disk's I/O thread.
 *
 * Reads and writes go straight between the file and guest RAM (the
 * request's iovec points into it).  FLUSH is fdatasync.  On a regular
 * file DISCARD and WRITE_ZEROES punch holes; on a block device they are
 * BLKDISCARD (only when the device discards) and BLKZEROOUT, synchronous
 * on the I/O thread.  A short transfer (the file shrank under us) is
 * finished synchronously, and a transfer that cannot finish is IOERR.
 *
 * cache=none opens the backing a second time with O_DIRECT, and reads and
 * writes use that descriptor: no copy in the host page cache, and no
 * io-wq worker per buffered write.  Direct I/O wants buffer addresses
 * aligned to mem_align and offsets and lengths (of every segment) to
 * off_align.  A request whose segments are not is copied through an
 * aligned bounce buffer of its own.  One whose offset or length is not
 * (a 512-byte block on a filesystem with 4 KiB direct I/O) cannot be
 * bounced, and goes through the buffered descriptor, as do the
 * synchronous paths (short transfers, and what direct I/O refused after
 * all).  The kernel keeps the two coherent: a direct write invalidates
 * the cached pages it covers, a direct read writes dirty ones back first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>

#include "blk_backend.h"

#define RING_ENTRIES	256
#define DIO_ALIGN_MAX	65536	/* beyond it, not believed */
#define BOUNCE_ALIGN	4096
/*
 * Reads and writes of at least this many bytes go to io_uring's workers
 * at once (IOSQE_ASYNC) instead of being tried inline first.  On a device
 * that does its work in the submitter's context (brd copies in
 * submit_bio(), a buffered write copies into the page cache), inline
 * issue runs the guest's large transfers one after another on the I/O
 * thread; the workers run them side by side on other CPUs, while the I/O
 * thread goes on serving the ring.  Small requests stay inline, where
 * the extra hop would cost latency.
 */
#define ASYNC_MIN	(256U << 10)

struct blk_file {
	struct blk_backend be;
	int fd;			/* buffered; holds the lock */
	int dfd;		/* O_DIRECT (cache=none), or -1 */
	uint32_t mem_align;	/* direct I/O: buffer addresses */
	uint32_t off_align;	/* direct I/O: offsets, segment lengths */
	bool bdev;
	bool warned;		/* said that direct I/O refused one */
	int efd;
	struct io_uring ring;
	int inflight;		/* requests submitted, not yet answered */
};

/*
 * A request carried out through an aligned copy.  Its SQE's user_data is
 * the bounce with bit 0 set; any other SQE's is the request itself (both
 * come from malloc, so bit 0 is free).
 */
struct file_bounce {
	struct vblk_req *r;
	struct iovec iov;	/* the copy: r->len bytes */
};

#define UD_BOUNCE	1ULL

static struct blk_file *to_file(struct blk_backend *b)
{
	return (struct blk_file *)b;
}

static struct vblk_req *cqe_req(const struct io_uring_cqe *cqe,
				struct file_bounce **bb)
{
	uint64_t ud = cqe->user_data;

	*bb = NULL;
	if (!(ud & UD_BOUNCE))
		return (struct vblk_req *)(uintptr_t)ud;
	*bb = (struct file_bounce *)(uintptr_t)(ud & ~UD_BOUNCE);
	return (*bb)->r;
}

/* The holder of a conflicting flock on (@st), from /proc/locks. */
static void lock_holder(const struct stat *st, char *out, size_t outlen)
{
	char line[256], want[64], comm[64] = "", path[64];
	FILE *f = fopen("/proc/locks", "re");
	long pid = -1;

	out[0] = '\0';
	if (!f)
		return;
	snprintf(want, sizeof(want), "%02x:%02x:%" PRIu64,
		 major(st->st_dev), minor(st->st_dev), (uint64_t)st->st_ino);
	while (fgets(line, sizeof(line), f)) {
		char type[16], dev[64];
		long p;

		/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" */
		if (sscanf(line, "%*s %15s %*s %*s %ld %63s", type, &p, dev) != 3)
			continue;
		if (!strcmp(type, "FLOCK") && !strcmp(dev, want) &&
		    p != getpid()) {
			pid = p;
			break;
		}
	}
	fclose(f);
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(out, outlen, " (held by pid %ld%s%s)", pid, comm[0] ? ", " : "",
		 comm);
}

int blk_lock(int fd, const char *path, bool exclusive, char *err,
	     size_t errlen)
{
	char who[128];
	struct stat st;

	if (!flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB))
		return 0;
	if (errno != EWOULDBLOCK) {
		snprintf(err, errlen, "%s: cannot lock: %s", path,
			 strerror(errno));
		return -errno;
	}
	who[0] = '\0';
	if (!fstat(fd, &st))
		lock_holder(&st, who, sizeof(who));
	snprintf(err, errlen,
		 exclusive ?
		 "%s is in use by another guest%s: a READ_WRITE disk needs it alone" :
		 "%s is open READ_WRITE by another guest%s",
		 path, who);
	return -EBUSY;
}

/* Does the block device @st discard?  From sysfs, as the kernel says. */
static bool bdev_discards(const struct stat *st)
{
	char path[96];
	unsigned long long max = 0;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/dev/block/%u:%u/queue/discard_max_bytes",
		 major(st->st_rdev), minor(st->st_rdev));
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fscanf(f, "%llu", &max) != 1)
		max = 0;
	fclose(f);
	return max > 0;
}

/*
 * Finishes a short transfer of @r synchronously from byte @done, through
 * the buffered descriptor.  @iov is @r's data: its own, or its bounce.
 */
static int rw_rest(struct blk_file *f, const struct vblk_req *r,
		   const struct iovec *iov, int niov, uint64_t done)
{
	uint64_t off = r->sector * VBLK_SECTOR;
	int i;

	for (i = 0; i < niov; i++) {
		uint8_t *p = iov[i].iov_base;
		uint64_t len = iov[i].iov_len, at = 0;

		if (done >= len) {
			done -= len;
			off += len;
			continue;
		}
		at = done;
		done = 0;
		while (at < len) {
			ssize_t n = r->type == VIRTIO_BLK_T_IN ?
				    pread(f->fd, p + at, len - at, off + at) :
				    pwrite(f->fd, p + at, len - at, off + at);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -EIO;
			at += n;
		}
		off += len;
	}
	return 0;
}

static struct io_uring_sqe *get_sqe(struct blk_file *f)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);

	if (!sqe) {
		io_uring_submit(&f->ring);
		sqe = io_uring_get_sqe(&f->ring);
	}
	return sqe;
}

/* How a read or write of @r goes to the file. */
enum dio_how { DIO_BUFFERED, DIO_DIRECT, DIO_BOUNCE };

static enum dio_how dio_plan(const struct blk_file *f,
			     const struct vblk_req *r)
{
	uint64_t off = r->sector * VBLK_SECTOR;
	int i;

	if (f->dfd < 0 || (off | r->len) & (f->off_align - 1))
		return DIO_BUFFERED;
	for (i = 0; i < r->niov; i++) {
		if ((uintptr_t)r->iov[i].iov_base & (f->mem_align - 1) ||
		    r->iov[i].iov_len & (f->off_align - 1))
			return DIO_BOUNCE;
	}
	return DIO_DIRECT;
}

static void bounce_free(struct file_bounce *bb)
{
	free(bb->iov.iov_base);
	free(bb);
}

/* @len bytes that direct I/O on f->dfd takes as a buffer, or NULL. */
static void *bounce_alloc(const struct blk_file *f, size_t len)
{
	void *p;

	if (posix_memalign(&p, f->mem_align > BOUNCE_ALIGN ? f->mem_align :
			   BOUNCE_ALIGN, len))
		return NULL;
	return p;
}

/* An aligned copy of @r's data (filled for a write); NULL without memory. */
static struct file_bounce *bounce_new(const struct blk_file *f,
				      struct vblk_req *r)
{
	struct file_bounce *bb = malloc(sizeof(*bb));
	void *data = bb ? bounce_alloc(f, r->len) : NULL;

	if (!data) {
		free(bb);
		return NULL;
	}
	bb->r = r;
	bb->iov = (struct iovec){ .iov_base = data, .iov_len = r->len };
	if (r->type == VIRTIO_BLK_T_OUT)
		blk_iov_to_buf(r, data);
	return bb;
}

/*
 * Queues the read or write @r: direct, through a bounce, or buffered.
 * Without memory for a bounce the page cache still does it.
 */
static int submit_rw(struct blk_file *f, struct vblk_req *r)
{
	uint64_t off = r->sector * VBLK_SECTOR;
	const struct iovec *iov = r->iov;
	struct file_bounce *bb = NULL;
	struct io_uring_sqe *sqe;
	int fd = f->fd, niov = r->niov;

	switch (dio_plan(f, r)) {
	case DIO_DIRECT:
		fd = f->dfd;
		break;
	case DIO_BOUNCE:
		bb = bounce_new(f, r);
		if (bb) {
			fd = f->dfd;
			iov = &bb->iov;
			niov = 1;
		}
		break;
	case DIO_BUFFERED:
		break;
	}
	sqe = get_sqe(f);
	if (!sqe) {
		if (bb)
			bounce_free(bb);
		return -EBUSY;
	}
	if (r->type == VIRTIO_BLK_T_IN)
		io_uring_prep_readv(sqe, fd, iov, niov, off);
	else
		io_uring_prep_writev(sqe, fd, iov, niov, off);
	if (bb)
		io_uring_sqe_set_data64(sqe, (uintptr_t)bb | UD_BOUNCE);
	else
		io_uring_sqe_set_data(sqe, r);
	if (r->len >= ASYNC_MIN)
		io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	return 0;
}

static void file_submit(struct blk_backend *b, struct vblk_req *r)
{
	struct blk_file *f = to_file(b);
	struct io_uring_sqe *sqe;
	int i;

	/* vblk_parse() left r->err and r->pending_ops at 0. */
	if ((r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) &&
	    !r->len) {
		blk_done(b, r, VIRTIO_BLK_S_OK);
		return;
	}
	if (r->type == VIRTIO_BLK_T_OUT && b->ro) {
		blk_done(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (f->bdev && (r->type == VIRTIO_BLK_T_DISCARD ||
			r->type == VIRTIO_BLK_T_WRITE_ZEROES)) {
		for (i = 0; i < r->nrange; i++) {
			uint64_t rg[2] = { r->range[i].sector * VBLK_SECTOR,
					   r->range[i].sectors * VBLK_SECTOR };

			if (ioctl(f->fd, r->type == VIRTIO_BLK_T_DISCARD ?
				  BLKDISCARD : BLKZEROOUT, rg) < 0) {
				blk_done(b, r, VIRTIO_BLK_S_IOERR);
				return;
			}
		}
		blk_done(b, r, VIRTIO_BLK_S_OK);
		return;
	}

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (submit_rw(f, r))
			goto ioerr;
		r->pending_ops = 1;
		break;
	case VIRTIO_BLK_T_FLUSH:
		/* Also after direct writes: metadata, the device's cache. */
		sqe = get_sqe(f);
		if (!sqe)
			goto ioerr;
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, r);
		r->pending_ops = 1;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		/* A hole reads as zeros: right for both on a regular file. */
		for (i = 0; i < r->nrange; i++) {
			sqe = get_sqe(f);
			if (!sqe) {
				if (!r->pending_ops)
					goto ioerr;
				r->err = -EIO;
				break;
			}
			io_uring_prep_fallocate(sqe, f->fd,
				FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				r->range[i].sector * VBLK_SECTOR,
				r->range[i].sectors * VBLK_SECTOR);
			io_uring_sqe_set_data(sqe, r);
			r->pending_ops++;
		}
		break;
	default:
		blk_done(b, r, VIRTIO_BLK_S_UNSUPP);
		return;
	}
	f->inflight++;
	return;
ioerr:
	blk_done(b, r, VIRTIO_BLK_S_IOERR);
}

static void file_commit(struct blk_backend *b)
{
	io_uring_submit(&to_file(b)->ring);
}

/*
 * Direct I/O refused a request the alignment said it would take (a
 * kernel without STATX_DIOALIGN, a filesystem that says too little): it
 * is done again through the page cache.  0, or -EIO.
 */
static int redo_buffered(struct blk_file *f, const struct vblk_req *r,
			 const struct iovec *iov, int niov)
{
	if (!f->warned) {
		fprintf(stderr, "virtzd: direct I/O refused a %llu-byte %s at byte %llu (Invalid argument): such requests go through the page cache\n",
			(unsigned long long)r->len, vblk_type_name(r->type),
			(unsigned long long)(r->sector * VBLK_SECTOR));
		f->warned = true;
	}
	return rw_rest(f, r, iov, niov, 0);
}

static void complete(struct blk_file *f, struct io_uring_cqe *cqe)
{
	struct file_bounce *bb;
	struct vblk_req *r = cqe_req(cqe, &bb);
	const struct iovec *iov = bb ? &bb->iov : r->iov;
	int niov = bb ? 1 : r->niov, res = cqe->res;
	bool rw = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;

	if (rw && res == -EINVAL && (bb || dio_plan(f, r) == DIO_DIRECT))
		res = redo_buffered(f, r, iov, niov) ? -EIO : (int)r->len;
	if (res < 0)
		r->err = res;
	else if (rw && (uint64_t)res < r->len &&
		 (!res || rw_rest(f, r, iov, niov, res)))
		r->err = -EIO;
	if (bb) {
		if (r->type == VIRTIO_BLK_T_IN && !r->err)
			blk_buf_to_iov(r, bb->iov.iov_base);
		bounce_free(bb);
	}
	if (--r->pending_ops)
		return;
	f->inflight--;
	blk_done(&f->be, r, r->err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static void file_reap(struct blk_backend *b)
{
	struct blk_file *f = to_file(b);
	struct io_uring_cqe *cqe;
	uint64_t cnt;

	if (read(f->efd, &cnt, sizeof(cnt)) < 0) {
		/* Nothing counted: the CQ is looked at anyway. */
	}
	while (!io_uring_peek_cqe(&f->ring, &cqe)) {
		complete(f, cqe);
		io_uring_cqe_seen(&f->ring, cqe);
	}
}

/*
 * For the volatile overlay, whose buffer is rarely aligned: direct
 * through a bounce when the offset allows, else (or should direct I/O
 * fail) buffered.
 */
static int file_pread(struct blk_backend *b, void *buf, size_t len,
		      uint64_t off)
{
	struct blk_file *f = to_file(b);
	void *bounce;
	int ret;

	if (f->dfd < 0 || (off | len) & (f->off_align - 1) ||
	    !(bounce = bounce_alloc(f, len)))
		return vblk_pread_full(f->fd, buf, len, off);
	ret = vblk_pread_full(f->dfd, bounce, len, off);
	if (!ret)
		memcpy(buf, bounce, len);
	free(bounce);
	return ret ? vblk_pread_full(f->fd, buf, len, off) : 0;
}

static void file_destroy(struct blk_backend *b)
{
	struct blk_file *f = to_file(b);
	struct io_uring_cqe *cqe;

	/* Answer nothing more, but let the kernel finish with guest RAM. */
	while (f->inflight > 0 && !io_uring_wait_cqe(&f->ring, &cqe)) {
		struct file_bounce *bb;
		struct vblk_req *r = cqe_req(cqe, &bb);

		if (bb)
			bounce_free(bb);
		if (!--r->pending_ops) {
			f->inflight--;
			free(r);
		}
		io_uring_cqe_seen(&f->ring, cqe);
	}
	if (!b->ro)
		fdatasync(f->fd);
	io_uring_queue_exit(&f->ring);
	close(f->efd);
	if (f->dfd >= 0)
		close(f->dfd);
	close(f->fd);
	free(f);
}

static const struct blk_backend_ops file_ops = {
	.name = "file",
	.submit = file_submit,
	.commit = file_commit,
	.reap = file_reap,
	.pread = file_pread,
	.destroy = file_destroy,
};

static bool dio_align_ok(uint32_t a)
{
	return a && !(a & (a - 1)) && a <= DIO_ALIGN_MAX;
}

/*
 * The alignment direct I/O on f->dfd needs, from statx where the kernel
 * tells (6.1 for files, 6.11 for block devices), else the block size:
 * the logical one of a block device, 512 for a file.  False when the
 * file has no direct I/O after all.
 */
static bool dio_align(struct blk_file *f)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (!statx(f->dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		f->mem_align = stx.stx_dio_mem_align;
		f->off_align = stx.stx_dio_offset_align;
		return dio_align_ok(f->mem_align) && dio_align_ok(f->off_align);
	}
#endif
	f->mem_align = f->off_align = f->be.block_size;
	return true;
}

/*
 * Opens f->dfd, @path with O_DIRECT, when the filesystem has direct I/O;
 * else leaves it -1.  0, or -errno with @err set.
 */
static int open_direct(struct blk_file *f, const char *path, int flags,
		       const struct stat *st, char *err, size_t errlen)
{
	struct stat dst;

	f->dfd = open(path, flags | O_DIRECT);
	if (f->dfd < 0) {
		if (errno == EINVAL)
			return 0;
		snprintf(err, errlen, "%s: O_DIRECT: %s", path,
			 strerror(errno));
		return -errno;
	}
	if (fstat(f->dfd, &dst) < 0 || dst.st_dev != st->st_dev ||
	    dst.st_ino != st->st_ino || dst.st_rdev != st->st_rdev) {
		snprintf(err, errlen, "%s: replaced while being opened", path);
		close(f->dfd);
		f->dfd = -1;
		return -ESTALE;
	}
	if (!dio_align(f)) {
		close(f->dfd);
		f->dfd = -1;
	}
	return 0;
}

struct blk_backend *blk_file_open(const char *path, bool ro, bool exclusive,
				  bool direct, char *err, size_t errlen)
{
	struct blk_file *f = calloc(1, sizeof(*f));
	struct stat st;
	int flags = (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC, ret;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->efd = -1;
	f->dfd = -1;
	f->fd = open(path, flags);
	if (f->fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == EACCES || errno == EROFS ?
			 " (mode=ro or mode=volatile open it read-only)" : "");
		goto err_free;
	}
	if (fstat(f->fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		int ssz = 512;

		f->bdev = true;
		if (ioctl(f->fd, BLKGETSIZE64, &f->be.size) < 0 ||
		    ioctl(f->fd, BLKSSZGET, &ssz) < 0) {
			snprintf(err, errlen, "%s: cannot size the block device: %s",
				 path, strerror(errno));
			goto err_close;
		}
		f->be.block_size = ssz;
		f->be.discard = !ro && bdev_discards(&st);
		f->be.write_zeroes = !ro;
	} else if (S_ISREG(st.st_mode)) {
		f->be.size = st.st_size;
		f->be.block_size = 512;
		f->be.discard = f->be.write_zeroes = !ro;
	} else {
		snprintf(err, errlen, "%s: not a regular file or a block device",
			 path);
		goto err_close;
	}
	f->be.size &= ~(VBLK_SECTOR - 1);
	if (!f->be.size) {
		snprintf(err, errlen, "%s: smaller than one 512-byte sector", path);
		goto err_close;
	}
	if (blk_lock(f->fd, path, exclusive, err, errlen))
		goto err_close;
	if (direct && open_direct(f, path, flags, &st, err, errlen))
		goto err_close;

	ret = io_uring_queue_init(RING_ENTRIES, &f->ring, 0);
	if (ret < 0) {
		snprintf(err, errlen, "io_uring: %s", strerror(-ret));
		goto err_dfd;
	}
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->efd < 0 || io_uring_register_eventfd(&f->ring, f->efd) < 0) {
		snprintf(err, errlen, "io_uring eventfd: %s", strerror(errno));
		goto err_ring;
	}
	f->be.ops = &file_ops;
	f->be.ro = ro;
	f->be.direct = f->dfd >= 0;
	f->be.poll_fd = f->efd;
	return &f->be;

err_ring:
	if (f->efd >= 0)
		close(f->efd);
	io_uring_queue_exit(&f->ring);
err_dfd:
	if (f->dfd >= 0)
		close(f->dfd);
err_close:
	close(f->fd);
err_free:
	free(f);
	return NULL;
}

void blk_iov_to_buf(const struct vblk_req *r, uint8_t *buf)
{
	int i;

	for (i = 0; i < r->niov; i++) {
		memcpy(buf, r->iov[i].iov_base, r->iov[i].iov_len);
		buf += r->iov[i].iov_len;
	}
}

void blk_buf_to_iov(const struct vblk_req *r, const uint8_t *buf)
{
	int i;

	for (i = 0; i < r->niov; i++) {
		memcpy(r->iov[i].iov_base, buf, r->iov[i].iov_len);
		buf += r->iov[i].iov_len;
	}
}
