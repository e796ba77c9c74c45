#!/bin/bash
# bench/run.sh - `make bench`: build the module, the control-path helper and
# the initramfs, boot the guest once in looptest.mode=bench (it runs
# bench/guest-bench.sh: stock, ours and stock again in the same boot, several
# rounds, alternating order), then once more per module and memory round to
# measure memory per device with that module alone (bench.memboot), then
# bench/report.sh turns build/logs/bench.log and build/logs/bench-mem-*.log
# into bench/report.md and bench/*.png and prints the ratios.
#
# Environment:
#   BENCH_ARGS="bench.rounds=3 ..."  guest options (see bench/guest-bench.sh)
#   MEM=3072 SMP=2 QEMU_TIMEOUT=3000 as for vm/run-qemu.sh (the bench boot
#                                     takes about 30 min with the defaults)
#   DISK=build/bench-disk.img         virtio disk for the ext4 rows (1 GiB,
#                                     sparse, made when missing)
#   LOOP_KO=ours                      what the "ours" slot loads
#   BENCH_MEM_ROUNDS=2                memory rounds, 3 boots each (none
#                                     when BENCH_ARGS has bench.ctl=0)
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

# Like make check and make check-intree: one run in a tree at a time, so
# that nobody rebuilds the initramfs under a boot.
mkdir -p build
exec 9> build/.lock
if ! flock -n 9; then
	echo "bench: another make check/run/shell/bench is using this tree; waiting"
	flock 9
fi

make --no-print-directory -s deps || die "'make deps' failed"
# The helper goes into bench/ because the initramfs takes bench/ as it is.
# <linux/loop.h> is this tree's include/uapi/linux/loop.h (LOOP_CTL_CONFIGURE).
if [ ! -x bench/ctlbench ] || [ bench/ctlbench.c -nt bench/ctlbench ] ||
   [ include/uapi/linux/loop.h -nt bench/ctlbench ]; then
	echo "bench: gcc -static -O2 bench/ctlbench.c"
	nice gcc -static -O2 -Wall -Wextra -Iinclude/uapi \
		-o bench/ctlbench bench/ctlbench.c ||
		die "cannot build bench/ctlbench"
fi
nice make --no-print-directory build-all || die "build failed"
if [ ! -f "$DISK" ]; then
	truncate -s 1G "$DISK" || die "cannot create $DISK"
fi

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
