// SPDX-License-Identifier: GPL-2.0
/*
 * vblk_guestio DEV MODE BS QD SECONDS: the load generator of
 * bench/vblk_bench.sh, run inside the nested guest.  fio and its dozens
 * of shared libraries do not fit the busybox initramfs, so this is a
 * static stand-in doing what the fio jobs would: O_DIRECT, Linux native
 * AIO (io_submit) at queue depth QD, MODE randread|randwrite|read|write,
 * blocks of BS bytes over the first 64 MiB of DEV.  Prints
 * "MODE BS QD iops N mibps M".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SPAN	(64ULL << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	aio_context_t ctx = 0;
	struct iocb *cbs, **cbp;
	struct io_event ev[256];
	unsigned long long done = 0, seq = 0;
	int fd, bs, qd, secs, i, rnd, wr;
	double t0, el;

	if (argc != 6)
		return 2;
	bs = atoi(argv[3]);
	qd = atoi(argv[4]);
	secs = atoi(argv[5]);
	rnd = !strncmp(argv[2], "rand", 4);
	wr = strstr(argv[2], "write") != NULL;
	if (bs <= 0 || qd <= 0 || qd > 256 || secs <= 0)
		return 2;
	fd = open(argv[1], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || syscall(SYS_io_setup, qd, &ctx)) {
		perror(argv[1]);
		return 1;
	}
	cbs = calloc(qd, sizeof(*cbs));
	cbp = calloc(qd, sizeof(*cbp));
	srand(42);
	for (i = 0; i < qd; i++) {
		void *buf;

		if (posix_memalign(&buf, 4096, bs))
			return 1;
		memset(buf, 0x5a, bs);
		cbs[i].aio_fildes = fd;
		cbs[i].aio_lio_opcode = wr ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		cbs[i].aio_buf = (unsigned long)buf;
		cbs[i].aio_nbytes = bs;
		cbs[i].aio_data = i;
	}
	t0 = now();
	for (i = 0; i < qd; i++) {
		cbs[i].aio_offset = rnd ? (rand() % (SPAN / bs)) * bs :
				    (seq++ * bs) % SPAN;
		cbp[i] = &cbs[i];
	}
	if (syscall(SYS_io_submit, ctx, qd, cbp) != qd) {
		perror("io_submit");
		return 1;
	}
	while ((el = now() - t0) < secs) {
		int n = syscall(SYS_io_getevents, ctx, 1, qd, ev, NULL);

		for (i = 0; i < n; i++) {
			struct iocb *cb = &cbs[ev[i].data];

			if (ev[i].res != bs) {
				fprintf(stderr, "I/O error %lld\n", (long long)ev[i].res);
				return 1;
			}
			done++;
			cb->aio_offset = rnd ? (rand() % (SPAN / bs)) * bs :
					 (seq++ * bs) % SPAN;
			cbp[i] = cb;
		}
		if (n > 0 && syscall(SYS_io_submit, ctx, n, cbp) != n) {
			perror("io_submit");
			return 1;
		}
	}
	printf("%s %d %d iops %.0f mibps %.1f\n", argv[2], bs, qd, done / el,
	       done * (double)bs / el / (1 << 20));
	return 0;
}
