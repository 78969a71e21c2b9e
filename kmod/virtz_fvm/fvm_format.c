// SPDX-License-Identifier: GPL-2.0
/*
 * Fuchsia FVM v1 metadata: validation, copy selection,
 * (de)serialisation and the slice allocator, for the kernel and userspace.
 *
 * Every field read from a device is hostile: each sum and product that
 * involves one is overflow-checked or bounded by an earlier check, and
 * nothing here asserts on input.
 */
#include "fvm_format.h"

static_assert(sizeof(struct fvm_header_disk) == FVM_HEADER_SIZE);
static_assert(sizeof(struct fvm_vpart_disk) == FVM_VPART_ENTRY_SIZE);
static_assert(FVM_MAX_VPARTITIONS * FVM_VPART_ENTRY_SIZE ==
	      FVM_VPART_TABLE_SIZE);

static const char *const fvm_hexdigits = "0123456789abcdef";

static void fvm_set_why(const char **why, const char *msg)
{
	if (why)
		*why = msg;
}

/* Only for values already bounded well below U64_MAX - 8191. */
static u64 fvm_round_block(u64 x)
{
	return (x + FVM_BLOCK_SIZE - 1) & ~(FVM_BLOCK_SIZE - 1);
}

/* ---- Header codec ------------------------------------------------------- */

void fvm_header_decode(const void *block, struct fvm_header *h)
{
	struct fvm_header_disk d;

	memcpy(&d, block, sizeof(d));
	h->magic = le64_to_cpu(d.magic);
	h->major_version = le64_to_cpu(d.major_version);
	h->pslice_count = le64_to_cpu(d.pslice_count);
	h->slice_size = le64_to_cpu(d.slice_size);
	h->fvm_partition_size = le64_to_cpu(d.fvm_partition_size);
	h->vpartition_table_size = le64_to_cpu(d.vpartition_table_size);
	h->allocation_table_size = le64_to_cpu(d.allocation_table_size);
	h->generation = le64_to_cpu(d.generation);
	memcpy(h->hash, d.hash, FVM_HASH_LEN);
	h->oldest_minor_version = le64_to_cpu(d.oldest_minor_version);
}

void fvm_header_encode(const struct fvm_header *h, void *block)
{
	struct fvm_header_disk d;

	d.magic = cpu_to_le64(h->magic);
	d.major_version = cpu_to_le64(h->major_version);
	d.pslice_count = cpu_to_le64(h->pslice_count);
	d.slice_size = cpu_to_le64(h->slice_size);
	d.fvm_partition_size = cpu_to_le64(h->fvm_partition_size);
	d.vpartition_table_size = cpu_to_le64(h->vpartition_table_size);
	d.allocation_table_size = cpu_to_le64(h->allocation_table_size);
	d.generation = cpu_to_le64(h->generation);
	memcpy(d.hash, h->hash, FVM_HASH_LEN);
	d.oldest_minor_version = cpu_to_le64(h->oldest_minor_version);
	memcpy(block, &d, sizeof(d));
}

static void fvm_vpart_decode(const void *src, struct fvm_vpart *e)
{
	struct fvm_vpart_disk d;

	memcpy(&d, src, sizeof(d));
	memcpy(e->type, d.type, FVM_GUID_LEN);
	memcpy(e->guid, d.guid, FVM_GUID_LEN);
	e->slices = le32_to_cpu(d.slices);
	e->flags = le32_to_cpu(d.flags);
	memcpy(e->name, d.name, FVM_NAME_LEN);
}

static void fvm_vpart_encode(const struct fvm_vpart *e, void *dst)
{
	struct fvm_vpart_disk d;

	memcpy(d.type, e->type, FVM_GUID_LEN);
	memcpy(d.guid, e->guid, FVM_GUID_LEN);
	d.slices = cpu_to_le32(e->slices);
	d.flags = cpu_to_le32(e->flags);
	memcpy(d.name, e->name, FVM_NAME_LEN);
	memcpy(dst, &d, sizeof(d));
}

static u64 fvm_slice_decode(const u8 *src)
{
	__le64 v;

	memcpy(&v, src, sizeof(v));
	return le64_to_cpu(v);
}

static void fvm_slice_encode(u64 entry, u8 *dst)
{
	__le64 v = cpu_to_le64(entry);

	memcpy(dst, &v, sizeof(v));
}

/* ---- Layout ------------------------------------------------------------- */

u64 fvm_metadata_allocated(const struct fvm_header *h)
{
	return FVM_ALLOC_TABLE_OFFSET + h->allocation_table_size;
}

u64 fvm_metadata_used(const struct fvm_header *h)
{
	/*
	 * Fuchsia rounds 8 * pslice_count, not 8 * (pslice_count + 1): when
	 * pslice_count is a multiple of 1024 the last entry falls outside
	 * the hash.  Keep it, or no hash would match Fuchsia's.
	 */
	return FVM_ALLOC_TABLE_OFFSET +
	       fvm_round_block(FVM_SLICE_ENTRY_SIZE * h->pslice_count);
}

