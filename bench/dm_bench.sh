#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dm-fvm benchmark (not a test): fio 4 KiB random read and random write at
# queue depth 1 and 32 on the same RAM disk (brd), through
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
RUNTIME=${BENCH_RUNTIME:-5}
VOL_MB=256
VOL_SECT=$((VOL_MB * 2048))
RAM_MB=1024

modprobe brd rd_nr=1 rd_size=$((RAM_MB * 1024)) max_part=0
modprobe dm-thin-pool
RAM=/dev/ram0
[ -b $RAM ] || { echo "no $RAM" >&2; exit 1; }

declare -A IOPS
jobs=("randread 1" "randread 32" "randwrite 1" "randwrite 32")

run_fio() {	# run_fio NAME DEV
	local name=$1 dev=$2 j rw qd out
	[ -b "$dev" ] || { echo "$dev is not a block device" >&2; exit 1; }
	for j in "${jobs[@]}"; do
		set -- $j
		rw=$1 qd=$2
		out=$(fio --name=b --filename="$dev" --rw="$rw" --bs=4k \
			--ioengine=io_uring --iodepth="$qd" --direct=1 \
			--size=${VOL_MB}M --runtime="$RUNTIME" --time_based \
			--output-format=json)
		if [ "$rw" = randread ]; then
			IOPS[$name,$j]=$(jq '.jobs[0].read.iops | floor' <<<"$out")
		else
			IOPS[$name,$j]=$(jq '.jobs[0].write.iops | floor' <<<"$out")
		fi
	done
}

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# --- fvm ----------------------------------------------------------------------------
"$VIRTZCTL" fvm create $RAM --slice-size 8M --force >/dev/null
dmsetup create bfvm --table "0 $(blockdev --getsz $RAM) fvm-pool $RAM"
dmsetup message bfvm 0 allocate vol $((VOL_MB / 8)) >/dev/null
dmsetup message bfvm 0 allocate grow 1 >/dev/null
dmsetup create bfvm-vol --table "0 $VOL_SECT fvm /dev/mapper/bfvm vol"
dd if=/dev/zero of=/dev/mapper/bfvm-vol bs=1M count=$VOL_MB oflag=direct status=none
run_fio fvm /dev/mapper/bfvm-vol
t0=$(date +%s%N)
for i in $(seq 1 20); do dmsetup message bfvm 0 extend grow "$i" 1; done
EXT_MS=$(ms_since "$t0")
dmsetup remove bfvm-vol
dmsetup remove bfvm

# --- dm-linear ------------------------------------------------------------------------
dmsetup create blin --table "0 $VOL_SECT linear $RAM 0"
run_fio linear /dev/mapper/blin
dmsetup remove blin

# --- dm-thin (provisioned) -------------------------------------------------------------
META=65536	# 32 MiB of metadata at the start of the RAM disk
dd if=/dev/zero of=$RAM bs=1M count=32 oflag=direct status=none
dmsetup create btmeta --table "0 $META linear $RAM 0"
dmsetup create btdata --table "0 $((VOL_SECT + 2 * 65536)) linear $RAM $META"
dmsetup create btpool --table "0 $((VOL_SECT + 2 * 65536)) thin-pool /dev/mapper/btmeta /dev/mapper/btdata 128 0 1 skip_block_zeroing"
dmsetup message btpool 0 create_thin 0
dmsetup create bthin --table "0 $VOL_SECT thin /dev/mapper/btpool 0"
dd if=/dev/zero of=/dev/mapper/bthin bs=1M count=$VOL_MB oflag=direct status=none
run_fio thin /dev/mapper/bthin
t0=$(date +%s%N)
for i in $(seq 1 20); do dmsetup message btpool 0 create_thin "$i"; done
THIN_MS=$(ms_since "$t0")
dmsetup remove bthin
dmsetup remove btpool
dmsetup remove btdata
dmsetup remove btmeta

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
