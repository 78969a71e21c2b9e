#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-fvm through dmsetup: the fvm-pool and fvm targets, every message verb
# with its success and error cases, data read back through the volumes and
# located on the raw device, the state after each step compared with what
# `virtzctl fvm info -j` reads from the raw device once the pool is gone,
# bad tables, a corrupt metadata copy, growth, and the refusals (busy pool,
# module unload while pools exist).  Prints TAP.
#
# Needs virtz_fvm loaded (selftests/vm/run.sh does it), root, loop.
set -u
export DM_DISABLE_UDEV=1
TOP=${VIRTZ_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
VIRTZCTL=${VIRTZCTL:-$TOP/build/virtzctl}
WORK=$(mktemp -d /tmp/dm_ops.XXXXXX)
LOG=$WORK/log
MiB=1048576
SLICE=$((1 * MiB))
SS=$((SLICE / 512))	# sectors per slice
n=0
fails=0
LOOPS=()

ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() {
	n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"
	tail -n 8 "$LOG" | sed 's/^/# /'
}
# t DESC CMD...: CMD must succeed.   f DESC CMD...: CMD must fail.
t() { local d=$1; shift; if "$@" >>"$LOG" 2>&1; then ok "$d"; else nok "$d"; fi; }
f() { local d=$1; shift; if "$@" >>"$LOG" 2>&1; then nok "$d (succeeded)"; else ok "$d"; fi; }
bail() { echo "Bail out! $*"; sed 's/^/# /' "$LOG"; exit 1; }

cleanup() {
	local d l
	for d in $(dmsetup ls 2>/dev/null | awk '/^tdm-/ {print $1}' | sort -r); do
		dmsetup remove "$d" 2>/dev/null
	done
	for d in $(dmsetup ls 2>/dev/null | awk '/^tdm/ {print $1}'); do
		dmsetup remove "$d" 2>/dev/null
	done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT

newloop() {	# newloop FILE -> prints the loop device
	local l
	l=$(losetup -f --show "$1") || return 1
	LOOPS+=("$l")
	echo "$l"
}
sectors() { blockdev --getsz "$1"; }
# Field N (1-based, after "start len target") of a target's status line.
st() { dmsetup status "$1" | awk -v i="$2" '{print $(3 + i)}'; }
isblk() { [ -b "$1" ]; }
msg() { dmsetup message "$1" 0 "${@:2}"; }
# Reads/writes whole slices of a volume with O_DIRECT.
wr() { dd if="$2" of="$1" bs=$SLICE seek="$3" count="$4" oflag=direct conv=notrunc status=none; }
rd() { dd if="$1" of="$2" bs=$SLICE skip="$3" count="$4" iflag=direct status=none; }
# info FILTER: jq over `virtzctl -j fvm info` of the raw device.
info() { "$VIRTZCTL" -j fvm info "$DEV" | jq -e "$1"; }
eq() { [ "$1" = "$2" ] || { echo "expected '$2', got '$1'"; return 1; }; }

echo "TAP version 13"
modprobe loop 2>/dev/null
[ -d /sys/module/virtz_fvm ] || bail "virtz_fvm is not loaded"
dmsetup targets | grep -q '^fvm-pool' || bail "fvm-pool target not registered"

t "module reports the dm-targets feature" \
	bash -c "'$VIRTZCTL' -j module info fvm | jq -e '.[0].feature_names | index(\"dm-targets\")'"

# --- an FVM with one partition made offline -----------------------------------
IMG=$WORK/fvm.img
"$VIRTZCTL" fvm create "$IMG" --size 64M --slice-size 1M --max-size 128M >>"$LOG" 2>&1 &&
	"$VIRTZCTL" fvm add "$IMG" sys --slices 2 >>"$LOG" 2>&1 || bail "cannot make the image"
DEV=$(newloop "$IMG") || bail "losetup"
SYS_GUID=$("$VIRTZCTL" -j fvm info "$IMG" | jq -r '.partitions[0].guid')
PSLICES=$("$VIRTZCTL" -j fvm info "$IMG" | jq -r '.header.pslice_count')

t "pool on an FVM device" dmsetup create tdm --table "0 $(sectors "$DEV") fvm-pool $DEV"
t "pool status: slice size, slices, assigned, partitions" \
	eq "$(st tdm 1) $(st tdm 2) $(st tdm 3) $(st tdm 5)" "$SLICE $PSLICES 2 1"
t "pool table reproduces the device" \
	eq "$(dmsetup table tdm | awk '{print $4}')" "$(lsblk -dno MAJ:MIN "$DEV" | tr -d ' ')"

out=$(msg tdm allocate data 4 2>>"$LOG")
t "allocate returns index and instance GUID" bash -c "[[ '$out' =~ ^2\ [0-9a-f-]{36}$ ]]"
DATA_GUID=${out#* }
t "allocate: assigned slices 2 + 4" eq "$(st tdm 3)" 6

f "allocate: 0 slices refused (ERANGE)" msg tdm allocate zero 0
f "allocate: name of 25 bytes refused" msg tdm allocate abcdefghijklmnopqrstuvwxy 1
f "allocate: more slices than free refused (ENOSPC)" msg tdm allocate big 1000
f "allocate: duplicate instance GUID refused" msg tdm allocate dup 1 guid="$DATA_GUID"
f "allocate: malformed type GUID refused" msg tdm allocate bad 1 type=1234
f "unknown verb refused" msg tdm frobnicate data
f "unprivileged dmsetup message refused" \
	setpriv --reuid=65534 --regid=65534 --clear-groups dmsetup message tdm 0 allocate evil 1
t "failed and refused allocations changed nothing" eq "$(st tdm 3) $(st tdm 5)" "6 2"

# --- a volume: data lands in its slices, unmapped vslices fail -------------------
t "volume by name" dmsetup create tdm-data --table "0 $((8 * SS)) fvm /dev/mapper/tdm data"
t "volume node is a block device" isblk /dev/mapper/tdm-data
t "volume table names the pool and the instance GUID" \
	bash -c "dmsetup table tdm-data | grep -q ' fvm .* $DATA_GUID\$'"
t "volume status: index, slices" eq "$(st tdm-data 1) $(st tdm-data 2)" "2 4"
head -c $((4 * SLICE)) /dev/urandom >"$WORK/pat1"
t "write 4 slices" wr /dev/mapper/tdm-data "$WORK/pat1" 0 4
t "read them back" bash -c "dd if=/dev/mapper/tdm-data bs=$SLICE count=4 iflag=direct status=none | cmp - '$WORK/pat1'"
# Where the bytes are on the raw device, by the offline tool's map.
for vs in 0 3; do
	t "vslice $vs is on the pslice the metadata names" bash -c "
		'$VIRTZCTL' fvm dump-slice '$DEV' data --vslice $vs --count 1 -o '$WORK/dump' &&
		dd if='$WORK/pat1' bs=$SLICE skip=$vs count=1 status=none | cmp - '$WORK/dump'"
done
f "read of unmapped vslice 5 fails" rd /dev/mapper/tdm-data /dev/null 5 1
f "write to unmapped vslice 4 fails" wr /dev/mapper/tdm-data "$WORK/pat1" 4 1
f "a write spanning mapped vslice 3 and unmapped 4 fails" \
	dd if=/dev/zero of=/dev/mapper/tdm-data bs=8192 seek=$((4 * SLICE - 4096)) count=1 oflag=direct,seek_bytes status=none
t "... and left vslice 3 alone" bash -c "dd if=/dev/mapper/tdm-data bs=$SLICE count=4 iflag=direct status=none | cmp - '$WORK/pat1'"

# --- extend, limits, shrink ----------------------------------------------------
t "extend vslices 4..5" msg tdm extend data 4 2
t "extend: assigned and partition slices" eq "$(st tdm 3) $(st tdm-data 2)" "8 6"
head -c $((2 * SLICE)) /dev/urandom >"$WORK/pat2"
t "write the new slices" wr /dev/mapper/tdm-data "$WORK/pat2" 4 2
t "read them back" bash -c "dd if=/dev/mapper/tdm-data bs=$SLICE skip=4 count=2 iflag=direct status=none | cmp - '$WORK/pat2'"
f "extend over a mapped vslice refused (EINVAL)" msg tdm extend data 3 2
f "extend from vslice 0 refused (ERANGE)" msg tdm extend data 0 1
f "extend past 2^31 refused (ERANGE)" msg tdm extend data 2147483647 2
f "extend of a missing partition refused" msg tdm extend nosuch 10 1
f "extend by a wrong GUID refused" msg tdm extend 01234567-89ab-cdef-0123-456789abcdef 10 1
t "set-limit to 7 slices" msg tdm set-limit data $((7 * SLICE))
t "volume status shows the limit" eq "$(st tdm-data 3)" $((7 * SLICE))
t "extend within the limit" msg tdm extend data 6 1
f "extend past the limit refused (ENOSPC)" msg tdm extend data 7 1
f "shrink of vslice 0 refused" msg tdm shrink data 0 1
f "shrink of unmapped vslices refused" msg tdm shrink data 100 5
t "shrink vslices 5..6" msg tdm shrink data 5 2
t "shrink: partition slices" eq "$(st tdm-data 2) $(st tdm 3)" "5 7"
f "read of shrunk vslice 5 fails" rd /dev/mapper/tdm-data /dev/null 5 1
t "vslice 4 kept its data" bash -c "dd if=/dev/mapper/tdm-data bs=$SLICE skip=4 count=1 iflag=direct status=none | cmp - <(head -c $SLICE '$WORK/pat2')"

# --- names, activation, destroy ------------------------------------------------
t "rename data -> data2" msg tdm rename data data2
f "old name no longer found" msg tdm extend data 9 1
f "rename to 25 bytes refused" msg tdm rename data2 abcdefghijklmnopqrstuvwxy
NEW_GUID=0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9
t "allocate an inactive partition with a given GUID" msg tdm allocate sys-b 2 guid=$NEW_GUID inactive
f "activate with an unknown new GUID refused" msg tdm activate "$SYS_GUID" 01234567-89ab-cdef-0123-456789abcdef
t "activate(sys, sys-b)" msg tdm activate "$SYS_GUID" $NEW_GUID
t "allocate a partition to destroy" msg tdm allocate scratch 3
t "destroy it" msg tdm destroy scratch
t "destroy: assigned back" eq "$(st tdm 3) $(st tdm 5)" "9 3"

# --- refusals ------------------------------------------------------------------
f "removing a pool with an open volume is refused" dmsetup remove tdm
f "unloading the module while pools exist is refused" rmmod virtz_fvm
t "module still loaded" test -d /sys/module/virtz_fvm
f "a second pool on the same device is refused" \
	dmsetup create tdm2 --table "0 $(sectors "$DEV") fvm-pool $DEV"
f "a volume on a device that is not a pool is refused" \
	dmsetup create tdm-x --table "0 $SS fvm $DEV data2"
f "a volume of a missing partition is refused" \
	dmsetup create tdm-x --table "0 $SS fvm /dev/mapper/tdm nosuch"
f "a volume with one argument is refused" dmsetup create tdm-x --table "0 $SS fvm /dev/mapper/tdm"
f "a pool with no device is refused" dmsetup create tdm2 --table "0 100 fvm-pool"
f "a pool with two devices is refused" dmsetup create tdm2 --table "0 100 fvm-pool $DEV $DEV"
truncate -s 32M "$WORK/zero.img"
ZDEV=$(newloop "$WORK/zero.img")
f "a pool on a device without FVM is refused" \
	dmsetup create tdm2 --table "0 $(sectors "$ZDEV") fvm-pool $ZDEV"
f "writes to the pool device are refused" \
	dd if=/dev/zero of=/dev/mapper/tdm bs=4096 count=1 oflag=direct status=none
t "reads of the pool device pass through" \
	bash -c "dd if=/dev/mapper/tdm bs=8 count=1 status=none | grep -q 'FVM PART'"
dmsetup ls 2>/dev/null | grep -q '^tdm-x' && dmsetup remove tdm-x
dmsetup ls 2>/dev/null | grep -q '^tdm2' && dmsetup remove tdm2

# --- the raw device agrees after the pool is gone --------------------------------
t "remove the volume" dmsetup remove tdm-data
t "remove the pool" dmsetup remove tdm
t "raw device: check is clean" "$VIRTZCTL" fvm check "$DEV"
t "raw device: data2 has 5 slices at vslices 0..4" \
	info '[.partitions[] | select(.name=="data2")][0] | .slices == 5 and ([.extents[] | .vslice + .count] | max) == 5'
t "raw device: sys inactive, sys-b active, scratch gone" \
	info '([.partitions[] | select(.name=="sys")][0].active == false) and ([.partitions[] | select(.name=="sys-b")][0].active == true) and ([.partitions[] | select(.name=="scratch")] | length == 0)'
t "raw device: 9 slices allocated" info '.slices_allocated == 9'

# --- reopen: load rules, data survives ---------------------------------------------
t "reopen the pool" dmsetup create tdm --table "0 $(sectors "$DEV") fvm-pool $DEV"
t "load destroyed the inactive partition" eq "$(st tdm 3) $(st tdm 5)" "7 2"
t "volume by instance GUID" dmsetup create tdm-data --table "0 $((5 * SS)) fvm /dev/mapper/tdm $DATA_GUID"
t "vslices 0..3 still hold pattern 1" bash -c "dd if=/dev/mapper/tdm-data bs=$SLICE count=4 iflag=direct status=none | cmp - '$WORK/pat1'"
t "vslice 4 still holds pattern 2" bash -c "dd if=/dev/mapper/tdm-data bs=$SLICE skip=4 count=1 iflag=direct status=none | cmp - <(head -c $SLICE '$WORK/pat2')"
t "discard of a mapped slice" blkdiscard -o $SLICE -l $SLICE /dev/mapper/tdm-data
t "remove the volume and pool" bash -c "dmsetup remove tdm-data && dmsetup remove tdm"

# --- a corrupt copy: the other one is used -----------------------------------------
GEN=$("$VIRTZCTL" -j fvm info "$DEV" | jq -r '.header.generation')
ACT=$("$VIRTZCTL" -j fvm info "$DEV" | jq -r '.active_copy')
ALLOC=$("$VIRTZCTL" -j fvm info "$DEV" | jq -r '.metadata_allocated')
OFF=0; [ "$ACT" = B ] && OFF=$ALLOC
# Flip a byte of the active copy's partition table: its hash fails.
printf '\xff' | dd of="$DEV" bs=1 seek=$((OFF + 8192 + 64 + 40)) conv=notrunc status=none
sync
t "pool opens with the active copy corrupt" dmsetup create tdm --table "0 $(sectors "$DEV") fvm-pool $DEV"
# Copy B is one generation older and still holds the inactive partition
# the last open destroyed: the load rules destroy it again and commit.
t "it used the other copy, and re-applied the load rules" \
	eq "$(st tdm 6) $(st tdm 3) $(st tdm 5)" "$GEN 7 2"
t "the kernel said which copy was bad" bash -c "dmesg | grep -q 'metadata copy $ACT is invalid'"
t "an operation commits over the bad copy" msg tdm allocate after 1
t "remove the pool" dmsetup remove tdm
t "raw device: clean again, both copies valid" \
	info '.check_status == 0 and ([.copies[] | select(.valid)] | length == 2)'

# --- growth: a reload with a larger device ------------------------------------------
t "pool before growth" dmsetup create tdm --table "0 $(sectors "$DEV") fvm-pool $DEV"
truncate -s 128M "$IMG" && losetup -c "$DEV"
t "reload with the larger device" bash -c "dmsetup reload tdm --table '0 $(sectors "$DEV") fvm-pool $DEV' && dmsetup resume tdm"
t "pslice_count grew to the device" bash -c "[ \$(dmsetup status tdm | awk '{print \$5}') -gt $PSLICES ]"
t "the new slices are allocatable" msg tdm allocate grown 60
t "remove the pool" dmsetup remove tdm
t "raw device: grown FVM is clean" info ".check_status == 0 and .header.pslice_count > $PSLICES"

# --- shrink and destroy wait for bios in flight ------------------------------------------
# The pool sits on dm-delay: its metadata area is not delayed, its slices'
# writes are held 3 s.  A write is in flight to a vslice when it is
# shrunk (or its partition destroyed); then a stamp is written straight to
# the freed pslice on the loop device, as its next owner would.  Shrink
# and destroy must not return before the held write has landed, so the
# stamp, written after they return, must be what the pslice holds.
"$VIRTZCTL" fvm create "$WORK/d.img" --size 32M --slice-size 1M >>"$LOG" 2>&1 || bail "cannot make d.img"
DLOOP=$(newloop "$WORK/d.img") || bail "losetup d.img"
DS=$(( $("$VIRTZCTL" -j fvm info "$DLOOP" | jq .data_start) / 512 ))
DEND=$(sectors "$DLOOP")
if modprobe dm-delay 2>>"$LOG" && dmsetup create tdmdly --table "0 $DS delay $DLOOP 0 0
$DS $((DEND - DS)) delay $DLOOP $DS 0 $DLOOP $DS 3000 $DLOOP $DS 0" >>"$LOG" 2>&1; then
	t "pool over dm-delay" dmsetup create tdmd --table "0 $DEND fvm-pool /dev/mapper/tdmdly"
	t "allocate p (2 slices), q (1) and map them" bash -c "
		dmsetup message tdmd 0 allocate p 2 && dmsetup message tdmd 0 allocate q 1 &&
		dmsetup create tdmd-p --table '0 $((2 * SS)) fvm /dev/mapper/tdmd p' &&
		dmsetup create tdmd-q --table '0 $SS fvm /dev/mapper/tdmd q'"
	# Byte offset on the device of vslice $2 of partition $1.
	poff() { "$VIRTZCTL" -j fvm info /dev/mapper/tdmd | jq ".partitions[] | select(.name==\"$1\") |
		.extents[] | select(.vslice <= $2 and $2 < .vslice + .count) | .offset + ($2 - .vslice) * $SLICE"; }
	P1=$(poff p 1) Q0=$(poff q 0)
	yes held | head -c $SLICE >"$WORK/held"
	yes stamp | head -c $SLICE >"$WORK/stamp"
	for what in "shrink p 1 1:$P1:tdmd-p:1" "destroy q:$Q0:tdmd-q:0"; do
		IFS=: read -r op off vdev vs <<<"$what"
		dd if="$WORK/held" of=/dev/mapper/$vdev bs=$SLICE seek="$vs" count=1 oflag=direct status=none &
		held=$!
		sleep 1
		t "$op while a write to it is held" dmsetup message tdmd 0 $op
		t "stamp the freed pslice on the raw device" \
			dd if="$WORK/stamp" of="$DLOOP" bs=$SLICE seek="$off" count=1 oflag=direct,seek_bytes status=none
		t "the held write completed (it was mapped before the $op)" wait $held
		t "the stamp survived: the $op waited for the held write" bash -c "
			dd if='$DLOOP' bs=$SLICE skip='$off' count=1 iflag=direct,skip_bytes status=none | cmp - '$WORK/stamp'"
	done
	t "remove delay volumes and pool" bash -c "dmsetup remove tdmd-p && dmsetup remove tdmd-q && dmsetup remove tdmd && dmsetup remove tdmdly"
else
	echo "# dm-delay unavailable: skipping the in-flight test"
	ok "# SKIP dm-delay unavailable"
fi

# --- write-zeroes: remapped like a write, split where slices part ----------------------
# Volume "a" gets vslices 0-1 on pslices 1-2 and 2-3 on pslices 4-5 ("b"
# takes pslice 3 in between), so a range over vslices 1 and 2 is split.
"$VIRTZCTL" fvm create "$WORK/z.img" --size 32M --slice-size 1M >>"$LOG" 2>&1 || bail "cannot make z.img"
ZIMG=$(newloop "$WORK/z.img") || bail "losetup z.img"
t "pool on a loop device (write-zeroes capable)" \
	dmsetup create tdmz --table "0 $(sectors "$ZIMG") fvm-pool $ZIMG"
t "a: 2 slices; b: 1 slice; a: 2 more after b" \
	bash -c "dmsetup message tdmz 0 allocate a 2 && dmsetup message tdmz 0 allocate b 1 && dmsetup message tdmz 0 extend a 2 2"
t "volumes a (6 vslices, 4 mapped) and b" bash -c "
	dmsetup create tdmz-a --table '0 $((6 * SS)) fvm /dev/mapper/tdmz a' &&
	dmsetup create tdmz-b --table '0 $SS fvm /dev/mapper/tdmz b'"
# write_zeroes_max_bytes of a block device (no udev: /dev/mapper/X is a node).
wzmax() { cat "/sys/dev/block/$(lsblk -dno MAJ:MIN "$1" | tr -d ' ')/queue/write_zeroes_max_bytes"; }
t "the loop device supports write-zeroes" test "$(wzmax "$ZIMG")" -gt 0
t "volume a advertises write-zeroes" test "$(wzmax /dev/mapper/tdmz-a)" -gt 0
t "volume a status: 4 slices" eq "$(st tdmz-a 2)" 4
head -c $((4 * SLICE)) /dev/urandom >"$WORK/za"
head -c $SLICE /dev/urandom >"$WORK/zb"
t "fill a and b" bash -c "wr() { dd if=\$1 of=\$2 bs=$SLICE count=\$3 oflag=direct conv=notrunc status=none; }
	wr '$WORK/za' /dev/mapper/tdmz-a 4 && wr '$WORK/zb' /dev/mapper/tdmz-b 1"
# fallocate --punch-hole on a block device is write-zeroes with no
# fallback to writing zero pages: it fails unless the op is passed down.
ZOFF=$((SLICE + SLICE / 2))
t "write-zeroes over vslices 1-2 (two runs on the device)" \
	fallocate -p -o $ZOFF -l $SLICE /dev/mapper/tdmz-a
cp "$WORK/za" "$WORK/za0"
dd if=/dev/zero of="$WORK/za0" bs=$((SLICE / 2)) seek=3 count=2 conv=notrunc status=none
t "a reads back zeroes there and its pattern elsewhere" \
	bash -c "dd if=/dev/mapper/tdmz-a bs=$SLICE count=4 iflag=direct status=none | cmp - '$WORK/za0'"
t "b, on the pslice between, is untouched" \
	bash -c "dd if=/dev/mapper/tdmz-b bs=$SLICE count=1 iflag=direct status=none | cmp - '$WORK/zb'"
t "the zeroes are on a's pslices on the raw device" bash -c "
	'$VIRTZCTL' fvm dump-slice '$ZIMG' a --vslice 2 --count 1 -o '$WORK/zdump' &&
	dd if='$WORK/za0' bs=$SLICE skip=2 count=1 status=none | cmp - '$WORK/zdump'"
f "write-zeroes reaching unmapped vslice 4 fails" \
	fallocate -p -o $((3 * SLICE)) -l $((2 * SLICE)) /dev/mapper/tdmz-a
t "... and left mapped vslice 3 alone" \
	bash -c "dd if=/dev/mapper/tdmz-a bs=$SLICE skip=3 count=1 iflag=direct status=none | cmp - <(dd if='$WORK/za0' bs=$SLICE skip=3 count=1 status=none)"
t "write-zeroes of all of b" fallocate -p -o 0 -l $SLICE /dev/mapper/tdmz-b
t "b reads back zeroes" bash -c "dd if=/dev/mapper/tdmz-b bs=$SLICE count=1 iflag=direct status=none | cmp - <(head -c $SLICE /dev/zero)"
t "a kept its data" bash -c "dd if=/dev/mapper/tdmz-a bs=$SLICE count=4 iflag=direct status=none | cmp - '$WORK/za0'"
t "remove z volumes and pool" bash -c "dmsetup remove tdmz-a && dmsetup remove tdmz-b && dmsetup remove tdmz"

# A pool device without write-zeroes (brd): the volume does not offer it,
# so the no-fallback form fails and BLKZEROOUT writes zero pages instead.
if [ -d /sys/module/brd ]; then
	echo "# brd is already loaded: skipping the no-write-zeroes case"
	ok "# SKIP brd in use"
else
	modprobe brd rd_nr=1 rd_size=16384 max_part=0 2>>"$LOG"
	t "brd has no write-zeroes" test "$(wzmax /dev/ram0)" = 0
	t "pool and volume on brd" bash -c "
		'$VIRTZCTL' fvm create /dev/ram0 --slice-size 1M --force &&
		dmsetup create tdmr --table \"0 \$(blockdev --getsz /dev/ram0) fvm-pool /dev/ram0\" &&
		dmsetup message tdmr 0 allocate r 2 &&
		dmsetup create tdmr-r --table '0 $((2 * SS)) fvm /dev/mapper/tdmr r'"
	t "the volume does not advertise write-zeroes" test "$(wzmax /dev/mapper/tdmr-r)" = 0
	t "fill it" dd if="$WORK/za" of=/dev/mapper/tdmr-r bs=$SLICE count=2 oflag=direct status=none
	f "write-zeroes without fallback is refused" fallocate -p -o 0 -l $SLICE /dev/mapper/tdmr-r
	t "BLKZEROOUT falls back to writing zeroes" blkdiscard -z -o $SLICE -l $SLICE /dev/mapper/tdmr-r
	t "slice 0 kept its data, slice 1 reads zeroes" bash -c "
		dd if=/dev/mapper/tdmr-r bs=$SLICE count=1 iflag=direct status=none | cmp - <(head -c $SLICE '$WORK/za') &&
		dd if=/dev/mapper/tdmr-r bs=$SLICE skip=1 count=1 iflag=direct status=none | cmp - <(head -c $SLICE /dev/zero)"
	t "remove brd pool" bash -c "dmsetup remove tdmr-r && dmsetup remove tdmr && rmmod brd"
fi

echo "1..$n"
[ $fails -eq 0 ]
