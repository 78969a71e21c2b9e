#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
The kernel's own ynl CLI, driven only by our YNL specs, and virtzctl must
see the same thing from every virtz family; changes made through one are
visible through the other; unprivileged callers are refused admin
commands by both; the kernel's extack text reaches the virtzctl user.

Needs the modules loaded; env VIRTZ_TOP (the tree) and VIRTZ_LINUX_SRC
(the extracted linux-source files) tell it where things are.
"""
import errno
import json
import os
import subprocess
import sys

TOP = os.environ.get("VIRTZ_TOP", os.getcwd())
LINUX = os.environ.get("VIRTZ_LINUX_SRC", os.path.join(TOP, ".cache/linux"))
VIRTZCTL = os.environ.get("VIRTZCTL", os.path.join(TOP, "build/virtzctl"))
YNL_DIR = os.path.join(LINUX, "tools/net/ynl")
YNL = os.path.join(YNL_DIR, "cli.py")
SCHEMA = os.path.join(LINUX, "Documentation/netlink/genetlink.yaml")
NOBODY = 65534

# ynl's own library, which its CLI is built on.  Each CLI run costs a
# Python start-up and a schema validation, seconds under TCG, so the CLI
# is run once per family and the rest goes through the library in-process.
sys.path.insert(0, YNL_DIR)
from lib import YnlFamily, NlError  # noqa: E402

# virtzctl name, spec file
FAMILIES = [("fvm", "virtz_fvm"), ("vsock", "virtz"), ("wl", "virtz_wl")]

results = []


def spec_path(spec):
    return os.path.join(TOP, "Documentation/netlink/specs", spec + ".yaml")


def drop_privileges():
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def run(argv, unprivileged=False):
    return subprocess.run(argv, capture_output=True, text=True,
                          preexec_fn=drop_privileges if unprivileged else None)


def ynl_cli_info(spec):
    p = run([sys.executable, YNL, "--spec", spec_path(spec), "--schema",
             SCHEMA, "--do", "get-info", "--output-json"])
    if p.returncode:
        raise RuntimeError("ynl cli.py get-info: " + p.stdout + p.stderr)
    return json.loads(p.stdout)


def ynl_error(fn):
    """Runs fn; returns None on success, else (errno, extack text)."""
    try:
        fn()
        return None
    except NlError as e:
        return (e.error, str(e))


def unprivileged_ynl_set(spec, level):
    """set-log-level from a child running as nobody; returns its errno."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.close(r)
            drop_privileges()
            fam = YnlFamily(spec_path(spec), SCHEMA)
            err = ynl_error(lambda: fam.do("set-log-level",
                                           {"log-level": level}))
            code = err[0] if err else 0
        finally:
            os.write(w, str(code).encode())
            os._exit(0)
    os.close(w)
    out = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    return int(out or b"255")


def ctl(*args, unprivileged=False):
    return run([VIRTZCTL] + list(args), unprivileged)


def ctl_info(name):
    p = ctl("-j", "module", "info", name)
    if p.returncode:
        raise RuntimeError("virtzctl module info: " + p.stderr.strip())
    doc = json.loads(p.stdout)
    assert len(doc) == 1, doc
    return doc[0]


def check(name, cond, diag=""):
    results.append((name, bool(cond), diag))


def test_family(short, spec):
    y = ynl_cli_info(spec)
    c = ctl_info(short)
    same = (c["loaded"] and y["version"] == c["version"] and
            y["api-version"] == c["api_version"] and
            y["features"] == c["features"] and
            y["log-level"] == c["log_level"] and
            y["handles"] == c["handles"])
    check(f"{spec}: ynl cli.py get-info equals virtzctl module info", same,
          f"ynl={y} virtzctl={c}")

    fam = YnlFamily(spec_path(spec), SCHEMA)
    err = ynl_error(lambda: fam.do("set-log-level", {"log-level": 2}))
    check(f"{spec}: ynl set-log-level succeeds", err is None, err)
    check(f"{spec}: virtzctl sees the level ynl set",
          ctl_info(short)["log_level"] == 2)

    p = ctl("module", "set-log-level", short, "1")
    check(f"{spec}: virtzctl set-log-level succeeds", p.returncode == 0,
          p.stderr)
    check(f"{spec}: ynl sees the level virtzctl set",
          fam.do("get-info", {})["log-level"] == 1)

    err = ynl_error(lambda: fam.do("set-log-level", {"log-level": 9}))
    check(f"{spec}: ynl out-of-range level refused with ERANGE and extack",
          err and err[0] == errno.ERANGE and "out of range" in err[1], err)
    p = ctl("module", "set-log-level", short, "9")
    check(f"{spec}: virtzctl out-of-range level fails with the kernel's reason",
          p.returncode == 1 and "out of range" in p.stderr, p.stderr)

    p = ctl("module", "set-log-level", short, "3", unprivileged=True)
    check(f"{spec}: unprivileged virtzctl set-log-level refused",
          p.returncode == 1 and "Operation not permitted" in p.stderr,
          p.stderr)
    code = unprivileged_ynl_set(spec, 3)
    check(f"{spec}: unprivileged ynl set-log-level refused with EPERM",
          code == errno.EPERM, f"child reported {code}")
    p = ctl("-j", "module", "info", short, unprivileged=True)
    check(f"{spec}: unprivileged get-info allowed, level unchanged",
          p.returncode == 0 and json.loads(p.stdout)[0]["log_level"] == 1,
          p.stdout + p.stderr)

    fam.do("set-log-level", {"log-level": 0})


def main():
    for short, spec in FAMILIES:
        try:
            test_family(short, spec)
        except Exception as e:  # a crash in one family is a failure
            check(f"{spec}: test ran", False, repr(e))

    print("TAP version 13")
    print(f"1..{len(results)}")
    for i, (name, ok, diag) in enumerate(results, 1):
        if not ok:
            for line in str(diag).splitlines():
                print(f"# {line}")
        print(f"{'ok' if ok else 'not ok'} {i} {name}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
