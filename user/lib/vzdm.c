// SPDX-License-Identifier: GPL-2.0
/* dm-fvm client helpers: see vzdm.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdevmapper.h>
#include <linux/virtz_fvm.h>
#include <netlink/attr.h>

#include "../../kmod/virtz_fvm/fvm_format.h"
#include "vzdm.h"

int vzdm_open(struct vz_genl *g)
{
	return vz_genl_open(g, VIRTZ_FVM_GENL_NAME, VIRTZ_FVM_A_MAX);
}

static uint64_t get_u64(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u64(tb[a]) : 0;
}

static uint32_t get_u32(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u32(tb[a]) : 0;
}

static void parse_pool(struct nlattr **tb, struct vzdm_pool *p)
{
	memset(p, 0, sizeof(*p));
	if (tb[VIRTZ_FVM_A_POOL])
		snprintf(p->name, sizeof(p->name), "%s",
			 nla_get_string(tb[VIRTZ_FVM_A_POOL]));
	p->slice_size = get_u64(tb, VIRTZ_FVM_A_SLICE_SIZE);
	p->slice_count = get_u64(tb, VIRTZ_FVM_A_SLICE_COUNT);
	p->assigned = get_u64(tb, VIRTZ_FVM_A_ASSIGNED_SLICES);
	p->max_slices = get_u64(tb, VIRTZ_FVM_A_MAX_SLICES);
	p->max_vslice = get_u64(tb, VIRTZ_FVM_A_MAX_VSLICE);
	p->generation = get_u64(tb, VIRTZ_FVM_A_GENERATION);
	p->partitions = get_u32(tb, VIRTZ_FVM_A_PARTITIONS);
}

static void parse_part(struct nlattr **tb, struct vzdm_part *p)
{
	parse_pool(tb, &p->pool);
	p->index = get_u32(tb, VIRTZ_FVM_A_INDEX);
	memset(p->name, 0, sizeof(p->name));
	if (tb[VIRTZ_FVM_A_NAME])
		snprintf(p->name, sizeof(p->name), "%s",
			 nla_get_string(tb[VIRTZ_FVM_A_NAME]));
	memset(p->type, 0, sizeof(p->type));
	memset(p->guid, 0, sizeof(p->guid));
	if (tb[VIRTZ_FVM_A_TYPE_GUID] && nla_len(tb[VIRTZ_FVM_A_TYPE_GUID]) == 16)
		memcpy(p->type, nla_data(tb[VIRTZ_FVM_A_TYPE_GUID]), 16);
	if (tb[VIRTZ_FVM_A_INSTANCE_GUID] &&
	    nla_len(tb[VIRTZ_FVM_A_INSTANCE_GUID]) == 16)
		memcpy(p->guid, nla_data(tb[VIRTZ_FVM_A_INSTANCE_GUID]), 16);
	p->flags = get_u32(tb, VIRTZ_FVM_A_FLAGS);
	p->slices = get_u64(tb, VIRTZ_FVM_A_SLICES);
	p->limit = get_u64(tb, VIRTZ_FVM_A_LIMIT);
	p->mapped = get_u32(tb, VIRTZ_FVM_A_MAPPED);
	p->block_count = get_u64(tb, VIRTZ_FVM_A_BLOCK_COUNT);
	p->block_size = get_u32(tb, VIRTZ_FVM_A_BLOCK_SIZE);
	p->max_transfer = get_u32(tb, VIRTZ_FVM_A_MAX_TRANSFER);
	p->block_flags = get_u32(tb, VIRTZ_FVM_A_BLOCK_FLAGS);
}

int vzdm_put_target(struct nl_msg *msg, const char *pool, const char *part)
{
	if (pool && nla_put_string(msg, VIRTZ_FVM_A_POOL, pool))
		return -ENOMEM;
	if (part && nla_put_string(msg, VIRTZ_FVM_A_PART, part))
		return -ENOMEM;
	return 0;
}

static int send_req(struct vz_genl *g, uint8_t cmd, bool dump,
		    const char *pool, const char *part, vz_genl_reply_fn fn,
		    void *arg)
{
	struct nl_msg *msg = vz_genl_msg(g, cmd, 0);

	if (!msg || vzdm_put_target(msg, pool, part)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return dump ? vz_genl_dump(g, msg, fn, arg) :
		      vz_genl_do(g, msg, fn, arg);
}

static int pool_cb(struct nlattr **tb, void *arg)
{
	parse_pool(tb, arg);
	return 0;
}

int vzdm_pool_get(struct vz_genl *g, const char *pool, struct vzdm_pool *p)
{
	return send_req(g, VIRTZ_FVM_CMD_POOL_GET, false, pool, NULL, pool_cb,
			p);
}

struct list_ctx {
	int (*pool_fn)(const struct vzdm_pool *p, void *arg);
	int (*part_fn)(const struct vzdm_part *p, void *arg);
	void *arg;
};

static int pool_list_cb(struct nlattr **tb, void *arg)
{
	struct list_ctx *c = arg;
	struct vzdm_pool p;

	parse_pool(tb, &p);
	return c->pool_fn(&p, c->arg);
}

int vzdm_pool_list(struct vz_genl *g,
		   int (*fn)(const struct vzdm_pool *p, void *arg), void *arg)
{
	struct list_ctx c = { .pool_fn = fn, .arg = arg };

	return send_req(g, VIRTZ_FVM_CMD_POOL_GET, true, NULL, NULL,
			pool_list_cb, &c);
}

static int part_cb(struct nlattr **tb, void *arg)
{
	parse_part(tb, arg);
	return 0;
}

int vzdm_part_get(struct vz_genl *g, const char *pool, const char *part,
		  struct vzdm_part *p)
{
	return send_req(g, VIRTZ_FVM_CMD_PART_GET, false, pool, part, part_cb,
			p);
}

static int part_list_cb(struct nlattr **tb, void *arg)
{
	struct list_ctx *c = arg;
	struct vzdm_part p;

	parse_part(tb, &p);
	return c->part_fn(&p, c->arg);
}

int vzdm_part_list(struct vz_genl *g, const char *pool,
		   int (*fn)(const struct vzdm_part *p, void *arg), void *arg)
{
	struct list_ctx c = { .part_fn = fn, .arg = arg };

	return send_req(g, VIRTZ_FVM_CMD_PART_GET, true, pool, NULL,
			part_list_cb, &c);
}

struct range {
	bool found;
	bool allocated;
	uint64_t count;
};

static int range_cb(struct nlattr **tb, void *arg)
{
	struct nlattr *rt[VIRTZ_FVM_RANGE_A_MAX + 1];
	struct range *r = arg;

	if (!tb[VIRTZ_FVM_A_RANGE] ||
	    nla_parse_nested(rt, VIRTZ_FVM_RANGE_A_MAX, tb[VIRTZ_FVM_A_RANGE],
			     NULL) ||
	    !rt[VIRTZ_FVM_RANGE_A_ALLOCATED] || !rt[VIRTZ_FVM_RANGE_A_COUNT])
		return -EBADMSG;
	r->found = true;
	r->allocated = nla_get_u8(rt[VIRTZ_FVM_RANGE_A_ALLOCATED]);
	r->count = nla_get_u64(rt[VIRTZ_FVM_RANGE_A_COUNT]);
	return 0;
}

int vzdm_query(struct vz_genl *g, const char *pool, const char *part,
	       uint64_t start, bool *allocated, uint64_t *count)
{
	struct nl_msg *msg = vz_genl_msg(g, VIRTZ_FVM_CMD_QUERY_SLICES, 0);
	struct range r = { 0 };
	int err;

	if (!msg || vzdm_put_target(msg, pool, part) ||
	    nla_put_u64(msg, VIRTZ_FVM_A_START_SLICE, start)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	err = vz_genl_do(g, msg, range_cb, &r);
	if (err)
		return err;
	if (!r.found)
		return -EBADMSG;
	*allocated = r.allocated;
	*count = r.count;
	return 0;
}

int vzdm_part_end(struct vz_genl *g, const char *pool, const char *part,
		  uint64_t *end)
{
	uint64_t pos = 0, count;
	bool allocated;
	int err;

	*end = 0;
	for (;;) {
		err = vzdm_query(g, pool, part, pos, &allocated, &count);
		if (err)
			return err;
		if (!count)
			return -EBADMSG;
		pos += count;
		if (allocated)
			*end = pos;
		else if (pos >= (1ULL << 31))
			return 0;
	}
}

struct vec {
	void *v;
	size_t n;
	size_t size;
};

static int vec_push(struct vec *c, const void *item)
{
	void *nv = realloc(c->v, (c->n + 1) * c->size);

	if (!nv)
		return -ENOMEM;
	memcpy((char *)nv + c->n * c->size, item, c->size);
	c->v = nv;
	c->n++;
	return 0;
}

static int push_pool(const struct vzdm_pool *p, void *arg)
{
	return vec_push(arg, p);
}

static int push_part(const struct vzdm_part *p, void *arg)
{
	return vec_push(arg, p);
}

int vzdm_pool_collect(struct vz_genl *g, struct vzdm_pool **v, size_t *n)
{
	struct vec c = { .size = sizeof(**v) };
	int err = vzdm_pool_list(g, push_pool, &c);

	*v = c.v;
	*n = c.n;
	return err;
}

int vzdm_part_collect(struct vz_genl *g, const char *pool,
		      struct vzdm_part **v, size_t *n)
{
	struct vec c = { .size = sizeof(**v) };
	int err = vzdm_part_list(g, pool, push_part, &c);

	*v = c.v;
	*n = c.n;
	return err;
}

int vzdm_report(const char *obj, const char *what, const struct vz_genl *g,
		int err)
{
	if (g->no_family)
		fprintf(stderr, "virtzctl: %s: %s: virtz_fvm is not loaded (modprobe virtz_fvm)\n",
			obj, what);
	else if (g->extack[0])
		fprintf(stderr, "virtzctl: %s: %s: %s (%s)\n", obj, what,
			g->extack, strerror(-err));
	else
		fprintf(stderr, "virtzctl: %s: %s: %s\n", obj, what,
			strerror(-err));
	return 1;
}

void vzdm_volume_devname(const char *pool, const struct vzdm_part *p,
			 char *buf, size_t len)
{
	char guid[FVM_GUID_STR_LEN + 1];

	if (p->name[0]) {
		snprintf(buf, len, "%s-%s", pool, p->name);
		return;
	}
	fvm_guid_to_str(p->guid, guid);
	snprintf(buf, len, "%s-%s", pool, guid);
}

int vzdm_volume_map(struct vz_genl *g, const char *pool,
		    const struct vzdm_part *p, bool reload, const char *obj)
{
	char dev[300], params[400], guid[FVM_GUID_STR_LEN + 1];
	uint64_t end, sectors;
	int err;

	fvm_guid_to_str(p->guid, guid);
	err = vzdm_part_end(g, pool, guid, &end);
	if (err)
		return vzdm_report(obj, "query slices", g, err);
	vzdm_volume_devname(pool, p, dev, sizeof(dev));
	if (!end) {
		fprintf(stderr, "virtzctl: %s: %s: no mapped slices\n", obj, dev);
		return 1;
	}
	sectors = end * (p->pool.slice_size / 512);
	snprintf(params, sizeof(params), "/dev/mapper/%s %s", pool, guid);
	err = reload ? vzdm_dm_reload(dev, sectors, "fvm", params) :
		       vzdm_dm_create(dev, sectors, "fvm", params);
	if (err) {
		fprintf(stderr, "virtzctl: %s: %s /dev/mapper/%s: %s\n", obj,
			reload ? "reload" : "create", dev, strerror(-err));
		return 1;
	}
	return 0;
}

void vzdm_json_part(struct jw *w, const struct vzdm_part *p)
{
	char t[FVM_GUID_STR_LEN + 1], gd[FVM_GUID_STR_LEN + 1];

	fvm_guid_to_str(p->type, t);
	fvm_guid_to_str(p->guid, gd);
	jw_obj_open(w, NULL);
	jw_str(w, "pool", p->pool.name);
	jw_u64(w, "index", p->index);
	jw_str(w, "name", p->name);
	jw_str(w, "type", t);
	jw_str(w, "guid", gd);
	jw_u64(w, "flags", p->flags);
	jw_bool(w, "active", !(p->flags & VIRTZ_FVM_PART_F_INACTIVE));
	jw_u64(w, "partition_slice_count", p->slices);
	jw_u64(w, "slice_limit", p->limit);
	jw_u64(w, "slice_size", p->pool.slice_size);
	jw_u64(w, "mapped", p->mapped);
	jw_obj_close(w);
}

void vzdm_print_part(const struct vzdm_part *p, const char *indent)
{
	char gd[FVM_GUID_STR_LEN + 1];

	fvm_guid_to_str(p->guid, gd);
	printf("%s%u: %-24s %s %" PRIu64 " slices%s%s", indent, p->index,
	       p->name, gd, p->slices,
	       p->flags & VIRTZ_FVM_PART_F_INACTIVE ? " inactive" : "",
	       p->mapped ? " mapped" : "");
	if (p->limit)
		printf(" limit %" PRIu64, p->limit);
	printf("\n");
}

/* ---- libdevmapper ----------------------------------------------------------- */

