/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A decompressed x86-64 Linux kernel (vmlinux.c): its ELF load segments
 * and the relocation table Linux appends for KASLR, checked before use.
 */
#ifndef VIRTZD_VMLINUX_H
#define VIRTZD_VMLINUX_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMLINUX_MAX_PHDRS	64
/* The kernel's virtual map: __START_KERNEL_map, KERNEL_IMAGE_SIZE. */
#define VMLINUX_KERNEL_MAP	0xffffffff80000000ULL
#define VMLINUX_IMAGE_MAX	(1ULL << 30)
/* CONFIG_PHYSICAL_ALIGN of x86-64 kernels: the randomisation step. */
#define VMLINUX_ALIGN		(2ULL << 20)

struct vmlinux {
	Elf64_Phdr ph[VMLINUX_MAX_PHDRS];	/* the PT_LOAD segments */
	int nph;
	uint64_t entry;		/* e_entry: the physical startup_64 */
	uint64_t lo, hi;	/* the physical span they were linked at */
	uint64_t file_len;	/* the decompressed data, relocations and all */
	/*
	 * The relocation table after the ELF image, as three lists read
	 * from its end (32-bit, inverse 32-bit, 64-bit), each ending in a
	 * zero; NULL when the kernel has none (it cannot move virtually).
	 */
	const uint8_t *rel_end;
	size_t nrel[3];
	const char *norel;	/* when rel_end is NULL: why */
};

/*
 * Reads the vmlinux held whole in @buf (@n bytes): its PT_LOAD segments,
 * which must lie in the file and at or above physical @min_paddr, and
 * the relocation table, which must fill the bytes after the ELF image
 * exactly and name only places inside the loaded image.  Returns 0, 1
 * when @buf is not an x86-64 vmlinux, or -ENOEXEC with @err set.  A
 * missing or unusable table is not an error: vl->rel_end is NULL and
 * vl->norel says why, and the kernel can only run where it was linked.
 */
int vmlinux_parse(const uint8_t *buf, size_t n, uint64_t min_paddr,
		  struct vmlinux *vl, char *err, size_t errlen);

/*
 * Applies the relocations for a kernel that will run @delta bytes above
 * its link address (a multiple of VMLINUX_ALIGN) to @img, the loaded
 * image (vl->hi - vl->lo bytes, vl->lo's byte first).  vmlinux_parse()
 * has checked every place; each is checked again here (the table may be
 * a mapped file that changed since), and one outside @img is skipped.
 */
void vmlinux_relocate(const struct vmlinux *vl, uint8_t *img, uint64_t delta);

/*
 * How many addresses, VMLINUX_ALIGN apart from the link address up, the
 * kernel may run at and end below the end of the kernel's virtual map:
 * 1 (the link address alone) when it has no relocation table.
 */
uint64_t vmlinux_virt_slots(const struct vmlinux *vl);

#endif
