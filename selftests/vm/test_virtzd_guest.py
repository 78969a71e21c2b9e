#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# virtzd end to end, in the test VM (nested KVM): boots Debian's stock
# 6.12 kernel with the busybox initramfs of selftests/guest/mkguest.sh,
# and checks
#   - bad input to launch: missing or garbage kernel, impossible memory
#     and CPU counts, unknown environment: each a clear error;
#   - the registry: three guests in two environments get distinct CIDs
#     >= 3, `env list` shows each in its environment, kill -9 of a
#     virtzd removes its entry, a non-empty environment cannot be
#     deleted, unprivileged callers may list but not create;
#   - the guest: serial round trip over Guest.GetSerial (SCM_RIGHTS),
#     two vCPUs seen by the guest;
#   - the balloon: inflating N pages lowers the guest's MemTotal and the
#     host memory backing the guest by about N pages, deflating restores
#     them, statistics arrive with tags 0..15 and MEMTOT near the size;
#   - the control socket: every message type truncated, garbled,
#     oversized, with bad magic/flags/length: each an error reply, and
#     the guest still answers afterwards;
#   - guest RAM: with shmem_enabled "never" it is on virtzd's private huge
#     tmpfs, mapped in 2 MiB pages, and ballooning still frees host
#     memory; --huge-pages off gives a 4 KiB memfd;
#   - --decompress host: a cold boot stores the vmlinux in the kernel
#     cache, a warm one boots from it, both at random places (KASLR), and
#     at the link address with nokaslr, physically there with mem=, and
#     at the highest places it may choose (VIRTZ_TEST_KASLR);
#     --decompress auto (the default) fills the cache in the background
#     on a miss and boots from it next time, and a guest stopped mid-fill leaves no temporary file; a
#     corrupt entry is replaced; a directory others may write is not used;
#     a payload that says it decompresses to 0 bytes is refused.
# Prints TAP.  Needs virtz_vsock loaded (selftests/vm/run.sh does it).
import array
import bisect
import glob
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../guest"))
import kvm_keeper as kvm_keeper_mod  # noqa: E402

TOP = os.environ.get("VIRTZ_TOP") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "../.."))
VIRTZCTL = os.environ.get("VIRTZCTL") or os.path.join(TOP, "build/virtzctl")
VIRTZD = os.path.join(TOP, "build/virtzd")
INITRD = os.path.join(TOP, "build/guest/initramfs.cpio")
RUN_DIR = os.environ.get("VIRTZ_RUN_DIR", "/run/virtz")
CMDLINE = "console=ttyS0 quiet reboot=k panic=-1 no_timer_check"
BOOT_TIMEOUT = 300
MEM_MIB = 192

MAGIC = 0x315a4356
HDR = struct.Struct("=IHHII")
T_INFO, T_SERIAL, T_STOP = 1, 2, 3
T_BGET, T_BSET, T_BSTATS = 16, 17, 18
ALL_TYPES = [T_INFO, T_SERIAL, T_STOP, T_BGET, T_BSET, T_BSTATS]
PAYLOAD = {T_BSET: 4}

results = []


def tap(ok, name, why=""):
    results.append((ok, name, why))
    line = "%s %d - %s" % ("ok" if ok else "not ok", len(results), name)
    if why and not ok:
        line += "  # " + why
    print(line, flush=True)
    if not ok and not any(not r[0] for r in results[:-1]) and vcpu_snapshot():
        # A guest the emulator broke does not come back, and every further
        # check would wait out its timeout: stop here, clean up, and let
        # selftests/vm/run.sh run the test again.
        print("Bail out! the L0 fault (above); ending the test here")
        abandon_guests()
        sys.exit(1)
    return ok


def abandon_guests():
    """Kills every virtzd and deletes every environment (in the test VM,
    all of them are this test's), so that a rerun starts clean."""
    dump_logs()
    subprocess.run(["pkill", "-KILL", "-x", "virtzd"], capture_output=True)
    time.sleep(1)
    # Not to be read again by the rerun's own L0 check.
    for log in glob.glob("/tmp/virtzd-*.log"):
        os.unlink(log)
    try:
        for e in env_list():
            virtzctl("env", "delete", str(e["id"]))
    except (RuntimeError, ValueError, KeyError):
        pass


def consoles():
    """What every guest console printed, for l0_faults(): a reset with no
    panic or Oops on any of them is the emulator's, not the guest's."""
    return b"".join(getattr(s, "seen", b"") for s in SERIALS)


def vcpu_snapshot():
    """Every virtzd this test started prints its vCPUs' state (SIGUSR2)
    into its log; any L0 fault among them is named at once, and
    returned."""
    for pid in subprocess.run(["pgrep", "-x", "virtzd"], capture_output=True,
                              text=True).stdout.split():
        try:
            os.kill(int(pid), signal.SIGUSR2)
        except OSError:
            pass
    time.sleep(1)
    found = []
    for log in glob.glob("/tmp/virtzd-*.log"):
        with open(log, errors="replace") as f:
            found += l0_faults(f.read(), consoles())
    for line in found:
        print(line, flush=True)
    return found


def kvm_keeper():
    """An idle VM held while the test runs (selftests/guest/kvm_keeper.py)."""
    try:
        return kvm_keeper_mod.hold()
    except OSError as e:
        print("# no KVM keeper: %s" % e)
        return None


def virtzctl(*args, user=None):
    p = subprocess.run([VIRTZCTL] + list(args), capture_output=True,
                       text=True, timeout=120, user=user)
    return p.returncode, p.stdout, p.stderr


def env_list():
    rc, out, err = virtzctl("-j", "env", "list")
    if rc:
        raise RuntimeError("env list: " + err)
    return json.loads(out)


def cids_of(envs, env_id):
    for e in envs:
        if e["id"] == env_id:
            return {i["cid"]: i for i in e["instances"]}
    return None


