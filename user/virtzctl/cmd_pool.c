// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl pool: fvm-pool devices.  A pool is a device-mapper device
 * (/dev/mapper/POOL) with an "fvm-pool" table over an FVM-formatted block
 * device; its volumes are /dev/mapper/POOL-NAME ("fvm" tables).  Queries
 * go through the virtz_fvm netlink family, devices through libdevmapper.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fs.h>

#include "../../kmod/virtz_fvm/fvm_format.h"
#include "vzdm.h"
#include "virtzctl.h"

#define OBJ "pool"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzctl [-j] pool VERB ...\n"
		"  create   POOL DEV [--activate]  open the FVM on DEV as /dev/mapper/POOL;\n"
		"                                  --activate also maps every volume\n"
		"  activate POOL                   map every volume as /dev/mapper/POOL-NAME\n"
		"  remove   POOL [--volumes]       remove the pool (refused while volumes\n"
		"                                  are mapped, unless --volumes removes them)\n"
		"  info     POOL                   slice size and counts (VolumeManager.GetInfo)\n"
		"  list                            every pool and its volumes\n"
		"Needs root for create/activate/remove.  See dm-fvm.rst.\n");
}

struct act_ctx {
	struct vz_genl *g;
	const char *pool;
	int status;
	int n;
};

static int activate_one(const struct vzdm_part *p, void *arg)
{
	struct act_ctx *c = arg;
	char dev[300];

	vzdm_volume_devname(c->pool, p, dev, sizeof(dev));
	if (vzdm_dm_exists(dev))
		return 0;
	if (vzdm_volume_map(c->g, c->pool, p, false, OBJ))
		c->status = CTL_ERR;
	else
		c->n++;
	return 0;
}

static int activate(struct ctl *ctl, struct vz_genl *g, const char *pool)
{
	struct act_ctx c = { .g = g, .pool = pool };
	struct vzdm_part *v = NULL;
	size_t i, n = 0;
	int err;

	err = vzdm_part_collect(g, pool, &v, &n);
	if (err)
		return vzdm_report(OBJ, "list volumes", g, err);
	for (i = 0; i < n; i++)
		activate_one(&v[i], &c);
	free(v);
	if (!ctl->json)
		printf("%s: %d volume%s mapped\n", pool, c.n, c.n == 1 ? "" : "s");
	return c.status;
}

static int do_create(struct ctl *ctl, int argc, char **argv)
{
	bool act = false;
	struct vz_genl g;
	uint64_t size;
	int fd, err, i, status = CTL_OK;
	const char *pos[2];
	int npos = 0;

	for (i = 1; i < argc; i++) {
		if (ctl_is_help(argv[i])) {
			usage(stdout);
			return CTL_OK;
		}
		if (!strcmp(argv[i], "--activate"))
			act = true;
		else if (npos < 2)
			pos[npos++] = argv[i];
		else
			return ctl_usage_err(OBJ, "create POOL DEV [--activate]");
	}
	if (npos != 2)
		return ctl_usage_err(OBJ, "create needs POOL and DEV");
	fd = open(pos[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ctl_err(OBJ, "%s: %s", pos[1], strerror(errno));
	if (ioctl(fd, BLKGETSIZE64, &size)) {
		err = errno;
		close(fd);
		return ctl_err(OBJ, "%s: not a block device (%s)", pos[1],
			       strerror(err));
	}
	close(fd);
	err = vzdm_dm_create(pos[0], size / 512, "fvm-pool", pos[1]);
	if (err)
		return ctl_err(OBJ, "create %s on %s: %s (the kernel log says why)",
			       pos[0], pos[1], strerror(-err));
	if (act) {
		err = vzdm_open(&g);
		if (err)
			return vzdm_report(OBJ, "activate", &g, err);
		status = activate(ctl, &g, pos[0]);
		vz_genl_close(&g);
	}
	return status;
}

static int do_activate(struct ctl *ctl, int argc, char **argv)
{
	struct vz_genl g;
	int err, status;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 2)
		return ctl_usage_err(OBJ, "activate needs POOL");
	err = vzdm_open(&g);
	if (err)
		return vzdm_report(OBJ, "activate", &g, err);
	status = activate(ctl, &g, argv[1]);
	vz_genl_close(&g);
	return status;
}

static int do_remove(struct ctl *ctl, int argc, char **argv)
{
	struct vzdm_part *v = NULL;
	size_t n = 0;
	bool volumes = false;
	const char *pool = NULL;
	struct vz_genl g;
	char dev[300];
	int err, i, busy = 0, open_count;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (ctl_is_help(argv[i])) {
			usage(stdout);
			return CTL_OK;
		}
		if (!strcmp(argv[i], "--volumes"))
			volumes = true;
		else if (!pool)
			pool = argv[i];
		else
			return ctl_usage_err(OBJ, "remove POOL [--volumes]");
	}
	if (!pool)
		return ctl_usage_err(OBJ, "remove needs POOL");
	err = vzdm_open(&g);
	if (err)
		return vzdm_report(OBJ, "remove", &g, err);
	err = vzdm_part_collect(&g, pool, &v, &n);
	if (err) {
		err = vzdm_report(OBJ, pool, &g, err);
		vz_genl_close(&g);
		return err;
	}
	vz_genl_close(&g);
	for (k = 0; k < n; k++) {
		if (!v[k].mapped)
			continue;
		vzdm_volume_devname(pool, &v[k], dev, sizeof(dev));
		if (volumes && vzdm_dm_exists(dev) && !vzdm_dm_remove(dev))
			continue;
		busy++;
		ctl_err(OBJ, "%s: volume %s is mapped%s", pool, v[k].name,
			volumes ? " and could not be removed" : "");
	}
	free(v);
	if (busy)
		return ctl_err(OBJ, "%s: %d volume%s still mapped; remove %s first (or --volumes)",
			       pool, busy, busy == 1 ? "" : "s",
			       busy == 1 ? "it" : "them");
	open_count = vzdm_dm_open_count(pool);
	if (open_count > 0)
		return ctl_err(OBJ, "%s: the pool device is open %d time%s",
			       pool, open_count, open_count == 1 ? "" : "s");
	err = vzdm_dm_remove(pool);
	if (err)
		return ctl_err(OBJ, "remove %s: %s", pool, strerror(-err));
	return CTL_OK;
}

