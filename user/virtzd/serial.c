// SPDX-License-Identifier: GPL-2.0
/*
 * 16550A UART emulation for the guest console, and its output ring.
 *
 * The register model follows the 16550A data sheet closely enough for
 * Linux's 8250 driver to autodetect a 16550A: scratch register, modem
 * loopback (MCR bits reflected in MSR), FIFO enable visible in IIR.
 * Transmission is instant, so THR is always empty and the THRE interrupt
 * is pending after every write until IIR reports it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "serial.h"

#define COM1_BASE	0x3f8
#define COM1_IRQ	4

#define UART_RX		0
#define UART_IER	1
#define UART_IIR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IIR_NO_INT	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

#define RX_SIZE		256

struct serial_client {
	int in_fd, out_fd;
	uint64_t pos;		/* next ring byte this client gets */
};

/*
 * @lock protects the registers, the RX FIFO, the ring and its counter: the
 * vCPU threads (port I/O) and the main thread (clients) both touch them.
 * @clients belong to the main thread alone.
 */
struct serial {
	struct vm *vm;
	pthread_mutex_t lock;

	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri_pending;
	int irq_level;

	uint8_t rx[RX_SIZE];
	unsigned int rx_head, rx_count;

	uint8_t ring[SERIAL_RING_SIZE];
	uint64_t written;	/* bytes ever written; ring holds the tail */
	bool notified;		/* an eventfd wake-up is outstanding */
	int efd;		/* vCPU -> main loop: output, or RX drained */

	struct serial_client clients[SERIAL_MAX_CLIENTS];
	int nclients;
};

static void kick(struct serial *s)
{
	uint64_t one = 1;

	if (s->notified)
		return;
	s->notified = true;
	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* Nonblocking eventfd: full only if never drained; harmless. */
	}
}

static uint8_t iir(struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thri_pending)
		return IIR_THRI | fifo;
	return IIR_NO_INT | fifo;
}

static void update_irq(struct serial *s)
{
	int level = !(iir(s) & IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		vm_irq_line(s->vm, COM1_IRQ, level);
	}
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count == RX_SIZE)
		return;		/* overrun: the byte is lost, as on hardware */
	s->rx[(s->rx_head + s->rx_count) % RX_SIZE] = c;
	s->rx_count++;
}

static void tx(struct serial *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP) {
		rx_push(s, c);
		return;
	}
	s->ring[s->written % SERIAL_RING_SIZE] = c;
	s->written++;
	kick(s);
}

