# SPDX-License-Identifier: GPL-2.0
# Helpers for the loop shell selftests: POSIX sh, runs under busybox ash.
# Each test script sources it from its own directory: . "$(dirname "$0")/..."
#
# Real tools come from variables, because busybox applets of the same name
# sit earlier in PATH and behave differently:
#   LOSETUP BLOCKDEV MKFS_EXT4 E2FSCK SFDISK FIO STRESS_NG MOUNT UMOUNT
# default to /usr/real/bin/<name>.  LOOP_TMPDIR (default /tmp) holds the
# backing files.

KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

LOOP_TEST_DIR=$(cd "$(dirname "$0")" && pwd)
REAL_BIN=${REAL_BIN:-/usr/real/bin}
LOSETUP=${LOSETUP:-$REAL_BIN/losetup}
BLOCKDEV=${BLOCKDEV:-$REAL_BIN/blockdev}
MKFS_EXT4=${MKFS_EXT4:-$REAL_BIN/mkfs.ext4}
E2FSCK=${E2FSCK:-$REAL_BIN/e2fsck}
SFDISK=${SFDISK:-$REAL_BIN/sfdisk}
FIO=${FIO:-$REAL_BIN/fio}
STRESS_NG=${STRESS_NG:-$REAL_BIN/stress-ng}
MOUNT=${MOUNT:-$REAL_BIN/mount}
UMOUNT=${UMOUNT:-$REAL_BIN/umount}
LOOPCTL=${LOOPCTL:-$LOOP_TEST_DIR/loopctl}
LOOP_TMPDIR=${LOOP_TMPDIR:-/tmp}

ktap_num=0
ktap_pass=0
ktap_fail=0
ktap_skip=0
# Why the last test skipped; a test sets it and returns $KSFT_SKIP.
SKIP_REASON=

ktap_plan()
{
	echo "TAP version 13"
	echo "1..$1"
}

diag()
{
	echo "# $*"
}

# run_test "description" function [args...]: one TAP line for the result.
run_test()
{
	local desc=$1 rc

	shift
	SKIP_REASON=
	"$@"
	rc=$?
	ktap_num=$((ktap_num + 1))
	case $rc in
	0)
		ktap_pass=$((ktap_pass + 1))
		echo "ok $ktap_num $desc" ;;
	"$KSFT_SKIP")
		ktap_skip=$((ktap_skip + 1))
		echo "ok $ktap_num $desc # SKIP ${SKIP_REASON:-skipped}" ;;
	*)
		ktap_fail=$((ktap_fail + 1))
		echo "not ok $ktap_num $desc" ;;
	esac
}

# skip_all "reason" N: the whole program cannot run.
skip_all()
{
	local i=1

	ktap_plan "$2"
	while [ "$i" -le "$2" ]; do
		echo "ok $i # SKIP $1"
		i=$((i + 1))
	done
	echo "# Totals: pass:0 fail:0 skip:$2"
	exit $KSFT_SKIP
}

ktap_finish()
{
	echo "# Totals: pass:$ktap_pass fail:$ktap_fail skip:$ktap_skip"
	[ "$ktap_fail" -eq 0 ] || exit $KSFT_FAIL
	[ "$ktap_pass" -gt 0 ] || exit $KSFT_SKIP
	exit $KSFT_PASS
}

# require_tool VAR-VALUE name: 0 if executable, else set SKIP_REASON.
have_tool()
{
	if [ -x "$1" ]; then
		return 0
	fi
	SKIP_REASON="$2 not found at $1"
	return 1
}

# A fail with a message: fail "what went wrong"; returns 1.
fail()
{
	diag "FAIL: $*"
	return 1
}

# --- state kept so that cleanup can undo everything ----------------------

LOOP_FILES=
LOOP_MOUNTS=
LOOP_BASELINE=

# Loop device numbers in /sys/block, one per line, sorted.
loop_list()
{
	local d n

	for d in /sys/block/loop*; do
		[ -e "$d" ] || continue
		n=${d##*/loop}
		echo "$n"
	done | sort -n
}

loop_record_baseline()
{
	LOOP_BASELINE=$(loop_list | tr '\n' ' ')
}

# new_file SIZE: a sparse backing file in LOOP_TMPDIR; prints its name.
new_file()
{
	local f

	f=$(mktemp "$LOOP_TMPDIR/ksft-loop-XXXXXX") || return 1
	LOOP_FILES="$LOOP_FILES $f"
	truncate -s "$1" "$f" || return 1
	echo "$f"
}

# new_dir: a scratch directory (for mount points); prints its name.
new_dir()
{
	local d

	d=$(mktemp -d "$LOOP_TMPDIR/ksft-loop-mnt-XXXXXX") || return 1
	LOOP_FILES="$LOOP_FILES $d"
	echo "$d"
}

remember_mount()
{
	LOOP_MOUNTS="$1 $LOOP_MOUNTS"
}

# wait_for PATH [present|absent]: poll up to ~2 s.
wait_for()
{
	local want=${2:-present} i=0

	while [ "$i" -lt 40 ]; do
		if [ "$want" = present ]; then
			[ -e "$1" ] && return 0
		else
			[ -e "$1" ] || return 0
		fi
		sleep 0.05 2>/dev/null || sleep 1
		i=$((i + 1))
	done
	return 1
}

# sysfs_attr DEV ATTR: /sys/block/loopN/ATTR for /dev/loopN.
sysfs_attr()
{
	cat "/sys/block/${1##*/}/$2" 2>/dev/null
}

# is_bound DEV
is_bound()
{
	[ -e "/sys/block/${1##*/}/loop/backing_file" ]
}

# wait_unbound DEV: autoclear and deferred detach finish on the last close.
wait_unbound()
{
	wait_for "/sys/block/${1##*/}/loop/backing_file" absent
}

# Undo everything this script did: mounts, bindings, added devices, files.
loop_cleanup()
{
	local m n bf f

	for m in $LOOP_MOUNTS; do
		"$UMOUNT" "$m" 2>/dev/null || umount "$m" 2>/dev/null
	done
	for n in $(loop_list); do
		bf=$(cat "/sys/block/loop$n/loop/backing_file" 2>/dev/null)
		case "$bf" in
		"$LOOP_TMPDIR"/ksft-loop-*)
			"$LOOPCTL" detach "/dev/loop$n" >/dev/null 2>&1 ;;
		esac
	done
	for n in $(loop_list); do
		case " $LOOP_BASELINE " in
		*" $n "*) ;;
		*) wait_unbound "/dev/loop$n"
		   "$LOOPCTL" remove "$n" >/dev/null 2>&1 ;;
		esac
	done
	for n in $LOOP_BASELINE; do
		[ -e "/sys/block/loop$n" ] || "$LOOPCTL" add "$n" >/dev/null 2>&1
	done
	for f in $LOOP_FILES; do
		rm -rf "$f"
	done
}

# Common preconditions; on failure skip the whole program of N tests.
loop_require_basics()
{
	[ "$(id -u)" = 0 ] || skip_all "must be root" "$1"
	[ -e /dev/loop-control ] || skip_all "/dev/loop-control missing" "$1"
	[ -x "$LOOPCTL" ] || skip_all "loopctl not built ($LOOPCTL)" "$1"
}

# ext4 available? (the guest has it as a module)
have_ext4()
{
	modprobe ext4 >/dev/null 2>&1
	if grep -qw ext4 /proc/filesystems; then
		return 0
	fi
	SKIP_REASON="no ext4 in this kernel"
	return 1
}
