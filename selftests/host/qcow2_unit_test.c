// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests for the qcow2 engine (user/lib/qcow2.c).  Images are
 * built by hand here, byte by byte, so each hostile field can be set to
 * exactly the value a test needs; QEMU's tools are only used, when
 * present, to confirm that images the engine wrote are clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"

#include "qcow2.h"

/* ---- a hand-made image ------------------------------------------------ */

struct img {
	uint8_t *b;
	size_t len;
	uint32_t cb;		/* cluster_bits */
	uint64_t cs;
	uint32_t hdr_len;	/* 72 for v2 */
	uint64_t l1_off;
};

static void be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void img_grow(struct img *im, size_t len)
{
	if (len <= im->len)
		return;
	im->b = realloc(im->b, len);
	memset(im->b + im->len, 0, len - im->len);
	im->len = len;
}

/*
 * Header in cluster 0, refcount table in 1, one refcount block (16-bit) in
 * 2, the L1 table from 3.  @ext (may be NULL) is copied right after the
 * header as its extension area; an end marker follows it, then the
 * backing file name.
 */
static void img_make(struct img *im, uint32_t version, uint32_t cb,
		     uint64_t size, const char *backing, const uint8_t *ext,
		     size_t ext_len)
{
	uint64_t cs = 1ull << cb, cover = 1ull << (2 * cb - 3);
	uint32_t l1_size = (uint32_t)((size + cover - 1) / cover);
	uint64_t l1_clusters = ((uint64_t)l1_size * 8 + cs - 1) / cs;
	uint8_t *h;
	size_t pos;

	if (!l1_clusters)
		l1_clusters = 1;
	memset(im, 0, sizeof(*im));
	im->cb = cb;
	im->cs = cs;
	img_grow(im, (3 + l1_clusters) * cs);
	im->l1_off = 3 * cs;
	im->hdr_len = version == 3 ? 104 : 72;
	h = im->b;
	be32(h, 0x514649fb);
	be32(h + 4, version);
	be32(h + 20, cb);
	be64(h + 24, size);
	be32(h + 36, l1_size);
	be64(h + 40, im->l1_off);
	be64(h + 48, cs);
	be32(h + 56, 1);
	if (version == 3) {
		be32(h + 96, 4);
		be32(h + 100, im->hdr_len);
	}
	pos = im->hdr_len;
	if (ext_len) {
		memcpy(h + pos, ext, ext_len);
		pos += ext_len;
	}
	pos += 8;	/* end marker */
	if (backing) {
		be64(h + 8, pos);
		be32(h + 16, (uint32_t)strlen(backing));
		memcpy(h + pos, backing, strlen(backing));
	}
	be64(im->b + cs, 2 * cs);	/* reftable[0] -> refblock */
	for (uint64_t c = 0; c < 3 + l1_clusters; c++)
		im->b[2 * cs + 2 * c + 1] = 1;	/* 16-bit, big-endian */
}

/* Points L1 entry 0 at a new L2 table appended to the image. */
static uint64_t img_add_l2(struct img *im)
{
	uint64_t off = im->len;

	img_grow(im, im->len + im->cs);
	be64(im->b + im->l1_off, off | (1ull << 63));
	return off;
}

static int img_write(const struct img *im, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, im->b, im->len) == (ssize_t)im->len;
	close(fd);
	return ok ? 0 : -1;
}

/* Creates a fresh, valid, empty image with qemu-like layout. */
static int mk_simple(const char *path, uint32_t version, uint32_t cb,
		     uint64_t size, const char *backing)
{
	struct img im;
	int ret;

	img_make(&im, version, cb, size, backing, NULL, 0);
	ret = img_write(&im, path);
	free(im.b);
	return ret;
}

static int has_qemu_img(void)
{
	return system("command -v qemu-img >/dev/null 2>&1") == 0;
}

static int qemu_check(const char *path)
{
	char cmd[PATH_MAX + 64];

	snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s' >&2", path);
	return system(cmd);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
}

FIXTURE(dir) {
	char dir[64];
	char path[128];
};

FIXTURE_SETUP(dir)
{
	/* tmpfs if there is one: the engine's barriers are fdatasync. */
	snprintf(self->dir, sizeof(self->dir), "%s/qcow2-unit.XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/a.qcow2", self->dir);
}

