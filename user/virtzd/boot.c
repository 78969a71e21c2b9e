// SPDX-License-Identifier: GPL-2.0
/*
 * Linux x86 64-bit boot protocol (Documentation/arch/x86/boot.rst), no
 * firmware: the protected-mode part of a bzImage goes to 1 MiB, the setup
 * header is copied into a zero page with our e820 map, command line and
 * initrd, and the BSP starts in long mode at the 64-bit entry point
 * (load address + 0x200) with %rsi pointing at the zero page, on
 * identity-mapped page tables covering the low 4 GiB.
 *
 * A vmlinux virtzd loads itself (--decompress auto with a cached kernel,
 * or host): when the bzImage payload (setup header payload_offset/
 * payload_length, boot protocol 2.08+) is a zstd frame, as in Debian's
 * kernels, virtzd takes the vmlinux from the kernel cache (kcache.c) or
 * decompresses it in one call, loads its PT_LOAD segments and enters
 * startup_64 (e_entry) directly, with the same zero page, page tables and
 * registers, as Firecracker and cloud-hypervisor do with a vmlinux.  It
 * places the kernel at random, physically and virtually, and applies the
 * relocations Linux appends to the payload (vmlinux.c), as the bzImage's
 * own decompressor would, so KASLR is kept.  --decompress auto boots the
 * bzImage on a cache miss and fills the cache in the background; any
 * other payload, and --decompress guest, take the bzImage path.
 *
 * Every field read from the image is checked: a truncated or foreign file
 * is refused with a message, never trusted.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "kcache.h"
#include "vmlinux.h"
#include "vzerr.h"
#include "vm.h"

/* Offsets into struct boot_params / setup_header (boot.rst). */
#define BP_E820_ENTRIES		0x1e8
#define BP_SETUP_SECTS		0x1f1
#define BP_VID_MODE		0x1fa
#define BP_BOOT_FLAG		0x1fe
#define BP_HEADER		0x202
#define BP_VERSION		0x206
#define BP_TYPE_OF_LOADER	0x210
#define BP_LOADFLAGS		0x211
#define BP_RAMDISK_IMAGE	0x218
#define BP_RAMDISK_SIZE		0x21c
#define BP_HEAP_END_PTR		0x224
#define BP_CMD_LINE_PTR		0x228
#define BP_INITRD_ADDR_MAX	0x22c
#define BP_KERNEL_ALIGNMENT	0x230
#define BP_RELOCATABLE		0x234
#define BP_XLOADFLAGS		0x236
#define BP_CMDLINE_SIZE		0x238
#define BP_PAYLOAD_OFFSET	0x248
#define BP_PAYLOAD_LENGTH	0x24c
#define BP_PREF_ADDRESS		0x258
#define BP_INIT_SIZE		0x260
#define BP_E820_TABLE		0x2d0
#define BP_E820_MAX		128

#define LOADED_HIGH		0x01
#define CAN_USE_HEAP		0x80
#define XLF_KERNEL_64		0x01
#define E820_RAM		1
#define E820_RESERVED		2

/* The decompressor moves itself above this; initrd goes beyond it. */
#define KERNEL_RELOC_MIN	0x1000000ULL

static uint16_t rd16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v);
	wr16(p + 2, v >> 16);
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, v);
	wr32(p + 4, v >> 32);
}

