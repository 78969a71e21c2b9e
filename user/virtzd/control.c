// SPDX-License-Identifier: GPL-2.0
/*
 * Control socket server.  Every datagram is validated before it is acted
 * on: size, magic, flags, the length field against the datagram, the
 * type, and the payload size the type wants.  A bad message gets an error
 * reply naming the problem; the connection and the guest carry on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "balloon.h"
#include "control.h"
#include "virtio_blk.h"
#include "vzctlsock.h"

static size_t reply_err(uint8_t *reply, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static size_t reply_err(uint8_t *reply, int error, const char *fmt, ...)
{
	struct vz_ctl_hdr *h = (struct vz_ctl_hdr *)reply;
	struct vz_ctl_status st = { .error = error };
	char *text = (char *)reply + sizeof(*h) + sizeof(st);
	size_t room = VZ_CTL_MAX_MSG - sizeof(*h) - sizeof(st);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= room)
		n = room - 1;
	memcpy(reply + sizeof(*h), &st, sizeof(st));
	h->len = sizeof(st) + n + 1;
	return sizeof(*h) + h->len;
}

static size_t reply_ok(uint8_t *reply, const void *data, size_t len)
{
	struct vz_ctl_hdr *h = (struct vz_ctl_hdr *)reply;
	struct vz_ctl_status st = { 0 };

	memcpy(reply + sizeof(*h), &st, sizeof(st));
	if (len)
		memcpy(reply + sizeof(*h) + sizeof(st), data, len);
	h->len = sizeof(st) + len;
	return sizeof(*h) + h->len;
}

static const char *type_name(uint16_t type)
{
	switch (type) {
	case VZ_CTL_GUEST_GET_INFO: return "guest-get-info";
	case VZ_CTL_GUEST_GET_SERIAL: return "guest-get-serial";
	case VZ_CTL_GUEST_STOP: return "guest-stop";
	case VZ_CTL_GUEST_GET_DISK: return "guest-get-disk";
	case VZ_CTL_BALLOON_GET_NUM_PAGES: return "balloon-get-num-pages";
	case VZ_CTL_BALLOON_REQUEST_NUM_PAGES: return "balloon-request-num-pages";
	case VZ_CTL_BALLOON_GET_MEM_STATS: return "balloon-get-mem-stats";
	}
	return NULL;
}

/* Payload bytes each request type takes. */
static uint32_t payload_len(uint16_t type)
{
	return type == VZ_CTL_BALLOON_REQUEST_NUM_PAGES ||
	       type == VZ_CTL_GUEST_GET_DISK ? sizeof(uint32_t) : 0;
}

