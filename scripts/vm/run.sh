#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [options] [-- COMMAND [ARG...]]
#
# Boot Debian's 6.12 kernel in QEMU (TCG, -cpu max: SVM is emulated, so
# "modprobe kvm_amd" gives a working /dev/kvm), with the host root mounted
# read-only over 9p and the work tree read-write at its host path, and run
# COMMAND there as root, cwd = the work tree. Without COMMAND (or with
# --shell) give an interactive shell on the console instead (needs a TTY;
# Ctrl-A x kills QEMU, "poweroff" or Ctrl-D leaves cleanly).
#
# Guest environment: PATH, HOME=/tmp, TERM, DM_DISABLE_UDEV=1 (no udev in the
# guest), PYTHONDONTWRITEBYTECODE=1, plus every -e VAR=VALUE. Writable:
# the work tree (9p), /tmp /var/tmp /run /dev/shm (tmpfs), /dev (devtmpfs),
# and any --rw DIR (tmpfs overlay). Everything else is the host's root, ro.
#
# The exit status is COMMAND's. It is non-zero also when the kernel log
# (the guest's dmesg, kernel facility only) shows a WARNING, BUG, Oops, GPF,
# KASAN/UBSAN/KFENCE report, lockdep/hung-task/RCU-stall INFO, Call Trace or
# panic, or when the kernel is tainted by a warning/oops/lockup (see --allow).
#   124  timeout (QEMU killed)     125  no status came back (boot failure,
#                                       panic, guest crash)
# Files in the results dir: console.log (full serial console), dmesg.log
# (guest "dmesg -x" at the end), status, taint, cmd.sh, qemu.log.
# Cached in .cache/vm/: the initramfs (mkinitramfs.sh) and the vmlinux
# extracted from the vmlinuz, booted through its PVH entry (faster under TCG;
# it also means no KASLR, so oops addresses are stable).
#
# Options:
#   -v, --verbose        stream the console live (default: quiet)
#   --shell              interactive shell (default when no COMMAND); a
#                        COMMAND given with it is sourced before the prompt
#   -e, --env VAR=VALUE  export VAR in the guest (repeatable)
#   -m, --mem SIZE       guest memory (default 4G)
#   --smp N              guest CPUs (default 2)
#   --tcg-thread MODE    multi (default: one host thread per guest CPU) or
#                        single (all guest CPUs on one host thread, taking
#                        turns; slower for parallel loads, but guest CPUs
#                        never run at the same instant, so code one CPU
#                        patches is never seen half-done by another)
#   -t, --timeout SECS   kill QEMU after SECS (default 1800; 0 = none;
#                        the shell has none unless given)
#   -r, --results DIR    results dir (default WORK/build/vm); may be outside
#                        the work tree (then it is shared separately)
#   -w, --work DIR       work tree shared rw (default: this repo)
#   --kernel FILE        kernel (default newest /boot/vmlinuz-6.12*-amd64);
#                        modules come from /lib/modules/<its version>
#   --append ARGS        extra kernel command line
#   --qemu-arg ARG       extra QEMU argument (repeatable, one word each)
#   --rw DIR             make host DIR writable in the guest via a tmpfs
#                        overlay (repeatable), e.g. --rw /lib/modules
#   --allow REGEX        ignore kernel log lines matching REGEX (repeatable;
#                        disables the taint check)
#   --no-scan            do not scan the kernel log
#   --no-oops-panic      do not boot with oops=panic (default: an oops panics
#                        and ends the run at once instead of hanging it)
#   --root-cache MODE    9p cache mode for the ro root (default loose)
#   --work-cache MODE    9p cache mode for the rw work tree (default mmap)
#
# Examples:
#   scripts/vm/run.sh -- sh -c 'modprobe kvm_amd && ls -l /dev/kvm'
#   scripts/vm/run.sh -v -e KSFT_VERBOSE=1 -- make -C selftests run
#   scripts/vm/run.sh                      # interactive shell
set -uo pipefail

TOP=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
VMDIR=$TOP/scripts/vm

VERBOSE=0 SHELL_MODE=0 MEM=4G SMP=2 TIMEOUT= RESULTS= WORK=$TOP KERNEL=
APPEND= SCAN=1 OOPS_PANIC=1 ROOTCACHE=loose WORKCACHE=mmap TCGTHREAD=multi
ENVS=() QEMU_EXTRA=() RWDIRS=() ALLOW=()

