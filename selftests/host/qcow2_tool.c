// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2_tool: drives user/lib/qcow2.c for selftests/host/test_qcow2_interop.sh.
 *
 *   qcow2_tool info IMG             open read-only, print the info; on a
 *                                   refusal print the message, exit 1
 *   qcow2_tool openrw IMG           the same, read-write
 *   qcow2_tool dump IMG OUT         write the guest view to the raw file OUT
 *   qcow2_tool randwrite IMG REF SEED COUNT MAXLEN [zeroes]
 *                                   COUNT random writes (and, with "zeroes",
 *                                   write_zeroes/discard) to IMG, mirrored
 *                                   into the raw file REF
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2.h"

static struct qcow2 *open_or_die(const char *path, unsigned int flags)
{
	struct qcow2 *q;
	char err[512];
	int ret = qcow2_open(path, flags, &q, err, sizeof(err));

	if (ret) {
		printf("%s\n", err);
		exit(1);
	}
	return q;
}

static void print_info(struct qcow2 *q)
{
	struct qcow2_info in;

	qcow2_get_info(q, &in);
	printf("version %u\ncluster_size %u\nvirtual_size %" PRIu64
	       "\nrefcount_bits %u\nbacking_file %s\nbacking_format %s\n"
	       "backing_depth %d\nincompatible 0x%" PRIx64 "\ncompatible 0x%"
	       PRIx64 "\nautoclear 0x%" PRIx64 "\n",
	       in.version, in.cluster_size, in.virtual_size, in.refcount_bits,
	       in.backing_file, in.backing_format, in.backing_depth,
	       in.incompatible_features, in.compatible_features,
	       in.autoclear_features);
}

static int dump(const char *img, const char *out)
{
	struct qcow2 *q = open_or_die(img, 0);
	uint64_t size = qcow2_virtual_size(q), off = 0;
	/* An odd chunk, so reads straddle clusters. */
	size_t chunk = (1u << 20) + 4097;
	char *buf = malloc(chunk);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (!buf || fd < 0 || ftruncate(fd, (off_t)size))
		return 2;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		int ret = qcow2_pread(q, buf, n, off);

		if (ret) {
			fprintf(stderr, "read at %" PRIu64 ": %s\n", off,
				strerror(-ret));
			return 1;
		}
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			return 2;
		off += n;
	}
	free(buf);
	close(fd);
	return qcow2_close(q) ? 1 : 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int randwrite(const char *img, const char *refpath, uint64_t seed,
		     unsigned int count, uint64_t maxlen, int zeroes)
{
	struct qcow2 *q = open_or_die(img, QCOW2_O_RDWR);
	uint64_t size = qcow2_virtual_size(q), cs = qcow2_cluster_size(q);
	uint8_t *buf = malloc(maxlen), *chk = malloc(maxlen);
	int ref = open(refpath, O_RDWR);
	uint64_t s = seed * 2654435761u + 1;

	if (!buf || !chk || ref < 0 || maxlen > size)
		return 2;
	for (unsigned int i = 0; i < count; i++) {
		uint64_t len = 1 + rnd(&s) % maxlen, off, kind = rnd(&s) % 8;
		int ret;

		/* Half the writes start on a sector or cluster boundary. */
		off = rnd(&s) % (size - len + 1);
		if (kind == 1)
			off &= ~511ull;
		if (kind == 2)
			off &= ~(cs - 1);
		if (kind == 3 && len > cs)
			len -= len % cs;
		if (zeroes && kind >= 6) {
			ret = kind == 6 ? qcow2_write_zeroes(q, off, len)
					: qcow2_discard(q, off, len);
			if (ret) {
				fprintf(stderr, "zero %" PRIu64 "+%" PRIu64
					": %s\n", off, len, strerror(-ret));
				return 1;
			}
			if (kind == 6) {
				memset(buf, 0, len);
				if (pwrite(ref, buf, len, (off_t)off) != (ssize_t)len)
					return 2;
			} else {
				/* Only whole clusters are discarded (to zeros). */
				uint64_t a = (off + cs - 1) & ~(cs - 1);
				uint64_t b = (off + len) & ~(cs - 1);

				if (b > a) {
					memset(buf, 0, b - a < maxlen ? b - a : maxlen);
					for (uint64_t o = a; o < b; o += maxlen) {
						uint64_t n = b - o < maxlen ? b - o : maxlen;

						if (pwrite(ref, buf, n, (off_t)o) != (ssize_t)n)
							return 2;
					}
				}
			}
		} else {
			for (uint64_t j = 0; j < len; j += 8) {
				uint64_t r = rnd(&s);

				memcpy(buf + j, &r, len - j < 8 ? len - j : 8);
			}
			ret = qcow2_pwrite(q, buf, len, off);
			if (ret) {
				fprintf(stderr, "write %" PRIu64 "+%" PRIu64
					": %s\n", off, len, strerror(-ret));
				return 1;
			}
			if (pwrite(ref, buf, len, (off_t)off) != (ssize_t)len)
				return 2;
		}
		/* Read back what the reference now holds there. */
		ret = qcow2_pread(q, chk, len, off);
		if (ret || pread(ref, buf, len, (off_t)off) != (ssize_t)len ||
		    memcmp(buf, chk, len)) {
			fprintf(stderr, "read-back mismatch at %" PRIu64 "+%"
				PRIu64 " (op %u)\n", off, len, i);
			return 1;
		}
	}
	free(buf);
	free(chk);
	close(ref);
	return qcow2_close(q) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct qcow2 *q;

	if (argc >= 3 && !strcmp(argv[1], "info")) {
		q = open_or_die(argv[2], 0);
		print_info(q);
		return qcow2_close(q) ? 1 : 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "openrw")) {
		q = open_or_die(argv[2], QCOW2_O_RDWR);
		print_info(q);
		return qcow2_close(q) ? 1 : 0;
	}
	if (argc == 4 && !strcmp(argv[1], "dump"))
		return dump(argv[2], argv[3]);
	if (argc >= 7 && !strcmp(argv[1], "randwrite"))
		return randwrite(argv[2], argv[3], strtoull(argv[4], NULL, 0),
				 (unsigned int)strtoul(argv[5], NULL, 0),
				 strtoull(argv[6], NULL, 0),
				 argc > 7 && !strcmp(argv[7], "zeroes"));
	fprintf(stderr, "usage: see the comment at the top of qcow2_tool.c\n");
	return 2;
}
