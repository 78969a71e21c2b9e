// SPDX-License-Identifier: GPL-2.0
/*
 * virtzd's virtqueue parser against hostile rings: each way a guest can
 * lie (descriptor loop, address outside RAM, chain longer than allowed,
 * indirect descriptors not negotiated, hostile indirect tables, bad head,
 * runaway avail index, rings outside RAM) is refused, and a well-formed
 * chain, direct or through an indirect table, comes back exactly as
 * written.  With EVENT_IDX, the device asks for a kick only
 * once it finds the ring empty, and interrupts only when the used index
 * passes the driver's used_event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The harness uses setjmp/longjmp around each test: -Wclobbered noise. */
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "../../user/virtzd/virtq.h"

#define RAM	(2 * VIRTQ_MAX_BYTES)
#define QSZ	16
#define DESC	0x1000
#define AVAIL	0x2000
#define USED	0x3000

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

FIXTURE(vq) {
	struct guest_mem m;
	struct virtq q;
	struct desc *d;
	uint16_t *avail;
};

FIXTURE_SETUP(vq)
{
	self->m.base = calloc(1, RAM);
	self->m.size = RAM;
	memset(&self->q, 0, sizeof(self->q));
	self->q.size = QSZ;
	self->q.desc = DESC;
	self->q.avail = AVAIL;
	self->q.used = USED;
	self->q.enabled = true;
	self->d = (struct desc *)(self->m.base + DESC);
	self->avail = (uint16_t *)(self->m.base + AVAIL);
}

FIXTURE_TEARDOWN(vq)
{
	free(self->m.base);
}

/* Makes chain @head the next available entry. */
static void offer(struct _test_data_vq *self, uint16_t head)
{
	self->avail[2 + self->avail[1] % QSZ] = head;
	self->avail[1]++;
}

TEST_F(vq, good_chain_round_trip)
{
	struct virtq_elem e;
	uint32_t *used_len;

	strcpy((char *)self->m.base + 0x8000, "hello");
	self->d[3] = (struct desc){ 0x8000, 6, VIRTQ_DESC_F_NEXT, 5 };
	self->d[5] = (struct desc){ 0x9000, 100, VIRTQ_DESC_F_WRITE, 0 };
	offer(self, 3);
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(3, e.head);
	ASSERT_EQ(1, e.n_out);
	ASSERT_EQ(1, e.n_in);
	ASSERT_STREQ("hello", (char *)e.out[0].ptr);
	ASSERT_EQ(100U, e.in_bytes);
	ASSERT_EQ(0, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, e.head, 42));
	used_len = (uint32_t *)(self->m.base + USED + 8);
	ASSERT_EQ(42U, *used_len);
	ASSERT_EQ(1, *(uint16_t *)(self->m.base + USED + 2));
}

TEST_F(vq, descriptor_loop_refused)
{
	struct virtq_elem e;

	self->d[0] = (struct desc){ 0x8000, 8, VIRTQ_DESC_F_NEXT, 1 };
	self->d[1] = (struct desc){ 0x8000, 8, VIRTQ_DESC_F_NEXT, 0 };
	offer(self, 0);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
}

TEST_F(vq, address_outside_ram_refused)
{
	struct virtq_elem e;

	self->d[0] = (struct desc){ RAM - 4, 8, 0, 0 };
	offer(self, 0);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
	self->d[0] = (struct desc){ UINT64_MAX - 2, 8, 0, 0 };
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
}