FIXTURE_TEARDOWN(dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

/* ---- hostile headers: each is refused with its own message ----------- */

FIXTURE(hostile) {
	char path[64];
};

FIXTURE_VARIANT(hostile) {
	void (*mutate)(struct img *im);
	uint32_t version;
	const char *msg;
	int err;
	unsigned int flags;
};

FIXTURE_SETUP(hostile)
{
	snprintf(self->path, sizeof(self->path), "/tmp/qcow2-hostile.XXXXXX");
	ASSERT_LE(0, close(mkstemp(self->path)));
}

FIXTURE_TEARDOWN(hostile)
{
	unlink(self->path);
}

static void m_magic(struct img *im) { im->b[3] = 0xfa; }
static void m_version1(struct img *im) { be32(im->b + 4, 1); }
static void m_version4(struct img *im) { be32(im->b + 4, 4); }
static void m_cb8(struct img *im) { be32(im->b + 20, 8); }
static void m_cb22(struct img *im) { be32(im->b + 20, 22); }
static void m_crypt1(struct img *im) { be32(im->b + 32, 1); }
static void m_crypt2(struct img *im) { be32(im->b + 32, 2); }
static void m_corrupt(struct img *im) { be64(im->b + 72, 2); }
static void m_datafile(struct img *im) { be64(im->b + 72, 4); }
static void m_extl2(struct img *im) { be64(im->b + 72, 16); }
static void m_unknown(struct img *im) { be64(im->b + 72, 1ull << 40 | 1); }
static void m_dirty(struct img *im) { be64(im->b + 72, 1); }
static void m_zstd_nobit(struct img *im)
{
	be32(im->b + 100, 112);
	im->b[104] = 1;
}
static void m_ctype9(struct img *im)
{
	be32(im->b + 100, 112);
	im->b[104] = 9;
}
static void m_cbit_deflate(struct img *im)
{
	be32(im->b + 100, 112);
	be64(im->b + 72, 8);
}
static void m_rorder7(struct img *im) { be32(im->b + 96, 7); }
static void m_hlen_short(struct img *im) { be32(im->b + 100, 96); }
static void m_hlen_long(struct img *im) { be32(im->b + 100, 8192); }
static void m_hlen_odd(struct img *im) { be32(im->b + 100, 105); }
static void m_l1_small(struct img *im) { be32(im->b + 36, 0); }
static void m_l1_huge(struct img *im) { be32(im->b + 36, 0xffffffff); }
static void m_size_max(struct img *im) { be64(im->b + 24, UINT64_MAX); }
static void m_l1_past_eof(struct img *im) { be64(im->b + 40, 1ull << 40); }
static void m_l1_unaligned(struct img *im) { be64(im->b + 40, im->l1_off + 8); }
static void m_l1_wraps(struct img *im) { be64(im->b + 40, 0ull - im->cs); }
static void m_l1_zero(struct img *im) { be64(im->b + 40, 0); }
static void m_rt_none(struct img *im) { be32(im->b + 56, 0); }
static void m_rt_huge(struct img *im) { be32(im->b + 56, 0x80000000u); }
static void m_rt_past_eof(struct img *im) { be64(im->b + 48, 1ull << 50); }
static void m_rt_wraps(struct img *im) { be64(im->b + 48, 0ull - im->cs); }
static void m_back_long(struct img *im)
{
	be64(im->b + 8, 512);
	be32(im->b + 16, 2000);
}
static void m_back_outside(struct img *im)
{
	be64(im->b + 8, im->cs - 4);
	be32(im->b + 16, 8);
}
static void m_back_wraps(struct img *im)
{
	be64(im->b + 8, UINT64_MAX - 2);
	be32(im->b + 16, 8);
}
static void m_back_nul(struct img *im)
{
	be64(im->b + 8, 512);
	be32(im->b + 16, 4);
	memcpy(im->b + 512, "a\0bc", 4);
}
static void m_ext_overflow(struct img *im)
{
	be32(im->b + 104, 0x12345678);
	be32(im->b + 108, 0xfffffff0u);
}
static void m_ext_datafile(struct img *im)
{
	be32(im->b + 104, 0x44415441);
	be32(im->b + 108, 4);
	memcpy(im->b + 112, "d.rw", 4);
}
static void m_ext_crypto(struct img *im)
{
	be32(im->b + 104, 0x0537be77);
	be32(im->b + 108, 16);
}
static void m_ext_bfmt(struct img *im)
{
	be32(im->b + 104, 0xe2792aca);
	be32(im->b + 108, 4);
	memcpy(im->b + 112, "vmdk", 4);
	be64(im->b + 8, 512);
	be32(im->b + 16, 4);
	memcpy(im->b + 512, "base", 4);
}
static void m_snap_outside(struct img *im)
{
	be32(im->b + 60, 1);
	be64(im->b + 64, 1ull << 45);
}
static void m_snapshot(struct img *im)
{
	be32(im->b + 60, 1);
	be64(im->b + 64, im->l1_off);
}
static void m_bitmaps_bad(struct img *im)
{
	be64(im->b + 88, 1);
	be32(im->b + 104, 0x23852875);
	be32(im->b + 108, 24);
	be32(im->b + 112, 1);
	be64(im->b + 120, 24);
	be64(im->b + 128, 1ull << 40);
}
static void m_truncated(struct img *im) { im->len = 60; }

#define HOSTILE(name, fn, ver, fl, e, m)				\
	FIXTURE_VARIANT_ADD(hostile, name) {				\
		.mutate = fn, .version = ver, .flags = fl, .err = e,	\
		.msg = m,						\
	}

HOSTILE(bad_magic, m_magic, 3, 0, -EINVAL, "qcow2: not a qcow2 image (bad magic)");
HOSTILE(truncated, m_truncated, 3, 0, -EINVAL, "qcow2: not a qcow2 image (bad magic)");
HOSTILE(version_1, m_version1, 3, 0, -EOPNOTSUPP, "qcow2: version 1 is not supported (only 2 and 3)");
HOSTILE(version_4, m_version4, 3, 0, -EOPNOTSUPP, "qcow2: version 4 is not supported (only 2 and 3)");
HOSTILE(cluster_bits_8, m_cb8, 3, 0, -EINVAL, "qcow2: cluster_bits 8 out of range (9..21)");
HOSTILE(cluster_bits_22, m_cb22, 3, 0, -EINVAL, "qcow2: cluster_bits 22 out of range (9..21)");
HOSTILE(aes, m_crypt1, 3, 0, -EOPNOTSUPP, "qcow2: encrypted images are not supported (crypt_method 1)");
HOSTILE(luks, m_crypt2, 2, 0, -EOPNOTSUPP, "qcow2: encrypted images are not supported (crypt_method 2)");
HOSTILE(corrupt, m_corrupt, 3, 0, -EUCLEAN, "qcow2: image is marked corrupt (incompatible bit 1)");
HOSTILE(data_file_bit, m_datafile, 3, 0, -EOPNOTSUPP, "qcow2: external data files are not supported (incompatible bit 2)");
HOSTILE(extended_l2, m_extl2, 3, 0, -EOPNOTSUPP, "qcow2: extended L2 entries (subclusters) are not supported (incompatible bit 4)");
HOSTILE(unknown_incompat, m_unknown, 3, 0, -EOPNOTSUPP, "qcow2: unknown incompatible features 0x10000000000 are not supported");
HOSTILE(dirty_rw, m_dirty, 3, QCOW2_O_RDWR, -EOPNOTSUPP, "qcow2: image is dirty (lazy refcounts, incompatible bit 0)");
HOSTILE(zstd_without_bit, m_zstd_nobit, 3, 0, -EINVAL, "qcow2: compression type 1 does not match incompatible bit 3");
HOSTILE(compression_9, m_ctype9, 3, 0, -EOPNOTSUPP, "qcow2: compression type 9 is not supported (only 0 deflate and 1 zstd)");
HOSTILE(compression_bit_deflate, m_cbit_deflate, 3, 0, -EINVAL, "qcow2: compression type 0 does not match incompatible bit 3");
HOSTILE(refcount_order_7, m_rorder7, 3, 0, -EINVAL, "qcow2: refcount_order 7 out of range (0..6)");
HOSTILE(header_length_short, m_hlen_short, 3, 0, -EINVAL, "qcow2: invalid header_length 96");
HOSTILE(header_length_long, m_hlen_long, 3, 0, -EINVAL, "qcow2: invalid header_length 8192");
HOSTILE(header_length_odd, m_hlen_odd, 3, 0, -EINVAL, "qcow2: invalid header_length 105");
HOSTILE(l1_too_small, m_l1_small, 3, 0, -EINVAL, "qcow2: L1 table of 0 entries is too small for virtual size 67108864");
HOSTILE(l1_over_limit, m_l1_huge, 3, 0, -EFBIG, "qcow2: L1 table of 4294967295 entries exceeds the 32 MiB limit");
HOSTILE(size_max, m_size_max, 3, 0, -EINVAL, "is too small for virtual size 18446744073709551615");
HOSTILE(l1_past_eof, m_l1_past_eof, 3, 0, -EINVAL, "qcow2: L1 table offset is unaligned or outside the file");
HOSTILE(l1_unaligned, m_l1_unaligned, 3, 0, -EINVAL, "qcow2: L1 table offset is unaligned or outside the file");
HOSTILE(l1_wraps, m_l1_wraps, 3, 0, -EINVAL, "qcow2: L1 table offset is unaligned or outside the file");
HOSTILE(l1_at_zero, m_l1_zero, 3, 0, -EINVAL, "qcow2: L1 table offset is unaligned or outside the file");
HOSTILE(reftable_empty, m_rt_none, 3, 0, -EINVAL, "qcow2: refcount table offset is unaligned or outside the file");
HOSTILE(reftable_over_limit, m_rt_huge, 3, 0, -EFBIG, "qcow2: refcount table of 2147483648 clusters exceeds the 8 MiB limit");
HOSTILE(reftable_past_eof, m_rt_past_eof, 3, 0, -EINVAL, "qcow2: refcount table offset is unaligned or outside the file");
HOSTILE(reftable_wraps, m_rt_wraps, 3, 0, -EINVAL, "qcow2: refcount table offset is unaligned or outside the file");
HOSTILE(backing_name_long, m_back_long, 3, 0, -ENAMETOOLONG, "qcow2: backing file name of 2000 bytes is too long (max 1023)");
HOSTILE(backing_name_outside, m_back_outside, 3, 0, -EINVAL, "qcow2: backing file name lies outside the header cluster");
HOSTILE(backing_name_wraps, m_back_wraps, 3, 0, -EINVAL, "qcow2: backing file name lies outside the header cluster");
HOSTILE(backing_name_nul, m_back_nul, 3, 0, -EINVAL, "qcow2: backing file name contains a NUL byte");
HOSTILE(extension_overflow, m_ext_overflow, 3, 0, -EINVAL, "qcow2: header extension 0x12345678 overflows the header cluster");
HOSTILE(extension_data_file, m_ext_datafile, 3, 0, -EOPNOTSUPP, "qcow2: external data files are not supported (data-file extension)");
HOSTILE(extension_crypto, m_ext_crypto, 3, 0, -EOPNOTSUPP, "qcow2: encrypted images are not supported (encryption header extension)");
HOSTILE(backing_format_vmdk, m_ext_bfmt, 3, 0, -EOPNOTSUPP, "qcow2: backing file format 'vmdk' is not supported (only qcow2 and raw)");
HOSTILE(snapshot_table_outside, m_snap_outside, 3, 0, -EINVAL, "qcow2: snapshot table offset is unaligned or outside the file");
HOSTILE(snapshots_rw, m_snapshot, 3, QCOW2_O_RDWR, -EOPNOTSUPP, "qcow2: writing images with internal snapshots is not supported (1 snapshots)");
HOSTILE(bitmap_directory_outside, m_bitmaps_bad, 3, QCOW2_O_RDWR, -EINVAL, "qcow2: invalid bitmap directory; open read-only");

TEST_F(hostile, refused)
{
	struct qcow2 *q = (struct qcow2 *)1;
	struct img im;
	char err[512] = "";

	img_make(&im, variant->version, 12, 64 << 20, NULL, NULL, 0);
	variant->mutate(&im);
	ASSERT_EQ(0, img_write(&im, self->path));
	free(im.b);
	EXPECT_EQ(variant->err,
		  qcow2_open(self->path, variant->flags, &q, err, sizeof(err)));
	EXPECT_EQ(NULL, q);
	EXPECT_NE(NULL, strstr(err, variant->msg)) {
		TH_LOG("got \"%s\", want \"%s\"", err, variant->msg);
	}
}

/* ---- valid images ------------------------------------------------------ */

TEST_F(dir, v2_and_v3_open_and_read_zeros)
{
	static const uint32_t cbs[] = { 9, 12, 16, 21 };
	uint8_t buf[8192];

	for (unsigned int v = 2; v <= 3; v++) {
		for (unsigned int i = 0; i < 4; i++) {
			struct qcow2_info info;
			struct qcow2 *q;
			char err[256];

			ASSERT_EQ(0, mk_simple(self->path, v, cbs[i], 5 << 20,
					       NULL));
			ASSERT_EQ(0, qcow2_open(self->path, 0, &q, err,
						sizeof(err))) TH_LOG("%s", err);
			qcow2_get_info(q, &info);
			EXPECT_EQ(v, info.version);
			EXPECT_EQ(1u << cbs[i], info.cluster_size);
			EXPECT_EQ(5ull << 20, info.virtual_size);
			EXPECT_EQ(16u, info.refcount_bits);
			memset(buf, 0xee, sizeof(buf));
			EXPECT_EQ(0, qcow2_pread(q, buf, sizeof(buf),
						 (5 << 20) - sizeof(buf)));
			for (size_t j = 0; j < sizeof(buf); j++)
				ASSERT_EQ(0, buf[j]);
			EXPECT_EQ(-EINVAL, qcow2_pread(q, buf, 1, 5 << 20));
			EXPECT_EQ(-EINVAL, qcow2_pread(q, buf, 2, (5 << 20) - 1));
			EXPECT_EQ(-EINVAL, qcow2_pread(q, buf, 2, UINT64_MAX));
			EXPECT_EQ(-EROFS, qcow2_pwrite(q, buf, 1, 0));
			EXPECT_EQ(0, qcow2_close(q));
		}
	}
}

TEST_F(dir, dirty_image_opens_read_only)
{
	struct img im;
	struct qcow2 *q;
	struct qcow2_info info;

	img_make(&im, 3, 16, 1 << 20, NULL, NULL, 0);
	m_dirty(&im);
	ASSERT_EQ(0, img_write(&im, self->path));
	free(im.b);
	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, NULL, 0));
	qcow2_get_info(q, &info);
	EXPECT_EQ(1, info.dirty);
	qcow2_close(q);
}

