// SPDX-License-Identifier: GPL-2.0
/*
 * The io_uring file backend of virtzd's virtio-blk (blk_file.c) on a
 * scratch file: with cache=none it opens the file O_DIRECT where the
 * filesystem allows, and still carries out requests whose segments are
 * not aligned for direct I/O (odd addresses, odd lengths) through a
 * bounce buffer, data intact both ways.  A read past a file that shrank
 * is IOERR, bounced or not, as it was before direct I/O.  FLUSH and the
 * synchronous pread of the volatile overlay work with either cache mode.
 * Nothing is left for the backend's own fallback (a request direct I/O
 * refused, done again buffered, which it says on stderr) to catch.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "../../user/virtzd/blk_backend.h"

#define DISK	(1 << 20)

struct answer {
	int count;
	uint8_t status;
};

static void on_done(void *ctx, struct vblk_req *r, uint8_t status)
{
	struct answer *a = ctx;

	a->count++;
	a->status = status;
}

/* What the file holds at byte @i, before any test writes. */
static uint8_t initial(uint64_t i)
{
	return (uint8_t)(i * 7 + (i >> 9));
}

static char *scratch_file(void)
{
	const char *dir = getenv("TMPDIR") ?: "/tmp";
	uint8_t *buf = malloc(DISK);
	char *path;
	uint64_t i;
	int fd;

	if (!buf || asprintf(&path, "%s/vblk_file_test.XXXXXX", dir) < 0)
		abort();
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	for (i = 0; i < DISK; i++)
		buf[i] = initial(i);
	if (pwrite(fd, buf, DISK, 0) != DISK)
		abort();
	close(fd);
	free(buf);
	return path;
}

/* Can this filesystem do O_DIRECT at all (outside the backend)? */
static bool fs_has_direct(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECT);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

FIXTURE(file) {
	char *path;
	struct blk_backend *be;
	struct answer a;
	uint8_t *mem;		/* "guest RAM": page-aligned */
	int saved_stderr;
	FILE *said;		/* what the backend printed */
};

FIXTURE_VARIANT(file) {
	bool direct;
};

FIXTURE_VARIANT_ADD(file, cache_none) {
	.direct = true,
};

FIXTURE_VARIANT_ADD(file, cache_writeback) {
	.direct = false,
};

FIXTURE_SETUP(file)
{
	char err[256] = "";

	self->said = tmpfile();
	ASSERT_NE(NULL, self->said);
	self->saved_stderr = dup(2);
	ASSERT_LE(0, self->saved_stderr);
	ASSERT_LE(0, dup2(fileno(self->said), 2));
	self->path = scratch_file();
	self->be = blk_file_open(self->path, false, true, variant->direct,
				 err, sizeof(err));
	ASSERT_NE(NULL, self->be) TH_LOG("%s", err);
	self->be->done = on_done;
	self->be->ctx = &self->a;
	ASSERT_EQ(0, posix_memalign((void **)&self->mem, 4096, 3 * 65536));
	memset(self->mem, 0xee, 3 * 65536);
}

FIXTURE_TEARDOWN(file)
{
	char line[512];

	if (self->be)
		self->be->ops->destroy(self->be);
	unlink(self->path);
	free(self->path);
	free(self->mem);
	dup2(self->saved_stderr, 2);
	rewind(self->said);
	while (fgets(line, sizeof(line), self->said))
		fprintf(stderr, "# backend: %s", line);
	fclose(self->said);
}

/* Bytes the backend wrote to stderr so far. */
static long said(struct _test_data_file *self)
{
	struct stat st;

	return fstat(fileno(self->said), &st) ? -1 : st.st_size;
}

/* Submits @r and waits for its one answer. */
static uint8_t run(struct _test_data_file *self, struct vblk_req *r)
{
	struct blk_backend *be = self->be;
	struct pollfd p = { .fd = be->poll_fd, .events = POLLIN };

	self->a = (struct answer){ 0 };
	be->ops->submit(be, r);
	if (be->ops->commit)
		be->ops->commit(be);
	while (!self->a.count) {
		if (poll(&p, 1, 10000) != 1)
			return 0xfe;	/* no answer */
		be->ops->reap(be);
	}
	return self->a.count == 1 ? self->a.status : 0xfd;
}

static struct vblk_req *req(uint32_t type, uint64_t sector)
{
	struct vblk_req *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->type = type;
	r->sector = sector;
	r->status = VBLK_PENDING;
	return r;
}

static void seg(struct vblk_req *r, uint8_t *p, size_t len)
{
	r->iov[r->niov++] = (struct iovec){ .iov_base = p, .iov_len = len };
	r->len += len;
}

/* The file's bytes [off, off + len), read outside the backend. */
static uint8_t *file_bytes(const char *path, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);

	if (!buf || fd < 0 || pread(fd, buf, len, off) != (ssize_t)len)
		abort();
	close(fd);
	return buf;
}

