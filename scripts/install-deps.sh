#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install every Debian package virtz needs to build, lint and test.
# Idempotent: packages already present are left alone, and when nothing is
# missing the script does not touch apt at all.
set -euo pipefail

PKGS=(
	build-essential gcc make pkg-config bc flex bison kmod cpio xz-utils zstd
	libelf-dev libssl-dev
	clang llvm libclang-rt-14-dev
	linux-headers-6.12-amd64 linux-image-6.12-amd64 linux-source-6.12
	qemu-system-x86 busybox-static
	dmsetup libdevmapper-dev
	libnl-3-dev libnl-genl-3-dev
	liburing-dev
	python3 python3-yaml python3-jsonschema
	sparse fio
	qemu-utils zlib1g-dev libzstd-dev
	util-linux e2fsprogs
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or install them yourself)" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
