#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest disk throughput: the same load inside a nested guest, on the same
# brd backing, in one run, through
#   session   virtzd, --disk ...,backend=session (/dev/virtz-block, zero-copy)
#   uring     virtzd, --disk ...,backend=file (io_uring, cache=none)
#   qemu      QEMU, -drive ...,if=virtio,cache=none,aio=io_uring
# Load: 4 KiB random read and write at QD1 and QD32, 1 MiB sequential
# read and write at QD4, O_DIRECT in the guest.  Prints IOPS and MiB/s per
# line and the ratios session/qemu and uring/qemu.  Only the ratios mean
# anything: the outer test VM runs under TCG.
#
# The load generator is bench/vblk_guestio.c (static, Linux AIO): fio and
# its shared libraries do not fit the nested guest's busybox initramfs.
#
# On the host (builds, then boots the test VM):   bench/vblk_bench.sh
# Inside the test VM, modules loaded:              bench/vblk_bench.sh --here
# Environment: SECONDS_PER=5 per measurement, ROUNDS=2 (each round boots
# the three engines in turn; each line takes the best round).  In the test
# VM it sets shmem_enabled=advise (SHMEM_THP=...) so that virtzd's guest
# RAM has 2 MiB pages as QEMU's anonymous RAM has.
#
# First full run (2026-11-21, SECONDS_PER=3, the test VM sharing 2 cores
# with a CI run, so noisy): session/qemu 1.00 randread qd1, 1.06 randread
# qd32, 0.83 randwrite qd1, 0.74 randwrite qd32, 0.89 1 MiB read, 0.36
# 1 MiB write; uring/qemu 0.23..0.94.  The target (>= 1.0 on every line)
# is not met.  Earlier runs printed "I/O error -5": requests answered from
# an uncleared error field (fixed in vblk_parse()).  After EVENT_IDX,
# batched interrupts, cache=none and merged segments (same conditions):
# session/qemu 0.99 0.82 at QD1, 1.62 1.04 at QD32, 1.01 1.60 at 1 MiB;
# uring/qemu 0.85 0.78, 1.40 1.32, 1.04 1.37 (Documentation/admin-guide/
# guest-disks.rst).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
SECS=${SECONDS_PER:-5}
ROUNDS=${ROUNDS:-2}
GUESTIO=$TOP/build/bench/vblk_guestio

if [ "${1:-}" != --here ]; then
	make -s -C "$TOP" user "$GUESTIO" || exit 1
	exec "$TOP/scripts/vm/run.sh" --results "$TOP/build/vm-bench-vblk" \
		--timeout 5400 -e SECONDS_PER="$SECS" -e ROUNDS="$ROUNDS" \
		-e VBLK_JOBS="${VBLK_JOBS:-}" \
		-e ENGINES="${ENGINES:-session uring qemu${ALT_VIRTZD:+ salt ualt}}" \
		-e KEEP="${KEEP:-}" -e PERF="${PERF:-}" -e CPUSTAT="${CPUSTAT:-}" \
		-e ALT_VIRTZD="${ALT_VIRTZD:-}" -v -- \
		bash -c "scripts/load-modules.sh virtz_fvm && modprobe kvm_amd && bench/vblk_bench.sh --here"
fi

VIRTZD=$TOP/build/virtzd
KERNEL=$(ls -1 /boot/vmlinuz-6.12*-amd64 | sort -V | tail -n1)
WORK=$(mktemp -d /tmp/vblk_bench.XXXXXX)
JOBS=("randread 4096 1" "randread 4096 32" "randwrite 4096 1" "randwrite 4096 32"
      "read 1048576 4" "write 1048576 4")
# VBLK_JOBS="read 1048576 4;write 1048576 4" runs only those lines;
# ENGINES="session uring qemu" (the default) picks the engines; KEEP=DIR
# keeps each boot's console and stderr there; PERF=DIR records each boot
# system-wide with perf (cpu-clock) into DIR/ENGINE.ROUND.data;
# ALT_VIRTZD=PATH adds the engines salt and ualt: the session and file
# backends of another virtzd build, for an A/B comparison in one run.
[ -n "${VBLK_JOBS:-}" ] && IFS=';' read -ra JOBS <<<"$VBLK_JOBS"
ENGINES=${ENGINES:-session uring qemu${ALT_VIRTZD:+ salt ualt}}
trap 'rm -rf "$WORK"' EXIT

