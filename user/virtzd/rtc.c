// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal MC146818 CMOS real-time clock at ports 0x70/0x71: the time of
 * day from the host's clock (UTC), registers A-D, and 128 bytes of CMOS
 * RAM.  No interrupts: alarm, periodic and update-ended interrupts are
 * never raised.
 *
 * Why it exists: a stock kernel probes the RTC whatever the machine says,
 * and with nothing at 0x70/0x71 every read returns 0xff, which has the
 * "update in progress" bit set.  The kernel then waits for the update to
 * end, up to a second per attempt, several times (once at boot for the
 * wall clock, then in rtc_cmos), which cost ~13 s of a nested boot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm.h"

#define RTC_PORT	0x70
#define REG_A		0x0a
#define REG_B		0x0b
#define REG_C		0x0c
#define REG_D		0x0d
#define REG_CENTURY	0x32
#define B_24H		0x02
#define B_BINARY	0x04
#define B_SET		0x80
#define D_VRT		0x80

/* lock protects index and ram: two vCPUs may use the ports at once. */
struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
};

static uint8_t rtc_fmt(const struct rtc *r, unsigned int v)
{
	if (r->ram[REG_B] & B_BINARY)
		return v;
	return (v / 10) << 4 | v % 10;
}

static uint8_t rtc_hour(const struct rtc *r, unsigned int h)
{
	unsigned int h12;

	if (r->ram[REG_B] & B_24H)
		return rtc_fmt(r, h);
	h12 = h % 12 ? h % 12 : 12;
	return rtc_fmt(r, h12) | (h >= 12 ? 0x80 : 0);
}

static uint8_t rtc_read(struct rtc *r, uint8_t reg)
{
	struct tm tm;
	time_t now;

	switch (reg) {
	case 0x00: case 0x02: case 0x04: case 0x06:
	case 0x07: case 0x08: case 0x09: case REG_CENTURY:
		now = time(NULL);
		gmtime_r(&now, &tm);
		break;
	case REG_C:
		return 0;		/* no interrupt flags, ever */
	case REG_D:
		return D_VRT;		/* battery good */
	default:
		return r->ram[reg & 0x7f];
	}
	switch (reg) {
	case 0x00:
		return rtc_fmt(r, tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case 0x02:
		return rtc_fmt(r, tm.tm_min);
	case 0x04:
		return rtc_hour(r, tm.tm_hour);
	case 0x06:
		return rtc_fmt(r, tm.tm_wday + 1);
	case 0x07:
		return rtc_fmt(r, tm.tm_mday);
	case 0x08:
		return rtc_fmt(r, tm.tm_mon + 1);
	case 0x09:
		return rtc_fmt(r, tm.tm_year % 100);
	default:
		return rtc_fmt(r, (tm.tm_year + 1900) / 100);
	}
}

static void rtc_write(struct rtc *r, uint8_t reg, uint8_t val)
{
	switch (reg) {
	case REG_A:
		r->ram[REG_A] = val & 0x7f;	/* UIP is read-only */
		break;
	case REG_B:
		/* Format bits are honoured; interrupt enables are kept, inert. */
		r->ram[REG_B] = val & ~B_SET;
		break;
	case REG_C:
	case REG_D:
		break;				/* read-only */
	case 0x00: case 0x02: case 0x04: case 0x06:
	case 0x07: case 0x08: case 0x09: case REG_CENTURY:
		break;		/* setting the clock: the host's time stays */
	default:
		r->ram[reg & 0x7f] = val;
	}
}

static void rtc_io(struct vm *vm, void *opaque, uint16_t port, bool write,
		   uint8_t *data, int size)
{
	struct rtc *r = opaque;

	pthread_mutex_lock(&r->lock);
	if (port == RTC_PORT) {
		if (write)
			r->index = data[0] & 0x7f;	/* bit 7: NMI mask */
		else
			memset(data, 0xff, size);
	} else if (write) {
		rtc_write(r, r->index, data[0]);
	} else {
		memset(data, 0, size);
		data[0] = rtc_read(r, r->index);
	}
	pthread_mutex_unlock(&r->lock);
}

int rtc_init(struct vm *vm)
{
	struct pio_dev dev = { .base = RTC_PORT, .len = 2, .io = rtc_io };
	struct rtc *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	r->ram[REG_A] = 0x26;		/* 32.768 kHz base, 1024 Hz rate */
	r->ram[REG_B] = B_24H;		/* BCD, 24-hour */
	dev.opaque = r;
	ret = vm_add_pio(vm, &dev);
	if (ret) {
		free(r);
		return ret;
	}
	vm->rtc = r;
	return 0;
}

void rtc_destroy(struct vm *vm)
{
	struct rtc *r = vm->rtc;

	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
	vm->rtc = NULL;
}
