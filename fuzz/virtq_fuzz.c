// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for virtzd's split-virtqueue parser: the input is a
 * guest's RAM (64 KiB) and a queue configuration, as hostile as the
 * fuzzer likes.  Every chain virtq_pop() accepts must lie inside guest
 * RAM (checked segment by segment), respect the segment and byte caps,
 * and be returned with virtq_push(); ASan catches any access outside.
 *
 * Input layout: 2 bytes queue size (bit 0: EVENT_IDX, bit 15:
 * INDIRECT_DESC negotiated), 3 x 4 bytes desc/avail/used offsets,
 * 2 bytes starting avail index, then guest RAM (zero-filled past the end).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../user/virtzd/virtq.h"

#define RAM_SIZE	(64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem m;
	struct virtq q = { 0 };
	struct virtq_elem e;
	uint8_t *ram;
	int i, s, ret;

	if (size < 16)
		return 0;
	/* Exactly RAM_SIZE bytes, so ASan flags any byte beyond it. */
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data + 16, size - 16 < RAM_SIZE ? size - 16 : RAM_SIZE);
	m.base = ram;
	m.size = RAM_SIZE;

	q.size = data[0] | data[1] << 8;
	q.desc = rd32(data + 2);
	q.avail = rd32(data + 6);
	q.used = rd32(data + 10);
	q.last_avail = data[14] | data[15] << 8;
	q.enabled = true;
	/*
	 * The size is a power of two up to 256: its low bit and its top
	 * bit are free to pick the ring features.
	 */
	q.event_idx = data[0] & 1;
	q.indirect = data[1] & 0x80;
	q.size &= 0x7ffe;

	for (i = 0; i < 2 * VIRTQ_MAX_SIZE; i++) {
		ret = virtq_pop(&m, &q, &e);
		if (ret <= 0)
			break;
		if (e.head >= q.size || e.n_out + e.n_in > VIRTQ_MAX_SEGS ||
		    e.out_bytes > VIRTQ_MAX_BYTES || e.in_bytes > VIRTQ_MAX_BYTES)
			abort();
		for (s = 0; s < e.n_out; s++)
			if (e.out[s].ptr < ram ||
			    e.out[s].ptr + e.out[s].len > ram + RAM_SIZE)
				abort();
		for (s = 0; s < e.n_in; s++) {
			if (e.in[s].ptr < ram ||
			    e.in[s].ptr + e.in[s].len > ram + RAM_SIZE)
				abort();
			/* A device writes what it was given: touch it all. */
			memset(e.in[s].ptr, 0xa5, e.in[s].len);
		}
		if (virtq_push(&m, &q, e.head, e.in_bytes))
			break;
		virtq_need_signal(&m, &q);
	}
	free(ram);
	return 0;
}
