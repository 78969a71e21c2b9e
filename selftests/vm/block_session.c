// SPDX-License-Identifier: GPL-2.0
/*
 * Block FIFO sessions on /dev/virtz-block: every opcode and flag, groups,
 * offset maps, read-only fds, every validation case, VMO lifetime, the
 * FIFO depth, process exit and device removal with I/O in flight, and
 * module unload refused while a session is open.
 *
 * Each test gets its own memory-backed null_blk device (configfs), so the
 * data read back can be checked through O_DIRECT on the device itself.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/*
 * The harness's TEST_F wrapper keeps `child` across setjmp(); whether gcc
 * warns depends on what gets inlined into it.  The variable is not
 * modified between setjmp() and the longjmp() that ends a test.
 */
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "block_util.h"
#include "genl.h"
#include "vz_test.h"

#define DEV_MB		16
#define VMO_SIZE	(256 * 1024)

#define RD	VIRTZ_BLOCK_OP_READ
#define WR	VIRTZ_BLOCK_OP_WRITE
#define ITEM	VIRTZ_BLOCK_IO_GROUP_ITEM
#define LAST	VIRTZ_BLOCK_IO_GROUP_LAST

FIXTURE(sess)
{
	struct nullb nb;
	int sfd;
	uint8_t *mem;		/* anonymous memory attached as vmo_mem */
	int memfd;		/* attached as vmo_fd */
	uint8_t *fdmap;		/* memfd, mapped */
	uint16_t vmo_mem, vmo_fd;
	struct virtz_block_info info;
	unsigned int bs;
};

FIXTURE_VARIANT(sess)
{
	unsigned int bs;
	const char *extra;
};

FIXTURE_VARIANT_ADD(sess, bs512) { .bs = 512, .extra = "discard=1" };
FIXTURE_VARIANT_ADD(sess, bs4096) { .bs = 4096, .extra = "discard=1" };

FIXTURE_SETUP(sess)
{
	int err;

	self->sfd = -1;
	self->memfd = -1;
	self->bs = variant->bs;
	err = nullb_create(&self->nb, DEV_MB, variant->bs, variant->extra);
	if (err)
		SKIP(return, "no null_blk device: %s", strerror(-err));
	self->sfd = vzb_open_path(self->nb.dev, 0, NULL);
	ASSERT_LE(0, self->sfd) TH_LOG("open session: %s", strerror(-self->sfd));
	ASSERT_EQ(0, vzb_get_info(self->sfd, &self->info));

	self->mem = mmap(NULL, VMO_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, self->mem, VMO_SIZE, 0,
				    &self->vmo_mem));

	self->memfd = memfd_create("vzb-test", MFD_CLOEXEC);
	ASSERT_LE(0, self->memfd);
	ASSERT_EQ(0, ftruncate(self->memfd, VMO_SIZE));
	self->fdmap = mmap(NULL, VMO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			   self->memfd, 0);
	ASSERT_NE(MAP_FAILED, self->fdmap);
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, self->memfd, 0, 0, 0,
				      &self->vmo_fd));
	ASSERT_NE(self->vmo_mem, self->vmo_fd);
}

FIXTURE_TEARDOWN(sess)
{
	if (self->sfd >= 0)
		close(self->sfd);
	if (self->memfd >= 0)
		close(self->memfd);
	nullb_destroy(&self->nb);
}

/* One request, one response, which must echo the reqid; its status. */
static int do1(struct __test_metadata *_metadata, int sfd, uint8_t op,
	       uint32_t flags, uint16_t vmoid, uint32_t len, uint64_t vmo_off,
	       uint64_t dev_off)
{
	static uint32_t reqid = 1000;
	struct virtz_block_fifo_request req;
	struct virtz_block_fifo_response resp;
	int st;

	vzb_req(&req, op, flags, ++reqid, vmoid, len, vmo_off, dev_off);
	st = run1(sfd, &req, &resp);
	EXPECT_EQ(reqid, resp.reqid);
	EXPECT_EQ(1U, resp.count);
	return st;
}

#define DO(op, fl, vmo, len, voff, doff) \
	do1(_metadata, self->sfd, op, fl, vmo, len, voff, doff)

TEST_F(sess, info_describes_device)
{
	ASSERT_EQ(self->bs, self->info.block_size);
	ASSERT_EQ((uint64_t)DEV_MB * 1024 * 1024 / self->bs,
		  self->info.block_count);
	ASSERT_EQ(VIRTZ_BLOCK_MAX_TRANSFER, self->info.max_transfer_size);
	ASSERT_EQ(0U, self->info.flags & VIRTZ_BLOCK_DEV_READONLY);
	ASSERT_NE(0U, self->info.flags & VIRTZ_BLOCK_DEV_TRIM_SUPPORT);
	ASSERT_EQ(0U, self->info.flags & VIRTZ_BLOCK_DEV_BARRIER_SUPPORT);
	ASSERT_NE(0U, self->info.flags &
		  VIRTZ_BLOCK_DEV_ZSTD_DECOMPRESSION_SUPPORT);
}

TEST_F(sess, write_then_read_back_both_vmo_kinds)
{
	uint32_t blocks = 64 * 1024 / self->bs;
	uint8_t *check = malloc(64 * 1024);

	ASSERT_NE(NULL, check);
	/* From anonymous memory at block 3 of the VMO to device block 7. */
	fill_pattern(self->mem, VMO_SIZE, 1);
	ASSERT_EQ(0, DO(WR, 0, self->vmo_mem, blocks, 3, 7));
	ASSERT_EQ(0, direct_read(self->nb.dev, 7ULL * self->bs, check,
				 64 * 1024));
	ASSERT_EQ(0, memcmp(check, self->mem + 3 * self->bs, 64 * 1024));

	/* Back into the memfd, seen through its mapping. */
	memset(self->fdmap, 0xee, VMO_SIZE);
	ASSERT_EQ(0, DO(RD, 0, self->vmo_fd, blocks, 1, 7));
	ASSERT_EQ(0, memcmp(self->fdmap + self->bs, check, 64 * 1024));
	ASSERT_EQ(0xee, self->fdmap[0]);
	ASSERT_EQ(0xee, self->fdmap[self->bs + 64 * 1024]);

	/* And a write from the memfd, read back into anonymous memory. */
	fill_pattern(self->fdmap, VMO_SIZE, 2);
	ASSERT_EQ(0, DO(WR, 0, self->vmo_fd, blocks, 0, 1000));
	memset(self->mem, 0, VMO_SIZE);
	ASSERT_EQ(0, DO(RD, 0, self->vmo_mem, blocks, 0, 1000));
	ASSERT_EQ(0, memcmp(self->mem, self->fdmap, 64 * 1024));
	free(check);
}

TEST_F(sess, largest_transfer_and_last_block)
{
	uint32_t max = VIRTZ_BLOCK_MAX_TRANSFER / self->bs;
	uint64_t last = self->info.block_count - 1;
	uint8_t *big, *check;
	uint16_t vmo;

	big = mmap(NULL, 2 * VIRTZ_BLOCK_MAX_TRANSFER, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, big);
	check = malloc(VIRTZ_BLOCK_MAX_TRANSFER);
	ASSERT_NE(NULL, check);
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, big, 2 * VIRTZ_BLOCK_MAX_TRANSFER,
				    0, &vmo));
	fill_pattern(big, 2 * VIRTZ_BLOCK_MAX_TRANSFER, 3);
	/* Unaligned in the VMO for 512-byte blocks: spans 257 pages. */
	ASSERT_EQ(0, DO(WR, 0, vmo, max, 1, 16));
	ASSERT_EQ(0, direct_read(self->nb.dev, 16ULL * self->bs, check,
				 VIRTZ_BLOCK_MAX_TRANSFER));
	ASSERT_EQ(0, memcmp(check, big + self->bs, VIRTZ_BLOCK_MAX_TRANSFER));
	ASSERT_EQ(-EINVAL, DO(WR, 0, vmo, max + 1, 0, 16));

	ASSERT_EQ(0, DO(WR, 0, vmo, 1, 5, last));
	ASSERT_EQ(0, direct_read(self->nb.dev, last * self->bs, check, self->bs));
	ASSERT_EQ(0, memcmp(check, big + 5 * self->bs, self->bs));
	ASSERT_EQ(-ERANGE, DO(WR, 0, vmo, 2, 0, last));
	ASSERT_EQ(-ERANGE, DO(RD, 0, vmo, 1, 0, last + 1));
	free(check);
	munmap(big, 2 * VIRTZ_BLOCK_MAX_TRANSFER);
}

