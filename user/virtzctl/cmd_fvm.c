// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl fvm: offline tool for FVM images and block devices, in the
 * spirit of Fuchsia's host `fvm` tool.  Needs no kernel module.
 *
 * Safety rules, for every verb that writes:
 *   - nothing is written unless the image parsed, both copies are valid
 *     and the slice map is consistent (`check` exit status 0);
 *   - an update is written whole to the inactive copy and flushed with
 *     fsync(); it becomes the active copy by its higher generation, as on
 *     Fuchsia.  The active copy is never touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "virtzctl.h"
#include "../../kmod/virtz_fvm/fvm_format.h"

#define OBJ "fvm"

/* Fuchsia's host tool default. */
#define DEFAULT_SLICE_SIZE (8ULL << 20)

/* `check` exit status bits (combined); 1 and 2 keep their usual meaning. */
enum {
	CHECK_DEGRADED = 4,	/* one metadata copy invalid */
	CHECK_NO_FVM = 8,	/* no valid copy: damaged, foreign or too new */
	CHECK_MAP_CORRUPT = 16,	/* slice map unusable: mapped twice, ranges */
	CHECK_INCONSISTENT = 32, /* orphans, count mismatch, reserved bits */
};

/* GPT "Linux filesystem data": the default type for `add`. */
static const char default_type[] = "0fc63daf-8483-4772-8e79-3d69d8477de4";

struct image {
	const char *path;
	int fd;
	bool rw;
	bool is_blkdev;
	u64 size;
	u32 block_size;
	u64 alloc;			/* metadata_allocated per copy A */
	const char *locate_why;		/* set when copy B cannot be found */
	bool magic_a;			/* offset 0 carries the FVM magic */
	struct fvm_parse_report rep;
	int parse_err;
	const char *parse_why;
	struct fvm_meta *m;
	struct fvm_check_report chk;
};

/* ---- helpers -------------------------------------------------------- */

static int parse_u64(const char *s, u64 *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Bytes with an optional binary suffix: K, M, G, T (also KiB, KB, k...). */
static int parse_size(const char *s, u64 *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
			end += strlen(end);
	}
	if (*end)
		return -EINVAL;
	if (shift && v > (U64_MAX >> shift))
		return -ERANGE;
	*out = (u64)v << shift;
	return 0;
}

static const char *copy_name(enum fvm_copy c)
{
	return c == FVM_COPY_A ? "A" : "B";
}

static int pread_full(int fd, void *buf, size_t len, u64 off, size_t *got)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!r)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, u64 off)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = pwrite(fd, (const char *)buf + done, len - done,
			   (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

static int dev_open(struct image *im, const char *path, bool rw, bool create)
{
	struct stat st;
	int flags = rw ? O_RDWR : O_RDONLY;

	memset(im, 0, sizeof(*im));
	im->path = path;
	im->rw = rw;
	if (create)
		flags |= O_CREAT;
	im->fd = open(path, flags | O_CLOEXEC, 0644);
	if (im->fd < 0)
		return ctl_err(OBJ, "%s: %s", path, strerror(errno));
	if (fstat(im->fd, &st) < 0)
		goto err;
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		int ssz;

		if (ioctl(im->fd, BLKGETSIZE64, &bytes) < 0 ||
		    ioctl(im->fd, BLKSSZGET, &ssz) < 0 || ssz <= 0)
			goto err;
		im->is_blkdev = true;
		im->size = bytes;
		im->block_size = (u32)ssz;
	} else if (S_ISREG(st.st_mode)) {
		im->size = (u64)st.st_size;
		/* A file has no sectors; 512 is what a loop device shows. */
		im->block_size = 512;
	} else {
		close(im->fd);
		return ctl_err(OBJ, "%s: not a regular file or block device",
			       path);
	}
	return 0;
err:
	ctl_err(OBJ, "%s: %s", path, strerror(errno));
	close(im->fd);
	return CTL_ERR;
}

static void image_close(struct image *im)
{
	fvm_meta_free(im->m);
	im->m = NULL;
	if (im->fd >= 0)
		close(im->fd);
	im->fd = -1;
}

/* Reads one copy; NULL when the device ends before it does. */
static u8 *read_copy(struct image *im, u64 off)
{
	size_t got;
	u8 *buf;

	if (off > im->size || im->alloc > im->size - off)
		return NULL;
	buf = malloc(im->alloc);
	if (!buf)
		return NULL;
	if (pread_full(im->fd, buf, im->alloc, off, &got) || got != im->alloc) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Reads and parses; fills im->rep and im->chk.  Returns 0 when a usable
 * copy was found (even if the other copy or the map is damaged).
 */
static int image_parse(struct image *im)
{
	u8 blk[FVM_BLOCK_SIZE] = { 0 };
	u8 *a = NULL, *b = NULL;
	size_t got = 0;
	int ret;

	ret = pread_full(im->fd, blk, sizeof(blk), 0, &got);
	if (ret) {
		im->parse_err = ret;
		im->parse_why = strerror(-ret);
		return ret;
	}
	im->magic_a = got >= 8 && !memcmp(blk, "FVM PART", 8);
	ret = fvm_locate_copies(blk, got, &im->alloc, &im->locate_why);
	if (ret) {
		im->parse_err = ret;
		im->parse_why = im->magic_a ? im->locate_why :
				"not an FVM image (no FVM magic at offset 0)";
		im->rep.copy[0].err = ret;
		im->rep.copy[0].why = im->magic_a ? im->locate_why :
				      "bad magic: not an FVM header";
		im->rep.copy[1].err = -ENOENT;
		im->rep.copy[1].why = "cannot be located: copy A's table sizes are invalid";
		return ret;
	}
	a = read_copy(im, 0);
	b = read_copy(im, im->alloc);
	ret = fvm_meta_parse(a, b, im->alloc, im->size, im->block_size, &im->m,
			     &im->rep, &im->parse_why);
	free(a);
	free(b);
	im->parse_err = ret;
	if (ret) {
		if (!im->magic_a && !im->rep.copy[1].err)
			im->parse_why = "not an FVM image";
		if (!im->magic_a && ret == -EUCLEAN)
			im->parse_why = "not an FVM image (no FVM magic at offset 0)";
		return ret;
	}
	ret = fvm_meta_check(im->m, &im->chk);
	if (ret) {
		im->parse_err = ret;
		im->parse_why = "out of memory";
	}
	return ret;
}

static int check_status(const struct image *im)
{
	const struct fvm_check_report *r = &im->chk;
	int st = 0;

	if (im->parse_err && !im->m)
		return CHECK_NO_FVM;
	if (im->rep.copy[0].err || im->rep.copy[1].err)
		st |= CHECK_DEGRADED;
	if (r->bad_vpart || r->bad_vslice || r->double_mapped)
		st |= CHECK_MAP_CORRUPT;
	if (r->orphans || r->count_mismatch || r->reserved_bits)
		st |= CHECK_INCONSISTENT;
	return st;
}

static void print_copy_errors(const struct image *im)
{
	int c;

	for (c = 0; c < 2; c++)
		if (im->rep.copy[c].err)
			fprintf(stderr, "virtzctl: %s: %s: copy %s: %s\n", OBJ,
				im->path, copy_name(c),
				im->rep.copy[c].why ? im->rep.copy[c].why :
				strerror(-im->rep.copy[c].err));
}

static void print_map_problems(const struct image *im)
{
	const struct fvm_check_report *r = &im->chk;
	u32 i;

#define P(field, what) do { \
	if (r->field) \
		fprintf(stderr, "virtzctl: %s: %s: %llu %s\n", OBJ, \
			im->path, (u64)r->field, what); \
	} while (0)
	P(bad_vpart, "slice entries name a partition beyond 1023");
	P(bad_vslice, "slice entries have a vslice beyond 2^31");
	P(double_mapped, "slices map a vslice that is already mapped");
	P(orphans, "slices belong to a free partition entry");
	P(reserved_bits, "slice entries have reserved bits 48-63 set");
#undef P
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		const struct fvm_vpart *e = &im->m->part[i];

		if (fvm_vpart_allocated(e) && e->slices != r->mapped[i])
			fprintf(stderr,
				"virtzctl: %s: %s: partition %u claims %u slices, %u mapped\n",
				OBJ, im->path, i, e->slices, r->mapped[i]);
	}
	if (r->first_bad_pslice)
		fprintf(stderr, "virtzctl: %s: %s: first bad physical slice: %llu\n",
			OBJ, im->path, r->first_bad_pslice);
}

