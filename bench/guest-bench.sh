#!/bin/sh
# bench/guest-bench.sh - the guest side of `make bench` (busybox sh), run by
# /init in looptest.mode=bench.
#
# Every round loads, in turn, the stock loop.ko, ours and the stock one again
# under the name "stock2" (the control pair stock/stock2 shows the noise
# floor), with max_loop=0, runs the data-path jobs and the control-path
# helper on it, and unloads it.  Odd rounds go stock, ours, stock2; even
# rounds stock2, ours, stock.  Each round also runs the fio jobs on the raw
# backing file (module "raw", the upper bound: plain buffered read(2) and
# write(2), the fastest way to the file; and the queue-depth-32 random jobs
# through io_uring with O_DIRECT on the file, tests *-uring).
#
# Backing files: a file on tmpfs (every job), and, when the guest has a
# virtio disk (/dev/vda, DISK= on the host), a file on an ext4 file system
# on it (tests named *-ext4-*; the sequential and queue-depth-32 jobs).
#
# Multi-job rows (bench.multi=1): the same six jobs, but fio runs one job per
# guest CPU (nproc; --group_reporting, one aggregate number), each job on a
# region of its own of bench.size/nproc MiB:
#   mj1-*  all jobs on one device, bound to the single-job backing file;
#          job k works at offset k * bench.size/nproc MiB;
#   mjN-*  one device per job, each bound to a file of its own of
#          bench.size/nproc MiB (on tmpfs, and on ext4 for *-ext4-*).
# Both move the same bytes over the same total size; they differ only in how
# many devices (and backing files) the jobs share.  The raw bound
# (mj1-*-raw, mjN-*-raw) is the same jobs on the same files and regions:
# io_uring with O_DIRECT for the queue-depth-32 jobs (as *-uring), else
# buffered psync (as *-file).  Every multi-job row also prints its CPU time
# per GiB moved (test <row>-cpu, unit cpu-s/GiB): user + nice + system +
# irq + softirq jiffies of all CPUs from /proc/stat, across the whole fio
# run (fio's start and exit included), over the GiB fio moved.
#
# GET_FREE at N=5000 is measured in round 1 only, and not for stock2: with
# the stock module, removing 5000 devices alone takes minutes under TCG.
# stock2 runs the control path in round 1 only (its noise is a few per
# cent), which saves minutes; the multi-job rows run shorter fio runs
# (bench.mjruntime) for the same reason.
#
# Results are printed as
#   BENCH module=M round=R test=T value=V unit=U
# and bench/report.sh turns them into bench/report.md.
#
# Kernel command line (APPEND="..."):
#   bench.rounds=3     rounds
#   bench.runtime=1200ms  run time of each fio job (fio units: 2s, 800ms)
#   bench.size=256     MiB of the backing file (on tmpfs)
#   bench.maxn=5000    largest N for GET_FREE in round 1 (later rounds: 1000)
#   bench.iters=1000   GET_FREE calls per N
#   bench.pairsecs=1   seconds of ADD+REMOVE pairs
#   bench.data=1 bench.ctl=1   0 skips that part
#   bench.multi=1      0 skips the multi-job rows (mj1-*, mjN-*)
#   bench.mjruntime=800ms  run time of each multi-job fio run (48 runs per
#                      module and round, so shorter than bench.runtime)
#   bench.profile=TEXT after each multi-job row whose name contains TEXT,
#                      the same fio run again under `perf record -a` (cpu-clock,
#                      both CPUs), not measured; the symbols with 1% or more
#                      of the samples, as BENCH-PROFILE lines
#   bench.only=TEXT    only the fio jobs whose test name contains TEXT
#                      (randwrite-qd32-ext4-buffered, say), raw file included;
#                      mj: all multi-job rows, mj1-: those on one device
#   bench.memboot=M bench.memround=R
#                      instead of all that, measure memory per device with
#                      module M (stock, ours or stock2) alone, as round R,
#                      in a boot that loaded no loop module before
#                      (looptest.load=0): `ctlbench mem`.  Per-CPU memory
#                      freed at rmmod stays populated, so in a boot shared
#                      by several modules it would count only for the first.

