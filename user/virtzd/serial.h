/* SPDX-License-Identifier: GPL-2.0 */
/*
 * 16550A UART on COM1 (port 0x3f8, ISA IRQ 4): the guest's ttyS0.
 *
 * Output goes into a bounded ring that never blocks the guest; each
 * attached client reads the ring from its own position, so a late
 * attacher sees recent output and a slow one only loses what the ring
 * overwrote.  Input from clients feeds the receive FIFO.
 */
#ifndef VIRTZD_SERIAL_H
#define VIRTZD_SERIAL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm.h"

#define SERIAL_RING_SIZE	(64 * 1024)
#define SERIAL_MAX_CLIENTS	8

struct serial;

struct serial *serial_create(struct vm *vm);
void serial_destroy(struct serial *s);

/*
 * Adds a client: @in_fd is read for guest input (-1 for none), @out_fd
 * gets guest output, starting with what the ring still holds when
 * @replay.  The serial owns both fds from here on (closes them on
 * detach), except fds 0..2.  Returns 0 or -ENOSPC.
 */
int serial_attach(struct serial *s, int in_fd, int out_fd, bool replay);
int serial_clients(struct serial *s);
/* Bytes the guest has written to the port since boot. */
uint64_t serial_written(struct serial *s);

/* Main-loop integration: fills up to @max pollfds, then handles them. */
int serial_poll_fill(struct serial *s, struct pollfd *pfd, int max);
void serial_poll_handle(struct serial *s, const struct pollfd *pfd, int n);

/* Feeds bytes to the guest as if typed; returns how many fit. */
size_t serial_input(struct serial *s, const uint8_t *buf, size_t len);

#endif
