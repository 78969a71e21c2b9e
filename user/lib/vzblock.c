// SPDX-License-Identifier: GPL-2.0
/* vzblock: client for /dev/virtz-block sessions (see vzblock.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/virtz_fvm.h>

#include "vzblock.h"

/* Fuchsia's wire layout, field by field (the kernel checks it too). */
#define WIRE(type, field, off)						\
	_Static_assert(offsetof(struct type, field) == (off), #field)
WIRE(virtz_block_fifo_request, opcode, 0);
WIRE(virtz_block_fifo_request, flags, 4);
WIRE(virtz_block_fifo_request, reqid, 8);
WIRE(virtz_block_fifo_request, group, 12);
WIRE(virtz_block_fifo_request, vmoid, 14);
WIRE(virtz_block_fifo_request, length, 16);
WIRE(virtz_block_fifo_request, total_compressed_bytes, 20);
WIRE(virtz_block_fifo_request, vmo_offset, 24);
WIRE(virtz_block_fifo_request, dev_offset, 32);
WIRE(virtz_block_fifo_request, trace_flow_id, 40);
WIRE(virtz_block_fifo_request, dun, 48);
WIRE(virtz_block_fifo_request, slot, 56);
WIRE(virtz_block_fifo_request, compressed_prefix_bytes, 58);
WIRE(virtz_block_fifo_request, uncompressed_bytes, 60);
WIRE(virtz_block_fifo_response, status, 0);
WIRE(virtz_block_fifo_response, reqid, 4);
WIRE(virtz_block_fifo_response, group, 8);
WIRE(virtz_block_fifo_response, count, 12);
_Static_assert(sizeof(struct virtz_block_fifo_request) == 64, "request");
_Static_assert(sizeof(struct virtz_block_fifo_response) == 64, "response");

int vzb_open(int bdev_fd, const struct virtz_block_offset_map *map)
{
	struct virtz_block_open_session o = { .bdev_fd = bdev_fd };
	int ctl, sfd, err;

	if (map) {
		o.flags = VIRTZ_BLOCK_OPEN_OFFSET_MAP;
		o.map = *map;
	}
	ctl = open("/dev/" VIRTZ_BLOCK_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	sfd = ioctl(ctl, VIRTZ_BLOCK_IOC_OPEN_SESSION, &o);
	err = errno;
	close(ctl);
	return sfd < 0 ? -err : sfd;
}

int vzb_open_path(const char *path, int ro,
		  const struct virtz_block_offset_map *map)
{
	int fd, sfd;

	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	sfd = vzb_open(fd, map);
	close(fd);
	return sfd;
}

int vzb_get_info(int sfd, struct virtz_block_info *info)
{
	return ioctl(sfd, VIRTZ_BLOCK_IOC_GET_INFO, info) ? -errno : 0;
}

static int attach(int sfd, struct virtz_block_attach_vmo *a, uint16_t *vmoid)
{
	if (ioctl(sfd, VIRTZ_BLOCK_IOC_ATTACH_VMO, a))
		return -errno;
	*vmoid = a->vmoid;
	return 0;
}

int vzb_attach_memfd(int sfd, int memfd, uint64_t offset, uint64_t size,
		     uint32_t flags, uint16_t *vmoid)
{
	struct virtz_block_attach_vmo a = {
		.fd = memfd, .flags = flags, .offset = offset, .size = size,
	};

	return attach(sfd, &a, vmoid);
}

int vzb_attach_mem(int sfd, void *addr, uint64_t size, uint32_t flags,
		   uint16_t *vmoid)
{
	struct virtz_block_attach_vmo a = {
		.fd = -1, .flags = flags, .addr = (uintptr_t)addr, .size = size,
	};

	return attach(sfd, &a, vmoid);
}

void vzb_req(struct virtz_block_fifo_request *r, uint8_t opcode,
	     uint32_t flags, uint32_t reqid, uint16_t vmoid, uint32_t length,
	     uint64_t vmo_offset, uint64_t dev_offset)
{
	memset(r, 0, sizeof(*r));
	r->opcode = opcode;
	r->flags = flags;
	r->reqid = reqid;
	r->vmoid = vmoid;
	r->length = length;
	r->vmo_offset = vmo_offset;
	r->dev_offset = dev_offset;
}

ssize_t vzb_submit(int sfd, const struct virtz_block_fifo_request *reqs,
		   size_t n)
{
	ssize_t ret = write(sfd, reqs, n * sizeof(*reqs));

	return ret < 0 ? -errno : ret / (ssize_t)sizeof(*reqs);
}

ssize_t vzb_reap(int sfd, struct virtz_block_fifo_response *resps, size_t max)
{
	ssize_t ret = read(sfd, resps, max * sizeof(*resps));

	return ret < 0 ? -errno : ret / (ssize_t)sizeof(*resps);
}

int vzb_submit_reap(int sfd, const struct virtz_block_fifo_request *reqs,
		    uint32_t *nreq, struct virtz_block_fifo_response *resps,
		    uint32_t *nresp, uint32_t min_resp)
{
	struct virtz_block_submit_reap sr = {
		.requests = (uintptr_t)reqs,
		.responses = (uintptr_t)resps,
		.nr_requests = *nreq,
		.nr_responses = *nresp,
		.min_responses = min_resp,
	};

	if (ioctl(sfd, VIRTZ_BLOCK_IOC_SUBMIT_REAP, &sr))
		return -errno;
	*nreq = sr.nr_requests;
	*nresp = sr.nr_responses;
	return 0;
}

/* Requests of @reqs that get no answer: items of an out-of-range group. */
static size_t answers_due(const struct virtz_block_fifo_request *reqs,
			  size_t n)
{
	size_t i, expect = n;

	for (i = 0; i < n; i++)
		if ((reqs[i].flags & VIRTZ_BLOCK_IO_GROUP_ITEM) &&
		    !(reqs[i].flags & VIRTZ_BLOCK_IO_GROUP_LAST) &&
		    reqs[i].group >= VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT)
			expect--;
	return expect;
}

ssize_t vzb_run_ioctl(int sfd, const struct virtz_block_fifo_request *reqs,
		      size_t n, struct virtz_block_fifo_response *resps)
{
	size_t sent = 0, answered = 0, nresp = 0, expect = answers_due(reqs, n);
	size_t i;
	int err;

	while (answered < expect && nresp < n) {
		uint32_t nreq = n - sent, nr = n - nresp;

		err = vzb_submit_reap(sfd, reqs + sent, &nreq, resps + nresp,
				      &nr, 1);
		if (err && err != -EINTR)
			return err;
		if (err)
			continue;
		sent += nreq;
		for (i = nresp; i < nresp + nr; i++)
			answered += resps[i].count ? resps[i].count : 1;
		nresp += nr;
	}
	return nresp;
}

ssize_t vzb_run(int sfd, const struct virtz_block_fifo_request *reqs,
		size_t n, struct virtz_block_fifo_response *resps)
{
	size_t sent = 0, answered = 0, nresp = 0, expect = answers_due(reqs, n);
	size_t i;
	ssize_t k;

	while (answered < expect && nresp < n) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };

		/* Never block in write(): the FIFO may be full of answers. */
		if (sent < n)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd.revents & POLLOUT) {
			k = vzb_submit(sfd, reqs + sent, n - sent);
			if (k < 0 && k != -EAGAIN)
				return k;
			if (k > 0)
				sent += k;
		}
		if (pfd.revents & POLLIN) {
			k = vzb_reap(sfd, resps + nresp, n - nresp);
			if (k < 0 && k != -EAGAIN)
				return k;
			for (i = nresp; k > 0 && i < nresp + (size_t)k; i++)
				answered += resps[i].count ? resps[i].count : 1;
			if (k > 0)
				nresp += k;
		}
	}
	return nresp;
}

size_t vzb_decode_bytes(const uint8_t *data, size_t size,
			struct virtz_block_fifo_request *out, size_t max)
{
	size_t n = 0;

	while (size && n < max) {
		size_t take = size < sizeof(*out) ? size : sizeof(*out);

		memset(&out[n], 0, sizeof(*out));
		memcpy(&out[n], data, take);
		data += take;
		size -= take;
		n++;
	}
	return n;
}

const char *vzb_op_name(uint8_t opcode)
{
	static const char *const names[] = {
		[VIRTZ_BLOCK_OP_READ] = "read",
		[VIRTZ_BLOCK_OP_WRITE] = "write",
		[VIRTZ_BLOCK_OP_FLUSH] = "flush",
		[VIRTZ_BLOCK_OP_TRIM] = "trim",
		[VIRTZ_BLOCK_OP_CLOSE_VMO] = "close-vmo",
	};

	return opcode < sizeof(names) / sizeof(names[0]) ? names[opcode] : NULL;
}
