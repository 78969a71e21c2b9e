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
overhead <= 0.2).  Run where /dev/kvm works, e.g. in the test VM:
  scripts/vm/run.sh --results build/vm-bench -- python3 bench/virtzd_boot.py
Options: --runs N (default 1), --memory MIB (128), --cpus N (1).
"""
import argparse
import glob
import os
import select
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MARKER = b"VIRTZ-GUEST-READY"
CMDLINE = "console=ttyS0 quiet reboot=k panic=-1"


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def boot(argv, timeout=600):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf = b""
    try:
        while MARKER not in buf:
            left = timeout - (time.monotonic() - t0)
            if left <= 0 or p.poll() is not None:
                raise RuntimeError("%s: no marker; output tail %r" %
                                   (argv[0], buf[-400:]))
            r, _, _ = select.select([p.stdout], [], [], min(left, 1))
            if r:
                d = os.read(p.stdout.fileno(), 65536)
                if not d and p.poll() is not None:
                    continue
                buf += d
        elapsed = time.monotonic() - t0
        time.sleep(2)
        rss = status_kib(p.pid, "VmRSS")
        shmem = status_kib(p.pid, "RssShmem")
        return elapsed, rss - shmem, rss
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--memory", type=int, default=128)
    ap.add_argument("--cpus", type=int, default=1)
    a = ap.parse_args()

    subprocess.run(["modprobe", "kvm_amd"], capture_output=True)
    subprocess.run(["modprobe", "kvm_intel"], capture_output=True)
    kernel = sorted(glob.glob("/boot/vmlinuz-6.12*-amd64"))[-1]
    initrd = os.path.join(TOP, "build/guest/initramfs.cpio")
    subprocess.run([os.path.join(TOP, "selftests/guest/mkguest.sh"), initrd],
                   check=True)
    vmms = {
        "virtzd": [os.path.join(TOP, "build/virtzd"), "--kernel", kernel,
                   "--initrd", initrd, "--cmdline", CMDLINE, "--memory",
                   str(a.memory), "--cpus", str(a.cpus), "--console"],
        "qemu": ["qemu-system-x86_64", "-enable-kvm", "-cpu", "host",
                 "-nodefaults", "-no-user-config", "-nographic",
                 "-serial", "stdio", "-m", "%dM" % a.memory,
                 "-smp", str(a.cpus),
                 "-object", "memory-backend-memfd,id=ram,size=%dM" % a.memory,
                 "-machine", "pc,memory-backend=ram",
                 "-kernel", kernel, "-initrd", initrd, "-append", CMDLINE],
    }
    res = {k: [] for k in vmms}
    for _ in range(a.runs):
        for name, argv in vmms.items():
            res[name].append(boot(argv))
            t, ovh, rss = res[name][-1]
            print("%-7s boot %6.2f s  overhead %7d KiB  (VmRSS %d KiB)" %
                  (name, t, ovh, rss), flush=True)

    def best(name, i):
        return min(r[i] for r in res[name])

    bt = best("virtzd", 0) / best("qemu", 0)
    ov = best("virtzd", 1) / max(best("qemu", 1), 1)
    print("ratio boot     virtzd/qemu = %.2f  (target <= 0.5)" % bt)
    print("ratio overhead virtzd/qemu = %.2f  (target <= 0.2)" % ov)
    return 0


if __name__ == "__main__":
    sys.exit(main())