TEST_F(vq, oversized_chain_refused)
{
	struct virtq_elem e;

	/* Within RAM and the ring, but one byte over the cap, each way. */
	self->d[0] = (struct desc){ 0, VIRTQ_MAX_BYTES, VIRTQ_DESC_F_NEXT, 1 };
	self->d[1] = (struct desc){ 0, 1, 0, 0 };
	offer(self, 0);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
	self->q.last_avail++;	/* a refused chain stays put: step over it */
	self->d[2] = (struct desc){ 0, VIRTQ_MAX_BYTES - 1, VIRTQ_DESC_F_WRITE |
				    VIRTQ_DESC_F_NEXT, 3 };
	self->d[3] = (struct desc){ 0, 2, VIRTQ_DESC_F_WRITE, 0 };
	offer(self, 2);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
	self->q.last_avail++;
	/* Exactly at the cap is fine. */
	self->d[4] = (struct desc){ 0, VIRTQ_MAX_BYTES - 16, VIRTQ_DESC_F_NEXT, 5 };
	self->d[5] = (struct desc){ 0, 16, 0, 0 };
	offer(self, 4);
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(VIRTQ_MAX_BYTES, e.out_bytes);
}

TEST_F(vq, too_many_segments_refused)
{
	struct virtq_elem e;
	struct desc *t = (struct desc *)(self->m.base + 0x10000);
	int i;

	/* A queue of 256 (its table ends where the avail ring starts). */
	self->q.size = 256;
	for (i = 0; i < VIRTQ_MAX_SEGS; i++)
		self->d[i] = (struct desc){ 0x8000 + 16 * i, 16,
					    VIRTQ_DESC_F_NEXT, i + 1 };
	self->d[VIRTQ_MAX_SEGS - 1].flags = 0;
	offer(self, 0);
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(VIRTQ_MAX_SEGS, e.n_out);
	/* A chain as long as the ring can only come back round: a loop. */
	self->d[VIRTQ_MAX_SEGS - 1] = (struct desc){ 0x8000, 16,
						     VIRTQ_DESC_F_NEXT, 0 };
	offer(self, 0);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
	self->q.last_avail++;

	/* An indirect table: VIRTQ_MAX_SEGS entries fit, one more does not. */
	self->q.indirect = true;
	for (i = 0; i < VIRTQ_MAX_SEGS + 1; i++)
		t[i] = (struct desc){ 0x8000 + 16 * i, 16, VIRTQ_DESC_F_NEXT,
				      i + 1 };
	t[VIRTQ_MAX_SEGS - 1].flags = 0;
	self->d[1] = (struct desc){ 0x10000, 16 * VIRTQ_MAX_SEGS,
				    VIRTQ_DESC_F_INDIRECT, 0 };
	offer(self, 1);
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(1, e.head);
	ASSERT_EQ(VIRTQ_MAX_SEGS, e.n_out);
	t[VIRTQ_MAX_SEGS - 1].flags = VIRTQ_DESC_F_NEXT;
	t[VIRTQ_MAX_SEGS].flags = 0;
	self->d[1].len = 16 * (VIRTQ_MAX_SEGS + 1);
	offer(self, 1);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
}

TEST_F(vq, indirect_not_negotiated_refused)
{
	struct virtq_elem e;

	self->d[0] = (struct desc){ 0x8000, 16, VIRTQ_DESC_F_INDIRECT, 0 };
	offer(self, 0);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
}

/* An indirect chain as Linux's virtio-blk writes one: header, data, status. */
TEST_F(vq, indirect_chain_round_trip)
{
	struct desc *t = (struct desc *)(self->m.base + 0x10008);
	struct virtq_elem e;

	self->q.indirect = true;
	strcpy((char *)self->m.base + 0x8000, "header");
	t[0] = (struct desc){ 0x8000, 7, VIRTQ_DESC_F_NEXT, 2 };
	t[2] = (struct desc){ 0x9000, 4096,
			      VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 };
	t[1] = (struct desc){ 0xa000, 1, VIRTQ_DESC_F_WRITE, 0 };
	/* The WRITE flag on the descriptor of the table itself is ignored. */
	self->d[5] = (struct desc){ 0x10008, 3 * 16,
				    VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE,
				    9 };
	offer(self, 5);
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(5, e.head);
	ASSERT_EQ(1, e.n_out);
	ASSERT_EQ(2, e.n_in);
	ASSERT_STREQ("header", (char *)e.out[0].ptr);
	ASSERT_EQ(self->m.base + 0x9000, e.in[0].ptr);
	ASSERT_EQ(self->m.base + 0xa000, e.in[1].ptr);
	ASSERT_EQ(4097U, e.in_bytes);
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, e.head, 4097));
}

