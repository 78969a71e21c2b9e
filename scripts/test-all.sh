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

# A test VM that died with no exit status and no kernel splat on its
# console (a silent reset: the L0 fault hitting the test VM itself).
silent_death() {
	[ "$1" -eq 125 ] &&
	! grep -qE 'Kernel panic|Oops|BUG:|general protection|double fault|Call Trace|WARNING:' \
		"$2/console.log"
}

if [ $built -eq 0 ]; then
	# The harness alone: test failures are counted from their own TAP.
	stage "VM selftests" "$top/scripts/vm/run.sh" --timeout 1800 \
		--results "$top/build/vm" -e "EXCEPT=$nested" \
		-- "$top/selftests/vm/run.sh"
	judge $? "VM run: guest booted, tests ran, no kernel splat"
	note=
	for try in 1 2; do
		stage "VM selftests with nested guests" "$top/scripts/vm/run.sh" \
			--timeout 1800 --results "$top/build/vm-nested" \
			-e "RESULTS=$res/vm-nested" -e "ONLY=$nested" \
			-- "$top/selftests/vm/run.sh"
		rc=$?
		[ $try -eq 1 ] && silent_death $rc "$top/build/vm-nested" || break
		echo "=== the nested-guest test VM reset silently (L0 fault); once more"
		cp "$top/build/vm-nested/console.log" "$res/vm-nested-reset.console.log"
		note=" (second boot: the first reset silently, console kept as vm-nested-reset.console.log)"
	done
	judge $rc "VM run with nested guests: guest booted, tests ran, no kernel splat$note"
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