TEST_F(sess, every_validation_case)
{
	uint64_t vmo_blocks = VMO_SIZE / self->bs;
	uint64_t nblk = self->info.block_count;
	struct virtz_block_fifo_request req;
	struct virtz_block_fifo_response resp;
	void *volatile nowhere = NULL;
	uint16_t ro_vmo;

	/* Unknown vmoid. */
	ASSERT_EQ(-EBADF, DO(RD, 0, 0, 1, 0, 0));
	ASSERT_EQ(-EBADF, DO(RD, 0, 77, 1, 0, 0));
	ASSERT_EQ(-EBADF, DO(WR, 0, 65535, 1, 0, 0));
	/* VMO range: past its end, and overflowing. */
	ASSERT_EQ(-ERANGE, DO(RD, 0, self->vmo_mem, 1, vmo_blocks, 0));
	ASSERT_EQ(-ERANGE, DO(RD, 0, self->vmo_mem, 2, vmo_blocks - 1, 0));
	ASSERT_EQ(-ERANGE, DO(RD, 0, self->vmo_mem, 8, UINT64_MAX - 2, 0));
	ASSERT_EQ(0, DO(RD, 0, self->vmo_mem, 1, vmo_blocks - 1, 0));
	/* Device range: past the end, and overflowing. */
	ASSERT_EQ(-ERANGE, DO(RD, 0, self->vmo_mem, 1, 0, nblk));
	ASSERT_EQ(-ERANGE, DO(WR, 0, self->vmo_mem, 4, 0, nblk - 3));
	ASSERT_EQ(-ERANGE, DO(WR, 0, self->vmo_mem, 4, 0, UINT64_MAX - 1));
	ASSERT_EQ(-ERANGE, DO(VIRTZ_BLOCK_OP_TRIM, 0, 0, 4, 0, UINT64_MAX));
	/* Length 0. */
	ASSERT_EQ(-EINVAL, DO(RD, 0, self->vmo_mem, 0, 0, 0));
	ASSERT_EQ(-EINVAL, DO(VIRTZ_BLOCK_OP_TRIM, 0, 0, 0, 0, 0));
	/* Unknown opcodes and flags. */
	ASSERT_EQ(-EINVAL, DO(0, 0, self->vmo_mem, 1, 0, 0));
	ASSERT_EQ(-EINVAL, DO(6, 0, self->vmo_mem, 1, 0, 0));
	ASSERT_EQ(-EINVAL, DO(255, 0, self->vmo_mem, 1, 0, 0));
	ASSERT_EQ(-EINVAL, DO(RD, 0x40, self->vmo_mem, 1, 0, 0));
	ASSERT_EQ(-EINVAL, DO(RD, 0x80000000, self->vmo_mem, 1, 0, 0));
	/* LAST without ITEM. */
	ASSERT_EQ(-EINVAL, DO(RD, LAST, self->vmo_mem, 1, 0, 0));
	/* Inline encryption: Debian's kernels have no blk-crypto. */
	ASSERT_EQ(-EOPNOTSUPP, DO(RD, VIRTZ_BLOCK_IO_INLINE_ENCRYPTION_ENABLED,
				  self->vmo_mem, 1, 0, 0));
	/* zstd only reads. */
	ASSERT_EQ(-EINVAL, DO(WR, VIRTZ_BLOCK_IO_DECOMPRESS_WITH_ZSTD,
			      self->vmo_mem, 1, 0, 0));
	/* A read-only VMO cannot be read into. */
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, self->mem, 4096,
				    VIRTZ_BLOCK_VMO_READONLY, &ro_vmo));
	ASSERT_EQ(-EACCES, DO(RD, 0, ro_vmo, 1, 0, 0));
	ASSERT_EQ(0, DO(WR, 0, ro_vmo, 1, 0, 0));

	/* The session fd itself: whole entries only. */
	vzb_req(&req, RD, 0, 1, self->vmo_mem, 1, 0, 0);
	ASSERT_EQ(-1, write(self->sfd, &req, 63));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, write(self->sfd, &req, 0));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, read(self->sfd, &resp, 63));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, write(self->sfd, nowhere, 64));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, ioctl(self->sfd, _IO(VIRTZ_BLOCK_IOC_MAGIC, 99), 0));
	ASSERT_EQ(ENOTTY, errno);
	ASSERT_EQ(-1, ioctl(self->sfd, VIRTZ_BLOCK_IOC_GET_INFO, NULL));
	ASSERT_EQ(EFAULT, errno);
}

TEST_F(sess, attach_rejects_bad_arguments)
{
	struct virtz_block_attach_vmo a;
	char path[64];
	uint16_t id;
	int fd;

	/* Unaligned address and size, empty, wrapping, unknown flags. */
	ASSERT_EQ(-EINVAL, vzb_attach_mem(self->sfd, self->mem + 1, 4096, 0, &id));
	ASSERT_EQ(-EINVAL, vzb_attach_mem(self->sfd, self->mem, 100, 0, &id));
	ASSERT_EQ(-EINVAL, vzb_attach_mem(self->sfd, self->mem, 0, 0, &id));
	ASSERT_EQ(-EINVAL, vzb_attach_mem(self->sfd, (void *)-4096UL, 8192, 0, &id));
	ASSERT_EQ(-EINVAL, vzb_attach_mem(self->sfd, self->mem, 4096, 2, &id));
	/* Memory that is not mapped. */
	ASSERT_EQ(-EFAULT, vzb_attach_mem(self->sfd, (void *)4096, 4096, 0, &id));
	/* Bad fds: closed, not shmem, beyond its end, unaligned. */
	ASSERT_EQ(-EBADF, vzb_attach_memfd(self->sfd, 9999, 0, 0, 0, &id));
	memset(&a, 0, sizeof(a));
	a.fd = -7;
	a.size = 4096;
	ASSERT_EQ(-1, ioctl(self->sfd, VIRTZ_BLOCK_IOC_ATTACH_VMO, &a));
	ASSERT_EQ(EINVAL, errno);
	fd = open("/proc/self/exe", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-EINVAL, vzb_attach_memfd(self->sfd, fd, 0, 4096,
					    VIRTZ_BLOCK_VMO_READONLY, &id));
	close(fd);
	ASSERT_EQ(-EINVAL, vzb_attach_memfd(self->sfd, self->memfd, 0,
					    VMO_SIZE + 4096, 0, &id));
	ASSERT_EQ(-EINVAL, vzb_attach_memfd(self->sfd, self->memfd, VMO_SIZE,
					    0, 0, &id));
	ASSERT_EQ(-EINVAL, vzb_attach_memfd(self->sfd, self->memfd, 100,
					    4096, 0, &id));
	/* A read-only memfd fd gives only read-only VMOs. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", self->memfd);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-EACCES, vzb_attach_memfd(self->sfd, fd, 0, 0, 0, &id));
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, fd, 0, 0,
				      VIRTZ_BLOCK_VMO_READONLY, &id));
	ASSERT_EQ(-EACCES, DO(RD, 0, id, 1, 0, 0));
	close(fd);
}

TEST_F(sess, open_rejects_bad_arguments)
{
	struct virtz_block_open_session o = { .bdev_fd = -1 };
	struct virtz_block_offset_map map = { 0, 0, 0 };
	int ctl, fd;

	ctl = open("/dev/" VIRTZ_BLOCK_DEV_NAME, O_RDWR);
	ASSERT_LE(0, ctl);
	ASSERT_EQ(-1, ioctl(ctl, VIRTZ_BLOCK_IOC_OPEN_SESSION, &o));
	ASSERT_EQ(EBADF, errno);
	o.bdev_fd = self->memfd;
	ASSERT_EQ(-1, ioctl(ctl, VIRTZ_BLOCK_IOC_OPEN_SESSION, &o));
	ASSERT_EQ(ENOTBLK, errno);
	fd = open(self->nb.dev, O_RDWR);
	ASSERT_LE(0, fd);
	o.bdev_fd = fd;
	o.flags = 0x80;
	ASSERT_EQ(-1, ioctl(ctl, VIRTZ_BLOCK_IOC_OPEN_SESSION, &o));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(ctl, VIRTZ_BLOCK_IOC_OPEN_SESSION, NULL));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, ioctl(ctl, _IO(VIRTZ_BLOCK_IOC_MAGIC, 42), 0));
	ASSERT_EQ(ENOTTY, errno);
	close(ctl);
	/* Maps: empty, past the device, wrapping. */
	ASSERT_EQ(-EINVAL, vzb_open(fd, &map));
	map.length = 2;
	map.target_block_offset = self->info.block_count - 1;
	ASSERT_EQ(-ERANGE, vzb_open(fd, &map));
	map.target_block_offset = 0;
	map.source_block_offset = UINT64_MAX;
	ASSERT_EQ(-EINVAL, vzb_open(fd, &map));
	close(fd);
	/* A write-only fd does not grant reading. */
	fd = open(self->nb.dev, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-EACCES, vzb_open(fd, NULL));
	close(fd);
}

