#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run host unit tests (binaries) and host test scripts, saving each one's
# TAP output as OUTDIR/NAME.tap and its exit status as OUTDIR/NAME.rc.
#
# usage: run-host-tests.sh OUTDIR TEST...
set -u
out=${1:?OUTDIR}
shift
mkdir -p "$out"
rc_all=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "$@"; do
	name=$(basename "$t")
	name=${name%.*}
	echo "host-test: $name"
	case $t in
	*.sh) bash "$t" >"$out/$name.tap" 2>&1 ;;
	*) "$t" >"$out/$name.tap" 2>&1 ;;
	esac
	rc=$?
	echo $rc >"$out/$name.rc"
	if [ $rc -ne 0 ]; then
		rc_all=1
		sed 's/^/    /' "$out/$name.tap" | tail -n 40
	fi
done
exit $rc_all
