// SPDX-License-Identifier: GPL-2.0
/*
 * The io_uring peer of `virtzctl block bench`: the same workload (random
 * or sequential reads or writes of BS bytes, QD in flight, for SECONDS)
 * with liburing, O_DIRECT, a registered file and registered buffers.
 *
 *   block_uring DEVICE randread|randwrite|read|write BS QD SECONDS
 *
 * Prints one JSON object: {"requests": N, "usec": T, "iops": I}.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next_off(uint32_t *seed, uint64_t *cur, uint64_t span,
			 uint64_t bs, int random)
{
	uint64_t off;

	if (!random) {
		off = *cur;
		*cur = (*cur + bs) % (span * bs);
		return off;
	}
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	return (*seed % span) * bs;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct iovec *iov;
	uint64_t size, span, cur = 0, done = 0, bs;
	uint32_t seed = 0x12345678;
	unsigned int qd, i, inflight;
	int fd, wr, random, err;
	double t0, t, seconds;
	uint8_t *mem;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DEVICE MODE BS QD SECONDS\n", argv[0]);
		return 2;
	}
	wr = strstr(argv[2], "write") != NULL;
	random = !strncmp(argv[2], "rand", 4);
	bs = strtoull(argv[3], NULL, 0);
	qd = strtoul(argv[4], NULL, 0);
	seconds = atof(argv[5]);
	if (!bs || !qd || qd > 4096) {
		fprintf(stderr, "bad BS or QD\n");
		return 2;
	}
	fd = open(argv[1], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size)) {
		perror(argv[1]);
		return 1;
	}
	span = size / bs;
	mem = mmap(NULL, qd * bs, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	iov = calloc(qd, sizeof(*iov));
	if (mem == MAP_FAILED || !iov)
		return 1;
	memset(mem, 0x5a, qd * bs);
	for (i = 0; i < qd; i++) {
		iov[i].iov_base = mem + i * bs;
		iov[i].iov_len = bs;
	}
	err = io_uring_queue_init(qd, &ring, 0);
	if (!err)
		err = io_uring_register_buffers(&ring, iov, qd);
	if (!err)
		err = io_uring_register_files(&ring, &fd, 1);
	if (err) {
		fprintf(stderr, "io_uring setup: %s\n", strerror(-err));
		return 1;
	}

	t0 = now();
	for (i = 0; i < qd; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		uint64_t off = next_off(&seed, &cur, span, bs, random);

		if (wr)
			io_uring_prep_write_fixed(sqe, 0, iov[i].iov_base, bs, off, i);
		else
			io_uring_prep_read_fixed(sqe, 0, iov[i].iov_base, bs, off, i);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->user_data = i;
	}
	io_uring_submit(&ring);
	inflight = qd;
	while (inflight) {
		struct io_uring_cqe *cqe;
		unsigned int slot;

		err = io_uring_wait_cqe(&ring, &cqe);
		if (err) {
			fprintf(stderr, "wait: %s\n", strerror(-err));
			return 1;
		}
		if (cqe->res != (int)bs) {
			fprintf(stderr, "I/O: %s\n", strerror(-cqe->res));
			return 1;
		}
		slot = cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		done++;
		t = now();
		if (t - t0 < seconds) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			uint64_t off = next_off(&seed, &cur, span, bs, random);

			if (wr)
				io_uring_prep_write_fixed(sqe, 0, iov[slot].iov_base,
							  bs, off, slot);
			else
				io_uring_prep_read_fixed(sqe, 0, iov[slot].iov_base,
							 bs, off, slot);
			sqe->flags |= IOSQE_FIXED_FILE;
			sqe->user_data = slot;
			io_uring_submit(&ring);
			inflight++;
		}
	}
	t = now() - t0;
	printf("{\"requests\": %llu, \"usec\": %llu, \"iops\": %llu}\n",
	       (unsigned long long)done, (unsigned long long)(t * 1e6),
	       (unsigned long long)(done / t));
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
