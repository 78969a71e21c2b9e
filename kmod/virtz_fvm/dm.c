// SPDX-License-Identifier: GPL-2.0
/*
 * Device-mapper targets "fvm-pool" and "fvm": Fuchsia's volume manager
 * (FVM v1) in the dm-thin pattern.
 *
 *   fvm-pool <dev>
 *	Owns one FVM-formatted device: loads and validates its metadata,
 *	applies Fuchsia's load rules (growth, placeholder GUIDs, inactive
 *	partitions destroyed), and serves the volume-manager operations as
 *	"dmsetup message" verbs (and through genl.c).  The pool device
 *	itself reads as the underlying device; it refuses writes.
 *
 *   fvm <pool_dev> <partition>
 *	Maps one vpartition, named by instance GUID or by name, remapping
 *	each bio (reads, writes, discards, write-zeroes) through the slice
 *	map.  A bio touching an unmapped vslice fails as a whole with an
 *	I/O error; one spanning slices that are not adjacent on the device
 *	is split where they part.
 *
 * Metadata is written as on Fuchsia: the inactive copy, a flush, and only
 * then does it become the active copy in memory.  An operation returns
 * when its copy is durable.
 *
 * Freed slices and bios in flight: a bio holds the pool's io_srcu (a
 * semaphore-like SRCU read side) from map() until its end_io.  Shrink and
 * Destroy publish the new slice index, then synchronize_srcu_expedited()
 * before returning, with fvm_lock still held.  Every allocation runs under
 * fvm_lock, so a freed slice can be handed out again only after every
 * bio that was mapped onto it has completed.
 *
 * Destroy of a mapped partition (Fuchsia allows Volume.Destroy on an open
 * volume): its fvm targets are marked dead before that grace period, so
 * every bio mapped after it fails with an I/O error, even once a new
 * partition takes the same table entry.  The dead device stays until it
 * is removed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/dm-ioctl.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <linux/vmalloc.h>
#include <linux/virtz_block.h>
#include <linux/virtz_fvm.h>

#include "dm_fvm.h"
#include "virtz_fvm.h"

#define DM_MSG_PREFIX "fvm"

/* GPT type GUID "Linux filesystem data", the default for allocate. */
static const char fvm_default_type[] = "0fc63daf-8483-4772-8e79-3d69d8477de4";

/*
 * One FVM-formatted device.  Shared by the fvm-pool target of its dm
 * device (during a table reload, by the old and the new one) and by
 * every fvm target that maps one of its partitions.
 *
 * Locking: fvm_lock protects the pool list and every field here except
 * index.  index is read under io_srcu, from a bio's map() until its
 * end_io; it is replaced under fvm_lock and the old one is freed only
 * after an io_srcu grace period.
 */
struct fvm_pool {
	struct list_head node;		/* in fvm_pools */
	unsigned int users;		/* pool targets + volume targets */
	struct mapped_device *md;	/* the pool's dm device */
	char name[DM_NAME_LEN];		/* its name, see fvm_pool_name() */
	dev_t dev;			/* the FVM device */
	struct block_device *bdev;
	struct dm_io_client *io;
	struct fvm_meta *meta;		/* committed state */
	u64 copy_len;			/* metadata_allocated */
	void *buf;			/* copy_len bytes, for commits */
	sector_t data_start;		/* physical slice 1 */
	sector_t slice_sectors;
	u16 mapped[FVM_MAX_VPARTITIONS];	/* live fvm targets per partition */
	struct list_head volumes;	/* fvm_volume.node, every fvm target */
	struct fvm_index __rcu *index;
	struct srcu_struct io_srcu;
};

struct fvm_pool_target {
	struct dm_dev *dev;
	struct fvm_pool *pool;
};

/*
 * One fvm target.  node is under fvm_lock.  dead is set under fvm_lock
 * when the partition is destroyed, before the io_srcu grace period that
 * frees its slices, and read by map() inside its io_srcu read side.
 */
struct fvm_volume {
	struct dm_dev *pool_dev;	/* holds the pool device open */
	struct dm_dev *data_dev;	/* where bios go */
	struct fvm_pool *pool;
	struct list_head node;		/* in pool->volumes */
	bool dead;			/* its partition was destroyed */
	u32 vpart;
	u8 guid[FVM_GUID_LEN];
};

/* See dm_fvm.h: one lock for all metadata, taken after dm core's. */
DEFINE_MUTEX(fvm_lock);
static LIST_HEAD(fvm_pools);

/* ---- Helpers for genl.c --------------------------------------------- */

struct fvm_pool *fvm_pool_find_name(const char *name)
{
	struct fvm_pool *pool;

	lockdep_assert_held(&fvm_lock);
	list_for_each_entry(pool, &fvm_pools, node)
		if (!strcmp(fvm_pool_name(pool), name))
			return pool;
	return NULL;
}

struct fvm_pool *fvm_pool_next(struct fvm_pool *pool)
{
	lockdep_assert_held(&fvm_lock);
	if (!pool)
		return list_first_entry_or_null(&fvm_pools, struct fvm_pool,
						node);
	if (list_is_last(&pool->node, &fvm_pools))
		return NULL;
	return list_next_entry(pool, node);
}

const struct fvm_meta *fvm_pool_meta(struct fvm_pool *pool)
{
	lockdep_assert_held(&fvm_lock);
	return pool->meta;
}

/* The dm name (not "dm-N"), fetched afresh: a device can be renamed. */
const char *fvm_pool_name(struct fvm_pool *pool)
{
	lockdep_assert_held(&fvm_lock);
	if (dm_copy_name_and_uuid(pool->md, pool->name, NULL))
		strscpy(pool->name, dm_device_name(pool->md));
	return pool->name;
}

unsigned int fvm_pool_mapped(struct fvm_pool *pool, u32 vpart)
{
	return vpart < FVM_MAX_VPARTITIONS ? pool->mapped[vpart] : 0;
}

void fvm_pool_block_info(struct fvm_pool *pool, u32 vpart,
			 struct fvm_block_info *bi)
{
	struct block_device *bdev = pool->bdev;
	const struct fvm_meta *m = pool->meta;
	u64 max_bytes;

