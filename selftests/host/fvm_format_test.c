// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests for the shared FVM format library
 * (kmod/virtz_fvm/fvm_format.c).  Images are built in memory.
 *
 * Each test names the rule it pins down; each was checked to fail when
 * that rule is broken in the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The harness defines non-static helpers and compares its operands as
 * given; neither is worth a warning in a test file.
 */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"

#include "../../kmod/virtz_fvm/fvm_format.h"

#define MiB (1ULL << 20)

/* An in-memory device: both metadata copies and nothing else. */
struct img {
	u8 *buf;
	u64 alloc;	/* metadata_allocated */
	u64 dev;	/* simulated device size */
};

static const u8 type_a[FVM_GUID_LEN] = { 0xa0, 1, 2, 3, 4, 5, 6, 7,
					 8, 9, 10, 11, 12, 13, 14, 15 };
static const u8 guid_1[FVM_GUID_LEN] = { 1, 1, 1, 1, 1, 1, 1, 1,
					 1, 1, 1, 1, 1, 1, 1, 1 };
static const u8 guid_2[FVM_GUID_LEN] = { 2, 2, 2, 2, 2, 2, 2, 2,
					 2, 2, 2, 2, 2, 2, 2, 2 };
static const u8 guid_3[FVM_GUID_LEN] = { 3, 3, 3, 3, 3, 3, 3, 3,
					 3, 3, 3, 3, 3, 3, 3, 3 };

static u8 *copy_of(struct img *im, enum fvm_copy c)
{
	return im->buf + (c == FVM_COPY_A ? 0 : im->alloc);
}

/* Writes m into one copy of im (hashed, as a commit would). */
static int img_write(struct img *im, const struct fvm_meta *m,
		     enum fvm_copy c)
{
	return fvm_meta_serialize(m, copy_of(im, c), im->alloc);
}

/* A fresh image; both copies identical with generation 0, like create. */
static struct fvm_meta *img_new(struct img *im, u64 dev, u64 max, u64 slice)
{
	struct fvm_meta *m = NULL;

	if (fvm_meta_create(dev, max, slice, &m, NULL))
		return NULL;
	im->alloc = fvm_metadata_allocated(&m->hdr);
	im->dev = dev;
	im->buf = calloc(1, 2 * im->alloc);
	if (!im->buf || img_write(im, m, FVM_COPY_A) ||
	    img_write(im, m, FVM_COPY_B)) {
		fvm_meta_free(m);
		return NULL;
	}
	return m;
}

static int img_parse_blk(struct img *im, u32 blk, struct fvm_meta **m,
			 struct fvm_parse_report *rep, const char **why)
{
	u64 alloc;
	int ret;

	ret = fvm_locate_copies(im->buf, FVM_BLOCK_SIZE, &alloc, why);
	if (ret)
		return ret;
	if (alloc != im->alloc)
		return -EUCLEAN;
	return fvm_meta_parse(im->buf, im->buf + im->alloc, im->alloc,
			      im->dev, blk, m, rep, why);
}

static int img_parse(struct img *im, struct fvm_meta **m,
		     struct fvm_parse_report *rep, const char **why)
{
	return img_parse_blk(im, 512, m, rep, why);
}

/* Rewrites a copy's header field by field and fixes its hash. */
static void set_hdr(struct img *im, enum fvm_copy c,
		    void (*edit)(struct fvm_header *h, u64 arg), u64 arg)
{
	u8 *b = copy_of(im, c);
	struct fvm_header h;
	u64 used;

	fvm_header_decode(b, &h);
	edit(&h, arg);
	fvm_header_encode(&h, b);
	used = fvm_metadata_used(&h);
	/* Nonsense sizes cannot be hashed; the validity check fires first. */
	if (h.pslice_count <= FVM_MAX_VSLICES && used <= im->alloc &&
	    fvm_hash_compute(b, used, h.hash) == 0)
		memcpy(b + FVM_HASH_OFFSET, h.hash, FVM_HASH_LEN);
}

static void ed_gen(struct fvm_header *h, u64 v) { h->generation = v; }
static void ed_magic(struct fvm_header *h, u64 v) { h->magic = v; }
static void ed_major(struct fvm_header *h, u64 v) { h->major_version = v; }
static void ed_pslices(struct fvm_header *h, u64 v) { h->pslice_count = v; }
static void ed_slice(struct fvm_header *h, u64 v) { h->slice_size = v; }
static void ed_fvmsize(struct fvm_header *h, u64 v) { h->fvm_partition_size = v; }
static void ed_vptable(struct fvm_header *h, u64 v) { h->vpartition_table_size = v; }
static void ed_atable(struct fvm_header *h, u64 v) { h->allocation_table_size = v; }

/* Standard image: 64 MiB device, 1 MiB slices, table sized for 64 MiB. */
FIXTURE(img) {
	struct img im;
	struct fvm_meta *m;
};

FIXTURE_SETUP(img)
{
	self->m = img_new(&self->im, 64 * MiB, 64 * MiB, 1 * MiB);
	ASSERT_NE(NULL, self->m);
}

FIXTURE_TEARDOWN(img)
{
	fvm_meta_free(self->m);
	free(self->im.buf);
}

/* ---- layout ------------------------------------------------------------- */

/* Fuchsia's FromGrowableDiskSize arithmetic and the fixed offsets. */
TEST_F(img, create_layout)
{
	struct fvm_header *h = &self->m->hdr;

	ASSERT_EQ(FVM_MAGIC, h->magic);
	ASSERT_EQ(0x54524150204d5646ULL, h->magic);
	ASSERT_EQ(0, memcmp(self->im.buf, "FVM PART", 8));
	ASSERT_EQ(1, h->major_version);
	ASSERT_EQ(1, h->oldest_minor_version);
	ASSERT_EQ(0, h->generation);
	ASSERT_EQ(65536, h->vpartition_table_size);
	/* 64 slices + entry 0 -> 520 bytes -> one block. */
	ASSERT_EQ(8192, h->allocation_table_size);
	ASSERT_EQ(8192 + 65536 + 8192, fvm_metadata_allocated(h));
	ASSERT_EQ(0, fvm_copy_offset(h, FVM_COPY_A));
	ASSERT_EQ(81920, fvm_copy_offset(h, FVM_COPY_B));
	ASSERT_EQ(163840, fvm_data_start(h));
	ASSERT_EQ((64 * MiB - 163840) / MiB, h->pslice_count);
	ASSERT_EQ(163840 + h->pslice_count * MiB, h->fvm_partition_size);
	ASSERT_EQ(163840, fvm_pslice_offset(h, 1));
	ASSERT_EQ(163840 + 2 * MiB, fvm_pslice_offset(h, 3));
	/* Both copies identical at create. */
	ASSERT_EQ(0, memcmp(self->im.buf, self->im.buf + self->im.alloc,
			    self->im.alloc));
}

