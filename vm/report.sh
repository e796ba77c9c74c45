#!/bin/bash
# vm/report.sh LOG [QEMU_RC] - count the selftest results of a guest log and
# print them; the last two lines are always "N skipped" and
# "N passed, N failed" (print_counts in vm/lib.sh).
#
# Counting, per TAP result line ("ok N ..." / "not ok N ..." at the start of a
# program's output; indented subtests are not counted):
#   ok                      passed
#   ok ... # SKIP           skipped      (also "not ok ... # SKIP")
#   not ok                  failed
#   not ok ... # TODO       passed (an expected failure, shown as XFAIL)
# and one more failure for each program that timed out, printed no TAP plan,
# printed fewer results than planned, exited non-zero without reporting a
# failing case, could not be started, or never finished; and one for each
# program after which the loop module could not be unloaded (stuck=1).
# A program that printed no TAP at all and exited 4 (KSFT_SKIP), or planned
# "1..0", counts as one skip.  Besides: one failure if vm/check-log.sh finds kernel splats, one
# if the guest never printed its result marker (unless an unfinished program
# already accounts for it), one if the guest reported failure and nothing
# above explains it.
#
# QEMU_RC is vm/run-qemu.sh's exit status (3 = host timeout), for the message.
# Exit status: 0 when nothing failed, else 1.
set -uo pipefail

LOG=${1:?usage: report.sh LOG [QEMU_RC]}
QRC=${2:-}
. "$(dirname "$0")/lib.sh"

final() {
	print_counts "$1" "$2" "$3"
	[ "$2" = 0 ] && exit 0
	exit 1
}

if [ ! -f "$LOG" ]; then
	echo "report: FAIL: no log $LOG"
	final 0 1 0
fi

