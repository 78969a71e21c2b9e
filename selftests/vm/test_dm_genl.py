#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
dm-fvm over genetlink and virtzctl: every virtz_fvm volume command driven
through the kernel's ynl library (from our YNL spec) and through
`virtzctl pool|volume`, checked against dmsetup, the /dev/mapper devices
(sizes, data read back) and `virtzctl fvm info -j` on the raw device once
the pool is gone.  Errors must carry the documented errno and an extack
text; unprivileged callers are refused every mutating command.  TAP.

Needs virtz_fvm loaded; VIRTZ_TOP, VIRTZ_LINUX_SRC, VIRTZCTL as in
selftests/vm/run.sh.
"""
import errno
import json
import os
import stat
import subprocess
import sys
import tempfile

TOP = os.environ.get("VIRTZ_TOP", os.getcwd())
LINUX = os.environ.get("VIRTZ_LINUX_SRC", os.path.join(TOP, ".cache/linux"))
VIRTZCTL = os.environ.get("VIRTZCTL", os.path.join(TOP, "build/virtzctl"))
SPEC = os.path.join(TOP, "Documentation/netlink/specs/virtz_fvm.yaml")
SCHEMA = os.path.join(LINUX, "Documentation/netlink/genetlink.yaml")
NOBODY = 65534
MiB = 1 << 20
SLICE = MiB
POOL = "tgenl"
os.environ["DM_DISABLE_UDEV"] = "1"

sys.path.insert(0, os.path.join(LINUX, "tools/net/ynl"))
from lib import YnlFamily, NlError  # noqa: E402

results = []


def check(name, cond, diag=""):
    results.append((name, bool(cond), diag))


def run(argv, unprivileged=False, data=None):
    def drop():
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    return subprocess.run(argv, capture_output=True, input=data,
                          preexec_fn=drop if unprivileged else None)


def ctl(*args, unprivileged=False):
    p = run([VIRTZCTL] + list(args), unprivileged)
    p.out = p.stdout.decode()
    p.err = p.stderr.decode()
    return p


def guid_bytes(text):
    """GPT mixed-endian text -> the 16 on-disk bytes."""
    h = text.replace("-", "")
    b = bytes.fromhex(h)
    return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]


def guid_text(b):
    b = bytes(b)
    x = b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]
    h = x.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def nlerr(fn):
    """(errno, extack) of a failing call, or None."""
    try:
        fn()
        return None
    except NlError as e:
        return (e.error, str(e))


def dev_size(path):
    with open(path, "rb") as f:
        return f.seek(0, os.SEEK_END)


def is_blk(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def pread(path, off, n):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        os.lseek(fd, off, os.SEEK_SET)
        import mmap
        buf = mmap.mmap(-1, n)
        got = os.readv(fd, [buf])
        return bytes(buf[:got])
    finally:
        os.close(fd)


def pwrite(path, off, data):
    import mmap
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, len(data))
        buf.write(data)
        os.lseek(fd, off, os.SEEK_SET)
        return os.writev(fd, [buf])
    finally:
        os.close(fd)


def unprivileged_errnos(ops):
    """Runs each (op, attrs) as nobody; returns the errnos seen."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = []
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            fam = YnlFamily(SPEC, SCHEMA)
            for op, attrs in ops:
                e = nlerr(lambda: fam.do(op, attrs))
                out.append(e[0] if e else 0)
            got = fam.do("pool-get", {"pool": POOL})
            out.append(got["assigned-slices"])
        finally:
            os.write(w, json.dumps(out).encode())
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data or b"[]")


def sysfs_queue(dev, attr):
    name = os.path.basename(os.path.realpath(dev))
    with open(f"/sys/block/{name}/queue/{attr}") as f:
        return f.read().strip()


