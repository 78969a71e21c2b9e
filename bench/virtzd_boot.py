#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Benchmark (not a test): virtzd against QEMU booting the same stock kernel
and busybox initramfs (selftests/guest/mkguest.sh) in the same run.

  boot time  process start -> the guest's init printing its marker
             ("VIRTZ-GUEST-READY") on the serial console;
  overhead   the VMM's resident memory beyond the guest's own pages,
             VmRSS - RssShmem, measured once the marker is seen: both
             VMMs keep guest RAM in a memfd (QEMU through
             memory-backend-memfd), so guest pages are exactly RssShmem.

Prints each figure and the ratios virtzd/QEMU (targets: boot <= 0.5,
overhead <= 0.2): from the best boots, from the medians, and the median
of the per-round ratios (each round boots every VMM once, back to back,
so a burst of load elsewhere hits a round's boots alike).  Each round
boots:
  virtzd    as it boots by default, with a kernel cache primed before
            the first round: the cached vmlinux loaded by virtzd at a
            random place (KASLR), guest RAM in 2 MiB pages (a memfd
            where shmem_enabled allows, else virtzd's private huge
            tmpfs), virtzd's machine arguments ("pci=noearly") before
            the command line;
  vzd-bz4k  as virtzd booted by default before 22 November 2026: the
            bzImage through its own decompressor, RAM in 4 KiB pages;
  vzd-bare  virtzd with --no-machine-args;
  qemu      QEMU (-enable-kvm -cpu host, memfd RAM) with the same
            command line;
  qemu-ne   QEMU given "pci=noearly" too, to show what is virtzd's
            machine and what is that one argument;
  qemu-anon QEMU as the issue's bare command line runs it, guest RAM
            anonymous (transparent_hugepage "always", Debian's default,
            backs it with 2 MiB pages); boot time only, since its guest
            pages cannot be told from its own;
  vzd-hdc   with --hdc only: virtzd --decompress host --kernel-cache none
            (libzstd on every boot), --huge-pages off;
  vzd-kc    with --hdc only: virtzd --decompress host with the primed
            kernel cache (the vmlinux copied, not decompressed),
            --huge-pages off.
  vzd-thp, qemu-thp
            with --thp only: virtzd and QEMU booted while
            /sys/kernel/mm/transparent_hugepage/shmem_enabled is "advise",
            so that both VMMs' memfd guest RAM (each madvises it
            MADV_HUGEPAGE) may be backed by 2 MiB pages; the setting is
            put back after each of these boots (vzd-thp boots the
            bzImage); vhdc-thp with --hdc too: vzd-hdc with shmem THP;
            vkc-thp: vzd-kc with shmem THP.
For virtzd, "setup" is the time until it reports the vCPUs started
(--ready-fd): what it spends itself before the guest runs.
Run where /dev/kvm works, e.g. in the test VM:
  scripts/vm/run.sh --results build/vm-bench -- python3 bench/virtzd_boot.py