/*
 * One L2 table with: [0] unallocated, [1] zero flag, [2] a data cluster,
 * [3] a compressed cluster, [4] a corrupt compressed stream, [5] a data
 * cluster at an unaligned offset.  The image is backed by a raw file of
 * 2.5 clusters filled with 0xbb.
 */
TEST_F(dir, read_cluster_kinds)
{
	uint64_t cs = 4096, l2, data, comp;
	uint8_t plain[4096], *buf = malloc(6 * 4096), zbuf[8192];
	char base[160];
	struct img im;
	struct qcow2 *q;
	z_stream s = { 0 };
	uint32_t shift = 62 - (12 - 8), nsec;
	char err[256];
	int fd;

	snprintf(base, sizeof(base), "%s/base.raw", self->dir);
	fd = open(base, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	memset(buf, 0xbb, 10240);
	ASSERT_EQ(10240, write(fd, buf, 10240));
	close(fd);

	img_make(&im, 3, 12, 1 << 20, "base.raw", NULL, 0);
	/* backing format "raw" is probed: no magic, so raw. */
	l2 = img_add_l2(&im);
	data = im.len;
	img_grow(&im, im.len + cs);
	fill(plain, cs, 7);
	memcpy(im.b + data, plain, cs);
	be64(im.b + l2 + 8, 1);				/* zero */
	be64(im.b + l2 + 16, data | 1ull << 63);	/* data */

	/* A deflate stream, as QEMU writes (raw, window 2^12). */
	ASSERT_EQ(Z_OK, deflateInit2(&s, 6, Z_DEFLATED, -12, 9,
				     Z_DEFAULT_STRATEGY));
	s.next_in = plain;
	s.avail_in = cs;
	s.next_out = zbuf;
	s.avail_out = sizeof(zbuf);
	ASSERT_EQ(Z_STREAM_END, deflate(&s, Z_FINISH));
	deflateEnd(&s);
	comp = im.len + 100;	/* compressed data need not be aligned */
	img_grow(&im, comp + s.total_out + 512);
	memcpy(im.b + comp, zbuf, s.total_out);
	nsec = (uint32_t)(((comp & 511) + s.total_out + 511) / 512);
	be64(im.b + l2 + 24, 1ull << 62 | (uint64_t)(nsec - 1) << shift | comp);
	/* The same, pointing 37 bytes into the stream: garbage. */
	be64(im.b + l2 + 32, 1ull << 62 | (uint64_t)(nsec - 1) << shift |
			     (comp + 37));
	be64(im.b + l2 + 40, (data + 512) | 1ull << 63);
	ASSERT_EQ(0, img_write(&im, self->path));
	free(im.b);

	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, err, sizeof(err)))
		TH_LOG("%s", err);
	ASSERT_EQ(0, qcow2_pread(q, buf, 4 * cs, 0));
	for (uint64_t i = 0; i < cs; i++)
		ASSERT_EQ(0xbb, buf[i]);		/* from the backing file */
	for (uint64_t i = cs; i < 2 * cs; i++)
		ASSERT_EQ(0, buf[i]);			/* zero flag hides it */
	EXPECT_EQ(0, memcmp(buf + 2 * cs, plain, cs));
	EXPECT_EQ(0, memcmp(buf + 3 * cs, plain, cs));	/* inflated */
	/* Unaligned reads inside the compressed cluster. */
	ASSERT_EQ(0, qcow2_pread(q, buf, 333, 3 * cs + 1001));
	EXPECT_EQ(0, memcmp(buf, plain + 1001, 333));
	EXPECT_EQ(-EIO, qcow2_pread(q, buf, 10, 4 * cs));
	EXPECT_EQ(-EIO, qcow2_pread(q, buf, 10, 5 * cs));
	/* Past the backing file's 10240 bytes: zeros. */
	ASSERT_EQ(0, qcow2_pread(q, buf, 3 * cs, 6 * cs));
	for (uint64_t i = 0; i < 3 * cs; i++)
		ASSERT_EQ(0, buf[i]);
	qcow2_close(q);

	/* Without its backing file the unallocated cluster reads zeros. */
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_NO_BACKING, &q, NULL, 0));
	ASSERT_EQ(0, qcow2_pread(q, buf, 100, 0));
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(0, buf[i]);
	qcow2_close(q);
	free(buf);
}

