#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Guest disks (virtio-blk in virtzd), end to end with a nested guest:
#   - three disks in one guest, one per mode, each file-backed: the
#     guest's /sys/block/vdX/serial is the disk's id;
#   - READ_WRITE: a pattern written with O_DIRECT from inside the guest is
#     read back by the guest and found byte for byte in the file on the
#     host after the guest stops; blkdiscard zeroes a range in the file;
#   - READ_ONLY: the guest sees ro=1, a write fails, the file's sha256 is
#     unchanged;
#   - VOLATILE_WRITE on a chmod 0444 file: the guest reads back what it
#     wrote, the file's sha256 is unchanged afterwards;
#   - locking: while the guest runs, a second virtzd asking for the
#     READ_WRITE file (rw or ro) is refused with a message naming the
#     holder; a second READ_ONLY open of the READ_ONLY file is allowed;
#   - bad --disk specs are refused with a clear message;
#   - cache=none (the default) and cache=writeback, in a second guest: a
#     block device with 4 KiB sectors and a file on ext4 over one (held
#     O_DIRECT by virtzd), a file on tmpfs with cache=writeback and one on
#     ramfs, which has no O_DIRECT (cache=none falls back, said once).
#     The guest writes and reads back with O_DIRECT from a 512-byte
#     aligned, not page aligned buffer (selftests/guest/vblk_dio.c), at
#     4 KiB and at 512-byte offsets; the host finds the bytes in place;
#   - GUEST_GET_DISK on the control socket describes each disk, and its
#     bad requests get errors;
#   - `virtzctl guest launch --disk` passes disks through, and `guest
#     list` / `guest info` (-j too) show them (when the registry module is
#     loaded).
# Prints TAP.  Runs virtzd directly with --control (no registry needed),
# so it also runs on any host with /dev/kvm.
import hashlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_virtzd_guest as tg  # noqa: E402

TOP = tg.TOP
VIRTZD = os.path.join(TOP, "build/virtzd")
VIRTZCTL = tg.VIRTZCTL
INITRD = os.environ.get("VBLK_INITRD") or os.path.join(TOP, "build/guest/initramfs.cpio")
CMDLINE = "console=ttyS0 quiet reboot=k panic=-1"
WORK = os.environ.get("VBLK_WORK", "/tmp/vblk-test")
MiB = 1 << 20
# virtio-blk's seg_max and size_max with indirect descriptors, which a
# Linux guest negotiates: a table's segments less the header and status.
with open(os.path.join(TOP, "user/virtzd/virtq.h")) as _f:
    SEG_MAX = int(re.search(r"#define VIRTQ_MAX_SEGS\s+(\d+)", _f.read()).group(1)) - 2
with open(os.path.join(TOP, "user/virtzd/virtio_blk.c")) as _f:
    SIZE_MAX = int(re.search(r"#define SIZE_MAX_INDIRECT\s+\((\d+)U << 10\)",
                             _f.read()).group(1)) << 10

results = []


def tap(ok, name, why=""):
    results.append(ok)
    line = "%s %d - %s" % ("ok" if ok else "not ok", len(results), name)
    if why and not ok:
        line += "  # " + str(why).replace("\n", " | ")[:400]
    print(line, flush=True)
    return ok


