#!/bin/bash
# vm/mkinitramfs.sh - build build/initramfs.cpio.gz for the QEMU guest.
#
# Contents:
#   /init                      vm/guest-init.sh
#   /looptest/                 vm/guest-run-tests.sh, vm/guest-demo.sh
#   /bin, /sbin, /usr/...      static busybox and its applet links
#   /usr/real/bin/             real clients: losetup blockdev mkfs.ext4 mke2fs
#                              e2fsck sfdisk fio stress-ng mount umount,
#                              with the shared libraries ldd lists
#   /lib/modules/$KVER/        modules.dep etc. from `depmod -b`; the module
#                              under test as kernel/drivers/block/loop.ko, and
#                              the stock ext4 (+deps), crc32c, virtio_blk, brd
#                              (a RAM disk to swap to), all
#                              uncompressed (busybox modprobe cannot read .xz)
#   /lib/loop-under-test.ko    the module under test again, for insmod
#   /lib/loop-stock.ko         Debian's loop.ko, for comparisons
#   /selftests/loop/           installed kselftests + tests.list + settings
#   /selftests/kselftest/      ktap_helpers.sh, for the shell tests
#   /bench/                    the repo's bench/ directory, if there is one
#
# LOOP_KO=ours (default: build/module/loop.ko), stock (Debian's loop.ko.xz),
# a path to any loop.ko / loop.ko.xz, or builtin (a kernel with the driver
# built in, vm/check-intree.sh: no module under test).
#
# Skips the work when nothing that goes in has changed (fingerprint in
# build/initramfs.fp).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build
KVER=$(cat "$B/kver" 2>/dev/null) || { echo "initramfs: build/kver missing; run 'make deps'" >&2; exit 1; }
MODROOT=/lib/modules/$KVER
OUTFILE=$B/initramfs.cpio.gz
FPFILE=$B/initramfs.fp
STAGE=$B/initramfs.d
SELFTESTS=$B/selftests/install/loop
KSELFTEST=$B/selftests/install/kselftest
LOOP_KO=${LOOP_KO:-ours}

REAL_TOOLS="losetup blockdev mkfs.ext4 mke2fs e2fsck sfdisk fio stress-ng mount umount"
# perf (24 MiB with its libraries) only for a profiling bench, which asks.
[ "${INITRAMFS_PERF:-}" = 1 ] && REAL_TOOLS="$REAL_TOOLS perf"
# Stock modules wanted in the guest (with their dependencies from modules.dep).
STOCK_MODS="ext4 crc32c_intel crc32c_generic virtio_blk brd"

die() { echo "initramfs: error: $*" >&2; exit 1; }

# Uncompress a module file ($1: .ko, .ko.xz or .ko.gz) to $2.
unpack_ko() {
	case "$1" in
	*.ko.xz) xz -dc "$1" > "$2" ;;
	*.ko.gz) gzip -dc "$1" > "$2" ;;
	*.ko) cp "$1" "$2" ;;
	*) die "don't know how to read module $1" ;;
	esac
}

# 1. The module under test.
STOCK_XZ=$(ls "$MODROOT"/kernel/drivers/block/loop.ko* 2>/dev/null | head -n 1)
[ -n "$STOCK_XZ" ] || die "no stock loop module in $MODROOT (linux-image-$KVER)"
mkdir -p "$B/stock"
if [ ! -f "$B/stock/loop.ko" ] || [ "$STOCK_XZ" -nt "$B/stock/loop.ko" ]; then
	unpack_ko "$STOCK_XZ" "$B/stock/loop.ko"
fi
case "$LOOP_KO" in
ours) KO_SRC=$B/module/loop.ko
      [ -f "$KO_SRC" ] || die "$KO_SRC missing; run 'make module'" ;;
stock) KO_SRC=$B/stock/loop.ko ;;
builtin) KO_SRC= ;;
*) KO_SRC=$LOOP_KO
   [ -f "$KO_SRC" ] || die "LOOP_KO=$LOOP_KO: no such file" ;;
esac
mkdir -p "$B/module-under-test"
KO=$B/module-under-test/loop.ko
if [ -n "$KO_SRC" ]; then
	unpack_ko "$KO_SRC" "$KO.tmp"
	mv "$KO.tmp" "$KO"
	name=$(modinfo -F name "$KO" 2>/dev/null || true)
	[ "$name" = loop ] || die "$KO_SRC: module name is '$name', not 'loop'"
	vermagic=$(modinfo -F vermagic "$KO")
	case "$vermagic" in
	"$KVER "*) ;;
	*) die "$KO_SRC was built for '${vermagic%% *}', the guest runs $KVER" ;;
	esac
else
	rm -f "$KO"
fi

[ -f "$SELFTESTS/tests.list" ] || die "$SELFTESTS/tests.list missing; run 'make selftests'"
[ -f "$KSELFTEST/ktap_helpers.sh" ] || die "$KSELFTEST/ktap_helpers.sh missing; run 'make selftests'"

