/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Manager registry: environments (Fuchsia's Realms) and the guest
 * instances running in them, each with a system-wide unique CID.
 */
#ifndef _VIRTZ_VSOCK_REGISTRY_H
#define _VIRTZ_VSOCK_REGISTRY_H

#include <linux/fs.h>
#include <net/genetlink.h>

struct virtz_instance;

/* Per open /dev/virtz-vsock file: the instance it registered, if any. */
struct virtz_vsock_file {
	struct virtz_instance *inst;	/* under the registry lock */
};

int virtz_registry_env_new(struct sk_buff *skb, struct genl_info *info);
int virtz_registry_env_del(struct sk_buff *skb, struct genl_info *info);
int virtz_registry_env_dump(struct sk_buff *skb, struct netlink_callback *cb);
int virtz_registry_instance_new(struct sk_buff *skb, struct genl_info *info);

/* Drops the file's instance: called from the device's release(). */
void virtz_registry_file_release(struct virtz_vsock_file *vf);
/* Frees every environment at module exit (no instance can remain). */
void virtz_registry_exit(void);

/* Set by main.c: how registry.c recognises a /dev/virtz-vsock file. */
extern const struct file_operations virtz_vsock_dev_fops;
extern struct genl_family virtz_family;

#endif
