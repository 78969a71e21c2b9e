/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fuchsia FVM v1 on-disk format, shared by virtz_fvm.ko and
 * userspace (virtzctl fvm, host tests, the fuzzer).
 *
 * The library does no I/O.  The caller reads whole metadata copies into
 * byte buffers, hands them to fvm_meta_parse(), edits the resulting
 * struct fvm_meta with the pure allocator functions below, and writes
 * back what fvm_meta_serialize() produces.  Kernel/userspace differences
 * live in fvm_port.h only.
 *
 * Device layout (one copy = header block, partition table, allocation
 * table; copy B follows copy A; slice data follows both):
 *
 *   0                      header A   (104-byte header, rest of 8 KiB zero)
 *   8192                   partition table A, 1024 x 64 bytes
 *   73728                  allocation table A, allocation_table_size bytes
 *   metadata_allocated     copy B, same layout
 *   2 * metadata_allocated physical slice 1, then 2, ...
 *
 * Errors are negative errnos: -ERANGE (Fuchsia OUT_OF_RANGE), -ENOSPC
 * (NO_SPACE), -ENOENT (NOT_FOUND), -EINVAL (INVALID_ARGS), -EOPNOTSUPP
 * (NOT_SUPPORTED), -EUCLEAN (corrupt metadata), -EFBIG (beyond the virtz
 * implementation limit), -ENOMEM.  Functions that judge input take a
 * "const char **why" which, when non-NULL, receives a static, human
 * readable reason suitable for ti->error, extack or the CLI.
 *
 * Locking: none.  A struct fvm_meta is plain data; the owner serialises
 * access (the pool target holds its metadata lock around every call).
 *
 * What the dm "fvm" map path needs: fvm_meta is the allocator's view
 * (pslice -> owner), which is the wrong direction for remapping a bio.
 * Build a struct fvm_index from it with fvm_index_build() after load and
 * after every successful metadata change, publish it (e.g. with RCU), and
 * resolve (vpartition, vslice) -> pslice with fvm_index_lookup(), a binary
 * search over per-partition runs of contiguous slices.  The index is
 * immutable, so readers need no lock.  The "run" it returns lets the map
 * path send a bio spanning physically adjacent slices whole (dm.c does
 * that, and splits only where the slices part).
 */
#ifndef VIRTZ_FVM_FORMAT_H
#define VIRTZ_FVM_FORMAT_H

#include "fvm_port.h"

/* ---- Format constants (facts from Fuchsia's src/storage/fvm/format.h) -- */

#define FVM_MAGIC		0x54524150204d5646ULL	/* "FVM PART" */
#define FVM_MAJOR_VERSION	1ULL
#define FVM_MINOR_VERSION	1ULL
#define FVM_BLOCK_SIZE		8192ULL
#define FVM_HEADER_SIZE		104
#define FVM_HASH_OFFSET		64
#define FVM_HASH_LEN		32

#define FVM_MAX_VPARTITIONS	1024	/* table entries; 0 is never used */
#define FVM_VPART_ENTRY_SIZE	64
#define FVM_VPART_TABLE_SIZE	65536ULL
#define FVM_SLICE_ENTRY_SIZE	8ULL
#define FVM_GUID_LEN		16
#define FVM_GUID_STR_LEN	36	/* without the NUL */
#define FVM_NAME_LEN		24	/* NUL-padded, not NUL-terminated */

#define FVM_VPART_FLAG_INACTIVE	0x1U
#define FVM_VPART_FLAG_MASK	0x1U

#define FVM_PART_TABLE_OFFSET	FVM_BLOCK_SIZE
#define FVM_ALLOC_TABLE_OFFSET	(FVM_BLOCK_SIZE + FVM_VPART_TABLE_SIZE)

/* Slice entry: bits 0-15 vpartition, 16-47 vslice, 48-63 zero. */
#define FVM_SLICE_VPART_BITS	16
#define FVM_SLICE_VPART_MASK	0xffffULL
#define FVM_SLICE_VSLICE_MASK	0xffffffffULL
#define FVM_SLICE_RESERVED_MASK	0xffff000000000000ULL

/* A vslice is < 2^31; extend/shrink ranges may end at 2^31. */
#define FVM_MAX_VSLICES		BIT_ULL(31)
#define FVM_MAX_SLICE_SIZE	(U64_MAX / FVM_MAX_VSLICES)
/* Largest allocation table Fuchsia accepts: 2^31 entries, 16 GiB. */
#define FVM_MAX_ALLOC_TABLE_SIZE (FVM_MAX_VSLICES * FVM_SLICE_ENTRY_SIZE)

/*
 * virtz implementation limit, not a Fuchsia rule: an allocation table
 * larger than this is refused with -EFBIG rather than allocated.  256 MiB
 * is 2^25 - 1 physical slices: 256 TiB with Fuchsia's default 8 MiB
 * slices.  It also keeps every pslice number within 32 bits.
 */
