// SPDX-License-Identifier: GPL-2.0
/* Client side of the virtzd control protocol (see vzctlsock.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vzctlsock.h"

void vzctl_path(char *buf, size_t len, unsigned int cid)
{
	const char *dir = getenv("VIRTZ_RUN_DIR");

	snprintf(buf, len, "%s/guest-%u.sock", dir ? dir : VZ_CTL_RUN_DIR, cid);
}

int vzctl_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int vzctl_call(int sock, uint16_t type, const void *payload, uint32_t len,
	       void *out, size_t outlen, int *fd_out, char *msg,
	       size_t msglen)
{
	static uint32_t seq;
	uint8_t buf[VZ_CTL_MAX_MSG];
	struct vz_ctl_hdr *h = (struct vz_ctl_hdr *)buf;
	struct vz_ctl_status st;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = buf };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	size_t data;
	ssize_t n;

	if (fd_out)
		*fd_out = -1;
	if (msg && msglen)
		msg[0] = '\0';
	if (len > sizeof(buf) - sizeof(*h))
		return -EMSGSIZE;
	*h = (struct vz_ctl_hdr){
		.magic = VZ_CTL_MAGIC, .type = type, .seq = ++seq, .len = len,
	};
	if (len)
		memcpy(buf + sizeof(*h), payload, len);
	if (send(sock, buf, sizeof(*h) + len, MSG_NOSIGNAL) < 0)
		return -errno;

	iov.iov_len = sizeof(buf);
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
			if (fd_out && *fd_out < 0)
				*fd_out = fd;
			else
				close(fd);
		}
	}
	if (n == 0)
		return -ECONNRESET;
	if ((size_t)n < sizeof(*h) + sizeof(st) || h->magic != VZ_CTL_MAGIC ||
	    !(h->flags & VZ_CTL_F_REPLY) || h->seq != seq ||
	    h->len != n - sizeof(*h))
		goto bad;
	memcpy(&st, buf + sizeof(*h), sizeof(st));
	data = n - sizeof(*h) - sizeof(st);
	if (st.error) {
		if (st.error > 0)
			goto bad;
		if (msg && msglen)
			snprintf(msg, msglen, "%.*s", (int)data,
				 (char *)buf + sizeof(*h) + sizeof(st));
		if (fd_out && *fd_out >= 0) {
			close(*fd_out);
			*fd_out = -1;
		}
		return st.error;
	}
	if (data > outlen)
		data = outlen;
	if (data)
		memcpy(out, buf + sizeof(*h) + sizeof(st), data);
	return data;
bad:
	if (fd_out && *fd_out >= 0) {
		close(*fd_out);
		*fd_out = -1;
	}
	return -EPROTO;
}
