#!/bin/bash
# vm/deps.sh - install what the build and the QEMU harness need, pick the
# kernel version, and extract the kernel source.
#
# The kernel version KVER (6.12.N+deb12-amd64) is derived, never hard-coded:
# the newest installed linux-headers-6.12.N+deb12-amd64 if there is one, else
# the newest N that apt-cache knows.  It is written to build/kver (only when it
# changes, so make does not rebuild for nothing).  Set KVER in the environment
# to force a version.
#
# Fast (well under 5 s) when everything is already there: packages are checked
# with dpkg-query first and apt-get runs only for missing ones; apt-get update
# runs only when no 6.12 headers package is installed yet (to find the newest)
# or when an install fails (stale lists).
set -euo pipefail

cd "$(dirname "$0")/.."
B=$PWD/build
mkdir -p "$B"

HDR_RE='^linux-headers-6\.12\.[0-9]+\+deb12-amd64$'
SRC_PKG=linux-source-6.12
SRC_TAR=/usr/src/$SRC_PKG.tar.xz
SRC_DIR=$B/$SRC_PKG

# Host tools (beyond the headers/image pair that depends on KVER).
PKGS="$SRC_PKG qemu-system-x86 busybox-static cpio mount e2fsprogs fdisk fio
stress-ng xz-utils ccache sparse gnuplot-nox dkms python3-docutils bc kmod
rsync make gcc libc6-dev python3-ply python3-git git flex bison libelf-dev libssl-dev"

export DEBIAN_FRONTEND=noninteractive
updated=0

say() { echo "deps: $*"; }
die() { echo "deps: error: $*" >&2; exit 1; }

apt_update() {
	[ "$updated" = 1 ] && return 0
	say "apt-get update"
	apt-get update -qq || die "apt-get update failed"
	updated=1
}

# Newest installed 6.12 headers package (empty if none).
installed_kver() {
	dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' \
		'linux-headers-6.12.*+deb12-amd64' 2>/dev/null |
		awk '$2 ~ /^ii/ { print $1 }' | grep -E "$HDR_RE" |
		sed 's/^linux-headers-//' | sort -V | tail -n 1 || true
}

# Newest 6.12 headers package known to apt (empty if none).
available_kver() {
	apt-cache search --names-only "$HDR_RE" 2>/dev/null |
		awk '{ print $1 }' | grep -E "$HDR_RE" |
		sed 's/^linux-headers-//' | sort -V | tail -n 1 || true
}

# Print the packages of "$@" that are not installed.
missing_pkgs() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		case "$st" in ii*) ;; *) echo "$p" ;; esac
	done
}

install_pkgs() {
	[ $# -eq 0 ] && return 0
	say "installing: $*"
	if ! apt-get install -y -qq --no-install-recommends "$@"; then
		apt_update
		apt-get install -y -qq --no-install-recommends "$@" ||
			die "apt-get install $* failed"
	fi
}

# 1. Kernel version.
kver=${KVER:-}
if [ -z "$kver" ]; then
	kver=$(installed_kver)
fi
if [ -z "$kver" ]; then
	# Nothing installed yet: refresh the lists so "newest" is really newest.
	apt_update
	kver=$(available_kver)
	[ -n "$kver" ] || die "no package matches $HDR_RE (is this Debian bookworm with backports?)"
fi
case "$kver" in
6.12.*+deb12-amd64) ;;
*) die "unexpected kernel version '$kver'" ;;
esac

# 2. Packages.
# shellcheck disable=SC2086
miss=$(missing_pkgs linux-headers-$kver linux-image-$kver $PKGS)
if [ -n "$miss" ]; then
	# shellcheck disable=SC2086
	install_pkgs $miss
	# shellcheck disable=SC2086
	miss=$(missing_pkgs linux-headers-$kver linux-image-$kver $PKGS)
	[ -z "$miss" ] || die "still missing after install: $miss"
fi
[ -d "/lib/modules/$kver/build" ] || die "/lib/modules/$kver/build missing (linux-headers-$kver broken?)"
[ -f "/boot/vmlinuz-$kver" ] || die "/boot/vmlinuz-$kver missing (linux-image-$kver broken?)"

# 3. build/kver, rewritten only on change.
if [ "$(cat "$B/kver" 2>/dev/null || true)" != "$kver" ]; then
	echo "$kver" > "$B/kver"
	say "kernel version $kver (written to build/kver)"
fi

# 4. Kernel source tree.
if [ ! -f "$SRC_DIR/Makefile" ]; then
	[ -f "$SRC_TAR" ] || die "$SRC_TAR missing"
	say "extracting $SRC_TAR into build/ (takes a minute or two)"
	rm -rf "$SRC_DIR.tmp"
	mkdir -p "$SRC_DIR.tmp"
	tar -xf "$SRC_TAR" -C "$SRC_DIR.tmp"
	[ -f "$SRC_DIR.tmp/$SRC_PKG/Makefile" ] || die "unexpected layout of $SRC_TAR"
	rm -rf "$SRC_DIR"
	mv "$SRC_DIR.tmp/$SRC_PKG" "$SRC_DIR"
	rmdir "$SRC_DIR.tmp"
fi

exit 0
