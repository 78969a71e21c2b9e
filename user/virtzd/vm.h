/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtzd internals: one struct vm per process, the boot loader, the
 * machine description (MP table), the port-I/O bus and the devices on it.
 *
 * Threads: one per vCPU (KVM_RUN and the device exits it causes) and the
 * main thread (control socket, serial clients).  Device state touched by
 * both is protected by the device's own mutex, documented at its struct.
 */
#ifndef VIRTZD_VM_H
#define VIRTZD_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#define VM_MAX_CPUS		16
#define VM_MIN_MEM_MIB		32
/* Below the 32-bit PCI/IOAPIC hole: keeps the e820 map one RAM range. */
#define VM_MAX_MEM_MIB		3072

struct vm;

/* A port-I/O handler: @data holds @size bytes (1, 2 or 4). */
struct pio_dev {
	uint16_t base, len;
	void (*io)(struct vm *vm, void *opaque, uint16_t port, bool write,
		   uint8_t *data, int size);
	void *opaque;
};

#define VM_MAX_PIO 8

/* An MMIO handler: returns false when @addr is not its own. */
struct mmio_dev {
	bool (*io)(struct vm *vm, void *opaque, uint64_t addr, bool write,
		   uint8_t *data, int size);
	void *opaque;
};

#define VM_MAX_MMIO 4

/* One MSI route: a GSI above the irqchip's, with an irqfd on it. */
struct msi_route {
	uint32_t gsi;
	int efd;
	uint64_t addr;
	uint32_t data;
	bool valid;
};

#define VM_MAX_MSI 32
#define VM_MSI_GSI_BASE 24

/*
 * --decompress: auto boots a kernel the cache holds from the cache and
 * fills the cache in the background on a miss; host always decompresses
 * in virtzd; guest always boots the bzImage's own decompressor.
 */
enum {
	VM_DECOMPRESS_AUTO,
	VM_DECOMPRESS_HOST,
	VM_DECOMPRESS_GUEST,
};

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_mib;
	int cpus;
	bool console;		/* copy guest serial output to stdout */
	int decompress;		/* --decompress: VM_DECOMPRESS_* */
	bool huge_pages;	/* --huge-pages auto (default), not off */
	const char *kernel_cache;	/* --kernel-cache directory, or NULL */
	bool machine_args;	/* prepend VM_MACHINE_ARGS to cmdline */
};

/*
 * Kernel arguments that describe virtzd's machine, put before the user's
 * command line unless --no-machine-args: the guest has no chipset, AGP
 * bridge or K8 northbridge, so the early type-1 PCI scans looking for
 * them (256 buses x 32 slots, twice, each read an exit) find nothing.
 */
#define VM_MACHINE_ARGS	"pci=noearly"

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int dump_req;		/* atomic: print the state at the next exit */
};

struct serial;
struct pci_bus;
struct balloon;
struct rtc;

struct vm {
	struct vm_config cfg;
	int kvm_fd;
	int vm_fd;
	size_t run_size;

	int mem_fd;		/* the guest RAM memfd */
	uint8_t *mem;		/* its mapping, cfg.mem_mib MiB */
	uint64_t mem_size;

	int ncpus;
	struct vcpu cpus[VM_MAX_CPUS];
	struct kvm_cpuid2 *cpuid;	/* KVM_GET_SUPPORTED_CPUID, once */
	/* KVM's coalesced-write ring (or NULL); the lock serialises replay. */
	struct kvm_coalesced_mmio_ring *coalesced;
	uint32_t coalesced_max;
	pthread_mutex_t coalesced_lock;
	uint64_t entry;			/* the BSP's first %rip (boot.c) */

	struct pio_dev pio[VM_MAX_PIO];
	int npio;

	struct mmio_dev mmio[VM_MAX_MMIO];
	int nmmio;

	/* msi_lock protects msi[] and the KVM routing table built from it. */
	pthread_mutex_t msi_lock;
	struct msi_route msi[VM_MAX_MSI];
	int nmsi;

	struct pci_bus *pci;
	struct serial *serial;
	struct balloon *balloon;
	struct rtc *rtc;

	/* Written once by whoever stops the machine; vCPU threads poll it. */
	volatile int stopping;
	int exit_code;
	int stop_efd;		/* eventfd: the main loop wakes on a stop */
};

/* Guest-physical layout of the boot structures. */
#define GPA_GDT		0x1000ULL
#define GPA_PML4	0x2000ULL
#define GPA_PDPT	0x3000ULL
#define GPA_PD		0x4000ULL	/* 4 pages: 0..4 GiB in 2 MiB pages */
#define GPA_ZERO_PAGE	0x8000ULL
#define GPA_CMDLINE	0x20000ULL
#define CMDLINE_MAX	4096
#define GPA_EBDA	0x9fc00ULL
#define GPA_MPTABLE	0xf0000ULL	/* in the BIOS area the kernel scans */
#define GPA_KERNEL	0x100000ULL
#define IOAPIC_ADDR	0xfec00000U
#define LAPIC_ADDR	0xfee00000U

/* Returns a pointer to guest memory [gpa, gpa+len) or NULL if outside. */
static inline void *gpa_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa > vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return vm->mem + gpa;
}

/* kvm.c */
int vm_create(struct vm *vm, const struct vm_config *cfg, char *err,
	      size_t errlen);
int vm_start(struct vm *vm);
void vm_stop(struct vm *vm, int code);
void vm_join(struct vm *vm);
/*
 * Has every vCPU print its registers and run state on stderr (SIGUSR2):
 * what a guest that stopped making progress is doing.
 */
void vm_dump_vcpus(struct vm *vm);
void vm_destroy(struct vm *vm);
int vm_add_pio(struct vm *vm, const struct pio_dev *dev);
void vm_irq_line(struct vm *vm, int gsi, int level);
int vm_add_mmio(struct vm *vm, const struct mmio_dev *dev);
/*
 * Lets KVM queue guest writes to ports [@port, @port + @len) instead of
 * exiting; they reach the device before the next exit any vCPU handles.
 * Only for write-only latches whose effect nobody sees until a later
 * access exits (the PCI address register).  -EOPNOTSUPP without KVM
 * support; the ports then simply keep exiting.
 */
int vm_coalesce_pio(struct vm *vm, uint16_t port, uint16_t len);
/* A new MSI route with its irqfd; returns its index or -errno. */
int vm_msi_alloc(struct vm *vm);
/* Points route @idx at (@addr, @data), or removes it when !@valid. */
int vm_msi_set(struct vm *vm, int idx, uint64_t addr, uint32_t data,
	       bool valid);
/* Raises route @idx through its irqfd. */
void vm_msi_fire(struct vm *vm, int idx);

/* cpuid.c */
int cpuid_init(struct vm *vm);
int cpuid_setup_vcpu(struct vm *vm, struct vcpu *cpu);
void cpuid_free(struct vm *vm);

/* boot.c */
int boot_precheck(const struct vm_config *cfg, char *err, size_t errlen);
int boot_load(struct vm *vm, char *err, size_t errlen);
int boot_setup_bsp(struct vm *vm, struct vcpu *cpu);

/* rtc.c: the CMOS clock at 0x70/0x71 */
int rtc_init(struct vm *vm);
void rtc_destroy(struct vm *vm);

/* mptable.c */
int mptable_write(struct vm *vm, char *err, size_t errlen);

#endif
