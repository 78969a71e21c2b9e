/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A PCI bus 0 behind configuration mechanism #1 (ports 0xcf8/0xcfc),
 * with a host bridge at slot 0, and memory BARs handled as MMIO exits.
 */
#ifndef VIRTZD_PCI_H
#define VIRTZD_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "vm.h"

#define PCI_MAX_DEVS	8
#define PCI_MMIO_BASE	0xd0000000ULL	/* BARs live above RAM's 3 GiB cap */
#define PCI_MMIO_STRIDE	0x100000ULL

struct pci_dev {
	uint8_t cfg[256];
	uint8_t wmask[256];	/* guest-writable bits, besides COMMAND/BAR0 */
	uint32_t bar0_size;	/* power of two, 32-bit memory BAR */
	void *opaque;
	/* Called after the guest wrote config bytes [off, off + len). */
	void (*cfg_written)(struct pci_dev *pd, uint32_t off, int len);
	/* BAR0 access at @off. */
	void (*bar_io)(struct pci_dev *pd, uint64_t off, bool write,
		       uint8_t *data, int len);
};

/* Puts an empty bus 0 (host bridge only) on @vm: 0 or -errno. */
int pci_init(struct vm *vm);
void pci_destroy(struct vm *vm);
/* Adds @pd at the next slot; assigns BAR0.  Returns the slot or -errno. */
int pci_add(struct vm *vm, struct pci_dev *pd);
/* Current BAR0 address of @pd, or 0 when memory decoding is off. */
uint64_t pci_bar0(const struct pci_dev *pd);

static inline void pci_w16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void pci_w32(uint8_t *p, uint32_t v)
{
	pci_w16(p, v);
	pci_w16(p + 2, v >> 16);
}

static inline uint16_t pci_r16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static inline uint32_t pci_r32(const uint8_t *p)
{
	return pci_r16(p) | (uint32_t)pci_r16(p + 2) << 16;
}

#endif
