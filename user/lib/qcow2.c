// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2: QCOW2 v2/v3 image engine (see qcow2.h and
 * Documentation/admin-guide/qcow2.rst).
 *
 * The format, briefly: the guest offset splits into an L1 index, an L2
 * index and an offset in the cluster.  L1 entries point at L2 tables, L2
 * entries at data clusters (or describe zero / compressed clusters).
 * Every host cluster in use has a reference count, found through the
 * refcount table and refcount blocks.  All on-disk integers are
 * big-endian.
 *
 * Everything read from the file is hostile: each offset is checked for
 * alignment and overflow before it is used, and table sizes are capped.
 *
 * Write ordering.  Refcounts, data, L1 entries and new tables are
 * written through; changes to existing L2 tables stay in the table cache
 * (dirty) until a flush or an eviction, which first issues fdatasync, so
 * a table reaches the disk only after the refcounts and data it points
 * at.  A refcount is lowered only after the L2 change that dropped the
 * reference is durable.  So a crash can leak clusters (refcount > 0,
 * unreferenced), never leave a reference to a cluster whose refcount is
 * 0 or whose data is missing.  Freed host clusters are never reused (new
 * clusters always go at the end of the file), so a lost L2 update can
 * never alias two guest clusters.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "qcow2.h"

#define QCOW2_MAGIC		0x514649fbu	/* "QFI\xfb" */
#define HDR_V2_LEN		72u
#define HDR_V3_MIN_LEN		104u

#define INCOMPAT_DIRTY		(1ull << 0)
#define INCOMPAT_CORRUPT	(1ull << 1)
#define INCOMPAT_DATA_FILE	(1ull << 2)
#define INCOMPAT_COMPRESSION	(1ull << 3)
#define INCOMPAT_EXTL2		(1ull << 4)

#define AUTOCLEAR_BITMAPS	(1ull << 0)

#define COMPRESSION_DEFLATE	0
#define COMPRESSION_ZSTD	1
/* Bounds what one hostile zstd frame can make us allocate (4 MiB). */
#define ZSTD_WINDOW_LOG_MAX	22

#define EXT_END			0x00000000u
#define EXT_BACKING_FORMAT	0xe2792acau
#define EXT_FEATURE_TABLE	0x6803f857u
#define EXT_BITMAPS		0x23852875u
#define EXT_CRYPTO		0x0537be77u
#define EXT_DATA_FILE		0x44415441u

#define BITMAP_IN_USE		(1u << 0)
#define BITMAP_ENTRY_LEN	24u
/* Largest bitmap directory we rewrite (QEMU's own limit is 64 MiB). */
#define BITMAP_DIR_MAX		(1u << 20)

#define OFLAG_COPIED		(1ull << 63)
#define OFLAG_COMPRESSED	(1ull << 62)
#define OFLAG_ZERO		(1ull << 0)
#define L1E_OFFSET_MASK		0x00fffffffffffe00ull
#define L2E_OFFSET_MASK		0x00fffffffffffe00ull
#define RTE_OFFSET_MASK		0xfffffffffffffe00ull
#define HOST_OFFSET_LIMIT	(1ull << 56)

#define CACHE_SLOTS		16
#define CACHE_BYTES		(4u << 20)	/* per cache */
#define PENDING_MAX		64
/* Clusters the allocator may skip as in use before giving up. */
#define ALLOC_SKIP_LIMIT	(1u << 16)

struct cache_slot {
	uint64_t off;		/* host offset of the table; 0: empty */
	uint64_t used;		/* LRU stamp */
	bool dirty;		/* newer than the disk (L2 tables only) */
	uint8_t *buf;
};

/*
 * Cache of cluster-sized tables: refcount blocks (written through) and
 * L2 tables (written back, see the ordering rules at the top).
 */
struct table_cache {
	unsigned int nslots;
	uint64_t tick;
	struct cache_slot slot[CACHE_SLOTS];
};

enum backing_kind { BACKING_NONE, BACKING_RAW, BACKING_QCOW2 };

/* A reference to drop once the L2 change that removed it is durable. */
struct pending {
	uint64_t old_entry;
	bool punch;
};

struct chain_id {
	dev_t dev;
	ino_t ino;
};

struct qcow2 {
	/* Serialises every call; protects everything below and the chain. */
	pthread_mutex_t lock;
	int fd;
	bool own_fd;
	bool writable;
	bool broken;		/* metadata error seen: no more writes */

	uint32_t version;
	uint32_t cluster_bits;
	uint64_t cluster_size;
	uint32_t l2_bits;	/* log2 of entries per L2 table */
	uint64_t virtual_size;
	uint64_t file_size;	/* at open; grows with allocations */

	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t *l1;		/* host byte order */

	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_entries;
	uint64_t *rt;		/* host byte order */
	uint32_t refcount_order;
	uint32_t rb_bits;	/* log2 of entries per refcount block */

	uint64_t incompat, compat, autoclear;
	uint32_t nb_snapshots;
	uint64_t next_free;	/* cluster index where allocation resumes */

	struct table_cache l2c, rbc;

	uint8_t *cbuf;		/* one cluster: COW assembly */
	uint8_t *zin;		/* compressed input: 2 clusters + 512 */
	uint8_t *zout;		/* one decompressed cluster */
	uint64_t zout_key;	/* L2 entry zout holds; 0: none */
	uint8_t compression;	/* COMPRESSION_* */
	ZSTD_DCtx *zstd;	/* made on first use */

	struct pending pend[PENDING_MAX];	/* deferred releases */
	unsigned int npend;

	enum backing_kind bkind;
	struct qcow2 *bq;
	int bfd;
	uint64_t bsize;		/* readable size of the backing file */
	int bdepth;
	char bname[QCOW2_MAX_BACKING_NAME + 1];
	char bfmt[32];
	bool no_backing;
	bool dirty;

	/* From the bitmaps extension (nb == 0: none). */
	uint32_t bm_nb;
	uint64_t bm_dir_size;
	uint64_t bm_dir_off;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- raw I/O ------------------------------------------------------------ */

/* Reads @len bytes at @off; the part past the end of the file is zeros. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n;

		if (off > (uint64_t)INT64_MAX - len)
			return -EINVAL;
		n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n;

		if (off > (uint64_t)INT64_MAX - len)
			return -EFBIG;
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int q_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	int ret = pwrite_full(q->fd, buf, len, off);

	if (!ret && off + len > q->file_size)
		q->file_size = off + len;
	return ret;
}

static int barrier(struct qcow2 *q)
{
	return fdatasync(q->fd) ? -errno : 0;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static int mark_broken(struct qcow2 *q)
{
	q->broken = true;
	return -EIO;
}

/* ---- table cache ---------------------------------------------------------- */

static int cache_init(struct table_cache *c, uint64_t cluster_size)
{
	uint64_t n = CACHE_BYTES / cluster_size;

	c->nslots = n < 2 ? 2 : n > CACHE_SLOTS ? CACHE_SLOTS : (unsigned int)n;
	for (unsigned int i = 0; i < c->nslots; i++) {
		c->slot[i].buf = malloc(cluster_size);
		if (!c->slot[i].buf)
			return -ENOMEM;
	}
	return 0;
}

static void cache_free(struct table_cache *c)
{
	for (unsigned int i = 0; i < CACHE_SLOTS; i++)
		free(c->slot[i].buf);
}

/*
 * Writes a dirty table back.  The barrier first makes everything it
 * points at (refcounts, data) durable before it.
 */
static int slot_writeback(struct qcow2 *q, struct cache_slot *s)
{
	int ret;

	if (!s->dirty)
		return 0;
	ret = barrier(q);
	if (!ret)
		ret = q_pwrite(q, s->buf, q->cluster_size, s->off);
	if (ret) {
		q->broken = true;
		return ret;
	}
	s->dirty = false;
	return 0;
}

/* A slot to reuse, written back first if it is dirty. */
static int cache_victim(struct qcow2 *q, struct table_cache *c,
			struct cache_slot **out)
{
	struct cache_slot *v = &c->slot[0];
	int ret;

