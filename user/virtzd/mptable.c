// SPDX-License-Identifier: GPL-2.0
/*
 * The machine description for the guest: an Intel MultiProcessor
 * Specification 1.4 table in the BIOS area, where the kernel looks for it
 * when it finds no ACPI.  It lists one processor per vCPU (APIC id = vCPU
 * index), the ISA bus, the in-kernel IOAPIC and the routing of the ISA
 * interrupts to its pins (identity, as KVM's default GSI routing does).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm.h"

struct mpf {
	char signature[4];	/* "_MP_" */
	uint32_t physptr;
	uint8_t length;		/* in 16-byte units */
	uint8_t specrev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_header {
	char signature[4];	/* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t count;
	uint32_t lapic;
	uint16_t reserved;
	uint8_t ext_checksum;
	uint8_t reserved2;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

#define MP_PROCESSOR	0
#define MP_BUS		1
#define MP_IOAPIC	2
#define MP_INTSRC	3
#define MP_LINTSRC	4
#define MP_INT		0
#define MP_NMI		1
#define MP_EXTINT	3
#define CPU_ENABLED	1
#define CPU_BOOTPROCESSOR 2
#define MPC_APIC_USABLE	1
#define ISA_BUS		0

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return -sum;
}

int mptable_write(struct vm *vm, char *err, size_t errlen)
{
	size_t size = sizeof(struct mpf) + sizeof(struct mpc_header) +
		      vm->ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) + 18 * sizeof(struct mpc_intsrc);
	uint8_t *base = gpa_ptr(vm, GPA_MPTABLE, 0x10000);
	struct mpc_header *mpc;
	struct mpf *mpf;
	uint8_t *p, ioapic_id = vm->ncpus;
	uint16_t count = 0;
	int i;

	if (!base || size > 0x10000) {
		snprintf(err, errlen, "no room for the MP table");
		return -ENOSPC;
	}
	memset(base, 0, size);

	mpf = (struct mpf *)base;
	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = GPA_MPTABLE + sizeof(*mpf);
	mpf->length = 1;
	mpf->specrev = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));

	mpc = (struct mpc_header *)(base + sizeof(*mpf));
	memcpy(mpc->signature, "PCMP", 4);
	mpc->spec = 4;
	memcpy(mpc->oem, "VIRTZ   ", 8);
	memcpy(mpc->product, "virtzd      ", 12);
	mpc->lapic = LAPIC_ADDR;
	p = (uint8_t *)(mpc + 1);

	for (i = 0; i < vm->ncpus; i++) {
		struct mpc_cpu *c = (struct mpc_cpu *)p;

		c->type = MP_PROCESSOR;
		c->apicid = i;
		c->apicver = 0x14;
		c->cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0);
		c->cpufeature = 0x600;	/* family 6 */
		c->featureflag = 0x201;	/* FPU, APIC */
		p += sizeof(*c);
		count++;
	}

	{
		struct mpc_bus *b = (struct mpc_bus *)p;

		b->type = MP_BUS;
		b->busid = ISA_BUS;
		memcpy(b->bustype, "ISA   ", 6);
		p += sizeof(*b);
		count++;
	}
	{
		struct mpc_ioapic *io = (struct mpc_ioapic *)p;

		io->type = MP_IOAPIC;
		io->apicid = ioapic_id;
		io->apicver = 0x11;
		io->flags = MPC_APIC_USABLE;
		io->apicaddr = IOAPIC_ADDR;
		p += sizeof(*io);
		count++;
	}
	/* ISA IRQs 0..15 on the same IOAPIC pins; 2 is the PIC cascade. */
	for (i = 0; i < 16; i++) {
		struct mpc_intsrc *s = (struct mpc_intsrc *)p;

		if (i == 2)
			continue;
		s->type = MP_INTSRC;
		s->irqtype = MP_INT;
		s->irqflag = 0;		/* conforms to the bus: edge, high */
		s->srcbus = ISA_BUS;
		s->srcbusirq = i;
		s->dstapic = ioapic_id;
		s->dstirq = i;
		p += sizeof(*s);
		count++;
	}
	{
		struct mpc_intsrc *s = (struct mpc_intsrc *)p;

		s->type = MP_LINTSRC;
		s->irqtype = MP_EXTINT;
		s->srcbus = ISA_BUS;
		s->dstapic = 0xff;	/* every local APIC */
		s->dstirq = 0;		/* LINT0 */
		p += sizeof(*s);
		s = (struct mpc_intsrc *)p;
		s->type = MP_LINTSRC;
		s->irqtype = MP_NMI;
		s->srcbus = ISA_BUS;
		s->dstapic = 0xff;
		s->dstirq = 1;		/* LINT1 */
		p += sizeof(*s);
		count += 2;
	}

	mpc->length = p - (uint8_t *)mpc;
	mpc->count = count;
	mpc->checksum = checksum(mpc, mpc->length);
	return 0;
}
