#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A file system on a loop device: mkfs.ext4, mount, write, read back,
# "mount -o loop" of the image file, e2fsck.

. "$(dirname "$0")/loop_lib.sh"

NTESTS=6
IMG=
DEV=
MNT=
SUMS=

# Checksums of every regular file under $1, relative names, sorted.
tree_sums()
{
	(cd "$1" && find . -type f ! -path './lost+found/*' | sort |
		while read -r f; do md5sum "$f"; done)
}

test_mkfs()
{
	IMG=$(new_file 64M) || return 1
	DEV=$(attach_free "$IMG") || return 1
	"$MKFS_EXT4" -q -F -L ksft-loop "$DEV" ||
		{ fail "mkfs.ext4 $DEV failed"; return 1; }
}

test_mount_write()
{
	local i

	[ -n "$DEV" ] || { SKIP_REASON="no file system"; return $KSFT_SKIP; }
	MNT=$(new_dir) || return 1
	"$MOUNT" -t ext4 "$DEV" "$MNT" || { fail "mount $DEV failed"; return 1; }
	remember_mount "$MNT"
	mkdir -p "$MNT/dir/sub" || return 1
	for i in 1 2 3 4; do
		dd if=/dev/urandom of="$MNT/dir/f$i" bs=64k count=$((i * 4)) \
			2>/dev/null || { fail "writing f$i failed"; return 1; }
	done
	dd if=/dev/urandom of="$MNT/dir/sub/big" bs=1M count=8 2>/dev/null ||
		{ fail "writing big failed"; return 1; }
	echo "hello loop" > "$MNT/dir/sub/small" || return 1
	sync
	SUMS=$(tree_sums "$MNT")
	[ -n "$SUMS" ] || { fail "no checksums"; return 1; }
	"$UMOUNT" "$MNT" || { fail "umount failed"; return 1; }
	"$LOOPCTL" detach "$DEV" >/dev/null || { fail "detach failed"; return 1; }
	wait_unbound "$DEV" || { fail "$DEV still bound"; return 1; }
}

test_fsck()
{
	[ -n "$SUMS" ] || { SKIP_REASON="nothing written"; return $KSFT_SKIP; }
	have_tool "$E2FSCK" e2fsck || return $KSFT_SKIP
	"$E2FSCK" -fn "$IMG" || { fail "e2fsck -fn found problems"; return 1; }
}

test_mount_o_loop()
{
	local now dev

	[ -n "$SUMS" ] || { SKIP_REASON="nothing written"; return $KSFT_SKIP; }
	"$MOUNT" -o loop "$IMG" "$MNT" || { fail "mount -o loop failed"; return 1; }
	remember_mount "$MNT"
	dev=$("$LOSETUP" -j "$IMG" 2>/dev/null | cut -d: -f1)
	diag "mount -o loop used ${dev:-an unknown device}"
	now=$(tree_sums "$MNT")
	[ "$now" = "$SUMS" ] || { fail "files differ after remount"; return 1; }
	[ "$(cat "$MNT/dir/sub/small")" = "hello loop" ] || return 1
}

test_umount_releases()
{
	local n bf

	[ -n "$SUMS" ] || { SKIP_REASON="nothing mounted"; return $KSFT_SKIP; }
	"$UMOUNT" "$MNT" || { fail "umount failed"; return 1; }
	# The device mount set up is autoclear: it lets go of the image.
	for n in $(loop_list); do
		wait_unbound "/dev/loop$n"
		bf=$(cat "/sys/block/loop$n/loop/backing_file" 2>/dev/null)
		[ "$bf" != "$IMG" ] || { fail "loop$n still holds the image"; return 1; }
	done
}

ktap_print_header
loop_require_basics
require_tool "$MKFS_EXT4" mkfs.ext4
require_tool "$MOUNT" mount
require_tool "$UMOUNT" umount
require_tool "$LOSETUP" losetup
have_ext4 || skip_all "$SKIP_REASON"
loop_setup

ktap_set_plan $NTESTS
run_test "mkfs.ext4 on a loop device" test_mkfs
run_test "mount, write files, umount" test_mount_write
run_test "e2fsck -fn after writing" test_fsck
run_test "mount -o loop of the image, files intact" test_mount_o_loop
run_test "umount releases the loop device" test_umount_releases
run_test "e2fsck -fn at the end" test_fsck
ktap_finished
