// SPDX-License-Identifier: GPL-2.0
/*
 * DECOMPRESS_WITH_ZSTD: real frames made by the zstd tool are read from
 * the device and decompressed into the VMO by the kernel's zstd library;
 * corrupt, truncated and mis-sized frames give error responses.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#pragma GCC diagnostic ignored "-Wclobbered"	/* see block_session.c */
#include "kselftest_harness.h"
#include "block_util.h"

#define ORIG_SIZE	(300 * 1024 + 123)
#define PREFIX		100
#define VMO_SIZE	(1 << 20)
#define ZSTD_FLAG	VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD

FIXTURE(z)
{
	struct nullb nb;
	int sfd;
	uint8_t *orig;		/* ORIG_SIZE bytes */
	uint8_t *frame;		/* its zstd frame */
	size_t flen;
	uint8_t *mem;		/* the VMO */
	uint16_t vmo;
	unsigned int bs;
	char dir[64];
};

FIXTURE_VARIANT(z)
{
	unsigned int bs;
};

FIXTURE_VARIANT_ADD(z, bs512) { .bs = 512 };
FIXTURE_VARIANT_ADD(z, bs4096) { .bs = 4096 };

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Compresses @len bytes of @data with the zstd tool at @level. */
static uint8_t *zstd_compress(const char *dir, const void *data, size_t len,
			      int level, size_t *flen)
{
	char in[128], out[128];
	FILE *f;

	snprintf(in, sizeof(in), "%s/in", dir);
	snprintf(out, sizeof(out), "%s/in.zst", dir);
	f = fopen(in, "wb");
	if (!f)
		return NULL;
	fwrite(data, 1, len, f);
	fclose(f);
	if (sh("zstd -q -f -%d -o %s %s", level, out, in))
		return NULL;
	return slurp(out, flen);
}

FIXTURE_SETUP(z)
{
	size_t i;
	int err;

	self->sfd = -1;
	self->bs = variant->bs;
	if (sh("command -v zstd >/dev/null"))
		SKIP(return, "no zstd tool");
	err = nullb_create(&self->nb, 16, variant->bs, NULL);
	if (err)
		SKIP(return, "no null_blk: %s", strerror(-err));
	snprintf(self->dir, sizeof(self->dir), "/tmp/vzb-zstd-%d", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0700));

	/* Compressible but not trivial: text runs with noise between. */
	self->orig = malloc(ORIG_SIZE);
	ASSERT_NE(NULL, self->orig);
	fill_pattern(self->orig, ORIG_SIZE, 21);
	for (i = 0; i + 64 < ORIG_SIZE; i += 200)
		memcpy(self->orig + i, "virtz block session zstd test data, "
		       "repeated to be compressible....", 64);
	self->frame = zstd_compress(self->dir, self->orig, ORIG_SIZE, 19,
				    &self->flen);
	ASSERT_NE(NULL, self->frame);
	ASSERT_LT(self->flen, (size_t)ORIG_SIZE);

	self->sfd = vzb_open_path(self->nb.dev, 0, NULL);
	ASSERT_LE(0, self->sfd);
	self->mem = mmap(NULL, VMO_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, self->mem, VMO_SIZE, 0,
				    &self->vmo));
}

FIXTURE_TEARDOWN(z)
{
	if (self->sfd >= 0)
		close(self->sfd);
	nullb_destroy(&self->nb);
	if (self->dir[0])
		sh("rm -rf %s", self->dir);
}

/* Writes @prefix junk bytes then @len bytes of @frame at block @blk. */
static uint32_t put_frame(struct __test_metadata *_metadata,
			  FIXTURE_DATA(z) *self, uint64_t blk,
			  const uint8_t *frame, size_t len)
{
	uint32_t blocks = (PREFIX + len + self->bs - 1) / self->bs;
	uint8_t *buf = calloc(blocks, self->bs);

	fill_pattern(buf, PREFIX, 5);
	memcpy(buf + PREFIX, frame, len);
	EXPECT_EQ(0, direct_write(self->nb.dev, blk * self->bs, buf,
				  (size_t)blocks * self->bs));
	free(buf);
	return blocks;
}

static int zread(int sfd, uint16_t vmo, uint32_t blocks, uint64_t vmo_off,
		 uint64_t dev_off, uint32_t total, uint32_t out, uint32_t prefix)
{
	struct virtz_block_fifo_request req;
	struct virtz_block_fifo_response resp;

	vzb_req(&req, VIRTZ_BLOCK_OP_READ, ZSTD_FLAG, 77, vmo, blocks, vmo_off,
		dev_off);
	req.total_compressed_bytes = total;
	req.uncompressed_bytes = out;
	req.compressed_prefix_bytes = prefix;
	return run1(sfd, &req, &resp);
}

