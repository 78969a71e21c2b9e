// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl guest: launch a virtzd per guest (Realm.LaunchInstance), list
 * the registered instances, stop one, attach to its serial console
 * (Guest.GetSerial over the control socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <linux/virtz.h>

#include "regclient.h"
#include "virtzctl.h"
#include "vzctlsock.h"

#define DETACH_KEY	0x1d	/* Ctrl-], as virsh console */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: virtzctl [-j] guest launch --env ID --kernel FILE [--initrd FILE]\n"
		"                 [--cmdline TEXT] [--args TEXT] [--url URL] [--label TEXT]\n"
		"                 [--memory MIB] [--cpus N] [--log FILE]\n"
		"                 [--disk id=ID,file=PATH[,mode=rw|ro|volatile][,format=raw|qcow2]\n"
		"                         [,backend=auto|file|session][,cache=none|writeback]]...\n"
		"                 [--decompress auto|host|guest] [--kernel-cache DIR|none]\n"
		"                 [--huge-pages auto|off]\n"
		"       virtzctl [-j] guest list\n"
		"       virtzctl [-j] guest info CID\n"
		"       virtzctl guest stop CID\n"
		"       virtzctl guest serial CID\n"
		"\n"
		"launch  start a detached virtzd for one guest in environment ID and\n"
		"        print its CID.  --url and --label are the LaunchInfo fields\n"
		"        (the label defaults to the url); --args is appended to the\n"
		"        kernel command line.  virtzd is looked up beside virtzctl,\n"
		"        then as $VIRTZD, then in PATH.  --log FILE collects virtzd's\n"
		"        messages after start-up (default: discarded).  Each --disk\n"
		"        is a LaunchInfo block device, passed to virtzd as is, and\n"
		"        so are --decompress, --kernel-cache and --huge-pages (see\n"
		"        virtzd.rst).\n"
		"list    registered guests (CID, environment, pid, label)\n"
		"info    what the guest's virtzd reports over its control socket\n"
		"stop    ask the guest's virtzd to stop the guest and exit\n"
		"serial  attach to the guest's serial console; Ctrl-] detaches.\n"
		"        Without a terminal on stdin, stdin is sent and output is\n"
		"        printed until stdin ends and the guest is quiet for 3 s.\n");
}

static int parse_cid(const char *s, unsigned int *cid)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < VIRTZ_FIRST_GUEST_CID ||
	    v > UINT32_MAX)
		return ctl_usage_err("guest", "'%s' is not a guest CID", s);
	*cid = v;
	return 0;
}

static int connect_cid(unsigned int cid)
{
	char path[108];
	int fd;

	vzctl_path(path, sizeof(path), cid);
	fd = vzctl_connect(path);
	if (fd < 0)
		ctl_err("guest", "cannot reach guest %u at %s: %s", cid, path,
			strerror(-fd));
	return fd;
}

static void find_virtzd(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash && (size_t)(slash - self) + sizeof("/virtzd") <= len) {
			memcpy(buf, self, slash - self);
			memcpy(buf + (slash - self), "/virtzd", sizeof("/virtzd"));
			if (!access(buf, X_OK))
				return;
		}
	}
	snprintf(buf, len, "%s", getenv("VIRTZD") ? getenv("VIRTZD") : "virtzd");
}

