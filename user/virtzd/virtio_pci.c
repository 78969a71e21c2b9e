// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-pci modern transport (virtio 1.x, section 4.1).
 *
 * BAR0 (32 KiB, MMIO) holds the common configuration, ISR, device
 * configuration, notification area and the MSI-X table and PBA, each
 * described by a vendor capability.  Queue notifications arrive on an
 * eventfd per queue: KVM's ioeventfd once the queue is enabled, or the
 * MMIO exit handler writing that same eventfd, and one thread per device
 * services them.  Interrupts are MSI-X only, each vector a KVM MSI route
 * with an irqfd.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pci.h"
#include "virtio.h"
#include "vm.h"

#define BAR_SIZE	0x8000
#define OFF_COMMON	0x0000
#define OFF_ISR		0x1000
#define OFF_DEVICE	0x2000
#define OFF_NOTIFY	0x3000
#define OFF_MSIX_TABLE	0x4000
#define OFF_MSIX_PBA	0x5000
#define NOTIFY_MULT	4
#define COMMON_SIZE	0x38

#define CAP_MSIX	0x84
#define MSIX_ENABLE	0x8000
#define MSIX_MASKALL	0x4000
#define MAX_VECTORS	(VIRTIO_MAX_QUEUES + 1)

struct vpci {
	struct pci_dev pci;
	struct virtio_dev *vd;
	struct vm *vm;
	uint32_t dfselect, gfselect;
	uint16_t queue_sel;
	uint16_t msix_config;
	uint8_t isr;
	int nvec;
	uint8_t msix[MAX_VECTORS][16];
	uint64_t pending;	/* PBA */
	int route[MAX_VECTORS];
	int efd[VIRTIO_MAX_QUEUES];
	bool dev_efd[VIRTIO_MAX_QUEUES];	/* the device's: it serves it */
	uint64_t ioev_addr[VIRTIO_MAX_QUEUES];	/* 0: none assigned */
	pthread_t thread;
};

void virtio_set_broken(struct virtio_dev *vd, const char *why)
{
	if (vd->broken)
		return;
	fprintf(stderr, "virtzd: %s: guest broke the virtio protocol (%s); device needs reset\n",
		vd->ops->name, why);
	vd->broken = true;
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	vd->tops->signal_config(vd);
}

static bool msix_on(struct vpci *v)
{
	uint16_t ctl = pci_r16(v->pci.cfg + CAP_MSIX + 2);

	return (ctl & MSIX_ENABLE) && !(ctl & MSIX_MASKALL);
}

static void fire(struct vpci *v, uint16_t vec)
{
	if (vec >= v->nvec)
		return;
	if (!msix_on(v) || (pci_r32(v->msix[vec] + 12) & 1)) {
		v->pending |= 1ULL << vec;
		return;
	}
	vm_msi_fire(v->vm, v->route[vec]);
}

/* What every device is offered: its own features and the ring's. */
static uint64_t offered_features(const struct virtio_dev *vd)
{
	return vd->ops->features | 1ULL << VIRTIO_F_VERSION_1 |
	       1ULL << VIRTIO_RING_F_EVENT_IDX |
	       1ULL << VIRTIO_RING_F_INDIRECT_DESC;
}

static void signal_queue(struct virtio_dev *vd, int q)
{
	struct vpci *v = vd->transport;

	if (!virtq_need_signal(&vd->mem, &vd->vq[q]))
		return;
	v->isr |= 1;
	fire(v, vd->vq[q].msix_vector);
}

static void signal_config(struct virtio_dev *vd)
{
	struct vpci *v = vd->transport;

	v->isr |= 2;
	fire(v, v->msix_config);
}

static const struct virtio_transport_ops vpci_tops = {
	.signal_queue = signal_queue,
	.signal_config = signal_config,
};