	for (unsigned int i = 1; i < c->nslots; i++)
		if (c->slot[i].used < v->used)
			v = &c->slot[i];
	ret = slot_writeback(q, v);
	if (ret)
		return ret;
	v->off = 0;
	*out = v;
	return 0;
}

/* The table at host offset @off (cluster aligned, non-zero). */
static int cache_get_slot(struct qcow2 *q, struct table_cache *c, uint64_t off,
			  struct cache_slot **out)
{
	struct cache_slot *s;
	int ret;

	for (unsigned int i = 0; i < c->nslots; i++) {
		if (c->slot[i].off == off) {
			c->slot[i].used = ++c->tick;
			*out = &c->slot[i];
			return 0;
		}
	}
	ret = cache_victim(q, c, &s);
	if (ret)
		return ret;
	ret = pread_full(q->fd, s->buf, q->cluster_size, off);
	if (ret)
		return ret;
	s->off = off;
	s->used = ++c->tick;
	*out = s;
	return 0;
}

static int cache_get(struct qcow2 *q, struct table_cache *c, uint64_t off,
		     uint8_t **tbl)
{
	struct cache_slot *s;
	int ret = cache_get_slot(q, c, off, &s);

	if (!ret)
		*tbl = s->buf;
	return ret;
}

/* Installs @buf as the content of the table at @off (already on disk). */
static int cache_put(struct qcow2 *q, struct table_cache *c, uint64_t off,
		     const uint8_t *buf)
{
	struct cache_slot *s = NULL;
	int ret;

	for (unsigned int i = 0; i < c->nslots; i++)
		if (c->slot[i].off == off)
			s = &c->slot[i];
	if (!s) {
		ret = cache_victim(q, c, &s);
		if (ret)
			return ret;
	}
	memcpy(s->buf, buf, q->cluster_size);
	s->off = off;
	s->dirty = false;
	s->used = ++c->tick;
	return 0;
}

static void cache_drop(struct table_cache *c, uint64_t off)
{
	for (unsigned int i = 0; i < c->nslots; i++) {
		if (c->slot[i].off == off) {
			c->slot[i].off = 0;
			c->slot[i].dirty = false;
		}
	}
}

/* Writes back every dirty L2 table, then makes them durable. */
static int l2_flush(struct qcow2 *q)
{
	bool any = false;
	int ret;

	for (unsigned int i = 0; i < q->l2c.nslots; i++)
		any |= q->l2c.slot[i].dirty;
	if (!any)
		return 0;
	ret = barrier(q);
	for (unsigned int i = 0; i < q->l2c.nslots && !ret; i++) {
		struct cache_slot *s = &q->l2c.slot[i];

		if (s->dirty) {
			ret = q_pwrite(q, s->buf, q->cluster_size, s->off);
			s->dirty = !!ret;
		}
	}
	if (!ret)
		ret = barrier(q);
	if (ret)
		q->broken = true;
	return ret;
}

/* ---- refcounts ------------------------------------------------------------ */

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *rb, uint64_t i)
{
	switch (q->refcount_order) {
	case 0: return (rb[i / 8] >> (i % 8)) & 1;
	case 1: return (rb[i / 4] >> (2 * (i % 4))) & 3;
	case 2: return (rb[i / 2] >> (4 * (i % 2))) & 15;
	case 3: return rb[i];
	case 4: return (uint64_t)rb[2 * i] << 8 | rb[2 * i + 1];
	case 5: return get_be32(rb + 4 * i);
	default: return get_be64(rb + 8 * i);
	}
}

/* Sets entry @i; returns the byte range touched in @*from, @*len. */
static void rb_set(const struct qcow2 *q, uint8_t *rb, uint64_t i, uint64_t v,
		   uint64_t *from, uint64_t *len)
{
	uint32_t bits = 1u << q->refcount_order;

	if (bits < 8) {
		uint64_t per = 8 / bits, shift = bits * (i % per);
		uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);

		rb[i / per] = (uint8_t)((rb[i / per] & ~mask) |
					((v << shift) & mask));
		*from = i / per;
		*len = 1;
		return;
	}
	*len = bits / 8;
	*from = i * *len;
	switch (bits) {
	case 8:
		rb[i] = (uint8_t)v;
		break;
	case 16:
		rb[2 * i] = (uint8_t)(v >> 8);
		rb[2 * i + 1] = (uint8_t)v;
		break;
	case 32:
		put_be32(rb + 4 * i, (uint32_t)v);
		break;
	default:
		put_be64(rb + 8 * i, v);
		break;
	}
}

/* Host offset of the refcount block covering cluster @c, or 0. */
static int rb_offset(struct qcow2 *q, uint64_t c, uint64_t *off)
{
	uint64_t idx = c >> q->rb_bits;

	*off = 0;
	if (idx >= q->rt_entries)
		return 0;
	*off = q->rt[idx] & RTE_OFFSET_MASK;
	if (*off & (q->cluster_size - 1) || *off >= HOST_OFFSET_LIMIT)
		return mark_broken(q);
	return 0;
}

static int get_refcount(struct qcow2 *q, uint64_t c, uint64_t *val)
{
	uint64_t off;
	uint8_t *rb;
	int ret;

	*val = 0;
	ret = rb_offset(q, c, &off);
	if (ret || !off)
		return ret;
	ret = cache_get(q, &q->rbc, off, &rb);
	if (ret)
		return ret;
	*val = rb_get(q, rb, c & ((1ull << q->rb_bits) - 1));
	return 0;
}

/* Sets the refcount of cluster @c, whose refcount block must exist. */
static int set_refcount(struct qcow2 *q, uint64_t c, uint64_t val)
{
	uint64_t off, from, len;
	uint8_t *rb;
	int ret;

	ret = rb_offset(q, c, &off);
	if (ret)
		return ret;
	if (!off)
		return mark_broken(q);
	ret = cache_get(q, &q->rbc, off, &rb);
	if (ret)
		return ret;
	rb_set(q, rb, c & ((1ull << q->rb_bits) - 1), val, &from, &len);
	ret = q_pwrite(q, rb + from, len, off + from);
	if (ret)
		q->broken = true;
	return ret;
}

/* Drops one reference to cluster @c. */
static int unref_cluster(struct qcow2 *q, uint64_t c, bool punch)
{
	uint64_t v;
	int ret;

	ret = get_refcount(q, c, &v);
	if (ret)
		return ret;
	if (v == 0)
		return mark_broken(q);
	ret = set_refcount(q, c, v - 1);
	if (!ret && v == 1 && punch)
		fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)(c << q->cluster_bits),
			  (off_t)q->cluster_size);
	return ret;
}

static int alloc_cluster(struct qcow2 *q, uint64_t *c);
static int grow_reftable(struct qcow2 *q, uint64_t need_idx);

/* Makes sure the refcount block covering cluster @c exists. */
static int ensure_refblock(struct qcow2 *q, uint64_t c)
{
	uint64_t idx = c >> q->rb_bits, b, off, from, len;
	uint8_t be[8];
	int ret;

	if (idx >= q->rt_entries) {
		ret = grow_reftable(q, idx);
		if (ret)
			return ret;
	}
	ret = rb_offset(q, c, &off);
	if (ret || off)
		return ret;

	b = q->next_free;
	memset(q->cbuf, 0, q->cluster_size);
	if (b >> q->rb_bits == idx) {
		/* The new block describes itself. */
		q->next_free++;
		rb_set(q, q->cbuf, b & ((1ull << q->rb_bits) - 1), 1, &from,
		       &len);
	} else {
		ret = alloc_cluster(q, &b);
		if (ret)
			return ret;
		memset(q->cbuf, 0, q->cluster_size);
	}
	ret = q_pwrite(q, q->cbuf, q->cluster_size, b << q->cluster_bits);
	if (!ret)
		ret = barrier(q);
	if (ret)
		return ret;
	ret = cache_put(q, &q->rbc, b << q->cluster_bits, q->cbuf);
	if (ret)
		return ret;
	q->rt[idx] = b << q->cluster_bits;
	put_be64(be, q->rt[idx]);
	ret = q_pwrite(q, be, 8, q->rt_offset + idx * 8);
	if (ret)
		q->broken = true;
	return ret;
}

