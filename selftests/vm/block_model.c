// SPDX-License-Identifier: GPL-2.0
/*
 * Randomized model test: several threads, each with its own session (one
 * through an offset map, memfd and anonymous VMOs alternating), send
 * thousands of random requests - batches of concurrent reads, writes,
 * trims and flushes, groups, requests with bad fields - to disjoint parts
 * of one device.  Each thread keeps an in-memory model of its part; every
 * read is checked against it, every status against what the model says
 * the request deserved, and at the end the whole device is read back
 * through O_DIRECT and compared.
 *
 * Runs on brd, on a 4 KiB-block null_blk device (with trims, which it
 * turns into zeroes) and on a dm-fvm volume.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/fs.h>

#pragma GCC diagnostic ignored "-Wclobbered"	/* see block_session.c */
#include "kselftest_harness.h"
#include "block_util.h"

#define THREADS		4
#define OPS_PER_THREAD	1500
#define PART_BYTES	(4U << 20)	/* each thread's part of the device */
#define VMO_BYTES	(1U << 20)
#define SLOT_BYTES	(32U << 10)	/* requests of one batch stay in a slot */
#define MAX_BATCH	16

struct worker {
	pthread_t tid;
	int idx;
	const char *dev;
	unsigned int bs;
	bool trim;		/* the device discards to zeroes */
	uint64_t part;		/* first device block of the part */
	uint8_t *model;		/* PART_BYTES */
	uint8_t *vmo;		/* VMO_BYTES, mapped */
	uint32_t seed;
	char err[256];
	unsigned int done, groups, bad, reads;
};

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

#define FAIL(w, ...) do {						\
		snprintf((w)->err, sizeof((w)->err), __VA_ARGS__);	\
		return -1;						\
	} while (0)

struct op {
	struct virtz_block_fifo_request req;
	int want;		/* expected status */
	bool is_read;
	uint64_t mbyte;		/* byte offset in the model */
	uint64_t vbyte;		/* byte offset in the VMO */
	uint32_t bytes;
};