TEST(create_rejects)
{
	struct fvm_meta *m = NULL;

	ASSERT_EQ(-EINVAL, fvm_meta_create(64 * MiB, 64 * MiB, 4096, &m, NULL));
	ASSERT_EQ(-EINVAL, fvm_meta_create(64 * MiB, 64 * MiB, 0, &m, NULL));
	ASSERT_EQ(-EINVAL, fvm_meta_create(64 * MiB, 32 * MiB, MiB, &m, NULL));
	ASSERT_EQ(-ENOSPC, fvm_meta_create(100 * 1024, 100 * 1024, 8192, &m,
					   NULL));
	/* 2^40 / 8 KiB slices = 2^27 entries = 1 GiB of table: over limit. */
	ASSERT_EQ(-EFBIG, fvm_meta_create(1ULL << 40, 1ULL << 40, 8192, &m,
					  NULL));
}

/* ---- copy choice ------------------------------------------------------- */

TEST_F(img, pick_newer_generation)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	set_hdr(&self->im, FVM_COPY_B, ed_gen, 6);
	set_hdr(&self->im, FVM_COPY_A, ed_gen, 5);
	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(FVM_COPY_B, m->active);
	ASSERT_EQ(6, m->hdr.generation);
	fvm_meta_free(m);

	set_hdr(&self->im, FVM_COPY_A, ed_gen, 7);
	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	ASSERT_EQ(7, m->hdr.generation);
	fvm_meta_free(m);
}

TEST_F(img, pick_equal_generation_is_a)
{
	struct fvm_meta *m;

	set_hdr(&self->im, FVM_COPY_A, ed_gen, 9);
	set_hdr(&self->im, FVM_COPY_B, ed_gen, 9);
	ASSERT_EQ(0, img_parse(&self->im, &m, NULL, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	fvm_meta_free(m);
}

TEST_F(img, pick_only_valid_copy)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	/* B newer but corrupt: A wins. */
	set_hdr(&self->im, FVM_COPY_B, ed_gen, 100);
	copy_of(&self->im, FVM_COPY_B)[FVM_PART_TABLE_OFFSET + 70] ^= 1;
	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	ASSERT_EQ(0, rep.copy[0].err);
	ASSERT_EQ(-EUCLEAN, rep.copy[1].err);
	ASSERT_STREQ("metadata hash mismatch", rep.copy[1].why);
	fvm_meta_free(m);

	/* Now A corrupt too, B repaired and older than A was: B wins. */
	copy_of(&self->im, FVM_COPY_B)[FVM_PART_TABLE_OFFSET + 70] ^= 1;
	set_hdr(&self->im, FVM_COPY_A, ed_gen, 200);
	copy_of(&self->im, FVM_COPY_A)[FVM_ALLOC_TABLE_OFFSET + 8] ^= 4;
	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(FVM_COPY_B, m->active);
	ASSERT_EQ(100, m->hdr.generation);
	ASSERT_EQ(-EUCLEAN, rep.copy[0].err);
	fvm_meta_free(m);

	/* Neither valid. */
	copy_of(&self->im, FVM_COPY_B)[100] ^= 1;
	m = NULL;
	ASSERT_EQ(-EUCLEAN, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(NULL, m);
	ASSERT_NE(0, rep.copy[0].err);
	ASSERT_NE(0, rep.copy[1].err);
}

TEST_F(img, pick_generation_wraparound)
{
	struct fvm_meta *m;

	ASSERT_FALSE(fvm_generation_ge(U64_MAX, 0));
	ASSERT_TRUE(fvm_generation_ge(0, U64_MAX));
	ASSERT_TRUE(fvm_generation_ge(5, 5));
	ASSERT_TRUE(fvm_generation_ge(U64_MAX, U64_MAX - 1));

	/* A at U64_MAX, B wrapped to 0: B is newer. */
	set_hdr(&self->im, FVM_COPY_A, ed_gen, U64_MAX);
	set_hdr(&self->im, FVM_COPY_B, ed_gen, 0);
	ASSERT_EQ(0, img_parse(&self->im, &m, NULL, NULL));
	ASSERT_EQ(FVM_COPY_B, m->active);
	fvm_meta_free(m);

	set_hdr(&self->im, FVM_COPY_A, ed_gen, 0);
	set_hdr(&self->im, FVM_COPY_B, ed_gen, U64_MAX);
	ASSERT_EQ(0, img_parse(&self->im, &m, NULL, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	fvm_meta_free(m);
}

TEST_F(img, missing_copy_buffer)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	ASSERT_EQ(0, fvm_meta_parse(self->im.buf, NULL, self->im.alloc,
				    self->im.dev, 512, &m, &rep, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	ASSERT_EQ(-EIO, rep.copy[1].err);
	fvm_meta_free(m);
}

/* ---- hash coverage ----------------------------------------------------- */

static int flip_and_parse(struct img *im, u64 off, struct fvm_parse_report *rep)
{
	struct fvm_meta *m = NULL;
	int ret;

	copy_of(im, FVM_COPY_A)[off] ^= 0x20;
	ret = img_parse(im, &m, rep, NULL);
	copy_of(im, FVM_COPY_A)[off] ^= 0x20;
	fvm_meta_free(m);
	return rep->copy[0].err;
	(void)ret;
}

TEST(hash_coverage)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m;
	struct img im;
	u64 used;

	/* Table room for 4095 slices, only 63 in use. */
	m = img_new(&im, 64 * MiB, 4095 * MiB, MiB);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(32768, m->hdr.allocation_table_size);
	used = fvm_metadata_used(&m->hdr);
	ASSERT_EQ(8192 + 65536 + 8192, used);
	ASSERT_GT(im.alloc, used);

	/* Hashed: header fields, header padding, the hash, both tables. */
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, 56, &rep));
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, 64, &rep));
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, 95, &rep));
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, 500, &rep));
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, FVM_PART_TABLE_OFFSET + 1, &rep));
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, 73727, &rep));
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, FVM_ALLOC_TABLE_OFFSET + 8, &rep));
	ASSERT_EQ(-EUCLEAN, flip_and_parse(&im, used - 1, &rep));
	/* Not hashed: the unused tail of the allocation table. */
	ASSERT_EQ(0, flip_and_parse(&im, used, &rep));
	ASSERT_EQ(0, flip_and_parse(&im, im.alloc - 1, &rep));
	fvm_meta_free(m);
	free(im.buf);
}

