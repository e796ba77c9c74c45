#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# util-linux losetup against the loop driver: every option the users of
# losetup lean on, checked through sysfs and blockdev.

. "$(dirname "$0")/loop_lib.sh"

NTESTS=14

# losetup -f --show FILE [opts...]: the device, remembered for cleanup.
attach()
{
	local file=$1 dev

	shift
	dev=$("$LOSETUP" "$@" -f --show "$file") || return 1
	case "$dev" in
	/dev/loop[0-9]*) ;;
	*) fail "losetup -f --show printed '$dev'"; return 1 ;;
	esac
	echo "$dev"
}

test_find_show()
{
	local img dev bf

	img=$(new_file 4M) || return 1
	dev=$(attach "$img") || return 1
	[ -b "$dev" ] || { fail "$dev is not a block device"; return 1; }
	bf=$(sysfs_attr "$dev" loop/backing_file)
	[ "$bf" = "$img" ] || { fail "backing_file '$bf', want '$img'"; return 1; }
	[ "$("$BLOCKDEV" --getsize64 "$dev")" = 4194304 ] ||
		{ fail "size is not 4 MiB"; return 1; }
	"$LOSETUP" -d "$dev"
}

test_list_all()
{
	local img dev out

	img=$(new_file 1M) || return 1
	dev=$(attach "$img") || return 1
	out=$("$LOSETUP" -a) || { fail "losetup -a failed"; return 1; }
	diag "$out"
	echo "$out" | grep -q "^$dev: .*($img)" ||
		{ fail "losetup -a does not list $dev ($img)"; return 1; }
	out=$("$LOSETUP" -j "$img") || return 1
	echo "$out" | grep -q "^$dev:" ||
		{ fail "losetup -j $img does not find $dev"; return 1; }
	"$LOSETUP" -d "$dev"
}

test_offset_sizelimit()
{
	local img dev

	img=$(new_file 1M) || return 1
	dev=$(attach "$img" -o 4096 --sizelimit 65536) || return 1
	[ "$(sysfs_attr "$dev" loop/offset)" = 4096 ] ||
		{ fail "offset is $(sysfs_attr "$dev" loop/offset)"; return 1; }
	[ "$(sysfs_attr "$dev" loop/sizelimit)" = 65536 ] ||
		{ fail "sizelimit is $(sysfs_attr "$dev" loop/sizelimit)"; return 1; }
	[ "$("$BLOCKDEV" --getsize64 "$dev")" = 65536 ] ||
		{ fail "device size is not the sizelimit"; return 1; }
	"$LOSETUP" -d "$dev"
}

test_read_only()
{
	local img dev

	img=$(new_file 1M) || return 1
	dev=$(attach "$img" -r) || return 1
	[ "$("$BLOCKDEV" --getro "$dev")" = 1 ] ||
		{ fail "blockdev --getro is not 1"; return 1; }
	[ "$(sysfs_attr "$dev" ro)" = 1 ] || { fail "sysfs ro is not 1"; return 1; }
	if dd if=/dev/zero of="$dev" bs=512 count=1 2>/dev/null; then
		fail "a write to the read-only device succeeded"
		return 1
	fi
	"$LOSETUP" -d "$dev"
}

test_block_size()
{
	local img dev

	img=$(new_file 1M) || return 1
	dev=$(attach "$img" -b 4096) || return 1
	[ "$("$BLOCKDEV" --getss "$dev")" = 4096 ] ||
		{ fail "logical sector size is $("$BLOCKDEV" --getss "$dev")"; return 1; }
	[ "$(sysfs_attr "$dev" queue/logical_block_size)" = 4096 ] || return 1
	"$LOSETUP" -d "$dev"
}

# dio_data DEV FILE: with direct I/O on, write 1 MiB of random data through
# DEV with O_DIRECT at 64 KiB in, read it back through DEV with O_DIRECT and
# from FILE at the same place, and compare both with what was written.
dio_data()
{
	local dev=$1 file=$2 ref got

	ref=$(new_file 0) || return 1
	got=$(new_file 0) || return 1
	dd if=/dev/urandom of="$ref" bs=64k count=16 2>/dev/null || return 1
	dd if="$ref" of="$dev" bs=64k seek=1 oflag=direct conv=notrunc,fsync \
		2>/dev/null || { fail "O_DIRECT write to $dev failed"; return 1; }
	[ "$(sysfs_attr "$dev" loop/dio)" = 1 ] ||
		{ fail "loop/dio dropped to 0 during the write"; return 1; }
	dd if="$dev" of="$got" bs=64k skip=1 count=16 iflag=direct 2>/dev/null ||
		{ fail "O_DIRECT read from $dev failed"; return 1; }
	cmp -s "$ref" "$got" ||
		{ fail "$dev reads back other data than was written"; return 1; }
	dd if="$file" of="$got" bs=64k skip=1 count=16 2>/dev/null || return 1
	cmp -s "$ref" "$got" ||
		{ fail "the backing file does not hold what was written"; return 1; }
}