static bool cluster_is_metadata_area(const struct qcow2 *q, uint64_t c)
{
	uint64_t off = c << q->cluster_bits;

	if (c == 0)
		return true;
	if (off >= (q->l1_offset & ~(q->cluster_size - 1)) &&
	    off < q->l1_offset + (uint64_t)q->l1_size * 8)
		return true;
	return off >= q->rt_offset &&
	       off < q->rt_offset + ((uint64_t)q->rt_clusters << q->cluster_bits);
}

/* Allocates one cluster at the end of the file with refcount 1. */
static int alloc_cluster(struct qcow2 *q, uint64_t *out)
{
	for (unsigned int tries = 0; tries < ALLOC_SKIP_LIMIT; tries++) {
		uint64_t c = q->next_free, v;
		int ret;

		if (c >= HOST_OFFSET_LIMIT >> q->cluster_bits)
			return -EFBIG;
		q->next_free++;
		ret = ensure_refblock(q, c);
		if (ret)
			return ret;
		ret = get_refcount(q, c, &v);
		if (ret)
			return ret;
		if (v || cluster_is_metadata_area(q, c))
			continue;
		ret = set_refcount(q, c, 1);
		if (ret)
			return ret;
		*out = c;
		return 0;
	}
	return mark_broken(q);
}

/*
 * Replaces the refcount table by one with at least @need_idx + 1 entries.
 * The new table and the refcount blocks that describe it go in one run of
 * fresh clusters at the end of the file; the header switches to it after
 * a barrier, and only then are the old table's clusters freed.
 */
static int grow_reftable(struct qcow2 *q, uint64_t need_idx)
{
	uint64_t per_cluster = q->cluster_size / 8, entries, k, r, p, end;
	uint64_t first, last, *nrt = NULL, *slot_of = NULL, nb;
	uint64_t old_off = q->rt_offset, old_clusters = q->rt_clusters;
	uint8_t *tbl = NULL, hdr[12];
	int ret;

	entries = need_idx + 1;
	if (entries < q->rt_entries * 2)
		entries = q->rt_entries * 2;
	p = q->next_free;
	r = 0;
	for (;;) {
		uint64_t rn = 0;

		k = (entries + per_cluster - 1) / per_cluster;
		if (k << q->cluster_bits > QCOW2_MAX_REFTABLE_BYTES)
			return -EFBIG;
		end = p + k + r;
		first = p >> q->rb_bits;
		last = (end - 1) >> q->rb_bits;
		for (uint64_t i = first; i <= last; i++)
			if (i >= q->rt_entries || !q->rt[i])
				rn++;
		if (last >= entries) {
			entries = last + 1;
			continue;
		}
		if (rn == r)
			break;
		r = rn;
	}
	if (end >= HOST_OFFSET_LIMIT >> q->cluster_bits)
		return -EFBIG;
	/* The run must be free: the allocator hands out the end of the file. */
	for (uint64_t c = p; c < end; c++) {
		uint64_t v;

		ret = get_refcount(q, c, &v);
		if (ret)
			return ret;
		if (v)
			return mark_broken(q);
	}

	entries = k * per_cluster;
	nrt = calloc(entries, sizeof(*nrt));
	tbl = calloc(k, q->cluster_size);
	slot_of = calloc(last - first + 1, sizeof(*slot_of));
	if (!nrt || !tbl || !slot_of) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(nrt, q->rt, q->rt_entries * sizeof(*nrt));
	nb = p + k;
	for (uint64_t i = first; i <= last; i++)
		if (!nrt[i])
			slot_of[i - first] = nb++, nrt[i] = (nb - 1) << q->cluster_bits;

	/* New refcount blocks, each counting the run's clusters it covers. */
	for (uint64_t i = first; i <= last; i++) {
		uint64_t b = slot_of[i - first], from, len;

		if (!b)
			continue;
		memset(q->cbuf, 0, q->cluster_size);
		for (uint64_t c = p; c < end; c++)
			if (c >> q->rb_bits == i)
				rb_set(q, q->cbuf, c & ((1ull << q->rb_bits) - 1),
				       1, &from, &len);
		ret = q_pwrite(q, q->cbuf, q->cluster_size, b << q->cluster_bits);
		if (ret)
			goto out;
		ret = cache_put(q, &q->rbc, b << q->cluster_bits, q->cbuf);
		if (ret)
			goto out;
	}
	/* Run clusters covered by existing blocks. */
	for (uint64_t c = p; c < end; c++) {
		if (slot_of[(c >> q->rb_bits) - first])
			continue;
		ret = set_refcount(q, c, 1);
		if (ret)
			goto out;
	}
	for (uint64_t i = 0; i < entries; i++)
		put_be64(tbl + i * 8, nrt[i]);
	ret = q_pwrite(q, tbl, k << q->cluster_bits, p << q->cluster_bits);
	if (!ret)
		ret = barrier(q);
	if (ret)
		goto out;
	put_be64(hdr, p << q->cluster_bits);
	put_be32(hdr + 8, (uint32_t)k);
	ret = q_pwrite(q, hdr, sizeof(hdr), 48);
	if (!ret)
		ret = barrier(q);
	if (ret) {
		q->broken = true;
		goto out;
	}
	free(q->rt);
	q->rt = nrt;
	nrt = NULL;
	q->rt_entries = entries;
	q->rt_offset = p << q->cluster_bits;
	q->rt_clusters = (uint32_t)k;
	q->next_free = end;
	for (uint64_t i = 0; i < old_clusters && !ret; i++)
		ret = unref_cluster(q, (old_off >> q->cluster_bits) + i, false);
out:
	free(nrt);
	free(tbl);
	free(slot_of);
	return ret;
}

/* ---- cluster lookup and reads ------------------------------------------- */

static uint64_t l1_index(const struct qcow2 *q, uint64_t off)
{
	return off >> (q->cluster_bits + q->l2_bits);
}

static uint32_t l2_index(const struct qcow2 *q, uint64_t off)
{
	return (uint32_t)((off >> q->cluster_bits) & ((1ull << q->l2_bits) - 1));
}

/* The L2 table offset for guest offset @off (0: none). */
static int l2_table_of(struct qcow2 *q, uint64_t off, uint64_t *l2_off)
{
	uint64_t i = l1_index(q, off);

	*l2_off = 0;
	if (i >= q->l1_size)
		return 0;
	*l2_off = q->l1[i] & L1E_OFFSET_MASK;
	if (*l2_off & (q->cluster_size - 1))
		return mark_broken(q);
	return 0;
}

static int get_l2_entry(struct qcow2 *q, uint64_t off, uint64_t *entry)
{
	uint64_t l2_off;
	uint8_t *tbl;
	int ret;

	*entry = 0;
	ret = l2_table_of(q, off, &l2_off);
	if (ret || !l2_off)
		return ret;
	ret = cache_get(q, &q->l2c, l2_off, &tbl);
	if (ret)
		return ret;
	*entry = get_be64(tbl + (uint64_t)l2_index(q, off) * 8);
	return 0;
}

static bool entry_is_compressed(uint64_t e)
{
	return e & OFLAG_COMPRESSED;
}

/* A standard entry's host offset, checked; 0 for none. */
static int std_offset(struct qcow2 *q, uint64_t e, uint64_t *host)
{
	*host = e & L2E_OFFSET_MASK;
	if (*host & (q->cluster_size - 1))
		return mark_broken(q);
	if (q->version < 3 && (e & OFLAG_ZERO))
		return mark_broken(q);
	return 0;
}

static void compressed_range(const struct qcow2 *q, uint64_t e,
			     uint64_t *start, uint64_t *bytes)
{
	uint32_t shift = 62 - (q->cluster_bits - 8);
	uint64_t nsec = ((e & ~(OFLAG_COPIED | OFLAG_COMPRESSED)) >> shift) + 1;

	*start = e & ((1ull << shift) - 1);
	*bytes = nsec * 512 - (*start & 511);
}

