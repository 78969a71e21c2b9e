// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the qcow2 engine (user/lib/qcow2.c).  The input is
 * the image file itself, put in a memfd.  It is opened read-only and read
 * at a spread of offsets; then a copy is opened read-write, written
 * (partial and whole clusters, zeroes, discard), closed and reopened and
 * read again.  Backing files are never opened (QCOW2_O_NO_BACKING), so the
 * target touches no file but its memfds.
 *
 * Memory stays bounded by the engine's own limits: tables must lie inside
 * the file, L1 <= 32 MiB, refcount table <= 8 MiB, caches <= 4 MiB each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define READ_MAX	(64u << 10)

static int memfd_with(const uint8_t *data, size_t size)
{
	int fd = memfd_create("qcow2-fuzz", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	return fd;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* Reads at the ends, at cluster boundaries and at input-derived offsets. */
static void read_spread(struct qcow2 *q, uint8_t *buf, uint64_t seed)
{
	uint64_t vs = qcow2_virtual_size(q), cs = qcow2_cluster_size(q);
	uint64_t offs[8] = { 0, cs - 1, vs / 2, vs - 1, vs - cs, 3 * cs - 7 };

	if (!vs)
		return;
	offs[6] = mix(seed) % vs;
	offs[7] = mix(seed + 1) % vs;
	for (int i = 0; i < 8; i++) {
		uint64_t off = offs[i] % vs;
		uint64_t len = vs - off < READ_MAX ? vs - off : READ_MAX;

		qcow2_pread(q, buf, len, off);
	}
}

static void write_some(struct qcow2 *q, uint8_t *buf, uint64_t seed)
{
	uint64_t vs = qcow2_virtual_size(q), cs = qcow2_cluster_size(q);

	if (!vs)
		return;
	memset(buf, 0xa5, READ_MAX);
	for (int i = 0; i < 4; i++) {
		uint64_t off = mix(seed + 10 + i) % vs;
		uint64_t len = 1 + mix(seed + 20 + i) % (cs + 4096);

		if (len > READ_MAX)
			len = READ_MAX;
		if (len > vs - off)
			len = vs - off;
		if (qcow2_pwrite(q, buf, len, off) == 0)
			qcow2_pread(q, buf, len, off);
	}
	qcow2_write_zeroes(q, mix(seed + 30) % vs, 3 * cs);
	qcow2_discard(q, mix(seed + 31) % vs, 2 * cs);
	qcow2_flush(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(READ_MAX);
	uint64_t seed = size;
	struct qcow2 *q;
	char err[256];
	int fd, fd2;

	for (size_t i = 0; i < size && i < 128; i++)
		seed = seed * 31 + data[i];
	fd = memfd_with(data, size);
	if (!qcow2_open_fd(fd, NULL, QCOW2_O_NO_BACKING, &q, err, sizeof(err))) {
		struct qcow2_info info;

		qcow2_get_info(q, &info);
		read_spread(q, buf, seed);
		qcow2_close(q);

		fd2 = memfd_with(data, size);
		if (!qcow2_open_fd(fd2, NULL, QCOW2_O_RDWR | QCOW2_O_NO_BACKING,
				   &q, err, sizeof(err))) {
			write_some(q, buf, seed);
			qcow2_close(q);
			if (!qcow2_open_fd(fd2, NULL, QCOW2_O_NO_BACKING, &q,
					   err, sizeof(err))) {
				read_spread(q, buf, seed);
				qcow2_close(q);
			}
		}
		close(fd2);
	} else if (!err[0] || strncmp(err, "qcow2: ", 7)) {
		abort();	/* every refusal says why */
	}
	close(fd);
	free(buf);
	return 0;
}
