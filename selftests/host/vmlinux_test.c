// SPDX-License-Identifier: GPL-2.0
/*
 * virtzd's reading of a decompressed kernel (vmlinux.c) on a small
 * synthetic vmlinux laid out as Linux builds one: two load segments
 * (the second linked at virtual 0, like the per-CPU area), section
 * headers, then the KASLR relocation lists.  The relocations move the
 * kernel's places by the right amounts, and every malformed table or
 * header is refused or reported, never followed outside the image.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "../../user/virtzd/vmlinux.h"

#define KMAP	VMLINUX_KERNEL_MAP
#define LO	0x1000000ULL	/* LOAD_PHYSICAL_ADDR */
#define SPAN	0x5000ULL	/* the image: 0x3000 + 0x2000 */
#define SHOFF	0x5000
#define SHNUM	2
#define ELFEND	(SHOFF + SHNUM * sizeof(Elf64_Shdr))

struct img {
	uint8_t b[0x6000];
	size_t n;
};

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/*
 * The relocation lists as they sit in the file, first word first:
 * 0, the 64-bit list, 0, the inverse list, 0, the 32-bit list (read
 * from the end of the file backwards).
 */
static void table(struct img *m, const uint32_t *words, size_t nw)
{
	size_t i;

	for (i = 0; i < nw; i++)
		put32(m->b + ELFEND + 4 * i, words[i]);
	m->n = ELFEND + 4 * nw;
}

/* Places: 32-bit at +0x10, inverse at +0x20, 64-bit at +0x3008. */
static const uint32_t good[] = {
	0, 0x81003008,		/* 64-bit */
	0, 0x81000020,		/* inverse 32-bit */
	0, 0x81000010,		/* 32-bit */
};

static void build(struct img *m)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)m->b;
	Elf64_Phdr ph[2] = {
		{ .p_type = PT_LOAD, .p_offset = 0x1000, .p_vaddr = KMAP + LO,
		  .p_paddr = LO, .p_filesz = 0x3000, .p_memsz = 0x3000 },
		{ .p_type = PT_LOAD, .p_offset = 0x4000, .p_vaddr = 0,
		  .p_paddr = LO + 0x3000, .p_filesz = 0x1000, .p_memsz = 0x2000 },
	};

	memset(m, 0, sizeof(*m));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = LO + 0x40;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	eh->e_shoff = SHOFF;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = SHNUM;
	memcpy(m->b + sizeof(*eh), ph, sizeof(ph));
	/* What the places hold as linked. */
	put32(m->b + 0x1010, 0x81000100);
	put32(m->b + 0x1020, 0x100);
	put64(m->b + 0x4008, KMAP + LO + 0x200);
	table(m, good, sizeof(good) / sizeof(good[0]));
}

/* Loads @vl's segments from @m into @out (SPAN bytes) as virtzd would. */
static void load(const struct img *m, const struct vmlinux *vl, uint8_t *out)
{
	int i;

	memset(out, 0xaa, SPAN);
	for (i = 0; i < vl->nph; i++) {
		uint8_t *d = out + vl->ph[i].p_paddr - vl->lo;

		memcpy(d, m->b + vl->ph[i].p_offset, vl->ph[i].p_filesz);
		memset(d + vl->ph[i].p_filesz, 0,
		       vl->ph[i].p_memsz - vl->ph[i].p_filesz);
	}
}

FIXTURE(vl) {
	struct img m;
	struct vmlinux vl;
	uint8_t out[SPAN];
	char err[256];
};

FIXTURE_SETUP(vl)
{
	build(&self->m);
}

FIXTURE_TEARDOWN(vl)
{
}

