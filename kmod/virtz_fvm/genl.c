// SPDX-License-Identifier: GPL-2.0
/*
 * The "virtz_fvm" generic netlink family: the module-wide commands every
 * virtz family shares, then Fuchsia's VolumeManager and Volume operations
 * on the pools of dm.c.  Every operation runs through fvm_pool_op(), the
 * same code as the "dmsetup message" verbs, under fvm_lock.
 *
 * Fuchsia statuses map to errnos: OUT_OF_RANGE -ERANGE, NO_SPACE -ENOSPC,
 * NOT_FOUND -ENOENT, INVALID_ARGS -EINVAL, NOT_SUPPORTED -EOPNOTSUPP; each
 * error carries an extack message.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/virtz_fvm.h>
#include <net/genetlink.h>

#include "dm_fvm.h"
#include "virtz_compat.h"
#include "virtz_fvm.h"

static int virtz_fvm_get_info(struct sk_buff *skb, struct genl_info *info)
{
	return virtz_genl_get_info(&virtz_fvm, info);
}

static int virtz_fvm_set_log_level(struct sk_buff *skb, struct genl_info *info)
{
	return virtz_genl_set_log_level(&virtz_fvm, info);
}

VIRTZ_DEFINE_COMMON_POLICY(virtz_fvm_log_policy);

/* Device-mapper names are at most 127 bytes. */
#define FVM_GENL_POOL_NAME_MAX	127

static const struct nla_policy virtz_fvm_policy[VIRTZ_FVM_A_MAX + 1] = {
	[VIRTZ_FVM_A_POOL] = { .type = NLA_NUL_STRING,
			       .len = FVM_GENL_POOL_NAME_MAX },
	[VIRTZ_FVM_A_PART] = { .type = NLA_NUL_STRING,
			       .len = FVM_GUID_STR_LEN },
	[VIRTZ_FVM_A_INDEX] = NLA_POLICY_RANGE(NLA_U32, 1,
					       FVM_MAX_VPARTITIONS - 1),
	[VIRTZ_FVM_A_NAME] = { .type = NLA_NUL_STRING, .len = FVM_NAME_LEN },
	[VIRTZ_FVM_A_TYPE_GUID] = NLA_POLICY_EXACT_LEN(FVM_GUID_LEN),
	[VIRTZ_FVM_A_INSTANCE_GUID] = NLA_POLICY_EXACT_LEN(FVM_GUID_LEN),
	[VIRTZ_FVM_A_NEW_GUID] = NLA_POLICY_EXACT_LEN(FVM_GUID_LEN),
	[VIRTZ_FVM_A_FLAGS] = NLA_POLICY_MASK(NLA_U32,
					      VIRTZ_FVM_PART_F_INACTIVE),
	[VIRTZ_FVM_A_SLICES] = { .type = NLA_U64 },
	[VIRTZ_FVM_A_OFFSET] = { .type = NLA_U64 },
	[VIRTZ_FVM_A_LIMIT] = { .type = NLA_U64 },
	[VIRTZ_FVM_A_START_SLICE] = { .type = NLA_U64 },
};

/* The pool named by A_POOL; fvm_lock held. */
static struct fvm_pool *fvm_genl_pool(struct genl_info *info)
{
	struct fvm_pool *pool;

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_POOL))
		return NULL;
	pool = fvm_pool_find_name(nla_data(info->attrs[VIRTZ_FVM_A_POOL]));
	if (!pool)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[VIRTZ_FVM_A_POOL],
				    "no fvm-pool device has this name");
	return pool;
}