u64 fvm_metadata_write_len(const struct fvm_header *h)
{
	return FVM_ALLOC_TABLE_OFFSET +
	       fvm_round_block(FVM_SLICE_ENTRY_SIZE * (h->pslice_count + 1));
}

u64 fvm_copy_offset(const struct fvm_header *h, enum fvm_copy c)
{
	return c == FVM_COPY_A ? 0 : fvm_metadata_allocated(h);
}

u64 fvm_data_start(const struct fvm_header *h)
{
	return 2 * fvm_metadata_allocated(h);
}

u64 fvm_pslice_offset(const struct fvm_header *h, u64 pslice)
{
	return fvm_data_start(h) + (pslice - 1) * h->slice_size;
}

u64 fvm_alloc_table_capacity(const struct fvm_header *h)
{
	u64 entries = h->allocation_table_size / FVM_SLICE_ENTRY_SIZE;

	/* Entry 0 is never used. */
	return entries ? entries - 1 : 0;
}

/* Fuchsia's HasValidTableSizes() plus the virtz limit. */
static int fvm_check_table_sizes(const struct fvm_header *h, const char **why)
{
	if (h->vpartition_table_size != FVM_VPART_TABLE_SIZE) {
		fvm_set_why(why, "partition table size is not 65536");
		return -EUCLEAN;
	}
	if (h->allocation_table_size > FVM_MAX_ALLOC_TABLE_SIZE ||
	    h->allocation_table_size % FVM_BLOCK_SIZE) {
		fvm_set_why(why, "allocation table size not a multiple of 8192 or over 16 GiB");
		return -EUCLEAN;
	}
	if (h->allocation_table_size > FVM_IMPL_MAX_ALLOC_TABLE_SIZE) {
		fvm_set_why(why, "allocation table larger than the virtz limit (256 MiB)");
		return -EFBIG;
	}
	return 0;
}

int fvm_locate_copies(const void *block, size_t len, u64 *metadata_allocated,
		      const char **why)
{
	struct fvm_header h;
	int ret;

	if (len < FVM_HEADER_SIZE) {
		fvm_set_why(why, "device too small to hold an FVM header");
		return -EUCLEAN;
	}
	fvm_header_decode(block, &h);
	ret = fvm_check_table_sizes(&h, why);
	if (ret)
		return ret;
	*metadata_allocated = fvm_metadata_allocated(&h);
	return 0;
}

int fvm_header_validate(const struct fvm_header *h, u64 dev_size,
			u32 dev_block_size, const char **why)
{
	u64 need_table, data_bytes, end;
	int ret;

	if (h->magic != FVM_MAGIC) {
		fvm_set_why(why, "bad magic: not an FVM header");
		return -EUCLEAN;
	}
	if (h->major_version > FVM_MAJOR_VERSION) {
		fvm_set_why(why, "major version is newer than 1");
		return -EOPNOTSUPP;
	}
	/* Bounds every later product involving pslice_count. */
	if (h->pslice_count > FVM_MAX_VSLICES) {
		fvm_set_why(why, "pslice_count exceeds 2^31");
		return -EUCLEAN;
	}
	if (h->slice_size > FVM_MAX_SLICE_SIZE) {
		fvm_set_why(why, "slice size would overflow 64 bits");
		return -EUCLEAN;
	}
	/* Fuchsia asserts later on a zero slice size; refuse it here. */
	if (!h->slice_size) {
		fvm_set_why(why, "slice size is zero");
		return -EUCLEAN;
	}
	if (!dev_block_size || h->slice_size % dev_block_size) {
		fvm_set_why(why, "slice size is not a multiple of the device block size");
		return -EUCLEAN;
	}
	ret = fvm_check_table_sizes(h, why);
	if (ret)
		return ret;
	need_table = fvm_round_block(FVM_SLICE_ENTRY_SIZE *
				     (h->pslice_count + 1));
	if (h->allocation_table_size < need_table) {
		fvm_set_why(why, "allocation table too small for pslice_count");
		return -EUCLEAN;
	}
	if (h->fvm_partition_size > dev_size) {
		fvm_set_why(why, "fvm_partition_size is larger than the device");
		return -EUCLEAN;
	}
	if (check_mul_overflow(h->pslice_count, h->slice_size, &data_bytes) ||
	    check_add_overflow(fvm_data_start(h), data_bytes, &end)) {
		fvm_set_why(why, "slice data end overflows 64 bits");
		return -EUCLEAN;
	}
	if (end > h->fvm_partition_size) {
		fvm_set_why(why, "metadata and slices do not fit in fvm_partition_size");
		return -EUCLEAN;
	}
	return 0;
}

int fvm_hash_compute(const void *buf, size_t used, u8 out[FVM_HASH_LEN])
{
	static const u8 zero[FVM_HASH_LEN];
	struct fvm_sha256 h;
	const u8 *b = buf;
	int ret;

	if (used < FVM_HASH_OFFSET + FVM_HASH_LEN)
		return -EINVAL;
	ret = fvm_sha256_init(&h);
	if (ret)
		return ret;
	ret = fvm_sha256_update(&h, b, FVM_HASH_OFFSET);
	if (!ret)
		ret = fvm_sha256_update(&h, zero, sizeof(zero));
	if (!ret)
		ret = fvm_sha256_update(&h, b + FVM_HASH_OFFSET + FVM_HASH_LEN,
					used - FVM_HASH_OFFSET - FVM_HASH_LEN);
	if (ret) {
		fvm_sha256_abort(&h);
		return ret;
	}
	return fvm_sha256_final(&h, out);
}

