#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh OUT.cpio [KVER]
#
# Build the tiny initramfs the virtz test guest boots with (see run.sh).
# It holds only busybox (busybox-static), the 9p modules for KVER with their
# dependencies (decompressed: busybox insmod cannot load .ko.xz), and /init.
# The cpio is left uncompressed (~3 MB): gunzip under TCG costs more than it
# saves.
#
# /init mounts the host root read-only over 9p (tag "hostroot") and the work
# tree read-write at its host path (tag "work"), makes the usual writable
# tmpfs/devtmpfs/proc/sys mounts, and switch_roots into the host root, where
# the second stage runs the command described by the kernel command line:
#
#   virtz.work=DIR       work tree path; 9p tag "work" is mounted there (rw)
#   virtz.results=DIR    results dir: cmd.sh is read from it; status,
#                        dmesg.log, taint are written to it
#   virtz.resshare=1     results dir is outside the work tree: 9p tag "results"
#   virtz.mode=cmd|shell run results/cmd.sh, or an interactive shell on ttyS0
#   virtz.rootcache=M    9p cache mode for the read-only root (default loose)
#   virtz.workcache=M    9p cache mode for the rw shares (default mmap)
#   virtz.rw=D1,D2       tmpfs-backed overlays to make host dirs writable
#   virtz.cols= virtz.rows= virtz.term=   terminal setup for the shell
#
# KVER defaults to the newest /boot/vmlinuz-6.12*-amd64. OUT is rebuilt only
# when KVER, this script or the busybox binary changed (stamp in OUT.stamp).
set -euo pipefail

SELF=$(readlink -f "$0")
OUT=${1:?usage: mkinitramfs.sh OUT.cpio [KVER]}
KVER=${2:-}
if [ -z "$KVER" ]; then
	k=$(ls -1 /boot/vmlinuz-6.12*-amd64 2>/dev/null | sort -V | tail -n1)
	[ -n "$k" ] || { echo "mkinitramfs: no /boot/vmlinuz-6.12*-amd64" >&2; exit 1; }
	KVER=${k#/boot/vmlinuz-}
fi
MODDIR=/lib/modules/$KVER
[ -d "$MODDIR" ] || { echo "mkinitramfs: $MODDIR missing" >&2; exit 1; }
PROG=mkinitramfs
# shellcheck source=../lib/initramfs.sh
. "$(dirname "$SELF")/../lib/initramfs.sh"
ir_up_to_date_or_continue

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,dev,proc,sys,newroot,lib/modules}

mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
ir_install_busybox "$root"
ir_install_modules "$root" 9pnet_virtio 9p
grep -q '^9p.ko$' "$root/lib/modules/order" ||
	{ echo "mkinitramfs: could not resolve the 9p modules for $KVER" >&2; exit 1; }

