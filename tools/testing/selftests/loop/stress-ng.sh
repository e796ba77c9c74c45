#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# stress-ng's loop stressor: GET_FREE, SET_FD, status, capacity, CLR_FD and
# REMOVE in a loop from two workers for STRESS_SECONDS (default 60).

. "$(dirname "$0")/loop_lib.sh"

NTESTS=3
STRESS_SECONDS=${STRESS_SECONDS:-60}
BOUND_BEFORE=

bound_list()
{
	local n

	for n in $(loop_list); do
		is_bound "/dev/loop$n" && echo "$n"
	done
}

test_stress_ng()
{
	local dir rc out

	dir=$(new_dir) || return 1
	out=$("$STRESS_NG" --loop 2 --timeout "${STRESS_SECONDS}s" \
		--metrics-brief --temp-path "$dir" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	case $rc in
	0) ;;
	3) SKIP_REASON="stress-ng: no resources"; return $KSFT_SKIP ;;
	4) SKIP_REASON="stress-ng: loop stressor not implemented"
	   return $KSFT_SKIP ;;
	*) fail "stress-ng exited $rc"; return 1 ;;
	esac
	if echo "$out" | grep -q "fail:"; then
		fail "stress-ng reported failures"
		return 1
	fi
}

test_nothing_left_bound()
{
	local n left=""

	for n in $(bound_list); do
		wait_unbound "/dev/loop$n" && continue
		case " $BOUND_BEFORE " in
		*" $n "*) ;;
		*) left="$left loop$n($(sysfs_attr "/dev/loop$n" loop/backing_file))" ;;
		esac
	done
	[ -z "$left" ] || { fail "still bound:$left"; return 1; }
}

test_still_usable()
{
	local img dev

	img=$(new_file 1M) || return 1
	dev=$(attach_free "$img") || return 1
	dd if=/dev/zero of="$dev" bs=4k count=16 conv=fsync 2>/dev/null ||
		{ fail "write to $dev failed"; return 1; }
	"$LOOPCTL" detach "$dev" >/dev/null || { fail "detach failed"; return 1; }
	wait_unbound "$dev" || { fail "$dev still bound"; return 1; }
}

ktap_print_header
loop_require_basics
require_tool "$STRESS_NG" stress-ng
loop_setup
BOUND_BEFORE=$(bound_list | tr '\n' ' ')

ktap_set_plan $NTESTS
run_test "stress-ng --loop 2 --timeout ${STRESS_SECONDS}s" test_stress_ng
run_test "no device left bound" test_nothing_left_bound
run_test "loop devices still usable" test_still_usable
ktap_finished