def ctl_connect(cid):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(os.path.join(RUN_DIR, "guest-%d.sock" % cid))
    return s


def ctl_raw(s, data):
    """Sends one datagram, returns (type, seq, error, data, fds)."""
    s.send(data)
    fds = array.array("i")
    msg, anc, flags, _ = s.recvmsg(2048, socket.CMSG_SPACE(4 * 4))
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(cdata[:len(cdata) - len(cdata) % 4])
    magic, typ, rflags, seq, ln = HDR.unpack_from(msg)
    assert magic == MAGIC and rflags == 1 and ln == len(msg) - HDR.size
    err = struct.unpack_from("=i", msg, HDR.size)[0]
    return typ, seq, err, msg[HDR.size + 4:], list(fds)


def ctl_call(s, typ, payload=b"", seq=7):
    return ctl_raw(s, HDR.pack(MAGIC, typ, 0, seq, len(payload)) + payload)


SERIALS = []     # every console attached, for dump_logs()


def kallsyms_lookup(addrs):
    """{addr: (symbol, module, offset)} from this (the test VM's) kernel."""
    syms = []
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                p = line.split()
                if len(p) >= 3 and p[1] in "tT":
                    syms.append((int(p[0], 16), p[2],
                                 p[3].strip("[]") if len(p) > 3 else ""))
    except OSError:
        return {}
    syms.sort()
    keys = [a for a, _, _ in syms]
    out = {}
    for a in addrs:
        i = bisect.bisect_right(keys, a) - 1
        if i >= 0 and keys[i]:
            out[a] = (syms[i][1], syms[i][2], a - keys[i])
    return out


def l0_faults(text, console=None):
    """The QEMU TCG fault seen under nested guests (testing.rst): a nested
    vCPU whose rip, in virtzd's dump (SIGUSR2, or a triple fault), is this
    test VM's own vmrun path (KVM's __svm_vcpu_run): QEMU put the L1
    state in the L2 guest's VMCB.  Returns "# L0-FAULT: ..." lines for
    selftests/vm/run.sh, which reruns such a test; nothing for any other
    failure.  With the guest's @console (bytes): a triple fault nobody
    asked for (these tests never reset a guest) with no panic, Oops or
    BUG on the console counts too - on AMD, KVM resets the vCPU before
    virtzd can show where it was, and a guest kernel that fails on its
    own says so first (panic=-1 then resets it)."""
    rips = {int(m.group(2), 16): m.group(1) for m in
            re.finditer(r"vCPU (\d+): rip (0x[0-9a-f]+)", text)}
    out = []
    for rip, (sym, mod, off) in sorted(kallsyms_lookup(rips).items()):
        if "svm_vcpu_run" in sym or "vmx_vcpu_run" in sym:
            out.append("# L0-FAULT: vCPU %s rip %#x is %s+%#x [%s] of the "
                       "test VM's kernel: L2 state replaced by L1's"
                       % (rips[rip], rip, sym, off, mod))
    if (console is not None and "guest reset (vCPU" in text and
            not re.search(rb"Kernel panic|Oops|BUG:|general protection|"
                          rb"double fault|Call Trace", console)):
        out.append("# L0-FAULT: the guest triple-faulted unasked, with "
                   "nothing on its console")
    return out


class Serial:
    SEEN_MAX = 16384

    def keep(self, d):
        """Keeps the last SEEN_MAX bytes the guest printed, for diagnosis,
        and the marker line (which names where the guest's modules were
        loaded, to place a hung vCPU's rip)."""
        seen = getattr(self, "seen", b"") + d
        if not getattr(self, "ready_line", None):
            i = seen.find(b"VIRTZ-GUEST-READY")
            if i >= 0 and b"\n" in seen[i:]:
                self.ready_line = seen[i:seen.index(b"\n", i)].decode(
                    errors="replace").strip()
        self.seen = seen[-self.SEEN_MAX:]

    def tail(self, lines=40):
        """The last lines of the guest's console, as TAP comment lines."""
        text = getattr(self, "seen", b"").decode(errors="replace").replace("\r", "")
        head = getattr(self, "ready_line", None)
        return ((["#   guest marker: " + head] if head else []) +
                ["#   console: " + ln for ln in text.splitlines()[-lines:]])

    def __init__(self, cid):
        SERIALS.append(self)
        s = ctl_connect(cid)
        _, _, err, _, fds = ctl_call(s, T_SERIAL)
        s.close()
        if err or len(fds) != 1:
            raise RuntimeError("GetSerial failed: %d" % err)
        self.sock = socket.socket(fileno=fds[0])
        self.buf = b""

    def expect(self, needle, timeout):
        end = time.time() + timeout
        while needle.encode() not in self.buf:
            left = end - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not d:
                return None
            self.buf += d
            self.keep(d)
        i = self.buf.index(needle.encode())
        line_end = self.buf.find(b"\n", i)
        while line_end < 0 and time.time() < end:
            # Wait for the rest of the line (bounded by the timeout).
            self.sock.settimeout(max(end - time.time(), 0.01))
            try:
                d = self.sock.recv(4096)
            except socket.timeout:
                break
            if not d:
                break
            self.buf += d
            self.keep(d)
            line_end = self.buf.find(b"\n", i)
        if line_end < 0:
            line_end = len(self.buf)
        found = self.buf[i:line_end].decode(errors="replace")
        self.buf = self.buf[line_end:]
        return found

    def send(self, text):
        """A guest that is gone (its virtzd stopped) takes nothing: the
        caller's next expect() or run() finds no answer."""
        try:
            self.sock.sendall(text.encode())
        except OSError:
            pass

    def run(self, cmd, timeout=60):
        """Runs cmd in the guest shell; returns its output, or None."""
        self.buf = b""
        self.send("echo BE$((1))GIN; %s; echo EN$((1))D\n" % cmd)
        end = time.time() + timeout
        while True:
            i = self.buf.find(b"BE1GIN")
            j = self.buf.find(b"EN1D", i + 1) if i >= 0 else -1
            if j >= 0:
                out = self.buf[i + 6:j].decode(errors="replace")
                self.buf = self.buf[j + 4:]
                return out.replace("\r", "").strip()
            left = end - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not d:
                return None
            self.buf += d
            self.keep(d)