	lockdep_assert_held(&fvm_lock);
	bi->block_size = bdev_logical_block_size(bdev);
	bi->block_count = div_u64(m->part[vpart].slices * m->hdr.slice_size,
				  bi->block_size);
	/*
	 * The largest request the device takes.  Bios to the volume are
	 * split to it by the block layer, as Fuchsia's FVM reports its
	 * parent's limit.
	 */
	max_bytes = (u64)queue_max_hw_sectors(bdev_get_queue(bdev)) <<
		    SECTOR_SHIFT;
	bi->max_transfer = max_bytes >= VIRTZ_BLOCK_MAX_TRANSFER_UNBOUNDED ?
			   VIRTZ_BLOCK_MAX_TRANSFER_UNBOUNDED : max_bytes;
	bi->flags = 0;
	if (bdev_read_only(bdev))
		bi->flags |= VIRTZ_BLOCK_DEV_READONLY;
	if (bdev->bd_disk->flags & GENHD_FL_REMOVABLE)
		bi->flags |= VIRTZ_BLOCK_DEV_REMOVABLE;
	/* The fvm target passes discards through (num_discard_bios). */
	if (bdev_max_discard_sectors(bdev))
		bi->flags |= VIRTZ_BLOCK_DEV_TRIM_SUPPORT;
	if (bdev_fua(bdev))
		bi->flags |= VIRTZ_BLOCK_DEV_FUA_SUPPORT;
}

int fvm_pool_query(struct fvm_pool *pool, u32 vpart, u64 start,
		   bool *allocated, u64 *count)
{
	const struct fvm_index *ix;
	u64 next = FVM_MAX_VSLICES, pos;
	u32 k, end;

	ix = rcu_dereference_protected(pool->index, lockdep_is_held(&fvm_lock));
	if (start >= FVM_MAX_VSLICES || vpart >= FVM_MAX_VPARTITIONS)
		return -ERANGE;
	end = ix->first[vpart + 1];
	for (k = ix->first[vpart]; k < end; k++) {
		const struct fvm_extent *x = &ix->ext[k];

		if (start < x->vslice) {
			next = x->vslice;
			break;
		}
		if (start >= (u64)x->vslice + x->count)
			continue;
		/* Adjacent extents are one run for the caller. */
		pos = (u64)x->vslice + x->count;
		for (k++; k < end && ix->ext[k].vslice == pos; k++)
			pos += ix->ext[k].count;
		*allocated = true;
		*count = pos - start;
		return 0;
	}
	*allocated = false;
	*count = next - start;
	return 0;
}

int fvm_pool_find_part(struct fvm_pool *pool, const char *s, const char **why)
{
	const struct fvm_meta *m = pool->meta;
	size_t len = strlen(s);
	u8 guid[FVM_GUID_LEN];
	int i, found = -ENOENT;

	lockdep_assert_held(&fvm_lock);
	if (!fvm_guid_parse(s, guid)) {
		i = fvm_find_guid(m, guid);
		if (i < 0)
			*why = "no partition has this instance GUID";
		return i;
	}
	if (!len || len > FVM_NAME_LEN) {
		*why = "partition name must be 1 to 24 bytes (or give the instance GUID)";
		return -EINVAL;
	}
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		const struct fvm_vpart *e = &m->part[i];

		if (!fvm_vpart_allocated(e) || fvm_name_len(e) != len ||
		    memcmp(e->name, s, len))
			continue;
		if (found > 0) {
			*why = "several partitions have this name; use the instance GUID";
			return -EINVAL;
		}
		found = i;
	}
	if (found < 0)
		*why = "no partition has this name or instance GUID";
	return found;
}

/* ---- Metadata I/O ------------------------------------------------------- */

static int fvm_pool_io(struct fvm_pool *pool, blk_opf_t opf, u64 offset,
		       void *buf, u64 len)
{
	struct dm_io_region region = {
		.bdev = pool->bdev,
		.sector = offset >> SECTOR_SHIFT,
		.count = len >> SECTOR_SHIFT,
	};
	struct dm_io_request req = {
		.bi_opf = opf | REQ_SYNC,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = buf,
		.client = pool->io,
	};

	return dm_io(&req, 1, &region, NULL, IOPRIO_DEFAULT);
}

/*
 * Writes m's next generation to its inactive copy and flushes; m becomes
 * the active copy only when both succeeded.
 */
static int fvm_pool_commit(struct fvm_pool *pool, struct fvm_meta *m,
			   const char **why)
{
	enum fvm_copy c = fvm_meta_commit_begin(m);
	u64 len = fvm_metadata_write_len(&m->hdr);
	int ret;

	ret = fvm_meta_serialize(m, pool->buf, len);
	if (ret) {
		*why = "cannot serialise the metadata";
		return ret;
	}
	ret = fvm_pool_io(pool, REQ_OP_WRITE, fvm_copy_offset(&m->hdr, c),
			  pool->buf, len);
	if (ret) {
		*why = "writing the metadata copy failed";
		return ret;
	}
	ret = blkdev_issue_flush(pool->bdev);
	if (ret) {
		*why = "flushing the metadata copy failed";
		return ret;
	}
	fvm_meta_commit_end(m);
	return 0;
}

struct fvm_index_rcu {
	struct rcu_head rcu;
	struct fvm_index *ix;
};

static void fvm_index_free_cb(struct rcu_head *rcu)
{
	struct fvm_index_rcu *r = container_of(rcu, struct fvm_index_rcu, rcu);

	fvm_index_free(r->ix);
	kfree(r);
}

/* Frees ix once no bio can use it; false if that cannot be queued. */
static bool fvm_index_free_later(struct fvm_pool *pool, struct fvm_index *ix)
{
	struct fvm_index_rcu *r = kmalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return false;
	r->ix = ix;
	call_srcu(&pool->io_srcu, &r->rcu, fvm_index_free_cb);
	return true;
}

/* Marks the fvm targets of a destroyed partition dead; under fvm_lock. */
static void fvm_pool_kill_volumes(struct fvm_pool *pool, u32 vpart)
{
	struct fvm_volume *v;

	list_for_each_entry(v, &pool->volumes, node)
		if (!v->dead && v->vpart == vpart)
			WRITE_ONCE(v->dead, true);
	pool->mapped[vpart] = 0;
}

