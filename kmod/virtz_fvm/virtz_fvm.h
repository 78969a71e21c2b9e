/* SPDX-License-Identifier: GPL-2.0 */
/* virtz_fvm internals shared between the module's files. */
#ifndef _VIRTZ_FVM_INTERNAL_H
#define _VIRTZ_FVM_INTERNAL_H

#include "virtz_core.h"

/* Module-level state behind the common netlink commands (main.c). */
extern struct virtz_module virtz_fvm;

/* The "virtz_fvm" netlink family (genl.c). */
extern struct genl_family virtz_fvm_family;

/* Device-mapper targets (dm.c). */
int virtz_fvm_dm_init(void);
void virtz_fvm_dm_exit(void);

#endif
