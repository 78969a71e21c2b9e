// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl balloon: a guest's BalloonController over its control socket.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtz.h>

#include "virtzctl.h"
#include "vzctlsock.h"

static const char *const tag_names[16] = {
	"swap-in", "swap-out", "major-faults", "minor-faults", "free-memory",
	"total-memory", "available-memory", "disk-caches", "hugetlb-allocations",
	"hugetlb-failures", "oom-kills", "alloc-stalls", "async-scans",
	"direct-scans", "async-reclaims", "direct-reclaims",
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzctl [-j] balloon CID get\n"
		"       virtzctl balloon CID set PAGES\n"
		"       virtzctl [-j] balloon CID stats\n"
		"\n"
		"get    pages the guest has given to the balloon (its 'actual')\n"
		"set    ask the guest to make the balloon PAGES 4 KiB pages\n"
		"stats  the guest's memory statistics (virtio tags 0..15)\n");
}

static int cmd_balloon(struct ctl *ctl, int argc, char **argv)
{
	uint8_t out[VZ_CTL_MAX_MSG];
	char path[108], msg[512], *end;
	unsigned long cid, pages = 0;
	uint32_t req;
	uint16_t type;
	int sock, ret;

	if (argc == 0)
		return ctl_usage_err("balloon", "a CID and a verb are needed");
	if (ctl_is_help(argv[0]) || (argc > 1 && ctl_is_help(argv[1]))) {
		usage(stdout);
		return CTL_OK;
	}
	errno = 0;
	cid = strtoul(argv[0], &end, 10);
	if (errno || *end || cid < VIRTZ_FIRST_GUEST_CID || cid > UINT32_MAX)
		return ctl_usage_err("balloon", "'%s' is not a guest CID", argv[0]);
	if (argc < 2)
		return ctl_usage_err("balloon", "a verb is needed");
	if (!strcmp(argv[1], "get") && argc == 2) {
		type = VZ_CTL_BALLOON_GET_NUM_PAGES;
	} else if (!strcmp(argv[1], "stats") && argc == 2) {
		type = VZ_CTL_BALLOON_GET_MEM_STATS;
	} else if (!strcmp(argv[1], "set") && argc == 3) {
		errno = 0;
		pages = strtoul(argv[2], &end, 10);
		if (errno || *end || end == argv[2] || pages > UINT32_MAX)
			return ctl_usage_err("balloon", "'%s' is not a page count",
					     argv[2]);
		type = VZ_CTL_BALLOON_REQUEST_NUM_PAGES;
	} else {
		return ctl_usage_err("balloon", "unknown verb or arguments");
	}

	vzctl_path(path, sizeof(path), cid);
	sock = vzctl_connect(path);
	if (sock < 0)
		return ctl_err("balloon", "cannot reach guest %lu at %s: %s", cid,
			       path, strerror(-sock));
	req = pages;
	ret = vzctl_call(sock, type, &req,
			 type == VZ_CTL_BALLOON_REQUEST_NUM_PAGES ? sizeof(req) : 0,
			 out, sizeof(out), NULL, msg, sizeof(msg));
	close(sock);
	if (ret < 0)
		return ctl_err("balloon", "%s: %s%s%s", argv[1],
			       msg[0] ? msg : strerror(-ret), msg[0] ? " - " : "",
			       msg[0] ? strerror(-ret) : "");

	if (type == VZ_CTL_BALLOON_GET_NUM_PAGES) {
		uint32_t n = 0;

		memcpy(&n, out, ret < 4 ? 0 : 4);
		if (ctl->json) {
			struct jw w;

			jw_init(&w, stdout);
			jw_obj_open(&w, NULL);
			jw_u64(&w, "num_pages", n);
			jw_obj_close(&w);
			jw_end(&w);
		} else {
			printf("%u\n", n);
		}
	} else if (type == VZ_CTL_BALLOON_GET_MEM_STATS) {
		struct vz_ctl_mem_stat st;
		int i, n = ret / sizeof(st);
		struct jw w;

		if (ctl->json) {
			jw_init(&w, stdout);
			jw_arr_open(&w, NULL);
		}
		for (i = 0; i < n; i++) {
			memcpy(&st, out + i * sizeof(st), sizeof(st));
			if (ctl->json) {
				jw_obj_open(&w, NULL);
				jw_u64(&w, "tag", st.tag);
				jw_str(&w, "name", st.tag < 16 ? tag_names[st.tag] : "unknown");
				jw_u64(&w, "value", st.val);
				jw_obj_close(&w);
			} else {
				printf("%-20s %llu\n",
				       st.tag < 16 ? tag_names[st.tag] : "unknown",
				       (unsigned long long)st.val);
			}
		}
		if (ctl->json) {
			jw_arr_close(&w);
			jw_end(&w);
		}
	}
	return CTL_OK;
}

CTL_COMMAND(balloon, cmd_balloon, "guest memory balloon: get, set, stats");
