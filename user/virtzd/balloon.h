/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-balloon (device id 5) with the statistics queue: Fuchsia's
 * BalloonController.  Inflated pages are punched out of the guest RAM
 * memfd, so the host really gets them back.
 */
#ifndef VIRTZD_BALLOON_H
#define VIRTZD_BALLOON_H

#include <stdint.h>

#include "vm.h"

#define BALLOON_NUM_TAGS	16

struct balloon;

struct balloon *balloon_create(struct vm *vm);
/* GetNumPages: the guest's 'actual'. */
uint32_t balloon_actual(struct balloon *b);
/* RequestNumPages: 0, or -EINVAL with @err set. */
int balloon_request(struct balloon *b, uint32_t pages, char *err,
		    size_t errlen);
/*
 * GetMemStats: asks the guest for fresh statistics and waits up to
 * @timeout_ms.  Fills tags[]/vals[] and returns how many, or -errno with
 * @err set.
 */
int balloon_stats(struct balloon *b, uint16_t *tags, uint64_t *vals,
		  int timeout_ms, char *err, size_t errlen);

#endif
