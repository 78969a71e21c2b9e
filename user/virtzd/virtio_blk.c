// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-blk on whatever transport carries it (virtio_pci.c today).
 *
 * The disk's I/O thread serves the queue's kicks itself (its own
 * notification eventfd, virtio_dev_ops.queue_eventfd): with dev.lock held
 * it parses each chain (blk_req.c: hostile input, copied once, checked
 * against the disk), answers what needs no I/O at once (errors, GET_ID),
 * and hands the rest to the backend (blk_backend.h).  Answers come back through vblk_done(), which
 * takes dev.lock to fill the used ring.  No vCPU thread ever waits for
 * the backing.
 *
 * A device reset bumps @gen: requests still with the backend finish their
 * I/O (guest RAM stays mapped) but are not returned to the new rings.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk_backend.h"
#include "virtio.h"
#include "virtio_blk.h"
#include "vzctlsock.h"

#define VIRTIO_ID_BLOCK			2
#define VIRTIO_BLK_F_SIZE_MAX		1
#define VIRTIO_BLK_F_SEG_MAX		2
#define VIRTIO_BLK_F_RO			5
#define VIRTIO_BLK_F_BLK_SIZE		6
#define VIRTIO_BLK_F_FLUSH		9
#define VIRTIO_BLK_F_DISCARD		13
#define VIRTIO_BLK_F_WRITE_ZEROES	14
#define CONFIG_SIZE			60
/*
 * Data segments per request.  Header and status take a descriptor each
 * (Linux puts them apart).  With indirect descriptors a request takes one
 * ring entry and its table may hold VIRTQ_MAX_SEGS descriptors, so 254
 * data segments, as QEMU offers: a 1 MiB request from scattered 4 KiB
 * guest pages then comes in two requests, not five.  Without them each
 * descriptor is a ring entry, and a request of 64 leaves room in the
 * ring of 256 for others.
 */
#define SEG_MAX_INDIRECT		(VIRTQ_MAX_SEGS - 2)
#define SEG_MAX_DIRECT			62
/*
 * Largest data segment.  Without it a Linux guest merges physically
 * contiguous pages into segments of any size, and a request may carry
 * seg_max of them; with it a request's data is at most seg_max *
 * size_max (254 * 16 KiB = 4064 KiB, or 62 * 32 KiB = 1984 KiB), which
 * leaves room in a chain's VIRTQ_MAX_BYTES (4 MiB) for the 16-byte
 * header.  (Without the cap, a 1 MiB O_DIRECT write from a contiguous
 * buffer once came as 1 MiB + 16 bytes against a 1 MiB chain limit and
 * was refused as a malformed chain, breaking the device.)
 */
#define SIZE_MAX_INDIRECT		(16U << 10)
#define SIZE_MAX_DIRECT			(32U << 10)
_Static_assert((uint64_t)SEG_MAX_INDIRECT * SIZE_MAX_INDIRECT + 16 <=
	       VIRTQ_MAX_BYTES && (uint64_t)SEG_MAX_DIRECT * SIZE_MAX_DIRECT +
	       16 <= VIRTQ_MAX_BYTES,
	       "a request of seg_max full segments must fit a chain");
_Static_assert(SEG_MAX_DIRECT + 2 <= VIRTQ_MAX_SEGS &&
	       SEG_MAX_DIRECT + 2 < VIRTQ_MAX_SIZE,
	       "a direct request must fit a chain and the ring");

struct vblk {
	struct virtio_dev dev;
	struct virtio_dev_ops ops;	/* features differ per disk */
	struct vm *vm;
	struct vblk_spec spec;
	char path[4096];
	uint8_t id[VIRTIO_BLK_ID_BYTES];	/* zero-padded */
	struct vblk_geom geom;
	struct blk_backend *be;
	const char *be_name;	/* the backing's, under a volatile overlay */
	int kick_efd;		/* wakes the I/O thread */
	int notify_efd;		/* the queue's kicks, served by the I/O thread */
	pthread_t io_thread;
	bool thread_started;

