// SPDX-License-Identifier: GPL-2.0
/* virtio-blk request parsing; see blk_req.h for the trust model. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "blk_req.h"

#define HDR_BYTES	16
#define RANGE_BYTES	16

/* Copies @len bytes from offset @off of segments @s into @dst. */
static void gather(const struct virtq_seg *s, int n, uint64_t off,
		   uint8_t *dst, uint64_t len)
{
	int i;

	for (i = 0; i < n && len; i++) {
		uint64_t take;

		if (off >= s[i].len) {
			off -= s[i].len;
			continue;
		}
		take = s[i].len - off;
		if (take > len)
			take = len;
		memcpy(dst, s[i].ptr + off, take);
		dst += take;
		len -= take;
		off = 0;
	}
}

/* Appends segments @s from byte @off, @len bytes in all, to @r's iovec. */
static void add_data(struct vblk_req *r, const struct virtq_seg *s, int n,
		     uint64_t off, uint64_t len)
{
	int i;

	r->len = len;
	for (i = 0; i < n && len; i++) {
		uint64_t take;

		if (off >= s[i].len) {
			off -= s[i].len;
			continue;
		}
		take = s[i].len - off;
		if (take > len)
			take = len;
		r->iov[r->niov].iov_base = s[i].ptr + off;
		r->iov[r->niov].iov_len = take;
		r->niov++;
		len -= take;
		off = 0;
	}
}

/* Is [sector, sector + n) inside the disk and aligned to its blocks? */
static bool range_ok(const struct vblk_geom *g, uint64_t sector, uint64_t n)
{
	uint64_t spb = g->block_size / VBLK_SECTOR;

	if (sector > g->sectors || n > g->sectors - sector)
		return false;
	return spb <= 1 || (!(sector % spb) && !(n % spb));
}

