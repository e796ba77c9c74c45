#!/bin/bash
# vm/run-qemu.sh NAME MODE - boot the Debian 6.12 kernel with
# build/initramfs.cpio.gz under QEMU (TCG: there is no KVM here), in guest mode
# MODE (check, run, shell, bench; see vm/guest-init.sh), with a host-side
# timeout.  The whole console goes to build/logs/NAME.log.
#
# Environment:
#   QEMU_TIMEOUT=900   seconds before the guest is killed (0: no limit)
#   MEM=2048 SMP=2     guest memory (MiB) and CPUs
#   DISK=file.img      attach a raw image as a virtio disk (/dev/vda)
#   APPEND="..."       extra kernel command line
#   KERNEL=bzImage     another kernel (default /boot/vmlinuz-$KVER); the
#                      in-tree debug kernel of vm/check-intree.sh
#   TESTS="a b"        selftest programs to run (default: all)
#   TEST_TIMEOUT=N     per-program timeout in the guest
#   CONSOLE=full|all|progress|quiet   what to show here while it runs:
#                      full (default) is the console without the guest's final
#                      kernel-log dump, all is everything, progress only the
#                      harness's own lines and kernel splats
#
# Exit status: the guest's result (0 or 1) read from its
# "LOOPTEST-RESULT: rc=N" line; 2 if that line is missing (guest crashed or
# powered off early); 3 if the host timeout fired.
#
# One crash is retried: an "Oops: int3" before /init has printed anything.
# Under multi-threaded TCG a vCPU can still run a stale translation of code
# the kernel is live-patching (a static key flipped at boot, seen in
# sched_clock_cpu), hit the temporary int3 after the patch is complete and
# oops.  It happens in the stock kernel before the test harness (or, built
# in, the driver's init, which has no int3 of its own) could be at fault;
# seen about once in twenty boots on a busy 2-core host.  Up to two more
# boots; the crashed console is kept as NAME.flake-N.log.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
B=$PWD/build
NAME=${1:?usage: run-qemu.sh NAME MODE}
MODE=${2:?usage: run-qemu.sh NAME MODE}
KVER=$(cat "$B/kver" 2>/dev/null) || { echo "run-qemu: build/kver missing; run 'make deps'" >&2; exit 2; }
KERNEL=${KERNEL:-/boot/vmlinuz-$KVER}
INITRD=$B/initramfs.cpio.gz
LOG=$B/logs/$NAME.log
QEMU_TIMEOUT=${QEMU_TIMEOUT:-900}
CONSOLE=${CONSOLE:-full}

[ -r "$KERNEL" ] || { echo "run-qemu: $KERNEL not readable" >&2; exit 2; }
[ -f "$INITRD" ] || { echo "run-qemu: $INITRD missing; run 'make initramfs'" >&2; exit 2; }
mkdir -p "$B/logs"

# An oops, a warning (a KASAN report is one), a soft lockup or a task hung
# for 60 s (set by /init) panics the guest, and panic=-1 with -no-reboot
# ends QEMU: after a crash the tasks it killed would otherwise hold their
# locks until QEMU_TIMEOUT.  Any of them fails the run anyway.  All but the
# oops can be turned off: APPEND="panic_on_warn=0 softlockup_panic=0
# hung_task_panic=0".
cmdline="console=ttyS0,115200 panic=-1 oops=panic panic_on_warn=1 loglevel=5"
cmdline="$cmdline softlockup_panic=1 hung_task_panic=1"
cmdline="$cmdline looptest.mode=$MODE"
if [ -n "${TESTS:-}" ]; then
	cmdline="$cmdline looptest.tests=$(echo $TESTS | tr ' ' ',')"
fi
[ -n "${TEST_TIMEOUT:-}" ] && cmdline="$cmdline looptest.timeout=$TEST_TIMEOUT"
[ -n "${APPEND:-}" ] && cmdline="$cmdline $APPEND"

args=(-machine q35 -accel tcg -cpu max -m "${MEM:-2048}" -smp "${SMP:-2}"
	-nographic -no-reboot -nic none
	-kernel "$KERNEL" -initrd "$INITRD" -append "$cmdline")
if [ -n "${DISK:-}" ]; then
	[ -f "$DISK" ] || { echo "run-qemu: DISK=$DISK: no such file" >&2; exit 2; }
	args+=(-drive "file=$DISK,format=raw,if=virtio,cache=writeback")
fi

tmo=()
[ "$QEMU_TIMEOUT" != 0 ] && tmo=(timeout --foreground -k 10 "$QEMU_TIMEOUT")

filter() {
	case "$CONSOLE" in
	all) cat ;;
	full) awk '/^LOOPTEST-DMESG-BEGIN/ { d = 1; n = 0; next }
		/^LOOPTEST-DMESG-END/ { d = 0; print "(kernel log dump: " n " lines, in the log file)"; fflush(); next }
		d { n++; next } { print; fflush() }' ;;
	progress) awk '/^LOOPTEST-(TAP|DMESG)-BEGIN/ { tap = 1 } /^LOOPTEST-(TAP|DMESG)-END/ { tap = 0 }
		!tap && /^(looptest:|LOOPTEST-PROG-(BEGIN|END):)|BUG:|WARNING:|Oops|Kernel panic/ { print; fflush() }' ;;
	*) cat > /dev/null ;;
	esac
}

# The TCG live-patching crash described above, and nothing else.
boot_flake() {
	grep -q 'Oops: int3' "$LOG" && ! grep -q '^looptest:' "$LOG" &&
		! grep -q '^LOOPTEST-RESULT:' "$LOG"
}

echo "run-qemu: booting $KERNEL, mode $MODE, log build/logs/$NAME.log" \
	"(timeout ${QEMU_TIMEOUT}s)"
start=$(date +%s)
if [ "$MODE" = shell ]; then
	"${tmo[@]}" qemu-system-x86_64 "${args[@]}" 2>&1 | tee "$LOG"
	qrc=${PIPESTATUS[0]}
	stty sane 2>/dev/null
else
	for try in 1 2 3; do
		"${tmo[@]}" qemu-system-x86_64 "${args[@]}" < /dev/null 2>&1 |
			sed -u 's/\r$//; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$LOG" | filter
		qrc=${PIPESTATUS[0]}
		[ "$try" -lt 3 ] && boot_flake || break
		mv "$LOG" "$B/logs/$NAME.flake-$try.log"
		echo "run-qemu: int3 oops before /init (TCG live-patching race, see" \
			"vm/run-qemu.sh); booting again, console kept in" \
			"build/logs/$NAME.flake-$try.log" >&2
	done
fi
secs=$(( $(date +%s) - start ))

if [ "${#tmo[@]}" -gt 0 ] && { [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; }; then
	echo "run-qemu: TIMEOUT: guest killed after ${QEMU_TIMEOUT}s (QEMU_TIMEOUT); see build/logs/$NAME.log" >&2
	exit 3
fi
result=$(tr -d '\r' < "$LOG" | sed -n 's/^LOOPTEST-RESULT: rc=\([0-9]*\).*/\1/p' | tail -n 1)
if [ -z "$result" ]; then
	echo "run-qemu: NO RESULT: the guest never printed LOOPTEST-RESULT (crash, panic or early power-off; qemu exit $qrc); see build/logs/$NAME.log" >&2
	exit 2
fi
echo "run-qemu: guest finished in ${secs}s, guest rc=$result"
[ "$result" = 0 ] && exit 0
exit 1
