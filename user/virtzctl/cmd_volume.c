// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl volume: the partitions of an fvm-pool (Fuchsia's
 * VolumeManager and Volume operations) over the virtz_fvm netlink
 * family, with their /dev/mapper/POOL-NAME devices kept in step through
 * libdevmapper: create maps the new volume, extend and shrink reload its
 * table to the new size (as lvextend does), rename renames the device,
 * remove unmaps it before destroying the partition.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtz_block.h>
#include <linux/virtz_fvm.h>

#include "../../kmod/virtz_fvm/fvm_format.h"
#include "vzdm.h"
#include "virtzctl.h"

#define OBJ "volume"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzctl [-j] volume VERB POOL ...\n"
		"  create    POOL NAME (--slices N | --size S) [--type GUID] [--guid GUID]\n"
		"            [--inactive] [--no-device]   AllocatePartition + /dev/mapper/POOL-NAME\n"
		"  extend    POOL VOL (--slices N | --size S) [--offset VSLICE]\n"
		"            default offset: after the last mapped vslice; reloads the device\n"
		"  shrink    POOL VOL (--slices N | --size S) [--offset VSLICE]\n"
		"            default: the last N slices; vslice 0 is never freed\n"
		"  remove    POOL VOL            unmap the device, then Destroy\n"
		"  rename    POOL VOL NEWNAME    SetPartitionName, and the device's name\n"
		"  set-limit POOL VOL BYTES      SetPartitionLimit (0 = none; memory only)\n"
		"  activate  POOL OLD-GUID NEW-GUID\n"
		"  map       POOL VOL            create /dev/mapper/POOL-NAME for a volume\n"
		"  info      POOL VOL            GetVolumeInfo, Block.GetInfo, names, GUIDs,\n"
		"                                slice runs\n"
		"  list      [POOL]\n"
		"VOL is a volume name or instance GUID.  Sizes take K, M, G, T.\n"
		"Errors: ERANGE out of range, ENOSPC no space, ENOENT not found,\n"
		"EINVAL invalid arguments, EOPNOTSUPP not supported (see dm-fvm.rst).\n");
}

static int parse_u64(const char *s, uint64_t *v, bool size)
{
	char *end;
	unsigned long long x;
	int shift = 0;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	if (size && *end) {
		switch (*end) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		default: return -EINVAL;
		}
		end++;
	}
	if (*end || (shift && x > (UINT64_MAX >> shift)))
		return -EINVAL;
	*v = (uint64_t)x << shift;
	return 0;
}

struct opts {
	const char *pos[4];
	int npos;
	uint64_t slices, size, offset;
	bool has_slices, has_size, has_offset, inactive, no_device;
	const char *type, *guid;
};

static int parse_opts(int argc, char **argv, struct opts *o, int maxpos)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (ctl_is_help(a)) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(a, "--inactive")) {
			o->inactive = true;
		} else if (!strcmp(a, "--no-device")) {
			o->no_device = true;
		} else if (!strcmp(a, "--slices") || !strcmp(a, "--size") ||
			   !strcmp(a, "--offset")) {
			uint64_t x;

			if (!v || parse_u64(v, &x, !strcmp(a, "--size")))
				return ctl_usage_err(OBJ, "%s needs a number", a);
			if (!strcmp(a, "--slices")) {
				o->slices = x;
				o->has_slices = true;
			} else if (!strcmp(a, "--size")) {
				o->size = x;
				o->has_size = true;
			} else {
				o->offset = x;
				o->has_offset = true;
			}
			i++;
		} else if (!strcmp(a, "--type") || !strcmp(a, "--guid")) {
			if (!v)
				return ctl_usage_err(OBJ, "%s needs a GUID", a);
			if (!strcmp(a, "--type"))
				o->type = v;
			else
				o->guid = v;
			i++;
		} else if (a[0] == '-' && a[1] == '-') {
			return ctl_usage_err(OBJ, "unknown option '%s'", a);
		} else if (o->npos < maxpos) {
			o->pos[o->npos++] = a;
		} else {
			return ctl_usage_err(OBJ, "unexpected argument '%s'", a);
		}
	}
	return 0;
}

