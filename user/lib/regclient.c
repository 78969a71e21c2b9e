// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/genl/genl.h>

#include "regclient.h"

int reg_open(struct vz_genl *g, const char *obj)
{
	int err = vz_genl_open(g, VIRTZ_GENL_NAME, VIRTZ_A_MAX);

	if (err == -ENOENT)
		fprintf(stderr, "virtzctl: %s: virtz_vsock is not loaded (modprobe virtz_vsock)\n",
			obj);
	else if (err)
		fprintf(stderr, "virtzctl: %s: genetlink: %s\n", obj,
			strerror(-err));
	return err;
}

void reg_report(struct vz_genl *g, const char *obj, const char *verb, int err)
{
	if (g->extack[0])
		fprintf(stderr, "virtzctl: %s: %s: %s (%s)\n", obj, verb,
			g->extack, strerror(-err));
	else
		fprintf(stderr, "virtzctl: %s: %s: %s\n", obj, verb,
			strerror(-err));
}

static int parse_id(struct nlattr **tb, void *arg)
{
	if (!tb[VIRTZ_A_ENV_ID])
		return -EBADMSG;
	*(uint32_t *)arg = nla_get_u32(tb[VIRTZ_A_ENV_ID]);
	return 0;
}

int reg_env_create(struct vz_genl *g, const char *label, uint32_t *id)
{
	struct nl_msg *msg = vz_genl_msg(g, VIRTZ_CMD_ENV_NEW, 0);

	if (!msg)
		return -ENOMEM;
	nla_put_string(msg, VIRTZ_A_ENV_LABEL, label);
	*id = 0;
	return vz_genl_do(g, msg, parse_id, id);
}

int reg_env_delete(struct vz_genl *g, uint32_t id)
{
	struct nl_msg *msg = vz_genl_msg(g, VIRTZ_CMD_ENV_DEL, 0);

	if (!msg)
		return -ENOMEM;
	nla_put_u32(msg, VIRTZ_A_ENV_ID, id);
	return vz_genl_do(g, msg, NULL, NULL);
}

struct list_ctx {
	struct reg_env *envs;
	int n;
};

static void copy_str(char *dst, size_t len, struct nlattr *a)
{
	snprintf(dst, len, "%.*s", a ? nla_len(a) : 0,
		 a ? (const char *)nla_data(a) : "");
}

/* One environment per reply; VIRTZ_A_INSTANCE repeats once per instance. */
static int parse_env(struct nlattr *head, int len, void *arg)
{
	struct list_ctx *ctx = arg;
	struct reg_env *e, *grown;
	struct nlattr *a;
	int rem;

	grown = realloc(ctx->envs, (ctx->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	ctx->envs = grown;
	e = &ctx->envs[ctx->n++];
	memset(e, 0, sizeof(*e));

	nla_for_each_attr(a, head, len, rem) {
		struct nlattr *tb[VIRTZ_INSTANCE_A_MAX + 1];
		struct reg_inst *in;

		switch (nla_type(a)) {
		case VIRTZ_A_ENV_ID:
			e->id = nla_get_u32(a);
			break;
		case VIRTZ_A_ENV_LABEL:
			copy_str(e->label, sizeof(e->label), a);
			break;
		case VIRTZ_A_INSTANCE:
			if (nla_parse_nested(tb, VIRTZ_INSTANCE_A_MAX, a, NULL) ||
			    !tb[VIRTZ_INSTANCE_A_CID])
				break;
			in = realloc(e->inst, (e->n_inst + 1) * sizeof(*in));
			if (!in)
				return -ENOMEM;
			e->inst = in;
			in = &e->inst[e->n_inst++];
			memset(in, 0, sizeof(*in));
			in->cid = nla_get_u32(tb[VIRTZ_INSTANCE_A_CID]);
			if (tb[VIRTZ_INSTANCE_A_PID])
				in->pid = nla_get_u32(tb[VIRTZ_INSTANCE_A_PID]);
			copy_str(in->label, sizeof(in->label),
				 tb[VIRTZ_INSTANCE_A_LABEL]);
			break;
		}
	}
	return 0;
}

int reg_env_list(struct vz_genl *g, struct reg_env **envs)
{
	struct list_ctx ctx = { 0 };
	struct nl_msg *msg;
	int err;

	*envs = NULL;
	msg = vz_genl_msg(g, VIRTZ_CMD_ENV_GET, 0);
	if (!msg)
		return -ENOMEM;
	err = vz_genl_dump_raw(g, msg, parse_env, &ctx);
	if (err) {
		reg_env_free(ctx.envs, ctx.n);
		return err;
	}
	*envs = ctx.envs;
	return ctx.n;
}

void reg_env_free(struct reg_env *envs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(envs[i].inst);
	free(envs);
}
