#!/bin/bash
# vm/dkms-check.sh - `make dkms-check`: package the driver for DKMS the way
# the README tells a user to, install it for the 6.12 kernel in build/kver
# with Debian's dkms, check that modprobe would now pick our module, and
# remove it again (also on failure), leaving the stock module in place.
#
#   build/dkms/loop-<version>/   the DKMS source tree (`make dkms`)
#   cd build/dkms/loop-<version> && dkms add . && dkms install loop/<version>
#
# Needs root (dkms writes /usr/src, /var/lib/dkms and /lib/modules).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
V=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
K=$(cat build/kver 2>/dev/null) || { echo "dkms-check: build/kver missing; run 'make deps'" >&2; exit 2; }
STAGE=build/dkms/loop-$V

fail() {
	echo "dkms-check: FAIL: $*"
	exit 1
}

[ -n "$V" ] || fail "no PACKAGE_VERSION in dkms.conf"
[ "$(id -u)" = 0 ] || fail "needs root"
command -v dkms >/dev/null || fail "dkms is not installed (make deps)"
[ -d "/lib/modules/$K/build" ] || fail "no headers for $K"
[ -d "$STAGE" ] || fail "$STAGE missing; run 'make dkms'"

stock=$(modinfo -k "$K" -n loop 2>/dev/null)
case "$stock" in
*/kernel/drivers/block/loop.ko*) ;;
*) fail "before installing, modinfo -k $K -n loop gives '$stock', not the stock module" ;;
esac

cleanup() {
	dkms remove "loop/$V" --all >/dev/null 2>&1
	rm -rf "/usr/src/loop-$V"
}
trap cleanup EXIT
cleanup

echo "dkms-check: dkms add . (in $STAGE)"
(cd "$STAGE" && dkms add .) || fail "dkms add failed"
echo "dkms-check: dkms install loop/$V -k $K"
dkms install "loop/$V" -k "$K" || fail "dkms install failed"

got=$(modinfo -k "$K" -n loop)
case "$got" in
*/updates/dkms/loop.ko*) ;;
*) fail "after install, modinfo -k $K -n loop gives '$got', not updates/dkms" ;;
esac
ver=$(modinfo -k "$K" -F version loop)
[ "$ver" = "$V" ] || fail "installed module has version '$ver', expected '$V'"
dkms status "loop/$V" -k "$K" | grep -q ': installed' ||
	fail "dkms status does not say installed: $(dkms status "loop/$V" -k "$K")"
echo "dkms-check: installed: $got (version $ver)"

echo "dkms-check: dkms remove loop/$V --all"
trap - EXIT
dkms remove "loop/$V" --all || fail "dkms remove failed"
rm -rf "/usr/src/loop-$V"
back=$(modinfo -k "$K" -n loop)
[ "$back" = "$stock" ] || fail "after removal, modinfo -k $K -n loop gives '$back', not '$stock'"
echo "dkms-check: removed; modprobe finds the stock module again: $back"
echo "dkms-check: PASS"
