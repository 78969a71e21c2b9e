#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The in-VM test run, executed inside the QEMU guest by `make vm-test`
# (scripts/vm/run.sh boots the guest with the work tree at its host path).
#
# Test programs are found, not listed: every binary in build/vm-tests/
# (built from selftests/vm/*.c, see VM_TESTS in the Makefile and mk/*.mk)
# and every selftests/vm/test_*.py or test_*.sh script.
#
# Order matters: module_lifecycle loads and unloads the modules itself and
# must find them unloaded; the modules are then loaded for the rest, and
# unloaded again at the end, which is itself checked.
#
# Each program's TAP goes to $RESULTS/NAME.tap, its status to NAME.rc.
set -u

top=${VIRTZ_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
results=${RESULTS:-$top/build/results/vm}
tests=$top/build/vm-tests
export VIRTZ_TOP=$top
export VIRTZ_LINUX_SRC=${VIRTZ_LINUX_SRC:-$top/.cache/linux}
export VIRTZCTL=$top/build/virtzctl
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PATH=$top/build:$PATH
MODULES=(virtz_fvm virtz_vsock virtz_wl)

rm -rf "$results"
mkdir -p "$results"

# Tests that boot nested guests (KVM on QEMU's emulated SVM, under TCG).
# Now and then QEMU's TCG puts this test VM's own state (its KVM's vmrun
# path: rip __svm_vcpu_run+0xa0, its CR3) into a nested guest's saved
# state, and the guest hangs or triple-faults.  virtzd prints its vCPUs'
# state when a test asks (SIGUSR2) or on a triple fault; the tests name
# that signature in a "# L0-FAULT:" line (tg.l0_faults()).  Such a test is
# run again, at most L0_RERUNS more times, and says so in its TAP; any
# other failure counts at once.  See Documentation/dev/testing.rst.
NESTED=" test_virtzd_guest test_vblk_disks test_vblk_session test_vblk_qcow2 "
L0_RERUNS=2

run_test() {
	local name=$1 attempt=1 rc
	shift
	while :; do
		echo "vm-test: $name"
		"$@" >"$results/$name.tap" 2>&1
		rc=$?
		if [ $rc -ne 0 ] && [[ $NESTED == *" $name "* ]] &&
		   [ $attempt -le $L0_RERUNS ] &&
		   grep -q '^# L0-FAULT' "$results/$name.tap"; then
			echo "vm-test: $name: $(grep -m1 '^# L0-FAULT' "$results/$name.tap" | cut -c3-); running it again"
			mv "$results/$name.tap" "$results/$name.attempt$attempt.log"
			attempt=$((attempt + 1))
			continue
		fi
		break
	done
	[ $rc -eq 0 ] || sed 's/^/    /' "$results/$name.tap" | tail -n 60
	[ $attempt -eq 1 ] ||
		echo "# attempt $attempt: the earlier ones met the L0 fault ($name.attempt*.log)" >>"$results/$name.tap"
	echo $rc >"$results/$name.rc"
}

# One TAP file for the steps this script performs itself.
steps=()
step() {
	local desc=$1
	shift
	if "$@" >>"$results/steps.log" 2>&1; then
		steps+=("ok - $desc")
	else
		steps+=("not ok - $desc")
		echo "vm-test: step failed: $desc"
		tail -n 20 "$results/steps.log" | sed 's/^/    /'
	fi
}

load_modules() {
	"$top/scripts/load-modules.sh" "${MODULES[@]}"
}

unload_modules() {
	local m
	for m in "${MODULES[@]}"; do
		[ -d /sys/module/$m ] || continue
		rmmod "$m" || return 1
	done
	for m in "${MODULES[@]}"; do
		[ ! -d /sys/module/$m ] || return 1
	done
}

kvm_usable() {
	modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
	"$top/build/virtzd" --check
}

# virtz_fvm links against device-mapper core (dm_mod is a module on Debian).
modprobe dm_mod
step "unloaded before the run" unload_modules
step "stock modules the virtz modules depend on load" \
	"$top/scripts/load-modules.sh" --deps-only "${MODULES[@]}"
run_test module_lifecycle "$tests/module_lifecycle"
step "modules load for the remaining tests" load_modules
# Hold one idle KVM VM for the whole run (when KVM loads): creating the
# first VM and destroying the last patch this kernel's text (KVM's static
# keys), which under the test VM's TCG now and then runs stale code and
# ends in an int3 Oops in __schedule - the "Fatal exception in interrupt"
# that nested-guest tests used to die of.  See
# selftests/guest/kvm_keeper.py and Documentation/admin-guide/virtzd.rst.
# Nested guests' RAM (virtzd's memfd) in 2 MiB pages where virtzd asks
# (MADV_HUGEPAGE): a nested page fault is dear under TCG, and fewer of
# them means faster boots and fewer chances of the L0 fault above.
step "shmem transparent huge pages on request (shmem_enabled=advise)" \
	sh -c 'echo advise >/sys/kernel/mm/transparent_hugepage/shmem_enabled'
# virtzd's kernel cache (--decompress auto, the default) where the test
# VM can write it: its /var/cache is the host's, read-only.  The first
# nested guest fills it in the background; later boots take the
# host-loaded, randomised (KASLR) kernel from it.
export VIRTZ_CACHE_DIR=/run/virtz-kcache
keeper=
if modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null; then
	python3 "$top/selftests/guest/kvm_keeper.py" &
	keeper=$!
fi

# Every other built test program, then every test script.  ONLY="name ..."
# (from the environment: scripts/vm/run.sh -e ONLY=...) narrows the run to
# those test names; EXCEPT="name ..." leaves those out.  CI runs the nested
# tests ($NESTED) in a VM of their own (scripts/test-all.sh).
only=" ${ONLY:-} "
except=" ${EXCEPT:-} "
wanted() {
	[[ $except != *" $1 "* ]] &&
	{ [ "$only" = "  " ] || [[ $only == *" $1 "* ]]; }
}
for t in "$tests"/*; do
	[ -x "$t" ] && [ "$(basename "$t")" != module_lifecycle ] || continue
	wanted "$(basename "$t")" || continue
	run_test "$(basename "$t")" "$t"
done
for t in "$top"/selftests/vm/test_*; do
	n=$(basename "$t"); n=${n%.*}
	wanted "$n" || continue
	case $t in
	*.py) run_test "$(basename "${t%.py}")" python3 "$t" ;;
	*.sh) run_test "$(basename "${t%.sh}")" bash "$t" ;;
	esac
done
step "KVM usable in the test guest (virtzd --check)" kvm_usable
[ -z "$keeper" ] || kill "$keeper" 2>/dev/null
step "modules unload cleanly at the end" unload_modules

{
	echo "TAP version 13"
	echo "1..${#steps[@]}"
	for s in "${steps[@]}"; do echo "$s"; done
} >"$results/steps.tap"
echo 0 >"$results/steps.rc"

# The kernel log of the whole run, for the host's splat scan.
dmesg >"$results/dmesg.txt" 2>&1
exit 0