#define FVM_IMPL_MAX_ALLOC_TABLE_SIZE (256ULL << 20)

/* ---- On-disk structures (little-endian) --------------------------------- */

struct fvm_header_disk {
	__le64 magic;
	__le64 major_version;
	__le64 pslice_count;
	__le64 slice_size;
	__le64 fvm_partition_size;
	__le64 vpartition_table_size;
	__le64 allocation_table_size;
	__le64 generation;
	u8 hash[FVM_HASH_LEN];
	__le64 oldest_minor_version;
};

struct fvm_vpart_disk {
	u8 type[FVM_GUID_LEN];
	u8 guid[FVM_GUID_LEN];
	__le32 slices;
	__le32 flags;
	u8 name[FVM_NAME_LEN];
};

/* ---- In-memory (CPU byte order) ------------------------------------------ */

struct fvm_header {
	u64 magic;
	u64 major_version;
	u64 pslice_count;
	u64 slice_size;
	u64 fvm_partition_size;
	u64 vpartition_table_size;
	u64 allocation_table_size;
	u64 generation;
	u8 hash[FVM_HASH_LEN];
	u64 oldest_minor_version;
};

/* An entry is allocated if and only if slices != 0. */
struct fvm_vpart {
	u8 type[FVM_GUID_LEN];
	u8 guid[FVM_GUID_LEN];	/* instance GUID; all-zero is a placeholder */
	u32 slices;
	u32 flags;
	u8 name[FVM_NAME_LEN];
};

enum fvm_copy {
	FVM_COPY_A = 0,
	FVM_COPY_B = 1,
};

/*
 * The metadata of one FVM, decoded from the active copy.
 *
 * slice[p] for 1 <= p <= hdr.pslice_count is the raw slice entry of
 * physical slice p (reserved bits cleared); slice[0] is unused.
 * part[i] for 1 <= i < FVM_MAX_VPARTITIONS is partition entry i.
 * limit[i] is a per-partition size cap in bytes (0 = none); like
 * Fuchsia's SetPartitionLimit it lives only in memory.
 */
struct fvm_meta {
	struct fvm_header hdr;
	enum fvm_copy active;	/* copy the current state was read from */
	u64 allocated;		/* entries in slice[] naming a vpartition */
	u64 *slice;
	u64 limit[FVM_MAX_VPARTITIONS];
	struct fvm_vpart part[FVM_MAX_VPARTITIONS];
};

/* ---- Slice entries -------------------------------------------------------- */

static inline u64 fvm_slice_entry(u64 vpart, u64 vslice)
{
	return (vpart & FVM_SLICE_VPART_MASK) |
	       ((vslice & FVM_SLICE_VSLICE_MASK) << FVM_SLICE_VPART_BITS);
}

static inline u64 fvm_slice_vpart(u64 entry)
{
	return entry & FVM_SLICE_VPART_MASK;
}

static inline u64 fvm_slice_vslice(u64 entry)
{
	return (entry >> FVM_SLICE_VPART_BITS) & FVM_SLICE_VSLICE_MASK;
}

static inline bool fvm_vpart_allocated(const struct fvm_vpart *e)
{
	return e->slices != 0;
}

static inline bool fvm_vpart_inactive(const struct fvm_vpart *e)
{
	return e->flags & FVM_VPART_FLAG_INACTIVE;
}

/* ---- Header codec, layout and validity ----------------------------------- */

void fvm_header_decode(const void *block, struct fvm_header *h);
void fvm_header_encode(const struct fvm_header *h, void *block);

/*
 * Offsets and sizes.  These take a header that passed fvm_header_validate()
 * (or was built by fvm_meta_create()); on such a header none of them can
 * overflow.
 */
u64 fvm_metadata_allocated(const struct fvm_header *h);
/* Hashed bytes: 8192 + 65536 + round_up(8 * pslice_count, 8192). */
u64 fvm_metadata_used(const struct fvm_header *h);
/*
 * Bytes virtz writes per update: the used table plus slice entry
 * pslice_count, which the Fuchsia rounding leaves outside metadata_used
 * when pslice_count is a multiple of 1024.
 */
u64 fvm_metadata_write_len(const struct fvm_header *h);
u64 fvm_copy_offset(const struct fvm_header *h, enum fvm_copy c);
u64 fvm_data_start(const struct fvm_header *h);
/* Device byte offset of physical slice p, 1 <= p <= pslice_count. */
u64 fvm_pslice_offset(const struct fvm_header *h, u64 pslice);
/* Slice entries the allocation table can hold (growth limit). */
u64 fvm_alloc_table_capacity(const struct fvm_header *h);

