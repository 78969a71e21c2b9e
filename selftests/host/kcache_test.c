// SPDX-License-Identifier: GPL-2.0
/*
 * virtzd's decompressed-kernel cache (kcache.c) in a scratch directory:
 * the key tells payloads apart, an entry comes back byte for byte, only
 * the caller's own directory and entries that nobody else may write are
 * used, an entry of the wrong size or a symlink is a miss, no temporary
 * file is left behind and a dead writer's is removed, and the directory
 * keeps the KCACHE_KEEP most recently used entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../../user/virtzd/kcache.h"

#define PLEN	4099	/* not a multiple of the key's 16-byte step */
#define ULEN	(3 * 4096 + 17)

static void fill(uint8_t *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static int count_files(const char *dir, const char *prefix)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	int n = 0;

	if (!dp)
		return -1;
	while ((d = readdir(dp)))
		if (!strncmp(d->d_name, prefix, strlen(prefix)))
			n++;
	closedir(dp);
	return n;
}

FIXTURE(kc) {
	char top[64];
	char dir[96];
	uint8_t payload[PLEN];
	uint8_t image[ULEN];
	char err[512];
};

FIXTURE_SETUP(kc)
{
	snprintf(self->top, sizeof(self->top), "/tmp/kcache-test-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->top));
	/* Two levels missing below top: only one may be created. */
	snprintf(self->dir, sizeof(self->dir), "%s/cache/virtz", self->top);
	fill(self->payload, PLEN, 1);
	fill(self->image, ULEN, 2);
}

FIXTURE_TEARDOWN(kc)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->top);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", self->top);
}

TEST(key_tells_payloads_apart)
{
	static uint8_t p[1000], q[1001];
	uint64_t a[2], b[2];
	size_t pos[] = { 0, 7, 15, 16, 500, 998, 999 };
	size_t i;

	fill(p, sizeof(p), 3);
	kcache_key(p, sizeof(p), a);
	kcache_key(p, sizeof(p), b);
	ASSERT_EQ(0, memcmp(a, b, sizeof(a)));
	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		p[pos[i]] ^= 0x10;
		kcache_key(p, sizeof(p), b);
		p[pos[i]] ^= 0x10;
		EXPECT_NE(a[0], b[0]) TH_LOG("bit flip at %zu", pos[i]);
		EXPECT_NE(a[1], b[1]);
	}
	/* The same bytes with a zero byte more are another payload. */
	memcpy(q, p, sizeof(p));
	q[1000] = 0;
	kcache_key(q, sizeof(q), b);
	EXPECT_NE(a[0], b[0]);
	kcache_key(p, 992, a);
	kcache_key(p, 1000, b);
	EXPECT_NE(a[0], b[0]);
}

