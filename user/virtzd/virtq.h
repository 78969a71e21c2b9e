/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Split virtqueues (virtio 1.x, section 2.7), device side.
 *
 * Everything in a ring is written by the guest and is treated as
 * hostile: indices are bounded, every descriptor address range must lie
 * inside guest RAM, chains may not loop or exceed the queue size or
 * VIRTQ_MAX_SEGS.  An indirect table (VIRTIO_RING_F_INDIRECT_DESC, when
 * negotiated) is one more hostile array: it must lie in guest RAM, be
 * whole descriptors, at most VIRTQ_MAX_SEGS of them, and be the chain's
 * only descriptor in the ring; its chain may not loop, leave the table
 * or point at another table.
 * A malformed ring makes virtq_pop() fail; the device then marks itself
 * broken (DEVICE_NEEDS_RESET) and stops touching the queue.
 *
 * Kept free of KVM and threads so that a fuzzer can drive it.
 */
#ifndef VIRTZD_VIRTQ_H
#define VIRTZD_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTQ_MAX_SIZE	256
/* A Linux virtio-blk request of 254 data segments, header and status. */
#define VIRTQ_MAX_SEGS	256
#define VIRTQ_MAX_BYTES	(4U << 20)	/* per chain, each direction */

#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_AVAIL_F_NO_INTERRUPT	1

struct guest_mem {
	uint8_t *base;
	uint64_t size;
};

/* Host pointer to guest [gpa, gpa + len), or NULL if not all in RAM. */
static inline void *gm_ptr(const struct guest_mem *m, uint64_t gpa,
			   uint64_t len)
{
	if (gpa > m->size || len > m->size - gpa)
		return NULL;
	return m->base + gpa;
}

struct virtq {
	uint16_t size;		/* negotiated, power of two */
	bool enabled;
	/*
	 * VIRTIO_RING_F_EVENT_IDX negotiated: the device publishes in the
	 * used ring the avail index at which it wants the next kick, and
	 * the driver in the avail ring the used index at which it wants the
	 * next interrupt.
	 */
	bool event_idx;
	bool indirect;		/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint64_t desc, avail, used;	/* guest-physical ring addresses */
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t msix_vector;
	uint16_t signalled_used;	/* used_idx at the last signal check */
	bool signalled_valid;		/* false: the next check signals */
};

struct virtq_seg {
	uint8_t *ptr;
	uint32_t len;
};

/* One descriptor chain: readable segments first, then writable ones. */
struct virtq_elem {
	uint16_t head;
	int n_out, n_in;	/* device-readable, device-writable */
	struct virtq_seg out[VIRTQ_MAX_SEGS];
	struct virtq_seg in[VIRTQ_MAX_SEGS];
	uint32_t out_bytes, in_bytes;
};

/* Checks the ring addresses of an enabled queue; 0 or -EINVAL. */
int virtq_check(const struct guest_mem *m, const struct virtq *q);
/*
 * Takes the next available chain: 1 and @e filled, 0 when the ring is
 * empty, -EINVAL when the guest wrote something malformed.  With
 * event_idx, finding the ring empty re-arms the driver's notifications
 * (avail_event = last_avail): a device that pops until 0 is kicked for
 * the next chain, and not for the ones it finds while still popping.
 */
int virtq_pop(const struct guest_mem *m, struct virtq *q,
	      struct virtq_elem *e);
/* Returns chain @head to the guest with @len bytes written. */
int virtq_push(const struct guest_mem *m, struct virtq *q, uint16_t head,
	       uint32_t len);
/*
 * After virtq_push(): should the driver be interrupted?  With event_idx,
 * only when the used index passed the driver's used_event since the last
 * check; otherwise unless the driver set VRING_AVAIL_F_NO_INTERRUPT.
 * Whatever the guest wrote there, the worst it gets is interrupts it
 * asked not to get, or none it asked for.
 */
bool virtq_need_signal(const struct guest_mem *m, struct virtq *q);

#endif
