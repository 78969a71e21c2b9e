/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * virtz_fvm: Fuchsia FVM volume manager for Linux.
 *
 * Generic netlink family "virtz_fvm"; described for ynl by
 * Documentation/netlink/specs/virtz_fvm.yaml.
 */
#ifndef _UAPI_LINUX_VIRTZ_FVM_H
#define _UAPI_LINUX_VIRTZ_FVM_H

#include <linux/virtz_common.h>

#define VIRTZ_FVM_GENL_NAME	"virtz_fvm"
#define VIRTZ_FVM_GENL_VERSION	1

/* Character device for block FIFO sessions. */
#define VIRTZ_BLOCK_DEV_NAME	"virtz-block"

/* VIRTZ_COMMON_A_FEATURES bits. */
#define VIRTZ_FVM_F_FORMAT_V1		(1ULL << 0)	/* FVM v1 metadata code */
#define VIRTZ_FVM_F_BLOCK_SESSIONS	(1ULL << 1)	/* /dev/virtz-block sessions */
#define VIRTZ_FVM_F_DM_TARGETS		(1ULL << 2)	/* dm fvm-pool and fvm */
#define VIRTZ_FVM_F_ALL			(VIRTZ_FVM_F_FORMAT_V1 |		\
					 VIRTZ_FVM_F_BLOCK_SESSIONS |	\
					 VIRTZ_FVM_F_DM_TARGETS)

enum {
	VIRTZ_FVM_CMD_GET_INFO = VIRTZ_COMMON_CMD_GET_INFO,
	VIRTZ_FVM_CMD_SET_LOG_LEVEL = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,

	__VIRTZ_FVM_CMD_MAX,
	VIRTZ_FVM_CMD_MAX = __VIRTZ_FVM_CMD_MAX - 1,
};

enum {
	VIRTZ_FVM_A_PAD = VIRTZ_COMMON_A_PAD,
	VIRTZ_FVM_A_VERSION = VIRTZ_COMMON_A_VERSION,
	VIRTZ_FVM_A_API_VERSION = VIRTZ_COMMON_A_API_VERSION,
	VIRTZ_FVM_A_FEATURES = VIRTZ_COMMON_A_FEATURES,
	VIRTZ_FVM_A_LOG_LEVEL = VIRTZ_COMMON_A_LOG_LEVEL,
	VIRTZ_FVM_A_HANDLES = VIRTZ_COMMON_A_HANDLES,

	__VIRTZ_FVM_A_MAX,
	VIRTZ_FVM_A_MAX = __VIRTZ_FVM_A_MAX - 1,
};

#endif /* _UAPI_LINUX_VIRTZ_FVM_H */
