#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# QCOW2 guest disks with one nested guest and four images:
#   - made by `qemu-img create` without a backing file (READ_WRITE),
#   - with a raw backing file (READ_WRITE: copy-on-write over it),
#   - written by QEMU itself with qemu-io (READ_ONLY),
#   - a copy of that one in VOLATILE_WRITE;
# the guest writes patterns with O_DIRECT and reads them back, reads what
# QEMU wrote and what the backing file holds; afterwards `qemu-img check`
# is clean, `qemu-img convert -O raw` equals the guest's view (pattern
# where written, backing or zeros elsewhere), the READ_ONLY and VOLATILE
# images are byte-identical.  An encrypted image is refused at launch
# with the engine's message naming encryption.
# Prints TAP.  Needs /dev/kvm and qemu-utils.
import hashlib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_virtzd_guest as tg  # noqa: E402
import test_vblk_disks as vd  # noqa: E402
from test_vblk_disks import tap, pattern, sha, MiB  # noqa: E402

WORK = "/tmp/vblk-qcow2"


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def md5s(out):
    return [l.split()[0] for l in (out or "").splitlines()
            if len(l.split()) == 2 and len(l.split()[0]) == 32]


def main():
    print("TAP version 13", flush=True)
    subprocess.run(["modprobe", "kvm_amd"], capture_output=True)
    if not tg.kernel_path() or not os.path.exists("/dev/kvm") or \
            not shutil.which("qemu-img") or not shutil.which("qemu-io"):
        print("1..0 # SKIP needs /dev/kvm, qemu-img and qemu-io")
        return 0
    if not os.environ.get("VBLK_INITRD"):
        subprocess.run([os.path.join(tg.TOP, "selftests/guest/mkguest.sh"), vd.INITRD],
                       check=True)
    subprocess.run(["rm", "-rf", WORK])
    os.makedirs(WORK)
    vd.WORK = WORK
    p = lambda n: os.path.join(WORK, n)  # noqa: E731
    base = vd.make_file(p("base.raw"), 16 * MiB, "base")
    ok = all(run(*c)[0] == 0 for c in (
        ("qemu-img", "create", "-q", "-f", "qcow2", p("plain.qcow2"), "16M"),
        ("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw",
         p("over.qcow2")),
        ("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10",
         p("qemu.qcow2"), "16M"),
        ("qemu-io", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 8M 64k",
         p("qemu.qcow2")),
    ))
    shutil.copy(p("qemu.qcow2"), p("vol.qcow2"))
    os.chmod(p("vol.qcow2"), 0o444)
    tap(ok, "images made by qemu-img and written by qemu-io")
    qemu_sha, vol_sha = sha(p("qemu.qcow2")), sha(p("vol.qcow2"))

    rc, out = run("qemu-img", "create", "-q", "-f", "qcow2", "--object",
                  "secret,id=s0,data=pw", "-o", "encrypt.format=luks,encrypt.key-secret=s0",
                  p("enc.qcow2"), "1M")
    if rc == 0:
        g = vd.Guest("enc", ["id=e,file=%s,format=qcow2" % p("enc.qcow2")])
        tap(not g.ok() and "encrypt" in g.ready and "enc.qcow2" in g.ready,
            "an encrypted image is refused at launch, naming the feature", g.ready)
        g.stop()
    g = vd.Guest("raw-is-not-qcow2", ["id=e,file=%s,format=qcow2" % p("base.raw")])
    tap(not g.ok() and "not a qcow2 image" in g.ready,
        "format=qcow2 on a raw file is refused", g.ready)
    g.stop()

    g = vd.Guest("q1", ["id=plain,file=%s,format=qcow2" % p("plain.qcow2"),
                        "id=over,file=%s,format=qcow2" % p("over.qcow2"),
                        "id=qemu,file=%s,format=qcow2,mode=ro" % p("qemu.qcow2"),
                        "id=vol,file=%s,format=qcow2,mode=volatile" % p("vol.qcow2")])
    if not tap(g.ok(), "a guest with four qcow2 disks launches", g.ready):
        return 1
    try:
        if not tap(g.boot() is not None, "the guest boots"):
            return 1
        devs = vd.dev_by_serial(g)
        tap(set(devs) == {"plain", "over", "qemu", "vol"}, "four disks", devs)
        if len(devs) != 4:
            return 1
        for tag, seek in (("plain", 1), ("over", 2), ("vol", 3)):
            out = vd.guest_write(g, devs[tag], tag, seek)
            s = md5s(out)
            tap("rc=0" in out and len(s) == 2 and s[0] == s[1],
                "%s: O_DIRECT write, read back" % tag, out)
        out = g.run("echo 3 > /proc/sys/vm/drop_caches; "
                    "dd if=/dev/%s bs=65536 skip=128 count=16 iflag=direct 2>/dev/null | md5sum; "
                    "dd if=/dev/%s bs=65536 count=16 iflag=direct 2>/dev/null | md5sum; "
                    "dd if=/dev/%s bs=65536 skip=128 count=1 iflag=direct 2>/dev/null | md5sum; "
                    "dd if=/dev/%s bs=65536 skip=48 count=16 iflag=direct 2>/dev/null | md5sum"
                    % (devs["over"], devs["qemu"], devs["qemu"], devs["vol"]))
        want = [hashlib.md5(base[8 * MiB:9 * MiB]).hexdigest(),
                hashlib.md5(b"\x5a" * MiB).hexdigest(),
                hashlib.md5(b"\xa5" * 65536).hexdigest(),
                hashlib.md5(pattern("vol")).hexdigest()]
        got = md5s(out)
        tap(got[:1] == want[:1], "over: unwritten clusters read from the backing file", out)
        tap(got[1:3] == want[1:3], "qemu: the guest reads what qemu-io wrote", out)
        tap(got[3:] == want[3:], "vol: the overlay survives a cache drop", out)
        out = g.run("dd if=/dev/zero of=/dev/%s bs=4096 count=1 oflag=direct 2>&1; echo rc=$?"
                    % devs["qemu"])
        tap(out is not None and "rc=0" not in out, "READ_ONLY qcow2 refuses writes", out)

        # Backing files are locked shared while an overlay uses them.
        g2 = vd.Guest("rw-on-backing", ["id=b,file=%s" % p("base.raw")])
        tap(not g2.ok() and "base.raw is in use by another guest" in g2.ready,
            "a READ_WRITE disk on a backing file in use is refused", g2.ready)
        g2.stop()
        g3 = vd.Guest("ro-on-backing", ["id=b,file=%s,mode=ro" % p("base.raw")])
        tap(g3.ok(), "a READ_ONLY disk on that backing file shares it", g3.ready)
        g3.stop()
    finally:
        rc = g.stop()
    tap(rc == 0, "the guest stops cleanly (exit %s)" % rc)

    # ... and an overlay whose backing a READ_WRITE disk holds is refused.
    g2 = vd.Guest("rw-holder", ["id=b,file=%s" % p("base.raw")])
    g3 = vd.Guest("over-blocked", ["id=o,file=%s,format=qcow2,mode=ro" % p("over.qcow2")])
    tap(g2.ok() and not g3.ok() and
        "backing file '%s' is in use read-write by another guest" % p("base.raw") in g3.ready,
        "an overlay whose backing file a READ_WRITE disk holds is refused, "
        "naming it", g2.ready + " / " + g3.ready)
    g3.stop()
    g2.stop()

    for name in ("plain", "over"):
        rc, out = run("qemu-img", "check", p(name + ".qcow2"))
        tap(rc == 0, "qemu-img check %s.qcow2 is clean" % name, out)
    rc1, o1 = run("qemu-img", "convert", "-O", "raw", p("plain.qcow2"), p("plain.out"))
    rc2, o2 = run("qemu-img", "convert", "-O", "raw", p("over.qcow2"), p("over.out"))
    plain = open(p("plain.out"), "rb").read() if rc1 == 0 else b""
    over = open(p("over.out"), "rb").read() if rc2 == 0 else b""
    tap(plain == bytes(MiB) + pattern("plain") + bytes(14 * MiB),
        "plain: qemu-img convert equals the guest's view", o1)
    tap(over == base[:2 * MiB] + pattern("over") + base[3 * MiB:],
        "over: qemu-img convert equals backing + the guest's write", o2)
    tap(sha(p("qemu.qcow2")) == qemu_sha, "the READ_ONLY image is unchanged")
    tap(sha(p("vol.qcow2")) == vol_sha, "the VOLATILE image (0444) is unchanged")
    print("1..%d" % len(vd.results))
    return 0 if all(vd.results) else 1


if __name__ == "__main__":
    sys.exit(main())
