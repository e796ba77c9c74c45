#!/bin/bash
# vm/check-intree.sh - `make check-intree`: the patch series, applied to
# pristine Linux 6.12, built into a small debug kernel and tested there.
#
#   1. make patch: build/series/out, checkpatch --strict and git am checked.
#   2. build/intree/src: the pristine source (tag "base") with the series
#      applied by git am; only the files the series touches change, so
#      kbuild stays incremental.
#   3. build/intree/obj: tinyconfig + vm/intree.config (KASAN, lockdep,
#      kmemleak, ..., CONFIG_BLK_DEV_LOOP=y, CONFIG_BLK_DEV_LOOP_MIN_COUNT=0),
#      bzImage built with ccache (build/ccache).
#   4. build/intree/obj-m: the same configuration with CONFIG_BLK_DEV_LOOP=m;
#      only drivers/block/loop.ko is built, with W=1 and sparse (C=2): any
#      warning from the driver or its uapi header fails.  Without a vmlinux
#      in obj-m, modpost cannot resolve the kernel's symbols
#      (KBUILD_MODPOST_WARN=1 lets it through); they are resolved for real
#      when `make module` links against Debian's kernel.
#   5. The series' own tools/testing/selftests/loop, built static, in an
#      initramfs without a module under test (LOOP_KO=builtin).
#   6. Two boots of the debug kernel:
#        - no devices at boot (MIN_COUNT=0), every selftest, loop_stress for
#          INTREE_STRESS_SECONDS (default 300) per variant: 10 minutes of
#          racing control and device ioctls; loop_stack in its small shape;
#        - max_loop=4 on the command line (loop0..3 at boot), every selftest
#          but loop_stack.
#      Each must end with every program passing or skipping, a kmemleak
#      scan with no report, and a kernel log with no splat.
#
# Ends with "N skipped" and "N passed, N failed" (print_counts), summed
# over both boots (a build failure is one failure).  make runs it under
# build/.lock, after `make deps`.  Logs: build/logs/intree-*.log.
# Variables (INTREE_*, TESTS, JOBS, CCACHE_DIR, QEMU_TIMEOUT): see the
# top-level Makefile.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
B=$ROOT/build
I=$B/intree
SRC=$I/src
OBJ=$I/obj
OBJM=$I/obj-m
JOBS=${JOBS:-$(nproc)}
STRESS=${INTREE_STRESS_SECONDS:-300}
BOOTS=${INTREE_BOOTS:-min0 maxloop4}
export CCACHE_DIR=${CCACHE_DIR:-$B/ccache}
KMAKE=(make -s -C "$SRC" CC="ccache gcc" -j"$JOBS")

. vm/lib.sh
mkdir -p "$B" "$I" "$B/logs"

fail() {
	echo "check-intree: FAIL: $1"
	print_counts 0 1 0
	exit 1
}

step() {
	echo "check-intree: [$(date +%T)] $*"
}

t0=$(date +%s)
command -v ccache >/dev/null || fail "ccache not installed (make deps)"

step "make patch"
make --no-print-directory patch > "$B/logs/intree-patch.log" 2>&1 ||
	{ tail -n 30 "$B/logs/intree-patch.log"; fail "make patch failed (build/logs/intree-patch.log)"; }
patches=("$B"/series/out/0[0-9][0-9][1-9]-*.patch)
[ -f "${patches[0]}" ] || fail "make patch wrote no patches"

step "apply ${#patches[@]} patches to build/intree/src"
if ! git -C "$SRC" rev-parse -q --verify base >/dev/null 2>&1; then
	rm -rf "$SRC"
	git clone -q --no-checkout "$B/series/linux" "$SRC" || fail "cannot clone build/series/linux"
	git -C "$SRC" checkout -q -b run base || fail "no tag base in build/series/linux"
fi
git -C "$SRC" am --abort >/dev/null 2>&1
git -C "$SRC" reset -q --hard base && git -C "$SRC" clean -q -fdx ||
	fail "cannot reset build/intree/src to base"
git -C "$SRC" -c user.name=check-intree -c user.email=check-intree@localhost \
	am -q "${patches[@]}" || fail "the series does not apply with git am"

# $1: object directory, $2: value for CONFIG_BLK_DEV_LOOP.
configure() {
	local frag=$1/intree.config

	mkdir -p "$1"
	sed "s/^CONFIG_BLK_DEV_LOOP=y$/CONFIG_BLK_DEV_LOOP=$2/" vm/intree.config > "$frag"
	make -s -C "$SRC" O="$1" tinyconfig >/dev/null &&
	KCONFIG_CONFIG=$1/.config "$SRC/scripts/kconfig/merge_config.sh" -m -O "$1" \
		"$1/.config" "$frag" >/dev/null &&
	make -s -C "$SRC" O="$1" olddefconfig || return 1
	# Every line of the fragment must have survived the dependencies.
	grep -E '^(CONFIG_[A-Z0-9_]+=|# CONFIG_[A-Z0-9_]+ is not set)' "$frag" |
	while read -r line; do
		if ! grep -qxF -- "$line" "$1/.config"; then
			echo "check-intree: config: '$line' did not stick" >&2
			echo bad
		fi
	done | grep -q bad && return 1
	return 0
}