RB=/usr/real/bin
ROUNDS=3 RUNTIME=1200ms SIZE=256 MAXN=5000 ITERS=1000 PAIRSECS=1 DATA=1 CTL=1
ONLY= MEMBOOT= MEMROUND=1 MULTI=1 MJRUNTIME=800ms PROFILE=
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
	bench.multi=*) MULTI=${arg#*=} ;;
	bench.mjruntime=*) MJRUNTIME=${arg#*=} ;;
	bench.only=*) ONLY=${arg#*=} ;;
	bench.profile=*) PROFILE=${arg#*=} ;;
	bench.memboot=*) MEMBOOT=${arg#*=} ;;
	bench.memround=*) MEMROUND=${arg#*=} ;;
	esac
done

IMG=/tmp/backing.img
EXT4=/mnt/ext4
EXT4IMG=
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

# fio_job MODULE ROUND TEST FILE RW BS QD [uring]: io_uring, O_DIRECT on a
# loop device, or on a raw file with "uring"; else plain buffered psync
# (queue depth 1) on a raw file.
fio_job() {
	case "$4:${8:-}" in
	/dev/*|*:uring) eng="--ioengine=io_uring --direct=1 --iodepth=$7" ;;
	*) eng="--ioengine=psync --direct=0" ;;
	esac
	out=$($RB/fio --name="$3" --filename="$4" --rw="$5" --bs="$6" \
		$eng --runtime="$RUNTIME" --time_based --size="${SIZE}M" \
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

# On ext4: throughput, and random I/O at both queue depths (direct I/O
# to the disk is submitted in different places at depth 1 and depth 32).
JOBS_EXT4="seqread:read:1M:8 seqwrite:write:1M:8
randread-qd1:randread:4k:1 randwrite-qd1:randwrite:4k:1
randread-qd32:randread:4k:32 randwrite-qd32:randwrite:4k:32"

# At queue depth 32 on the raw file, through io_uring with O_DIRECT: what
# the backing store itself does at that depth without a block device on top.
JOBS_QD32="randread-qd32:randread:4k:32 randwrite-qd32:randwrite:4k:32"

# fio_set MODULE ROUND SUFFIX FILE [JOBS [uring]]
fio_set() {
	for j in ${5:-$JOBS}; do
		IFS=: read -r name rw bs qd <<EOF
$j
EOF
		case "$name-$3" in
		*"$ONLY"*) ;;
		*) continue ;;
		esac
		fio_job "$1" "$2" "$name-$3" "$4" "$rw" "$bs" "$qd" "${6:-}"
	done
}

# data_path MODULE ROUND FILE PREFIX [JOBS]
# On ext4 (a PREFIX) each mode starts with nothing cached and nothing dirty:
# the buffered jobs leave dirty pages in the backing file.  We write them
# back in one fsync when a device is bound with direct I/O; stock does not
# (it sets use_dio before loop_update_dio() looks), and its direct I/O then
# meets them one request at a time, so the dio rows would measure that.
data_path() {
	for mode in buffered dio; do
		[ -n "$4" ] && drop_caches
		opt=
		[ $mode = dio ] && opt=--direct-io=on
		dev=$($RB/losetup --show -f $opt "$3") || {
			echo "BENCH-ERROR module=$1 losetup $opt $3 failed"; rc=1; continue; }
		dio=$(cat "/sys/block/${dev#/dev/}/loop/dio" 2>/dev/null)
		info "module=$1 round=$2 file=$3 mode=$mode dev=$dev dio=$dio"
		fio_set "$1" "$2" "$4$mode" "$dev" "${5:-}"
		$RB/losetup -d "$dev"
	done
}

# Multi-job rows: one fio job per CPU, each on bench.size/nproc MiB of its own.
NCPU=$(nproc)
MJSIZE=$((SIZE / NCPU))

# cpu_now: jiffies (USER_HZ, 100 a second) that all CPUs together spent in
# user, nice, system, irq and softirq since boot, and the uptime in seconds.
cpu_now() {
	awk 'FNR == NR { if ($1 == "cpu") b = $2 + $3 + $4 + $7 + $8; next }
		{ print b, $1; exit }' /proc/stat /proc/uptime
}

# mj_job MODULE ROUND TEST RW BS QD HOW TARGET...: one fio run with one job
# per TARGET (FILE:OFFSET, offset in MiB), group reporting: the aggregate
# MiB/s or IOPS, and the CPU time per GiB moved (test TEST-cpu).  HOW: dev
# (io_uring with O_DIRECT on loop devices), uring (the same on raw files),
# psync (buffered read(2)/write(2) on raw files).
mj_job() {
	local m=$1 r=$2 t=$3 rw=$4 bs=$5 qd=$6 how=$7 eng jobs tg s0 s1 out line kb bw iops busy wall cpu
	shift 7
	case "$how" in
	dev|uring) eng="--ioengine=io_uring --direct=1 --iodepth=$qd" ;;
	*) eng="--ioengine=psync --direct=0" ;;
	esac
	jobs=
	for tg in "$@"; do
		jobs="$jobs --name=$t --filename=${tg%:*} --offset=${tg##*:}M"
	done
	# O_DIRECT on a raw file: first write back what buffered jobs left dirty.
	[ "$how" = uring ] && sync
	s0=$(cpu_now)
	out=$($RB/fio --rw="$rw" --bs="$bs" $eng --runtime="$MJRUNTIME" --time_based \
		--size="${MJSIZE}M" --group_reporting \
		--output-format=terse --terse-version=3 $jobs 2>&1)
	s1=$(cpu_now)
	line=$(echo "$out" | grep '^3;' | tail -n 1)
	if [ -z "$line" ]; then
		echo "BENCH-ERROR module=$m test=$t: fio failed:"
		echo "$out" | tail -n 5
		rc=1
		return
	fi
	case "$rw" in
	read|randread) kb=$(echo "$line" | cut -d';' -f6); bw=$(echo "$line" | cut -d';' -f7); iops=$(echo "$line" | cut -d';' -f8) ;;
	*) kb=$(echo "$line" | cut -d';' -f47); bw=$(echo "$line" | cut -d';' -f48); iops=$(echo "$line" | cut -d';' -f49) ;;
	esac
	case "$rw" in
	read|write) echo "BENCH module=$m round=$r test=$t value=$(( bw / 1024 )) unit=MiB/s" ;;
	*) echo "BENCH module=$m round=$r test=$t value=$iops unit=iops" ;;
	esac
	read -r busy wall cpu <<EOF
$(awk -v s0="$s0" -v s1="$s1" -v kb="$kb" 'BEGIN { split(s0, a, " "); split(s1, b, " ")
	j = b[1] - a[1]; printf "%d %.2f %s\n", j, b[2] - a[2], (kb > 0 ? sprintf("%.3f", j / 100 / (kb / 1048576)) : "") }')
EOF
	echo "BENCH-INFO module=$m round=$r test=$t jobs=$# busy=${busy}jiffies wall=${wall}s io=${kb}KiB"
	[ -n "$cpu" ] && echo "BENCH module=$m round=$r test=$t-cpu value=$cpu unit=cpu-s/GiB"
	case "$t" in
	*"$PROFILE"*) [ -n "$PROFILE" ] && mj_profile "$m" "$r" "$t" "$how" \
		--rw="$rw" --bs="$bs" $eng $jobs ;;
	esac
}

# mj_profile MODULE ROUND TEST HOW FIO-ARGS...: the run again under perf,
# not measured; the symbols with 1% or more of the samples of both CPUs.
mj_profile() {
	local m=$1 r=$2 t=$3 how=$4
	shift 4
	if [ ! -x $RB/perf ]; then
		echo "BENCH-ERROR bench.profile: no perf in the guest"
		rc=1
		return
	fi
	[ "$how" = uring ] && sync
	$RB/perf record -q -a -e cpu-clock -F 999 -o /tmp/perf.data -- \
		$RB/fio "$@" --runtime="$MJRUNTIME" --time_based \
		--size="${MJSIZE}M" --group_reporting \
		--output-format=terse --terse-version=3 > /dev/null 2>&1
	$RB/perf report -q -i /tmp/perf.data --stdio --no-children \
		--sort comm,dso,sym --percent-limit 1 2> /dev/null |
		grep -v '^$' | head -n 40 |
		sed "s/^/BENCH-PROFILE module=$m round=$r test=$t /"
	rm -f /tmp/perf.data
}

# mj_any CFG SUFFIX: true if bench.only leaves any job CFG-*-SUFFIX to run.
mj_any() {
	local j
	for j in $JOBS; do
		case "$1-${j%%:*}-$2" in
		*"$ONLY"*) return 0 ;;
		esac
	done
	return 1
}

# mj_set MODULE ROUND CFG SUFFIX HOW TARGET...: the six jobs as CFG-JOB-SUFFIX.
# HOW raw: io_uring with O_DIRECT at queue depth 32, else buffered psync.
mj_set() {
	local m=$1 r=$2 cfg=$3 sfx=$4 how=$5 j name rw bs qd h
	shift 5
	for j in $JOBS; do
		IFS=: read -r name rw bs qd <<EOF
$j
EOF
		case "$cfg-$name-$sfx" in
		*"$ONLY"*) ;;
		*) continue ;;
		esac
		h=$how
		if [ "$how" = raw ]; then
			h=psync
			[ "$qd" = 32 ] && h=uring
		fi
		mj_job "$m" "$r" "$cfg-$name-$sfx" "$rw" "$bs" "$qd" "$h" "$@"
	done
}

# mj_one FILE: the targets of all jobs on one file or device, region k for job k.
mj_one() {
	local k=0
	while [ $k -lt "$NCPU" ]; do
		printf '%s:%d ' "$1" $((k * MJSIZE))
		k=$((k + 1))
	done
}

# mj_files DIR: the targets of one file per job, DIR/mj-1.img ...
mj_files() {
	local k=1
	while [ $k -le "$NCPU" ]; do
		printf '%s/mj-%d.img:0 ' "$1" $k
		k=$((k + 1))
	done
}

# multi_path MODULE ROUND FILE PREFIX DIR: mj1 on one device bound to FILE,
# then mjN on one device per job, bound to DIR/mj-K.img; buffered, then
# direct I/O.  On ext4 (a PREFIX) each starts with nothing cached or dirty.
multi_path() {
	local m=$1 r=$2 one=$3 pfx=$4 dir=$5 mode opt d devs dios ok tg
	for mode in buffered dio; do
		opt=
		[ $mode = dio ] && opt=--direct-io=on
		if mj_any mj1 "$pfx$mode"; then
			[ -n "$pfx" ] && drop_caches
			if d=$($RB/losetup --show -f $opt "$one"); then
				info "module=$m round=$r mj1 file=$one mode=$mode dev=$d dio=$(cat "/sys/block/${d#/dev/}/loop/dio" 2>/dev/null)"
				mj_set "$m" "$r" mj1 "$pfx$mode" dev $(mj_one "$d")
				$RB/losetup -d "$d"
			else
				echo "BENCH-ERROR module=$m losetup $opt $one failed"
				rc=1
			fi
		fi
		if mj_any mjN "$pfx$mode"; then
			[ -n "$pfx" ] && drop_caches
			devs= dios= ok=1
			for tg in $(mj_files "$dir"); do
				if d=$($RB/losetup --show -f $opt "${tg%:*}"); then
					devs="$devs $d:0"
					dios="$dios$(cat "/sys/block/${d#/dev/}/loop/dio" 2>/dev/null)"
				else
					echo "BENCH-ERROR module=$m losetup $opt ${tg%:*} failed"
					rc=1 ok=0
				fi
			done
			if [ $ok = 1 ]; then
				info "module=$m round=$r mjN files=$dir/mj-*.img mode=$mode devs=$(echo $devs | sed 's/:0//g; s/ /,/g') dio=$dios"
				mj_set "$m" "$r" mjN "$pfx$mode" dev $devs
			fi
			for d in $devs; do
				$RB/losetup -d "${d%:*}"
			done
		fi
	done
}

# multi_raw ROUND: the multi-job rows on the raw files.
multi_raw() {
	mj_set raw "$1" mj1 raw raw $(mj_one "$IMG")
	mj_set raw "$1" mjN raw raw $(mj_files /tmp)
	if [ -n "$EXT4IMG" ]; then
		mj_any mj1 ext4-raw && drop_caches
		mj_set raw "$1" mj1 ext4-raw raw $(mj_one "$EXT4IMG")
		mj_any mjN ext4-raw && drop_caches
		mj_set raw "$1" mjN ext4-raw raw $(mj_files "$EXT4")
	fi
}

# Same page cache state for every module and mode on ext4: nothing cached.
drop_caches() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

# ctl_path MODULE ROUND MAXN
ctl_path() {
	/bench/ctlbench ctl "$CTLIMG" "$3" "$ITERS" "$PAIRSECS" > /tmp/ctl.out 2>&1 || rc=1
	ctl_output "$1" "$2"
}

# ctl_output MODULE ROUND: ctlbench's results and notes from /tmp/ctl.out.
ctl_output() {
	sed -n "s/^test=/BENCH module=$1 round=$2 test=/p" /tmp/ctl.out
	sed -n "s/^# /BENCH-INFO module=$1 round=$2 /p" /tmp/ctl.out
	grep -v '^test=\|^# ' /tmp/ctl.out | sed "s/^/BENCH-INFO module=$1 round=$2 /"
}

if [ -n "$MEMBOOT" ]; then
	info "memory: module=$MEMBOOT round=$MEMROUND alone in this boot"
	dd if=/dev/zero of="$CTLIMG" bs=1M count=1 2>/dev/null
	if grep -q '^loop ' /proc/modules; then
		echo "BENCH-ERROR a loop module was loaded before bench.memboot (looptest.load=0?)"
		exit 1
	fi
	load "$MEMBOOT" || exit 1
	/bench/ctlbench mem "$CTLIMG" > /tmp/ctl.out 2>&1 || rc=1
	ctl_output "$MEMBOOT" "$MEMROUND"
	info "done rc=$rc"
	exit $rc
fi

[ "$DATA" = 1 ] || MULTI=0
info "rounds=$ROUNDS runtime=$RUNTIME size=${SIZE}M maxn=$MAXN iters=$ITERS pairsecs=$PAIRSECS data=$DATA ctl=$CTL multi=$MULTI mjruntime=$MJRUNTIME only=$ONLY cpus=$NCPU kernel=$(uname -r)"
info "modules: ours $(md5sum < /lib/loop-under-test.ko | cut -c1-12) stock $(md5sum < /lib/loop-stock.ko | cut -c1-12)"
if cmp -s /lib/loop-under-test.ko /lib/loop-stock.ko; then
	echo "BENCH-ERROR /lib/loop-under-test.ko is the stock module (initramfs built with LOOP_KO=stock?)"
	rc=1
fi
grep -E '^(MemTotal|MemFree):' /proc/meminfo | tr -s ' ' | sed 's/^/BENCH-INFO /'
dd if=/dev/zero of="$IMG" bs=1M count="$SIZE" 2>/dev/null
dd if=/dev/zero of="$CTLIMG" bs=1M count=1 2>/dev/null
if [ -b /dev/vda ]; then
	mkdir -p "$EXT4"
	if $RB/mkfs.ext4 -q -F /dev/vda && $RB/mount -t ext4 /dev/vda "$EXT4"; then
		EXT4IMG=$EXT4/backing.img
		dd if=/dev/zero of="$EXT4IMG" bs=1M count="$SIZE" conv=fsync 2>/dev/null
		info "ext4 on /dev/vda: $EXT4IMG"
	else
		echo "BENCH-ERROR cannot make ext4 on /dev/vda"
		rc=1
	fi
else
	info "no /dev/vda: no ext4 rows (DISK= on the host)"
fi
if [ "$MULTI" = 1 ]; then
	for tg in $(mj_files /tmp); do
		dd if=/dev/zero of="${tg%:*}" bs=1M count="$MJSIZE" 2>/dev/null
	done
	if [ -n "$EXT4IMG" ]; then
		for tg in $(mj_files "$EXT4"); do
			dd if=/dev/zero of="${tg%:*}" bs=1M count="$MJSIZE" conv=fsync 2>/dev/null
		done
	fi
	info "multi-job: $NCPU jobs of ${MJSIZE}M each; one device per job on /tmp/mj-*.img${EXT4IMG:+ and $EXT4/mj-*.img}"
fi
unload || exit 1
info "backing files ready"

r=1
while [ $r -le "$ROUNDS" ]; do
	if [ $((r % 2)) = 1 ]; then order="stock ours stock2"; else order="stock2 ours stock"; fi
	info "round $r order: $order"
	if [ "$DATA" = 1 ]; then
		fio_set raw "$r" file "$IMG"
		fio_set raw "$r" uring "$IMG" "$JOBS_QD32" uring
		if [ -n "$EXT4IMG" ]; then
			drop_caches
			fio_set raw "$r" ext4-file "$EXT4IMG" "$JOBS_EXT4"
			drop_caches
			fio_set raw "$r" ext4-uring "$EXT4IMG" "$JOBS_QD32" uring
		fi
		[ "$MULTI" = 1 ] && multi_raw "$r"
	fi
	for m in $order; do
		load "$m" || { rc=1; continue; }
		if [ "$DATA" = 1 ]; then
			data_path "$m" "$r" "$IMG" ""
			if [ -n "$EXT4IMG" ]; then
				data_path "$m" "$r" "$EXT4IMG" ext4- "$JOBS_EXT4"
			fi
			if [ "$MULTI" = 1 ]; then
				multi_path "$m" "$r" "$IMG" "" /tmp
				[ -n "$EXT4IMG" ] && multi_path "$m" "$r" "$EXT4IMG" ext4- "$EXT4"
			fi
		fi
		info "module=$m round=$r data done"
		maxn=1000
		[ "$r" = 1 ] && [ "$m" != stock2 ] && maxn=$MAXN
		# The control-path noise is small: stock2 shows it in round 1.
		if [ "$CTL" = 1 ] && { [ "$r" = 1 ] || [ "$m" != stock2 ]; }; then
			# The data rows leave devices behind (losetup -f adds
			# them); the control path starts with none.
			if [ "$DATA" = 1 ]; then
				unload && load "$m" || { rc=1; continue; }
			fi
			ctl_path "$m" "$r" "$maxn"
		fi
		info "module=$m round=$r ctl done"
		unload || rc=1
	done
	r=$((r + 1))
done
info "done rc=$rc"
exit $rc