TEST_F(file, cache_mode_as_asked)
{
	if (!variant->direct) {
		ASSERT_FALSE(self->be->direct);
		return;
	}
	if (!fs_has_direct(self->path))
		SKIP(return, "the filesystem of %s has no O_DIRECT", self->path);
	ASSERT_TRUE(self->be->direct);
}

/* Segments at odd addresses with odd lengths: bounced under cache=none. */
TEST_F(file, misaligned_segments_write_and_read)
{
	static const size_t len[] = { 100, 412, 3584, 1, 511 };
	uint8_t *want = malloc(4608), *got;
	struct vblk_req *r = req(VIRTIO_BLK_T_OUT, 24);
	uint8_t *p = self->mem + 3;
	size_t i, at = 0;

	ASSERT_NE(NULL, want);
	for (i = 0; i < 4608; i++)
		want[i] = (uint8_t)(i * 13 + 5);
	for (i = 0; i < 5; i++) {
		memcpy(p, want + at, len[i]);
		seg(r, p, len[i]);
		at += len[i];
		p += len[i] + 5;	/* a gap: nothing lines up */
	}
	ASSERT_EQ(4608U, r->len);
	ASSERT_EQ(VIRTIO_BLK_S_OK, run(self, r));
	got = file_bytes(self->path, 24 * 512, 4608);
	ASSERT_EQ(0, memcmp(want, got, 4608));
	free(got);
	free(r);

	/* Read it back, split differently, into a zeroed buffer. */
	memset(self->mem, 0, 65536);
	r = req(VIRTIO_BLK_T_IN, 24);
	seg(r, self->mem + 1, 7);
	seg(r, self->mem + 4096 + 9, 4601);
	ASSERT_EQ(VIRTIO_BLK_S_OK, run(self, r));
	ASSERT_EQ(0, memcmp(want, self->mem + 1, 7));
	ASSERT_EQ(0, memcmp(want + 7, self->mem + 4096 + 9, 4601));
	/* Nothing written around the segments. */
	ASSERT_EQ(0, self->mem[0]);
	ASSERT_EQ(0, self->mem[8]);
	ASSERT_EQ(0, self->mem[4096 + 9 + 4601]);
	free(r);
	free(want);
	ASSERT_EQ(0, said(self));
}

/*
 * 512-aligned, not page-aligned segments, as from an O_DIRECT buffer in a
 * Linux guest, and page-aligned ones: whatever the filesystem needs.
 */
TEST_F(file, sector_and_page_aligned_segments)
{
	struct vblk_req *r = req(VIRTIO_BLK_T_OUT, 1024);
	uint8_t *got;
	size_t i;

	for (i = 0; i < 65536; i++)
		self->mem[512 + i] = (uint8_t)(i ^ 0x5a);
	seg(r, self->mem + 512, 3584);
	seg(r, self->mem + 4096, 61952);
	ASSERT_EQ(VIRTIO_BLK_S_OK, run(self, r));
	free(r);
	got = file_bytes(self->path, 1024 * 512, 65536);
	ASSERT_EQ(0, memcmp(self->mem + 512, got, 65536));
	free(got);

	r = req(VIRTIO_BLK_T_IN, 1024);
	seg(r, self->mem + 2 * 65536, 65536);
	ASSERT_EQ(VIRTIO_BLK_S_OK, run(self, r));
	ASSERT_EQ(0, memcmp(self->mem + 512, self->mem + 2 * 65536, 65536));
	free(r);
	ASSERT_EQ(0, said(self));
}

/* A file that shrank under a read: IOERR, bounced or direct. */
TEST_F(file, read_past_a_shrunk_file_is_ioerr)
{
	struct vblk_req *r;

	ASSERT_EQ(0, truncate(self->path, 8192));
	r = req(VIRTIO_BLK_T_IN, 8);
	seg(r, self->mem, 8192);
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, run(self, r));
	free(r);
	r = req(VIRTIO_BLK_T_IN, 8);
	seg(r, self->mem + 3, 8192);
	ASSERT_EQ(VIRTIO_BLK_S_IOERR, run(self, r));
	free(r);
	/* What is still there reads fine. */
	r = req(VIRTIO_BLK_T_IN, 0);
	seg(r, self->mem + 3, 8192);
	ASSERT_EQ(VIRTIO_BLK_S_OK, run(self, r));
	ASSERT_EQ(initial(8191), self->mem[3 + 8191]);
	free(r);
}

TEST_F(file, flush)
{
	struct vblk_req *r = req(VIRTIO_BLK_T_FLUSH, 0);

	ASSERT_EQ(VIRTIO_BLK_S_OK, run(self, r));
	free(r);
}

/* The volatile overlay's synchronous reads, into an unaligned buffer. */
TEST_F(file, pread_for_the_overlay)
{
	uint8_t *buf = malloc(1537);
	uint64_t i;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, self->be->ops->pread(self->be, buf + 1, 1536, 3 * 512));
	for (i = 0; i < 1536; i++)
		ASSERT_EQ(initial(3 * 512 + i), buf[1 + i]);
	free(buf);
}

TEST_HARNESS_MAIN