[ -x "$GUESTIO" ] || { echo "vblk_bench: build $GUESTIO first" >&2; exit 1; }
modprobe brd rd_nr=1 rd_size=131072 2>/dev/null
[ -b /dev/ram0 ] || { echo "vblk_bench: no /dev/ram0 (brd)" >&2; exit 1; }

# The nested guest: mkguest.sh's initramfs, with an /init that runs the
# jobs on /dev/vda and prints each result after VBLK-BENCH.
"$TOP/selftests/guest/mkguest.sh" "$WORK/base.cpio" || exit 1
mkdir -p "$WORK/over/bin"
cp "$GUESTIO" "$WORK/over/bin/vblk_guestio"
{
	echo '#!/bin/sh'
	echo 'export PATH=/bin'
	echo 'mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev'
	echo 'for m in $(cat /lib/modules/order); do insmod /lib/modules/$m 2>/dev/null; done'
	echo 'i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done'
	for j in "${JOBS[@]}"; do
		echo "echo \"VBLK-BENCH \$(vblk_guestio /dev/vda $j $SECS 2>&1)\""
	done
	echo 'echo VBLK-BENCH-DONE'
	echo 'while :; do sleep 10; done'
} >"$WORK/over/init"
chmod 755 "$WORK/over/init"
(cd "$WORK/over" && find . | cpio -o -H newc --quiet -R 0:0) >"$WORK/over.cpio"
cat "$WORK/base.cpio" "$WORK/over.cpio" >"$WORK/initrd.cpio"

# CPUSTAT=1: for each job, the CPU time (ticks of 10 ms) each thread of
# the engine's process took, and the test VM's idle time, from one job's
# end to the next (so the first includes the boot).  Threads: vCPUs, I/O
# threads, io_uring workers (iou-wrk-*).
cpu_snap() {
	local t
	for t in /proc/$1/task/*; do
		awk '{ sub(/^[0-9]+ \(/, ""); n = index($0, ") ");
		       c = substr($0, 1, n - 1); gsub(/ /, "_", c);
		       $0 = substr($0, n + 2);
		       print "'"${t##*/}"'", c, $12 + $13 }' "$t/stat" 2>/dev/null
	done
	awk '$1 == "cpu" { print "idle", "idle", $5 }' /proc/stat
}
cpu_report() {
	cpu_snap $2 >"$WORK/cpu.now"
	echo "vblk_bench: cpu $1: $(awk 'NR == FNR { p[$1] = $3; next }
		{ d = $3 - p[$1]; if (d > 0) printf "%s=%d ", $2, d }' \
		"$WORK/cpu.prev" "$WORK/cpu.now")" >&2
	mv "$WORK/cpu.now" "$WORK/cpu.prev"
}

# run_until_done NAME COMMAND...: runs COMMAND, its console in NAME.out,
# until the guest prints VBLK-BENCH-DONE (or 15 minutes pass).
run_until_done() {
	local name=$1 i
	shift
	local try pid i
	for try in 1 2; do
		local perf=
		if [ -n "${PERF:-}" ]; then
			mkdir -p "$PERF"
			perf record -q -a -g -F 499 -e cpu-clock \
				-o "$PERF/$name.data" >/dev/null 2>&1 &
			perf=$!
		fi
		"$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
		pid=$!
		local seen=0 now
		[ -n "${CPUSTAT:-}" ] && cpu_snap $pid >"$WORK/cpu.prev"
		for ((i = 0; i < 900; i++)); do
			if [ -n "${CPUSTAT:-}" ]; then
				now=$(grep -c '^VBLK-BENCH ' "$WORK/$name.out" 2>/dev/null)
				if ((now > seen)); then
					seen=$now
					cpu_report "$name job $now" $pid
				fi
			fi
			grep -q VBLK-BENCH-DONE "$WORK/$name.out" 2>/dev/null && break
			kill -0 $pid 2>/dev/null || break
			# A nested boot that hangs (it happens under TCG) is
			# given up after 300 s without a result, and retried.
			((i >= 300)) && ! grep -q "^VBLK-BENCH " "$WORK/$name.out" && break
			# Progress: the guest's last line every 30 s.
			((i % 30 == 29)) && echo "vblk_bench: $name ${i}s: $(tr -d '\r' <"$WORK/$name.out" | grep -v '^$' | tail -n1 | cut -c1-120)" >&2
			sleep 1
		done
		[ -n "$perf" ] && kill -INT $perf && wait $perf
		grep -q VBLK-BENCH-DONE "$WORK/$name.out" && break
		# virtzd prints its vCPUs' state on SIGUSR2.
		kill -USR2 $pid 2>/dev/null && sleep 2
		kill $pid 2>/dev/null
		wait $pid 2>/dev/null
		echo "vblk_bench: $name (try $try) did not finish:"
		tail -n 5 "$WORK/$name.err" "$WORK/$name.out"
	done
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
}

