#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guided tour: runs inside the test VM (see scripts/demo.sh) and shows
# what virtz does today, with real commands against the freshly built
# modules.  Stops at the first step that fails.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export PATH=$top/build:$PATH
ynl="python3 .cache/linux/tools/net/ynl/cli.py --schema .cache/linux/Documentation/netlink/genetlink.yaml"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Load the three modules"
run scripts/load-modules.sh --deps-only
for m in virtz_fvm virtz_vsock virtz_wl; do
	run insmod "kmod/$m/$m.ko"
done
run virtzctl module info

step "The same answer from the kernel's own ynl tool, driven by our spec"
run $ynl --spec Documentation/netlink/specs/virtz_fvm.yaml --do get-info

step "Admin commands need CAP_NET_ADMIN; the kernel explains refusals"
run virtzctl module set-log-level fvm 2
run virtzctl -j module info fvm
printf '$ setpriv --reuid=nobody ... virtzctl module set-log-level fvm 3\n'
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	virtzctl module set-log-level fvm 3 || true
printf '$ virtzctl module set-log-level fvm 9\n'
virtzctl module set-log-level fvm 9 || true
run virtzctl module set-log-level fvm 0

step "An open control device pins its module"
exec 3<>/dev/virtz-block
printf '$ rmmod virtz_fvm   (with /dev/virtz-block open)\n'
rmmod virtz_fvm || true
exec 3>&-
run virtzctl module info fvm

step "An FVM image, in Fuchsia's on-disk format, on a RAM disk"
run modprobe brd rd_nr=1 rd_size=262144
[ -b /dev/ram0 ] || { echo "tour: /dev/ram0 is not a block device" >&2; exit 1; }
run virtzctl fvm create /dev/ram0 --slice-size 1M
run virtzctl fvm add /dev/ram0 system --slices 16
run virtzctl fvm add /dev/ram0 data --slices 8
run virtzctl fvm extend /dev/ram0 data --offset 100 --slices 4
run virtzctl fvm info /dev/ram0
run virtzctl fvm check /dev/ram0

step "A damaged copy is noticed; the other copy still serves"
printf '$ dd ... (flip one byte of metadata copy A)\n'
printf '\xff' | dd of=/dev/ram0 bs=1 seek=9000 conv=notrunc status=none
virtzctl fvm check /dev/ram0 || echo "(check exit status $?)"
run virtzctl fvm info /dev/ram0 | head -n 4
run rmmod brd

step "FVM volumes as device-mapper targets, driven by virtzctl"
run modprobe brd rd_nr=1 rd_size=262144
[ -b /dev/ram0 ] || { echo "tour: /dev/ram0 is not a block device" >&2; exit 1; }
run virtzctl fvm create /dev/ram0 --slice-size 1M
run virtzctl pool create tour /dev/ram0
run virtzctl volume create tour system --slices 8
run virtzctl volume create tour data --slices 4
[ -b /dev/mapper/tour-data ] || { echo "tour: no /dev/mapper/tour-data" >&2; exit 1; }
printf '$ dd a pattern into /dev/mapper/tour-data, read it back\n'
head -c 4M /dev/urandom >/tmp/tour.pattern
dd if=/tmp/tour.pattern of=/dev/mapper/tour-data bs=1M oflag=direct status=none
cmp /tmp/tour.pattern /dev/mapper/tour-data && echo "pattern read back intact"
run virtzctl volume extend tour data --slices 4
run blockdev --getsize64 /dev/mapper/tour-data
run virtzctl volume list tour
run dmsetup table tour
run virtzctl pool remove tour --volumes
printf '$ virtzctl fvm info /dev/ram0   (the state is on disk)\n'
virtzctl fvm info /dev/ram0 | tail -n 6
run rmmod brd

step "KVM is usable here, so virtzd can run nested guests"
modprobe kvm_amd 2>/dev/null || modprobe kvm_intel
run virtzd --check

step "A guest: an environment, Debian's stock kernel booted by virtzd, its serial console"
kernel=$(ls -1 /boot/vmlinuz-6.12*-amd64 | sort -V | tail -n 1)
run selftests/guest/mkguest.sh build/guest/initramfs.cpio
printf '$ virtzctl -j env create tour\n'
env=$(virtzctl -j env create tour | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "environment $env"
printf '$ virtzctl -j guest launch --env %s --kernel %s --initrd ... --memory 192 --cpus 2 --label tour-guest\n' "$env" "$kernel"
cid=$(virtzctl -j guest launch --env "$env" --kernel "$kernel" \
	--initrd build/guest/initramfs.cpio \
	--cmdline "console=ttyS0 quiet reboot=k panic=-1 no_timer_check" \
	--memory 192 --cpus 2 --label tour-guest --log /tmp/tour-virtzd.log |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["cid"])')
echo "guest CID $cid"
run virtzctl guest list
printf 'waiting for the guest to boot (nested, under emulation: a minute or two)'
ok=0
for _ in $(seq 60); do
	out=$(printf 'echo TOUR-$((6*7)) cpus=$(nproc) kernel=$(uname -r)\n' |
		timeout 30 virtzctl guest serial "$cid" 2>/dev/null || true)
	if printf '%s' "$out" | grep -q 'TOUR-42'; then
		ok=1
		break
	fi
	printf '.'
	sleep 2
done
echo
[ $ok = 1 ] || { echo "tour: the guest did not answer on its serial console" >&2; tail -n 20 /tmp/tour-virtzd.log >&2; exit 1; }
printf '$ echo "echo ...; nproc; uname -r" | virtzctl guest serial %s\n' "$cid"
printf '%s\n' "$out" | grep 'TOUR-42' | tail -n 1
run virtzctl balloon "$cid" get
run virtzctl balloon "$cid" stats
run virtzctl guest stop "$cid"
# The instance leaves the registry when its virtzd has exited.
for _ in $(seq 20); do
	virtzctl env delete "$env" 2>/dev/null && break
	sleep 1
done
run virtzctl env list

step "Unload"
for m in virtz_wl virtz_vsock virtz_fvm; do
	run rmmod "$m"
done
printf '\ntour: done\n'
