// SPDX-License-Identifier: GPL-2.0
/*
 * The "virtz_fvm" generic netlink family: the module-wide commands every
 * virtz family shares.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/virtz_fvm.h>

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

/*
 * GET_INFO takes no attributes (with no policy the core rejects any it is
 * sent); SET_LOG_LEVEL changes module state and needs CAP_NET_ADMIN.
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
