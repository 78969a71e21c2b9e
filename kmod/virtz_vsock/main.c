// SPDX-License-Identifier: GPL-2.0
/*
 * virtz_vsock: the Manager registry of environments and guest instances,
 * and the host side of virtio-vsock for virtz guests.
 *
 * This file holds module setup: the /dev/virtz-vsock character device a
 * VMM holds for the life of its instance, and the "virtz" generic netlink
 * family.  The registry itself is in registry.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/virtz.h>

#include "virtz_core.h"
#include "registry.h"

static struct virtz_module virtz_vsock = {
	.family = &virtz_family,
	.features = 0,
};

static int virtz_vsock_dev_open(struct inode *inode, struct file *file)
{
	struct virtz_vsock_file *vf;

	vf = kzalloc(sizeof(*vf), GFP_KERNEL);
	if (!vf)
		return -ENOMEM;
	file->private_data = vf;
	virtz_handle_get(&virtz_vsock);
	return 0;
}

static int virtz_vsock_dev_release(struct inode *inode, struct file *file)
{
	struct virtz_vsock_file *vf = file->private_data;

	virtz_registry_file_release(vf);
	kfree(vf);
	virtz_handle_put(&virtz_vsock);
	return 0;
}

const struct file_operations virtz_vsock_dev_fops = {
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

static const struct nla_policy virtz_env_new_policy[VIRTZ_A_ENV_LABEL + 1] = {
	[VIRTZ_A_ENV_LABEL] = { .type = NLA_NUL_STRING,
				.len = VIRTZ_LABEL_MAX - 1 },
};

static const struct nla_policy virtz_env_del_policy[VIRTZ_A_ENV_ID + 1] = {
	[VIRTZ_A_ENV_ID] = { .type = NLA_U32 },
};

static const struct nla_policy virtz_inst_new_policy[VIRTZ_A_DEV_FD + 1] = {
	[VIRTZ_A_ENV_ID] = { .type = NLA_U32 },
	[VIRTZ_A_INSTANCE_LABEL] = { .type = NLA_NUL_STRING,
				     .len = VIRTZ_LABEL_MAX - 1 },
	[VIRTZ_A_DEV_FD] = { .type = NLA_U32 },
};

/*
 * GET_INFO and the ENV_GET dump take no attributes (with no policy the
 * core rejects any it is sent) and are open to anyone; everything that
 * changes state needs CAP_NET_ADMIN.
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
	{
		.cmd = VIRTZ_CMD_ENV_NEW,
		.doit = virtz_registry_env_new,
		.policy = virtz_env_new_policy,
		.maxattr = ARRAY_SIZE(virtz_env_new_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VIRTZ_CMD_ENV_DEL,
		.doit = virtz_registry_env_del,
		.policy = virtz_env_del_policy,
		.maxattr = ARRAY_SIZE(virtz_env_del_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VIRTZ_CMD_ENV_GET,
		.dumpit = virtz_registry_env_dump,
	},
	{
		.cmd = VIRTZ_CMD_INSTANCE_NEW,
		.doit = virtz_registry_instance_new,
		.policy = virtz_inst_new_policy,
		.maxattr = ARRAY_SIZE(virtz_inst_new_policy) - 1,
		.flags = GENL_ADMIN_PERM,
	},
};

struct genl_family virtz_family __ro_after_init = {
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
	virtz_registry_exit();
}

module_init(virtz_vsock_init);
module_exit(virtz_vsock_exit);

MODULE_DESCRIPTION("virtz: guest registry and vsock bridging");
MODULE_AUTHOR("The virtz authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(VIRTZ_VERSION);