size_t control_dispatch(struct control *c, const uint8_t *msg, size_t len,
			int truncated, uint8_t *reply, int *pass_fd)
{
	struct vz_ctl_hdr *rh = (struct vz_ctl_hdr *)reply;
	struct vz_ctl_hdr h;
	const char *name;
	int sv[2];

	*pass_fd = -1;
	c->deferred = false;
	memset(rh, 0, sizeof(*rh));
	rh->magic = VZ_CTL_MAGIC;
	rh->flags = VZ_CTL_F_REPLY;

	if (truncated)
		return reply_err(reply, -EMSGSIZE,
				 "message longer than %d bytes", VZ_CTL_MAX_MSG);
	if (len < sizeof(h))
		return reply_err(reply, -EBADMSG,
				 "truncated header: %zu of %zu bytes", len,
				 sizeof(h));
	memcpy(&h, msg, sizeof(h));
	rh->type = h.type;
	rh->seq = h.seq;
	if (h.magic != VZ_CTL_MAGIC)
		return reply_err(reply, -EPROTO, "bad magic %#x (want %#x)",
				 h.magic, VZ_CTL_MAGIC);
	if (h.flags)
		return reply_err(reply, -EINVAL,
				 "request flags %#x: none are defined", h.flags);
	if (h.len != len - sizeof(h))
		return reply_err(reply, -EBADMSG,
				 "length field says %u payload bytes, message has %zu",
				 h.len, len - sizeof(h));
	name = type_name(h.type);
	if (!name)
		return reply_err(reply, -EOPNOTSUPP, "unknown message type %u",
				 h.type);
	if (h.len != payload_len(h.type))
		return reply_err(reply, -EINVAL,
				 "%s takes %u payload bytes, got %u", name,
				 payload_len(h.type), h.len);

	switch (h.type) {
	case VZ_CTL_GUEST_GET_INFO: {
		struct vz_ctl_guest_info gi = {
			.cid = c->cid, .env_id = c->env_id,
			.cpus = c->vm->ncpus, .pid = getpid(),
			.mem_bytes = c->vm->mem_size,
			.serial_bytes = serial_written(c->serial),
		};

		snprintf(gi.label, sizeof(gi.label), "%s", c->label);
		return reply_ok(reply, &gi, sizeof(gi));
	}
	case VZ_CTL_GUEST_GET_SERIAL:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return reply_err(reply, -errno, "socketpair: %s",
					 strerror(errno));
		if (serial_attach(c->serial, sv[0], sv[0], true)) {
			close(sv[0]);
			close(sv[1]);
			return reply_err(reply, -EBUSY,
					 "already %d serial clients attached",
					 SERIAL_MAX_CLIENTS);
		}
		*pass_fd = sv[1];
		return reply_ok(reply, NULL, 0);
	case VZ_CTL_GUEST_STOP:
		vm_stop(c->vm, 0);
		return reply_ok(reply, NULL, 0);
	case VZ_CTL_GUEST_GET_DISK: {
		struct vz_ctl_disk_info di;
		uint32_t i;

		memcpy(&i, msg + sizeof(h), sizeof(i));
		if (i >= (uint32_t)c->ndisks)
			return reply_err(reply, -ENOENT,
					 "no disk %u (the guest has %d)", i,
					 c->ndisks);
		vblk_describe(c->disks[i], &di);
		return reply_ok(reply, &di, sizeof(di));
	}
	}

	/* BalloonController */
	if (!c->vm->balloon)
		return reply_err(reply, -ENODEV,
				 "%s: this guest has no balloon device", name);
	switch (h.type) {
	case VZ_CTL_BALLOON_GET_NUM_PAGES: {
		uint32_t n = balloon_actual(c->vm->balloon);

		return reply_ok(reply, &n, sizeof(n));
	}
	case VZ_CTL_BALLOON_REQUEST_NUM_PAGES: {
		char err[160];
		uint32_t n;
		int ret;

		memcpy(&n, msg + sizeof(h), sizeof(n));
		ret = balloon_request(c->vm->balloon, n, err, sizeof(err));
		if (ret)
			return reply_err(reply, ret, "%s: %s", name, err);
		return reply_ok(reply, NULL, 0);
	}
	default: {	/* VZ_CTL_BALLOON_GET_MEM_STATS */
		char err[160];
		int ret;

		ret = balloon_stats_ask(c->vm->balloon, &c->deferred_seq, err,
					sizeof(err));
		if (ret)
			return reply_err(reply, ret, "%s: %s", name, err);
		/* The answer comes when the guest reports: stats_reply(). */
		c->deferred = true;
		return 0;
	}
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The reply to @cl's waiting GetMemStats, once the guest has reported or
 * the time is up; 0 while it must still wait.
 */
static size_t stats_reply(struct control *c, struct control_client *cl,
			  uint8_t *reply, int64_t now)
{
	struct vz_ctl_hdr *rh = (struct vz_ctl_hdr *)reply;
	struct vz_ctl_mem_stat st[BALLOON_NUM_TAGS];
	uint16_t tags[BALLOON_NUM_TAGS];
	uint64_t vals[BALLOON_NUM_TAGS];
	char err[160];
	int i, n;

	n = balloon_stats_collect(c->vm->balloon, cl->stats_seq, tags, vals,
				  err, sizeof(err));
	if (n == -EAGAIN && now < cl->deadline_ms)
		return 0;
	memset(rh, 0, sizeof(*rh));
	rh->magic = VZ_CTL_MAGIC;
	rh->flags = VZ_CTL_F_REPLY;
	rh->type = VZ_CTL_BALLOON_GET_MEM_STATS;
	rh->seq = cl->req_seq;
	if (n == -EAGAIN)
		return reply_err(reply, -ETIMEDOUT,
				 "balloon-get-mem-stats: the guest sent no statistics within %d ms (is its virtio_balloon driver loaded?)",
				 CONTROL_STATS_TIMEOUT_MS);
	if (n < 0)
		return reply_err(reply, n, "balloon-get-mem-stats: %s", err);
	memset(st, 0, sizeof(st));
	for (i = 0; i < n; i++) {
		st[i].tag = tags[i];
		st[i].val = vals[i];
	}
	return reply_ok(reply, st, n * sizeof(st[0]));
}

int control_listen(struct control *c, const char *path, char *err,
		   size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	c->nclients = 0;
	c->listen_fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	snprintf(c->path, sizeof(c->path), "%s", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	/* A leftover from a crashed virtzd with the same CID. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 8) < 0) {
		close(fd);
		goto fail;
	}
	chmod(path, 0600);
	c->listen_fd = fd;
	return 0;
fail:
	snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
	return -errno;
}

void control_close(struct control *c)
{
	while (c->nclients)
		close(c->clients[--c->nclients].fd);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	c->listen_fd = -1;
}

/*
 * pfd[0] the listening socket, pfd[1] the balloon's statistics eventfd,
 * then one per connection (a waiting one is watched for hangup only).
 */
int control_poll_fill(struct control *c, struct pollfd *pfd, int max)
{
	int i;

	if (max < 2 + c->nclients)
		return 0;
	pfd[0] = (struct pollfd){
		.fd = c->nclients < CONTROL_MAX_CLIENTS ? c->listen_fd : -1,
		.events = POLLIN,
	};
	pfd[1] = (struct pollfd){
		.fd = c->vm->balloon ? balloon_stats_fd(c->vm->balloon) : -1,
		.events = POLLIN,
	};
	for (i = 0; i < c->nclients; i++)
		pfd[2 + i] = (struct pollfd){
			.fd = c->clients[i].fd,
			.events = c->clients[i].waiting ? 0 : POLLIN,
		};
	return 2 + c->nclients;
}

int control_poll_timeout(const struct control *c)
{
	int64_t now = now_ms(), left = -1;
	int i;

	for (i = 0; i < c->nclients; i++) {
		int64_t d;

		if (!c->clients[i].waiting)
			continue;
		d = c->clients[i].deadline_ms - now;
		if (d < 0)
			d = 0;
		if (left < 0 || d < left)
			left = d;
	}
	return (int)left;
}

static bool send_reply(int fd, uint8_t *out, size_t rlen, int pass_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = out, .iov_len = rlen };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (pass_fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (pass_fd >= 0)
		close(pass_fd);
	return n >= 0 || errno == EAGAIN;
}

/* Serves one request; false when the peer has gone. */
static bool serve(struct control *c, struct control_client *cl)
{
	uint8_t in[VZ_CTL_MAX_MSG], out[VZ_CTL_MAX_MSG];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int pass_fd;
	size_t rlen;
	ssize_t n;

	n = recvmsg(cl->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	/* Handles sent to us are never wanted: close them. */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int *fds = (int *)CMSG_DATA(cm);
			size_t k, nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (k = 0; k < nfd; k++)
				close(fds[k]);
		}
	}

	rlen = control_dispatch(c, in, n, !!(mh.msg_flags & MSG_TRUNC), out,
				&pass_fd);
	if (c->deferred) {
		struct vz_ctl_hdr h;

		memcpy(&h, in, sizeof(h));	/* dispatch checked the size */
		cl->waiting = true;
		cl->req_seq = h.seq;
		cl->stats_seq = c->deferred_seq;
		cl->deadline_ms = now_ms() + CONTROL_STATS_TIMEOUT_MS;
		return true;
	}
	return send_reply(cl->fd, out, rlen, pass_fd);
}

static void drop_client(struct control *c, int i)
{
	close(c->clients[i].fd);
	c->clients[i] = c->clients[--c->nclients];
}

void control_poll_handle(struct control *c, const struct pollfd *pfd, int n)
{
	uint8_t out[VZ_CTL_MAX_MSG];
	int64_t now = now_ms();
	size_t rlen;
	int i;

	if (n < 2)
		return;
	if (pfd[1].revents & POLLIN) {
		eventfd_t v;

		eventfd_read(pfd[1].fd, &v);
	}
	for (i = n - 3; i >= 0; i--) {
		struct control_client *cl = &c->clients[i];

		if (cl->waiting) {
			if (pfd[2 + i].revents & (POLLHUP | POLLERR)) {
				drop_client(c, i);
				continue;
			}
			rlen = stats_reply(c, cl, out, now);
			if (!rlen)
				continue;
			cl->waiting = false;
			if (!send_reply(cl->fd, out, rlen, -1))
				drop_client(c, i);
			continue;
		}
		if (!(pfd[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (!serve(c, cl))
			drop_client(c, i);
	}
	if ((pfd[0].revents & POLLIN) && c->nclients < CONTROL_MAX_CLIENTS) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0)
			c->clients[c->nclients++] = (struct control_client){ .fd = fd };
	}
}
