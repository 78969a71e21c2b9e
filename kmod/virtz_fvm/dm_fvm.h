/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-fvm internals shared by the targets (dm.c) and the netlink commands
 * (genl.c): one entry point for every volume-manager operation, so that
 * "dmsetup message" and genetlink run exactly the same code.
 */
#ifndef _VIRTZ_DM_FVM_H
#define _VIRTZ_DM_FVM_H

#include <linux/mutex.h>
#include <linux/types.h>

#include "fvm_format.h"

struct fvm_pool;

/*
 * Serialises every metadata operation of every pool, the pool list and
 * the target constructors and destructors that change it.
 */
extern struct mutex fvm_lock;

enum fvm_op_kind {
	FVM_OP_ALLOCATE,	/* name, slices, type, guid, flags -> index */
	FVM_OP_EXTEND,		/* vpart, offset, length */
	FVM_OP_SHRINK,		/* vpart, offset, length */
	FVM_OP_DESTROY,		/* vpart */
	FVM_OP_ACTIVATE,	/* guid (old), new_guid */
	FVM_OP_RENAME,		/* vpart, name */
	FVM_OP_SET_LIMIT,	/* vpart, bytes */
	FVM_OP_SET_TYPE,	/* vpart, type */
};

struct fvm_op {
	enum fvm_op_kind kind;
	u32 vpart;
	u64 offset;
	u64 length;		/* slices; also the slice count to allocate */
	u64 bytes;
	u32 flags;
	u8 type[FVM_GUID_LEN];
	u8 guid[FVM_GUID_LEN];
	u8 new_guid[FVM_GUID_LEN];
	char name[FVM_NAME_LEN];
	size_t name_len;
	u32 index;		/* out: FVM_OP_ALLOCATE's new partition */
};

/* Caller holds fvm_lock.  Returns 0 or -errno with *why set. */
int fvm_pool_op(struct fvm_pool *pool, struct fvm_op *op, const char **why);

/* The pool whose dm device has this name, or NULL.  Under fvm_lock. */
struct fvm_pool *fvm_pool_find_name(const char *name);

/*
 * Partition named by instance GUID (text form) or by name: its index, or
 * -ENOENT / -EINVAL with *why set.  Under fvm_lock.
 */
int fvm_pool_find_part(struct fvm_pool *pool, const char *s, const char **why);

/*
 * QuerySlices for one start vslice: whether it is mapped and how many
 * vslices from it on are alike.  -ERANGE beyond the vslice space.
 */
int fvm_pool_query(struct fvm_pool *pool, u32 vpart, u64 start,
		   bool *allocated, u64 *count);

/* Read-only access to the committed metadata, under fvm_lock. */
const struct fvm_meta *fvm_pool_meta(struct fvm_pool *pool);
const char *fvm_pool_name(struct fvm_pool *pool);
/* fvm targets (mapped devices) currently using partition vpart. */
unsigned int fvm_pool_mapped(struct fvm_pool *pool, u32 vpart);

/*
 * Fuchsia's Block.GetInfo (BlockInfo) of one partition, as Fuchsia's
 * VPartition answers it: block_count counts the blocks of the slices the
 * partition owns (not the span of its vslices); block size, maximum
 * transfer and flags are the pool device's.
 */
struct fvm_block_info {
	u64 block_count;
	u32 block_size;		/* logical block size of the pool device */
	u32 max_transfer;	/* bytes, or VIRTZ_BLOCK_MAX_TRANSFER_UNBOUNDED */
	u32 flags;		/* VIRTZ_BLOCK_DEV_* (Fuchsia's DeviceFlag) */
};

/* Under fvm_lock; vpart must be allocated. */
void fvm_pool_block_info(struct fvm_pool *pool, u32 vpart,
			 struct fvm_block_info *bi);

/* Walks the pools in creation order; under fvm_lock. */
struct fvm_pool *fvm_pool_next(struct fvm_pool *pool);

#endif
