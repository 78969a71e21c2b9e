// SPDX-License-Identifier: GPL-2.0
/*
 * virtz_fvm: Fuchsia FVM volumes on Linux, as device-mapper targets, and
 * Fuchsia's block FIFO protocol for any block device through
 * /dev/virtz-block.
 *
 * This file holds module setup and the "virtz_fvm" generic netlink family;
 * block.c has the /dev/virtz-block character device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/virtz_fvm.h>

#include "block.h"
#include "virtz_fvm.h"

static struct genl_family virtz_fvm_family;

struct virtz_module virtz_fvm = {
	.family = &virtz_fvm_family,
	.features = VIRTZ_FVM_F_FORMAT_V1,
};

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

static struct genl_family virtz_fvm_family __ro_after_init = {
	.name = VIRTZ_FVM_GENL_NAME,
	.version = VIRTZ_FVM_GENL_VERSION,
	.maxattr = VIRTZ_FVM_A_MAX,
	.module = THIS_MODULE,
	.ops = virtz_fvm_ops,
	.n_ops = ARRAY_SIZE(virtz_fvm_ops),
	.netnsok = true,
};

static int __init virtz_fvm_init(void)
{
	return virtz_module_register(&virtz_fvm, &virtz_block_misc);
}

static void __exit virtz_fvm_exit(void)
{
	virtz_module_unregister(&virtz_fvm, &virtz_block_misc);
}

module_init(virtz_fvm_init);
module_exit(virtz_fvm_exit);

MODULE_DESCRIPTION("virtz: Fuchsia FVM volumes and block FIFO sessions");
MODULE_AUTHOR("The virtz authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(VIRTZ_VERSION);
