// SPDX-License-Identifier: GPL-2.0
/*
 * The CPUID a vCPU sees, and its XCR0.
 *
 * KVM_GET_SUPPORTED_CPUID says what KVM can virtualise, not what this
 * machine is: it carries the host's topology, PMU and cache-sharing
 * leaves.  Like every real VMM we start from it and then describe our
 * own machine:
 *   - leaf 1: the hypervisor bit, the vCPU's initial APIC id, the
 *     logical processor count and HTT;
 *   - leaves 0xB and 0x1F: rebuilt for one package of ncpus cores with
 *     one thread each, x2APIC id = vCPU index;
 *   - leaf 4 (Intel caches): cores per package; leaves 0x80000001/8
 *     (AMD): CmpLegacy and NC/ApicIdSize; TOPOEXT is cleared and its
 *     leaves 0x8000001D/0x8000001E dropped, as is 0x80000026, so that
 *     the guest reads the topology we describe and nothing of the host;
 *   - no PMU: KVM's vPMU is disabled for the VM (vm_create()), leaf 0xA
 *     is zeroed, AMD's PerfCtrExtCore and PerfMonV2 (0x80000022) cleared;
 *   - leaf 6: no energy-performance bias (an MSR we do not emulate);
 *   - leaf 0xD: what KVM reports, and XCR0 is set to exactly the user
 *     state components it lists (see cpuid_setup_vcpu()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm.h"

#define CPUID1_ECX_XSAVE	(1U << 26)
#define CPUID1_ECX_HYPERVISOR	(1U << 31)
#define CPUID1_EDX_HTT		(1U << 28)
#define CPUID6_ECX_EPB		(1U << 3)
#define AMD_ECX_CMP_LEGACY	(1U << 1)
#define AMD_ECX_TOPOEXT		(1U << 22)
#define AMD_ECX_PERFCTR_CORE	(1U << 23)

/* XSAVE user state components a guest kernel may enable in XCR0. */
#define XCR0_USER_MASK		(0x3ULL | 0x4ULL | 0x18ULL | 0xe0ULL | \
				 0x200ULL | 0x60000ULL)

int cpuid_init(struct vm *vm)
{
	struct kvm_cpuid2 *c;
	unsigned int n = 128;

	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (!ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			break;
		free(c);
		if (errno != E2BIG || n >= 4096)
			return -errno;
		n *= 2;
	}
	vm->cpuid = c;
	return 0;
}

void cpuid_free(struct vm *vm)
{
	free(vm->cpuid);
	vm->cpuid = NULL;
}

static const struct kvm_cpuid_entry2 *
cpuid_find(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	unsigned int i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

static unsigned int order_base_2(unsigned int n)
{
	unsigned int s = 0;

	while ((1U << s) < n)
		s++;
	return s;
}

/* Leaf 0xB or 0x1F: SMT level (1 thread), core level (ncpus), end. */
static void add_topology(struct kvm_cpuid2 *out, uint32_t fn, int id,
			 int ncpus)
{
	struct kvm_cpuid_entry2 *e = &out->entries[out->nent];
	uint32_t shift = order_base_2(ncpus);
	int i;

	for (i = 0; i < 3; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].function = fn;
		e[i].index = i;
		e[i].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e[i].edx = id;
	}
	e[0].ebx = 1;
	e[0].ecx = 0 | 1 << 8;			/* level 0: SMT */
	e[1].eax = shift;
	e[1].ebx = ncpus;
	e[1].ecx = 1 | 2 << 8;			/* level 1: core */
	e[2].ecx = 2;				/* level 2: invalid */
	out->nent += 3;
}

/* Whether a leaf of the supported set is left out of the guest's. */
static bool dropped(uint32_t fn)
{
	switch (fn) {
	case 0xb:
	case 0x1f:
	case 0x8000001d:
	case 0x8000001e:
	case 0x80000022:
	case 0x80000026:
		return true;
	}
	return false;
}

