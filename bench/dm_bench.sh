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
# On a shared host the IOPS of one run swing by 2x, so each repetition
# runs fvm and dm-linear back to back (in alternating order) and the
# figure to judge is the median of those paired ratios, printed with its
# spread; "best" is the best IOPS of each device over the repetitions.
#
# With BENCH_MODE=concurrent, fvm and dm-linear run at the same time
# instead, as two jobs of one fio (dm-thin is then left out): whatever
# slows the machine down during a run slows both, so each run's ratio is
# far steadier than that of two runs one after the other.
#
# BENCH_REPS (default 5) repetitions of BENCH_RUNTIME (default 3) seconds;
# BENCH_THIN=0 leaves dm-thin out; BENCH_JOBS picks lines, e.g.
# BENCH_JOBS="randread:32 randwrite:1" (default: all four).
#
# Run it in the test guest, with virtz_fvm loaded:
#   scripts/vm/run.sh --results build/vm-bench -- bash -c \
#     'modprobe dm_mod && insmod kmod/virtz_fvm/virtz_fvm.ko && bash bench/dm_bench.sh'
set -eu
export DM_DISABLE_UDEV=1
TOP=${VIRTZ_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
VIRTZCTL=${VIRTZCTL:-$TOP/build/virtzctl}
RUNTIME=${BENCH_RUNTIME:-3}
REPS=${BENCH_REPS:-5}
THIN=${BENCH_THIN:-1}
MODE=${BENCH_MODE:-paired}
case $MODE in
paired) ;;
concurrent) THIN=0 ;;
*) echo "BENCH_MODE: paired or concurrent, not '$MODE'" >&2; exit 2 ;;
esac
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

declare -A DEV=([fvm]=/dev/mapper/bfvm-vol [linear]=/dev/mapper/blin)
TARGETS=(fvm linear)
if [ "$THIN" = 1 ]; then
	dd if=/dev/zero of=/dev/ram2 bs=1M count=16 oflag=direct status=none
	dmsetup create btpool --table "0 $(blockdev --getsz /dev/ram3) thin-pool /dev/ram2 /dev/ram3 128 0 1 skip_block_zeroing"
	dmsetup message btpool 0 create_thin 0
	dmsetup create bthin --table "0 $VOL_SECT thin /dev/mapper/btpool 0"
	DEV[thin]=/dev/mapper/bthin
	TARGETS+=(thin)
fi

for t in "${TARGETS[@]}"; do
	[ -b "${DEV[$t]}" ] || { echo "${DEV[$t]} is not a block device" >&2; exit 1; }
	# Every block written once: thin is provisioned, all are warm.
	dd if=/dev/zero of="${DEV[$t]}" bs=1M count=$VOL_MB oflag=direct status=none
done

# --- fio, interleaved so that a noisy host hits all three alike -------------------
declare -A IOPS RATIOS
jobs=("randread 1" "randread 32" "randwrite 1" "randwrite 32")
if [ -n "${BENCH_JOBS:-}" ]; then
	jobs=()
	for j in $BENCH_JOBS; do
		[[ $j =~ ^rand(read|write):[0-9]+$ ]] || { echo "BENCH_JOBS: bad '$j'" >&2; exit 2; }
		jobs+=("${j/:/ }")
	done