test_direct_io_tmpfs()
{
	local img dev

	img=$(new_file 2M) || return 1
	dev=$(attach "$img" --direct-io=on) || return 1
	[ "$(sysfs_attr "$dev" loop/dio)" = 1 ] ||
		{ fail "loop/dio is not 1 on a tmpfs file"; return 1; }
	dio_data "$dev" "$img" || return 1
	"$LOSETUP" --direct-io=off "$dev" ||
		{ fail "losetup --direct-io=off failed"; return 1; }
	[ "$(sysfs_attr "$dev" loop/dio)" = 0 ] ||
		{ fail "loop/dio is still 1"; return 1; }
	"$LOSETUP" -d "$dev"
}

test_direct_io_ext4()
{
	local img lower mnt dev

	have_tool "$MKFS_EXT4" mkfs.ext4 || return $KSFT_SKIP
	have_ext4 || return $KSFT_SKIP
	img=$(new_file 32M) || return 1
	lower=$(attach "$img") || return 1
	"$MKFS_EXT4" -q -F "$lower" >/dev/null 2>&1 ||
		{ fail "mkfs.ext4 $lower failed"; return 1; }
	mnt=$(new_dir) || return 1
	"$MOUNT" -t ext4 "$lower" "$mnt" || { fail "mount failed"; return 1; }
	remember_mount "$mnt"
	truncate -s 4M "$mnt/backing" || return 1
	dev=$(attach "$mnt/backing" --direct-io=on) || return 1
	[ "$(sysfs_attr "$dev" loop/dio)" = 1 ] ||
		{ fail "loop/dio is not 1 on an ext4 file"; return 1; }
	dio_data "$dev" "$mnt/backing" || return 1
	"$LOSETUP" -d "$dev"
	wait_unbound "$dev"
	"$UMOUNT" "$mnt" || { fail "umount failed"; return 1; }
	"$LOSETUP" -d "$lower"
}

