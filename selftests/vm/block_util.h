/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the block session selftests (selftests/vm/block_*.c). */
#ifndef BLOCK_UTIL_H
#define BLOCK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vzblock.h"

/* A null_blk device made through configfs, private to one test. */
struct nullb {
	char name[64];		/* configfs directory name */
	char dev[80];		/* /dev/<name>, or /dev/nullbN before 5.19 */
};

/*
 * Creates a memory-backed null_blk device of @size_mb MiB with @bs-byte
 * blocks; @extra is "attr=value ..." applied before power-on (discard=1,
 * irqmode=2 completion_nsec=..., cache_size=..., fua=...).  0 or -errno.
 */
int nullb_create(struct nullb *nb, unsigned int size_mb, unsigned int bs,
		 const char *extra);
int nullb_set(const struct nullb *nb, const char *attr, const char *val);
void nullb_destroy(struct nullb *nb);

/* True if @path is a block device node. */
bool is_blockdev(const char *path);

/* pread/pwrite through O_DIRECT, bypassing the page cache; 0 or -errno. */
int direct_read(const char *dev, uint64_t off, void *buf, size_t len);
int direct_write(const char *dev, uint64_t off, const void *buf, size_t len);

/*
 * A memfd of @size bytes, every byte @byte, mapped shared: returns the
 * mapping (the caller munmaps it and closes *@fd), or NULL.
 */
uint8_t *memfd_filled(const char *name, size_t size, int byte, int *fd);

/* Deterministic pattern: byte i of the stream seeded by @seed. */
void fill_pattern(void *buf, size_t len, uint32_t seed);

/* Submits one request and waits for its response; returns its status. */
int run1(int sfd, const struct virtz_block_fifo_request *req,
	 struct virtz_block_fifo_response *resp);

/* Runs a shell command; returns its exit status, or -1. */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
