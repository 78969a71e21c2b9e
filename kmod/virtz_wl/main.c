// SPDX-License-Identifier: GPL-2.0
/*
 * virtz_wl: the host side of virtio-wl, bridging guest Wayland
 * connections to a registered dispatcher process.
 *
 * This file holds module setup: the /dev/virtz-wl character device and
 * the "virtz_wl" generic netlink family.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/virtz_wl.h>

#include "virtz_core.h"

static struct genl_family virtz_wl_family;

static struct virtz_module virtz_wl = {
	.family = &virtz_wl_family,
	.features = 0,
};

static int virtz_wl_dev_open(struct inode *inode, struct file *file)
{
	virtz_handle_get(&virtz_wl);
	return 0;
}

static int virtz_wl_dev_release(struct inode *inode, struct file *file)
{
	virtz_handle_put(&virtz_wl);
	return 0;
}

static const struct file_operations virtz_wl_dev_fops = {
	.owner = THIS_MODULE,
	.open = virtz_wl_dev_open,
	.release = virtz_wl_dev_release,
	.llseek = noop_llseek,
};

static struct miscdevice virtz_wl_dev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VIRTZ_WL_DEV_NAME,
	.fops = &virtz_wl_dev_fops,
	.mode = 0600,
};

static int virtz_wl_get_info(struct sk_buff *skb, struct genl_info *info)
{
	return virtz_genl_get_info(&virtz_wl, info);
}

static int virtz_wl_set_log_level(struct sk_buff *skb, struct genl_info *info)
{
	return virtz_genl_set_log_level(&virtz_wl, info);
}

VIRTZ_DEFINE_COMMON_POLICY(virtz_wl_log_policy);

/*
 * GET_INFO takes no attributes (with no policy the core rejects any it is
 * sent); SET_LOG_LEVEL changes module state and needs CAP_NET_ADMIN.
 */
static const struct genl_ops virtz_wl_ops[] = {
	{
		.cmd = VIRTZ_COMMON_CMD_GET_INFO,
		.doit = virtz_wl_get_info,
	},
	{
		.cmd = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,
		.doit = virtz_wl_set_log_level,
		.policy = virtz_wl_log_policy,
		.maxattr = ARRAY_SIZE(virtz_wl_log_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family virtz_wl_family __ro_after_init = {
	.name = VIRTZ_WL_GENL_NAME,
	.version = VIRTZ_WL_GENL_VERSION,
	.maxattr = VIRTZ_WL_A_MAX,
	.module = THIS_MODULE,
	.ops = virtz_wl_ops,
	.n_ops = ARRAY_SIZE(virtz_wl_ops),
	.netnsok = true,
};

static int __init virtz_wl_init(void)
{
	return virtz_module_register(&virtz_wl, &virtz_wl_dev_misc);
}

static void __exit virtz_wl_exit(void)
{
	virtz_module_unregister(&virtz_wl, &virtz_wl_dev_misc);
}

module_init(virtz_wl_init);
module_exit(virtz_wl_exit);

MODULE_DESCRIPTION("virtz: virtio-wl Wayland bridging");
MODULE_AUTHOR("The virtz authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(VIRTZ_VERSION);