	/* Under dev.lock. */
	struct vblk_req *pending, **pending_tail;
	uint32_t gen;
	bool closed;
	bool signal_due;	/* answers pushed, the interrupt not yet */
};

static void config_read(struct virtio_dev *vd, uint32_t off, uint8_t *data,
			int len)
{
	struct vblk *v = vd->priv;
	uint8_t c[CONFIG_SIZE] = { 0 };
	bool ind = vd->driver_features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	uint32_t seg = ind ? SEG_MAX_INDIRECT : SEG_MAX_DIRECT;
	uint32_t size = ind ? SIZE_MAX_INDIRECT : SIZE_MAX_DIRECT;
	uint32_t bs = v->geom.block_size;
	uint32_t dmax = VBLK_MAX_RANGE_SECTORS, nseg = VBLK_MAX_RANGES;
	uint32_t align = bs / VBLK_SECTOR;

	memcpy(c + 0, &v->geom.sectors, 8);
	memcpy(c + 8, &size, 4);	/* size_max */
	memcpy(c + 12, &seg, 4);
	memcpy(c + 20, &bs, 4);
	memcpy(c + 36, &dmax, 4);	/* max_discard_sectors */
	memcpy(c + 40, &nseg, 4);	/* max_discard_seg */
	memcpy(c + 44, &align, 4);	/* discard_sector_alignment */
	memcpy(c + 48, &v->geom.wz_max_sectors, 4);	/* max_write_zeroes_sectors */
	memcpy(c + 52, &v->geom.wz_max_seg, 4);	/* max_write_zeroes_seg */
	c[56] = 1;			/* write_zeroes_may_unmap */
	memcpy(data, c + off, len);
}

static void config_write(struct virtio_dev *vd, uint32_t off,
			 const uint8_t *data, int len)
{
	/* Nothing in the config space is the driver's (no CONFIG_WCE). */
}

/*
 * Returns @r to the guest.  The interrupt comes once for everything
 * answered in one round of the I/O thread (io_thread()).  dev.lock held.
 */
static void push_locked(struct vblk *v, struct vblk_req *r)
{
	struct virtio_dev *vd = &v->dev;

	if (r->gen != v->gen || vd->broken || v->closed)
		return;
	if (virtq_push(&vd->mem, &vd->vq[0], r->head, r->written)) {
		virtio_set_broken(vd, "used ring outside guest RAM");
		return;
	}
	v->signal_due = true;
}

/* The backend's answer, on the I/O thread. */
static void vblk_done(void *ctx, struct vblk_req *r, uint8_t status)
{
	struct vblk *v = ctx;

	vblk_finish(r, status);
	pthread_mutex_lock(&v->dev.lock);
	push_locked(v, r);
	pthread_mutex_unlock(&v->dev.lock);
	free(r);
}

static void get_id(struct vblk *v, struct vblk_req *r)
{
	uint64_t at = 0;
	int i;

	for (i = 0; i < r->niov; i++) {
		memcpy(r->iov[i].iov_base, v->id + at, r->iov[i].iov_len);
		at += r->iov[i].iov_len;
	}
	vblk_finish(r, VIRTIO_BLK_S_OK);
}

/*
 * Takes every request off queue @q: answers what needs no backend, and
 * queues the rest on v->pending.  On the I/O thread, dev.lock held.
 */
