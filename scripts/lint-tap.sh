#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make lint` as a test: runs scripts/lint.sh and records it as one TAP
# result in OUTDIR/lint.tap, so the gate counts in the test summary.
#
# usage: lint-tap.sh OUTDIR TOP KDIR LINUX_SRC
set -u
out=${1:?OUTDIR}
shift
mkdir -p "$out"
here=$(dirname "$0")
"$here/lint.sh" "$@" 2>&1 | tee "$out/lint.log"
rc=${PIPESTATUS[0]}
{
	echo "TAP version 13"
	echo "1..1"
	if [ "$rc" -eq 0 ]; then
		echo "ok 1 lint: checkpatch --strict and sparse are clean"
	else
		grep -v '^lint:' "$out/lint.log" | head -n 40 | sed 's/^/# /'
		echo "not ok 1 lint: findings (see $out/lint.log)"
	fi
} >"$out/lint.tap"
echo "$rc" >"$out/lint.rc"
exit "$rc"
