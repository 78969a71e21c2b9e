#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-fvm under load: freed slices and bios in flight, and concurrent
# metadata operations.
#
#   volume a   fio random writes with continuous crc32c verification
#   volume b   fio random writes at queue depth 32, never stopping
#   volume c   each round takes the slice b just gave up (the allocator
#              hands out the lowest free slice) and is stamped with a
#              pattern at once
#   meanwhile  two more shells allocate, extend, shrink, rename and
#              destroy partitions of their own as fast as they can
#
# Every round shrinks one vslice of b while b's writes are in flight.  If
# a write mapped before the shrink could still reach the disk after it
# returned, it would land in c's new slice.  At the end every stamp of c
# must be intact, a's verification must have passed, the metadata must
# check clean, and the kernel log must be free of splats (the harness).
#
# Then Destroy of an open volume: d is destroyed while fio writes to it at
# queue depth 32; e at once takes d's slices and is stamped.  The stamp
# must survive, and every later write to d must fail.
# Prints TAP.
set -u
export DM_DISABLE_UDEV=1
TOP=${VIRTZ_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
VIRTZCTL=${VIRTZCTL:-$TOP/build/virtzctl}
WORK=$(mktemp -d /tmp/dm_load.XXXXXX)
LOG=$WORK/log
SLICE=1048576
SS=$((SLICE / 512))
ROUNDS=${DM_LOAD_ROUNDS:-6}
P=tld
n=0
fails=0
LOOP=

ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() {
	n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"
	tail -n 8 "$LOG" | sed 's/^/# /'
}
t() { local d=$1; shift; if "$@" >>"$LOG" 2>&1; then ok "$d"; else nok "$d"; fi; }
msg() { dmsetup message $P 0 "$@"; }
st() { dmsetup status "$1" | awk -v i="$2" '{print $(3 + i)}'; }

cleanup() {
	local d
	for j in $(jobs -p); do kill "$j" 2>/dev/null; done
	wait 2>/dev/null
	for d in $P-a $P-b $P-c $P-d $P-e; do dmsetup remove "$d" 2>/dev/null; done
	dmsetup remove $P 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "TAP version 13"
modprobe loop 2>/dev/null
command -v fio >/dev/null || { echo "1..0 # SKIP fio not installed"; exit 0; }

IMG=$WORK/fvm.img
"$VIRTZCTL" fvm create "$IMG" --size 256M --slice-size 1M >>"$LOG" 2>&1
LOOP=$(losetup -f --show "$IMG")
t "pool" dmsetup create $P --table "0 $(blockdev --getsz "$LOOP") fvm-pool $LOOP"
t "allocate a (8), b (16), c (1)" bash -c \
	"dmsetup message $P 0 allocate a 8 && dmsetup message $P 0 allocate b 16 && dmsetup message $P 0 allocate c 1"
t "map a, b, c" bash -c "
	dmsetup create $P-a --table '0 $((8 * SS)) fvm /dev/mapper/$P a' &&
	dmsetup create $P-b --table '0 $((16 * SS)) fvm /dev/mapper/$P b' &&
	dmsetup create $P-c --table '0 $((ROUNDS * 2 * SS + SS)) fvm /dev/mapper/$P c'"
for v in a b c; do [ -b /dev/mapper/$P-$v ] || { echo "Bail out! no /dev/mapper/$P-$v"; exit 1; }; done

fio --name=a --filename=/dev/mapper/$P-a --rw=randwrite --bs=4k \
	--ioengine=libaio --iodepth=8 --direct=1 --size=8M --loops=1000 \
	--time_based --runtime=600 --verify=crc32c --verify_backlog=256 \
	--verify_fatal=1 --output="$WORK/fio-a.out" >/dev/null 2>&1 &
FIO_A=$!
# Writes to vslices that are unmapped at the moment fail; keep going.
fio --name=b --filename=/dev/mapper/$P-b --rw=randwrite --bs=16k \
	--ioengine=libaio --iodepth=32 --direct=1 --size=16M \
	--time_based --runtime=600 --continue_on_error=all \
	--output="$WORK/fio-b.out" >/dev/null 2>&1 &
FIO_B=$!

# Two shells of unrelated metadata churn, each on its own partitions.
churn() {
	local id=$1 i=0
	while [ ! -e "$WORK/stop" ]; do
		i=$((i + 1))
		msg allocate "x$id-$i" 2 >/dev/null || continue
		msg extend "x$id-$i" 5 3 || echo "churn $id: extend failed"
		msg shrink "x$id-$i" 6 1 || echo "churn $id: shrink failed"
		msg rename "x$id-$i" "y$id-$i" || echo "churn $id: rename failed"
		msg destroy "y$id-$i" || echo "churn $id: destroy failed"
	done >>"$WORK/churn.log" 2>&1
}
churn 1 & CH1=$!
churn 2 & CH2=$!

sleep 2
t0=$(date +%s)
stamp_bad=0
ops_bad=0
for r in $(seq 1 "$ROUNDS"); do
	vs=$(( (r % 15) + 1 ))
	msg shrink b $vs 1 || ops_bad=$((ops_bad + 1))
	cv=$((2 * r))
	msg extend c $cv 1 || ops_bad=$((ops_bad + 1))
	# The stamp: 1 MiB of the round number, written through c at once.
	yes "round $r of $ROUNDS" | head -c $SLICE >"$WORK/stamp"
	dd if="$WORK/stamp" of=/dev/mapper/$P-c bs=$SLICE seek=$cv count=1 \
		oflag=direct status=none || ops_bad=$((ops_bad + 1))
	cp "$WORK/stamp" "$WORK/stamp.$r"
	msg extend b $vs 1 || ops_bad=$((ops_bad + 1))
done
echo "# $ROUNDS rounds under load took $(($(date +%s) - t0)) s"
sleep 2
touch "$WORK/stop"
wait $CH1 $CH2
kill -INT $FIO_B 2>/dev/null
wait $FIO_B
kill -INT $FIO_A 2>/dev/null
wait $FIO_A
rc_a=$?

t "every shrink/extend/stamp of the $ROUNDS rounds succeeded" test $ops_bad -eq 0
for r in $(seq 1 "$ROUNDS"); do
	dd if=/dev/mapper/$P-c bs=$SLICE skip=$((2 * r)) count=1 iflag=direct status=none |
		cmp -s - "$WORK/stamp.$r" || stamp_bad=$((stamp_bad + 1))
done
t "all $ROUNDS stamps in the slices b gave up are intact" test $stamp_bad -eq 0
t "fio on a verified its data (no verify error)" \
	bash -c "! grep -qi 'verify.*fail\|bad magic\|crc32c.*bad' '$WORK/fio-a.out' && grep -q 'WRITE:' '$WORK/fio-a.out'"
tail -n 30 "$WORK/fio-a.out" >>"$LOG"
# Stopped by SIGINT, fio exits non-zero; its job report says err= 0.
t "fio on a reported no error (exit status $rc_a after SIGINT)" \
	grep -q 'err= 0' "$WORK/fio-a.out"
t "churn shells saw no failed operation" bash -c "! grep -q failed '$WORK/churn.log'"
t "churn shells did work" bash -c "dmsetup status $P | awk '{exit !(\$9 > $ROUNDS * 3 + 10)}'"
t "b kept 16 slices, c has $((ROUNDS + 1))" \
	test "$(st $P-b 2) $(st $P-c 2)" = "16 $((ROUNDS + 1))"

# --- Destroy while open, under load ----------------------------------------------------
# pslices of a partition, as the pool device (reads pass through) says.
# The kernel writes metadata under the page cache: drop it first.
pslices() {
	blockdev --flushbufs /dev/mapper/$P
	"$VIRTZCTL" -j fvm info /dev/mapper/$P |
		jq -c "[.partitions[] | select(.name==\"$1\") | .extents[] | range(.pslice; .pslice + .count)]"
}
t "allocate and map d (4 slices)" bash -c "msg() { dmsetup message $P 0 \"\$@\"; }
	msg allocate d 4 && dmsetup create $P-d --table '0 $((4 * SS)) fvm /dev/mapper/$P d'"
D_PS=$(pslices d)
fio --name=d --filename=/dev/mapper/$P-d --rw=randwrite --bs=16k \
	--ioengine=libaio --iodepth=32 --direct=1 --size=4M \
	--time_based --runtime=600 --continue_on_error=all \
	--output-format=json --output="$WORK/fio-d.json" >/dev/null 2>&1 &
FIO_D=$!
sleep 3
t "destroy d while fio writes to it" msg destroy d
t "allocate e (4 slices) and map it" bash -c "msg() { dmsetup message $P 0 \"\$@\"; }
	msg allocate e 4 && dmsetup create $P-e --table '0 $((4 * SS)) fvm /dev/mapper/$P e'"
yes "e took the slices of d" | head -c $((4 * SLICE)) >"$WORK/stamp.e"
t "stamp e at once" dd if="$WORK/stamp.e" of=/dev/mapper/$P-e bs=$SLICE count=4 oflag=direct status=none
t "e holds exactly the slices d gave up ($D_PS)" test "$(pslices e)" = "$D_PS"
sleep 3
t "fio still running against dead d" kill -0 $FIO_D
kill -INT $FIO_D 2>/dev/null
wait $FIO_D
t "e's stamp is intact after fio on d kept writing" \
	bash -c "dd if=/dev/mapper/$P-e bs=$SLICE count=4 iflag=direct status=none | cmp - '$WORK/stamp.e'"
t "fio on d saw I/O errors after the destroy" \
	bash -c "sed -n '/^{/,\$p' '$WORK/fio-d.json' |
		jq -e '(.jobs[0].total_err // 0) > 0 or .jobs[0].error != 0'"
t "a write to d fails" bash -c "! dd if=/dev/zero of=/dev/mapper/$P-d bs=4096 count=1 oflag=direct status=none"
t "a read of d fails" bash -c "! dd if=/dev/mapper/$P-d of=/dev/null bs=4096 count=1 iflag=direct status=none"
t "d's status shows no partition" test "$(st $P-d 2)" = "-"
t "e is not counted as mapped by d's dead target" bash -c "
	[ \$('$VIRTZCTL' -j volume info $P e | jq .mapped) = 1 ]"
t "the dead device of d can be removed" dmsetup remove $P-d
t "e still holds its stamp" \
	bash -c "dd if=/dev/mapper/$P-e bs=$SLICE count=4 iflag=direct status=none | cmp - '$WORK/stamp.e'"
t "remove e" bash -c "dmsetup remove $P-e && dmsetup message $P 0 destroy e"

t "remove volumes and pool" bash -c "dmsetup remove $P-a && dmsetup remove $P-b && dmsetup remove $P-c && dmsetup remove $P"
t "metadata checks clean" "$VIRTZCTL" fvm check "$LOOP"
t "raw device: a, b, c and no churn partitions left" bash -c \
	"'$VIRTZCTL' -j fvm info '$LOOP' | jq -e '[.partitions[].name] | sort == [\"a\",\"b\",\"c\"]'"
echo "1..$n"
[ $fails -eq 0 ]
