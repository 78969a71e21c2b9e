/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The instance control socket: Guest and BalloonController over the
 * protocol of user/lib/vzctlsock.h.  Runs in the main thread.
 */
#ifndef VIRTZD_CONTROL_H
#define VIRTZD_CONTROL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "serial.h"
#include "vm.h"

#define CONTROL_MAX_CLIENTS	16

struct vblk;

/* How long GetMemStats waits for the guest's report. */
#define CONTROL_STATS_TIMEOUT_MS	3000

/*
 * A connection.  While a GetMemStats waits for the guest (@waiting), the
 * connection's further requests stay unread, so that replies keep the
 * order of requests; the control loop goes on serving everyone else.
 */
struct control_client {
	int fd;
	bool waiting;
	uint32_t req_seq;	/* the waiting request's header seq */
	uint64_t stats_seq;	/* the report it waits past */
	int64_t deadline_ms;	/* CLOCK_MONOTONIC */
};

/* Only the main thread touches this. */
struct control {
	struct vm *vm;
	struct serial *serial;
	int listen_fd;
	char path[108];
	struct control_client clients[CONTROL_MAX_CLIENTS];
	int nclients;
	/* Set by control_dispatch() when the reply must wait for the guest. */
	bool deferred;
	uint64_t deferred_seq;
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
/* Milliseconds until a waiting GetMemStats times out, or -1: for poll(). */
int control_poll_timeout(const struct control *c);

/*
 * Handles one received datagram of @len bytes (@truncated when it did
 * not fit the buffer) and builds the reply in @reply; returns the reply
 * length and sets *@pass_fd to a handle to pass, or -1.  Returns 0 with
 * c->deferred set when the answer must wait for the guest (GetMemStats:
 * c->deferred_seq is the report to wait past).  Split out of the socket
 * code so that it can be tested and fuzzed on its own.
 */
size_t control_dispatch(struct control *c, const uint8_t *msg, size_t len,
			int truncated, uint8_t *reply, int *pass_fd);

#endif
