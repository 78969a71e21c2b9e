// SPDX-License-Identifier: GPL-2.0
/*
 * virtzd: the virtz VMM, one process per guest.
 *
 * main.c parses the options, assembles the machine (kvm.c, boot.c,
 * mptable.c, serial.c), registers the instance (registry.c), serves the
 * control socket (control.c) and runs the main loop.  --check is the host
 * check a VMM needs before anything else: is KVM there, at the API
 * version we speak, with the capabilities the VMM relies on?
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "balloon.h"
#include "control.h"
#include "pci.h"
#include "json.h"
#include "kcache.h"
#include "registry.h"
#include "serial.h"
#include "virtio_blk.h"
#include "virtz_version.h"
#include "vm.h"
#include "vzctlsock.h"

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

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzd --kernel BZIMAGE [--initrd FILE] [--cmdline TEXT]\n"
		"              [--memory MIB] [--cpus N] [--env ID] [--label TEXT]\n"
		"              [--control PATH] [--console] [--ready-fd FD]\n"
		"              [--disk id=ID,file=PATH[,mode=rw|ro|volatile][,format=raw|qcow2]\n"
		"                      [,backend=auto|file|session][,cache=none|writeback]]...\n"
		"              [--decompress auto|host|guest] [--kernel-cache DIR|none]\n"
		"              [--huge-pages auto|off] [--no-machine-args]\n"
		"       virtzd --check [-j] [--kvm PATH]\n"
		"\n"
		"Runs one guest: boots BZIMAGE (the Linux x86 64-bit boot protocol,\n"
		"no firmware) under KVM with a 16550A serial console on ttyS0.\n"
		"\n"
		"  --kernel FILE   bzImage to boot (e.g. /boot/vmlinuz-*)\n"
		"  --initrd FILE   initial ramdisk\n"
		"  --cmdline TEXT  kernel command line (default \"%s\")\n"
		"  --memory MIB    guest RAM in MiB, %d to %d; a G suffix means GiB\n"
		"                  (default 256)\n"
		"  --cpus N        vCPUs, 1 to %d (default 1)\n"
		"  --env ID        register in registry environment ID (virtz_vsock)\n"
		"                  and serve the control socket at\n"
		"                  $VIRTZ_RUN_DIR/guest-CID.sock (default dir %s)\n"
		"  --label TEXT    instance label in the registry\n"
		"  --control PATH  serve the control socket at PATH instead\n"
		"  --console       copy the guest's serial output to stdout\n"
		"  --disk SPEC     a virtio-blk disk (repeatable, up to %d): id is its\n"
		"                  serial (<= 20 bytes); see guest-disks.rst\n"
		"  --decompress W  auto (default): boot a zstd kernel the kernel\n"
		"                  cache holds from there, else through the\n"
		"                  bzImage's own decompressor while the cache is\n"
		"                  filled in the background; host: decompress in\n"
		"                  virtzd on a miss; guest: never use the cache.\n"
		"                  virtzd places a kernel it loads at random\n"
		"                  addresses (KASLR) unless the command line says\n"
		"                  nokaslr\n"
		"  --kernel-cache DIR  where decompressed kernels are kept for the\n"
		"                  next boot (default\n"
		"                  $VIRTZ_CACHE_DIR, /var/cache/virtz for root,\n"
		"                  else ~/.cache/virtz); none: do not keep them\n"
		"  --huge-pages H  auto (default): guest RAM in 2 MiB pages, from a\n"
		"                  memfd where shmem_enabled allows, else from a\n"
		"                  private huge tmpfs (needs CAP_SYS_ADMIN);\n"
		"                  off: a memfd in 4 KiB pages\n"
		"  --no-machine-args  do not put \"%s\" (no early PCI\n"
		"                  scans for chipsets this machine lacks) before\n"
		"                  the command line\n"
		"  --ready-fd FD   when the guest starts write \"ok CID\\n\" to FD, or\n"
		"                  \"error MESSAGE\\n\" if it cannot, then close FD\n"
		"  --check         report whether this host can run virtz guests\n"
		"  --kvm PATH      KVM device for --check (default /dev/kvm)\n"
		"  -j, --json      JSON output (--check)\n"
		"  -V              version\n",
		DEFAULT_CMDLINE, VM_MIN_MEM_MIB, VM_MAX_MEM_MIB, VM_MAX_CPUS,
		VZ_CTL_RUN_DIR, VBLK_MAX_DISKS, VM_MACHINE_ARGS);
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


struct run_opts {
	struct vm_config cfg;
	const char *label;
	const char *control;
	long env_id;		/* -1: do not register */
	int ready_fd;
	struct vblk_spec disks[VBLK_MAX_DISKS];
	int ndisks;
};