/*
 * The vCPU's CPUID for vCPU @cpu (KVM_SET_CPUID2), then its XCR0.
 *
 * XCR0: a guest kernel enables every XSAVE user component CPUID 0xD
 * lists, and XSETBV is normally intercepted so KVM learns the value.
 * Some nested setups do not intercept it (QEMU's TCG SVM emulation
 * before 8.x): the guest's XSETBV then reaches the CPU directly while
 * KVM keeps XCR0 = x87 from reset and reloads that on every VM entry,
 * so AVX faults, XSAVE drops SSE/AVX state and CPUID 0xD.0 EBX (sized
 * from KVM's XCR0) disagrees with the kernel ("XSAVE consistency
 * problem").  Setting XCR0 to that same full mask up front makes KVM's
 * value and the guest's agree either way; on hardware that intercepts
 * XSETBV the guest's own write simply replaces it.
 */
int cpuid_setup_vcpu(struct vm *vm, struct vcpu *cpu)
{
	const struct kvm_cpuid2 *sup = vm->cpuid;
	const struct kvm_cpuid_entry2 *leaf0 = cpuid_find(sup, 0, 0);
	const struct kvm_cpuid_entry2 *xsave = cpuid_find(sup, 0xd, 0);
	uint32_t max_basic = leaf0 ? leaf0->eax : 0;
	/* "AuthenticAMD" / "HygonGenuine": leaf 0x80000008 ECX is theirs. */
	bool amd = leaf0 && (leaf0->ebx == 0x68747541 || leaf0->ebx == 0x6f677948);
	unsigned int ncpus = vm->ncpus, i;
	bool has_xsave = false;
	struct kvm_cpuid2 *c;
	uint64_t xcr0 = 0;
	int ret;

	c = calloc(1, sizeof(*c) + (sup->nent + 6) * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	for (i = 0; i < sup->nent; i++) {
		struct kvm_cpuid_entry2 *e;

		if (dropped(sup->entries[i].function))
			continue;
		e = &c->entries[c->nent++];
		*e = sup->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) | (uint32_t)cpu->id << 24 |
				 ncpus << 16;
			e->ecx |= CPUID1_ECX_HYPERVISOR;
			if (ncpus > 1)
				e->edx |= CPUID1_EDX_HTT;
			else
				e->edx &= ~CPUID1_EDX_HTT;
			has_xsave = e->ecx & CPUID1_ECX_XSAVE;
			break;
		case 4:
			/* Cores per package - 1; caches up to L2 private. */
			if (e->eax & 0x1f) {
				uint32_t share = ((e->eax >> 5) & 7) >= 3 ?
						 ncpus - 1 : 0;

				e->eax = (e->eax & 0x3fff) | share << 14 |
					 (ncpus - 1) << 26;
			}
			break;
		case 6:
			e->ecx &= ~CPUID6_ECX_EPB;
			break;
		case 0xa:
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0x80000001:
			e->ecx &= ~(AMD_ECX_TOPOEXT | AMD_ECX_PERFCTR_CORE |
				    AMD_ECX_CMP_LEGACY);
			if (ncpus > 1)
				e->ecx |= AMD_ECX_CMP_LEGACY;
			break;
		case 0x80000008:
			if (amd)
				e->ecx = (e->ecx & ~0xf0ffU) |
					 order_base_2(ncpus) << 12 | (ncpus - 1);
			break;
		}
	}
	if (max_basic >= 0xb)
		add_topology(c, 0xb, cpu->id, ncpus);
	if (max_basic >= 0x1f)
		add_topology(c, 0x1f, cpu->id, ncpus);

	ret = ioctl(cpu->fd, KVM_SET_CPUID2, c) ? -errno : 0;
	free(c);
	if (ret)
		return ret;

	if (has_xsave && xsave)
		xcr0 = ((uint64_t)xsave->edx << 32 | xsave->eax) & XCR0_USER_MASK;
	if (xcr0 & 1) {
		struct kvm_xcrs xcrs = { .nr_xcrs = 1 };

		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = xcr0;
		if (ioctl(cpu->fd, KVM_SET_XCRS, &xcrs))
			return -errno;
	}
	return 0;
}