usage() { sed -n '3,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit "${1:-0}"; }
die() { echo "vm: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
	case "$1" in
	-v|--verbose) VERBOSE=1 ;;
	--shell) SHELL_MODE=1 ;;
	-e|--env) [[ ${2:-} == [A-Za-z_]*=* ]] || die "-e wants VAR=VALUE"; ENVS+=("$2"); shift ;;
	-m|--mem) MEM=$2; shift ;;
	--smp) SMP=$2; shift ;;
	--tcg-thread) TCGTHREAD=$2; shift ;;
	-t|--timeout) TIMEOUT=$2; shift ;;
	-r|--results) RESULTS=$2; shift ;;
	-w|--work) WORK=$2; shift ;;
	--kernel) KERNEL=$2; shift ;;
	--append) APPEND="$APPEND $2"; shift ;;
	--qemu-arg) QEMU_EXTRA+=("$2"); shift ;;
	--rw) RWDIRS+=("$2"); shift ;;
	--allow) ALLOW+=("$2"); shift ;;
	--no-scan) SCAN=0 ;;
	--no-oops-panic) OOPS_PANIC=0 ;;
	--root-cache) ROOTCACHE=$2; shift ;;
	--work-cache) WORKCACHE=$2; shift ;;
	-h|--help) usage 0 ;;
	--) shift; break ;;
	-*) echo "vm: unknown option $1" >&2; usage 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 0 ] && SHELL_MODE=1
case $TCGTHREAD in single|multi) ;; *) die "--tcg-thread wants single or multi" ;; esac
if [ $SHELL_MODE = 1 ]; then
	[ -t 0 ] && [ -t 1 ] || die "interactive shell needs a TTY (give a COMMAND)"
	TIMEOUT=${TIMEOUT:-0}
fi
TIMEOUT=${TIMEOUT:-1800}

# --- kernel, initramfs ----------------------------------------------------------
if [ -z "$KERNEL" ]; then
	KERNEL=$(ls -1 /boot/vmlinuz-6.12*-amd64 2>/dev/null | sort -V | tail -n1)
	[ -n "$KERNEL" ] || die "no /boot/vmlinuz-6.12*-amd64 (apt-get install linux-image-6.12-amd64)"