def memtotal_kib(ser):
    out = ser.run("grep MemTotal /proc/meminfo")
    try:
        return int(out.split()[1])
    except (AttributeError, IndexError, ValueError):
        return None


def ram_file(pid):
    """The link of the VMM's guest RAM file: a memfd, or the file on its
    private huge tmpfs (kvm.c), or None."""
    for fd in os.listdir("/proc/%d/fd" % pid):
        link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        if link.startswith(("/memfd:virtz-guest-ram",
                            "/virtz-guest-ram (deleted)")):
            return "/proc/%d/fd/%s" % (pid, fd), link
    return None, None


def memfd_kib(pid):
    """KiB of guest RAM the VMM holds: the RAM file's allocated blocks."""
    path, _ = ram_file(pid)
    return os.stat(path).st_blocks // 2 if path else None


def pmd_kib(pid):
    """KiB of shared memory the VMM maps in 2 MiB pages."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("ShmemPmdMapped:"):
                return int(line.split()[1])
    return 0


def balloon_call(cid, typ, payload=b""):
    s = ctl_connect(cid)
    try:
        return ctl_call(s, typ, payload)
    finally:
        s.close()


def balloon_stats(cid):
    rc, out, err = virtzctl("-j", "balloon", str(cid), "stats")
    if rc:
        print("# balloon stats: " + err.strip())
        return {}
    return {x["tag"]: x["value"] for x in json.loads(out)}


def wait_actual(cid, want, timeout=90):
    end = time.time() + timeout
    got = None
    while time.time() < end:
        _, _, err, data, _ = balloon_call(cid, T_BGET)
        got = struct.unpack_from("=I", data)[0] if err == 0 else None
        if got == want:
            return got
        time.sleep(0.5)
    return got


def balloon_tests(cid, ser, pid):
    pages = 8192    # 32 MiB: leaves the guest room, no OOM
    drv = ser.run("ls /sys/bus/virtio/drivers/virtio_balloon/ | grep -c virtio")
    tap(drv == "1", "the guest's virtio_balloon driver binds over virtio-pci",
        repr(drv) + " " + repr(ser.run("ls /sys/bus/pci/devices; dmesg | grep -i -e virtio -e pci | tail -20")))
    # Touch most free guest memory so that ballooned pages are backed.
    ser.run("dd if=/dev/zero of=/fill bs=1M count=48 2>/dev/null; rm -f /fill", 120)
    total0 = memtotal_kib(ser)
    host0 = memfd_kib(pid)
    stats = balloon_stats(cid)
    memtot = stats.get(5, 0)
    tap(stats and all(0 <= t <= 15 for t in stats) and
        memtot == (total0 or 0) * 1024 and
        MEM_MIB * 0.6 * (1 << 20) <= memtot <= MEM_MIB * (1 << 20),
        "balloon stats: tags 0..15, MEMTOT %d = guest MemTotal, near %d MiB" %
        (memtot, MEM_MIB), json.dumps(stats))
    tap(4 in stats and 6 in stats and stats[4] <= memtot,
        "balloon stats carry free and available memory")
    rc, _, err = virtzctl("balloon", str(cid), "set", str(pages))
    actual = wait_actual(cid, pages)
    tap(rc == 0 and actual == pages, "balloon set N: GetNumPages reaches N",
        "rc %d %s actual %s" % (rc, err, actual))
    time.sleep(1)
    total1 = memtotal_kib(ser)
    host1 = memfd_kib(pid)
    want = pages * 4
    tap(total0 and total1 and abs((total0 - total1) - want) <= want // 10,
        "inflating lowers the guest's MemTotal by N pages (%s -> %s KiB)" %
        (total0, total1))
    tap(host0 is not None and host1 is not None and host0 - host1 >= want // 2,
        "inflating frees host memory: guest RAM memfd %s -> %s KiB for %d KiB" %
        (host0, host1, want))

    stats1 = balloon_stats(cid)
    tap(stats1.get(5, 0) == total1 * 1024,
        "balloon stats are fresh: MEMTOT follows the inflated MemTotal",
        "%s vs %s KiB" % (stats1.get(5), total1))

    rc, _, err = virtzctl("balloon", str(cid), "set", "0")
    actual = wait_actual(cid, 0)
    time.sleep(1)
    total2 = memtotal_kib(ser)
    tap(rc == 0 and actual == 0 and total2 == total0,
        "deflating restores GetNumPages 0 and MemTotal (%s KiB)" % total2, err)
    ser.run("dd if=/dev/zero of=/fill bs=1M count=48 2>/dev/null; rm -f /fill", 120)
    host2 = memfd_kib(pid)
    tap(host2 is not None and host2 >= host1 + want // 2,
        "deflated pages come back to the guest when used (%s KiB)" % host2)

    rc, _, err = virtzctl("balloon", str(cid), "set", str(1 << 30))
    tap(rc != 0 and "more than the guest's" in err,
        "balloon set beyond guest memory is refused", err)
    rc, out, err = virtzctl("balloon", str(cid), "get")
    tap(rc == 0 and out.strip() == "0", "balloon get", out + err)


def hostile_guest(cid, ser):
    """From guest root, take the device from virtio-pci (so /dev/mem may
    map its BAR) and program a queue whose descriptor table lies outside
    guest RAM through BAR0, as a hostile driver would."""
    out = ser.run(
        "echo 0000:00:01.0 > /sys/bus/pci/drivers/virtio-pci/unbind; "
        "echo 1 > /sys/bus/pci/devices/0000:00:01.0/enable; "
        "B=$(head -n1 /sys/bus/pci/devices/0000:00:01.0/resource | cut -d' ' -f1); "
        "devmem $((B+0x14)) 8 0; devmem $((B+0x14)) 8 3; "
        "devmem $((B+0x16)) 16 0; devmem $((B+0x18)) 16 16; "
        "devmem $((B+0x20)) 32 0xfffff000; devmem $((B+0x24)) 32 0; "
        "devmem $((B+0x1c)) 16 1; echo STATUS=$(devmem $((B+0x14)) 8)", 120)
    tap(out is not None and "STATUS=0x43" in out,
        "rings outside guest RAM: the device reports DEVICE_NEEDS_RESET",
        repr(out))
    _, _, err, text, _ = balloon_call(cid, T_BSTATS)
    tap(err == -5 and b"broken" in text,
        "a broken balloon answers GetMemStats with EIO", repr((err, text)))
    _, _, err, data, _ = balloon_call(cid, T_INFO)
    tap(err == 0 and ser.run("echo ST$((1))ILL") == "ST1ILL",
        "virtzd and the guest carry on after the guest broke its device")


def interactive_serial(cid):
    """virtzctl guest serial on a pty: type a command, see its output,
    press Ctrl-] and see virtzctl exit 0 (the guest keeps running)."""
    import pty
    import select as sel
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(VIRTZCTL, [VIRTZCTL, "guest", "serial", str(cid)])
    buf = b""

    def wait_for(needle, timeout):
        nonlocal buf
        end = time.time() + timeout
        while needle not in buf and time.time() < end:
            r, _, _ = sel.select([fd], [], [], 1)
            if r:
                try:
                    buf += os.read(fd, 4096)
                except OSError:
                    return False
        return needle in buf

    ok = wait_for(b"escape character is ^]", 30)
    os.write(fd, b"echo PTY$((3*3))OK\r")
    ok = ok and wait_for(b"PTY9OK", 60)
    os.write(fd, b"\x1d")
    status = None
    for _ in range(100):
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        time.sleep(0.1)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)
    return ok and status is not None and os.WIFEXITED(status) and \
        os.WEXITSTATUS(status) == 0


def kernel_path():
    ks = sorted(glob.glob("/boot/vmlinuz-6.12*-amd64"))
    return ks[-1] if ks else None


def launch(env, label=None, url=None, cpus=1, mem=128, kernel=None, extra=()):
    args = ["-j", "guest", "launch", "--env", str(env), "--kernel",
            kernel or KERNEL, "--initrd", INITRD, "--cmdline", CMDLINE,
            "--memory", str(mem), "--cpus", str(cpus)] + list(extra)
    if label:
        args += ["--label", label]
    if url:
        args += ["--url", url]
    args += ["--log", "/tmp/virtzd-%s.log" % (label or url or "x").replace("/", "_")]
    rc, out, err = virtzctl(*args)
    if rc:
        return None, err.strip()
    return json.loads(out)["cid"], ""


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_gone(pid, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if not pid_alive(pid):
            return True
        # Our grandchild's zombie is reaped by init; poll /proc too.
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split()[2] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):
            # Gone between the open and the read: ESRCH.
            return True
        time.sleep(0.2)
    return False


def main():
    global KERNEL
    print("TAP version 13", flush=True)
    KERNEL = kernel_path()
    subprocess.run(["modprobe", "kvm_amd"], capture_output=True)
    subprocess.run(["modprobe", "kvm_intel"], capture_output=True)
    if not KERNEL or not os.path.exists("/dev/kvm") or \
            not os.path.exists("/dev/virtz-vsock"):
        print("1..0 # SKIP needs /dev/kvm, /dev/virtz-vsock and a 6.12 kernel")
        return 0
    subprocess.run([os.path.join(TOP, "selftests/guest/mkguest.sh"), INITRD],
                   check=True)
    os.makedirs(RUN_DIR, exist_ok=True)
    keeper = kvm_keeper()   # noqa: F841 (held until the test exits)

    rc, out, err = virtzctl("env", "create", "alpha")
    env1 = int(out) if rc == 0 else 0
    rc2, out, err2 = virtzctl("-j", "env", "create", "beta")
    env2 = json.loads(out)["id"] if rc2 == 0 else 0
    tap(env1 > 0 and env2 > 0 and env1 != env2,
        "env create returns distinct ids", err + err2)

    # --- bad input: nothing is registered, a clear message each time ---
    garbage = "/tmp/virtzd-garbage-kernel"
    with open(garbage, "wb") as f:
        f.write(os.urandom(256 * 1024))
    bad = [
        ("missing kernel", {"kernel": "/nonexistent/vmlinuz"},
         "cannot open /nonexistent/vmlinuz"),
        ("garbage kernel", {"kernel": garbage}, "not a bzImage"),
        ("impossible memory size", {"mem": 100000000}, "must be 32 to"),
        ("memory too small for the kernel", {"mem": 40}, "to decompress"),
        ("too many cpus", {"cpus": 99}, "--cpus 99"),
        ("unknown environment", {"env": 999999}, "no environment with id 999999"),
    ]
    before = env_list()
    for name, kw, want in bad:
        env = kw.pop("env", env1)
        cid, err = launch(env, **kw)
        tap(cid is None and want in err, "launch refuses " + name,
            "cid %s, stderr %r" % (cid, err))
    tap(env_list() == before, "refused launches leave no registry entry")

    # --- three guests in two environments ---
    a, err_a = launch(env1, url="fuchsia-pkg://virtz/guest-a", cpus=2,
                      mem=MEM_MIB)
    b, err_b = launch(env1, label="guest-b")
    c, err_c = launch(env2, label="guest-c")
    cids = [x for x in (a, b, c) if x]
    tap(len(cids) == 3 and len(set(cids)) == 3 and min(cids) >= 3,
        "three launches get distinct CIDs >= 3",
        "cids %s %s %s %s" % (cids, err_a, err_b, err_c))
    if len(cids) != 3:
        print("Bail out! guests did not launch")
        return 1

    # GetMemStats before the guest's balloon driver is up: its answer
    # waits (and ends in ETIMEDOUT), while virtzd serves other requests,
    # and a second request on the waiting connection is answered after it.
    sa, sb = ctl_connect(c), ctl_connect(c)
    sa.send(HDR.pack(MAGIC, T_BSTATS, 0, 41, 0))
    sa.send(HDR.pack(MAGIC, T_INFO, 0, 42, 0))
    _, _, info_err, _, _ = ctl_call(sb, T_INFO, seq=43)
    waiting = not select.select([sa], [], [], 0)[0]
    replies = []
    for _ in range(2):
        msg = sa.recv(2048)
        _, typ, _, seq, _ = HDR.unpack_from(msg)
        replies.append((typ, seq, struct.unpack_from("=i", msg, HDR.size)[0],
                        msg[HDR.size + 4:].rstrip(b"\0")))
    sa.close()
    sb.close()
    tap(info_err == 0 and waiting,
        "a GetMemStats waiting for the guest does not hold up other "
        "connections", "info err %d, stats already answered: %s" %
        (info_err, not waiting))
    tap(len(replies) == 2 and replies[0][:3] == (T_BSTATS, 41, -110) and
        b"no statistics within" in replies[0][3] and
        replies[1][:3] == (T_INFO, 42, 0),
        "it ends in ETIMEDOUT naming the wait; the connection's next "
        "request is answered after it", repr(replies))
    envs = env_list()
    in1, in2 = cids_of(envs, env1), cids_of(envs, env2)
    tap(set(in1) == {a, b} and set(in2) == {c},
        "env list shows each guest in its environment", json.dumps(envs))
    tap(in1[a]["label"] == "fuchsia-pkg://virtz/guest-a" and
        in1[b]["label"] == "guest-b" and in2[c]["label"] == "guest-c",
        "instance label is the LaunchInfo label, else the url")
    pid_b = in1[b]["pid"]

    rc, out, _ = virtzctl("-j", "guest", "list")
    listed = {g["cid"]: g["env"] for g in json.loads(out)} if rc == 0 else {}
    tap(listed == {a: env1, b: env1, c: env2}, "guest list -j", out)

    rc, out, err = virtzctl("env", "list", user=65534)
    rc2, _, err2 = virtzctl("env", "create", "nope", user=65534)
    tap(rc == 0 and ("cid %d" % a) in out and rc2 != 0 and
        "Operation not permitted" in err2,
        "unprivileged may list but not create", out + err + err2)

    # --- kill -9 leaves nothing stale; deleting non-empty envs fails ---
    os.kill(pid_b, signal.SIGKILL)
    gone = wait_gone(pid_b)
    time.sleep(0.5)
    in1 = cids_of(env_list(), env1)
    tap(gone and set(in1) == {a}, "kill -9 of a virtzd removes its entry",
        json.dumps(in1))

    rc, _, err = virtzctl("env", "delete", str(env2))
    tap(rc != 0 and "still has 1 instance" in err,
        "an environment with instances cannot be deleted", err)
    pid_c = cids_of(env_list(), env2)[c]["pid"]
    rc, _, err = virtzctl("guest", "stop", str(c))
    tap(rc == 0 and wait_gone(pid_c), "guest stop ends its virtzd", err)
    time.sleep(0.5)
    rc, _, err = virtzctl("env", "delete", str(env2))
    tap(rc == 0 and cids_of(env_list(), env2) is None,
        "the emptied environment deletes", err)

    # --- the guest: serial round trip and SMP ---
    ser = Serial(a)
    t0 = time.time()
    ready = ser.expect("VIRTZ-GUEST-READY", BOOT_TIMEOUT)
    tap(ready is not None, "guest boots to the init marker (%.0f s)" %
        (time.time() - t0), repr(ser.buf[-300:]))
    tap(ready is not None and "cpus=2" in ready,
        "guest with --cpus 2 counts 2 CPUs", repr(ready))
    time.sleep(1)
    ser.send("echo ROUND$((6*7))TRIP; nproc\n")
    got = ser.expect("ROUND42TRIP", 60)
    nproc = ser.expect("2", 30) if got else None
    tap(got is not None, "a command sent over GetSerial runs in the guest",
        repr(ser.buf[-300:]))
    tap(nproc is not None, "nproc in the guest says 2")

    # Guest RAM in 2 MiB pages when the host allows it on request
    # (selftests/vm/run.sh sets shmem_enabled=advise; kvm.c madvises).
    try:
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as f:
            thp = f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        thp = None
    if thp in ("advise", "within_size", "always"):
        pmd = pmd_kib(cids_of(env_list(), env1)[a]["pid"])
        tap(pmd >= 2048, "with shmem_enabled=%s, the booted guest's RAM is "
            "mapped in 2 MiB pages (ShmemPmdMapped %d KiB)" % (thp, pmd))

    # --- the machine as the guest kernel sees it (cpuid.c, rtc.c) ---
    apic = ser.run("grep -e '^apicid' -e '^flags' /proc/cpuinfo")
    ids = sorted(int(l.split(":")[1]) for l in (apic or "").splitlines()
                 if l.startswith("apicid"))
    tap(ids == [0, 1] and " hypervisor" in (apic or ""),
        "CPUID: APIC ids 0 and 1, hypervisor bit set", repr(apic))
    xs = ser.run("dmesg | grep -c -e 'XSAVE consistency' -e 'x86/fpu.*WARN'")
    xcr = ser.run("dmesg | grep 'Enabled xstate features'")
    tap(xs == "0" and xcr, "guest FPU: xstate enabled, no XSAVE consistency "
        "warning", repr(xs) + " " + repr(xcr))
    cl = ser.run("cat /proc/cmdline; dmesg | grep -c 'AGP: '")
    tap(cl is not None and cl.splitlines()[0] == "pci=noearly " + CMDLINE and
        cl.splitlines()[-1] == "0",
        "guest command line: virtzd's machine arguments, then the user's; "
        "no early AGP/GART scan", repr(cl))
    since = ser.run("cat /sys/class/rtc/rtc0/since_epoch")
    try:
        skew = abs(int(since) - time.time())
    except (TypeError, ValueError):
        skew = None
    tap(skew is not None and skew < 30,
        "guest rtc0 (CMOS clock) reads the host's time", repr(since))

    for _ in range(3):
        p = subprocess.run([VIRTZCTL, "guest", "serial", str(a)],
                           input="echo CLI$((40+2))OK\n", capture_output=True,
                           text=True, timeout=120)
        if "CLI42OK" in p.stdout:
            break
    tap(p.returncode == 0 and "CLI42OK" in p.stdout,
        "virtzctl guest serial (piped) runs a command and shows its output",
        repr(p.stdout[-200:]) + p.stderr)

    tap(interactive_serial(a), "virtzctl guest serial on a terminal: "
        "command round trip, then Ctrl-] detaches")

    rc, out, _ = virtzctl("-j", "guest", "info", str(a))
    info = json.loads(out) if rc == 0 else {}
    tap(info.get("cid") == a and info.get("cpus") == 2 and
        info.get("memory_bytes") == MEM_MIB << 20 and info.get("env") == env1
        and info.get("serial_bytes", 0) >= len("VIRTZ-GUEST-READY cpus=2"),
        "guest info over the control socket", out)

    # --- balloon: inflate/deflate seen by the guest and by the host ---
    balloon_tests(a, ser, cids_of(env_list(), env1)[a]["pid"])

    # --- a hostile guest driver: rings outside RAM break the device only ---
    hostile_guest(a, ser)

    # --- control socket validation: each type, each way of being wrong ---
    s = ctl_connect(a)
    failures = []
    for t in ALL_TYPES:
        good_len = PAYLOAD.get(t, 0)
        cases = {
            "truncated header": HDR.pack(MAGIC, t, 0, 1, good_len)[:7],
            "bad magic": HDR.pack(0xdeadbeef, t, 0, 1, good_len) + b"\0" * good_len,
            "flags set": HDR.pack(MAGIC, t, 0x80, 1, good_len) + b"\0" * good_len,
            "length field too big": HDR.pack(MAGIC, t, 0, 1, good_len + 8) + b"\0" * good_len,
            "truncated payload": HDR.pack(MAGIC, t, 0, 1, good_len + 4) + b"\0" * (good_len + 2),
            "wrong payload size": HDR.pack(MAGIC, t, 0, 1, good_len + 4) + b"\0" * (good_len + 4),
            "oversized": HDR.pack(MAGIC, t, 0, 1, 4000) + b"\xff" * 4000,
            "garbage": os.urandom(37),
        }
        if good_len:
            cases["short payload"] = HDR.pack(MAGIC, t, 0, 1, good_len - 2) + b"\0" * (good_len - 2)
        for what, data in cases.items():
            typ, seq, err, text, fds = ctl_raw(s, data)
            for fd in fds:
                os.close(fd)
            text = text.rstrip(b"\0").decode(errors="replace")
            if err >= 0 or not text or fds:
                failures.append("type %d %s: err %d %r" % (t, what, err, text))
    tap(not failures, "every malformed control message gets an error reply "
        "with a message", "; ".join(failures[:4]))
    typ, seq, err, text, _ = ctl_call(s, 999)
    tap(err == -95 and b"unknown message type 999" in text,
        "unknown type: EOPNOTSUPP", repr(text))
    _, _, err, data, _ = ctl_call(s, T_INFO)
    s.close()
    ser.send("echo STILL$((1+1))ALIVE\n")
    tap(err == 0 and struct.unpack_from("=I", data)[0] == a and
        ser.expect("STILL2ALIVE", 60) is not None,
        "after the bad messages the guest still runs and answers")

    pid_a = cids_of(env_list(), env1)[a]["pid"]
    virtzctl("guest", "stop", str(a))
    wait_gone(pid_a)
    time.sleep(0.5)

    # --- guest RAM in huge pages; the kernel cache and KASLR ---
    huge_page_tests(env1)
    kernel_cache_tests(env1)
    rc, _, err = virtzctl("env", "delete", str(env1))
    tap(rc == 0 and not os.path.exists(os.path.join(RUN_DIR, "guest-%d.sock" % a)),
        "stopping the last guest removes its socket; env deletes", err)

    print("1..%d" % len(results))
    if not all(r[0] for r in results):
        dump_logs()
    return 0 if all(r[0] for r in results) else 1


def payload_size_at(img):
    """Where in bzImage @img its zstd payload's decompressed size is: the
    32-bit size Linux appends after the frame."""
    setup = ((img[0x1f1] or 4) + 1) * 512
    off, length = struct.unpack_from("<II", img, 0x248)
    return setup + off + length - 4


def payload_size(kernel):
    """What the bzImage's zstd payload decompresses to."""
    with open(kernel, "rb") as f:
        img = f.read()
    return struct.unpack_from("<I", img, payload_size_at(img))[0]