TEST_F(sess, read_only_fd_gives_read_only_session)
{
	uint8_t *check = malloc(self->bs);
	struct virtz_block_info info;
	uint16_t vmo;
	int ro;

	ASSERT_NE(NULL, check);
	fill_pattern(check, self->bs, 9);
	ASSERT_EQ(0, direct_write(self->nb.dev, 5ULL * self->bs, check, self->bs));
	ro = vzb_open_path(self->nb.dev, 1, NULL);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, vzb_get_info(ro, &info));
	ASSERT_NE(0U, info.flags & VIRTZ_BLOCK_DEV_READONLY);
	ASSERT_EQ(0U, info.flags & VIRTZ_BLOCK_DEV_TRIM_SUPPORT);
	ASSERT_EQ(0, vzb_attach_mem(ro, self->mem, VMO_SIZE, 0, &vmo));
	ASSERT_EQ(-EROFS, do1(_metadata, ro, WR, 0, vmo, 1, 0, 5));
	ASSERT_EQ(-EROFS, do1(_metadata, ro, VIRTZ_BLOCK_OP_TRIM, 0, 0, 1, 0, 5));
	ASSERT_EQ(0, do1(_metadata, ro, VIRTZ_BLOCK_OP_FLUSH, 0, 0, 0, 0, 0));
	memset(self->mem, 0, self->bs);
	ASSERT_EQ(0, do1(_metadata, ro, RD, 0, vmo, 1, 0, 5));
	ASSERT_EQ(0, memcmp(self->mem, check, self->bs));
	/* The device is unchanged. */
	memset(check, 0, self->bs);
	ASSERT_EQ(0, direct_read(self->nb.dev, 5ULL * self->bs, check, self->bs));
	fill_pattern(self->mem, self->bs, 9);
	ASSERT_EQ(0, memcmp(self->mem, check, self->bs));
	close(ro);
	free(check);
}

TEST_F(sess, offset_map_translates_and_confines)
{
	struct virtz_block_offset_map map = {
		.source_block_offset = 100,
		.target_block_offset = 1000,
		.length = 50,
	};
	struct virtz_block_info info;
	uint8_t *check = malloc(self->bs);
	uint16_t vmo;
	int m;

	ASSERT_NE(NULL, check);
	m = vzb_open_path(self->nb.dev, 0, &map);
	ASSERT_LE(0, m);
	ASSERT_EQ(0, vzb_get_info(m, &info));
	ASSERT_EQ(50U, info.block_count);
	ASSERT_EQ(0, vzb_attach_mem(m, self->mem, VMO_SIZE, 0, &vmo));
	fill_pattern(self->mem, VMO_SIZE, 4);
	/* Source block 100 is device block 1000; 149 is 1049. */
	ASSERT_EQ(0, do1(_metadata, m, WR, 0, vmo, 1, 0, 100));
	ASSERT_EQ(0, do1(_metadata, m, WR, 0, vmo, 1, 1, 149));
	ASSERT_EQ(0, direct_read(self->nb.dev, 1000ULL * self->bs, check, self->bs));
	ASSERT_EQ(0, memcmp(check, self->mem, self->bs));
	ASSERT_EQ(0, direct_read(self->nb.dev, 1049ULL * self->bs, check, self->bs));
	ASSERT_EQ(0, memcmp(check, self->mem + self->bs, self->bs));
	/* Outside the range, either side, and straddling its end. */
	ASSERT_EQ(-ERANGE, do1(_metadata, m, WR, 0, vmo, 1, 0, 99));
	ASSERT_EQ(-ERANGE, do1(_metadata, m, RD, 0, vmo, 1, 0, 150));
	ASSERT_EQ(-ERANGE, do1(_metadata, m, RD, 0, vmo, 2, 0, 149));
	ASSERT_EQ(-ERANGE, do1(_metadata, m, RD, 0, vmo, 1, 0, 0));
	ASSERT_EQ(-ERANGE, do1(_metadata, m, VIRTZ_BLOCK_OP_TRIM, 0, 0, 51, 0,
			       100));
	ASSERT_EQ(-ERANGE, do1(_metadata, m, RD, 0, vmo, 1, 0,
			       UINT64_MAX - 1));
	close(m);
	free(check);
}

TEST_F(sess, flush_and_trim)
{
	uint8_t *check = malloc(8 * self->bs), *zero = calloc(8, self->bs);

	ASSERT_NE(NULL, check);
	ASSERT_EQ(0, DO(VIRTZ_BLOCK_OP_FLUSH, 0, 0, 0, 0, 0));
	fill_pattern(self->mem, VMO_SIZE, 5);
	ASSERT_EQ(0, DO(WR, VIRTZ_BLOCK_IO_FORCE_ACCESS, self->vmo_mem, 8, 0, 64));
	ASSERT_EQ(0, DO(WR, VIRTZ_BLOCK_IO_PRE_BARRIER, self->vmo_mem, 8, 8, 72));
	ASSERT_EQ(0, DO(WR, VIRTZ_BLOCK_IO_PRE_BARRIER |
			VIRTZ_BLOCK_IO_FORCE_ACCESS, self->vmo_mem, 8, 16, 80));
	ASSERT_EQ(0, direct_read(self->nb.dev, 64ULL * self->bs, check, 8 * self->bs));
	ASSERT_EQ(0, memcmp(check, self->mem, 8 * self->bs));
	ASSERT_EQ(0, direct_read(self->nb.dev, 80ULL * self->bs, check, 8 * self->bs));
	ASSERT_EQ(0, memcmp(check, self->mem + 16 * self->bs, 8 * self->bs));
	/* Reads take the flags too. */
	ASSERT_EQ(0, DO(RD, VIRTZ_BLOCK_IO_FORCE_ACCESS |
			VIRTZ_BLOCK_IO_PRE_BARRIER, self->vmo_fd, 8, 0, 64));
	ASSERT_EQ(0, memcmp(self->fdmap, self->mem, 8 * self->bs));

	/* Trim: memory-backed null_blk reads zeroes where it discarded. */
	ASSERT_EQ(0, DO(VIRTZ_BLOCK_OP_TRIM, VIRTZ_BLOCK_IO_PRE_BARRIER |
			VIRTZ_BLOCK_IO_FORCE_ACCESS, 0, 8, 0, 64));
	ASSERT_EQ(0, direct_read(self->nb.dev, 64ULL * self->bs, check, 8 * self->bs));
	ASSERT_EQ(0, memcmp(check, zero, 8 * self->bs));
	ASSERT_EQ(0, direct_read(self->nb.dev, 72ULL * self->bs, check, 8 * self->bs));
	ASSERT_EQ(0, memcmp(check, self->mem + 8 * self->bs, 8 * self->bs));
	free(check);
	free(zero);
}

