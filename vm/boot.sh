#!/bin/bash
# vm/boot.sh MODE - `make run` (MODE=run) and `make shell` (MODE=shell):
# make sure the packages are there, build what the guest needs, boot it in
# MODE (log in build/logs/MODE.log).  For run, the kernel log is checked too.
# Exit status: non-zero if the guest failed, never finished, or the kernel
# log shows a splat.  Holds build/.lock so that runs in one tree do not mix.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
MODE=${1:?usage: boot.sh run|shell|bench}
mkdir -p build
exec 9> build/.lock
if ! flock -n 9; then
	echo "$MODE: another make check/run/shell is using this tree; waiting"
	flock 9
fi

make --no-print-directory -s deps || exit 1
make --no-print-directory build-all || exit 1
rc=0
vm/run-qemu.sh "$MODE" "$MODE" || rc=$?
if [ "$MODE" != shell ]; then
	vm/check-log.sh "build/logs/$MODE.log" || rc=1
fi
exit $rc