/*
 * zstd: one or more frames, then padding up to the sector.  Stops once a
 * whole cluster is out, as QEMU does; anything else is corruption.
 */
static int unzstd(struct qcow2 *q, uint64_t bytes)
{
	ZSTD_inBuffer in = { q->zin, bytes, 0 };
	ZSTD_outBuffer out = { q->zout, q->cluster_size, 0 };

	if (!q->zstd) {
		q->zstd = ZSTD_createDCtx();
		if (!q->zstd)
			return -ENOMEM;
		if (ZSTD_isError(ZSTD_DCtx_setParameter(q->zstd,
							ZSTD_d_windowLogMax,
							ZSTD_WINDOW_LOG_MAX)))
			return -EIO;
	}
	ZSTD_DCtx_reset(q->zstd, ZSTD_reset_session_only);
	while (out.pos < out.size) {
		size_t in_pos = in.pos, out_pos = out.pos;
		size_t r = ZSTD_decompressStream(q->zstd, &out, &in);

		if (ZSTD_isError(r) ||
		    (in.pos == in_pos && out.pos == out_pos))
			return -EIO;
	}
	return 0;
}

static int inflate_cluster(struct qcow2 *q, uint64_t bytes)
{
	z_stream s;
	int zr;

	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, -15) != Z_OK)
		return -ENOMEM;
	s.next_in = q->zin;
	s.avail_in = (uInt)bytes;
	s.next_out = q->zout;
	s.avail_out = (uInt)q->cluster_size;
	zr = inflate(&s, Z_FINISH);
	inflateEnd(&s);
	/* The stream may carry padding; what matters is a whole cluster. */
	if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR) || s.avail_out)
		return -EIO;
	return 0;
}

/* Decompresses the compressed cluster @e into q->zout. */
static int decompress(struct qcow2 *q, uint64_t e)
{
	uint64_t start, bytes;
	int ret;

	if (q->zout_key == e)
		return 0;
	q->zout_key = 0;
	compressed_range(q, e, &start, &bytes);
	/* nsec <= cluster_size / 256, so bytes <= 2 * cluster_size. */
	ret = pread_full(q->fd, q->zin, bytes, start);
	if (ret)
		return ret;
	if (q->compression == COMPRESSION_ZSTD)
		ret = unzstd(q, bytes);
	else
		ret = inflate_cluster(q, bytes);
	if (!ret)
		q->zout_key = e;
	return ret;
}

static int q_read(struct qcow2 *q, uint8_t *buf, uint64_t len, uint64_t off);

static int read_backing(struct qcow2 *q, uint8_t *buf, uint64_t len,
			uint64_t off)
{
	uint64_t n = 0;
	int ret = 0;

	if (q->bkind != BACKING_NONE && off < q->bsize)
		n = len < q->bsize - off ? len : q->bsize - off;
	if (n) {
		if (q->bkind == BACKING_QCOW2)
			ret = q_read(q->bq, buf, n, off);
		else
			ret = pread_full(q->bfd, buf, n, off);
		if (ret)
			return ret;
	}
	memset(buf + n, 0, len - n);
	return 0;
}

/* Reads @n bytes at @in within the guest cluster at @goff, entry @e. */
static int read_in_cluster(struct qcow2 *q, uint64_t e, uint64_t goff,
			   uint8_t *buf, uint64_t in, uint64_t n)
{
	uint64_t host;
	int ret;

	if (entry_is_compressed(e)) {
		ret = decompress(q, e);
		if (!ret)
			memcpy(buf, q->zout + in, n);
		return ret;
	}
	ret = std_offset(q, e, &host);
	if (ret)
		return ret;
	if (q->version >= 3 && (e & OFLAG_ZERO)) {
		memset(buf, 0, n);
		return 0;
	}
	if (!host)
		return read_backing(q, buf, n, goff + in);
	return pread_full(q->fd, buf, n, host + in);
}

/* A standard, allocated, non-zero entry with a valid offset. */
static bool is_plain_data(uint64_t e)
{
	return !entry_is_compressed(e) && !(e & OFLAG_ZERO) &&
	       (e & L2E_OFFSET_MASK);
}

/*
 * How much of [off, off + len) maps contiguously from @host + @in, given
 * that the first @n bytes do.  Stops at the first cluster that does not
 * (or whose lookup fails: the caller then meets the error itself).
 */
static uint64_t plain_run(struct qcow2 *q, uint64_t host, uint64_t in,
			  uint64_t n, uint64_t off, uint64_t len)
{
	while (n < len) {
		uint64_t e, m = len - n;

		if (get_l2_entry(q, off + n, &e) || !is_plain_data(e) ||
		    (e & L2E_OFFSET_MASK) != host + in + n)
			break;
		n += m < q->cluster_size ? m : q->cluster_size;
	}
	return n;
}