/*
 * Commits m and makes it the pool's state.  With remap, the slice index
 * is rebuilt (before anything is written, so a failure leaves the disk
 * alone) and published; with dead_vpart (0: none, since
 * entry 0 is never a partition), that partition's fvm targets are killed
 * first.  When the change frees slices, the caller waits
 * until no bio mapped through the old index is in flight; otherwise the
 * old index is freed after that grace period in the background.  On
 * error m is still the caller's.
 */
static int fvm_pool_install(struct fvm_pool *pool, struct fvm_meta *m,
			    bool remap, bool frees, u32 dead_vpart,
			    const char **why)
{
	struct fvm_index *ix = NULL, *old;
	int ret;

	lockdep_assert_held(&fvm_lock);
	if (remap) {
		ret = fvm_index_build(m, &ix, why);
		if (ret)
			return ret;
	}
	ret = fvm_pool_commit(pool, m, why);
	if (ret) {
		fvm_index_free(ix);
		return ret;
	}
	fvm_meta_free(pool->meta);
	pool->meta = m;
	if (dead_vpart)
		fvm_pool_kill_volumes(pool, dead_vpart);
	if (!ix)
		return 0;
	old = rcu_replace_pointer(pool->index, ix, lockdep_is_held(&fvm_lock));
	/* Nothing freed: no bio can land anywhere it must not. */
	if (!frees && fvm_index_free_later(pool, old))
		return 0;
	/*
	 * Slices were freed: wait until every bio mapped through the old
	 * index has completed, before fvm_lock (which every allocation
	 * takes) is dropped.  Expedited: metadata operations are rare, and
	 * the caller waits.
	 */
	synchronize_srcu_expedited(&pool->io_srcu);
	fvm_index_free(old);
	return 0;
}

/* ---- Operations -------------------------------------------------------- */

static const char *fvm_op_why(const struct fvm_op *op, int err)
{
	switch (op->kind) {
	case FVM_OP_ALLOCATE:
		if (err == -ERANGE)
			return "slice count must be at least 1";
		if (err == -EINVAL)
			return "name longer than 24 bytes or containing NUL";
		return "no free partition entry or not enough free slices";
	case FVM_OP_EXTEND:
		if (err == -ERANGE)
			return "range must start at vslice 1 or above and end by 2^31";
		if (err == -EINVAL)
			return "a vslice in the range is already mapped";
		return "not enough free slices, or the partition's limit would be exceeded";
	case FVM_OP_SHRINK:
		if (err == -ERANGE)
			return "vslice 0 is never freed; range must be 1..2^31";
		return "no vslice in the range is mapped";
	case FVM_OP_ACTIVATE:
		return "no inactive partition has the new instance GUID";
	case FVM_OP_RENAME:
		return "name longer than 24 bytes or containing NUL";
	default:
		break;
	}
	return "operation failed";
}

static int fvm_op_apply(struct fvm_meta *m, struct fvm_op *op)
{
	switch (op->kind) {
	case FVM_OP_ALLOCATE:
		return fvm_alloc_partition(m, op->length, op->type, op->guid,
					   op->name, op->name_len, op->flags,
					   &op->index);
	case FVM_OP_EXTEND:
		return fvm_extend(m, op->vpart, op->offset, op->length);
	case FVM_OP_SHRINK:
		return fvm_shrink(m, op->vpart, op->offset, op->length);
	case FVM_OP_DESTROY:
		return fvm_destroy(m, op->vpart);
	case FVM_OP_ACTIVATE:
		return fvm_activate(m, op->guid, op->new_guid);
	case FVM_OP_RENAME:
		return fvm_set_name(m, op->vpart, op->name, op->name_len);
	case FVM_OP_SET_TYPE:
		return fvm_set_type(m, op->vpart, op->type);
	default:
		return -EOPNOTSUPP;
	}
}

int fvm_pool_op(struct fvm_pool *pool, struct fvm_op *op, const char **why)
{
	struct fvm_meta *m;
	bool remap, frees;
	int ret;

	lockdep_assert_held(&fvm_lock);
	if (op->kind != FVM_OP_ALLOCATE && op->kind != FVM_OP_ACTIVATE &&
	    (op->vpart < 1 || op->vpart >= FVM_MAX_VPARTITIONS ||
	     !fvm_vpart_allocated(&pool->meta->part[op->vpart]))) {
		*why = "no such partition";
		return -ENOENT;
	}
	if (op->kind == FVM_OP_SET_LIMIT) {
		/* Like Fuchsia, the limit lives in memory only. */
		return fvm_set_limit(pool->meta, op->vpart, op->bytes);
	}
	if (op->kind == FVM_OP_ALLOCATE && fvm_guid_is_zero(op->guid))
		fvm_guid_generate(op->guid);
	if (op->kind == FVM_OP_ALLOCATE &&
	    fvm_find_guid(pool->meta, op->guid) >= 0) {
		*why = "a partition with this instance GUID exists";
		return -EEXIST;
	}

	ret = fvm_meta_dup(pool->meta, &m);
	if (ret) {
		*why = "out of memory";
		return ret;
	}
	ret = fvm_op_apply(m, op);
	if (ret) {
		*why = fvm_op_why(op, ret);
		goto err_free;
	}
	frees = op->kind == FVM_OP_SHRINK || op->kind == FVM_OP_DESTROY;
	remap = frees || op->kind == FVM_OP_ALLOCATE ||
		op->kind == FVM_OP_EXTEND;
	ret = fvm_pool_install(pool, m, remap, frees,
			       op->kind == FVM_OP_DESTROY ? op->vpart : 0, why);
	if (ret)
		goto err_free;
	return 0;

err_free:
	fvm_meta_free(m);
	return ret;
}

/* ---- Pool object ------------------------------------------------------- */

static struct fvm_pool *fvm_pool_lookup_dev(dev_t dev)
{
	struct fvm_pool *pool;

	list_for_each_entry(pool, &fvm_pools, node)
		if (pool->dev == dev)
			return pool;
	return NULL;
}

static struct fvm_pool *fvm_pool_lookup_md(struct mapped_device *md)
{
	struct fvm_pool *pool;