# --- /init (busybox sh, PID 1 in the initramfs) -------------------------------
cat >"$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin
die() {
	echo "virtz-init: $*" >/dev/console 2>/dev/null || echo "virtz-init: $*"
	echo o >/proc/sysrq-trigger
	while :; do sleep 1000; done
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

WORK= RESULTS= RESSHARE= MODE=cmd ROOTCACHE=loose WORKCACHE=mmap RW= COLS= ROWS= TERMV=
for a in $(cat /proc/cmdline); do
	case "$a" in
	virtz.work=*)      WORK=${a#*=} ;;
	virtz.results=*)   RESULTS=${a#*=} ;;
	virtz.resshare=*)  RESSHARE=${a#*=} ;;
	virtz.mode=*)      MODE=${a#*=} ;;
	virtz.rootcache=*) ROOTCACHE=${a#*=} ;;
	virtz.workcache=*) WORKCACHE=${a#*=} ;;
	virtz.rw=*)        RW=${a#*=} ;;
	virtz.cols=*)      COLS=${a#*=} ;;
	virtz.rows=*)      ROWS=${a#*=} ;;
	virtz.term=*)      TERMV=${a#*=} ;;
	esac
done

for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m || die "insmod $m failed"
done

P9="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o ro,$P9,cache=$ROOTCACHE hostroot /newroot || die "cannot mount the host root"
N=/newroot
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $N/tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $N/var/tmp
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs $N/run
mkdir -p $N/run/lock $N/run/shm $N/run/virtz $N/run/user
chmod 1777 $N/run/lock
mount --move /dev $N/dev
mkdir -p $N/dev/pts $N/dev/shm $N/dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $N/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $N/dev/shm
mount -t mqueue mqueue $N/dev/mqueue 2>/dev/null
[ -e $N/dev/fd ] || ln -s /proc/self/fd $N/dev/fd
[ -e $N/dev/stdin ] || ln -s /proc/self/fd/0 $N/dev/stdin
[ -e $N/dev/stdout ] || ln -s /proc/self/fd/1 $N/dev/stdout
[ -e $N/dev/stderr ] || ln -s /proc/self/fd/2 $N/dev/stderr
mount --move /proc $N/proc
mount --move /sys $N/sys
mount -t debugfs debugfs $N/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs $N/sys/kernel/tracing 2>/dev/null
mount -t configfs configfs $N/sys/kernel/config 2>/dev/null
mount -t securityfs securityfs $N/sys/kernel/security 2>/dev/null
mount -t cgroup2 cgroup2 $N/sys/fs/cgroup 2>/dev/null
mount -t bpf bpf $N/sys/fs/bpf 2>/dev/null

# Writable overlays over read-only host directories (e.g. /lib/modules/...
# for depmod, /etc). Upper and work dirs live on a tmpfs.
if [ -n "$RW" ]; then
	mkdir -p $N/run/virtz/ov
	modprobe_ov=1
	i=0
	for d in $(echo "$RW" | tr ',' ' '); do
		i=$((i + 1))
		mkdir -p $N/run/virtz/ov/$i/u $N/run/virtz/ov/$i/w
		if [ -n "$modprobe_ov" ]; then
			# overlay is a module; busybox cannot load .ko.xz, so use kmod
			# from the new root (its libs are there) via chroot.
			chroot $N /sbin/modprobe overlay || die "cannot load overlay"
			modprobe_ov=
		fi
		mount -t overlay -o lowerdir=$N$d,upperdir=$N/run/virtz/ov/$i/u,workdir=$N/run/virtz/ov/$i/w overlay $N$d ||
			die "cannot overlay $d"
	done
fi

if [ -n "$WORK" ]; then
	mkdir -p $N$WORK 2>/dev/null
	mount -t 9p -o rw,$P9,cache=$WORKCACHE work $N$WORK || die "cannot mount the work tree at $WORK"
fi
if [ -n "$RESSHARE" ] && [ -n "$RESULTS" ]; then
	mkdir -p $N$RESULTS 2>/dev/null
	mount -t 9p -o rw,$P9,cache=$WORKCACHE results $N$RESULTS || die "cannot mount the results dir at $RESULTS"
fi
echo virtz-vm >$N/proc/sys/kernel/hostname

# Stage 2 runs from the host root as PID 1 and must never exit.
cat >$N/run/virtz-stage2.sh <<'STAGE2'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8
export DM_DISABLE_UDEV=1 PYTHONDONTWRITEBYTECODE=1
. /run/virtz-env
export TERM=${TERMV:-linux}
off() {
	sync
	/bin/busybox poweroff -f 2>/dev/null
	echo o >/proc/sysrq-trigger
	while :; do sleep 1000; done
}
cd "${WORK:-/}" 2>/dev/null || cd /
if [ "$MODE" = shell ]; then
	[ -n "$COLS" ] && stty -F /dev/ttyS0 cols "$COLS" rows "$ROWS" 2>/dev/null
	echo "virtz-vm: shell in $(pwd); 'poweroff' or Ctrl-D to quit (Ctrl-A x kills QEMU)"
	cat >/run/virtz-bashrc <<'RC'
[ -r /etc/bash.bashrc ] && . /etc/bash.bashrc
PS1='\[\e[1;33m\]virtz-vm\[\e[0m\]:\w# '
poweroff() { exit "${1:-0}"; }   # stage 2 saves dmesg and status, then powers off
reboot() { exit "${1:-0}"; }
RC
	echo "[ -r '$RESULTS/cmd.sh' ] && . '$RESULTS/cmd.sh'" >>/run/virtz-bashrc
	setsid -c /bin/bash --rcfile /run/virtz-bashrc -i </dev/ttyS0 >/dev/ttyS0 2>&1
	rc=$?
else
	/bin/bash "$RESULTS/cmd.sh" </dev/null
	rc=$?
fi
if [ -n "$RESULTS" ] && [ -d "$RESULTS" ]; then
	cat /proc/sys/kernel/tainted >"$RESULTS/taint" 2>/dev/null
	dmesg -x >"$RESULTS/dmesg.log" 2>/dev/null || dmesg >"$RESULTS/dmesg.log"
	echo "$rc" >"$RESULTS/status.tmp" && mv -f "$RESULTS/status.tmp" "$RESULTS/status"
fi
off
STAGE2
cat >$N/run/virtz-env <<EOF
WORK='$WORK'
RESULTS='$RESULTS'
MODE='$MODE'
COLS='$COLS'
ROWS='$ROWS'
TERMV='$TERMV'
EOF
exec switch_root $N /bin/sh /run/virtz-stage2.sh
die "switch_root failed"
INIT
chmod 755 "$root/init"

ir_pack "$root"