def block_info(fam, dev, g):
    """Block.GetInfo of volume v1 (3 slices) against the pool device."""
    bs = int(sysfs_queue(dev, "logical_block_size"))
    maxb = int(sysfs_queue(dev, "max_hw_sectors_kb")) * 1024
    flags = set()
    if int(sysfs_queue(dev, "discard_max_hw_bytes")):
        flags.add("trim-support")
    if sysfs_queue(dev, "fua") == "1":
        flags.add("fua-support")
    check("part-get: block-size is the pool device's logical block size",
          g["block-size"] == bs, (g, bs))
    check("part-get: block-count counts the blocks of its 3 slices",
          g["block-count"] == 3 * SLICE // bs, g)
    check("part-get: max-transfer is the pool device's max_hw_sectors",
          g["max-transfer"] == min(maxb, 0xffffffff), (g, maxb))
    check("part-get: block-flags from the pool device (trim, fua)",
          g["block-flags"] == flags, (g, flags))
    r = fam.do("part-get", {"pool": POOL, "part": "raw"})
    check("part-get: block-count of a 2-slice partition",
          r["block-count"] == 2 * SLICE // bs, r)
    dump = {x["name"]: x for x in fam.dump("part-get", {"pool": POOL})}
    check("part-get dump carries Block.GetInfo too",
          dump["v1"]["block-count"] == g["block-count"] and
          dump["raw"]["block-size"] == bs, dump)

    p = run(["dmsetup", "message", POOL, "0", "block-info", "v1"])
    out = p.stdout.decode().split()
    want = [str(g["block-count"]), str(bs), str(g["max-transfer"])]
    check("dmsetup message block-info agrees with part-get",
          p.returncode == 0 and out[:3] == want and len(out) == 4 and
          int(out[3], 16) == (8 if "trim-support" in flags else 0) |
          (16 if "fua-support" in flags else 0), (out, want, flags))
    p = run(["dmsetup", "message", POOL, "0", "block-info", "nosuch"])
    check("dmsetup message block-info of a missing partition fails",
          p.returncode != 0 and p.stdout.strip() == b"", p.stderr)
    p = run(["dmsetup", "message", POOL, "0", "block-info"])
    check("dmsetup message block-info without a partition fails",
          p.returncode != 0, p.stderr)

    j = json.loads(ctl("-j", "volume", "info", POOL, "v1").out)
    names = {"trim-support": "trim", "fua-support": "fua"}
    check("virtzctl -j volume info: Block.GetInfo",
          j["block_count"] == g["block-count"] and j["block_size"] == bs and
          j["max_transfer_size"] == g["max-transfer"] and
          set(j["block_flag_names"]) == {names[f] for f in flags}, j)
    p = ctl("volume", "info", POOL, "v1")
    check("virtzctl volume info prints the block line",
          f"block: {g['block-count']} blocks of {bs} bytes" in p.out, p.out)

    e = nlerr(lambda: fam.do("part-get", {"pool": POOL, "index": 77}))
    check("part-get of an unallocated index: ENOENT + extack",
          e and e[0] == errno.ENOENT and "no partition at this index" in e[1],
          e)
    e = nlerr(lambda: fam.do("part-get", {"pool": POOL, "index": 1024}))
    check("part-get of index 1024: EINVAL/ERANGE (policy)",
          e and e[0] in (errno.EINVAL, errno.ERANGE), e)
    e = nlerr(lambda: fam.do("part-get", {"pool": POOL}))
    check("part-get naming no partition: EINVAL + extack",
          e and e[0] == errno.EINVAL and "name the partition" in e[1], e)
    p = ctl("volume", "info", POOL, "nosuch")
    check("virtzctl volume info of a missing volume: the kernel's reason",
          p.returncode == 1 and "no partition" in p.err, p.err)


def main(work):
    img = os.path.join(work, "fvm.img")
    run(["modprobe", "loop"])
    subprocess.run([VIRTZCTL, "fvm", "create", img, "--size", "64M",
                    "--slice-size", "1M"], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", img], check=True,
                          capture_output=True).stdout.decode().strip()
    try:
        body(loop)
    finally:
        for d in sorted(os.listdir("/dev/mapper"), reverse=True):
            if d.startswith(POOL + "-"):
                run(["dmsetup", "remove", d])
        run(["dmsetup", "remove", POOL])
        run(["losetup", "-d", loop])


def body(dev):
    fam = YnlFamily(SPEC, SCHEMA)
    p = ctl("pool", "create", POOL, dev)
    check("virtzctl pool create", p.returncode == 0, p.err)
    check("pool device is a block device", is_blk("/dev/mapper/" + POOL))

    info = fam.do("pool-get", {"pool": POOL})
    st = run(["dmsetup", "status", POOL]).stdout.decode().split()
    check("pool-get agrees with dmsetup status",
          [info["slice-size"], info["slice-count"], info["assigned-slices"],
           info["max-slices"], info["partitions"], info["generation"]] ==
          [int(x) for x in st[3:9]], f"{info} vs {st}")
    check("pool-get: max-vslice is 2^31", info["max-vslice"] == 1 << 31)
    dump = fam.dump("pool-get", {})
    check("pool-get dump lists the pool",
          any(d["pool"] == POOL for d in dump), dump)
    j = json.loads(ctl("-j", "pool", "info", POOL).out)
    check("virtzctl pool info -j agrees",
          j["slice_count"] == info["slice-count"] and
          j["assigned_slice_count"] == 0, j)

    # AllocatePartition through ynl.
    typ = "0fc63daf-8483-4772-8e79-3d69d8477de4"
    r = fam.do("allocate", {"pool": POOL, "name": "raw", "slices": 2,
                            "type-guid": guid_bytes(typ)})
    check("allocate replies index and GUIDs",
          r["index"] == 1 and r["name"] == "raw" and
          guid_text(r["type-guid"]) == typ and r["slices"] == 2, r)
    raw_guid = guid_text(r["instance-guid"])
    g = fam.do("part-get", {"pool": POOL, "part": raw_guid})
    check("part-get by instance GUID", g["name"] == "raw" and
          g["index"] == 1 and g["mapped"] == 0, g)
    g = fam.do("part-get", {"pool": POOL, "index": 1})
    check("part-get by index", guid_text(g["instance-guid"]) == raw_guid, g)

    # A volume through virtzctl: device created, sized, data.
    p = ctl("volume", "create", POOL, "v1", "--slices", "3")
    vdev = f"/dev/mapper/{POOL}-v1"
    check("virtzctl volume create", p.returncode == 0, p.err)
    check("volume device exists", is_blk(vdev))
    check("volume device is 3 slices", is_blk(vdev) and
          dev_size(vdev) == 3 * SLICE)
    pat = os.urandom(3 * SLICE)
    if is_blk(vdev):
        pwrite(vdev, 0, pat)
        check("data reads back", pread(vdev, 0, 3 * SLICE) == pat)
    g = fam.do("part-get", {"pool": POOL, "part": "v1"})
    check("part-get sees the volume mapped once", g["mapped"] == 1 and
          g["slices"] == 3, g)

    block_info(fam, dev, g)

    p = ctl("volume", "extend", POOL, "v1", "--slices", "2")
    check("virtzctl volume extend", p.returncode == 0, p.err)
    check("extend reloaded the device to 5 slices",
          is_blk(vdev) and dev_size(vdev) == 5 * SLICE)
    if is_blk(vdev):
        pat2 = os.urandom(2 * SLICE)
        pwrite(vdev, 3 * SLICE, pat2)
        check("new slices hold data; old ones kept theirs",
              pread(vdev, 3 * SLICE, 2 * SLICE) == pat2 and
              pread(vdev, 0, 3 * SLICE) == pat)
    p = ctl("volume", "shrink", POOL, "v1", "--slices", "1")
    check("virtzctl volume shrink", p.returncode == 0, p.err)
    check("shrink reloaded the device to 4 slices",
          is_blk(vdev) and dev_size(vdev) == 4 * SLICE)

    g = fam.do("part-get", {"pool": POOL, "part": "v1"})
    check("block-count follows extend and shrink (4 slices)",
          g["block-count"] == 4 * SLICE // g["block-size"], g)

    q = fam.do("query-slices", {"pool": POOL, "part": "v1",
                                "start-slice": [0, 2, 4, 100]})
    rng = [(x["allocated"], x["count"]) for x in q["range"]]
    check("query-slices runs", rng == [(1, 4), (1, 2), (0, (1 << 31) - 4),
                                       (0, (1 << 31) - 100)], rng)

    # Errors: errno and extack text.
    e = nlerr(lambda: fam.do("extend", {"pool": POOL, "part": "v1",
                                        "offset": 0, "slices": 1}))
    check("extend at vslice 0: ERANGE + extack",
          e and e[0] == errno.ERANGE and "vslice 1" in e[1], e)
    e = nlerr(lambda: fam.do("shrink", {"pool": POOL, "part": "v1",
                                        "offset": 0, "slices": 1}))
    check("shrink of vslice 0: ERANGE + extack",
          e and e[0] == errno.ERANGE and "vslice 0" in e[1], e)
    e = nlerr(lambda: fam.do("allocate", {"pool": POOL, "name": "big",
                                          "slices": 10000,
                                          "type-guid": guid_bytes(typ)}))
    check("allocate too many: ENOSPC + extack",
          e and e[0] == errno.ENOSPC and "free" in e[1], e)
    e = nlerr(lambda: fam.do("allocate", {"pool": POOL, "name": "x" * 25,
                                          "slices": 1,
                                          "type-guid": guid_bytes(typ)}))
    check("allocate with a 25-byte name refused",
          e and e[0] in (errno.EINVAL, errno.ERANGE), e)
    e = nlerr(lambda: fam.do("part-get", {"pool": POOL, "part": "nosuch"}))
    check("part-get of a missing name: ENOENT + extack",
          e and e[0] == errno.ENOENT and "no partition" in e[1], e)
    e = nlerr(lambda: fam.do("part-get", {"pool": POOL,
                                          "part": "01234567-89ab-cdef-0123-456789abcdef"}))
    check("part-get of a wrong GUID: ENOENT",
          e and e[0] == errno.ENOENT, e)
    e = nlerr(lambda: fam.do("pool-get", {"pool": "nosuchpool"}))
    check("pool-get of a missing pool: ENOENT + extack",
          e and e[0] == errno.ENOENT and "fvm-pool" in e[1], e)
    e = nlerr(lambda: fam.do("query-slices", {"pool": POOL, "part": "v1",
                                              "start-slice": list(range(17))}))
    check("query-slices with 17 starts: EINVAL", e and e[0] == errno.EINVAL, e)
    e = nlerr(lambda: fam.do("query-slices", {"pool": POOL, "part": "v1",
                                              "start-slice": [1 << 31]}))
    check("query-slices beyond 2^31: ERANGE", e and e[0] == errno.ERANGE, e)
    # Destroy of an open (mapped) volume, as Fuchsia allows: its device
    # stays but every I/O to it fails.
    p = ctl("volume", "create", POOL, "doomed", "--slices", "1")
    ddev = f"/dev/mapper/{POOL}-doomed"
    check("volume doomed mapped", p.returncode == 0 and is_blk(ddev), p.err)
    e = nlerr(lambda: fam.do("destroy", {"pool": POOL, "part": "doomed"}))
    check("destroy of a mapped volume succeeds", e is None, e)
    e = nlerr(lambda: fam.do("part-get", {"pool": POOL, "part": "doomed"}))
    check("the destroyed volume is gone from part-get",
          e and e[0] == errno.ENOENT, e)
    try:
        pread(ddev, 0, 4096)
        eio = None
    except OSError as x:
        eio = x.errno
    check("I/O to the destroyed volume's device fails with EIO",
          eio == errno.EIO, eio)
    check("its device can still be removed",
          run(["dmsetup", "remove", f"{POOL}-doomed"]).returncode == 0)
    e = nlerr(lambda: fam.do("activate", {"pool": POOL,
                                          "instance-guid": guid_bytes(raw_guid),
                                          "new-guid": bytes(16)}))
    check("activate to an unknown GUID: ENOENT",
          e and e[0] == errno.ENOENT, e)
    fam.do("set-limit", {"pool": POOL, "part": "v1", "limit": 5 * SLICE})
    g = fam.do("part-get", {"pool": POOL, "part": "v1"})
    check("set-limit shows in part-get", g["limit"] == 5 * SLICE, g)
    e = nlerr(lambda: fam.do("extend", {"pool": POOL, "part": "v1",
                                        "offset": 10, "slices": 2}))
    check("extend past the limit: ENOSPC", e and e[0] == errno.ENOSPC, e)
    p = ctl("volume", "extend", POOL, "v1", "--slices", "3")
    check("virtzctl quotes the kernel's reason",
          p.returncode == 1 and "limit" in p.err and
          "No space left" in p.err, p.err)
    p = ctl("volume", "create", POOL, "y" * 25, "--slices", "1")
    check("virtzctl refuses a 25-byte name", p.returncode == 2, p.err)

    # Unprivileged: every mutating command refused, reads allowed.
    before = fam.do("pool-get", {"pool": POOL})["assigned-slices"]
    ops = [("allocate", {"pool": POOL, "name": "evil", "slices": 1,
                         "type-guid": guid_bytes(typ)}),
           ("extend", {"pool": POOL, "part": "raw", "offset": 5,
                       "slices": 1}),
           ("shrink", {"pool": POOL, "part": "v1", "offset": 3,
                       "slices": 1}),
           ("destroy", {"pool": POOL, "part": "raw"}),
           ("activate", {"pool": POOL, "instance-guid": guid_bytes(raw_guid),
                         "new-guid": guid_bytes(raw_guid)}),
           ("set-name", {"pool": POOL, "part": "raw", "name": "evil"}),
           ("set-limit", {"pool": POOL, "part": "raw", "limit": 1})]
    got = unprivileged_errnos(ops)
    check("unprivileged: all 7 mutating commands refused with EPERM",
          got[:7] == [errno.EPERM] * 7, got)
    check("unprivileged: pool-get allowed and state unchanged",
          len(got) == 8 and got[7] == before, got)
    p = ctl("volume", "create", POOL, "evil", "--slices", "1",
            unprivileged=True)
    check("unprivileged virtzctl volume create refused",
          p.returncode == 1 and "not permitted" in p.err, p.err)

    # Rename, activate, remove refusals, destroy.
    p = ctl("volume", "rename", POOL, "v1", "v2")
    check("virtzctl volume rename", p.returncode == 0, p.err)
    check("device renamed", is_blk(f"/dev/mapper/{POOL}-v2") and
          not os.path.exists(vdev))
    vdev = f"/dev/mapper/{POOL}-v2"
    r = fam.do("allocate", {"pool": POOL, "name": "raw-b", "slices": 1,
                            "type-guid": guid_bytes(typ),
                            "flags": 1})
    # ynl decodes the flags attribute into a set of names.
    check("allocate inactive", r["flags"] == {"inactive"}, r)
    fam.do("activate", {"pool": POOL, "instance-guid": guid_bytes(raw_guid),
                        "new-guid": r["instance-guid"]})
    a = fam.do("part-get", {"pool": POOL, "part": "raw"})
    b = fam.do("part-get", {"pool": POOL, "part": "raw-b"})
    check("activate swapped the flags",
          a["flags"] == {"inactive"} and b["flags"] == set(),
          (a, b))
    p = ctl("pool", "remove", POOL)
    check("pool remove refused while a volume is mapped",
          p.returncode == 1 and "still mapped" in p.err, p.err)
    p = ctl("volume", "create", POOL, "tmp", "--slices", "1")
    p2 = ctl("volume", "remove", POOL, "tmp")
    e = nlerr(lambda: fam.do("part-get", {"pool": POOL, "part": "tmp"}))
    check("virtzctl volume remove unmaps and destroys",
          p.returncode == 0 and p2.returncode == 0 and
          not os.path.exists(f"/dev/mapper/{POOL}-tmp") and
          e and e[0] == errno.ENOENT, (p.err, p2.err, e))

    # The last state, through genl, then from the raw device.
    parts = {x["name"]: x for x in fam.dump("part-get", {"pool": POOL})}
    j = json.loads(ctl("-j", "volume", "list", POOL).out)
    check("virtzctl volume list -j agrees with part-get dump",
          sorted(x["name"] for x in j) == sorted(parts) and
          all(x["partition_slice_count"] == parts[x["name"]]["slices"]
              for x in j), (j, parts))
    p = ctl("pool", "remove", POOL, "--volumes")
    check("pool remove --volumes", p.returncode == 0 and
          not os.path.exists("/dev/mapper/" + POOL), p.err)
    raw = json.loads(ctl("-j", "fvm", "info", dev).out)
    disk = {x["name"]: x for x in raw["partitions"]}
    check("raw device holds exactly what genl reported",
          sorted(disk) == sorted(parts) and
          all(disk[n]["slices"] == parts[n]["slices"] and
              disk[n]["guid"] == guid_text(parts[n]["instance-guid"]) and
              disk[n]["active"] == ("inactive" not in parts[n]["flags"])
              for n in parts), (disk, parts))
    check("raw device is clean", ctl("fvm", "check", dev).returncode == 0)

    # Reopen with --activate: load rules and data.
    p = ctl("pool", "create", POOL, dev, "--activate")
    check("pool create --activate", p.returncode == 0, p.err)
    check("the volume is back, 4 slices", is_blk(vdev) and
          dev_size(vdev) == 4 * SLICE)
    if is_blk(vdev):
        check("its data survived", pread(vdev, 0, 3 * SLICE) == pat)
    check("the inactive partition was destroyed on load",
          nlerr(lambda: fam.do("part-get", {"pool": POOL, "part": "raw"})))
    ctl("pool", "remove", POOL, "--volumes")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        try:
            main(work)
        except Exception as e:  # a crash is a failure, with its reason
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