# Guest RAM in 2 MiB pages for both: QEMU's anonymous RAM has them under
# Debian's transparent_hugepage=always; virtzd's memfd needs shmem THP on
# request (Documentation/admin-guide/virtzd.rst, "Memory").
THP=/sys/kernel/mm/transparent_hugepage
[ -w $THP/shmem_enabled ] && echo "${SHMEM_THP:-advise}" >$THP/shmem_enabled
echo "vblk_bench: THP $(cat $THP/enabled); shmem $(cat $THP/shmem_enabled); $ROUNDS round(s) of ${SECS} s per job"

# One idle KVM VM held for the whole run, as selftests/vm/run.sh does:
# guests coming and going then flip none of KVM's static keys, whose text
# patching the test VM's TCG now and then runs stale (an int3 Oops in
# __apic_accept_irq killed a run without it).
python3 "$TOP/selftests/guest/kvm_keeper.py" &
keeper=$!
trap 'kill $keeper 2>/dev/null; rm -rf "$WORK"' EXIT

CMDLINE="console=ttyS0 quiet reboot=k panic=-1"
for ((r = 1; r <= ROUNDS; r++)); do
	# The engines in the order ENGINES names them, QEMU last.
	for be in $ENGINES; do
		[[ " session uring salt ualt " == *" $be "* ]] || continue
		b=session; [[ $be == uring || $be == ualt ]] && b=file
		bin=$VIRTZD; [[ $be == ?alt ]] && bin=$ALT_VIRTZD
		run_until_done $be.$r "$bin" --kernel "$KERNEL" \
			--initrd "$WORK/initrd.cpio" --memory 256 \
			--cmdline "$CMDLINE" --console \
			--disk "id=bench,file=/dev/ram0,backend=$b"
	done
	[[ " $ENGINES " == *" qemu "* ]] || continue
	run_until_done qemu.$r qemu-system-x86_64 -enable-kvm -cpu host -m 256 -smp 1 \
		-kernel "$KERNEL" -initrd "$WORK/initrd.cpio" -append "$CMDLINE" \
		-nodefaults -display none -serial stdio -no-reboot \
		-drive file=/dev/ram0,if=virtio,format=raw,cache=none,aio=io_uring
done

[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$WORK"/*.out "$WORK"/*.err "$KEEP"/ 2>/dev/null

# value ENGINE MODE BS QD FIELD: the best of the rounds.
value() {
	cat "$WORK/$1".*.out 2>/dev/null | tr -d '\r' |
		awk -v m="$2" -v b="$3" -v q="$4" -v f="$5" \
		'$1 == "VBLK-BENCH" && $2 == m && $3 == b && $4 == q {
			for (i = 5; i < NF; i++) if ($i == f) print $(i + 1) }' |
		sort -g | tail -n1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# table A B: each job's best figures for engines A and B and QEMU, and
# the ratios A/qemu and B/qemu.
table() {
	local a=$1 b=$2 j f x y q
	printf "%-22s %10s %10s %10s %8s %8s\n" "job (O_DIRECT, guest)" "$a" "$b" qemu \
		"${a:0:2}/qemu" "${b:0:2}/qemu"
	for j in "${JOBS[@]}"; do
		set -- $j
		f=iops; [ "$2" -ge 1048576 ] && f=mibps
		x=$(value "$a" "$1" "$2" "$3" $f)
		y=$(value "$b" "$1" "$2" "$3" $f)
		q=$(value qemu "$1" "$2" "$3" $f)
		printf "%-22s %10s %10s %10s %8s %8s\n" "$1 $(($2 / 1024))k qd$3 $f" \
			"${x:--}" "${y:--}" "${q:--}" "$(ratio "$x" "$q")" "$(ratio "$y" "$q")"
	done
}

table session uring
if [ -n "${ALT_VIRTZD:-}" ]; then
	echo "A/B: $ALT_VIRTZD"
	table salt ualt
fi