TEST_F(vl, parse_and_relocate)
{
	const uint64_t d = 37 * VMLINUX_ALIGN;

	ASSERT_EQ(0, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
				   self->err, sizeof(self->err)));
	ASSERT_NE(NULL, self->vl.rel_end) TH_LOG("%s", self->vl.norel);
	EXPECT_EQ(2, self->vl.nph);
	EXPECT_EQ(LO, self->vl.lo);
	EXPECT_EQ(LO + SPAN, self->vl.hi);
	EXPECT_EQ(LO + 0x40, self->vl.entry);
	EXPECT_EQ(1U, self->vl.nrel[0]);
	EXPECT_EQ(1U, self->vl.nrel[1]);
	EXPECT_EQ(1U, self->vl.nrel[2]);
	/* (1 GiB - 16 MiB - 2 MiB) / 2 MiB places: the last ends below 1 GiB. */
	EXPECT_EQ(503U, vmlinux_virt_slots(&self->vl));

	load(&self->m, &self->vl, self->out);
	vmlinux_relocate(&self->vl, self->out, d);
	EXPECT_EQ(0x81000100 + (uint32_t)d, get32(self->out + 0x10));
	EXPECT_EQ(0x100 - (uint32_t)d, get32(self->out + 0x20));
	EXPECT_EQ(KMAP + LO + 0x200 + d, get64(self->out + 0x3008));
	/* Nothing else moved; the bss was cleared. */
	EXPECT_EQ(0U, get32(self->out + 0x14));
	EXPECT_EQ(0U, get64(self->out + 0x4ff8));

	/* Delta 0 (nokaslr) writes nothing. */
	load(&self->m, &self->vl, self->out);
	vmlinux_relocate(&self->vl, self->out, 0);
	EXPECT_EQ(0x81000100U, get32(self->out + 0x10));
}

/* Each malformed table: parsed, but no relocation, and the reason. */
TEST_F(vl, bad_tables_are_not_used)
{
	static const struct {
		const char *what;
		uint32_t words[8];
		size_t nw;
		const char *says;
	} cases[] = {
		{ "a 32-bit place past the image", { 0, 0, 0, 0x81004ffe }, 4,
		  "outside" },
		{ "a 64-bit place 4 bytes from the end",
		  { 0, 0x81004ffc, 0, 0, 0x81000010 }, 5, "outside" },
		{ "a place below the image", { 0, 0, 0, 0x80fffff0 }, 4,
		  "outside" },
		{ "a user address", { 0, 0, 0, 0x00000010 }, 4, "outside" },
		{ "a list without its zero",
		  { 0x81000010, 0x81000010, 0, 0, 0x81000010 }, 5, "run into" },
		{ "only two lists", { 0, 0x81000010 }, 2, "run into" },
		{ "bytes before the lists", { 0, 0, 0, 0, 0x81000010 }, 5,
		  "between" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		build(&self->m);
		table(&self->m, cases[i].words, cases[i].nw);
		ASSERT_EQ(0, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
					   self->err, sizeof(self->err)))
			TH_LOG("%s: %s", cases[i].what, self->err);
		EXPECT_EQ(NULL, self->vl.rel_end) TH_LOG("%s", cases[i].what);
		ASSERT_NE(NULL, self->vl.norel);
		EXPECT_NE(NULL, strstr(self->vl.norel, cases[i].says))
			TH_LOG("%s: \"%s\"", cases[i].what, self->vl.norel);
		EXPECT_EQ(0U, self->vl.nrel[0] + self->vl.nrel[1] + self->vl.nrel[2]);
		EXPECT_EQ(1U, vmlinux_virt_slots(&self->vl));
		/* With no table, relocation changes nothing. */
		load(&self->m, &self->vl, self->out);
		vmlinux_relocate(&self->vl, self->out, VMLINUX_ALIGN);
		EXPECT_EQ(0x81000100U, get32(self->out + 0x10));
	}

	/* Not whole entries. */
	build(&self->m);
	ASSERT_EQ(0, vmlinux_parse(self->m.b, self->m.n - 2, LO, &self->vl,
				   self->err, sizeof(self->err)));
	EXPECT_EQ(NULL, self->vl.rel_end);
	EXPECT_NE(NULL, strstr(self->vl.norel, "whole"));

	/* No table at all: a kernel built without KASLR. */
	ASSERT_EQ(0, vmlinux_parse(self->m.b, ELFEND, LO, &self->vl,
				   self->err, sizeof(self->err)));
	EXPECT_EQ(NULL, self->vl.rel_end);
	EXPECT_NE(NULL, strstr(self->vl.norel, "no relocation table"));

	/* Section headers past the end of the file. */
	((Elf64_Ehdr *)self->m.b)->e_shnum = 200;
	ASSERT_EQ(0, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
				   self->err, sizeof(self->err)));
	EXPECT_EQ(NULL, self->vl.rel_end);

	/* A kernel not linked in the kernel map cannot be relocated. */
	build(&self->m);
	((Elf64_Phdr *)(self->m.b + sizeof(Elf64_Ehdr)))->p_vaddr = LO;
	ASSERT_EQ(0, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
				   self->err, sizeof(self->err)));
	EXPECT_EQ(NULL, self->vl.rel_end);
	EXPECT_NE(NULL, strstr(self->vl.norel, "kernel map"));
}

