// SPDX-License-Identifier: GPL-2.0
/*
 * Device-mapper targets "fvm-pool" and "fvm": registration point, filled
 * in by the dm-fvm work.
 */
#include "virtz_fvm.h"

int virtz_fvm_dm_init(void)
{
	return 0;
}

void virtz_fvm_dm_exit(void)
{
}