int fvm_copy_validate(const void *buf, size_t len, u64 dev_size,
		      u32 dev_block_size, struct fvm_header *h,
		      const char **why)
{
	u8 digest[FVM_HASH_LEN];
	int ret;

	if (len < FVM_BLOCK_SIZE) {
		fvm_set_why(why, "metadata copy shorter than one block");
		return -EUCLEAN;
	}
	fvm_header_decode(buf, h);
	ret = fvm_header_validate(h, dev_size, dev_block_size, why);
	if (ret)
		return ret;
	/*
	 * Copy B is found through copy A's table sizes.  A copy that
	 * describes another layout cannot be where it claims to be.
	 */
	if (fvm_metadata_allocated(h) != len) {
		fvm_set_why(why, "allocation table size differs from copy A's");
		return -EUCLEAN;
	}
	ret = fvm_hash_compute(buf, fvm_metadata_used(h), digest);
	if (ret) {
		fvm_set_why(why, "cannot compute SHA-256");
		return ret;
	}
	if (memcmp(digest, h->hash, FVM_HASH_LEN)) {
		fvm_set_why(why, "metadata hash mismatch");
		return -EUCLEAN;
	}
	return 0;
}

bool fvm_generation_ge(u64 g1, u64 g2)
{
	/* A counter that wrapped from U64_MAX to 0 is the newer one. */
	if (g1 == U64_MAX && g2 == 0)
		return false;
	if (g1 == 0 && g2 == U64_MAX)
		return true;
	return g1 >= g2;
}

/* ---- Object lifetime ----------------------------------------------------- */

static struct fvm_meta *fvm_meta_alloc(u64 pslice_count)
{
	struct fvm_meta *m;

	m = fvm_zalloc(sizeof(*m));
	if (!m)
		return NULL;
	/* pslice_count is bounded by the 256 MiB table limit here. */
	m->slice = fvm_zalloc((size_t)(pslice_count + 1) * sizeof(u64));
	if (!m->slice) {
		fvm_free(m);
		return NULL;
	}
	return m;
}

void fvm_meta_free(struct fvm_meta *m)
{
	if (!m)
		return;
	fvm_free(m->slice);
	fvm_free(m);
}

int fvm_meta_dup(const struct fvm_meta *m, struct fvm_meta **out)
{
	struct fvm_meta *n;
	u64 *slice;

	n = fvm_meta_alloc(m->hdr.pslice_count);
	if (!n)
		return -ENOMEM;
	slice = n->slice;
	memcpy(n, m, sizeof(*n));
	n->slice = slice;
	memcpy(slice, m->slice,
	       (size_t)(m->hdr.pslice_count + 1) * sizeof(u64));
	*out = n;
	return 0;
}

/* ---- Parse --------------------------------------------------------------- */

static void fvm_meta_decode(struct fvm_meta *m, const u8 *buf)
{
	u64 p;
	u32 i;

	for (i = 0; i < FVM_MAX_VPARTITIONS; i++)
		fvm_vpart_decode(buf + FVM_PART_TABLE_OFFSET +
				 i * FVM_VPART_ENTRY_SIZE, &m->part[i]);
	/* Entry 0 is never used; keep it free in memory whatever it held. */
	memset(&m->part[0], 0, sizeof(m->part[0]));

	m->allocated = 0;
	m->slice[0] = 0;
	for (p = 1; p <= m->hdr.pslice_count; p++) {
		/* Raw, so that fvm_meta_check() can see reserved bits. */
		m->slice[p] = fvm_slice_decode(buf + FVM_ALLOC_TABLE_OFFSET +
					       p * FVM_SLICE_ENTRY_SIZE);
		if (fvm_slice_vpart(m->slice[p]))
			m->allocated++;
	}
}

int fvm_meta_parse(const void *a, const void *b, size_t copy_len,
		   u64 dev_size, u32 dev_block_size, struct fvm_meta **out,
		   struct fvm_parse_report *rep, const char **why)
{
	struct fvm_parse_report local;
	const void *bufs[2] = { a, b };
	struct fvm_copy_status *st;
	struct fvm_meta *m;
	enum fvm_copy pick;
	int c;

	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	for (c = 0; c < 2; c++) {
		st = &rep->copy[c];
		if (!bufs[c]) {
			st->err = -EIO;
			st->why = "metadata copy could not be read";
			continue;
		}
		st->present = copy_len >= FVM_HEADER_SIZE;
		st->err = fvm_copy_validate(bufs[c], copy_len, dev_size,
					    dev_block_size, &st->hdr, &st->why);
	}