static void take_requests(struct vblk *v, int q)
{
	struct virtio_dev *vd = &v->dev;
	struct virtq_elem e;
	int ret = 0;

	if (v->closed)
		return;
	for (;;) {
		struct vblk_req *r = malloc(sizeof(*r));

		if (!r)
			break;		/* retried at the next kick */
		ret = virtq_pop(&vd->mem, &vd->vq[q], &e);
		if (ret <= 0) {
			free(r);
			break;
		}
		if (vblk_parse(&v->geom, &e, r)) {
			free(r);
			virtio_set_broken(vd, "request without a writable status byte");
			return;
		}
		r->gen = v->gen;
		r->next = NULL;
		r->fua = !(vd->driver_features & (1ULL << VIRTIO_BLK_F_FLUSH));
		if (r->status == VBLK_PENDING && r->type == VIRTIO_BLK_T_GET_ID)
			get_id(v, r);
		else if (r->status != VBLK_PENDING)
			vblk_finish(r, r->status);
		if (r->status != VBLK_PENDING) {
			push_locked(v, r);
			free(r);
			continue;
		}
		*v->pending_tail = r;
		v->pending_tail = &r->next;
	}
	if (ret < 0)
		virtio_set_broken(vd, "malformed descriptor chain");
}

static int queue_eventfd(struct virtio_dev *vd, int q)
{
	struct vblk *v = vd->priv;

	return q == 0 ? v->notify_efd : -1;
}

static void vblk_reset(struct virtio_dev *vd)
{
	struct vblk *v = vd->priv;
	struct vblk_req *r;

	v->gen++;
	v->signal_due = false;
	/* Not yet with the backend: simply dropped. */
	while ((r = v->pending)) {
		v->pending = r->next;
		free(r);
	}
	v->pending_tail = &v->pending;
}

static void *io_thread(void *arg)
{
	struct vblk *v = arg;
	struct pollfd p[4];
	int n = 0, kick, notify, done, stop;
	uint64_t cnt;

	kick = n;
	p[n++] = (struct pollfd){ .fd = v->kick_efd, .events = POLLIN };
	notify = n;
	p[n++] = (struct pollfd){ .fd = v->notify_efd, .events = POLLIN };
	stop = n;
	p[n++] = (struct pollfd){ .fd = v->vm->stop_efd, .events = POLLIN };
	done = v->be->poll_fd >= 0 ? n : -1;
	if (done >= 0)
		p[n++] = (struct pollfd){ .fd = v->be->poll_fd, .events = POLLIN };

	for (;;) {
		struct vblk_req *list, *r;

		if (poll(p, n, -1) < 0)
			continue;
		if (done >= 0 && (p[done].revents & POLLIN))
			v->be->ops->reap(v->be);
		if (p[kick].revents & POLLIN) {
			if (read(v->kick_efd, &cnt, sizeof(cnt)) < 0) {
				/* Spurious: the list decides. */
			}
		}
		if ((p[notify].revents & POLLIN) &&
		    read(v->notify_efd, &cnt, sizeof(cnt)) < 0) {
			/* Spurious: the ring decides. */
		}
		pthread_mutex_lock(&v->dev.lock);
		/* The driver kicked: take its requests here, no hop. */
		if ((p[notify].revents & POLLIN) && virtio_queue_live(&v->dev, 0))
			take_requests(v, 0);
		list = v->pending;
		v->pending = NULL;
		v->pending_tail = &v->pending;
		if (v->closed || (p[stop].revents & POLLIN)) {
			pthread_mutex_unlock(&v->dev.lock);
			while ((r = list)) {
				list = r->next;
				free(r);
			}
			return NULL;
		}
		pthread_mutex_unlock(&v->dev.lock);
		while ((r = list)) {
			list = r->next;
			v->be->ops->submit(v->be, r);
		}
		if (v->be->ops->commit)
			v->be->ops->commit(v->be);
		/* One interrupt for everything answered in this round. */
		pthread_mutex_lock(&v->dev.lock);
		if (v->signal_due && !v->dev.broken && !v->closed)
			v->dev.tops->signal_queue(&v->dev, 0);
		v->signal_due = false;
		pthread_mutex_unlock(&v->dev.lock);
	}
}

static bool use_session(const struct vblk_spec *s)
{
	struct stat st;

	if (s->backend != VBLK_AUTO)
		return s->backend == VBLK_SESSION;
	if (s->format != VBLK_RAW || stat(s->file, &st) || !S_ISBLK(st.st_mode))
		return false;
	return blk_is_fvm_volume(st.st_rdev);
}

