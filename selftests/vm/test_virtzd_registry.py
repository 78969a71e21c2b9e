#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
The registry commands of the "virtz" family, driven through the kernel's
ynl library and our YNL spec alone, checked against virtzctl: env-new,
env-get (dump, with instances), env-del, and instance-new tied to an open
/dev/virtz-vsock file (closing the file removes the entry).  Bad input
gets errnos with extack text; unprivileged callers are refused mutations.
No guests are booted.  Needs virtz_vsock loaded.  Prints TAP.
"""
import json
import os
import subprocess
import sys

TOP = os.environ.get("VIRTZ_TOP", os.getcwd())
LINUX = os.environ.get("VIRTZ_LINUX_SRC", os.path.join(TOP, ".cache/linux"))
VIRTZCTL = os.environ.get("VIRTZCTL", os.path.join(TOP, "build/virtzctl"))
YNL_DIR = os.path.join(LINUX, "tools/net/ynl")
SCHEMA = os.path.join(LINUX, "Documentation/netlink/genetlink.yaml")
SPEC = os.path.join(TOP, "Documentation/netlink/specs/virtz.yaml")
NOBODY = 65534
sys.path.insert(0, YNL_DIR)
from lib import YnlFamily, NlError  # noqa: E402

results = []


def check(name, ok, why=""):
    results.append(ok)
    print("%s %d - %s%s" % ("ok" if ok else "not ok", len(results), name,
                            "" if ok or not why else "  # " + str(why)),
          flush=True)


def err_of(fn):
    try:
        fn()
        return None
    except NlError as e:
        return (e.error, str(e))


def dump(fam):
    return {e["env-id"]: e for e in fam.dump("env-get", {})}


def ctl_envs():
    p = subprocess.run([VIRTZCTL, "-j", "env", "list"], capture_output=True,
                       text=True)
    return {e["id"]: e for e in json.loads(p.stdout)} if p.returncode == 0 else None


def as_nobody(fn):
    """Runs fn() in a child as nobody; returns its errno (0: success)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            e = err_of(lambda: fn(YnlFamily(SPEC, SCHEMA)))
            code = -e[0] if e and e[0] < 0 else (e[0] if e else 0)
        finally:
            os.write(w, str(code).encode())
            os._exit(0)
    os.close(w)
    out = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    return int(out or b"255")


def main():
    print("TAP version 13", flush=True)
    if not os.path.exists("/dev/virtz-vsock"):
        print("1..0 # SKIP virtz_vsock not loaded")
        return 0
    fam = YnlFamily(SPEC, SCHEMA)

    r = fam.do("env-new", {"env-label": "ynl-env"})
    eid = r["env-id"]
    check("env-new replies with an id and the label",
          eid >= 1 and r["env-label"] == "ynl-env", r)
    envs = ctl_envs()
    check("virtzctl env list sees the ynl-made environment",
          envs and envs.get(eid, {}).get("label") == "ynl-env", envs)

    e = err_of(lambda: fam.do("env-new", {}))
    check("env-new without a label: EINVAL + extack",
          e and abs(e[0]) == 22 and "env-label is required" in e[1], e)
    e = err_of(lambda: fam.do("env-new", {"env-label": "x" * 200}))
    check("env-new with an over-long label is refused", e is not None, e)
    e = err_of(lambda: fam.do("env-del", {"env-id": 987654}))
    check("env-del of an unknown id: ENOENT + extack",
          e and abs(e[0]) == 2 and "no environment with id 987654" in e[1], e)

    # instance-new: the entry lives exactly as long as the file.
    with open("/dev/null", "rb") as null:
        e = err_of(lambda: fam.do("instance-new", {
            "env-id": eid, "dev-fd": null.fileno(), "instance-label": "n"}))
    check("instance-new with a non-virtz fd: EINVAL + extack",
          e and abs(e[0]) == 22 and "not an open /dev/virtz-vsock" in e[1], e)
    e = err_of(lambda: fam.do("instance-new", {
        "env-id": eid, "dev-fd": 100000, "instance-label": "n"}))
    check("instance-new with a closed fd: EBADF + extack",
          e and abs(e[0]) == 9 and "is not an open file" in e[1], e)

    fd = os.open("/dev/virtz-vsock", os.O_RDWR)
    e = err_of(lambda: fam.do("instance-new", {
        "env-id": 987654, "dev-fd": fd, "instance-label": "n"}))
    check("instance-new in an unknown environment: ENOENT",
          e and abs(e[0]) == 2 and "no environment" in e[1], e)
    r = fam.do("instance-new", {"env-id": eid, "dev-fd": fd,
                                "instance-label": "ynl-guest"})
    cid = r["instance-cid"]
    check("instance-new gives a CID >= 3", cid >= 3, r)
    e = err_of(lambda: fam.do("instance-new", {
        "env-id": eid, "dev-fd": fd, "instance-label": "again"}))
    check("a second instance-new on the same file: EBUSY",
          e and abs(e[0]) == 16 and "already holds instance" in e[1], e)
    fd2 = os.open("/dev/virtz-vsock", os.O_RDWR)
    cid2 = fam.do("instance-new", {"env-id": eid, "dev-fd": fd2})["instance-cid"]
    check("a second file gets a different CID", cid2 >= 3 and cid2 != cid)
    insts = {i["cid"]: i for i in dump(fam)[eid].get("instance", [])}
    check("env-get dump lists both instances with label and pid",
          set(insts) == {cid, cid2} and insts[cid]["label"] == "ynl-guest" and
          insts[cid]["pid"] == os.getpid(), insts)
    ci = ctl_envs()[eid]["instances"]
    check("virtzctl env list agrees", {i["cid"] for i in ci} == {cid, cid2}, ci)

    e = err_of(lambda: fam.do("env-del", {"env-id": eid}))
    check("env-del of a non-empty environment: EBUSY + extack",
          e and abs(e[0]) == 16 and "still has 2 instance" in e[1], e)
    check("unprivileged env-new is refused with EPERM",
          as_nobody(lambda f: f.do("env-new", {"env-label": "u"})) == 1)
    check("unprivileged env-del is refused with EPERM",
          as_nobody(lambda f: f.do("env-del", {"env-id": eid})) == 1)
    check("unprivileged env-get dump works",
          as_nobody(lambda f: f.dump("env-get", {})) == 0)

    os.close(fd)
    insts = {i["cid"] for i in dump(fam)[eid].get("instance", [])}
    check("closing the device file removes exactly its instance",
          insts == {cid2}, insts)
    os.close(fd2)
    check("env-del succeeds once empty",
          err_of(lambda: fam.do("env-del", {"env-id": eid})) is None and
          eid not in dump(fam))

    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
