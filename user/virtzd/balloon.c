// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-balloon: inflate (queue 0), deflate (1) and statistics (2).
 * Knows nothing of its transport: everything goes through virtio_dev.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "balloon.h"
#include "virtio.h"

#define VIRTIO_ID_BALLOON		5
#define VIRTIO_BALLOON_F_STATS_VQ	1
#define Q_INFLATE	0
#define Q_DEFLATE	1
#define Q_STATS		2
#define PFN_SHIFT	12	/* balloon PFNs are 4 KiB, whatever the arch */

/* All fields under dev.lock (see struct virtio_dev). */
struct balloon {
	struct virtio_dev dev;
	int mem_fd;
	uint32_t num_pages;	/* requested by the host */
	uint32_t actual;	/* reported by the guest */
	bool have_stats_buf;	/* the guest's stats buffer, held by us */
	uint16_t stats_head;
	uint64_t stats_seq;	/* bumped whenever new statistics arrive */
	int stats_efd;		/* signalled with each bump (not locked) */
	uint64_t vals[BALLOON_NUM_TAGS];
	uint16_t valid;		/* bit per tag seen in the last report */
	uint64_t punched;	/* pages returned to the host, ever */
};

static void config_read(struct virtio_dev *vd, uint32_t off, uint8_t *data,
			int len)
{
	struct balloon *b = vd->priv;
	uint32_t cfg[2] = { b->num_pages, b->actual };

	memcpy(data, (uint8_t *)cfg + off, len);
}

static void config_write(struct virtio_dev *vd, uint32_t off,
			 const uint8_t *data, int len)
{
	struct balloon *b = vd->priv;
	uint32_t cfg[2] = { b->num_pages, b->actual };

	/* Only 'actual' belongs to the driver. */
	if (off < 4)
		return;
	memcpy((uint8_t *)cfg + off, data, len);
	b->actual = cfg[1];
	pthread_cond_broadcast(&vd->cond);
}

static void punch(struct balloon *b, uint64_t first, uint64_t n)
{
	uint64_t off = first << PFN_SHIFT, len = n << PFN_SHIFT;

	if (fallocate(b->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      off, len) == 0)
		b->punched += n;
}

static void inflate(struct balloon *b, const struct virtq_elem *e)
{
	uint64_t npfn = b->dev.mem.size >> PFN_SHIFT;
	uint64_t run_start = 0, run_len = 0;
	int s;

	for (s = 0; s < e->n_out; s++) {
		uint32_t i;

		for (i = 0; i + 4 <= e->out[s].len; i += 4) {
			uint32_t pfn;

			memcpy(&pfn, e->out[s].ptr + i, 4);
			if (pfn >= npfn)
				continue;	/* not guest RAM: ignore */
			if (run_len && pfn == run_start + run_len) {
				run_len++;
				continue;
			}
			if (run_len)
				punch(b, run_start, run_len);
			run_start = pfn;
			run_len = 1;
		}
	}
	if (run_len)
		punch(b, run_start, run_len);
}

static void take_stats(struct balloon *b, const struct virtq_elem *e)
{
	uint8_t ent[10];
	int s, k = 0;

	b->valid = 0;
	for (s = 0; s < e->n_out; s++) {
		uint32_t i;

		for (i = 0; i < e->out[s].len; i++) {
			ent[k++] = e->out[s].ptr[i];
			if (k == sizeof(ent)) {
				uint16_t tag;
				uint64_t val;

				memcpy(&tag, ent, 2);
				memcpy(&val, ent + 2, 8);
				if (tag < BALLOON_NUM_TAGS) {
					b->vals[tag] = val;
					b->valid |= 1U << tag;
				}
				k = 0;
			}
		}
	}
	b->stats_seq++;
	eventfd_write(b->stats_efd, 1);
}

