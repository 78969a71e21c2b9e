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
#   - prints "VIRTZ-GUEST-READY cpus=N" on the console (the marker tests
#     and bench/virtzd_boot.sh wait for);
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
BUSYBOX=/bin/busybox
MODULES=(virtio_balloon virtio_blk)
[ -x "$BUSYBOX" ] || { echo "mkguest: $BUSYBOX missing (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	echo "mkguest: $BUSYBOX is dynamic; install busybox-static" >&2
	exit 1
fi

stamp="$KVER $(sha256sum "$SELF" | cut -d' ' -f1) $(sha256sum "$BUSYBOX" | cut -d' ' -f1)"
if [ -s "$OUT" ] && [ "$(cat "$OUT.stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$BUSYBOX" "$root/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
done

: >"$root/lib/modules/order"
if [ -d "/lib/modules/$KVER" ]; then
	modprobe -S "$KVER" --show-depends -a "${MODULES[@]}" 2>/dev/null |
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		name=$(basename "$path"); name=${name%.xz}; name=${name%.zst}
		grep -qx "$name" "$root/lib/modules/order" && continue
		case "$path" in
		*.xz)  xz -dc "$path" >"$root/lib/modules/$name" ;;
		*.zst) zstd -qdc "$path" >"$root/lib/modules/$name" ;;
		*)     cp "$path" "$root/lib/modules/$name" ;;
		esac
		echo "$name" >>"$root/lib/modules/order"
	done
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
echo "VIRTZ-GUEST-READY cpus=$(grep -c ^processor /proc/cpuinfo)"
while :; do
	setsid cttyhack /bin/sh
done
INIT
chmod 755 "$root/init"

mkdir -p "$(dirname "$OUT")"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) >"$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
echo "$stamp" >"$OUT.stamp"
