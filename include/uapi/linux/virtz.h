/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * virtz: Manager registry (environments, instances, CIDs) and vsock
 * bridging, in module virtz_vsock.
 *
 * Generic netlink family "virtz"; described for ynl by
 * Documentation/netlink/specs/virtz.yaml.
 */
#ifndef _UAPI_LINUX_VIRTZ_H
#define _UAPI_LINUX_VIRTZ_H

#include <linux/virtz_common.h>

#define VIRTZ_GENL_NAME		"virtz"
#define VIRTZ_GENL_VERSION	1

/* Character device a VMM holds for the lifetime of its instance. */
#define VIRTZ_VSOCK_DEV_NAME	"virtz-vsock"

/* Fuchsia's fuchsia.virtualization HOST_CID; guests start above it. */
#define VIRTZ_HOST_CID		2
#define VIRTZ_FIRST_GUEST_CID	3

/* Longest environment or instance label, with its NUL. */
#define VIRTZ_LABEL_MAX		128

/* VIRTZ_COMMON_A_FEATURES bits: none yet. */

enum {
	VIRTZ_CMD_GET_INFO = VIRTZ_COMMON_CMD_GET_INFO,
	VIRTZ_CMD_SET_LOG_LEVEL = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,
	/* Admin: create an environment (ENV_LABEL); replies with ENV_ID. */
	VIRTZ_CMD_ENV_NEW = VIRTZ_COMMON_CMD_FIRST_FAMILY,
	/* Admin: delete an empty environment (ENV_ID). */
	VIRTZ_CMD_ENV_DEL,
	/* Dump (anyone): each environment with its INSTANCE nests. */
	VIRTZ_CMD_ENV_GET,
	/*
	 * Admin: register the caller's instance (ENV_ID, INSTANCE_LABEL,
	 * DEV_FD = the caller's open /dev/virtz-vsock); replies with
	 * INSTANCE_CID.  The entry lives until that file is released.
	 */
	VIRTZ_CMD_INSTANCE_NEW,

	__VIRTZ_CMD_MAX,
	VIRTZ_CMD_MAX = __VIRTZ_CMD_MAX - 1,
};

enum {
	VIRTZ_A_PAD = VIRTZ_COMMON_A_PAD,
	VIRTZ_A_VERSION = VIRTZ_COMMON_A_VERSION,
	VIRTZ_A_API_VERSION = VIRTZ_COMMON_A_API_VERSION,
	VIRTZ_A_FEATURES = VIRTZ_COMMON_A_FEATURES,
	VIRTZ_A_LOG_LEVEL = VIRTZ_COMMON_A_LOG_LEVEL,
	VIRTZ_A_HANDLES = VIRTZ_COMMON_A_HANDLES,
	VIRTZ_A_ENV_ID = VIRTZ_COMMON_A_FIRST_FAMILY,	/* u32 */
	VIRTZ_A_ENV_LABEL,		/* string */
	VIRTZ_A_INSTANCE,		/* nest, repeated: VIRTZ_INSTANCE_A_* */
	VIRTZ_A_INSTANCE_LABEL,		/* string */
	VIRTZ_A_DEV_FD,			/* u32: a file descriptor of the caller */
	VIRTZ_A_INSTANCE_CID,		/* u32 */

	__VIRTZ_A_MAX,
	VIRTZ_A_MAX = __VIRTZ_A_MAX - 1,
};

/* Inside a VIRTZ_A_INSTANCE nest. */
enum {
	VIRTZ_INSTANCE_A_UNSPEC,
	VIRTZ_INSTANCE_A_CID,		/* u32 */
	VIRTZ_INSTANCE_A_LABEL,		/* string */
	VIRTZ_INSTANCE_A_PID,		/* u32: registering process (its tgid) */

	__VIRTZ_INSTANCE_A_MAX,
	VIRTZ_INSTANCE_A_MAX = __VIRTZ_INSTANCE_A_MAX - 1,
};

#endif /* _UAPI_LINUX_VIRTZ_H */
