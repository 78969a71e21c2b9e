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
	int err;
	int done;
};

static void copy_str(char *dst, size_t len, struct nlattr *a)
{
	snprintf(dst, len, "%.*s", a ? nla_len(a) : 0,
		 a ? (const char *)nla_data(a) : "");
}

/*
 * An environment repeats VIRTZ_A_INSTANCE once per instance, which the
 * tb[]-based callback of genl.h cannot show, so the dump walks each
 * message's attributes itself.
 */
static int parse_env(struct nl_msg *msg, void *arg)
{
	struct list_ctx *ctx = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct reg_env *e, *grown;
	struct nlattr *a;
	int rem;

	grown = realloc(ctx->envs, (ctx->n + 1) * sizeof(*grown));
	if (!grown) {
		ctx->err = -ENOMEM;
		return NL_STOP;
	}
	ctx->envs = grown;
	e = &ctx->envs[ctx->n++];
	memset(e, 0, sizeof(*e));

	nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlh), 0),
			  genlmsg_attrlen(nlmsg_data(nlh), 0), rem) {
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
			if (!in) {
				ctx->err = -ENOMEM;
				return NL_STOP;
			}
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
	return NL_OK;
}

static int on_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct list_ctx *ctx = arg;

	ctx->err = e->error;
	ctx->done = 1;
	return NL_STOP;
}

static int on_done(struct nl_msg *msg, void *arg)
{
	((struct list_ctx *)arg)->done = 1;
	return NL_STOP;
}

int reg_env_list(struct vz_genl *g, struct reg_env **envs)
{
	struct list_ctx ctx = { 0 };
	struct nl_msg *msg;
	struct nl_cb *cb;
	int err;

	*envs = NULL;
	msg = vz_genl_msg(g, VIRTZ_CMD_ENV_GET, NLM_F_DUMP);
	if (!msg)
		return -ENOMEM;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, on_err, &ctx);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, &ctx);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_done, &ctx);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, parse_env, &ctx);
	err = nl_send_auto(g->sk, msg);
	nlmsg_free(msg);
	while (err >= 0 && !ctx.done && !ctx.err) {
		err = nl_recvmsgs(g->sk, cb);
		if (err == -NLE_INTR || err == -NLE_AGAIN)
			err = 0;
	}
	nl_cb_put(cb);
	if (!ctx.err && err < 0)
		ctx.err = -EIO;
	if (ctx.err) {
		reg_env_free(ctx.envs, ctx.n);
		return ctx.err;
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
