#!/bin/bash
# vm/check.sh - `make check`: make sure the packages are there (quick), build
# the module (unless LOOP_KO is not "ours"), the selftests and the initramfs,
# boot once in check mode, scan the log and count the results.
#
# The last line on stdout is always "N passed, N failed, N skipped"; a build
# failure is reported as one failure.  Exit status 0 only if nothing failed.
# The log is build/logs/check.log (check-stock.log for LOOP_KO=stock,
# check-custom.log for a path).  Holds build/.lock so that runs in one tree
# do not mix.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
LOOP_KO=${LOOP_KO:-ours}
export LOOP_KO

case "$LOOP_KO" in
ours) name=check ;;
stock) name=check-stock ;;
*) name=check-custom ;;
esac

# One run at a time in this tree (they share build/).
mkdir -p build
exec 9> build/.lock
if ! flock -n 9; then
	echo "check: another make check/run/shell is using this tree; waiting"
	flock 9
fi

build_failed() {
	echo "check: FAIL: $1"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

make --no-print-directory -s deps || build_failed "'make deps' failed (see above)"
make --no-print-directory build-all || build_failed "build failed (see above)"

echo "check: booting the guest (LOOP_KO=$LOOP_KO); progress below, full console in build/logs/$name.log"
CONSOLE=${CONSOLE:-progress} vm/run-qemu.sh "$name" check
qrc=$?
echo
echo "check: results (LOOP_KO=$LOOP_KO, log build/logs/$name.log)"
exec vm/report.sh "build/logs/$name.log" "$qrc"