TEST(trim_rejected_without_discard)
{
	struct virtz_block_info info;
	struct nullb nb;
	int sfd, err;

	err = nullb_create(&nb, 4, 512, "discard=0");
	if (err)
		SKIP(return, "no null_blk: %s", strerror(-err));
	sfd = vzb_open_path(nb.dev, 0, NULL);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(0, vzb_get_info(sfd, &info));
	ASSERT_EQ(0U, info.flags & VIRTZ_BLOCK_DEV_TRIM_SUPPORT);
	ASSERT_EQ(-EOPNOTSUPP, do1(_metadata, sfd, VIRTZ_BLOCK_OP_TRIM, 0, 0,
				   1, 0, 0));
	close(sfd);
	nullb_destroy(&nb);
}

TEST_F(sess, groups_answer_once_with_last_reqid_count_and_first_error)
{
	struct virtz_block_fifo_request req[8];
	struct virtz_block_fifo_response resp[8];
	uint8_t *check = malloc(4 * self->bs);
	bool seen[3] = { false, false, false };
	int i;

	ASSERT_NE(NULL, check);
	fill_pattern(self->mem, VMO_SIZE, 6);
	/* Group 3: four writes, one response. */
	for (i = 0; i < 4; i++)
		vzb_req(&req[i], WR, ITEM | (i == 3 ? LAST : 0), 10 + i,
			self->vmo_mem, 1, i, 200 + i);
	for (i = 0; i < 4; i++)
		req[i].group = 3;
	ASSERT_EQ(1, vzb_run(self->sfd, req, 4, resp));
	ASSERT_EQ(0, resp[0].status);
	ASSERT_EQ(13U, resp[0].reqid);
	ASSERT_EQ(3, resp[0].group);
	ASSERT_EQ(4U, resp[0].count);
	ASSERT_EQ(0, direct_read(self->nb.dev, 200ULL * self->bs, check, 4 * self->bs));
	ASSERT_EQ(0, memcmp(check, self->mem, 4 * self->bs));

	/* Errors inside a group: the first one is reported. */
	for (i = 0; i < 4; i++)
		vzb_req(&req[i], RD, ITEM | (i == 3 ? LAST : 0), 20 + i,
			self->vmo_mem, 1, i, 200 + i);
	req[1].vmoid = 99;
	req[2].length = 0;
	for (i = 0; i < 4; i++)
		req[i].group = 7;
	ASSERT_EQ(1, vzb_run(self->sfd, req, 4, resp));
	ASSERT_EQ(-EBADF, resp[0].status);
	ASSERT_EQ(23U, resp[0].reqid);
	ASSERT_EQ(7, resp[0].group);
	ASSERT_EQ(4U, resp[0].count);

	/* Two groups interleaved with an ungrouped request. */
	vzb_req(&req[0], RD, ITEM, 30, self->vmo_mem, 1, 0, 0);
	req[0].group = 1;
	vzb_req(&req[1], RD, ITEM, 31, self->vmo_mem, 1, 1, 1);
	req[1].group = 2;
	vzb_req(&req[2], RD, 0, 32, self->vmo_mem, 1, 2, 2);
	vzb_req(&req[3], RD, ITEM | LAST, 33, self->vmo_mem, 1, 3, 3);
	req[3].group = 2;
	vzb_req(&req[4], RD, ITEM | LAST, 34, self->vmo_mem, 1, 4, 4);
	req[4].group = 1;
	ASSERT_EQ(3, vzb_run(self->sfd, req, 5, resp));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, resp[i].status);
		if (resp[i].reqid == 32) {
			ASSERT_EQ(1U, resp[i].count);
			seen[0] = true;
		} else if (resp[i].reqid == 33) {
			ASSERT_EQ(2, resp[i].group);
			ASSERT_EQ(2U, resp[i].count);
			seen[1] = true;
		} else {
			ASSERT_EQ(34U, resp[i].reqid);
			ASSERT_EQ(1, resp[i].group);
			ASSERT_EQ(2U, resp[i].count);
			seen[2] = true;
		}
	}
	ASSERT_TRUE(seen[0] && seen[1] && seen[2]);
	free(check);
}

TEST_F(sess, group_out_of_range_is_dropped_or_rejected)
{
	struct virtz_block_fifo_request req[3];
	struct virtz_block_fifo_response resp[3];
	uint8_t *check = malloc(self->bs), *zero = calloc(1, self->bs);
	int fl;

	/* Items of group 8 are dropped: no response, nothing written. */
	fill_pattern(self->mem, VMO_SIZE, 7);
	vzb_req(&req[0], WR, ITEM, 40, self->vmo_mem, 1, 0, 300);
	req[0].group = VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT;
	vzb_req(&req[1], WR, ITEM, 41, self->vmo_mem, 1, 0, 301);
	req[1].group = 0xffff;
	ASSERT_EQ(2, vzb_submit(self->sfd, req, 2));
	fl = fcntl(self->sfd, F_GETFL);
	ASSERT_EQ(0, fcntl(self->sfd, F_SETFL, fl | O_NONBLOCK));
	ASSERT_EQ(-EAGAIN, vzb_reap(self->sfd, resp, 3));
	ASSERT_EQ(0, fcntl(self->sfd, F_SETFL, fl));
	ASSERT_EQ(0, direct_read(self->nb.dev, 300ULL * self->bs, check, self->bs));
	ASSERT_EQ(0, memcmp(check, zero, self->bs));
	free(check);
	free(zero);
	/* Its LAST gets an error, counting only itself. */
	vzb_req(&req[2], WR, ITEM | LAST, 42, self->vmo_mem, 1, 0, 302);
	req[2].group = 9;
	ASSERT_EQ(1, vzb_run(self->sfd, &req[2], 1, resp));
	ASSERT_EQ(-EINVAL, resp[0].status);
	ASSERT_EQ(42U, resp[0].reqid);
	ASSERT_EQ(1U, resp[0].count);
}

