/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vzblock: a small client for /dev/virtz-block sessions.
 *
 * Functions return 0 (or a count) on success and a negative errno on
 * failure; none of them prints anything.
 */
#ifndef VZBLOCK_H
#define VZBLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/virtz_block.h>

/*
 * Opens a session on the block device open as @bdev_fd, through the
 * control device (opened and closed here).  @map may be NULL.  Returns
 * the session fd (close-on-exec) or -errno.
 */
int vzb_open(int bdev_fd, const struct virtz_block_offset_map *map);
/* The same, opening @path first (read-write, or read-only if @ro). */
int vzb_open_path(const char *path, int ro,
		  const struct virtz_block_offset_map *map);

int vzb_get_info(int sfd, struct virtz_block_info *info);

/* Attaches @size bytes of @memfd from @offset (size 0: to its end). */
int vzb_attach_memfd(int sfd, int memfd, uint64_t offset, uint64_t size,
		     uint32_t flags, uint16_t *vmoid);
/* Attaches @size bytes of this process's memory at @addr. */
int vzb_attach_mem(int sfd, void *addr, uint64_t size, uint32_t flags,
		   uint16_t *vmoid);

/* Fills @r for READ/WRITE/TRIM/FLUSH/CLOSE_VMO; the rest is zeroed. */
void vzb_req(struct virtz_block_fifo_request *r, uint8_t opcode,
	     uint32_t flags, uint32_t reqid, uint16_t vmoid, uint32_t length,
	     uint64_t vmo_offset, uint64_t dev_offset);

/*
 * Submits up to @n requests; returns how many the kernel took (it takes
 * none and returns -EAGAIN on a full FIFO of a non-blocking session).
 */
ssize_t vzb_submit(int sfd, const struct virtz_block_fifo_request *reqs,
		   size_t n);
/* Reaps up to @max responses, waiting for the first unless non-blocking. */
ssize_t vzb_reap(int sfd, struct virtz_block_fifo_response *resps,
		 size_t max);

/*
 * VIRTZ_BLOCK_IOC_SUBMIT_REAP: submits up to *@nreq requests without
 * waiting for room, then reaps up to *@nresp responses, waiting for
 * @min_resp (or until nothing is in flight).  Updates *@nreq and *@nresp
 * to what was done; returns 0 or -errno.
 */
int vzb_submit_reap(int sfd, const struct virtz_block_fifo_request *reqs,
		    uint32_t *nreq, struct virtz_block_fifo_response *resps,
		    uint32_t *nresp, uint32_t min_resp);

/*
 * Submits @n requests and waits until they are all answered, counting a
 * group's response as its count.  @resps (room for @n) receives the
 * responses in arrival order; returns how many there were, or -errno.
 */
ssize_t vzb_run(int sfd, const struct virtz_block_fifo_request *reqs,
		size_t n, struct virtz_block_fifo_response *resps);
/* The same through vzb_submit_reap(): one system call per round. */
ssize_t vzb_run_ioctl(int sfd, const struct virtz_block_fifo_request *reqs,
		      size_t n, struct virtz_block_fifo_response *resps);

/*
 * Request encoder for fuzzers and tools: turns arbitrary bytes into a
 * request, taking 64 bytes at a time; a short tail is zero-padded.
 * Returns how many requests were written to @out (at most @max).
 */
size_t vzb_decode_bytes(const uint8_t *data, size_t size,
			struct virtz_block_fifo_request *out, size_t max);

/* Name of an opcode ("read", ...) or NULL. */
const char *vzb_op_name(uint8_t opcode);

#endif