/*
 * Opens and parses path.  For writers (rw) also insists that the image is
 * entirely healthy.  On failure everything is reported and closed.
 */
static int image_open(struct image *im, const char *path, bool rw)
{
	int ret;

	ret = dev_open(im, path, rw, false);
	if (ret)
		return ret;
	if (image_parse(im)) {
		print_copy_errors(im);
		ctl_err(OBJ, "%s: %s", path, im->parse_why ? im->parse_why :
			strerror(-im->parse_err));
		image_close(im);
		return CTL_ERR;
	}
	if (rw && check_status(im)) {
		print_copy_errors(im);
		print_map_problems(im);
		ctl_err(OBJ, "%s: image is damaged; refusing to write (see `virtzctl fvm check`)",
			path);
		image_close(im);
		return CTL_ERR;
	}
	return 0;
}

/* One metadata update: inactive copy, flush, then it is the active one. */
static int image_commit(struct image *im)
{
	struct fvm_meta *m = im->m;
	enum fvm_copy c;
	u64 len;
	u8 *buf;
	int ret;

	c = fvm_meta_commit_begin(m);
	len = fvm_metadata_write_len(&m->hdr);
	buf = malloc(len);
	if (!buf)
		return ctl_err(OBJ, "out of memory");
	ret = fvm_meta_serialize(m, buf, len);
	if (!ret)
		ret = pwrite_full(im->fd, buf, len, fvm_copy_offset(&m->hdr, c));
	if (!ret && fsync(im->fd) < 0)
		ret = -errno;
	free(buf);
	if (ret)
		return ctl_err(OBJ, "%s: writing metadata copy %s: %s", im->path,
			       copy_name(c), strerror(-ret));
	fvm_meta_commit_end(m);
	return 0;
}

static const char *errno_text(int err)
{
	switch (err) {
	case -ERANGE:
		return "out of range";
	case -ENOSPC:
		return "no space";
	case -ENOENT:
		return "not found";
	case -EINVAL:
		return "invalid argument";
	default:
		return strerror(-err);
	}
}

/*
 * Partition selector: "index:N", "name:S", "guid:G", or bare: a GUID,
 * then all digits as an index, else a name.  Names must be unique.
 */