static void fifo_depth(struct __test_metadata *_metadata, FIXTURE_DATA(sess) *self)
{
	struct virtz_block_fifo_request req[VIRTZ_BLOCK_FIFO_DEPTH + 1];
	struct virtz_block_fifo_response resp[VIRTZ_BLOCK_FIFO_DEPTH + 1];
	struct pollfd pfd = { .fd = self->sfd, .events = POLLIN | POLLOUT };
	uint64_t seen = 0;
	bool last_seen = false;
	int i, got = 0;

	for (i = 0; i <= VIRTZ_BLOCK_FIFO_DEPTH; i++)
		vzb_req(&req[i], RD, 0, i, self->vmo_mem, 1, i % 32, i);
	ASSERT_EQ(0, fcntl(self->sfd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	ASSERT_EQ(POLLOUT, pfd.revents);
	/* 65 offered, 64 taken; then the FIFO is full until one is read. */
	ASSERT_EQ(VIRTZ_BLOCK_FIFO_DEPTH,
		  vzb_submit(self->sfd, req, VIRTZ_BLOCK_FIFO_DEPTH + 1));
	ASSERT_EQ(-EAGAIN, vzb_submit(self->sfd, &req[VIRTZ_BLOCK_FIFO_DEPTH], 1));
	/*
	 * The device completes them: answers come in (all at once where
	 * they were submitted in write(), one by one where a worker submits
	 * them), and an unread answer holds its place: none writable.
	 */
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(1, poll(&pfd, 1, 1000));
		if (pfd.revents == POLLIN)
			break;
	}
	ASSERT_EQ(POLLIN, pfd.revents);
	ASSERT_EQ(1, vzb_reap(self->sfd, resp, 1));
	seen |= 1ULL << resp[0].reqid;
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	ASSERT_TRUE(pfd.revents & POLLOUT);
	ASSERT_EQ(1, vzb_submit(self->sfd, &req[VIRTZ_BLOCK_FIFO_DEPTH], 1));
	/* Every request answered once: reqids 0..64. */
	pfd.events = POLLIN;
	while (got < VIRTZ_BLOCK_FIFO_DEPTH) {
		ssize_t k;

		ASSERT_EQ(1, poll(&pfd, 1, 5000));
		k = vzb_reap(self->sfd, resp, VIRTZ_BLOCK_FIFO_DEPTH + 1);
		ASSERT_LT(0, k);
		for (i = 0; i < k; i++) {
			ASSERT_EQ(0, resp[i].status);
			ASSERT_GE(64U, resp[i].reqid);
			if (resp[i].reqid == VIRTZ_BLOCK_FIFO_DEPTH) {
				ASSERT_FALSE(last_seen);
				last_seen = true;
			} else {
				ASSERT_EQ(0ULL, seen & (1ULL << resp[i].reqid));
				seen |= 1ULL << resp[i].reqid;
			}
		}
		got += k;
	}
	ASSERT_EQ(VIRTZ_BLOCK_FIFO_DEPTH, got);
	ASSERT_EQ(~0ULL, seen);
	ASSERT_TRUE(last_seen);
	ASSERT_EQ(-EAGAIN, vzb_reap(self->sfd, resp, 1));
}

TEST_F(sess, fifo_depth_bounds_requests_in_flight)
{
	fifo_depth(_metadata, self);
}

TEST_F(sess, submit_reap_ioctl)
{
	struct virtz_block_fifo_request req[VIRTZ_BLOCK_FIFO_DEPTH + 6];
	struct virtz_block_fifo_response resp[VIRTZ_BLOCK_FIFO_DEPTH];
	struct virtz_block_submit_reap sr;
	uint32_t nreq, nresp, i, total;

	fill_pattern(self->mem, VMO_SIZE, 8);
	vzb_req(&req[0], WR, 0, 1, self->vmo_mem, 4, 0, 40);
	vzb_req(&req[1], WR, 0, 2, self->vmo_mem, 4, 4, 44);
	vzb_req(&req[2], RD, 0, 3, 77, 4, 0, 40);	/* bad vmoid */
	vzb_req(&req[3], VIRTZ_BLOCK_OP_FLUSH, 0, 4, 0, 0, 0, 0);
	nreq = 4;
	nresp = 8;
	ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp, &nresp, 4));
	ASSERT_EQ(4U, nreq);
	ASSERT_EQ(4U, nresp);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(resp[i].reqid == 3 ? -EBADF : 0, resp[i].status);
	/* Read back what the writes put there, reaping only. */
	vzb_req(&req[0], RD, 0, 5, self->vmo_fd, 8, 0, 40);
	nreq = 1;
	nresp = 0;
	ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp, &nresp, 0));
	ASSERT_EQ(1U, nreq);
	nreq = 0;
	nresp = 1;
	ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp, &nresp, 1));
	ASSERT_EQ(1U, nresp);
	ASSERT_EQ(5U, resp[0].reqid);
	ASSERT_EQ(0, memcmp(self->fdmap, self->mem, 8 * self->bs));
	/* Nothing in flight: min_responses does not wait forever. */
	nreq = 0;
	nresp = 4;
	ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp, &nresp, 4));
	ASSERT_EQ(0U, nresp);

	/* Never blocks on a full FIFO: takes 64 of 70, then reaps. */
	for (i = 0; i < VIRTZ_BLOCK_FIFO_DEPTH + 6; i++)
		vzb_req(&req[i], RD, 0, 100 + i, self->vmo_mem, 1, i % 32, i);
	nreq = VIRTZ_BLOCK_FIFO_DEPTH + 6;
	nresp = 0;
	ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp, &nresp, 0));
	ASSERT_EQ((uint32_t)VIRTZ_BLOCK_FIFO_DEPTH, nreq);
	total = 0;
	while (total < VIRTZ_BLOCK_FIFO_DEPTH) {
		nreq = 0;
		nresp = VIRTZ_BLOCK_FIFO_DEPTH;
		ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp,
					     &nresp, 1));
		ASSERT_LT(0U, nresp);
		total += nresp;
	}
	ASSERT_EQ((uint32_t)VIRTZ_BLOCK_FIFO_DEPTH, total);

	/* Bad arguments. */
	memset(&sr, 0, sizeof(sr));
	sr.flags = 1;
	ASSERT_EQ(-1, ioctl(self->sfd, VIRTZ_BLOCK_IOC_SUBMIT_REAP, &sr));
	ASSERT_EQ(EINVAL, errno);
	sr.flags = 0;
	sr.min_responses = 2;
	sr.nr_responses = 1;
	ASSERT_EQ(-1, ioctl(self->sfd, VIRTZ_BLOCK_IOC_SUBMIT_REAP, &sr));
	ASSERT_EQ(EINVAL, errno);
	sr.min_responses = 0;
	sr.nr_requests = 1;
	sr.requests = 8;
	ASSERT_EQ(-1, ioctl(self->sfd, VIRTZ_BLOCK_IOC_SUBMIT_REAP, &sr));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, ioctl(self->sfd, VIRTZ_BLOCK_IOC_SUBMIT_REAP, NULL));
	ASSERT_EQ(EFAULT, errno);
}

static uint32_t xs(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Random bytes, nudged so that some requests get past validation. */
static void random_request(struct virtz_block_fifo_request *r, uint32_t *x,
			   uint64_t nblk, uint64_t vmo_blocks)
{
	uint8_t raw[64];
	unsigned int i;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = xs(x);
	vzb_decode_bytes(raw, sizeof(raw), r, 1);
	if (xs(x) % 4)
		r->opcode = xs(x) % 7;
	if (xs(x) % 4)
		r->flags &= 0x3f;
	if (xs(x) % 2)
		r->flags &= ~(uint32_t)0x30;
	if (xs(x) % 4)
		r->vmoid = xs(x) % 4;
	if (xs(x) % 2)
		r->group %= 10;
	if (xs(x) % 2) {
		r->length = 1 + xs(x) % 64;
		r->vmo_offset = xs(x) % vmo_blocks;
		r->dev_offset = xs(x) % nblk;
	}
}

static bool known_status(int st)
{
	switch (st) {
	case 0: case -EINVAL: case -EBADF: case -ERANGE: case -EROFS:
	case -EACCES: case -EOPNOTSUPP: case -EBUSY: case -EBADMSG:
		return true;
	default:
		return false;
	}
}

/* Thousands of random requests: answers with known errors, no crash. */
TEST_F(sess, random_requests_get_sane_answers)
{
	struct virtz_block_fifo_request req[32];
	struct virtz_block_fifo_response resp[VIRTZ_BLOCK_FIFO_DEPTH];
	uint64_t vmo_blocks = VMO_SIZE / self->bs;
	uint32_t x = 0x2545f491 ^ (uint32_t)getpid(), seed = x;
	uint32_t sent = 0, answered = 0, nreq, nresp, i, g;
	uint16_t g16;
	int rounds;

	TH_LOG("seed %u", seed);
	for (rounds = 0; rounds < 150; rounds++) {
		for (i = 0; i < 32; i++)
			random_request(&req[i], &x, self->info.block_count,
				       vmo_blocks);
		nreq = 32;
		nresp = VIRTZ_BLOCK_FIFO_DEPTH;
		ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp,
					     &nresp, 0));
		sent += nreq;
		for (i = 0; i < nresp; i++) {
			ASSERT_TRUE(known_status(resp[i].status))
				TH_LOG("status %d", resp[i].status);
			ASSERT_LE(1U, resp[i].count);
			answered += resp[i].count;
		}
	}
	/* Close every group, then drain until nothing is in flight. */
	for (g = 0; g < VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT; g++) {
		vzb_req(&req[g], VIRTZ_BLOCK_OP_FLUSH, ITEM | LAST, 0, 0, 0, 0, 0);
		req[g].group = g;
	}
	nreq = VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT;
	do {
		nresp = VIRTZ_BLOCK_FIFO_DEPTH;
		ASSERT_EQ(0, vzb_submit_reap(self->sfd, req, &nreq, resp,
					     &nresp, VIRTZ_BLOCK_FIFO_DEPTH));
		for (i = 0; i < nresp; i++) {
			ASSERT_TRUE(known_status(resp[i].status));
			answered += resp[i].count;
		}
		nreq = 0;
	} while (nresp);
	TH_LOG("%u random requests taken, %u answered", sent, answered);
	ASSERT_LE(answered, sent + VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT);
	ASSERT_LT(sent / 2, answered);

	/* The session still works: reattach (CLOSE_VMO may have hit them). */
	fill_pattern(self->mem, self->bs, 31);
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, self->mem, VMO_SIZE, 0, &g16));
	ASSERT_EQ(0, DO(WR, 0, g16, 1, 0, 0));
	memset(self->fdmap, 0, self->bs);
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, self->memfd, 0, 0, 0, &g16));
	ASSERT_EQ(0, DO(RD, 0, g16, 1, 0, 0));
	ASSERT_EQ(0, memcmp(self->fdmap, self->mem, self->bs));
}