class Serial(tg.Serial):
    def __init__(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(30)
        s.connect(path)
        _, _, err, _, fds = tg.ctl_call(s, tg.T_SERIAL)
        s.close()
        if err or len(fds) != 1:
            raise RuntimeError("GetSerial failed: %d" % err)
        self.sock = socket.socket(fileno=fds[0])
        self.buf = b""


class Guest:
    def __init__(self, name, disks, mem=128, initrd=None):
        self.ctl = os.path.join(WORK, name + ".sock")
        self.log = os.path.join(WORK, name + ".log")
        r, w = os.pipe()
        args = [VIRTZD, "--kernel", tg.kernel_path(), "--initrd", initrd or INITRD,
                "--cmdline", CMDLINE, "--memory", str(mem), "--cpus", "1",
                "--control", self.ctl, "--ready-fd", str(w)]
        for d in disks:
            args += ["--disk", d]
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=logf, pass_fds=(w,))
        os.close(w)
        with os.fdopen(r) as rf:
            self.ready = rf.read().strip()
        if not self.ready.startswith("ok"):
            self.proc.wait(timeout=30)
        self.ser = None
        self.hung = False
        self.first = len(results)

    def ok(self):
        return self.ready.startswith("ok")

    def boot(self, timeout=300):
        self.ser = Serial(self.ctl)
        return self.ser.expect("VIRTZ-GUEST-READY", timeout)

    def run(self, cmd, timeout=120):
        """Output of @cmd in the guest; None (at once, once one has timed
        out) when the guest does not answer."""
        if self.hung:
            return None
        out = self.ser.run(cmd, timeout)
        if out is None:
            self.hung = True
            print("# %s: no answer from the guest within %ds (virtzd %s)"
                  % (os.path.basename(self.ctl), timeout,
                     "running" if self.proc.poll() is None else
                     "exited with %s" % self.proc.returncode), flush=True)
            # The vCPUs' state now, while it still tells something (a
            # guest that goes on to triple-fault is reset by KVM before
            # virtzd can look); diagnose() prints it with the rest.
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGUSR2)
                time.sleep(1)
        return out

    def diagnose(self):
        """virtzd's stderr and the guest console's tail, as TAP comments
        (a running virtzd first prints its vCPUs' state: SIGUSR2)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR2)
            time.sleep(1)
        lines = ["# %s: virtzd %s; its stderr:" % (
            os.path.basename(self.ctl),
            "running" if self.proc.poll() is None else
            "exited with %s" % self.proc.returncode)]
        try:
            with open(self.log, errors="replace") as f:
                text = f.read()
            lines += ["#   " + ln.rstrip() for ln in text.splitlines()[-30:]]
            lines += tg.l0_faults(text, getattr(self.ser, "seen", b"")
                                  if self.ser else None)
        except OSError as e:
            lines.append("#   (%s)" % e)
        if self.ser:
            lines += self.ser.tail()
        print("\n".join(lines), flush=True)

    def stop(self):
        if self.ser and not all(results[self.first:]):
            self.diagnose()
        if self.proc.poll() is None:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.settimeout(10)
                s.connect(self.ctl)
                tg.ctl_call(s, tg.T_STOP)
                s.close()
            except OSError:
                self.proc.terminate()
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


T_DISK = 4   # VZ_CTL_GUEST_GET_DISK
DISK_INFO = struct.Struct("=24s12s8s12sIIQ512s")


def get_disk(ctl_path, index, payload=None):
    """GUEST_GET_DISK over a control socket: (error, dict or message)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    try:
        s.connect(ctl_path)
        _, _, err, data, _ = tg.ctl_call(
            s, T_DISK, struct.pack("=I", index) if payload is None else payload)
    except OSError as e:
        # A guest that died earlier fails the checks that ask it, not the run.
        return -1, "control socket: %s" % e
    finally:
        s.close()
    if err:
        return err, data.rstrip(b"\0").decode(errors="replace")
    if len(data) != DISK_INFO.size:
        return -1, "reply of %d bytes, want %d" % (len(data), DISK_INFO.size)
    f = DISK_INFO.unpack(data)

    def text(b):
        return b.split(b"\0")[0].decode()
    return 0, {"id": text(f[0]), "mode": text(f[1]), "format": text(f[2]),
               "backend": text(f[3]), "block_size": f[4], "flags": f[5],
               "size": f[6], "file": text(f[7])}


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pattern(tag, size=MiB):
    line = ("VIRTZ-%s\n" % tag).encode()
    return (line * (size // len(line) + 1))[:size]


def make_file(path, size, seed):
    data = hashlib.sha256(seed.encode()).digest() * (size // 32)
    with open(path, "wb") as f:
        f.write(data)
    return data


def dev_by_serial(g):
    out = g.run("for d in /sys/block/vd*; do echo ${d##*/}=$(cat $d/serial); done")
    devs = {}
    for line in (out or "").splitlines():
        if "=" in line:
            dev, ser = line.split("=", 1)
            devs[ser.strip()] = dev.strip()
    return devs


def guest_write(g, dev, tag, seek_mib):
    """Writes pattern(tag) at seek_mib with O_DIRECT, reads it back."""
    out = g.run("yes VIRTZ-%s | head -c 1048576 > /tmp/p; "
                "dd if=/tmp/p of=/dev/%s bs=65536 seek=%d oflag=direct conv=fsync 2>&1; echo rc=$?; "
                "dd if=/dev/%s bs=65536 skip=%d count=16 iflag=direct 2>/dev/null | md5sum; "
                "md5sum < /tmp/p" % (tag, dev, seek_mib * 16, dev, seek_mib * 16))
    return out or ""


def bad_specs():
    cases = [
        ("id=" + "x" * 21 + ",file=/dev/null", "must be 1 to 20 bytes"),
        ("file=/tmp/x", "needs id=ID and file=PATH"),
        ("id=a,file=/tmp/x,mode=bogus", "bad mode 'bogus'"),
        ("id=a,file=/tmp/x,colour=red", "unknown key 'colour'"),
        ("id=a,file=%s/does-not-exist" % WORK, "does-not-exist: No such file"),
        ("id=a,file=/dev/null", "not a regular file or a block device"),
        ("id=a,file=/tmp/x,cache=bogus", "bad cache 'bogus'"),
        ("id=a,file=/tmp/x,format=qcow2,cache=none",
         "cache=none needs format=raw"),
        ("id=a,file=/tmp/x,backend=session,cache=writeback",
         "cache=writeback needs backend=file"),
    ]
    for spec, want in cases:
        p = subprocess.run([VIRTZD, "--kernel", tg.kernel_path(), "--disk", spec],
                           capture_output=True, text=True, timeout=60)
        tap(p.returncode != 0 and want in p.stderr,
            "--disk %s is refused: %s" % (spec[:40], want), p.stderr.strip())


def sh(cmd):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    return p.returncode, (p.stdout + p.stderr).strip()


def dio_data(tag, size):
    """What vblk_dio TAG writes: its page (TAG lines) from byte 512 on."""
    line = (tag + "\n").encode()
    page = (line * (4096 // len(line) + 1))[:4096]
    return (page * (size // 4096 + 2))[512:512 + size]


def read_at(path, off, size):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(size)


def held_direct(pid, path):
    """For each descriptor of @pid open on @path: is it O_DIRECT?"""
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != path:
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int(re.search(r"flags:\s+(\d+)", f.read()).group(1), 8)
        except OSError:
            continue
        out.append(bool(flags & os.O_DIRECT))
    return out


def initrd_with(name, tools):
    """The nested guest's initramfs plus /bin/TOOL for each of @tools,
    built static from selftests/guest/TOOL.c; (path, error)."""
    over = os.path.join(WORK, name + "-over")
    os.makedirs(os.path.join(over, "bin"))
    for t in tools:
        rc, out = sh("gcc -std=gnu11 -O2 -Wall -static -o %s %s" %
                     (os.path.join(over, "bin", t),
                      os.path.join(TOP, "selftests/guest/%s.c" % t)))
        if rc:
            return None, out
    initrd = os.path.join(WORK, name + "-initrd.cpio")
    shutil.copy(INITRD, initrd)
    rc, out = sh("cd %s && find . | cpio -o -H newc --quiet -R 0:0 >> %s"
                 % (over, initrd))
    return (None, out) if rc else (initrd, "")


def cache_guest_initrd():
    """The nested guest's initramfs plus /bin/vblk_dio; (path, error)."""
    return initrd_with("cache", ["vblk_dio"])


def cache_tests():
    """cache=none and cache=writeback, each where it matters."""
    initrd, why = cache_guest_initrd()
    if not tap(initrd is not None, "cache: the guest's O_DIRECT helper builds", why):
        return
    blk4k, ext4img = os.path.join(WORK, "blk4k.img"), os.path.join(WORK, "ext4.img")
    sess4k = os.path.join(WORK, "sess4k.img")
    mnt, ram = os.path.join(WORK, "ext4"), os.path.join(WORK, "ramfs")
    wb = os.path.join(WORK, "wb.img")
    loops, mounts = [], []
    try:
        # 4 KiB sectors: a guest's 512-aligned O_DIRECT buffer is too
        # little for the host's O_DIRECT, and must be bounced.
        make_file(blk4k, 16 * MiB, "blk4k")
        make_file(sess4k, 8 * MiB, "sess4k")
        open(ext4img, "wb").truncate(64 * MiB)
        for img in (blk4k, ext4img, sess4k):
            rc, out = sh("modprobe loop; losetup -f --show -b 4096 " + img)
            if rc:
                tap(False, "cache: a loop device with 4 KiB sectors", out)
                return
            loops.append(out.split()[-1])
        dev4k, devx, devs4k = loops
        os.makedirs(mnt)
        os.makedirs(ram)
        rc, out = sh("modprobe ext4; mkfs.ext4 -q -F -b 4096 %s && mount %s %s"
                     % (devx, devx, mnt))
        if rc == 0:
            mounts.append(mnt)
            rc, out = sh("mount -t ramfs ramfs " + ram)
        if rc == 0:
            mounts.append(ram)
        if not tap(rc == 0, "cache: ext4 over a 4 KiB-sector loop device, and ramfs", out):
            return
        efile, rfile = os.path.join(mnt, "disk.img"), os.path.join(ram, "disk.img")
        orig_e = make_file(efile, 8 * MiB, "ext4file")
        make_file(rfile, 4 * MiB, "ramfs")
        make_file(wb, 4 * MiB, "wb")

        g = Guest("g5", ["id=blk4k,file=%s,cache=none" % dev4k,
                         "id=ext4file,file=%s" % efile,
                         "id=wb,file=%s,cache=writeback" % wb,
                         "id=ramfs,file=%s,cache=none" % rfile,
                         # A session takes guest pages as VMO offsets in
                         # 4 KiB blocks: a 512-aligned buffer is bounced.
                         "id=sess4k,file=%s,backend=session" % devs4k],
                  initrd=initrd)
        log = open(g.log).read()
        if not tap(g.ok(), "cache: a guest with cache=none and cache=writeback "
                   "disks launches", g.ready + log):
            g.stop()
            return
        try:
            want = ["disk blk4k: %s, raw, rw, file backend, cache=none, 32768 "
                    "sectors, 4096-byte blocks" % dev4k,
                    "disk ext4file: %s, raw, rw, file backend, cache=none, " % efile,
                    "disk wb: %s, raw, rw, file backend, cache=writeback, " % wb,
                    "disk ramfs: %s, raw, rw, file backend, cache=writeback "
                    "(O_DIRECT refused), " % rfile]
            tap(all(w in log for w in want), "cache: virtzd describes each "
                "disk's cache mode (cache=none is the default)", log)
            tap(log.count("refuses O_DIRECT") == 1 and
                "disk ramfs: %s: the filesystem refuses O_DIRECT, so cache=none "
                "falls back to the page cache" % rfile in log,
                "cache: cache=none on ramfs (no O_DIRECT) falls back to the page "
                "cache, said once", log)
            held = {p: held_direct(g.proc.pid, p) for p in (dev4k, efile, wb, rfile)}
            tap(True in held[dev4k] and True in held[efile] and
                held[wb] and True not in held[wb] and
                held[rfile] and True not in held[rfile],
                "cache: virtzd holds the cache=none disks O_DIRECT, the others "
                "not", held)

            if not tap(g.boot() is not None, "cache: the guest boots",
                       open(g.log).read()[-500:]):
                return
            devs = dev_by_serial(g)
            if not tap(set(devs) == {"blk4k", "ext4file", "wb", "ramfs", "sess4k"},
                       "cache: the guest sees the five disks", devs):
                return
            out = g.run("cat /sys/block/%s/queue/logical_block_size" % devs["blk4k"])
            tap(out == "4096", "cache: the 4 KiB-sector device has 4 KiB blocks "
                "in the guest", out)
            runs = [("blk4k", MiB, "blk4k-dio",
                     "cache=none, block device with 4 KiB sectors (bounced)"),
                    ("ext4file", 2 * MiB, "ext4-dio-a",
                     "cache=none, file on ext4 with 4 KiB direct I/O, at a 4 KiB "
                     "offset (bounced)"),
                    ("ext4file", MiB + 512, "ext4-dio-b",
                     "cache=none, file on ext4 with 4 KiB direct I/O, at a "
                     "512-byte offset (through the page cache)"),
                    ("wb", MiB, "wb-dio", "cache=writeback, file on tmpfs"),
                    ("ramfs", MiB, "ramfs-dio", "cache=none on ramfs (fallen back)"),
                    ("sess4k", MiB, "sess4k-dio",
                     "session backend, 4 KiB blocks (through its bounce VMO)")]
            for serial, off, tag, what in runs:
                out = g.run("vblk_dio /dev/%s %d 65536 %s" % (devs[serial], off, tag))
                tap(out is not None and "vblk_dio: ok" in out,
                    "cache: %s: an O_DIRECT write and read of 64 KiB from a "
                    "512-byte aligned, not page aligned buffer" % what, out)
            for serial, seek in (("blk4k", 4), ("ext4file", 4)):
                out = guest_write(g, devs[serial], serial, seek)
                sums = [ln.split()[0] for ln in out.splitlines()
                        if len(ln.split()) == 2 and len(ln.split()[0]) == 32]
                tap("rc=0" in out and len(sums) == 2 and sums[0] == sums[1],
                    "cache: %s: a 1 MiB page-aligned O_DIRECT write, read back"
                    % serial, out)
        finally:
            rc = g.stop()
        log = open(g.log).read()
        tap(rc == 0 and "direct I/O refused" not in log,
            "cache: the guest stops cleanly, no request was refused by direct "
            "I/O on the way (exit %s)" % rc, log[-500:])

        for path, off, tag in ((dev4k, MiB, "blk4k-dio"),
                               (efile, 2 * MiB, "ext4-dio-a"),
                               (efile, MiB + 512, "ext4-dio-b"),
                               (wb, MiB, "wb-dio"), (rfile, MiB, "ramfs-dio"),
                               (devs4k, MiB, "sess4k-dio")):
            tap(read_at(path, off, 65536) == dio_data(tag, 65536),
                "cache: the host finds the guest's %s bytes at %d of %s"
                % (tag, off, os.path.basename(path)))
        tap(read_at(dev4k, 4 * MiB, MiB) == pattern("blk4k") and
            read_at(efile, 4 * MiB, MiB) == pattern("ext4file"),
            "cache: the host finds the page-aligned writes")
        tap(read_at(efile, MiB, 512) == orig_e[MiB:MiB + 512] and
            read_at(efile, MiB + 512 + 65536, 3584) ==
            orig_e[MiB + 512 + 65536:MiB + 69632],
            "cache: the sectors around the 512-byte-offset write are unchanged")
    finally:
        for m in reversed(mounts):
            sh("umount " + m)
        for dev in loops:
            sh("losetup -d " + dev)


def main():
    print("TAP version 13", flush=True)
    subprocess.run(["modprobe", "kvm_amd"], capture_output=True)
    subprocess.run(["modprobe", "kvm_intel"], capture_output=True)
    if not tg.kernel_path() or not os.path.exists("/dev/kvm"):
        print("1..0 # SKIP needs /dev/kvm and a 6.12 kernel")
        return 0
    if not os.environ.get("VBLK_INITRD"):
        subprocess.run([os.path.join(TOP, "selftests/guest/mkguest.sh"), INITRD],
                       check=True)
    subprocess.run(["rm", "-rf", WORK])
    os.makedirs(WORK)
    rw, ro, vol = (os.path.join(WORK, n) for n in ("rw.img", "ro.img", "vol.img"))
    make_file(rw, 8 * MiB, "rw")
    make_file(ro, 4 * MiB, "ro")
    make_file(vol, 4 * MiB, "vol")
    os.chmod(vol, 0o444)
    ro_sha, vol_sha = sha(ro), sha(vol)

    bad_specs()

    g = Guest("g1", ["id=root-disk-0001,file=%s" % rw,
                     "id=readonly,file=%s,mode=ro" % ro,
                     "id=scratch,file=%s,mode=volatile,format=raw" % vol])
    if not tap(g.ok(), "a guest with three disks launches", g.ready):
        return 1
    try:
        if not tap(g.boot() is not None, "the guest boots",
                   open(g.log).read()[-500:]):
            return 1
        devs = dev_by_serial(g)
        tap(set(devs) == {"root-disk-0001", "readonly", "scratch"},
            "each disk's serial is its id (20 bytes too)", devs)
        if len(devs) != 3:
            print("# " + repr(g.run("dmesg | grep -i -e virtio -e vd | tail -20")))
            return 1
        vrw, vro, vvol = devs["root-disk-0001"], devs["readonly"], devs["scratch"]

        out = g.run("cat /sys/block/%s/size /sys/block/%s/ro /sys/block/%s/ro "
                    "/sys/block/%s/ro" % (vrw, vrw, vro, vvol))
        tap(out and out.split() == [str(8 * MiB // 512), "0", "1", "0"],
            "sizes and read-only flags as the host says", out)

        out = g.run("cat /sys/block/%s/queue/max_segment_size "
                    "/sys/block/%s/queue/max_segments; dd if=/dev/%s of=/dev/null "
                    "bs=4M count=2 iflag=direct 2>&1; echo rc=$?" % (vrw, vrw, vrw))
        tap(out and out.split()[:2] == [str(SIZE_MAX), str(SEG_MAX)] and
            "rc=0" in out,
            "segments of at most %d KiB, %d of them (indirect descriptors): a "
            "4 MiB O_DIRECT read "
            "arrives as requests that fit a chain" % (SIZE_MAX >> 10, SEG_MAX),
            out)

        out = guest_write(g, vrw, "rw", 1)
        lines = out.splitlines()
        sums = [l.split()[0] for l in lines if len(l.split()) == 2 and len(l.split()[0]) == 32]
        tap("rc=0" in out and len(sums) == 2 and sums[0] == sums[1],
            "READ_WRITE: O_DIRECT write, the guest reads it back", out)

        out = g.run("blkdiscard -o 4194304 -l 65536 /dev/%s; echo rc=$?; "
                    "cat /sys/block/%s/queue/discard_max_bytes" % (vrw, vrw))
        tap(out and "rc=0" in out, "READ_WRITE: discard reaches the disk", out)

        out = g.run("dd if=/dev/zero of=/dev/%s bs=4096 count=1 oflag=direct 2>&1; echo rc=$?" % vro)
        tap(out is not None and "rc=0" not in out and
            ("Operation not permitted" in out or "Read-only" in out or
             "I/O error" in out),
            "READ_ONLY: a write from the guest fails", out)

        out = guest_write(g, vvol, "vol", 2)
        sums = [l.split()[0] for l in out.splitlines()
                if len(l.split()) == 2 and len(l.split()[0]) == 32]
        tap("rc=0" in out and len(sums) == 2 and sums[0] == sums[1],
            "VOLATILE_WRITE: the guest reads back what it wrote", out)
        out = g.run("echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/%s bs=65536 "
                    "skip=32 count=16 2>/dev/null | md5sum; dd if=/dev/%s bs=65536 "
                    "count=1 2>/dev/null | md5sum" % (vvol, vvol))
        import hashlib as h
        want = [h.md5(pattern("vol")).hexdigest(),
                h.md5(open(vol, "rb").read()[:65536]).hexdigest()]
        got = [l.split()[0] for l in (out or "").splitlines() if len(l.split()) == 2]
        tap(got == want, "VOLATILE_WRITE: after dropping caches, written "
            "sectors come from the overlay, others from the file", out)

        # The control socket lists the disks as virtzd runs them.
        got = [get_disk(g.ctl, i) for i in range(3)]
        want = [{"id": "root-disk-0001", "mode": "rw", "format": "raw",
                 "backend": "file", "block_size": 512, "flags": 0x2 | 0x4,
                 "size": 8 * MiB, "file": rw},
                {"id": "readonly", "mode": "ro", "format": "raw",
                 "backend": "file", "block_size": 512, "flags": 0x1,
                 "size": 4 * MiB, "file": ro},
                {"id": "scratch", "mode": "volatile", "format": "raw",
                 "backend": "file", "block_size": 512, "size": 4 * MiB,
                 "file": vol}]
        tap(all(not e for e, _ in got) and
            [{k: d.get(k) for k in w} for w, (_, d) in zip(want, got)] == want,
            "GUEST_GET_DISK describes each disk: id, file, mode, format, "
            "backend, size, block size, flags", got)
        err, msg = get_disk(g.ctl, 3)
        tap(err == -2 and "no disk 3 (the guest has 3)" in msg,
            "GUEST_GET_DISK past the last disk: ENOENT naming the count",
            (err, msg))
        err, msg = get_disk(g.ctl, 0, payload=b"\0\0")
        tap(err == -22 and "payload" in msg,
            "GUEST_GET_DISK with a 2-byte index: EINVAL", (err, msg))

        # A second guest on the same files.
        g2 = Guest("g2", ["id=x,file=%s" % rw])
        log = open(g2.log).read()
        tap(not g2.ok() and "in use by another guest" in g2.ready and
            "held by pid %d" % g.proc.pid in g2.ready,
            "a second READ_WRITE open fails, naming the holder", g2.ready + log)
        g2.stop()
        g3 = Guest("g3", ["id=x,file=%s,mode=ro" % rw])
        tap(not g3.ok() and "open READ_WRITE by another guest" in g3.ready,
            "a READ_ONLY open of a file held READ_WRITE fails", g3.ready)
        g3.stop()
        g4 = Guest("g4", ["id=x,file=%s,mode=ro" % ro], mem=128)
        tap(g4.ok(), "two READ_ONLY opens share a file", g4.ready)
        g4.stop()
    finally:
        rc = g.stop()
    tap(rc == 0, "the guest stops cleanly (exit %s)" % rc)

    with open(rw, "rb") as f:
        data = f.read()
    orig = hashlib.sha256(b"rw").digest() * (8 * MiB // 32)
    tap(data[MiB:2 * MiB] == pattern("rw"),
        "READ_WRITE: the host finds the guest's pattern at 1 MiB")
    tap(data[4 * MiB:4 * MiB + 65536] == bytes(65536),
        "READ_WRITE: the discarded range reads as zeros on the host")
    tap(data[:MiB] == orig[:MiB] and data[2 * MiB:4 * MiB] == orig[2 * MiB:4 * MiB],
        "READ_WRITE: bytes the guest did not touch are unchanged")
    tap(sha(ro) == ro_sha, "READ_ONLY: the file is unchanged")
    tap(sha(vol) == vol_sha and (os.stat(vol).st_mode & 0o777) == 0o444,
        "VOLATILE_WRITE: the 0444 file is byte-identical afterwards")

    cache_tests()

    # virtzctl passes --disk through, and guest list / info show the disks.
    if os.path.exists("/dev/virtz-vsock"):
        rc, out, err = tg.virtzctl("env", "create", "vblk")
        env = int(out) if rc == 0 else 0
        base = ["guest", "launch", "--env", str(env), "--kernel",
                tg.kernel_path(), "--initrd", INITRD, "--memory", "128"]
        rc, out, err = tg.virtzctl(*(base + ["--disk", "id=ctl,file=%s,mode=ro" % ro,
                                             "--disk", "id=bad,file=%s/nope" % WORK]))
        tap(rc != 0 and "disk bad: %s/nope: No such file" % WORK in err,
            "virtzctl guest launch --disk passes each disk to virtzd", err)
        rc, out, err = tg.virtzctl(*(base + ["--disk", "id=ctl,file=%s,mode=ro" % ro]))
        tap(rc == 0 and out.strip().isdigit(),
            "virtzctl guest launch with a good --disk starts the guest", err)
        if rc == 0:
            cid = int(out)
            want = {"id": "ctl", "file": ro, "mode": "ro", "format": "raw",
                    "backend": "file", "size_bytes": 4 * MiB,
                    "block_size": 512, "read_only": True, "discard": False,
                    "write_zeroes": False}
            rc, out, err = tg.virtzctl("-j", "guest", "list")
            mine = [i for i in (json.loads(out) if rc == 0 else [])
                    if i["cid"] == cid]
            tap(len(mine) == 1 and mine[0].get("disks") == [want],
                "guest list -j shows the guest's disks", out + err)
            rc, out, err = tg.virtzctl("-j", "guest", "info", str(cid))
            tap(rc == 0 and json.loads(out).get("disks") == [want],
                "guest info -j shows the guest's disks", out + err)
            rc, out, err = tg.virtzctl("guest", "list")
            tap(rc == 0 and any(l.split()[0] == str(cid) and
                                l.split()[-1] == "ctl:ro:raw"
                                for l in out.splitlines()[1:] if l.split()),
                "guest list shows id:mode:format per disk", out + err)
            tg.virtzctl("guest", "stop", str(cid))
        tg.virtzctl("env", "delete", str(env))
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
