#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run each libFuzzer target for SECONDS, from its seed corpus when there
# is one, and record the outcome as one TAP result per fuzzer, with the
# number of executions in the description.
#
# usage: run-fuzzers.sh SECONDS OUTDIR FUZZER...
set -u
secs=${1:?SECONDS}
out=${2:?OUTDIR}
shift 2
mkdir -p "$out"
top=$(cd "$(dirname "$0")/.." && pwd)
rc_all=0
for f in "$@"; do
	name=$(basename "$f")
	corpus=$out/$name.corpus
	mkdir -p "$corpus"
	seeds=()
	[ -d "$top/fuzz/corpus/$name" ] && seeds+=("$top/fuzz/corpus/$name")
	[ -x "$top/fuzz/${name}_seeds.sh" ] && "$top/fuzz/${name}_seeds.sh" "$corpus" >/dev/null 2>&1
	log=$out/$name.log
	echo "fuzz: $name for ${secs}s"
	"$f" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
		-artifact_prefix="$out/$name-" "$corpus" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	{
		echo "TAP version 13"
		echo "1..1"
		if [ $rc -eq 0 ]; then
			echo "ok 1 $name: ${execs:-?} executions in ${secs}s, no crash, leak or UB"
		else
			grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 20 | sed 's/^/# /'
			echo "not ok 1 $name: fuzzer failed after ${execs:-?} executions (see $log)"
		fi
	} >"$out/$name.tap"
	echo $rc >"$out/$name.rc"
	cat "$out/$name.tap" | tail -n 1
	[ $rc -eq 0 ] || rc_all=1
done
exit $rc_all