TEST_F(sess, too_many_vmos_and_close_vmo)
{
	uint16_t ids[VIRTZ_BLOCK_MAX_VMOS], id;
	int n = 0, err;

	/* Two are attached by the fixture. */
	while (!(err = vzb_attach_mem(self->sfd, self->mem, 4096, 0, &ids[n])))
		n++;
	ASSERT_EQ(-ENOSPC, err);
	ASSERT_EQ(VIRTZ_BLOCK_MAX_VMOS - 2, n);

	/* CLOSE_VMO frees the id; later requests on it fail. */
	ASSERT_EQ(0, DO(VIRTZ_BLOCK_OP_CLOSE_VMO, 0, ids[5], 0, 0, 0));
	ASSERT_EQ(-EBADF, DO(RD, 0, ids[5], 1, 0, 0));
	ASSERT_EQ(-EBADF, DO(VIRTZ_BLOCK_OP_CLOSE_VMO, 0, ids[5], 0, 0, 0));
	ASSERT_EQ(-EBADF, DO(VIRTZ_BLOCK_OP_CLOSE_VMO, 0, 0, 0, 0, 0));
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, self->mem, 4096, 0, &id));
	ASSERT_EQ(ids[5], id);
	/* The memfd VMO closes too, and its memory stays the caller's. */
	ASSERT_EQ(0, DO(VIRTZ_BLOCK_OP_CLOSE_VMO, 0, self->vmo_fd, 0, 0, 0));
	self->fdmap[0] = 0x5a;
	ASSERT_EQ(0x5a, self->fdmap[0]);
}

/*
 * Pinned memory outlives the caller's view of it: unmapped anonymous
 * memory still takes I/O safely, and what was written into it reads back
 * through the device.  A memfd VMO is the memfd itself: truncated to
 * nothing, its range answers -EFAULT, whatever was mapped.
 */
TEST_F(sess, vmo_memory_outlives_munmap_and_truncate)
{
	uint8_t *check = malloc(4 * self->bs), *pat = malloc(4 * self->bs);
	uint16_t vmo;
	uint8_t *m;

	ASSERT_NE(NULL, check);
	m = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	fill_pattern(m, 65536, 12);
	memcpy(pat, m, 4 * self->bs);
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, m, 65536, 0, &vmo));
	ASSERT_EQ(0, munmap(m, 65536));
	/* The pinned pages still hold what was there. */
	ASSERT_EQ(0, DO(WR, 0, vmo, 4, 0, 500));
	ASSERT_EQ(0, direct_read(self->nb.dev, 500ULL * self->bs, check,
				 4 * self->bs));
	ASSERT_EQ(0, memcmp(check, pat, 4 * self->bs));
	ASSERT_EQ(0, DO(RD, 0, vmo, 4, 4, 500));

	/* The memfd loses all its pages, and the VMO with it. */
	fill_pattern(self->fdmap, 4 * self->bs, 13);
	ASSERT_EQ(0, munmap(self->fdmap, VMO_SIZE));
	ASSERT_EQ(0, ftruncate(self->memfd, 0));
	ASSERT_EQ(-EFAULT, DO(WR, 0, self->vmo_fd, 4, 0, 600));
	ASSERT_EQ(-EFAULT, DO(RD, 0, self->vmo_fd, 4, 8, 600));
	ASSERT_EQ(0, DO(VIRTZ_BLOCK_OP_CLOSE_VMO, 0, self->vmo_fd, 0, 0, 0));
	ASSERT_EQ(0, DO(VIRTZ_BLOCK_OP_CLOSE_VMO, 0, vmo, 0, 0, 0));
	free(check);
	free(pat);
}

/* Allocated blocks of @fd (st_blocks, 512-byte units), or -1. */
static long long fd_blocks(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long long)st.st_blocks;
}

/*
 * Pages freed so far in the system (pgfree in /proc/vmstat), or -1.  It
 * counts a page when it is freed, onto a per-cpu list or not: MemFree
 * misses pages on per-cpu lists, which can hold all of a test's 64 MiB.
 */