/* Slices from --slices or --size (rounded up to whole slices). */
static int want_slices(const struct opts *o, uint64_t slice_size,
		       uint64_t *n)
{
	if (o->has_slices == o->has_size)
		return ctl_usage_err(OBJ, "give one of --slices and --size");
	*n = o->has_slices ? o->slices :
			     (o->size + slice_size - 1) / slice_size;
	return 0;
}

static int run_op(struct vz_genl *g, struct nl_msg *msg, const char *what)
{
	int err;

	if (!msg)
		return ctl_err(OBJ, "out of memory");
	err = vz_genl_do(g, msg, NULL, NULL);
	if (err)
		return vzdm_report(OBJ, what, g, err);
	return CTL_OK;
}

static struct nl_msg *op_msg(struct vz_genl *g, uint8_t cmd, const char *pool,
			     const char *part)
{
	struct nl_msg *msg = vz_genl_msg(g, cmd, 0);

	if (msg && vzdm_put_target(msg, pool, part)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int alloc_cb(struct nlattr **tb, void *arg)
{
	struct vzdm_part *p = arg;

	if (!tb[VIRTZ_FVM_A_INDEX] || !tb[VIRTZ_FVM_A_INSTANCE_GUID])
		return -EBADMSG;
	p->index = nla_get_u32(tb[VIRTZ_FVM_A_INDEX]);
	memcpy(p->guid, nla_data(tb[VIRTZ_FVM_A_INSTANCE_GUID]), 16);
	return 0;
}

static void print_one(struct ctl *ctl, const struct vzdm_part *p)
{
	struct jw w;

	if (ctl->json) {
		jw_init(&w, stdout);
		vzdm_json_part(&w, p);
		jw_end(&w);
	} else {
		vzdm_print_part(p, "");
	}
}

static int do_create(struct ctl *ctl, struct vz_genl *g, int argc,
		     char **argv)
{
	uint8_t type[16], guid[16] = { 0 };
	char gs[FVM_GUID_STR_LEN + 1];
	struct vzdm_pool pool;
	struct vzdm_part p;
	struct nl_msg *msg;
	struct opts o;
	uint64_t n = 0;
	int err;

	err = parse_opts(argc, argv, &o, 2);
	if (err)
		return err == 1 ? CTL_OK : err;
	if (o.npos != 2)
		return ctl_usage_err(OBJ, "create needs POOL and NAME");
	if (strlen(o.pos[1]) > FVM_NAME_LEN)
		return ctl_usage_err(OBJ, "name '%s' is longer than 24 bytes",
				     o.pos[1]);
	if (fvm_guid_parse(o.type ? o.type :
			   "0fc63daf-8483-4772-8e79-3d69d8477de4", type))
		return ctl_usage_err(OBJ, "--type: malformed GUID '%s'", o.type);
	if (o.guid && fvm_guid_parse(o.guid, guid))
		return ctl_usage_err(OBJ, "--guid: malformed GUID '%s'", o.guid);
	err = vzdm_pool_get(g, o.pos[0], &pool);
	if (err)
		return vzdm_report(OBJ, o.pos[0], g, err);
	err = want_slices(&o, pool.slice_size, &n);
	if (err)
		return err;

	msg = op_msg(g, VIRTZ_FVM_CMD_ALLOCATE, o.pos[0], NULL);
	if (!msg || nla_put_string(msg, VIRTZ_FVM_A_NAME, o.pos[1]) ||
	    nla_put_u64(msg, VIRTZ_FVM_A_SLICES, n) ||
	    nla_put(msg, VIRTZ_FVM_A_TYPE_GUID, 16, type) ||
	    (o.guid && nla_put(msg, VIRTZ_FVM_A_INSTANCE_GUID, 16, guid)) ||
	    (o.inactive && nla_put_u32(msg, VIRTZ_FVM_A_FLAGS,
				       VIRTZ_FVM_PART_F_INACTIVE))) {
		nlmsg_free(msg);
		return ctl_err(OBJ, "out of memory");
	}
	memset(&p, 0, sizeof(p));
	err = vz_genl_do(g, msg, alloc_cb, &p);
	if (err)
		return vzdm_report(OBJ, "create", g, err);
	fvm_guid_to_str(p.guid, gs);
	err = vzdm_part_get(g, o.pos[0], gs, &p);
	if (err)
		return vzdm_report(OBJ, "create", g, err);
	if (!o.no_device && vzdm_volume_map(g, o.pos[0], &p, false, OBJ))
		return CTL_ERR;
	print_one(ctl, &p);
	return CTL_OK;
}

static int do_resize(struct ctl *ctl, struct vz_genl *g, int argc,
		     char **argv, bool extend)
{
	struct vzdm_part p;
	struct nl_msg *msg;
	uint64_t n = 0, end, offset;
	char dev[300];
	struct opts o;
	int err;

	err = parse_opts(argc, argv, &o, 2);
	if (err)
		return err == 1 ? CTL_OK : err;
	if (o.npos != 2)
		return ctl_usage_err(OBJ, "%s needs POOL and VOL", argv[0]);
	err = vzdm_part_get(g, o.pos[0], o.pos[1], &p);
	if (err)
		return vzdm_report(OBJ, o.pos[1], g, err);
	err = want_slices(&o, p.pool.slice_size, &n);
	if (err)
		return err;
	err = vzdm_part_end(g, o.pos[0], o.pos[1], &end);
	if (err)
		return vzdm_report(OBJ, "query slices", g, err);
	if (o.has_offset)
		offset = o.offset;
	else if (extend)
		offset = end;
	else
		offset = end > n ? end - n : 0;

	msg = op_msg(g, extend ? VIRTZ_FVM_CMD_EXTEND : VIRTZ_FVM_CMD_SHRINK,
		     o.pos[0], o.pos[1]);
	if (!msg || nla_put_u64(msg, VIRTZ_FVM_A_OFFSET, offset) ||
	    nla_put_u64(msg, VIRTZ_FVM_A_SLICES, n)) {
		nlmsg_free(msg);
		return ctl_err(OBJ, "out of memory");
	}
	err = run_op(g, msg, argv[0]);
	if (err)
		return err;
	err = vzdm_part_get(g, o.pos[0], o.pos[1], &p);
	if (err)
		return vzdm_report(OBJ, o.pos[1], g, err);
	vzdm_volume_devname(o.pos[0], &p, dev, sizeof(dev));
	if (vzdm_dm_exists(dev) && vzdm_volume_map(g, o.pos[0], &p, true, OBJ))
		return CTL_ERR;
	print_one(ctl, &p);
	return CTL_OK;
}

static int do_remove(struct ctl *ctl, struct vz_genl *g, int argc,
		     char **argv)
{
	struct vzdm_part p;
	char dev[300];
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 3)
		return ctl_usage_err(OBJ, "remove needs POOL and VOL");
	err = vzdm_part_get(g, argv[1], argv[2], &p);
	if (err)
		return vzdm_report(OBJ, argv[2], g, err);
	vzdm_volume_devname(argv[1], &p, dev, sizeof(dev));
	if (vzdm_dm_exists(dev)) {
		err = vzdm_dm_remove(dev);
		if (err)
			return ctl_err(OBJ, "remove /dev/mapper/%s: %s", dev,
				       strerror(-err));
	}
	return run_op(g, op_msg(g, VIRTZ_FVM_CMD_DESTROY, argv[1], argv[2]),
		      "remove");
}

static int do_rename(struct ctl *ctl, struct vz_genl *g, int argc,
		     char **argv)
{
	char dev[300], newdev[300];
	struct vzdm_part p, q;
	struct nl_msg *msg;
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 4)
		return ctl_usage_err(OBJ, "rename needs POOL, VOL and NEWNAME");
	if (strlen(argv[3]) > FVM_NAME_LEN)
		return ctl_usage_err(OBJ, "name '%s' is longer than 24 bytes",
				     argv[3]);
	err = vzdm_part_get(g, argv[1], argv[2], &p);
	if (err)
		return vzdm_report(OBJ, argv[2], g, err);
	msg = op_msg(g, VIRTZ_FVM_CMD_SET_NAME, argv[1], argv[2]);
	if (msg && nla_put_string(msg, VIRTZ_FVM_A_NAME, argv[3])) {
		nlmsg_free(msg);
		msg = NULL;
	}
	err = run_op(g, msg, "rename");
	if (err)
		return err;
	q = p;
	snprintf(q.name, sizeof(q.name), "%s", argv[3]);
	vzdm_volume_devname(argv[1], &p, dev, sizeof(dev));
	vzdm_volume_devname(argv[1], &q, newdev, sizeof(newdev));
	if (vzdm_dm_exists(dev)) {
		err = vzdm_dm_rename(dev, newdev);
		if (err)
			return ctl_err(OBJ, "rename /dev/mapper/%s: %s", dev,
				       strerror(-err));
	}
	return CTL_OK;
}