static void ready(int *fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ready(int *fd, const char *fmt, ...)
{
	va_list ap;

	if (*fd < 0)
		return;
	va_start(ap, fmt);
	vdprintf(*fd, fmt, ap);
	va_end(ap);
	close(*fd);
	*fd = -1;
}

#define DIE(o, ...)							\
	do {								\
		snprintf(err, sizeof(err), __VA_ARGS__);		\
		goto fail;						\
	} while (0)

static int run(struct run_opts *o)
{
	struct pollfd pfd[2 + CONTROL_MAX_CLIENTS + 2 + 2 * SERIAL_MAX_CLIENTS];
	struct control ctl = { .listen_fd = -1 };
	struct serial *serial = NULL;
	char err[512] = "", path[108];
	int reg_fd = -1, sfd = -1, ret = 1;
	bool vm_made = false, started = false;
	struct vblk *disks[VBLK_MAX_DISKS] = { NULL };
	uint32_t cid = 0;
	sigset_t sigs;
	struct vm vm;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR2);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		DIE(o, "signalfd: %s", strerror(errno));

	if (o->cfg.mem_mib < VM_MIN_MEM_MIB || o->cfg.mem_mib > VM_MAX_MEM_MIB)
		DIE(o, "--memory %llu MiB: must be %d to %d MiB",
		    (unsigned long long)o->cfg.mem_mib, VM_MIN_MEM_MIB,
		    VM_MAX_MEM_MIB);
	if (boot_precheck(&o->cfg, err, sizeof(err)))
		goto fail;
	vm_made = true;
	if (vm_create(&vm, &o->cfg, err, sizeof(err)))
		goto fail;
	serial = serial_create(&vm);
	if (!serial)
		DIE(o, "cannot create the serial port");
	vm.serial = serial;
	if (o->cfg.console)
		serial_attach(serial, -1, STDOUT_FILENO, true);
	if (rtc_init(&vm))
		DIE(o, "cannot create the CMOS clock");
	if (pci_init(&vm))
		DIE(o, "cannot set up the PCI bus");
	/*
	 * Every config access is a write of the address latch and an access
	 * to the data port: coalescing the write halves the exits.
	 */
	vm_coalesce_pio(&vm, 0xcf8, 4);
	vm.balloon = balloon_create(&vm);
	if (!vm.balloon)
		DIE(o, "cannot create the virtio-balloon device");
	for (int i = 0; i < o->ndisks; i++) {
		disks[i] = vblk_create(&vm, &o->disks[i], err, sizeof(err));
		if (!disks[i])
			goto fail;
	}
	if (mptable_write(&vm, err, sizeof(err)))
		goto fail;
	if (boot_load(&vm, err, sizeof(err)))
		goto fail;

	if (o->env_id >= 0) {
		reg_fd = registry_register(o->env_id, o->label, &cid, err,
					   sizeof(err));
		if (reg_fd < 0)
			goto fail;
	}
	ctl.vm = &vm;
	ctl.serial = serial;
	ctl.cid = cid;
	ctl.env_id = o->env_id < 0 ? 0 : o->env_id;
	snprintf(ctl.label, sizeof(ctl.label), "%s", o->label);
	ctl.disks = disks;
	ctl.ndisks = o->ndisks;
	if (o->control || cid) {
		if (o->control)
			snprintf(path, sizeof(path), "%s", o->control);
		else
			vzctl_path(path, sizeof(path), cid);
		if (control_listen(&ctl, path, err, sizeof(err)))
			goto fail;
	}

	if (vm_start(&vm))
		DIE(o, "cannot start the vCPUs");
	started = true;
	ready(&o->ready_fd, "ok %u\n", cid);

	while (!vm.stopping) {
		int n = 0, nsig, nctl = 0, nser;

		pfd[n++] = (struct pollfd){ .fd = vm.stop_efd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		nsig = n;
		if (ctl.listen_fd >= 0)
			nctl = control_poll_fill(&ctl, pfd + n,
						 CONTROL_MAX_CLIENTS + 2);
		n += nctl;
		nser = serial_poll_fill(serial, pfd + n,
					1 + 2 * SERIAL_MAX_CLIENTS);
		n += nser;
		if (poll(pfd, n, nctl ? control_poll_timeout(&ctl) : -1) < 0) {
			if (errno == EINTR)
				continue;
			DIE(o, "poll: %s", strerror(errno));
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si)) {
				/* Nothing after all. */
			} else if (si.ssi_signo == SIGUSR2) {
				vm_dump_vcpus(&vm);
			} else {
				fprintf(stderr, "virtzd: signal %u; stopping\n",
					si.ssi_signo);
				vm_stop(&vm, 0);
			}
		}
		if (nctl)
			control_poll_handle(&ctl, pfd + nsig, nctl);
		serial_poll_handle(serial, pfd + nsig + nctl, nser);
	}
	ret = vm.exit_code;
	/* Let attached clients see the last output. */
	{
		struct pollfd p[1 + 2 * SERIAL_MAX_CLIENTS];
		int n = serial_poll_fill(serial, p, 1 + 2 * SERIAL_MAX_CLIENTS);

		if (n > 0 && poll(p, n, 0) >= 0)
			serial_poll_handle(serial, p, n);
	}
	goto out;

