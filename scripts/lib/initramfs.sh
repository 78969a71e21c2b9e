# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the two initramfs builders: scripts/vm/mkinitramfs.sh (the
# test guest) and selftests/guest/mkguest.sh (virtzd's nested guests).
# They differ only in their /init and module list; this holds the rest:
# busybox with its applet links, kernel modules in load order
# (decompressed, since busybox insmod cannot read .ko.xz), the stamp that
# skips rebuilding an unchanged image, and the cpio itself.
#
# The caller sets PROG (for messages), SELF (its own path), OUT and KVER.

IR_BUSYBOX=/bin/busybox
IR_LIB=$(readlink -f "${BASH_SOURCE[0]}")

ir_die() {
	echo "$PROG: $*" >&2
	exit 1
}

# Checks busybox, then exits the caller with 0 when OUT is up to date:
# same kernel, same builder scripts, same busybox.
ir_up_to_date_or_continue() {
	[ -x "$IR_BUSYBOX" ] ||
		ir_die "$IR_BUSYBOX missing (apt-get install busybox-static)"
	if ldd "$IR_BUSYBOX" >/dev/null 2>&1; then
		ir_die "$IR_BUSYBOX is dynamic; install busybox-static"
	fi
	IR_STAMP="$KVER $(sha256sum "$SELF" "$IR_LIB" "$IR_BUSYBOX" |
		cut -d' ' -f1 | tr '\n' ' ')"
	if [ -s "$OUT" ] && [ "$(cat "$OUT.stamp" 2>/dev/null)" = "$IR_STAMP" ]; then
		exit 0
	fi
}

# ir_install_busybox ROOT
ir_install_busybox() {
	local a
	mkdir -p "$1/bin"
	cp "$IR_BUSYBOX" "$1/bin/busybox"
	for a in $("$IR_BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -s busybox "$1/bin/$a"
	done
}

# ir_install_modules ROOT MODULE...: the modules and their dependencies,
# decompressed into ROOT/lib/modules, names in load order in
# ROOT/lib/modules/order.  Built-in ones need nothing.
ir_install_modules() {
	local root=$1 kind path name
	shift
	mkdir -p "$root/lib/modules"
	: >"$root/lib/modules/order"
	modprobe -S "$KVER" --show-depends -a "$@" |
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		name=$(basename "$path")
		name=${name%.xz}; name=${name%.zst}; name=${name%.gz}
		grep -qx "$name" "$root/lib/modules/order" && continue
		case "$path" in
		*.xz)  xz -dc "$path" >"$root/lib/modules/$name" ;;
		*.zst) zstd -qdc "$path" >"$root/lib/modules/$name" ;;
		*.gz)  gzip -dc "$path" >"$root/lib/modules/$name" ;;
		*)     cp "$path" "$root/lib/modules/$name" ;;
		esac
		echo "$name" >>"$root/lib/modules/order"
	done
}

# ir_pack ROOT: writes OUT (uncompressed newc cpio) and its stamp.
ir_pack() {
	mkdir -p "$(dirname "$OUT")"
	(cd "$1" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet -R 0:0) >"$OUT.tmp"
	mv -f "$OUT.tmp" "$OUT"
	echo "$IR_STAMP" >"$OUT.stamp"
}