test_partscan()
{
	local img dev

	have_tool "$SFDISK" sfdisk || return $KSFT_SKIP
	img=$(new_file 8M) || return 1
	echo 'start=2048, size=4096, type=83' | "$SFDISK" -q "$img" >/dev/null 2>&1 ||
		{ fail "sfdisk failed"; return 1; }
	dev=$(attach "$img" -P) || return 1
	wait_for "${dev}p1" || { fail "${dev}p1 did not appear"; return 1; }
	[ "$(sysfs_attr "$dev" loop/partscan)" = 1 ] ||
		{ fail "loop/partscan is not 1"; return 1; }
	[ "$(cat "/sys/block/${dev##*/}/${dev##*/}p1/size")" = 4096 ] ||
		{ fail "partition 1 has the wrong size"; return 1; }
	"$LOSETUP" -d "$dev"
	wait_for "${dev}p1" absent || { fail "${dev}p1 outlived detach"; return 1; }
}

test_capacity()
{
	local img dev

	img=$(new_file 1M) || return 1
	dev=$(attach "$img") || return 1
	truncate -s 3M "$img" || return 1
	[ "$("$BLOCKDEV" --getsize64 "$dev")" = 1048576 ] ||
		{ fail "size changed before losetup -c"; return 1; }
	"$LOSETUP" -c "$dev" || { fail "losetup -c failed"; return 1; }
	[ "$("$BLOCKDEV" --getsize64 "$dev")" = 3145728 ] ||
		{ fail "size is $("$BLOCKDEV" --getsize64 "$dev") after -c"; return 1; }
	"$LOSETUP" -d "$dev"
}

test_detach()
{
	local img dev

	img=$(new_file 1M) || return 1
	dev=$(attach "$img") || return 1
	"$LOSETUP" -d "$dev" || { fail "losetup -d failed"; return 1; }
	wait_unbound "$dev" || { fail "$dev still bound"; return 1; }
	[ "$(sysfs_attr "$dev" size)" = 0 ] || { fail "size not 0"; return 1; }
	if "$LOSETUP" "$dev" >/dev/null 2>&1; then
		fail "losetup still reports $dev"
		return 1
	fi
}

test_detach_all()
{
	local img1 img2 dev1 dev2

	img1=$(new_file 1M) || return 1
	img2=$(new_file 1M) || return 1
	dev1=$(attach "$img1") || return 1
	dev2=$(attach "$img2") || return 1
	[ "$dev1" != "$dev2" ] || { fail "the same device twice"; return 1; }
	"$LOSETUP" -D || { fail "losetup -D failed"; return 1; }
	wait_unbound "$dev1" || { fail "$dev1 still bound"; return 1; }
	wait_unbound "$dev2" || { fail "$dev2 still bound"; return 1; }
}

test_explicit_device()
{
	local img n dev

	img=$(new_file 1M) || return 1
	n=$("$LOOPCTL" get-free) || { fail "get-free: $n"; return 1; }
	dev=/dev/loop$n
	"$LOSETUP" "$dev" "$img" || { fail "losetup $dev $img failed"; return 1; }
	[ "$(sysfs_attr "$dev" loop/backing_file)" = "$img" ] || return 1
	"$LOSETUP" "$dev" | grep -q "($img)" ||
		{ fail "losetup $dev does not show the file"; return 1; }
	if "$LOSETUP" "$dev" "$img" 2>/dev/null; then
		fail "binding a bound device succeeded"
		return 1
	fi
	"$LOSETUP" -d "$dev"
}

test_find_creates_device()
{
	local img list dev n added=""

	# Occupy every existing device: -f must ask loop-control for a new one.
	img=$(new_file 1M) || return 1
	for n in $(loop_list); do
		is_bound "/dev/loop$n" && continue
		"$LOOPCTL" attach "/dev/loop$n" "$img" ro >/dev/null ||
			{ fail "cannot occupy loop$n"; return 1; }
		added="$added $n"
	done
	list=" $(loop_list | tr '\n' ' ')"
	dev=$(attach "$img" -r) || return 1
	case "$list" in
	*" ${dev#/dev/loop} "*) fail "$dev existed before"; return 1 ;;
	esac
	"$LOSETUP" -d "$dev"
	for n in $added; do
		"$LOOPCTL" detach "/dev/loop$n" >/dev/null
	done
}

test_sizelimit_data()
{
	local img dev

	img=$(new_file 1M) || return 1
	dev=$(attach "$img" -o 512 --sizelimit 4096) || return 1
	# 8 sectors of 0xff through the device...
	dd if=/dev/zero bs=512 count=8 2>/dev/null | tr '\000' '\377' |
		dd of="$dev" bs=512 count=8 2>/dev/null || return 1
	sync
	"$LOSETUP" -d "$dev"
	wait_unbound "$dev"
	# ...land in bytes 512..4607 of the file and nowhere else.
	[ "$(dd if="$img" bs=512 skip=1 count=8 2>/dev/null | tr -d '\377' | wc -c)" = 0 ] ||
		{ fail "the data is not at offset 512"; return 1; }
	[ "$(dd if="$img" bs=512 count=1 2>/dev/null | tr -d '\000' | wc -c)" = 0 ] ||
		{ fail "sector 0 was written"; return 1; }
	[ "$(dd if="$img" bs=512 skip=9 count=1 2>/dev/null | tr -d '\000' | wc -c)" = 0 ] ||
		{ fail "a sector past the sizelimit was written"; return 1; }
}

ktap_print_header
loop_require_basics
require_tool "$LOSETUP" losetup
require_tool "$BLOCKDEV" blockdev
loop_setup

ktap_set_plan $NTESTS
run_test "losetup -f --show" test_find_show
run_test "losetup -a and -j" test_list_all
run_test "losetup -o --sizelimit" test_offset_sizelimit
run_test "losetup -o --sizelimit: data placement" test_sizelimit_data
run_test "losetup -r" test_read_only
run_test "losetup -b 4096" test_block_size
run_test "losetup --direct-io=on|off (tmpfs)" test_direct_io_tmpfs
run_test "losetup --direct-io=on (ext4)" test_direct_io_ext4
run_test "losetup -P" test_partscan
run_test "losetup -c" test_capacity
run_test "losetup -d" test_detach
run_test "losetup -D" test_detach_all
run_test "losetup DEV FILE" test_explicit_device
run_test "losetup -f adds a device when all are bound" test_find_creates_device
ktap_finished