	if (rep->copy[0].err && rep->copy[1].err) {
		/* Say "too new" rather than "corrupt" when that is why. */
		if (rep->copy[0].err == -EOPNOTSUPP ||
		    rep->copy[1].err == -EOPNOTSUPP) {
			fvm_set_why(why, "FVM major version is newer than 1");
			return -EOPNOTSUPP;
		}
		fvm_set_why(why, "no valid FVM metadata copy");
		return -EUCLEAN;
	}
	if (rep->copy[0].err)
		pick = FVM_COPY_B;
	else if (rep->copy[1].err)
		pick = FVM_COPY_A;
	else
		pick = fvm_generation_ge(rep->copy[0].hdr.generation,
					 rep->copy[1].hdr.generation) ?
		       FVM_COPY_A : FVM_COPY_B;
	rep->active = pick;

	m = fvm_meta_alloc(rep->copy[pick].hdr.pslice_count);
	if (!m) {
		fvm_set_why(why, "out of memory for FVM metadata");
		return -ENOMEM;
	}
	m->hdr = rep->copy[pick].hdr;
	m->active = pick;
	fvm_meta_decode(m, bufs[pick]);
	*out = m;
	return 0;
}

/* ---- Create ---------------------------------------------------------- */

int fvm_meta_create(u64 disk_size, u64 max_disk_size, u64 slice_size,
		    struct fvm_meta **out, const char **why)
{
	struct fvm_header h = { 0 };
	u64 max_slices, table, data_start, initial;
	struct fvm_meta *m;

	if (!slice_size || slice_size % FVM_BLOCK_SIZE ||
	    slice_size > FVM_MAX_SLICE_SIZE) {
		fvm_set_why(why, "slice size must be a non-zero multiple of 8192");
		return -EINVAL;
	}
	if (max_disk_size < disk_size) {
		fvm_set_why(why, "maximum size is smaller than the size");
		return -EINVAL;
	}
	/*
	 * As Fuchsia's Header::FromGrowableDiskSize(): size the table for
	 * max_disk_size / slice_size slices, ignoring the metadata itself.
	 */
	max_slices = fvm_div64(max_disk_size, slice_size);
	if (max_slices >= FVM_MAX_VSLICES ||
	    FVM_SLICE_ENTRY_SIZE * (max_slices + 1) >
	    FVM_IMPL_MAX_ALLOC_TABLE_SIZE) {
		fvm_set_why(why, "allocation table would exceed the virtz limit (256 MiB)");
		return -EFBIG;
	}
	table = fvm_round_block(FVM_SLICE_ENTRY_SIZE * (max_slices + 1));

	h.magic = FVM_MAGIC;
	h.major_version = FVM_MAJOR_VERSION;
	h.slice_size = slice_size;
	h.vpartition_table_size = FVM_VPART_TABLE_SIZE;
	h.allocation_table_size = table;
	h.generation = 0;
	h.oldest_minor_version = FVM_MINOR_VERSION;
	data_start = fvm_data_start(&h);
	if (disk_size < data_start) {
		fvm_set_why(why, "device too small for two copies of the FVM metadata");
		return -ENOSPC;
	}
	initial = fvm_div64(disk_size - data_start, slice_size);
	h.pslice_count = initial;
	h.fvm_partition_size = data_start + initial * slice_size;

	m = fvm_meta_alloc(initial);
	if (!m) {
		fvm_set_why(why, "out of memory for FVM metadata");
		return -ENOMEM;
	}
	m->hdr = h;
	m->active = FVM_COPY_A;
	*out = m;
	return 0;
}

/* ---- Consistency ------------------------------------------------------ */

static int fvm_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * The slice map sorted by owner: key[first[i] .. first[i + 1]) holds
 * (vslice << 32 | pslice) for every entry of allocated partition i, in
 * vslice order.  Entries that cannot be placed are counted in r.
 */
struct fvm_sorted_map {
	u64 *key;
	u64 first[FVM_MAX_VPARTITIONS + 1];
	u64 fill[FVM_MAX_VPARTITIONS];	/* scratch: next free key slot */
};

static int fvm_sort_map(const struct fvm_meta *m, struct fvm_sorted_map *s,
			struct fvm_check_report *r)
{
	u64 p, e, vp, vs, total = 0;
	u32 i;

	memset(r, 0, sizeof(*r));
	for (p = 1; p <= m->hdr.pslice_count; p++) {
		e = m->slice[p];
		if (e & FVM_SLICE_RESERVED_MASK)
			r->reserved_bits++;
		vp = fvm_slice_vpart(e);
		if (!vp)
			continue;
		vs = fvm_slice_vslice(e);
		if (vp >= FVM_MAX_VPARTITIONS) {
			r->bad_vpart++;
		} else if (vs >= FVM_MAX_VSLICES) {
			r->bad_vslice++;
		} else if (!fvm_vpart_allocated(&m->part[vp])) {
			r->orphans++;
		} else {
			r->mapped[vp]++;
			total++;
			continue;
		}
		if (!r->first_bad_pslice)
			r->first_bad_pslice = p;
	}

