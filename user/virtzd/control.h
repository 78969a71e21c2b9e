/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The instance control socket: Guest and BalloonController over the
 * protocol of user/lib/vzctlsock.h.  Runs in the main thread.
 */
#ifndef VIRTZD_CONTROL_H
#define VIRTZD_CONTROL_H

#include <poll.h>
#include <stdint.h>

#include "serial.h"
#include "vm.h"

#define CONTROL_MAX_CLIENTS	16

struct vblk;

struct control {
	struct vm *vm;
	struct serial *serial;
	int listen_fd;
	char path[108];
	int clients[CONTROL_MAX_CLIENTS];
	int nclients;
	uint32_t cid, env_id;
	char label[128];
	struct vblk *const *disks;	/* GUEST_GET_DISK answers from these */
	int ndisks;
};

int control_listen(struct control *c, const char *path, char *err,
		   size_t errlen);
void control_close(struct control *c);
int control_poll_fill(struct control *c, struct pollfd *pfd, int max);
void control_poll_handle(struct control *c, const struct pollfd *pfd, int n);

/*
 * Handles one received datagram of @len bytes (@truncated when it did
 * not fit the buffer) and builds the reply in @reply; returns the reply
 * length and sets *@pass_fd to a handle to pass, or -1.  Split out of the
 * socket code so that it can be tested and fuzzed on its own.
 */
size_t control_dispatch(struct control *c, const uint8_t *msg, size_t len,
			int truncated, uint8_t *reply, int *pass_fd);

#endif
