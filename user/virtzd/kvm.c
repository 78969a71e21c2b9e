// SPDX-License-Identifier: GPL-2.0
/*
 * The KVM machine: guest RAM as a shared memory file, the in-kernel
 * irqchip and PIT,
 * vCPUs with their CPUID, and the vCPU threads that dispatch port I/O to
 * the devices registered with vm_add_pio().
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vm.h"
#include "vzerr.h"

#define VM_TSS_ADDR	0xfffbd000ULL
#define VM_IDMAP_ADDR	0xfffbc000ULL

static int create_vcpu(struct vm *vm, int id)
{
	struct vcpu *cpu = &vm->cpus[id];
	int ret;

	cpu->vm = vm;
	cpu->id = id;
	cpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (cpu->fd < 0)
		return -errno;
	cpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			cpu->fd, 0);
	if (cpu->run == MAP_FAILED) {
		ret = -errno;
		cpu->run = NULL;
		return ret;
	}
	return cpuid_setup_vcpu(vm, cpu);
}

/*
 * Maps guest RAM on a 2 MiB boundary and, when @huge, asks for
 * transparent huge pages.  Guest physical 0 is then 2 MiB aligned in the
 * host too, so where the file has huge pages (guest_ram_file()) KVM maps
 * them whole and the guest takes one nested page fault per 2 MiB instead
 * of 512.  Returns NULL with errno set on failure.
 */
static void *map_guest_ram(int fd, size_t size, bool huge)
{
	const size_t align = 2UL << 20;
	uintptr_t start;
	uint8_t *resv;
	void *mem;

	resv = mmap(NULL, size + align, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (resv == MAP_FAILED)
		return NULL;
	start = ((uintptr_t)resv + align - 1) & ~(uintptr_t)(align - 1);
	mem = mmap((void *)start, size, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0);
	if (mem == MAP_FAILED) {
		int e = errno;

		munmap(resv, size + align);
		errno = e;
		return NULL;
	}
	/* Give back the unused head and tail of the reservation. */
	if (start > (uintptr_t)resv)
		munmap(resv, start - (uintptr_t)resv);
	if ((uintptr_t)resv + align > start)
		munmap((uint8_t *)start + size,
		       (uintptr_t)resv + align - start);
	madvise(mem, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return mem;
}

/* Whether shmem_enabled lets a memfd that asks for huge pages have them. */
static bool shmem_thp_on_request(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strstr(buf, "[advise]") || strstr(buf, "[always]") ||
	       strstr(buf, "[within_size]") || strstr(buf, "[force]");
}

/*
 * Guest RAM in 2 MiB pages on a host whose shmem_enabled keeps memfds in
 * 4 KiB pages (Debian's default, "never"): a file on a tmpfs instance
 * of virtzd's own, mounted huge=within_size.  fsmount() makes the mount
 * without attaching it anywhere, so no other process can see it, and
 * it goes away with the file.  The file is unlinked once open, so its
 * name ("virtz-guest-ram (deleted)") only tells /proc readers what it
 * is.  It is shared memory like a memfd: block sessions attach it as a
 * VMO, and the balloon punches holes in it.  Needs CAP_SYS_ADMIN;
 * returns the file, or -1.
 */
static int huge_ram_file(uint64_t size)
{
	int fs, mnt, fd = -1;
	char sz[32];

	fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -1;
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "huge", "within_size", 0) ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "size", sz, 0) ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", "4", 0) ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		goto out;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID |
		      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mnt < 0)
		goto out;
	fd = openat(mnt, "virtz-guest-ram",
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		unlinkat(mnt, "virtz-guest-ram", 0);
	close(mnt);
out:
	close(fs);
	return fd;
}

/*
 * The guest RAM file: with --huge-pages auto, a memfd where the host
 * gives a memfd huge pages on request, else huge_ram_file(), else a
 * memfd in 4 KiB pages (said once); with --huge-pages off, a memfd.
 */
