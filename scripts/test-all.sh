#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test run (`make test`): install what is missing, build, lint,
# host unit tests under ASan/UBSan, bounded fuzzing, then the in-VM
# selftests.  Every stage runs even when an earlier one failed, so one run
# reports everything; the last line is "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
res=$top/build/results
rm -rf "$res"
mkdir -p "$res"
start=$(date +%s)

own=()	# results of the stages this script judges itself
stage() {
	local desc=$1
	shift
	echo "=== $desc"
	local t0=$(date +%s)
	"$@"
	local rc=$?
	echo "=== $desc: $([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)") in $(($(date +%s) - t0))s"
	return $rc
}
judge() {
	if [ "$1" -eq 0 ]; then own+=("ok - $2"); else own+=("not ok - $2"); fi
}

# Directly, not through make: a fresh machine may not have make yet.
stage "install dependencies" "$top/scripts/install-deps.sh"
judge $? "dependencies installed"

stage "build modules, userspace and selftests" make -s all selftests
built=$?
judge $built "build (modules at W=1, userspace with -Werror)"

stage "lint" make -s lint
stage "host unit tests (ASan/UBSan)" make -s host-test
stage "fuzzing" make -s fuzz

# The tests that boot nested guests (KVM under the test VM's emulated SVM)
# run in a test VM of their own: QEMU's TCG now and then corrupts nested
# state (Documentation/dev-tools/testing.rst, "Nested guests and the L0
# fault"), and when that takes the test VM itself down, the other tests'
# results are not lost with it.
nested="test_virtzd_guest test_vblk_disks test_vblk_session test_vblk_qcow2"

# The test VM died of the emulation rather than of anything under test:
# no exit status came back, and its console shows no kernel splat at all
# (a silent reset) or only "int3" Oopses outside the virtz modules - a
# CPU running a stale copy of kernel text that the kernel was patching
# (static keys, alternatives): nothing virtz does traps on int3, and a
# BUG or WARN is "invalid opcode", never retried.
l0_death() {
	local con=$2/console.log
	[ "$1" -eq 125 ] || return 1
	grep -E 'Oops|BUG:|general protection|double fault|WARNING:|INFO:|Call Trace|Kernel panic|lockup' "$con" |
		grep -vE 'Oops: int3|Call Trace|Kernel panic - not syncing: Fatal exception' |
		grep -q . && return 1
	grep -qE '^\[[ 0-9.]+\] RIP: .*\[virtz_' "$con" && return 1
	return 0
}

# vm_stage DESC NAME ONLY/EXCEPT...: one test VM run into build/NAME (its
# console) and $res/NAME (the TAP), booted once more after an L0 death.
vm_stage() {
	local desc=$1 name=$2 try rc note=
	shift 2
	for try in 1 2; do
		stage "$desc" "$top/scripts/vm/run.sh" --timeout 1800 \
			--results "$top/build/$name" -e "RESULTS=$res/$name" "$@" \
			-- "$top/selftests/vm/run.sh"
		rc=$?
		[ $try -eq 1 ] && l0_death $rc "$top/build/$name" || break
		echo "=== the test VM died of the emulation (see testing.rst); once more"
		cp "$top/build/$name/console.log" "$res/$name-l0.console.log"
		note=" (second boot: the first died of the emulation, console kept as $name-l0.console.log)"
	done
	judge $rc "$desc: guest booted, tests ran, no kernel splat$note"
}

if [ $built -eq 0 ]; then
	# The harness alone: test failures are counted from their own TAP.
	vm_stage "VM selftests" vm -e "EXCEPT=$nested"
	vm_stage "VM selftests with nested guests" vm-nested -e "ONLY=$nested"
else
	judge 1 "VM run skipped: the build failed"
fi

{
	echo "TAP version 13"
	echo "1..${#own[@]}"
	for r in "${own[@]}"; do echo "$r"; done
} >"$res/stages.tap"

echo "=== summary (${SECONDS}s)"
python3 "$top/scripts/tap-summary.py" "$res"