	s->first[0] = 0;
	for (i = 0; i < FVM_MAX_VPARTITIONS; i++) {
		s->first[i + 1] = s->first[i] + r->mapped[i];
		s->fill[i] = s->first[i];
	}
	s->key = fvm_zalloc((size_t)total * sizeof(u64));
	if (!s->key)
		return -ENOMEM;
	for (p = 1; p <= m->hdr.pslice_count; p++) {
		e = m->slice[p];
		vp = fvm_slice_vpart(e);
		vs = fvm_slice_vslice(e);
		if (!vp || vp >= FVM_MAX_VPARTITIONS || vs >= FVM_MAX_VSLICES ||
		    !fvm_vpart_allocated(&m->part[vp]))
			continue;
		s->key[s->fill[vp]++] = vs << 32 | p;
	}
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
		if (r->mapped[i] > 1)
			fvm_sort(s->key + s->first[i], r->mapped[i],
				 sizeof(u64), fvm_cmp_u64);

	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		for (p = s->first[i] + 1; p < s->first[i + 1]; p++) {
			if (s->key[p] >> 32 != s->key[p - 1] >> 32)
				continue;
			r->double_mapped++;
			e = s->key[p] & 0xffffffffULL;
			if (!r->first_bad_pslice || e < r->first_bad_pslice)
				r->first_bad_pslice = e;
		}
		if (fvm_vpart_allocated(&m->part[i]) &&
		    m->part[i].slices != r->mapped[i])
			r->count_mismatch++;
	}
	return 0;
}

int fvm_meta_check(const struct fvm_meta *m, struct fvm_check_report *r)
{
	struct fvm_sorted_map *s;
	int ret;

	s = fvm_zalloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = fvm_sort_map(m, s, r);
	fvm_free(s->key);
	fvm_free(s);
	return ret;
}

static int fvm_report_verdict(const struct fvm_check_report *r,
			      const char **why)
{
	if (r->bad_vpart) {
		fvm_set_why(why, "slice entry names a partition beyond 1023");
		return -EUCLEAN;
	}
	if (r->bad_vslice) {
		fvm_set_why(why, "slice entry has a vslice beyond 2^31");
		return -EUCLEAN;
	}
	if (r->double_mapped) {
		fvm_set_why(why, "a vslice is mapped by two physical slices");
		return -EUCLEAN;
	}
	return 0;
}

int fvm_meta_verify(const struct fvm_meta *m, const char **why)
{
	struct fvm_check_report *r;
	int ret;

	r = fvm_zalloc(sizeof(*r));
	if (!r) {
		fvm_set_why(why, "out of memory checking the slice map");
		return -ENOMEM;
	}
	ret = fvm_meta_check(m, r);
	if (ret)
		fvm_set_why(why, "out of memory checking the slice map");
	else
		ret = fvm_report_verdict(r, why);
	fvm_free(r);
	return ret;
}

/* ---- Allocator ---------------------------------------------------------- */

static bool fvm_vpart_index_ok(const struct fvm_meta *m, u32 vpart)
{
	return vpart >= 1 && vpart < FVM_MAX_VPARTITIONS &&
	       fvm_vpart_allocated(&m->part[vpart]);
}

