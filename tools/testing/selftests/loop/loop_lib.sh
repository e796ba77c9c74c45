# SPDX-License-Identifier: GPL-2.0
# Helpers for the loop shell selftests: POSIX sh, runs under busybox ash.
# Each test script sources it from its own directory: . "$(dirname "$0")/..."
# It sources the kselftest tree's ktap_helpers.sh for the KTAP output
# (ktap_print_header, ktap_set_plan, ktap_test_*, ktap_finished, KSFT_*),
# from ../kselftest as installed next to loop/; KTAP_HELPERS overrides.
#
# Real tools come from variables, because busybox applets of the same name
# sit earlier in PATH and behave differently:
#   LOSETUP BLOCKDEV MKFS_EXT4 E2FSCK SFDISK FIO STRESS_NG MOUNT UMOUNT
# default to /usr/real/bin/<name>.  LOOP_TMPDIR (default /tmp) holds the
# program's scratch directory of backing files and mount points.

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

KTAP_HELPERS=${KTAP_HELPERS:-$LOOP_TEST_DIR/../kselftest/ktap_helpers.sh}
if [ ! -f "$KTAP_HELPERS" ]; then
	echo "$KTAP_HELPERS file not found [SKIP]"
	exit 4
fi
. "$KTAP_HELPERS"

# Why the last test skipped; a test sets it and returns $KSFT_SKIP.
SKIP_REASON=

# diag "text": each line of text as a KTAP diagnostic, "# line", verbatim
# (ktap_print_msg echoes its arguments unquoted: no globbing, no splitting).
diag()
{
	printf '%s\n' "$*" | {
		set -f
		IFS=
		while read -r line; do
			ktap_print_msg "$line"
		done
	}
}

# run_test "name" function [args...]: one KTAP result for the function's
# return: 0 passes, $KSFT_SKIP skips (SKIP_REASON goes in a diagnostic
# line just before the result), anything else fails.
run_test()
{
	local desc=$1 rc

	shift
	SKIP_REASON=
	"$@"
	rc=$?
	set -f	# ktap_helpers.sh echoes the name unquoted
	case $rc in
	0)
		ktap_test_pass "$desc" ;;
	"$KSFT_SKIP")
		diag "$desc: ${SKIP_REASON:-skipped}"
		ktap_test_skip "$desc" ;;
	*)
		ktap_test_fail "$desc" ;;
	esac
	set +f
}

# skip_all "reason": the whole program cannot run (after ktap_print_header).
skip_all()
{
	set -f
	ktap_skip_all "$1"
	exit "$KSFT_SKIP"
}

# have_tool PATH name: 0 if PATH is executable, else set SKIP_REASON.
have_tool()
{
	if [ -x "$1" ]; then
		return 0
	fi
	SKIP_REASON="$2 not found at $1"
	return 1
}

# require_tool PATH name: skip the whole program unless PATH is executable.
require_tool()
{
	have_tool "$1" "$2" || skip_all "$SKIP_REASON"
}

# A fail with a message: fail "what went wrong"; returns 1.
fail()
{
	diag "FAIL: $*"
	return 1
}

# --- state kept so that cleanup can undo everything ----------------------

LOOP_SCRATCH=
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

# Before the first test: note the loop devices there are, make the scratch
# directory LOOP_SCRATCH for backing files and mount points, and have
# loop_cleanup undo the program's work when it exits.
loop_setup()
{
	LOOP_BASELINE=$(loop_list | tr '\n' ' ')
	LOOP_SCRATCH=$(mktemp -d "$LOOP_TMPDIR/ksft-loop-XXXXXX") ||
		ktap_exit_fail_msg "cannot make a directory in $LOOP_TMPDIR"
	trap loop_cleanup EXIT
}

# new_file SIZE: a sparse backing file in LOOP_SCRATCH; prints its name.
# (It runs in a $(...) subshell: what it creates is found by its place.)
new_file()
{
	local f

	f=$(mktemp "$LOOP_SCRATCH/img-XXXXXX") || return 1
	truncate -s "$1" "$f" || return 1
	echo "$f"
}

# new_dir: a directory in LOOP_SCRATCH (for mount points); prints its name.
new_dir()
{
	mktemp -d "$LOOP_SCRATCH/mnt-XXXXXX"
}

# attach_free FILE [loopctl attach options]: FILE on the device that
# LOOP_CTL_GET_FREE gives, with LOOP_CONFIGURE; prints the device.
attach_free()
{
	local file=$1 n dev

	shift
	n=$("$LOOPCTL" get-free) || { fail "get-free: $n" >&2; return 1; }
	dev=$("$LOOPCTL" attach "/dev/loop$n" "$file" "$@") ||
		{ fail "attach /dev/loop$n $file $*: $dev" >&2; return 1; }
	echo "$dev"
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
	local m n bf

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
	# Never into a file system that would not unmount: it stays, with
	# its mount point, for whoever looks into the failure.
	[ -z "$LOOP_SCRATCH" ] || grep -q " $LOOP_SCRATCH/" /proc/mounts ||
		rm -rf "$LOOP_SCRATCH"
}

# Common preconditions; on failure skip the whole program.
loop_require_basics()
{
	[ "$(id -u)" = 0 ] || skip_all "must be root"
	[ -e /dev/loop-control ] || skip_all "/dev/loop-control missing"
	[ -x "$LOOPCTL" ] || skip_all "loopctl not built ($LOOPCTL)"
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
