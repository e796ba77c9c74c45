#!/bin/bash
# vm/build-selftests.sh - build the loop kselftests with the kernel's own
# lib.mk and kselftest_harness.h, statically linked, and install them for the
# initramfs.
#
#   $SELFTESTS_SRC (default tools/testing/selftests/loop) is copied into
#   build/linux-source-6.12/tools/testing/selftests/loop, built there with
#   OUTPUT=build/selftests/loop, then lib.mk's own `install` target puts
#   TEST_GEN_PROGS, TEST_PROGS, TEST_GEN_PROGS_EXTENDED, TEST_PROGS_EXTENDED,
#   TEST_FILES, config and settings into build/selftests/install/loop.
#   lib.mk's `emit_tests` gives the programs to run, in order
#   (TEST_GEN_PROGS, TEST_CUSTOM_PROGS, TEST_PROGS): they go to tests.list.
#   The shell tests source ../kselftest/ktap_helpers.sh: the 6.12 one goes to
#   build/selftests/install/kselftest, where the top-level selftests install
#   puts it (and where TEST_INCLUDES would, given SRC_PATH and OBJ_PATH).
#
# KHDR_INCLUDES points at the 6.12 uapi headers (`make headers`, once), with
# this repo's include/uapi (if any) in front.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build
SRCTREE=$B/linux-source-6.12
SRC=${SELFTESTS_SRC:-tools/testing/selftests/loop}
DST=$SRCTREE/tools/testing/selftests/loop
OUT=$B/selftests/loop
INSTROOT=$B/selftests/install
INST=$INSTROOT/loop
KTAP_HELPERS=$SRCTREE/tools/testing/selftests/kselftest/ktap_helpers.sh
UAPI=$B/selftests/uapi

die() { echo "selftests: error: $*" >&2; exit 1; }

[ -f "$SRCTREE/Makefile" ] || die "$SRCTREE missing; run 'make deps'"
[ -f "$SRC/Makefile" ] || die "no selftests at $SRC (need a Makefile that includes ../lib.mk)"
[ -f "$KTAP_HELPERS" ] || die "$KTAP_HELPERS missing; run 'make deps'"

# 6.12 uapi headers, exported once into the source tree's usr/include.
if [ ! -f "$SRCTREE/usr/include/linux/loop.h" ]; then
	echo "selftests: make headers in build/linux-source-6.12 (once, ~30 s)"
	make -s -C "$SRCTREE" headers >/dev/null
fi

# Our own uapi headers, cleaned as the kernel exports them (the script runs
# from the top of the kernel tree, where `make headers` built its unifdef).
rm -rf "$UAPI.tmp"
mkdir -p "$UAPI.tmp"
if [ -d include/uapi ]; then
	(cd include/uapi && find . -name '*.h') | while read -r h; do
		mkdir -p "$UAPI.tmp/$(dirname "$h")"
		(cd "$SRCTREE" && sh scripts/headers_install.sh \
			"$ROOT/include/uapi/$h" "$UAPI.tmp/$h") ||
			die "headers_install.sh failed on include/uapi/$h"
	done
fi
# Replace only on change so the tests are not rebuilt for nothing.
if ! diff -r "$UAPI.tmp" "$UAPI" >/dev/null 2>&1; then
	rm -rf "$UAPI"
	mv "$UAPI.tmp" "$UAPI"
else
	rm -rf "$UAPI.tmp"
fi
KHDR="-isystem $UAPI -isystem $SRCTREE/usr/include"

# Copy the sources; content-compared so unchanged files keep their times.
mkdir -p "$DST" "$OUT"
rsync -rlpc --delete "$SRC/" "$DST/"

MK=(make --no-print-directory -C "$DST" OUTPUT="$OUT"
	KHDR_INCLUDES="$KHDR" USERLDFLAGS=-static)

"${MK[@]}" all
rm -rf "$INSTROOT"
mkdir -p "$INST"
"${MK[@]}" -s INSTALL_PATH="$INST" OBJ_PATH="$INSTROOT" \
	SRC_PATH="$(readlink -e "$SRCTREE/tools/testing/selftests")" install >/dev/null
install -D -m 644 "$KTAP_HELPERS" "$INSTROOT/kselftest/ktap_helpers.sh"
"${MK[@]}" -s COLLECTION=loop emit_tests | sed -n 's/^loop://p' > "$INST/tests.list"

[ -s "$INST/tests.list" ] || die "$SRC/Makefile lists no tests (TEST_GEN_PROGS / TEST_PROGS)"
while read -r t; do
	[ -x "$INST/$t" ] || die "listed test '$t' was not installed as an executable"
	case "$(head -c 4 "$INST/$t" | od -An -c | tr -d ' ')" in
	177ELF)
		if ldd "$INST/$t" >/dev/null 2>&1; then
			echo "selftests: warning: $t is dynamically linked" >&2
		fi ;;
	esac
done < "$INST/tests.list"
echo "selftests: $(wc -l < "$INST/tests.list") programs: $(tr '\n' ' ' < "$INST/tests.list")"