TEST_F(kc, miss_store_hit)
{
	struct kcache kc;
	const uint8_t *got;
	struct stat st;
	char path[256];

	ASSERT_EQ(0, kcache_open(&kc, self->dir, self->payload, PLEN, ULEN,
				 self->err, sizeof(self->err))) TH_LOG("%s", self->err);
	ASSERT_EQ(0, stat(self->dir, &st));
	EXPECT_EQ(0700u, st.st_mode & 07777);
	EXPECT_EQ(1, kcache_get(&kc, &got));
	ASSERT_EQ(0, kcache_put(&kc, self->image, self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	EXPECT_EQ(0, count_files(self->dir, ".tmp-"));
	snprintf(path, sizeof(path), "%s/%s", self->dir, kc.name);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(0600u, st.st_mode & 07777);
	EXPECT_EQ(ULEN, st.st_size);
	kcache_close(&kc);

	/* A second opener of the same payload finds it, byte for byte. */
	ASSERT_EQ(0, kcache_open(&kc, self->dir, self->payload, PLEN, ULEN,
				 self->err, sizeof(self->err)));
	ASSERT_EQ(0, kcache_get(&kc, &got));
	EXPECT_EQ(0, memcmp(got, self->image, ULEN));
	kcache_unmap(got, ULEN);
	kcache_close(&kc);

	/* Another payload is another entry. */
	self->payload[PLEN - 1] ^= 1;
	ASSERT_EQ(0, kcache_open(&kc, self->dir, self->payload, PLEN, ULEN,
				 self->err, sizeof(self->err)));
	EXPECT_EQ(1, kcache_get(&kc, &got));
	kcache_close(&kc);
}

TEST_F(kc, wrong_size_symlink_and_foreign_entries_miss)
{
	struct kcache kc;
	const uint8_t *got;
	char path[256], link[256];

	ASSERT_EQ(0, kcache_open(&kc, self->dir, self->payload, PLEN, ULEN,
				 self->err, sizeof(self->err)));
	ASSERT_EQ(0, kcache_put(&kc, self->image, self->err, sizeof(self->err)));
	snprintf(path, sizeof(path), "%s/%s", self->dir, kc.name);

	/* The payload says another size: the entry is not it. */
	kc.len = ULEN + 1;
	EXPECT_EQ(1, kcache_get(&kc, &got));
	kc.len = ULEN;

	/* Writable by others: not trusted. */
	ASSERT_EQ(0, chmod(path, 0666));
	EXPECT_EQ(1, kcache_get(&kc, &got));
	ASSERT_EQ(0, chmod(path, 0600));
	ASSERT_EQ(0, kcache_get(&kc, &got));
	kcache_unmap(got, ULEN);

	/* A symlink in its place is not followed. */
	snprintf(link, sizeof(link), "%s/elsewhere", self->top);
	ASSERT_EQ(0, rename(path, link));
	ASSERT_EQ(0, symlink(link, path));
	EXPECT_EQ(1, kcache_get(&kc, &got));
	kcache_close(&kc);
}

TEST_F(kc, directory_others_may_write_is_refused)
{
	struct kcache kc;
	const uint8_t *got;

	snprintf(self->dir, sizeof(self->dir), "%s/shared", self->top);
	ASSERT_EQ(0, mkdir(self->dir, 0700));
	ASSERT_EQ(0, chmod(self->dir, 0777));
	EXPECT_EQ(-EPERM, kcache_open(&kc, self->dir, self->payload, PLEN,
				      ULEN, self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, self->dir));
	EXPECT_NE(NULL, strstr(self->err, "writable by others"));
	/* A refused cache is no cache: misses, stores nothing. */
	EXPECT_EQ(-1, kc.dirfd);
	EXPECT_EQ(1, kcache_get(&kc, &got));
	EXPECT_EQ(0, kcache_put(&kc, self->image, self->err, sizeof(self->err)));
	EXPECT_EQ(0, count_files(self->dir, "vmlinux-"));
	kcache_close(&kc);

	/* A path that is a file is an error, not a cache. */
	snprintf(self->dir, sizeof(self->dir), "%s/shared/file", self->top);
	close(open(self->dir, O_CREAT | O_WRONLY, 0600));
	EXPECT_GT(0, kcache_open(&kc, self->dir, self->payload, PLEN, ULEN,
				 self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "cannot open"));
}

TEST_F(kc, keeps_the_most_recently_used)
{
	struct kcache kc;
	const uint8_t *got;
	char names[KCACHE_KEEP + 2][64], path[256];
	struct timespec ts[2];
	int i;

	for (i = 0; i < KCACHE_KEEP + 2; i++) {
		self->payload[0] = i;
		ASSERT_EQ(0, kcache_open(&kc, self->dir, self->payload, PLEN,
					 ULEN, self->err, sizeof(self->err)));
		if (i == KCACHE_KEEP) {
			/* Use entry 0 again: it becomes the most recent. */
			struct kcache k0;

			self->payload[0] = 0;
			ASSERT_EQ(0, kcache_open(&k0, self->dir, self->payload,
						 PLEN, ULEN, self->err,
						 sizeof(self->err)));
			ASSERT_EQ(0, kcache_get(&k0, &got));
			kcache_unmap(got, ULEN);
			kcache_close(&k0);
			self->payload[0] = i;
		}
		ASSERT_EQ(0, kcache_put(&kc, self->image, self->err,
					sizeof(self->err)));
		snprintf(names[i], sizeof(names[i]), "%s", kc.name);
		/* Distinct mtimes, oldest first, whatever the clock's grain. */
		snprintf(path, sizeof(path), "%s/%s", self->dir, kc.name);
		ts[0].tv_sec = ts[1].tv_sec = 1000000 + i * 10;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		ASSERT_EQ(0, utimensat(AT_FDCWD, path, ts, 0));
		if (i == KCACHE_KEEP) {
			snprintf(path, sizeof(path), "%s/%s", self->dir, names[0]);
			ts[0].tv_sec = ts[1].tv_sec = 1000000 + i * 10 - 5;
			ASSERT_EQ(0, utimensat(AT_FDCWD, path, ts, 0));
		}
		kcache_close(&kc);
		EXPECT_GE(KCACHE_KEEP, count_files(self->dir, "vmlinux-"));
	}
	EXPECT_EQ(KCACHE_KEEP, count_files(self->dir, "vmlinux-"));
	EXPECT_EQ(0, count_files(self->dir, ".tmp-"));
	/* Kept: 0 (used again), 3, 4, 5; removed: 1 and 2. */
	for (i = 0; i < KCACHE_KEEP + 2; i++) {
		bool kept = i == 0 || i >= 3;

		snprintf(path, sizeof(path), "%s/%s", self->dir, names[i]);
		EXPECT_EQ(kept, access(path, F_OK) == 0) TH_LOG("entry %d", i);
	}
}

TEST_F(kc, stale_temporary_files_go)
{
	struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
	struct kcache kc;
	char old[256], fresh[256];

	ASSERT_EQ(0, kcache_open(&kc, self->dir, self->payload, PLEN, ULEN,
				 self->err, sizeof(self->err)));
	/* A dead writer's file, and one a live writer is still filling. */
	snprintf(old, sizeof(old), "%s/.tmp-vmlinux-dead-1", self->dir);
	snprintf(fresh, sizeof(fresh), "%s/.tmp-vmlinux-busy-2", self->dir);
	close(open(old, O_CREAT | O_WRONLY, 0600));
	close(open(fresh, O_CREAT | O_WRONLY, 0600));
	ASSERT_EQ(0, utimensat(AT_FDCWD, old, ts, 0));
	ASSERT_EQ(0, kcache_put(&kc, self->image, self->err, sizeof(self->err)));
	EXPECT_NE(0, access(old, F_OK));
	EXPECT_EQ(0, access(fresh, F_OK));
	kcache_close(&kc);
}

TEST(default_directory)
{
	char buf[256];
	const char *d;

	setenv("VIRTZ_CACHE_DIR", "/srv/kc", 1);
	d = kcache_default_dir(buf, sizeof(buf));
	ASSERT_NE(NULL, d);
	EXPECT_STREQ("/srv/kc", d);
	unsetenv("VIRTZ_CACHE_DIR");
	d = kcache_default_dir(buf, sizeof(buf));
	ASSERT_NE(NULL, d);
	if (geteuid() == 0)
		EXPECT_STREQ("/var/cache/virtz", d);
	EXPECT_EQ(NULL, kcache_default_dir(buf, 4));
}

TEST_HARNESS_MAIN
