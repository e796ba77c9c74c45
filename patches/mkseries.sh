#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn the work tree into a patch series against pristine Linux 6.12 and
# check it.
#
#   patches/mkseries.sh [SOURCE]
#
# SOURCE is the linux-source-6.12 tarball (default
# /usr/src/linux-source-6.12.tar.xz) or an extracted tree.  Under
# build/series/ it makes:
#
#   linux/  the pristine source committed as "base", then one commit per patch
#   out/    git format-patch output, cover letter filled from cover-letter.txt
#   check/  a second fresh extraction the series is applied to with git am
#
# Each patch must pass checkpatch.pl --strict with no error and no warning
# (one exception, below).  Exits non-zero on any failure.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
pdir=$top/patches
src=${1:-/usr/src/linux-source-6.12.tar.xz}
series=$top/build/series
tree=$series/linux
out=$series/out
check=$series/check

die() {
	echo "mkseries: $*" >&2
	exit 1
}

[ -e "$src" ] || die "$src: no such tarball or tree"
case $src in /*) ;; *) src=$PWD/$src ;; esac

# The author is whoever git config names, else the team.
name=$(git -C "$top" config user.name || echo "Loop Team")
email=$(git -C "$top" config user.email || echo "loop-team@localhost")
export GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email
export GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email

# Quiet, cheap git for a tree of 80000 files.
g() {
	git -c core.autocrlf=false -c core.looseCompression=1 -c gc.auto=0 \
	    -c advice.detachedHead=false "$@"
}

# Fresh copy of the pristine source in $1, committed as "base".
extract() {
	rm -rf "$1"
	mkdir -p "$1"
	if [ -d "$src" ]; then
		tar -C "$src" --exclude=./.git -cf - . | tar -C "$1" -xf -
	else
		tar -xf "$src" -C "$1" --strip-components=1
	fi
	g -C "$1" init -q
	# Share objects with the first tree if there is one: only hashing.
	if [ "$1" != "$tree" ]; then
		echo "$tree/.git/objects" > "$1/.git/objects/info/alternates"
	fi
	g -C "$1" add -A -f .
	g -C "$1" commit -q -m "Linux 6.12 (pristine source)"
	g -C "$1" tag base
}

# Commit what is staged plus $2.., with the message in patches/$1.
commit() {
	local msg=$pdir/$1

	shift
	[ $# -eq 0 ] || g -C "$tree" add -f -- "$@"
	g -C "$tree" commit -q -s -F "$msg"
}

apply() {
	local d

	for d in "$@"; do
		g -C "$tree" apply --index "$pdir/$d" || die "$d does not apply"
	done
}

echo "mkseries: extracting $src into $tree"
extract "$tree"

# 1: the driver and its uapi header (include/uapi/linux/loop.h).
cp "$top/drivers/block/loop.c" "$tree/drivers/block/loop.c"
cp -r "$top/include/." "$tree/include/"
g -C "$tree" add -A -f include
commit commit-1-driver.txt drivers/block/loop.c

# 2: the documentation.
cp "$top/Documentation/admin-guide/blockdev/loop.rst" \
   "$tree/Documentation/admin-guide/blockdev/loop.rst"
apply docs-blockdev-index.diff docs-kernel-parameters.diff \
      kconfig-loop-min-count.diff maintainers-docs.diff
commit commit-2-docs.txt Documentation/admin-guide/blockdev/loop.rst

# 3: the selftests, as they are in the work tree, minus what git ignores.
sel=tools/testing/selftests/loop
(cd "$top" && git ls-files -co --exclude-standard -z -- "$sel") |
	(cd "$top" && xargs -0r cp --parents -t "$tree")
[ -d "$tree/$sel" ] || die "$top/$sel is empty"
apply selftests-targets.diff maintainers-selftests.diff
commit commit-3-selftests.txt "$sel"

rm -rf "$out"
g -C "$tree" format-patch -q --cover-letter -o "$out" base..HEAD

# The cover letter: first line of cover-letter.txt is the subject, the rest
# (after one blank line) the blurb.
cover=$out/0000-cover-letter.patch
patches=()
for p in "$out"/0*.patch; do
	[ "$p" = "$cover" ] || patches+=("$p")
done
awk -v letter="$pdir/cover-letter.txt" '
	BEGIN {
		getline subject < letter
		gsub(/&/, "\\\\&", subject)
	}
	/\*\*\* SUBJECT HERE \*\*\*/ {
		sub(/\*\*\* SUBJECT HERE \*\*\*/, subject)
	}
	/^\*\*\* BLURB HERE \*\*\*$/ {
		getline line < letter	# the blank line after the subject
		while ((getline line < letter) > 0)
			print line
		next
	}
	{ print }' "$cover" > "$cover.new"
