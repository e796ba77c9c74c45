#!/bin/sh
# vm/guest-run-tests.sh - run the loop kselftests inside the guest (busybox sh).
#
# Runs every program named in /selftests/loop/tests.list, in order, with
# cwd=/selftests/loop.  Before each one the loop module is reloaded with
# default parameters.  Each program gets a timeout (settings "timeout=",
# else 45 s; looptest.timeout= overrides).  Its output is echoed live as
#     # [name] <line>
# and every program ends with
#     LOOPTEST-PROG-END: name=<name> rc=<exit status> timeout=0|1 stuck=0|1 secs=<s>
# (stuck=1: the loop module could not be unloaded after the program, even
# after detaching every loop device: a reference leak or a leftover user).
# At the end the same lines are printed again, with the kernel's console
# messages silenced, between LOOPTEST-TAP-BEGIN and LOOPTEST-TAP-END: the host
# counts from that block.  Whatever a program leaves running is killed when
# it ends (it runs in its own PID namespace).  Exit status: 0 if every program
# exited 0 or 4 (kselftest's skip) and left the module unloadable, else 1.
#
# With the driver built in (no /sys/module/loop/initstate) nothing is loaded
# or unloaded: after each program every loop device is detached and every
# device that was not there at boot is removed, so the next program starts
# from the boot state; stuck=1 then means a device could not be detached or
# removed.
#
# Environment (set by /init from the kernel command line):
#   LOOPTEST_TESTS="a b"   run only these programs
#   LOOPTEST_TIMEOUT=N     per-program timeout

DIR=/selftests/loop
LIST=$DIR/tests.list
WORK=/tmp/looptest
mkdir -p "$WORK"

TIMEOUT=45
if [ -f "$DIR/settings" ]; then
	t=$(sed -n 's/^timeout=\([0-9][0-9]*\).*/\1/p' "$DIR/settings" | tail -n 1)
	[ -n "$t" ] && TIMEOUT=$t
fi
[ -n "$LOOPTEST_TIMEOUT" ] && TIMEOUT=$LOOPTEST_TIMEOUT

if [ ! -s "$LIST" ]; then
	echo "looptest: $LIST is missing or empty"
	exit 1
fi

progs=""
for p in $(cat "$LIST"); do
	if [ -n "$LOOPTEST_TESTS" ]; then
		case " $LOOPTEST_TESTS " in *" $p "*) ;; *) continue ;; esac
	fi
	progs="$progs $p"
done
if [ -z "$progs" ]; then
	echo "looptest: no program selected (tests.list: $(cat "$LIST" | tr '\n' ' '))"
	exit 1
fi

R=/usr/real/bin

# Copy stdin to stdout, each line prefixed with "# [$1] ", unbuffered.
prefix() {
	awk -v p="$1" '{ print "# [" p "] " $0; fflush() }'
}

# Print "$2" as a line of program $1's output (console and capture file).
note() {
	echo "looptest: $2" >> "$out"
	echo "# [$1] looptest: $2"
}

# Unload loop; if something still holds it, unmount and detach every loop
# device and try again.  Fails only if the module stays stuck.
unload_loop() {
	grep -q '^loop ' /proc/modules || return 0
	modprobe -r loop 2> "$WORK/modprobe" && return 0
	note "$1" "'modprobe -r loop' failed after the test ($(cat "$WORK/modprobe")); unmounting and detaching loop devices"
	grep '^/dev/loop' /proc/mounts | while read -r _dev mnt _rest; do
		$R/umount -l "$mnt"
	done
	$R/losetup -D
	sleep 1
	modprobe -r loop 2> "$WORK/modprobe" && return 0
	note "$1" "the loop module cannot be unloaded: $(cat "$WORK/modprobe")"
	return 1
}

# Built in: the state at boot is the state every program starts from.
BUILTIN=0
if [ -d /sys/module/loop ] && [ ! -e /sys/module/loop/initstate ]; then
	BUILTIN=1
	BOOT_DEVS=$(ls /sys/devices/virtual/block 2>/dev/null | grep '^loop[0-9]*$' | tr '\n' ' ')
	echo "looptest: loop is built in; devices at boot: ${BOOT_DEVS:-none}"
fi