TEST_F(vq, hostile_indirect_tables_refused)
{
	struct desc *t = (struct desc *)(self->m.base + 0x10000);
	struct virtq_elem e;
	struct {
		const char *what;
		struct desc ring;	/* descriptor 0 */
		struct desc tab[3];
	} bad[] = {
		{ "INDIRECT with NEXT",
		  { 0x10000, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1 },
		  { { 0x8000, 8, 0, 0 } } },
		{ "a table inside a table",
		  { 0x10000, 32, VIRTQ_DESC_F_INDIRECT, 0 },
		  { { 0x10000, 32, VIRTQ_DESC_F_INDIRECT, 0 } } },
		/* Found by the fuzzer: it looped for ever. */
		{ "a table that is the ring's own descriptor table",
		  { DESC, 32, VIRTQ_DESC_F_INDIRECT, 0 }, { { 0 } } },
		{ "a table of no descriptor",
		  { 0x10000, 0, VIRTQ_DESC_F_INDIRECT, 0 }, { { 0 } } },
		{ "a table of part of a descriptor",
		  { 0x10000, 24, VIRTQ_DESC_F_INDIRECT, 0 },
		  { { 0x8000, 8, 0, 0 } } },
		{ "a table outside RAM",
		  { RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0 }, { { 0 } } },
		{ "a table at a wrapping address",
		  { UINT64_MAX - 15, 32, VIRTQ_DESC_F_INDIRECT, 0 }, { { 0 } } },
		{ "a loop in the table",
		  { 0x10000, 48, VIRTQ_DESC_F_INDIRECT, 0 },
		  { { 0x8000, 8, VIRTQ_DESC_F_NEXT, 1 },
		    { 0x8000, 8, VIRTQ_DESC_F_NEXT, 0 } } },
		{ "next past the table",
		  { 0x10000, 32, VIRTQ_DESC_F_INDIRECT, 0 },
		  { { 0x8000, 8, VIRTQ_DESC_F_NEXT, 2 } } },
		{ "a segment outside RAM",
		  { 0x10000, 16, VIRTQ_DESC_F_INDIRECT, 0 },
		  { { RAM - 4, 8, 0, 0 } } },
		{ "readable after writable",
		  { 0x10000, 32, VIRTQ_DESC_F_INDIRECT, 0 },
		  { { 0x8000, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 },
		    { 0x8000, 8, 0, 0 } } },
	};
	size_t i;

	self->q.indirect = true;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(t, 0, 4 * sizeof(*t));
		memcpy(t, bad[i].tab, sizeof(bad[i].tab));
		self->d[0] = bad[i].ring;
		self->d[1] = (struct desc){ 0x8000, 8, 0, 0 };
		offer(self, 0);
		EXPECT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e))
			TH_LOG("%s", bad[i].what);
		self->q.last_avail = self->avail[1];
	}
	/* An indirect descriptor after a direct one is refused too. */
	t[0] = (struct desc){ 0x8000, 8, 0, 0 };
	self->d[0] = (struct desc){ 0x8000, 8, VIRTQ_DESC_F_NEXT, 1 };
	self->d[1] = (struct desc){ 0x10000, 16, VIRTQ_DESC_F_INDIRECT, 0 };
	offer(self, 0);
	EXPECT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
}

TEST_F(vq, bad_head_and_next_refused)
{
	struct virtq_elem e;

	offer(self, QSZ);
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
	self->avail[2] = 0;
	self->d[0] = (struct desc){ 0x8000, 8, VIRTQ_DESC_F_NEXT, QSZ + 3 };
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
}