/* Appends @len bytes of compressed data; returns its L2 entry. */
static uint64_t img_add_compressed(struct img *im, const void *z, size_t len)
{
	uint64_t off = im->len + 300;	/* need not be aligned */
	uint32_t shift = 62 - (im->cb - 8);
	uint64_t nsec = ((off & 511) + len + 511) / 512;

	img_grow(im, off + len + 512);
	memcpy(im->b + off, z, len);
	return 1ull << 62 | (nsec - 1) << shift | off;
}

/*
 * zstd clusters (compression type 1): one frame, two frames, a corrupt
 * stream, and a frame asking for a 128 MiB window, which the engine's
 * windowLogMax refuses rather than allocating.
 */
TEST_F(dir, read_zstd_clusters)
{
	uint8_t plain[4096], z[8192], buf[4096];
	size_t n, n2;
	struct img im;
	struct qcow2 *q;
	struct qcow2_info info;
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_inBuffer in;
	ZSTD_outBuffer out;
	uint64_t l2;
	char err[256];

	fill(plain, sizeof(plain), 11);
	memset(plain + 2000, 0, 1500);
	img_make(&im, 3, 12, 1 << 20, NULL, NULL, 0);
	be32(im.b + 100, 112);
	be64(im.b + 72, 8);
	im.b[104] = 1;
	l2 = img_add_l2(&im);

	n = ZSTD_compress(z, sizeof(z), plain, sizeof(plain), 5);
	ASSERT_FALSE(ZSTD_isError(n));
	be64(im.b + l2, img_add_compressed(&im, z, n));
	n = ZSTD_compress(z, sizeof(z), plain, 1000, 3);
	ASSERT_FALSE(ZSTD_isError(n));
	n2 = ZSTD_compress(z + n, sizeof(z) - n, plain + 1000, 3096, 3);
	ASSERT_FALSE(ZSTD_isError(n2));
	be64(im.b + l2 + 8, img_add_compressed(&im, z, n + n2));
	memset(z, 0x5a, 64);
	be64(im.b + l2 + 16, img_add_compressed(&im, z, 64));
	ASSERT_FALSE(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 27)));
	in = (ZSTD_inBuffer){ plain, sizeof(plain), 0 };
	out = (ZSTD_outBuffer){ z, sizeof(z), 0 };
	/* Streamed, so the size is unknown and the window stays 2^27. */
	ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(c, &out, &in,
						       ZSTD_e_continue)));
	ASSERT_EQ(0u, ZSTD_compressStream2(c, &out, &in, ZSTD_e_end));
	ZSTD_freeCCtx(c);
	be64(im.b + l2 + 24, img_add_compressed(&im, z, out.pos));
	ASSERT_EQ(0, img_write(&im, self->path));
	free(im.b);

	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, err, sizeof(err)))
		TH_LOG("%s", err);
	qcow2_get_info(q, &info);
	EXPECT_EQ(0, strcmp(info.compression, "zstd"));
	ASSERT_EQ(0, qcow2_pread(q, buf, 4096, 0));
	EXPECT_EQ(0, memcmp(buf, plain, 4096));
	ASSERT_EQ(0, qcow2_pread(q, buf, 4096, 4096));
	EXPECT_EQ(0, memcmp(buf, plain, 4096));
	EXPECT_EQ(-EIO, qcow2_pread(q, buf, 10, 2 * 4096));
	EXPECT_EQ(-EIO, qcow2_pread(q, buf, 10, 3 * 4096));
	qcow2_close(q);
}