/* The partition named by A_PART or A_INDEX; fvm_lock held. */
static int fvm_genl_part(struct fvm_pool *pool, struct genl_info *info)
{
	struct nlattr *part = info->attrs[VIRTZ_FVM_A_PART];
	struct nlattr *index = info->attrs[VIRTZ_FVM_A_INDEX];
	const struct fvm_meta *m = fvm_pool_meta(pool);
	const char *why = NULL;
	int ret;
	u32 i;

	if (part) {
		ret = fvm_pool_find_part(pool, nla_data(part), &why);
		if (ret < 0) {
			virtz_extack_msg(info->extack, why);
			NL_SET_BAD_ATTR(info->extack, part);
		}
		return ret;
	}
	if (!index) {
		NL_SET_ERR_MSG(info->extack,
			       "name the partition: part (name or instance GUID) or index");
		return -EINVAL;
	}
	i = nla_get_u32(index);
	if (!fvm_vpart_allocated(&m->part[i])) {
		NL_SET_ERR_MSG_ATTR(info->extack, index,
				    "no partition at this index");
		return -ENOENT;
	}
	return i;
}

static int fvm_put_pool_info(struct sk_buff *msg, struct fvm_pool *pool)
{
	const struct fvm_meta *m = fvm_pool_meta(pool);
	u32 parts = 0, i;

	for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
		if (fvm_vpart_allocated(&m->part[i]))
			parts++;
	if (nla_put_string(msg, VIRTZ_FVM_A_POOL, fvm_pool_name(pool)) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_SLICE_SIZE, m->hdr.slice_size,
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_SLICE_COUNT,
			      m->hdr.pslice_count, VIRTZ_FVM_A_PAD) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_ASSIGNED_SLICES, m->allocated,
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_MAX_SLICES,
			      fvm_alloc_table_capacity(&m->hdr),
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_MAX_VSLICE, FVM_MAX_VSLICES,
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_GENERATION, m->hdr.generation,
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u32(msg, VIRTZ_FVM_A_PARTITIONS, parts))
		return -EMSGSIZE;
	return 0;
}

static int fvm_put_part_info(struct sk_buff *msg, struct fvm_pool *pool,
			     u32 i)
{
	const struct fvm_meta *m = fvm_pool_meta(pool);
	const struct fvm_vpart *e = &m->part[i];
	char name[FVM_NAME_LEN + 1] = { 0 };
	struct fvm_block_info bi;

	memcpy(name, e->name, fvm_name_len(e));
	fvm_pool_block_info(pool, i, &bi);
	if (fvm_put_pool_info(msg, pool) ||
	    nla_put_u32(msg, VIRTZ_FVM_A_INDEX, i) ||
	    nla_put_string(msg, VIRTZ_FVM_A_NAME, name) ||
	    nla_put(msg, VIRTZ_FVM_A_TYPE_GUID, FVM_GUID_LEN, e->type) ||
	    nla_put(msg, VIRTZ_FVM_A_INSTANCE_GUID, FVM_GUID_LEN, e->guid) ||
	    nla_put_u32(msg, VIRTZ_FVM_A_FLAGS, e->flags) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_SLICES, e->slices,
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_LIMIT, m->limit[i],
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u32(msg, VIRTZ_FVM_A_MAPPED, fvm_pool_mapped(pool, i)) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_A_BLOCK_COUNT, bi.block_count,
			      VIRTZ_FVM_A_PAD) ||
	    nla_put_u32(msg, VIRTZ_FVM_A_BLOCK_SIZE, bi.block_size) ||
	    nla_put_u32(msg, VIRTZ_FVM_A_MAX_TRANSFER, bi.max_transfer) ||
	    nla_put_u32(msg, VIRTZ_FVM_A_BLOCK_FLAGS, bi.flags))
		return -EMSGSIZE;
	return 0;
}

/* A reply carrying one pool (part == 0) or one partition. */
static int fvm_genl_reply(struct genl_info *info, struct fvm_pool *pool,
			  u32 part)
{
	struct sk_buff *msg;
	void *hdr;
	int ret;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &virtz_fvm_family, 0,
				info->genlhdr->cmd);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_free;
	}
	ret = part ? fvm_put_part_info(msg, pool, part) :
		     fvm_put_pool_info(msg, pool);
	if (ret)
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return ret;
}

static int virtz_fvm_pool_get(struct sk_buff *skb, struct genl_info *info)
{
	struct fvm_pool *pool;
	int ret;

	mutex_lock(&fvm_lock);
	pool = fvm_genl_pool(info);
	ret = pool ? fvm_genl_reply(info, pool, 0) : -ENOENT;
	mutex_unlock(&fvm_lock);
	return ret;
}