/* One batch: up to MAX_BATCH requests in distinct slots, maybe a group. */
static int batch(struct worker *w, int sfd, uint16_t vmo, bool mapped)
{
	unsigned int nslots = PART_BYTES / SLOT_BYTES, vslots = VMO_BYTES / SLOT_BYTES;
	unsigned int slot_blocks = SLOT_BYTES / w->bs;
	struct virtz_block_fifo_request reqs[MAX_BATCH];
	struct virtz_block_fifo_response resps[MAX_BATCH];
	struct op ops[MAX_BATCH];
	bool used[PART_BYTES / SLOT_BYTES] = { false };
	unsigned int n = 1 + rnd(&w->seed) % MAX_BATCH, i, j;
	bool group = n > 1 && rnd(&w->seed) % 4 == 0;
	uint16_t gid = rnd(&w->seed) % VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT;
	int gwant = 0, k;
	ssize_t got;

	if (n > vslots)
		n = vslots;
	for (i = 0; i < n; i++) {
		struct op *o = &ops[i];
		unsigned int slot, r = rnd(&w->seed) % 100;
		uint32_t len, off;
		uint64_t dev;

		do
			slot = rnd(&w->seed) % nslots;
		while (used[slot]);
		used[slot] = true;
		len = 1 + rnd(&w->seed) % slot_blocks;
		off = rnd(&w->seed) % (slot_blocks - len + 1);
		o->mbyte = ((uint64_t)slot * slot_blocks + off) * w->bs;
		o->vbyte = (uint64_t)i * SLOT_BYTES + off * w->bs;
		o->bytes = len * w->bs;
		o->want = 0;
		o->is_read = false;
		/* Sessions through the map see their part from block 0. */
		dev = (mapped ? 0 : w->part) + (uint64_t)slot * slot_blocks + off;

		if (r < 45) {
			o->is_read = true;
			vzb_req(&o->req, VIRTZ_BLOCK_OP_READ, 0, 0, vmo, len,
				o->vbyte / w->bs, dev);
			memset(w->vmo + o->vbyte, 0xcc, o->bytes);
		} else if (r < 85) {
			uint32_t fl = 0;

			if (rnd(&w->seed) % 8 == 0)
				fl |= VIRTZ_BLOCK_IO_FORCE_ACCESS;
			if (rnd(&w->seed) % 8 == 0)
				fl |= VIRTZ_BLOCK_IO_PRE_BARRIER;
			vzb_req(&o->req, VIRTZ_BLOCK_OP_WRITE, fl, 0, vmo, len,
				o->vbyte / w->bs, dev);
			fill_pattern(w->vmo + o->vbyte, o->bytes, rnd(&w->seed));
		} else if (r < 90 && w->trim) {
			vzb_req(&o->req, VIRTZ_BLOCK_OP_TRIM, 0, 0, 0, len, 0, dev);
		} else if (r < 93) {
			vzb_req(&o->req, VIRTZ_BLOCK_OP_FLUSH, 0, 0, 0, 0, 0, 0);
			o->bytes = 0;
		} else {
			/* Hostile: a bad field; nothing may change. */
			vzb_req(&o->req, VIRTZ_BLOCK_OP_WRITE, 0, 0, vmo, len,
				o->vbyte / w->bs, dev);
			switch (rnd(&w->seed) % 5) {
			case 0:
				o->req.vmoid = vmo + 1 + rnd(&w->seed) % 100;
				o->want = -EBADF;
				break;
			case 1:
				o->req.vmo_offset = VMO_BYTES / w->bs - len + 1 +
					rnd(&w->seed) % 1000;
				o->want = -ERANGE;
				break;
			case 2:
				o->req.dev_offset += mapped ? PART_BYTES / w->bs :
					(uint64_t)1 << 40;
				o->want = -ERANGE;
				break;
			case 3:
				o->req.length = 0;
				o->want = -EINVAL;
				break;
			default:
				o->req.flags = 0x100 << (rnd(&w->seed) % 20);
				o->want = -EINVAL;
				break;
			}
			o->bytes = 0;
			w->bad++;
		}
		o->req.reqid = w->done + i;
		if (group) {
			o->req.flags |= VIRTZ_BLOCK_IO_GROUP_ITEM |
				(i == n - 1 ? VIRTZ_BLOCK_IO_GROUP_LAST : 0);
			o->req.group = gid;
			if (o->want && !gwant)
				gwant = o->want;
		}
		reqs[i] = o->req;
	}

	/* Half the threads go through SUBMIT_REAP, half write() and read(). */
	got = w->idx < 2 ? vzb_run(sfd, reqs, n, resps) :
		vzb_run_ioctl(sfd, reqs, n, resps);
	if (got != (group ? 1 : (ssize_t)n))
		FAIL(w, "batch of %u%s: %zd responses", n, group ? " (group)" : "",
		     got);
	if (group) {
		if (resps[0].reqid != w->done + n - 1 || resps[0].count != n ||
		    resps[0].group != gid)
			FAIL(w, "group response reqid %u count %u group %u",
			     resps[0].reqid, resps[0].count, resps[0].group);
		/* The first error: bad requests fail at once, in order. */
		if (resps[0].status != gwant)
			FAIL(w, "group status %d, want %d", resps[0].status, gwant);
		w->groups++;
	} else {
		for (k = 0; k < got; k++) {
			j = resps[k].reqid - w->done;
			if (j >= n || resps[k].count != 1)
				FAIL(w, "response reqid %u count %u", resps[k].reqid,
				     resps[k].count);
			if (resps[k].status != ops[j].want)
				FAIL(w, "op %u (opcode %u) status %d, want %d", j,
				     ops[j].req.opcode, resps[k].status, ops[j].want);
		}
	}

	/* Apply to the model, then check reads against it. */
	for (i = 0; i < n; i++) {
		struct op *o = &ops[i];

		if (o->want || !o->bytes)
			continue;
		if (o->req.opcode == VIRTZ_BLOCK_OP_WRITE)
			memcpy(w->model + o->mbyte, w->vmo + o->vbyte, o->bytes);
		else if (o->req.opcode == VIRTZ_BLOCK_OP_TRIM)
			memset(w->model + o->mbyte, 0, o->bytes);
	}
	for (i = 0; i < n; i++) {
		struct op *o = &ops[i];

		if (!o->is_read)
			continue;
		w->reads++;
		if (memcmp(w->vmo + o->vbyte, w->model + o->mbyte, o->bytes))
			FAIL(w, "read of %u bytes at part byte %llu differs from the model",
			     o->bytes, (unsigned long long)o->mbyte);
	}
	w->done += n;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct virtz_block_offset_map map = {
		.source_block_offset = 0,
		.target_block_offset = w->part,
		.length = PART_BYTES / w->bs,
	};
	bool mapped = w->idx % 2 == 1;
	int sfd, memfd = -1;
	uint16_t vmo;
	int err;

	sfd = vzb_open_path(w->dev, 0, mapped ? &map : NULL);
	if (sfd < 0) {
		snprintf(w->err, sizeof(w->err), "open: %s", strerror(-sfd));
		return NULL;
	}
	if (w->idx % 2 == 0) {
		memfd = memfd_create("model", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, VMO_BYTES))
			goto fail;
		w->vmo = mmap(NULL, VMO_BYTES, PROT_READ | PROT_WRITE,
			      MAP_SHARED, memfd, 0);
		if (w->vmo == MAP_FAILED)
			goto fail;
		err = vzb_attach_memfd(sfd, memfd, 0, 0, 0, &vmo);
	} else {
		w->vmo = mmap(NULL, VMO_BYTES, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (w->vmo == MAP_FAILED)
			goto fail;
		err = vzb_attach_mem(sfd, w->vmo, VMO_BYTES, 0, &vmo);
	}
	if (err) {
		snprintf(w->err, sizeof(w->err), "attach: %s", strerror(-err));
		goto out;
	}
	while (w->done < OPS_PER_THREAD)
		if (batch(w, sfd, vmo, mapped))
			break;
	goto out;
fail:
	snprintf(w->err, sizeof(w->err), "setup: %s", strerror(errno));
out:
	if (memfd >= 0)
		close(memfd);
	close(sfd);
	return NULL;
}

