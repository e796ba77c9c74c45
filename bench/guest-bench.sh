#!/bin/sh
# bench/guest-bench.sh - the guest side of `make bench` (busybox sh), run by
# /init in looptest.mode=bench.
#
# Every round loads, in turn, the stock loop.ko, ours and the stock one again
# under the name "stock2" (the control pair stock/stock2 shows the noise
# floor), with max_loop=0, runs the data-path jobs and the control-path
# helper on it, and unloads it.  Odd rounds go stock, ours, stock2; even
# rounds stock2, ours, stock.  Each round also runs the fio jobs on the raw
# backing file (module "raw", the upper bound).
#
# Results are printed as
#   BENCH module=M round=R test=T value=V unit=U
# and bench/report.sh turns them into bench/report.md.
#
# Kernel command line (APPEND="..."):
#   bench.rounds=3     rounds
#   bench.runtime=2    seconds per fio job
#   bench.size=256     MiB of the backing file (on tmpfs)
#   bench.maxn=1000    largest N for GET_FREE (5000 adds N=5000)
#   bench.iters=1000   GET_FREE calls per N
#   bench.pairsecs=2   seconds of ADD+REMOVE pairs
#   bench.data=1 bench.ctl=1   0 skips that part

RB=/usr/real/bin
ROUNDS=3 RUNTIME=2 SIZE=256 MAXN=1000 ITERS=1000 PAIRSECS=2 DATA=1 CTL=1
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	bench.rounds=*) ROUNDS=${arg#*=} ;;
	bench.runtime=*) RUNTIME=${arg#*=} ;;
	bench.size=*) SIZE=${arg#*=} ;;
	bench.maxn=*) MAXN=${arg#*=} ;;
	bench.iters=*) ITERS=${arg#*=} ;;
	bench.pairsecs=*) PAIRSECS=${arg#*=} ;;
	bench.data=*) DATA=${arg#*=} ;;
	bench.ctl=*) CTL=${arg#*=} ;;
	esac
done

IMG=/tmp/backing.img
CTLIMG=/tmp/ctl.img
START=$(date +%s)
rc=0

info() { echo "BENCH-INFO t=$(( $(date +%s) - START ))s $*"; }

unload() {
	i=0
	while grep -q '^loop ' /proc/modules; do
		for d in /sys/block/loop*; do
			[ -e "$d/loop/backing_file" ] && $RB/losetup -d "/dev/${d##*/}" 2>/dev/null
		done
		rmmod loop 2>/dev/null && break
		i=$((i + 1))
		if [ $i -ge 20 ]; then
			echo "BENCH-ERROR cannot unload loop"
			return 1
		fi
		sleep 1
	done
	return 0
}

load() {
	case "$1" in
	ours) ko=/lib/loop-under-test.ko ;;
	*) ko=/lib/loop-stock.ko ;;
	esac
	insmod "$ko" max_loop=0 || { echo "BENCH-ERROR insmod $ko failed"; return 1; }
}

# fio_job MODULE ROUND TEST FILE RW BS QD
fio_job() {
	out=$($RB/fio --name="$3" --filename="$4" --rw="$5" --bs="$6" \
		--iodepth="$7" --ioengine=io_uring --direct=1 \
		--runtime="$RUNTIME" --time_based --size="${SIZE}M" \
		--output-format=terse --terse-version=3 2>&1)
	line=$(echo "$out" | grep '^3;' | tail -n 1)
	if [ -z "$line" ]; then
		echo "BENCH-ERROR module=$1 test=$3: fio failed:"
		echo "$out" | tail -n 5
		rc=1
		return
	fi
	case "$5" in
	read|randread) bw=$(echo "$line" | cut -d';' -f7); iops=$(echo "$line" | cut -d';' -f8) ;;
	*) bw=$(echo "$line" | cut -d';' -f48); iops=$(echo "$line" | cut -d';' -f49) ;;
	esac
	case "$5" in
	read|write) echo "BENCH module=$1 round=$2 test=$3 value=$(( bw / 1024 )) unit=MiB/s" ;;
	*) echo "BENCH module=$1 round=$2 test=$3 value=$iops unit=iops" ;;
	esac
}

# NAME:RW:BS:QD
JOBS="seqread:read:1M:8 seqwrite:write:1M:8 randread-qd1:randread:4k:1
randread-qd32:randread:4k:32 randwrite-qd1:randwrite:4k:1 randwrite-qd32:randwrite:4k:32"

# fio_set MODULE ROUND SUFFIX FILE
fio_set() {
	for j in $JOBS; do
		IFS=: read -r name rw bs qd <<EOF
$j
EOF
		fio_job "$1" "$2" "$name-$3" "$4" "$rw" "$bs" "$qd"
	done
}

data_path() {
	for mode in buffered dio; do
		opt=
		[ $mode = dio ] && opt=--direct-io=on
		dev=$($RB/losetup --show -f $opt "$IMG") || {
			echo "BENCH-ERROR module=$1 losetup $opt failed"; rc=1; continue; }
		dio=$(cat "/sys/block/${dev#/dev/}/loop/dio" 2>/dev/null)
		info "module=$1 round=$2 mode=$mode dev=$dev dio=$dio"
		fio_set "$1" "$2" "$mode" "$dev"
		$RB/losetup -d "$dev"
	done
}

ctl_path() {
	/bench/ctlbench "$CTLIMG" "$MAXN" "$ITERS" "$PAIRSECS" > /tmp/ctl.out 2>&1 || rc=1
	sed -n "s/^test=/BENCH module=$1 round=$2 test=/p" /tmp/ctl.out
	sed -n "s/^# /BENCH-INFO module=$1 round=$2 /p" /tmp/ctl.out
	grep -v '^test=\|^# ' /tmp/ctl.out | sed "s/^/BENCH-INFO module=$1 round=$2 /"
}

info "rounds=$ROUNDS runtime=$RUNTIME size=${SIZE}M maxn=$MAXN iters=$ITERS pairsecs=$PAIRSECS data=$DATA ctl=$CTL cpus=$(nproc) kernel=$(uname -r)"
info "modules: ours $(md5sum < /lib/loop-under-test.ko | cut -c1-12) stock $(md5sum < /lib/loop-stock.ko | cut -c1-12)"
if cmp -s /lib/loop-under-test.ko /lib/loop-stock.ko; then
	echo "BENCH-ERROR /lib/loop-under-test.ko is the stock module (initramfs built with LOOP_KO=stock?)"
	rc=1
fi
grep -E '^(MemTotal|MemFree):' /proc/meminfo | tr -s ' ' | sed 's/^/BENCH-INFO /'
dd if=/dev/zero of="$IMG" bs=1M count="$SIZE" 2>/dev/null
dd if=/dev/zero of="$CTLIMG" bs=1M count=1 2>/dev/null
unload || exit 1
info "backing files ready"

r=1
while [ $r -le "$ROUNDS" ]; do
	if [ $((r % 2)) = 1 ]; then order="stock ours stock2"; else order="stock2 ours stock"; fi
	info "round $r order: $order"
	if [ "$DATA" = 1 ]; then
		fio_set raw "$r" file "$IMG"
	fi
	for m in $order; do
		load "$m" || { rc=1; continue; }
		[ "$DATA" = 1 ] && data_path "$m" "$r"
		info "module=$m round=$r data done"
		[ "$CTL" = 1 ] && ctl_path "$m" "$r"
		info "module=$m round=$r ctl done"
		unload || rc=1
	done
	r=$((r + 1))
done
info "done rc=$rc"
exit $rc