/* Hash = SHA-256 over metadata_used with the 32 hash bytes zeroed. */
TEST_F(img, hash_definition)
{
	u8 *b = copy_of(&self->im, FVM_COPY_A), save[32], d[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int len;

	ASSERT_NE(NULL, c);
	memcpy(save, b + 64, 32);
	memset(b + 64, 0, 32);
	ASSERT_EQ(1, EVP_DigestInit_ex(c, EVP_sha256(), NULL));
	ASSERT_EQ(1, EVP_DigestUpdate(c, b, fvm_metadata_used(&self->m->hdr)));
	ASSERT_EQ(1, EVP_DigestFinal_ex(c, d, &len));
	EVP_MD_CTX_free(c);
	memcpy(b + 64, save, 32);
	ASSERT_EQ(0, memcmp(d, save, 32));
}

/* ---- validity rules, one at a time ------------------------------------- */

/* Only copy `bad` was damaged: the other one must carry on. */
static void expect_invalid_copy(struct __test_metadata *_metadata,
				struct img *im, enum fvm_copy bad, u32 blk,
				int err, const char *why_expect)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m = NULL;

	ASSERT_EQ(0, img_parse_blk(im, blk, &m, &rep, NULL));
	ASSERT_EQ(!bad, m->active);
	ASSERT_EQ(0, rep.copy[!bad].err);
	ASSERT_EQ(err, rep.copy[bad].err);
	ASSERT_STREQ(why_expect, rep.copy[bad].why);
	fvm_meta_free(m);
}

static void expect_invalid(struct __test_metadata *_metadata, struct img *im,
			   u32 blk, int err, const char *why_expect)
{
	expect_invalid_copy(_metadata, im, FVM_COPY_A, blk, err, why_expect);
}

TEST_F(img, valid_baseline)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(0, rep.copy[0].err);
	ASSERT_EQ(0, rep.copy[1].err);
	fvm_meta_free(m);
}

TEST_F(img, valid_magic)
{
	set_hdr(&self->im, FVM_COPY_A, ed_magic, FVM_MAGIC + 1);
	expect_invalid(_metadata, &self->im, 512, -EUCLEAN,
		       "bad magic: not an FVM header");
}

