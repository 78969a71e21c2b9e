/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The only place where the FVM format library differs
 * between the kernel (virtz_fvm.ko) and userspace (virtzctl, host tests,
 * the fuzzer).
 *
 * Everything the format code needs from its environment is here: fixed
 * width and little-endian types, overflow-checked arithmetic, zeroed
 * allocation, sorting, random bytes and SHA-256.  fvm_format.c includes
 * nothing else.
 */
#ifndef VIRTZ_FVM_PORT_H
#define VIRTZ_FVM_PORT_H

#ifdef __KERNEL__

#include <linux/types.h>
#include <linux/bits.h>
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/sort.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/math64.h>
#include <asm/byteorder.h>
#include <crypto/sha2.h>

/* 64-bit division that also links on 32-bit kernels. */
static inline u64 fvm_div64(u64 a, u64 b)
{
	return div64_u64(a, b);
}

/* Metadata can be megabytes; kvzalloc falls back to vmalloc. */
static inline void *fvm_zalloc(size_t n)
{
	return kvzalloc(n, GFP_KERNEL);
}

static inline void fvm_free(void *p)
{
	kvfree(p);
}

static inline void fvm_random_bytes(void *p, size_t n)
{
	get_random_bytes(p, n);
}

static inline void fvm_sort(void *base, size_t num, size_t size,
			    int (*cmp)(const void *, const void *))
{
	sort(base, num, size, cmp, NULL);
}

struct fvm_sha256 {
	struct sha256_state st;
};

static inline int fvm_sha256_init(struct fvm_sha256 *h)
{
	sha256_init(&h->st);
	return 0;
}

static inline int fvm_sha256_update(struct fvm_sha256 *h, const void *p,
				    size_t n)
{
	const u8 *b = p;

	/* sha256_update() takes an unsigned int length. */
	while (n) {
		unsigned int chunk = min_t(size_t, n, 1U << 30);

		sha256_update(&h->st, b, chunk);
		b += chunk;
		n -= chunk;
	}
	return 0;
}

static inline int fvm_sha256_final(struct fvm_sha256 *h, u8 out[32])
{
	sha256_final(&h->st, out);
	return 0;
}

#else /* !__KERNEL__ */

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/evp.h>

#include <linux/types.h>		/* __u8 .. __u64, __le32, __le64 */

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

#ifndef U64_MAX
#define U64_MAX UINT64_MAX
#endif
#ifndef U32_MAX
#define U32_MAX UINT32_MAX
#endif

/*
 * The kernel's one-argument static_assert(); a negative array size fails
 * the build just as well.
 */
#undef static_assert
#define static_assert(expr, ...) \
	extern int fvm_static_assert_failed[(expr) ? 1 : -1]

#ifndef BIT_ULL
#define BIT_ULL(n) (1ULL << (n))
#endif

#define cpu_to_le32(x) htole32(x)
#define le32_to_cpu(x) le32toh(x)
#define cpu_to_le64(x) htole64(x)
#define le64_to_cpu(x) le64toh(x)

#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

static inline u64 fvm_div64(u64 a, u64 b)
{
	return a / b;
}

static inline void *fvm_zalloc(size_t n)
{
	return calloc(1, n ? n : 1);
}

static inline void fvm_free(void *p)
{
	free(p);
}

static inline void fvm_random_bytes(void *p, size_t n)
{
	u8 *b = p;

	while (n) {
		ssize_t r = getrandom(b, n, 0);

		if (r <= 0) {
			/*
			 * getrandom() on a booted system fails only with
			 * EINTR; never hand out a zero GUID.
			 */
			if (r < 0 && errno == EINTR)
				continue;
			abort();
		}
		b += r;
		n -= (size_t)r;
	}
}

static inline void fvm_sort(void *base, size_t num, size_t size,
			    int (*cmp)(const void *, const void *))
{
	qsort(base, num, size, cmp);
}

struct fvm_sha256 {
	EVP_MD_CTX *ctx;
};

static inline int fvm_sha256_init(struct fvm_sha256 *h)
{
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
		return -EIO;
	}
	return 0;
}

static inline int fvm_sha256_update(struct fvm_sha256 *h, const void *p,
				    size_t n)
{
	if (EVP_DigestUpdate(h->ctx, p, n) != 1)
		return -EIO;
	return 0;
}

/* Always releases the context, also on failure. */
static inline int fvm_sha256_final(struct fvm_sha256 *h, u8 out[32])
{
	unsigned int len = 0;
	int ret = 0;

	if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != 32)
		ret = -EIO;
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	return ret;
}

#endif /* __KERNEL__ */

/*
 * Releases a context that was initialised but will not be finalised
 * (an error path between init and final).
 */
static inline void fvm_sha256_abort(struct fvm_sha256 *h)
{
#ifdef __KERNEL__
	memzero_explicit(&h->st, sizeof(h->st));
#else
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
#endif
}

#endif /* VIRTZ_FVM_PORT_H */
