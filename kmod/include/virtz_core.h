/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pieces every virtz module shares: the module-level state behind the
 * common netlink commands (see include/uapi/linux/virtz_common.h), and the
 * handle accounting of each module's character device.
 *
 * Small and header-only on purpose: each module is built on its own, and
 * these helpers are a few lines each.
 */
#ifndef _VIRTZ_CORE_H
#define _VIRTZ_CORE_H

#include <linux/atomic.h>
#include <linux/compiler.h>
#include <linux/miscdevice.h>
#include <linux/printk.h>
#include <net/genetlink.h>
#include <linux/virtz_common.h>

#include "virtz_compat.h"
#include "virtz_version.h"

struct virtz_module {
	struct genl_family *family;
	u64 features;
	/*
	 * Written only by VIRTZ_COMMON_CMD_SET_LOG_LEVEL, read anywhere:
	 * a plain word accessed with READ_ONCE/WRITE_ONCE, no lock needed.
	 */
	u32 log_level;
	/* Open files on the module's character device. */
	atomic_t handles;
};

/* Log at @level or chattier; level 0 messages always print. */
#define virtz_log(vm, level, fmt, ...)					\
	do {								\
		if (READ_ONCE((vm)->log_level) >= (level))		\
			pr_info(fmt, ##__VA_ARGS__);			\
	} while (0)

static inline int virtz_genl_get_info(struct virtz_module *vm,
				      struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	hdr = genlmsg_put_reply(msg, info, vm->family, 0,
				VIRTZ_COMMON_CMD_GET_INFO);
	if (!hdr)
		goto too_big;

	if (nla_put_string(msg, VIRTZ_COMMON_A_VERSION, VIRTZ_VERSION) ||
	    nla_put_u32(msg, VIRTZ_COMMON_A_API_VERSION, vm->family->version) ||
	    nla_put_u64_64bit(msg, VIRTZ_COMMON_A_FEATURES, vm->features,
			      VIRTZ_COMMON_A_PAD) ||
	    nla_put_u32(msg, VIRTZ_COMMON_A_LOG_LEVEL,
			READ_ONCE(vm->log_level)) ||
	    nla_put_u32(msg, VIRTZ_COMMON_A_HANDLES,
			atomic_read(&vm->handles)))
		goto too_big;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

too_big:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static inline int virtz_genl_set_log_level(struct virtz_module *vm,
					   struct genl_info *info)
{
	u32 level;

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_COMMON_A_LOG_LEVEL)) {
		GENL_SET_ERR_MSG(info, "the log-level attribute is required");
		return -EINVAL;
	}

	/* The op's policy has already bounded it to VIRTZ_LOG_LEVEL_MAX. */
	level = nla_get_u32(info->attrs[VIRTZ_COMMON_A_LOG_LEVEL]);
	WRITE_ONCE(vm->log_level, level);
	virtz_log(vm, 1, "log level set to %u\n", level);
	return 0;
}

/*
 * Policy for VIRTZ_COMMON_CMD_SET_LOG_LEVEL, shared by every family.
 * Defined by each module through VIRTZ_DEFINE_COMMON_POLICY() so that it
 * is one object per module rather than one per including file.
 */
#define VIRTZ_DEFINE_COMMON_POLICY(name)				\
	static const struct nla_policy name[VIRTZ_COMMON_A_LOG_LEVEL + 1] = { \
		[VIRTZ_COMMON_A_LOG_LEVEL] =				\
			NLA_POLICY_MAX(NLA_U32, VIRTZ_LOG_LEVEL_MAX),	\
	}

static inline void virtz_handle_get(struct virtz_module *vm)
{
	int n = atomic_inc_return(&vm->handles);

	virtz_log(vm, 2, "handle opened by pid %d, %d open\n",
		  task_tgid_nr(current), n);
}

static inline void virtz_handle_put(struct virtz_module *vm)
{
	int n = atomic_dec_return(&vm->handles);

	virtz_log(vm, 2, "handle closed, %d open\n", n);
}

/*
 * Registers the module's netlink family, then its character device, so
 * that by the time a handle can be opened the family that reports on it
 * exists.  Unwinds on failure.
 */
static inline int virtz_module_register(struct virtz_module *vm,
					struct miscdevice *misc)
{
	int err;

	err = genl_register_family(vm->family);
	if (err) {
		pr_err("cannot register genetlink family %s: %d\n",
		       vm->family->name, err);
		return err;
	}

	err = misc_register(misc);
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", misc->name, err);
		genl_unregister_family(vm->family);
		return err;
	}

	virtz_log(vm, 1, "version %s loaded\n", VIRTZ_VERSION);
	return 0;
}

static inline void virtz_module_unregister(struct virtz_module *vm,
					   struct miscdevice *misc)
{
	misc_deregister(misc);
	genl_unregister_family(vm->family);
}

#endif /* _VIRTZ_CORE_H */