TEST_F(img, valid_major)
{
	struct fvm_meta *m;

	/* Older majors are accepted (major <= 1). */
	set_hdr(&self->im, FVM_COPY_A, ed_major, 0);
	ASSERT_EQ(0, img_parse(&self->im, &m, NULL, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	fvm_meta_free(m);
	set_hdr(&self->im, FVM_COPY_A, ed_major, 2);
	expect_invalid(_metadata, &self->im, 512, -EOPNOTSUPP,
		       "major version is newer than 1");
	/* Both too new: the parse says "not supported", not "corrupt". */
	set_hdr(&self->im, FVM_COPY_B, ed_major, 2);
	ASSERT_EQ(-EOPNOTSUPP, img_parse(&self->im, &m, NULL, NULL));
}

TEST_F(img, valid_pslice_count_max)
{
	set_hdr(&self->im, FVM_COPY_A, ed_pslices, FVM_MAX_VSLICES + 1);
	expect_invalid(_metadata, &self->im, 512, -EUCLEAN,
		       "pslice_count exceeds 2^31");
}

TEST_F(img, valid_slice_multiple_of_block)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	/* 1 MiB slices: fine on 4 KiB blocks, not on 3 MiB or 2 MiB ones. */
	ASSERT_EQ(0, img_parse_blk(&self->im, 4096, &m, &rep, NULL));
	fvm_meta_free(m);
	ASSERT_EQ(-EUCLEAN, img_parse_blk(&self->im, 2 * MiB, &m, &rep, NULL));
	ASSERT_STREQ("slice size is not a multiple of the device block size",
		     rep.copy[0].why);
	ASSERT_STREQ("slice size is not a multiple of the device block size",
		     rep.copy[1].why);
	/* Only one copy off: the other is used. */
	set_hdr(&self->im, FVM_COPY_A, ed_slice, MiB + 4096);
	expect_invalid(_metadata, &self->im, 8192, -EUCLEAN,
		       "slice size is not a multiple of the device block size");
}

TEST_F(img, valid_slice_size_bounds)
{
	set_hdr(&self->im, FVM_COPY_A, ed_slice, 0);
	expect_invalid(_metadata, &self->im, 512, -EUCLEAN,
		       "slice size is zero");
	set_hdr(&self->im, FVM_COPY_A, ed_slice, FVM_MAX_SLICE_SIZE + 1);
	expect_invalid(_metadata, &self->im, 512, -EUCLEAN,
		       "slice size would overflow 64 bits");
}

TEST_F(img, valid_vpartition_table_size)
{
	const char *why = NULL;
	struct fvm_meta *m;

	/* In copy A this would also lose B (A's sizes locate B). */
	set_hdr(&self->im, FVM_COPY_B, ed_vptable, 65536 + 8192);
	expect_invalid_copy(_metadata, &self->im, FVM_COPY_B, 512, -EUCLEAN,
			    "partition table size is not 65536");
	set_hdr(&self->im, FVM_COPY_A, ed_vptable, 0);
	ASSERT_EQ(-EUCLEAN, img_parse(&self->im, &m, NULL, &why));
	ASSERT_STREQ("partition table size is not 65536", why);
}

TEST_F(img, valid_alloc_table_multiple)
{
	/* Copy A's table size also locates B; damage B's instead. */
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	set_hdr(&self->im, FVM_COPY_B, ed_atable, 8192 + 8);
	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	ASSERT_STREQ("allocation table size not a multiple of 8192 or over 16 GiB",
		     rep.copy[1].why);
	fvm_meta_free(m);
}

TEST_F(img, valid_alloc_table_fits_pslices)
{
	/* 8192 bytes hold entries 0..1023: 1023 slices fit, 1024 do not. */
	set_hdr(&self->im, FVM_COPY_A, ed_fvmsize, U64_MAX);
	self->im.dev = U64_MAX;
	set_hdr(&self->im, FVM_COPY_A, ed_pslices, 1024);
	expect_invalid(_metadata, &self->im, 512, -EUCLEAN,
		       "allocation table too small for pslice_count");
}

TEST_F(img, valid_partition_fits_device)
{
	self->im.dev = self->m->hdr.fvm_partition_size - 1;
	/* B is identical, so both fail; check A's reason directly. */
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	ASSERT_EQ(-EUCLEAN, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_STREQ("fvm_partition_size is larger than the device",
		     rep.copy[0].why);
	self->im.dev++;
	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	fvm_meta_free(m);
}

TEST_F(img, valid_slices_fit_partition)
{
	set_hdr(&self->im, FVM_COPY_A, ed_fvmsize,
		self->m->hdr.fvm_partition_size - 1);
	expect_invalid(_metadata, &self->im, 512, -EUCLEAN,
		       "metadata and slices do not fit in fvm_partition_size");
}

TEST_F(img, valid_extreme_values)
{
	struct fvm_meta *m;
	u64 slice = FVM_MAX_SLICE_SIZE & ~8191ULL;

	/* The largest slices Fuchsia allows, on an enormous device. */
	self->im.dev = U64_MAX;
	set_hdr(&self->im, FVM_COPY_A, ed_fvmsize, U64_MAX);
	set_hdr(&self->im, FVM_COPY_A, ed_slice, slice);
	set_hdr(&self->im, FVM_COPY_A, ed_pslices, 1000);
	ASSERT_EQ(0, img_parse(&self->im, &m, NULL, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	ASSERT_EQ(163840 + 999 * slice, fvm_pslice_offset(&m->hdr, 1000));
	fvm_meta_free(m);
	/* Too large by one slice for fvm_partition_size. */
	set_hdr(&self->im, FVM_COPY_A, ed_fvmsize, 163840 + 1000 * slice - 1);
	expect_invalid(_metadata, &self->im, 512, -EUCLEAN,
		       "metadata and slices do not fit in fvm_partition_size");
}

TEST_F(img, valid_copy_b_layout_matches_a)
{
	struct fvm_parse_report rep;
	struct fvm_meta *m;

	/* A valid-looking B header describing a different table size. */
	set_hdr(&self->im, FVM_COPY_B, ed_fvmsize,
		self->m->hdr.fvm_partition_size + 2 * 8192);
	set_hdr(&self->im, FVM_COPY_B, ed_atable, 16384);
	ASSERT_EQ(0, img_parse(&self->im, &m, &rep, NULL));
	ASSERT_EQ(FVM_COPY_A, m->active);
	ASSERT_STREQ("allocation table size differs from copy A's",
		     rep.copy[1].why);
	fvm_meta_free(m);
}

TEST(locate_rejects_huge_tables)
{
	u8 blk[FVM_BLOCK_SIZE] = { 0 };
	struct fvm_header h = { 0 };
	const char *why = NULL;
	u64 alloc;

	h.vpartition_table_size = FVM_VPART_TABLE_SIZE;
	h.allocation_table_size = FVM_IMPL_MAX_ALLOC_TABLE_SIZE + 8192;
	fvm_header_encode(&h, blk);
	ASSERT_EQ(-EFBIG, fvm_locate_copies(blk, sizeof(blk), &alloc, &why));
	h.allocation_table_size = FVM_MAX_ALLOC_TABLE_SIZE + 8192;
	fvm_header_encode(&h, blk);
	ASSERT_EQ(-EUCLEAN, fvm_locate_copies(blk, sizeof(blk), &alloc, &why));
	h.allocation_table_size = 8192;
	fvm_header_encode(&h, blk);
	ASSERT_EQ(0, fvm_locate_copies(blk, sizeof(blk), &alloc, &why));
	ASSERT_EQ(81920, alloc);
	ASSERT_EQ(-EUCLEAN, fvm_locate_copies(blk, 50, &alloc, &why));
}

/* ---- partition entries ------------------------------------------------ */

TEST_F(img, name_24_bytes_no_terminator)
{
	const char *name = "abcdefghijklmnopqrstuvwx";	/* 24 */
	struct fvm_meta *m;
	u32 idx;
	u8 *e;

	ASSERT_EQ(-EINVAL, fvm_alloc_partition(self->m, 1, type_a, guid_1,
					       "abcdefghijklmnopqrstuvwxy",
					       25, 0, &idx));
	ASSERT_EQ(-EINVAL, fvm_alloc_partition(self->m, 1, type_a, guid_1,
					       "ab\0cd", 5, 0, &idx));
	ASSERT_EQ(0, fvm_alloc_partition(self->m, 1, type_a, guid_1, name, 24,
					 0, &idx));
	ASSERT_EQ(1, idx);
	ASSERT_EQ(0, img_write(&self->im, self->m, FVM_COPY_A));
	/* On disk: all 24 bytes, no NUL, straight after flags. */
	e = self->im.buf + FVM_PART_TABLE_OFFSET + 64;
	ASSERT_EQ(0, memcmp(e + 40, name, 24));
	ASSERT_EQ(1, e[32]);	/* slices, little-endian */
	ASSERT_EQ(0, memcmp(e + 16, guid_1, 16));
	ASSERT_EQ(0, memcmp(e, type_a, 16));
	ASSERT_EQ(0, img_parse(&self->im, &m, NULL, NULL));
	ASSERT_EQ(24, fvm_name_len(&m->part[1]));
	ASSERT_EQ(0, memcmp(m->part[1].name, name, 24));
	/* Rename pads the rest with NULs. */
	ASSERT_EQ(0, fvm_set_name(m, 1, "ab", 2));
	ASSERT_EQ(2, fvm_name_len(&m->part[1]));
	ASSERT_EQ(0, m->part[1].name[23]);
	ASSERT_EQ(-EINVAL, fvm_set_name(m, 1, name, 25));
	ASSERT_EQ(-ENOENT, fvm_set_name(m, 2, "x", 1));
	fvm_meta_free(m);
}

TEST_F(img, allocated_iff_slices_nonzero)
{
	struct fvm_meta *m;
	u32 idx;

	/* Entry 1 has a name and GUID but zero slices: free, reused. */
	memcpy(self->m->part[1].name, "ghost", 5);
	memcpy(self->m->part[1].guid, guid_3, 16);
	ASSERT_EQ(0, img_write(&self->im, self->m, FVM_COPY_A));
	ASSERT_EQ(0, img_parse(&self->im, &m, NULL, NULL));
	ASSERT_EQ(-ENOENT, fvm_find_guid(m, guid_3));
	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, guid_1, "a", 1, 0, &idx));
	ASSERT_EQ(1, idx);
	ASSERT_EQ(1, fvm_find_guid(m, guid_1));
	fvm_meta_free(m);
}

TEST(guid_text)
{
	const u8 g[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
			   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	char s[FVM_GUID_STR_LEN + 1];
	u8 back[16];

	fvm_guid_to_str(g, s);
	ASSERT_STREQ("33221100-5544-7766-8899-aabbccddeeff", s);
	ASSERT_EQ(0, fvm_guid_parse("33221100-5544-7766-8899-AABBCCDDEEFF",
				    back));
	ASSERT_EQ(0, memcmp(g, back, 16));
	ASSERT_EQ(-EINVAL, fvm_guid_parse("33221100-5544-7766-8899-aabbccddeef",
					  back));
	ASSERT_EQ(-EINVAL, fvm_guid_parse("33221100-5544-7766-8899-aabbccddeeff0",
					  back));
	ASSERT_EQ(-EINVAL, fvm_guid_parse("3322110055-44-7766-8899-aabbccddeeff",
					  back));
	ASSERT_EQ(-EINVAL, fvm_guid_parse("33221100-5544-7766-8899-aabbccddeegf",
					  back));
	ASSERT_EQ(-EINVAL, fvm_guid_parse("", back));
	ASSERT_TRUE(fvm_guid_is_zero((u8[16]){ 0 }));
	ASSERT_FALSE(fvm_guid_is_zero(g));
}

TEST(guid_generate)
{
	u8 a[16], b[16];
	char s[FVM_GUID_STR_LEN + 1];

	fvm_guid_generate(a);
	fvm_guid_generate(b);
	ASSERT_FALSE(fvm_guid_is_zero(a));
	ASSERT_NE(0, memcmp(a, b, 16));
	fvm_guid_to_str(a, s);
	ASSERT_EQ('4', s[14]);	/* version nibble in text form */
}

/* ---- allocator ----------------------------------------------------------- */

static u64 pslice_of(struct fvm_meta *m, u32 vp, u64 vs)
{
	u64 p;

	for (p = 1; p <= m->hdr.pslice_count; p++)
		if (fvm_slice_vpart(m->slice[p]) == vp &&
		    fvm_slice_vslice(m->slice[p]) == vs)
			return p;
	return 0;
}

TEST_F(img, find_free_hint_and_wrap)
{
	u64 n = self->m->hdr.pslice_count, p;
	u32 idx;

	ASSERT_EQ(0, fvm_alloc_partition(self->m, n, type_a, guid_1, "a", 1, 0,
					 &idx));
	ASSERT_EQ(-ENOSPC, fvm_find_free_pslice(self->m, 1, &p));
	ASSERT_EQ(0, fvm_shrink(self->m, idx, 4, 1));	/* frees pslice 5 */
	ASSERT_EQ(0, fvm_shrink(self->m, idx, 19, 1));	/* frees pslice 20 */
	ASSERT_EQ(0, fvm_find_free_pslice(self->m, 0, &p));
	ASSERT_EQ(5, p);
	ASSERT_EQ(0, fvm_find_free_pslice(self->m, 5, &p));
	ASSERT_EQ(5, p);
	ASSERT_EQ(0, fvm_find_free_pslice(self->m, 6, &p));
	ASSERT_EQ(20, p);
	/* Past the last free one: wraps to 1 and finds 5. */
	ASSERT_EQ(0, fvm_find_free_pslice(self->m, 21, &p));
	ASSERT_EQ(5, p);
	ASSERT_EQ(0, fvm_find_free_pslice(self->m, n + 10, &p));
	ASSERT_EQ(5, p);
}

TEST_F(img, allocate_order)
{
	struct fvm_meta *m = self->m;
	u32 a, b, c;

	ASSERT_EQ(0, fvm_alloc_partition(m, 3, type_a, guid_1, "a", 1, 0, &a));
	ASSERT_EQ(0, fvm_alloc_partition(m, 2, type_a, guid_2, "b", 1, 0, &b));
	ASSERT_EQ(1, a);
	ASSERT_EQ(2, b);
	ASSERT_EQ(1, pslice_of(m, a, 0));
	ASSERT_EQ(3, pslice_of(m, a, 2));
	ASSERT_EQ(4, pslice_of(m, b, 0));
	ASSERT_EQ(0, fvm_destroy(m, a));
	/* First free entry is 1 again; slices fill the hole, then go on. */
	ASSERT_EQ(0, fvm_alloc_partition(m, 5, type_a, guid_3, "c", 1, 0, &c));
	ASSERT_EQ(1, c);
	ASSERT_EQ(1, pslice_of(m, c, 0));
	ASSERT_EQ(2, pslice_of(m, c, 1));
	ASSERT_EQ(3, pslice_of(m, c, 2));
	ASSERT_EQ(6, pslice_of(m, c, 3));
	ASSERT_EQ(7, pslice_of(m, c, 4));
	ASSERT_EQ(5, m->part[c].slices);
	ASSERT_EQ(7, m->allocated);
}

TEST_F(img, allocate_partition_errors)
{
	struct fvm_meta *m = self->m;
	u32 i, idx;

	ASSERT_EQ(-ERANGE, fvm_alloc_partition(m, 0, type_a, guid_1, "a", 1, 0,
					       &idx));
	ASSERT_EQ(-ERANGE, fvm_alloc_partition(m, U32_MAX, type_a, guid_1,
					       "a", 1, 0, &idx));
	ASSERT_EQ(-ENOSPC, fvm_alloc_partition(m, m->hdr.pslice_count + 1,
					       type_a, guid_1, "a", 1, 0, &idx));
	ASSERT_FALSE(fvm_vpart_allocated(&m->part[1]));
	ASSERT_EQ(0, m->part[1].name[0]);
	/* Flags other than INACTIVE are dropped. */
	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, guid_1, "a", 1,
					 0xf0000001, &idx));
	ASSERT_EQ(FVM_VPART_FLAG_INACTIVE, m->part[idx].flags);
	/* Entries 1..1023 only: fill them all with a bigger image. */
	fvm_meta_free(self->m);
	free(self->im.buf);
	self->m = img_new(&self->im, 2048 * MiB, 2048 * MiB, MiB);
	ASSERT_NE(NULL, self->m);
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		ASSERT_EQ(0, fvm_alloc_partition(self->m, 1, type_a, guid_1,
						 "p", 1, 0, &idx));
		ASSERT_EQ(i, idx);
	}
	ASSERT_EQ(-ENOSPC, fvm_alloc_partition(self->m, 1, type_a, guid_1,
					       "p", 1, 0, &idx));
}