static int q_read(struct qcow2 *q, uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		uint64_t in = off & (q->cluster_size - 1);
		uint64_t n = q->cluster_size - in, e;
		int ret;

		if (n > len)
			n = len;
		ret = get_l2_entry(q, off, &e);
		if (!ret && is_plain_data(e) &&
		    !(e & L2E_OFFSET_MASK & (q->cluster_size - 1))) {
			/* One pread for a run of host-contiguous clusters. */
			n = plain_run(q, e & L2E_OFFSET_MASK, in, n, off, len);
			ret = pread_full(q->fd, buf, n, (e & L2E_OFFSET_MASK) + in);
		} else if (!ret) {
			ret = read_in_cluster(q, e, off - in, buf, in, n);
		}
		if (ret)
			return ret;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- writes ------------------------------------------------------------------ */

/*
 * Returns the offset of a writable (refcount 1) L2 table covering @off,
 * allocating a new one or copying a shared one.
 */
static int ensure_l2(struct qcow2 *q, uint64_t off, uint64_t *l2_off)
{
	uint64_t i = l1_index(q, off), e, old, c;
	uint8_t *tbl, be[8];
	int ret;

	if (i >= q->l1_size)
		return mark_broken(q);
	e = q->l1[i];
	ret = l2_table_of(q, off, &old);
	if (ret)
		return ret;
	/*
	 * Writing through a "table" over the header or the L1 or refcount
	 * table would overwrite them: only a corrupt image asks for that.
	 */
	if (old && cluster_is_metadata_area(q, old >> q->cluster_bits))
		return mark_broken(q);
	if (old && (e & OFLAG_COPIED)) {
		*l2_off = old;
		return 0;
	}
	ret = alloc_cluster(q, &c);
	if (ret)
		return ret;
	if (old) {
		ret = cache_get(q, &q->l2c, old, &tbl);
		if (ret)
			return ret;
		memcpy(q->cbuf, tbl, q->cluster_size);
	} else {
		memset(q->cbuf, 0, q->cluster_size);
	}
	ret = q_pwrite(q, q->cbuf, q->cluster_size, c << q->cluster_bits);
	if (!ret)
		ret = barrier(q);
	if (ret)
		return ret;
	ret = cache_put(q, &q->l2c, c << q->cluster_bits, q->cbuf);
	if (ret)
		return ret;
	q->l1[i] = (c << q->cluster_bits) | OFLAG_COPIED;
	put_be64(be, q->l1[i]);
	ret = q_pwrite(q, be, 8, q->l1_offset + i * 8);
	if (ret) {
		q->broken = true;
		return ret;
	}
	if (old) {
		/* The copy replaces it: its cached changes went with it. */
		cache_drop(&q->l2c, old);
		ret = barrier(q);
		if (!ret)
			ret = unref_cluster(q, old >> q->cluster_bits, false);
		if (ret)
			return ret;
	}
	*l2_off = c << q->cluster_bits;
	return 0;
}

/* Drops the references entry @e held on host clusters. */
static int release_entry(struct qcow2 *q, uint64_t e, bool punch)
{
	uint64_t start, bytes, host;
	int ret;

	if (entry_is_compressed(e)) {
		compressed_range(q, e, &start, &bytes);
		start &= ~511ull;
		bytes = (bytes + 511) & ~511ull;
		for (uint64_t c = start >> q->cluster_bits;
		     c <= (start + bytes - 1) >> q->cluster_bits; c++) {
			ret = unref_cluster(q, c, false);
			if (ret)
				return ret;
		}
		return 0;
	}
	ret = std_offset(q, e, &host);
	if (ret || !host)
		return ret;
	return unref_cluster(q, host >> q->cluster_bits, punch);
}

/* Changes an L2 entry in the cache; it reaches the disk on write-back. */
static int set_l2_entry(struct qcow2 *q, uint64_t l2_off, uint32_t idx,
			uint64_t e)
{
	struct cache_slot *s;
	int ret;

	ret = cache_get_slot(q, &q->l2c, l2_off, &s);
	if (ret)
		return ret;
	put_be64(s->buf + (uint64_t)idx * 8, e);
	s->dirty = true;
	return 0;
}

/* Drops the deferred references once the L2 changes are durable. */
static int release_pending(struct qcow2 *q)
{
	int ret;

	if (!q->npend)
		return 0;
	ret = l2_flush(q);
	/* Also orders L2 tables written back by an eviction. */
	if (!ret)
		ret = barrier(q);
	for (unsigned int i = 0; i < q->npend && !ret; i++)
		ret = release_entry(q, q->pend[i].old_entry, q->pend[i].punch);
	q->npend = 0;
	return ret;
}

/* Entry @old, just replaced by one at host offset @new_host (or 0). */
static int replaced(struct qcow2 *q, uint64_t old, uint64_t new_host,
		    bool punch)
{
	struct pending *p;

	if (!entry_is_compressed(old) &&
	    (!(old & L2E_OFFSET_MASK) || (old & L2E_OFFSET_MASK) == new_host))
		return 0;
	p = &q->pend[q->npend++];
	p->old_entry = old;
	p->punch = punch;
	return q->npend == PENDING_MAX ? release_pending(q) : 0;
}

/* Writes @n bytes at @in within the guest cluster at @goff. */
static int write_in_cluster(struct qcow2 *q, uint64_t goff, const uint8_t *buf,
			    uint64_t in, uint64_t n)
{
	uint64_t l2_off, e, host, c;
	uint32_t idx = l2_index(q, goff);
	const uint8_t *src = buf;
	uint8_t *tbl;
	int ret;

	ret = ensure_l2(q, goff, &l2_off);
	if (ret)
		return ret;
	ret = cache_get(q, &q->l2c, l2_off, &tbl);
	if (ret)
		return ret;
	e = get_be64(tbl + (uint64_t)idx * 8);

	if (!entry_is_compressed(e)) {
		ret = std_offset(q, e, &host);
		if (ret)
			return ret;
		if (host && cluster_is_metadata_area(q, host >> q->cluster_bits))
			return mark_broken(q);
		if (host && (e & OFLAG_COPIED) && !(e & OFLAG_ZERO))
			return q_pwrite(q, buf, n, host + in);
	} else {
		host = 0;
	}

	if (host && (e & OFLAG_COPIED)) {
		/* A preallocated zero cluster we own: fill it in place. */
		c = host >> q->cluster_bits;
	} else {
		/* Allocate first: the allocator itself may use cbuf. */
		ret = alloc_cluster(q, &c);
		if (ret)
			return ret;
	}
	if (n != q->cluster_size) {
		ret = read_in_cluster(q, e, goff, q->cbuf, 0, q->cluster_size);
		if (ret)
			return ret;
		memcpy(q->cbuf + in, buf, n);
		src = q->cbuf;
	}
	ret = q_pwrite(q, src, q->cluster_size, c << q->cluster_bits);
	if (!ret)
		ret = set_l2_entry(q, l2_off, idx,
				   (c << q->cluster_bits) | OFLAG_COPIED);
	if (ret)
		return ret;
	return replaced(q, e, c << q->cluster_bits, false);
}

static int check_range(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(off, len, &end) || end > q->virtual_size)
		return -EINVAL;
	return 0;
}

static int check_writable(const struct qcow2 *q)
{
	if (!q->writable)
		return -EROFS;
	return q->broken ? -EIO : 0;
}

int qcow2_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
	int ret = check_range(q, off, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&q->lock);
	ret = q_read(q, buf, len, off);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

static int q_write(struct qcow2 *q, const uint8_t *buf, uint64_t len,
		   uint64_t off)
{
	int ret = 0;

	while (len && !ret) {
		uint64_t in = off & (q->cluster_size - 1);
		uint64_t n = q->cluster_size - in;

		if (n > len)
			n = len;
		ret = write_in_cluster(q, off - in, buf, in, n);
		buf += n;
		off += n;
		len -= n;
	}
	if (ret) {
		/* Not released: at worst these clusters leak. */
		q->npend = 0;
		return ret;
	}
	return release_pending(q);
}

int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	int ret = check_range(q, off, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&q->lock);
	ret = check_writable(q);
	if (!ret)
		ret = q_write(q, buf, len, off);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int qcow2_flush(struct qcow2 *q)
{
	int ret = 0;

	pthread_mutex_lock(&q->lock);
	if (q->writable) {
		ret = l2_flush(q);
		if (!ret)
			ret = barrier(q);
	}
	pthread_mutex_unlock(&q->lock);
	return ret;
}

/* Turns whole guest clusters [off, off + len) into zero clusters. */
static int zero_clusters(struct qcow2 *q, uint64_t off, uint64_t len,
			 bool punch)
{
	int ret = 0;

	for (; len && !ret; off += q->cluster_size, len -= q->cluster_size) {
		uint64_t l2_off, e;
		uint32_t idx = l2_index(q, off);

		ret = get_l2_entry(q, off, &e);
		if (ret)
			break;
		if (e == OFLAG_ZERO || (!e && q->bkind == BACKING_NONE))
			continue;
		ret = ensure_l2(q, off, &l2_off);
		if (ret)
			break;
		ret = get_l2_entry(q, off, &e);
		if (ret)
			break;
		ret = set_l2_entry(q, l2_off, idx, OFLAG_ZERO);
		if (!ret)
			ret = replaced(q, e, 0, punch);
	}
	if (ret) {
		q->npend = 0;
		return ret;
	}
	return release_pending(q);
}

static int zero_range(struct qcow2 *q, uint64_t off, uint64_t len, bool punch)
{
	uint64_t head = (q->cluster_size - (off & (q->cluster_size - 1))) &
			(q->cluster_size - 1);
	uint64_t whole;
	int ret = 0;

	uint8_t *z = NULL;

	if (head > len)
		head = len;
	if (!punch) {
		/* Not cbuf: q_write assembles copy-on-write clusters there. */
		z = calloc(1, q->cluster_size);
		if (!z)
			return -ENOMEM;
	}
	if (head && !punch)
		ret = q_write(q, z, head, off);
	off += head;
	len -= head;
	whole = len & ~(q->cluster_size - 1);
	if (!ret)
		ret = zero_clusters(q, off, whole, punch);
	off += whole;
	len -= whole;
	if (!ret && len && !punch)
		ret = q_write(q, z, len, off);
	free(z);
	return ret;
}

static int zero_common(struct qcow2 *q, uint64_t off, uint64_t len, bool punch)
{
	int ret = check_range(q, off, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&q->lock);
	ret = check_writable(q);
	if (!ret && q->version < 3)
		ret = -EOPNOTSUPP;
	if (!ret)
		ret = zero_range(q, off, len, punch);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int qcow2_write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len)
{
	return zero_common(q, off, len, false);
}

int qcow2_discard(struct qcow2 *q, uint64_t off, uint64_t len)
{
	return zero_common(q, off, len, true);
}

/* ---- open ------------------------------------------------------------------- */

struct open_ctx {
	char *err;
	size_t errlen;
	bool lock_backing;	/* QCOW2_O_LOCK_BACKING */
	struct chain_id chain[QCOW2_MAX_CHAIN + 1];
	int depth;
};

