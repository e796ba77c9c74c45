#!/bin/sh
# vm/guest-demo.sh - `make run`: show the loop interface end to end in the
# guest (busybox sh), printing each step: /dev/loop-control, GET_FREE, bind an
# image, mkfs.ext4, mount, write a file, umount, fsck, unbind, REMOVE.
# Uses the real util-linux/e2fsprogs tools from /usr/real/bin.  Exits non-zero
# at the first step that fails.

R=/usr/real/bin
IMG=/tmp/demo.img
MNT=/mnt/demo
nstep=0

step() {
	nstep=$((nstep + 1))
	echo
	echo "==> step $nstep: $*"
}
run() {
	echo "+ $*"
	"$@"
	rc=$?
	if [ "$rc" != 0 ]; then
		echo "demo: FAILED (exit status $rc): $*"
		exit 1
	fi
}

step "the loop module and /dev/loop-control"
run grep '^loop ' /proc/modules
run ls -l /dev/loop-control
echo "+ open /dev/loop-control read-write"
if ! exec 3<>/dev/loop-control; then
	echo "demo: FAILED: cannot open /dev/loop-control"
	exit 1
fi
exec 3>&-
echo "opened and closed"

step "LOOP_CTL_GET_FREE (losetup -f)"
run $R/losetup -f

step "create a 64 MiB backing file on tmpfs"
run truncate -s 64M $IMG
run ls -l $IMG

step "bind it: LOOP_CONFIGURE (losetup --show -f)"
echo "+ $R/losetup --show -f $IMG"
DEV=$($R/losetup --show -f $IMG) || { echo "demo: FAILED: losetup --show -f"; exit 1; }
echo "$DEV"
N=${DEV#/dev/loop}
run $R/losetup -l $DEV
run cat /sys/block/loop$N/loop/backing_file
run $R/blockdev --getsize64 $DEV

step "mkfs.ext4"
run $R/mkfs.ext4 -q -F $DEV

step "mount it"
run mkdir -p $MNT
run $R/mount -t ext4 $DEV $MNT
run df -h $MNT

step "write a file and read it back"
echo "+ echo hello > $MNT/hello.txt"
echo "hello from the loop device" > $MNT/hello.txt || { echo "demo: FAILED: write"; exit 1; }
run sync
run cat $MNT/hello.txt

step "umount and check the filesystem"
run $R/umount $MNT
run $R/e2fsck -f -n $DEV

step "unbind: LOOP_CLR_FD (losetup -d)"
run $R/losetup -d $DEV
run $R/losetup -l

step "LOOP_CTL_REMOVE loop$N"
if [ -x /selftests/loop/loopctl ]; then
	run /selftests/loop/loopctl remove "$N"
	if [ -e /sys/block/loop$N ]; then
		echo "demo: FAILED: /sys/block/loop$N still exists"
		exit 1
	fi
	echo "loop$N removed"
else
	echo "skipped: no /selftests/loop/loopctl helper in this initramfs"
fi

echo
echo "demo: all steps passed"
exit 0