static int virtz_fvm_part_get(struct sk_buff *skb, struct genl_info *info)
{
	struct fvm_pool *pool;
	int ret = -ENOENT;

	mutex_lock(&fvm_lock);
	pool = fvm_genl_pool(info);
	if (pool) {
		ret = fvm_genl_part(pool, info);
		if (ret > 0)
			ret = fvm_genl_reply(info, pool, ret);
	}
	mutex_unlock(&fvm_lock);
	return ret;
}

/*
 * Dumps: cb->args[0] counts pools already done, cb->args[1] the next
 * partition index within the current one.  A_POOL narrows to one pool.
 */
static int fvm_genl_dump(struct sk_buff *skb, struct netlink_callback *cb,
			 bool parts)
{
	const struct nlattr *only;
	struct fvm_pool *pool = NULL;
	long p = 0;
	void *hdr;
	u32 i;
	int ret = 0;

	only = nlmsg_find_attr(cb->nlh, GENL_HDRLEN, VIRTZ_FVM_A_POOL);
	mutex_lock(&fvm_lock);
	while ((pool = fvm_pool_next(pool))) {
		if (only && strcmp(nla_data(only), fvm_pool_name(pool)))
			continue;
		if (p++ < cb->args[0])
			continue;
		for (i = parts ? max_t(long, cb->args[1], 1) : 0;
		     i < (parts ? FVM_MAX_VPARTITIONS : 1); i++) {
			if (parts &&
			    !fvm_vpart_allocated(&fvm_pool_meta(pool)->part[i]))
				continue;
			hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
					  cb->nlh->nlmsg_seq, &virtz_fvm_family,
					  NLM_F_MULTI, parts ?
					  VIRTZ_FVM_CMD_PART_GET :
					  VIRTZ_FVM_CMD_POOL_GET);
			if (!hdr)
				goto full;
			ret = parts ? fvm_put_part_info(skb, pool, i) :
				      fvm_put_pool_info(skb, pool);
			if (ret) {
				genlmsg_cancel(skb, hdr);
				goto full;
			}
			genlmsg_end(skb, hdr);
			cb->args[1] = i + 1;
		}
		cb->args[0] = p;
		cb->args[1] = 0;
	}
	mutex_unlock(&fvm_lock);
	return skb->len;

full:
	mutex_unlock(&fvm_lock);
	/* Nothing fitted into an empty message: give up rather than loop. */
	return skb->len ? skb->len : -EMSGSIZE;
}

static int virtz_fvm_pool_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	return fvm_genl_dump(skb, cb, false);
}

static int virtz_fvm_part_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	return fvm_genl_dump(skb, cb, true);
}

/* Runs op on the request's pool; extack carries the reason on failure. */
static int fvm_genl_run(struct genl_info *info, struct fvm_op *op,
			bool needs_part)
{
	struct fvm_pool *pool;
	const char *why = NULL;
	int ret;

	mutex_lock(&fvm_lock);
	pool = fvm_genl_pool(info);
	if (!pool) {
		ret = -ENOENT;
		goto out;
	}
	if (needs_part) {
		ret = fvm_genl_part(pool, info);
		if (ret < 0)
			goto out;
		op->vpart = ret;
	}
	ret = fvm_pool_op(pool, op, &why);
	if (ret) {
		virtz_extack_msg(info->extack, why ? why : "operation failed");
		goto out;
	}
	if (op->kind == FVM_OP_ALLOCATE)
		ret = fvm_genl_reply(info, pool, op->index);
out:
	mutex_unlock(&fvm_lock);
	return ret;
}

static void fvm_genl_name(struct genl_info *info, struct fvm_op *op)
{
	struct nlattr *a = info->attrs[VIRTZ_FVM_A_NAME];

	/* The policy bounds it to FVM_NAME_LEN. */
	op->name_len = strnlen(nla_data(a), FVM_NAME_LEN);
	memcpy(op->name, nla_data(a), op->name_len);
}