/* Equal state; the in-memory hash field is not maintained, skip it. */
static bool meta_equal(const struct fvm_meta *a, const struct fvm_meta *b)
{
	struct fvm_header ha = a->hdr, hb = b->hdr;

	memset(ha.hash, 0, sizeof(ha.hash));
	memset(hb.hash, 0, sizeof(hb.hash));
	return !memcmp(&ha, &hb, sizeof(ha)) &&
	       !memcmp(a->part, b->part, sizeof(a->part)) &&
	       a->allocated == b->allocated &&
	       a->hdr.pslice_count == b->hdr.pslice_count &&
	       !memcmp(a->slice, b->slice,
		       (a->hdr.pslice_count + 1) * sizeof(u64));
}

TEST_F(img, extend_edges)
{
	struct fvm_meta *m = self->m, *snap;
	u64 n = m->hdr.pslice_count;
	u32 a;

	ASSERT_EQ(0, fvm_alloc_partition(m, 2, type_a, guid_1, "a", 1, 0, &a));
	ASSERT_EQ(0, fvm_meta_dup(m, &snap));

	ASSERT_EQ(-ERANGE, fvm_extend(m, a, 0, 1));
	ASSERT_EQ(-ERANGE, fvm_extend(m, a, 0, 0));
	ASSERT_EQ(-ERANGE, fvm_extend(m, a, FVM_MAX_VSLICES, 1));
	ASSERT_EQ(-ERANGE, fvm_extend(m, a, FVM_MAX_VSLICES - 1, 2));
	ASSERT_EQ(-ERANGE, fvm_extend(m, a, U64_MAX, 2));
	ASSERT_EQ(-ENOENT, fvm_extend(m, 7, 5, 1));
	ASSERT_EQ(-ENOENT, fvm_extend(m, 0, 5, 1));
	ASSERT_EQ(-ENOENT, fvm_extend(m, 5000, 5, 1));
	ASSERT_EQ(0, fvm_extend(m, a, 100, 0));
	ASSERT_TRUE(meta_equal(m, snap));
	/* vslice 1 already mapped. */
	ASSERT_EQ(-EINVAL, fvm_extend(m, a, 1, 3));
	ASSERT_TRUE(meta_equal(m, snap));
	/* Not enough free slices. */
	ASSERT_EQ(-ENOSPC, fvm_extend(m, a, 10, n - 1));
	ASSERT_TRUE(meta_equal(m, snap));
	/* The very last vslice is addressable. */
	ASSERT_EQ(0, fvm_extend(m, a, FVM_MAX_VSLICES - 1, 1));
	ASSERT_EQ(3, m->part[a].slices);
	/* Partition limit: over it is no-space. */
	ASSERT_EQ(0, fvm_set_limit(m, a, 4 * MiB));
	ASSERT_EQ(-ENOSPC, fvm_extend(m, a, 10, 2));
	ASSERT_EQ(0, fvm_extend(m, a, 10, 1));
	ASSERT_EQ(4, m->part[a].slices);
	fvm_meta_free(snap);
}