static int guest_ram_file(const struct vm_config *cfg, uint64_t size,
			  bool *huge)
{
	int fd;

	*huge = false;
	if (cfg->huge_pages && !shmem_thp_on_request()) {
		fd = huge_ram_file(size);
		if (fd >= 0) {
			*huge = true;
			return fd;
		}
		fprintf(stderr,
			"virtzd: guest RAM in 4 KiB pages: shmem_enabled is never and a private huge tmpfs cannot be mounted (%s); shmem_enabled \"advise\" lets virtzd use 2 MiB pages\n",
			strerror(errno));
	}
	fd = memfd_create("virtz-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd >= 0)
		*huge = cfg->huge_pages;
	return fd;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err,
	      size_t errlen)
{
	struct kvm_userspace_memory_region region;
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	bool huge;
	int i, ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->stop_efd = -1;
	for (i = 0; i < VM_MAX_CPUS; i++)
		vm->cpus[i].fd = -1;

	if (cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS)
		return vz_fail(err, errlen, -EINVAL,
			       "--cpus %d: must be 1 to %d", cfg->cpus,
			       VM_MAX_CPUS);
	if (cfg->mem_mib < VM_MIN_MEM_MIB || cfg->mem_mib > VM_MAX_MEM_MIB)
		return vz_fail(err, errlen, -EINVAL,
			       "--memory %llu MiB: must be %d to %d MiB",
			       (unsigned long long)cfg->mem_mib,
			       VM_MIN_MEM_MIB, VM_MAX_MEM_MIB);
	vm->ncpus = cfg->cpus;
	vm->mem_size = cfg->mem_mib << 20;
	pthread_mutex_init(&vm->msi_lock, NULL);
	pthread_mutex_init(&vm->coalesced_lock, NULL);

	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return vz_fail(err, errlen, -errno, "eventfd: %s",
			       strerror(errno));

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return vz_fail(err, errlen, -errno, "cannot open /dev/kvm: %s",
			       strerror(errno));
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return vz_fail(err, errlen, -EINVAL, "unsupported KVM API version");
	ret = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret <= 0)
		return vz_fail(err, errlen, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE failed");
	vm->run_size = ret;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vz_fail(err, errlen, -errno, "KVM_CREATE_VM: %s",
			       strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR) < 0)
		return vz_fail(err, errlen, -errno, "KVM_SET_TSS_ADDR: %s",
			       strerror(errno));
	{
		uint64_t idmap = VM_IDMAP_ADDR;

		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
			return vz_fail(err, errlen, -errno,
				       "KVM_SET_IDENTITY_MAP_ADDR: %s",
				       strerror(errno));
	}

	/*
	 * Guest RAM is shared memory (a memfd, or a file on a private
	 * tmpfs) so that it can be shared (block sessions, kernel backends)
	 * and so that balloon pages can be punched out.
	 */
	vm->mem_fd = guest_ram_file(cfg, vm->mem_size, &huge);
	if (vm->mem_fd < 0)
		return vz_fail(err, errlen, -errno, "cannot create guest RAM: %s",
			       strerror(errno));
	if (ftruncate(vm->mem_fd, vm->mem_size) < 0)
		return vz_fail(err, errlen, -errno,
			       "cannot size guest RAM to %llu MiB: %s",
			       (unsigned long long)cfg->mem_mib, strerror(errno));
	vm->mem = map_guest_ram(vm->mem_fd, vm->mem_size, huge);
	if (!vm->mem)
		return vz_fail(err, errlen, -errno,
			       "cannot map %llu MiB of guest RAM: %s",
			       (unsigned long long)cfg->mem_mib, strerror(errno));

	region = (struct kvm_userspace_memory_region) {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->mem_size,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return vz_fail(err, errlen, -errno,
			       "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return vz_fail(err, errlen, -errno, "KVM_CREATE_IRQCHIP: %s",
			       strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return vz_fail(err, errlen, -errno, "KVM_CREATE_PIT2: %s",
			       strerror(errno));

	/*
	 * No virtual PMU: nothing in virtzd describes or migrates one, and
	 * CPUID says there is none (cpuid.c).  Must precede the vCPUs.
	 */
	ret = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PMU_CAPABILITY);
	if (ret > 0 && (ret & KVM_PMU_CAP_DISABLE)) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_PMU_CAPABILITY,
			.args[0] = KVM_PMU_CAP_DISABLE,
		};

		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			return vz_fail(err, errlen, -errno,
				       "cannot disable the vPMU: %s",
				       strerror(errno));
	}
	ret = cpuid_init(vm);
	if (ret)
		return vz_fail(err, errlen, ret, "KVM_GET_SUPPORTED_CPUID: %s",
			       strerror(-ret));

	for (i = 0; i < vm->ncpus; i++) {
		ret = create_vcpu(vm, i);
		if (ret)
			return vz_fail(err, errlen, ret, "vCPU %d: %s", i,
				       strerror(-ret));
	}

	/* The coalesced-write ring, if KVM has one for port I/O. */
	ret = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (ret > 0 &&
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) > 0) {
		long page = sysconf(_SC_PAGESIZE);

		if ((size_t)(ret + 1) * page <= vm->run_size) {
			vm->coalesced = (void *)((uint8_t *)vm->cpus[0].run +
						 (size_t)ret * page);
			vm->coalesced_max = (page - sizeof(*vm->coalesced)) /
					    sizeof(vm->coalesced->coalesced_mmio[0]);
		}
	}
	return 0;
}