/* Reads a whole regular file into malloc'ed memory, at most @max bytes. */
static int slurp(const char *path, uint64_t max, uint8_t **buf, size_t *len,
		 char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	uint8_t *b;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vz_fail(err, errlen, -errno, "cannot open %s: %s", path,
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vz_fail(err, errlen, -EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return vz_fail(err, errlen, -EFBIG,
			       "%s: %lld bytes do not fit in guest memory", path,
			       (long long)st.st_size);
	}
	b = malloc(st.st_size ? st.st_size : 1);
	if (!b) {
		close(fd);
		return vz_fail(err, errlen, -ENOMEM, "out of memory reading %s", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, st.st_size - got);

		if (n <= 0) {
			free(b);
			close(fd);
			return vz_fail(err, errlen, -EIO, "%s: short read", path);
		}
		got += n;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;
}

static void e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t n = zp[BP_E820_ENTRIES];
	uint8_t *e = zp + BP_E820_TABLE + 20 * n;

	wr64(e, addr);
	wr64(e + 8, size);
	wr32(e + 16, type);
	zp[BP_E820_ENTRIES] = n + 1;
}

static void setup_page_tables(struct vm *vm)
{
	uint64_t *pml4 = gpa_ptr(vm, GPA_PML4, 4096);
	uint64_t *pdpt = gpa_ptr(vm, GPA_PDPT, 4096);
	uint64_t *pd = gpa_ptr(vm, GPA_PD, 4 * 4096);
	int i;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = GPA_PDPT | 0x3;			/* present, writable */
	for (i = 0; i < 4; i++)
		pdpt[i] = (GPA_PD + i * 4096ULL) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;	/* 2 MiB pages */
}

static void setup_gdt(struct vm *vm)
{
	uint64_t *gdt = gpa_ptr(vm, GPA_GDT, 4 * 8);

	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffULL;	/* __BOOT_CS: 64-bit code */
	gdt[3] = 0x00cf93000000ffffULL;	/* __BOOT_DS: flat data */
}

/*
 * The checks boot_load() makes, done before any KVM object exists, so
 * that bad input never creates (and tears down) a VM: on the test
 * machines every VM creation patches kernel text (KVM's preempt
 * notifier static key), which is best kept for guests that will run.
 */
int boot_precheck(const struct vm_config *cfg, char *err, size_t errlen)
{
	uint64_t mem = cfg->mem_mib << 20;
	uint8_t hdr[1024];
	struct stat st;
	uint32_t init_size;
	uint64_t kern_len, kern_end;
	int fd, setup_sects;
	ssize_t n;

	fd = open(cfg->kernel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vz_fail(err, errlen, -errno, "cannot open %s: %s",
			       cfg->kernel, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vz_fail(err, errlen, -EINVAL, "%s: not a regular file",
			       cfg->kernel);
	}
	n = pread(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (n != (ssize_t)sizeof(hdr) ||
	    rd32(hdr + BP_HEADER) != 0x53726448 ||
	    rd16(hdr + BP_BOOT_FLAG) != 0xaa55)
		return vz_fail(err, errlen, -ENOEXEC,
			       "%s: not a bzImage (no boot protocol header)",
			       cfg->kernel);
	if (rd16(hdr + BP_VERSION) < 0x020c ||
	    !(rd16(hdr + BP_XLOADFLAGS) & XLF_KERNEL_64))
		return vz_fail(err, errlen, -ENOEXEC,
			       "%s: boot protocol %u.%02u without a 64-bit entry point (need 2.12+)",
			       cfg->kernel, rd16(hdr + BP_VERSION) >> 8,
			       rd16(hdr + BP_VERSION) & 0xff);
	setup_sects = hdr[BP_SETUP_SECTS] ? hdr[BP_SETUP_SECTS] : 4;
	if ((uint64_t)(setup_sects + 1) * 512 >= (uint64_t)st.st_size)
		return vz_fail(err, errlen, -ENOEXEC, "%s: truncated bzImage",
			       cfg->kernel);
	kern_len = st.st_size - (uint64_t)(setup_sects + 1) * 512;
	init_size = rd32(hdr + BP_INIT_SIZE);
	kern_end = KERNEL_RELOC_MIN + (init_size > kern_len ? init_size : kern_len);
	if (kern_end + (1 << 20) > mem)
		return vz_fail(err, errlen, -E2BIG,
			       "%s needs %llu MiB to decompress; the guest has %llu MiB",
			       cfg->kernel, (unsigned long long)(kern_end >> 20) + 1,
			       (unsigned long long)cfg->mem_mib);
	if (cfg->initrd) {
		if (stat(cfg->initrd, &st) < 0)
			return vz_fail(err, errlen, -errno, "cannot open %s: %s",
				       cfg->initrd, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return vz_fail(err, errlen, -EINVAL, "%s: not a regular file",
				       cfg->initrd);
		if ((uint64_t)st.st_size + kern_end > mem)
			return vz_fail(err, errlen, -E2BIG,
				       "initrd %s (%lld KiB) does not fit beside the kernel in %llu MiB",
				       cfg->initrd, (long long)st.st_size >> 10,
				       (unsigned long long)cfg->mem_mib);
	}
	return 0;
}

/* The zstd frame magic, little-endian, as the payload starts with it. */
#define ZSTD_FRAME_MAGIC	0xfd2fb528U
/* loadflags: the kernel was placed at a random address. */
#define KASLR_FLAG		0x02

/*
 * Whether the kernel's part of @cl (before any "--") has the word @word,
 * or (when @word ends in '=') a word starting with it.
 */
static bool cmdline_has(const char *cl, const char *word)
{
	size_t n, len = strlen(word);
	bool prefix = len && word[len - 1] == '=';

	while (cl && *cl) {
		cl += strspn(cl, " \t\n");
		n = strcspn(cl, " \t\n");
		if (n == 2 && !strncmp(cl, "--", 2))
			break;
		if ((n == len || (prefix && n > len)) && !strncmp(cl, word, len))
			return true;
		cl += n;
	}
	return false;
}

/*
 * Arguments that limit or carve up the RAM the kernel may use: the
 * bzImage's decompressor keeps the kernel inside what they leave, which
 * virtzd does not work out; with any of them the kernel stays at its
 * physical link address (its virtual one is still random).
 */
static bool cmdline_limits_memory(const char *cl)
{
	static const char *const words[] = {
		"mem=", "memmap=", "hugepages=", "efi_fake_mem=", "crashkernel=",
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (cmdline_has(cl, words[i]))
			return true;
	return false;
}

/* A random number below @n; clears *ok when there is no randomness. */
static uint64_t rand_below(uint64_t n, bool *ok)
{
	uint64_t r;

	if (n <= 1)
		return 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		*ok = false;
		return 0;
	}
	return r % n;	/* n < 2^21: the bias is below 2^-40 */
}

/*
 * Of @n places, the one to use: a random one, or for the tests the one
 * VIRTZ_TEST_KASLR=V,P names (@which 0 reads V, the virtual place; 1
 * reads P, the physical one), each a number or "max" for the highest,
 * clamped to the places there are.
 */
static uint64_t kaslr_pick(uint64_t n, int which, bool *ok)
{
	const char *t = getenv("VIRTZ_TEST_KASLR");
	unsigned long long v;

	if (t && which && (t = strchr(t, ',')))
		t++;
	if (!t || n <= 1)
		return rand_below(n, ok);
	if (!strncmp(t, "max", 3))
		return n - 1;
	v = strtoull(t, NULL, 0);
	return v < n ? v : n - 1;
}

/*
 * Loads the vmlinux held whole in @buf (@n bytes) below guest address
 * @limit (the initrd, or the end of RAM).  Unless the command line says
 * nokaslr, the kernel goes where the bzImage's own decompressor could
 * have put it: a random 2 MiB-aligned physical address below @limit, a
 * random virtual one in the kernel map (its relocation table applied),
 * and KASLR_FLAG in the zero page, so that the kernel randomises its
 * memory regions too.  Returns 0 with vm->entry, *end (the highest
 * loaded address) and *placed_kaslr (whether it was placed at random)
 * set; 1 when @buf is not a vmlinux; 2 when @need_reloc and the kernel
 * has no usable relocation table (the caller boots the bzImage, whose
 * decompressor keeps what KASLR it has); or -errno with @err set.
 */
static int vmlinux_place(struct vm *vm, const uint8_t *buf, size_t n,
			 uint64_t limit, bool need_reloc, uint64_t *end,
			 bool *placed_kaslr, char *err, size_t errlen)
{
	bool kaslr = !cmdline_has(vm->cfg.cmdline, "nokaslr"), rnd = true;
	uint64_t span, top, pdelta = 0, vdelta = 0;
	struct vmlinux vl;
	char why[400];
	int i, ret;

	ret = vmlinux_parse(buf, n, KERNEL_RELOC_MIN, &vl, why, sizeof(why));
	if (ret < 0)
		return vz_fail(err, errlen, ret, "%s: %s", vm->cfg.kernel, why);
	if (ret)
		return 1;
	if (kaslr && !vl.rel_end) {
		if (need_reloc)
			return 2;
		fprintf(stderr, "virtzd: %s runs where it was linked (no KASLR): %s\n",
			vm->cfg.kernel, vl.norel);
		kaslr = false;
	}
	span = (vl.hi - vl.lo + VMLINUX_ALIGN - 1) & ~(VMLINUX_ALIGN - 1);
	if (kaslr) {
		/* The BSP enters on page tables mapping the low 4 GiB. */
		top = limit < (4ULL << 30) ? limit : 4ULL << 30;
		vdelta = kaslr_pick(vmlinux_virt_slots(&vl), 0, &rnd) * VMLINUX_ALIGN;
		if (!(vl.lo % VMLINUX_ALIGN) && top >= vl.lo + span &&
		    !cmdline_limits_memory(vm->cfg.cmdline))
			pdelta = kaslr_pick((top - vl.lo - span) / VMLINUX_ALIGN + 1,
					    1, &rnd) * VMLINUX_ALIGN;
		if (!rnd) {
			fprintf(stderr, "virtzd: getrandom: %s; %s runs where it was linked (no KASLR)\n",
				strerror(errno), vm->cfg.kernel);
			kaslr = false;
			pdelta = vdelta = 0;
		}
	}
	for (i = 0; i < vl.nph; i++)
		if (!gpa_ptr(vm, vl.ph[i].p_paddr + pdelta, vl.ph[i].p_memsz))
			return vz_fail(err, errlen, -E2BIG,
				       "%s: vmlinux segment %d (%#llx+%#llx) outside guest memory",
				       vm->cfg.kernel, i,
				       (unsigned long long)vl.ph[i].p_paddr,
				       (unsigned long long)vl.ph[i].p_memsz);
	for (i = 0; i < vl.nph; i++) {
		const Elf64_Phdr *p = &vl.ph[i];
		uint8_t *dst = gpa_ptr(vm, p->p_paddr + pdelta, p->p_memsz);

		memcpy(dst, buf + p->p_offset, p->p_filesz);
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
	}
	vmlinux_relocate(&vl, gpa_ptr(vm, vl.lo + pdelta, vl.hi - vl.lo), vdelta);
	vm->entry = vl.entry + pdelta;
	*placed_kaslr = kaslr;
	*end = vl.hi + pdelta;
	return 0;
}

/*
 * Finds the zstd frame at the start of @payload and the size it
 * decompresses to: the frame header's content size or, as Linux writes
 * it (the frame made from a pipe, then size_append), the 32-bit size in
 * the 4 bytes after the frame.  Returns 0, 1 when the payload is not a
 * zstd frame this path handles, or -errno with @err set.
 */
static int zstd_payload(const char *name, uint64_t mem_size,
			const uint8_t *payload, size_t plen, size_t *frame_len,
			uint64_t *ulen, char *err, size_t errlen)
{
	unsigned long long fcs;
	size_t flen;

	if (plen < 8 || rd32(payload) != ZSTD_FRAME_MAGIC)
		return 1;
	flen = ZSTD_findFrameCompressedSize(payload, plen);
	if (ZSTD_isError(flen))
		return vz_fail(err, errlen, -ENOEXEC, "%s: corrupt zstd payload: %s",
			       name, ZSTD_getErrorName(flen));
	fcs = ZSTD_getFrameContentSize(payload, plen);
	if (fcs == ZSTD_CONTENTSIZE_ERROR)
		return vz_fail(err, errlen, -ENOEXEC, "%s: corrupt zstd frame header",
			       name);
	if (fcs == ZSTD_CONTENTSIZE_UNKNOWN) {
		if (plen - flen != 4)
			return 1;
		fcs = rd32(payload + flen);
	}
	/* A size no vmlinux has is a corrupt header or trailer. */
	if (fcs < sizeof(Elf64_Ehdr))
		return vz_fail(err, errlen, -ENOEXEC,
			       "%s: zstd payload says it decompresses to %llu bytes",
			       name, fcs);
	if (fcs > mem_size)
		return vz_fail(err, errlen, -E2BIG,
			       "%s: decompressed kernel (%llu MiB) larger than guest memory",
			       name, fcs >> 20);
	*frame_len = flen;
	*ulen = fcs;
	return 0;
}

/*
 * Decompresses the frame in one call into an anonymous mapping of
 * exactly @ulen bytes (huge pages where the host allows).  One call
 * needs no window buffer: Debian's kernels are compressed with a
 * 128 MiB window, which streaming would allocate and copy through.
 */
static int zstd_unpack(const char *name, const uint8_t *frame, size_t flen,
		       uint64_t ulen, uint8_t **out, char *err, size_t errlen)
{
	ZSTD_DCtx *dc;
	void *buf;
	size_t r;

	buf = mmap(NULL, ulen, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return vz_fail(err, errlen, -ENOMEM,
			       "out of memory decompressing %s", name);
	madvise(buf, ulen, MADV_HUGEPAGE);
	dc = ZSTD_createDCtx();
	if (!dc) {
		munmap(buf, ulen);
		return vz_fail(err, errlen, -ENOMEM,
			       "out of memory decompressing %s", name);
	}
	r = ZSTD_decompressDCtx(dc, buf, ulen, frame, flen);
	ZSTD_freeDCtx(dc);
	if (ZSTD_isError(r) || r != ulen) {
		munmap(buf, ulen);
		return vz_fail(err, errlen, -ENOEXEC,
			       "%s: zstd payload does not decompress to its %llu bytes: %s",
			       name, (unsigned long long)ulen,
			       ZSTD_isError(r) ? ZSTD_getErrorName(r) : "size differs");
	}
	*out = buf;
	return 0;
}

/*
 * The background fill of --decompress auto: on a cache miss the guest
 * boots the bzImage, while a thread of the lowest priority (SCHED_IDLE:
 * it runs only on a CPU nothing else wants) decompresses the payload
 * and stores it for the next boot.  kcache_put() writes a nameless file
 * until the entry is whole, so a virtzd that exits (or dies) meanwhile
 * leaves nothing behind.
 */
struct kfill {
	struct kcache kc;
	uint8_t *frame;
	size_t flen;
	char *kernel;
	char *dir;
};

static void kfill_free(struct kfill *f)
{
	kcache_close(&f->kc);
	free(f->frame);
	free(f->kernel);
	free(f->dir);
	free(f);
}

static void *kfill_main(void *arg)
{
	struct sched_param sp = { 0 };
	struct kfill *f = arg;
	struct vmlinux vl;
	uint8_t *out;
	char why[512];
	int ret;

	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	ret = zstd_unpack(f->kernel, f->frame, f->flen, f->kc.len, &out, why,
			  sizeof(why));
	if (!ret) {
		ret = vmlinux_parse(out, f->kc.len, KERNEL_RELOC_MIN, &vl, why,
				    sizeof(why));
		if (ret > 0)
			snprintf(why, sizeof(why), "%s: its payload is not a vmlinux",
				 f->kernel);
		/* --decompress auto boots such a kernel through its bzImage. */
		if (!ret && !vl.rel_end) {
			snprintf(why, sizeof(why), "%s: %s, so it boots through its bzImage",
				 f->kernel, vl.norel);
			ret = -ENOEXEC;
		}
		if (!ret)
			ret = kcache_put(&f->kc, out, why, sizeof(why));
		munmap(out, f->kc.len);
	}
	if (ret)
		fprintf(stderr, "virtzd: kernel cache: not stored: %s\n", why);
	else
		fprintf(stderr, "virtzd: kernel cache: stored %s/%s for the next boot\n",
			f->dir, f->kc.name);
	kfill_free(f);
	return NULL;
}

/* Starts the fill, which takes @kc over.  Returns 0 or -errno. */
static int kfill_start(struct kcache *kc, const uint8_t *frame, size_t flen,
		       const char *kernel, const char *dir)
{
	struct kfill *f = calloc(1, sizeof(*f));
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!f)
		return -ENOMEM;
	f->kc.dirfd = -1;
	f->frame = malloc(flen);
	f->kernel = strdup(kernel);
	f->dir = strdup(dir);
	if (!f->frame || !f->kernel || !f->dir) {
		kfill_free(f);
		return -ENOMEM;
	}
	memcpy(f->frame, frame, flen);
	f->flen = flen;
	f->kc = *kc;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&t, &attr, kfill_main, f);
	pthread_attr_destroy(&attr);
	if (ret) {
		f->kc.dirfd = -1;	/* still the caller's */
		kfill_free(f);
		return ret;
	}
	kc->dirfd = -1;		/* the fill's now */
	return 0;
}

/*
 * Loads the vmlinux inside a zstd payload below guest address @limit.
 * With --decompress host: from the kernel cache (kcache.c) when it holds
 * this payload, else by decompressing it and storing the result for the
 * next boot.  With --decompress auto: from the cache, else (and when the
 * kernel could not be randomised) not at all, the fill starting in the
 * background.  Returns 0 with vm->entry, *end and *kaslr set (see
 * vmlinux_place()), >0 when the caller boots the bzImage instead
 * (nothing has been written to the guest), or -errno with @err set.  A cache that cannot be used is said on stderr
 * and otherwise ignored.
 */
static int load_vmlinux_zstd(struct vm *vm, const uint8_t *payload,
			     size_t plen, uint64_t limit, uint64_t *end,
			     bool *kaslr, char *err, size_t errlen)
{
	bool auto_mode = vm->cfg.decompress == VM_DECOMPRESS_AUTO;
	const char *dir = vm->cfg.kernel_cache;
	struct kcache kc = { .dirfd = -1 };
	const char *did = "not stored";	/* what the cache did, said below */
	const uint8_t *cached;
	uint8_t *out = NULL;
	size_t flen = 0;
	uint64_t ulen = 0;
	char why[512];
	int ret;

	ret = zstd_payload(vm->cfg.kernel, vm->mem_size, payload, plen, &flen,
			   &ulen, err, errlen);
	if (ret)
		return ret;
	if (dir && kcache_open(&kc, dir, payload, plen, ulen, why,
			       sizeof(why)) < 0)
		fprintf(stderr, "virtzd: kernel cache: %s\n", why);
	if (!kcache_get(&kc, &cached)) {
		ret = vmlinux_place(vm, cached, ulen, limit, auto_mode, end,
				    kaslr, why, sizeof(why));
		kcache_unmap(cached, ulen);
		if (!ret)
			did = "booting";
		if (ret == -E2BIG)	/* the guest is too small, not the entry */
			vz_fail(err, errlen, ret, "%s", why);
		if (!ret || ret == 2 || ret == -E2BIG)
			goto out;
		/* A bad entry is decompressed again and replaced. */
		fprintf(stderr, "virtzd: kernel cache: %s/%s unusable (%s), replaced\n",
			dir, kc.name, ret > 0 ? "not a vmlinux" : why);
	}
	if (auto_mode) {
		ret = 1;
		if (kc.dirfd >= 0 &&
		    !kfill_start(&kc, payload, flen, vm->cfg.kernel, dir)) {
			fprintf(stderr, "virtzd: kernel cache: filling %s/%s in the background; this boot decompresses in the guest\n",
				dir, kc.name);
		}
		goto out;
	}
	ret = zstd_unpack(vm->cfg.kernel, payload, flen, ulen, &out, err,
			  errlen);
	if (ret)
		goto out;
	ret = vmlinux_place(vm, out, ulen, limit, false, end, kaslr, err,
			    errlen);
	if (!ret && kc.dirfd >= 0) {
		if (kcache_put(&kc, out, why, sizeof(why)) < 0)
			fprintf(stderr, "virtzd: kernel cache: %s\n", why);
		else
			did = "stored";
	}
	munmap(out, ulen);
out:
	if (!ret && kc.dirfd >= 0)
		fprintf(stderr, "virtzd: kernel cache: %s %s/%s\n", did, dir,
			kc.name);
	kcache_close(&kc);
	return ret;
}

int boot_load(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *cfg = &vm->cfg;
	uint8_t *img = NULL, *rd = NULL, *zp;
	size_t img_len, rd_len = 0, setup_len, kern_len, hdr_end, cl_len;
	uint64_t kern_end, initrd_max = 0, rd_addr = 0;
	bool loaded = false, kaslr = false;	/* a vmlinux virtzd placed */
	uint32_t init_size, cl_max;
	uint16_t version;
	int setup_sects, ret;
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";

	ret = slurp(cfg->kernel, vm->mem_size, &img, &img_len, err, errlen);
	if (ret)
		return ret;

	ret = -ENOEXEC;
	if (img_len < 1024 || rd32(img + BP_HEADER) != 0x53726448 /* "HdrS" */ ||
	    rd16(img + BP_BOOT_FLAG) != 0xaa55) {
		vz_fail(err, errlen, ret, "%s: not a bzImage (no boot protocol header)",
			cfg->kernel);
		goto out;
	}
	version = rd16(img + BP_VERSION);
	if (version < 0x020c || !(rd16(img + BP_XLOADFLAGS) & XLF_KERNEL_64)) {
		vz_fail(err, errlen, ret,
			"%s: boot protocol %u.%02u without a 64-bit entry point (need 2.12+)",
			cfg->kernel, version >> 8, version & 0xff);
		goto out;
	}
	setup_sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	setup_len = (size_t)(setup_sects + 1) * 512;
	hdr_end = 0x202 + img[0x201];
	if (setup_len >= img_len || hdr_end > setup_len || hdr_end > 4096) {
		vz_fail(err, errlen, ret, "%s: truncated bzImage", cfg->kernel);
		goto out;
	}
	kern_len = img_len - setup_len;
	init_size = rd32(img + BP_INIT_SIZE);
	kern_end = KERNEL_RELOC_MIN + (init_size > kern_len ? init_size : kern_len);
	if (kern_end + (1 << 20) > vm->mem_size) {
		vz_fail(err, errlen, -E2BIG,
			"%s needs %llu MiB to decompress; the guest has %llu MiB",
			cfg->kernel, (unsigned long long)(kern_end >> 20) + 1,
			(unsigned long long)cfg->mem_mib);
		ret = -E2BIG;
		goto out;
	}
	/*
	 * The initrd goes at the top of what the kernel can reach; a kernel
	 * loaded by virtzd itself is placed below it.
	 */
	if (cfg->initrd) {
		ret = slurp(cfg->initrd, vm->mem_size, &rd, &rd_len, err, errlen);
		if (ret)
			goto out;
		initrd_max = rd32(img + BP_INITRD_ADDR_MAX);
		if (initrd_max + 1 > vm->mem_size)
			initrd_max = vm->mem_size - 1;
		rd_addr = rd_len > initrd_max ? 0 :
			  ((initrd_max + 1) - rd_len) & ~0xfffULL;
	}

	vm->entry = GPA_KERNEL + 0x200;		/* the bzImage's startup_64 */
	if (cfg->decompress != VM_DECOMPRESS_GUEST && version >= 0x0208) {
		uint32_t poff = rd32(img + BP_PAYLOAD_OFFSET);
		uint32_t plen = rd32(img + BP_PAYLOAD_LENGTH);
		uint64_t end = 0;

		if (poff < kern_len && plen <= kern_len - poff) {
			ret = load_vmlinux_zstd(vm, img + setup_len + poff, plen,
						cfg->initrd ? rd_addr : vm->mem_size,
						&end, &kaslr, err, errlen);
			if (ret < 0)
				goto out;
			if (ret == 0) {
				loaded = true;
				if (end > kern_end)
					kern_end = end;
			}
		}
	}
	ret = -ENOEXEC;
	if (!loaded)
		memcpy(gpa_ptr(vm, GPA_KERNEL, kern_len), img + setup_len,
		       kern_len);

	/* The zero page: the image's setup header, then our fields. */
	zp = gpa_ptr(vm, GPA_ZERO_PAGE, 4096);
	if (!zp) {
		vz_fail(err, errlen, ret, "guest memory too small for the zero page");
		goto out;
	}
	memset(zp, 0, 4096);
	memcpy(zp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	wr16(zp + BP_VID_MODE, 0xffff);
	zp[BP_TYPE_OF_LOADER] = 0xff;
	zp[BP_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
	/* Set or cleared as the bzImage's decompressor does. */
	zp[BP_LOADFLAGS] &= ~KASLR_FLAG;
	if (kaslr)
		zp[BP_LOADFLAGS] |= KASLR_FLAG;
	wr16(zp + BP_HEAP_END_PTR, 0xfe00);

	cl_max = rd32(img + BP_CMDLINE_SIZE);
	if (!cl_max || cl_max > CMDLINE_MAX - 1)
		cl_max = CMDLINE_MAX - 1;
	cl_len = strlen(cmdline);
	if (cfg->machine_args)
		cl_len += strlen(VM_MACHINE_ARGS " ");
	if (cl_len > cl_max) {
		ret = -E2BIG;
		vz_fail(err, errlen, ret, "command line of %zu bytes%s; the kernel takes %u",
			cl_len, cfg->machine_args ?
			" (with \"" VM_MACHINE_ARGS " \" before it)" : "", cl_max);
		goto out;
	}
	memset(gpa_ptr(vm, GPA_CMDLINE, CMDLINE_MAX), 0, CMDLINE_MAX);
	snprintf((char *)gpa_ptr(vm, GPA_CMDLINE, cl_len + 1), cl_len + 1,
		 "%s%s", cfg->machine_args ? VM_MACHINE_ARGS " " : "", cmdline);
	wr32(zp + BP_CMD_LINE_PTR, GPA_CMDLINE);

	if (cfg->initrd) {
		if (rd_len > initrd_max || rd_addr < kern_end) {
			ret = -E2BIG;
			vz_fail(err, errlen, ret,
				"initrd %s (%zu KiB) does not fit beside the kernel in %llu MiB",
				cfg->initrd, rd_len >> 10,
				(unsigned long long)cfg->mem_mib);
			goto out;
		}
		memcpy(gpa_ptr(vm, rd_addr, rd_len), rd, rd_len);
		wr32(zp + BP_RAMDISK_IMAGE, rd_addr);
		wr32(zp + BP_RAMDISK_SIZE, rd_len);
	}

	e820_add(zp, 0, GPA_EBDA, E820_RAM);
	e820_add(zp, GPA_EBDA, GPA_KERNEL - GPA_EBDA, E820_RESERVED);
	e820_add(zp, GPA_KERNEL, vm->mem_size - GPA_KERNEL, E820_RAM);

	setup_page_tables(vm);
	setup_gdt(vm);
	ret = 0;
out:
	free(rd);
	free(img);
	return ret;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

int boot_setup_bsp(struct vm *vm, struct vcpu *cpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(cpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	seg(&sregs.cs, 0x10, 0xb, true);
	seg(&sregs.ds, 0x18, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = GPA_GDT;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.tr.type = 0xb;		/* busy 64-bit TSS, as VMX wants one */
	sregs.tr.present = 1;
	sregs.tr.limit = 0x67;
	sregs.tr.selector = 0;
	sregs.ldt.type = 0x2;
	sregs.ldt.present = 1;
	sregs.cr3 = GPA_PML4;
	sregs.cr4 = 0x20;		/* PAE */
	sregs.cr0 = 0x80000011;		/* PG | ET | PE */
	sregs.efer = 0x500;		/* LMA | LME */
	if (ioctl(cpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = vm->entry;
	regs.rsi = GPA_ZERO_PAGE;
	if (ioctl(cpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
