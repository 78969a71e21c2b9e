#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkguest.sh OUT.cpio [KVER]
#
# Builds the initramfs of the nested guests that virtzd tests and
# benchmarks boot: busybox (busybox-static), the guest-side modules the
# tests need (decompressed: busybox insmod cannot load .ko.xz), and an
# /init that
#   - mounts proc, sysfs, devtmpfs;
#   - loads the modules listed in /lib/modules/order, if present;
#   - prints "VIRTZ-GUEST-READY cpus=N modules: NAME@ADDR..." on the
#     console (the marker tests and bench/virtzd_boot.py wait for; the
#     module addresses place a hung vCPU's rip, see virtzd's SIGUSR2);
#   - runs a shell on the console (ttyS0 with console=ttyS0), forever.
# KVER defaults to the newest /boot/vmlinuz-6.12*-amd64.  OUT is rebuilt
# only when KVER, this script or busybox changed (stamp in OUT.stamp).
set -euo pipefail

SELF=$(readlink -f "$0")
OUT=${1:?usage: mkguest.sh OUT.cpio [KVER]}
KVER=${2:-}
if [ -z "$KVER" ]; then
	k=$(ls -1 /boot/vmlinuz-6.12*-amd64 2>/dev/null | sort -V | tail -n1)
	[ -n "$k" ] || { echo "mkguest: no /boot/vmlinuz-6.12*-amd64" >&2; exit 1; }
	KVER=${k#/boot/vmlinuz-}
fi
MODULES=(virtio_balloon virtio_blk)
PROG=mkguest
# shellcheck source=../../scripts/lib/initramfs.sh
. "$(dirname "$SELF")/../../scripts/lib/initramfs.sh"
ir_up_to_date_or_continue

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
ir_install_busybox "$root"
: >"$root/lib/modules/order"
if [ -d "/lib/modules/$KVER" ]; then
	ir_install_modules "$root" "${MODULES[@]}"
fi

cat >"$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m 2>/dev/null
done
mods=
while read -r name size refs deps state addr rest; do
	mods="$mods $name@$addr"
done </proc/modules
echo "VIRTZ-GUEST-READY cpus=$(grep -c ^processor /proc/cpuinfo) modules:$mods"
while :; do
	setsid cttyhack /bin/sh
done
INIT
chmod 755 "$root/init"

ir_pack "$root"