int qcow2_probe(int fd)
{
	uint8_t m[4];
	ssize_t n;

	do
		n = pread(fd, m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 4 && get_be32(m) == QCOW2_MAGIC;
}

static int file_size_of(int fd, uint64_t *size)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

/* [off, off + len) lies inside the file. */
static bool in_file(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t end;

	return !__builtin_add_overflow(off, len, &end) && end <= q->file_size;
}

static int open_chain(int fd, const char *base_dir, unsigned int flags,
		      struct open_ctx *ctx, struct qcow2 **out);

static int open_backing(struct qcow2 *q, const char *base_dir,
			struct open_ctx *ctx)
{
	char path[PATH_MAX], inner[512] = "";
	struct stat st;
	int fd, ret, probe;

	if (q->no_backing || !q->bname[0])
		return 0;
	if (!strncmp(q->bname, "json:", 5)) {
		seterr(ctx->err, ctx->errlen,
		       "qcow2: backing file '%s': json: file names are not supported",
		       q->bname);
		return -EOPNOTSUPP;
	}
	if (q->bfmt[0] && strcmp(q->bfmt, "qcow2") && strcmp(q->bfmt, "raw")) {
		seterr(ctx->err, ctx->errlen,
		       "qcow2: backing file format '%s' is not supported (only qcow2 and raw)",
		       q->bfmt);
		return -EOPNOTSUPP;
	}
	if (ctx->depth >= QCOW2_MAX_CHAIN) {
		seterr(ctx->err, ctx->errlen,
		       "qcow2: backing chain too deep (more than %d backing files)",
		       QCOW2_MAX_CHAIN);
		return -ELOOP;
	}
	if (q->bname[0] == '/' || !base_dir)
		ret = snprintf(path, sizeof(path), "%s", q->bname);
	else
		ret = snprintf(path, sizeof(path), "%s/%s", base_dir, q->bname);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return -ENAMETOOLONG;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		seterr(ctx->err, ctx->errlen,
		       "qcow2: cannot open backing file '%s': %s", path,
		       strerror(errno));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto fail;
	}
	for (int i = 0; i <= ctx->depth; i++) {
		if (ctx->chain[i].dev == st.st_dev &&
		    ctx->chain[i].ino == st.st_ino) {
			seterr(ctx->err, ctx->errlen,
			       "qcow2: backing chain loop: '%s' is already in the chain",
			       path);
			ret = -ELOOP;
			goto fail;
		}
	}
	if (ctx->lock_backing && flock(fd, LOCK_SH | LOCK_NB)) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (ret == -EBUSY)
			seterr(ctx->err, ctx->errlen,
			       "qcow2: backing file '%s' is in use read-write by another guest",
			       path);
		else
			seterr(ctx->err, ctx->errlen,
			       "qcow2: cannot lock backing file '%s': %s", path,
			       strerror(-ret));
		goto fail;
	}
	probe = qcow2_probe(fd);
	if (probe < 0) {
		ret = probe;
		goto fail;
	}
	if (!strcmp(q->bfmt, "raw")) {
		probe = 0;
	} else if (!strcmp(q->bfmt, "qcow2") && !probe) {
		seterr(ctx->err, ctx->errlen,
		       "qcow2: backing file '%s' is not a qcow2 image", path);
		ret = -EINVAL;
		goto fail;
	}

	q->bfd = fd;
	if (!probe) {
		q->bkind = BACKING_RAW;
		q->bdepth = 1;
		return file_size_of(fd, &q->bsize);
	}

	ctx->depth++;
	ctx->chain[ctx->depth].dev = st.st_dev;
	ctx->chain[ctx->depth].ino = st.st_ino;
	{
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		ret = open_chain(fd, dir, 0, ctx, &q->bq);
	}
	ctx->depth--;
	if (ret) {
		/* An inner message already names the reason; add where. */
		if (ctx->err && ctx->errlen && ctx->err[0]) {
			snprintf(inner, sizeof(inner), "%s", ctx->err);
			seterr(ctx->err, ctx->errlen, "%s (in backing file '%s')",
			       inner, path);
		}
		goto fail_bfd;
	}
	q->bkind = BACKING_QCOW2;
	q->bsize = q->bq->virtual_size;
	q->bdepth = 1 + q->bq->bdepth;
	return 0;
fail:
	close(fd);
	return ret;
fail_bfd:
	q->bfd = -1;
	close(fd);
	return ret;
}

/* Walks the header extensions in [start, end). */
static int parse_extensions(struct qcow2 *q, const uint8_t *hdr, uint64_t start,
			    uint64_t end, char *err, size_t errlen)
{
	uint64_t pos = start;

	while (pos + 8 <= end) {
		uint32_t type = get_be32(hdr + pos);
		uint64_t len = get_be32(hdr + pos + 4);

		pos += 8;
		if (type == EXT_END)
			return 0;
		if (len > end - pos) {
			seterr(err, errlen,
			       "qcow2: header extension 0x%08x overflows the header cluster",
			       type);
			return -EINVAL;
		}
		switch (type) {
		case EXT_BACKING_FORMAT:
			if (len >= sizeof(q->bfmt) || memchr(hdr + pos, 0, len)) {
				seterr(err, errlen,
				       "qcow2: invalid backing format extension");
				return -EINVAL;
			}
			memcpy(q->bfmt, hdr + pos, len);
			q->bfmt[len] = '\0';
			break;
		case EXT_DATA_FILE:
			seterr(err, errlen,
			       "qcow2: external data files are not supported (data-file extension)");
			return -EOPNOTSUPP;
		case EXT_CRYPTO:
			seterr(err, errlen,
			       "qcow2: encrypted images are not supported (encryption header extension)");
			return -EOPNOTSUPP;
		case EXT_BITMAPS:
			if (len < 24) {
				seterr(err, errlen,
				       "qcow2: invalid bitmaps extension");
				return -EINVAL;
			}
			q->bm_nb = get_be32(hdr + pos);
			q->bm_dir_size = get_be64(hdr + pos + 8);
			q->bm_dir_off = get_be64(hdr + pos + 16);
			break;
		default:
			/* Feature names and unknown ones: skipped. */
			break;
		}
		pos += (len + 7) & ~7ull;
	}
	return 0;
}

static int refuse(char *err, size_t errlen, int ret, const char *msg)
{
	seterr(err, errlen, "qcow2: %s", msg);
	return ret;
}