/*
 * Opens @s's backing; *@name is the backend's name (under a volatile
 * overlay: the backing's) and *@cache, for the file backend, the cache
 * mode in effect as the disk's log line shows it ("" for the others).
 */
static struct blk_backend *open_backend(struct vm *vm,
					const struct vblk_spec *s,
					const char **name, const char **cache,
					char *err, size_t errlen)
{
	bool ro = s->mode != VBLK_RW;
	struct blk_backend *be;

	*cache = "";
	if (s->format == VBLK_QCOW2) {
		if (s->backend == VBLK_SESSION) {
			snprintf(err, errlen, "backend=session needs format=raw");
			return NULL;
		}
		be = blk_qcow2_open(s->file, ro, s->mode == VBLK_RW, err, errlen);
	} else if (use_session(s)) {
		if (s->cache == VBLK_CACHE_WRITEBACK) {
			snprintf(err, errlen,
				 "an FVM volume is driven through a session, which never uses the page cache: cache=writeback needs backend=file");
			return NULL;
		}
		/*
		 * The session looks guest RAM pages up in the memfd per
		 * request, so the balloon may punch holes in it.
		 */
		be = blk_session_open(s->file, ro, s->mode == VBLK_RW, vm->mem_fd,
				      vm->mem, vm->mem_size, err, errlen);
	} else {
		be = blk_file_open(s->file, ro, s->mode == VBLK_RW,
				   s->cache != VBLK_CACHE_WRITEBACK, err,
				   errlen);
		if (be && be->direct) {
			*cache = ", cache=none";
		} else if (be && s->cache == VBLK_CACHE_WRITEBACK) {
			*cache = ", cache=writeback";
		} else if (be) {
			*cache = ", cache=writeback (O_DIRECT refused)";
			fprintf(stderr, "virtzd: disk %s: %s: the filesystem refuses O_DIRECT, so cache=none falls back to the page cache\n",
				s->id, s->file);
		}
	}
	if (be)
		*name = be->ops->name;
	if (be && s->mode == VBLK_VOLATILE)
		be = blk_volatile_wrap(be, err, errlen);
	return be;
}