int fvm_find_free_pslice(const struct fvm_meta *m, u64 hint, u64 *out)
{
	u64 n = m->hdr.pslice_count, p;

	if (hint < 1)
		hint = 1;
	for (p = hint; p <= n; p++) {
		if (!fvm_slice_vpart(m->slice[p])) {
			*out = p;
			return 0;
		}
	}
	for (p = 1; p < hint && p <= n; p++) {
		if (!fvm_slice_vpart(m->slice[p])) {
			*out = p;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Fuchsia's AllocateSlicesLocked(); all-or-nothing. */
static int fvm_alloc_slices(struct fvm_meta *m, u32 vpart, u64 start,
			    u64 count)
{
	u64 end, first_mapped = U64_MAX, free, p, e, vs, req, hint = 0, i;
	struct fvm_vpart *entry = &m->part[vpart];
	int ret;

	if (!count)
		return 0;
	if (check_add_overflow(start, count, &end) || end > FVM_MAX_VSLICES)
		return -EINVAL;
	if (m->limit[vpart]) {
		if (check_add_overflow((u64)entry->slices, count, &req) ||
		    check_mul_overflow(req, m->hdr.slice_size, &req) ||
		    req > m->limit[vpart])
			return -ENOSPC;
	}
	for (p = 1; p <= m->hdr.pslice_count; p++) {
		e = m->slice[p];
		if (fvm_slice_vpart(e) != vpart)
			continue;
		vs = fvm_slice_vslice(e);
		if (vs >= start && vs < end && vs - start < first_mapped)
			first_mapped = vs - start;
	}
	/*
	 * Fuchsia walks the range checking "already mapped" before taking a
	 * free slice for each vslice, so whichever fails first decides the
	 * error.
	 */
	free = m->hdr.pslice_count - m->allocated;
	if (first_mapped < count && first_mapped <= free)
		return -EINVAL;
	if (free < count)
		return -ENOSPC;

	for (i = 0; i < count; i++) {
		ret = fvm_find_free_pslice(m, hint, &p);
		if (ret)	/* cannot happen: free >= count */
			return ret;
		m->slice[p] = fvm_slice_entry(vpart, start + i);
		m->allocated++;
		entry->slices++;
		hint = p + 1;
	}
	return 0;
}

static int fvm_check_name(const char *name, size_t len)
{
	if (len > FVM_NAME_LEN || (len && memchr(name, '\0', len)))
		return -EINVAL;
	return 0;
}

int fvm_alloc_partition(struct fvm_meta *m, u64 slice_count,
			const u8 type[FVM_GUID_LEN],
			const u8 guid[FVM_GUID_LEN], const char *name,
			size_t name_len, u32 flags, u32 *index)
{
	struct fvm_vpart *e;
	u32 i;
	int ret;

	if (!slice_count || slice_count >= U32_MAX)
		return -ERANGE;
	if (fvm_check_name(name, name_len))
		return -EINVAL;
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
		if (!fvm_vpart_allocated(&m->part[i]))
			break;
	if (i == FVM_MAX_VPARTITIONS)
		return -ENOSPC;

	e = &m->part[i];
	memset(e, 0, sizeof(*e));
	memcpy(e->type, type, FVM_GUID_LEN);
	memcpy(e->guid, guid, FVM_GUID_LEN);
	e->flags = flags & FVM_VPART_FLAG_MASK;
	if (name_len)
		memcpy(e->name, name, name_len);
	m->limit[i] = 0;

	ret = fvm_alloc_slices(m, i, 0, slice_count);
	if (ret) {
		memset(e, 0, sizeof(*e));
		return ret;
	}
	if (index)
		*index = i;
	return 0;
}

/* Fuchsia's BoundsCheckSliceExtent(). */
static int fvm_check_extent(u64 offset, u64 len)
{
	u64 end;

	if (!offset)
		return -ERANGE;
	if (check_add_overflow(offset, len, &end) || end > FVM_MAX_VSLICES)
		return -ERANGE;
	return 0;
}

int fvm_extend(struct fvm_meta *m, u32 vpart, u64 offset, u64 len)
{
	int ret;

	if (!fvm_vpart_index_ok(m, vpart))
		return -ENOENT;
	ret = fvm_check_extent(offset, len);
	if (ret)
		return ret;
	return fvm_alloc_slices(m, vpart, offset, len);
}

static void fvm_free_pslice(struct fvm_meta *m, u64 p, u32 vpart)
{
	m->slice[p] = 0;
	m->allocated--;
	/* A count already short of the map must not wrap to 2^32 - 1. */
	if (m->part[vpart].slices)
		m->part[vpart].slices--;
}

int fvm_shrink(struct fvm_meta *m, u32 vpart, u64 offset, u64 len)
{
	u64 p, vs, end, freed = 0;
	int ret;

	if (!fvm_vpart_index_ok(m, vpart))
		return -ENOENT;
	ret = fvm_check_extent(offset, len);
	if (ret)
		return ret;
	if (!len)
		return 0;
	end = offset + len;
	for (p = 1; p <= m->hdr.pslice_count; p++) {
		if (fvm_slice_vpart(m->slice[p]) != vpart)
			continue;
		vs = fvm_slice_vslice(m->slice[p]);
		if (vs < offset || vs >= end)
			continue;
		fvm_free_pslice(m, p, vpart);
		freed++;
	}
	return freed ? 0 : -EINVAL;
}

int fvm_destroy(struct fvm_meta *m, u32 vpart)
{
	u64 p;

	if (!fvm_vpart_index_ok(m, vpart))
		return -ENOENT;
	for (p = 1; p <= m->hdr.pslice_count; p++) {
		if (fvm_slice_vpart(m->slice[p]) == vpart) {
			m->slice[p] = 0;
			m->allocated--;
		}
	}
	memset(&m->part[vpart], 0, sizeof(m->part[vpart]));
	m->limit[vpart] = 0;
	return 0;
}

int fvm_activate(struct fvm_meta *m, const u8 old_guid[FVM_GUID_LEN],
		 const u8 new_guid[FVM_GUID_LEN])
{
	u32 i, old_i = 0, new_i = 0;
	struct fvm_vpart *e;

	if (!memcmp(old_guid, new_guid, FVM_GUID_LEN))
		old_guid = NULL;
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		e = &m->part[i];
		if (!fvm_vpart_allocated(e))
			continue;
		if (old_guid && !fvm_vpart_inactive(e) &&
		    !memcmp(e->guid, old_guid, FVM_GUID_LEN))
			old_i = i;
		else if (fvm_vpart_inactive(e) &&
			 !memcmp(e->guid, new_guid, FVM_GUID_LEN))
			new_i = i;
	}
	if (!new_i)
		return -ENOENT;
	if (old_i)
		m->part[old_i].flags |= FVM_VPART_FLAG_INACTIVE;
	m->part[new_i].flags &= ~FVM_VPART_FLAG_INACTIVE;
	return 0;
}

int fvm_set_name(struct fvm_meta *m, u32 vpart, const char *name,
		 size_t name_len)
{
	if (!fvm_vpart_index_ok(m, vpart))
		return -ENOENT;
	if (fvm_check_name(name, name_len))
		return -EINVAL;
	memset(m->part[vpart].name, 0, FVM_NAME_LEN);
	if (name_len)
		memcpy(m->part[vpart].name, name, name_len);
	return 0;
}

int fvm_set_type(struct fvm_meta *m, u32 vpart, const u8 type[FVM_GUID_LEN])
{
	if (!fvm_vpart_index_ok(m, vpart))
		return -ENOENT;
	memcpy(m->part[vpart].type, type, FVM_GUID_LEN);
	return 0;
}

int fvm_set_limit(struct fvm_meta *m, u32 vpart, u64 bytes)
{
	if (!fvm_vpart_index_ok(m, vpart))
		return -ENOENT;
	m->limit[vpart] = bytes;
	return 0;
}

int fvm_find_guid(const struct fvm_meta *m, const u8 guid[FVM_GUID_LEN])
{
	u32 i;

	for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
		if (fvm_vpart_allocated(&m->part[i]) &&
		    !memcmp(m->part[i].guid, guid, FVM_GUID_LEN))
			return i;
	return -ENOENT;
}

size_t fvm_name_len(const struct fvm_vpart *e)
{
	size_t n = 0;

	while (n < FVM_NAME_LEN && e->name[n])
		n++;
	return n;
}

/* ---- Load ----------------------------------------------------------- */

static int fvm_grow(struct fvm_meta *m, u64 dev_size, bool *grew)
{
	u64 start = fvm_data_start(&m->hdr), want, *slice;

	*grew = false;
	if (dev_size <= start)
		return 0;
	want = fvm_div64(dev_size - start, m->hdr.slice_size);
	if (want > fvm_alloc_table_capacity(&m->hdr))
		want = fvm_alloc_table_capacity(&m->hdr);
	if (want <= m->hdr.pslice_count)
		return 0;
	/*
	 * New entries start free.  Fuchsia would take whatever the unhashed
	 * tail of the table held; virtz does not trust unhashed bytes.
	 */
	slice = fvm_zalloc((size_t)(want + 1) * sizeof(u64));
	if (!slice)
		return -ENOMEM;
	memcpy(slice, m->slice, (size_t)(m->hdr.pslice_count + 1) * sizeof(u64));
	fvm_free(m->slice);
	m->slice = slice;
	m->hdr.pslice_count = want;
	m->hdr.fvm_partition_size = start + want * m->hdr.slice_size;
	*grew = true;
	return 0;
}

int fvm_meta_grow(struct fvm_meta *m, u64 dev_size, bool *grew)
{
	return fvm_grow(m, dev_size, grew);
}

int fvm_meta_load(struct fvm_meta *m, u64 dev_size, unsigned int *changed,
		  const char **why)
{
	bool grew;
	u32 i;
	int ret;

	*changed = 0;
	ret = fvm_meta_verify(m, why);
	if (ret)
		return ret;
	ret = fvm_grow(m, dev_size, &grew);
	if (ret) {
		fvm_set_why(why, "out of memory growing the slice table");
		return ret;
	}
	if (grew)
		*changed |= FVM_LOAD_GREW;
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		struct fvm_vpart *e = &m->part[i];

		if (!fvm_vpart_allocated(e))
			continue;
		if (fvm_guid_is_zero(e->guid)) {
			fvm_guid_generate(e->guid);
			*changed |= FVM_LOAD_GUIDS;
		}
	}
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		if (fvm_vpart_allocated(&m->part[i]) &&
		    fvm_vpart_inactive(&m->part[i])) {
			fvm_destroy(m, i);
			*changed |= FVM_LOAD_DESTROYED;
		}
	}
	return 0;
}