TEST_F(dir, v2_zero_flag_is_corrupt)
{
	struct img im;
	struct qcow2 *q;
	uint8_t b[16];
	uint64_t l2;

	img_make(&im, 2, 12, 1 << 20, NULL, NULL, 0);
	l2 = img_add_l2(&im);
	be64(im.b + l2, 1);
	ASSERT_EQ(0, img_write(&im, self->path));
	free(im.b);
	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, NULL, 0));
	EXPECT_EQ(-EIO, qcow2_pread(q, b, sizeof(b), 0));
	qcow2_close(q);
}

TEST_F(dir, unaligned_l2_table_is_corrupt)
{
	struct img im;
	struct qcow2 *q;
	uint8_t b[16];

	img_make(&im, 3, 12, 1 << 20, NULL, NULL, 0);
	img_add_l2(&im);
	/* 512-aligned (the entry's low 9 bits are flags), not 4096. */
	be64(im.b + im.l1_off, (im.len - 4096 + 512) | 1ull << 63);
	ASSERT_EQ(0, img_write(&im, self->path));
	free(im.b);
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	EXPECT_EQ(-EIO, qcow2_pread(q, b, sizeof(b), 0));
	EXPECT_EQ(-EIO, qcow2_pwrite(q, b, sizeof(b), 0));
	/* Broken: later writes elsewhere are refused too. */
	EXPECT_EQ(-EIO, qcow2_pwrite(q, b, sizeof(b), 1 << 19));
	qcow2_close(q);
}

/* L1 and L2 entries aimed at metadata: reads work, writes are refused. */
TEST_F(dir, writes_over_metadata_refused)
{
	uint8_t b[16] = { 1 }, before[8192], now[8192];
	struct img im;
	struct qcow2 *q;
	uint64_t l2;
	int fd;

	img_make(&im, 3, 12, 4 << 20, NULL, NULL, 0);
	l2 = img_add_l2(&im);
	be64(im.b + l2 + 8, im.l1_off | 1ull << 63);	/* data = L1 table */
	be64(im.b + im.l1_off + 8, im.cs | 1ull << 63);	/* L2 #1 = reftable */
	memcpy(before, im.b, sizeof(before));
	ASSERT_EQ(0, img_write(&im, self->path));
	free(im.b);
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	EXPECT_EQ(0, qcow2_pread(q, now, 4096, 4096));
	EXPECT_EQ(-EIO, qcow2_pwrite(q, b, sizeof(b), 4096));
	qcow2_close(q);
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	/* Guest offset 2 MiB is mapped by L1 entry 1. */
	EXPECT_EQ(-EIO, qcow2_pwrite(q, b, sizeof(b), 2 << 20));
	qcow2_close(q);
	fd = open(self->path, O_RDONLY);
	ASSERT_EQ(8192, pread(fd, now, 8192, 0));
	close(fd);
	EXPECT_EQ(0, memcmp(before, now, 8192));	/* header, reftable */
}

/* ---- writes --------------------------------------------------------------- */

