#!/bin/bash
# vm/check-log.sh LOG - scan a guest console log for kernel splats and for the
# guest's result marker.
#
# Fails (exit 1) on any of: BUG:, WARNING:, KASAN, UBSAN, Oops, general
# protection fault, Call Trace, possible circular locking, sleeping function
# called from invalid context, hung tasks, RCU stalls, kernel panic, kmemleak
# reports (unreferenced object), and on a missing "LOOPTEST-RESULT: rc=N"
# line (the guest crashed, hung or was killed).  Test output (lines that start
# with "# [prog] ", and the LOOPTEST-TAP block) is not scanned: the kernel log
# itself is, live and as dumped by the guest at the end.
#
# Each problem is reported on one line starting "check-log: FAIL:", followed
# by the offending log lines (at most 40, with their line numbers; a line
# seen live and again in the guest's final dmesg dump is shown once).
set -uo pipefail

LOG=${1:?usage: check-log.sh LOG}
[ -f "$LOG" ] || { echo "check-log: FAIL: no log file $LOG"; exit 1; }

PATTERNS='BUG:|WARNING:|KASAN|UBSAN|Oops|general protection fault|Call Trace|possible circular locking|possible recursive locking|sleeping function called from invalid context|hung task|blocked for more than [0-9]+ seconds|detected stalls? on CPU|self-detected stall|Kernel panic|unreferenced object'

bad=0

# Kernel lines only: drop test output and the summary block.
kernel_lines() {
	tr -d '\r' < "$LOG" | awk '
		/^LOOPTEST-TAP-BEGIN/ { intap = 1 }
		/^LOOPTEST-TAP-END/ { intap = 0; next }
		intap { next }
		/^# \[[^]]*\] / { next }
		seen[$0]++ { next }
		{ printf "%d:%s\n", NR, $0 }'
}

hits=$(kernel_lines | grep -E -- "$PATTERNS" || true)
if [ -n "$hits" ]; then
	n=$(echo "$hits" | wc -l)
	what=$(echo "$hits" | grep -oE -- "$PATTERNS" | sort | uniq -c |
		awk '{ c = $1; $1 = ""; printf "%s%s x%d", sep, substr($0, 2), c; sep = ", " }')
	echo "check-log: FAIL: kernel splat in $LOG ($what):"
	echo "$hits" | head -n 40 | sed 's/^/    /'
	[ "$n" -gt 40 ] && echo "    ... ($((n - 40)) more matching lines)"
	bad=1
fi

if ! tr -d '\r' < "$LOG" | grep -qE '^LOOPTEST-RESULT: rc=[0-9]+'; then
	echo "check-log: FAIL: no 'LOOPTEST-RESULT: rc=N' line in $LOG: the guest crashed, hung or was killed before finishing"
	echo "    last lines of the log:"
	tr -d '\r' < "$LOG" | tail -n 15 | sed 's/^/    | /'
	bad=1
fi

exit $bad
