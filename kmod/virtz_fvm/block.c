// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/virtz-block: Fuchsia's block FIFO sessions for any block device.
 *
 * A handle on /dev/virtz-block pins the module and is counted in
 * GET_INFO.  VIRTZ_BLOCK_IOC_OPEN_SESSION on it turns a block device fd
 * the caller holds into a session fd (an anonymous inode, which pins the
 * module too, so the module cannot be unloaded while a session is open).
 * The session keeps a reference on the block device's file, and so grants
 * exactly what that file grants: a read-only fd makes a read-only session.
 *
 * Requests written to the session fd become bios at once, in the writer's
 * context; bio completions turn into responses that read() returns.  The
 * few steps that must sleep after a completion (the flush behind a
 * FORCE_ACCESS trim, zstd decompression, releasing a VMO closed with
 * CLOSE_VMO) run on virtz_block_wq.
 *
 * DECOMPRESS_WITH_ZSTD reads the request's device range into pages of
 * its own, then decompresses total_compressed_bytes from byte
 * compressed_prefix_bytes of it straight into the VMO (mapped with vmap),
 * with the kernel's zstd library bounded by uncompressed_bytes.
 *
 * VMOs come in two kinds.  A range of the caller's memory is pinned with
 * FOLL_LONGTERM for as long as it is attached, and charged to the
 * caller's RLIMIT_MEMLOCK.  A memfd VMO keeps only the file and its
 * bounds: each request looks its pages up in the memfd's page cache
 * (shmem_get_folio(), which fills holes with new zeroed pages) and holds
 * a folio reference on each until it finishes.  So a memfd stays the one
 * truth about its contents - a hole punched by a balloon is memory given
 * back, and the next request that touches it gets a fresh page, the same
 * one the memfd's mappings see - and a page past a truncated memfd's end
 * is an -EFAULT answer.  Bios point straight at the pages; a request holds
 * its VMO (vmo->inflight) and its references until its last bio
 * completes, and a VMO is released only when it is detached and idle.  So
 * no page is freed under I/O, whatever the process does to its mappings
 * or its memfd meanwhile.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/virtz_block.h>
#include <linux/virtz_fvm.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/zstd.h>

#include "block.h"
#include "virtz_fvm.h"

#define VBLK_REQ_SIZE		sizeof(struct virtz_block_fifo_request)
#define VBLK_RESP_SIZE		sizeof(struct virtz_block_fifo_response)
#define VBLK_KNOWN_FLAGS	(VIRTZ_BLOCK_IO_GROUP_ITEM |		\
				 VIRTZ_BLOCK_IO_GROUP_LAST |		\
				 VIRTZ_BLOCK_IO_FORCE_ACCESS |		\
				 VIRTZ_BLOCK_IO_PRE_BARRIER |		\
				 VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD |	\
				 VIRTZ_BLOCK_IO_INLINE_ENCRYPTION_ENABLED)
/* The most one VMO may span: 64 GiB. */
#define VBLK_MAX_VMO_PAGES	(1UL << (36 - PAGE_SHIFT))
/* Responses copied out per step of read(), on the stack. */
#define VBLK_READ_BATCH		8

static_assert(sizeof(struct virtz_block_fifo_request) == 64);
static_assert(sizeof(struct virtz_block_fifo_response) == 64);
static_assert(offsetof(struct virtz_block_fifo_request, dev_offset) == 32);
static_assert(offsetof(struct virtz_block_fifo_request, uncompressed_bytes) == 60);
static_assert(offsetof(struct virtz_block_fifo_response, count) == 12);

static struct workqueue_struct *virtz_block_wq;

struct vblk_io;

/*
 * An attached VMO: either pinned user memory (@pages, charged to @mm) or
 * a range of a memfd (@file from page @first), whose pages are looked up
 * per request and referenced only while the request runs.
 */
struct vblk_vmo {
	struct page **pages;	/* user memory: each entry holds a pin */
	struct mm_struct *mm;	/* user memory: charged for nr_pages locked */
	struct file *file;	/* the memfd, or NULL for user memory */
	pgoff_t first;		/* memfd: the file page of the VMO's page 0 */
	unsigned long nr_pages;
	bool writable;		/* READ requests may fill it */
	/* The rest is under the session's lock. */
	unsigned int inflight;	/* requests using the pages */
	struct vblk_io *close_io;	/* the CLOSE_VMO waiting for inflight == 0 */
};

/* Where a request's answer goes. */
struct vblk_tag {
	u32 reqid;
	u16 group;
	bool grouped;
};

/* Memfd pages a request references without allocating an array: 64 KiB. */
#define VBLK_INLINE_PAGES	16

/*
 * One request accepted from the FIFO, from validation to its response.
 * A session has one per FIFO entry, taken from its io_free list.
 */
struct vblk_io {
	struct vblk_session *s;
	struct vblk_vmo *vmo;	/* holds vmo->inflight, or NULL */
	struct vblk_vmo *closing;	/* CLOSE_VMO: detached, released by @work */
	struct vblk_tag tag;
	atomic_t pending;	/* bios in flight, plus one while submitting */
	int status;		/* first error, set with cmpxchg */
	bool deferred;		/* run @work before answering */
	struct work_struct work;
	/*
	 * The VMO's pages the request uses, from byte @poff of the first:
	 * the VMO's own array for user memory; for a memfd @mpages, each
	 * holding a folio reference until the request finishes.
	 */
	struct page **pages;
	unsigned int poff;
	struct page **mpages;
	unsigned int nr_mpages;
	/* DECOMPRESS_WITH_ZSTD: the compressed data as read, and its use. */
	struct page **zpages;
	unsigned int nr_zpages;
	u32 zprefix;
	u32 ztotal;
	u32 zout;
	struct vblk_io *next_free;	/* in the session's io_free list */
	/* Not cleared when the slot is taken: filled before use. */
	struct page *mpages_inline[VBLK_INLINE_PAGES];
};

/* A transaction group: GROUP_ITEM requests answered once, after LAST. */
struct vblk_group {
	u32 count;		/* requests so far */
	u32 outstanding;	/* of which not finished */
	u32 last_reqid;
	int status;		/* first error */
	bool last_seen;
	u64 zbytes;		/* uncompressed_bytes asked for so far */
};