	list_for_each_entry(pool, &fvm_pools, node)
		if (pool->md == md)
			return pool;
	return NULL;
}

static void fvm_pool_free(struct fvm_pool *pool)
{
	/* No target is left, so no bio holds io_srcu; old indexes go. */
	srcu_barrier(&pool->io_srcu);
	cleanup_srcu_struct(&pool->io_srcu);
	fvm_index_free(rcu_dereference_protected(pool->index, true));
	fvm_meta_free(pool->meta);
	vfree(pool->buf);
	if (pool->io)
		dm_io_client_destroy(pool->io);
	kfree(pool);
}

static void fvm_pool_put(struct fvm_pool *pool)
{
	lockdep_assert_held(&fvm_lock);
	if (--pool->users)
		return;
	list_del(&pool->node);
	fvm_pool_free(pool);
}

/* Reads both metadata copies and parses them; logs a damaged copy. */
static int fvm_pool_read(struct fvm_pool *pool, u64 dev_size, char **error)
{
	u32 bsize = bdev_logical_block_size(pool->bdev);
	struct fvm_parse_report rep;
	void *a = NULL, *b = NULL;
	const char *why = NULL;
	int ret, i;

	if (dev_size < 2 * FVM_BLOCK_SIZE) {
		*error = "Device too small to hold FVM metadata";
		return -EINVAL;
	}
	a = vzalloc(FVM_BLOCK_SIZE);
	if (!a)
		goto err_nomem;
	ret = fvm_pool_io(pool, REQ_OP_READ, 0, a, FVM_BLOCK_SIZE);
	if (ret) {
		*error = "Cannot read the FVM header";
		goto err;
	}
	ret = fvm_locate_copies(a, FVM_BLOCK_SIZE, &pool->copy_len, &why);
	if (!ret && 2 * pool->copy_len > dev_size) {
		why = "metadata does not fit the device";
		ret = -EUCLEAN;
	}
	if (ret) {
		DMERR("not an FVM device (or header damaged): %s", why);
		*error = "Not an FVM device: no usable FVM header";
		goto err;
	}
	vfree(a);
	a = vzalloc(pool->copy_len);
	b = vzalloc(pool->copy_len);
	pool->buf = vzalloc(pool->copy_len);
	if (!a || !b || !pool->buf)
		goto err_nomem;
	/* A copy that cannot be read is judged like a damaged one. */
	if (fvm_pool_io(pool, REQ_OP_READ, 0, a, pool->copy_len)) {
		vfree(a);
		a = NULL;
	}
	if (fvm_pool_io(pool, REQ_OP_READ, pool->copy_len, b, pool->copy_len)) {
		vfree(b);
		b = NULL;
	}
	ret = fvm_meta_parse(a, b, pool->copy_len, dev_size, bsize,
			     &pool->meta, &rep, &why);
	if (ret) {
		DMERR("no valid FVM metadata copy: A: %s; B: %s",
		      rep.copy[0].why ? rep.copy[0].why : "ok",
		      rep.copy[1].why ? rep.copy[1].why : "ok");
		*error = "No valid FVM metadata copy";
		goto err;
	}
	for (i = 0; i < 2; i++)
		if (rep.copy[i].err)
			DMWARN("metadata copy %c is invalid (%s); using copy %c",
			       'A' + i, rep.copy[i].why, 'A' + rep.active);
	ret = 0;
	goto out;

err_nomem:
	*error = "Out of memory reading FVM metadata";
	ret = -ENOMEM;
err:
	vfree(pool->buf);
	pool->buf = NULL;
out:
	vfree(b);
	vfree(a);
	return ret;
}

static struct fvm_pool *fvm_pool_create(struct dm_target *ti,
					struct block_device *bdev)
{
	u64 dev_size = (u64)ti->len << SECTOR_SHIFT;
	struct fvm_index *ix;
	struct fvm_pool *pool;
	unsigned int changed;
	const char *why = NULL;
	int ret;

	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool) {
		ti->error = "Out of memory";
		return ERR_PTR(-ENOMEM);
	}
	pool->md = dm_table_get_md(ti->table);
	pool->bdev = bdev;
	pool->dev = bdev->bd_dev;
	INIT_LIST_HEAD(&pool->volumes);
	ret = init_srcu_struct(&pool->io_srcu);
	if (ret) {
		ti->error = "Out of memory";
		goto err_free;
	}
	pool->io = dm_io_client_create();
	if (IS_ERR(pool->io)) {
		ret = PTR_ERR(pool->io);
		pool->io = NULL;
		ti->error = "Cannot create a dm-io client";
		goto err_free;
	}
	ret = fvm_pool_read(pool, dev_size, &ti->error);
	if (ret)
		goto err_free;

	ret = fvm_meta_load(pool->meta, dev_size, &changed, &why);
	if (ret) {
		DMERR("refusing to load the FVM: %s", why);
		ti->error = "FVM slice map is inconsistent";
		goto err_free;
	}
	if (changed) {
		ret = fvm_pool_commit(pool, pool->meta, &why);
		if (ret) {
			DMERR("committing the load rules: %s", why);
			ti->error = "Cannot write FVM metadata";
			goto err_free;
		}
	}
	ret = fvm_index_build(pool->meta, &ix, &why);
	if (ret) {
		DMERR("cannot index the slice map: %s", why);
		ti->error = "Cannot index the FVM slice map";
		goto err_free;
	}
	RCU_INIT_POINTER(pool->index, ix);
	pool->slice_sectors = pool->meta->hdr.slice_size >> SECTOR_SHIFT;
	pool->data_start = fvm_data_start(&pool->meta->hdr) >> SECTOR_SHIFT;
	list_add_tail(&pool->node, &fvm_pools);
	return pool;

err_free:
	fvm_pool_free(pool);
	return ERR_PTR(ret);
}

/* ---- fvm-pool target ------------------------------------------------------ */

