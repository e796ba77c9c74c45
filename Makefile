# Top-level Makefile of the loop driver project.
#
#   make deps        install packages, pick KVER (build/kver), extract the source
#   make module      build drivers/block/loop.c into build/module/loop.ko
#   make selftests   build tools/testing/selftests/loop (static) into build/selftests
#   make initramfs   build/initramfs.cpio.gz (busybox, module, tests, real tools)
#   make run         boot and run the end-to-end demo (vm/guest-demo.sh)
#   make check       all of the above, boot, run the selftests, count the results
#   make shell       boot into an interactive busybox shell, module loaded
#   make bench       stock vs ours benchmark, bench/report.md (about 35 min)
#   make patch       in-tree patch series in build/series/out, checked
#   make check-intree  series on pristine 6.12, debug kernel (KASAN, lockdep,
#                    kmemleak) with the driver built in, selftests, 10 min race
#   make dkms        DKMS source tree in build/dkms/loop-<version>
#   make dkms-check  dkms add/install/remove it for build/kver (root)
#   make clean       remove build outputs (keeps the extracted kernel source)
#
# Variables (this is where each is documented):
#   LOOP_KO=ours|stock|/path/to/loop.ko   module under test (default ours)
#   W=1 C=1          passed to kbuild for the module
#   TESTS="a b"      run only these selftest programs (check, check-intree)
#   TEST_TIMEOUT=N   per-program timeout in the guest (default: settings, else 45)
#   QEMU_TIMEOUT=N   host-side timeout for one boot in seconds (default 900;
#                    bench 3000, check-intree 3600)
#   MEM=MiB SMP=N    guest size (default 2048, 2; bench 3072)
#   DISK=img         attach a raw image as a virtio disk (/dev/vda in the guest;
#                    bench default build/bench-disk.img)
#   APPEND="..."     extra kernel command line
#   SELFTESTS_SRC=dir  selftests to build (default tools/testing/selftests/loop)
#   MODULE_SRC=dir   tree holding drivers/block/loop.c and include/ (default .)
#   KVER=...         kernel version to build and boot (default: the newest
#                    6.12 Debian kernel, written to build/kver)
#   BENCH_ARGS="bench.rounds=3 ..."  guest options of make bench (the list is
#                    at the top of bench/guest-bench.sh; bench.profile= puts
#                    the host's perf into the initramfs)
#   BENCH_MEM_ROUNDS=N  memory boots of make bench, 3 per round (default 2)
#   INTREE_BOOTS="min0 maxloop4"  which check-intree boots run
#   INTREE_SKIP="a b"  programs left out of both check-intree boots
#   INTREE_STRESS_SECONDS=N  loop_stress per variant in the min0 boot (300)
#   JOBS=N           check-intree kernel build jobs (default nproc)
#   CCACHE_DIR=dir   check-intree's ccache (default build/ccache)

SHELL := /bin/bash
B := $(CURDIR)/build
# Read lazily: build/kver is written by vm/deps.sh.
KVER ?= $(shell cat $(B)/kver 2>/dev/null)
KDIR = /lib/modules/$(KVER)/build

LOOP_KO ?= ours
MODULE_SRC ?= .
SELFTESTS_SRC ?= tools/testing/selftests/loop
MOD_DIR := $(B)/module

export LOOP_KO MODULE_SRC SELFTESTS_SRC TESTS TEST_TIMEOUT QEMU_TIMEOUT \
	MEM SMP DISK APPEND

.PHONY: all deps module selftests initramfs build-all clean distclean help

# The steps below run in the order they are listed: a later one reads what
# an earlier one wrote (build/kver, the module, the selftests).
.NOTPARALLEL:

all: module

help:
	@sed -n '2,/^$$/s/^# \{0,1\}//p' Makefile

deps:
	@vm/deps.sh

$(B)/kver:
	@vm/deps.sh