def launch_logged(env, label, extra):
    """launch() with a fresh log; returns (cid, err, the log, seconds)."""
    log = "/tmp/virtzd-%s.log" % label
    if os.path.exists(log):
        os.unlink(log)
    t0 = time.time()
    cid, err = launch(env, label=label, extra=extra)
    took = time.time() - t0
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    return cid, err, text, took


def stop_guest(env, cid):
    pid = cids_of(env_list(), env).get(cid, {}).get("pid")
    virtzctl("guest", "stop", str(cid))
    if pid:
        wait_gone(pid)


def huge_page_tests(env):
    """Guest RAM in 2 MiB pages on a host whose shmem_enabled is "never"
    (Debian's default): virtzd's private huge tmpfs, whose ballooned
    pages still go back to the host.  --huge-pages off: a memfd in 4 KiB
    pages."""
    path = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
    with open(path) as f:
        old = f.read().split("[")[1].split("]")[0]
    with open(path, "w") as f:
        f.write("never")
    try:
        for label, extra in (("thp-never", ()), ("thp-off", ("--huge-pages", "off"))):
            cid, err = launch(env, label=label, extra=extra)
            ser = Serial(cid) if cid is not None else None
            ready = ser and ser.expect("VIRTZ-GUEST-READY", BOOT_TIMEOUT)
            pid = cids_of(env_list(), env).get(cid, {}).get("pid") if cid else None
            link = ram_file(pid)[1] if pid else None
            pmd = pmd_kib(pid) if pid else -1
            if not extra:
                tap(ready and (link or "").startswith("/virtz-guest-ram") and
                    pmd >= 2048,
                    "shmem_enabled never: guest RAM on virtzd's private huge "
                    "tmpfs (%s), mapped in 2 MiB pages (ShmemPmdMapped %d "
                    "KiB)" % (link, pmd), "%s %r" % (err, ser and ser.buf[-300:]))
                if ready:
                    ser.run("dd if=/dev/zero of=/fill bs=1M count=48 2>/dev/null; rm -f /fill", 120)
                    host0 = memfd_kib(pid)
                    rc, _, err = virtzctl("balloon", str(cid), "set", "4096")
                    actual = wait_actual(cid, 4096)
                    time.sleep(1)
                    host1 = memfd_kib(pid)
                    tap(rc == 0 and actual == 4096 and host0 and host1 and
                        host0 - host1 >= 4096 * 4 // 2,
                        "ballooning 16 MiB out of huge-page RAM frees host "
                        "memory (%s -> %s KiB)" % (host0, host1), err)
            else:
                tap(ready and (link or "").startswith("/memfd:virtz-guest-ram")
                    and pmd == 0,
                    "--huge-pages off: guest RAM is a memfd in 4 KiB pages "
                    "(%s, ShmemPmdMapped %d KiB)" % (link, pmd), err)
            if cid is not None:
                stop_guest(env, cid)
    finally:
        with open(path, "w") as f:
            f.write(old)


