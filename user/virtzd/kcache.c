// SPDX-License-Identifier: GPL-2.0
/*
 * The decompressed-kernel cache.  With --decompress auto (in the
 * background, after a miss) and host, virtzd keeps the vmlinux it
 * decompressed from a bzImage in a directory, named after
 * a 128-bit key of the compressed payload, so that the next boot of the
 * same kernel copies it instead of decompressing it again (in the nested
 * test VM, seconds of libzstd against a fraction of one for a copy).
 *
 * What is cached is booted, so the directory must be the caller's own
 * and writable by nobody else, and so must each entry; anything else is
 * not used.  The key is not cryptographic: it tells different kernels
 * apart, while the ownership checks keep other users out.  An entry is
 * written to a nameless file (O_TMPFILE; a temporary name on file
 * systems without it), linked under a temporary name once durable and
 * renamed, so a concurrent reader sees a whole entry or none, and a
 * writer that dies leaves nothing (or, without O_TMPFILE, a temporary
 * file removed an hour later).  A directory keeps KCACHE_KEEP entries,
 * the least recently used going first (use refreshes an entry's mtime).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kcache.h"
#include "vzerr.h"

static uint64_t rotl64(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

/* A 64-bit finaliser: every input bit reaches every output bit. */
static uint64_t avalanche(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

#define KEY_P1	0x9e3779b97f4a7c15ULL
#define KEY_P2	0xc2b2ae3d27d4eb4fULL
#define KEY_P3	0x165667b19e3779f9ULL

static void key_step(uint64_t *a, uint64_t *b, const uint8_t *p)
{
	uint64_t x, y;

	memcpy(&x, p, 8);
	memcpy(&y, p + 8, 8);
	*a = rotl64(*a ^ (x * KEY_P2), 29) * KEY_P1;
	*b = rotl64(*b ^ (y * KEY_P1), 31) * KEY_P3;
}

void kcache_key(const uint8_t *p, size_t n, uint64_t key[2])
{
	uint64_t a = KEY_P1 ^ n, b = KEY_P2 + n;
	uint8_t tail[16] = { 0 };
	size_t i;

	for (i = 0; i + 16 <= n; i += 16)
		key_step(&a, &b, p + i);
	memcpy(tail, p + i, n - i);
	tail[15] ^= (uint8_t)(n - i) | 0x80;
	key_step(&a, &b, tail);
	key[0] = avalanche(a + rotl64(b, 17));
	key[1] = avalanche(b ^ rotl64(a, 41));
}

const char *kcache_default_dir(char *buf, size_t len)
{
	const char *e = getenv("VIRTZ_CACHE_DIR");
	int n;

	if (e && *e)
		n = snprintf(buf, len, "%s", e);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/var/cache/virtz");
	else if ((e = getenv("XDG_CACHE_HOME")) && *e == '/')
		n = snprintf(buf, len, "%s/virtz", e);
	else if ((e = getenv("HOME")) && *e == '/')
		n = snprintf(buf, len, "%s/.cache/virtz", e);
	else
		return NULL;
	return n > 0 && (size_t)n < len ? buf : NULL;
}

/* Only the caller's own files, writable by nobody else, are trusted. */
static bool kc_trusted(const struct stat *st)
{
	return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int kcache_open(struct kcache *kc, const char *dir, const uint8_t *payload,
		size_t plen, uint64_t ulen, char *err, size_t errlen)
{
	uint64_t key[2];
	struct stat st;
	int fd;

	kc->dirfd = -1;
	kc->len = ulen;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		char parent[4096];
		char *slash;

		/* One missing parent (~/.cache on a fresh account) is made too. */
		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			if (mkdir(parent, 0700) < 0 && errno != EEXIST)
				return vz_fail(err, errlen, -errno,
					       "cannot create %s: %s", parent,
					       strerror(errno));
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return vz_fail(err, errlen, -errno, "cannot create %s: %s",
				       dir, strerror(errno));
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return vz_fail(err, errlen, -errno, "cannot open %s: %s", dir,
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !kc_trusted(&st)) {
		close(fd);
		return vz_fail(err, errlen, -EPERM,
			       "%s is not owned by uid %u or is writable by others; not used",
			       dir, (unsigned int)geteuid());
	}
	kcache_key(payload, plen, key);
	snprintf(kc->name, sizeof(kc->name), "vmlinux-%016llx%016llx",
		 (unsigned long long)key[0], (unsigned long long)key[1]);
	kc->dirfd = fd;
	return 0;
}

int kcache_get(struct kcache *kc, const uint8_t **buf)
{
	struct stat st;
	void *p;
	int fd;

	if (kc->dirfd < 0 || !kc->len)
		return 1;
	fd = openat(kc->dirfd, kc->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !kc_trusted(&st) ||
	    (uint64_t)st.st_size != kc->len) {
		close(fd);
		return 1;
	}
	p = mmap(NULL, kc->len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (p != MAP_FAILED)
		futimens(fd, NULL);	/* most recently used */
	close(fd);
	if (p == MAP_FAILED)
		return 1;
	*buf = p;
	return 0;
}

void kcache_unmap(const uint8_t *buf, uint64_t len)
{
	if (buf)
		munmap((void *)buf, len);
}

struct kc_entry {
	char name[64];
	struct timespec mtime;
};

static int kc_older(const void *x, const void *y)
{
	const struct kc_entry *a = x, *b = y;

	if (a->mtime.tv_sec != b->mtime.tv_sec)
		return a->mtime.tv_sec < b->mtime.tv_sec ? -1 : 1;
	if (a->mtime.tv_nsec != b->mtime.tv_nsec)
		return a->mtime.tv_nsec < b->mtime.tv_nsec ? -1 : 1;
	return strcmp(a->name, b->name);
}

/*
 * Removes all but the KCACHE_KEEP most recently used entries, and
 * temporary files older than KCACHE_TMP_AGE seconds (left by a virtzd
 * that died while storing).
 */
static void kc_trim(struct kcache *kc)
{
	time_t now = time(NULL);
	struct kc_entry e[64];
	struct dirent *d;
	int n = 0, i, fd;
	DIR *dp;

	fd = dup(kc->dirfd);
	if (fd < 0)
		return;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return;
	}
	rewinddir(dp);
	while ((d = readdir(dp)) && n < (int)(sizeof(e) / sizeof(e[0]))) {
		size_t len = strlen(d->d_name);
		struct stat st;

		if (!strncmp(d->d_name, ".tmp-vmlinux-", 13) &&
		    !fstatat(kc->dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
		    st.st_mtime + KCACHE_TMP_AGE < now) {
			unlinkat(kc->dirfd, d->d_name, 0);
			continue;
		}
		if (strncmp(d->d_name, "vmlinux-", 8) ||
		    len >= sizeof(e[0].name) || !strcmp(d->d_name, kc->name) ||
		    fstatat(kc->dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		memcpy(e[n].name, d->d_name, len + 1);
		e[n].mtime = st.st_mtim;
		n++;
	}
	closedir(dp);
	qsort(e, n, sizeof(e[0]), kc_older);
	/* The entry just stored is one of the KCACHE_KEEP. */
	for (i = 0; i < n - (KCACHE_KEEP - 1); i++)
		unlinkat(kc->dirfd, e[i].name, 0);
}

/* The size of a temporary file's name (kcache_tmp_name()). */
#define KCACHE_TMP_NAME	96

/* The name an entry has between being whole and being renamed. */
static void kcache_tmp_name(const struct kcache *kc, char *buf, size_t len)
{
	snprintf(buf, len, ".tmp-%s-%ld", kc->name, (long)getpid());
}

int kcache_put(struct kcache *kc, const uint8_t *buf, char *err,
	       size_t errlen)
{
	char tmp[KCACHE_TMP_NAME];
	uint64_t done = 0;
	bool named;
	int fd, ret;

	if (kc->dirfd < 0)
		return 0;
	kcache_tmp_name(kc, tmp, sizeof(tmp));
	/*
	 * Written nameless where the file system allows (O_TMPFILE), so
	 * that a virtzd that stops or dies while writing leaves nothing;
	 * given the temporary name only once whole and durable.
	 */
	fd = openat(kc->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	named = fd < 0;
	if (named)
		fd = openat(kc->dirfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return vz_fail(err, errlen, -errno, "cannot create %s: %s", tmp,
			       strerror(errno));
	while (done < kc->len) {
		ssize_t n = write(fd, buf + done, kc->len - done);

		if (n <= 0) {
			ret = vz_fail(err, errlen, n < 0 ? -errno : -ENOSPC,
				      "writing %s: %s", tmp,
				      n < 0 ? strerror(errno) : "no space");
			goto fail;
		}
		done += n;
	}
	/* Durable before it is visible: a crash must not leave a hole. */
	if (fdatasync(fd) < 0) {
		ret = vz_fail(err, errlen, -errno, "writing %s: %s", tmp,
			      strerror(errno));
		goto fail;
	}
	if (!named) {
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		/* A dead virtzd of the same pid may have left the name. */
		unlinkat(kc->dirfd, tmp, 0);
		if (linkat(AT_FDCWD, proc, kc->dirfd, tmp, AT_SYMLINK_FOLLOW) < 0) {
			ret = vz_fail(err, errlen, -errno, "cannot link %s: %s",
				      tmp, strerror(errno));
			goto fail;
		}
	}
	if (renameat(kc->dirfd, tmp, kc->dirfd, kc->name) < 0) {
		ret = vz_fail(err, errlen, -errno, "cannot rename %s: %s", tmp,
			      strerror(errno));
		goto fail;
	}
	close(fd);
	kc_trim(kc);
	return 0;
fail:
	close(fd);
	unlinkat(kc->dirfd, tmp, 0);
	return ret;
}

void kcache_close(struct kcache *kc)
{
	if (kc->dirfd >= 0)
		close(kc->dirfd);
	kc->dirfd = -1;
}
