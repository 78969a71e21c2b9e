// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk request parsing against hostile chains: header too short,
 * no writable status byte, data in the wrong direction, sector ranges
 * that overflow or run past the end, lengths that are not whole sectors
 * or blocks, writes to a read-only disk, discard ranges that lie, unknown
 * types.  Each gets the answer the virtio spec wants (IOERR, UNSUPP, or a
 * broken device when nothing can be answered), and good requests of any
 * descriptor layout come back with their data exactly where it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "../../user/virtzd/blk_req.h"

#define SECTORS	2048	/* 1 MiB disk */

FIXTURE(req) {
	struct vblk_geom g;
	struct virtq_elem e;
	struct vblk_req r;
	uint8_t hdr[64], data[8192], status[4];
};

FIXTURE_SETUP(req)
{
	self->g = (struct vblk_geom){ .sectors = SECTORS, .block_size = 512,
				      .discard = true, .write_zeroes = true,
				      .wz_max_sectors = VBLK_MAX_RANGE_SECTORS,
				      .wz_max_seg = VBLK_MAX_RANGES };
	memset(&self->e, 0, sizeof(self->e));
	memset(self->status, 0x77, sizeof(self->status));
}

FIXTURE_TEARDOWN(req)
{
}

static void header(struct _test_data_req *self, uint32_t type, uint64_t sector)
{
	memset(self->hdr, 0, sizeof(self->hdr));
	memcpy(self->hdr, &type, 4);
	memcpy(self->hdr + 8, &sector, 8);
}

static void out(struct _test_data_req *self, uint8_t *p, uint32_t len)
{
	self->e.out[self->e.n_out++] = (struct virtq_seg){ p, len };
	self->e.out_bytes += len;
}

static void in(struct _test_data_req *self, uint8_t *p, uint32_t len)
{
	self->e.in[self->e.n_in++] = (struct virtq_seg){ p, len };
	self->e.in_bytes += len;
}

/* Linux's layout: header, data, status, each its own descriptor. */
static int simple(struct _test_data_req *self, uint32_t type, uint64_t sector,
		  uint32_t len)
{
	header(self, type, sector);
	out(self, self->hdr, 16);
	if (type == VIRTIO_BLK_T_OUT)
		out(self, self->data, len);
	else if (len)
		in(self, self->data, len);
	in(self, self->status, 1);
	return vblk_parse(&self->g, &self->e, &self->r);
}

TEST_F(req, good_read)
{
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 8, 4096));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ(8U, self->r.sector);
	ASSERT_EQ(4096U, self->r.len);
	ASSERT_EQ(1, self->r.niov);
	ASSERT_EQ((void *)self->data, (void *)self->r.iov[0].iov_base);
	ASSERT_EQ((void *)self->status, (void *)self->r.status_ptr);
	vblk_finish(&self->r, VIRTIO_BLK_S_OK);
	ASSERT_EQ(0, self->status[0]);
	ASSERT_EQ(4097U, self->r.written);
}

TEST_F(req, good_write_any_layout)
{
	/* Header and data in one descriptor, data and status in one. */
	header(self, VIRTIO_BLK_T_OUT, 2);
	memcpy(self->data, self->hdr, 16);
	memset(self->data + 16, 0xab, 1024);
	out(self, self->data, 16 + 512);
	out(self, self->data + 16 + 512, 512);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ(1024U, self->r.len);
	ASSERT_EQ(2, self->r.niov);
	ASSERT_EQ((void *)(self->data + 16), (void *)self->r.iov[0].iov_base);
	ASSERT_EQ(512U, self->r.iov[0].iov_len);
	vblk_finish(&self->r, VIRTIO_BLK_S_OK);
	ASSERT_EQ(1U, self->r.written);
}

TEST_F(req, read_data_and_status_share_a_descriptor)
{
	header(self, VIRTIO_BLK_T_IN, 0);
	out(self, self->hdr, 16);
	in(self, self->data, 513);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ(512U, self->r.len);
	ASSERT_EQ((void *)(self->data + 512), (void *)self->r.status_ptr);
}

TEST_F(req, header_split_across_descriptors)
{
	header(self, VIRTIO_BLK_T_IN, 77);
	out(self, self->hdr, 5);
	out(self, self->hdr + 5, 11);
	in(self, self->data, 512);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(77U, self->r.sector);
	ASSERT_EQ(VBLK_PENDING, self->r.status);
}

/* A request comes from malloc(): parsing leaves no stale error behind. */
TEST_F(req, parse_clears_the_backend_state)
{
	memset(&self->r, 0xa5, sizeof(self->r));
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 8, 512));
	ASSERT_EQ(0, self->r.err);
	ASSERT_EQ(0, self->r.pending_ops);
}

TEST_F(req, header_copied_once)
{
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 8, 512));
	/* The guest rewrites the header after the device looked. */
	memset(self->hdr, 0xff, 16);
	ASSERT_EQ(8U, self->r.sector);
	ASSERT_EQ((uint32_t)VIRTIO_BLK_T_IN, self->r.type);
}

TEST_F(req, header_too_short_is_ioerr)
{
	header(self, VIRTIO_BLK_T_IN, 0);
	out(self, self->hdr, 15);
	in(self, self->data, 512);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	ASSERT_EQ(0, self->r.niov);
	vblk_finish(&self->r, self->r.status);
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->status[0]);
	ASSERT_EQ(1U, self->r.written);
}

