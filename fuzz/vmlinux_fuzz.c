// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the vmlinux reader of virtzd's host-side boot
 * (user/virtzd/vmlinux.c): the input is a decompressed kernel, as a
 * corrupt kernel cache entry or payload could be.  Whatever
 * vmlinux_parse() accepts is loaded into an image of its span and
 * relocated; every segment and every relocation must stay inside that
 * image (ASan catches anything that does not).
 *
 * Input layout: 1 byte of relocation offset (in 2 MiB steps), then the
 * vmlinux.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../user/virtzd/vmlinux.h"

/* Kernels whose image spans more are accepted but not loaded here. */
#define MAX_SPAN	(64U << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmlinux vl;
	uint64_t span, slots;
	uint8_t *img;
	char err[256];
	int i;

	if (size < 1)
		return 0;
	if (vmlinux_parse(data + 1, size - 1, 0x1000000, &vl, err,
			  sizeof(err)))
		return 0;
	if (vl.hi <= vl.lo || vl.entry < vl.lo || vl.entry >= vl.hi)
		abort();
	span = vl.hi - vl.lo;
	if (span > MAX_SPAN)
		return 0;
	img = malloc(span);
	if (!img)
		return 0;
	for (i = 0; i < vl.nph; i++) {
		const Elf64_Phdr *p = &vl.ph[i];

		/* What boot.c relies on: each segment inside the file and span. */
		if (p->p_paddr < vl.lo || p->p_memsz > vl.hi - p->p_paddr ||
		    p->p_filesz > p->p_memsz || p->p_offset > size - 1 ||
		    p->p_filesz > size - 1 - p->p_offset)
			abort();
		memcpy(img + (p->p_paddr - vl.lo), data + 1 + p->p_offset,
		       p->p_filesz);
		memset(img + (p->p_paddr - vl.lo) + p->p_filesz, 0,
		       p->p_memsz - p->p_filesz);
	}
	slots = vmlinux_virt_slots(&vl);
	if (!slots || (!vl.rel_end && slots != 1))
		abort();
	/* The highest place must end below the end of the kernel map. */
	if (slots > 1 && vl.lo + (slots - 1) * VMLINUX_ALIGN + span >=
	    VMLINUX_IMAGE_MAX)
		abort();
	vmlinux_relocate(&vl, img, (uint64_t)(data[0] % slots) * VMLINUX_ALIGN);
	free(img);
	return 0;
}