TEST_F(z, decompresses_a_real_frame_into_the_vmo)
{
	struct virtz_block_info info;
	uint32_t blocks;

	ASSERT_EQ(0, vzb_get_info(self->sfd, &info));
	ASSERT_NE(0U, info.flags & VIRTZ_BLOCK_DEV_ZSTD_DECOMPRESSION_SUPPORT);
	blocks = put_frame(_metadata, self, 10, self->frame, self->flen);
	memset(self->mem, 0xa5, VMO_SIZE);
	ASSERT_EQ(0, zread(self->sfd, self->vmo, blocks, 1, 10, self->flen,
			   ORIG_SIZE, PREFIX));
	ASSERT_EQ(0, memcmp(self->mem + self->bs, self->orig, ORIG_SIZE));
	/* Nothing outside the output range was touched. */
	ASSERT_EQ(0xa5, self->mem[self->bs - 1]);
	ASSERT_EQ(0xa5, self->mem[self->bs + ORIG_SIZE]);
}

TEST_F(z, two_concatenated_frames_and_a_group)
{
	struct virtz_block_fifo_request req[2];
	struct virtz_block_fifo_response resp[2];
	uint8_t *two, *f2;
	size_t f2len;
	uint32_t blocks, b2;
	int i;

	f2 = zstd_compress(self->dir, self->orig, 5000, 1, &f2len);
	ASSERT_NE(NULL, f2);
	two = malloc(self->flen + f2len);
	memcpy(two, self->frame, self->flen);
	memcpy(two + self->flen, f2, f2len);
	blocks = put_frame(_metadata, self, 0, two, self->flen + f2len);
	b2 = put_frame(_metadata, self, 2000, f2, f2len);
	memset(self->mem, 0, VMO_SIZE);
	/* One group: both frames to block 0, the second frame alone after. */
	for (i = 0; i < 2; i++) {
		vzb_req(&req[i], VIRTZ_BLOCK_OP_READ,
			ZSTD_FLAG | VIRTZ_BLOCK_IO_GROUP_ITEM |
			(i ? VIRTZ_BLOCK_IO_GROUP_LAST : 0), 50 + i, self->vmo,
			i ? b2 : blocks, i ? 700 * 1024 / self->bs : 0,
			i ? 2000 : 0);
		req[i].group = 5;
		req[i].compressed_prefix_bytes = PREFIX;
	}
	req[0].total_compressed_bytes = self->flen + f2len;
	req[0].uncompressed_bytes = ORIG_SIZE + 5000;
	req[1].total_compressed_bytes = f2len;
	req[1].uncompressed_bytes = 5000;
	ASSERT_EQ(1, vzb_run(self->sfd, req, 2, resp));
	ASSERT_EQ(0, resp[0].status);
	ASSERT_EQ(51U, resp[0].reqid);
	ASSERT_EQ(2U, resp[0].count);
	ASSERT_EQ(0, memcmp(self->mem, self->orig, ORIG_SIZE));
	ASSERT_EQ(0, memcmp(self->mem + ORIG_SIZE, self->orig, 5000));
	ASSERT_EQ(0, memcmp(self->mem + 700 * 1024, self->orig, 5000));

	/*
	 * MAX_DECOMPRESSED_BYTES bounds the group: the second request alone
	 * would fail on the VMO's size (-ERANGE), but first the group's sum.
	 */
	req[1].uncompressed_bytes = VIRTZ_BLOCK_MAX_DECOMPRESSED_BYTES -
				    ORIG_SIZE - 5000 + 1;
	ASSERT_EQ(1, vzb_run(self->sfd, req, 2, resp));
	ASSERT_EQ(-EINVAL, resp[0].status);
	ASSERT_EQ(2U, resp[0].count);
	free(two);
	free(f2);
}

/*
 * Into a memfd VMO, across a hole punched after it was attached: the
 * output lands in the memfd's pages as its mapping sees them (300 KiB,
 * more pages than a request references without an array).
 */
TEST_F(z, decompresses_into_a_memfd_with_a_hole)
{
	uint32_t blocks;
	uint16_t vmo;
	uint8_t *m;
	int fd;

	m = memfd_filled("vzb-zstd", VMO_SIZE, 0xa5, &fd);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, fd, 0, 0, 0, &vmo));
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       64 * 1024, 512 * 1024));
	blocks = put_frame(_metadata, self, 10, self->frame, self->flen);
	ASSERT_EQ(0, zread(self->sfd, vmo, blocks, 8192 / self->bs, 10,
			   self->flen, ORIG_SIZE, PREFIX));
	ASSERT_EQ(0, memcmp(m + 8192, self->orig, ORIG_SIZE));
	ASSERT_EQ(0xa5, m[8191]);
	ASSERT_EQ(0, m[8192 + ORIG_SIZE]);
	ASSERT_EQ(0xa5, m[576 * 1024]);
	/* Truncated below the output: -EFAULT, nothing written. */
	ASSERT_EQ(0, ftruncate(fd, 128 * 1024));
	ASSERT_EQ(-EFAULT, zread(self->sfd, vmo, blocks, 0, 10, self->flen,
				 ORIG_SIZE, PREFIX));
	ASSERT_EQ(0, memcmp(m + 8192, self->orig, 64 * 1024));
	ASSERT_EQ(0, munmap(m, VMO_SIZE));
	close(fd);
}

