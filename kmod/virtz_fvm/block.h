/* SPDX-License-Identifier: GPL-2.0 */
/* Block FIFO sessions: the /dev/virtz-block character device. */
#ifndef _VIRTZ_BLOCK_H
#define _VIRTZ_BLOCK_H

#include <linux/miscdevice.h>

extern struct miscdevice virtz_block_misc;

/* Module-wide setup of block sessions, before the device is registered. */
int virtz_block_init(void);
void virtz_block_exit(void);

#endif