static uint8_t parse_ranges(const struct vblk_geom *g,
			    const struct virtq_elem *e, struct vblk_req *r,
			    uint64_t out_data)
{
	uint8_t raw[VBLK_MAX_RANGES * RANGE_BYTES];
	int i;

	if ((r->type == VIRTIO_BLK_T_DISCARD && !g->discard) ||
	    (r->type == VIRTIO_BLK_T_WRITE_ZEROES && !g->write_zeroes))
		return VIRTIO_BLK_S_UNSUPP;
	if (g->ro)
		return VIRTIO_BLK_S_IOERR;
	if (!out_data || out_data % RANGE_BYTES ||
	    out_data / RANGE_BYTES > VBLK_MAX_RANGES || e->in_bytes != 1)
		return VIRTIO_BLK_S_IOERR;
	r->nrange = out_data / RANGE_BYTES;
	if (r->type == VIRTIO_BLK_T_WRITE_ZEROES &&
	    (uint32_t)r->nrange > g->wz_max_seg)
		return VIRTIO_BLK_S_IOERR;
	gather(e->out, e->n_out, HDR_BYTES, raw, out_data);
	for (i = 0; i < r->nrange; i++) {
		struct vblk_range *x = &r->range[i];

		memcpy(&x->sector, raw + i * RANGE_BYTES, 8);
		memcpy(&x->sectors, raw + i * RANGE_BYTES + 8, 4);
		memcpy(&x->flags, raw + i * RANGE_BYTES + 12, 4);
		if (x->flags & ~(uint32_t)VBLK_WZ_UNMAP ||
		    (r->type == VIRTIO_BLK_T_DISCARD && x->flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (!x->sectors || x->sectors > VBLK_MAX_RANGE_SECTORS ||
		    (r->type == VIRTIO_BLK_T_WRITE_ZEROES &&
		     x->sectors > g->wz_max_sectors) ||
		    !range_ok(g, x->sector, x->sectors))
			return VIRTIO_BLK_S_IOERR;
	}
	return VBLK_PENDING;
}

static uint8_t parse_body(const struct vblk_geom *g,
			  const struct virtq_elem *e, struct vblk_req *r,
			  int last_in, uint32_t last_len)
{
	uint8_t hdr[HDR_BYTES];
	uint64_t out_data, in_data = e->in_bytes - 1;
	struct virtq_seg in[VIRTQ_MAX_SEGS];
	int n_in = last_in + 1;

	if (e->out_bytes < HDR_BYTES)
		return VIRTIO_BLK_S_IOERR;
	gather(e->out, e->n_out, 0, hdr, HDR_BYTES);
	memcpy(&r->type, hdr, 4);
	memcpy(&r->sector, hdr + 8, 8);
	out_data = e->out_bytes - HDR_BYTES;

	/* The writable segments up to the status byte, which is not data. */
	memcpy(in, e->in, sizeof(in[0]) * n_in);
	in[last_in].len = last_len;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		if (out_data || in_data % VBLK_SECTOR ||
		    !range_ok(g, r->sector, in_data / VBLK_SECTOR))
			return VIRTIO_BLK_S_IOERR;
		add_data(r, in, n_in, 0, in_data);
		return VBLK_PENDING;
	case VIRTIO_BLK_T_OUT:
		if (g->ro || in_data || out_data % VBLK_SECTOR ||
		    !range_ok(g, r->sector, out_data / VBLK_SECTOR))
			return VIRTIO_BLK_S_IOERR;
		add_data(r, e->out, e->n_out, HDR_BYTES, out_data);
		return VBLK_PENDING;
	case VIRTIO_BLK_T_FLUSH:
		if (in_data)
			return VIRTIO_BLK_S_IOERR;
		return VBLK_PENDING;
	case VIRTIO_BLK_T_GET_ID:
		if (out_data || !in_data)
			return VIRTIO_BLK_S_IOERR;
		add_data(r, in, n_in, 0,
			 in_data < VIRTIO_BLK_ID_BYTES ? in_data : VIRTIO_BLK_ID_BYTES);
		return VBLK_PENDING;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_ranges(g, e, r, out_data);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

int vblk_parse(const struct vblk_geom *g, const struct virtq_elem *e,
	       struct vblk_req *r)
{
	int last_in;

	r->head = e->head;
	r->type = (uint32_t)-1;
	r->sector = 0;
	r->niov = 0;
	r->len = 0;
	r->nrange = 0;
	r->written = 0;
	r->status_ptr = NULL;
	/* Backends count on a clean error (the session backend did not reset it). */
	r->err = 0;
	r->pending_ops = 0;

	/* The status is the last writable byte: skip empty trailing segments. */
	for (last_in = e->n_in - 1; last_in >= 0; last_in--)
		if (e->in[last_in].len)
			break;
	if (last_in < 0)
		return -EINVAL;
	r->status_ptr = e->in[last_in].ptr + e->in[last_in].len - 1;
	r->status = parse_body(g, e, r, last_in, e->in[last_in].len - 1);
	if (r->status != VBLK_PENDING) {
		r->niov = 0;
		r->len = 0;
		r->nrange = 0;
	}
	return 0;
}

void vblk_finish(struct vblk_req *r, uint8_t status)
{
	r->status = status;
	r->written = 1;
	if (status == VIRTIO_BLK_S_OK &&
	    (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID))
		r->written += r->len;
	*r->status_ptr = status;
}

const char *vblk_type_name(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN: return "in";
	case VIRTIO_BLK_T_OUT: return "out";
	case VIRTIO_BLK_T_FLUSH: return "flush";
	case VIRTIO_BLK_T_GET_ID: return "get-id";
	case VIRTIO_BLK_T_DISCARD: return "discard";
	case VIRTIO_BLK_T_WRITE_ZEROES: return "write-zeroes";
	default: return "?";
	}
}

int vblk_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t at = 0;

	while (at < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + at, len - at, off + at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		at += n;
	}
	return 0;
}