static int virtz_fvm_allocate(struct sk_buff *skb, struct genl_info *info)
{
	struct fvm_op op = { .kind = FVM_OP_ALLOCATE };

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_NAME) ||
	    GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_SLICES) ||
	    GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_TYPE_GUID))
		return -EINVAL;
	fvm_genl_name(info, &op);
	op.length = nla_get_u64(info->attrs[VIRTZ_FVM_A_SLICES]);
	nla_memcpy(op.type, info->attrs[VIRTZ_FVM_A_TYPE_GUID], FVM_GUID_LEN);
	if (info->attrs[VIRTZ_FVM_A_INSTANCE_GUID])
		nla_memcpy(op.guid, info->attrs[VIRTZ_FVM_A_INSTANCE_GUID],
			   FVM_GUID_LEN);
	if (info->attrs[VIRTZ_FVM_A_FLAGS])
		op.flags = nla_get_u32(info->attrs[VIRTZ_FVM_A_FLAGS]);
	return fvm_genl_run(info, &op, false);
}

static int fvm_genl_resize(struct genl_info *info, enum fvm_op_kind kind)
{
	struct fvm_op op = { .kind = kind };

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_OFFSET) ||
	    GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_SLICES))
		return -EINVAL;
	op.offset = nla_get_u64(info->attrs[VIRTZ_FVM_A_OFFSET]);
	op.length = nla_get_u64(info->attrs[VIRTZ_FVM_A_SLICES]);
	return fvm_genl_run(info, &op, true);
}

static int virtz_fvm_extend(struct sk_buff *skb, struct genl_info *info)
{
	return fvm_genl_resize(info, FVM_OP_EXTEND);
}

static int virtz_fvm_shrink(struct sk_buff *skb, struct genl_info *info)
{
	return fvm_genl_resize(info, FVM_OP_SHRINK);
}

static int virtz_fvm_destroy(struct sk_buff *skb, struct genl_info *info)
{
	struct fvm_op op = { .kind = FVM_OP_DESTROY };

	return fvm_genl_run(info, &op, true);
}

static int virtz_fvm_activate(struct sk_buff *skb, struct genl_info *info)
{
	struct fvm_op op = { .kind = FVM_OP_ACTIVATE };

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_INSTANCE_GUID) ||
	    GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_NEW_GUID))
		return -EINVAL;
	nla_memcpy(op.guid, info->attrs[VIRTZ_FVM_A_INSTANCE_GUID],
		   FVM_GUID_LEN);
	nla_memcpy(op.new_guid, info->attrs[VIRTZ_FVM_A_NEW_GUID],
		   FVM_GUID_LEN);
	return fvm_genl_run(info, &op, false);
}

static int virtz_fvm_set_name(struct sk_buff *skb, struct genl_info *info)
{
	struct fvm_op op = { .kind = FVM_OP_RENAME };

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_NAME))
		return -EINVAL;
	fvm_genl_name(info, &op);
	return fvm_genl_run(info, &op, true);
}

static int virtz_fvm_set_limit(struct sk_buff *skb, struct genl_info *info)
{
	struct fvm_op op = { .kind = FVM_OP_SET_LIMIT };

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_FVM_A_LIMIT))
		return -EINVAL;
	op.bytes = nla_get_u64(info->attrs[VIRTZ_FVM_A_LIMIT]);
	return fvm_genl_run(info, &op, true);
}

