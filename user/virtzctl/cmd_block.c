// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl block: block FIFO sessions on /dev/virtz-block, through
 * user/lib/vzblock.
 *
 *   info   what a session on a device sees (BlockInfo)
 *   bench  random or sequential I/O through a session, with a queue depth
 *          and optional transaction groups; IOPS and bandwidth
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vzblock.h"
#include "virtzctl.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzctl [-j] block info DEVICE [--read-only] [--map SRC:DST:LEN]\n"
		"       virtzctl [-j] block bench DEVICE [--rw MODE] [--bs BYTES] [--qd N]\n"
		"                     [--group N] [--seconds S] [--ops N] [--memfd]\n"
		"\n"
		"info   block count, block size, max transfer and device flags of a\n"
		"       session on DEVICE (opened read-only with --read-only; --map\n"
		"       narrows it to LEN blocks from device block DST, seen as SRC)\n"
		"bench  I/O through a session: MODE randread (default), randwrite,\n"
		"       read or write; BYTES per request (default 4096); N requests in\n"
		"       flight (default 32); --group N sends transactions of N requests\n"
		"       answered once; runs S seconds (default 5) or N requests.\n"
		"       Writing modes overwrite DEVICE.\n");
}

static const struct {
	uint32_t bit;
	const char *name;
} dev_flags[] = {
	{ VIRTZ_BLOCK_DEV_READONLY, "readonly" },
	{ VIRTZ_BLOCK_DEV_REMOVABLE, "removable" },
	{ VIRTZ_BLOCK_DEV_TRIM_SUPPORT, "trim" },
	{ VIRTZ_BLOCK_DEV_FUA_SUPPORT, "fua" },
	{ VIRTZ_BLOCK_DEV_ZSTD_DECOMPRESSION_SUPPORT, "zstd" },
	{ VIRTZ_BLOCK_DEV_BARRIER_SUPPORT, "barrier" },
};

#define N_FLAGS (sizeof(dev_flags) / sizeof(dev_flags[0]))

void ctl_json_dev_flags(struct jw *w, const char *key, uint32_t flags)
{
	size_t i;

	jw_arr_open(w, key);
	for (i = 0; i < N_FLAGS; i++)
		if (flags & dev_flags[i].bit)
			jw_str(w, NULL, dev_flags[i].name);
	jw_arr_close(w);
}

void ctl_print_dev_flags(uint32_t flags)
{
	size_t i;

	for (i = 0; i < N_FLAGS; i++)
		if (flags & dev_flags[i].bit)
			printf(" %s", dev_flags[i].name);
	if (!flags)
		printf(" none");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || end == s || *end ? -1 : 0;
}

static int parse_map(const char *s, struct virtz_block_offset_map *m)
{
	unsigned long long a, b, c;
	int n = -1;

	if (sscanf(s, "%llu:%llu:%llu%n", &a, &b, &c, &n) != 3 ||
	    n != (int)strlen(s))
		return -1;
	m->source_block_offset = a;
	m->target_block_offset = b;
	m->length = c;
	return 0;
}