static long long pages_freed(void)
{
	char line[128];
	long long n = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "pgfree %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

#define PUNCH	(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)

/*
 * The balloon's case: a hole punched in an attached memfd.  A READ into
 * the hole lands in the memfd's new page, the one its mapping sees (a
 * session that kept the old pages would leave the mapping reading zeros).
 */
TEST_F(sess, memfd_read_into_punched_hole_reaches_the_mapping)
{
	uint32_t blocks = 64 * 1024 / self->bs;
	uint8_t *pat = malloc(64 * 1024);

	ASSERT_NE(NULL, pat);
	fill_pattern(pat, 64 * 1024, 31);
	ASSERT_EQ(0, direct_write(self->nb.dev, 100ULL * self->bs, pat,
				  64 * 1024));
	memset(self->fdmap, 0x11, VMO_SIZE);
	/* Use the pages through the session first. */
	ASSERT_EQ(0, DO(RD, 0, self->vmo_fd, blocks, 0, 100));
	ASSERT_EQ(0, memcmp(self->fdmap, pat, 64 * 1024));

	ASSERT_EQ(0, fallocate(self->memfd, PUNCH, 64 * 1024, 128 * 1024));
	ASSERT_EQ(0, self->fdmap[64 * 1024]);
	ASSERT_EQ(0, self->fdmap[192 * 1024 - 1]);
	ASSERT_EQ(0, DO(RD, 0, self->vmo_fd, blocks, blocks + 1, 100));
	ASSERT_EQ(0, memcmp(self->fdmap + 64 * 1024 + self->bs, pat,
			    64 * 1024));
	/* Around it, the hole reads zeros and the rest is untouched. */
	ASSERT_EQ(0, self->fdmap[64 * 1024 + self->bs - 1]);
	ASSERT_EQ(0, self->fdmap[128 * 1024 + self->bs]);
	ASSERT_EQ(0x11, self->fdmap[192 * 1024]);
	free(pat);
}

/*
 * After a punch, a WRITE from the VMO sends what the memfd holds now:
 * the data written through the mapping into the re-populated hole, and
 * zeros from a hole nothing touched.
 */
TEST_F(sess, memfd_write_after_punch_sends_the_new_pages)
{
	uint32_t blocks = 32 * 1024 / self->bs;
	uint8_t *check = malloc(64 * 1024), *pat = malloc(32 * 1024);
	uint8_t zero[4096] = { 0 };

	ASSERT_NE(NULL, check);
	ASSERT_NE(NULL, pat);
	fill_pattern(self->fdmap, VMO_SIZE, 32);
	ASSERT_EQ(0, DO(WR, 0, self->vmo_fd, blocks, 0, 200));

	ASSERT_EQ(0, fallocate(self->memfd, PUNCH, 0, 64 * 1024));
	fill_pattern(pat, 32 * 1024, 33);
	memcpy(self->fdmap, pat, 32 * 1024);
	ASSERT_EQ(0, DO(WR, 0, self->vmo_fd, 2 * blocks, 0, 200));
	ASSERT_EQ(0, direct_read(self->nb.dev, 200ULL * self->bs, check,
				 64 * 1024));
	ASSERT_EQ(0, memcmp(check, pat, 32 * 1024));
	ASSERT_EQ(0, memcmp(check + 32 * 1024, zero, sizeof(zero)));
	ASSERT_EQ(0, memcmp(check + 60 * 1024, zero, sizeof(zero)));
	free(check);
	free(pat);
}

/*
 * A memfd truncated below the VMO's end while attached: requests on the
 * part that is gone answer -EFAULT (the part that is left still works);
 * grown back, the range takes I/O again, into fresh pages.
 */
TEST_F(sess, memfd_truncated_while_attached_answers_efault)
{
	uint32_t half = VMO_SIZE / 2 / self->bs;
	uint8_t *pat = malloc(8192);

	ASSERT_NE(NULL, pat);
	fill_pattern(pat, 8192, 34);
	ASSERT_EQ(0, direct_write(self->nb.dev, 300ULL * self->bs, pat, 8192));
	ASSERT_EQ(0, ftruncate(self->memfd, VMO_SIZE / 2));
	ASSERT_EQ(-EFAULT, DO(RD, 0, self->vmo_fd, 1, half, 300));
	ASSERT_EQ(-EFAULT, DO(WR, 0, self->vmo_fd, 1, half + 3, 300));
	/* Straddling the new end. */
	ASSERT_EQ(-EFAULT, DO(RD, 0, self->vmo_fd, 8192 / self->bs,
			      half - 1, 300));
	/* Still bounded by the VMO's size, not by the memfd's. */
	ASSERT_EQ(0, ftruncate(self->memfd, 2 * VMO_SIZE));
	ASSERT_EQ(-ERANGE, DO(RD, 0, self->vmo_fd, 1, 2 * half, 300));
	ASSERT_EQ(0, ftruncate(self->memfd, VMO_SIZE));
	ASSERT_EQ(0, DO(RD, 0, self->vmo_fd, 8192 / self->bs, half, 300));
	ASSERT_EQ(0, memcmp(self->fdmap + VMO_SIZE / 2, pat, 8192));
	ASSERT_EQ(0, DO(RD, 0, self->vmo_fd, 8192 / self->bs, 0, 300));
	ASSERT_EQ(0, memcmp(self->fdmap, pat, 8192));
	free(pat);
}

/*
 * Nothing of an attached memfd stays pinned: punching it while attached
 * (after I/O through the session) gives its memory back to the system,
 * as st_blocks and the count of pages freed show, and the VMO works on.
 */
TEST_F(sess, memfd_punch_while_attached_frees_the_memory)
{
	const size_t size = 64 << 20;
	long long before, after, freed0, freed1;
	uint16_t vmo;
	uint8_t *m;
	int fd;

	m = memfd_filled("vzb-big", size, 0x77, &fd);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, munmap(m, size));
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, fd, 0, 0, 0, &vmo));
	/* Through the session, both ways, at both ends. */
	ASSERT_EQ(0, DO(WR, 0, vmo, 16, 0, 0));
	ASSERT_EQ(0, DO(RD, 0, vmo, 16, size / self->bs - 16, 0));
	before = fd_blocks(fd);
	ASSERT_LE((long long)size / 512, before);

	freed0 = pages_freed();
	ASSERT_LE(0, freed0);
	ASSERT_EQ(0, fallocate(fd, PUNCH, 0, size));
	freed1 = pages_freed();
	after = fd_blocks(fd);
	TH_LOG("st_blocks %lld -> %lld, %lld pages freed", before, after,
	       freed1 - freed0);
	ASSERT_EQ(0, after);
	/*
	 * Three quarters at least (the rest of the system frees pages too,
	 * which only adds; a few may wait in a per-cpu LRU batch).  Were
	 * the pages held, st_blocks would drop all the same, but not this.
	 */
	ASSERT_LE((long long)size / 4096 * 3 / 4, freed1 - freed0);

	/* A READ re-populates what it touches, not the whole memfd. */
	ASSERT_EQ(0, DO(RD, 0, vmo, 16, 0, 0));
	ASSERT_LT(0, fd_blocks(fd));
	ASSERT_GT((long long)size / 512 / 4, fd_blocks(fd));
	ASSERT_EQ(0, DO(VIRTZ_BLOCK_OP_CLOSE_VMO, 0, vmo, 0, 0, 0));
	close(fd);
}

/*
 * Write seals: a READ writes into the VMO, so a memfd sealed against
 * writing no longer takes one (-EACCES), while WRITEs from it go on.  A
 * writable VMO cannot be attached to a sealed memfd (-EPERM), a read-only
 * one can.  F_SEAL_WRITE waits for pages in use: that an attached VMO
 * does not stop it shows that nothing is held between requests.
 */
