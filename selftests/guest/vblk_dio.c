// SPDX-License-Identifier: GPL-2.0
/*
 * vblk_dio DEV OFFSET LEN TAG: run inside a nested guest by
 * selftests/vm/test_vblk_disks.py.  Writes LEN bytes at OFFSET of DEV with
 * O_DIRECT from a buffer that is 512-byte aligned but not page aligned,
 * then reads them back the same way and checks them.
 *
 * Whether the device then sees segments that are not page sized depends
 * on where the buffer's pages lie in guest-physical memory: contiguous
 * pages merge into one segment.  So every page of the buffer is the same
 * page (a one-page memfd mapped again and again): no two ever merge, and
 * the request's segments are 3584, 4096, ..., 4096, 512 bytes long, the
 * first one starting 512 bytes into the page.  The data is that page,
 * TAG repeated, seen from byte 512 on: byte k of the write is byte
 * (512 + k) % 4096 of the page, which the host can check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE	4096
#define SKEW	512

static int fail(const char *what)
{
	printf("vblk_dio: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	unsigned long long off, len;
	unsigned char page[PAGE], *base, *buf;
	size_t i, npages, tl;
	int mfd, fd;

	if (argc != 5) {
		fprintf(stderr, "usage: vblk_dio DEV OFFSET LEN TAG\n");
		return 2;
	}
	off = strtoull(argv[2], NULL, 0);
	len = strtoull(argv[3], NULL, 0);
	tl = strlen(argv[4]);
	if (!len || len % SKEW || !tl)
		return 2;
	for (i = 0; i < PAGE; i++)
		page[i] = i % (tl + 1) == tl ? '\n' : argv[4][i % (tl + 1)];

	mfd = syscall(SYS_memfd_create, "vblk_dio", 0);
	if (mfd < 0 || ftruncate(mfd, PAGE) < 0)
		return fail("memfd");
	npages = (SKEW + len + PAGE - 1) / PAGE;
	base = mmap(NULL, npages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (base == MAP_FAILED)
		return fail("mmap");
	for (i = 0; i < npages; i++) {
		if (mmap(base + i * PAGE, PAGE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, mfd, 0) == MAP_FAILED)
			return fail("mmap the page");
	}
	memcpy(base, page, PAGE);
	buf = base + SKEW;

	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0)
		return fail(argv[1]);
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		return fail("O_DIRECT write");
	if (fdatasync(fd) < 0)
		return fail("fdatasync");
	memset(base, 0, PAGE);
	if (pread(fd, buf, len, off) != (ssize_t)len)
		return fail("O_DIRECT read");
	if (memcmp(base, page, PAGE)) {
		printf("vblk_dio: read back differs\n");
		return 1;
	}
	printf("vblk_dio: ok, %llu bytes at %llu from page+%d\n", len, off, SKEW);
	return 0;
}