/* Writes straddling clusters and L2 tables read back, also after reopen. */
TEST_F(dir, write_read_back_across_boundaries)
{
	static const struct { uint64_t off, len; } w[] = {
		{ 0, 1 }, { 511, 2 }, { 4095, 4098 }, { 100000, 70000 },
		/* 512 B clusters: one L2 table maps 32 KiB; cross several. */
		{ 32768 - 7, 100 }, { 3 * 32768 - 1000, 70000 },
		{ (8 << 20) - 513, 513 },
	};
	uint8_t *model = calloc(1, 8 << 20), *buf = malloc(8 << 20);
	struct qcow2 *q;
	char err[256];

	ASSERT_EQ(0, mk_simple(self->path, 3, 9, 8 << 20, NULL));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, err, sizeof(err)))
		TH_LOG("%s", err);
	for (unsigned int i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		fill(model + w[i].off, w[i].len, i + 1);
		ASSERT_EQ(0, qcow2_pwrite(q, model + w[i].off, w[i].len,
					  w[i].off));
	}
	/* Overwrite in place, partly. */
	fill(model + 4000, 300, 99);
	ASSERT_EQ(0, qcow2_pwrite(q, model + 4000, 300, 4000));
	ASSERT_EQ(0, qcow2_flush(q));
	ASSERT_EQ(0, qcow2_pread(q, buf, 8 << 20, 0));
	EXPECT_EQ(0, memcmp(buf, model, 8 << 20));
	EXPECT_EQ(-EINVAL, qcow2_pwrite(q, buf, 2, (8 << 20) - 1));
	ASSERT_EQ(0, qcow2_close(q));

	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, NULL, 0));
	memset(buf, 0, 8 << 20);
	ASSERT_EQ(0, qcow2_pread(q, buf, 8 << 20, 0));
	EXPECT_EQ(0, memcmp(buf, model, 8 << 20));
	qcow2_close(q);
	if (has_qemu_img())
		EXPECT_EQ(0, qemu_check(self->path));
	free(model);
	free(buf);
}

/*
 * Reads merge host-contiguous clusters into one pread: clusters written
 * out of order, across an L2 table boundary (512-byte clusters: 64 per
 * table), read back in one call at unaligned ends.
 */
TEST_F(dir, read_runs_follow_host_layout)
{
	static const int order[] = { 62, 63, 64, 65, 61, 60, 66, 67, 59 };
	uint8_t model[10 * 512], buf[10 * 512];
	struct qcow2 *q;

	ASSERT_EQ(0, mk_simple(self->path, 3, 9, 1 << 20, NULL));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	memset(model, 0, sizeof(model));
	for (unsigned int i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		uint8_t *p = model + (order[i] - 58) * 512;

		fill(p, 512, order[i]);
		ASSERT_EQ(0, qcow2_pwrite(q, p, 512, (uint64_t)order[i] * 512));
	}
	ASSERT_EQ(0, qcow2_pread(q, buf, sizeof(buf) - 300, 58 * 512 + 100));
	EXPECT_EQ(0, memcmp(buf, model + 100, sizeof(buf) - 300));
	ASSERT_EQ(0, qcow2_close(q));
	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, NULL, 0));
	ASSERT_EQ(0, qcow2_pread(q, buf, sizeof(buf), 58 * 512));
	EXPECT_EQ(0, memcmp(buf, model, sizeof(buf)));
	qcow2_close(q);
}

/*
 * 512-byte clusters with 16-bit refcounts: one refcount block counts 256
 * clusters and the one-cluster table has 64 entries, so 16384 clusters
 * (8 MiB of host file) fill it; writing 10 MiB must grow it.
 */
TEST_F(dir, refcount_table_grows)
{
	size_t n = 10 << 20;
	uint8_t *data = malloc(n), *buf = malloc(n), hdr[60];
	struct qcow2 *q;
	int fd;

	ASSERT_EQ(0, mk_simple(self->path, 3, 9, 16 << 20, NULL));
	fill(data, n, 5);
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	for (size_t off = 0; off < n; off += 65536)
		ASSERT_EQ(0, qcow2_pwrite(q, data + off, 65536, off + 4096));
	ASSERT_EQ(0, qcow2_close(q));

	fd = open(self->path, O_RDONLY);
	ASSERT_EQ(60, pread(fd, hdr, 60, 0));
	close(fd);
	EXPECT_LT(1, hdr[59] | hdr[58] << 8);	/* refcount_table_clusters */
	EXPECT_NE(512u, rd64(hdr + 48));	/* moved */

	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	ASSERT_EQ(0, qcow2_pread(q, buf, n, 4096));
	EXPECT_EQ(0, memcmp(buf, data, n));
	/* And it keeps allocating correctly afterwards. */
	ASSERT_EQ(0, qcow2_pwrite(q, data, 4096, 12 << 20));
	ASSERT_EQ(0, qcow2_pread(q, buf, 4096, 12 << 20));
	EXPECT_EQ(0, memcmp(buf, data, 4096));
	qcow2_close(q);
	if (has_qemu_img())
		EXPECT_EQ(0, qemu_check(self->path));
	free(data);
	free(buf);
}

/* Refcounts of every width are kept right (checked by qemu-img). */
TEST_F(dir, refcount_widths)
{
	uint8_t data[20000];

	for (uint32_t order = 0; order <= 6; order++) {
		struct img im;
		struct qcow2 *q;
		char err[256];

		img_make(&im, 3, 9, 4 << 20, NULL, NULL, 0);
		be32(im.b + 96, order);
		/* Rewrite the refcount block for this width. */
		memset(im.b + 2 * im.cs, 0, im.cs);
		/* Every cluster of the fresh image is metadata. */
		for (uint64_t c = 0; c < im.len / im.cs; c++) {
			uint32_t bits = 1u << order;
			uint64_t bit = c * bits;

			if (bits < 8)
				im.b[2 * im.cs + bit / 8] |= (uint8_t)(1 << (bit % 8));
			else
				im.b[2 * im.cs + (c + 1) * (bits / 8) - 1] = 1;
		}
		ASSERT_EQ(0, img_write(&im, self->path));
		free(im.b);
		ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, err,
					sizeof(err))) TH_LOG("%s", err);
		fill(data, sizeof(data), order);
		/* With 1-bit refcounts a block covers 4096 clusters: 2 MiB. */
		for (uint64_t off = 0; off < (4 << 20) - sizeof(data);
		     off += 300000)
			ASSERT_EQ(0, qcow2_pwrite(q, data, sizeof(data), off));
		ASSERT_EQ(0, qcow2_close(q));
		if (has_qemu_img())
			ASSERT_EQ(0, qemu_check(self->path)) TH_LOG("order %u", order);
	}
}

