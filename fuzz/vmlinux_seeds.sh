#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes seed inputs for vmlinux_fuzz into DIR: small vmlinux images laid
# out as Linux builds them (two load segments, section headers, and the
# KASLR relocation lists, or none), behind the fuzzer's 1-byte offset.
#
# usage: vmlinux_seeds.sh DIR
set -eu
dir=${1:?DIR}
mkdir -p "$dir"
python3 - "$dir" <<'PY'
import struct, sys
out = sys.argv[1]
KMAP, LO = 0xffffffff80000000, 0x1000000

def image(relocs):
    b = bytearray(0x5080)
    struct.pack_into("<4sBBBB8xHHIQQQIHHHHHH", b, 0, b"\x7fELF", 2, 1, 1, 0,
                     2, 62, 1, LO + 0x40, 64, 0x5000, 0, 64, 56, 2, 64, 2, 0)
    for i, (off, vaddr, paddr, filesz, memsz) in enumerate((
            (0x1000, KMAP + LO, LO, 0x3000, 0x3000),
            (0x4000, 0, LO + 0x3000, 0x1000, 0x2000))):
        struct.pack_into("<IIQQQQQQ", b, 64 + 56 * i, 1, 7, off, vaddr,
                         paddr, filesz, memsz, 0x200000)
    struct.pack_into("<I", b, 0x1010, 0x81000100)
    struct.pack_into("<I", b, 0x1020, 0x100)
    struct.pack_into("<Q", b, 0x4008, KMAP + LO + 0x200)
    for w in relocs:
        b += struct.pack("<I", w)
    return bytes(b)

with open(out + "/relocs", "wb") as f:
    f.write(b"\x25" + image([0, 0x81003008, 0, 0x81000020, 0, 0x81000010]))
with open(out + "/norelocs", "wb") as f:
    f.write(b"\x01" + image([]))
PY
