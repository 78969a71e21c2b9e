/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Numbers shared by every virtz generic netlink family.
 *
 * Each family ("virtz_fvm", "virtz", "virtz_wl") starts its command and
 * attribute spaces with the same module-level entries, so one piece of
 * code in the kernel and one in userspace handle them for all three.
 * Family-specific entries follow at VIRTZ_COMMON_CMD_FIRST_FAMILY and
 * VIRTZ_COMMON_A_FIRST_FAMILY.
 */
#ifndef _UAPI_LINUX_VIRTZ_COMMON_H
#define _UAPI_LINUX_VIRTZ_COMMON_H

/* Commands every family answers. */
enum {
	VIRTZ_COMMON_CMD_UNSPEC,
	/* Module version, API version, feature bits, log level, handles. */
	VIRTZ_COMMON_CMD_GET_INFO,
	/* Admin only: set VIRTZ_COMMON_A_LOG_LEVEL. */
	VIRTZ_COMMON_CMD_SET_LOG_LEVEL,

	VIRTZ_COMMON_CMD_FIRST_FAMILY,
};

/* Attributes every family starts with. */
enum {
	VIRTZ_COMMON_A_UNSPEC,
	VIRTZ_COMMON_A_PAD,
	VIRTZ_COMMON_A_VERSION,	/* string: module version */
	VIRTZ_COMMON_A_API_VERSION,	/* u32: the family's genl version */
	VIRTZ_COMMON_A_FEATURES,	/* u64: family-specific feature bits */
	VIRTZ_COMMON_A_LOG_LEVEL,	/* u32: 0 quiet .. VIRTZ_LOG_LEVEL_MAX chatty */
	VIRTZ_COMMON_A_HANDLES,	/* u32: open handles on the module's char device */

	VIRTZ_COMMON_A_FIRST_FAMILY,
};

#define VIRTZ_LOG_LEVEL_MAX	3

#endif /* _UAPI_LINUX_VIRTZ_COMMON_H */
