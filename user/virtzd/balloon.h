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
 * GetMemStats, in two halves so that nobody waits on the guest:
 * balloon_stats_ask() hands the guest its statistics buffer back (which
 * is how the device asks for fresh figures) and stores in *@seq the
 * report to wait past; 0, or -EIO with @err set when the device is
 * broken.  balloon_stats_fd() becomes readable (an eventfd: drain it)
 * whenever a report arrives.  balloon_stats_collect() then fills
 * tags[]/vals[] (BALLOON_NUM_TAGS each) from the newest report and
 * returns how many, -EAGAIN while none newer than @seq has come, or
 * -EIO with @err set.
 */
int balloon_stats_ask(struct balloon *b, uint64_t *seq, char *err,
		      size_t errlen);
int balloon_stats_fd(struct balloon *b);
int balloon_stats_collect(struct balloon *b, uint64_t seq, uint16_t *tags,
			  uint64_t *vals, char *err, size_t errlen);

#endif