fail:
	fprintf(stderr, "virtzd: %s\n", err);
	ready(&o->ready_fd, "error %s\n", err);
	if (started)
		vm_stop(&vm, 1);
out:
	if (started)
		vm_join(&vm);
	for (int i = 0; i < o->ndisks; i++)
		vblk_shutdown(disks[i]);
	/* Only vCPU threads reach the bus: safe to free once they are gone. */
	if (vm_made)
		pci_destroy(&vm);
	control_close(&ctl);
	if (reg_fd >= 0)
		close(reg_fd);
	serial_destroy(serial);
	if (vm_made) {
		rtc_destroy(&vm);
		vm_destroy(&vm);
	}
	if (sfd >= 0)
		close(sfd);
	return ret;
}

static int parse_num(const char *s, long long min, long long max,
		     long long *out, bool mem)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (mem && (*end == 'G' || *end == 'g')) {
		if (v > LLONG_MAX / 1024)
			return -1;
		v *= 1024;
		end++;
	} else if (mem && (*end == 'M' || *end == 'm')) {
		end++;
	}
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "kvm", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'I' },
		{ "cmdline", required_argument, NULL, 'C' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "env", required_argument, NULL, 'e' },
		{ "label", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 's' },
		{ "console", no_argument, NULL, 'o' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "disk", required_argument, NULL, 'd' },
		{ "decompress", required_argument, NULL, 'D' },
		{ "no-machine-args", no_argument, NULL, 'A' },
		{ "kernel-cache", required_argument, NULL, 'H' },
		{ "huge-pages", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_opts o = {
		.cfg = { .cmdline = DEFAULT_CMDLINE, .mem_mib = 256, .cpus = 1,
			 .machine_args = true, .huge_pages = true },
		.label = "",
		.env_id = -1,
		.ready_fd = -1,
	};
	const char *kvm = "/dev/kvm", *kcache_arg = NULL;
	bool do_check = false, json = false;
	char perr[256] = "", kcache_dir[PATH_MAX];
	long long v;
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
		case 'K':
			o.cfg.kernel = optarg;
			break;
		case 'I':
			o.cfg.initrd = optarg;
			break;
		case 'C':
			o.cfg.cmdline = optarg;
			break;
		case 'm':
			/* Range-checked with a clearer message by vm_create(). */
			if (parse_num(optarg, 1, LLONG_MAX / 2, &v, true))
				snprintf(perr, sizeof(perr),
					 "--memory %s: not a size in MiB", optarg);
			else
				o.cfg.mem_mib = v;
			break;
		case 'p':
			if (parse_num(optarg, 1, VM_MAX_CPUS, &v, false))
				snprintf(perr, sizeof(perr),
					 "--cpus %s: must be 1 to %d", optarg,
					 VM_MAX_CPUS);
			else
				o.cfg.cpus = v;
			break;
		case 'e':
			if (parse_num(optarg, 1, INT_MAX, &v, false))
				snprintf(perr, sizeof(perr),
					 "--env %s: not an environment id", optarg);
			else
				o.env_id = v;
			break;
		case 'l':
			o.label = optarg;
			break;
		case 's':
			o.control = optarg;
			break;
		case 'o':
			o.cfg.console = true;
			break;
		case 'r':
			if (parse_num(optarg, 3, INT_MAX, &v, false)) {
				fprintf(stderr, "virtzd: --ready-fd %s: not a descriptor\n",
					optarg);
				return 2;
			}
			o.ready_fd = v;
			fcntl(o.ready_fd, F_SETFD, FD_CLOEXEC);
			break;
		case 'A':
			o.cfg.machine_args = false;
			break;
		case 'H':
			kcache_arg = optarg;
			break;
		case 'P':
			if (!strcmp(optarg, "auto") || !strcmp(optarg, "off"))
				o.cfg.huge_pages = !strcmp(optarg, "auto");
			else
				snprintf(perr, sizeof(perr),
					 "--huge-pages %s: must be auto or off",
					 optarg);
			break;
		case 'D':
			if (!strcmp(optarg, "auto"))
				o.cfg.decompress = VM_DECOMPRESS_AUTO;
			else if (!strcmp(optarg, "host"))
				o.cfg.decompress = VM_DECOMPRESS_HOST;
			else if (!strcmp(optarg, "guest"))
				o.cfg.decompress = VM_DECOMPRESS_GUEST;
			else
				snprintf(perr, sizeof(perr),
					 "--decompress %s: must be auto, host or guest",
					 optarg);
			break;
		case 'd':
			if (o.ndisks == VBLK_MAX_DISKS)
				snprintf(perr, sizeof(perr),
					 "--disk: at most %d disks", VBLK_MAX_DISKS);
			else if (!vblk_parse_spec(optarg, &o.disks[o.ndisks],
						  perr, sizeof(perr)))
				o.ndisks++;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (perr[0]) {
		fprintf(stderr, "virtzd: %s\n", perr);
		ready(&o.ready_fd, "error %s\n", perr);
		return 2;
	}
	if (optind != argc || do_check == !!o.cfg.kernel) {
		usage(stderr);
		return 2;
	}
	if (do_check)
		return check(kvm, json);
	/* Decompressed kernels are kept, unless told not to. */
	if (!kcache_arg)
		o.cfg.kernel_cache = kcache_default_dir(kcache_dir,
							sizeof(kcache_dir));
	else if (strcmp(kcache_arg, "none"))
		o.cfg.kernel_cache = kcache_arg;
	return run(&o);
}