/* ---- Commit -------------------------------------------------------------- */

enum fvm_copy fvm_meta_commit_begin(struct fvm_meta *m)
{
	m->hdr.generation++;	/* wraps; fvm_generation_ge() copes */
	if (m->hdr.oldest_minor_version > FVM_MINOR_VERSION)
		m->hdr.oldest_minor_version = FVM_MINOR_VERSION;
	return m->active == FVM_COPY_A ? FVM_COPY_B : FVM_COPY_A;
}

void fvm_meta_commit_end(struct fvm_meta *m)
{
	m->active = m->active == FVM_COPY_A ? FVM_COPY_B : FVM_COPY_A;
}

int fvm_meta_serialize(const struct fvm_meta *m, void *buf, size_t len)
{
	u64 wlen = fvm_metadata_write_len(&m->hdr), p;
	struct fvm_header h = m->hdr;
	u8 *b = buf;
	u32 i;
	int ret;

	if (len < wlen)
		return -EINVAL;
	memset(b, 0, wlen);
	memset(h.hash, 0, FVM_HASH_LEN);
	fvm_header_encode(&h, b);
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
		fvm_vpart_encode(&m->part[i], b + FVM_PART_TABLE_OFFSET +
				 i * FVM_VPART_ENTRY_SIZE);
	for (p = 1; p <= m->hdr.pslice_count; p++)
		fvm_slice_encode(m->slice[p] & ~FVM_SLICE_RESERVED_MASK,
				 b + FVM_ALLOC_TABLE_OFFSET +
				 p * FVM_SLICE_ENTRY_SIZE);
	ret = fvm_hash_compute(b, fvm_metadata_used(&m->hdr), h.hash);
	if (ret)
		return ret;
	memcpy(b + FVM_HASH_OFFSET, h.hash, FVM_HASH_LEN);
	return 0;
}

/* ---- GUIDs ----------------------------------------------------------- */

