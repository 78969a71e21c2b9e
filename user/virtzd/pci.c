// SPDX-License-Identifier: GPL-2.0
/*
 * PCI configuration mechanism #1 and the BAR address decoder.
 *
 * Only what a guest may change is writable: the command register, BAR0
 * (sizing protocol: all ones reads back the size mask) and the bits the
 * device marks in wmask[]; everything else is read-only.
 * Accesses to absent slots, functions or buses read as all ones.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pci.h"

#define PCI_COMMAND		0x04
#define PCI_COMMAND_MEMORY	0x2
#define PCI_BAR0		0x10

/* @lock protects the address latch and every device's config space. */
struct pci_bus {
	pthread_mutex_t lock;
	uint32_t addr;		/* 0xcf8 latch */
	struct pci_dev *devs[PCI_MAX_DEVS];
	int ndevs;
	struct pci_dev bridge;
};


uint64_t pci_bar0(const struct pci_dev *pd)
{
	if (!(pci_r16(pd->cfg + PCI_COMMAND) & PCI_COMMAND_MEMORY))
		return 0;
	return pci_r32(pd->cfg + PCI_BAR0) & ~0xfULL;
}

static struct pci_dev *selected(struct pci_bus *bus, unsigned int *reg)
{
	uint32_t a = bus->addr;
	unsigned int slot = (a >> 11) & 0x1f;

	if (!(a & 0x80000000U) || ((a >> 16) & 0xff) || ((a >> 8) & 7))
		return NULL;
	*reg = a & 0xfc;
	return slot < (unsigned int)bus->ndevs ? bus->devs[slot] : NULL;
}

static void cfg_write(struct pci_dev *pd, unsigned int off, const uint8_t *data,
		      int len)
{
	int i;

	for (i = 0; i < len && off + i < 256; i++) {
		unsigned int o = off + i;

		if (o == PCI_COMMAND)
			pd->cfg[o] = data[i] & 0x06;	/* memory, bus master */
		else
			pd->cfg[o] = (pd->cfg[o] & ~pd->wmask[o]) |
				     (data[i] & pd->wmask[o]);
	}
	if (pd->bar0_size && off < PCI_BAR0 + 4 && off + len > PCI_BAR0) {
		/* Sizing (all ones) or an address: either way, aligned. */
		uint32_t v = pci_r32(pd->cfg + PCI_BAR0) & ~(pd->bar0_size - 1);

		pci_w32(pd->cfg + PCI_BAR0, v & ~0xfU);
	}
	if (pd->cfg_written)
		pd->cfg_written(pd, off, len);
}

static void pci_io(struct vm *vm, void *opaque, uint16_t port, bool write,
		   uint8_t *data, int size)
{
	struct pci_bus *bus = opaque;
	struct pci_dev *pd;
	unsigned int reg, off;

	pthread_mutex_lock(&bus->lock);
	if (port >= 0xcf8 && port < 0xcfc) {
		if (size == 4 && port == 0xcf8) {
			if (write)
				bus->addr = pci_r32(data);
			else
				pci_w32(data, bus->addr);
		} else if (!write) {
			memset(data, 0xff, size);
		}
		goto out;
	}
	off = port - 0xcfc;
	pd = selected(bus, &reg);
	if (!pd || off + size > 4) {
		if (!write)
			memset(data, 0xff, size);
		goto out;
	}
	if (write) {
		cfg_write(pd, reg + off, data, size);
	} else {
		memcpy(data, pd->cfg + reg + off, size);
	}
out:
	pthread_mutex_unlock(&bus->lock);
}

static bool pci_mmio(struct vm *vm, void *opaque, uint64_t addr, bool write,
		     uint8_t *data, int size)
{
	struct pci_bus *bus = opaque;
	struct pci_dev *pd = NULL;
	uint64_t base = 0;
	int i;

	pthread_mutex_lock(&bus->lock);
	for (i = 1; i < bus->ndevs; i++) {
		base = pci_bar0(bus->devs[i]);
		if (base && addr >= base &&
		    addr + size <= base + bus->devs[i]->bar0_size) {
			pd = bus->devs[i];
			break;
		}
	}
	pthread_mutex_unlock(&bus->lock);
	if (!pd)
		return false;
	pd->bar_io(pd, addr - base, write, data, size);
	return true;
}

int pci_init(struct vm *vm)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	struct pio_dev pio = { .base = 0xcf8, .len = 8, .io = pci_io };
	struct mmio_dev mmio = { .io = pci_mmio };
	struct pci_dev *br;

	if (!bus)
		return -ENOMEM;
	/* Check for room first, so that neither registration can fail. */
	if (vm->npio >= VM_MAX_PIO || vm->nmmio >= VM_MAX_MMIO) {
		free(bus);
		return -ENOSPC;
	}
	pthread_mutex_init(&bus->lock, NULL);
	br = &bus->bridge;
	pci_w16(br->cfg + 0x00, 0x8086);	/* Intel 440FX host bridge */
	pci_w16(br->cfg + 0x02, 0x1237);
	br->cfg[0x0b] = 0x06;			/* class: bridge, host */
	bus->devs[0] = br;
	bus->ndevs = 1;
	pio.opaque = bus;
	mmio.opaque = bus;
	vm_add_pio(vm, &pio);
	vm_add_mmio(vm, &mmio);
	vm->pci = bus;
	return 0;
}

void pci_destroy(struct vm *vm)
{
	if (!vm->pci)
		return;
	pthread_mutex_destroy(&vm->pci->lock);
	free(vm->pci);
	vm->pci = NULL;
}

int pci_add(struct vm *vm, struct pci_dev *pd)
{
	struct pci_bus *bus = vm->pci;
	int slot;

	if (!bus)
		return -ENODEV;
	pthread_mutex_lock(&bus->lock);
	if (bus->ndevs >= PCI_MAX_DEVS) {
		pthread_mutex_unlock(&bus->lock);
		return -ENOSPC;
	}
	slot = bus->ndevs;
	pci_w32(pd->cfg + PCI_BAR0, PCI_MMIO_BASE + slot * PCI_MMIO_STRIDE);
	pci_w16(pd->cfg + PCI_COMMAND, PCI_COMMAND_MEMORY);
	memset(pd->wmask + PCI_BAR0, 0xff, 4);
	bus->devs[bus->ndevs++] = pd;
	pthread_mutex_unlock(&bus->lock);
	return slot;
}