static int do_set_limit(struct ctl *ctl, struct vz_genl *g, int argc,
			char **argv)
{
	struct nl_msg *msg;
	uint64_t bytes;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 4)
		return ctl_usage_err(OBJ, "set-limit needs POOL, VOL and BYTES");
	if (parse_u64(argv[3], &bytes, true))
		return ctl_usage_err(OBJ, "BYTES must be a size, not '%s'",
				     argv[3]);
	msg = op_msg(g, VIRTZ_FVM_CMD_SET_LIMIT, argv[1], argv[2]);
	if (msg && nla_put_u64(msg, VIRTZ_FVM_A_LIMIT, bytes)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return run_op(g, msg, "set-limit");
}

static int do_activate(struct ctl *ctl, struct vz_genl *g, int argc,
		       char **argv)
{
	uint8_t old[16], new[16];
	struct nl_msg *msg;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 4)
		return ctl_usage_err(OBJ, "activate needs POOL, OLD-GUID and NEW-GUID");
	if (fvm_guid_parse(argv[2], old) || fvm_guid_parse(argv[3], new))
		return ctl_usage_err(OBJ, "malformed GUID");
	msg = op_msg(g, VIRTZ_FVM_CMD_ACTIVATE, argv[1], NULL);
	if (msg && (nla_put(msg, VIRTZ_FVM_A_INSTANCE_GUID, 16, old) ||
		    nla_put(msg, VIRTZ_FVM_A_NEW_GUID, 16, new))) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return run_op(g, msg, "activate");
}