/*
 * A session.  Locking: @lock (taken from bio completion, so irqsave)
 * protects @vmos, @nr_vmos, every vmo's inflight and close_io, @ios,
 * @io_free, the response ring and @groups.  @read_mutex serializes
 * reapers (read() and SUBMIT_REAP), so that a response is taken off the
 * ring only once it has reached userspace.  Everything else is set at
 * open and constant.  @wait is woken whenever a response is queued or
 * taken or @ios drops: reapers, blocked writers, poll and release all
 * wait there, each registered on it before it checks, under @lock, what
 * it waits for (so a waker under @lock may skip an empty queue).
 */
struct vblk_session {
	struct file *bdev_file;
	struct block_device *bdev;
	bool readonly;
	unsigned int block_shift;	/* log2 of the logical block size */
	/* The offset map; without one, src = dst = 0 and len = U64_MAX. */
	u64 map_src;
	u64 map_dst;
	u64 map_len;
	bool mapped;

	struct mutex read_mutex;	/* see above */
	wait_queue_head_t wait;
	spinlock_t lock;		/* see above */
	struct vblk_vmo *vmos[VIRTZ_BLOCK_MAX_VMOS + 1];	/* by vmoid */
	unsigned int nr_vmos;
	/* Requests accepted and not finished; ios + resp_count <= depth. */
	unsigned int ios;
	/* Of @io_slots, those not accepted: there is one for each of @ios. */
	struct vblk_io *io_free;
	struct vblk_io *io_slots;	/* VIRTZ_BLOCK_FIFO_DEPTH of them */
	unsigned int resp_head;
	unsigned int resp_count;
	struct virtz_block_fifo_response resp[VIRTZ_BLOCK_FIFO_DEPTH];
	struct vblk_group groups[VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT];
};

/* ---- VMOs ---------------------------------------------------------------- */

static void vblk_vmo_free(struct vblk_vmo *vmo)
{
	unsigned long i;

	if (vmo->file) {
		fput(vmo->file);
		kfree(vmo);
		return;
	}
	for (i = 0; i < vmo->nr_pages && vmo->pages[i]; i++)
		;
	unpin_user_pages_dirty_lock(vmo->pages, i, vmo->writable);
	kvfree(vmo->pages);
	if (mmget_not_zero(vmo->mm)) {
		account_locked_vm(vmo->mm, vmo->nr_pages, false);
		mmput(vmo->mm);
	}
	mmdrop(vmo->mm);
	kfree(vmo);
}

