// SPDX-License-Identifier: GPL-2.0
/*
 * The vmlinux inside a bzImage's payload, for virtzd's host-side boot
 * (boot.c): its ELF load segments, and the relocation table that Linux
 * appends to the image when it is built with KASLR (arch/x86/tools/
 * relocs writes it; the bzImage's decompressor reads it).  With the
 * table, virtzd can place the kernel at a random virtual address as the
 * decompressor would, so booting the decompressed kernel keeps KASLR.
 *
 * The table is read from the end of the decompressed data backwards: a
 * list of 32-bit entries, a zero, a list of "inverse" 32-bit entries, a
 * zero, a list of 64-bit entries and a zero, where each entry is the low
 * 32 bits (sign-extended) of the kernel virtual address of a place to
 * patch.  Moving the kernel up by delta adds delta to each 32-bit and
 * 64-bit place and subtracts it from each inverse one.
 *
 * Everything is checked before anything is written: the three lists
 * must fill the bytes after the ELF image exactly, and every place must
 * lie inside the loaded image, so that a corrupt or foreign file can at
 * worst be refused, never make virtzd write outside the guest's kernel.
 */
#include <errno.h>
#include <string.h>

#include "vmlinux.h"
#include "vzerr.h"

static int32_t rd_s32(const uint8_t *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Where the place named by relocation entry @v lies in the image. */
static uint64_t rel_offset(const struct vmlinux *vl, int32_t v)
{
	return (uint64_t)(int64_t)v - VMLINUX_KERNEL_MAP - vl->lo;
}

/* The bytes each list's entries patch: 32-bit, inverse 32-bit, 64-bit. */
static const unsigned int rel_width[3] = { 4, 4, 8 };

/* Whether a place of @width bytes at image offset @off is in the image. */
static bool rel_inside(const struct vmlinux *vl, uint64_t off,
		       unsigned int width)
{
	uint64_t span = vl->hi - vl->lo;

	return span >= width && off <= span - width;
}

/*
 * Checks the relocation table in @buf[@start, @n).  Returns NULL and
 * fills vl->nrel, or says why the bytes are not a usable table.
 */
static const char *relocs_check(const uint8_t *buf, size_t n, size_t start,
				struct vmlinux *vl)
{
	size_t at = n;
	int list = 0;

	if ((n - start) % 4)
		return "the bytes after the ELF image are not whole 32-bit entries";
	while (list < 3) {
		int32_t v;

		if (at - start < 4)
			return "the relocation lists run into the ELF image";
		at -= 4;
		v = rd_s32(buf + at);
		if (!v) {
			list++;
			continue;
		}
		if (!rel_inside(vl, rel_offset(vl, v), rel_width[list]))
			return "a relocation names a place outside the kernel image";
		vl->nrel[list]++;
	}
	if (at != start)
		return "bytes between the ELF image and its relocation lists";
	vl->rel_end = buf + n;
	return NULL;
}

int vmlinux_parse(const uint8_t *buf, size_t n, uint64_t min_paddr,
		  struct vmlinux *vl, char *err, size_t errlen)
{
	Elf64_Ehdr ehdr;
	const Elf64_Ehdr *eh = &ehdr;
	uint64_t elf_end;
	int i;

	memset(vl, 0, sizeof(*vl));
	if (n < sizeof(ehdr))
		return 1;
	/* Copied, as the buffer need not be aligned. */
	memcpy(&ehdr, buf, sizeof(ehdr));
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
	    eh->e_type != ET_EXEC || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phnum > VMLINUX_MAX_PHDRS || eh->e_phoff > n ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > n - eh->e_phoff)
		return 1;
	elf_end = eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	vl->lo = UINT64_MAX;
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr p;

		memcpy(&p, buf + eh->e_phoff + i * sizeof(p), sizeof(p));
		if (p.p_type != PT_LOAD)
			continue;
		if (p.p_offset > n || p.p_filesz > n - p.p_offset)
			return vz_fail(err, errlen, -ENOEXEC,
				       "vmlinux ends at %zu bytes, its segment %d at %llu",
				       n, i, (unsigned long long)(p.p_offset + p.p_filesz));
		/* 2^46 bytes: more than any x86-64 guest's physical space. */
		if (p.p_filesz > p.p_memsz || p.p_paddr < min_paddr ||
		    p.p_paddr >= 1ULL << 46 || p.p_memsz >= 1ULL << 46)
			return vz_fail(err, errlen, -ENOEXEC,
				       "vmlinux segment %d (%#llx+%#llx) is not a kernel's",
				       i, (unsigned long long)p.p_paddr,
				       (unsigned long long)p.p_memsz);
		vl->ph[vl->nph++] = p;
		if (p.p_paddr < vl->lo)
			vl->lo = p.p_paddr;
		if (p.p_paddr + p.p_memsz > vl->hi)
			vl->hi = p.p_paddr + p.p_memsz;
		if (p.p_offset + p.p_filesz > elf_end)
			elf_end = p.p_offset + p.p_filesz;
	}
	if (!vl->nph || eh->e_entry < vl->lo || eh->e_entry >= vl->hi)
		return vz_fail(err, errlen, -ENOEXEC,
			       "vmlinux entry %#llx not in its segments",
			       (unsigned long long)eh->e_entry);
	vl->entry = eh->e_entry;
	vl->file_len = n;

	/* The relocations name places by their address in the kernel map. */
	for (i = 0; i < vl->nph; i++)
		if (vl->ph[i].p_paddr == vl->lo &&
		    vl->ph[i].p_vaddr != VMLINUX_KERNEL_MAP + vl->lo) {
			vl->norel = "the kernel is not linked in the x86-64 kernel map";
			return 0;
		}

	/* What follows the section headers is the relocation table. */
	if (eh->e_shoff && eh->e_shnum) {
		uint64_t shend;

		if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > n ||
		    (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > n - eh->e_shoff) {
			vl->norel = "its section headers are not in the file";
			return 0;
		}
		shend = eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr);
		if (shend > elf_end)
			elf_end = shend;
	}
	if (elf_end < n)
		vl->norel = relocs_check(buf, n, elf_end, vl);
	else
		vl->norel = "the kernel has no relocation table";
	if (vl->norel)
		memset(vl->nrel, 0, sizeof(vl->nrel));
	return 0;
}

