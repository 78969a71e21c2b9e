#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Guest disks through block FIFO sessions (/dev/virtz-block), with one
# nested guest and three disks:
#   - a brd disk with backend=session: a pattern the guest writes with
#     O_DIRECT is on /dev/ram0 byte for byte (read from the host); so are
#     4 MiB O_DIRECT requests, whose scattered pages need more FIFO
#     requests than the session holds, so that they go out in parts;
#   - an FVM volume (fvm-pool over dm-log-writes over brd, volume "data"):
#     chosen as a session without asking (auto), same round trip read from
#     /dev/mapper/...-data; a guest fsync reaches the volume as a FLUSH
#     (an empty flush entry in the dm-log-writes log between two marks),
#     while an O_DIRECT write without fsync brings no flush;
#   - WRITE_ZEROES on both (BLKZEROOUT from selftests/guest/vblk_zero.c):
#     the guest sees the session's limit, and the host finds zeros exactly
#     in the range, across two FIFO requests from the zeros VMO on brd;
#   - the balloon: with a session disk, inflating does not punch guest RAM
#     out of the memfd (the session's VMO holds those pages), and after a
#     deflate the guest's I/O still lands in the right place.
# Prints TAP.  Needs virtz_fvm loaded, /dev/kvm, brd and dm-log-writes.
import hashlib
import os
import re
import stat
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_virtzd_guest as tg  # noqa: E402
import test_vblk_disks as vd  # noqa: E402
from test_vblk_disks import tap, pattern, MiB  # noqa: E402

VIRTZCTL = tg.VIRTZCTL
WORK = "/tmp/vblk-session"
ENV = dict(os.environ, DM_DISABLE_UDEV="1")
POOL = "vblkpool"
LW = "vblklw"


def sh(cmd):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=ENV)
    if p.returncode:
        print("# %s: rc %d %s" % (cmd, p.returncode, p.stderr.strip()[:300]))
    return p.returncode == 0, p.stdout


def read_dev(path, off, n):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, n, off)
    finally:
        os.close(fd)


LOG_FLUSH, LOG_FUA, LOG_DISCARD, LOG_MARK = 1, 2, 4, 8


def log_entries(dev):
    """dm-log-writes' log: [(sector, nr, flags, mark-text)]."""
    sup = read_dev(dev, 0, 4096)
    magic, ver, n, ss = struct.unpack_from("<QQQI", sup)
    if magic != 0x6a736677736872:
        return None
    out, pos = [], ss
    for _ in range(n):
        hdr = read_dev(dev, pos, ss)
        sector, nr, flags, dlen = struct.unpack_from("<QQQQ", hdr)
        pos += ss
        text = ""
        if flags & LOG_MARK:
            # A mark's text follows the entry inside its header block.
            text = hdr[32:32 + min(dlen, ss - 32)].rstrip(b"\0").decode(errors="replace")
        elif not (flags & LOG_DISCARD):
            pos += nr * ss
        out.append((sector, nr, flags, text))
    return out


def memfd_kib(pid):
    return tg.memfd_kib(pid)


def main():
    print("TAP version 13", flush=True)
    subprocess.run(["modprobe", "kvm_amd"], capture_output=True)
    if not tg.kernel_path() or not os.path.exists("/dev/kvm") or \
            not os.path.exists("/dev/virtz-block"):
        print("1..0 # SKIP needs /dev/kvm, /dev/virtz-block and a 6.12 kernel")
        return 0
    if os.path.exists("/sys/module/brd"):
        print("1..0 # SKIP brd is already loaded by someone else")
        return 0
    if subprocess.run("modprobe brd rd_nr=3 rd_size=65536 && modprobe dm-log-writes",
                      shell=True).returncode or not os.path.exists("/dev/ram2"):
        print("1..0 # SKIP needs brd and dm-log-writes")
        return 0
    try:
        return run()
    finally:
        subprocess.run("dmsetup remove %s-data; dmsetup remove %s; dmsetup remove %s; "
                       "rmmod brd" % (POOL, POOL, LW), shell=True, env=ENV,
                       capture_output=True)


