#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
dm-fvm crash consistency, the xfstests way: an fvm-pool sits on a
dm-log-writes device that records every write, flush and FUA reaching the
FVM device, while a seeded random sequence of metadata operations runs
through genetlink (allocate, extend, shrink, destroy, rename, set-limit
followed by an extend that must fail).  The state after each operation,
with its generation, is read back through part-get/pool-get.

The log is then replayed onto the starting image, and at every flush and
FUA point the image is judged by the format library's own rules
(build/dm-replay, selftests/vm/dm_replay_tool.c, which judges as
`virtzctl fvm check` does): a copy is picked, the metadata checks clean,
and its partitions and generation equal the state after some operation,
never going back in time.  After the last point the image equals the
final state.  Prints TAP, and how many points were checked.

Log format: Documentation/admin-guide/device-mapper/log-writes.rst.
"""
import errno
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.environ.get("VIRTZ_TOP", os.getcwd())
LINUX = os.environ.get("VIRTZ_LINUX_SRC", os.path.join(TOP, ".cache/linux"))
VIRTZCTL = os.environ.get("VIRTZCTL", os.path.join(TOP, "build/virtzctl"))
REPLAY = os.path.join(TOP, "build/dm-replay")
SPEC = os.path.join(TOP, "Documentation/netlink/specs/virtz_fvm.yaml")
SCHEMA = os.path.join(LINUX, "Documentation/netlink/genetlink.yaml")
OPS = int(os.environ.get("DM_CRASH_OPS", "280"))
SEED = int(os.environ.get("DM_CRASH_SEED", "4242"))
POOL = "tcrash"
LW = "tcrash-lw"
os.environ["DM_DISABLE_UDEV"] = "1"

sys.path.insert(0, os.path.join(LINUX, "tools/net/ynl"))
from lib import YnlFamily, NlError  # noqa: E402

LOG_FLUSH, LOG_FUA, LOG_DISCARD, LOG_MARK = 1, 2, 4, 8
WRITE_LOG_MAGIC = 0x6a736677736872

results = []


def check(name, cond, diag=""):
    results.append((name, bool(cond), diag))


def sh(*argv, check_rc=True):
    p = subprocess.run(argv, capture_output=True, text=True)
    if check_rc and p.returncode:
        raise RuntimeError(f"{argv}: {p.stderr.strip()}")
    return p.stdout


def sectors(dev):
    return int(sh("blockdev", "--getsz", dev))


def guid_text(b):
    b = bytes(b)
    x = b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]
    h = x.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def live_state(fam):
    gen = fam.do("pool-get", {"pool": POOL})["generation"]
    parts = sorted((p["index"], p["name"], guid_text(p["instance-guid"]),
                    p["slices"], "inactive" in p["flags"])
                   for p in fam.dump("part-get", {"pool": POOL}))
    return gen, parts


def disk_state(path):
    p = subprocess.run([VIRTZCTL, "-j", "fvm", "info", path],
                       capture_output=True, text=True)
    if p.returncode:
        return None, p.stderr
    j = json.loads(p.stdout)
    parts = sorted((x["index"], x["name"], x["guid"], x["slices"],
                    not x["active"]) for x in j["partitions"])
    return (j["header"]["generation"], parts), j


def run_ops(fam, rng):
    """Random operations; returns the states after each commit."""
    states = [live_state(fam)]
    names = []
    typ = bytes.fromhex("af3dc60f838472478e793d69d8477de4")
    n = 0
    for i in range(OPS):
        op = rng.choice(["allocate", "allocate", "extend", "extend",
                         "shrink", "destroy", "rename", "limit"])
        if not names:
            op = "allocate"
        try:
            if op == "allocate":
                name = f"p{i}"
                fam.do("allocate", {"pool": POOL, "name": name,
                                    "slices": rng.randint(1, 4),
                                    "type-guid": typ})
                names.append(name)
            elif op == "extend":
                fam.do("extend", {"pool": POOL, "part": rng.choice(names),
                                  "offset": rng.randint(1, 40),
                                  "slices": rng.randint(1, 3)})
            elif op == "shrink":
                fam.do("shrink", {"pool": POOL, "part": rng.choice(names),
                                  "offset": rng.randint(1, 40),
                                  "slices": rng.randint(1, 8)})
            elif op == "destroy":
                name = rng.choice(names)
                fam.do("destroy", {"pool": POOL, "part": name})
                names.remove(name)
            elif op == "rename":
                old = rng.choice(names)
                new = f"r{i}"
                fam.do("set-name", {"pool": POOL, "part": old, "name": new})
                names[names.index(old)] = new
            else:
                # The limit is memory-only: no commit; the extend after it
                # must fail and write nothing either.
                name = rng.choice(names)
                fam.do("set-limit", {"pool": POOL, "part": name,
                                     "limit": 1})
                try:
                    fam.do("extend", {"pool": POOL, "part": name,
                                      "offset": 100, "slices": 1})
                    raise RuntimeError("extend over the limit succeeded")
                except NlError as e:
                    if e.error != errno.ENOSPC:
                        raise
                fam.do("set-limit", {"pool": POOL, "part": name,
                                     "limit": 0})
                continue
        except NlError as e:
            # Random arguments: a refused operation must change nothing.
            if e.error not in (errno.EINVAL, errno.ENOSPC, errno.ERANGE):
                raise
            after = live_state(fam)
            if after != states[-1]:
                raise RuntimeError(f"failed {op} changed the state")
            continue
        n += 1
        states.append(live_state(fam))
    return states, n


def replay(log_path, base_path, states):
    """
    Replays to every flush/FUA point (build/dm-replay, the format
    library's rules, one process); returns (points, failures, final).
    """
    p = subprocess.run([REPLAY, log_path, base_path], capture_output=True,
                       text=True)
    if p.returncode:
        raise RuntimeError("dm-replay: " + p.stderr.strip())
    points = 0
    bad = []
    k = 0
    st = None
    for line in p.stdout.splitlines():
        j = json.loads(line)
        points += 1
        if not j["clean"]:
            bad.append(f"point {points}: not clean: {j['why']}")
            continue
        st = (j["generation"], sorted(tuple(x) for x in j["parts"]))
        # The state after some operation, never an earlier one.
        for m in range(k, len(states)):
            if states[m] == st:
                k = m
                break
        else:
            bad.append(f"point {points}: gen {st[0]} matches no state "
                       f"from #{k} (gen {states[k][0]}) on")
    return points, bad, st


def main(work):
    base = os.path.join(work, "base.img")
    img = os.path.join(work, "data.img")
    logf = os.path.join(work, "log.img")
    sh(VIRTZCTL, "fvm", "create", base, "--size", "16M",
       "--slice-size", "64K")
    sh("cp", base, img)
    with open(logf, "wb") as f:
        f.truncate(256 << 20)
    subprocess.run(["modprobe", "loop"], capture_output=True)
    subprocess.run(["modprobe", "dm-log-writes"], capture_output=True)
    data = sh("losetup", "-f", "--show", img).strip()
    log = sh("losetup", "-f", "--show", logf).strip()
    try:
        sh("dmsetup", "create", LW, "--table",
           f"0 {sectors(data)} log-writes {data} {log}")
        sh("dmsetup", "create", POOL, "--table",
           f"0 {sectors(data)} fvm-pool /dev/mapper/{LW}")
        fam = YnlFamily(SPEC, SCHEMA)
        t0 = time.time()
        states, n = run_ops(fam, random.Random(SEED))
        print(f"# {n} operations in {time.time() - t0:.0f} s")
        check(f"{n} metadata operations committed (of {OPS} tried, seed "
              f"{SEED})", n >= 200, n)
        sh("dmsetup", "remove", POOL)
        sh("dmsetup", "remove", LW)
        t0 = time.time()
        points, bad, final = replay(logf, base, states)
        print(f"# replayed to {points} flush/FUA points in "
              f"{time.time() - t0:.0f} s")
        check(f"every one of the {points} flush/FUA points is clean and "
              f"equals a committed state, in order", not bad and points >= n,
              "\n".join(bad[:10]))
        check("after the last point the image is the final state",
              final == states[-1], (final, states[-1]))
        st, _ = disk_state(data)
        check("the device itself holds the final state",
              st == states[-1], (st, states[-1]))
    finally:
        subprocess.run(["dmsetup", "remove", POOL], capture_output=True)
        subprocess.run(["dmsetup", "remove", LW], capture_output=True)
        subprocess.run(["losetup", "-d", data], capture_output=True)
        subprocess.run(["losetup", "-d", log], capture_output=True)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        try:
            main(work)
        except Exception:
            import traceback
            check("test ran to the end", False, traceback.format_exc())
    print("TAP version 13")
    print(f"1..{len(results)}")
    for i, (name, ok, diag) in enumerate(results, 1):
        if not ok:
            for line in str(diag).splitlines():
                print(f"# {line}")
        print(f"{'ok' if ok else 'not ok'} {i} {name}")
    sys.exit(0 if all(ok for _, ok, _ in results) else 1)
