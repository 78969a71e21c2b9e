// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the block session selftests. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block_util.h"

#define NULLB_CFS "/sys/kernel/config/nullb"

int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

bool is_blockdev(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISBLK(st.st_mode);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

int nullb_set(const struct nullb *nb, const char *attr, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), NULLB_CFS "/%s/%s", nb->name, attr);
	return write_file(path, val);
}

static int nullb_ready(void)
{
	if (!access(NULLB_CFS, F_OK))
		return 0;
	sh("modprobe null_blk nr_devices=0 >/dev/null 2>&1");
	if (access(NULLB_CFS, F_OK))
		mount("configfs", "/sys/kernel/config", "configfs", 0, NULL);
	return access(NULLB_CFS, F_OK) ? -ENODEV : 0;
}

int nullb_create(struct nullb *nb, unsigned int size_mb, unsigned int bs,
		 const char *extra)
{
	static int seq;
	char path[256], val[64], *opts, *tok, *save;
	int err, fd;
	ssize_t n;

	memset(nb, 0, sizeof(*nb));
	err = nullb_ready();
	if (err)
		return err;
	snprintf(nb->name, sizeof(nb->name), "vzb-%d-%d", getpid(), seq++);
	snprintf(path, sizeof(path), NULLB_CFS "/%s", nb->name);
	if (mkdir(path, 0755))
		return -errno;

	snprintf(val, sizeof(val), "%u", size_mb);
	err = nullb_set(nb, "size", val);
	snprintf(val, sizeof(val), "%u", bs);
	err = err ?: nullb_set(nb, "blocksize", val);
	err = err ?: nullb_set(nb, "memory_backed", "1");
	opts = strdup(extra ? extra : "");
	for (tok = strtok_r(opts, " ", &save); tok && !err;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			err = -EINVAL;
			break;
		}
		*eq = 0;
		err = nullb_set(nb, tok, eq + 1);
	}
	free(opts);
	err = err ?: nullb_set(nb, "power", "1");
	if (err)
		goto fail;

	snprintf(path, sizeof(path), NULLB_CFS "/%s/index", nb->name);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	n = read(fd, val, sizeof(val) - 1);
	close(fd);
	if (n <= 0) {
		err = -EIO;
		goto fail;
	}
	val[n] = 0;
	/* Since 5.19 the disk takes the configfs directory's name. */
	snprintf(nb->dev, sizeof(nb->dev), "/dev/%s", nb->name);
	if (!is_blockdev(nb->dev))
		snprintf(nb->dev, sizeof(nb->dev), "/dev/nullb%d", atoi(val));
	if (!is_blockdev(nb->dev)) {
		err = -ENODEV;
		goto fail;
	}
	return 0;
fail:
	nullb_destroy(nb);
	return err;
}

void nullb_destroy(struct nullb *nb)
{
	char path[256];

	if (!nb->name[0])
		return;
	nullb_set(nb, "power", "0");
	snprintf(path, sizeof(path), NULLB_CFS "/%s", nb->name);
	rmdir(path);
	nb->name[0] = 0;
}

static int direct_io(const char *dev, uint64_t off, void *buf, size_t len,
		     bool wr)
{
	void *bounce;
	int fd, err = 0;
	ssize_t n;

	fd = open(dev, (wr ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return -errno;
	if (posix_memalign(&bounce, 4096, len)) {
		close(fd);
		return -ENOMEM;
	}
	if (wr)
		memcpy(bounce, buf, len);
	n = wr ? pwrite(fd, bounce, len, off) : pread(fd, bounce, len, off);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	else if (!wr)
		memcpy(buf, bounce, len);
	free(bounce);
	close(fd);
	return err;
}

int direct_read(const char *dev, uint64_t off, void *buf, size_t len)
{
	return direct_io(dev, off, buf, len, false);
}

int direct_write(const char *dev, uint64_t off, const void *buf, size_t len)
{
	return direct_io(dev, off, (void *)buf, len, true);
}

void fill_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = x;
	}
}

int run1(int sfd, const struct virtz_block_fifo_request *req,
	 struct virtz_block_fifo_response *resp)
{
	ssize_t n = vzb_run(sfd, req, 1, resp);

	if (n != 1)
		return n < 0 ? (int)n : -EPROTO;
	return resp->status;
}

uint8_t *memfd_filled(const char *name, size_t size, int byte, int *fd)
{
	uint8_t *m;

	*fd = memfd_create(name, MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	if (ftruncate(*fd, size))
		goto fail;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	memset(m, byte, size);
	return m;
fail:
	close(*fd);
	*fd = -1;
	return NULL;
}
