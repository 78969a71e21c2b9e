// SPDX-License-Identifier: GPL-2.0
/* Split virtqueue parsing; see virtq.h for the trust model. */
#include <errno.h>
#include <string.h>

#include "virtq.h"

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint16_t rd16(const volatile void *p)
{
	uint16_t v;

	memcpy(&v, (const void *)p, sizeof(v));
	return v;
}

int virtq_check(const struct guest_mem *m, const struct virtq *q)
{
	if (!q->size || q->size > VIRTQ_MAX_SIZE || (q->size & (q->size - 1)))
		return -EINVAL;
	if ((q->desc & 15) || (q->avail & 1) || (q->used & 3))
		return -EINVAL;
	if (!gm_ptr(m, q->desc, 16ULL * q->size) ||
	    !gm_ptr(m, q->avail, 6 + 2ULL * q->size) ||
	    !gm_ptr(m, q->used, 6 + 8ULL * q->size))
		return -EINVAL;
	return 0;
}

int virtq_pop(const struct guest_mem *m, struct virtq *q,
	      struct virtq_elem *e)
{
	const uint8_t *avail, *descs, *table;
	uint16_t idx, i;
	int count, tsize;
	bool indirect = false;	/* in a table: flags, not addresses, say so */

	if (virtq_check(m, q))
		return -EINVAL;
	avail = gm_ptr(m, q->avail, 6 + 2ULL * q->size);
	descs = gm_ptr(m, q->desc, 16ULL * q->size);

	idx = rd16(avail + 2);
	if (idx == q->last_avail && q->event_idx) {
		uint8_t *used = gm_ptr(m, q->used, 6 + 8ULL * q->size);

		/*
		 * Ask for a kick at the next chain, then look again: the
		 * driver may have added one before it could see the request.
		 */
		memcpy(used + 4 + 8 * q->size, &q->last_avail, 2);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		idx = rd16(avail + 2);
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (idx == q->last_avail)
		return 0;
	/* More entries than the ring holds: the index is garbage. */
	if ((uint16_t)(idx - q->last_avail) > q->size)
		return -EINVAL;

	e->head = rd16(avail + 4 + 2 * (q->last_avail % q->size));
	if (e->head >= q->size)
		return -EINVAL;
	e->n_out = e->n_in = 0;
	e->out_bytes = e->in_bytes = 0;

	table = descs;
	tsize = q->size;
	i = e->head;
	for (count = 0;; count++) {
		struct vring_desc d;
		struct virtq_seg *s;

		/* A chain longer than its table must revisit a descriptor. */
		if (count >= tsize || count >= VIRTQ_MAX_SEGS)
			return -EINVAL;
		memcpy(&d, table + 16 * i, sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/*
			 * Only as the chain's only descriptor in the ring,
			 * never with NEXT, never inside a table (2.7.5.3):
			 * the chain goes on in the table, from entry 0.
			 */
			if (!q->indirect || indirect || count ||
			    (d.flags & VIRTQ_DESC_F_NEXT) || !d.len ||
			    d.len % 16 || d.len / 16 > VIRTQ_MAX_SEGS)
				return -EINVAL;
			table = gm_ptr(m, d.addr, d.len);
			if (!table)
				return -EINVAL;
			tsize = d.len / 16;
			indirect = true;
			i = 0;
			count = -1;	/* the table's entries count from 0 */
			continue;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			if (e->in_bytes + (uint64_t)d.len > VIRTQ_MAX_BYTES)
				return -EINVAL;
			s = &e->in[e->n_in++];
			e->in_bytes += d.len;
		} else {
			/* Readable after writable breaks the chain's layout. */
			if (e->n_in ||
			    e->out_bytes + (uint64_t)d.len > VIRTQ_MAX_BYTES)
				return -EINVAL;
			s = &e->out[e->n_out++];
			e->out_bytes += d.len;
		}
		s->ptr = gm_ptr(m, d.addr, d.len);
		s->len = d.len;
		if (!s->ptr)
			return -EINVAL;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= tsize)
			return -EINVAL;
		i = d.next;
	}
	q->last_avail++;
	return 1;
}

int virtq_push(const struct guest_mem *m, struct virtq *q, uint16_t head,
	       uint32_t len)
{
	uint8_t *used = gm_ptr(m, q->used, 6 + 8ULL * q->size);
	uint32_t id = head;
	uint16_t next;

	if (!used || virtq_check(m, q))
		return -EINVAL;
	memcpy(used + 4 + 8 * (q->used_idx % q->size), &id, 4);
	memcpy(used + 8 + 8 * (q->used_idx % q->size), &len, 4);
	/* The element must be visible before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	next = ++q->used_idx;
	memcpy(used + 2, &next, 2);
	return 0;
}

bool virtq_need_signal(const struct guest_mem *m, struct virtq *q)
{
	const uint8_t *avail = gm_ptr(m, q->avail, 6 + 2ULL * q->size);
	uint16_t old = q->signalled_used, now = q->used_idx, event;
	bool valid = q->signalled_valid;

	if (!avail || virtq_check(m, q))
		return false;
	/* The used index is published before the driver's wishes are read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(rd16(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	q->signalled_used = now;
	q->signalled_valid = true;
	if (!valid)
		return true;
	event = rd16(avail + 4 + 2 * q->size);
	/* Did the index pass event on its way from old to now? */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}