TEST_F(img, extend_error_precedence)
{
	struct fvm_meta *m = self->m;
	u64 n = m->hdr.pslice_count;
	u32 a;

	/* Leave exactly 2 free slices. */
	ASSERT_EQ(0, fvm_alloc_partition(m, n - 2, type_a, guid_1, "a", 1, 0,
					 &a));
	/* vslice n-2 mapped at position 0 of the range: invalid first. */
	ASSERT_EQ(-EINVAL, fvm_extend(m, a, n - 3, 10));
	/* Mapped at position 2 == free count: still invalid (checked first). */
	ASSERT_EQ(0, fvm_extend(m, a, 1000, 1));	/* uses 1 free; 1 left */
	ASSERT_EQ(-EINVAL, fvm_extend(m, a, 999, 5));
	/* Mapped at position 2 with 1 free: the third take fails first. */
	ASSERT_EQ(-ENOSPC, fvm_extend(m, a, 998, 5));
}

TEST_F(img, shrink_edges)
{
	struct fvm_meta *m = self->m, *snap;
	u32 a;

	ASSERT_EQ(0, fvm_alloc_partition(m, 4, type_a, guid_1, "a", 1, 0, &a));
	ASSERT_EQ(0, fvm_extend(m, a, 10, 2));	/* vslices 0-3, 10-11 */
	ASSERT_EQ(0, fvm_meta_dup(m, &snap));
	ASSERT_EQ(-ERANGE, fvm_shrink(m, a, 0, 1));
	ASSERT_EQ(-ERANGE, fvm_shrink(m, a, FVM_MAX_VSLICES, 1));
	ASSERT_EQ(-ERANGE, fvm_shrink(m, a, 1, U64_MAX));
	ASSERT_EQ(-ENOENT, fvm_shrink(m, 9, 1, 1));
	ASSERT_EQ(0, fvm_shrink(m, a, 5, 0));
	ASSERT_EQ(-EINVAL, fvm_shrink(m, a, 4, 6));	/* 4..9: none mapped */
	ASSERT_TRUE(meta_equal(m, snap));
	/* 3..10: frees 3 and 10 only. */
	ASSERT_EQ(0, fvm_shrink(m, a, 3, 8));
	ASSERT_EQ(4, m->part[a].slices);
	ASSERT_EQ(0, pslice_of(m, a, 3));
	ASSERT_EQ(0, pslice_of(m, a, 10));
	ASSERT_NE(0, pslice_of(m, a, 11));
	ASSERT_NE(0, pslice_of(m, a, 0));
	ASSERT_EQ(snap->allocated - 2, m->allocated);
	/* Whole range to the end of the vslice space. */
	ASSERT_EQ(0, fvm_shrink(m, a, 1, FVM_MAX_VSLICES - 1));
	ASSERT_EQ(1, m->part[a].slices);
	ASSERT_EQ(-EINVAL, fvm_shrink(m, a, 1, FVM_MAX_VSLICES - 1));
	fvm_meta_free(snap);
}

TEST_F(img, destroy_frees_and_zeroes)
{
	struct fvm_meta *m = self->m;
	struct fvm_vpart zero = { 0 };
	u32 a, b;

	ASSERT_EQ(0, fvm_alloc_partition(m, 3, type_a, guid_1, "a", 1, 0, &a));
	ASSERT_EQ(0, fvm_alloc_partition(m, 2, type_a, guid_2, "b", 1, 0, &b));
	ASSERT_EQ(0, fvm_extend(m, a, 50, 2));
	ASSERT_EQ(0, fvm_destroy(m, a));
	ASSERT_EQ(0, memcmp(&zero, &m->part[a], sizeof(zero)));
	ASSERT_EQ(2, m->allocated);
	ASSERT_EQ(0, pslice_of(m, a, 0));
	ASSERT_EQ(0, pslice_of(m, a, 50));
	ASSERT_EQ(2, m->part[b].slices);
	ASSERT_EQ(-ENOENT, fvm_destroy(m, a));
}

TEST_F(img, activate)
{
	struct fvm_meta *m = self->m;
	u32 a, b;

	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, guid_1, "sys", 3, 0, &a));
	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, guid_2, "sys", 3,
					 FVM_VPART_FLAG_INACTIVE, &b));
	/* New GUID missing, or not inactive: not found, nothing changes. */
	ASSERT_EQ(-ENOENT, fvm_activate(m, guid_1, guid_3));
	ASSERT_EQ(-ENOENT, fvm_activate(m, guid_2, guid_1));
	ASSERT_FALSE(fvm_vpart_inactive(&m->part[a]));
	ASSERT_TRUE(fvm_vpart_inactive(&m->part[b]));
	/* One operation swaps both. */
	ASSERT_EQ(0, fvm_activate(m, guid_1, guid_2));
	ASSERT_TRUE(fvm_vpart_inactive(&m->part[a]));
	ASSERT_FALSE(fvm_vpart_inactive(&m->part[b]));
	/* Old GUID absent: the new one is still activated. */
	ASSERT_EQ(0, fvm_activate(m, guid_3, guid_1));
	ASSERT_FALSE(fvm_vpart_inactive(&m->part[a]));
	/* old == new: activates new, does not deactivate it. */
	m->part[b].flags |= FVM_VPART_FLAG_INACTIVE;
	ASSERT_EQ(0, fvm_activate(m, guid_2, guid_2));
	ASSERT_FALSE(fvm_vpart_inactive(&m->part[b]));
}

/* ---- load semantics ----------------------------------------------------- */

TEST_F(img, load_destroys_inactive_and_fills_guids)
{
	struct fvm_meta *m = self->m;
	u8 zero[16] = { 0 };
	unsigned int changed;
	u32 a, b, c;

	ASSERT_EQ(0, fvm_alloc_partition(m, 2, type_a, guid_1, "keep", 4, 0, &a));
	ASSERT_EQ(0, fvm_alloc_partition(m, 3, type_a, guid_2, "gone", 4,
					 FVM_VPART_FLAG_INACTIVE, &b));
	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, zero, "ph", 2, 0, &c));
	ASSERT_EQ(0, fvm_meta_load(m, self->im.dev, &changed, NULL));
	ASSERT_EQ(FVM_LOAD_GUIDS | FVM_LOAD_DESTROYED, changed);
	ASSERT_FALSE(fvm_vpart_allocated(&m->part[b]));
	ASSERT_EQ(0, pslice_of(m, b, 0));
	ASSERT_EQ(3, m->allocated);
	ASSERT_FALSE(fvm_guid_is_zero(m->part[c].guid));
	ASSERT_EQ(0, memcmp(m->part[a].guid, guid_1, 16));
	/* Second load: nothing left to do. */
	ASSERT_EQ(0, fvm_meta_load(m, self->im.dev, &changed, NULL));
	ASSERT_EQ(0, changed);
}

