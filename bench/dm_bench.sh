#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-fvm benchmark (not a test): fio 4 KiB random read and random write at
# queue depth 1 and 32 on RAM disks of one brd module, through
#   an fvm volume          (fvm-pool + fvm, 8 MiB slices)
#   dm-linear              (the floor: a plain remap)
#   dm-thin                (the volume written in full before the run)
# and the ratios fvm/dm-linear and fvm/dm-thin.  Then the latency of a
# metadata commit: fvm "extend" (returns once durable) against dm-thin's
# "create_thin" message.  Only ratios mean anything: numbers under QEMU's
# TCG are far from a real machine's.
#
# Run it in the test guest, with virtz_fvm loaded:
#   scripts/vm/run.sh --results build/vm-bench -- bash -c \
#     'modprobe dm_mod && insmod kmod/virtz_fvm/virtz_fvm.ko && bash bench/dm_bench.sh'
set -eu
export DM_DISABLE_UDEV=1
TOP=${VIRTZ_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
VIRTZCTL=${VIRTZCTL:-$TOP/build/virtzctl}
RUNTIME=${BENCH_RUNTIME:-3}
REPS=${BENCH_REPS:-3}
VOL_MB=256
VOL_SECT=$((VOL_MB * 2048))
RAM_MB=512

# One brd module, four RAM disks of one kind: fvm on ram0, dm-linear on
# ram1, dm-thin with its metadata on ram2 and its data on ram3.
modprobe brd rd_nr=4 rd_size=$((RAM_MB * 1024)) max_part=0
modprobe dm-thin-pool
for r in 0 1 2 3; do [ -b /dev/ram$r ] || { echo "no /dev/ram$r" >&2; exit 1; }; done

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# --- set up all three --------------------------------------------------------------
"$VIRTZCTL" fvm create /dev/ram0 --slice-size 8M --force >/dev/null
dmsetup create bfvm --table "0 $(blockdev --getsz /dev/ram0) fvm-pool /dev/ram0"
dmsetup message bfvm 0 allocate vol $((VOL_MB / 8)) >/dev/null
dmsetup message bfvm 0 allocate grow 1 >/dev/null
dmsetup create bfvm-vol --table "0 $VOL_SECT fvm /dev/mapper/bfvm vol"

dmsetup create blin --table "0 $VOL_SECT linear /dev/ram1 0"

dd if=/dev/zero of=/dev/ram2 bs=1M count=16 oflag=direct status=none
dmsetup create btpool --table "0 $(blockdev --getsz /dev/ram3) thin-pool /dev/ram2 /dev/ram3 128 0 1 skip_block_zeroing"
dmsetup message btpool 0 create_thin 0
dmsetup create bthin --table "0 $VOL_SECT thin /dev/mapper/btpool 0"

declare -A DEV=([fvm]=/dev/mapper/bfvm-vol [linear]=/dev/mapper/blin [thin]=/dev/mapper/bthin)
for t in fvm linear thin; do
	[ -b "${DEV[$t]}" ] || { echo "${DEV[$t]} is not a block device" >&2; exit 1; }
	# Every block written once: thin is provisioned, all are warm.
	dd if=/dev/zero of="${DEV[$t]}" bs=1M count=$VOL_MB oflag=direct status=none
done

# --- fio, interleaved so that a noisy host hits all three alike -------------------
declare -A IOPS
jobs=("randread 1" "randread 32" "randwrite 1" "randwrite 32")
for j in "${jobs[@]}"; do
	set -- $j
	rw=$1 qd=$2
	for rep in $(seq 1 "$REPS"); do
		for t in fvm linear thin; do
			out=$(fio --name=b --filename="${DEV[$t]}" --rw="$rw" --bs=4k \
				--ioengine=io_uring --iodepth="$qd" --direct=1 \
				--size=${VOL_MB}M --runtime="$RUNTIME" --time_based \
				--output-format=json)
			kind=read; [ "$rw" = randwrite ] && kind=write
			v=$(jq ".jobs[0].$kind.iops | floor" <<<"$out")
			# Best of REPS: the run least disturbed by the host.
			[ "${IOPS[$t,$j]:-0}" -ge "$v" ] || IOPS[$t,$j]=$v
		done
	done
done

# --- metadata commit latency ---------------------------------------------------------
t0=$(date +%s%N)
for i in $(seq 1 20); do dmsetup message bfvm 0 extend grow "$i" 1; done
EXT_MS=$(ms_since "$t0")
t0=$(date +%s%N)
for i in $(seq 1 20); do dmsetup message btpool 0 create_thin "$i"; done
THIN_MS=$(ms_since "$t0")

for d in bfvm-vol bfvm blin bthin btpool; do dmsetup remove $d; done

printf 'best of %d runs of %d s each\n' "$REPS" "$RUNTIME"
printf '%-16s %10s %10s %10s %12s %12s\n' "4 KiB IOPS" fvm dm-linear dm-thin fvm/linear fvm/thin
for j in "${jobs[@]}"; do
	f=${IOPS[fvm,$j]} l=${IOPS[linear,$j]} t=${IOPS[thin,$j]}
	printf '%-16s %10d %10d %10d %12s %12s\n' "${j/ / QD}" "$f" "$l" "$t" \
		"$(awk -v a="$f" -v b="$l" 'BEGIN {printf "%.3f", a / b}')" \
		"$(awk -v a="$f" -v b="$t" 'BEGIN {printf "%.3f", a / b}')"
done
echo
echo "metadata commit, 20 in a row (each a dmsetup message):"
printf '  fvm extend (durable)      %6d ms total, %5d ms each\n' "$EXT_MS" $((EXT_MS / 20))
printf '  dm-thin create_thin       %6d ms total, %5d ms each\n' "$THIN_MS" $((THIN_MS / 20))
printf '  ratio fvm/thin            %s\n' "$(awk -v a="$EXT_MS" -v b="$THIN_MS" 'BEGIN {printf "%.3f", a / b}')"
