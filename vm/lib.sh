# SPDX-License-Identifier: GPL-2.0
# vm/lib.sh - sourced by the harness's bash scripts (vm/locked, vm/report.sh,
# vm/check-intree.sh, .ci/run), from the top of the tree.

# lock_tree WHO: hold build/.lock (on fd 9) for the rest of this shell and
# whatever it execs or starts.  One entry point (make check, run, shell,
# bench or check-intree) at a time per tree: they share build/, and one
# would otherwise rebuild the initramfs another is booting.
lock_tree() {
	mkdir -p build
	exec 9> build/.lock
	if ! flock -n 9; then
		echo "$1: another make check/run/shell/bench/check-intree is using this tree; waiting"
		flock 9
	fi
}

# print_counts PASSED FAILED SKIPPED: how every entry point that runs tests
# ends, make check, make check-intree and .ci/run alike: the skips, then
# "N passed, N failed" as the last line.
print_counts() {
	echo "$3 skipped"
	echo "$1 passed, $2 failed"
}

# read_counts FILE: the counts print_counts wrote at the end of FILE, as
# "PASSED FAILED SKIPPED"; nothing (and status 1) if FILE does not end so.
read_counts() {
	local s p

	s=$(tail -n 2 "$1" | head -n 1)
	p=$(tail -n 1 "$1")
	[[ "$s" =~ ^([0-9]+)\ skipped$ ]] || return 1
	s=${BASH_REMATCH[1]}
	[[ "$p" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]] || return 1
	echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} $s"
}
