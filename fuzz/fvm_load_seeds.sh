#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes seed inputs for fvm_load_fuzz into DIR: small, valid FVM images
# (metadata only; the fuzzer reads zeros past the end) behind the
# fuzzer's 10-byte prefix (u64 device size, block-size selector, seed).
# Generated rather than committed: a valid image is ~160 KiB of mostly
# zeros with a hash that must match.
#
# usage: fvm_load_seeds.sh DIR
set -eu
dir=${1:?DIR}
mkdir -p "$dir"
python3 - "$dir" <<'PY'
import hashlib, struct, sys, os
out = sys.argv[1]
MAGIC = 0x54524150204d5646

def image(slice_size, pslices, table, parts, slices, gen_a=0, gen_b=0):
    alloc = 8192 + 65536 + table
    data_start = 2 * alloc
    fvm_size = data_start + pslices * slice_size
    def copy(gen):
        b = bytearray(alloc)
        struct.pack_into('<8Q', b, 0, MAGIC, 1, pslices, slice_size, fvm_size,
                         65536, table, gen)
        struct.pack_into('<Q', b, 96, 1)
        for i, (typ, guid, n, flags, name) in parts.items():
            struct.pack_into('<16s16sII24s', b, 8192 + 64 * i, typ, guid, n,
                             flags, name)
        for p, (vp, vs) in slices.items():
            struct.pack_into('<Q', b, 73728 + 8 * p, vp | vs << 16)
        used = 73728 + ((8 * pslices + 8191) // 8192) * 8192
        b[64:96] = hashlib.sha256(bytes(b[:used])).digest()
        return bytes(b)
    return copy(gen_a) + copy(gen_b), fvm_size

def write(name, img, dev, blk=0, seed=0):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(struct.pack('<QBB', dev, blk, seed) + img)

T = bytes(range(16)); G1 = bytes([1] * 16); G2 = bytes([2] * 16); Z = bytes(16)
img, size = image(8192, 20, 8192, {}, {})
write('empty', img, size)
write('empty_grow', img, size + 50 * 8192, 1, 3)
parts = {1: (T, G1, 3, 0, b'data'), 2: (T, G2, 2, 1, b'inactive'),
         3: (T, Z, 1, 0, b'placeholder-name-24bytes')}
sl = {1: (1, 0), 2: (1, 1), 3: (2, 0), 4: (2, 1), 5: (1, 7), 6: (3, 0)}
img, size = image(8192, 20, 16384, parts, sl, 4, 5)
write('parts', img, size + 200 * 8192, 0, 8)
img, size = image(8192, 1024, 16384, {1: (T, G1, 1, 0, b'x')}, {1024: (1, 0)})
write('pslices1024', img, size, 2, 1)
img, size = image(8192, 20, 8192, {1: (T, G1, 2, 0, b'dup')}, {1: (1, 0), 2: (1, 0)})
write('double_mapped', img, size)
PY