# The sources are copied (content-compared, so unchanged files keep their
# times and kbuild stays incremental) into build/module, then built there.
module: $(B)/kver
	@test -f $(MODULE_SRC)/drivers/block/loop.c || \
		{ echo "module: $(MODULE_SRC)/drivers/block/loop.c not found" >&2; exit 1; }
	@mkdir -p $(MOD_DIR)/drivers/block
	@rsync -c Kbuild dkms.conf loop_version.c $(MOD_DIR)/
	@rsync -rc --include='*.c' --include='*.h' --exclude='*' \
		$(MODULE_SRC)/drivers/block/ $(MOD_DIR)/drivers/block/
	@if [ -d $(MODULE_SRC)/include ]; then \
		rsync -rc --delete $(MODULE_SRC)/include/ $(MOD_DIR)/include/; \
	else rm -rf $(MOD_DIR)/include; fi
	$(MAKE) -C $(KDIR) M=$(MOD_DIR) $(if $(W),W=$(W)) $(if $(C),C=$(C)) modules
	@modinfo -F name $(MOD_DIR)/loop.ko | grep -qx loop || \
		{ echo "module: $(MOD_DIR)/loop.ko is not named 'loop'" >&2; exit 1; }

selftests: $(B)/kver
	@vm/build-selftests.sh

# The initramfs takes the module (when it is ours) and the selftests.
initramfs: $(if $(filter ours,$(LOOP_KO)),module) selftests
	@vm/mkinitramfs.sh

# Everything a boot needs.
build-all: initramfs

# The entry points.  Each builds what it boots and boots it holding
# build/.lock (vm/locked), so that two of them in one tree wait for each
# other instead of rebuilding under each other's guest: `make X` runs
# `make X-locked` under the lock, and X-locked's prerequisites are what X
# needs.  check and check-intree end with two lines, "N skipped" and
# "N passed, N failed"; a build that fails stops make before them.
ENTRY := check run shell bench check-intree
.PHONY: $(ENTRY) $(ENTRY:%=%-locked)
$(ENTRY):
	@MAKE_ENTRY=$@ vm/locked $(MAKE) --no-print-directory $@-locked

check-locked: deps build-all
	@vm/check.sh

run-locked: deps build-all
	@vm/boot.sh run

shell-locked: deps build-all
	@vm/boot.sh shell

# Stock vs ours in one boot, then the memory boots; writes bench/report.md
# and bench/*.png.  The control-path helper goes into bench/, which the
# initramfs takes as it is, so it is built first.
bench-locked: deps bench/ctlbench build-all $(B)/bench-disk.img
	@bench/run.sh

# bench.profile= in BENCH_ARGS needs perf in the guest.
bench-locked: export INITRAMFS_PERF = $(if $(findstring bench.profile=,$(BENCH_ARGS)),1)

bench/ctlbench: bench/ctlbench.c include/uapi/linux/loop.h
	nice gcc -static -O2 -Wall -Wextra -Iinclude/uapi -o $@ $<

# The virtio disk of the ext4 rows: 1 GiB, sparse; the guest makes the
# file system.
$(B)/bench-disk.img:
	@mkdir -p $(B)
	truncate -s 1G $@

# The in-tree patch series against pristine linux-source-6.12, checked
# with checkpatch --strict and git am; output in build/series/out.
.PHONY: patch
patch: $(B)/kver
	@nice patches/mkseries.sh

# The DKMS source tree: what `dkms add .` needs and nothing else.
DKMS_VERSION = $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)
DKMS_STAGE = $(B)/dkms/loop-$(DKMS_VERSION)
.PHONY: dkms dkms-check
dkms:
	@rm -rf $(DKMS_STAGE)
	@mkdir -p $(DKMS_STAGE)/drivers/block
	@cp dkms.conf Kbuild loop_version.c $(DKMS_STAGE)/
	@cp drivers/block/loop.c $(DKMS_STAGE)/drivers/block/
	@if [ -d include ]; then cp -r include $(DKMS_STAGE)/; fi
	@echo "dkms: $(DKMS_STAGE); as root: cd $(DKMS_STAGE) && dkms add . && dkms install loop/$(DKMS_VERSION)"

# Install with dkms for build/kver, check, uninstall (root).
dkms-check: dkms $(B)/kver
	@vm/dkms-check.sh

# Series applied to pristine 6.12, debug kernel with the driver built in,
# two boots (see README for the time it takes).
check-intree-locked: deps
	@vm/check-intree.sh

clean:
	rm -rf $(MOD_DIR) $(B)/module-under-test $(B)/selftests $(B)/initramfs* \
		$(B)/logs $(B)/stock

distclean:
	rm -rf $(B)
