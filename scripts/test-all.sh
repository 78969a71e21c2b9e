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

if [ $built -eq 0 ]; then
	# The harness alone: test failures are counted from their own TAP.
	stage "VM selftests" "$top/scripts/vm/run.sh" --timeout 1800 \
		--results "$top/build/vm" -- "$top/selftests/vm/run.sh"
	judge $? "VM run: guest booted, tests ran, no kernel splat"
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