static int do_info(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "read-only", no_argument, NULL, 'r' },
		{ "map", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct virtz_block_offset_map map, *mapp = NULL;
	struct virtz_block_info info;
	bool ro = false;
	int c, sfd, err;

	optind = 0;	/* 0: glibc re-initializes, so options may follow DEVICE */
	while ((c = getopt_long(argc, argv, "rm:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ro = true;
			break;
		case 'm':
			if (parse_map(optarg, &map))
				return ctl_usage_err("block", "--map wants SRC:DST:LEN, not '%s'",
						     optarg);
			mapp = &map;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			return CTL_USAGE;
		}
	}
	if (optind != argc - 1)
		return ctl_usage_err("block", "info needs one DEVICE");

	sfd = vzb_open_path(argv[optind], ro, mapp);
	if (sfd < 0)
		return ctl_err("block", "session on %s: %s", argv[optind],
			       strerror(-sfd));
	err = vzb_get_info(sfd, &info);
	close(sfd);
	if (err)
		return ctl_err("block", "info: %s", strerror(-err));

	if (ctl->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_str(&w, "device", argv[optind]);
		jw_u64(&w, "block_count", info.block_count);
		jw_u64(&w, "block_size", info.block_size);
		jw_u64(&w, "max_transfer_size", info.max_transfer_size);
		jw_u64(&w, "flags", info.flags);
		ctl_json_dev_flags(&w, "flag_names", info.flags);
		jw_obj_close(&w);
		jw_end(&w);
		return CTL_OK;
	}
	printf("%s: %" PRIu64 " blocks of %u bytes, max transfer %u bytes\n",
	       argv[optind], (uint64_t)info.block_count, info.block_size,
	       info.max_transfer_size);
	printf("    flags");
	ctl_print_dev_flags(info.flags);
	printf("\n");
	return CTL_OK;
}

struct bench {
	int sfd;
	uint16_t vmo;
	uint8_t op;
	bool random;
	uint32_t blocks;	/* per request */
	uint64_t span;		/* device blocks usable as start */
	uint64_t next;		/* sequential cursor */
	uint32_t seed;
	unsigned int qd, group;
	uint64_t reqid;
};

static uint64_t next_offset(struct bench *b)
{
	uint64_t off;

	if (!b->random) {
		off = b->next;
		b->next = (b->next + b->blocks) % b->span;
		return off - off % b->blocks;
	}
	b->seed ^= b->seed << 13;
	b->seed ^= b->seed >> 17;
	b->seed ^= b->seed << 5;
	off = ((uint64_t)b->seed << 20 ^ b->reqid * 2654435761u) % b->span;
	return off - off % b->blocks;
}

/* Fills @n requests for VMO slot @slot onwards (one transaction if grouped). */
static void fill(struct bench *b, struct virtz_block_fifo_request *r,
		 unsigned int n, unsigned int slot, uint16_t gid)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint32_t fl = 0;

		if (b->group)
			fl = VIRTZ_BLOCK_IO_GROUP_ITEM |
			     (i == n - 1 ? VIRTZ_BLOCK_IO_GROUP_LAST : 0);
		/* The reqid is the VMO slot: one request per slot in flight. */
		b->reqid++;
		vzb_req(&r[i], b->op, fl, slot + i, b->vmo,
			b->blocks, (uint64_t)(slot + i) * b->blocks,
			next_offset(b));
		r[i].group = gid;
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_bench(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'w' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "group", required_argument, NULL, 'g' },
		{ "seconds", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "memfd", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct virtz_block_fifo_request *reqs;
	struct virtz_block_fifo_response resp[VIRTZ_BLOCK_FIFO_DEPTH];
	struct virtz_block_info info;
	struct bench b = { .qd = 32, .seed = 0x12345678, .random = true,
			   .op = VIRTZ_BLOCK_OP_READ };
	uint64_t bs = 4096, seconds = 5, max_ops = 0, done = 0, errors = 0;
	const char *mode = "randread";
	bool use_memfd = false;
	unsigned int units, per, u, inflight, npend;
	size_t vmo_bytes;
	double t0, t;
	uint8_t *mem;
	int c, err, memfd = -1;
	uint64_t v;

	optind = 0;	/* 0: glibc re-initializes, so options may follow DEVICE */
	while ((c = getopt_long(argc, argv, "w:b:q:g:s:n:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			mode = optarg;
			break;
		case 'b':
		case 'q':
		case 'g':
		case 's':
		case 'n':
			if (parse_u64(optarg, &v))
				return ctl_usage_err("block", "not a number: '%s'", optarg);
			if (c == 'b')
				bs = v;
			else if (c == 'q')
				b.qd = v;
			else if (c == 'g')
				b.group = v;
			else if (c == 's')
				seconds = v;
			else
				max_ops = v;
			break;
		case 'f':
			use_memfd = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			return CTL_USAGE;
		}
	}
	if (optind != argc - 1)
		return ctl_usage_err("block", "bench needs one DEVICE");
	if (!strcmp(mode, "randread") || !strcmp(mode, "read"))
		b.op = VIRTZ_BLOCK_OP_READ;
	else if (!strcmp(mode, "randwrite") || !strcmp(mode, "write"))
		b.op = VIRTZ_BLOCK_OP_WRITE;
	else
		return ctl_usage_err("block", "unknown --rw '%s'", mode);
	b.random = !strncmp(mode, "rand", 4);
	if (!b.qd || b.qd > VIRTZ_BLOCK_FIFO_DEPTH)
		return ctl_usage_err("block", "--qd must be 1..%d",
				     VIRTZ_BLOCK_FIFO_DEPTH);
	if (b.group > VIRTZ_BLOCK_FIFO_DEPTH || (b.group && b.qd % b.group) ||
	    (b.group && b.qd / b.group > VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT))
		return ctl_usage_err("block",
				     "--group must divide --qd into at most %d transactions",
				     VIRTZ_BLOCK_MAX_TXN_GROUP_COUNT);

	b.sfd = vzb_open_path(argv[optind], b.op == VIRTZ_BLOCK_OP_READ, NULL);
	if (b.sfd < 0)
		return ctl_err("block", "session on %s: %s", argv[optind],
			       strerror(-b.sfd));
	err = vzb_get_info(b.sfd, &info);
	if (err || !bs || bs % info.block_size || bs > info.max_transfer_size ||
	    bs / info.block_size > info.block_count) {
		close(b.sfd);
		return err ? ctl_err("block", "info: %s", strerror(-err)) :
			ctl_usage_err("block", "--bs must be a multiple of %u up to %u",
				      info.block_size, info.max_transfer_size);
	}
	b.blocks = bs / info.block_size;
	b.span = info.block_count - b.blocks + 1;

	vmo_bytes = (b.qd * bs + 4095) & ~(size_t)4095;
	if (use_memfd) {
		memfd = memfd_create("virtzctl-bench", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, vmo_bytes)) {
			close(b.sfd);
			return ctl_err("block", "memfd: %s", strerror(errno));
		}
		err = vzb_attach_memfd(b.sfd, memfd, 0, 0, 0, &b.vmo);
		mem = NULL;
	} else {
		mem = mmap(NULL, vmo_bytes, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) {
			close(b.sfd);
			return ctl_err("block", "mmap: %s", strerror(errno));
		}
		memset(mem, 0x5a, vmo_bytes);
		err = vzb_attach_mem(b.sfd, mem, vmo_bytes, 0, &b.vmo);
	}
	if (err) {
		close(b.sfd);
		return ctl_err("block", "attach: %s", strerror(-err));
	}

	/* Units of work: one request, or one transaction of --group. */
	per = b.group ? b.group : 1;
	units = b.qd / per;
	reqs = calloc(b.qd, sizeof(*reqs));
	if (!reqs) {
		close(b.sfd);
		return ctl_err("block", "out of memory");
	}
	t0 = now();
	for (u = 0; u < units; u++)
		fill(&b, &reqs[u * per], per, u * per, u);
	npend = b.qd;
	inflight = 0;
	/* One system call per round: submit what is ready, reap at least one. */
	while (npend || inflight) {
		uint32_t nreq = npend, nr = VIRTZ_BLOCK_FIFO_DEPTH, i;
		bool over;

		err = vzb_submit_reap(b.sfd, reqs, &nreq, resp, &nr, 1);
		if (err == -EINTR)
			continue;
		if (err) {
			close(b.sfd);
			return ctl_err("block", "submit: %s", strerror(-err));
		}
		memmove(reqs, reqs + nreq, (npend - nreq) * sizeof(*reqs));
		npend -= nreq;
		inflight += nreq;
		t = now();
		for (i = 0; i < nr; i++) {
			/* A unit's response carries its last request's slot. */
			unsigned int slot = resp[i].reqid / per * per;

			inflight -= resp[i].count;
			done += resp[i].count;
			if (resp[i].status)
				errors++;
			over = max_ops ? done + inflight + npend >= max_ops :
				t - t0 >= seconds;
			if (over || slot >= b.qd)
				continue;
			fill(&b, &reqs[npend], per, slot, slot / per);
			npend += per;
		}
	}
	t = now() - t0;
	close(b.sfd);
	if (memfd >= 0)
		close(memfd);
	free(reqs);

	if (ctl->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_str(&w, "device", argv[optind]);
		jw_str(&w, "rw", mode);
		jw_u64(&w, "bs", bs);
		jw_u64(&w, "qd", b.qd);
		jw_u64(&w, "group", b.group);
		jw_u64(&w, "requests", done);
		jw_u64(&w, "errors", errors);
		jw_u64(&w, "usec", (uint64_t)(t * 1e6));
		jw_u64(&w, "iops", (uint64_t)(done / t));
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		printf("%s %s bs=%" PRIu64 " qd=%u group=%u: %" PRIu64
		       " requests in %.2fs, %.0f IOPS, %.1f MiB/s, %" PRIu64
		       " errors\n", argv[optind], mode, bs, b.qd, b.group, done,
		       t, done / t, done * (double)bs / t / 1048576, errors);
	}
	return errors ? CTL_ERR : CTL_OK;
}

static int cmd_block(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0 || ctl_is_help(argv[0])) {
		usage(argc ? stdout : stderr);
		return argc ? CTL_OK : CTL_USAGE;
	}
	if (!strcmp(argv[0], "info"))
		return do_info(ctl, argc, argv);
	if (!strcmp(argv[0], "bench"))
		return do_bench(ctl, argc, argv);
	return ctl_usage_err("block", "unknown verb '%s'", argv[0]);
}

CTL_COMMAND(block, cmd_block, "block FIFO sessions: info, bench");