bool fvm_guid_is_zero(const u8 guid[FVM_GUID_LEN])
{
	u32 i;

	for (i = 0; i < FVM_GUID_LEN; i++)
		if (guid[i])
			return false;
	return true;
}

/*
 * Text position of each byte: the first three fields are little-endian
 * on disk (GPT's mixed-endian form), the last two are byte order.
 */
static const u8 fvm_guid_order[FVM_GUID_LEN] = {
	3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15
};

void fvm_guid_to_str(const u8 guid[FVM_GUID_LEN], char *out)
{
	u32 i;
	char *o = out;

	for (i = 0; i < FVM_GUID_LEN; i++) {
		u8 v = guid[fvm_guid_order[i]];

		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = fvm_hexdigits[v >> 4];
		*o++ = fvm_hexdigits[v & 0xf];
	}
	*o = '\0';
}

static int fvm_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fvm_guid_parse(const char *s, u8 guid[FVM_GUID_LEN])
{
	u8 tmp[FVM_GUID_LEN];
	u32 i, pos = 0;
	int hi, lo;

	for (i = 0; i < FVM_GUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (s[pos] != '-')
				return -EINVAL;
			pos++;
		}
		hi = fvm_hexval(s[pos]);
		lo = hi < 0 ? -1 : fvm_hexval(s[pos + 1]);
		if (lo < 0)
			return -EINVAL;
		tmp[fvm_guid_order[i]] = (u8)(hi << 4 | lo);
		pos += 2;
	}
	if (s[pos])
		return -EINVAL;
	memcpy(guid, tmp, FVM_GUID_LEN);
	return 0;
}

void fvm_guid_generate(u8 guid[FVM_GUID_LEN])
{
	fvm_random_bytes(guid, FVM_GUID_LEN);
	/* Version 4 in the high nibble of field 3, stored little-endian. */
	guid[7] = (guid[7] & 0x0f) | 0x40;
	guid[8] = (guid[8] & 0x3f) | 0x80;
}

/* ---- Index --------------------------------------------------------------- */

int fvm_index_build(const struct fvm_meta *m, struct fvm_index **out,
		    const char **why)
{
	struct fvm_check_report *r;
	struct fvm_sorted_map *s;
	struct fvm_index *ix = NULL;
	u64 k, vs, ps, nr = 0;
	struct fvm_extent *x;
	u32 i;
	int ret;

	r = fvm_zalloc(sizeof(*r));
	s = fvm_zalloc(sizeof(*s));
	if (!r || !s) {
		ret = -ENOMEM;
		goto out_nomem;
	}
	ret = fvm_sort_map(m, s, r);
	if (ret)
		goto out_nomem;
	ret = fvm_report_verdict(r, why);
	if (ret)
		goto out;

	/* Pass 1 counts runs, pass 2 fills them. */
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
		for (k = s->first[i]; k < s->first[i + 1]; k++)
			if (k == s->first[i] ||
			    s->key[k] != s->key[k - 1] + (1ULL << 32) + 1)
				nr++;
	ix = fvm_zalloc(sizeof(*ix) + (size_t)nr * sizeof(ix->ext[0]));
	if (!ix) {
		ret = -ENOMEM;
		goto out_nomem;
	}
	ix->nr_extents = (u32)nr;
	x = ix->ext;
	for (i = 0; i < FVM_MAX_VPARTITIONS; i++) {
		ix->first[i] = (u32)(x - ix->ext);
		for (k = s->first[i]; k < s->first[i + 1]; k++) {
			vs = s->key[k] >> 32;
			ps = s->key[k] & 0xffffffffULL;
			if (k != s->first[i] &&
			    s->key[k] == s->key[k - 1] + (1ULL << 32) + 1) {
				x[-1].count++;
				continue;
			}
			x->vslice = (u32)vs;
			x->pslice = (u32)ps;
			x->count = 1;
			x++;
		}
	}
	ix->first[FVM_MAX_VPARTITIONS] = (u32)(x - ix->ext);
	*out = ix;
	goto out;

out_nomem:
	fvm_set_why(why, "out of memory building the slice index");
out:
	if (s)
		fvm_free(s->key);
	fvm_free(s);
	fvm_free(r);
	return ret;
}

void fvm_index_free(struct fvm_index *ix)
{
	fvm_free(ix);
}

int fvm_index_lookup(const struct fvm_index *ix, u32 vpart, u64 vslice,
		     u64 *pslice, u64 *run)
{
	u32 lo, hi, mid;
	const struct fvm_extent *x;

	if (vpart >= FVM_MAX_VPARTITIONS || vslice >= FVM_MAX_VSLICES)
		return -ENOENT;
	lo = ix->first[vpart];
	hi = ix->first[vpart + 1];
	/* Last extent whose first vslice is <= vslice. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ix->ext[mid].vslice <= vslice)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ix->first[vpart])
		return -ENOENT;
	x = &ix->ext[lo - 1];
	if (vslice - x->vslice >= x->count)
		return -ENOENT;
	*pslice = x->pslice + (vslice - x->vslice);
	if (run)
		*run = x->count - (vslice - x->vslice);
	return 0;
}