static int do_map(struct ctl *ctl, struct vz_genl *g, int argc, char **argv)
{
	struct vzdm_part p;
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 3)
		return ctl_usage_err(OBJ, "map needs POOL and VOL");
	err = vzdm_part_get(g, argv[1], argv[2], &p);
	if (err)
		return vzdm_report(OBJ, argv[2], g, err);
	return vzdm_volume_map(g, argv[1], &p, false, OBJ) ? CTL_ERR : CTL_OK;
}

/* Block.GetInfo of the volume: JSON fields, or one line of text. */
static void put_block_info(struct ctl *ctl, struct jw *w,
			   const struct vzdm_part *p)
{
	if (ctl->json) {
		jw_u64(w, "block_count", p->block_count);
		jw_u64(w, "block_size", p->block_size);
		jw_u64(w, "max_transfer_size", p->max_transfer);
		jw_u64(w, "block_flags", p->block_flags);
		ctl_json_dev_flags(w, "block_flag_names", p->block_flags);
		return;
	}
	printf("  block: %" PRIu64 " blocks of %u bytes, max transfer ",
	       p->block_count, p->block_size);
	if (p->max_transfer == VIRTZ_BLOCK_MAX_TRANSFER_UNBOUNDED)
		printf("unbounded");
	else
		printf("%u bytes", p->max_transfer);
	printf(", flags");
	ctl_print_dev_flags(p->block_flags);
	printf("\n");
}

