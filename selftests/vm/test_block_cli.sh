#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `virtzctl block info|bench` on a null_blk device: what info reports (text
# and -j) with and without --read-only and --map, that bench moves the
# number of requests it says it does (plain, grouped, memfd) and that the
# data it writes reaches the device, and the usage errors.  Prints TAP.
#
# Needs virtz_fvm loaded (selftests/vm/run.sh does it), root, null_blk.
set -u
TOP=${VIRTZ_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
VIRTZCTL=${VIRTZCTL:-$TOP/build/virtzctl}
CFS=/sys/kernel/config/nullb
NAME=vzbcli-$$
LOG=$(mktemp /tmp/block_cli.XXXXXX)
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() {
	n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"
	tail -n 5 "$LOG" | sed 's/^/# /'
}
t() { local d=$1; shift; if "$@" >>"$LOG" 2>&1; then ok "$d"; else nok "$d"; fi; }
# x STATUS DESC CMD...: CMD must exit with STATUS.
x() {
	local want=$1 d=$2 rc
	shift 2
	"$@" >>"$LOG" 2>&1
	rc=$?
	if [ $rc -eq "$want" ]; then ok "$d"; else nok "$d (exit $rc, want $want)"; fi
}
eq() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; return 1; }; }

cleanup() {
	[ -d $CFS/$NAME ] && { echo 0 >$CFS/$NAME/power; rmdir $CFS/$NAME; }
	rm -f "$LOG"
}
trap cleanup EXIT

echo "TAP version 13"
modprobe null_blk nr_devices=0 2>/dev/null
[ -d $CFS ] || mount -t configfs none /sys/kernel/config 2>/dev/null
[ -d $CFS ] || { echo "1..0 # SKIP no null_blk configfs"; exit 0; }
mkdir $CFS/$NAME
echo 16 >$CFS/$NAME/size
echo 4096 >$CFS/$NAME/blocksize
echo 1 >$CFS/$NAME/memory_backed
echo 1 >$CFS/$NAME/discard
echo 1 >$CFS/$NAME/power
DEV=/dev/$NAME
[ -b "$DEV" ] || { echo "Bail out! $DEV is not a block device"; exit 1; }

t "info: text" bash -c "'$VIRTZCTL' block info $DEV | grep -q '4096 blocks of 4096 bytes, max transfer 1048576'"
t "info: flags trim and zstd" bash -c "'$VIRTZCTL' block info $DEV | grep -q 'flags trim zstd'"
t "info -j: block_count" eq "$("$VIRTZCTL" -j block info $DEV | jq -r .block_count)" 4096
t "info -j: flag names" eq "$("$VIRTZCTL" -j block info $DEV | jq -c .flag_names)" '["trim","zstd"]'
t "info --read-only: readonly, no trim" \
	eq "$("$VIRTZCTL" -j block info --read-only $DEV | jq -c .flag_names)" '["readonly","zstd"]'
t "info --map: the map's length" \
	eq "$("$VIRTZCTL" -j block info --map 10:100:50 $DEV | jq -r .block_count)" 50
x 1 "info --map past the device fails" "$VIRTZCTL" block info --map 0:4000:100 $DEV
x 2 "info --map malformed" "$VIRTZCTL" block info --map 1:2 $DEV
x 1 "info on a missing device fails" "$VIRTZCTL" block info /dev/nonexistent
x 2 "info without a device" "$VIRTZCTL" block info
x 0 "info --help" "$VIRTZCTL" block info --help
x 0 "block --help" "$VIRTZCTL" block --help
x 2 "unknown verb" "$VIRTZCTL" block frob

out=$("$VIRTZCTL" -j block bench $DEV --rw randread --qd 32 --ops 2000 2>>"$LOG")
t "bench randread qd32: 2000 requests, no errors" \
	eq "$(jq -r '"\(.requests) \(.errors)"' <<<"$out")" "2000 0"
out=$("$VIRTZCTL" -j block bench $DEV --rw randwrite --qd 1 --ops 300 --memfd 2>>"$LOG")
t "bench randwrite qd1 memfd: 300 requests" \
	eq "$(jq -r '"\(.requests) \(.errors)"' <<<"$out")" "300 0"
out=$("$VIRTZCTL" -j block bench $DEV --rw write --qd 32 --group 4 --ops 4096 2>>"$LOG")
t "bench write grouped: 4096 requests in transactions of 4" \
	eq "$(jq -r '"\(.requests) \(.errors) \(.group)"' <<<"$out")" "4096 0 4"
# bench writes 0x5a from anonymous memory: the whole device is now 0x5a.
t "sequential grouped writes covered the device" \
	eq "$(dd if=$DEV bs=1M iflag=direct status=none | tr -d '\132' | wc -c)" 0
t "bench for a time" bash -c "'$VIRTZCTL' block bench $DEV --seconds 1 | grep -q IOPS"
x 2 "bench --qd 0" "$VIRTZCTL" block bench $DEV --qd 0
x 2 "bench --qd 65" "$VIRTZCTL" block bench $DEV --qd 65
x 2 "bench --group not dividing --qd" "$VIRTZCTL" block bench $DEV --qd 32 --group 5
x 2 "bench --group making more than 8 transactions" "$VIRTZCTL" block bench $DEV --qd 32 --group 2
x 2 "bench --bs not a multiple of the block size" "$VIRTZCTL" block bench $DEV --bs 1000
x 2 "bench --rw unknown" "$VIRTZCTL" block bench $DEV --rw trim
x 0 "bench --help" "$VIRTZCTL" block bench --help

echo "1..$n"
[ $fails -eq 0 ]
