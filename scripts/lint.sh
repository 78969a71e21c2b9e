#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Lint gate for the kernel code: checkpatch --strict on every kernel source
# and uapi header, and sparse over the modules.  Any finding fails.
#
# usage: lint.sh TOP KDIR LINUX_SRC
set -uo pipefail

top=${1:?TOP}
kdir=${2:?KDIR}
linux_src=${3:?LINUX_SRC}
checkpatch=$linux_src/scripts/checkpatch.pl
fail=0

cd "$top" || exit 1
mapfile -t files < <(git ls-files -co --exclude-standard \
	'kmod/*.c' 'kmod/*.h' 'include/uapi/linux/*.h' | sort -u)

echo "lint: checkpatch --strict on ${#files[@]} files"
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	extra=()
	# The compat header is where version tests are supposed to be.
	[ "$f" = kmod/include/virtz_compat.h ] &&
		extra=(--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON)
	out=$(perl "$checkpatch" --strict --no-tree --terse --show-types \
		--no-summary "${extra[@]}" -f "$f" 2>&1)
	if [ -n "$out" ]; then
		echo "$out"
		fail=1
	fi
done

echo "lint: sparse (make C=2) on the modules"
log=$(mktemp)
make -s -C "$kdir" M="$top" C=2 CHECK=sparse W=1 modules >"$log" 2>&1
rc=$?
# sparse and the compiler report "file:line:col: warning|error: ...".
if [ $rc -ne 0 ] || grep -E ':[0-9]+:[0-9]+: (warning|error):' "$log"; then
	[ $rc -ne 0 ] && cat "$log"
	fail=1
fi
rm -f "$log"

if [ $fail -ne 0 ]; then
	echo "lint: FAILED"
	exit 1
fi
echo "lint: clean"