TEST_F(z, corrupt_truncated_and_missized_frames_fail)
{
	uint8_t *bad = malloc(self->flen);
	uint32_t blocks;
	size_t i;

	blocks = put_frame(_metadata, self, 10, self->frame, self->flen);
	/* Too small and too large an output size. */
	ASSERT_EQ(-EBADMSG, zread(self->sfd, self->vmo, blocks, 0, 10,
				  self->flen, ORIG_SIZE - 1, PREFIX));
	ASSERT_EQ(-EBADMSG, zread(self->sfd, self->vmo, blocks, 0, 10,
				  self->flen, ORIG_SIZE + 4096, PREFIX));
	/* Truncated, and misplaced by one byte. */
	ASSERT_EQ(-EBADMSG, zread(self->sfd, self->vmo, blocks, 0, 10,
				  self->flen - 10, ORIG_SIZE, PREFIX));
	ASSERT_EQ(-EBADMSG, zread(self->sfd, self->vmo, blocks, 0, 10,
				  self->flen - 1, ORIG_SIZE, PREFIX + 1));
	/* Corrupt in the middle: the frame checksum or the decoder fails. */
	memcpy(bad, self->frame, self->flen);
	for (i = self->flen / 2; i < self->flen / 2 + 16; i++)
		bad[i] ^= 0x5a;
	blocks = put_frame(_metadata, self, 10, bad, self->flen);
	ASSERT_EQ(-EBADMSG, zread(self->sfd, self->vmo, blocks, 0, 10,
				  self->flen, ORIG_SIZE, PREFIX));
	/* Not zstd at all. */
	fill_pattern(bad, self->flen, 99);
	blocks = put_frame(_metadata, self, 10, bad, self->flen);
	ASSERT_EQ(-EBADMSG, zread(self->sfd, self->vmo, blocks, 0, 10,
				  self->flen, ORIG_SIZE, PREFIX));
	free(bad);
}

TEST_F(z, zstd_fields_are_validated)
{
	uint32_t blocks = put_frame(_metadata, self, 10, self->frame, self->flen);
	uint16_t ro;

	ASSERT_EQ(-EINVAL, zread(self->sfd, self->vmo, blocks, 0, 10, 0,
				 ORIG_SIZE, PREFIX));
	ASSERT_EQ(-EINVAL, zread(self->sfd, self->vmo, blocks, 0, 10,
				 self->flen, 0, PREFIX));
	ASSERT_EQ(-EINVAL, zread(self->sfd, self->vmo, blocks, 0, 10,
				 self->flen,
				 VIRTZ_BLOCK_MAX_DECOMPRESSED_BYTES + 1, PREFIX));
	/* The compressed bytes must lie inside the blocks read. */
	ASSERT_EQ(-EINVAL, zread(self->sfd, self->vmo, blocks, 0, 10,
				 blocks * self->bs - PREFIX + 1, ORIG_SIZE,
				 PREFIX));
	ASSERT_EQ(-EINVAL, zread(self->sfd, self->vmo, blocks, 0, 10,
				 self->flen, ORIG_SIZE, 65535));
	/* The output must fit in the VMO. */
	ASSERT_EQ(-ERANGE, zread(self->sfd, self->vmo, blocks,
				 (VMO_SIZE - ORIG_SIZE) / self->bs + 1, 10,
				 self->flen, ORIG_SIZE, PREFIX));
	ASSERT_EQ(-ERANGE, zread(self->sfd, self->vmo, blocks, 0, 10,
				 self->flen, VMO_SIZE + 1, PREFIX));
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, self->mem, VMO_SIZE,
				    VIRTZ_BLOCK_VMO_READONLY, &ro));
	ASSERT_EQ(-EACCES, zread(self->sfd, ro, blocks, 0, 10, self->flen,
				 ORIG_SIZE, PREFIX));
	/* The VMO still decompresses fine after all that. */
	ASSERT_EQ(0, zread(self->sfd, self->vmo, blocks, 0, 10, self->flen,
			   ORIG_SIZE, PREFIX));
	ASSERT_EQ(0, memcmp(self->mem, self->orig, ORIG_SIZE));
}

TEST_HARNESS_MAIN