FIXTURE(model)
{
	struct nullb nb;
	bool brd_loaded;
	char dev[96];
	bool trim;
	char fvm[64];		/* the pool's dm name, for an fvm volume */
	char loop[64];
};

enum backing { BRD, NULLB, FVM };

FIXTURE_VARIANT(model)
{
	enum backing backing;
};

FIXTURE_VARIANT_ADD(model, brd) { .backing = BRD };
FIXTURE_VARIANT_ADD(model, null_blk_4k) { .backing = NULLB };
FIXTURE_VARIANT_ADD(model, fvm_volume) { .backing = FVM };

/*
 * An FVM image made by `virtzctl fvm` on a loop device, an fvm-pool over
 * it and a 20-slice fvm volume "data": /dev/mapper/<pool>-data.
 */
static int make_fvm_volume(FIXTURE_DATA(model) *self)
{
	const char *top = getenv("VIRTZ_TOP") ? getenv("VIRTZ_TOP") : ".";
	char img[96], cmd[160];
	FILE *f;

	snprintf(self->fvm, sizeof(self->fvm), "vzbm-%d", getpid());
	snprintf(img, sizeof(img), "/tmp/%s.img", self->fvm);
	if (sh("modprobe loop; dmsetup targets | grep -q '^fvm-pool'") ||
	    sh("\"${VIRTZCTL:-%s/build/virtzctl}\" fvm create %s --size 64M "
	       "--slice-size 1M --max-size 128M >/dev/null", top, img))
		return -1;
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s", img);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(self->loop, sizeof(self->loop), f))
		self->loop[0] = 0;
	pclose(f);
	self->loop[strcspn(self->loop, "\n")] = 0;
	if (!self->loop[0])
		return -1;
	if (sh("DM_DISABLE_UDEV=1 dmsetup create %s --table "
	       "\"0 $(blockdev --getsz %s) fvm-pool %s\"", self->fvm,
	       self->loop, self->loop) ||
	    sh("dmsetup message %s 0 allocate data 20 >/dev/null", self->fvm) ||
	    sh("DM_DISABLE_UDEV=1 dmsetup create %s-data --table "
	       "\"0 %u fvm /dev/mapper/%s data\"", self->fvm, 20 * 2048,
	       self->fvm))
		return -1;
	snprintf(self->dev, sizeof(self->dev), "/dev/mapper/%s-data", self->fvm);
	return 0;
}

static void remove_fvm_volume(FIXTURE_DATA(model) *self)
{
	if (!self->fvm[0])
		return;
	sh("DM_DISABLE_UDEV=1 dmsetup remove %s-data 2>/dev/null", self->fvm);
	sh("DM_DISABLE_UDEV=1 dmsetup remove %s 2>/dev/null", self->fvm);
	if (self->loop[0])
		sh("losetup -d %s", self->loop);
	sh("rm -f /tmp/%s.img", self->fvm);
}