static int fvm_pool_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	struct fvm_pool_target *pt;
	struct fvm_pool *pool;
	int ret;

	if (argc != 1) {
		ti->error = "Invalid argument count: want fvm-pool <dev>";
		return -EINVAL;
	}
	pt = kzalloc(sizeof(*pt), GFP_KERNEL);
	if (!pt) {
		ti->error = "Out of memory";
		return -ENOMEM;
	}
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table),
			    &pt->dev);
	if (ret) {
		ti->error = "Cannot open the FVM device";
		goto err_free;
	}

	if (bdev_is_zoned(pt->dev->bdev)) {
		ti->error = "Zoned devices are not supported";
		ret = -EINVAL;
		goto err_put_dev;
	}

	mutex_lock(&fvm_lock);
	pool = fvm_pool_lookup_dev(pt->dev->bdev->bd_dev);
	if (pool && pool->md != md) {
		DMERR("%s is already owned by pool %s", argv[0],
		      dm_device_name(pool->md));
		ti->error = "Device is already owned by another fvm-pool";
		ret = -EBUSY;
		goto err_unlock;
	}
	if (!pool && fvm_pool_lookup_md(md)) {
		ti->error = "A table reload cannot change the pool's device";
		ret = -EINVAL;
		goto err_unlock;
	}
	if (pool) {
		/* A reload: the same pool, perhaps on a larger device. */
		if (((u64)ti->len << SECTOR_SHIFT) <
		    pool->meta->hdr.fvm_partition_size) {
			ti->error = "Table is smaller than the FVM's slices";
			ret = -EINVAL;
			goto err_unlock;
		}
	} else {
		pool = fvm_pool_create(ti, pt->dev->bdev);
		if (IS_ERR(pool)) {
			ret = PTR_ERR(pool);
			goto err_unlock;
		}
	}
	pool->users++;
	mutex_unlock(&fvm_lock);

	pt->pool = pool;
	ti->private = pt;
	/* Reads pass through; flushes reach the device; no discards. */
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 0;
	ti->num_write_zeroes_bios = 0;
	ti->num_secure_erase_bios = 0;
	return 0;

err_unlock:
	mutex_unlock(&fvm_lock);
err_put_dev:
	dm_put_device(ti, pt->dev);
err_free:
	kfree(pt);
	return ret;
}

static void fvm_pool_dtr(struct dm_target *ti)
{
	struct fvm_pool_target *pt = ti->private;

	mutex_lock(&fvm_lock);
	fvm_pool_put(pt->pool);
	mutex_unlock(&fvm_lock);
	dm_put_device(ti, pt->dev);
	kfree(pt);
}

static int fvm_pool_map(struct dm_target *ti, struct bio *bio)
{
	struct fvm_pool_target *pt = ti->private;

	/* Metadata changes only through messages: writes are refused. */
	if (op_is_write(bio_op(bio)) && bio_sectors(bio))
		return DM_MAPIO_KILL;
	bio_set_dev(bio, pt->dev->bdev);
	return DM_MAPIO_REMAPPED;
}

/* Growth: a reload with a larger device grows pslice_count. */
static int fvm_pool_preresume(struct dm_target *ti)
{
	struct fvm_pool_target *pt = ti->private;
	struct fvm_pool *pool = pt->pool;
	const char *why = NULL;
	struct fvm_meta *m;
	bool grew;
	int ret;

	mutex_lock(&fvm_lock);
	ret = fvm_meta_dup(pool->meta, &m);
	if (ret)
		goto out;
	ret = fvm_meta_grow(m, (u64)ti->len << SECTOR_SHIFT, &grew);
	if (ret || !grew) {
		fvm_meta_free(m);
		goto out;
	}
	ret = fvm_pool_install(pool, m, false, false, 0, &why);
	if (ret) {
		DMERR("%s: growing the pool: %s", dm_device_name(pool->md),
		      why);
		fvm_meta_free(m);
		goto out;
	}
	DMINFO("%s: grew to %llu slices", dm_device_name(pool->md),
	       pool->meta->hdr.pslice_count);
out:
	mutex_unlock(&fvm_lock);
	return ret;
}

static void fvm_pool_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct fvm_pool_target *pt = ti->private;
	const struct fvm_meta *m;
	unsigned int sz = 0, parts = 0, i;

	switch (type) {
	case STATUSTYPE_INFO:
		mutex_lock(&fvm_lock);
		m = pt->pool->meta;
		for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
			if (fvm_vpart_allocated(&m->part[i]))
				parts++;
		DMEMIT("%llu %llu %llu %llu %u %llu %c",
		       m->hdr.slice_size, m->hdr.pslice_count, m->allocated,
		       fvm_alloc_table_capacity(&m->hdr), parts,
		       m->hdr.generation, m->active == FVM_COPY_A ? 'A' : 'B');
		mutex_unlock(&fvm_lock);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s", pt->dev->name);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",dev=%s;", pt->dev->name);
		break;
	}
}

static int fvm_parse_u64(const char *s, u64 *v, const char **why,
			 const char *what)
{
	if (kstrtou64(s, 0, v)) {
		*why = what;
		return -EINVAL;
	}
	return 0;
}

static int fvm_parse_name(const char *s, struct fvm_op *op, const char **why)
{
	size_t len = strlen(s);

	if (len > FVM_NAME_LEN) {
		*why = "name longer than 24 bytes";
		return -EINVAL;
	}
	memcpy(op->name, s, len);
	op->name_len = len;
	return 0;
}

/* allocate <name> <slices> [type=<guid>] [guid=<guid>] [inactive] */
static int fvm_msg_allocate(unsigned int argc, char **argv, struct fvm_op *op,
			    const char **why)
{
	unsigned int i;
	int ret;

	if (argc < 3) {
		*why = "usage: allocate <name> <slices> [type=GUID] [guid=GUID] [inactive]";
		return -EINVAL;
	}
	ret = fvm_parse_name(argv[1], op, why);
	if (ret)
		return ret;
	ret = fvm_parse_u64(argv[2], &op->length, why,
			    "slice count is not a number");
	if (ret)
		return ret;
	fvm_guid_parse(fvm_default_type, op->type);
	for (i = 3; i < argc; i++) {
		if (!strncmp(argv[i], "type=", 5)) {
			ret = fvm_guid_parse(argv[i] + 5, op->type);
		} else if (!strncmp(argv[i], "guid=", 5)) {
			ret = fvm_guid_parse(argv[i] + 5, op->guid);
			if (!ret && fvm_guid_is_zero(op->guid))
				ret = -EINVAL;
		} else if (!strcmp(argv[i], "inactive")) {
			op->flags |= FVM_VPART_FLAG_INACTIVE;
		} else {
			*why = "unknown allocate option (type=, guid=, inactive)";
			return -EINVAL;
		}
		if (ret) {
			*why = "malformed or all-zero GUID";
			return ret;
		}
	}
	return 0;
}

