#!/bin/bash
# vm/check.sh - the boot of `make check` (make builds what it needs first,
# under build/.lock): boot once in check mode, scan the log and count the
# results.  Ends with "N skipped" and "N passed, N failed" (vm/report.sh);
# exit status 0 only if nothing failed.  The log is build/logs/check.log
# (check-stock.log for LOOP_KO=stock, check-custom.log for a path).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
LOOP_KO=${LOOP_KO:-ours}
export LOOP_KO

case "$LOOP_KO" in
ours) name=check ;;
stock) name=check-stock ;;
*) name=check-custom ;;
esac

echo "check: booting the guest (LOOP_KO=$LOOP_KO); progress below, full console in build/logs/$name.log"
CONSOLE=${CONSOLE:-progress} vm/run-qemu.sh "$name" check
qrc=$?
echo
echo "check: results (LOOP_KO=$LOOP_KO, log build/logs/$name.log)"
exec vm/report.sh "build/logs/$name.log" "$qrc"