KMAP = 0xffffffff80000000
LINKED = (0xffffffff81000000, 0x1000000)   # _text, physical start


def kernel_place(ser):
    """(_text, physical start of "Kernel code") in a booted guest."""
    out = ser.run("grep -w _text /proc/kallsyms; grep 'Kernel code' /proc/iomem")
    m = re.search(r"^([0-9a-f]{16}) T _text$.*?([0-9a-f]+)-[0-9a-f]+ : "
                  r"Kernel code", out or "", re.S | re.M)
    return (int(m.group(1), 16), int(m.group(2), 16)) if m else None


def randomised(place):
    """Whether @place is one KASLR could have chosen: 2 MiB-aligned, the
    virtual one in the 1 GiB kernel map, the physical one at 16 MiB or up."""
    return (place is not None and place[0] % (2 << 20) == 0 and
            LINKED[0] <= place[0] < KMAP + (1 << 30) and
            place[1] % (2 << 20) == 0 and place[1] >= LINKED[1])


def where(place):
    return "_text %x, physical %x" % place if place else "not found"


def boot_and_place(env, label, extra):
    """Launches, waits for the init marker, reads the kernel's place and
    stops the guest.  Returns (cid, err, virtzd's log, launch s, place)."""
    cid, err, text, setup = launch_logged(env, label, extra)
    place = None
    if cid is not None:
        ser = Serial(cid)
        if ser.expect("VIRTZ-GUEST-READY", BOOT_TIMEOUT):
            place = kernel_place(ser)
        stop_guest(env, cid)
        try:
            with open("/tmp/virtzd-%s.log" % label, errors="replace") as f:
                text = f.read()
        except OSError:
            pass
    return cid, err, text, setup, place