static int dm_run(int type, const char *name, const char *newname,
		  uint64_t sectors, const char *target, const char *params)
{
	uint32_t cookie = 0;
	struct dm_task *dmt;
	bool udev = type == DM_DEVICE_CREATE || type == DM_DEVICE_RESUME ||
		    type == DM_DEVICE_REMOVE || type == DM_DEVICE_RENAME;
	int err = -EIO;

	dmt = dm_task_create(type);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name))
		goto out;
	if (newname && !dm_task_set_newname(dmt, newname))
		goto out;
	if (target && !dm_task_add_target(dmt, 0, sectors, target, params))
		goto out;
	if (udev && !dm_task_set_cookie(dmt, &cookie, 0))
		goto out;
	if (dm_task_run(dmt))
		err = 0;
	else
		err = dm_task_get_errno(dmt) ? -dm_task_get_errno(dmt) : -EIO;
	if (udev)
		dm_udev_wait(cookie);
out:
	dm_task_destroy(dmt);
	return err;
}

int vzdm_dm_create(const char *name, uint64_t sectors, const char *target,
		   const char *params)
{
	return dm_run(DM_DEVICE_CREATE, name, NULL, sectors, target, params);
}

int vzdm_dm_reload(const char *name, uint64_t sectors, const char *target,
		   const char *params)
{
	int err = dm_run(DM_DEVICE_RELOAD, name, NULL, sectors, target,
			 params);

	if (err)
		return err;
	return dm_run(DM_DEVICE_RESUME, name, NULL, 0, NULL, NULL);
}

int vzdm_dm_remove(const char *name)
{
	return dm_run(DM_DEVICE_REMOVE, name, NULL, 0, NULL, NULL);
}

int vzdm_dm_rename(const char *name, const char *newname)
{
	return dm_run(DM_DEVICE_RENAME, name, newname, 0, NULL, NULL);
}

static int dm_info(const char *name, struct dm_info *info)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
	int err = -EIO;

	if (!dmt)
		return -ENOMEM;
	if (dm_task_set_name(dmt, name) && dm_task_run(dmt) &&
	    dm_task_get_info(dmt, info))
		err = info->exists ? 0 : -ENOENT;
	dm_task_destroy(dmt);
	return err;
}

bool vzdm_dm_exists(const char *name)
{
	struct dm_info info;

	return dm_info(name, &info) == 0;
}

int vzdm_dm_open_count(const char *name)
{
	struct dm_info info;
	int err = dm_info(name, &info);

	return err ? err : info.open_count;
}
