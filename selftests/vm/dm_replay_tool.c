// SPDX-License-Identifier: GPL-2.0
/*
 * dm-replay LOG BASE: replays a dm-log-writes log onto the image BASE
 * (read into memory, never written) and, at every flush and FUA point,
 * judges the image with the FVM format library exactly as `virtzctl fvm
 * info/check` does.  One JSON object per point on stdout:
 *
 *   {"point":N,"clean":bool,"why":S,"generation":G,"active":"A"|"B",
 *    "parts":[[index,name,guid,slices,inactive],...]}
 *
 * "clean" means both copies valid and the slice map consistent.  Used by
 * selftests/vm/test_dm_crash.py; one process for all points, because an
 * exec per point costs seconds in the TCG test guest.
 *
 * Log format: Documentation/admin-guide/device-mapper/log-writes.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../kmod/virtz_fvm/fvm_format.h"
#include "json.h"

#define LOG_FLUSH	(1ULL << 0)
#define LOG_FUA		(1ULL << 1)
#define LOG_DISCARD	(1ULL << 2)
#define LOG_MARK	(1ULL << 3)
#define LOG_MAGIC	0x6a736677736872ULL

struct log_super {
	uint64_t magic, version, nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_entry {
	uint64_t sector, nr_sectors, flags, data_len;
};

static void judge(const uint8_t *img, size_t size, unsigned long point)
{
	struct fvm_parse_report rep;
	struct fvm_check_report chk;
	struct fvm_meta *m = NULL;
	const char *why = NULL;
	char guid[FVM_GUID_STR_LEN + 1];
	bool clean;
	u64 alloc;
	struct jw w;
	int ret;
	u32 i;

	jw_init(&w, stdout);
	jw_obj_open(&w, NULL);
	jw_u64(&w, "point", point);
	ret = fvm_locate_copies(img, size, &alloc, &why);
	if (!ret && 2 * alloc > size) {
		ret = -EUCLEAN;
		why = "copies do not fit";
	}
	if (!ret)
		ret = fvm_meta_parse(img, img + alloc, alloc, size, 512, &m,
				     &rep, &why);
	if (!ret)
		ret = fvm_meta_check(m, &chk);
	if (ret) {
		jw_bool(&w, "clean", false);
		jw_str(&w, "why", why ? why : "parse failed");
		goto out;
	}
	clean = !rep.copy[0].err && !rep.copy[1].err && !chk.bad_vpart &&
		!chk.bad_vslice && !chk.double_mapped && !chk.orphans &&
		!chk.count_mismatch && !chk.reserved_bits;
	jw_bool(&w, "clean", clean);
	jw_str(&w, "why", rep.copy[0].err ? rep.copy[0].why :
			  rep.copy[1].err ? rep.copy[1].why : "");
	jw_u64(&w, "generation", m->hdr.generation);
	jw_str(&w, "active", m->active == FVM_COPY_A ? "A" : "B");
	jw_arr_open(&w, "parts");
	for (i = 1; i < FVM_MAX_VPARTITIONS; i++) {
		const struct fvm_vpart *e = &m->part[i];

		if (!fvm_vpart_allocated(e))
			continue;
		fvm_guid_to_str(e->guid, guid);
		jw_arr_open(&w, NULL);
		jw_u64(&w, NULL, i);
		jw_strn(&w, NULL, (const char *)e->name, fvm_name_len(e));
		jw_str(&w, NULL, guid);
		jw_u64(&w, NULL, e->slices);
		jw_bool(&w, NULL, fvm_vpart_inactive(e));
		jw_arr_close(&w);
	}
	jw_arr_close(&w);
out:
	jw_obj_close(&w);
	jw_end(&w);
	fvm_meta_free(m);
}

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		return -errno;
	*len = st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < *len) {
		r = pread(fd, *buf + got, *len - got, got);
		if (r <= 0) {
			close(fd);
			return r ? -errno : -EIO;
		}
		got += r;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long points = 0;
	struct log_super sup;
	struct log_entry e;
	uint8_t *img = NULL;
	size_t size = 0;
	uint64_t n, pos, ss, len;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: dm-replay LOG BASE\n");
		return 2;
	}
	if (read_all(argv[2], &img, &size)) {
		perror(argv[2]);
		return 1;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || pread(fd, &sup, sizeof(sup), 0) != sizeof(sup) ||
	    le64toh(sup.magic) != LOG_MAGIC || le64toh(sup.version) != 1) {
		fprintf(stderr, "%s: not a dm-log-writes log\n", argv[1]);
		return 1;
	}
	ss = le32toh(sup.sectorsize);
	pos = ss;
	for (n = 0; n < le64toh(sup.nr_entries); n++) {
		if (pread(fd, &e, sizeof(e), pos) != sizeof(e)) {
			fprintf(stderr, "short log at entry %llu\n",
				(unsigned long long)n);
			return 1;
		}
		pos += ss;
		if (le64toh(e.flags) & LOG_MARK)
			continue;
		len = le64toh(e.nr_sectors) * ss;
		if (len && !(le64toh(e.flags) & LOG_DISCARD)) {
			uint64_t off = le64toh(e.sector) * ss;

			if (off + len > size ||
			    pread(fd, img + off, len, pos) != (ssize_t)len) {
				fprintf(stderr, "bad write at entry %llu\n",
					(unsigned long long)n);
				return 1;
			}
			pos += len;
		}
		if (le64toh(e.flags) & (LOG_FLUSH | LOG_FUA))
			judge(img, size, ++points);
	}
	close(fd);
	free(img);
	return 0;
}
