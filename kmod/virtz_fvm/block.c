// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/virtz-block: block FIFO sessions.
 *
 * A handle on the device pins the module and is counted in GET_INFO.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/virtz_fvm.h>

#include "block.h"
#include "virtz_fvm.h"

static int virtz_block_open(struct inode *inode, struct file *file)
{
	virtz_handle_get(&virtz_fvm);
	return 0;
}

static int virtz_block_release(struct inode *inode, struct file *file)
{
	virtz_handle_put(&virtz_fvm);
	return 0;
}

static const struct file_operations virtz_block_fops = {
	.owner = THIS_MODULE,
	.open = virtz_block_open,
	.release = virtz_block_release,
	.llseek = noop_llseek,
};

struct miscdevice virtz_block_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VIRTZ_BLOCK_DEV_NAME,
	.fops = &virtz_block_fops,
	.mode = 0600,
};

int virtz_block_init(void)
{
	return 0;
}

void virtz_block_exit(void)
{
}
