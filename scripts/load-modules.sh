#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Load the freshly built virtz modules from this tree, after the stock
# modules they depend on (insmod, unlike modprobe, resolves nothing).
#
# usage: load-modules.sh [--deps-only] [MODULE...]   (default: all three)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
deps_only=0
if [ "${1:-}" = --deps-only ]; then
	deps_only=1
	shift
fi
[ $# -gt 0 ] || set -- virtz_fvm virtz_vsock virtz_wl

for m in "$@"; do
	ko=$top/kmod/$m/$m.ko
	[ -f "$ko" ] || { echo "load-modules: $ko not built" >&2; exit 1; }
	deps=$(modinfo -F depends "$ko" | tr ',' ' ')
	for d in $deps; do
		modprobe "$d"
	done
	[ $deps_only = 1 ] || [ -d "/sys/module/$m" ] || insmod "$ko"
done