/*
 * A kernel the size of Debian's 6.12 (50 MiB loaded, 55 MiB of
 * decompressed data): the highest place ends below the end of the 1 GiB
 * kernel map, never at it (where pmd_index(_end) wraps to 0 and the
 * kernel's early page tables would go unrelocated), and the data's size
 * counts as the decompressor's does.
 */
TEST(highest_place_ends_below_the_map)
{
	struct vmlinux vl = {
		.lo = LO, .hi = LO + (50ULL << 20),
		.rel_end = (const uint8_t *)"", .file_len = 50ULL << 20,
	};
	uint64_t slots = vmlinux_virt_slots(&vl);

	ASSERT_LT(1U, slots);
	EXPECT_GT(VMLINUX_IMAGE_MAX,
		  LO + (slots - 1) * VMLINUX_ALIGN + (vl.hi - vl.lo));
	vl.file_len = 0x36fa00c;	/* Debian's 57,647,116 bytes */
	slots = vmlinux_virt_slots(&vl);
	EXPECT_EQ(476U, slots);
	EXPECT_GT(VMLINUX_IMAGE_MAX, LO + (slots - 1) * VMLINUX_ALIGN + 0x36fa00c);
}

/*
 * An image smaller than the place a relocation patches: no place fits,
 * whatever the entry (the bound must not wrap around).
 */
TEST_F(vl, tiny_image_takes_no_relocation)
{
	Elf64_Phdr *ph = (Elf64_Phdr *)(self->m.b + sizeof(Elf64_Ehdr));
	static const uint32_t words[] = { 0, 0x81000000, 0, 0 };

	((Elf64_Ehdr *)self->m.b)->e_phnum = 1;
	((Elf64_Ehdr *)self->m.b)->e_entry = LO;
	ph[0].p_filesz = 1;
	ph[0].p_memsz = 1;
	table(&self->m, words, sizeof(words) / sizeof(words[0]));
	ASSERT_EQ(0, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
				   self->err, sizeof(self->err)));
	EXPECT_EQ(1U, self->vl.hi - self->vl.lo);
	EXPECT_EQ(NULL, self->vl.rel_end);
	ASSERT_NE(NULL, self->vl.norel);
	EXPECT_NE(NULL, strstr(self->vl.norel, "outside"));
}

TEST_F(vl, bad_headers_are_refused)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)self->m.b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(self->m.b + sizeof(Elf64_Ehdr));

	/* Not a vmlinux at all: 1, and the caller boots the bzImage. */
	eh->e_machine = EM_386;
	EXPECT_EQ(1, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
				   self->err, sizeof(self->err)));
	build(&self->m);
	EXPECT_EQ(1, vmlinux_parse(self->m.b, 40, LO, &self->vl, self->err,
				   sizeof(self->err)));
	eh->e_phnum = 65;
	EXPECT_EQ(1, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
				   self->err, sizeof(self->err)));

	/* A segment past the end of the file. */
	build(&self->m);
	ph[1].p_filesz = 0x100000;
	EXPECT_EQ(-ENOEXEC, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
					  self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "segment 1"));

	/* More file than memory; below the lowest address; absurdly high. */
	build(&self->m);
	ph[1].p_memsz = 0x800;
	EXPECT_EQ(-ENOEXEC, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
					  self->err, sizeof(self->err)));
	build(&self->m);
	ph[0].p_paddr = 0x100000;
	EXPECT_EQ(-ENOEXEC, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
					  self->err, sizeof(self->err)));
	build(&self->m);
	ph[1].p_paddr = ~0ULL - 0x10;
	EXPECT_EQ(-ENOEXEC, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
					  self->err, sizeof(self->err)));

	/* An entry point outside the segments. */
	build(&self->m);
	eh->e_entry = LO + SPAN;
	EXPECT_EQ(-ENOEXEC, vmlinux_parse(self->m.b, self->m.n, LO, &self->vl,
					  self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "entry"));
}

TEST_HARNESS_MAIN