int vm_add_pio(struct vm *vm, const struct pio_dev *dev)
{
	if (vm->npio >= VM_MAX_PIO)
		return -ENOSPC;
	vm->pio[vm->npio++] = *dev;
	return 0;
}

int vm_add_mmio(struct vm *vm, const struct mmio_dev *dev)
{
	if (vm->nmmio >= VM_MAX_MMIO)
		return -ENOSPC;
	vm->mmio[vm->nmmio++] = *dev;
	return 0;
}

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so it is rebuilt from
 * scratch: KVM's default irqchip routes (GSI 0-15 to the PICs and the
 * IOAPIC, 16-23 to the IOAPIC), then every valid MSI route.
 */
static int msi_apply(struct vm *vm)
{
	struct kvm_irq_routing *r;
	unsigned int n = 0;
	int i, ret;

	r = calloc(1, sizeof(*r) + (16 + 24 + VM_MAX_MSI) * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < 16; i++) {
		r->entries[n].gsi = i;
		r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[n].u.irqchip.irqchip = i < 8 ? KVM_IRQCHIP_PIC_MASTER :
						  KVM_IRQCHIP_PIC_SLAVE;
		r->entries[n].u.irqchip.pin = i % 8;
		n++;
	}
	for (i = 0; i < 24; i++) {
		r->entries[n].gsi = i;
		r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		r->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		r->entries[n].u.irqchip.pin = i;
		n++;
	}
	for (i = 0; i < vm->nmsi; i++) {
		if (!vm->msi[i].valid)
			continue;
		r->entries[n].gsi = vm->msi[i].gsi;
		r->entries[n].type = KVM_IRQ_ROUTING_MSI;
		r->entries[n].u.msi.address_lo = (uint32_t)vm->msi[i].addr;
		r->entries[n].u.msi.address_hi = vm->msi[i].addr >> 32;
		r->entries[n].u.msi.data = vm->msi[i].data;
		n++;
	}
	r->nr = n;
	ret = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) ? -errno : 0;
	free(r);
	return ret;
}

int vm_msi_alloc(struct vm *vm)
{
	struct kvm_irqfd irqfd = { 0 };
	struct msi_route *m;
	int idx, ret;

	pthread_mutex_lock(&vm->msi_lock);
	if (vm->nmsi >= VM_MAX_MSI) {
		ret = -ENOSPC;
		goto out;
	}
	idx = vm->nmsi;
	m = &vm->msi[idx];
	m->gsi = VM_MSI_GSI_BASE + idx;
	m->valid = false;
	m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->efd < 0) {
		ret = -errno;
		goto out;
	}
	irqfd.fd = m->efd;
	irqfd.gsi = m->gsi;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		ret = -errno;
		close(m->efd);
		goto out;
	}
	vm->nmsi++;
	ret = idx;
out:
	pthread_mutex_unlock(&vm->msi_lock);
	return ret;
}

int vm_msi_set(struct vm *vm, int idx, uint64_t addr, uint32_t data,
	       bool valid)
{
	struct msi_route *m;
	int ret = 0;

	if (idx < 0 || idx >= vm->nmsi)
		return -EINVAL;
	pthread_mutex_lock(&vm->msi_lock);
	m = &vm->msi[idx];
	if (m->valid != valid || m->addr != addr || m->data != data) {
		m->addr = addr;
		m->data = data;
		m->valid = valid;
		ret = msi_apply(vm);
	}
	pthread_mutex_unlock(&vm->msi_lock);
	return ret;
}

void vm_msi_fire(struct vm *vm, int idx)
{
	uint64_t one = 1;

	if (idx < 0 || idx >= vm->nmsi)
		return;
	if (write(vm->msi[idx].efd, &one, sizeof(one)) < 0) {
		/* Counter saturated: an interrupt is pending anyway. */
	}
}

