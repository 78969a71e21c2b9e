// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl env: environments of the Manager registry in virtz_vsock
 * (Fuchsia's Manager.Create / List), with the instances in each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtz.h>

#include "genl.h"
#include "regclient.h"
#include "virtzctl.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzctl [-j] env create LABEL\n"
		"       virtzctl [-j] env list\n"
		"       virtzctl env delete ID\n"
		"\n"
		"create  make an environment; prints its id (needs CAP_NET_ADMIN)\n"
		"list    every environment with its guest instances (anyone)\n"
		"delete  remove an environment that has no instances left\n");
}

static int env_create(struct ctl *ctl, int argc, char **argv)
{
	struct vz_genl g;
	uint32_t id;
	int err;

	if (argc != 2)
		return ctl_usage_err("env", "create takes one LABEL");
	if (strlen(argv[1]) >= VIRTZ_LABEL_MAX)
		return ctl_usage_err("env", "label longer than %d bytes",
				     VIRTZ_LABEL_MAX - 1);
	err = reg_open(&g, "env");
	if (err)
		return CTL_ERR;
	err = reg_env_create(&g, argv[1], &id);
	if (err) {
		reg_report(&g, "env", "create", err);
		vz_genl_close(&g);
		return CTL_ERR;
	}
	vz_genl_close(&g);
	if (ctl->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_u64(&w, "id", id);
		jw_str(&w, "label", argv[1]);
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		printf("%u\n", id);
	}
	return CTL_OK;
}

static int env_delete(struct ctl *ctl, int argc, char **argv)
{
	struct vz_genl g;
	char *end;
	unsigned long id;
	int err;

	if (argc != 2)
		return ctl_usage_err("env", "delete takes one ID");
	errno = 0;
	id = strtoul(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || id == 0 || id > UINT32_MAX)
		return ctl_usage_err("env", "'%s' is not an environment id",
				     argv[1]);
	err = reg_open(&g, "env");
	if (err)
		return CTL_ERR;
	err = reg_env_delete(&g, id);
	if (err)
		reg_report(&g, "env", "delete", err);
	vz_genl_close(&g);
	return err ? CTL_ERR : CTL_OK;
}

static int env_list(struct ctl *ctl, int argc, char **argv)
{
	struct reg_env *envs = NULL;
	struct vz_genl g;
	int n, i, j;

	if (argc != 1)
		return ctl_usage_err("env", "list takes no arguments");
	if (reg_open(&g, "env"))
		return CTL_ERR;
	n = reg_env_list(&g, &envs);
	if (n < 0) {
		reg_report(&g, "env", "list", n);
		vz_genl_close(&g);
		return CTL_ERR;
	}
	vz_genl_close(&g);

	if (ctl->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_arr_open(&w, NULL);
		for (i = 0; i < n; i++) {
			jw_obj_open(&w, NULL);
			jw_u64(&w, "id", envs[i].id);
			jw_str(&w, "label", envs[i].label);
			jw_arr_open(&w, "instances");
			for (j = 0; j < envs[i].n_inst; j++) {
				jw_obj_open(&w, NULL);
				jw_u64(&w, "cid", envs[i].inst[j].cid);
				jw_str(&w, "label", envs[i].inst[j].label);
				jw_u64(&w, "pid", envs[i].inst[j].pid);
				jw_obj_close(&w);
			}
			jw_arr_close(&w);
			jw_obj_close(&w);
		}
		jw_arr_close(&w);
		jw_end(&w);
	} else {
		for (i = 0; i < n; i++) {
			printf("env %u \"%s\": %d instance(s)\n", envs[i].id,
			       envs[i].label, envs[i].n_inst);
			for (j = 0; j < envs[i].n_inst; j++)
				printf("    cid %u  pid %u  \"%s\"\n",
				       envs[i].inst[j].cid, envs[i].inst[j].pid,
				       envs[i].inst[j].label);
		}
	}
	reg_env_free(envs, n);
	return CTL_OK;
}

static int cmd_env(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0)
		return ctl_usage_err("env", "a verb is needed");
	if (ctl_is_help(argv[0]) || (argc > 1 && ctl_is_help(argv[1]))) {
		usage(stdout);
		return CTL_OK;
	}
	if (!strcmp(argv[0], "create"))
		return env_create(ctl, argc, argv);
	if (!strcmp(argv[0], "list"))
		return env_list(ctl, argc, argv);
	if (!strcmp(argv[0], "delete"))
		return env_delete(ctl, argc, argv);
	return ctl_usage_err("env", "unknown verb '%s'", argv[0]);
}

CTL_COMMAND(env, cmd_env, "registry environments: create, list, delete");