static int find_part(const struct fvm_meta *m, const char *sel, u32 *out)
{
	enum { ANY, IDX, NAME, GUID } kind = ANY;
	const char *v = sel;
	u8 g[FVM_GUID_LEN];
	u32 i, hits = 0;
	u64 n;

	if (!strncmp(sel, "index:", 6)) {
		kind = IDX;
		v = sel + 6;
	} else if (!strncmp(sel, "name:", 5)) {
		kind = NAME;
		v = sel + 5;
	} else if (!strncmp(sel, "guid:", 5)) {
		kind = GUID;
		v = sel + 5;
	}
	if ((kind == ANY || kind == GUID) && !fvm_guid_parse(v, g)) {
		int r = fvm_find_guid(m, g);

		if (r < 0)
			return ctl_err(OBJ, "no partition with instance GUID %s", v);
		*out = (u32)r;
		return 0;
	}
	if (kind == GUID)
		return ctl_usage_err(OBJ, "bad GUID '%s'", v);
	if ((kind == ANY && v[0] >= '0' && v[0] <= '9' && !parse_u64(v, &n)) ||
	    kind == IDX) {
		if (parse_u64(v, &n) || n < 1 || n >= FVM_MAX_VPARTITIONS ||
		    !fvm_vpart_allocated(&m->part[n]))
			return ctl_err(OBJ, "no partition with index %s", v);
		*out = (u32)n;
		return 0;
	}
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		const struct fvm_vpart *e = &m->part[i];
		size_t len = fvm_name_len(e);

		if (fvm_vpart_allocated(e) && len == strlen(v) &&
		    !memcmp(e->name, v, len)) {
			if (hits++)
				return ctl_err(OBJ, "name '%s' is ambiguous (partitions %u and %u); use index:N or the GUID",
					       v, *out, i);
			*out = i;
		}
	}
	if (!hits)
		return ctl_err(OBJ, "no partition named '%s'", v);
	return 0;
}

static void json_part(struct jw *w, const struct fvm_meta *m,
		      const struct fvm_index *ix, u32 i)
{
	const struct fvm_vpart *e = &m->part[i];
	char g[FVM_GUID_STR_LEN + 1];
	u32 k;

	jw_obj_open(w, NULL);
	jw_u64(w, "index", i);
	jw_strn(w, "name", (const char *)e->name, fvm_name_len(e));
	fvm_guid_to_str(e->type, g);
	jw_str(w, "type", g);
	fvm_guid_to_str(e->guid, g);
	jw_str(w, "guid", g);
	jw_u64(w, "slices", e->slices);
	jw_u64(w, "flags", e->flags);
	jw_bool(w, "active", !fvm_vpart_inactive(e));
	if (ix) {
		jw_arr_open(w, "extents");
		for (k = ix->first[i]; k < ix->first[i + 1]; k++) {
			jw_obj_open(w, NULL);
			jw_u64(w, "vslice", ix->ext[k].vslice);
			jw_u64(w, "pslice", ix->ext[k].pslice);
			jw_u64(w, "count", ix->ext[k].count);
			jw_u64(w, "offset",
			       fvm_pslice_offset(&m->hdr, ix->ext[k].pslice));
			jw_obj_close(w);
		}
		jw_arr_close(w);
	}
	jw_obj_close(w);
}

static void print_part(const struct fvm_meta *m, const struct fvm_index *ix,
		       u32 i)
{
	const struct fvm_vpart *e = &m->part[i];
	char t[FVM_GUID_STR_LEN + 1], g[FVM_GUID_STR_LEN + 1];
	u32 k;

	fvm_guid_to_str(e->type, t);
	fvm_guid_to_str(e->guid, g);
	printf("%5u  %-24.*s  %10u  %-8s  %s  %s\n", i, (int)fvm_name_len(e),
	       (const char *)e->name, e->slices,
	       fvm_vpart_inactive(e) ? "inactive" : "active", t, g);
	if (!ix)
		return;
	for (k = ix->first[i]; k < ix->first[i + 1]; k++)
		printf("       vslice %u..%u -> pslice %u..%u\n",
		       ix->ext[k].vslice,
		       ix->ext[k].vslice + ix->ext[k].count - 1,
		       ix->ext[k].pslice,
		       ix->ext[k].pslice + ix->ext[k].count - 1);
}

/* Emits {"ok":true,...} for writers under -j. */
static void json_done(struct ctl *ctl, const struct image *im, int part)
{
	struct jw w;

	if (!ctl->json)
		return;
	jw_init(&w, stdout);
	jw_obj_open(&w, NULL);
	jw_bool(&w, "ok", true);
	jw_str(&w, "active_copy", copy_name(im->m->active));
	jw_u64(&w, "generation", im->m->hdr.generation);
	if (part > 0) {
		jw_arr_open(&w, "partitions");
		json_part(&w, im->m, NULL, (u32)part);
		jw_arr_close(&w);
	}
	jw_obj_close(&w);
	jw_end(&w);
}

/* getopt_long over argv[0..argc) where argv[0] is the verb. */
static void getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

static int bad_opt(const char *verb, int argc, char **argv)
{
	const char *o = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	return ctl_usage_err(OBJ, "%s: bad option or missing value: %s "
			     "(see `virtzctl fvm %s --help`)", verb, o, verb);
}

/* ---- verbs ---------------------------------------------------------------- */

static const char create_help[] =
"usage: virtzctl fvm create IMAGE [--size SIZE] [--slice-size SIZE]\n"
"                           [--max-size SIZE] [--force]\n"
"  Write an empty FVM (both copies, generation 0) to IMAGE.\n"
"  --size        FVM size; a file is created or grown to it (default: the\n"
"                file's or device's current size)\n"
"  --slice-size  slice size, a multiple of 8K (default 8M)\n"
"  --max-size    size the allocation table for growth up to this size\n"
"                (default: --size)\n"
"  --force       overwrite an existing FVM\n";