step "configure and build the debug kernel (build/intree/obj, ccache)"
configure "$OBJ" y || fail "kernel configuration failed"
tb=$(date +%s)
"${KMAKE[@]}" O="$OBJ" bzImage > "$B/logs/intree-build.log" 2>&1 ||
	{ tail -n 30 "$B/logs/intree-build.log"; fail "kernel build failed (build/logs/intree-build.log)"; }
step "kernel built in $(( $(date +%s) - tb )) s"

step "build drivers/block/loop.ko (CONFIG_BLK_DEV_LOOP=m) with W=1 C=2"
configure "$OBJM" m || fail "module configuration failed"
"${KMAKE[@]}" O="$OBJM" W=1 C=2 KBUILD_MODPOST_WARN=1 drivers/block/loop.ko \
	> "$B/logs/intree-module.log" 2>&1 ||
	{ tail -n 30 "$B/logs/intree-module.log"; fail "module build failed (build/logs/intree-module.log)"; }
warn=$(grep -E '(drivers/block/loop|include/uapi/linux/loop)\.[ch]|loop\.ko' "$B/logs/intree-module.log" |
	grep -v -E '^WARNING: modpost: "[^"]+" \[drivers/block/loop\.ko\] undefined!$' || true)
if [ -n "$warn" ]; then
	echo "$warn" | head -n 40
	fail "W=1 / sparse warnings from the driver (build/logs/intree-module.log)"
fi
[ -f "$OBJM/drivers/block/loop.ko" ] || fail "no drivers/block/loop.ko after the module build"

step "build the series' selftests and the initramfs"
SELFTESTS_SRC=$SRC/tools/testing/selftests/loop LOOP_KO=builtin \
	make --no-print-directory selftests initramfs > "$B/logs/intree-guest.log" 2>&1 ||
	{ tail -n 30 "$B/logs/intree-guest.log"; fail "selftests or initramfs build failed"; }

# The programs of each boot: tests.list, minus INTREE_SKIP, only TESTS if
# set, and loop_stack (three levels of ext4 over fragmented images, the I/O
# path's context rule) only in the min0 boot, in its small shape
# (LOOP_STACK_SMALL=1): its full shape outruns the harness's per-test
# timeouts under KASAN and lockdep on TCG.
SKIP=${INTREE_SKIP-}
WANT=${TESTS:-}
list=$B/selftests/install/loop/tests.list
[ -s "$list" ] || fail "no $list after the selftests build"
boot_tests() {
	local t

	for t in $(cat "$list"); do
		case " $SKIP ${1:-} " in *" $t "*) continue ;; esac
		[ -z "$WANT" ] || case " $WANT " in *" $t "*) ;; *) continue ;; esac
		echo "$t"
	done | tr '\n' ' '
}
[ -n "$SKIP" ] && step "left out in these boots: $SKIP"

passed=0 failed=0 skipped=0 booted=0
for boot in $BOOTS; do
	case $boot in
	min0) append="LOOP_STRESS_SECONDS=$STRESS LOOP_STACK_SMALL=1"
	      want="none" tmo=$(( STRESS * 2 + 900 )) TESTS=$(boot_tests) ;;
	maxloop4) append="max_loop=4"; want="loop0 loop1 loop2 loop3"
	      tmo=600 TESTS=$(boot_tests loop_stack) ;;
	*) fail "unknown boot '$boot' in INTREE_BOOTS" ;;
	esac
	export TESTS
	if [ -z "${TESTS// }" ]; then
		step "boot $boot: no program to run, left out"
		continue
	fi
	booted=$((booted + 1))
	log=build/logs/intree-$boot.log
	step "boot $boot: $append (log $log)"
	KERNEL=$OBJ/arch/x86/boot/bzImage APPEND="$append" TEST_TIMEOUT=$tmo \
	QEMU_TIMEOUT=${QEMU_TIMEOUT:-3600} CONSOLE=progress \
		vm/run-qemu.sh "intree-$boot" check
	qrc=$?
	vm/report.sh "$log" "$qrc" > "$log.report"
	# Passes are in the log; show the rest (skips, failures, reasons).
	grep -v -E '^(PASS |== )' "$log.report" | sed "s/^/check-intree: $boot: /"
	read -r p f s <<< "$(read_counts "$log.report")"
	[ -n "$s" ] || { p=0 f=1 s=0; echo "check-intree: FAIL: $boot: no counts"; }
	# The device count at boot is what the configuration promises.
	got=$(tr -d '\r' < "$log" | sed -n 's/^looptest: loop is built in; devices at boot: //p' | sed 's/ *$//')
	if [ "$got" != "$want" ]; then
		echo "check-intree: FAIL: $boot: devices at boot '$got', expected '$want'"
		f=$((f + 1))
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

[ "$booted" -gt 0 ] || fail "no boot had a program to run (TESTS='$WANT')"
step "done in $(( $(date +%s) - t0 )) s"
print_counts "$passed" "$failed" "$skipped"
[ "$failed" = 0 ]
