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
    def __init__(self, name, disks, mem=128):
        self.ctl = os.path.join(WORK, name + ".sock")
        self.log = os.path.join(WORK, name + ".log")
        r, w = os.pipe()
        args = [VIRTZD, "--kernel", tg.kernel_path(), "--initrd", INITRD,
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

    def ok(self):
        return self.ready.startswith("ok")

    def boot(self, timeout=300):
        self.ser = Serial(self.ctl)
        return self.ser.expect("VIRTZ-GUEST-READY", timeout)

    def run(self, cmd, timeout=120):
        return self.ser.run(cmd, timeout)

    def stop(self):
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
    s.connect(ctl_path)
    _, _, err, data, _ = tg.ctl_call(
        s, T_DISK, struct.pack("=I", index) if payload is None else payload)
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
    ]
    for spec, want in cases:
        p = subprocess.run([VIRTZD, "--kernel", tg.kernel_path(), "--disk", spec],
                           capture_output=True, text=True, timeout=60)
        tap(p.returncode != 0 and want in p.stderr,
            "--disk %s is refused: %s" % (spec[:40], want), p.stderr.strip())


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
        tap(out and out.split()[:2] == ["16384", "62"] and "rc=0" in out,
            "segments of at most 16 KiB, 62 of them: a 4 MiB O_DIRECT read "
            "arrives as requests that fit a chain", out)

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