static int fvm_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "slice-size", required_argument, NULL, 'S' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	u64 size = 0, slice = DEFAULT_SLICE_SIZE, max = 0, alloc;
	const char *why = NULL;
	struct fvm_meta *m = NULL;
	bool force = false;
	struct image im;
	u8 head[8] = { 0 };
	size_t got;
	u8 *buf;
	int c, ret;

	getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &size) || !size)
				return ctl_usage_err(OBJ, "bad --size '%s'", optarg);
			break;
		case 'S':
			if (parse_size(optarg, &slice))
				return ctl_usage_err(OBJ, "bad --slice-size '%s'", optarg);
			break;
		case 'm':
			if (parse_size(optarg, &max))
				return ctl_usage_err(OBJ, "bad --max-size '%s'", optarg);
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(create_help, stdout);
			return CTL_OK;
		default:
			return bad_opt("create", argc, argv);
		}
	}
	if (argc - optind != 1)
		return ctl_usage_err(OBJ, "create: expected IMAGE\n%s", create_help);

	ret = dev_open(&im, argv[optind], true, true);
	if (ret)
		return ret;
	if (!size)
		size = im.size;
	if (!size) {
		image_close(&im);
		return ctl_usage_err(OBJ, "create: %s is empty; give --size", im.path);
	}
	if (size > im.size && im.is_blkdev) {
		image_close(&im);
		return ctl_err(OBJ, "%s: --size is larger than the device", im.path);
	}
	if (!max)
		max = size;
	ret = fvm_meta_create(size, max, slice, &m, &why);
	if (ret) {
		image_close(&im);
		return ctl_err(OBJ, "create: %s", why);
	}
	if (!force && !pread_full(im.fd, head, sizeof(head), 0, &got) &&
	    got == sizeof(head) && !memcmp(head, "FVM PART", 8)) {
		fvm_meta_free(m);
		image_close(&im);
		return ctl_err(OBJ, "%s already holds an FVM; use --force to overwrite",
			       im.path);
	}
	if (!im.is_blkdev && im.size < size && ftruncate(im.fd, (off_t)size) < 0) {
		ret = ctl_err(OBJ, "%s: %s", im.path, strerror(errno));
		goto out;
	}
	/* Whole copies, so the unused table tail starts out zeroed. */
	alloc = fvm_metadata_allocated(&m->hdr);
	buf = calloc(1, alloc);
	if (!buf) {
		ret = ctl_err(OBJ, "out of memory");
		goto out;
	}
	ret = fvm_meta_serialize(m, buf, alloc);
	if (!ret)
		ret = pwrite_full(im.fd, buf, alloc, 0);
	if (!ret)
		ret = pwrite_full(im.fd, buf, alloc, alloc);
	if (!ret && fsync(im.fd) < 0)
		ret = -errno;
	free(buf);
	if (ret) {
		ret = ctl_err(OBJ, "%s: %s", im.path, strerror(-ret));
		goto out;
	}
	im.m = m;
	m = NULL;
	if (ctl->json) {
		json_done(ctl, &im, 0);
	} else {
		printf("%s: FVM with %llu slices of %llu"
		       " bytes (room for %llu)\n", im.path,
		       im.m->hdr.pslice_count, im.m->hdr.slice_size,
		       fvm_alloc_table_capacity(&im.m->hdr));
	}
	ret = CTL_OK;
out:
	fvm_meta_free(m);
	image_close(&im);
	return ret;
}

static const char info_help[] =
"usage: virtzctl [-j] fvm info IMAGE\n"
"  Show the header, both metadata copies and every partition with its\n"
"  slice extents.\n";