static void json_pool(struct jw *w, const struct vzdm_pool *p)
{
	jw_str(w, "pool", p->name);
	jw_u64(w, "slice_size", p->slice_size);
	jw_u64(w, "slice_count", p->slice_count);
	jw_u64(w, "assigned_slice_count", p->assigned);
	jw_u64(w, "maximum_slice_count", p->max_slices);
	jw_u64(w, "max_virtual_slice", p->max_vslice);
	jw_u64(w, "generation", p->generation);
	jw_u64(w, "partitions", p->partitions);
}

static void print_pool(const struct vzdm_pool *p)
{
	printf("%s: %" PRIu64 " slices of %" PRIu64 " bytes, %" PRIu64
	       " assigned, %" PRIu64 " free (table holds %" PRIu64
	       "), %u volumes, generation %" PRIu64 "\n",
	       p->name, p->slice_count, p->slice_size, p->assigned,
	       p->slice_count - p->assigned, p->max_slices, p->partitions,
	       p->generation);
}

static int do_info(struct ctl *ctl, int argc, char **argv)
{
	struct vzdm_pool p;
	struct vz_genl g;
	struct jw w;
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 2)
		return ctl_usage_err(OBJ, "info needs POOL");
	err = vzdm_open(&g);
	if (!err)
		err = vzdm_pool_get(&g, argv[1], &p);
	if (err) {
		err = vzdm_report(OBJ, argv[1], &g, err);
		vz_genl_close(&g);
		return err;
	}
	vz_genl_close(&g);
	if (ctl->json) {
		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		json_pool(&w, &p);
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		print_pool(&p);
	}
	return CTL_OK;
}

static int do_list(struct ctl *ctl, int argc, char **argv)
{
	struct vzdm_pool *pools = NULL;
	struct vzdm_part *v = NULL;
	size_t npools = 0, n = 0, i, k;
	struct vz_genl g;
	struct jw w;
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	err = vzdm_open(&g);
	if (!err)
		err = vzdm_part_collect(&g, NULL, &v, &n);
	if (!err)
		err = vzdm_pool_collect(&g, &pools, &npools);
	if (err) {
		free(v);
		free(pools);
		err = vzdm_report(OBJ, "list", &g, err);
		vz_genl_close(&g);
		return err;
	}
	vz_genl_close(&g);
	if (ctl->json) {
		jw_init(&w, stdout);
		jw_arr_open(&w, NULL);
	}
	for (i = 0; i < npools; i++) {
		if (ctl->json) {
			jw_obj_open(&w, NULL);
			json_pool(&w, &pools[i]);
			jw_arr_open(&w, "volumes");
		} else {
			print_pool(&pools[i]);
		}
		for (k = 0; k < n; k++) {
			if (strcmp(v[k].pool.name, pools[i].name))
				continue;
			if (ctl->json)
				vzdm_json_part(&w, &v[k]);
			else
				vzdm_print_part(&v[k], "    ");
		}
		if (ctl->json) {
			jw_arr_close(&w);
			jw_obj_close(&w);
		}
	}
	if (ctl->json) {
		jw_arr_close(&w);
		jw_end(&w);
	}
	free(v);
	free(pools);
	return CTL_OK;
}

static int cmd_pool(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0 || ctl_is_help(argv[0])) {
		usage(argc ? stdout : stderr);
		return argc ? CTL_OK : CTL_USAGE;
	}
	if (!strcmp(argv[0], "create"))
		return do_create(ctl, argc, argv);
	if (!strcmp(argv[0], "activate"))
		return do_activate(ctl, argc, argv);
	if (!strcmp(argv[0], "remove"))
		return do_remove(ctl, argc, argv);
	if (!strcmp(argv[0], "info"))
		return do_info(ctl, argc, argv);
	if (!strcmp(argv[0], "list"))
		return do_list(ctl, argc, argv);
	return ctl_usage_err(OBJ, "unknown verb '%s'", argv[0]);
}

CTL_COMMAND(pool, cmd_pool, "dm-fvm pools: create, activate, remove, info, list");