static int guest_launch(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "args", required_argument, NULL, 'a' },
		{ "url", required_argument, NULL, 'u' },
		{ "label", required_argument, NULL, 'l' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'L' },
		{ "disk", required_argument, NULL, 'D' },
		{ "decompress", required_argument, NULL, 'z' },
		{ "kernel-cache", required_argument, NULL, 'K' },
		{ "huge-pages", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *decompress = NULL, *kcache = NULL, *huge = NULL;
	const char *env = NULL, *kernel = NULL, *initrd = NULL, *url = NULL;
	const char *label = NULL, *mem = "256", *cpus = "1", *args = NULL;
	const char *log = "/dev/null";
	const char *cmdline = "console=ttyS0 reboot=k panic=-1";
	char virtzd[PATH_MAX], fdarg[16], full[4096], reply[640];
	char *disks[8];
	char *vargv[30 + 2 * 8];
	int pfd[2], c, n = 0, status, ndisks = 0, i;
	ssize_t got = 0, r;
	pid_t pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': env = optarg; break;
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'c': cmdline = optarg; break;
		case 'a': args = optarg; break;
		case 'u': url = optarg; break;
		case 'l': label = optarg; break;
		case 'm': mem = optarg; break;
		case 'p': cpus = optarg; break;
		case 'L': log = optarg; break;
		case 'z': decompress = optarg; break;
		case 'K': kcache = optarg; break;
		case 'H': huge = optarg; break;
		case 'D':
			if (ndisks == 8)
				return ctl_usage_err("guest", "at most 8 --disk");
			disks[ndisks++] = optarg;
			break;
		default:
			return ctl_usage_err("guest", "bad launch option");
		}
	}
	if (optind != argc)
		return ctl_usage_err("guest", "unexpected argument '%s'",
				     argv[optind]);
	if (!env || !kernel)
		return ctl_usage_err("guest", "launch needs --env and --kernel");
	if (!label)
		label = url ? url : "";
	snprintf(full, sizeof(full), "%s%s%s", cmdline, args ? " " : "",
		 args ? args : "");

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ctl_err("guest", "pipe: %s", strerror(errno));
	find_virtzd(virtzd, sizeof(virtzd));
	snprintf(fdarg, sizeof(fdarg), "%d", pfd[1]);
	vargv[n++] = virtzd;
	vargv[n++] = "--kernel";
	vargv[n++] = (char *)kernel;
	if (initrd) {
		vargv[n++] = "--initrd";
		vargv[n++] = (char *)initrd;
	}
	vargv[n++] = "--cmdline";
	vargv[n++] = full;
	vargv[n++] = "--memory";
	vargv[n++] = (char *)mem;
	vargv[n++] = "--cpus";
	vargv[n++] = (char *)cpus;
	vargv[n++] = "--env";
	vargv[n++] = (char *)env;
	vargv[n++] = "--label";
	vargv[n++] = (char *)label;
	vargv[n++] = "--ready-fd";
	vargv[n++] = fdarg;
	if (decompress) {
		vargv[n++] = "--decompress";
		vargv[n++] = (char *)decompress;
	}
	if (kcache) {
		vargv[n++] = "--kernel-cache";
		vargv[n++] = (char *)kcache;
	}
	if (huge) {
		vargv[n++] = "--huge-pages";
		vargv[n++] = (char *)huge;
	}
	for (i = 0; i < ndisks; i++) {
		vargv[n++] = "--disk";
		vargv[n++] = disks[i];
	}
	vargv[n] = NULL;

	pid = fork();
	if (pid < 0)
		return ctl_err("guest", "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Detach: new session, then a grandchild init adopts. */
		int null = open("/dev/null", O_RDWR);
		int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		setsid();
		if (fork() != 0)
			_exit(0);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		if (logfd >= 0)
			dup2(logfd, 2);
		fcntl(pfd[1], F_SETFD, 0);
		execvp(virtzd, vargv);
		dprintf(pfd[1], "error cannot run %s: %s\n", virtzd,
			strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	waitpid(pid, &status, 0);
	while (got < (ssize_t)sizeof(reply) - 1 &&
	       (r = read(pfd[0], reply + got, sizeof(reply) - 1 - got)) > 0)
		got += r;
	close(pfd[0]);
	reply[got] = '\0';
	if (got && reply[got - 1] == '\n')
		reply[got - 1] = '\0';

	if (strncmp(reply, "ok ", 3)) {
		if (!strncmp(reply, "error ", 6))
			return ctl_err("guest", "launch: %s", reply + 6);
		return ctl_err("guest", "launch: virtzd exited without starting the guest");
	}
	if (ctl->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_u64(&w, "cid", strtoul(reply + 3, NULL, 10));
		jw_str(&w, "label", label);
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		printf("%s\n", reply + 3);
	}
	return CTL_OK;
}

#define MAX_LISTED_DISKS	16

/*
 * Asks guest @cid for its disks (GUEST_GET_DISK 0, 1, ... until ENOENT).
 * Returns how many, or a negative errno when the guest cannot be asked
 * (then @quiet decides whether that is reported).
 */
static int get_disks(unsigned int cid, struct vz_ctl_disk_info *di, int max,
		     bool quiet)
{
	char path[108], msg[512];
	int sock, n, ret;

	vzctl_path(path, sizeof(path), cid);
	sock = vzctl_connect(path);
	if (sock < 0) {
		if (!quiet)
			ctl_err("guest", "cannot reach guest %u at %s: %s", cid,
				path, strerror(-sock));
		return sock;
	}
	for (n = 0; n < max; n++) {
		uint32_t i = n;

		ret = vzctl_call(sock, VZ_CTL_GUEST_GET_DISK, &i, sizeof(i),
				 &di[n], sizeof(di[n]), NULL, msg, sizeof(msg));
		if (ret == -ENOENT)
			break;
		if (ret < 0) {
			if (!quiet)
				ctl_err("guest", "disks of %u: %s%s%s", cid,
					msg[0] ? msg : strerror(-ret),
					msg[0] ? " - " : "",
					msg[0] ? strerror(-ret) : "");
			close(sock);
			return ret;
		}
		di[n].id[sizeof(di[n].id) - 1] = '\0';
		di[n].mode[sizeof(di[n].mode) - 1] = '\0';
		di[n].format[sizeof(di[n].format) - 1] = '\0';
		di[n].backend[sizeof(di[n].backend) - 1] = '\0';
		di[n].path[sizeof(di[n].path) - 1] = '\0';
	}
	close(sock);
	return n;
}

static void json_disks(struct jw *w, const struct vz_ctl_disk_info *di, int n)
{
	int i;

	jw_arr_open(w, "disks");
	for (i = 0; i < n; i++) {
		jw_obj_open(w, NULL);
		jw_str(w, "id", di[i].id);
		jw_str(w, "file", di[i].path);
		jw_str(w, "mode", di[i].mode);
		jw_str(w, "format", di[i].format);
		jw_str(w, "backend", di[i].backend);
		jw_u64(w, "size_bytes", di[i].size);
		jw_u64(w, "block_size", di[i].block_size);
		jw_bool(w, "read_only", di[i].flags & VZ_CTL_DISK_RO);
		jw_bool(w, "discard", di[i].flags & VZ_CTL_DISK_DISCARD);
		jw_bool(w, "write_zeroes", di[i].flags & VZ_CTL_DISK_WRITE_ZEROES);
		jw_obj_close(w);
	}
	jw_arr_close(w);
}

static int guest_list(struct ctl *ctl, int argc, char **argv)
{
	struct reg_env *envs;
	struct vz_genl g;
	struct jw w;
	int n, i, j;

	if (argc != 1)
		return ctl_usage_err("guest", "list takes no arguments");
	if (reg_open(&g, "guest"))
		return CTL_ERR;
	n = reg_env_list(&g, &envs);
	if (n < 0) {
		reg_report(&g, "guest", "list", n);
		vz_genl_close(&g);
		return CTL_ERR;
	}
	vz_genl_close(&g);
	if (ctl->json) {
		jw_init(&w, stdout);
		jw_arr_open(&w, NULL);
	} else {
		printf("%-6s %-6s %-8s %-24s %s\n", "CID", "ENV", "PID", "LABEL",
		       "DISKS");
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < envs[i].n_inst; j++) {
			struct reg_inst *in = &envs[i].inst[j];
			struct vz_ctl_disk_info di[MAX_LISTED_DISKS];
			int nd = get_disks(in->cid, di, MAX_LISTED_DISKS, true);

			if (ctl->json) {
				jw_obj_open(&w, NULL);
				jw_u64(&w, "cid", in->cid);
				jw_u64(&w, "env", envs[i].id);
				jw_u64(&w, "pid", in->pid);
				jw_str(&w, "label", in->label);
				/* Absent when the instance cannot be asked. */
				if (nd >= 0)
					json_disks(&w, di, nd);
				jw_obj_close(&w);
			} else {
				printf("%-6u %-6u %-8u %-24s ", in->cid,
				       envs[i].id, in->pid, in->label);
				if (nd < 0)
					printf("?");
				else if (!nd)
					printf("-");
				for (int k = 0; k < nd; k++)
					printf("%s%s:%s:%s", k ? "," : "",
					       di[k].id, di[k].mode,
					       di[k].format);
				printf("\n");
			}
		}
	}
	if (ctl->json) {
		jw_arr_close(&w);
		jw_end(&w);
	}
	reg_env_free(envs, n);
	return CTL_OK;
}

