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

/* VIRTZ_COMMON_A_FEATURES bits: none yet. */

enum {
	VIRTZ_CMD_GET_INFO = VIRTZ_COMMON_CMD_GET_INFO,
	VIRTZ_CMD_SET_LOG_LEVEL = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,

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

	__VIRTZ_A_MAX,
	VIRTZ_A_MAX = __VIRTZ_A_MAX - 1,
};

#endif /* _UAPI_LINUX_VIRTZ_H */