/*
 * From the header block at offset 0, where copy B starts: checks just the
 * table sizes (and the implementation limit) so the caller knows how much
 * to read.  A header too damaged for this loses copy B as well, exactly
 * as on Fuchsia.
 */
int fvm_locate_copies(const void *block, size_t len, u64 *metadata_allocated,
		      const char **why);

/* The header rules, without the hash. */
int fvm_header_validate(const struct fvm_header *h, u64 dev_size,
			u32 dev_block_size, const char **why);

/* SHA-256 of buf[0, used) with the hash field read as zeros. */
int fvm_hash_compute(const void *buf, size_t used, u8 out[FVM_HASH_LEN]);

/*
 * One copy: header rules plus hash.  len is the buffer size, normally
 * metadata_allocated as found by fvm_locate_copies(); a copy whose own
 * layout disagrees with len is invalid.  *h is filled when the header
 * decodes, valid or not.
 */
int fvm_copy_validate(const void *buf, size_t len, u64 dev_size,
		      u32 dev_block_size, struct fvm_header *h,
		      const char **why);

/* Fuchsia's generation order: true if g1 is at least as new as g2. */
bool fvm_generation_ge(u64 g1, u64 g2);

/* ---- Parse ------------------------------------------------------------ */

struct fvm_copy_status {
	int err;		/* 0 if valid */
	const char *why;	/* reason when err != 0 */
	bool present;		/* header decoded from a buffer */
	struct fvm_header hdr;
};

struct fvm_parse_report {
	struct fvm_copy_status copy[2];
	enum fvm_copy active;	/* meaningful when parse succeeded */
};

/*
 * Validates both copies, picks one (valid copy; if both, A when
 * gen(A) >= gen(B) with wraparound) and decodes it.  a or b may be NULL
 * when a copy could not be read.  Slice entries are decoded as found;
 * nothing is judged beyond header and hash here: see fvm_meta_check()
 * and fvm_meta_verify().  rep may be NULL.
 */
int fvm_meta_parse(const void *a, const void *b, size_t copy_len,
		   u64 dev_size, u32 dev_block_size, struct fvm_meta **out,
		   struct fvm_parse_report *rep, const char **why);

void fvm_meta_free(struct fvm_meta *m);
int fvm_meta_dup(const struct fvm_meta *m, struct fvm_meta **out);

/*
 * A new, empty FVM as Fuchsia's host tool lays it out: the allocation
 * table is sized for max_disk_size (>= disk_size, "room for growth") and
 * pslice_count for disk_size.  Generation 0, active copy A.
 */
int fvm_meta_create(u64 disk_size, u64 max_disk_size, u64 slice_size,
		    struct fvm_meta **out, const char **why);

/* ---- Consistency ------------------------------------------------------ */

struct fvm_check_report {
	u64 bad_vpart;		/* entries naming a partition >= 1024 */
	u64 bad_vslice;		/* entries with vslice >= 2^31 */
	u64 double_mapped;	/* extra pslices for an already mapped vslice */
	u64 orphans;		/* entries naming a free partition entry */
	u64 reserved_bits;	/* entries with bits 48-63 set (on disk) */
	u32 count_mismatch;	/* partitions whose slices != mapped count */
	u64 first_bad_pslice;	/* lowest pslice in any class above, or 0 */
	u32 mapped[FVM_MAX_VPARTITIONS];	/* slices found per partition */
};

/* Full fsck-style scan; returns 0 or -ENOMEM. */
int fvm_meta_check(const struct fvm_meta *m, struct fvm_check_report *r);

/*
 * The gate for mapping the volumes: refuses slice maps Fuchsia would
 * assert on (partition >= 1024, vslice >= 2^31, one vslice mapped twice).
 * Orphans and count mismatches pass, as on Fuchsia.
 */
int fvm_meta_verify(const struct fvm_meta *m, const char **why);

/* ---- Driver load semantics ------------------------------------------- */

#define FVM_LOAD_GREW		0x1U	/* pslice_count grown to the device */
#define FVM_LOAD_GUIDS		0x2U	/* placeholder instance GUIDs replaced */
#define FVM_LOAD_DESTROYED	0x4U	/* inactive partitions destroyed */

/*
 * What Fuchsia's driver does on bind: verify, grow pslice_count to fit
 * dev_size (capped by the table's capacity), give placeholder GUIDs a
 * random one, destroy INACTIVE partitions.  *changed gets FVM_LOAD_*; if
 * non-zero the caller commits the metadata once.
 */
int fvm_meta_load(struct fvm_meta *m, u64 dev_size, unsigned int *changed,
		  const char **why);

/*
 * Just the growth step of fvm_meta_load(): pslice_count grows to what
 * dev_size holds, capped by the allocation table's capacity.  For a pool
 * whose device grew while it was open (a table reload), where the other
 * load rules must not run again.  *grew tells whether a commit is due.
 */