TEST_F(vq, runaway_avail_index_refused)
{
	struct virtq_elem e;

	self->avail[1] = QSZ + 1;
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
}

TEST_F(vq, rings_outside_ram_refused)
{
	struct virtq_elem e;

	self->q.used = RAM - 8;
	ASSERT_EQ(-EINVAL, virtq_check(&self->m, &self->q));
	ASSERT_EQ(-EINVAL, virtq_pop(&self->m, &self->q, &e));
	self->q.used = USED;
	self->q.size = 3;	/* not a power of two */
	ASSERT_EQ(-EINVAL, virtq_check(&self->m, &self->q));
}

TEST_HARNESS_MAIN

/* The device's avail_event, in the used ring after its QSZ entries. */
static uint16_t avail_event(struct _test_data_vq *self)
{
	return *(uint16_t *)(self->m.base + USED + 4 + 8 * QSZ);
}

static void set_used_event(struct _test_data_vq *self, uint16_t v)
{
	*(uint16_t *)(self->m.base + AVAIL + 4 + 2 * QSZ) = v;
}

TEST_F(vq, event_idx_kick_requested_when_empty)
{
	struct virtq_elem e;
	int i;

	self->q.event_idx = true;
	*(uint16_t *)(self->m.base + USED + 4 + 8 * QSZ) = 0xbeef;
	for (i = 0; i < 3; i++) {
		self->d[i] = (struct desc){ 0x8000, 8, 0, 0 };
		offer(self, i);
	}
	/* Busy: chains are taken without asking for kicks. */
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(0xbeef, avail_event(self));
	ASSERT_EQ(1, virtq_pop(&self->m, &self->q, &e));
	/* Empty: the next chain (index 3) must be kicked. */
	ASSERT_EQ(0, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(3, avail_event(self));
	/* Without EVENT_IDX the device writes nothing there. */
	self->q.event_idx = false;
	*(uint16_t *)(self->m.base + USED + 4 + 8 * QSZ) = 0xbeef;
	ASSERT_EQ(0, virtq_pop(&self->m, &self->q, &e));
	ASSERT_EQ(0xbeef, avail_event(self));
}

TEST_F(vq, event_idx_interrupts_only_past_used_event)
{
	int i;

	self->q.event_idx = true;
	set_used_event(self, 0);
	/* The first check after a reset always signals. */
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));
	ASSERT_TRUE(virtq_need_signal(&self->m, &self->q));
	/* The driver has not re-armed (used_event still 0): quiet. */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));
		ASSERT_FALSE(virtq_need_signal(&self->m, &self->q));
	}
	/* It wants one when entry 5 is used (index goes 4 -> 5+). */
	set_used_event(self, 5);
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));	/* idx 5 */
	ASSERT_FALSE(virtq_need_signal(&self->m, &self->q));
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));	/* idx 6 */
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));	/* idx 7 */
	ASSERT_TRUE(virtq_need_signal(&self->m, &self->q));
	ASSERT_FALSE(virtq_need_signal(&self->m, &self->q));
	/* Across the 16-bit wrap too. */
	self->q.used_idx = 0xfffe;
	self->q.signalled_used = 0xfffe;
	set_used_event(self, 0xffff);
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));	/* 0xffff */
	ASSERT_FALSE(virtq_need_signal(&self->m, &self->q));
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));	/* 0 */
	ASSERT_TRUE(virtq_need_signal(&self->m, &self->q));
}

TEST_F(vq, no_interrupt_flag_without_event_idx)
{
	ASSERT_EQ(0, virtq_push(&self->m, &self->q, 0, 0));
	ASSERT_TRUE(virtq_need_signal(&self->m, &self->q));
	self->avail[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	ASSERT_FALSE(virtq_need_signal(&self->m, &self->q));
	self->avail[0] = 0;
	ASSERT_TRUE(virtq_need_signal(&self->m, &self->q));
}
