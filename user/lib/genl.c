// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "genl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct reply_ctx {
	struct vz_genl *g;
	vz_genl_reply_fn fn;
	vz_genl_raw_fn raw_fn;
	void *arg;
	int err;	/* first error: kernel's, parse, or the callback's */
	bool done;	/* the ack, error or end of dump has arrived */
};

int vz_genl_open(struct vz_genl *g, const char *family, int maxattr)
{
	int one = 1;
	int id, err;

	memset(g, 0, sizeof(*g));
	g->family = family;
	g->maxattr = maxattr;

	g->sk = nl_socket_alloc();
	if (!g->sk)
		return -ENOMEM;

	err = genl_connect(g->sk);
	if (err < 0) {
		err = -ECONNREFUSED;
		goto fail;
	}

	/* Ask for the kernel's error text, and not for our request back. */
	setsockopt(nl_socket_get_fd(g->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(g->sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));

	id = genl_ctrl_resolve(g->sk, family);
	if (id < 0) {
		g->no_family = true;
		err = -ENOENT;
		goto fail;
	}
	g->family_id = id;
	return 0;

fail:
	nl_socket_free(g->sk);
	g->sk = NULL;
	return err;
}

void vz_genl_close(struct vz_genl *g)
{
	if (g->sk)
		nl_socket_free(g->sk);
	g->sk = NULL;
}

struct nl_msg *vz_genl_msg(struct vz_genl *g, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, g->family_id, 0,
			 flags, cmd, 1)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Copies NLMSGERR_ATTR_MSG out of an error/ack message's extack TLVs. */
static void grab_extack(struct vz_genl *g, struct nlmsghdr *nlh)
{
	struct nlmsgerr *e = nlmsg_data(nlh);
	size_t off = sizeof(*e);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int len;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	len = (int)nlmsg_datalen(nlh) - (int)off;
	if (len <= 0)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)e + NLA_ALIGN(off)), len, NULL))
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(g->extack, sizeof(g->extack), "%.*s",
			 nla_len(tb[NLMSGERR_ATTR_MSG]),
			 (const char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct reply_ctx *ctx = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);

	grab_extack(ctx->g, nlh);
	if (!ctx->err)
		ctx->err = e->error;
	ctx->done = true;
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct reply_ctx *ctx = arg;

	/* A successful ack may carry a warning text too. */
	grab_extack(ctx->g, nlmsg_hdr(msg));
	ctx->done = true;
	return NL_STOP;
}

static int on_reply(struct nl_msg *msg, void *arg)
{
	struct reply_ctx *ctx = arg;
	struct nlattr *tb[ctx->g->maxattr + 1];
	struct genlmsghdr *gh;
	int err;

	if (ctx->err)
		return NL_SKIP;
	if (ctx->raw_fn) {
		gh = nlmsg_data(nlmsg_hdr(msg));
		err = ctx->raw_fn(genlmsg_attrdata(gh, 0),
				  genlmsg_attrlen(gh, 0), ctx->arg);
		if (err)
			ctx->err = err;
		return NL_OK;
	}
	err = genlmsg_parse(nlmsg_hdr(msg), 0, tb, ctx->g->maxattr, NULL);
	if (err < 0) {
		ctx->err = -EBADMSG;
		return NL_SKIP;
	}
	if (ctx->fn) {
		err = ctx->fn(tb, ctx->arg);
		if (err)
			ctx->err = err;
	}
	return NL_OK;
}

static int transact(struct vz_genl *g, struct nl_msg *msg,
		    struct reply_ctx *c)
{
	struct reply_ctx ctx = *c;
	struct nl_cb *cb;
	int err;

	g->extack[0] = '\0';
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &ctx);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &ctx);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_ack, &ctx);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_reply, &ctx);

	err = nl_send_auto(g->sk, msg);
	nlmsg_free(msg);
	if (err < 0) {
		nl_cb_put(cb);
		return -EIO;
	}

	/*
	 * A reply and its ack may arrive in separate reads: keep reading
	 * until the ack (or error, or end of dump), or the next request
	 * on this socket would find this one's leftovers.
	 */
	while (!ctx.done) {
		err = nl_recvmsgs(g->sk, cb);
		if (err < 0 && err != -NLE_INTR && err != -NLE_AGAIN)
			break;
	}
	nl_cb_put(cb);

	if (ctx.err)
		return ctx.err;
	return err < 0 ? -EIO : 0;
}

int vz_genl_do(struct vz_genl *g, struct nl_msg *msg, vz_genl_reply_fn fn,
	       void *arg)
{
	struct reply_ctx ctx = { .g = g, .fn = fn, .arg = arg };

	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	return transact(g, msg, &ctx);
}

int vz_genl_dump(struct vz_genl *g, struct nl_msg *msg, vz_genl_reply_fn fn,
		 void *arg)
{
	struct reply_ctx ctx = { .g = g, .fn = fn, .arg = arg };

	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_DUMP | NLM_F_ACK;
	return transact(g, msg, &ctx);
}

int vz_genl_dump_raw(struct vz_genl *g, struct nl_msg *msg, vz_genl_raw_fn fn,
		     void *arg)
{
	struct reply_ctx ctx = { .g = g, .raw_fn = fn, .arg = arg };

	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_DUMP | NLM_F_ACK;
	return transact(g, msg, &ctx);
}
