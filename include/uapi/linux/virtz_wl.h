/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * virtz_wl: virtio-wl (Wayland) bridging.
 *
 * Generic netlink family "virtz_wl"; described for ynl by
 * Documentation/netlink/specs/virtz_wl.yaml.
 */
#ifndef _UAPI_LINUX_VIRTZ_WL_H
#define _UAPI_LINUX_VIRTZ_WL_H

#include <linux/virtz_common.h>

#define VIRTZ_WL_GENL_NAME	"virtz_wl"
#define VIRTZ_WL_GENL_VERSION	1

#define VIRTZ_WL_DEV_NAME	"virtz-wl"

/* VIRTZ_COMMON_A_FEATURES bits: none yet. */

enum {
	VIRTZ_WL_CMD_GET_INFO = VIRTZ_COMMON_CMD_GET_INFO,
	VIRTZ_WL_CMD_SET_LOG_LEVEL = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,

	__VIRTZ_WL_CMD_MAX,
	VIRTZ_WL_CMD_MAX = __VIRTZ_WL_CMD_MAX - 1,
};

enum {
	VIRTZ_WL_A_PAD = VIRTZ_COMMON_A_PAD,
	VIRTZ_WL_A_VERSION = VIRTZ_COMMON_A_VERSION,
	VIRTZ_WL_A_API_VERSION = VIRTZ_COMMON_A_API_VERSION,
	VIRTZ_WL_A_FEATURES = VIRTZ_COMMON_A_FEATURES,
	VIRTZ_WL_A_LOG_LEVEL = VIRTZ_COMMON_A_LOG_LEVEL,
	VIRTZ_WL_A_HANDLES = VIRTZ_COMMON_A_HANDLES,

	__VIRTZ_WL_A_MAX,
	VIRTZ_WL_A_MAX = __VIRTZ_WL_A_MAX - 1,
};

#endif /* _UAPI_LINUX_VIRTZ_WL_H */
