// SPDX-License-Identifier: GPL-2.0
/*
 * Linked into loop.ko by the out-of-tree Kbuild only (make module, DKMS).
 *
 * The stock loop.ko has no version.  Giving ours one (the PACKAGE_VERSION
 * of dkms.conf, passed in by Kbuild) lets dkms tell the two apart, so that
 * `dkms install` and AUTOINSTALL replace the stock module without --force.
 * The in-tree driver carries no MODULE_VERSION, as in-tree drivers should.
 */
#include <linux/module.h>

MODULE_VERSION(LOOP_PACKAGE_VERSION);