static int call(unsigned int cid, uint16_t type, void *out, size_t outlen,
		int *fd_out, const char *verb)
{
	char msg[512];
	int sock, ret;

	sock = connect_cid(cid);
	if (sock < 0)
		return sock;
	ret = vzctl_call(sock, type, NULL, 0, out, outlen, fd_out, msg,
			 sizeof(msg));
	close(sock);
	if (ret < 0)
		ctl_err("guest", "%s %u: %s%s%s", verb, cid,
			msg[0] ? msg : strerror(-ret), msg[0] ? " - " : "",
			msg[0] ? strerror(-ret) : "");
	return ret;
}

static int guest_info(struct ctl *ctl, int argc, char **argv)
{
	struct vz_ctl_guest_info gi = { 0 };
	struct vz_ctl_disk_info di[MAX_LISTED_DISKS];
	unsigned int cid;
	int nd;

	if (argc != 2)
		return ctl_usage_err("guest", "info takes one CID");
	if (parse_cid(argv[1], &cid))
		return CTL_USAGE;
	if (call(cid, VZ_CTL_GUEST_GET_INFO, &gi, sizeof(gi), NULL, "info") < 0)
		return CTL_ERR;
	gi.label[sizeof(gi.label) - 1] = '\0';
	nd = get_disks(cid, di, MAX_LISTED_DISKS, false);
	if (nd < 0)
		return CTL_ERR;
	if (ctl->json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj_open(&w, NULL);
		jw_u64(&w, "cid", gi.cid);
		jw_u64(&w, "env", gi.env_id);
		jw_u64(&w, "pid", gi.pid);
		jw_u64(&w, "cpus", gi.cpus);
		jw_u64(&w, "memory_bytes", gi.mem_bytes);
		jw_u64(&w, "serial_bytes", gi.serial_bytes);
		jw_str(&w, "label", gi.label);
		json_disks(&w, di, nd);
		jw_obj_close(&w);
		jw_end(&w);
	} else {
		printf("cid %u env %u pid %u cpus %u memory %llu MiB serial %llu bytes label \"%s\"\n",
		       gi.cid, gi.env_id, gi.pid, gi.cpus,
		       (unsigned long long)gi.mem_bytes >> 20,
		       (unsigned long long)gi.serial_bytes, gi.label);
		for (int i = 0; i < nd; i++)
			printf("disk %s: %s, %s, %s, %s backend, %llu bytes, %u-byte blocks%s%s%s\n",
			       di[i].id, di[i].path, di[i].format, di[i].mode,
			       di[i].backend, (unsigned long long)di[i].size,
			       di[i].block_size,
			       di[i].flags & VZ_CTL_DISK_DISCARD ? ", discard" : "",
			       di[i].flags & VZ_CTL_DISK_WRITE_ZEROES ? ", write-zeroes" : "",
			       di[i].flags & VZ_CTL_DISK_PATH_TRUNCATED ? " (path truncated)" : "");
	}
	return CTL_OK;
}