/* Parses "<verb> <part> ..." for the per-partition verbs. */
static int fvm_msg_parse(struct fvm_pool *pool, unsigned int argc,
			 char **argv, struct fvm_op *op, const char **why)
{
	const char *verb = argv[0];
	int ret;

	if (!strcasecmp(verb, "allocate")) {
		op->kind = FVM_OP_ALLOCATE;
		return fvm_msg_allocate(argc, argv, op, why);
	}
	if (!strcasecmp(verb, "activate")) {
		op->kind = FVM_OP_ACTIVATE;
		if (argc != 3) {
			*why = "usage: activate <old-guid> <new-guid>";
			return -EINVAL;
		}
		if (fvm_guid_parse(argv[1], op->guid) ||
		    fvm_guid_parse(argv[2], op->new_guid)) {
			*why = "malformed GUID";
			return -EINVAL;
		}
		return 0;
	}

	if (!strcasecmp(verb, "extend") || !strcasecmp(verb, "shrink")) {
		op->kind = !strcasecmp(verb, "extend") ? FVM_OP_EXTEND :
							 FVM_OP_SHRINK;
		if (argc != 4) {
			*why = "usage: extend|shrink <partition> <vslice> <count>";
			return -EINVAL;
		}
	} else if (!strcasecmp(verb, "destroy")) {
		op->kind = FVM_OP_DESTROY;
		if (argc != 2) {
			*why = "usage: destroy <partition>";
			return -EINVAL;
		}
	} else if (!strcasecmp(verb, "rename")) {
		op->kind = FVM_OP_RENAME;
		if (argc != 3) {
			*why = "usage: rename <partition> <new-name>";
			return -EINVAL;
		}
	} else if (!strcasecmp(verb, "set-limit")) {
		op->kind = FVM_OP_SET_LIMIT;
		if (argc != 3) {
			*why = "usage: set-limit <partition> <bytes>";
			return -EINVAL;
		}
	} else if (!strcasecmp(verb, "set-type")) {
		op->kind = FVM_OP_SET_TYPE;
		if (argc != 3) {
			*why = "usage: set-type <partition> <type-guid>";
			return -EINVAL;
		}
	} else {
		*why = "unknown verb (see dm-fvm.rst)";
		return -EINVAL;
	}

	ret = fvm_pool_find_part(pool, argv[1], why);
	if (ret < 0)
		return ret;
	op->vpart = ret;

	switch (op->kind) {
	case FVM_OP_EXTEND:
	case FVM_OP_SHRINK:
		ret = fvm_parse_u64(argv[2], &op->offset, why,
				    "vslice is not a number");
		if (!ret)
			ret = fvm_parse_u64(argv[3], &op->length, why,
					    "count is not a number");
		return ret;
	case FVM_OP_RENAME:
		return fvm_parse_name(argv[2], op, why);
	case FVM_OP_SET_LIMIT:
		return fvm_parse_u64(argv[2], &op->bytes, why,
				     "limit is not a number of bytes");
	case FVM_OP_SET_TYPE:
		if (fvm_guid_parse(argv[2], op->type)) {
			*why = "malformed GUID";
			return -EINVAL;
		}
		return 0;
	default:
		return 0;
	}
}

/*
 * block-info <part>: Block.GetInfo, printed as
 * "<block_count> <block_size> <max_transfer> <flags>" (flags in hex).
 */
static int fvm_msg_block_info(struct fvm_pool *pool, unsigned int argc,
			      char **argv, char *result, unsigned int maxlen)
{
	struct fvm_block_info bi;
	const char *why = NULL;
	unsigned int sz = 0;
	int ret;

	mutex_lock(&fvm_lock);
	if (argc != 2) {
		why = "usage: block-info <partition>";
		ret = -EINVAL;
	} else {
		ret = fvm_pool_find_part(pool, argv[1], &why);
	}
	if (ret >= 0)
		fvm_pool_block_info(pool, ret, &bi);
	mutex_unlock(&fvm_lock);
	if (ret < 0) {
		DMERR("%s: block-info: %s", dm_device_name(pool->md), why);
		return ret;
	}
	DMEMIT("%llu %u %u 0x%x", bi.block_count, bi.block_size,
	       bi.max_transfer, bi.flags);
	return 1;
}

static int fvm_pool_message(struct dm_target *ti, unsigned int argc,
			    char **argv, char *result, unsigned int maxlen)
{
	struct fvm_pool_target *pt = ti->private;
	char guid[FVM_GUID_STR_LEN + 1];
	struct fvm_op *op;
	const char *why = NULL;
	unsigned int sz = 0;
	int ret;

	if (!argc)
		return -EINVAL;
	if (!strcasecmp(argv[0], "block-info"))
		return fvm_msg_block_info(pt->pool, argc, argv, result, maxlen);
	op = kzalloc(sizeof(*op), GFP_KERNEL);
	if (!op)
		return -ENOMEM;
	mutex_lock(&fvm_lock);
	ret = fvm_msg_parse(pt->pool, argc, argv, op, &why);
	if (!ret)
		ret = fvm_pool_op(pt->pool, op, &why);
	mutex_unlock(&fvm_lock);
	if (ret) {
		DMERR("%s: %s: %s", dm_device_name(pt->pool->md), argv[0],
		      why ? why : "failed");
	} else if (op->kind == FVM_OP_ALLOCATE) {
		fvm_guid_to_str(op->guid, guid);
		DMEMIT("%u %s", op->index, guid);
		ret = 1;
	}
	kfree(op);
	return ret;
}

static int fvm_pool_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct fvm_pool_target *pt = ti->private;

	return fn(ti, pt->dev, 0, ti->len, data);
}