static int do_info(struct ctl *ctl, struct vz_genl *g, int argc, char **argv)
{
	uint64_t pos = 0, count;
	struct vzdm_part p;
	bool allocated;
	struct jw w;
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 3)
		return ctl_usage_err(OBJ, "info needs POOL and VOL");
	err = vzdm_part_get(g, argv[1], argv[2], &p);
	if (err)
		return vzdm_report(OBJ, argv[2], g, err);
	if (ctl->json) {
		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_str(&w, "pool", p.pool.name);
		jw_u64(&w, "index", p.index);
		jw_str(&w, "name", p.name);
		jw_u64(&w, "partition_slice_count", p.slices);
		jw_u64(&w, "slice_limit", p.limit);
		jw_u64(&w, "slice_size", p.pool.slice_size);
		jw_u64(&w, "slice_count", p.pool.slice_count);
		jw_u64(&w, "assigned_slice_count", p.pool.assigned);
		jw_u64(&w, "maximum_slice_count", p.pool.max_slices);
		jw_u64(&w, "max_virtual_slice", p.pool.max_vslice);
		jw_u64(&w, "flags", p.flags);
		jw_u64(&w, "mapped", p.mapped);
		{
			char t[FVM_GUID_STR_LEN + 1], gd[FVM_GUID_STR_LEN + 1];

			fvm_guid_to_str(p.type, t);
			fvm_guid_to_str(p.guid, gd);
			jw_str(&w, "type", t);
			jw_str(&w, "guid", gd);
		}
		put_block_info(ctl, &w, &p);
		jw_arr_open(&w, "ranges");
	} else {
		vzdm_print_part(&p, "");
		put_block_info(ctl, NULL, &p);
	}
	/* QuerySlices from vslice 0 to the end of the vslice space. */
	while (pos < p.pool.max_vslice) {
		err = vzdm_query(g, argv[1], argv[2], pos, &allocated, &count);
		if (err || !count)
			break;
		if (ctl->json) {
			jw_obj_open(&w, NULL);
			jw_u64(&w, "vslice", pos);
			jw_u64(&w, "count", count);
			jw_bool(&w, "allocated", allocated);
			jw_obj_close(&w);
		} else if (allocated) {
			printf("  vslices %" PRIu64 "..%" PRIu64 " mapped\n",
			       pos, pos + count - 1);
		}
		pos += count;
	}
	if (ctl->json) {
		jw_arr_close(&w);
		jw_obj_close(&w);
		jw_end(&w);
	}
	if (err)
		return vzdm_report(OBJ, "query slices", g, err);
	return CTL_OK;
}

static int do_list(struct ctl *ctl, struct vz_genl *g, int argc, char **argv)
{
	struct vzdm_part *v = NULL;
	size_t n = 0, i;
	struct jw w;
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	err = vzdm_part_collect(g, argc > 1 ? argv[1] : NULL, &v, &n);
	if (err) {
		free(v);
		return vzdm_report(OBJ, "list", g, err);
	}
	if (ctl->json) {
		jw_init(&w, stdout);
		jw_arr_open(&w, NULL);
	}
	for (i = 0; i < n; i++) {
		if (ctl->json) {
			vzdm_json_part(&w, &v[i]);
		} else {
			printf("%s ", v[i].pool.name);
			vzdm_print_part(&v[i], "");
		}
	}
	if (ctl->json) {
		jw_arr_close(&w);
		jw_end(&w);
	}
	free(v);
	return CTL_OK;
}

static const struct {
	const char *verb;
	int (*fn)(struct ctl *ctl, struct vz_genl *g, int argc, char **argv);
} verbs[] = {
	{ "create", do_create },
	{ "remove", do_remove },
	{ "rename", do_rename },
	{ "set-limit", do_set_limit },
	{ "activate", do_activate },
	{ "map", do_map },
	{ "info", do_info },
	{ "list", do_list },
};

static int cmd_volume(struct ctl *ctl, int argc, char **argv)
{
	struct vz_genl g;
	size_t i;
	int err, status;

	if (argc == 0 || ctl_is_help(argv[0])) {
		usage(argc ? stdout : stderr);
		return argc ? CTL_OK : CTL_USAGE;
	}
	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	err = vzdm_open(&g);
	if (err)
		return vzdm_report(OBJ, argv[0], &g, err);
	if (!strcmp(argv[0], "extend") || !strcmp(argv[0], "shrink")) {
		status = do_resize(ctl, &g, argc, argv,
				   !strcmp(argv[0], "extend"));
		vz_genl_close(&g);
		return status;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (!strcmp(argv[0], verbs[i].verb)) {
			status = verbs[i].fn(ctl, &g, argc, argv);
			vz_genl_close(&g);
			return status;
		}
	}
	vz_genl_close(&g);
	return ctl_usage_err(OBJ, "unknown verb '%s'", argv[0]);
}

CTL_COMMAND(volume, cmd_volume,
	    "dm-fvm volumes: create, extend, shrink, remove, rename, set-limit, activate, map, info, list");
