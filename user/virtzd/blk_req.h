/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-blk requests (virtio 1.x, section 5.2), parsed from a descriptor
 * chain that virtq_pop() already bounded to guest RAM.
 *
 * The guest owns every byte of the chain and may change it at any time,
 * so the header and discard ranges are copied once, here, and everything
 * after works on the copies.  The layout is not assumed (VERSION_1 implies
 * ANY_LAYOUT): the 16-byte header is the first 16 readable bytes, the
 * status is the last writable byte, and the data is what lies between, in
 * the direction the request type demands.
 *
 * Kept free of KVM, threads and I/O so that host tests and a fuzzer can
 * drive it.
 */
#ifndef VIRTZD_BLK_REQ_H
#define VIRTZD_BLK_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtq.h"

#define VIRTIO_BLK_T_IN			0
#define VIRTIO_BLK_T_OUT		1
#define VIRTIO_BLK_T_FLUSH		4
#define VIRTIO_BLK_T_GET_ID		8
#define VIRTIO_BLK_T_DISCARD		11
#define VIRTIO_BLK_T_WRITE_ZEROES	13

#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2

#define VIRTIO_BLK_ID_BYTES	20	/* MAX_BLOCK_DEVICE_ID_SIZE */
#define VBLK_SECTOR		512ULL
#define VBLK_MAX_RANGES		16	/* max_discard_seg, max_write_zeroes_seg */
#define VBLK_MAX_RANGE_SECTORS	(1U << 22)	/* 2 GiB per discard range */
#define VBLK_WZ_UNMAP		1

/* What a request is checked against. */
struct vblk_geom {
	uint64_t sectors;	/* capacity in 512-byte sectors */
	uint32_t block_size;	/* bytes; data lengths and offsets are multiples */
	bool ro;
	bool discard;		/* DISCARD offered */
	bool write_zeroes;	/* WRITE_ZEROES offered */
	/* WRITE_ZEROES limits (max_write_zeroes_sectors and _seg). */
	uint32_t wz_max_sectors;
	uint32_t wz_max_seg;
};

struct vblk_range {
	uint64_t sector;
	uint32_t sectors;
	uint32_t flags;
};

/* One parsed request.  @status is VBLK_PENDING until someone answers it. */
#define VBLK_PENDING	0xff

struct vblk_req {
	uint16_t head;
	uint32_t type;
	uint64_t sector;
	uint8_t status;		/* VIRTIO_BLK_S_* or VBLK_PENDING */
	uint8_t *status_ptr;	/* the guest's status byte */
	struct iovec iov[VIRTQ_MAX_SEGS];
	int niov;
	uint64_t len;		/* data bytes */
	uint32_t written;	/* bytes into the guest's buffers, status included */
	struct vblk_range range[VBLK_MAX_RANGES];
	int nrange;

	/* Owned by the device, not the parser. */
	struct vblk_req *next;
	uint32_t gen;
	int pending_ops;	/* backend operations still in flight */
	int err;
	bool fua;		/* durable on completion: no FLUSH negotiated */
};

/*
 * Parses chain @e.  Returns 0 with @r filled: either @r->status is
 * VBLK_PENDING (to be carried out: IN, OUT, FLUSH, DISCARD, WRITE_ZEROES
 * with their data and ranges checked) or an answer is already decided
 * (IOERR for a bad range or layout, UNSUPP for an unknown type).  GET_ID
 * comes back PENDING with its buffer in iov[0] (the caller has the id).
 * Returns -EINVAL when the chain has no writable status byte: it cannot
 * even be answered, and the device should be marked broken.
 */
int vblk_parse(const struct vblk_geom *g, const struct virtq_elem *e,
	       struct vblk_req *r);

/* Answers @r: writes the status byte and sets @r->written. */
void vblk_finish(struct vblk_req *r, uint8_t status);

/* pread() of exactly @len bytes at @off, retrying short reads; -EIO else. */
int vblk_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Name of a request type, for messages ("in", "out", ...) or "?". */
const char *vblk_type_name(uint32_t type);

#endif
