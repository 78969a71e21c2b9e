// SPDX-License-Identifier: GPL-2.0
/*
 * virtzd: the virtz VMM, one process per guest.
 *
 * This first piece is the host check a VMM needs before anything else:
 * is KVM there, at the API version we speak, with the capabilities the
 * VMM relies on (in-kernel irqchip, irqfd for MSI-X, ioeventfd for queue
 * notifications, and enough memory slots)?
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "json.h"
#include "virtz_version.h"

struct kvm_need {
	int cap;
	const char *name;
	bool required;
};

static const struct kvm_need needs[] = {
	{ KVM_CAP_USER_MEMORY, "user-memory", true },
	{ KVM_CAP_IRQCHIP, "irqchip", true },
	{ KVM_CAP_IRQFD, "irqfd", true },
	{ KVM_CAP_IOEVENTFD, "ioeventfd", true },
	{ KVM_CAP_IRQ_ROUTING, "irq-routing", true },
	{ KVM_CAP_SIGNAL_MSI, "signal-msi", true },
	{ KVM_CAP_NR_MEMSLOTS, "memslots", true },
	{ KVM_CAP_MAX_VCPUS, "max-vcpus", true },
	{ KVM_CAP_TSC_DEADLINE_TIMER, "tsc-deadline-timer", false },
	{ KVM_CAP_SPLIT_IRQCHIP, "split-irqchip", false },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzd --check [-j] [--kvm PATH]\n"
		"\n"
		"  --check      report whether this host can run virtz guests\n"
		"  --kvm PATH   KVM device (default /dev/kvm)\n"
		"  -j, --json   JSON output\n"
		"  -V           version\n");
}

static int check(const char *path, bool json)
{
	int fd, api, i, n = sizeof(needs) / sizeof(needs[0]);
	bool ok = true;
	struct jw w;
	int vals[sizeof(needs) / sizeof(needs[0])];

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "virtzd: cannot open %s: %s%s\n", path,
			strerror(errno),
			errno == ENOENT ? " (load kvm_intel or kvm_amd)" : "");
		return 1;
	}
	api = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		fprintf(stderr, "virtzd: %s speaks KVM API %d, virtzd needs %d\n",
			path, api, KVM_API_VERSION);
		close(fd);
		return 1;
	}
	for (i = 0; i < n; i++) {
		vals[i] = ioctl(fd, KVM_CHECK_EXTENSION, needs[i].cap);
		if (vals[i] <= 0 && needs[i].required)
			ok = false;
	}
	close(fd);

	if (json) {
		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_str(&w, "kvm", path);
		jw_s64(&w, "api_version", api);
		jw_bool(&w, "usable", ok);
		jw_obj_open(&w, "capabilities");
		for (i = 0; i < n; i++)
			jw_s64(&w, needs[i].name, vals[i] < 0 ? 0 : vals[i]);
		jw_obj_close(&w);
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		printf("%s: KVM API %d\n", path, api);
		for (i = 0; i < n; i++)
			printf("  %-20s %-6d %s\n", needs[i].name,
			       vals[i] < 0 ? 0 : vals[i],
			       vals[i] > 0 ? "ok" :
			       needs[i].required ? "MISSING" : "absent (optional)");
		printf("%s\n", ok ? "usable" : "NOT usable: a required capability is missing");
	}
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "kvm", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kvm = "/dev/kvm";
	bool do_check = false, json = false;
	int c;

	while ((c = getopt_long(argc, argv, "jVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			do_check = true;
			break;
		case 'k':
			kvm = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'V':
			printf("virtzd %s\n", VIRTZ_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!do_check || optind != argc) {
		usage(stderr);
		return 2;
	}
	return check(kvm, json);
}