static void json_copies(struct jw *w, const struct image *im)
{
	int c;

	jw_arr_open(w, "copies");
	for (c = 0; c < 2; c++) {
		const struct fvm_copy_status *s = &im->rep.copy[c];

		jw_obj_open(w, NULL);
		jw_str(w, "copy", copy_name(c));
		jw_bool(w, "valid", !s->err);
		if (!s->err)
			jw_u64(w, "generation", s->hdr.generation);
		if (s->err)
			jw_str(w, "error", s->why ? s->why : strerror(-s->err));
		else
			jw_null(w, "error");
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static int fvm_info(struct ctl *ctl, int argc, char **argv)
{
	struct fvm_index *ix = NULL;
	const char *ixwhy = NULL;
	struct fvm_header *h;
	struct image im;
	struct jw w;
	int ret, c;
	u32 i;

	if (argc >= 2 && ctl_is_help(argv[1])) {
		fputs(info_help, stdout);
		return CTL_OK;
	}
	if (argc != 2)
		return ctl_usage_err(OBJ, "info: expected IMAGE\n%s", info_help);
	ret = image_open(&im, argv[1], false);
	if (ret)
		return ret;
	h = &im.m->hdr;
	if (fvm_index_build(im.m, &ix, &ixwhy))
		ix = NULL;

	if (ctl->json) {
		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_str(&w, "path", im.path);
		jw_u64(&w, "device_size", im.size);
		jw_u64(&w, "block_size", im.block_size);
		jw_str(&w, "active_copy", copy_name(im.m->active));
		json_copies(&w, &im);
		jw_obj_open(&w, "header");
		jw_u64(&w, "magic", h->magic);
		jw_u64(&w, "major_version", h->major_version);
		jw_u64(&w, "oldest_minor_version", h->oldest_minor_version);
		jw_u64(&w, "pslice_count", h->pslice_count);
		jw_u64(&w, "slice_size", h->slice_size);
		jw_u64(&w, "fvm_partition_size", h->fvm_partition_size);
		jw_u64(&w, "vpartition_table_size", h->vpartition_table_size);
		jw_u64(&w, "allocation_table_size", h->allocation_table_size);
		jw_u64(&w, "generation", h->generation);
		jw_obj_close(&w);
		jw_u64(&w, "metadata_allocated", fvm_metadata_allocated(h));
		jw_u64(&w, "metadata_used", fvm_metadata_used(h));
		jw_u64(&w, "data_start", fvm_data_start(h));
		jw_u64(&w, "slice_capacity", fvm_alloc_table_capacity(h));
		jw_u64(&w, "slices_allocated", im.m->allocated);
		jw_u64(&w, "slices_free", h->pslice_count - im.m->allocated);
		jw_u64(&w, "check_status", (u64)check_status(&im));
		jw_arr_open(&w, "partitions");
		for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
			if (fvm_vpart_allocated(&im.m->part[i]))
				json_part(&w, im.m, ix, i);
		jw_arr_close(&w);
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		printf("%s: FVM v%llu.%llu, active copy %s, generation %llu\n",
		       im.path, h->major_version, h->oldest_minor_version,
		       copy_name(im.m->active), h->generation);
		for (c = 0; c < 2; c++)
			printf("  copy %s: %s\n", copy_name(c),
			       im.rep.copy[c].err ? im.rep.copy[c].why : "valid");
		printf("  slice size %llu, slices %llu (%llu"
		       " allocated, %llu free, room for %llu)\n",
		       h->slice_size, h->pslice_count, im.m->allocated,
		       h->pslice_count - im.m->allocated,
		       fvm_alloc_table_capacity(h));
		printf("  fvm_partition_size %llu, device %llu"
		       ", data starts at %llu\n", h->fvm_partition_size,
		       im.size, fvm_data_start(h));
		printf("\n%5s  %-24s  %10s  %-8s  %-36s  %s\n", "index", "name",
		       "slices", "state", "type", "guid");
		for (i = 1; i < FVM_MAX_VPARTITIONS; i++)
			if (fvm_vpart_allocated(&im.m->part[i]))
				print_part(im.m, ix, i);
		if (!ix)
			printf("\nslice map unusable: %s\n", ixwhy);
	}
	fvm_index_free(ix);
	image_close(&im);
	return CTL_OK;
}

static const char check_help[] =
"usage: virtzctl [-j] fvm check IMAGE\n"
"  Verify both metadata copies and the slice map; writes nothing.\n"
"  Exit status: 0 clean; otherwise the sum of\n"
"    4  one metadata copy is invalid (the other one is in use)\n"
"    8  no valid metadata copy: damaged, not an FVM, or a newer major\n"
"   16  slice map corrupt: a vslice mapped twice, or an entry out of range\n"
"   32  inconsistent: slices of a free partition, slice counts that\n"
"       disagree with the map, reserved bits set\n"
"  1 means the image could not be read, 2 a usage error.\n";

static int fvm_check(struct ctl *ctl, int argc, char **argv)
{
	const struct fvm_check_report *r;
	struct image im;
	struct jw w;
	int st;
	u32 i;

	if (argc >= 2 && ctl_is_help(argv[1])) {
		fputs(check_help, stdout);
		return CTL_OK;
	}
	if (argc != 2)
		return ctl_usage_err(OBJ, "check: expected IMAGE\n%s", check_help);
	if (dev_open(&im, argv[1], false, false))
		return CTL_ERR;
	if (image_parse(&im) && (im.m || !im.rep.copy[0].why)) {
		/* Out of memory, or block 0 could not be read at all. */
		image_close(&im);
		return ctl_err(OBJ, "%s: %s", argv[1], im.parse_why);
	}
	st = check_status(&im);
	r = &im.chk;
	if (ctl->json) {
		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_str(&w, "path", im.path);
		jw_u64(&w, "status", (u64)st);
		jw_bool(&w, "clean", !st);
		if (im.m)
			jw_str(&w, "active_copy", copy_name(im.m->active));
		else
			jw_null(&w, "active_copy");
		if (!im.m)
			jw_str(&w, "error", im.parse_why);
		json_copies(&w, &im);
		if (im.m) {
			jw_obj_open(&w, "slice_map");
			jw_u64(&w, "bad_vpartition", r->bad_vpart);
			jw_u64(&w, "bad_vslice", r->bad_vslice);
			jw_u64(&w, "double_mapped", r->double_mapped);
			jw_u64(&w, "orphans", r->orphans);
			jw_u64(&w, "reserved_bits", r->reserved_bits);
			jw_u64(&w, "count_mismatch", r->count_mismatch);
			jw_u64(&w, "first_bad_pslice", r->first_bad_pslice);
			jw_obj_close(&w);
			jw_arr_open(&w, "count_mismatches");
			for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
				const struct fvm_vpart *e = &im.m->part[i];

				if (!fvm_vpart_allocated(e) ||
				    e->slices == r->mapped[i])
					continue;
				jw_obj_open(&w, NULL);
				jw_u64(&w, "index", i);
				jw_u64(&w, "slices", e->slices);
				jw_u64(&w, "mapped", r->mapped[i]);
				jw_obj_close(&w);
			}
			jw_arr_close(&w);
		}
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		print_copy_errors(&im);
		if (!im.m) {
			fprintf(stderr, "virtzctl: %s: %s: %s\n", OBJ, im.path,
				im.parse_why);
		} else {
			print_map_problems(&im);
			if (!st)
				printf("%s: clean (copy %s active, generation %llu)\n",
				       im.path, copy_name(im.m->active),
				       im.m->hdr.generation);
		}
	}
	image_close(&im);
	return st;
}

static const char add_help[] =
"usage: virtzctl fvm add IMAGE NAME (--slices N | --size SIZE)\n"
"                        [--type GUID] [--guid GUID] [--inactive]\n"
"  Allocate a partition: the first free entry, vslices 0..N-1.\n"
"  --size     rounded up to whole slices\n"
"  --type     type GUID (default Linux filesystem data,\n"
"             0fc63daf-8483-4772-8e79-3d69d8477de4)\n"
"  --guid     instance GUID (default random; all zeros is Fuchsia's\n"
"             placeholder, replaced when a driver loads the FVM)\n"
"  --inactive flag the partition INACTIVE (see `activate`)\n";

static int slices_from(const struct fvm_meta *m, bool have_slices, u64 n,
		       bool have_size, u64 bytes, u64 *out)
{
	if (have_slices == have_size)
		return -EINVAL;
	if (have_slices) {
		*out = n;
		return 0;
	}
	*out = bytes / m->hdr.slice_size + !!(bytes % m->hdr.slice_size);
	return 0;
}

static int fvm_add(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "slices", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "guid", required_argument, NULL, 'g' },
		{ "inactive", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool have_n = false, have_sz = false, have_guid = false, inactive = false;
	u8 type[FVM_GUID_LEN], guid[FVM_GUID_LEN];
	u64 n = 0, bytes = 0, count;
	const char *name;
	struct image im;
	u32 idx;
	int c, ret;

	fvm_guid_parse(default_type, type);
	getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_u64(optarg, &n))
				return ctl_usage_err(OBJ, "bad --slices '%s'", optarg);
			have_n = true;
			break;
		case 's':
			if (parse_size(optarg, &bytes))
				return ctl_usage_err(OBJ, "bad --size '%s'", optarg);
			have_sz = true;
			break;
		case 't':
			if (fvm_guid_parse(optarg, type))
				return ctl_usage_err(OBJ, "bad --type GUID '%s'", optarg);
			break;
		case 'g':
			if (fvm_guid_parse(optarg, guid))
				return ctl_usage_err(OBJ, "bad --guid '%s'", optarg);
			have_guid = true;
			break;
		case 'i':
			inactive = true;
			break;
		case 'h':
			fputs(add_help, stdout);
			return CTL_OK;
		default:
			return bad_opt("add", argc, argv);
		}
	}
	if (argc - optind != 2 || have_n == have_sz)
		return ctl_usage_err(OBJ, "add: expected IMAGE NAME and one of --slices/--size\n%s",
				     add_help);
	name = argv[optind + 1];
	if (strlen(name) > FVM_NAME_LEN)
		return ctl_usage_err(OBJ, "add: name '%s' is longer than 24 bytes", name);
	if (!have_guid)
		fvm_guid_generate(guid);
	ret = image_open(&im, argv[optind], true);
	if (ret)
		return ret;
	slices_from(im.m, have_n, n, have_sz, bytes, &count);
	ret = fvm_alloc_partition(im.m, count, type, guid, name, strlen(name),
				  inactive ? FVM_VPART_FLAG_INACTIVE : 0, &idx);
	if (ret) {
		ret = ctl_err(OBJ, "add %s: %s", name,
			      ret == -ERANGE ? "slice count out of range (1 .. 2^32-2)" :
			      ret == -ENOSPC ? "no space (no free slices or partition entries)" :
			      errno_text(ret));
		goto out;
	}
	ret = image_commit(&im);
	if (ret)
		goto out;
	if (ctl->json)
		json_done(ctl, &im, (int)idx);
	else
		printf("added partition %u '%s' with %llu slices\n", idx,
		       name, count);