static struct target_type fvm_pool_target = {
	.name = "fvm-pool",
	.version = {1, 0, 0},
	.features = DM_TARGET_NOWAIT,	/* map() is a pass-through */
	.module = THIS_MODULE,
	.ctr = fvm_pool_ctr,
	.dtr = fvm_pool_dtr,
	.map = fvm_pool_map,
	.preresume = fvm_pool_preresume,
	.status = fvm_pool_status,
	.message = fvm_pool_message,
	.iterate_devices = fvm_pool_iterate_devices,
};

/* ---- fvm target ------------------------------------------------------------ */

static int fvm_vol_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	blk_mode_t mode = dm_table_get_mode(ti->table);
	struct mapped_device *pool_md;
	struct fvm_volume *v;
	struct fvm_pool *pool;
	const char *why = NULL;
	char devname[32];
	int ret;

	if (argc != 2) {
		ti->error = "Invalid argument count: want fvm <pool_dev> <partition>";
		return -EINVAL;
	}
	v = kzalloc(sizeof(*v), GFP_KERNEL);
	if (!v) {
		ti->error = "Out of memory";
		return -ENOMEM;
	}
	ret = dm_get_device(ti, argv[0], mode, &v->pool_dev);
	if (ret) {
		ti->error = "Cannot open the pool device";
		goto err_free;
	}
	pool_md = dm_get_md(v->pool_dev->bdev->bd_dev);
	if (!pool_md) {
		ti->error = "Pool device is not a device-mapper device";
		ret = -EINVAL;
		goto err_put_pool_dev;
	}

	mutex_lock(&fvm_lock);
	pool = fvm_pool_lookup_md(pool_md);
	dm_put(pool_md);
	if (!pool) {
		ti->error = "Pool device is not an fvm-pool";
		ret = -EINVAL;
		goto err_unlock;
	}
	if (pool->md == dm_table_get_md(ti->table)) {
		ti->error = "A volume cannot map its own pool";
		ret = -EINVAL;
		goto err_unlock;
	}
	ret = fvm_pool_find_part(pool, argv[1], &why);
	if (ret < 0) {
		DMERR("partition %s: %s", argv[1], why);
		ti->error = ret == -ENOENT ?
			"No partition has this instance GUID or name" :
			"Partition name is ambiguous or malformed";
		goto err_unlock;
	}
	v->vpart = ret;
	memcpy(v->guid, pool->meta->part[v->vpart].guid, FVM_GUID_LEN);
	if (ti->len > (sector_t)FVM_MAX_VSLICES * pool->slice_sectors) {
		ti->error = "Volume longer than 2^31 slices";
		ret = -EINVAL;
		goto err_unlock;
	}
	if (pool->mapped[v->vpart] == U16_MAX) {
		ti->error = "Partition is mapped too many times";
		ret = -EBUSY;
		goto err_unlock;
	}
	snprintf(devname, sizeof(devname), "%u:%u", MAJOR(pool->dev),
		 MINOR(pool->dev));
	ret = dm_get_device(ti, devname, mode, &v->data_dev);
	if (ret) {
		ti->error = "Cannot open the pool's FVM device";
		goto err_unlock;
	}
	if (pool->slice_sectors > UINT_MAX) {
		ti->error = "Slice size over 2 TiB is not supported";
		ret = -EINVAL;
		goto err_put_data_dev;
	}
	pool->users++;
	pool->mapped[v->vpart]++;
	list_add_tail(&v->node, &pool->volumes);
	v->pool = pool;
	mutex_unlock(&fvm_lock);

	ti->private = v;
	ti->per_io_data_size = sizeof(int);
	/* Empty flushes go to the device; FUA rides on the remapped bio. */
	ti->num_flush_bios = 1;
	/*
	 * No max_io_len: map() sees a whole bio, fails it as a whole if any
	 * of it is unmapped, and splits it itself only where the slices
	 * stop being contiguous on the device.  Discards are split at
	 * slice boundaries by dm core (max_discard_granularity, io_hints).
	 */
	ti->num_discard_bios = 1;
	ti->max_discard_granularity = true;
	/*
	 * Write-zeroes is remapped like a write: dm core hands map() the
	 * whole range, which takes the part that is contiguous on the device
	 * and gives the rest back (dm_accept_partial_bio).  dm core
	 * advertises it only if the FVM device supports it.
	 */
	ti->num_write_zeroes_bios = 1;
	/*
	 * No secure erase: it would promise that the volume's data is gone
	 * from the medium, but slices freed by Shrink or Destroy go back to
	 * the pool unerased, so older copies of the volume's data can
	 * survive in slices it no longer owns.  Fuchsia's block protocol has
	 * no such operation either.
	 */
	ti->num_secure_erase_bios = 0;
	return 0;

err_put_data_dev:
	dm_put_device(ti, v->data_dev);
err_unlock:
	mutex_unlock(&fvm_lock);
err_put_pool_dev:
	dm_put_device(ti, v->pool_dev);
err_free:
	kfree(v);
	return ret;
}

static void fvm_vol_dtr(struct dm_target *ti)
{
	struct fvm_volume *v = ti->private;

	mutex_lock(&fvm_lock);
	list_del(&v->node);
	if (!v->dead)
		v->pool->mapped[v->vpart]--;
	fvm_pool_put(v->pool);
	mutex_unlock(&fvm_lock);
	dm_put_device(ti, v->data_dev);
	dm_put_device(ti, v->pool_dev);
	kfree(v);
}

/*
 * The bio must land on mapped vslices only, so that a failing bio has
 * touched nothing.  Returns how many of its sectors stay physically
 * contiguous from its start (all of them in the common case), or 0 when
 * any vslice it touches is unmapped.
 */
static u32 fvm_vol_check(struct fvm_volume *v, const struct fvm_index *ix,
			 u64 vslice, u32 in_slice, u32 sectors, u64 *pslice)
{
	u32 slice = v->pool->slice_sectors;
	u64 last, vs, p, run, contig;

	if (fvm_index_lookup(ix, v->vpart, vslice, pslice, &run))
		return 0;
	contig = run * slice - in_slice;
	if (contig >= sectors)
		return sectors;
	last = vslice + div_u64((u64)in_slice + sectors - 1, slice);
	for (vs = vslice + run; vs <= last; vs += run)
		if (fvm_index_lookup(ix, v->vpart, vs, &p, &run))
			return 0;
	return contig;
}