TEST_F(req, no_writable_status_cannot_be_answered)
{
	header(self, VIRTIO_BLK_T_IN, 0);
	out(self, self->hdr, 16);
	out(self, self->status, 1);
	ASSERT_EQ(-EINVAL, vblk_parse(&self->g, &self->e, &self->r));
	/* Only empty writable segments: no status byte either. */
	in(self, self->status, 0);
	ASSERT_EQ(-EINVAL, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(0x77, self->status[0]);
}

TEST_F(req, trailing_empty_segment_skipped)
{
	header(self, VIRTIO_BLK_T_FLUSH, 0);
	out(self, self->hdr, 16);
	in(self, self->status, 1);
	in(self, self->data, 0);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ((void *)self->status, (void *)self->r.status_ptr);
}

TEST_F(req, read_with_readable_data_is_ioerr)
{
	header(self, VIRTIO_BLK_T_IN, 0);
	out(self, self->hdr, 16);
	out(self, self->data, 512);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
}

TEST_F(req, write_with_writable_data_is_ioerr)
{
	header(self, VIRTIO_BLK_T_OUT, 0);
	out(self, self->hdr, 16);
	in(self, self->data, 512);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
}

TEST_F(req, sector_ranges)
{
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, SECTORS - 1, 512));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, SECTORS - 1, 1024));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_OUT, SECTORS, 512));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	/* sector + count wraps around 2^64. */
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, UINT64_MAX, 1024));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_OUT, UINT64_MAX / 512, 512));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
}

TEST_F(req, partial_sectors_and_blocks)
{
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 0, 511));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	self->g.block_size = 4096;
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 8, 4096));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 1, 4096));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_OUT, 8, 512));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
}

TEST_F(req, read_only_disk)
{
	self->g.ro = true;
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_OUT, 0, 512));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 0, 512));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
}

static void range(uint8_t *p, uint64_t sector, uint32_t n, uint32_t flags)
{
	memcpy(p, &sector, 8);
	memcpy(p + 8, &n, 4);
	memcpy(p + 12, &flags, 4);
}

/* A backend's own WRITE_ZEROES limits bind write zeroes, not discard. */
TEST_F(req, write_zeroes_limits)
{
	self->g.wz_max_sectors = 64;
	self->g.wz_max_seg = 1;
	header(self, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	range(self->data, 8, 64, 0);
	out(self, self->hdr, 16);
	out(self, self->data, 16);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ(64U, self->r.range[0].sectors);

	/* One sector more than max_write_zeroes_sectors: IOERR. */
	range(self->data, 8, 65, 0);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);

	/* Two ranges where max_write_zeroes_seg is 1: IOERR. */
	memset(&self->e, 0, sizeof(self->e));
	range(self->data, 8, 8, 0);
	range(self->data + 16, 100, 8, 0);
	out(self, self->hdr, 16);
	out(self, self->data, 32);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);

	/* The same two as a discard are within the discard limits. */
	header(self, VIRTIO_BLK_T_DISCARD, 0);
	range(self->data + 16, 100, 65, 0);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ(2, self->r.nrange);
}

TEST_F(req, discard_and_write_zeroes)
{
	header(self, VIRTIO_BLK_T_DISCARD, 0);
	range(self->data, 8, 16, 0);
	range(self->data + 16, 100, 8, 0);
	out(self, self->hdr, 16);
	out(self, self->data, 32);
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ(2, self->r.nrange);
	ASSERT_EQ(100U, self->r.range[1].sector);
	ASSERT_EQ(8U, self->r.range[1].sectors);

	/* Flags on a discard, unknown flags on write zeroes: UNSUPP. */
	range(self->data + 16, 100, 8, VBLK_WZ_UNMAP);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_UNSUPP, self->r.status);
	header(self, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	range(self->data + 16, 100, 8, 4);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_UNSUPP, self->r.status);

	/* Past the end, overflowing, empty: IOERR. */
	range(self->data + 16, SECTORS - 4, 8, 0);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	range(self->data + 16, UINT64_MAX - 2, 8, 0);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	range(self->data + 16, 0, 0, 0);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	ASSERT_EQ(0, self->r.nrange);

	/* Not offered: UNSUPP; read-only: IOERR. */
	range(self->data + 16, 0, 8, 0);
	self->g.write_zeroes = false;
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_UNSUPP, self->r.status);
	self->g.write_zeroes = true;
	self->g.ro = true;
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
}

TEST_F(req, discard_segment_count)
{
	int i;

	header(self, VIRTIO_BLK_T_DISCARD, 0);
	for (i = 0; i <= VBLK_MAX_RANGES; i++)
		range(self->data + 16 * i, i * 8, 8, 0);
	out(self, self->hdr, 16);
	out(self, self->data, 16 * (VBLK_MAX_RANGES + 1));
	in(self, self->status, 1);
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
	/* Not a whole number of ranges. */
	self->e.out[1].len = 20;
	self->e.out_bytes = 36;
	ASSERT_EQ(0, vblk_parse(&self->g, &self->e, &self->r));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
}

TEST_F(req, get_id_capped_at_20_bytes)
{
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_GET_ID, 0, 512));
	ASSERT_EQ(VBLK_PENDING, self->r.status);
	ASSERT_EQ(20U, self->r.len);
	vblk_finish(&self->r, VIRTIO_BLK_S_OK);
	ASSERT_EQ(21U, self->r.written);
}

TEST_F(req, unknown_type_unsupp)
{
	ASSERT_EQ(0, simple(self, 0x1234, 0, 0));
	ASSERT_EQ(VIRTIO_BLK_S_UNSUPP, self->r.status);
	memset(&self->e, 0, sizeof(self->e));
	/* A read with a ridiculous sector is a range error, not a crash. */
	ASSERT_EQ(0, simple(self, VIRTIO_BLK_T_IN, 1ULL << 62, 512));
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, self->r.status);
}

TEST_HARNESS_MAIN