def run():
    if not os.environ.get("VBLK_INITRD"):
        subprocess.run([os.path.join(tg.TOP, "selftests/guest/mkguest.sh"), vd.INITRD],
                       check=True)
    subprocess.run(["rm", "-rf", WORK])
    os.makedirs(WORK)
    vd.WORK = WORK

    # ram1 holds an FVM with a volume "data", logged by dm-log-writes to ram2.
    img = os.path.join(WORK, "fvm.img")
    ok = sh("%s fvm create %s --size 64M --slice-size 1M --max-size 64M && "
            "%s fvm add %s data --slices 8 && dd if=%s of=/dev/ram1 bs=1M "
            "conv=fsync status=none && blkdiscard /dev/ram2; "
            "dd if=/dev/zero of=/dev/ram2 bs=1M count=1 conv=fsync status=none && "
            "dmsetup create %s --table \"0 131072 log-writes /dev/ram1 /dev/ram2\" && "
            "dmsetup create %s --table \"0 131072 fvm-pool /dev/mapper/%s\" && "
            "dmsetup create %s-data --table \"0 16384 fvm /dev/mapper/%s data\" && "
            "dmsetup mknodes" % (VIRTZCTL, img, VIRTZCTL, img, img, LW, POOL, LW,
                                 POOL, POOL))[0]
    vol = "/dev/mapper/%s-data" % POOL
    if not tap(ok and os.path.exists(vol) and
               stat.S_ISBLK(os.stat(vol).st_mode), "an FVM volume over dm-log-writes"):
        return 1

    initrd, why = vd.initrd_with("session", ["vblk_zero"])
    if not tap(initrd is not None, "the guest's BLKZEROOUT helper builds", why):
        return 1
    g = vd.Guest("s1", ["id=brd,file=/dev/ram0,backend=session",
                        "id=fvm,file=%s" % vol], mem=128, initrd=initrd)
    log = open(g.log).read()
    tap(g.ok(), "a guest with a brd session disk and an FVM volume launches",
        g.ready + log)
    if not g.ok():
        return 1
    tap("disk fvm: %s, raw, rw, session backend" % vol in log and
        "disk brd: /dev/ram0, raw, rw, session backend" in log,
        "the FVM volume gets the session backend by default", log)
    big = []
    wz_brd = wz_fvm = None
    try:
        if not tap(g.boot() is not None, "the guest boots"):
            return 1
        devs = vd.dev_by_serial(g)
        tap(set(devs) == {"brd", "fvm"}, "both disks are there", devs)
        if len(devs) != 2:
            return 1
        for tag, seek in (("brd", 3), ("fvm", 2)):
            out = vd.guest_write(g, devs[tag], tag, seek)
            sums = [l.split()[0] for l in out.splitlines()
                    if len(l.split()) == 2 and len(l.split()[0]) == 32]
            tap("rc=0" in out and len(sums) == 2 and sums[0] == sums[1],
                "%s: O_DIRECT write through the session, read back" % tag, out)

        # 4 MiB O_DIRECT requests: the guest's buffer is scattered pages,
        # more than the 64 FIFO requests the session holds at once, so
        # each goes out in parts; the data must come back whole.
        out = g.run("head -c 4194304 /dev/urandom > /tmp/big; "
                    "dd if=/tmp/big of=/dev/%s bs=4M seek=2 oflag=direct "
                    "conv=fsync 2>&1; echo rc=$?; dd if=/dev/%s bs=4M skip=2 "
                    "count=1 iflag=direct 2>/dev/null | md5sum; md5sum < "
                    "/tmp/big" % (devs["brd"], devs["brd"]), 300) or ""
        big = [l.split()[0] for l in out.splitlines()
               if len(l.split()) == 2 and len(l.split()[0]) == 32]
        tap("rc=0" in out and len(big) == 2 and big[0] == big[1],
            "brd: a 4 MiB O_DIRECT write and read, read back", out)

        # WRITE_ZEROES: offered with the session's limit (256 FIFO
        # requests of 1 MiB), and BLKZEROOUT zeroes exactly its range:
        # on brd 1 MiB + 4 KiB across two patterns (two FIFO requests from
        # the zeros VMO), on the volume 64 KiB inside one.
        for tag, pats, (off, n) in (("brd", (("wz1", 6), ("wz2", 7)), (6 * MiB + 4096, MiB + 4096)),
                                    ("fvm", (("fz", 4),), (4 * MiB + 8192, 65536))):
            out = g.run("cat /sys/block/%s/queue/write_zeroes_max_bytes" % devs[tag]) or ""
            tap(out.split()[:1] == [str(256 * MiB)],
                "%s: the guest sees WRITE_ZEROES, up to 256 MiB a request" % tag, out)
            for p, seek in pats:
                vd.guest_write(g, devs[tag], p, seek)
            out = g.run("vblk_zero /dev/%s %d %d; "
                        "dd if=/dev/%s bs=4096 skip=%d count=%d iflag=direct "
                        "2>/dev/null | md5sum" % (devs[tag], off, n, devs[tag],
                                                  off // 4096, n // 4096)) or ""
            zero = hashlib.md5(bytes(n)).hexdigest()
            tap("zeroout rc=0" in out and zero in out,
                "%s: BLKZEROOUT of %d bytes, the guest reads zeros" % (tag, n), out)
        wz_brd = read_dev("/dev/ram0", 6 * MiB, 2 * MiB)
        wz_fvm = read_dev(vol, 4 * MiB, MiB)

        # Flush ordering, bracketed by dm-log-writes marks.
        sh("dmsetup message %s 0 mark vblk-a" % LW)
        g.run("dd if=/tmp/p of=/dev/%s bs=4096 count=1 seek=100 oflag=direct 2>&1" % devs["fvm"])
        sh("dmsetup message %s 0 mark vblk-b" % LW)
        out = g.run("dd if=/tmp/p of=/dev/%s bs=4096 count=1 seek=101 oflag=direct "
                    "conv=fsync 2>&1; echo rc=$?" % devs["fvm"])
        sh("dmsetup message %s 0 mark vblk-c" % LW)

        # The balloon may not punch out pages the session's VMO holds.
        # (A guest that died on the way fails this check, not the test.)
        try:
            pid = g.proc.pid
            before = memfd_kib(pid)
            s = vd.socket.socket(vd.socket.AF_UNIX, vd.socket.SOCK_SEQPACKET)
            s.settimeout(30)
            s.connect(g.ctl)
            _, _, err, _, _ = tg.ctl_call(s, tg.T_BSET, struct.pack("=I", 8192))
            actual = None
            end = time.time() + 60
            while time.time() < end:
                _, _, e2, data, _ = tg.ctl_call(s, tg.T_BGET)
                actual = struct.unpack_from("=I", data)[0] if not e2 else None
                if actual == 8192:
                    break
                time.sleep(0.5)
            after = memfd_kib(pid)
            tap(err == 0 and actual == 8192 and before and after and
                after > before - 8192 * 4 // 2,
                "balloon inflated by 32 MiB; guest RAM stays with the session "
                "(memfd %s -> %s KiB)" % (before, after), "err %s actual %s" % (err, actual))
            tg.ctl_call(s, tg.T_BSET, struct.pack("=I", 0))
            end = time.time() + 60
            while time.time() < end:
                _, _, e2, data, _ = tg.ctl_call(s, tg.T_BGET)
                if not e2 and struct.unpack_from("=I", data)[0] == 0:
                    break
                time.sleep(0.5)
            s.close()
        except (OSError, struct.error) as e:
            tap(False, "balloon inflated by 32 MiB; guest RAM stays with the "
                "session", repr(e))
        # Reuse the deflated memory for I/O buffers: a new pattern.
        out2 = vd.guest_write(g, devs["brd"], "brd2", 5)
        sums = [l.split()[0] for l in out2.splitlines()
                if len(l.split()) == 2 and len(l.split()[0]) == 32]
        tap("rc=0" in out2 and len(sums) == 2 and sums[0] == sums[1],
            "after inflate and deflate, session I/O still reads back", out2)
    finally:
        rc = g.stop()
    tap(rc == 0, "the guest stops cleanly (exit %s)" % rc)
    log = open(g.log).read()
    m = re.search(r"block session /dev/ram0: (\d+) requests, (\d+) of them "
                  r"in parts", log)
    tap(m is not None and int(m.group(2)) > 0,
        "requests larger than the FIFO went out in parts (%s of %s)" %
        (m.group(2) if m else "?", m.group(1) if m else "?"), log[-600:])
    if big and len(big) == 2:
        tap(hashlib.md5(read_dev("/dev/ram0", 8 * MiB, 4 * MiB)).hexdigest()
            == big[1], "brd: the host finds the guest's 4 MiB on /dev/ram0")

    tap(read_dev("/dev/ram0", 3 * MiB, MiB) == pattern("brd"),
        "brd: the host finds the guest's pattern on /dev/ram0")
    tap(read_dev("/dev/ram0", 5 * MiB, MiB) == pattern("brd2"),
        "brd: and the one written after the balloon went up and down")
    tap(read_dev(vol, 2 * MiB, MiB) == pattern("fvm"),
        "fvm: the host finds the guest's pattern on the volume")
    want = pattern("wz1")[:4096] + bytes(MiB + 4096) + pattern("wz2")[8192:]
    tap(wz_brd == want, "brd: on the host, zeros exactly where the guest "
        "zeroed out, the patterns around them intact")
    want = pattern("fz")[:8192] + bytes(65536) + pattern("fz")[8192 + 65536:]
    tap(wz_fvm == want, "fvm: the same on the volume")

    sh("dmsetup remove %s-data && dmsetup remove %s" % (POOL, POOL))
    sh("dmsetup remove %s" % LW)
    ents = log_entries("/dev/ram2")
    if not tap(ents is not None, "dm-log-writes log is readable"):
        return 1
    marks = {t: i for i, (_, _, f, t) in enumerate(ents) if f & LOG_MARK}
    if not tap(all(m in marks for m in ("vblk-a", "vblk-b", "vblk-c")),
               "the three marks are in the log", marks):
        return 1
    a, b, c = marks["vblk-a"], marks["vblk-b"], marks["vblk-c"]
    ab = ents[a + 1:b]
    bc = ents[b + 1:c]
    fl = lambda es: [e for e in es if e[2] & LOG_FLUSH and e[1] == 0]  # noqa: E731
    wr = lambda es: [e for e in es if e[1] and not e[2] & (LOG_DISCARD | LOG_MARK)]  # noqa: E731
    # dm-log-writes logs a write only at the next flush: a write without
    # fsync shows nothing between a and b, neither data nor a flush (no
    # spurious FLUSH, no FUA); the fsync's flush logs both writes, then
    # itself, between b and c.
    tap(not fl(ab) and not [e for e in ab if e[2] & LOG_FUA],
        "an O_DIRECT write without fsync brings no flush and no FUA", ab)
    wpos = [i for i, e in enumerate(bc) if e in wr(bc)]
    fpos = [i for i, e in enumerate(bc) if e[2] & LOG_FLUSH and e[1] == 0]
    tap(len(wpos) >= 2 and fpos and fpos[-1] > wpos[-1],
        "a guest fsync reaches the volume as a FLUSH, after both writes", bc)
    print("1..%d" % len(vd.results))
    return 0 if all(vd.results) else 1


if __name__ == "__main__":
    sys.exit(main())
