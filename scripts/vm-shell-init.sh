# SPDX-License-Identifier: GPL-2.0
# Sourced by the interactive test guest of `make vm-shell`: load the
# freshly built modules and KVM, and say what is there.
for m in virtz_fvm virtz_vsock virtz_wl; do
	[ -d /sys/module/$m ] || insmod "$PWD/kmod/$m/$m.ko" || echo "vm-shell: $m did not load"
done
modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
export PATH=$PWD/build:$PATH
virtzctl module info
echo "vm-shell: tree at $PWD; virtzctl and virtzd are on PATH"