out:
	image_close(&im);
	return ret;
}

static const char extend_help[] =
"usage: virtzctl fvm extend IMAGE PART (--slices N | --size SIZE)\n"
"                           [--offset VSLICE]\n"
"  Map vslices [VSLICE, VSLICE+N).  Without --offset: right after the\n"
"  partition's highest mapped vslice.  VSLICE 0 is out of range.\n";

static const char shrink_help[] =
"usage: virtzctl fvm shrink IMAGE PART --offset VSLICE (--slices N | --size SIZE)\n"
"  Unmap whichever vslices in [VSLICE, VSLICE+N) are mapped.  VSLICE 0\n"
"  is out of range (vslice 0 is only freed by `remove`).\n";

static int fvm_resize(struct ctl *ctl, int argc, char **argv, bool grow)
{
	static const struct option opts[] = {
		{ "slices", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "offset", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *verb = grow ? "extend" : "shrink";
	const char *help = grow ? extend_help : shrink_help;
	bool have_n = false, have_sz = false, have_off = false;
	u64 n = 0, bytes = 0, off = 0, count, p;
	struct image im;
	u32 idx;
	int c, ret;

	getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_u64(optarg, &n))
				return ctl_usage_err(OBJ, "bad --slices '%s'", optarg);
			have_n = true;
			break;
		case 's':
			if (parse_size(optarg, &bytes))
				return ctl_usage_err(OBJ, "bad --size '%s'", optarg);
			have_sz = true;
			break;
		case 'o':
			if (parse_u64(optarg, &off))
				return ctl_usage_err(OBJ, "bad --offset '%s'", optarg);
			have_off = true;
			break;
		case 'h':
			fputs(help, stdout);
			return CTL_OK;
		default:
			return bad_opt(verb, argc, argv);
		}
	}
	if (argc - optind != 2 || have_n == have_sz || (!grow && !have_off))
		return ctl_usage_err(OBJ, "%s: bad arguments\n%s", verb, help);
	ret = image_open(&im, argv[optind], true);
	if (ret)
		return ret;
	ret = find_part(im.m, argv[optind + 1], &idx);
	if (ret)
		goto out;
	slices_from(im.m, have_n, n, have_sz, bytes, &count);
	if (!have_off) {
		/* Append after the highest mapped vslice. */
		for (p = 1; p <= im.m->hdr.pslice_count; p++)
			if (fvm_slice_vpart(im.m->slice[p]) == idx &&
			    fvm_slice_vslice(im.m->slice[p]) + 1 > off)
				off = fvm_slice_vslice(im.m->slice[p]) + 1;
	}
	ret = grow ? fvm_extend(im.m, idx, off, count) :
		     fvm_shrink(im.m, idx, off, count);
	if (ret) {
		ret = ctl_err(OBJ, "%s %s: %s", verb, argv[optind + 1],
			      ret == -ERANGE ? "out of range (offset must be 1 .. 2^31-1, end <= 2^31)" :
			      ret == -ENOSPC ? "no space" :
			      ret == -EINVAL ? (grow ? "a vslice in the range is already mapped" :
						"no vslice in the range is mapped") :
			      errno_text(ret));
		goto out;
	}
	ret = image_commit(&im);
	if (!ret)
		json_done(ctl, &im, (int)idx);