/*
 * A bio's hold on io_srcu lasts from map() to end_io, which runs in
 * another context; sparse cannot follow that, so these two hide it.
 */
static int fvm_io_start(struct fvm_pool *pool)
{
	int idx = srcu_down_read(&pool->io_srcu);

	__release(&pool->io_srcu);
	return idx;
}

static void fvm_io_done(struct fvm_pool *pool, int idx)
{
	__acquire(&pool->io_srcu);
	srcu_up_read(&pool->io_srcu, idx);
}

static int fvm_vol_map(struct dm_target *ti, struct bio *bio)
{
	struct fvm_volume *v = ti->private;
	struct fvm_pool *pool = v->pool;
	int *srcu_idx = dm_per_bio_data(bio, sizeof(int));
	u32 slice = pool->slice_sectors, in_slice, ok;
	const struct fvm_index *ix;
	u64 vslice, pslice;
	sector_t off;

	bio_set_dev(bio, v->data_dev->bdev);
	/* Released in fvm_vol_end_io(), or below when the bio is killed. */
	*srcu_idx = fvm_io_start(pool);
	if (!bio_sectors(bio))
		return DM_MAPIO_REMAPPED;	/* an empty flush */

	off = dm_target_offset(ti, bio->bi_iter.bi_sector);
	vslice = div_u64_rem(off, slice, &in_slice);
	if (unlikely(READ_ONCE(v->dead)))
		goto kill;
	ix = srcu_dereference(pool->index, &pool->io_srcu);
	ok = fvm_vol_check(v, ix, vslice, in_slice, bio_sectors(bio), &pslice);
	if (ok < bio_sectors(bio)) {
		/*
		 * Mapped but not contiguous on the device: this part now,
		 * the rest comes back as a new bio.  Discards were split at
		 * slice boundaries already (max_discard_granularity), so
		 * only reads, writes and write-zeroes get here.
		 */
		if (!ok || (bio_op(bio) != REQ_OP_READ &&
			    bio_op(bio) != REQ_OP_WRITE &&
			    bio_op(bio) != REQ_OP_WRITE_ZEROES))
			goto kill;
		dm_accept_partial_bio(bio, ok);
	}
	bio->bi_iter.bi_sector = pool->data_start +
		(pslice - 1) * slice + in_slice;
	return DM_MAPIO_REMAPPED;

kill:
	fvm_io_done(pool, *srcu_idx);
	DMERR_LIMIT("%s: I/O to %s (from vslice %llu)",
		    dm_table_device_name(ti->table),
		    READ_ONCE(v->dead) ? "a destroyed partition" :
					 "unmapped vslice", vslice);
	return DM_MAPIO_KILL;
}

static int fvm_vol_end_io(struct dm_target *ti, struct bio *bio,
			  blk_status_t *error)
{
	struct fvm_volume *v = ti->private;
	int *srcu_idx = dm_per_bio_data(bio, sizeof(int));

	fvm_io_done(v->pool, *srcu_idx);
	return DM_ENDIO_DONE;
}

static void fvm_vol_status(struct dm_target *ti, status_type_t type,
			   unsigned int status_flags, char *result,
			   unsigned int maxlen)
{
	struct fvm_volume *v = ti->private;
	char guid[FVM_GUID_STR_LEN + 1];
	const struct fvm_meta *m;
	unsigned int sz = 0;

	fvm_guid_to_str(v->guid, guid);
	switch (type) {
	case STATUSTYPE_INFO:
		mutex_lock(&fvm_lock);
		m = v->pool->meta;
		if (!v->dead && fvm_vpart_allocated(&m->part[v->vpart]))
			DMEMIT("%u %u %llu %u", v->vpart,
			       m->part[v->vpart].slices, m->limit[v->vpart],
			       m->part[v->vpart].flags);
		else
			DMEMIT("%u - - -", v->vpart);
		mutex_unlock(&fvm_lock);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s", v->pool_dev->name, guid);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",pool=%s,guid=%s;", v->pool_dev->name, guid);
		break;
	}
}

static int fvm_vol_iterate_devices(struct dm_target *ti,
				   iterate_devices_callout_fn fn, void *data)
{
	struct fvm_volume *v = ti->private;

	/* The slices can be anywhere on the device. */
	return fn(ti, v->data_dev, 0, bdev_nr_sectors(v->data_dev->bdev),
		  data);
}

static void fvm_vol_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct fvm_volume *v = ti->private;
	unsigned int slice = v->pool->slice_sectors;

	/* One discard never spans two slices (max_discard_granularity). */
	if (limits->max_hw_discard_sectors > slice)
		limits->max_hw_discard_sectors = slice;
}

/*
 * NOWAIT: map() never sleeps (an SRCU read side, a binary search, no
 * allocation), so REQ_NOWAIT bios are fine, and io_uring submits inline
 * instead of punting each I/O to a worker thread.
 */
static struct target_type fvm_vol_target = {
	.name = "fvm",
	.version = {1, 0, 0},
	.features = DM_TARGET_NOWAIT,
	.module = THIS_MODULE,
	.ctr = fvm_vol_ctr,
	.dtr = fvm_vol_dtr,
	.map = fvm_vol_map,
	.end_io = fvm_vol_end_io,
	.status = fvm_vol_status,
	.iterate_devices = fvm_vol_iterate_devices,
	.io_hints = fvm_vol_io_hints,
};

int virtz_fvm_dm_init(void)
{
	int ret;

	ret = dm_register_target(&fvm_pool_target);
	if (ret)
		return ret;
	ret = dm_register_target(&fvm_vol_target);
	if (ret)
		goto err_pool;
	virtz_fvm.features |= VIRTZ_FVM_F_DM_TARGETS;
	return 0;

err_pool:
	dm_unregister_target(&fvm_pool_target);
	return ret;
}

void virtz_fvm_dm_exit(void)
{
	dm_unregister_target(&fvm_vol_target);
	dm_unregister_target(&fvm_pool_target);
}
