/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The decompressed-kernel cache of virtzd --decompress auto|host
 * (kcache.c).
 */
#ifndef VIRTZD_KCACHE_H
#define VIRTZD_KCACHE_H

#include <stddef.h>
#include <stdint.h>

/* How many kernels a cache directory keeps; older ones are removed. */
#define KCACHE_KEEP	4
/* Seconds after which a temporary file is a dead writer's, and removed. */
#define KCACHE_TMP_AGE	3600

struct kcache {
	int dirfd;		/* -1: no cache */
	char name[64];		/* "vmlinux-<key>" within it */
	uint64_t len;		/* the decompressed size the entry must have */
};

/*
 * The directory virtzd uses when --kernel-cache is not given:
 * $VIRTZ_CACHE_DIR, else /var/cache/virtz for root, else
 * $XDG_CACHE_HOME/virtz or $HOME/.cache/virtz.  Writes it to @buf.
 * Returns @buf, or NULL when no directory can be named.
 */
const char *kcache_default_dir(char *buf, size_t len);

/*
 * Opens (creating it, mode 0700, if missing) cache directory @dir for a
 * payload of @plen bytes that decompresses to @ulen.  The directory must
 * belong to the caller and be writable by nobody else, since what it
 * holds is booted.  Returns 0, or -errno with @err set; kc->dirfd is -1
 * then and the caller goes on without a cache.
 */
int kcache_open(struct kcache *kc, const char *dir, const uint8_t *payload,
		size_t plen, uint64_t ulen, char *err, size_t errlen);

/*
 * Maps the entry read-only.  Returns 0 with *buf set (release with
 * kcache_unmap()), or 1 when there is no usable entry: none, or one that
 * is not a regular file of the caller's of exactly the expected size.
 */
int kcache_get(struct kcache *kc, const uint8_t **buf);
void kcache_unmap(const uint8_t *buf, uint64_t len);

/*
 * Stores @buf as the entry: written to a temporary file and renamed, so
 * a reader never sees a partial one; then keeps the KCACHE_KEEP most
 * recently used entries.  Returns 0 or -errno with @err set.
 */
int kcache_put(struct kcache *kc, const uint8_t *buf, char *err,
	       size_t errlen);
void kcache_close(struct kcache *kc);

/* The 128-bit key (two 64-bit halves) the entry's name is made from. */
void kcache_key(const uint8_t *p, size_t n, uint64_t key[2]);

#endif
