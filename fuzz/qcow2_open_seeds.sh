#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes seed images for qcow2_open_fuzz into DIR: small qcow2 files made
# by qemu-img and qemu-io (v2 and v3, small clusters, data, zero and
# compressed clusters (deflate and zstd), a backing file name, odd refcount widths, a
# snapshot, a bitmap, lazy refcounts).  Nothing when qemu-img is missing.
#
# usage: qcow2_open_seeds.sh DIR
set -eu
dir=${1:?DIR}
mkdir -p "$dir"
command -v qemu-img >/dev/null || exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mk() { # NAME OPTS SIZE
	qemu-img create -q -f qcow2 -o "$2" "$1" "$3"
}
io() { qemu-io -f qcow2 "$@" >/dev/null; }

mk v2 compat=0.10,cluster_size=512 64K
io -c 'write -P 0x11 1000 3000' v2
mk v3 compat=1.1,cluster_size=512 128K
io -c 'write -P 0x22 0 700' -c 'write -z 4096 1024' -c 'write -P 0x33 65536 512' v3
mk rc1 refcount_bits=1,cluster_size=512 32K
io -c 'write -P 0x44 512 2048' rc1
mk rc64 refcount_bits=64,cluster_size=1024 32K
io -c 'write -P 0x55 0 4096' rc64
mk big compat=1.1,cluster_size=4096 1G
io -c 'write -P 0x66 512M 8192' big
head -c 16384 /dev/urandom >r.raw
head -c 16384 /dev/zero >>r.raw
qemu-img convert -c -O qcow2 -o cluster_size=512 r.raw comp
qemu-img convert -c -O qcow2 -o cluster_size=512,compression_type=zstd r.raw zstd
mk back compat=1.1,cluster_size=512,backing_file=base.qcow2,backing_fmt=qcow2 64K 2>/dev/null ||
	qemu-img create -q -u -f qcow2 -o cluster_size=512 -b base.qcow2 -F qcow2 back 64K
io -c 'write -P 0x77 100 100' back 2>/dev/null || true
mk snap cluster_size=512 16K
io -c 'write -P 0x12 0 2048' snap
qemu-img snapshot -c s1 snap
mk bm cluster_size=512 16K
qemu-img bitmap --add bm b0 2>/dev/null || true
mk lazy compat=1.1,lazy_refcounts=on,cluster_size=512 16K
for f in v2 v3 rc1 rc64 big comp zstd back snap bm lazy; do
	cp "$f" "$dir/seed-$f"
done
