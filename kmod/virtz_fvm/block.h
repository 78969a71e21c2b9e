/* SPDX-License-Identifier: GPL-2.0 */
/* Block FIFO sessions: the /dev/virtz-block character device. */
#ifndef _VIRTZ_BLOCK_H
#define _VIRTZ_BLOCK_H

#include <linux/miscdevice.h>

extern struct miscdevice virtz_block_misc;

#endif
