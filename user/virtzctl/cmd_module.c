// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl module: what the kernel modules report about themselves through
 * the commands every virtz netlink family shares.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtz.h>
#include <linux/virtz_fvm.h>
#include <linux/virtz_wl.h>

#include "genl.h"
#include "virtzctl.h"

struct feature_name {
	uint64_t bit;
	const char *name;
};

static const struct feature_name fvm_features[] = {
	{ VIRTZ_FVM_F_FORMAT_V1, "format-v1" },
	{ VIRTZ_FVM_F_BLOCK_SESSIONS, "block-sessions" },
	{ VIRTZ_FVM_F_DM_TARGETS, "dm-targets" },
	{ 0, NULL },
};

static const struct feature_name no_features[] = {
	{ 0, NULL },
};

struct vz_module {
	const char *name;	/* as virtzctl and modprobe know it */
	const char *kmod;
	const char *family;
	int maxattr;
	const struct feature_name *features;
};

static const struct vz_module modules[] = {
	{ "fvm", "virtz_fvm", VIRTZ_FVM_GENL_NAME, VIRTZ_FVM_A_MAX, fvm_features },
	{ "vsock", "virtz_vsock", VIRTZ_GENL_NAME, VIRTZ_A_MAX, no_features },
	{ "wl", "virtz_wl", VIRTZ_WL_GENL_NAME, VIRTZ_WL_A_MAX, no_features },
};

#define N_MODULES (sizeof(modules) / sizeof(modules[0]))

struct mod_info {
	char version[64];
	uint32_t api_version;
	uint64_t features;
	uint32_t log_level;
	uint32_t handles;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzctl [-j] module info [MODULE]\n"
		"       virtzctl module set-log-level MODULE LEVEL\n"
		"\n"
		"MODULE is one of: fvm (virtz_fvm), vsock (virtz_vsock), wl (virtz_wl).\n"
		"\n"
		"info           version, API version, features, log level and open\n"
		"               handles of each loaded module; all modules by default\n"
		"set-log-level  LEVEL 0 (quiet) to %d (chatty); needs CAP_NET_ADMIN\n",
		VIRTZ_LOG_LEVEL_MAX);
}

static const struct vz_module *find_module(const char *name)
{
	size_t i;

	for (i = 0; i < N_MODULES; i++)
		if (!strcmp(name, modules[i].name) ||
		    !strcmp(name, modules[i].kmod))
			return &modules[i];
	return NULL;
}

/* Prints the kernel's reason when there is one, else strerror. */
static int report(const struct vz_module *m, const char *verb,
		  const struct vz_genl *g, int err)
{
	if (g->no_family)
		return ctl_err("module", "%s: %s is not loaded (modprobe %s)",
			       verb, m->kmod, m->kmod);
	if (g->extack[0])
		return ctl_err("module", "%s %s: %s (%s)", verb, m->name,
			       g->extack, strerror(-err));
	return ctl_err("module", "%s %s: %s", verb, m->name, strerror(-err));
}

static int parse_info(struct nlattr **tb, void *arg)
{
	struct mod_info *mi = arg;

	if (!tb[VIRTZ_COMMON_A_VERSION] || !tb[VIRTZ_COMMON_A_API_VERSION] ||
	    !tb[VIRTZ_COMMON_A_FEATURES] || !tb[VIRTZ_COMMON_A_LOG_LEVEL] ||
	    !tb[VIRTZ_COMMON_A_HANDLES])
		return -EBADMSG;
	snprintf(mi->version, sizeof(mi->version), "%.*s",
		 nla_len(tb[VIRTZ_COMMON_A_VERSION]),
		 (const char *)nla_data(tb[VIRTZ_COMMON_A_VERSION]));
	mi->api_version = nla_get_u32(tb[VIRTZ_COMMON_A_API_VERSION]);
	mi->features = nla_get_u64(tb[VIRTZ_COMMON_A_FEATURES]);
	mi->log_level = nla_get_u32(tb[VIRTZ_COMMON_A_LOG_LEVEL]);
	mi->handles = nla_get_u32(tb[VIRTZ_COMMON_A_HANDLES]);
	return 0;
}

static int query(const struct vz_module *m, struct vz_genl *g,
		 struct mod_info *mi)
{
	struct nl_msg *msg;
	int err;

	err = vz_genl_open(g, m->family, m->maxattr);
	if (err)
		return err;
	msg = vz_genl_msg(g, VIRTZ_COMMON_CMD_GET_INFO, 0);
	if (!msg)
		err = -ENOMEM;
	else
		err = vz_genl_do(g, msg, parse_info, mi);
	vz_genl_close(g);
	return err;
}

