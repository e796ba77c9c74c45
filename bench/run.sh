#!/bin/bash
# bench/run.sh - the boots of `make bench` (make builds the module, the
# control-path helper, the initramfs and the disk first, under build/.lock):
# boot the guest once in looptest.mode=bench (it runs
# bench/guest-bench.sh: stock, ours and stock again in the same boot, several
# rounds, alternating order), then once more per module and memory round to
# measure memory per device with that module alone (bench.memboot), then
# bench/report.sh turns build/logs/bench.log and build/logs/bench-mem-*.log
# into bench/report.md and bench/*.png and prints the ratios.
#
# Variables (BENCH_ARGS, BENCH_MEM_ROUNDS, MEM, QEMU_TIMEOUT, DISK, LOOP_KO):
# see the top-level Makefile.
set -uo pipefail

cd "$(dirname "$0")/.."
export LOOP_KO=${LOOP_KO:-ours}
export MEM=${MEM:-3072} QEMU_TIMEOUT=${QEMU_TIMEOUT:-3000}
BASE_APPEND=${APPEND:-}
export APPEND="$BASE_APPEND ${BENCH_ARGS:-bench.rounds=3}"
MEM_ROUNDS=${BENCH_MEM_ROUNDS:-2}
case " ${BENCH_ARGS:-} " in
*" bench.ctl=0 "*) MEM_ROUNDS=0 ;;
esac
# A virtio disk for the ext4 rows (the guest makes the file system).
export DISK=${DISK:-build/bench-disk.img}

die() { echo "bench: FAIL: $*" >&2; exit 1; }

[ -x bench/ctlbench ] || die "no bench/ctlbench: run 'make bench'"
[ -f "$DISK" ] || die "no $DISK: run 'make bench'"

rm -f build/logs/bench-mem-*.log
echo "bench: booting (MEM=$MEM, QEMU_TIMEOUT=$QEMU_TIMEOUT, APPEND=$APPEND)"
CONSOLE=${CONSOLE:-full} vm/run-qemu.sh bench bench
qrc=$?
[ -s build/logs/bench.log ] || die "no build/logs/bench.log"

# Memory: each module alone in a fresh boot.  Nothing carries over from one
# boot to the next, so unlike the shared boot the order does not matter.
for ((r = 1; r <= MEM_ROUNDS; r++)); do
	for m in stock ours stock2; do
		echo "bench: memory, $m, round $r"
		APPEND="$BASE_APPEND looptest.load=0 bench.memboot=$m bench.memround=$r" \
			DISK= QEMU_TIMEOUT=300 CONSOLE=${CONSOLE:-full} \
			vm/run-qemu.sh "bench-mem-$m-$r" bench || qrc=1
	done
done

bench/report.sh
prc=$?
[ "$qrc" = 0 ] || die "guest run failed (run-qemu exit $qrc); see build/logs/bench.log"
exit $prc