static int guest_stop(struct ctl *ctl, int argc, char **argv)
{
	unsigned int cid;

	if (argc != 2)
		return ctl_usage_err("guest", "stop takes one CID");
	if (parse_cid(argv[1], &cid))
		return CTL_USAGE;
	return call(cid, VZ_CTL_GUEST_STOP, NULL, 0, NULL, "stop") < 0 ?
		CTL_ERR : CTL_OK;
}

/* Copies between the terminal (or pipes) and the serial socket. */
static int pump(int sock, bool tty)
{
	struct pollfd p[2];
	bool in_open = true;
	char buf[4096];
	ssize_t n;

	for (;;) {
		int i, timeout = in_open || tty ? -1 : 3000;

		p[0] = (struct pollfd){ .fd = in_open ? 0 : -1, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = sock, .events = POLLIN };
		n = poll(p, 2, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? CTL_ERR : CTL_OK;	/* quiet: done */
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false;
				if (tty)
					return CTL_OK;
			}
			for (i = 0; i < n; i++) {
				if (tty && buf[i] == DETACH_KEY)
					return CTL_OK;
			}
			if (n > 0 && write(sock, buf, n) != n)
				return CTL_ERR;
		}
		if (p[1].revents) {
			n = read(sock, buf, sizeof(buf));
			if (n <= 0)
				return CTL_OK;	/* the guest stopped */
			if (write(1, buf, n) != n)
				return CTL_ERR;
		}
	}
}

static int guest_serial(struct ctl *ctl, int argc, char **argv)
{
	struct termios saved, raw;
	unsigned int cid;
	bool tty = isatty(0);
	int fd, ret;

	if (argc != 2)
		return ctl_usage_err("guest", "serial takes one CID");
	if (parse_cid(argv[1], &cid))
		return CTL_USAGE;
	if (call(cid, VZ_CTL_GUEST_GET_SERIAL, NULL, 0, &fd, "serial") < 0)
		return CTL_ERR;
	if (fd < 0)
		return ctl_err("guest", "serial %u: virtzd passed no socket", cid);
	if (tty) {
		fprintf(stderr, "Connected to guest %u; escape character is ^]\n",
			cid);
		tcgetattr(0, &saved);
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
	}
	ret = pump(fd, tty);
	if (tty) {
		tcsetattr(0, TCSANOW, &saved);
		fputc('\n', stderr);
	}
	close(fd);
	return ret;
}

static int cmd_guest(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 0)
		return ctl_usage_err("guest", "a verb is needed");
	if (ctl_is_help(argv[0]) || (argc > 1 && ctl_is_help(argv[1]))) {
		usage(stdout);
		return CTL_OK;
	}
	if (!strcmp(argv[0], "launch"))
		return guest_launch(ctl, argc, argv);
	if (!strcmp(argv[0], "list"))
		return guest_list(ctl, argc, argv);
	if (!strcmp(argv[0], "info"))
		return guest_info(ctl, argc, argv);
	if (!strcmp(argv[0], "stop"))
		return guest_stop(ctl, argc, argv);
	if (!strcmp(argv[0], "serial"))
		return guest_serial(ctl, argc, argv);
	return ctl_usage_err("guest", "unknown verb '%s'", argv[0]);
}

CTL_COMMAND(guest, cmd_guest,
	    "guests: launch, list, info, stop, serial (virtzd instances)");