static void queue_notify(struct virtio_dev *vd, int q)
{
	struct balloon *b = vd->priv;
	struct virtq *vq = &vd->vq[q];
	struct virtq_elem e;
	bool used = false;
	int ret;

	while ((ret = virtq_pop(&vd->mem, vq, &e)) > 0) {
		if (q == Q_STATS) {
			/* Kept until the host wants fresh statistics. */
			if (b->have_stats_buf) {
				virtio_set_broken(vd, "second stats buffer");
				return;
			}
			take_stats(b, &e);
			b->have_stats_buf = true;
			b->stats_head = e.head;
			continue;
		}
		if (q == Q_INFLATE)
			inflate(b, &e);
		/* Deflated pages simply fault back in, zeroed. */
		if (virtq_push(&vd->mem, vq, e.head, 0)) {
			virtio_set_broken(vd, "used ring outside guest RAM");
			return;
		}
		used = true;
	}
	if (ret < 0) {
		virtio_set_broken(vd, "malformed descriptor chain");
		return;
	}
	if (used)
		vd->tops->signal_queue(vd, q);
}

static void balloon_reset(struct virtio_dev *vd)
{
	struct balloon *b = vd->priv;

	b->actual = 0;
	b->have_stats_buf = false;
	b->valid = 0;
}

static const struct virtio_dev_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.num_queues = 3,
	.features = 1ULL << VIRTIO_BALLOON_F_STATS_VQ,
	.config_size = 8,
	.config_read = config_read,
	.config_write = config_write,
	.queue_notify = queue_notify,
	.reset = balloon_reset,
};

struct balloon *balloon_create(struct vm *vm)
{
	struct balloon *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->mem_fd = vm->mem_fd;
	b->dev.ops = &balloon_ops;
	b->dev.priv = b;
	b->stats_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->stats_efd < 0 || virtio_pci_add(vm, &b->dev)) {
		if (b->stats_efd >= 0)
			close(b->stats_efd);
		free(b);
		return NULL;
	}
	return b;
}

uint32_t balloon_actual(struct balloon *b)
{
	uint32_t v;

	pthread_mutex_lock(&b->dev.lock);
	v = b->actual;
	pthread_mutex_unlock(&b->dev.lock);
	return v;
}

int balloon_request(struct balloon *b, uint32_t pages, char *err,
		    size_t errlen)
{
	uint64_t max = b->dev.mem.size >> PFN_SHIFT;

	if (pages > max) {
		snprintf(err, errlen, "%u pages is more than the guest's %llu",
			 pages, (unsigned long long)max);
		return -EINVAL;
	}
	pthread_mutex_lock(&b->dev.lock);
	b->num_pages = pages;
	b->dev.config_gen++;
	b->dev.tops->signal_config(&b->dev);
	pthread_mutex_unlock(&b->dev.lock);
	return 0;
}

int balloon_stats_fd(struct balloon *b)
{
	return b->stats_efd;
}

int balloon_stats_ask(struct balloon *b, uint64_t *seq, char *err,
		      size_t errlen)
{
	struct virtio_dev *vd = &b->dev;
	int ret = 0;

	pthread_mutex_lock(&vd->lock);
	if (vd->broken) {
		ret = -EIO;
		goto out;
	}
	*seq = b->stats_seq;
	if (b->have_stats_buf) {
		/* Returning the buffer is how the device asks for more. */
		b->have_stats_buf = false;
		if (virtq_push(&vd->mem, &vd->vq[Q_STATS], b->stats_head, 0)) {
			virtio_set_broken(vd, "used ring outside guest RAM");
			ret = -EIO;
			goto out;
		}
		vd->tops->signal_queue(vd, Q_STATS);
	}
out:
	pthread_mutex_unlock(&vd->lock);
	if (ret)
		snprintf(err, errlen, "the balloon device is broken (guest error)");
	return ret;
}

int balloon_stats_collect(struct balloon *b, uint64_t seq, uint16_t *tags,
			  uint64_t *vals, char *err, size_t errlen)
{
	struct virtio_dev *vd = &b->dev;
	int n = 0, t;

	pthread_mutex_lock(&vd->lock);
	if (vd->broken) {
		n = -EIO;
		snprintf(err, errlen, "the balloon device is broken (guest error)");
	} else if (b->stats_seq == seq) {
		n = -EAGAIN;
	} else {
		for (t = 0; t < BALLOON_NUM_TAGS; t++) {
			if (b->valid & (1U << t)) {
				tags[n] = t;
				vals[n++] = b->vals[t];
			}
		}
	}
	pthread_mutex_unlock(&vd->lock);
	return n;
}