fi
[ -r "$KERNEL" ] || die "cannot read kernel $KERNEL"
KVER=$(basename "$KERNEL"); KVER=${KVER#vmlinu[zx]-}
[ -d "/lib/modules/$KVER" ] || die "no /lib/modules/$KVER for $KERNEL"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"

INITRD=$TOP/.cache/vm/initramfs-$KVER.cpio
"$VMDIR/mkinitramfs.sh" "$INITRD" "$KVER" || die "mkinitramfs failed"

# Boot the uncompressed vmlinux through its PVH entry when we can: it skips
# the bzImage decompressor and the BIOS, which under TCG saves ~3 s.
boot_kernel() {
	local k=$1 out=$TOP/.cache/vm/vmlinux-$KVER off
	case "$(basename "$k")" in vmlinuz-*) ;; *) echo "$k"; return ;; esac
	if [ "$out" -nt "$k" ]; then echo "$out"; return; fi
	# The payload is the first zstd/xz frame; Debian uses zstd.
	off=$(python3 - "$k" <<'PY' 2>/dev/null
import sys
d = open(sys.argv[1], "rb").read()
for m, t in ((b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz")):
    i = d.find(m)
    if i > 0:
        print(i, t)
        break
PY
)
	set -- $off
	if [ $# -eq 2 ] && tail -c +$(($1 + 1)) "$k" | { [ "$2" = zstd ] && zstd -qdc || xz -qdc; } >"$out.tmp" 2>/dev/null;
	   [ -s "$out.tmp" ] && readelf -n "$out.tmp" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'; then
		mv -f "$out.tmp" "$out"; echo "$out"
	else
		rm -f "$out.tmp"; echo "$k"
	fi
}
BOOTK=$(boot_kernel "$KERNEL")

# --- shares, results --------------------------------------------------------------
WORK=$(readlink -f "$WORK") && [ -d "$WORK" ] || die "no work tree $WORK"
RESULTS=${RESULTS:-$WORK/build/vm}
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
RESULTS=$(readlink -f "$RESULTS")
for w in "$WORK" "$RESULTS"; do
	[[ $w =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "path $w has characters the kernel command line cannot carry"
done

# One run per results dir at a time.
exec 9>"$RESULTS/.lock"
if ! flock -n 9; then
	echo "vm: $RESULTS is in use by another run; waiting (use --results for parallel runs)" >&2
	flock 9
fi
rm -f "$RESULTS"/{status,status.tmp,taint,dmesg.log,console.log,qemu.log,cmd.sh}

case "$RESULTS/" in
"$WORK"/*) RESSHARE= ;;
*) RESSHARE=1 ;;
esac

# The command, exactly quoted, with its environment.
{
	echo "# generated by scripts/vm/run.sh"
	for e in "${ENVS[@]}"; do
		printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
	done
	if [ $SHELL_MODE = 0 ]; then
		printf 'exec'; printf ' %q' "$@"; echo
	elif [ $# -gt 0 ]; then
		# --shell with a COMMAND: it runs in the shell before the prompt.
		printf ' %q' "$@"; echo
	fi
} >"$RESULTS/cmd.sh"

# --- QEMU ---------------------------------------------------------------------------
CMDLINE="console=ttyS0,115200 quiet loglevel=5 log_buf_len=16M panic=-1"
[ $OOPS_PANIC = 1 ] && CMDLINE+=" oops=panic"
CMDLINE+=" virtz.work=$WORK virtz.results=$RESULTS virtz.rootcache=$ROOTCACHE virtz.workcache=$WORKCACHE"
[ -n "$RESSHARE" ] && CMDLINE+=" virtz.resshare=1"
if [ ${#RWDIRS[@]} -gt 0 ]; then
	rw=$(IFS=,; echo "${RWDIRS[*]}")
	[[ $rw =~ ^[A-Za-z0-9._/+,-]*$ ]] || die "bad --rw paths"
	CMDLINE+=" virtz.rw=$rw"
fi
if [ $SHELL_MODE = 1 ]; then
	CMDLINE+=" virtz.mode=shell virtz.cols=$(tput cols 2>/dev/null || echo 80)"
	CMDLINE+=" virtz.rows=$(tput lines 2>/dev/null || echo 24) virtz.term=${TERM:-linux}"
else
	CMDLINE+=" virtz.mode=cmd"
fi
CMDLINE+="$APPEND"

QEMU=(qemu-system-x86_64
	-M q35 -accel tcg,thread=$TCGTHREAD -cpu max -smp "$SMP" -m "$MEM"
	-nodefaults -no-user-config -display none -no-reboot
	-kernel "$BOOTK" -initrd "$INITRD" -append "$CMDLINE"
	-device virtio-rng-pci
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
	-virtfs "local,path=$WORK,mount_tag=work,security_model=none,multidevs=remap")
[ -n "$RESSHARE" ] &&
	QEMU+=(-virtfs "local,path=$RESULTS,mount_tag=results,security_model=none,multidevs=remap")

CONSOLE=$RESULTS/console.log
if [ $SHELL_MODE = 1 ]; then
	QEMU+=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$CONSOLE"
		-serial chardev:con -mon chardev=con,mode=readline)
else
	QEMU+=(-chardev "file,id=con,path=$CONSOLE" -serial chardev:con -monitor none)
fi
QEMU+=("${QEMU_EXTRA[@]}")

start=$(date +%s.%N)
if [ $SHELL_MODE = 1 ]; then
	if [ "$TIMEOUT" != 0 ]; then
		timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" 2>"$RESULTS/qemu.log"
	else
		"${QEMU[@]}" 2>"$RESULTS/qemu.log"
	fi
	qrc=$?
else
	: >"$CONSOLE"
	tailpid=
	if [ $VERBOSE = 1 ]; then
		# Not holding the lock: a tail left behind must not block the next run.
		tail -n +1 -F "$CONSOLE" 2>/dev/null 9>&- &
		tailpid=$!
	fi
	if [ "$TIMEOUT" != 0 ]; then
		timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$RESULTS/qemu.log" 2>&1
	else
		"${QEMU[@]}" </dev/null >"$RESULTS/qemu.log" 2>&1
	fi
	qrc=$?
	if [ -n "$tailpid" ]; then
		sleep 0.3
		kill "$tailpid" 2>/dev/null
		wait "$tailpid" 2>/dev/null
	fi
fi
elapsed=$(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo "?")

# --- verdict ------------------------------------------------------------------------
PAT='WARNING:|BUG:|kernel BUG|Oops|general protection|KASAN|UBSAN:|KFENCE:|KMSAN|'
PAT+='possible circular locking|possible recursive locking|INFO: |lockdep|'
PAT+='locking correctness validator|inconsistent lock state|Call Trace|'
PAT+='Kernel panic|stack-protector|kmemleak: .*suspected memory leak|'
PAT+='blocked for more than|rcu_.*(stall|detected stalls)|soft lockup|hard LOCKUP'

# Print hits from a log, with context; $1 = file of log lines. Returns 0 on hit.
scan() {
	local f=$1 hits
	hits=$(grep -n -E -- "$PAT" "$f" | grep -v -E 'Kernel command line:|Command line:')
	for a in "${ALLOW[@]}"; do
		[ -n "$hits" ] && hits=$(printf '%s\n' "$hits" | grep -v -E -- "$a")
	done
	[ -n "$hits" ] || return 1
	local first n
	first=$(printf '%s\n' "$hits" | head -n1 | cut -d: -f1)
	n=$(printf '%s\n' "$hits" | wc -l)
	echo "vm: KERNEL PROBLEM: $n suspicious kernel log line(s); first at line $first of $2:" >&2
	printf '%s\n' "$hits" | head -n 20 | sed 's/^/vm:   /' >&2
	echo "vm: ---- kernel log around the first hit ----" >&2
	sed -n "$((first > 10 ? first - 10 : 1)),$((first + 60))p" "$f" >&2
	echo "vm: ---- end ----" >&2
	return 0
}

rc=
if [ -s "$RESULTS/status" ]; then
	rc=$(cat "$RESULTS/status")
	[[ $rc =~ ^[0-9]+$ ]] || rc=125
fi

problem=0
if [ -z "$rc" ]; then
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		echo "vm: TIMEOUT: killed QEMU after ${TIMEOUT}s; console in $CONSOLE" >&2
		final=124
	else
		echo "vm: FAILED: no exit status came back from the guest (QEMU exit $qrc);" \
			"console in $CONSOLE, QEMU messages in $RESULTS/qemu.log" >&2
		final=125
	fi
	[ -s "$RESULTS/qemu.log" ] && sed 's/^/vm: qemu: /' "$RESULTS/qemu.log" | tail -n 5 >&2
	# No dmesg: the console is the only kernel log (mixed with the command's
	# output, so this may also flag what the command printed).
	if [ $SCAN = 1 ] && [ -s "$CONSOLE" ] && scan "$CONSOLE" console.log; then
		:
	elif [ $VERBOSE = 0 ] && [ $SHELL_MODE = 0 ]; then
		echo "vm: ---- last console lines ----" >&2
		tail -n 30 "$CONSOLE" >&2
	fi
	exit $final
fi

if [ $SCAN = 1 ]; then
	klog=$RESULTS/.kernel.log
	if [ -s "$RESULTS/dmesg.log" ]; then
		# dmesg -x lines look like "kern  :warn  : [   1.0] text"; only the
		# kernel's own records count (userspace can write /dev/kmsg, but its
		# records carry the user facility).
		grep -E '^kern ' "$RESULTS/dmesg.log" >"$klog"
		if scan "$klog" "kernel lines of dmesg.log"; then
			problem=1
		fi
	else
		echo "vm: no dmesg.log came back; cannot scan the kernel log" >&2
		problem=1
	fi
	rm -f "$klog"
	taint=$(cat "$RESULTS/taint" 2>/dev/null || echo 0)
	# M(4) machine check, B(5) bad page, D(7) oops, W(9) warning, L(14) lockup
	if [ ${#ALLOW[@]} -eq 0 ] && [ $problem = 0 ] && [[ $taint =~ ^[0-9]+$ ]] &&
	   (( taint & ((1 << 4) | (1 << 5) | (1 << 7) | (1 << 9) | (1 << 14)) )); then
		echo "vm: KERNEL PROBLEM: kernel tainted ($taint: warning/oops/lockup/bad page) but the log shows no splat (overwritten?)" >&2
		problem=1
	fi
fi

if [ $VERBOSE = 1 ]; then
	echo "vm: guest exit status $rc, ${elapsed}s, logs in $RESULTS" >&2
fi
if [ $problem = 1 ]; then
	echo "vm: FAILED: kernel log problem (command exit status $rc); dmesg in $RESULTS/dmesg.log" >&2
	[ "$rc" = 0 ] && rc=1
fi
exit "$rc"