FIXTURE_SETUP(model)
{
	uint64_t size = 0;
	int fd, err;

	if (variant->backing == FVM) {
		if (make_fvm_volume(self))
			SKIP(return, "cannot make an fvm volume (dm targets)");
		self->trim = false;
	} else if (variant->backing == BRD) {
		if (access("/sys/module/brd", F_OK)) {
			if (sh("modprobe brd rd_nr=1 rd_size=%u", 5 * PART_BYTES / 1024))
				SKIP(return, "cannot load brd");
			self->brd_loaded = true;
		}
		snprintf(self->dev, sizeof(self->dev), "/dev/ram0");
		/* brd discards whole pages only: the rest keeps its data. */
		self->trim = false;
	} else {
		err = nullb_create(&self->nb, 5 * PART_BYTES >> 20, 4096,
				   "discard=1");
		if (err)
			SKIP(return, "no null_blk: %s", strerror(-err));
		snprintf(self->dev, sizeof(self->dev), "%s", self->nb.dev);
		self->trim = true;
	}
	ASSERT_TRUE(is_blockdev(self->dev));
	fd = open(self->dev, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, BLKGETSIZE64, &size));
	close(fd);
	if (size < (uint64_t)THREADS * PART_BYTES)
		SKIP(return, "%s is too small (%llu bytes)", self->dev,
		     (unsigned long long)size);
}

FIXTURE_TEARDOWN(model)
{
	nullb_destroy(&self->nb);
	remove_fvm_volume(self);
	if (self->brd_loaded)
		sh("rmmod brd");
}

TEST_F_TIMEOUT(model, threads_and_sessions_match_the_model, 600)
{
	struct worker w[THREADS];
	struct virtz_block_info info;
	unsigned int total = 0, reads = 0, groups = 0, bad = 0;
	uint8_t *check;
	int i, sfd;

	sfd = vzb_open_path(self->dev, 0, NULL);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(0, vzb_get_info(sfd, &info));
	close(sfd);

	memset(w, 0, sizeof(w));
	for (i = 0; i < THREADS; i++) {
		w[i].idx = i;
		w[i].dev = self->dev;
		w[i].bs = info.block_size;
		w[i].trim = self->trim &&
			(info.flags & VIRTZ_BLOCK_DEV_TRIM_SUPPORT);
		w[i].part = (uint64_t)i * PART_BYTES / info.block_size;
		w[i].seed = 0x9e3779b9u * (i + 1) ^ (uint32_t)getpid();
		w[i].model = malloc(PART_BYTES);
		ASSERT_NE(NULL, w[i].model);
		/* Start from what the device holds. */
		ASSERT_EQ(0, direct_read(self->dev, (uint64_t)i * PART_BYTES,
					 w[i].model, PART_BYTES));
	}
	for (i = 0; i < THREADS; i++)
		ASSERT_EQ(0, pthread_create(&w[i].tid, NULL, worker_main, &w[i]));
	for (i = 0; i < THREADS; i++)
		pthread_join(w[i].tid, NULL);

	check = malloc(PART_BYTES);
	ASSERT_NE(NULL, check);
	for (i = 0; i < THREADS; i++) {
		EXPECT_STREQ("", w[i].err) TH_LOG("thread %d (seed %u)", i,
						  w[i].seed);
		EXPECT_LE(OPS_PER_THREAD, (int)w[i].done);
		/* The device agrees with the model, byte for byte. */
		ASSERT_EQ(0, direct_read(self->dev, (uint64_t)i * PART_BYTES,
					 check, PART_BYTES));
		EXPECT_EQ(0, memcmp(check, w[i].model, PART_BYTES))
			TH_LOG("thread %d's part differs from its model", i);
		total += w[i].done;
		reads += w[i].reads;
		groups += w[i].groups;
		bad += w[i].bad;
		free(w[i].model);
	}
	free(check);
	TH_LOG("%u requests: %u reads checked, %u groups, %u hostile",
	       total, reads, groups, bad);
	ASSERT_LE(THREADS * OPS_PER_THREAD, (int)total);
	ASSERT_LT(0U, groups);
	ASSERT_LT(0U, bad);
}

TEST_HARNESS_MAIN