static uint8_t msr(struct serial *s)
{
	uint8_t m = 0;

	if (!(s->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (s->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static void serial_io(struct vm *vm, void *opaque, uint16_t port, bool write,
		      uint8_t *data, int size)
{
	struct serial *s = opaque;
	unsigned int reg = port - COM1_BASE;
	uint8_t v = data[0];

	pthread_mutex_lock(&s->lock);
	if (write) {
		switch (reg) {
		case UART_RX:
			if (s->lcr & LCR_DLAB) {
				s->dll = v;
			} else {
				tx(s, v);
				s->thri_pending = true;
			}
			break;
		case UART_IER:
			if (s->lcr & LCR_DLAB) {
				s->dlm = v;
			} else {
				/* Enabling THRI with THR empty raises it. */
				if ((v & IER_THRI) && !(s->ier & IER_THRI))
					s->thri_pending = true;
				s->ier = v & 0x0f;
			}
			break;
		case UART_IIR:	/* FCR */
			s->fcr = v & (FCR_ENABLE | 0xc0);
			if (v & FCR_CLEAR_RX)
				s->rx_count = 0;
			break;
		case UART_LCR:
			s->lcr = v;
			break;
		case UART_MCR:
			s->mcr = v & 0x1f;
			break;
		case UART_SCR:
			s->scr = v;
			break;
		default:	/* LSR, MSR: read-only */
			break;
		}
	} else {
		switch (reg) {
		case UART_RX:
			if (s->lcr & LCR_DLAB) {
				v = s->dll;
			} else if (s->rx_count) {
				bool was_full = s->rx_count == RX_SIZE;

				v = s->rx[s->rx_head];
				s->rx_head = (s->rx_head + 1) % RX_SIZE;
				s->rx_count--;
				if (was_full || !s->rx_count)
					kick(s);
			} else {
				v = 0;
			}
			break;
		case UART_IER:
			v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
			break;
		case UART_IIR:
			v = iir(s);
			/* Reading IIR acknowledges a THRE interrupt. */
			if ((v & 0x0f) == IIR_THRI)
				s->thri_pending = false;
			break;
		case UART_LCR:
			v = s->lcr;
			break;
		case UART_MCR:
			v = s->mcr;
			break;
		case UART_LSR:
			v = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
			break;
		case UART_MSR:
			v = msr(s);
			break;
		case UART_SCR:
			v = s->scr;
			break;
		}
		memset(data, 0, size);
		data[0] = v;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

struct serial *serial_create(struct vm *vm)
{
	struct serial *s = calloc(1, sizeof(*s));
	struct pio_dev dev = {
		.base = COM1_BASE, .len = 8, .io = serial_io,
	};

	if (!s)
		return NULL;
	s->vm = vm;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		goto err_free;
	pthread_mutex_init(&s->lock, NULL);
	dev.opaque = s;
	if (vm_add_pio(vm, &dev))
		goto err_efd;
	return s;

err_efd:
	close(s->efd);
err_free:
	free(s);
	return NULL;
}

static void close_fd(int fd)
{
	if (fd > 2)
		close(fd);
}

static void detach(struct serial *s, int i)
{
	struct serial_client *c = &s->clients[i];

	close_fd(c->in_fd);
	if (c->out_fd != c->in_fd)
		close_fd(c->out_fd);
	s->clients[i] = s->clients[--s->nclients];
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	while (s->nclients)
		detach(s, s->nclients - 1);
	close(s->efd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int serial_attach(struct serial *s, int in_fd, int out_fd, bool replay)
{
	struct serial_client *c;

	if (s->nclients == SERIAL_MAX_CLIENTS)
		return -ENOSPC;
	c = &s->clients[s->nclients++];
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	if (out_fd > 2)
		fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
	pthread_mutex_lock(&s->lock);
	if (!replay)
		c->pos = s->written;
	else if (s->written > SERIAL_RING_SIZE)
		c->pos = s->written - SERIAL_RING_SIZE;
	else
		c->pos = 0;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int serial_clients(struct serial *s)
{
	return s->nclients;
}

uint64_t serial_written(struct serial *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->written;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	for (n = 0; n < len && s->rx_count < RX_SIZE; n++)
		rx_push(s, buf[n]);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Writes what @c has not seen yet; false when the client went away. */
static bool flush_client(struct serial *s, struct serial_client *c)
{
	uint8_t buf[4096];
	size_t len;

	for (;;) {
		ssize_t n;

		pthread_mutex_lock(&s->lock);
		if (s->written - c->pos > SERIAL_RING_SIZE)
			c->pos = s->written - SERIAL_RING_SIZE;	/* lagged */
		len = s->written - c->pos;
		if (len > sizeof(buf))
			len = sizeof(buf);
		if (len > SERIAL_RING_SIZE - c->pos % SERIAL_RING_SIZE)
			len = SERIAL_RING_SIZE - c->pos % SERIAL_RING_SIZE;
		memcpy(buf, s->ring + c->pos % SERIAL_RING_SIZE, len);
		pthread_mutex_unlock(&s->lock);
		if (!len)
			return true;
		n = write(c->out_fd, buf, len);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		c->pos += n;
	}
}

static bool pending(struct serial *s, struct serial_client *c)
{
	bool p;

	pthread_mutex_lock(&s->lock);
	p = s->written != c->pos;
	pthread_mutex_unlock(&s->lock);
	return p;
}

int serial_poll_fill(struct serial *s, struct pollfd *pfd, int max)
{
	bool room;
	int i, n = 0;

	if (max < 1 + 2 * s->nclients)
		return 0;
	pthread_mutex_lock(&s->lock);
	room = s->rx_count < RX_SIZE;
	pthread_mutex_unlock(&s->lock);

	pfd[n++] = (struct pollfd){ .fd = s->efd, .events = POLLIN };
	for (i = 0; i < s->nclients; i++) {
		struct serial_client *c = &s->clients[i];

		pfd[n++] = (struct pollfd){
			.fd = room ? c->in_fd : -1, .events = POLLIN,
		};
		pfd[n++] = (struct pollfd){
			.fd = pending(s, c) ? c->out_fd : -1, .events = POLLOUT,
		};
	}
	return n;
}

void serial_poll_handle(struct serial *s, const struct pollfd *pfd, int n)
{
	uint64_t v;
	int i;

	if (n < 1)
		return;
	if (pfd[0].revents & POLLIN) {
		if (read(s->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another wake-up already consumed it. */
		}
		pthread_mutex_lock(&s->lock);
		s->notified = false;
		pthread_mutex_unlock(&s->lock);
	}
	/* Walk backwards: detach() moves the last client into the hole. */
	for (i = (n - 1) / 2 - 1; i >= 0; i--) {
		struct serial_client *c = &s->clients[i];
		const struct pollfd *in = &pfd[1 + 2 * i];
		bool gone = false;

		if (in->fd >= 0 && (in->revents & (POLLIN | POLLHUP | POLLERR))) {
			uint8_t buf[RX_SIZE];
			size_t room;
			ssize_t r;

			/* Take no more than fits: the rest waits in the socket. */
			pthread_mutex_lock(&s->lock);
			room = RX_SIZE - s->rx_count;
			pthread_mutex_unlock(&s->lock);
			r = room ? read(c->in_fd, buf, room) : -1;
			if (!room)
				errno = EAGAIN;
			if (r > 0)
				serial_input(s, buf, r);
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				gone = true;
		}
		if (!gone && !flush_client(s, c))
			gone = true;
		if (gone)
			detach(s, i);
	}
}
