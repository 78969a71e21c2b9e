/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version-specific construct virtz uses lives here, so that
 * supporting another kernel (Debian's 6.1, say) is a change to this file
 * alone.  The rest of the code calls the virtz_* names below.
 */
/*
 * scripts/lint.sh exempts this file, and only this file, from checkpatch's
 * LINUX_VERSION_CODE warnings: version tests belong here and nowhere else.
 */
#ifndef _VIRTZ_COMPAT_H
#define _VIRTZ_COMPAT_H

#include <linux/version.h>
#include <linux/fs.h>
#include <linux/blkdev.h>
#include <linux/netlink.h>

/*
 * Block device behind an open file: file_bdev() appeared in 6.9, before
 * which the inode of a block special file led to it.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
static inline struct block_device *virtz_file_bdev(struct file *file)
{
	return file_bdev(file);
}
#else
static inline struct block_device *virtz_file_bdev(struct file *file)
{
	return I_BDEV(file->f_mapping->host);
}
#endif

/*
 * An extack message chosen at run time among static strings (not a
 * literal, which NL_SET_ERR_MSG wants).  NL_SET_ERR_MSG_FMT appeared in
 * 6.2; before it, the static string can be pointed at directly.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
static inline void virtz_extack_msg(struct netlink_ext_ack *extack,
				    const char *msg)
{
	NL_SET_ERR_MSG_FMT(extack, "%s", msg);
}
#else
static inline void virtz_extack_msg(struct netlink_ext_ack *extack,
				    const char *msg)
{
	if (extack)
		extack->_msg = msg;
}
#endif

#endif /* _VIRTZ_COMPAT_H */