/* Re-points every vector's route; then delivers what became unmasked. */
static void msix_update(struct vpci *v)
{
	int i;

	for (i = 0; i < v->nvec; i++) {
		uint64_t addr = pci_r32(v->msix[i]) |
				(uint64_t)pci_r32(v->msix[i] + 4) << 32;
		uint32_t data = pci_r32(v->msix[i] + 8);
		bool masked = pci_r32(v->msix[i] + 12) & 1;

		vm_msi_set(v->vm, v->route[i], addr, data,
			   msix_on(v) && addr);
		if ((v->pending & (1ULL << i)) && msix_on(v) && !masked) {
			v->pending &= ~(1ULL << i);
			vm_msi_fire(v->vm, v->route[i]);
		}
	}
}

static void ioeventfds_drop(struct vpci *v)
{
	struct kvm_ioeventfd io;
	int q;

	for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (!v->ioev_addr[q])
			continue;
		io = (struct kvm_ioeventfd){
			.addr = v->ioev_addr[q], .len = 2, .fd = v->efd[q],
			.flags = KVM_IOEVENTFD_FLAG_DEASSIGN,
		};
		ioctl(v->vm->vm_fd, KVM_IOEVENTFD, &io);
		v->ioev_addr[q] = 0;
	}
}

static void reset(struct vpci *v)
{
	struct virtio_dev *vd = v->vd;
	int q;

	ioeventfds_drop(v);
	for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		memset(&vd->vq[q], 0, sizeof(vd->vq[q]));
		vd->vq[q].size = VIRTQ_MAX_SIZE;
		vd->vq[q].msix_vector = VIRTIO_NO_VECTOR;
	}
	vd->driver_features = 0;
	vd->status = 0;
	vd->broken = false;
	v->msix_config = VIRTIO_NO_VECTOR;
	v->isr = 0;
	v->queue_sel = 0;
	vd->ops->reset(vd);
}