# Built in: detach every device and remove those not there at boot; the
# devices that resisted are listed in $left.
reset_pass() {
	$R/losetup -D
	left=""
	for d in /sys/devices/virtual/block/loop*; do
		[ -e "$d" ] || continue
		name=${d##*/}
		if [ -e "$d/loop/backing_file" ]; then
			left="$left $name(bound)"
			continue
		fi
		case " $BOOT_DEVS " in *" $name "*) continue ;; esac
		"$DIR/loopctl" remove "${name#loop}" > /dev/null 2>&1 ||
			left="$left $name(not removed)"
	done
}

# Built in: unmount, then reset; a lazy unmount may let go a moment later.
reset_builtin() {
	grep '^/dev/loop' /proc/mounts | while read -r _dev mnt _rest; do
		$R/umount -l "$mnt"
	done
	reset_pass
	[ -z "$left" ] && return 0
	sleep 1
	reset_pass
	[ -z "$left" ] && return 0
	note "$1" "left behind by the test:$left"
	return 1
}

overall=0
n=0
for p in $progs; do
	n=$((n + 1))
	out=$WORK/$n.out
	: > "$out"
	echo "LOOPTEST-PROG-BEGIN: name=$p timeout=$TIMEOUT"
	to=0
	stuck=0
	start=$(date +%s)
	[ "$BUILTIN" = 1 ] || modprobe -r loop 2>/dev/null
	if [ "$BUILTIN" = 0 ] && ! modprobe loop > "$WORK/modprobe" 2>&1; then
		note "$p" "'modprobe loop' failed before the test: $(cat "$WORK/modprobe")"
		rc=255
	elif [ ! -x "$DIR/$p" ]; then
		note "$p" "$DIR/$p is not executable"
		rc=255
	else
		# The program runs in its own PID namespace under a shell that is
		# its init: when the program ends, the kernel kills whatever it
		# left running (even daemons), so nothing holds the output pipe
		# open or keeps the module busy.
		rm -f "$WORK/rc"
		( cd "$DIR" &&
		  unshare -p -f sh -c 'timeout -k 10 "$1" "./$2"; exit $?' \
			sh "$TIMEOUT" "$p" < /dev/null 2>&1
		  echo $? > "$WORK/rc"
		) | tee "$out" | prefix "$p"
		rc=$(cat "$WORK/rc" 2>/dev/null || echo 255)
	fi
	secs=$(( $(date +%s) - start ))
	# busybox timeout: the program dies of SIGTERM (143) or SIGKILL (137).
	if { [ "$rc" = 143 ] || [ "$rc" = 137 ]; } && [ "$secs" -ge "$TIMEOUT" ]; then
		to=1
		note "$p" "timed out after $TIMEOUT s"
	fi
	if [ "$BUILTIN" = 1 ]; then
		reset_builtin "$p" || stuck=1
	else
		unload_loop "$p" || stuck=1
	fi
	end="LOOPTEST-PROG-END: name=$p rc=$rc timeout=$to stuck=$stuck secs=$secs"
	echo "$end"
	echo "$p $end" >> "$WORK/index"
	case "$rc" in 0|4) ;; *) overall=1 ;; esac
	[ "$stuck" = 1 ] && overall=1
done

# Again, in one piece, without kernel messages mixed in.
dmesg -n 1
echo "LOOPTEST-TAP-BEGIN"
n=0
while read -r p end; do
	n=$((n + 1))
	echo "LOOPTEST-PROG-BEGIN: name=$p timeout=$TIMEOUT"
	prefix "$p" < "$WORK/$n.out"
	echo "$end"
done < "$WORK/index"
echo "LOOPTEST-TAP-END"
dmesg -n 5

echo "looptest: per-program status:"
while read -r p end; do
	set -- $end
	rc=${3#rc=}; to=${4#timeout=}; stuck=${5#stuck=}; secs=${6#secs=}
	if [ "$to" = 1 ]; then st=TIMEOUT
	elif [ "$stuck" = 1 ]; then st="FAIL (loop module stuck)"
	elif [ "$rc" = 0 ]; then st=PASS
	elif [ "$rc" = 4 ]; then st=SKIP
	else st="FAIL (rc=$rc)"
	fi
	printf 'looptest:   %-32s %s, %s s\n' "$p" "$st" "$secs"
done < "$WORK/index"
exit $overall
