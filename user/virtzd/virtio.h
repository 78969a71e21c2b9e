/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A virtio device as its transport sees it, kvmtool-style: the device
 * fills in a struct virtio_dev_ops and never learns which transport
 * carries it; the transport calls the ops and offers the device the two
 * things it may ask for, in struct virtio_transport_ops.
 */
#ifndef VIRTZD_VIRTIO_H
#define VIRTZD_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

#define VIRTIO_MAX_QUEUES	4
#define VIRTIO_F_VERSION_1	32
#define VIRTIO_RING_F_INDIRECT_DESC 28	/* offered by the transport for all */
#define VIRTIO_RING_F_EVENT_IDX	29	/* offered by the transport for all */
#define VIRTIO_NO_VECTOR	0xffff

#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	0x40

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;
	uint16_t device_id;
	int num_queues;
	uint64_t features;	/* offered, besides VIRTIO_F_VERSION_1 */
	uint32_t config_size;
	/* Device config space; @off + @len is within config_size. */
	void (*config_read)(struct virtio_dev *vd, uint32_t off, uint8_t *data,
			    int len);
	void (*config_write)(struct virtio_dev *vd, uint32_t off,
			     const uint8_t *data, int len);
	/*
	 * The driver kicked queue @q (lock held, virtio_queue_live()); from
	 * the transport's thread, for the queues queue_eventfd leaves to it.
	 */
	void (*queue_notify)(struct virtio_dev *vd, int q);
	/*
	 * Optional: an eventfd of the device's own for queue @q, or -1.  The
	 * transport then signals kicks of @q there (KVM's ioeventfd, MMIO
	 * notifications, the replay at DRIVER_OK) and never calls
	 * queue_notify for @q: the device serves it from its own thread,
	 * with the lock held and only while virtio_queue_live(), one thread
	 * hop less per kick.
	 */
	int (*queue_eventfd)(struct virtio_dev *vd, int q);
	/* Back to the initial state (status 0 written). */
	void (*reset)(struct virtio_dev *vd);
};

struct virtio_transport_ops {
	void (*signal_queue)(struct virtio_dev *vd, int q);
	void (*signal_config)(struct virtio_dev *vd);
};

/*
 * @lock protects everything below it and the device's own state: it is
 * held by the transport around every op call, and by anyone else (the
 * control socket) touching the device.
 */
struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const struct virtio_transport_ops *tops;
	void *transport;
	void *priv;
	struct guest_mem mem;

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* signalled by devices on progress */
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint64_t driver_features;
	uint8_t status;
	uint8_t config_gen;
	bool broken;
};

/* May the device look at queue @q's rings now?  Lock held. */
static inline bool virtio_queue_live(const struct virtio_dev *vd, int q)
{
	return vd->vq[q].enabled && !vd->broken &&
	       (vd->status & VIRTIO_STATUS_DRIVER_OK);
}

/*
 * The guest broke the protocol: stop using the device and tell the
 * driver (DEVICE_NEEDS_RESET and a config interrupt).  Lock held.
 */
void virtio_set_broken(struct virtio_dev *vd, const char *why);

/* virtio_pci.c: puts @vd on the PCI bus.  0 or -errno. */
struct vm;
int virtio_pci_add(struct vm *vm, struct virtio_dev *vd);

#endif
