#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fio with crc32c verification on loop devices: buffered, direct I/O,
# direct I/O with 4 KiB logical blocks, and at a queue depth of 16.
# FIO_SIZE (default 16M) sets how much each job writes.

. "$(dirname "$0")/loop_lib.sh"

NTESTS=4
FIO_SIZE=${FIO_SIZE:-16M}

# new_dev [loopctl attach options]: a device over a 32 MiB tmpfs file.
new_dev()
{
	local img

	img=$(new_file 32M) || return 1
	attach_free "$img" "$@"
}

# run_fio DEV NAME [fio options]: write then verify; 0 if clean.
run_fio()
{
	local dev=$1 name=$2 out rc

	shift 2
	out=$("$FIO" --name="$name" --filename="$dev" --size="$FIO_SIZE" \
		--rw=randwrite --bs=4k --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --randrepeat=0 "$@" 2>&1)
	rc=$?
	echo "$out" | grep -E "err=|verify|WRITE:|READ:" | sed 's/^ */# /'
	[ $rc -eq 0 ] || { fail "fio $name exited $rc"; echo "$out" | sed 's/^/# /'; return 1; }
	echo "$out" | grep -q "err= *0" ||
		{ fail "fio $name did not report err=0"; return 1; }
	if echo "$out" | grep -qi "verify: bad\|verify failed\|crc32c: verify"; then
		fail "fio $name reported a verify error"
		return 1
	fi
	"$LOOPCTL" detach "$dev" >/dev/null
}

# The async engine if this fio has it, else the synchronous one.
pick_engine()
{
	if "$FIO" --enghelp 2>/dev/null | grep -qw libaio; then
		echo libaio
	else
		echo psync
	fi
}

test_buffered()
{
	local dev

	dev=$(new_dev) || return 1
	run_fio "$dev" buffered --ioengine=psync --direct=0
}

test_direct()
{
	local dev

	dev=$(new_dev dio) || return 1
	[ "$(sysfs_attr "$dev" loop/dio)" = 1 ] ||
		{ fail "$dev did not get direct I/O"; return 1; }
	run_fio "$dev" direct --ioengine=psync --direct=1
}

test_direct_4k()
{
	local dev

	dev=$(new_dev dio bs=4096) || return 1
	[ "$(sysfs_attr "$dev" queue/logical_block_size)" = 4096 ] ||
		{ fail "$dev does not have 4 KiB blocks"; return 1; }
	run_fio "$dev" direct4k --ioengine=psync --direct=1
}

test_queue_depth()
{
	local dev engine

	engine=$(pick_engine)
	[ "$engine" = libaio ] ||
		{ SKIP_REASON="fio has no libaio engine"; return $KSFT_SKIP; }
	dev=$(new_dev dio) || return 1
	run_fio "$dev" qd16 --ioengine=libaio --direct=1 --iodepth=16
}

ktap_print_header
loop_require_basics
require_tool "$FIO" fio
loop_setup

ktap_set_plan $NTESTS
run_test "fio verify, buffered" test_buffered
run_test "fio verify, direct I/O" test_direct
run_test "fio verify, direct I/O, 4 KiB blocks" test_direct_4k
run_test "fio verify, libaio queue depth 16" test_queue_depth
ktap_finished
