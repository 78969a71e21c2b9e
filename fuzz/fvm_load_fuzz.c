// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the FVM parse-and-load path: locate copies, validate
 * both, pick one, decode, check, verify, driver load (growth, placeholder
 * GUIDs, inactive partitions), index build and lookups, a few allocator
 * operations, and a serialise/parse round trip that must reproduce the
 * same state.
 *
 * Input layout: 8 bytes device size, 1 byte block-size selector, 1 byte
 * of operation seed, then the device image (bytes past the end read as
 * zeros).  Metadata copies are capped at 4 MiB so the fuzzer cannot OOM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../kmod/virtz_fvm/fvm_format.h"

#define FUZZ_MAX_COPY	(4ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copies dev[off, off + len) into buf, zero-filling past the image. */
static void read_dev(const u8 *img, size_t img_len, u64 off, u8 *buf, u64 len)
{
	memset(buf, 0, len);
	if (off >= img_len)
		return;
	if (len > img_len - off)
		len = img_len - off;
	memcpy(buf, img + off, len);
}

static void roundtrip(const struct fvm_meta *m, u64 dev, u32 blk)
{
	u64 alloc = fvm_metadata_allocated(&m->hdr);
	struct fvm_meta *p = NULL;
	u8 *buf;

	buf = calloc(1, alloc);
	if (!buf)
		return;
	if (fvm_meta_serialize(m, buf, alloc))
		abort();
	/* What we write must be valid by our own rules. */
	if (fvm_meta_parse(buf, NULL, alloc, dev, blk, &p, NULL, NULL))
		abort();
	if (p->hdr.pslice_count != m->hdr.pslice_count ||
	    p->allocated != m->allocated ||
	    memcmp(p->part + 1, m->part + 1,
		   sizeof(m->part) - sizeof(m->part[0])))
		abort();
	fvm_meta_free(p);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const u32 blks[4] = { 512, 4096, 8192, 1 };
	struct fvm_check_report *r;
	struct fvm_index *ix = NULL;
	struct fvm_meta *m = NULL;
	const char *why = NULL;
	unsigned int changed;
	u64 dev, alloc, p, run, seed;
	u8 *a = NULL, *b = NULL;
	u32 blk, vp;

	if (size < 10)
		return 0;
	memcpy(&dev, data, 8);
	blk = blks[data[8] & 3];
	seed = data[9];
	data += 10;
	size -= 10;

	if (fvm_locate_copies(data, size, &alloc, &why))
		return 0;
	if (alloc > FUZZ_MAX_COPY)
		return 0;
	a = malloc(alloc);
	b = malloc(alloc);
	if (!a || !b)
		goto out;
	read_dev(data, size, 0, a, alloc);
	read_dev(data, size, alloc, b, alloc);

	if (fvm_meta_parse(a, b, alloc, dev, blk, &m, NULL, &why))
		goto out;

	r = calloc(1, sizeof(*r));
	if (r) {
		fvm_meta_check(m, r);
		free(r);
	}
	if (fvm_meta_load(m, dev, &changed, &why))
		goto out;
	if (fvm_meta_verify(m, &why))
		abort();	/* load verified; nothing it did may break that */
	if (fvm_index_build(m, &ix, &why))
		abort();
	for (vp = 0; vp < 4; vp++)
		fvm_index_lookup(ix, vp + (u32)seed, seed * vp, &p, &run);
	fvm_index_free(ix);

	/* A few allocator operations steered by the seed byte. */
	vp = 1 + (u32)(seed % 8);
	fvm_extend(m, vp, seed, seed % 5);
	fvm_shrink(m, vp, seed / 2 + 1, seed % 7);
	if (seed & 1)
		fvm_destroy(m, vp);
	fvm_alloc_partition(m, 1 + seed % 3, data, data, "fz", 2, 0, NULL);
	if (fvm_meta_verify(m, &why))
		abort();
	fvm_meta_commit_begin(m);
	roundtrip(m, dev, blk);
out:
	fvm_meta_free(m);
	free(a);
	free(b);
	return 0;
}
