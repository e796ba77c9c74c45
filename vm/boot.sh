#!/bin/bash
# vm/boot.sh MODE - the boot of `make run` (MODE=run) and `make shell`
# (MODE=shell); make builds what it needs first, under build/.lock.  Log in
# build/logs/MODE.log; for run, the kernel log is checked too.  Exit status:
# non-zero if the guest failed, never finished, or the kernel log shows a
# splat.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
MODE=${1:?usage: boot.sh run|shell}
rc=0
vm/run-qemu.sh "$MODE" "$MODE" || rc=$?
if [ "$MODE" != shell ]; then
	vm/check-log.sh "build/logs/$MODE.log" || rc=1
fi
exit $rc