static void print_features(const struct vz_module *m, uint64_t f)
{
	const struct feature_name *fn;
	uint64_t known = 0;
	bool any = false;

	for (fn = m->features; fn->name; fn++) {
		known |= fn->bit;
		if (f & fn->bit) {
			printf("%s%s", any ? " " : "", fn->name);
			any = true;
		}
	}
	if (f & ~known) {
		printf("%sunknown:%#" PRIx64, any ? " " : "", f & ~known);
		any = true;
	}
	if (!any)
		printf("none");
}

static void json_features(struct jw *w, const struct vz_module *m, uint64_t f)
{
	const struct feature_name *fn;

	jw_arr_open(w, "feature_names");
	for (fn = m->features; fn->name; fn++)
		if (f & fn->bit)
			jw_str(w, NULL, fn->name);
	jw_arr_close(w);
}

static int do_info(struct ctl *ctl, int argc, char **argv)
{
	const struct vz_module *only = NULL;
	int status = CTL_OK;
	struct jw w;
	size_t i;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc > 2)
		return ctl_usage_err("module", "info takes at most one module");
	if (argc == 2) {
		only = find_module(argv[1]);
		if (!only)
			return ctl_usage_err("module", "unknown module '%s'",
					     argv[1]);
	}

	if (ctl->json) {
		jw_init(&w, stdout);
		jw_arr_open(&w, NULL);
	}

	for (i = 0; i < N_MODULES; i++) {
		const struct vz_module *m = &modules[i];
		struct mod_info mi = { 0 };
		struct vz_genl g;
		int err;

		if (only && only != m)
			continue;
		err = query(m, &g, &mi);
		if (err && !(g.no_family && !only)) {
			status = report(m, "info", &g, err);
			continue;
		}

		if (ctl->json) {
			jw_obj_open(&w, NULL);
			jw_str(&w, "module", m->kmod);
			jw_str(&w, "family", m->family);
			jw_bool(&w, "loaded", !err);
			if (!err) {
				jw_str(&w, "version", mi.version);
				jw_u64(&w, "api_version", mi.api_version);
				jw_u64(&w, "features", mi.features);
				json_features(&w, m, mi.features);
				jw_u64(&w, "log_level", mi.log_level);
				jw_u64(&w, "handles", mi.handles);
			}
			jw_obj_close(&w);
			continue;
		}

		if (err) {
			printf("%s: not loaded\n", m->kmod);
			continue;
		}
		printf("%s: version %s api %u family %s\n", m->kmod,
		       mi.version, mi.api_version, m->family);
		printf("    features ");
		print_features(m, mi.features);
		printf("\n    log-level %u handles %u\n", mi.log_level,
		       mi.handles);
	}

	if (ctl->json) {
		jw_arr_close(&w);
		jw_end(&w);
	}
	return status;
}

static int do_set_log_level(struct ctl *ctl, int argc, char **argv)
{
	const struct vz_module *m;
	struct nl_msg *msg;
	struct vz_genl g;
	unsigned long level;
	char *end;
	int err;

	if (argc > 1 && ctl_is_help(argv[1])) {
		usage(stdout);
		return CTL_OK;
	}
	if (argc != 3)
		return ctl_usage_err("module",
				     "set-log-level needs MODULE and LEVEL");
	m = find_module(argv[1]);
	if (!m)
		return ctl_usage_err("module", "unknown module '%s'", argv[1]);
	errno = 0;
	level = strtoul(argv[2], &end, 10);
	if (errno || *end || end == argv[2] || level > UINT32_MAX)
		return ctl_usage_err("module", "LEVEL must be a number, not '%s'",
				     argv[2]);

	/* Range checking is the kernel's: its policy names the limit. */
	err = vz_genl_open(&g, m->family, m->maxattr);
	if (err)
		return report(m, "set-log-level", &g, err);
	msg = vz_genl_msg(&g, VIRTZ_COMMON_CMD_SET_LOG_LEVEL, 0);
	if (!msg || nla_put_u32(msg, VIRTZ_COMMON_A_LOG_LEVEL, level)) {
		nlmsg_free(msg);
		vz_genl_close(&g);
		return ctl_err("module", "out of memory");
	}
	err = vz_genl_do(&g, msg, NULL, NULL);
	if (err)
		err = report(m, "set-log-level", &g, err);
	vz_genl_close(&g);
	return err;
}

static int cmd_module(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0 || ctl_is_help(argv[0])) {
		usage(argc ? stdout : stderr);
		return argc ? CTL_OK : CTL_USAGE;
	}
	if (!strcmp(argv[0], "info"))
		return do_info(ctl, argc, argv);
	if (!strcmp(argv[0], "set-log-level"))
		return do_set_log_level(ctl, argc, argv);
	return ctl_usage_err("module", "unknown verb '%s'", argv[0]);
}

CTL_COMMAND(module, cmd_module, "kernel modules: info, set-log-level");