void vm_irq_line(struct vm *vm, int gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

void vm_stop(struct vm *vm, int code)
{
	uint64_t one = 1;
	int i;

	if (__sync_bool_compare_and_swap(&vm->stopping, 0, 1)) {
		vm->exit_code = code;
		if (write(vm->stop_efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow from one write. */
		}
	}
	/*
	 * Kick vCPUs out of KVM_RUN; immediate_exit covers a vCPU that is
	 * between its ->stopping check and its next KVM_RUN.
	 */
	for (i = 0; i < vm->ncpus; i++) {
		if (vm->cpus[i].run)
			vm->cpus[i].run->immediate_exit = 1;
		if (vm->cpus[i].thread && !pthread_equal(vm->cpus[i].thread,
							 pthread_self()))
			pthread_kill(vm->cpus[i].thread, SIGUSR1);
	}
}

/* Hands one access of @size bytes at @port to the device that owns it. */
static void pio_dispatch(struct vm *vm, uint16_t port, bool write,
			 uint8_t *data, int size)
{
	int i;

	for (i = 0; i < vm->npio; i++) {
		struct pio_dev *d = &vm->pio[i];

		if (port >= d->base && port < d->base + d->len) {
			d->io(vm, d->opaque, port, write, data, size);
			return;
		}
	}
	if (!write)
		memset(data, 0xff, size);	/* no device */
}

static void handle_pio(struct vm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t n;

	/*
	 * Bounds of data_offset/count come from KVM, not from the guest;
	 * still refuse anything that would run past the shared page.
	 */
	if (run->io.size != 1 && run->io.size != 2 && run->io.size != 4)
		return;
	if ((uint64_t)run->io.data_offset +
	    (uint64_t)run->io.count * run->io.size > vm->run_size)
		return;

	for (n = 0; n < run->io.count; n++, data += run->io.size)
		pio_dispatch(vm, run->io.port, write, data, run->io.size);
}

/*
 * Coalesced port writes: KVM queues writes to a registered port range in
 * a ring (one per VM, mapped with every vCPU) instead of exiting.  They
 * must reach the device before anything that could observe them, so each
 * vCPU replays the ring, in order, before it handles any exit of its own.
 * A full ring makes KVM exit normally, so nothing is lost.
 */
static void coalesced_flush(struct vm *vm)
{
	struct kvm_coalesced_mmio_ring *ring = vm->coalesced;
	uint32_t first;

	if (!ring || __atomic_load_n(&ring->first, __ATOMIC_RELAXED) ==
		     __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->coalesced_lock);
	while ((first = ring->first) !=
	       __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE)) {
		struct kvm_coalesced_mmio e;

		if (first >= vm->coalesced_max) {
			/* Not KVM's doing: drop the ring rather than overrun. */
			__atomic_store_n(&ring->first, ring->last, __ATOMIC_RELEASE);
			break;
		}
		e = ring->coalesced_mmio[first];
		if (e.pio && (e.len == 1 || e.len == 2 || e.len == 4) &&
		    e.phys_addr <= 0xffff)
			pio_dispatch(vm, e.phys_addr, true, e.data, e.len);
		__atomic_store_n(&ring->first, (first + 1) % vm->coalesced_max,
				 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->coalesced_lock);
}

int vm_coalesce_pio(struct vm *vm, uint16_t port, uint16_t len)
{
	struct kvm_coalesced_mmio_zone zone = {
		.addr = port, .size = len, .pio = 1,
	};

	if (!vm->coalesced)
		return -EOPNOTSUPP;
	return ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) ? -errno : 0;
}

static void handle_mmio(struct vm *vm, struct kvm_run *run)
{
	int i, len = run->mmio.len;

	if (len < 1 || len > 8)
		return;
	for (i = 0; i < vm->nmmio; i++)
		if (vm->mmio[i].io(vm, vm->mmio[i].opaque, run->mmio.phys_addr,
				   run->mmio.is_write, run->mmio.data, len))
			return;
	/* Nothing is mapped there: reads see all ones. */
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
}

/*
 * Translates a guest virtual address through the guest's own page tables
 * (4- or 5-level long mode only), for the diagnosis below.  Returns a
 * host pointer to @len bytes, or NULL when the walk leaves guest RAM,
 * meets a non-present entry, or the range crosses a page.
 */
static const uint8_t *gva_peek(struct vm *vm, const struct kvm_sregs *sr,
			       uint64_t gva, size_t len)
{
	const uint64_t addr_mask = 0x000ffffffffff000ULL;
	int level = (sr->cr4 & (1ULL << 12)) ? 5 : 4;
	uint64_t table = sr->cr3 & addr_mask, entry = 0, gpa;
	int shift = 12 + 9 * level;

	if (!(sr->efer & (1ULL << 10)) || !(sr->cr0 & (1ULL << 31)))
		return NULL;
	while (level--) {
		shift -= 9;
		gpa = table + ((gva >> shift) & 511) * 8;
		if (gpa + 8 > vm->mem_size)
			return NULL;
		memcpy(&entry, (uint8_t *)vm->mem + gpa, 8);
		if (!(entry & 1))
			return NULL;
		/* A 1 GiB or 2 MiB page ends the walk. */
		if ((shift == 30 || shift == 21) && (entry & (1ULL << 7)))
			break;
		table = entry & addr_mask;
	}
	gpa = (entry & addr_mask & ~((1ULL << shift) - 1)) |
	      (gva & ((1ULL << shift) - 1));
	if ((gva & 4095) + len > 4096 || gpa + len > vm->mem_size)
		return NULL;
	return (const uint8_t *)vm->mem + gpa;
}

/*
 * The code at rip and the kernel addresses on the top of the stack (a
 * poor man's backtrace: with the guest's module load addresses, which
 * the test guests print, they place a hung vCPU in the source).
 */
static const uint8_t *gva_peek_vcpu(struct vcpu *cpu, const struct kvm_sregs *sr,
				    uint64_t gva, size_t len)
{
	struct kvm_translation t = { .linear_address = gva };

	/* KVM's own walk first; ours when it cannot (or says no). */
	if (!ioctl(cpu->fd, KVM_TRANSLATE, &t) && t.valid &&
	    (gva & 4095) + len <= 4096 && t.physical_address + len <= cpu->vm->mem_size)
		return (const uint8_t *)cpu->vm->mem + t.physical_address;
	return gva_peek(cpu->vm, sr, gva, len);
}

static void dump_guest_context(struct vcpu *cpu, const struct kvm_regs *r,
			       const struct kvm_sregs *sr)
{
	const uint8_t *code = gva_peek_vcpu(cpu, sr, r->rip, 16);
	struct kvm_vcpu_events ev = { 0 };
	int id = cpu->id;
	char line[512];
	int n = 0, i, found = 0;

	if (code) {
		n += snprintf(line + n, sizeof(line) - n, "code at rip:");
		for (i = 0; i < 16; i++)
			n += snprintf(line + n, sizeof(line) - n, " %02x",
				      code[i]);
		fprintf(stderr, "virtzd: vCPU %d: %s\n", id, line);
	}
	n = snprintf(line, sizeof(line), "stack text:");
	for (i = 0; i < 64 && found < 12; i++) {
		const uint8_t *p = gva_peek_vcpu(cpu, sr, r->rsp + i * 8, 8);
		uint64_t v;

		if (!p)
			break;
		memcpy(&v, p, 8);
		/* Kernel text and modules: the top 2 GiB of the address space. */
		if (v < 0xffffffff80000000ULL || v == ~0ULL)
			continue;
		n += snprintf(line + n, sizeof(line) - n, " %#llx",
			      (unsigned long long)v);
		found++;
	}
	if (found)
		fprintf(stderr, "virtzd: vCPU %d: %s\n", id, line);
	if (!code)
		fprintf(stderr, "virtzd: vCPU %d: rip not in guest RAM\n", id);
	if (!ioctl(cpu->fd, KVM_GET_VCPU_EVENTS, &ev))
		fprintf(stderr,
			"virtzd: vCPU %d: exception %s%u (error %#x) interrupt %s%u nmi %s shadow %u\n",
			id, ev.exception.injected ? "injected " :
			ev.exception.pending ? "pending " : "none ",
			ev.exception.nr, ev.exception.error_code,
			ev.interrupt.injected ? "injected " : "none ",
			ev.interrupt.nr, ev.nmi.pending ? "pending" : "none",
			ev.interrupt.shadow);
}

static void dump_vcpu(struct vcpu *cpu)
{
	struct kvm_mp_state mp = { 0 };
	struct kvm_sregs sr = { 0 };
	struct kvm_regs r = { 0 };

	if (ioctl(cpu->fd, KVM_GET_REGS, &r) || ioctl(cpu->fd, KVM_GET_SREGS, &sr))
		return;
	ioctl(cpu->fd, KVM_GET_MP_STATE, &mp);
	fprintf(stderr,
		"virtzd: vCPU %d: rip %#llx rsp %#llx rflags %#llx cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx mp_state %u if %u irq_pending %#llx\n",
		cpu->id, (unsigned long long)r.rip, (unsigned long long)r.rsp,
		(unsigned long long)r.rflags, (unsigned long long)sr.cr0,
		(unsigned long long)sr.cr3, (unsigned long long)sr.cr4,
		(unsigned long long)sr.efer, mp.mp_state, cpu->run->if_flag,
		(unsigned long long)sr.interrupt_bitmap[0]);
	dump_guest_context(cpu, &r, &sr);
}

void vm_dump_vcpus(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->ncpus; i++) {
		if (!vm->cpus[i].thread)
			continue;
		__atomic_store_n(&vm->cpus[i].dump_req, 1, __ATOMIC_RELEASE);
		pthread_kill(vm->cpus[i].thread, SIGUSR1);
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *cpu = arg;
	struct vm *vm = cpu->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!vm->stopping) {
		if (__atomic_exchange_n(&cpu->dump_req, 0, __ATOMIC_ACQ_REL))
			dump_vcpu(cpu);
		if (ioctl(cpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "virtzd: vCPU %d: KVM_RUN: %s\n",
				cpu->id, strerror(errno));
			vm_stop(vm, 1);
			break;
		}
		coalesced_flush(vm);
		switch (cpu->run->exit_reason) {
		case KVM_EXIT_IO:
			handle_pio(vm, cpu->run);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(vm, cpu->run);
			break;
		case KVM_EXIT_HLT:
			break;
		case KVM_EXIT_SHUTDOWN:
			/* Triple fault: how a guest without ACPI reboots. */
			fprintf(stderr, "virtzd: guest reset (vCPU %d shutdown); stopping\n",
				cpu->id);
			/* Where it was: an unplanned triple fault has no other trace. */
			dump_vcpu(cpu);
			vm_stop(vm, 0);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			fprintf(stderr, "virtzd: guest system event %u; stopping\n",
				cpu->run->system_event.type);
			vm_stop(vm, 0);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_FAIL_ENTRY:
		case KVM_EXIT_INTERNAL_ERROR:
		default: {
			struct kvm_regs regs = { 0 };

			ioctl(cpu->fd, KVM_GET_REGS, &regs);
			fprintf(stderr,
				"virtzd: vCPU %d: unexpected exit %u (suberror %u) at rip %#llx\n",
				cpu->id, cpu->run->exit_reason,
				cpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR ?
				cpu->run->internal.suberror : 0,
				(unsigned long long)regs.rip);

			vm_stop(vm, 1);
			break;
		}
		}
	}
	return NULL;
}