mv "$cover.new" "$cover"
! grep -q '\*\*\* .* HERE \*\*\*' "$cover" || die "cover letter left unfilled"

# (i) checkpatch, from inside the tree so that it can look things up there.
# Its SPDX check runs scripts/spdxcheck.py with "python3", which needs the
# ply and git modules: Debian's python3-ply and python3-git, hence /usr/bin
# first.
#
# The one exception: /dev/loop-control answers unknown commands with
# -ENOSYS, as it has since 2011, and checkpatch warns about every ENOSYS
# that is not a syscall's.  That warning is reported but accepted in the
# driver (once) and in its selftests, which check for that errno; any other
# warning, or an ENOSYS anywhere else, fails the series.
fail=0
for p in "${patches[@]}"; do
	log=$out/$(basename "$p" .patch).checkpatch
	(cd "$tree" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict \
		"$p") > "$log" 2>&1 || true
	summary=$(grep '^total:' "$log" || echo "checkpatch did not finish")
	errors=$(grep -c '^ERROR:' "$log" || true)
	warnings=$(grep -c '^WARNING:' "$log" || true)
	enosys=$(grep -A2 "^WARNING: ENOSYS means" "$log" | grep 'FILE:' || true)
	in_driver=$(grep -c 'FILE: drivers/block/loop\.c:' <<< "$enosys" || true)
	in_tests=$(grep -c 'FILE: tools/testing/selftests/loop/' <<< "$enosys" ||
		   true)
	accepted=$((in_driver > 1 ? in_tests + 1 : in_driver + in_tests))
	note=
	[ $accepted -eq 0 ] ||
		note=" ($accepted accepted ENOSYS warnings: /dev/loop-control ABI)"
	echo "checkpatch $(basename "$p"): $summary$note"
	if grep -q "No module named" "$log"; then
		echo "  SPDX not checked: install python3-ply and python3-git" >&2
		fail=1
	fi
	if ! grep -q '^total:' "$log" || [ "$errors" -gt 0 ] ||
	   [ $((warnings - accepted)) -gt 0 ]; then
		grep -A3 '^\(ERROR\|WARNING\):' "$log" >&2 || cat "$log" >&2
		fail=1
	fi
done
[ $fail -eq 0 ] || echo "mkseries: checkpatch found problems (logs in $out)" >&2

# (ii) the series applies to another fresh extraction, to the same result.
echo "mkseries: applying the series to a fresh extraction in $check"
extract "$check"
[ "$(g -C "$check" rev-parse 'base^{tree}')" = \
  "$(g -C "$tree" rev-parse 'base^{tree}')" ] ||
	die "the two extractions differ"
g -C "$check" am -q "${patches[@]}" ||
	die "git am failed in $check"
[ "$(g -C "$check" rev-parse 'HEAD^{tree}')" = \
  "$(g -C "$tree" rev-parse 'HEAD^{tree}')" ] ||
	die "the applied series differs from the one made"

echo "mkseries: the series applies to a fresh extraction"
[ $fail -eq 0 ] || die "checkpatch failed, see above"
echo "mkseries: ${#patches[@]} patches and a cover letter in $out; series OK"
