// SPDX-License-Identifier: GPL-2.0
/*
 * virtzd's side of the Manager registry: hold /dev/virtz-vsock open and
 * name that descriptor in INSTANCE_NEW.  The kernel ties the entry to the
 * open file, so the entry goes away with this process however it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtz.h>

#include "genl.h"
#include "registry.h"

struct reply {
	uint32_t cid;
	int got;
};

static int parse_reply(struct nlattr **tb, void *arg)
{
	struct reply *r = arg;

	if (!tb[VIRTZ_A_INSTANCE_CID])
		return -EBADMSG;
	r->cid = nla_get_u32(tb[VIRTZ_A_INSTANCE_CID]);
	r->got = 1;
	return 0;
}

int registry_register(uint32_t env_id, const char *label, uint32_t *cid,
		      char *err, size_t errlen)
{
	struct reply r = { 0 };
	struct nl_msg *msg;
	struct vz_genl g;
	int fd, ret;

	fd = open("/dev/" VIRTZ_VSOCK_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open /dev/%s: %s%s",
			 VIRTZ_VSOCK_DEV_NAME, strerror(errno),
			 errno == ENOENT ? " (is virtz_vsock loaded?)" : "");
		return ret;
	}
	ret = vz_genl_open(&g, VIRTZ_GENL_NAME, VIRTZ_A_MAX);
	if (ret) {
		snprintf(err, errlen, "genetlink family %s: %s",
			 VIRTZ_GENL_NAME, strerror(-ret));
		goto err_close;
	}
	msg = vz_genl_msg(&g, VIRTZ_CMD_INSTANCE_NEW, 0);
	if (!msg) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err_genl;
	}
	nla_put_u32(msg, VIRTZ_A_ENV_ID, env_id);
	nla_put_u32(msg, VIRTZ_A_DEV_FD, fd);
	nla_put_string(msg, VIRTZ_A_INSTANCE_LABEL, label);
	ret = vz_genl_do(&g, msg, parse_reply, &r);
	if (!ret && !r.got)
		ret = -EBADMSG;
	if (ret) {
		snprintf(err, errlen, "registering in environment %u: %s%s%s",
			 env_id, g.extack[0] ? g.extack : strerror(-ret),
			 g.extack[0] ? " - " : "",
			 g.extack[0] ? strerror(-ret) : "");
		goto err_genl;
	}
	vz_genl_close(&g);
	*cid = r.cid;
	return fd;

err_genl:
	vz_genl_close(&g);
err_close:
	close(fd);
	return ret;
}
