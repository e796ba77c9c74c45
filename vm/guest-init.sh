#!/bin/sh
# vm/guest-init.sh - /init of the test guest (busybox sh).
#
# Mounts proc, sysfs, devtmpfs, tmpfs (/tmp, /run), debugfs; creates the
# static device nodes of modules.devname (as kmod static-nodes would); loads
# the loop module with default parameters; runs what the kernel command line
# asks for; prints "LOOPTEST-RESULT: rc=N"; powers off.
#
# Kernel command line:
#   looptest.mode=check|run|shell|bench   (default check)
#     check: /looptest/run-tests.sh (the selftests)   run: /looptest/demo.sh
#     shell: interactive shell                        bench: /bench/guest-bench.sh
#   looptest.load=0          do not modprobe loop at boot
#   looptest.tests=a,b       run only these selftest programs
#   looptest.timeout=N       per-program timeout (default: settings, else 45 s)

export PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/real/bin
export HOME=/root TERM=${TERM:-linux}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname looptest

MODE=check
LOAD=1
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	looptest.mode=*) MODE=${arg#*=} ;;
	looptest.load=*) LOAD=${arg#*=} ;;
	looptest.tests=*) LOOPTEST_TESTS=$(echo "${arg#*=}" | tr ',' ' ') ;;
	looptest.timeout=*) LOOPTEST_TIMEOUT=${arg#*=} ;;
	esac
done
export LOOPTEST_TESTS LOOPTEST_TIMEOUT

KVER=$(uname -r)
# Static nodes (e.g. /dev/loop-control, c 10:237) so that opening them can
# autoload their module, as on a distribution.
if [ -f "/lib/modules/$KVER/modules.devname" ]; then
	grep -v '^#' "/lib/modules/$KVER/modules.devname" |
	while read -r _mod node spec; do
		type=${spec%%[0-9]*}
		nums=${spec#?}
		[ -e "/dev/$node" ] || mknod -m 600 "/dev/$node" "$type" "${nums%%:*}" "${nums#*:}"
	done
fi

# A hung task is reported after 60 s instead of 120 s.
[ -w /proc/sys/kernel/hung_task_timeout_secs ] &&
	echo 60 > /proc/sys/kernel/hung_task_timeout_secs

# ext4 and its crc32c (busybox modprobe ignores softdeps), a virtio disk.
modprobe -q crc32c_intel || modprobe -q crc32c_generic
modprobe -q ext4
modprobe -q virtio_blk

echo "looptest: kernel $KVER, mode $MODE, loop module $(modinfo -F filename loop 2>/dev/null)"
if [ -d /sys/module/loop ] && [ ! -e /sys/module/loop/initstate ]; then
	echo "looptest: loop is built into this kernel"
elif [ "$LOAD" = 1 ]; then
	modprobe loop || echo "looptest: 'modprobe loop' failed"
fi

rc=0
case "$MODE" in
check)
	sh /looptest/run-tests.sh
	rc=$? ;;
run)
	sh /looptest/demo.sh
	rc=$? ;;
shell)
	echo "looptest: shell; real tools in /usr/real/bin, tests in /selftests/loop; 'exit' powers off"
	setsid cttyhack sh -l
	rc=$? ;;
bench)
	if [ -x /bench/guest-bench.sh ]; then
		/bench/guest-bench.sh
		rc=$?
	else
		echo "looptest: no /bench/guest-bench.sh in this initramfs"
		rc=1
	fi ;;
*)
	echo "looptest: unknown looptest.mode=$MODE"
	rc=1 ;;
esac

# Leak report, when the kernel has kmemleak.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak
fi

# The whole kernel log, so the host sees every splat even if the console
# missed it or mixed it with test output.
if [ "$MODE" != shell ]; then
	dmesg -n 1
	echo "LOOPTEST-DMESG-BEGIN"
	dmesg
	echo "LOOPTEST-DMESG-END"
fi
echo "LOOPTEST-RESULT: rc=$rc"
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 10