TEST_F(sess, memfd_write_seals_stop_reads_into_it)
{
	uint8_t *check = malloc(4096), *m;
	uint16_t vmo, ro;
	int fd;

	ASSERT_NE(NULL, check);
	/* F_SEAL_FUTURE_WRITE on a memfd mapped writable, as virtzd's. */
	fd = memfd_create("vzb-seal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 65536));
	m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, fd, 0, 0, 0, &vmo));
	ASSERT_EQ(0, DO(RD, 0, vmo, 8, 0, 0));
	ASSERT_EQ(0, fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	memset(m, 0x36, 4096);
	ASSERT_EQ(-EACCES, DO(RD, 0, vmo, 4096 / self->bs, 0, 0));
	ASSERT_EQ(0x36, m[0]);
	ASSERT_EQ(0, DO(WR, 0, vmo, 4096 / self->bs, 0, 0));
	ASSERT_EQ(0, direct_read(self->nb.dev, 0, check, 4096));
	ASSERT_EQ(0, memcmp(check, m, 4096));
	ASSERT_EQ(-EPERM, vzb_attach_memfd(self->sfd, fd, 0, 0, 0, &ro));
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, fd, 0, 0,
				      VIRTZ_BLOCK_VMO_READONLY, &ro));
	ASSERT_EQ(0, DO(WR, 0, ro, 1, 0, 0));
	ASSERT_EQ(0, munmap(m, 65536));
	close(fd);

	/* F_SEAL_WRITE on an unmapped memfd, attached and used. */
	fd = memfd_create("vzb-seal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 65536));
	ASSERT_EQ(0, vzb_attach_memfd(self->sfd, fd, 0, 0, 0, &vmo));
	ASSERT_EQ(0, DO(RD, 0, vmo, 8, 0, 0));
	ASSERT_EQ(0, DO(WR, 0, vmo, 8, 0, 0));
	ASSERT_EQ(0, fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	ASSERT_EQ(-EACCES, DO(RD, 0, vmo, 8, 0, 0));
	ASSERT_EQ(0, DO(WR, 0, vmo, 8, 0, 0));
	close(fd);
	free(check);
}

/* A device whose every request takes @ms milliseconds. */
static int slow_dev(struct nullb *nb, unsigned int ms)
{
	char extra[128];

	snprintf(extra, sizeof(extra), "irqmode=2 completion_nsec=%u",
		 ms * 1000000);
	return nullb_create(nb, 8, 4096, extra);
}

TEST(close_vmo_waits_for_its_io)
{
	struct virtz_block_fifo_request req[3];
	struct virtz_block_fifo_response resp[3];
	struct nullb nb;
	uint16_t vmo, vmo2;
	uint8_t *mem;
	int sfd, err;

	err = slow_dev(&nb, 300);
	if (err)
		SKIP(return, "no null_blk: %s", strerror(-err));
	sfd = vzb_open_path(nb.dev, 0, NULL);
	ASSERT_LE(0, sfd);
	mem = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, vzb_attach_mem(sfd, mem, 65536, 0, &vmo));
	ASSERT_EQ(0, vzb_attach_mem(sfd, mem, 65536, 0, &vmo2));
	vzb_req(&req[0], RD, 0, 1, vmo, 4, 0, 0);
	vzb_req(&req[1], VIRTZ_BLOCK_OP_CLOSE_VMO, 0, 2, vmo, 0, 0, 0);
	/* Already detached: a request right after the close fails at once. */
	vzb_req(&req[2], RD, 0, 3, vmo, 4, 0, 0);
	ASSERT_EQ(3, vzb_run(sfd, req, 3, resp));
	ASSERT_EQ(3U, resp[0].reqid);
	ASSERT_EQ(-EBADF, resp[0].status);
	ASSERT_EQ(1U, resp[1].reqid);
	ASSERT_EQ(0, resp[1].status);
	ASSERT_EQ(2U, resp[2].reqid);
	ASSERT_EQ(0, resp[2].status);

	/* A LAST on a group still in flight fails; the group still answers. */
	vzb_req(&req[0], RD, ITEM | LAST, 10, vmo2, 1, 0, 0);
	vzb_req(&req[1], RD, ITEM | LAST, 11, vmo2, 1, 0, 0);
	req[0].group = req[1].group = 4;
	ASSERT_EQ(2, vzb_run(sfd, req, 2, resp));
	ASSERT_EQ(11U, resp[0].reqid);
	ASSERT_EQ(-EBUSY, resp[0].status);
	ASSERT_EQ(10U, resp[1].reqid);
	ASSERT_EQ(0, resp[1].status);
	ASSERT_EQ(1U, resp[1].count);
	close(sfd);
	nullb_destroy(&nb);
}

static unsigned int module_refcnt(void)
{
	unsigned int n = ~0U;
	FILE *f = fopen("/sys/module/virtz_fvm/refcnt", "r");

	if (f) {
		if (fscanf(f, "%u", &n) != 1)
			n = ~0U;
		fclose(f);
	}
	return n;
}

TEST(process_exit_with_io_in_flight)
{
	unsigned int before = module_refcnt();
	struct nullb nb;
	int err, status;
	pid_t pid;

	err = slow_dev(&nb, 200);
	if (err)
		SKIP(return, "no null_blk: %s", strerror(-err));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct virtz_block_fifo_request req[VIRTZ_BLOCK_FIFO_DEPTH];
		int memfd = memfd_create("x", 0), sfd, i;
		uint16_t vmo;

		sfd = vzb_open_path(nb.dev, 0, NULL);
		if (sfd < 0 || ftruncate(memfd, 1 << 20) ||
		    vzb_attach_memfd(sfd, memfd, 0, 0, 0, &vmo))
			_exit(2);
		for (i = 0; i < VIRTZ_BLOCK_FIFO_DEPTH; i++)
			vzb_req(&req[i], i % 2 ? RD : WR, 0, i, vmo, 4,
				4 * i, 4 * i);
		if (vzb_submit(sfd, req, VIRTZ_BLOCK_FIFO_DEPTH) !=
		    VIRTZ_BLOCK_FIFO_DEPTH)
			_exit(3);
		/* Exit with all of them in flight and the memfd closed. */
		close(memfd);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* The session went with the process: the module's count is back. */
	ASSERT_EQ(before, module_refcnt());
	nullb_destroy(&nb);
}

TEST(device_removed_under_open_session)
{
	struct virtz_block_fifo_request req[2];
	struct virtz_block_fifo_response resp[2];
	struct virtz_block_info info;
	struct nullb nb;
	uint8_t *mem;
	uint16_t vmo;
	int sfd, err;

	err = nullb_create(&nb, 4, 4096, NULL);
	if (err)
		SKIP(return, "no null_blk: %s", strerror(-err));
	sfd = vzb_open_path(nb.dev, 0, NULL);
	ASSERT_LE(0, sfd);
	mem = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, vzb_attach_mem(sfd, mem, 65536, 0, &vmo));
	ASSERT_EQ(0, do1(_metadata, sfd, WR, 0, vmo, 1, 0, 0));

	/* Power the device off: del_gendisk with the session holding it. */
	ASSERT_EQ(0, nullb_set(&nb, "power", "0"));
	ASSERT_FALSE(is_blockdev(nb.dev));
	ASSERT_EQ(0, vzb_get_info(sfd, &info));
	ASSERT_EQ(0U, info.block_count);
	vzb_req(&req[0], RD, 0, 1, vmo, 1, 0, 0);
	vzb_req(&req[1], WR, 0, 2, vmo, 1, 0, 0);
	ASSERT_EQ(2, vzb_run(sfd, req, 2, resp));
	ASSERT_GT(0, resp[0].status);
	ASSERT_GT(0, resp[1].status);
	/* A flush may succeed (no cache left to flush) but must answer. */
	vzb_req(&req[0], VIRTZ_BLOCK_OP_FLUSH, 0, 3, 0, 0, 0, 0);
	ASSERT_EQ(1, vzb_run(sfd, req, 1, resp));
	ASSERT_EQ(3U, resp[0].reqid);
	close(sfd);
	nullb_destroy(&nb);
}

TEST(module_unload_refused_while_session_open)
{
	struct nullb nb;
	int sfd, err;

	err = nullb_create(&nb, 4, 4096, NULL);
	if (err)
		SKIP(return, "no null_blk: %s", strerror(-err));
	sfd = vzb_open_path(nb.dev, 0, NULL);
	ASSERT_LE(0, sfd);
	/* The control fd is closed by now: the session alone pins it. */
	err = vz_mod_unload("virtz_fvm");
	ASSERT_TRUE(err == -EWOULDBLOCK || err == -EBUSY) TH_LOG("%d", err);
	ASSERT_TRUE(vz_mod_loaded("virtz_fvm"));
	ASSERT_EQ(0, do1(_metadata, sfd, VIRTZ_BLOCK_OP_FLUSH, 0, 0, 0, 0, 0));
	close(sfd);
	nullb_destroy(&nb);
}

static int parse_features(struct nlattr **tb, void *arg)
{
	if (!tb[VIRTZ_COMMON_A_FEATURES])
		return -EBADMSG;
	*(uint64_t *)arg = nla_get_u64(tb[VIRTZ_COMMON_A_FEATURES]);
	return 0;
}

TEST(feature_bit_reported)
{
	uint64_t features = 0;
	struct vz_genl g;
	struct nl_msg *msg;

	ASSERT_EQ(0, vz_genl_open(&g, VIRTZ_FVM_GENL_NAME, VIRTZ_FVM_A_MAX));
	msg = vz_genl_msg(&g, VIRTZ_COMMON_CMD_GET_INFO, 0);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, vz_genl_do(&g, msg, parse_features, &features));
	vz_genl_close(&g);
	ASSERT_NE(0ULL, features & VIRTZ_FVM_F_BLOCK_SESSIONS);
}

TEST_HARNESS_MAIN