out:
	image_close(&im);
	return ret;
}

static const char remove_help[] =
"usage: virtzctl fvm remove IMAGE PART\n"
"  Destroy a partition: free all its slices and zero its entry.\n"
"PART is index:N, name:S, guid:G, or bare: a GUID, a number, a name.\n";

static const char rename_help[] =
"usage: virtzctl fvm rename IMAGE PART NEWNAME\n"
"  Set the name (at most 24 bytes).\n";

static const char set_type_help[] =
"usage: virtzctl fvm set-type IMAGE PART TYPE-GUID\n"
"  Set the partition type GUID.\n";

/* remove, rename, set-type: IMAGE PART [ARG] */
static int fvm_edit(struct ctl *ctl, int argc, char **argv, const char *help,
		    int nargs)
{
	const char *verb = argv[0];
	u8 type[FVM_GUID_LEN];
	struct image im;
	u32 idx;
	int ret;

	if (argc >= 2 && ctl_is_help(argv[1])) {
		fputs(help, stdout);
		return CTL_OK;
	}
	if (argc != 3 + nargs)
		return ctl_usage_err(OBJ, "%s: bad arguments\n%s", verb, help);
	if (!strcmp(verb, "rename") && strlen(argv[3]) > FVM_NAME_LEN)
		return ctl_usage_err(OBJ, "rename: '%s' is longer than 24 bytes",
				     argv[3]);
	if (!strcmp(verb, "set-type") && fvm_guid_parse(argv[3], type))
		return ctl_usage_err(OBJ, "set-type: bad GUID '%s'", argv[3]);
	ret = image_open(&im, argv[1], true);
	if (ret)
		return ret;
	ret = find_part(im.m, argv[2], &idx);
	if (ret)
		goto out;
	if (!strcmp(verb, "remove"))
		ret = fvm_destroy(im.m, idx);
	else if (!strcmp(verb, "rename"))
		ret = fvm_set_name(im.m, idx, argv[3], strlen(argv[3]));
	else
		ret = fvm_set_type(im.m, idx, type);
	if (ret) {
		ret = ctl_err(OBJ, "%s: %s", verb, errno_text(ret));
		goto out;
	}
	ret = image_commit(&im);
	if (!ret)
		json_done(ctl, &im, strcmp(verb, "remove") ? (int)idx : 0);
out:
	image_close(&im);
	return ret;
}

static const char activate_help[] =
"usage: virtzctl fvm activate IMAGE OLD NEW\n"
"  In one metadata write, make active partition OLD inactive and inactive\n"
"  partition NEW active (Fuchsia's VolumeManager.Activate).  OLD may be\n"
"  '-' or a GUID that matches nothing.  NEW must be an inactive partition.\n";

static int fvm_activate_cmd(struct ctl *ctl, int argc, char **argv)
{
	u8 old_guid[FVM_GUID_LEN] = { 0 }, new_guid[FVM_GUID_LEN];
	struct image im;
	u32 idx;
	int ret;

	if (argc >= 2 && ctl_is_help(argv[1])) {
		fputs(activate_help, stdout);
		return CTL_OK;
	}
	if (argc != 4)
		return ctl_usage_err(OBJ, "activate: bad arguments\n%s", activate_help);
	ret = image_open(&im, argv[1], true);
	if (ret)
		return ret;
	if (fvm_guid_parse(argv[3], new_guid)) {
		ret = find_part(im.m, argv[3], &idx);
		if (ret)
			goto out;
		memcpy(new_guid, im.m->part[idx].guid, FVM_GUID_LEN);
	}
	if (strcmp(argv[2], "-") && fvm_guid_parse(argv[2], old_guid)) {
		ret = find_part(im.m, argv[2], &idx);
		if (ret)
			goto out;
		memcpy(old_guid, im.m->part[idx].guid, FVM_GUID_LEN);
	}
	ret = fvm_activate(im.m, old_guid, new_guid);
	if (ret) {
		ret = ctl_err(OBJ, "activate: %s is not an inactive partition",
			      argv[3]);
		goto out;
	}
	ret = image_commit(&im);
	if (!ret)
		json_done(ctl, &im, fvm_find_guid(im.m, new_guid));
out:
	image_close(&im);
	return ret;
}

static const char dump_help[] =
"usage: virtzctl fvm dump-slice IMAGE PART [--vslice N] [--count N] [-o FILE]\n"
"  Copy the data of vslices [N, N+count) of a partition, read through the\n"
"  slice map, to stdout or FILE (default vslice 0, count 1).  Fails if a\n"
"  vslice in the range is not mapped.\n";