void vmlinux_relocate(const struct vmlinux *vl, uint8_t *img, uint64_t delta)
{
	const uint8_t *at = vl->rel_end;
	int list;

	if (!at || !delta)
		return;
	for (list = 0; list < 3; list++) {
		size_t k;

		for (k = 0; k < vl->nrel[list]; k++) {
			uint64_t off;
			uint8_t *p;

			at -= 4;
			off = rel_offset(vl, rd_s32(at));
			/*
			 * Checked by vmlinux_parse(); checked again, as the
			 * table may be a file's mapping its owner rewrote.
			 */
			if (!rel_inside(vl, off, rel_width[list]))
				continue;
			p = img + off;
			if (list == 2) {
				uint64_t v;

				memcpy(&v, p, 8);
				v += delta;
				memcpy(p, &v, 8);
			} else {
				uint32_t v;

				memcpy(&v, p, 4);
				v = list ? v - (uint32_t)delta : v + (uint32_t)delta;
				memcpy(p, &v, 4);
			}
		}
		at -= 4;	/* the list's zero */
	}
}

uint64_t vmlinux_virt_slots(const struct vmlinux *vl)
{
	uint64_t size = vl->hi - vl->lo;

	/*
	 * As the bzImage's decompressor sizes the image: the larger of the
	 * decompressed data and the loaded image, in 2 MiB steps.  And the
	 * image must end below the map's end, not at it: startup_64 fixes
	 * up the kernel's PMDs up to pmd_index(_end), which wraps to 0 at
	 * the end of the map.
	 */
	if (vl->file_len > size)
		size = vl->file_len;
	size = (size + VMLINUX_ALIGN - 1) & ~(VMLINUX_ALIGN - 1);
	if (!vl->rel_end || vl->lo + size >= VMLINUX_IMAGE_MAX)
		return 1;
	return (VMLINUX_IMAGE_MAX - vl->lo - size) / VMLINUX_ALIGN;
}
