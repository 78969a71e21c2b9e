// SPDX-License-Identifier: GPL-2.0
/*
 * vblk_zero DEV OFFSET LEN: run inside a nested guest by
 * selftests/vm/test_vblk_session.py.  Zeroes LEN bytes of DEV from byte
 * OFFSET with BLKZEROOUT, which a virtio-blk disk that offers
 * WRITE_ZEROES carries out as WRITE_ZEROES requests (busybox has no
 * "blkdiscard -z").  Prints "zeroout rc=0", or the error and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fs.h>

int main(int argc, char **argv)
{
	uint64_t range[2];
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: vblk_zero DEV OFFSET LEN\n");
		return 2;
	}
	range[0] = strtoull(argv[2], NULL, 0);
	range[1] = strtoull(argv[3], NULL, 0);
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || ioctl(fd, BLKZEROOUT, range)) {
		printf("zeroout: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	close(fd);
	printf("zeroout rc=0\n");
	return 0;
}