int fvm_meta_grow(struct fvm_meta *m, u64 dev_size, bool *grew);

/* ---- Allocator (pure, in memory) ---------------------------------------- */

/* First free pslice >= max(hint, 1), wrapping to 1; -ENOSPC if none. */
int fvm_find_free_pslice(const struct fvm_meta *m, u64 hint, u64 *out);

/*
 * AllocatePartition: first free entry, vslices 0..slice_count-1.  Only
 * FVM_VPART_FLAG_INACTIVE survives in flags.  name_len <= 24, no NUL.
 */
int fvm_alloc_partition(struct fvm_meta *m, u64 slice_count,
			const u8 type[FVM_GUID_LEN],
			const u8 guid[FVM_GUID_LEN], const char *name,
			size_t name_len, u32 flags, u32 *index);

/* Map vslices [offset, offset + len).  Nothing changes on error. */
int fvm_extend(struct fvm_meta *m, u32 vpart, u64 offset, u64 len);
/* Unmap whichever vslices in [offset, offset + len) are mapped. */
int fvm_shrink(struct fvm_meta *m, u32 vpart, u64 offset, u64 len);
/* Free every slice of the partition and zero its entry. */
int fvm_destroy(struct fvm_meta *m, u32 vpart);
/*
 * Fuchsia's Activate/Upgrade: the active partition with instance GUID
 * old_guid becomes inactive and the inactive one with new_guid active.
 */
int fvm_activate(struct fvm_meta *m, const u8 old_guid[FVM_GUID_LEN],
		 const u8 new_guid[FVM_GUID_LEN]);
int fvm_set_name(struct fvm_meta *m, u32 vpart, const char *name,
		 size_t name_len);
int fvm_set_type(struct fvm_meta *m, u32 vpart, const u8 type[FVM_GUID_LEN]);
int fvm_set_limit(struct fvm_meta *m, u32 vpart, u64 bytes);

/* Index of the allocated partition with this instance GUID, or -ENOENT. */
int fvm_find_guid(const struct fvm_meta *m, const u8 guid[FVM_GUID_LEN]);

/* Length of the name up to the first NUL, at most 24. */
size_t fvm_name_len(const struct fvm_vpart *e);

/* ---- Commit ------------------------------------------------------------ */

/*
 * A metadata update, as the Fuchsia driver does it:
 *   fvm_meta_commit_begin()   generation + 1, lower oldest_minor_version;
 *                             returns the (inactive) copy to write
 *   fvm_meta_serialize()      fvm_metadata_write_len() bytes, hashed
 *   write at fvm_copy_offset(inactive), then flush
 *   fvm_meta_commit_end()     the written copy becomes the active one
 * If the write fails, do not call commit_end; discard the object (work on
 * a fvm_meta_dup() copy if the old state must survive).
 */
enum fvm_copy fvm_meta_commit_begin(struct fvm_meta *m);
int fvm_meta_serialize(const struct fvm_meta *m, void *buf, size_t len);
void fvm_meta_commit_end(struct fvm_meta *m);

/* ---- GUIDs ----------------------------------------------------------- */

bool fvm_guid_is_zero(const u8 guid[FVM_GUID_LEN]);
/* GPT mixed-endian text, lower case; out has FVM_GUID_STR_LEN + 1 bytes. */
void fvm_guid_to_str(const u8 guid[FVM_GUID_LEN], char *out);
/* Accepts either case; 0 or -EINVAL. */
int fvm_guid_parse(const char *s, u8 guid[FVM_GUID_LEN]);
/* Random version-4 GUID in mixed-endian byte order, never all zero. */
void fvm_guid_generate(u8 guid[FVM_GUID_LEN]);

/* ---- Index for the map path --------------------------------------------- */

/* count consecutive vslices from vslice map to consecutive pslices. */
struct fvm_extent {
	u32 vslice;
	u32 pslice;
	u32 count;
};

/* Extents of partition i are ext[first[i]] .. ext[first[i + 1] - 1]. */
struct fvm_index {
	u32 nr_extents;
	u32 first[FVM_MAX_VPARTITIONS + 1];
	struct fvm_extent ext[];
};

/*
 * Builds the index of all allocated partitions.  Fails like
 * fvm_meta_verify() on maps that cannot be indexed.  Orphan slices (naming
 * a free partition entry) are left out.
 */
int fvm_index_build(const struct fvm_meta *m, struct fvm_index **out,
		    const char **why);
void fvm_index_free(struct fvm_index *ix);
/*
 * pslice backing (vpart, vslice), and in *run how many vslices from
 * vslice on stay physically contiguous.  -ENOENT if unmapped.
 */
int fvm_index_lookup(const struct fvm_index *ix, u32 vpart, u64 vslice,
		     u64 *pslice, u64 *run);

#endif /* VIRTZ_FVM_FORMAT_H */
