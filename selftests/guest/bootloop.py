#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Boots the nested guest (Debian's stock kernel + mkguest.sh initramfs)
under virtzd N times in a row and counts how each boot ended:

  ok       the init marker VIRTZ-GUEST-READY appeared;
  panic    "Kernel panic" / "Fatal exception" / "Oops" on the console;
  warn     the marker appeared, but the kernel printed a WARNING or a
           call trace on the way;
  exit     virtzd exited before the marker;
  timeout  nothing of the above within --timeout seconds.

A reliability probe, not a test.  While it runs it holds one idle KVM VM
open (kvm_keeper(), --no-keeper to skip): creating the first VM and
destroying the last flip static keys in the test VM's kernel (KVM's
preempt notifiers), i.e. patch kernel text, and the test VM's TCG
occasionally runs a stale copy of the code being patched: an "int3"
Oops in __schedule and "Fatal exception in interrupt" in the *test VM*
kernel.  With a VM held open, guests come and go without patching.
Run it in the test VM, e.g.
  scripts/vm/run.sh -r build/vm-h2 -t 1800 -- \
      python3 selftests/guest/bootloop.py --runs 20 --log build/h2-loop
The console of every boot that was not "ok" is kept in --log DIR, with
the boot's number in the file name.  Extra virtzd options go after "--".
"""
import argparse
import glob
import os
import re
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "."))
import kvm_keeper as kvm_keeper_mod  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
MARKER = b"VIRTZ-GUEST-READY"
BAD = re.compile(rb"Kernel panic|Fatal exception|Oops|general protection")
WARN = re.compile(rb"WARNING:|Call Trace|XSAVE consistency|BUG:")


def kvm_keeper():
    """Holds a VM with an irqchip and one (never run) vCPU: see above."""
    return kvm_keeper_mod.hold()


def boot(argv, timeout):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf = b""
    arrivals = []           # (seconds since start, len(buf) after chunk)
    verdict = "timeout"
    try:
        while True:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                break
            r, _, _ = select.select([p.stdout], [], [], min(left, 1))
            if r:
                d = os.read(p.stdout.fileno(), 65536)
                if not d:
                    verdict = "exit"
                    break
                buf += d
                arrivals.append((time.monotonic() - t0, len(buf)))
            if BAD.search(buf):
                # Let the rest of the oops reach the log.
                time.sleep(2)
                verdict = "panic"
                break
            if MARKER in buf:
                verdict = "warn" if WARN.search(buf) else "ok"
                break
            if not r and p.poll() is not None:
                verdict = "exit"
                break
        elapsed = time.monotonic() - t0
        if verdict == "timeout" and p.poll() is None:
            # What the vCPUs are doing (virtzd prints it on SIGUSR2).
            p.send_signal(signal.SIGUSR2)
            time.sleep(2)
    finally:
        p.kill()
        try:
            buf += p.communicate(timeout=5)[0] or b""
        except (subprocess.TimeoutExpired, ValueError):
            pass
    return verdict, elapsed, buf, arrivals


def print_stamps(buf, arrivals):
    """Host time at which each console line arrived, beside the line."""
    pos = 0
    k = 0
    for line in buf.split(b"\n"):
        pos += len(line) + 1
        while k < len(arrivals) - 1 and arrivals[k][1] < pos:
            k += 1
        t = arrivals[k][0] if arrivals else 0
        print("  host %7.2f | %s" % (t, line.decode(errors="replace")
                                     .rstrip("\r")[:150]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--memory", type=int, default=192)
    ap.add_argument("--timeout", type=int, default=180)
    ap.add_argument("--virtzd", default=os.path.join(TOP, "build/virtzd"))
    ap.add_argument("--cmdline",
                    default="console=ttyS0 quiet reboot=k panic=-1 "
                            "no_timer_check")
    ap.add_argument("--log", default=None)
    ap.add_argument("--stamps", action="store_true",
                    help="print every console line with its host time")
    ap.add_argument("--no-keeper", action="store_true",
                    help="do not hold an idle VM open meanwhile")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()

    subprocess.run(["modprobe", "kvm_amd"], capture_output=True)
    keeper = None if a.no_keeper else kvm_keeper()
    kernel = sorted(glob.glob("/boot/vmlinuz-6.12*-amd64"))[-1]
    initrd = os.path.join(TOP, "build/guest/initramfs.cpio")
    subprocess.run([os.path.join(TOP, "selftests/guest/mkguest.sh"), initrd],
                   check=True)
    if a.log:
        os.makedirs(a.log, exist_ok=True)
    argv = [a.virtzd, "--kernel", kernel, "--initrd", initrd,
            "--cmdline", a.cmdline, "--memory", str(a.memory),
            "--cpus", str(a.cpus), "--console"] + a.extra
    counts = {}
    times = []
    for i in range(1, a.runs + 1):
        verdict, t, out, arrivals = boot(argv, a.timeout)
        if a.stamps:
            print_stamps(out, arrivals)
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict in ("ok", "warn"):
            times.append(t)
        print("boot %2d: %-7s %6.2f s" % (i, verdict, t), flush=True)
        if verdict != "ok":
            for line in out.splitlines():
                if BAD.search(line) or WARN.search(line):
                    print("    " + line.decode(errors="replace")[:200])
        if a.log and (verdict != "ok" or i == 1):
            with open(os.path.join(a.log, "boot-%02d-%s.log" % (i, verdict)),
                      "wb") as f:
                f.write(out)
    print("bootloop: %d boots, %s" % (a.runs, ", ".join(
        "%s %d" % kv for kv in sorted(counts.items()))))
    if times:
        times.sort()
        print("bootloop: time to marker min %.2f median %.2f max %.2f s" %
              (times[0], times[len(times) // 2], times[-1]))
    if keeper:
        for fd in reversed(keeper):
            os.close(fd)
    return 0 if counts.get("ok", 0) == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())