# Count in the summary block when the guest printed it, else in the live lines.
counts=$(tr -d '\r' < "$LOG" | awk '
function flush(p,    r) {
	if (!(p in started) || (p in done)) return
	done[p] = 1
	if (stuck[p] == 1) {
		fail++
		extra = extra "report: FAIL: " p ": the loop module could not be unloaded after it (reference leak?)\n"
	}
	r = ""
	if (endseen[p] == 0) r = "never finished (guest died or hung)"
	else if (tmo[p] == 1) r = "timed out after " secs[p] " s"
	else if (rc[p] == 255) r = "could not be run"
	else if (nres[p] == 0 && plan[p] == "") {
		if (rc[p] == 4) { skip++; print p ": skipped as a whole (exit 4)"; return }
		r = "printed no TAP (exit " rc[p] ")"
	} else if (plan[p] == "") r = "printed no TAP plan"
	else if (plan[p] == 0) {
		if (rc[p] == 0 || rc[p] == 4) { skip++; print p ": skipped as a whole (1..0)"; return }
		r = "planned no test but exited " rc[p]
	} else if (nres[p] < plan[p]) r = "printed " nres[p] " of " plan[p] " planned results (exit " rc[p] ")"
	else if (rc[p] != 0 && rc[p] != 4 && nfail[p] == 0) r = "exited " rc[p] " but reported no failing case"
	if (r != "") {
		fail++
		extra = extra "report: FAIL: " p ": " r "\n"
	}
}
{ line[NR] = $0 }
/^LOOPTEST-TAP-BEGIN/ { tb = NR }
/^LOOPTEST-TAP-END/ { te = NR }
END {
	first = 1; last = NR
	if (tb && te > tb) { first = tb + 1; last = te - 1 }
	else print "report: the guest printed no summary block; counting its live output"
	pass = fail = skip = 0; np = 0
	for (i = first; i <= last; i++) {
		l = line[i]
		if (l ~ /^LOOPTEST-PROG-BEGIN: name=/) {
			p = l; sub(/^LOOPTEST-PROG-BEGIN: name=/, "", p); sub(/ .*/, "", p)
			if (!(p in started)) order[++np] = p
			started[p] = 1; delete done[p]
			plan[p] = ""; nres[p] = 0; nfail[p] = 0; endseen[p] = 0
			print "== " p
			continue
		}
		if (l ~ /^LOOPTEST-PROG-END: name=/) {
			n = split(l, f, " ")
			for (j = 2; j <= n; j++) {
				split(f[j], kv, "=")
				if (kv[1] == "name") p = kv[2]
				else if (kv[1] == "rc") rcv = kv[2]
				else if (kv[1] == "timeout") tv = kv[2]
				else if (kv[1] == "secs") sv = kv[2]
				else if (kv[1] == "stuck") kst = kv[2]
			}
			rc[p] = rcv; tmo[p] = tv; secs[p] = sv; stuck[p] = kst; endseen[p] = 1
			flush(p)
			continue
		}
		if (l !~ /^# \[[^]]*\] /) continue
		p = l; sub(/^# \[/, "", p); sub(/\] .*/, "", p)
		t = l; sub(/^# \[[^]]*\] /, "", t)
		if (!(p in started) || (p in done)) continue
		if (t ~ /^1\.\.[0-9]+/) {
			pl = t; sub(/^1\.\./, "", pl); sub(/[^0-9].*/, "", pl)
			plan[p] = pl + 0
			continue
		}
		if (t !~ /^(not )?ok [0-9]+/) continue
		nres[p]++
		dir = ""
		if (match(t, /#[ \t]*[A-Za-z]+/)) {
			dir = toupper(substr(t, RSTART, RLENGTH)); sub(/^#[ \t]*/, "", dir)
		}
		if (dir == "SKIP") { skip++; st = "SKIP" }
		else if (t ~ /^ok/) { pass++; st = "PASS" }
		else if (dir == "TODO") { pass++; st = "XFAIL" }
		else { fail++; nfail[p]++; st = "FAIL" }
		printf "%-5s %s: %s\n", st, p, t
	}
	for (k = 1; k <= np; k++) flush(order[k])
	unfinished = 0
	for (k = 1; k <= np; k++) if (endseen[order[k]] == 0) unfinished++
	printf "%s", extra
	printf "COUNTS %d %d %d %d %d\n", pass, fail, skip, np, unfinished
}')

echo "$counts" | grep -v '^COUNTS '
read -r _ pass fail skip nprog unfinished <<< "$(echo "$counts" | grep '^COUNTS ' | tail -n 1)"

# Kernel splats and the result marker.
clog=$(bash "$(dirname "$0")/check-log.sh" "$LOG")
if [ -n "$clog" ]; then
	echo "$clog"
	if echo "$clog" | grep -q '^check-log: FAIL: kernel splat'; then
		echo "report: FAIL: kernel splat in the guest log, counted as one failure"
		fail=$((fail + 1))
	fi
	if echo "$clog" | grep -q "^check-log: FAIL: no 'LOOPTEST-RESULT"; then
		[ "$QRC" = 3 ] && echo "report: FAIL: the host timeout (QEMU_TIMEOUT) killed the guest"
		if [ "$unfinished" = 0 ]; then
			echo "report: FAIL: the guest did not finish, counted as one failure"
			fail=$((fail + 1))
		fi
	fi
fi

guest_rc=$(tr -d '\r' < "$LOG" | sed -n 's/^LOOPTEST-RESULT: rc=\([0-9]*\).*/\1/p' | tail -n 1)
if [ "$nprog" = 0 ] && [ -n "$guest_rc" ]; then
	echo "report: FAIL: no selftest program ran"
	fail=$((fail + 1))
elif [ -n "$guest_rc" ] && [ "$guest_rc" != 0 ] && [ "$fail" = 0 ]; then
	echo "report: FAIL: the guest reported failure (rc=$guest_rc); see $LOG"
	fail=$((fail + 1))
fi

final "$pass" "$fail" "$skip"
