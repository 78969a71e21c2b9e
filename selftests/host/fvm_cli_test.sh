#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Drives the built `virtzctl fvm` against temporary image files: every
# verb, JSON output, data read back through the slice map, and damaged or
# foreign files, which must be reported and left byte-for-byte unchanged.
# Prints TAP.  VIRTZCTL is the binary (default build/virtzctl).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
V=${VIRTZCTL:-$top/build/virtzctl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
img=$tmp/fvm.img
n=0
fail=0

echo "TAP version 13"
echo "1..24"
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
# t NAME CMD...: passes when CMD succeeds
t() { local name=$1; shift; "$@" >"$tmp/out" 2>"$tmp/err"; ok $? "$name"; }
# unchanged NAME EXPECTED_RC FILE CMD...: CMD exits EXPECTED_RC (nonzero), says
# something on stderr and FILE is unchanged
unchanged() {
	local name=$1 want=$2 f=$3; shift 3
	local before after rc
	before=$(sha256sum <"$f")
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	after=$(sha256sum <"$f")
	[ "$rc" = "$want" ] && [ -s "$tmp/err" ] && [ "$before" = "$after" ]
	ok $? "$name (rc=$rc)"
}
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

t "create" "$V" fvm create "$img" --size 64M --slice-size 1M --max-size 256M
t "check clean after create" "$V" fvm check "$img"
t "add data" "$V" fvm add "$img" data --slices 3
t "add inactive system" "$V" fvm add "$img" system --size 2M --inactive
t "add active system" "$V" fvm add "$img" system --slices 1 --guid 11111111-2222-3333-4444-555555555555
t "extend (append)" "$V" fvm extend "$img" data --slices 2
t "shrink" "$V" fvm shrink "$img" index:1 --offset 1 --slices 1
t "rename" "$V" fvm rename "$img" data blob
t "set-type" "$V" fvm set-type "$img" blob 2967380e-134c-4cbb-b6da-17e7ce1ca45d
"$V" -j fvm info "$img" >"$tmp/info.json"
ok $? "info -j"
[ "$(jq_ '[p["name"] for p in d["partitions"]]' <"$tmp/info.json")" = "['blob', 'system', 'system']" ] &&
[ "$(jq_ 'd["partitions"][0]["slices"]' <"$tmp/info.json")" = 4 ] &&
[ "$(jq_ 'd["partitions"][0]["type"]' <"$tmp/info.json")" = 2967380e-134c-4cbb-b6da-17e7ce1ca45d ] &&
[ "$(jq_ 'd["header"]["generation"]' <"$tmp/info.json")" = 7 ]
ok $? "info -j reflects every change"
unchanged "ambiguous name refused" 1 "$img" "$V" fvm remove "$img" system
inact=$(jq_ '[p["guid"] for p in d["partitions"] if not p["active"]][0]' <"$tmp/info.json")
t "activate" "$V" fvm activate "$img" 11111111-2222-3333-4444-555555555555 "$inact"
"$V" -j fvm info "$img" | jq_ '[(p["index"], p["active"]) for p in d["partitions"] if p["name"] == "system"]' >"$tmp/act"
[ "$(cat "$tmp/act")" = "[(2, True), (3, False)]" ]
ok $? "activate swapped both flags"
unchanged "activate of an active partition fails" 1 "$img" "$V" fvm activate "$img" - index:2
t "remove" "$V" fvm remove "$img" index:3

# Data through the slice map: write a pattern into vslice 2 of blob.
off=$("$V" -j fvm info "$img" | jq_ '[e["offset"] for e in d["partitions"][0]["extents"] if e["vslice"] == 2][0]')
head -c 1048576 /dev/urandom >"$tmp/pattern"
dd if="$tmp/pattern" of="$img" bs=1M seek="$off" oflag=seek_bytes conv=notrunc status=none
"$V" fvm dump-slice "$img" blob --vslice 2 -o "$tmp/dump" && cmp -s "$tmp/pattern" "$tmp/dump"
ok $? "dump-slice reads the data through the slice map"
unchanged "dump-slice of an unmapped vslice" 1 "$img" "$V" fvm dump-slice "$img" blob --vslice 1
t "check clean after all edits" "$V" fvm check "$img"

# Damaged and foreign files.
cp "$img" "$tmp/one.img"
printf '\xff' | dd of="$tmp/one.img" bs=1 seek=$((8192 + 70)) conv=notrunc status=none	# copy A table
printf '\xff' | dd of="$tmp/one.img" bs=1 seek=$((81920 + 8192 + 70)) conv=notrunc status=none	# copy B
unchanged "both copies corrupt: check says so, exit 8" 8 "$tmp/one.img" "$V" fvm check "$tmp/one.img"
grep -q "hash mismatch" "$tmp/err"
ok $? "check names the problem (hash mismatch)"
unchanged "writer refuses a damaged image" 1 "$tmp/one.img" "$V" fvm add "$tmp/one.img" x --slices 1
head -c 1048576 /dev/urandom >"$tmp/foreign.img"
unchanged "foreign file: info refuses" 1 "$tmp/foreign.img" "$V" fvm info "$tmp/foreign.img"
grep -q "not an FVM" "$tmp/err"
ok $? "foreign file is called not an FVM"

echo "# $n tests"
[ "$n" = 24 ] || fail=1
exit $fail