# The stock module files wanted, with their dependencies (modules.dep lines
# are "path: dep dep ...", the dependencies already transitive).
STOCK_FILES=$(for m in $STOCK_MODS; do
	line=$(awk -v m="$m" '{
		p = $1; sub(/:$/, "", p); n = p; sub(/.*\//, "", n);
		sub(/\.ko.*$/, "", n); gsub(/-/, "_", n);
		if (n == m) { print; exit }
	}' "$MODROOT/modules.dep")
	[ -n "$line" ] || die "stock module $m not found in $MODROOT/modules.dep"
	for f in $line; do echo "${f%:}"; done
done | awk '!seen[$0]++' | tr '\n' ' ')

# 2. Fingerprint of every input; skip when unchanged.
fingerprint() {
	echo "kver $KVER"
	echo "busybox $(stat -c '%s %Y' /bin/busybox)"
	for t in $REAL_TOOLS; do
		p=$(command -v "$t") || die "$t not found on the host (make deps)"
		echo "tool $t $(stat -L -c '%s %Y' "$p")"
	done
	echo "stock modules $STOCK_FILES"
	(cd "$MODROOT" && sha256sum $STOCK_FILES)
	echo "module under test: $LOOP_KO"
	[ -z "$KO_SRC" ] || sha256sum "$KO"
	sha256sum "$B/stock/loop.ko" "$0" vm/guest-*.sh /etc/mke2fs.conf
	(cd "$SELFTESTS" && find . -type f | LC_ALL=C sort | xargs sha256sum)
	(cd "$KSELFTEST/.." && find kselftest -type f | LC_ALL=C sort | xargs sha256sum)
	if [ -d bench ]; then
		find bench -type f | LC_ALL=C sort | xargs -r sha256sum
	fi
}
fingerprint > "$FPFILE.txt"
fp=$(sha256sum < "$FPFILE.txt" | cut -d' ' -f1)
if [ -f "$OUTFILE" ] && [ "$(cat "$FPFILE" 2>/dev/null)" = "$fp" ]; then
	echo "initramfs: up to date ($LOOP_KO)"
	exit 0
fi

echo "initramfs: building build/initramfs.cpio.gz (LOOP_KO=$LOOP_KO)"
rm -rf "$STAGE" "$FPFILE"
mkdir -p "$STAGE"
cd "$STAGE"
mkdir -p bin sbin usr/bin usr/sbin usr/real/bin lib lib64 etc dev proc sys \
	tmp run mnt root looptest selftests/loop selftests/kselftest
chmod 1777 tmp

# 3. busybox and its applets (never overwriting what is already there).
cp /bin/busybox bin/busybox
/bin/busybox --list-full | while read -r applet; do
	[ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
done

# 4. Real tools and their shared libraries.
copy_libs() {
	ldd "$1" | while read -r a b c _; do
		case "$a" in linux-vdso.so*) continue ;; esac
		if [ "$b" = "=>" ]; then
			[ "$c" != "not" ] || die "$1: library $a not found"
			lib=$c
		else
			lib=$a
		fi
		[ -e ".$lib" ] && continue
		mkdir -p ".$(dirname "$lib")"
		cp -L "$lib" ".$lib"
	done
}
for t in $REAL_TOOLS; do
	p=$(command -v "$t")
	cp -L "$p" "usr/real/bin/$t"
	copy_libs "$p"
done
cp /etc/mke2fs.conf etc/
echo 'root:x:0:0:root:/root:/bin/sh' > etc/passwd
echo 'root:x:0:' > etc/group
: > etc/fstab
ln -s /proc/self/mounts etc/mtab

# 5. Kernel modules.
KM=lib/modules/$KVER
mkdir -p "$KM/kernel/drivers/block"
if [ -n "$KO_SRC" ]; then
	cp "$KO" "$KM/kernel/drivers/block/loop.ko"
	cp "$KO" lib/loop-under-test.ko
fi
cp "$B/stock/loop.ko" lib/loop-stock.ko
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$MODROOT/$f" ] && cp "$MODROOT/$f" "$KM/"
done
for f in $STOCK_FILES; do
	dst=$KM/${f%.xz}
	dst=${dst%.gz}
	mkdir -p "$(dirname "$dst")"
	unpack_ko "$MODROOT/$f" "$dst"
done
depmod -b "$STAGE" "$KVER" || die "depmod failed"

# 6. Tests, guest scripts, benchmarks.
cp -a "$SELFTESTS/." selftests/loop/
cp -a "$KSELFTEST/." selftests/kselftest/
cp "$ROOT/vm/guest-init.sh" init
cp "$ROOT/vm/guest-run-tests.sh" looptest/run-tests.sh
cp "$ROOT/vm/guest-demo.sh" looptest/demo.sh
chmod 755 init looptest/*.sh
if [ -d "$ROOT/bench" ]; then
	cp -a "$ROOT/bench" bench
fi

# 7. Archive.  /dev/console must exist before devtmpfs is mounted.
mknod -m 600 dev/console c 5 1
mknod -m 666 dev/null c 1 3
find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --quiet | gzip -1 > "$OUTFILE.tmp"
mv "$OUTFILE.tmp" "$OUTFILE"
echo "$fp" > "$FPFILE"
echo "initramfs: $(du -h "$OUTFILE" | cut -f1) ($(du -sh . | cut -f1) unpacked)"