static int parse_header(struct qcow2 *q, const uint8_t *hdr, uint64_t hdr_avail,
			char *err, size_t errlen)
{
	uint64_t bf_off, hdr_len, l2_cover, need_l1, ext_end;
	uint32_t crypt, bf_size, cb;
	uint8_t compression = 0;
	uint64_t unknown;

	if (hdr_avail < HDR_V2_LEN || get_be32(hdr) != QCOW2_MAGIC)
		return refuse(err, errlen, -EINVAL, "not a qcow2 image (bad magic)");
	q->version = get_be32(hdr + 4);
	if (q->version != 2 && q->version != 3) {
		seterr(err, errlen, "qcow2: version %u is not supported (only 2 and 3)",
		       q->version);
		return -EOPNOTSUPP;
	}
	cb = get_be32(hdr + 20);
	if (cb < 9 || cb > 21) {
		seterr(err, errlen,
		       "qcow2: cluster_bits %u out of range (9..21)", cb);
		return -EINVAL;
	}
	q->cluster_bits = cb;
	q->cluster_size = 1ull << cb;
	q->l2_bits = cb - 3;
	if (hdr_avail > q->cluster_size)
		hdr_avail = q->cluster_size;

	crypt = get_be32(hdr + 32);
	if (crypt) {
		seterr(err, errlen,
		       "qcow2: encrypted images are not supported (crypt_method %u)",
		       crypt);
		return -EOPNOTSUPP;
	}

	hdr_len = HDR_V2_LEN;
	q->refcount_order = 4;
	if (q->version == 3) {
		if (hdr_avail < HDR_V3_MIN_LEN)
			return refuse(err, errlen, -EINVAL,
				      "truncated version 3 header");
		q->incompat = get_be64(hdr + 72);
		q->compat = get_be64(hdr + 80);
		q->autoclear = get_be64(hdr + 88);
		q->refcount_order = get_be32(hdr + 96);
		hdr_len = get_be32(hdr + 100);
		if (hdr_len < HDR_V3_MIN_LEN || hdr_len > hdr_avail ||
		    hdr_len % 8) {
			seterr(err, errlen,
			       "qcow2: invalid header_length %llu",
			       (unsigned long long)hdr_len);
			return -EINVAL;
		}
		if (hdr_len > 104)
			compression = hdr[104];
	}

	if (q->incompat & INCOMPAT_CORRUPT)
		return refuse(err, errlen, -EUCLEAN,
			      "image is marked corrupt (incompatible bit 1); repair it with 'qemu-img check -r all'");
	if (q->incompat & INCOMPAT_DATA_FILE)
		return refuse(err, errlen, -EOPNOTSUPP,
			      "external data files are not supported (incompatible bit 2)");
	if (q->incompat & INCOMPAT_EXTL2)
		return refuse(err, errlen, -EOPNOTSUPP,
			      "extended L2 entries (subclusters) are not supported (incompatible bit 4)");
	if (compression > COMPRESSION_ZSTD) {
		seterr(err, errlen,
		       "qcow2: compression type %u is not supported (only 0 deflate and 1 zstd)",
		       compression);
		return -EOPNOTSUPP;
	}
	/* The spec ties a non-deflate type to incompatible bit 3, both ways. */
	if (!!compression != !!(q->incompat & INCOMPAT_COMPRESSION)) {
		seterr(err, errlen,
		       "qcow2: compression type %u does not match incompatible bit 3",
		       compression);
		return -EINVAL;
	}
	q->compression = compression;
	unknown = q->incompat & ~(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION);
	if (unknown) {
		seterr(err, errlen,
		       "qcow2: unknown incompatible features 0x%llx are not supported",
		       (unsigned long long)unknown);
		return -EOPNOTSUPP;
	}
	q->dirty = q->incompat & INCOMPAT_DIRTY;
	if (q->dirty && q->writable)
		return refuse(err, errlen, -EOPNOTSUPP,
			      "image is dirty (lazy refcounts, incompatible bit 0) and refcount repair is not implemented; open it read-only or run 'qemu-img check -r all'");
	if (q->refcount_order > 6) {
		seterr(err, errlen, "qcow2: refcount_order %u out of range (0..6)",
		       q->refcount_order);
		return -EINVAL;
	}
	q->rb_bits = cb + 3 - q->refcount_order;

	q->virtual_size = get_be64(hdr + 24);
	q->l1_size = get_be32(hdr + 36);
	q->l1_offset = get_be64(hdr + 40);
	q->rt_offset = get_be64(hdr + 48);
	q->rt_clusters = get_be32(hdr + 56);
	q->nb_snapshots = get_be32(hdr + 60);

	l2_cover = 2 * cb - 3;	/* log2 of bytes one L2 table maps */
	need_l1 = (q->virtual_size >> l2_cover) +
		  !!(q->virtual_size & ((1ull << l2_cover) - 1));
	if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		seterr(err, errlen,
		       "qcow2: L1 table of %u entries exceeds the %u MiB limit",
		       q->l1_size, QCOW2_MAX_L1_BYTES >> 20);
		return -EFBIG;
	}
	if (need_l1 > q->l1_size) {
		seterr(err, errlen,
		       "qcow2: L1 table of %u entries is too small for virtual size %llu",
		       q->l1_size, (unsigned long long)q->virtual_size);
		return -EINVAL;
	}
	if (q->l1_size && ((q->l1_offset & (q->cluster_size - 1)) ||
			   !in_file(q, q->l1_offset, (uint64_t)q->l1_size * 8) ||
			   q->l1_offset == 0))
		return refuse(err, errlen, -EINVAL,
			      "L1 table offset is unaligned or outside the file");
	if ((uint64_t)q->rt_clusters << cb > QCOW2_MAX_REFTABLE_BYTES) {
		seterr(err, errlen,
		       "qcow2: refcount table of %u clusters exceeds the %u MiB limit",
		       q->rt_clusters, QCOW2_MAX_REFTABLE_BYTES >> 20);
		return -EFBIG;
	}
	if (!q->rt_clusters || (q->rt_offset & (q->cluster_size - 1)) ||
	    !q->rt_offset ||
	    !in_file(q, q->rt_offset, (uint64_t)q->rt_clusters << cb))
		return refuse(err, errlen, -EINVAL,
			      "refcount table offset is unaligned or outside the file");
	if (q->nb_snapshots) {
		uint64_t so = get_be64(hdr + 64);

		if ((so & (q->cluster_size - 1)) || !in_file(q, so, 1))
			return refuse(err, errlen, -EINVAL,
				      "snapshot table offset is unaligned or outside the file");
		if (q->writable) {
			seterr(err, errlen,
			       "qcow2: writing images with internal snapshots is not supported (%u snapshots); open read-only",
			       q->nb_snapshots);
			return -EOPNOTSUPP;
		}
	}

	bf_off = get_be64(hdr + 8);
	bf_size = get_be32(hdr + 16);
	ext_end = hdr_avail;
	if (bf_off) {
		if (bf_size > QCOW2_MAX_BACKING_NAME) {
			seterr(err, errlen,
			       "qcow2: backing file name of %u bytes is too long (max %u)",
			       bf_size, QCOW2_MAX_BACKING_NAME);
			return -ENAMETOOLONG;
		}
		if (bf_off < hdr_len || bf_off > hdr_avail ||
		    bf_size > hdr_avail - bf_off)
			return refuse(err, errlen, -EINVAL,
				      "backing file name lies outside the header cluster");
		if (memchr(hdr + bf_off, 0, bf_size))
			return refuse(err, errlen, -EINVAL,
				      "backing file name contains a NUL byte");
		memcpy(q->bname, hdr + bf_off, bf_size);
		q->bname[bf_size] = '\0';
		ext_end = bf_off;
	}
	return parse_extensions(q, hdr, hdr_len, ext_end, err, errlen);
}