static void enable_queue(struct vpci *v, int q)
{
	struct virtio_dev *vd = v->vd;
	struct kvm_ioeventfd io;
	uint64_t bar = pci_bar0(&v->pci);

	if (virtq_check(&vd->mem, &vd->vq[q])) {
		virtio_set_broken(vd, "queue rings outside guest RAM or misaligned");
		return;
	}
	vd->vq[q].enabled = true;
	vd->vq[q].event_idx = vd->driver_features &
			      (1ULL << VIRTIO_RING_F_EVENT_IDX);
	vd->vq[q].indirect = vd->driver_features &
			     (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	if (!bar || v->ioev_addr[q])
		return;
	io = (struct kvm_ioeventfd){
		.addr = bar + OFF_NOTIFY + q * NOTIFY_MULT, .len = 2,
		.fd = v->efd[q],
	};
	/* Without it, notifications still come through MMIO exits. */
	if (!ioctl(v->vm->vm_fd, KVM_IOEVENTFD, &io))
		v->ioev_addr[q] = io.addr;
}

static void kick(struct vpci *v, int q)
{
	uint64_t one = 1;

	if (write(v->efd[q], &one, sizeof(one)) < 0) {
		/* Saturated counter: a kick is pending anyway. */
	}
}

static void common_read(struct vpci *v, uint32_t off, uint8_t *data, int len)
{
	struct virtio_dev *vd = v->vd;
	uint8_t c[COMMON_SIZE] = { 0 };
	uint64_t f = offered_features(vd);
	struct virtq *q = v->queue_sel < vd->ops->num_queues ?
			  &vd->vq[v->queue_sel] : NULL;

	pci_w32(c + 0x00, v->dfselect);
	pci_w32(c + 0x04, v->dfselect < 2 ? (uint32_t)(f >> (32 * v->dfselect)) : 0);
	pci_w32(c + 0x08, v->gfselect);
	pci_w32(c + 0x0c, v->gfselect < 2 ?
		(uint32_t)(vd->driver_features >> (32 * v->gfselect)) : 0);
	pci_w16(c + 0x10, v->msix_config);
	pci_w16(c + 0x12, vd->ops->num_queues);
	c[0x14] = vd->status;
	c[0x15] = vd->config_gen;
	pci_w16(c + 0x16, v->queue_sel);
	if (q) {
		pci_w16(c + 0x18, q->size);
		pci_w16(c + 0x1a, q->msix_vector);
		pci_w16(c + 0x1c, q->enabled);
		pci_w16(c + 0x1e, v->queue_sel);	/* notify_off */
		pci_w32(c + 0x20, q->desc);
		pci_w32(c + 0x24, q->desc >> 32);
		pci_w32(c + 0x28, q->avail);
		pci_w32(c + 0x2c, q->avail >> 32);
		pci_w32(c + 0x30, q->used);
		pci_w32(c + 0x34, q->used >> 32);
	}
	if (off + len <= COMMON_SIZE)
		memcpy(data, c + off, len);
	else
		memset(data, 0, len);
}

static void set_half(uint64_t *v, bool hi, uint32_t val)
{
	if (hi)
		*v = (*v & 0xffffffffULL) | (uint64_t)val << 32;
	else
		*v = (*v & ~0xffffffffULL) | val;
}

static void common_write(struct vpci *v, uint32_t off, const uint8_t *data,
			 int len)
{
	struct virtio_dev *vd = v->vd;
	uint32_t val = len == 1 ? data[0] : len == 2 ? pci_r16(data) :
		       len == 4 ? pci_r32(data) : 0;
	struct virtq *q = v->queue_sel < vd->ops->num_queues ?
			  &vd->vq[v->queue_sel] : NULL;
	uint64_t offered = offered_features(vd);

	switch (off) {
	case 0x00:
		v->dfselect = val;
		return;
	case 0x08:
		v->gfselect = val;
		return;
	case 0x0c:
		if (v->gfselect < 2 && !(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
			uint64_t f = vd->driver_features;

			set_half(&f, v->gfselect, val);
			vd->driver_features = f;
		}
		return;
	case 0x10:
		v->msix_config = val;
		return;
	case 0x14:
		if (!val) {
			reset(v);
			return;
		}
		/* FEATURES_OK only sticks for a subset of what we offer. */
		if ((val & VIRTIO_STATUS_FEATURES_OK) &&
		    (vd->driver_features & ~offered ||
		     !(vd->driver_features & (1ULL << VIRTIO_F_VERSION_1))))
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		/*
		 * Drivers may kick before DRIVER_OK (virtio_balloon queues
		 * its first statistics then); the device may not look at
		 * the rings until DRIVER_OK, so replay a kick on each queue.
		 */
		if ((val & VIRTIO_STATUS_DRIVER_OK) &&
		    !(vd->status & VIRTIO_STATUS_DRIVER_OK)) {
			int i;

			for (i = 0; i < vd->ops->num_queues; i++)
				if (vd->vq[i].enabled)
					kick(v, i);
		}
		vd->status = (val & 0xff) | (vd->status & VIRTIO_STATUS_NEEDS_RESET);
		return;
	case 0x16:
		v->queue_sel = val;
		return;
	}
	if (!q || q->enabled)
		return;		/* queue fields are frozen once enabled */
	switch (off) {
	case 0x18:
		q->size = val;
		break;
	case 0x1a:
		q->msix_vector = val;
		break;
	case 0x1c:
		if (val == 1)
			enable_queue(v, v->queue_sel);
		break;
	case 0x20: case 0x24:
		set_half(&q->desc, off == 0x24, val);
		break;
	case 0x28: case 0x2c:
		set_half(&q->avail, off == 0x2c, val);
		break;
	case 0x30: case 0x34:
		set_half(&q->used, off == 0x34, val);
		break;
	}
}

static void bar_io(struct pci_dev *pd, uint64_t off, bool write,
		   uint8_t *data, int len)
{
	struct vpci *v = pd->opaque;
	struct virtio_dev *vd = v->vd;

	pthread_mutex_lock(&vd->lock);
	if (off < OFF_COMMON + COMMON_SIZE) {
		if (write)
			common_write(v, off, data, len);
		else
			common_read(v, off, data, len);
	} else if (off == OFF_ISR) {
		if (!write) {
			memset(data, 0, len);
			data[0] = v->isr;
			v->isr = 0;
		}
	} else if (off >= OFF_DEVICE && off + len <= OFF_DEVICE + vd->ops->config_size) {
		if (write)
			vd->ops->config_write(vd, off - OFF_DEVICE, data, len);
		else
			vd->ops->config_read(vd, off - OFF_DEVICE, data, len);
	} else if (off >= OFF_NOTIFY &&
		   off < OFF_NOTIFY + NOTIFY_MULT * (uint64_t)vd->ops->num_queues) {
		/* The slow path of a kick: same eventfd, same thread. */
		if (write)
			kick(v, (off - OFF_NOTIFY) / NOTIFY_MULT);
		else
			memset(data, 0, len);
	} else if (off >= OFF_MSIX_TABLE && off + len <= OFF_MSIX_TABLE + 16U * v->nvec &&
		   (len == 4 || len == 8)) {
		uint32_t e = (off - OFF_MSIX_TABLE) / 16, o = (off - OFF_MSIX_TABLE) % 16;

		if (o + len > 16) {
			if (!write)
				memset(data, 0, len);
		} else if (write) {
			memcpy(v->msix[e] + o, data, len);
			msix_update(v);
		} else {
			memcpy(data, v->msix[e] + o, len);
		}
	} else if (off >= OFF_MSIX_PBA && off + len <= OFF_MSIX_PBA + 8) {
		if (!write)
			memcpy(data, (uint8_t *)&v->pending + (off - OFF_MSIX_PBA), len);
	} else if (!write) {
		memset(data, 0, len);
	}
	pthread_mutex_unlock(&vd->lock);
}

static void cfg_written(struct pci_dev *pd, uint32_t off, int len)
{
	struct vpci *v = pd->opaque;

	if (off < CAP_MSIX + 4 && off + len > CAP_MSIX + 2) {
		pthread_mutex_lock(&v->vd->lock);
		msix_update(v);
		pthread_mutex_unlock(&v->vd->lock);
	}
}

static void *vpci_thread(void *arg)
{
	struct vpci *v = arg;
	struct virtio_dev *vd = v->vd;
	struct pollfd p[VIRTIO_MAX_QUEUES + 1];
	int n = vd->ops->num_queues, q;
	uint64_t cnt;

	/* Queues whose eventfd the device serves itself are not ours. */
	for (q = 0; q < n; q++)
		p[q] = (struct pollfd){ .fd = v->dev_efd[q] ? -1 : v->efd[q],
					.events = POLLIN };
	p[n] = (struct pollfd){ .fd = v->vm->stop_efd, .events = POLLIN };
	while (!v->vm->stopping) {
		if (poll(p, n + 1, -1) < 0)
			continue;
		for (q = 0; q < n; q++) {
			if (!(p[q].revents & POLLIN) ||
			    read(v->efd[q], &cnt, sizeof(cnt)) < 0)
				continue;
			pthread_mutex_lock(&vd->lock);
			if (virtio_queue_live(vd, q))
				vd->ops->queue_notify(vd, q);
			pthread_mutex_unlock(&vd->lock);
		}
	}
	return NULL;
}

static void put_cap(uint8_t *cfg, uint8_t at, uint8_t next, uint8_t type,
		    uint32_t offset, uint32_t length, uint8_t caplen)
{
	cfg[at] = 0x09;		/* vendor-specific */
	cfg[at + 1] = next;
	cfg[at + 2] = caplen;
	cfg[at + 3] = type;
	cfg[at + 4] = 0;	/* BAR0 */
	pci_w32(cfg + at + 8, offset);
	pci_w32(cfg + at + 12, length);
}

int virtio_pci_add(struct vm *vm, struct virtio_dev *vd)
{
	struct vpci *v = calloc(1, sizeof(*v));
	uint8_t *c;
	int i, ret;

	if (!v)
		return -ENOMEM;
	if (vd->ops->num_queues > VIRTIO_MAX_QUEUES) {
		ret = -EINVAL;
		goto err_free;
	}
	v->vd = vd;
	v->vm = vm;
	v->nvec = vd->ops->num_queues + 1;
	vd->transport = v;
	vd->tops = &vpci_tops;
	vd->mem = (struct guest_mem){ .base = vm->mem, .size = vm->mem_size };
	pthread_mutex_init(&vd->lock, NULL);
	pthread_cond_init(&vd->cond, NULL);
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		v->efd[i] = -1;
	for (i = 0; i < vd->ops->num_queues; i++) {
		int fd = vd->ops->queue_eventfd ?
			 vd->ops->queue_eventfd(vd, i) : -1;

		if (fd >= 0) {
			v->efd[i] = fd;
			v->dev_efd[i] = true;
			continue;
		}
		v->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->efd[i] < 0) {
			ret = -errno;
			goto err_efd;
		}
	}
	/* MSI routes are the VM's: vm_destroy() releases them. */
	for (i = 0; i < v->nvec; i++) {
		v->route[i] = vm_msi_alloc(vm);
		if (v->route[i] < 0) {
			ret = v->route[i];
			goto err_efd;
		}
		pci_w32(v->msix[i] + 12, 1);	/* masked at reset */
	}
	reset(v);

	c = v->pci.cfg;
	pci_w16(c + 0x00, 0x1af4);
	pci_w16(c + 0x02, 0x1040 + vd->ops->device_id);
	pci_w16(c + 0x06, 0x10);		/* capability list */
	c[0x08] = 1;				/* revision: modern */
	c[0x0a] = 0x80;				/* class: other */
	c[0x0b] = 0xff;
	pci_w16(c + 0x2c, 0x1af4);
	pci_w16(c + 0x2e, vd->ops->device_id);
	c[0x34] = 0x40;
	put_cap(c, 0x40, 0x50, 1, OFF_COMMON, COMMON_SIZE, 16);
	put_cap(c, 0x50, 0x64, 2, OFF_NOTIFY,
		NOTIFY_MULT * vd->ops->num_queues, 20);
	pci_w32(c + 0x50 + 16, NOTIFY_MULT);
	put_cap(c, 0x64, 0x74, 3, OFF_ISR, 1, 16);
	put_cap(c, 0x74, CAP_MSIX, 4, OFF_DEVICE, vd->ops->config_size, 16);
	c[CAP_MSIX] = 0x11;
	c[CAP_MSIX + 1] = 0;
	pci_w16(c + CAP_MSIX + 2, v->nvec - 1);
	pci_w32(c + CAP_MSIX + 4, OFF_MSIX_TABLE);
	pci_w32(c + CAP_MSIX + 8, OFF_MSIX_PBA);
	v->pci.wmask[CAP_MSIX + 3] = 0xc0;	/* enable, function mask */
	v->pci.bar0_size = BAR_SIZE;
	v->pci.opaque = v;
	v->pci.bar_io = bar_io;
	v->pci.cfg_written = cfg_written;

	/* The thread first: a device on the bus is there for good. */
	ret = pthread_create(&v->thread, NULL, vpci_thread, v);
	if (ret) {
		ret = -ret;
		goto err_efd;
	}
	ret = pci_add(vm, &v->pci);
	if (ret < 0) {
		/* The thread only waits on our eventfds; stop it and wait. */
		pthread_cancel(v->thread);
		pthread_join(v->thread, NULL);
		goto err_efd;
	}
	return 0;

err_efd:
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (v->efd[i] >= 0 && !v->dev_efd[i])
			close(v->efd[i]);
	pthread_cond_destroy(&vd->cond);
	pthread_mutex_destroy(&vd->lock);
err_free:
	vd->transport = NULL;
	free(v);
	return ret;
}
