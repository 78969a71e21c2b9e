/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _VIRTZ_VERSION_H
#define _VIRTZ_VERSION_H

/* One version for the modules and the tools built from the same tree. */
#define VIRTZ_VERSION "0.1.0"

#endif