/* Copy-on-write from a qcow2 backing file; the backing file is untouched. */
TEST_F(dir, cow_from_backing)
{
	char base[160];
	uint8_t pat[8192], buf[3 * 4096];
	struct qcow2 *q;
	char err[256];
	struct stat before, after;

	snprintf(base, sizeof(base), "%s/base.qcow2", self->dir);
	ASSERT_EQ(0, mk_simple(base, 3, 12, 1 << 20, NULL));
	ASSERT_EQ(0, qcow2_open(base, QCOW2_O_RDWR, &q, NULL, 0));
	memset(pat, 0x5a, sizeof(pat));
	ASSERT_EQ(0, qcow2_pwrite(q, pat, sizeof(pat), 4096));
	ASSERT_EQ(0, qcow2_close(q));
	ASSERT_EQ(0, stat(base, &before));

	ASSERT_EQ(0, mk_simple(self->path, 3, 12, 2 << 20, "base.qcow2"));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, err, sizeof(err)))
		TH_LOG("%s", err);
	memset(pat, 0x11, 10);
	ASSERT_EQ(0, qcow2_pwrite(q, pat, 10, 4096 + 4090));	/* straddles */
	ASSERT_EQ(0, qcow2_pread(q, buf, sizeof(buf), 4096));
	for (int i = 0; i < 8192; i++)
		ASSERT_EQ(i >= 4090 && i < 4100 ? 0x11 : 0x5a, buf[i]);
	for (int i = 8192; i < 3 * 4096; i++)
		ASSERT_EQ(0, buf[i]);
	ASSERT_EQ(0, qcow2_close(q));
	ASSERT_EQ(0, stat(base, &after));
	EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	EXPECT_EQ(before.st_size, after.st_size);
	if (has_qemu_img()) {
		EXPECT_EQ(0, qemu_check(self->path));
		EXPECT_EQ(0, qemu_check(base));
	}
}

/*
 * QCOW2_O_LOCK_BACKING: a backing file held exclusively (a READ_WRITE disk)
 * refuses the overlay, naming it; while the overlay is open, nobody can
 * take the backing exclusively; shared holders coexist.
 */
TEST_F(dir, backing_locks)
{
	struct qcow2 *q, *q2;
	char base[160], err[256];
	int fd, fd2;

	snprintf(base, sizeof(base), "%s/base.qcow2", self->dir);
	ASSERT_EQ(0, mk_simple(base, 3, 12, 1 << 20, NULL));
	ASSERT_EQ(0, mk_simple(self->path, 3, 12, 1 << 20, "base.qcow2"));

	fd = open(base, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, flock(fd, LOCK_EX | LOCK_NB));
	EXPECT_EQ(-EBUSY, qcow2_open(self->path, QCOW2_O_RDWR | QCOW2_O_LOCK_BACKING,
				     &q, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "base.qcow2' is in use read-write by another guest"))
		TH_LOG("%s", err);
	/* Without the flag nothing is locked (tools, fuzzing). */
	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, err, sizeof(err))) TH_LOG("%s", err);
	qcow2_close(q);
	ASSERT_EQ(0, flock(fd, LOCK_UN));

	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR | QCOW2_O_LOCK_BACKING,
				&q, err, sizeof(err))) TH_LOG("%s", err);
	fd2 = open(base, O_RDONLY);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-1, flock(fd, LOCK_EX | LOCK_NB));
	EXPECT_EQ(EWOULDBLOCK, errno);
	EXPECT_EQ(0, flock(fd2, LOCK_SH | LOCK_NB));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_LOCK_BACKING, &q2, err,
				sizeof(err))) TH_LOG("%s", err);
	qcow2_close(q2);
	close(fd2);
	EXPECT_EQ(0, qcow2_close(q));
	/* The locks went with the image. */
	EXPECT_EQ(0, flock(fd, LOCK_EX | LOCK_NB));
	close(fd);
}

TEST_F(dir, write_zeroes_and_discard)
{
	uint8_t pat[3 * 4096], buf[5 * 4096];
	char base[160];
	struct qcow2 *q;

	snprintf(base, sizeof(base), "%s/base.raw", self->dir);
	memset(buf, 0xbb, sizeof(buf));
	{
		int fd = open(base, O_WRONLY | O_CREAT, 0644);

		ASSERT_EQ((ssize_t)sizeof(buf), write(fd, buf, sizeof(buf)));
		close(fd);
	}
	ASSERT_EQ(0, mk_simple(self->path, 3, 12, 1 << 20, "base.raw"));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	memset(pat, 0x77, sizeof(pat));
	ASSERT_EQ(0, qcow2_pwrite(q, pat, sizeof(pat), 4096));
	/* Zeroes: partial head, whole middle, partial tail. */
	ASSERT_EQ(0, qcow2_write_zeroes(q, 2048, 4096 * 3));
	ASSERT_EQ(0, qcow2_pread(q, buf, sizeof(buf), 0));
	for (int i = 0; i < 5 * 4096; i++) {
		int want = i < 2048 ? 0xbb : i < 2048 + 3 * 4096 ? 0 :
			   i < 4 * 4096 ? 0x77 : 0xbb;

		ASSERT_EQ(want, buf[i]);
	}
	/* Discard drops whole clusters only; the backing file stays hidden. */
	ASSERT_EQ(0, qcow2_discard(q, 3 * 4096 + 100, 2 * 4096));
	ASSERT_EQ(0, qcow2_pread(q, buf, sizeof(buf), 0));
	for (int i = 2048 + 3 * 4096; i < 4 * 4096; i++)
		ASSERT_EQ(0x77, buf[i]);	/* partial: untouched */
	for (int i = 4 * 4096; i < 5 * 4096; i++)
		ASSERT_EQ(0, buf[i]);
	ASSERT_EQ(0, qcow2_close(q));
	if (has_qemu_img())
		EXPECT_EQ(0, qemu_check(self->path));

	ASSERT_EQ(0, mk_simple(self->path, 2, 12, 1 << 20, NULL));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	EXPECT_EQ(-EOPNOTSUPP, qcow2_write_zeroes(q, 0, 4096));
	EXPECT_EQ(-EOPNOTSUPP, qcow2_discard(q, 0, 4096));
	qcow2_close(q);
	ASSERT_EQ(0, qcow2_open(self->path, 0, &q, NULL, 0));
	EXPECT_EQ(-EROFS, qcow2_discard(q, 0, 4096));
	qcow2_close(q);
}

/*
 * The file as it stands between flushes (what a crash would leave, short
 * of reordering by the disk) is never corrupt: at worst clusters leak.
 * After flush another open sees every write.
 */