def wait_log(label, needle, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open("/tmp/virtzd-%s.log" % label, errors="replace") as f:
                if needle in f.read():
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def kernel_cache_tests(env):
    """--decompress host boots twice: the first boot decompresses and
    stores the vmlinux, the second boots it from the cache.  virtzd
    places the kernel at random (KASLR) unless told nokaslr.  With
    --decompress auto (the default) a miss boots the bzImage while the
    cache fills in the background, and the next boot uses it.  A corrupt
    entry is replaced, a directory others may write is not used, and a
    payload claiming an impossible size is refused."""
    kc = "/tmp/virtz-kcache-test"
    subprocess.run(["rm", "-rf", kc])
    extra = ("--decompress", "host", "--kernel-cache", kc)
    size = payload_size(KERNEL)
    entry = None
    places = []
    for label, verb in (("hdc-cold", "stored"), ("hdc-warm", "booting")):
        cid, err, text, setup, place = boot_and_place(env, label, extra)
        m = re.search(r"virtzd: kernel cache: (\w+) (\S+)", text)
        files = glob.glob(kc + "/vmlinux-*")
        tap(cid is not None and m is not None and m.group(1) == verb and
            files == [m.group(2)] and os.path.getsize(files[0]) == size and
            (entry is None or entry == m.group(2)),
            "--decompress host, %s: virtzd says '%s' for the one cache "
            "entry, %d bytes as the payload says (launch %.1f s)" %
            (label, verb, size, setup), "%s %r %s" % (err, text[-400:], files))
        if cid is None:
            return
        entry = m.group(2) if m else None
        tap(randomised(place),
            "%s boots to the init marker, the kernel at a random place "
            "(%s)" % (label, where(place)), text[-300:])
        places.append(place)

    cid, err, text, _, place = boot_and_place(env, "hdc-nokaslr",
                                              extra + ("--args", "nokaslr"))
    tap(place == LINKED, "with nokaslr the kernel runs where it was linked "
        "(%s)" % where(place), "%s %r" % (err, text[-300:]))
    # The highest places virtzd may choose (VIRTZ_TEST_KASLR, a test
    # hook): the image, sized as the decompressor sizes it, ends below
    # the end of the 1 GiB kernel map.
    image = (size + (2 << 20) - 1) & ~((2 << 20) - 1)
    top = KMAP + LINKED[1] + ((1 << 30) - LINKED[1] - image) // (2 << 20) \
        * (2 << 20) - (2 << 20)
    os.environ["VIRTZ_TEST_KASLR"] = "max,max"
    try:
        cid, err, text, _, place = boot_and_place(env, "hdc-top", extra)
    finally:
        del os.environ["VIRTZ_TEST_KASLR"]
    tap(place is not None and place[0] == top and randomised(place),
        "at the highest places virtzd may choose the kernel boots (%s; "
        "_text %x expected)" % (where(place), top),
        "%s %r" % (err, text[-300:]))

    cid, err, text, _, place = boot_and_place(env, "hdc-mem",
                                              extra + ("--args", "mem=120M"))
    tap(place is not None and place[1] == LINKED[1] and randomised(place),
        "with mem= the kernel keeps its physical link address, its virtual "
        "one random (%s)" % where(place), "%s %r" % (err, text[-300:]))

    # --decompress auto: a miss boots the bzImage and fills the cache.
    kc2 = "/tmp/virtz-kcache-auto"
    subprocess.run(["rm", "-rf", kc2])
    cid, err, text, _ = launch_logged(env, "auto-cold", ("--kernel-cache", kc2))
    ser = Serial(cid) if cid is not None else None
    ready = ser and ser.expect("VIRTZ-GUEST-READY", BOOT_TIMEOUT)
    stored = cid is not None and wait_log("auto-cold", "kernel cache: stored " +
                                          kc2, 300)
    files = glob.glob(kc2 + "/vmlinux-*")
    tap(ready and "filling " + kc2 in text and stored and len(files) == 1 and
        os.path.getsize(files[0]) == size,
        "--decompress auto, cold: the guest boots its bzImage while virtzd "
        "fills the cache in the background", "%s %r %s" % (err, text[-400:],
                                                            files))
    if cid is not None:
        stop_guest(env, cid)
    cid, err, text, _, place = boot_and_place(env, "auto-warm",
                                              ("--kernel-cache", kc2))
    tap(cid is not None and "kernel cache: booting " + kc2 in text and
        randomised(place),
        "--decompress auto, warm: the kernel boots from the cache at a "
        "random place (%s)" % where(place), "%s %r" % (err, text[-400:]))
    places.append(place)
    tap(None not in places and len(set(places)) > 1,
        "the kernel's place differs between boots: %s" %
        "; ".join(where(p) for p in places))

    # A guest stopped while the cache fills leaves no temporary file.
    subprocess.run(["rm", "-rf", kc2])
    cid, err, text, _ = launch_logged(env, "auto-stop", ("--kernel-cache", kc2))
    if cid is not None:
        stop_guest(env, cid)
    left = os.listdir(kc2) if os.path.isdir(kc2) else []
    with open("/tmp/virtzd-auto-stop.log", errors="replace") as f:
        text = f.read()
    tap(cid is not None and "filling" in text and
        not [f for f in left if f.startswith(".tmp-")],
        "a guest stopped while the cache fills leaves no temporary file "
        "(%s)" % ("the fill had finished" if "stored" in text else
                  "stopped mid-fill"), "%s %r %s" % (err, text[-300:], left))
    subprocess.run(["rm", "-rf", kc2])

    if not entry:
        return
    # A corrupt entry of the right size: decompressed again and replaced.
    with open(entry, "r+b") as f:
        f.write(b"\0" * 4096)
    cid, err, text, _ = launch_logged(env, "hdc-bad", extra)
    with open(entry, "rb") as f:
        head = f.read(4)
    tap(cid is not None and "unusable (not a vmlinux), replaced" in text and
        "kernel cache: stored " + entry in text and head == b"\x7fELF",
        "a corrupt cache entry is decompressed again and replaced",
        "%s %r" % (err, text[-400:]))
    if cid is not None:
        stop_guest(env, cid)
    # A cache directory others may write is not used; the guest still starts.
    os.chmod(kc, 0o777)
    cid, err, text, _ = launch_logged(env, "hdc-open", extra)
    tap(cid is not None and "writable by others; not used" in text and
        "kernel cache: booting" not in text,
        "a cache directory others may write is refused, the guest starts "
        "anyway", "%s %r" % (err, text[-400:]))
    if cid is not None:
        stop_guest(env, cid)
    # A payload whose appended size is 0: refused at launch, by name.
    with open(KERNEL, "rb") as f:
        img = bytearray(f.read())
    struct.pack_into("<I", img, payload_size_at(img), 0)
    bad = "/tmp/virtzd-zero-size-kernel"
    with open(bad, "wb") as f:
        f.write(img)
    cid, err = launch(env, label="hdc-zero", kernel=bad,
                      extra=("--decompress", "host", "--kernel-cache", "none"))
    tap(cid is None and "decompresses to 0 bytes" in err,
        "--decompress host refuses a payload that says it decompresses to "
        "0 bytes", "cid %s, %r" % (cid, err))
    if cid is not None:
        stop_guest(env, cid)
    os.unlink(bad)
    subprocess.run(["rm", "-rf", kc])


def dump_logs():
    for log in glob.glob("/tmp/virtzd-*.log"):
        with open(log, errors="replace") as f:
            text = f.read()
        for line in text.splitlines()[-20:]:
            print("# %s: %s" % (os.path.basename(log), line))
        for line in l0_faults(text, consoles()):
            print(line)
    for ser in SERIALS:
        print("\n".join(ser.tail()))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        # Leave nothing behind (abandon_guests() also prints the logs):
        # a virtzd left running keeps virtz_vsock loaded, and the
        # module-unload step after the tests would fail for it too.
        abandon_guests()
        raise