static int fvm_put_range(struct sk_buff *msg, bool allocated, u64 count)
{
	struct nlattr *nest = nla_nest_start(msg, VIRTZ_FVM_A_RANGE);

	if (!nest ||
	    nla_put_u8(msg, VIRTZ_FVM_RANGE_A_ALLOCATED, allocated) ||
	    nla_put_u64_64bit(msg, VIRTZ_FVM_RANGE_A_COUNT, count,
			      VIRTZ_FVM_RANGE_A_PAD))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int virtz_fvm_query_slices(struct sk_buff *skb, struct genl_info *info)
{
	int rem, ret, n = 0;
	struct fvm_pool *pool;
	struct sk_buff *msg;
	struct nlattr *a;
	bool allocated;
	void *hdr;
	u64 count;
	u32 vpart;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &virtz_fvm_family, 0,
				info->genlhdr->cmd);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_free;
	}
	mutex_lock(&fvm_lock);
	pool = fvm_genl_pool(info);
	if (!pool) {
		ret = -ENOENT;
		goto err_unlock;
	}
	ret = fvm_genl_part(pool, info);
	if (ret < 0)
		goto err_unlock;
	vpart = ret;
	nlmsg_for_each_attr(a, info->nlhdr, GENL_HDRLEN, rem) {
		if (nla_type(a) != VIRTZ_FVM_A_START_SLICE)
			continue;
		if (++n > VIRTZ_FVM_MAX_QUERY) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "at most 16 start slices per query");
			ret = -EINVAL;
			goto err_unlock;
		}
		ret = fvm_pool_query(pool, vpart, nla_get_u64(a), &allocated,
				     &count);
		if (ret) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "start slice beyond the vslice space (2^31)");
			goto err_unlock;
		}
		ret = fvm_put_range(msg, allocated, count);
		if (ret)
			goto err_unlock;
	}
	mutex_unlock(&fvm_lock);
	if (!n) {
		NL_SET_ERR_MSG(info->extack, "give 1 to 16 start slices");
		ret = -EINVAL;
		goto err_free;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_unlock:
	mutex_unlock(&fvm_lock);
err_free:
	nlmsg_free(msg);
	return ret;
}

#define FVM_OP(c, fn, admin)						\
	{								\
		.cmd = VIRTZ_FVM_CMD_##c,				\
		.doit = fn,						\
		.policy = virtz_fvm_policy,				\
		.maxattr = VIRTZ_FVM_A_MAX,				\
		.flags = (admin) ? GENL_ADMIN_PERM : 0,			\
	}

/*
 * GET_INFO takes no attributes (with no policy the core rejects any it is
 * sent); every command that changes state needs CAP_NET_ADMIN.
 */
static const struct genl_ops virtz_fvm_ops[] = {
	{
		.cmd = VIRTZ_COMMON_CMD_GET_INFO,
		.doit = virtz_fvm_get_info,
	},
	{
		.cmd = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,
		.doit = virtz_fvm_set_log_level,
		.policy = virtz_fvm_log_policy,
		.maxattr = ARRAY_SIZE(virtz_fvm_log_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VIRTZ_FVM_CMD_POOL_GET,
		.doit = virtz_fvm_pool_get,
		.dumpit = virtz_fvm_pool_dump,
		.policy = virtz_fvm_policy,
		.maxattr = VIRTZ_FVM_A_MAX,
	},
	{
		.cmd = VIRTZ_FVM_CMD_PART_GET,
		.doit = virtz_fvm_part_get,
		.dumpit = virtz_fvm_part_dump,
		.policy = virtz_fvm_policy,
		.maxattr = VIRTZ_FVM_A_MAX,
	},
	FVM_OP(ALLOCATE, virtz_fvm_allocate, true),
	FVM_OP(EXTEND, virtz_fvm_extend, true),
	FVM_OP(SHRINK, virtz_fvm_shrink, true),
	FVM_OP(DESTROY, virtz_fvm_destroy, true),
	FVM_OP(ACTIVATE, virtz_fvm_activate, true),
	FVM_OP(SET_NAME, virtz_fvm_set_name, true),
	FVM_OP(SET_LIMIT, virtz_fvm_set_limit, true),
	FVM_OP(QUERY_SLICES, virtz_fvm_query_slices, false),
};

struct genl_family virtz_fvm_family __ro_after_init = {
	.name = VIRTZ_FVM_GENL_NAME,
	.version = VIRTZ_FVM_GENL_VERSION,
	.maxattr = VIRTZ_FVM_A_MAX,
	.module = THIS_MODULE,
	.ops = virtz_fvm_ops,
	.n_ops = ARRAY_SIZE(virtz_fvm_ops),
	.netnsok = true,
};