struct vblk *vblk_create(struct vm *vm, const struct vblk_spec *spec,
			 char *err, size_t errlen)
{
	struct vblk *v = calloc(1, sizeof(*v));
	char why[480];
	const char *cache;
	uint64_t f;
	int ret;

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->vm = vm;
	v->spec = *spec;
	snprintf(v->path, sizeof(v->path), "%s", spec->file);
	v->spec.file = v->path;
	memcpy(v->id, spec->id, strnlen(spec->id, VIRTIO_BLK_ID_BYTES));
	v->pending_tail = &v->pending;
	v->kick_efd = -1;
	v->notify_efd = -1;

	v->be = open_backend(vm, &v->spec, &v->be_name, &cache, why,
			     sizeof(why));
	if (!v->be) {
		snprintf(err, errlen, "disk %s: %s", spec->id, why);
		goto err_free;
	}
	v->be->done = vblk_done;
	v->be->ctx = v;
	v->geom = (struct vblk_geom){
		.sectors = v->be->size / VBLK_SECTOR,
		.block_size = v->be->block_size,
		.ro = spec->mode == VBLK_RO,
		.discard = spec->mode != VBLK_RO && v->be->discard,
		.write_zeroes = spec->mode != VBLK_RO && v->be->write_zeroes,
		.wz_max_sectors = v->be->wz_max_sectors ?: VBLK_MAX_RANGE_SECTORS,
		.wz_max_seg = v->be->wz_max_seg ?: VBLK_MAX_RANGES,
	};
	if (v->geom.block_size < VBLK_SECTOR ||
	    v->geom.block_size & (v->geom.block_size - 1) ||
	    v->geom.block_size > 65536) {
		snprintf(err, errlen, "disk %s: block size %u is not supported",
			 spec->id, v->geom.block_size);
		goto err_be;
	}

	f = 1ULL << VIRTIO_BLK_F_SIZE_MAX | 1ULL << VIRTIO_BLK_F_SEG_MAX |
	    1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH;
	if (v->geom.ro)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	if (v->geom.discard)
		f |= 1ULL << VIRTIO_BLK_F_DISCARD;
	if (v->geom.write_zeroes)
		f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	v->ops = (struct virtio_dev_ops){
		.name = "virtio-blk",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = 1,
		.features = f,
		.config_size = CONFIG_SIZE,
		.config_read = config_read,
		.config_write = config_write,
		.queue_eventfd = queue_eventfd,	/* no queue_notify: see above */
		.reset = vblk_reset,
	};
	v->dev.ops = &v->ops;
	v->dev.priv = v;

	v->kick_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v->notify_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->kick_efd < 0 || v->notify_efd < 0) {
		snprintf(err, errlen, "disk %s: eventfd: %s", spec->id,
			 strerror(errno));
		goto err_efd;
	}
	ret = pthread_create(&v->io_thread, NULL, io_thread, v);
	if (ret) {
		snprintf(err, errlen, "disk %s: I/O thread: %s", spec->id,
			 strerror(ret));
		goto err_efd;
	}
	v->thread_started = true;
	ret = virtio_pci_add(vm, &v->dev);
	if (ret) {
		snprintf(err, errlen, "disk %s: cannot add the device: %s%s",
			 spec->id, strerror(-ret),
			 ret == -ENOSPC ? " (too many PCI devices)" : "");
		goto err_thread;
	}
	fprintf(stderr, "virtzd: disk %s: %s, %s, %s, %s backend%s, %llu sectors, %u-byte blocks\n",
		spec->id, v->path, vblk_format_name(spec->format),
		vblk_mode_name(spec->mode), v->be_name,
		cache,
		(unsigned long long)v->geom.sectors, v->geom.block_size);
	return v;

err_thread:
	/* Not on the bus: nobody else holds dev.lock. */
	v->closed = true;
	if (write(v->kick_efd, &(uint64_t){ 1 }, 8) < 0) {
		/* Cannot fail on a fresh counter. */
	}
	pthread_join(v->io_thread, NULL);
err_efd:
	if (v->kick_efd >= 0)
		close(v->kick_efd);
	if (v->notify_efd >= 0)
		close(v->notify_efd);
err_be:
	v->be->ops->destroy(v->be);
err_free:
	free(v);
	return NULL;
}

void vblk_shutdown(struct vblk *v)
{
	uint64_t one = 1;

	if (!v || !v->be)
		return;
	pthread_mutex_lock(&v->dev.lock);
	v->closed = true;
	pthread_mutex_unlock(&v->dev.lock);
	if (write(v->kick_efd, &one, sizeof(one)) < 0) {
		/* Saturated: the thread is awake anyway. */
	}
	pthread_join(v->io_thread, NULL);
	v->be->ops->destroy(v->be);
	v->be = NULL;
}

void vblk_describe(const struct vblk *v, struct vz_ctl_disk_info *di)
{
	memset(di, 0, sizeof(*di));
	snprintf(di->id, sizeof(di->id), "%s", v->spec.id);
	snprintf(di->mode, sizeof(di->mode), "%s", vblk_mode_name(v->spec.mode));
	snprintf(di->format, sizeof(di->format), "%s",
		 vblk_format_name(v->spec.format));
	snprintf(di->backend, sizeof(di->backend), "%s", v->be_name);
	di->block_size = v->geom.block_size;
	di->size = v->geom.sectors * VBLK_SECTOR;
	di->flags = (v->geom.ro ? VZ_CTL_DISK_RO : 0) |
		    (v->geom.discard ? VZ_CTL_DISK_DISCARD : 0) |
		    (v->geom.write_zeroes ? VZ_CTL_DISK_WRITE_ZEROES : 0);
	if (strlen(v->path) >= sizeof(di->path))
		di->flags |= VZ_CTL_DISK_PATH_TRUNCATED;
	memcpy(di->path, v->path, strnlen(v->path, sizeof(di->path) - 1));
}