static int vblk_vmo_fill_user(struct vblk_vmo *vmo, unsigned long addr)
{
	unsigned int gup = FOLL_LONGTERM | (vmo->writable ? FOLL_WRITE : 0);
	unsigned long done = 0;

	while (done < vmo->nr_pages) {
		int n = min_t(unsigned long, vmo->nr_pages - done, 512);

		n = pin_user_pages_fast(addr + (done << PAGE_SHIFT), n, gup,
					vmo->pages + done);
		if (n <= 0)
			return n ? n : -EFAULT;
		done += n;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

/* Pins @size bytes of the caller's memory at @addr for @vmo. */
static int vblk_vmo_pin_user(struct vblk_vmo *vmo, u64 addr)
{
	int err;

	err = account_locked_vm(current->mm, vmo->nr_pages, true);
	if (err)
		return err;
	vmo->mm = current->mm;
	mmgrab(vmo->mm);

	vmo->pages = kvcalloc(vmo->nr_pages, sizeof(*vmo->pages), GFP_KERNEL);
	if (!vmo->pages) {
		account_locked_vm(vmo->mm, vmo->nr_pages, false);
		mmdrop(vmo->mm);
		return -ENOMEM;
	}
	return vblk_vmo_fill_user(vmo, addr);
}

/* Takes @fd as @vmo's memfd; @size (0: to the end) may be updated. */
static int vblk_vmo_set_memfd(struct vblk_vmo *vmo,
			      const struct virtz_block_attach_vmo *a, u64 *size)
{
	unsigned int seals;
	struct inode *inode;
	loff_t isize;

	vmo->file = fget(a->fd);
	if (!vmo->file)
		return -EBADF;
	if (!shmem_file(vmo->file) || a->addr)
		return -EINVAL;
	if (!(vmo->file->f_mode & FMODE_READ) ||
	    (vmo->writable && !(vmo->file->f_mode & FMODE_WRITE)))
		return -EACCES;
	inode = file_inode(vmo->file);
	/* As mmap(PROT_WRITE, MAP_SHARED) of a write-sealed memfd. */
	seals = READ_ONCE(SHMEM_I(inode)->seals);
	if (vmo->writable && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return -EPERM;
	isize = i_size_read(inode);
	if (!PAGE_ALIGNED(a->offset) || a->offset >= isize)
		return -EINVAL;
	if (!*size)
		*size = isize - a->offset;
	if (*size > isize - a->offset)
		return -EINVAL;
	vmo->first = a->offset >> PAGE_SHIFT;
	return 0;
}

static struct vblk_vmo *vblk_vmo_create(const struct virtz_block_attach_vmo *a)
{
	struct vblk_vmo *vmo;
	u64 size = a->size;
	int err;

	if ((a->flags & ~VIRTZ_BLOCK_VMO_READONLY) || a->pad[0] || a->pad[1] ||
	    a->pad[2] || a->fd < -1)
		return ERR_PTR(-EINVAL);
	if (a->fd < 0 && (a->offset || !PAGE_ALIGNED(a->addr) ||
			  a->addr + size < a->addr))
		return ERR_PTR(-EINVAL);

	vmo = kzalloc(sizeof(*vmo), GFP_KERNEL);
	if (!vmo)
		return ERR_PTR(-ENOMEM);
	vmo->writable = !(a->flags & VIRTZ_BLOCK_VMO_READONLY);

	if (a->fd >= 0) {
		err = vblk_vmo_set_memfd(vmo, a, &size);
		if (err)
			goto err_free;
	}
	err = -EINVAL;
	if (!size || !PAGE_ALIGNED(size) || size >> PAGE_SHIFT > VBLK_MAX_VMO_PAGES)
		goto err_free;
	vmo->nr_pages = size >> PAGE_SHIFT;
	if (vmo->file)
		return vmo;

	err = vblk_vmo_pin_user(vmo, a->addr);
	if (err) {
		/* Unpins what was pinned and drops the charge, if taken. */
		if (vmo->pages)
			vblk_vmo_free(vmo);
		else
			kfree(vmo);
		return ERR_PTR(err);
	}
	return vmo;

err_free:
	if (vmo->file)
		fput(vmo->file);
	kfree(vmo);
	return ERR_PTR(err);
}

/*
 * Takes a reference on each memfd page of @io's VMO range (@bytes from
 * byte @off), allocating pages where the memfd has a hole.  @fill: the
 * request writes into them, so the memfd must not be write-sealed (the
 * seals are checked under the inode lock, as write() does, so a seal
 * added later waits for these references in memfd_wait_for_pins()), and
 * the pages are dirtied under their lock, before reclaim could miss it.
 * A page past the memfd's end (truncated while attached) is -EFAULT.
 * vblk_io_finish() drops what was taken, on success or not.
 */
static int vblk_memfd_get_pages(struct vblk_io *io, u64 off, u64 bytes,
				bool fill)
{
	struct inode *inode = file_inode(io->vmo->file);
	pgoff_t index = io->vmo->first + (off >> PAGE_SHIFT);
	unsigned int i, n = DIV_ROUND_UP(offset_in_page(off) + bytes, PAGE_SIZE);
	int err = 0;

	io->poff = offset_in_page(off);
	io->mpages = io->mpages_inline;
	if (n > VBLK_INLINE_PAGES) {
		/* Up to 32768 for a zstd output of MAX_DECOMPRESSED_BYTES. */
		io->mpages = kvmalloc_array(n, sizeof(*io->mpages), GFP_KERNEL);
		if (!io->mpages)
			return -ENOMEM;
	}
	io->pages = io->mpages;

	if (fill) {
		inode_lock_shared(inode);
		if (SHMEM_I(inode)->seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) {
			err = -EACCES;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		struct folio *folio;
		struct page *page;

		err = shmem_get_folio(inode, index + i, 0, &folio, SGP_CACHE);
		if (err) {
			/* Past i_size: the memory is gone. */
			if (err == -EINVAL)
				err = -EFAULT;
			break;
		}
		page = folio_file_page(folio, index + i);
		if (PageHWPoison(page)) {
			folio_unlock(folio);
			folio_put(folio);
			err = -EIO;
			break;
		}
		if (fill)
			folio_mark_dirty(folio);
		folio_unlock(folio);
		io->mpages[io->nr_mpages++] = page;
		if (n > VBLK_INLINE_PAGES)
			cond_resched();
	}
out:
	if (fill)
		inode_unlock_shared(inode);
	return err;
}

static void vblk_memfd_put_pages(struct vblk_io *io)
{
	unsigned int i;

	for (i = 0; i < io->nr_mpages; i++)
		folio_put(page_folio(io->mpages[i]));
	/* kvfree() defers a vfree() from a bio completion to a work item. */
	if (io->mpages != io->mpages_inline)
		kvfree(io->mpages);
}

static long vblk_attach_vmo(struct vblk_session *s, void __user *argp)
{
	struct virtz_block_attach_vmo a;
	struct vblk_vmo *vmo;
	unsigned int id;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	/* Spare the pinning when the table is full; checked again below. */
	if (READ_ONCE(s->nr_vmos) >= VIRTZ_BLOCK_MAX_VMOS)
		return -ENOSPC;
	vmo = vblk_vmo_create(&a);
	if (IS_ERR(vmo))
		return PTR_ERR(vmo);

	spin_lock_irq(&s->lock);
	for (id = 1; id <= VIRTZ_BLOCK_MAX_VMOS; id++)
		if (!s->vmos[id])
			break;
	if (id <= VIRTZ_BLOCK_MAX_VMOS) {
		s->vmos[id] = vmo;
		s->nr_vmos++;
	}
	spin_unlock_irq(&s->lock);
	if (id > VIRTZ_BLOCK_MAX_VMOS) {
		vblk_vmo_free(vmo);
		return -ENOSPC;
	}

	/*
	 * On a fault here the VMO stays attached under an id the caller
	 * never learnt; it goes with the session.
	 */
	a.vmoid = id;
	if (copy_to_user(argp, &a, sizeof(a)))
		return -EFAULT;
	return 0;
}

/* Wakes @s->wait, under the lock. */
static void vblk_wake_locked(struct vblk_session *s)
{
	/*
	 * No barrier needed: every waiter is on the queue before it checks,
	 * under the lock, what it waits for (see struct vblk_session).
	 */
	if (waitqueue_active(&s->wait))
		wake_up(&s->wait);
}

/* A new request would find a place for its response; under the lock. */
static bool vblk_has_room(struct vblk_session *s)
{
	return s->ios + s->resp_count < VIRTZ_BLOCK_FIFO_DEPTH;
}

/* ---- responses ------------------------------------------------------------- */

static void vblk_push_locked(struct vblk_session *s, int status, u32 reqid,
			     u16 group, u32 count)
{
	struct virtz_block_fifo_response *r;

	/* Reserved when the request was accepted: ios + resp_count <= depth. */
	if (WARN_ON_ONCE(s->resp_count >= VIRTZ_BLOCK_FIFO_DEPTH))
		return;
	r = &s->resp[(s->resp_head + s->resp_count) % VIRTZ_BLOCK_FIFO_DEPTH];
	memset(r, 0, sizeof(*r));
	r->status = status;
	r->reqid = reqid;
	r->group = group;
	r->count = count;
	s->resp_count++;
}

/*
 * A request is finished: answer it, or fold it into its group and answer
 * the group when it was the last one.  Frees the request's reservation.
 */
static void vblk_finish_locked(struct vblk_session *s,
			       const struct vblk_tag *tag, int status)
{
	struct vblk_group *g;

	s->ios--;
	if (!tag->grouped) {
		vblk_push_locked(s, status, tag->reqid, tag->group, 1);
	} else {
		g = &s->groups[tag->group];
		if (status && !g->status)
			g->status = status;
		g->outstanding--;
		if (g->last_seen && !g->outstanding) {
			vblk_push_locked(s, g->status, g->last_reqid,
					 tag->group, g->count);
			memset(g, 0, sizeof(*g));
		}
	}
	vblk_wake_locked(s);
}

static void vblk_close_work(struct work_struct *work);

static void vblk_free_zpages(struct vblk_io *io)
{
	unsigned int i;

	for (i = 0; i < io->nr_zpages; i++)
		__free_page(io->zpages[i]);
	kfree(io->zpages);
}

/* The last step of every accepted request; any context. */
static void vblk_io_finish(struct vblk_io *io)
{
	struct vblk_session *s = io->s;
	struct vblk_vmo *vmo = io->vmo;
	unsigned long flags;

	/* The memory goes back before the answer. */
	vblk_memfd_put_pages(io);
	vblk_free_zpages(io);
	spin_lock_irqsave(&s->lock, flags);
	if (vmo && !--vmo->inflight && vmo->close_io)
		queue_work(virtz_block_wq, &vmo->close_io->work);
	vblk_finish_locked(s, &io->tag, io->status);
	io->next_free = s->io_free;
	s->io_free = io;
	spin_unlock_irqrestore(&s->lock, flags);
}

static void vblk_io_error(struct vblk_io *io, int err)
{
	cmpxchg(&io->status, 0, err);
}

static void vblk_post_flush_work(struct work_struct *work)
{
	struct vblk_io *io = container_of(work, struct vblk_io, work);

	vblk_io_error(io, blkdev_issue_flush(io->s->bdev));
	vblk_io_finish(io);
}

static void vblk_io_put(struct vblk_io *io)
{
	if (!atomic_dec_and_test(&io->pending))
		return;
	if (io->deferred && !io->status)
		queue_work(virtz_block_wq, &io->work);
	else
		vblk_io_finish(io);
}

static void vblk_bio_end_io(struct bio *bio)
{
	struct vblk_io *io = bio->bi_private;

	if (bio->bi_status)
		vblk_io_error(io, blk_status_to_errno(bio->bi_status));
	bio_put(bio);
	vblk_io_put(io);
}

/* ---- requests ------------------------------------------------------------- */

/*
 * Translates @req's device range through the offset map and checks it
 * against the device as it is now (it may have shrunk or gone).
 */
static int vblk_dev_range(struct vblk_session *s,
			  const struct virtz_block_fifo_request *req,
			  sector_t *sector)
{
	u64 nr_blocks = bdev_nr_sectors(s->bdev) >> (s->block_shift - SECTOR_SHIFT);
	u64 rel, target;

	if (req->dev_offset < s->map_src)
		return -ERANGE;
	rel = req->dev_offset - s->map_src;
	if (rel > s->map_len || req->length > s->map_len - rel)
		return -ERANGE;
	target = s->map_dst + rel;
	if (target > nr_blocks || req->length > nr_blocks - target)
		return -ERANGE;
	*sector = target << (s->block_shift - SECTOR_SHIFT);
	return 0;
}

/*
 * Takes @req's VMO for @io, checking that @blocks from vmo_offset fit and
 * the direction, and sets @io->pages to them.
 */
static int vblk_get_vmo(struct vblk_session *s, struct vblk_io *io,
			const struct virtz_block_fifo_request *req, u64 blocks)
{
	bool fill = req->opcode == VIRTZ_BLOCK_OP_READ;
	u64 off = req->vmo_offset << s->block_shift;
	struct vblk_vmo *vmo = NULL;
	u64 vmo_blocks;
	int err = 0;

	spin_lock_irq(&s->lock);
	if (req->vmoid && req->vmoid <= VIRTZ_BLOCK_MAX_VMOS)
		vmo = s->vmos[req->vmoid];
	if (!vmo) {
		err = -EBADF;
		goto out;
	}
	vmo_blocks = ((u64)vmo->nr_pages << PAGE_SHIFT) >> s->block_shift;
	if (req->vmo_offset > vmo_blocks ||
	    blocks > vmo_blocks - req->vmo_offset) {
		err = -ERANGE;
		goto out;
	}
	if (fill && !vmo->writable) {
		err = -EACCES;
		goto out;
	}
	vmo->inflight++;
	io->vmo = vmo;
out:
	spin_unlock_irq(&s->lock);
	if (err)
		return err;
	/* inflight keeps the VMO, and so its file, until vblk_io_finish(). */
	if (vmo->file)
		return vblk_memfd_get_pages(io, off, blocks << s->block_shift,
					    fill);
	io->pages = vmo->pages + (off >> PAGE_SHIFT);
	io->poff = offset_in_page(off);
	return 0;
}

/* Bios for @bytes of @pages from byte @off, at @sector. */
static void vblk_submit_pages(struct vblk_session *s, struct vblk_io *io,
			      struct page **pages, u64 off, u32 bytes,
			      sector_t sector, blk_opf_t opf)
{
	struct bio *bio = NULL;

	while (bytes) {
		struct page *page = pages[off >> PAGE_SHIFT];
		unsigned int poff = offset_in_page(off);
		unsigned int len = min_t(u32, PAGE_SIZE - poff, bytes);

		if (bio && bio_add_page(bio, page, len, poff) == len)
			goto added;
		if (bio) {
			sector += bio_sectors(bio);
			submit_bio(bio);
		}
		bio = bio_alloc(s->bdev,
				min_t(u32, DIV_ROUND_UP(bytes + poff, PAGE_SIZE),
				      BIO_MAX_VECS), opf, GFP_KERNEL);
		bio->bi_iter.bi_sector = sector;
		bio->bi_end_io = vblk_bio_end_io;
		bio->bi_private = io;
		atomic_inc(&io->pending);
		__bio_add_page(bio, page, len, poff);
added:
		off += len;
		bytes -= len;
	}
	submit_bio(bio);
}

static void vblk_submit_rw(struct vblk_session *s, struct vblk_io *io,
			   const struct virtz_block_fifo_request *req,
			   sector_t sector)
{
	blk_opf_t opf;

	if (req->opcode == VIRTZ_BLOCK_OP_READ) {
		opf = REQ_OP_READ;
	} else {
		opf = REQ_OP_WRITE | REQ_SYNC;
		/* The block layer emulates FUA with a post-flush if need be. */
		if (req->flags & VIRTZ_BLOCK_IO_FORCE_ACCESS)
			opf |= REQ_FUA;
		/* Each bio waits for what completed before to be stable. */
		if (req->flags & VIRTZ_BLOCK_IO_PRE_BARRIER)
			opf |= REQ_PREFLUSH;
	}
	vblk_submit_pages(s, io, io->pages, io->poff,
			  req->length << s->block_shift, sector, opf);
}

/* Decompresses what was read into the VMO; runs on virtz_block_wq. */
static void vblk_zstd_work(struct work_struct *work)
{
	struct vblk_io *io = container_of(work, struct vblk_io, work);
	void *in = NULL, *out = NULL, *wksp = NULL;
	size_t wksp_size = zstd_dctx_workspace_bound();
	zstd_dctx *dctx;
	size_t ret;
	int err = -ENOMEM;

	in = vmap(io->zpages, io->nr_zpages, VM_MAP, PAGE_KERNEL);
	out = vmap(io->pages, DIV_ROUND_UP(io->poff + io->zout, PAGE_SIZE),
		   VM_MAP, PAGE_KERNEL);
	wksp = kvmalloc(wksp_size, GFP_KERNEL);
	if (!in || !out || !wksp)
		goto out;
	dctx = zstd_init_dctx(wksp, wksp_size);
	if (!dctx)
		goto out;
	ret = zstd_decompress_dctx(dctx, out + io->poff, io->zout,
				   in + io->zprefix, io->ztotal);
	/* Corrupt, or more or less than uncompressed_bytes: all -EBADMSG. */
	err = !zstd_is_error(ret) && ret == io->zout ? 0 : -EBADMSG;
out:
	kvfree(wksp);
	if (out)
		vunmap(out);
	if (in)
		vunmap(in);
	vblk_io_error(io, err);
	vblk_io_finish(io);
}

/*
 * DECOMPRESS_WITH_ZSTD: reads the device range into pages of the
 * request's own, then decompresses on virtz_block_wq.
 */
static int vblk_submit_zstd(struct vblk_session *s, struct vblk_io *io,
			    const struct virtz_block_fifo_request *req,
			    sector_t sector)
{
	u32 in_bytes = req->length << s->block_shift;
	unsigned int i, n = DIV_ROUND_UP(in_bytes, PAGE_SIZE);

	/* vblk_get_vmo() checked that the output fits in the VMO. */
	io->zpages = kcalloc(n, sizeof(*io->zpages), GFP_KERNEL);
	if (!io->zpages)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		io->zpages[i] = alloc_page(GFP_KERNEL);
		if (!io->zpages[i])
			return -ENOMEM;	/* vblk_io_finish() frees them */
		io->nr_zpages++;
	}
	io->zprefix = req->compressed_prefix_bytes;
	io->ztotal = req->total_compressed_bytes;
	io->zout = req->uncompressed_bytes;
	io->deferred = true;
	INIT_WORK(&io->work, vblk_zstd_work);
	vblk_submit_pages(s, io, io->zpages, 0, in_bytes, sector, REQ_OP_READ);
	return 0;
}

/* The fields only DECOMPRESS_WITH_ZSTD reads, before any I/O. */
static int vblk_check_zstd(struct vblk_session *s,
			   const struct virtz_block_fifo_request *req)
{
	u64 in_bytes = (u64)req->length << s->block_shift;

	if (req->opcode != VIRTZ_BLOCK_OP_READ)
		return -EINVAL;
	if (!req->total_compressed_bytes || !req->uncompressed_bytes ||
	    req->uncompressed_bytes > VIRTZ_BLOCK_MAX_DECOMPRESSED_BYTES)
		return -EINVAL;
	if ((u64)req->compressed_prefix_bytes + req->total_compressed_bytes >
	    in_bytes)
		return -EINVAL;
	return 0;
}

static void vblk_submit_flush(struct vblk_session *s, struct vblk_io *io)
{
	struct bio *bio;

	bio = bio_alloc(s->bdev, 0, REQ_OP_WRITE | REQ_PREFLUSH | REQ_SYNC,
			GFP_KERNEL);
	bio->bi_end_io = vblk_bio_end_io;
	bio->bi_private = io;
	atomic_inc(&io->pending);
	submit_bio(bio);
}

static int vblk_submit_trim(struct vblk_session *s, struct vblk_io *io,
			    const struct virtz_block_fifo_request *req,
			    sector_t sector)
{
	struct bio *bio = NULL;
	int err;

	/* A discard cannot carry REQ_PREFLUSH: flush first, here. */
	if (req->flags & VIRTZ_BLOCK_IO_PRE_BARRIER) {
		err = blkdev_issue_flush(s->bdev);
		if (err)
			return err;
	}
	io->deferred = req->flags & VIRTZ_BLOCK_IO_FORCE_ACCESS;
	err = __blkdev_issue_discard(s->bdev, sector,
				     (sector_t)req->length <<
				     (s->block_shift - SECTOR_SHIFT),
				     GFP_KERNEL, &bio);
	if (err)
		return err;
	/* Nothing to send when the range is below the discard granularity. */
	if (bio) {
		bio->bi_end_io = vblk_bio_end_io;
		bio->bi_private = io;
		atomic_inc(&io->pending);
		submit_bio(bio);
	}
	return 0;
}

static int vblk_close_vmo(struct vblk_session *s, struct vblk_io *io,
			  const struct virtz_block_fifo_request *req)
{
	struct vblk_vmo *vmo = NULL;

	spin_lock_irq(&s->lock);
	if (req->vmoid && req->vmoid <= VIRTZ_BLOCK_MAX_VMOS)
		vmo = s->vmos[req->vmoid];
	if (!vmo) {
		spin_unlock_irq(&s->lock);
		return -EBADF;
	}
	/* New requests no longer find it; in-flight ones finish first. */
	s->vmos[req->vmoid] = NULL;
	s->nr_vmos--;
	vmo->close_io = io;
	io->closing = vmo;
	INIT_WORK(&io->work, vblk_close_work);
	atomic_inc(&io->pending);
	if (!vmo->inflight)
		queue_work(virtz_block_wq, &io->work);
	spin_unlock_irq(&s->lock);
	return 0;
}

static void vblk_close_work(struct work_struct *work)
{
	struct vblk_io *io = container_of(work, struct vblk_io, work);

	vblk_vmo_free(io->closing);
	vblk_io_put(io);
}

static int vblk_check_rw(struct vblk_session *s,
			 const struct virtz_block_fifo_request *req)
{
	if (!req->length)
		return -EINVAL;
	if (req->length > VIRTZ_BLOCK_MAX_TRANSFER >> s->block_shift)
		return -EINVAL;
	if (req->opcode != VIRTZ_BLOCK_OP_READ && s->readonly)
		return -EROFS;
	return 0;
}

/*
 * Validates and starts one accepted request.  Returns an error to answer
 * with at once, or 0 when @io now belongs to its bios or work.
 */
static int vblk_start(struct vblk_session *s, struct vblk_io *io,
		      const struct virtz_block_fifo_request *req)
{
	u64 vmo_blocks;
	sector_t sector;
	int err;

	if (req->flags & ~VBLK_KNOWN_FLAGS)
		return -EINVAL;
	if (req->flags & VIRTZ_BLOCK_IO_INLINE_ENCRYPTION_ENABLED)
		return -EOPNOTSUPP;

	switch (req->opcode) {
	case VIRTZ_BLOCK_OP_READ:
	case VIRTZ_BLOCK_OP_WRITE:
		err = vblk_check_rw(s, req);
		if (err)
			return err;
		if (req->flags & VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD) {
			err = vblk_check_zstd(s, req);
			if (err)
				return err;
		}
		err = vblk_dev_range(s, req, &sector);
		if (err)
			return err;
		vmo_blocks = req->length;
		if (req->flags & VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD)
			vmo_blocks = DIV_ROUND_UP(req->uncompressed_bytes,
						  1U << s->block_shift);
		err = vblk_get_vmo(s, io, req, vmo_blocks);
		if (err)
			return err;
		if (req->flags & VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD)
			return vblk_submit_zstd(s, io, req, sector);
		vblk_submit_rw(s, io, req, sector);
		return 0;
	case VIRTZ_BLOCK_OP_FLUSH:
		vblk_submit_flush(s, io);
		return 0;
	case VIRTZ_BLOCK_OP_TRIM:
		if (!req->length)
			return -EINVAL;
		if (s->readonly)
			return -EROFS;
		if (!bdev_max_discard_sectors(s->bdev))
			return -EOPNOTSUPP;
		err = vblk_dev_range(s, req, &sector);
		if (err)
			return err;
		return vblk_submit_trim(s, io, req, sector);
	case VIRTZ_BLOCK_OP_CLOSE_VMO:
		return vblk_close_vmo(s, io, req);
	default:
		return -EINVAL;
	}
}

/*
 * Accepts one request: takes a place in the FIFO (waiting for one unless
 * @nonblock), joins its group, and starts it.  Returns 0, or -EAGAIN /
 * -ERESTARTSYS with nothing consumed.
 */
static int vblk_accept(struct vblk_session *s,
		       const struct virtz_block_fifo_request *req, bool nonblock)
{
	u32 flags = req->flags;
	struct vblk_tag tag = {
		.reqid = req->reqid,
		.group = req->group,
		.grouped = flags & VIRTZ_BLOCK_IO_GROUP_ITEM,
	};
	int status = 0;
	struct vblk_io *io;
	int err;

	/* Fuchsia drops a bad group's items and answers only its LAST. */
	if (tag.grouped && req->group >= VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT) {
		if (!(flags & VIRTZ_BLOCK_IO_GROUP_LAST))
			return 0;
		tag.grouped = false;
		status = -EINVAL;
	} else if (!tag.grouped && (flags & VIRTZ_BLOCK_IO_GROUP_LAST)) {
		status = -EINVAL;
	}

	spin_lock_irq(&s->lock);
	if (!vblk_has_room(s)) {
		if (nonblock)
			err = -EAGAIN;
		else
			err = wait_event_interruptible_lock_irq(s->wait, vblk_has_room(s),
								s->lock);
		if (err) {
			spin_unlock_irq(&s->lock);
			return err;
		}
	}
	/* ios < depth: a slot is free. */
	io = s->io_free;
	s->io_free = io->next_free;
	s->ios++;
	if (tag.grouped) {
		struct vblk_group *g = &s->groups[tag.group];

		if (g->last_seen) {
			/* The transaction is closed and still in flight. */
			tag.grouped = false;
			status = -EBUSY;
		} else {
			g->count++;
			g->outstanding++;
			if (flags & VIRTZ_BLOCK_IO_GROUP_LAST) {
				g->last_seen = true;
				g->last_reqid = req->reqid;
			}
			/* MAX_DECOMPRESSED_BYTES bounds a whole transaction. */
			if (flags & VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD) {
				g->zbytes += req->uncompressed_bytes;
				if (g->zbytes > VIRTZ_BLOCK_MAX_DECOMPRESSED_BYTES)
					status = -EINVAL;
			}
		}
	}
	spin_unlock_irq(&s->lock);

	memset(io, 0, offsetof(struct vblk_io, mpages_inline));
	io->s = s;
	io->tag = tag;
	atomic_set(&io->pending, 1);
	INIT_WORK(&io->work, vblk_post_flush_work);
	if (!status)
		status = vblk_start(s, io, req);
	if (status) {
		vblk_io_error(io, status);
		vblk_io_finish(io);
		return 0;
	}
	vblk_io_put(io);
	return 0;
}

/* ---- the session fd ------------------------------------------------------ */

static ssize_t vblk_write(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	struct vblk_session *s = file->private_data;
	struct virtz_block_fifo_request req;
	size_t done = 0;
	int err;

	if (!count || count % VBLK_REQ_SIZE)
		return -EINVAL;
	while (done < count) {
		if (copy_from_user(&req, buf + done, sizeof(req)))
			return done ? done : -EFAULT;
		/* Block only while nothing has been taken yet. */
		err = vblk_accept(s, &req, done || (file->f_flags & O_NONBLOCK));
		if (err)
			return done ? done : err;
		done += VBLK_REQ_SIZE;
	}
	return done;
}

/*
 * Enough responses for a reaper that wants @min of them: for read() at
 * least one; for SUBMIT_REAP also when nothing is left in flight.
 */
static bool vblk_reap_ready(struct vblk_session *s, unsigned int min,
			    bool idle_ok)
{
	return s->resp_count >= min || (idle_ok && !s->ios);
}

/*
 * Copies up to @count bytes of responses to @buf, first waiting (unless
 * @nonblock) until vblk_reap_ready().  Returns the bytes copied or -errno.
 */
static ssize_t vblk_reap(struct vblk_session *s, char __user *buf,
			 size_t count, unsigned int min, bool idle_ok,
			 bool nonblock)
{
	struct virtz_block_fifo_response batch[VBLK_READ_BATCH];
	size_t done = 0;
	unsigned int n, i;
	int err;

	if (mutex_lock_interruptible(&s->read_mutex))
		return -ERESTARTSYS;

	spin_lock_irq(&s->lock);
	if (!vblk_reap_ready(s, min, idle_ok)) {
		if (nonblock)
			err = s->resp_count ? 0 : -EAGAIN;
		else
			err = wait_event_interruptible_lock_irq(s->wait,
								vblk_reap_ready(s, min, idle_ok),
								s->lock);
		if (err) {
			spin_unlock_irq(&s->lock);
			mutex_unlock(&s->read_mutex);
			return err;
		}
	}
	while (s->resp_count && count - done >= VBLK_RESP_SIZE) {
		n = min3(s->resp_count, (unsigned int)VBLK_READ_BATCH,
			 (unsigned int)((count - done) / VBLK_RESP_SIZE));
		for (i = 0; i < n; i++)
			batch[i] = s->resp[(s->resp_head + i) %
					   VIRTZ_BLOCK_FIFO_DEPTH];
		spin_unlock_irq(&s->lock);
		if (copy_to_user(buf + done, batch, n * VBLK_RESP_SIZE)) {
			mutex_unlock(&s->read_mutex);
			return done ? done : -EFAULT;
		}
		done += n * VBLK_RESP_SIZE;
		spin_lock_irq(&s->lock);
		/* Only reapers take entries off, and they hold read_mutex. */
		s->resp_head = (s->resp_head + n) % VIRTZ_BLOCK_FIFO_DEPTH;
		s->resp_count -= n;
		vblk_wake_locked(s);
	}
	spin_unlock_irq(&s->lock);
	mutex_unlock(&s->read_mutex);
	return done;
}

static ssize_t vblk_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	struct vblk_session *s = file->private_data;

	if (count < VBLK_RESP_SIZE)
		return -EINVAL;
	return vblk_reap(s, buf, count, 1, false, file->f_flags & O_NONBLOCK);
}

/*
 * VIRTZ_BLOCK_IOC_SUBMIT_REAP: write() and read() in one call.  Submits
 * what fits in the FIFO without waiting, then reaps, waiting for
 * min_responses unless the session is non-blocking.
 */
static long vblk_submit_reap(struct file *file, struct vblk_session *s,
			     void __user *argp)
{
	bool nonblock = file->f_flags & O_NONBLOCK;
	struct virtz_block_fifo_request req;
	struct virtz_block_submit_reap sr;
	const char __user *reqs;
	u32 submitted = 0;
	ssize_t got;
	int err = 0;

	if (copy_from_user(&sr, argp, sizeof(sr)))
		return -EFAULT;
	if (sr.flags || sr.min_responses > sr.nr_responses ||
	    sr.min_responses > VIRTZ_BLOCK_FIFO_DEPTH)
		return -EINVAL;
	reqs = u64_to_user_ptr(sr.requests);
	while (submitted < sr.nr_requests) {
		if (copy_from_user(&req, reqs + (size_t)submitted * VBLK_REQ_SIZE,
				   sizeof(req))) {
			err = -EFAULT;
			break;
		}
		err = vblk_accept(s, &req, true);
		if (err)
			break;
		submitted++;
	}
	/* A full FIFO is no error here: the caller reaps and comes back. */
	if (err && err != -EAGAIN && !submitted)
		return err;

	got = 0;
	if (sr.nr_responses) {
		got = vblk_reap(s, u64_to_user_ptr(sr.responses),
				(size_t)sr.nr_responses * VBLK_RESP_SIZE,
				sr.min_responses, true, nonblock);
		if (got == -EAGAIN)
			got = 0;
		if (got < 0 && !submitted)
			return got;
		if (got < 0)
			got = 0;
	}
	sr.nr_requests = submitted;
	sr.nr_responses = got / VBLK_RESP_SIZE;
	if (copy_to_user(argp, &sr, sizeof(sr)))
		return -EFAULT;
	return 0;
}

static __poll_t vblk_poll(struct file *file, poll_table *pt)
{
	struct vblk_session *s = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &s->wait, pt);
	spin_lock_irq(&s->lock);
	if (s->resp_count)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (vblk_has_room(s))
		mask |= EPOLLOUT | EPOLLWRNORM;
	spin_unlock_irq(&s->lock);
	return mask;
}

static long vblk_get_info(struct vblk_session *s, void __user *argp)
{
	struct block_device *bdev = s->bdev;
	struct virtz_block_info info = {
		.block_size = 1U << s->block_shift,
		.max_transfer_size = VIRTZ_BLOCK_MAX_TRANSFER,
	};
	u64 nr_blocks = bdev_nr_sectors(bdev) >> (s->block_shift - SECTOR_SHIFT);

	info.block_count = s->mapped ? s->map_len : nr_blocks;
	if (s->readonly)
		info.flags |= VIRTZ_BLOCK_DEV_READONLY;
	if (bdev->bd_disk->flags & GENHD_FL_REMOVABLE)
		info.flags |= VIRTZ_BLOCK_DEV_REMOVABLE;
	if (bdev_max_discard_sectors(bdev) && !s->readonly)
		info.flags |= VIRTZ_BLOCK_DEV_TRIM_SUPPORT;
	if (bdev_fua(bdev))
		info.flags |= VIRTZ_BLOCK_DEV_FUA_SUPPORT;
	info.flags |= VIRTZ_BLOCK_DEV_ZSTD_DECOMPRESSION_SUPPORT;
	if (copy_to_user(argp, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long vblk_session_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct vblk_session *s = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case VIRTZ_BLOCK_IOC_GET_INFO:
		return vblk_get_info(s, argp);
	case VIRTZ_BLOCK_IOC_ATTACH_VMO:
		return vblk_attach_vmo(s, argp);
	case VIRTZ_BLOCK_IOC_SUBMIT_REAP:
		return vblk_submit_reap(file, s, argp);
	default:
		return -ENOTTY;
	}
}

/*
 * The last reference to the session is gone: wait for every request it
 * started (bios, flushes, CLOSE_VMO releases), then drop the VMOs and the
 * block device.
 */
static int vblk_release(struct inode *inode, struct file *file)
{
	struct vblk_session *s = file->private_data;
	unsigned int id;

	spin_lock_irq(&s->lock);
	wait_event_lock_irq(s->wait, !s->ios, s->lock);
	spin_unlock_irq(&s->lock);

	for (id = 1; id <= VIRTZ_BLOCK_MAX_VMOS; id++)
		if (s->vmos[id])
			vblk_vmo_free(s->vmos[id]);
	fput(s->bdev_file);
	mutex_destroy(&s->read_mutex);
	kvfree(s->io_slots);
	kfree(s);
	return 0;
}

static const struct file_operations vblk_session_fops = {
	.owner = THIS_MODULE,
	.read = vblk_read,
	.write = vblk_write,
	.poll = vblk_poll,
	.unlocked_ioctl = vblk_session_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vblk_release,
	.llseek = noop_llseek,
};

/* ---- /dev/virtz-block ---------------------------------------------------- */

static int vblk_set_map(struct vblk_session *s,
			const struct virtz_block_open_session *o)
{
	u64 nr_blocks = bdev_nr_sectors(s->bdev) >> (s->block_shift - SECTOR_SHIFT);
	const struct virtz_block_offset_map *m = &o->map;

	s->map_len = U64_MAX;
	if (!(o->flags & VIRTZ_BLOCK_OPEN_OFFSET_MAP))
		return 0;
	if (!m->length || m->source_block_offset + m->length < m->length)
		return -EINVAL;
	if (m->target_block_offset > nr_blocks ||
	    m->length > nr_blocks - m->target_block_offset)
		return -ERANGE;
	s->map_src = m->source_block_offset;
	s->map_dst = m->target_block_offset;
	s->map_len = m->length;
	s->mapped = true;
	return 0;
}

static long vblk_open_session(void __user *argp)
{
	struct virtz_block_open_session o;
	struct vblk_session *s;
	struct file *bdev_file;
	unsigned int i;
	int err, fd;

	if (copy_from_user(&o, argp, sizeof(o)))
		return -EFAULT;
	if (o.flags & ~VIRTZ_BLOCK_OPEN_OFFSET_MAP)
		return -EINVAL;

	bdev_file = fget(o.bdev_fd);
	if (!bdev_file)
		return -EBADF;
	err = -ENOTBLK;
	if (!S_ISBLK(file_inode(bdev_file)->i_mode))
		goto err_fput;
	err = -EACCES;
	if (!(bdev_file->f_mode & FMODE_READ))
		goto err_fput;

	err = -ENOMEM;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		goto err_fput;
	s->bdev_file = bdev_file;
	s->bdev = virtz_file_bdev(bdev_file);
	s->readonly = !(bdev_file->f_mode & FMODE_WRITE) ||
		      bdev_read_only(s->bdev);
	s->block_shift = ilog2(bdev_logical_block_size(s->bdev));
	mutex_init(&s->read_mutex);
	init_waitqueue_head(&s->wait);
	spin_lock_init(&s->lock);
	err = vblk_set_map(s, &o);
	if (err)
		goto err_free;
	err = -ENOMEM;
	s->io_slots = kvcalloc(VIRTZ_BLOCK_FIFO_DEPTH, sizeof(*s->io_slots),
			       GFP_KERNEL);
	if (!s->io_slots)
		goto err_free;
	for (i = 0; i < VIRTZ_BLOCK_FIFO_DEPTH; i++) {
		s->io_slots[i].next_free = s->io_free;
		s->io_free = &s->io_slots[i];
	}

	fd = anon_inode_getfd("[virtz-block-session]", &vblk_session_fops, s,
			      O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto err_free;
	}
	return fd;

err_free:
	kvfree(s->io_slots);
	mutex_destroy(&s->read_mutex);
	kfree(s);
err_fput:
	fput(bdev_file);
	return err;
}

static long virtz_block_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	switch (cmd) {
	case VIRTZ_BLOCK_IOC_OPEN_SESSION:
		return vblk_open_session((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static int virtz_block_open(struct inode *inode, struct file *file)
{
	virtz_handle_get(&virtz_fvm);
	return 0;
}

static int virtz_block_release(struct inode *inode, struct file *file)
{
	virtz_handle_put(&virtz_fvm);
	return 0;
}

static const struct file_operations virtz_block_fops = {
	.owner = THIS_MODULE,
	.open = virtz_block_open,
	.release = virtz_block_release,
	.unlocked_ioctl = virtz_block_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

struct miscdevice virtz_block_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VIRTZ_BLOCK_DEV_NAME,
	.fops = &virtz_block_fops,
	.mode = 0600,
};

int virtz_block_init(void)
{
	virtz_block_wq = alloc_workqueue("virtz_block", WQ_MEM_RECLAIM, 0);
	if (!virtz_block_wq)
		return -ENOMEM;
	virtz_fvm.features |= VIRTZ_FVM_F_BLOCK_SESSIONS;
	return 0;
}

void virtz_block_exit(void)
{
	/* No session is left (each pins the module); finish their works. */
	destroy_workqueue(virtz_block_wq);
}