TEST(load_grows_to_device)
{
	struct fvm_meta *m, *p;
	unsigned int changed;
	struct img im;
	u64 start, old;
	u32 a;

	/* 64 MiB now, table room for 256 MiB of slices. */
	m = img_new(&im, 64 * MiB, 256 * MiB, MiB);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, fvm_alloc_partition(m, 2, type_a, guid_1, "a", 1, 0, &a));
	start = fvm_data_start(&m->hdr);
	old = m->hdr.pslice_count;
	ASSERT_EQ(0, img_write(&im, m, FVM_COPY_A));

	/* Same device: no growth. */
	ASSERT_EQ(0, fvm_meta_load(m, im.dev, &changed, NULL));
	ASSERT_EQ(0, changed);

	/* Device grew to 128 MiB. */
	ASSERT_EQ(0, fvm_meta_load(m, 128 * MiB, &changed, NULL));
	ASSERT_EQ(FVM_LOAD_GREW, changed);
	ASSERT_EQ((128 * MiB - start) / MiB, m->hdr.pslice_count);
	ASSERT_GT(m->hdr.pslice_count, old);
	ASSERT_EQ(start + m->hdr.pslice_count * MiB, m->hdr.fvm_partition_size);
	ASSERT_EQ(0, m->slice[m->hdr.pslice_count]);
	ASSERT_EQ(2, m->part[a].slices);

	/* Much larger device: capped by the table's capacity. */
	ASSERT_EQ(0, fvm_meta_load(m, 4096 * MiB, &changed, NULL));
	ASSERT_EQ(fvm_alloc_table_capacity(&m->hdr), m->hdr.pslice_count);
	ASSERT_EQ(8192 / 8 - 1, m->hdr.pslice_count);

	/* The grown metadata round-trips on the larger device. */
	fvm_meta_commit_begin(m);
	ASSERT_EQ(0, img_write(&im, m, FVM_COPY_B));
	im.dev = 4096 * MiB;
	ASSERT_EQ(0, img_parse(&im, &p, NULL, NULL));
	ASSERT_EQ(FVM_COPY_B, p->active);
	ASSERT_TRUE(meta_equal(m, p));
	fvm_meta_free(p);
	fvm_meta_free(m);
	free(im.buf);
}

TEST_F(img, load_refuses_ambiguous_maps)
{
	struct fvm_meta *m = self->m;
	unsigned int changed;
	const char *why = NULL;
	u32 a;

	ASSERT_EQ(0, fvm_alloc_partition(m, 2, type_a, guid_1, "a", 1, 0, &a));
	m->slice[10] = fvm_slice_entry(a, 1);	/* vslice 1 twice */
	ASSERT_EQ(-EUCLEAN, fvm_meta_load(m, self->im.dev, &changed, &why));
	ASSERT_STREQ("a vslice is mapped by two physical slices", why);
	m->slice[10] = fvm_slice_entry(1500, 1);
	ASSERT_EQ(-EUCLEAN, fvm_meta_load(m, self->im.dev, &changed, &why));
	ASSERT_STREQ("slice entry names a partition beyond 1023", why);
	m->slice[10] = fvm_slice_entry(a, FVM_MAX_VSLICES);
	ASSERT_EQ(-EUCLEAN, fvm_meta_load(m, self->im.dev, &changed, &why));
	ASSERT_STREQ("slice entry has a vslice beyond 2^31", why);
	/* An orphan (free partition) loads, as on Fuchsia. */
	m->slice[10] = fvm_slice_entry(5, 0);
	ASSERT_EQ(0, fvm_meta_load(m, self->im.dev, &changed, &why));
}

TEST_F(img, check_report)
{
	struct fvm_meta *m = self->m;
	struct fvm_check_report r;
	u32 a;

	ASSERT_EQ(0, fvm_alloc_partition(m, 3, type_a, guid_1, "a", 1, 0, &a));
	ASSERT_EQ(0, fvm_meta_check(m, &r));
	ASSERT_EQ(0, r.orphans + r.double_mapped + r.bad_vpart +
		  r.bad_vslice + r.reserved_bits + r.count_mismatch);
	ASSERT_EQ(3, r.mapped[a]);

	m->slice[20] = fvm_slice_entry(9, 0);			/* orphan */
	m->slice[21] = fvm_slice_entry(a, 2);			/* twice */
	m->slice[22] = fvm_slice_entry(a, 7) | (1ULL << 50);	/* reserved */
	m->slice[23] = fvm_slice_entry(2000, 0);		/* bad vpart */
	ASSERT_EQ(0, fvm_meta_check(m, &r));
	ASSERT_EQ(1, r.orphans);
	ASSERT_EQ(1, r.double_mapped);
	ASSERT_EQ(1, r.reserved_bits);
	ASSERT_EQ(1, r.bad_vpart);
	ASSERT_EQ(1, r.count_mismatch);	/* a says 3, map has 5 */
	ASSERT_EQ(5, r.mapped[a]);
	ASSERT_EQ(20, r.first_bad_pslice);
}

/* Reserved bits are ignored on read and written back as zero. */
TEST_F(img, slice_entry_bits)
{
	struct fvm_meta *m = self->m, *p;
	u8 *e;
	u32 a;

	ASSERT_EQ(0x12345ULL << 16 | 7, fvm_slice_entry(7, 0x12345));
	ASSERT_EQ(7, fvm_slice_vpart(0xabcd00000000ULL << 16 | 7));
	ASSERT_EQ(0xabcd0000, fvm_slice_vslice(0xabcd0000ULL << 16 | 7));
	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, guid_1, "a", 1, 0, &a));
	ASSERT_EQ(0, fvm_extend(m, a, 0x10000, 1));
	m->slice[2] |= 0xbeefULL << 48;
	ASSERT_EQ(0, img_write(&self->im, m, FVM_COPY_A));
	e = self->im.buf + FVM_ALLOC_TABLE_OFFSET + 2 * 8;
	/* vpart 1 in bits 0-15, vslice 0x10000 in 16-47, top zero. */
	ASSERT_EQ(1, e[0]);
	ASSERT_EQ(0, e[1]);
	ASSERT_EQ(0, e[2]);
	ASSERT_EQ(0, e[3]);
	ASSERT_EQ(1, e[4]);
	ASSERT_EQ(0, e[6]);
	ASSERT_EQ(0, e[7]);
	ASSERT_EQ(0, img_parse(&self->im, &p, NULL, NULL));
	ASSERT_EQ(fvm_slice_entry(a, 0x10000), p->slice[2]);
	fvm_meta_free(p);
}

/* ---- commit ------------------------------------------------------------ */

