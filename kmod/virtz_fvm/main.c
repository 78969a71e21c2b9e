// SPDX-License-Identifier: GPL-2.0
/*
 * virtz_fvm: Fuchsia FVM volumes on Linux, as device-mapper targets, and
 * Fuchsia's block FIFO protocol for any block device through
 * /dev/virtz-block.
 *
 * This file only sequences module setup: the device-mapper targets
 * (dm.c), block sessions (block.c), then the netlink family (genl.c) and
 * the control device, which make the module reachable from userspace and
 * so come last.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/virtz_fvm.h>

#include "block.h"
#include "virtz_fvm.h"

struct virtz_module virtz_fvm = {
	.family = &virtz_fvm_family,
	.features = VIRTZ_FVM_F_FORMAT_V1,
};

static int __init virtz_fvm_init(void)
{
	int err;

	err = virtz_fvm_dm_init();
	if (err)
		return err;

	err = virtz_block_init();
	if (err)
		goto err_dm;

	err = virtz_module_register(&virtz_fvm, &virtz_block_misc);
	if (err)
		goto err_block;

	return 0;

err_block:
	virtz_block_exit();
err_dm:
	virtz_fvm_dm_exit();
	return err;
}

static void __exit virtz_fvm_exit(void)
{
	virtz_module_unregister(&virtz_fvm, &virtz_block_misc);
	virtz_block_exit();
	virtz_fvm_dm_exit();
}

module_init(virtz_fvm_init);
module_exit(virtz_fvm_exit);

MODULE_DESCRIPTION("virtz: Fuchsia FVM volumes and block FIFO sessions");
MODULE_AUTHOR("The virtz authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(VIRTZ_VERSION);
