// SPDX-License-Identifier: GPL-2.0
/*
 * virtz_vsock: the Manager registry of environments and guest instances,
 * and the host side of virtio-vsock for virtz guests.
 *
 * This file holds module setup: the /dev/virtz-vsock character device a
 * VMM holds for the life of its instance, and the "virtz" generic netlink
 * family.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/virtz.h>

#include "virtz_core.h"

static struct genl_family virtz_family;

static struct virtz_module virtz_vsock = {
	.family = &virtz_family,
	.features = 0,
};

static int virtz_vsock_dev_open(struct inode *inode, struct file *file)
{
	virtz_handle_get(&virtz_vsock);
	return 0;
}

static int virtz_vsock_dev_release(struct inode *inode, struct file *file)
{
	virtz_handle_put(&virtz_vsock);
	return 0;
}

static const struct file_operations virtz_vsock_dev_fops = {
	.owner = THIS_MODULE,
	.open = virtz_vsock_dev_open,
	.release = virtz_vsock_dev_release,
	.llseek = noop_llseek,
};

static struct miscdevice virtz_vsock_dev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VIRTZ_VSOCK_DEV_NAME,
	.fops = &virtz_vsock_dev_fops,
	.mode = 0600,
};

static int virtz_vsock_get_info(struct sk_buff *skb, struct genl_info *info)
{
	return virtz_genl_get_info(&virtz_vsock, info);
}

static int virtz_vsock_set_log_level(struct sk_buff *skb, struct genl_info *info)
{
	return virtz_genl_set_log_level(&virtz_vsock, info);
}

VIRTZ_DEFINE_COMMON_POLICY(virtz_log_policy);

/*
 * GET_INFO takes no attributes (with no policy the core rejects any it is
 * sent); SET_LOG_LEVEL changes module state and needs CAP_NET_ADMIN.
 */
static const struct genl_ops virtz_ops[] = {
	{
		.cmd = VIRTZ_COMMON_CMD_GET_INFO,
		.doit = virtz_vsock_get_info,
	},
	{
		.cmd = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,
		.doit = virtz_vsock_set_log_level,
		.policy = virtz_log_policy,
		.maxattr = ARRAY_SIZE(virtz_log_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family virtz_family __ro_after_init = {
	.name = VIRTZ_GENL_NAME,
	.version = VIRTZ_GENL_VERSION,
	.maxattr = VIRTZ_A_MAX,
	.module = THIS_MODULE,
	.ops = virtz_ops,
	.n_ops = ARRAY_SIZE(virtz_ops),
	.netnsok = true,
};

static int __init virtz_vsock_init(void)
{
	return virtz_module_register(&virtz_vsock, &virtz_vsock_dev_misc);
}

static void __exit virtz_vsock_exit(void)
{
	virtz_module_unregister(&virtz_vsock, &virtz_vsock_dev_misc);
}

module_init(virtz_vsock_init);
module_exit(virtz_vsock_exit);

MODULE_DESCRIPTION("virtz: guest registry and vsock bridging");
MODULE_AUTHOR("The virtz authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(VIRTZ_VERSION);