const char *vblk_mode_name(enum vblk_mode m)
{
	return m == VBLK_RO ? "ro" : m == VBLK_VOLATILE ? "volatile" : "rw";
}

const char *vblk_format_name(enum vblk_format f)
{
	return f == VBLK_QCOW2 ? "qcow2" : "raw";
}

int vblk_parse_spec(char *s, struct vblk_spec *spec, char *err,
		    size_t errlen)
{
	char *save = NULL, *kv;
	bool have_id = false;

	memset(spec, 0, sizeof(*spec));
	for (kv = strtok_r(s, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');

		if (!val) {
			snprintf(err, errlen, "--disk: '%s' is not KEY=VALUE", kv);
			return -EINVAL;
		}
		*val++ = '\0';
		if (!strcmp(kv, "id")) {
			if (!*val || strlen(val) > VIRTIO_BLK_ID_BYTES) {
				snprintf(err, errlen,
					 "--disk: id '%s' must be 1 to %d bytes",
					 val, VIRTIO_BLK_ID_BYTES);
				return -EINVAL;
			}
			strcpy(spec->id, val);
			have_id = true;
		} else if (!strcmp(kv, "file")) {
			spec->file = val;
		} else if (!strcmp(kv, "mode")) {
			if (!strcmp(val, "rw") || !strcmp(val, "read-write"))
				spec->mode = VBLK_RW;
			else if (!strcmp(val, "ro") || !strcmp(val, "read-only"))
				spec->mode = VBLK_RO;
			else if (!strcmp(val, "volatile") ||
				 !strcmp(val, "volatile-write"))
				spec->mode = VBLK_VOLATILE;
			else
				goto bad;
		} else if (!strcmp(kv, "format")) {
			if (!strcmp(val, "raw"))
				spec->format = VBLK_RAW;
			else if (!strcmp(val, "qcow2") || !strcmp(val, "qcow"))
				spec->format = VBLK_QCOW2;
			else
				goto bad;
		} else if (!strcmp(kv, "cache")) {
			if (!strcmp(val, "none"))
				spec->cache = VBLK_CACHE_NONE;
			else if (!strcmp(val, "writeback"))
				spec->cache = VBLK_CACHE_WRITEBACK;
			else
				goto bad;
		} else if (!strcmp(kv, "backend")) {
			if (!strcmp(val, "auto"))
				spec->backend = VBLK_AUTO;
			else if (!strcmp(val, "file"))
				spec->backend = VBLK_FILE;
			else if (!strcmp(val, "session"))
				spec->backend = VBLK_SESSION;
			else
				goto bad;
		} else {
			snprintf(err, errlen, "--disk: unknown key '%s'", kv);
			return -EINVAL;
		}
		continue;
bad:
		snprintf(err, errlen, "--disk: bad %s '%s'", kv, val);
		return -EINVAL;
	}
	if (!have_id || !spec->file || !*spec->file) {
		snprintf(err, errlen, "--disk needs id=ID and file=PATH");
		return -EINVAL;
	}
	/* A backend that can only do one of them refuses the other. */
	if (spec->format == VBLK_QCOW2 && spec->cache == VBLK_CACHE_NONE) {
		snprintf(err, errlen,
			 "--disk: cache=none needs format=raw: qcow2 images go through the page cache");
		return -EINVAL;
	}
	if (spec->backend == VBLK_SESSION &&
	    spec->cache == VBLK_CACHE_WRITEBACK) {
		snprintf(err, errlen,
			 "--disk: cache=writeback needs backend=file: a session never uses the page cache");
		return -EINVAL;
	}
	return 0;
}
