// SPDX-License-Identifier: GPL-2.0
/*
 * FORCE_ACCESS, PRE_BARRIER, FLUSH and TRIM as the device sees them: a
 * session on a dm-log-writes device, whose log records every write with
 * its FUA and flush flags in the order the device would have made them
 * stable.  The log is then read back and compared with what each request
 * must have produced.
 */
#include <sys/mman.h>

#pragma GCC diagnostic ignored "-Wclobbered"	/* see block_session.c */
#include "kselftest_harness.h"
#include "block_util.h"

/* dm-log-writes' on-disk log (drivers/md/dm-log-writes.c). */
#define LOG_FLUSH_FLAG		(1 << 0)
#define LOG_FUA_FLAG		(1 << 1)
#define LOG_DISCARD_FLAG	(1 << 2)
#define LOG_MARK_FLAG		(1 << 3)
#define WRITE_LOG_MAGIC		0x6a736677736872ULL

struct log_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
};

#define BS	4096

FIXTURE(lw)
{
	struct nullb data, log;
	char name[64], dev[96];
	bool created;
	int sfd;
	uint8_t *mem;
	uint16_t vmo;
};

FIXTURE_SETUP(lw)
{
	int err;

	self->sfd = -1;
	err = nullb_create(&self->data, 16, BS, "discard=1");
	if (err)
		SKIP(return, "no null_blk: %s", strerror(-err));
	ASSERT_EQ(0, nullb_create(&self->log, 16, BS, NULL));
	if (sh("modprobe dm-log-writes >/dev/null 2>&1"))
		SKIP(return, "no dm-log-writes");
	snprintf(self->name, sizeof(self->name), "vzb-lw-%d", getpid());
	ASSERT_EQ(0, sh("DM_DISABLE_UDEV=1 dmsetup create %s --table "
			"'0 %u log-writes %s %s'", self->name,
			16 * 2048, self->data.dev, self->log.dev));
	self->created = true;
	snprintf(self->dev, sizeof(self->dev), "/dev/mapper/%s", self->name);
	ASSERT_TRUE(is_blockdev(self->dev));

	self->sfd = vzb_open_path(self->dev, 0, NULL);
	ASSERT_LE(0, self->sfd);
	self->mem = mmap(NULL, 16 * BS, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	fill_pattern(self->mem, 16 * BS, 11);
	ASSERT_EQ(0, vzb_attach_mem(self->sfd, self->mem, 16 * BS, 0,
				    &self->vmo));
}

FIXTURE_TEARDOWN(lw)
{
	if (self->sfd >= 0)
		close(self->sfd);
	if (self->created)
		sh("DM_DISABLE_UDEV=1 dmsetup remove %s", self->name);
	nullb_destroy(&self->log);
	nullb_destroy(&self->data);
}

static int one(int sfd, uint8_t op, uint32_t flags, uint16_t vmo,
	       uint64_t blk)
{
	struct virtz_block_fifo_request req;
	struct virtz_block_fifo_response resp;

	vzb_req(&req, op, flags, (uint32_t)blk, vmo,
		op == VIRTZ_BLOCK_OP_FLUSH ? 0 : 1, blk, blk);
	return run1(sfd, &req, &resp);
}

struct expect {
	uint64_t flags;
	uint64_t sector;
};

TEST_F(lw, fua_flush_and_barriers_reach_the_log_in_order)
{
	static const struct expect want[] = {
		{ 0, 0 },			/* A, logged at the flush */
		{ LOG_FLUSH_FLAG, 0 },		/* FLUSH */
		{ LOG_FUA_FLAG, 1 },		/* B: FORCE_ACCESS */
		{ LOG_FLUSH_FLAG, 0 },		/* C's barrier, after B ... */
		{ 0, 2 },			/* ... C, logged at D's */
		{ LOG_FLUSH_FLAG, 0 },		/* D's barrier */
		{ LOG_FUA_FLAG, 3 },		/* D: both flags */
		{ LOG_DISCARD_FLAG, 4 },	/* E: TRIM + FORCE_ACCESS ... */
		{ LOG_FLUSH_FLAG, 0 },		/* ... flushed after */
		{ LOG_MARK_FLAG, 0 },		/* dm-log-writes' end mark */
	};
	struct log_super super;
	struct log_entry e;
	uint8_t *buf;
	uint64_t pos;
	size_t i;

	ASSERT_EQ(0, one(self->sfd, VIRTZ_BLOCK_OP_WRITE, 0, self->vmo, 0));
	ASSERT_EQ(0, one(self->sfd, VIRTZ_BLOCK_OP_FLUSH, 0, 0, 0));
	ASSERT_EQ(0, one(self->sfd, VIRTZ_BLOCK_OP_WRITE,
			 VIRTZ_BLOCK_IO_FORCE_ACCESS, self->vmo, 1));
	ASSERT_EQ(0, one(self->sfd, VIRTZ_BLOCK_OP_WRITE,
			 VIRTZ_BLOCK_IO_PRE_BARRIER, self->vmo, 2));
	ASSERT_EQ(0, one(self->sfd, VIRTZ_BLOCK_OP_WRITE,
			 VIRTZ_BLOCK_IO_PRE_BARRIER |
			 VIRTZ_BLOCK_IO_FORCE_ACCESS, self->vmo, 3));
	ASSERT_EQ(0, one(self->sfd, VIRTZ_BLOCK_OP_TRIM,
			 VIRTZ_BLOCK_IO_FORCE_ACCESS, 0, 4));
	close(self->sfd);
	self->sfd = -1;
	/* Removing the target writes out the rest of the log and its end. */
	ASSERT_EQ(0, sh("DM_DISABLE_UDEV=1 dmsetup remove %s", self->name));
	self->created = false;

	buf = malloc(BS);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, direct_read(self->log.dev, 0, buf, BS));
	memcpy(&super, buf, sizeof(super));
	ASSERT_EQ(WRITE_LOG_MAGIC, super.magic);
	ASSERT_EQ((uint32_t)BS, super.sectorsize);
	ASSERT_EQ(sizeof(want) / sizeof(want[0]), super.nr_entries);

	pos = BS;
	for (i = 0; i < super.nr_entries; i++) {
		ASSERT_EQ(0, direct_read(self->log.dev, pos, buf, BS));
		memcpy(&e, buf, sizeof(e));
		TH_LOG("entry %zu: sector %llu n %llu flags %#llx", i,
		       (unsigned long long)e.sector,
		       (unsigned long long)e.nr_sectors,
		       (unsigned long long)e.flags);
		pos += BS;
		if (want[i].flags & (LOG_FLUSH_FLAG | LOG_MARK_FLAG)) {
			/*
			 * dm sends a data bio's preflush ahead of it as an
			 * empty bio keeping its sector and its FUA flag.
			 */
			EXPECT_EQ(want[i].flags, e.flags & ~(uint64_t)LOG_FUA_FLAG);
			if (want[i].flags & LOG_FLUSH_FLAG)
				EXPECT_EQ(0ULL, e.nr_sectors);
			continue;
		}
		EXPECT_EQ(want[i].flags, e.flags);
		EXPECT_EQ(want[i].sector, e.sector);
		if (e.flags & LOG_DISCARD_FLAG)
			continue;
		/* The data logged is the data written from the VMO. */
		if (e.nr_sectors) {
			ASSERT_EQ(1ULL, e.nr_sectors);
			ASSERT_EQ(0, direct_read(self->log.dev, pos, buf, BS));
			ASSERT_EQ(0, memcmp(buf, self->mem + e.sector * BS, BS));
			pos += BS;
		}
	}
	free(buf);
}

TEST_HARNESS_MAIN
