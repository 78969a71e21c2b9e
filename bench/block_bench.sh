#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Block FIFO sessions against io_uring, on the same device in the same
# run: 4 KiB random reads and writes at QD1 and QD32, through
#   session   `virtzctl block bench` (one session, anonymous-memory VMO)
#   memfd     the same with a memfd VMO (as virtzd attaches guest RAM)
#   fio       fio's io_uring engine, O_DIRECT, fixed buffers and files
#   uring     bench/block_uring.c, a plain liburing loop, O_DIRECT,
#             registered buffers and file
# plus sequential writes in transactions of 4 (--group 4) against the
# same writes one completion each through io_uring.  Prints IOPS and the
# ratios session/fio, session/uring and memfd/fio.  Only the ratios mean
# anything: the guest runs under TCG.
#
# On the host (builds, then boots the test VM):   bench/block_bench.sh
# Inside a guest with virtz_fvm loaded:            bench/block_bench.sh --here
# Each figure is the best of REPS runs, the engines taking turns, so a
# burst of load from elsewhere on the machine hits them alike.
# Environment: SECONDS_PER=3 per measurement; REPS=3; DEVICES="brd fvm".
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECONDS_PER:-3}
REPS=${REPS:-3}
DEVICES=${DEVICES:-brd fvm}

if [ "${1:-}" != --here ]; then
	make -s -C "$TOP" all "$TOP/build/bench/block_uring" || exit 1
	exec "$TOP/scripts/vm/run.sh" --results "$TOP/build/vm-bench-block" \
		--timeout 3600 -e SECONDS_PER="$SECS" -e REPS="$REPS" \
		-e DEVICES="$DEVICES" -v -- \
		bash -c "scripts/load-modules.sh virtz_fvm && bench/block_bench.sh --here"
fi

export DM_DISABLE_UDEV=1
VIRTZCTL=${VIRTZCTL:-$TOP/build/virtzctl}
URING=$TOP/build/bench/block_uring
BRD_LOADED=0 POOL=

cleanup() {
	[ -n "$POOL" ] && { dmsetup remove "$POOL-data"; dmsetup remove "$POOL"; } 2>/dev/null
	[ $BRD_LOADED = 1 ] && rmmod brd
}
trap cleanup EXIT

# Two 256 MiB RAM disks: ram0 measured bare, ram1 under the fvm pool.
load_brd() {
	if [ ! -d /sys/module/brd ]; then
		modprobe brd rd_nr=2 rd_size=262144 max_part=0 || return 1
		BRD_LOADED=1
	fi
}
setup_brd() {
	load_brd && [ -b /dev/ram0 ] && echo /dev/ram0
}

# An fvm volume of 200 slices on ram1, through the dm targets of
# virtz_fvm.  (On a loop device over a file in the guest's tmpfs, as
# before, the loop worker cost ten times the rest and hid the session.)
setup_fvm() {
	dmsetup targets | grep -q '^fvm-pool' || return 1
	load_brd && [ -b /dev/ram1 ] || return 1
	"$VIRTZCTL" fvm create /dev/ram1 --slice-size 1M --force >/dev/null ||
		return 1
	POOL=vzbench-$$
	dmsetup create $POOL --table "0 $(blockdev --getsz /dev/ram1) fvm-pool /dev/ram1" &&
		dmsetup message $POOL 0 allocate data 200 >/dev/null &&
		dmsetup create $POOL-data --table "0 $((200 * 2048)) fvm /dev/mapper/$POOL data" ||
		return 1
	[ -b /dev/mapper/$POOL-data ] && echo /dev/mapper/$POOL-data
}

session() {	# session DEV RW QD GROUP [--memfd]
	"$VIRTZCTL" -j block bench "$1" --rw "$2" --qd "$3" --group "$4" \
		--seconds "$SECS" ${5:-} | jq -r .iops
}
fio_uring() {	# fio_uring DEV RW QD
	fio --name=b --filename="$1" --ioengine=io_uring --direct=1 --rw="$2" \
		--bs=4k --iodepth="$3" --runtime="$SECS" --time_based \
		--fixedbufs --registerfiles --hipri=0 --output-format=json 2>/dev/null |
		jq -r "[.jobs[0].read.iops, .jobs[0].write.iops] | add | floor"
}
uring() {	# uring DEV RW QD
	"$URING" "$1" "$2" 4096 "$3" "$SECS" | jq -r .iops
}
max() { [ "${1:-0}" -gt "${2:-0}" ] 2>/dev/null && echo "$1" || echo "${2:-0}"; }
# measure DEV RW QD [GROUP]: sets s, m, f, u to the best of REPS turns.
measure() {
	local r
	s=0 m=0 f=0 u=0
	for ((r = 0; r < REPS; r++)); do
		s=$(max "$(session "$1" "$2" "$3" "${4:-0}")" $s)
		m=$(max "$(session "$1" "$2" "$3" "${4:-0}" --memfd)" $m)
		f=$(max "$(fio_uring "$1" "$2" "$3")" $f)
		u=$(max "$(uring "$1" "$2" "$3")" $u)
	done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

line() {	# line DEVICE WORKLOAD QD
	printf "%-5s %-10s %-3s %8s %8s %8s %8s %6s %7s %6s\n" "$1" "$2" "$3" \
		"$s" "$m" "$f" "$u" "$(ratio "$s" "$f")" "$(ratio "$s" "$u")" \
		"$(ratio "$m" "$f")"
}

printf "%-5s %-10s %-3s %8s %8s %8s %8s %6s %7s %6s\n" device workload qd \
	session memfd fio uring s/fio s/uring m/fio
for d in $DEVICES; do
	case $d in
	brd) dev=$(setup_brd) ;;
	fvm) dev=$(setup_fvm) ;;
	*) dev= ;;
	esac
	if [ -z "$dev" ]; then
		echo "# $d: not available, skipped"
		continue
	fi
	for rw in randread randwrite; do
		for qd in 1 32; do
			measure "$dev" $rw $qd
			line "$d" $rw $qd
		done
	done
	measure "$dev" write 32 4
	line "$d" write-grp4 32
done