Options: --runs N (default 1), --memory MIB (128), --cpus N (1),
--virtzd PATH (build/virtzd), --hdc, --thp.  A boot that does not reach the marker is
reported and left out of the figures.
"""
import argparse
import glob
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../selftests/guest"))
import kvm_keeper as kvm_keeper_mod  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MARKER = b"VIRTZ-GUEST-READY"
CMDLINE = "console=ttyS0 quiet reboot=k panic=-1"


def kvm_keeper():
    """The idle VM held for the whole run: selftests/guest/kvm_keeper.py."""
    return kvm_keeper_mod.hold()


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


SHMEM_THP = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"


def shmem_thp(mode=None):
    """Returns the current shmem THP mode; sets it first if @mode."""
    if mode is not None:
        with open(SHMEM_THP, "w") as f:
            f.write(mode)
    with open(SHMEM_THP) as f:
        return f.read().split("[")[1].split("]")[0]


def boot(argv, timeout=600, ready=False, thp=None):
    """Returns (seconds to marker, overhead KiB, VmRSS KiB, setup s)."""
    if thp is not None:
        saved = shmem_thp()
        shmem_thp(thp)
        try:
            return boot(argv, timeout, ready)
        finally:
            shmem_thp(saved)
    rfd = wfd = None
    if ready:
        rfd, wfd = os.pipe()
        argv = argv + ["--ready-fd", str(wfd)]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         pass_fds=(wfd,) if ready else ())
    setup = None
    if ready:
        os.close(wfd)
    buf = b""
    try:
        while MARKER not in buf:
            left = timeout - (time.monotonic() - t0)
            if left <= 0 or p.poll() is not None:
                raise RuntimeError("%s: no marker; output tail %r" %
                                   (argv[0], buf[-400:]))
            fds = [p.stdout] + ([rfd] if rfd is not None else [])
            r, _, _ = select.select(fds, [], [], min(left, 1))
            if rfd is not None and rfd in r:
                os.read(rfd, 256)
                setup = time.monotonic() - t0
                os.close(rfd)
                rfd = None
            if p.stdout in r:
                d = os.read(p.stdout.fileno(), 65536)
                if not d and p.poll() is not None:
                    continue
                buf += d
        elapsed = time.monotonic() - t0
        time.sleep(2)
        rss = status_kib(p.pid, "VmRSS")
        shmem = status_kib(p.pid, "RssShmem")
        return elapsed, rss - shmem, rss, setup
    finally:
        if rfd is not None:
            os.close(rfd)
        p.kill()
        p.wait()


def prime(argv):
    """Starts virtzd until its vCPUs run, which stores the kernel cache
    entry, and stops it.  Returns the seconds that took."""
    rfd, wfd = os.pipe()
    t0 = time.monotonic()
    p = subprocess.Popen(argv + ["--ready-fd", str(wfd)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         pass_fds=(wfd,))
    os.close(wfd)
    try:
        os.read(rfd, 256)
        return time.monotonic() - t0
    finally:
        os.close(rfd)
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--memory", type=int, default=128)
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--virtzd", default=os.path.join(TOP, "build/virtzd"))
    ap.add_argument("--hdc", action="store_true",
                    help="also virtzd --decompress host (vzd-hdc)")
    ap.add_argument("--only", help="comma-separated variants to boot")
    ap.add_argument("--thp", action="store_true",
                    help="also boot both with shmem THP (vzd-thp, qemu-thp)")
    a = ap.parse_args()

    subprocess.run(["modprobe", "kvm_amd"], capture_output=True)
    subprocess.run(["modprobe", "kvm_intel"], capture_output=True)
    keeper = kvm_keeper()   # noqa: F841 (held until exit)
    kernel = sorted(glob.glob("/boot/vmlinuz-6.12*-amd64"))[-1]
    initrd = os.path.join(TOP, "build/guest/initramfs.cpio")
    subprocess.run([os.path.join(TOP, "selftests/guest/mkguest.sh"), initrd],
                   check=True)
    vzd = [a.virtzd, "--kernel", kernel, "--initrd", initrd,
           "--cmdline", CMDLINE, "--memory", str(a.memory),
           "--cpus", str(a.cpus), "--console"]
    qemu = ["qemu-system-x86_64", "-enable-kvm", "-cpu", "host",
            "-nodefaults", "-no-user-config", "-nographic",
            "-serial", "stdio", "-m", "%dM" % a.memory,
            "-smp", str(a.cpus),
            "-object", "memory-backend-memfd,id=ram,size=%dM" % a.memory,
            "-machine", "pc,memory-backend=ram",
            "-kernel", kernel, "-initrd", initrd, "-append"]
    # QEMU as the bare command line runs it: anonymous guest RAM,
    # which transparent_hugepage "always" (Debian's default) backs with
    # 2 MiB pages; no overhead figure (its guest pages are not apart).
    qemu_anon = [x for x in qemu if not x.startswith(("memory-backend",
                                                      "pc,memory-backend"))
                 and x not in ("-object", "-machine")]
    # The kernel cache, primed before the first round.
    kcache = tempfile.mkdtemp(prefix="vzboot-kcache-")
    vdef = vzd + ["--kernel-cache", kcache]
    vmms = {
        "virtzd": vdef,
        "vzd-bz4k": vzd + ["--decompress", "guest", "--huge-pages", "off"],
        "vzd-bare": vdef + ["--no-machine-args"],
        "qemu": qemu + [CMDLINE],
        "qemu-ne": qemu + ["pci=noearly " + CMDLINE],
        "qemu-anon": qemu_anon + [CMDLINE],
    }
    # Host decompression cold (no cache: libzstd every boot) and warm.
    cold = vzd + ["--decompress", "host", "--kernel-cache", "none"]
    warm = vzd + ["--decompress", "host", "--kernel-cache", kcache]
    if a.hdc:
        vmms["vzd-hdc"] = cold + ["--huge-pages", "off"]
        vmms["vzd-kc"] = warm + ["--huge-pages", "off"]
    if a.thp:
        vmms["vzd-thp"] = vzd + ["--decompress", "guest"]
        vmms["qemu-thp"] = qemu + [CMDLINE]
        vmms["qanon-thp"] = qemu_anon + [CMDLINE]   # the same, for pairing
        if a.hdc:
            vmms["vhdc-thp"] = cold
            vmms["vkc-thp"] = warm
    if a.only:
        vmms = {k: v for k, v in vmms.items() if k in a.only.split(",")}
    print("shmem THP: %s" % shmem_thp(), flush=True)
    if any(kcache in argv for argv in vmms.values()):
        print("kernel cache primed in %.2f s" % prime(warm), flush=True)
    res = {k: [] for k in vmms}
    failed = {k: 0 for k in vmms}
    rounds = []
    for _ in range(a.runs):
        this = {}
        for name, argv in vmms.items():
            try:
                r = boot(argv, ready=name.startswith("v"),
                         thp="advise" if name.endswith("-thp") else None)
            except RuntimeError as e:
                failed[name] += 1
                print("%-8s FAILED: %s" % (name, e), flush=True)
                continue
            res[name].append(r)
            this[name] = r[0]
            t, ovh, rss, setup = r
            print("%-9s boot %6.2f s  overhead %s  (VmRSS %d KiB)%s" %
                  (name, t, "    n/a    " if "anon" in name else
                   "%7d KiB" % ovh, rss,
                   "  setup %.2f s" % setup if setup is not None else ""),
                  flush=True)
        rounds.append(this)

    def best(name, i):
        return min(r[i] for r in res[name])

    def median(v):
        v = sorted(v)
        n = len(v)
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

    def med(name, i):
        return median([r[i] for r in res[name]])

    for name in vmms:
        print("%-9s %d boots, %d failed" % (name, len(res[name]),
                                             failed[name]))
    for peer in [n for n in vmms if n.startswith("q")]:
        if not res[peer]:
            continue
        for name in [n for n in vmms if n.startswith("v")]:
            if not res[name]:
                continue
            paired = [r[name] / r[peer] for r in rounds
                      if name in r and peer in r]
            print("ratio boot     %s/%s = %.2f best, %.2f median, %.2f "
                  "median of %d rounds (%s)  (target <= 0.5)"
                  % (name, peer, best(name, 0) / best(peer, 0),
                     med(name, 0) / med(peer, 0), median(paired),
                     len(paired), " ".join("%.2f" % x for x in paired)))
    for name in [n for n in vmms if n.startswith("v")]:
        if res[name] and res.get("qemu"):
            print("ratio overhead %s/qemu = %.2f best, %.2f median  "
                  "(target <= 0.2)"
                  % (name, best(name, 1) / max(best("qemu", 1), 1),
                     med(name, 1) / max(med("qemu", 1), 1)))
    shutil.rmtree(kcache, ignore_errors=True)
    if not any(res[n] for n in vmms if n.startswith("q")):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
