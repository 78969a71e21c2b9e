# SPDX-License-Identifier: GPL-2.0
# Sourced by the interactive test guest of `make vm-shell`: load the
# freshly built modules and KVM, and say what is there.
modprobe dm_mod	# virtz_fvm links against device-mapper core
"$PWD/scripts/load-modules.sh" || echo "vm-shell: the modules did not all load"
modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
export PATH=$PWD/build:$PATH
virtzctl module info
echo "vm-shell: tree at $PWD; virtzctl and virtzd are on PATH"
