// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for virtio-blk request parsing: a hostile guest's RAM
 * and ring go through virtq_pop() and then vblk_parse(), as in virtzd.
 * Every accepted request must keep its data inside guest RAM, carry data
 * only in the direction its type allows, stay inside the disk, and have
 * its status byte in a writable segment; ASan catches any access outside.
 *
 * Input layout: 1 byte disk flags (ro, discard, write_zeroes, 4 KiB
 * blocks), 4 bytes disk size in sectors, then guest RAM (64 KiB) whose
 * queue (size 16) sits at fixed addresses, zero-filled past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../user/virtzd/blk_req.h"

#define RAM_SIZE	(64 * 1024)
#define QSZ		16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const uint8_t *ram, const void *p, uint64_t len)
{
	const uint8_t *b = p;

	return b >= ram && b + len <= ram + RAM_SIZE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vblk_geom g = { 0 };
	struct guest_mem m;
	struct virtq q = { 0 };
	struct virtq_elem e;
	struct vblk_req *r;
	uint8_t *ram;
	int i, k, ret;

	if (size < 5)
		return 0;
	ram = calloc(1, RAM_SIZE);
	r = malloc(sizeof(*r));
	if (!ram || !r)
		abort();
	memcpy(ram, data + 5, size - 5 < RAM_SIZE ? size - 5 : RAM_SIZE);
	g.ro = data[0] & 1;
	g.discard = data[0] & 2;
	g.write_zeroes = data[0] & 4;
	/* The session backend's limits, or the defaults. */
	g.wz_max_sectors = data[0] & 16 ? 524288 : VBLK_MAX_RANGE_SECTORS;
	g.wz_max_seg = data[0] & 16 ? 1 : VBLK_MAX_RANGES;
	g.block_size = data[0] & 8 ? 4096 : 512;
	g.sectors = data[1] | data[2] << 8 | data[3] << 16 |
		    (uint64_t)data[4] << 24;
	m.base = ram;
	m.size = RAM_SIZE;
	q.size = QSZ;
	q.desc = 0;
	q.avail = 0x100;
	q.used = 0x200;
	q.enabled = true;

	for (i = 0; i < 2 * QSZ; i++) {
		ret = virtq_pop(&m, &q, &e);
		if (ret <= 0)
			break;
		if (vblk_parse(&g, &e, r))
			continue;
		if (!inside(ram, r->status_ptr, 1))
			abort();
		if (r->status == VBLK_PENDING) {
			uint64_t tot = 0;

			for (k = 0; k < r->niov; k++) {
				if (!inside(ram, r->iov[k].iov_base,
					    r->iov[k].iov_len))
					abort();
				tot += r->iov[k].iov_len;
			}
			if (tot != r->len)
				abort();
			if ((r->type == VIRTIO_BLK_T_IN ||
			     r->type == VIRTIO_BLK_T_OUT) &&
			    (r->len % g.block_size ||
			     r->sector + r->len / VBLK_SECTOR > g.sectors))
				abort();
			if (r->type == VIRTIO_BLK_T_OUT && g.ro)
				abort();
			for (k = 0; k < r->nrange; k++)
				if (r->range[k].sector + r->range[k].sectors >
				    g.sectors)
					abort();
			/* What the device would do: touch every byte. */
			for (k = 0; k < r->niov; k++)
				memset(r->iov[k].iov_base, 0xa5,
				       r->iov[k].iov_len);
		} else if (r->niov || r->nrange) {
			abort();
		}
		vblk_finish(r, r->status == VBLK_PENDING ?
			    VIRTIO_BLK_S_OK : r->status);
		virtq_push(&m, &q, e.head, r->written);
	}
	free(r);
	free(ram);
	return 0;
}
