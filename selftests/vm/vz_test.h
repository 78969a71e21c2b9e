/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the in-VM selftests. */
#ifndef VZ_TEST_H
#define VZ_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/virtz.h>
#include <linux/virtz_fvm.h>
#include <linux/virtz_wl.h>

struct vz_mod {
	const char *name;	/* module name */
	const char *family;	/* genl family */
	const char *dev;	/* /dev node */
	int maxattr;
	unsigned int api;
	unsigned long long min_features;	/* must be reported */
	unsigned long long known_features;	/* may be reported */
};

static const struct vz_mod vz_mods[] = {
	{ "virtz_fvm", VIRTZ_FVM_GENL_NAME, "/dev/" VIRTZ_BLOCK_DEV_NAME,
	  VIRTZ_FVM_A_MAX, VIRTZ_FVM_GENL_VERSION, VIRTZ_FVM_F_FORMAT_V1,
	  VIRTZ_FVM_F_ALL },
	{ "virtz_vsock", VIRTZ_GENL_NAME, "/dev/" VIRTZ_VSOCK_DEV_NAME,
	  VIRTZ_A_MAX, VIRTZ_GENL_VERSION, 0, 0 },
	{ "virtz_wl", VIRTZ_WL_GENL_NAME, "/dev/" VIRTZ_WL_DEV_NAME,
	  VIRTZ_WL_A_MAX, VIRTZ_WL_GENL_VERSION, 0, 0 },
};

#define VZ_N_MODS (sizeof(vz_mods) / sizeof(vz_mods[0]))

static inline bool vz_mod_loaded(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return stat(path, &st) == 0;
}

/* Path of a freshly built module: $VIRTZ_TOP/kmod/<name>/<name>.ko. */
static inline void vz_mod_path(const char *name, char *buf, size_t len)
{
	const char *top = getenv("VIRTZ_TOP");

	snprintf(buf, len, "%s/kmod/%s/%s.ko", top ? top : ".", name, name);
}

/* finit_module(); returns 0 or -errno. */
static inline int vz_mod_load(const char *name)
{
	char path[PATH_MAX];
	int fd, ret;

	vz_mod_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

/* delete_module() without waiting; returns 0 or -errno. */
static inline int vz_mod_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

#endif
