#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Extract the few files virtz uses from Debian's linux-source-6.12 tarball
# into an ignored cache folder: the kselftest harness, checkpatch with its
# data files, the ynl tool and the netlink spec schemas it validates against.
# Nothing extracted here is ever committed.
set -euo pipefail

dest=${1:?usage: extract-linux-src.sh DEST}
tarball=$(ls /usr/src/linux-source-6.12*.tar.* 2>/dev/null | sort -V | tail -n 1)
if [ -z "$tarball" ]; then
	echo "extract-linux-src: no /usr/src/linux-source-6.12*.tar.*; install linux-source-6.12" >&2
	exit 1
fi

# Debian names the top folder after the package.
top=linux-source-6.12
want=(
	tools/testing/selftests/kselftest_harness.h
	tools/testing/selftests/kselftest.h
	scripts/checkpatch.pl
	scripts/spelling.txt
	scripts/const_structs.checkpatch
	tools/net/ynl
	Documentation/netlink
)

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "${dest%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# mktemp makes it 0700; tests run ynl as an unprivileged user too.
chmod 0755 "$tmp"
tar -xf "$tarball" -C "$tmp" --strip-components=1 "${want[@]/#/$top/}"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "extract-linux-src: $(basename "$tarball") -> $dest"
