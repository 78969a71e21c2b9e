#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Sum the TAP results under a folder into one line: "N passed, N failed".

Each NAME.tap is one test program's output; an optional NAME.rc beside it
holds its exit status.  Only top-level "ok"/"not ok" lines count (the
kselftest harness indents nothing at top level; subtests start with '#').
A program that exits non-zero without reporting a failure, or reports
fewer results than its plan, counts one failure more: a crash is never a
pass.  A "not ok ... # TODO" result (a known, tracked failure) is listed
but counted as skipped, as TAP specifies.
"""
import os
import re
import sys

RESULT = re.compile(r"^(not ok|ok)\b(?:\s+\d+)?\s*(.*)$")
PLAN = re.compile(r"^1\.\.(\d+)")


def summarize(path):
    passed = failed = skipped = 0
    planned = None
    failures = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = PLAN.match(line)
            if m and planned is None:
                planned = int(m.group(1))
                continue
            m = RESULT.match(line)
            if not m:
                continue
            desc = m.group(2)
            if m.group(1) == "ok":
                if re.search(r"#\s*SKIP", desc, re.I):
                    skipped += 1
                else:
                    passed += 1
            elif re.search(r"#\s*TODO", desc, re.I):
                skipped += 1
                failures.append("TODO (not counted): " + desc)
            else:
                failed += 1
                failures.append(desc)
    rc = 0
    rcfile = path[:-4] + ".rc"
    if os.path.exists(rcfile):
        try:
            rc = int(open(rcfile).read().strip() or "1")
        except ValueError:
            rc = 1
    seen = passed + failed + skipped
    if planned is not None and seen < planned:
        failed += 1
        failures.append(f"only {seen} of {planned} planned results")
    elif rc != 0 and failed == 0:
        failed += 1
        failures.append(f"exited with status {rc}")
    return passed, failed, skipped, failures


def main():
    root = sys.argv[1]
    tot = [0, 0, 0]
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith(".tap"):
                continue
            path = os.path.join(dirpath, name)
            p, f, s, fails = summarize(path)
            tot[0] += p
            tot[1] += f
            tot[2] += s
            rel = os.path.relpath(path, root)[:-4]
            print(f"  {rel:<40} {p:4d} passed {f:4d} failed {s:4d} skipped")
            for d in fails:
                if d.startswith("TODO (not counted): "):
                    print(f"      {d}")
                else:
                    print(f"      FAILED: {d}")
    line = f"{tot[0]} passed, {tot[1]} failed"
    if tot[2]:
        line += f", {tot[2]} skipped"
    print(line)
    return 1 if tot[1] else 0


if __name__ == "__main__":
    sys.exit(main())