static void q_free(struct qcow2 *q)
{
	if (!q)
		return;
	if (q->bq)
		qcow2_close(q->bq);
	if (q->bfd >= 0)
		close(q->bfd);
	if (q->own_fd)
		close(q->fd);
	cache_free(&q->l2c);
	cache_free(&q->rbc);
	free(q->l1);
	free(q->rt);
	free(q->cbuf);
	free(q->zin);
	free(q->zout);
	ZSTD_freeDCtx(q->zstd);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

static int load_tables(struct qcow2 *q)
{
	uint8_t *buf;
	uint64_t n = (uint64_t)q->rt_clusters << q->cluster_bits;
	int ret;

	q->rt_entries = n / 8;
	q->rt = calloc(q->rt_entries, sizeof(*q->rt));
	q->l1 = calloc(q->l1_size ? q->l1_size : 1, sizeof(*q->l1));
	buf = malloc(n > (uint64_t)q->l1_size * 8 ? n : (uint64_t)q->l1_size * 8);
	if (!q->rt || !q->l1 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	ret = pread_full(q->fd, buf, n, q->rt_offset);
	for (uint64_t i = 0; !ret && i < q->rt_entries; i++)
		q->rt[i] = get_be64(buf + i * 8);
	if (!ret && q->l1_size)
		ret = pread_full(q->fd, buf, (uint64_t)q->l1_size * 8,
				 q->l1_offset);
	for (uint64_t i = 0; !ret && i < q->l1_size; i++)
		q->l1[i] = get_be64(buf + i * 8);
	free(buf);
	return ret;
}

/*
 * Persistent dirty bitmaps cannot follow our writes, so mark each one
 * in use (inconsistent), as QEMU itself does while it has an image open:
 * QEMU then reports them as inconsistent instead of trusting them, and
 * their clusters stay counted.  Clearing autoclear bit 0 instead would
 * make QEMU drop the directory and see those clusters as leaks.
 */
static int bitmaps_in_use(struct qcow2 *q, struct open_ctx *ctx)
{
	uint64_t pos = 0, n = q->bm_dir_size;
	uint8_t *dir;
	int ret;

	if (!q->bm_nb)
		return 0;
	if (n > BITMAP_DIR_MAX || n < BITMAP_ENTRY_LEN || !q->bm_dir_off ||
	    (q->bm_dir_off & (q->cluster_size - 1)) ||
	    !in_file(q, q->bm_dir_off, n) ||
	    cluster_is_metadata_area(q, q->bm_dir_off >> q->cluster_bits) ||
	    cluster_is_metadata_area(q, (q->bm_dir_off + n - 1) >>
					q->cluster_bits))
		return refuse(ctx->err, ctx->errlen, -EINVAL,
			      "invalid bitmap directory; open read-only or remove the bitmaps with 'qemu-img bitmap --remove'");
	dir = malloc(n);
	if (!dir)
		return -ENOMEM;
	ret = pread_full(q->fd, dir, n, q->bm_dir_off);
	for (uint32_t i = 0; !ret && i < q->bm_nb; i++) {
		uint64_t len;

		if (n - pos < BITMAP_ENTRY_LEN) {
			ret = -EINVAL;
			break;
		}
		len = BITMAP_ENTRY_LEN + get_be32(dir + pos + 20) +
		      ((uint64_t)dir[pos + 18] << 8 | dir[pos + 19]);
		len = (len + 7) & ~7ull;
		if (len > n - pos) {
			ret = -EINVAL;
			break;
		}
		put_be32(dir + pos + 12, get_be32(dir + pos + 12) | BITMAP_IN_USE);
		pos += len;
	}
	if (ret == -EINVAL)
		refuse(ctx->err, ctx->errlen, ret,
		       "invalid bitmap directory; open read-only or remove the bitmaps with 'qemu-img bitmap --remove'");
	if (!ret)
		ret = q_pwrite(q, dir, n, q->bm_dir_off);
	if (!ret)
		ret = barrier(q);
	free(dir);
	return ret;
}

static int open_chain(int fd, const char *base_dir, unsigned int flags,
		      struct open_ctx *ctx, struct qcow2 **out)
{
	struct qcow2 *q;
	uint8_t *hdr = NULL;
	uint64_t hdr_avail;
	int ret;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	q->fd = fd;
	q->bfd = -1;
	q->writable = flags & QCOW2_O_RDWR;
	q->no_backing = flags & QCOW2_O_NO_BACKING;
	q->bdepth = 0;

	ret = file_size_of(fd, &q->file_size);
	if (ret) {
		seterr(ctx->err, ctx->errlen, "qcow2: cannot size the image: %s",
		       strerror(-ret));
		goto fail;
	}
	/* The header and its extensions live in the first cluster (<= 2 MiB). */
	hdr_avail = q->file_size < (1u << 21) ? q->file_size : (1u << 21);
	hdr = malloc(hdr_avail ? hdr_avail : 1);
	if (!hdr) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = pread_full(fd, hdr, hdr_avail, 0);
	if (ret) {
		seterr(ctx->err, ctx->errlen, "qcow2: cannot read the header: %s",
		       strerror(-ret));
		goto fail;
	}
	ret = parse_header(q, hdr, hdr_avail, ctx->err, ctx->errlen);
	if (ret)
		goto fail;

	ret = -ENOMEM;
	q->cbuf = malloc(q->cluster_size);
	q->zin = malloc(2 * q->cluster_size + 512);
	q->zout = malloc(q->cluster_size);
	if (!q->cbuf || !q->zin || !q->zout ||
	    cache_init(&q->l2c, q->cluster_size) ||
	    cache_init(&q->rbc, q->cluster_size))
		goto fail;
	ret = load_tables(q);
	if (ret) {
		seterr(ctx->err, ctx->errlen,
		       "qcow2: cannot read the L1 or refcount table: %s",
		       strerror(-ret));
		goto fail;
	}
	q->next_free = (q->file_size + q->cluster_size - 1) >> q->cluster_bits;

	ret = open_backing(q, base_dir, ctx);
	if (ret)
		goto fail;

	if (q->writable && (q->autoclear & AUTOCLEAR_BITMAPS)) {
		ret = bitmaps_in_use(q, ctx);
		if (ret)
			goto fail;
	}
	if (q->writable && (q->autoclear & ~AUTOCLEAR_BITMAPS)) {
		/*
		 * Autoclear features we do not maintain go stale once we
		 * write, so clear them as the spec asks of such writers.
		 */
		uint8_t be[8];

		put_be64(be, q->autoclear & AUTOCLEAR_BITMAPS);
		ret = pwrite_full(fd, be, 8, 88);
		if (!ret)
			ret = barrier(q);
		if (ret) {
			seterr(ctx->err, ctx->errlen,
			       "qcow2: cannot clear autoclear features: %s",
			       strerror(-ret));
			goto fail;
		}
	}
	free(hdr);
	*out = q;
	return 0;
fail:
	if (ctx->err && ctx->errlen && !ctx->err[0])
		seterr(ctx->err, ctx->errlen, "qcow2: cannot open image: %s",
		       strerror(-ret));
	free(hdr);
	q_free(q);
	return ret;
}

int qcow2_open_fd(int fd, const char *base_dir, unsigned int flags,
		  struct qcow2 **out, char *err, size_t errlen)
{
	struct open_ctx ctx = {
		.err = err, .errlen = errlen,
		.lock_backing = flags & QCOW2_O_LOCK_BACKING,
	};
	struct stat st;

	if (err && errlen)
		err[0] = '\0';
	if (fstat(fd, &st)) {
		seterr(err, errlen, "qcow2: %s", strerror(errno));
		return -errno;
	}
	if ((flags & QCOW2_O_RDWR) &&
	    (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY) {
		seterr(err, errlen,
		       "qcow2: read-write open of an image fd opened read-only");
		return -EBADF;
	}
	ctx.chain[0].dev = st.st_dev;
	ctx.chain[0].ino = st.st_ino;
	return open_chain(fd, base_dir ? base_dir : ".", flags, &ctx, out);
}

int qcow2_open(const char *path, unsigned int flags, struct qcow2 **out,
	       char *err, size_t errlen)
{
	char dir[PATH_MAX], *slash;
	int fd, ret;

	fd = open(path, (flags & QCOW2_O_RDWR ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		seterr(err, errlen, "qcow2: cannot open '%s': %s", path,
		       strerror(errno));
		return ret;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	ret = qcow2_open_fd(fd, dir, flags, out, err, errlen);
	if (ret) {
		close(fd);
		return ret;
	}
	(*out)->own_fd = true;
	return 0;
}

int qcow2_close(struct qcow2 *q)
{
	int ret = 0;

	if (!q)
		return 0;
	if (q->writable)
		ret = qcow2_flush(q);
	q_free(q);
	return ret;
}

uint64_t qcow2_virtual_size(const struct qcow2 *q)
{
	return q->virtual_size;
}

uint32_t qcow2_cluster_size(const struct qcow2 *q)
{
	return (uint32_t)q->cluster_size;
}

void qcow2_get_info(struct qcow2 *q, struct qcow2_info *info)
{
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&q->lock);
	info->version = q->version;
	info->cluster_size = (uint32_t)q->cluster_size;
	info->virtual_size = q->virtual_size;
	info->refcount_bits = 1u << q->refcount_order;
	info->nb_snapshots = q->nb_snapshots;
	info->incompatible_features = q->incompat;
	info->compatible_features = q->compat;
	info->autoclear_features = q->autoclear;
	info->writable = q->writable;
	info->dirty = q->dirty;
	info->backing_depth = q->bdepth;
	info->compression = q->compression == COMPRESSION_ZSTD ? "zstd"
							       : "deflate";
	snprintf(info->backing_file, sizeof(info->backing_file), "%s", q->bname);
	snprintf(info->backing_format, sizeof(info->backing_format), "%s",
		 q->bfmt);
	pthread_mutex_unlock(&q->lock);
}