static void sigusr1(int sig)
{
}

int vm_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = sigusr1 };
	sigset_t set, old;
	int i, ret;

	sigaction(SIGUSR1, &sa, NULL);
	/* vCPU threads unblock SIGUSR1 themselves; everyone else keeps it off. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);

	ret = boot_setup_bsp(vm, &vm->cpus[0]);
	if (ret)
		return ret;
	for (i = 0; i < vm->ncpus; i++) {
		ret = pthread_create(&vm->cpus[i].thread, NULL, vcpu_thread,
				     &vm->cpus[i]);
		if (ret) {
			vm->cpus[i].thread = 0;
			vm_stop(vm, 1);
			return -ret;
		}
	}
	return 0;
}

void vm_join(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->ncpus; i++)
		if (vm->cpus[i].thread)
			pthread_join(vm->cpus[i].thread, NULL);
}

void vm_destroy(struct vm *vm)
{
	int i;

	for (i = vm->ncpus - 1; i >= 0; i--) {
		if (vm->cpus[i].run)
			munmap(vm->cpus[i].run, vm->run_size);
		if (vm->cpus[i].fd >= 0)
			close(vm->cpus[i].fd);
	}
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	for (i = 0; i < vm->nmsi; i++)
		close(vm->msi[i].efd);
	cpuid_free(vm);
}