TEST_F(dir, unflushed_state_only_leaks)
{
	uint8_t data[3 * 4096], buf[3 * 4096];
	char copy[200], cmd[512];
	struct qcow2 *q, *r;
	int rc;

	snprintf(copy, sizeof(copy), "%s/crash.qcow2", self->dir);
	ASSERT_EQ(0, mk_simple(self->path, 3, 12, 4 << 20, NULL));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	fill(data, sizeof(data), 3);
	ASSERT_EQ(0, qcow2_pwrite(q, data, sizeof(data), 1000));
	ASSERT_EQ(0, qcow2_flush(q));
	fill(data, sizeof(data), 4);
	ASSERT_EQ(0, qcow2_pwrite(q, data, sizeof(data), 2 << 20));
	ASSERT_EQ(0, qcow2_write_zeroes(q, 0, 8192));
	ASSERT_EQ(0, qcow2_pwrite(q, data, 100, 4096 * 50));

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", self->path, copy);
	ASSERT_EQ(0, system(cmd));
	if (has_qemu_img()) {
		rc = qemu_check(copy);
		/* exit status 3: leaks only; 2 would be corruption */
		EXPECT_TRUE(rc == 0 || (WIFEXITED(rc) && WEXITSTATUS(rc) == 3))
			TH_LOG("qemu-img check: %d", rc);
	}
	ASSERT_EQ(0, qcow2_open(copy, 0, &r, NULL, 0));
	ASSERT_EQ(0, qcow2_pread(r, buf, sizeof(buf), 1000));
	qcow2_close(r);

	ASSERT_EQ(0, qcow2_flush(q));
	ASSERT_EQ(0, qcow2_open(self->path, 0, &r, NULL, 0));
	ASSERT_EQ(0, qcow2_pread(r, buf, sizeof(buf), 2 << 20));
	EXPECT_EQ(0, memcmp(buf, data, sizeof(buf)));
	ASSERT_EQ(0, qcow2_pread(r, buf, 8192, 0));
	for (int i = 0; i < 8192; i++)
		ASSERT_EQ(0, buf[i]);
	qcow2_close(r);
	ASSERT_EQ(0, qcow2_close(q));
	if (has_qemu_img())
		EXPECT_EQ(0, qemu_check(self->path));
}

/* ---- backing chains ---------------------------------------------------------- */

TEST_F(dir, chain_depth_limit)
{
	char p[200], name[32];
	struct qcow2 *q;
	struct qcow2_info info;
	char err[512];

	snprintf(p, sizeof(p), "%s/l0.qcow2", self->dir);
	ASSERT_EQ(0, mk_simple(p, 3, 16, 1 << 20, NULL));
	for (int i = 1; i <= QCOW2_MAX_CHAIN + 1; i++) {
		snprintf(p, sizeof(p), "%s/l%d.qcow2", self->dir, i);
		snprintf(name, sizeof(name), "l%d.qcow2", i - 1);
		ASSERT_EQ(0, mk_simple(p, 3, 16, 1 << 20, name));
	}
	snprintf(p, sizeof(p), "%s/l%d.qcow2", self->dir, QCOW2_MAX_CHAIN);
	ASSERT_EQ(0, qcow2_open(p, 0, &q, err, sizeof(err))) TH_LOG("%s", err);
	qcow2_get_info(q, &info);
	EXPECT_EQ(QCOW2_MAX_CHAIN, info.backing_depth);
	qcow2_close(q);
	snprintf(p, sizeof(p), "%s/l%d.qcow2", self->dir, QCOW2_MAX_CHAIN + 1);
	EXPECT_EQ(-ELOOP, qcow2_open(p, 0, &q, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "qcow2: backing chain too deep (more than 16 backing files)"))
		TH_LOG("%s", err);
}

TEST_F(dir, chain_loop_detected)
{
	char a[200], b[200], err[512];
	struct qcow2 *q;

	snprintf(a, sizeof(a), "%s/a.qcow2", self->dir);
	snprintf(b, sizeof(b), "%s/b.qcow2", self->dir);
	ASSERT_EQ(0, mk_simple(a, 3, 16, 1 << 20, "b.qcow2"));
	ASSERT_EQ(0, mk_simple(b, 3, 16, 1 << 20, "./a.qcow2"));
	EXPECT_EQ(-ELOOP, qcow2_open(a, 0, &q, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "qcow2: backing chain loop")) TH_LOG("%s", err);
	/* An image naming itself. */
	ASSERT_EQ(0, mk_simple(a, 3, 16, 1 << 20, "a.qcow2"));
	EXPECT_EQ(-ELOOP, qcow2_open(a, 0, &q, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "qcow2: backing chain loop")) TH_LOG("%s", err);
}

/* ---- threads --------------------------------------------------------------------- */

struct thr {
	struct qcow2 *q;
	int id;
	int ret;
};

static void *writer(void *arg)
{
	struct thr *t = arg;
	uint8_t b[3000], r[3000];

	for (int i = 0; i < 200 && !t->ret; i++) {
		uint64_t off = (uint64_t)t->id * (1 << 20) + (uint64_t)i * 4099;

		memset(b, t->id * 16 + (i & 15), sizeof(b));
		t->ret = qcow2_pwrite(t->q, b, sizeof(b), off);
		if (!t->ret)
			t->ret = qcow2_pread(t->q, r, sizeof(r), off);
		if (!t->ret && memcmp(b, r, sizeof(b)))
			t->ret = -EBADMSG;
	}
	return NULL;
}

TEST_F(dir, threads_share_one_image)
{
	struct thr t[4];
	pthread_t th[4];
	struct qcow2 *q;

	ASSERT_EQ(0, mk_simple(self->path, 3, 12, 4 << 20, NULL));
	ASSERT_EQ(0, qcow2_open(self->path, QCOW2_O_RDWR, &q, NULL, 0));
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ .q = q, .id = i };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, writer, &t[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, t[i].ret);
	}
	ASSERT_EQ(0, qcow2_close(q));
	if (has_qemu_img())
		EXPECT_EQ(0, qemu_check(self->path));
}

TEST_HARNESS_MAIN
