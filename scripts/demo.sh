#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job: install what is missing, build, boot Debian's 6.12 kernel
# in QEMU with this tree shared in, and run the guided tour there
# (scripts/tour.sh), streaming the guest console.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"
make -s all harness
exec "$top/scripts/vm/run.sh" -v --timeout 900 --results "$top/build/vm-demo" \
	-- "$top/scripts/tour.sh"