fi
for j in "${jobs[@]}"; do
	set -- $j
	rw=$1 qd=$2
	for rep in $(seq 1 "$REPS"); do
		if [ "$MODE" = concurrent ]; then
			out=$(fio --ioengine=io_uring --iodepth="$qd" --direct=1 \
				--rw="$rw" --bs=4k --size=${VOL_MB}M \
				--runtime="$RUNTIME" --time_based --output-format=json \
				--name=fvm --filename="${DEV[fvm]}" \
				--name=linear --filename="${DEV[linear]}")
			kind=read; [ "$rw" = randwrite ] && kind=write
			f=$(jq ".jobs[0].$kind.iops | floor" <<<"$out")
			l=$(jq ".jobs[1].$kind.iops | floor" <<<"$out")
			[ "${IOPS[fvm,$j]:-0}" -ge "$f" ] || IOPS[fvm,$j]=$f
			[ "${IOPS[linear,$j]:-0}" -ge "$l" ] || IOPS[linear,$j]=$l
			RATIOS[$j]+=" $(awk -v a="$f" -v b="$l" 'BEGIN {printf "%.3f", a / b}')"
			continue
		fi
		order=(fvm linear)
		[ $((rep % 2)) = 0 ] && order=(linear fvm)
		[ "$THIN" = 1 ] && order+=(thin)
		declare -A got=()
		for t in "${order[@]}"; do
			out=$(fio --name=b --filename="${DEV[$t]}" --rw="$rw" --bs=4k \
				--ioengine=io_uring --iodepth="$qd" --direct=1 \
				--size=${VOL_MB}M --runtime="$RUNTIME" --time_based \
				--output-format=json)
			kind=read; [ "$rw" = randwrite ] && kind=write
			v=$(jq ".jobs[0].$kind.iops | floor" <<<"$out")
			got[$t]=$v
			# Best of REPS: the run least disturbed by the host.
			[ "${IOPS[$t,$j]:-0}" -ge "$v" ] || IOPS[$t,$j]=$v
		done
		RATIOS[$j]+=" $(awk -v a="${got[fvm]}" -v b="${got[linear]}" 'BEGIN {printf "%.3f", a / b}')"
	done
done

# "median min max" of a list of numbers.
stats() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR] = $1}
	END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	     printf "%.3f %.3f %.3f", m, v[1], v[NR]}'; }

# --- metadata commit latency ---------------------------------------------------------
t0=$(date +%s%N)
for i in $(seq 1 20); do dmsetup message bfvm 0 extend grow "$i" 1; done
EXT_MS=$(ms_since "$t0")
if [ "$THIN" = 1 ]; then
	t0=$(date +%s%N)
	for i in $(seq 1 20); do dmsetup message btpool 0 create_thin "$i"; done
	THIN_MS=$(ms_since "$t0")
fi

for d in bfvm-vol bfvm blin bthin btpool; do
	[ -b /dev/mapper/$d ] && dmsetup remove $d
done

printf '%d %s runs of %d s each; IOPS are the best of them\n' "$REPS" "$MODE" "$RUNTIME"
printf '%-16s %9s %9s %9s %11s %15s %10s\n' "4 KiB IOPS" fvm dm-linear dm-thin \
	"fvm/linear" "(min..max)" "fvm/thin"
for j in "${jobs[@]}"; do
	f=${IOPS[fvm,$j]} l=${IOPS[linear,$j]} t=${IOPS[thin,$j]:-0}
	read -r med lo hi <<<"$(stats "${RATIOS[$j]}")"
	ft=-
	[ "$t" -gt 0 ] && ft=$(awk -v a="$f" -v b="$t" 'BEGIN {printf "%.3f", a / b}')
	printf '%-16s %9d %9d %9d %11s %15s %10s\n' "${j/ / QD}" "$f" "$l" "$t" \
		"$med" "($lo..$hi)" "$ft"
done
echo "fvm/linear: median of the per-run ratios; target >= 0.95 on every line"
for j in "${jobs[@]}"; do
	echo "  ${j/ / QD} runs:$(tr ' ' '\n' <<<"${RATIOS[$j]}" | grep . | sort -g | tr '\n' ' ' | sed 's/^/ /')"
done
echo
echo "metadata commit, 20 in a row (each a dmsetup message):"
printf '  fvm extend (durable)      %6d ms total, %5d ms each\n' "$EXT_MS" $((EXT_MS / 20))
if [ "$THIN" = 1 ]; then
	printf '  dm-thin create_thin       %6d ms total, %5d ms each\n' "$THIN_MS" $((THIN_MS / 20))
	printf '  ratio fvm/thin            %s\n' "$(awk -v a="$EXT_MS" -v b="$THIN_MS" 'BEGIN {printf "%.3f", a / b}')"
fi