static int fvm_dump(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vslice", required_argument, NULL, 'v' },
		{ "count", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	u64 vs = 0, count = 1, i, p, done, chunk = 1 << 20;
	const char *out_path = NULL, *why = NULL;
	struct fvm_index *ix = NULL;
	FILE *out = stdout;
	struct image im;
	u8 *buf = NULL;
	size_t got;
	u32 idx;
	int c, ret;

	getopt_reset();
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (parse_u64(optarg, &vs))
				return ctl_usage_err(OBJ, "bad --vslice '%s'", optarg);
			break;
		case 'c':
			if (parse_u64(optarg, &count) || !count)
				return ctl_usage_err(OBJ, "bad --count '%s'", optarg);
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			fputs(dump_help, stdout);
			return CTL_OK;
		default:
			return bad_opt("dump-slice", argc, argv);
		}
	}
	if (argc - optind != 2)
		return ctl_usage_err(OBJ, "dump-slice: bad arguments\n%s", dump_help);
	ret = image_open(&im, argv[optind], false);
	if (ret)
		return ret;
	ret = find_part(im.m, argv[optind + 1], &idx);
	if (ret)
		goto out;
	if (fvm_index_build(im.m, &ix, &why)) {
		ret = ctl_err(OBJ, "%s: %s", im.path, why);
		goto out;
	}
	/* Check the whole range before writing a byte. */
	for (i = 0; i < count; i++) {
		if (vs + i < vs || fvm_index_lookup(ix, idx, vs + i, &p, NULL)) {
			ret = ctl_err(OBJ, "dump-slice: vslice %llu of partition %u is not mapped",
				      vs + i, idx);
			goto out;
		}
		if (fvm_pslice_offset(&im.m->hdr, p) + im.m->hdr.slice_size > im.size) {
			ret = ctl_err(OBJ, "dump-slice: pslice %llu lies past the end of %s",
				      p, im.path);
			goto out;
		}
	}
	if (chunk > im.m->hdr.slice_size)
		chunk = im.m->hdr.slice_size;
	buf = malloc(chunk);
	if (!buf) {
		ret = ctl_err(OBJ, "out of memory");
		goto out;
	}
	if (out_path) {
		out = fopen(out_path, "we");
		if (!out) {
			ret = ctl_err(OBJ, "%s: %s", out_path, strerror(errno));
			goto out;
		}
	}
	for (i = 0; i < count; i++) {
		fvm_index_lookup(ix, idx, vs + i, &p, NULL);
		for (done = 0; done < im.m->hdr.slice_size; done += got) {
			u64 want = im.m->hdr.slice_size - done;

			if (want > chunk)
				want = chunk;
			ret = pread_full(im.fd, buf, want,
					 fvm_pslice_offset(&im.m->hdr, p) + done,
					 &got);
			if (ret || got != want) {
				ret = ctl_err(OBJ, "%s: short read", im.path);
				goto out;
			}
			if (fwrite(buf, 1, got, out) != got) {
				ret = ctl_err(OBJ, "write: %s", strerror(errno));
				goto out;
			}
		}
	}
	if (fflush(out)) {
		ret = ctl_err(OBJ, "write: %s", strerror(errno));
		goto out;
	}
	ret = CTL_OK;
	(void)ctl;
out:
	if (out && out != stdout)
		fclose(out);
	free(buf);
	fvm_index_free(ix);
	image_close(&im);
	return ret;
}

static const char fvm_help[] =
"usage: virtzctl [-j] fvm VERB ...\n"
"Offline FVM (Fuchsia volume manager, format v1) image tool.\n"
"  create     IMAGE [--size S] [--slice-size S] [--max-size S] [--force]\n"
"  info       IMAGE\n"
"  check      IMAGE\n"
"  add        IMAGE NAME (--slices N | --size S) [--type G] [--guid G] [--inactive]\n"
"  extend     IMAGE PART (--slices N | --size S) [--offset VSLICE]\n"
"  shrink     IMAGE PART --offset VSLICE (--slices N | --size S)\n"
"  remove     IMAGE PART\n"
"  rename     IMAGE PART NEWNAME\n"
"  set-type   IMAGE PART TYPE-GUID\n"
"  activate   IMAGE OLD NEW\n"
"  dump-slice IMAGE PART [--vslice N] [--count N] [-o FILE]\n"
"Sizes take K, M, G, T (binary).  PART is index:N, name:S, guid:G, or a\n"
"bare GUID, number or name.  `virtzctl fvm VERB --help` for details.\n";

static int cmd_fvm(struct ctl *ctl, int argc, char **argv)
{
	const char *verb;

	if (argc < 1)
		return ctl_usage_err(OBJ, "missing verb\n%s", fvm_help);
	verb = argv[0];
	if (ctl_is_help(verb)) {
		fputs(fvm_help, stdout);
		return CTL_OK;
	}
	if (!strcmp(verb, "create"))
		return fvm_create(ctl, argc, argv);
	if (!strcmp(verb, "info"))
		return fvm_info(ctl, argc, argv);
	if (!strcmp(verb, "check"))
		return fvm_check(ctl, argc, argv);
	if (!strcmp(verb, "add"))
		return fvm_add(ctl, argc, argv);
	if (!strcmp(verb, "extend"))
		return fvm_resize(ctl, argc, argv, true);
	if (!strcmp(verb, "shrink"))
		return fvm_resize(ctl, argc, argv, false);
	if (!strcmp(verb, "remove"))
		return fvm_edit(ctl, argc, argv, remove_help, 0);
	if (!strcmp(verb, "rename"))
		return fvm_edit(ctl, argc, argv, rename_help, 1);
	if (!strcmp(verb, "set-type"))
		return fvm_edit(ctl, argc, argv, set_type_help, 1);
	if (!strcmp(verb, "activate"))
		return fvm_activate_cmd(ctl, argc, argv);
	if (!strcmp(verb, "dump-slice"))
		return fvm_dump(ctl, argc, argv);
	return ctl_usage_err(OBJ, "unknown verb '%s'\n%s", verb, fvm_help);
}

CTL_COMMAND(fvm, cmd_fvm, "offline FVM image tool: create, info, check, add, ...");