TEST_F(img, commit_writes_inactive_copy)
{
	struct fvm_meta *m = self->m, *p;
	u8 before[8192];
	enum fvm_copy c;
	u32 a;

	ASSERT_EQ(FVM_COPY_A, m->active);
	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, guid_1, "a", 1, 0, &a));
	memcpy(before, self->im.buf, sizeof(before));
	c = fvm_meta_commit_begin(m);
	ASSERT_EQ(FVM_COPY_B, c);
	ASSERT_EQ(1, m->hdr.generation);
	ASSERT_EQ(0, img_write(&self->im, m, c));
	fvm_meta_commit_end(m);
	ASSERT_EQ(FVM_COPY_B, m->active);
	ASSERT_EQ(0, memcmp(before, self->im.buf, sizeof(before)));

	ASSERT_EQ(0, img_parse(&self->im, &p, NULL, NULL));
	ASSERT_EQ(FVM_COPY_B, p->active);
	ASSERT_TRUE(fvm_vpart_allocated(&p->part[a]));
	fvm_meta_free(p);

	/* Next commit goes to A. */
	ASSERT_EQ(FVM_COPY_A, fvm_meta_commit_begin(m));
	ASSERT_EQ(2, m->hdr.generation);
	/* A newer minor version is lowered to ours. */
	m->hdr.oldest_minor_version = 5;
	fvm_meta_commit_begin(m);
	ASSERT_EQ(1, m->hdr.oldest_minor_version);
	ASSERT_EQ(-EINVAL, fvm_meta_serialize(m, self->im.buf, 100));
}

/* pslice_count = 1024: entry 1024 lies past metadata_used (Fuchsia quirk). */
TEST(pslice_count_multiple_of_1024)
{
	struct fvm_meta *m, *p;
	struct img im;
	u64 dev, e_off;
	u32 a;

	/* Table for 2047 slices = 16 KiB; then 1024 slices of 8 KiB. */
	m = img_new(&im, 8192 * 2047, 8192 * 2047, 8192);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(16384, m->hdr.allocation_table_size);
	dev = fvm_data_start(&m->hdr) + 1024 * 8192;
	m->hdr.pslice_count = 1024;
	m->hdr.fvm_partition_size = dev;
	fvm_free(m->slice);
	m->slice = fvm_zalloc(1025 * 8);
	ASSERT_NE(NULL, m->slice);
	im.dev = dev;

	ASSERT_EQ(8192 + 65536 + 8192, fvm_metadata_used(&m->hdr));
	ASSERT_EQ(8192 + 65536 + 16384, fvm_metadata_write_len(&m->hdr));
	ASSERT_EQ(0, fvm_alloc_partition(m, 1024, type_a, guid_1, "big", 3, 0,
					 &a));
	ASSERT_EQ(fvm_slice_entry(a, 1023), m->slice[1024]);
	ASSERT_EQ(0, img_write(&im, m, FVM_COPY_A));
	ASSERT_EQ(0, img_write(&im, m, FVM_COPY_B));
	e_off = FVM_ALLOC_TABLE_OFFSET + 1024 * 8;
	ASSERT_EQ(e_off, fvm_metadata_used(&m->hdr));
	/* Written although unhashed, so the mapping survives. */
	ASSERT_EQ(1, im.buf[e_off]);

	ASSERT_EQ(0, img_parse(&im, &p, NULL, NULL));
	ASSERT_TRUE(meta_equal(m, p));
	fvm_meta_free(p);
	/* Changing it does not break the hash. */
	im.buf[e_off + 2] = 0x55;
	ASSERT_EQ(0, img_parse(&im, &p, NULL, NULL));
	ASSERT_EQ(FVM_COPY_A, p->active);
	ASSERT_EQ(0x355, fvm_slice_vslice(p->slice[1024]));	/* was 0x3ff */
	fvm_meta_free(p);
	fvm_meta_free(m);
	free(im.buf);
}

/* ---- index ------------------------------------------------------------ */

TEST_F(img, index_lookup)
{
	struct fvm_meta *m = self->m;
	struct fvm_index *ix;
	u64 p, run;
	u32 a, b;

	ASSERT_EQ(0, fvm_alloc_partition(m, 3, type_a, guid_1, "a", 1, 0, &a));
	ASSERT_EQ(0, fvm_alloc_partition(m, 1, type_a, guid_2, "b", 1, 0, &b));
	ASSERT_EQ(0, fvm_extend(m, a, 3, 2));	/* pslices 5,6: not contiguous */
	ASSERT_EQ(0, fvm_extend(m, a, 100, 1));
	ASSERT_EQ(0, fvm_index_build(m, &ix, NULL));
	ASSERT_EQ(4, ix->nr_extents);
	ASSERT_EQ(0, fvm_index_lookup(ix, a, 1, &p, &run));
	ASSERT_EQ(2, p);
	ASSERT_EQ(2, run);
	ASSERT_EQ(0, fvm_index_lookup(ix, a, 4, &p, &run));
	ASSERT_EQ(6, p);
	ASSERT_EQ(1, run);
	ASSERT_EQ(0, fvm_index_lookup(ix, a, 100, &p, &run));
	ASSERT_EQ(7, p);
	ASSERT_EQ(0, fvm_index_lookup(ix, b, 0, &p, NULL));
	ASSERT_EQ(4, p);
	ASSERT_EQ(-ENOENT, fvm_index_lookup(ix, a, 5, &p, &run));
	ASSERT_EQ(-ENOENT, fvm_index_lookup(ix, a, 99, &p, &run));
	ASSERT_EQ(-ENOENT, fvm_index_lookup(ix, b, 1, &p, &run));
	ASSERT_EQ(-ENOENT, fvm_index_lookup(ix, 3, 0, &p, &run));
	ASSERT_EQ(-ENOENT, fvm_index_lookup(ix, 4000, 0, &p, &run));
	fvm_index_free(ix);

	m->slice[30] = fvm_slice_entry(a, 0);
	ASSERT_EQ(-EUCLEAN, fvm_index_build(m, &ix, NULL));
}

/* Whatever is serialised parses back to the same object. */
TEST_F(img, roundtrip)
{
	struct fvm_meta *m = self->m, *p;
	u32 a, b;

	ASSERT_EQ(0, fvm_alloc_partition(m, 5, type_a, guid_1, "alpha", 5, 0, &a));
	ASSERT_EQ(0, fvm_alloc_partition(m, 2, guid_3, guid_2, "beta", 4,
					 FVM_VPART_FLAG_INACTIVE, &b));
	ASSERT_EQ(0, fvm_shrink(m, a, 2, 1));
	ASSERT_EQ(0, fvm_extend(m, b, 77, 3));
	ASSERT_EQ(0, img_write(&self->im, m, FVM_COPY_A));
	ASSERT_EQ(0, img_parse(&self->im, &p, NULL, NULL));
	ASSERT_TRUE(meta_equal(m, p));
	fvm_meta_free(p);
}

TEST_HARNESS_MAIN
