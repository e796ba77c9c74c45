// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/loop-control: LOOP_CTL_ADD, LOOP_CTL_REMOVE and LOOP_CTL_GET_FREE,
 * one test per row and error of the ABI table.
 */
#include "../kselftest_harness.h"
#include "loop_lib.h"

/* Where tests look for unused device numbers: clear of loop0..7. */
#define CTL_BASE_NR	100

/* part_shift as the loaded module computes it from max_part. */
static int ctl_part_shift(void)
{
	char buf[32];
	int max_part, shift = 0;

	if (loop_read_file("/sys/module/loop/parameters/max_part", buf,
			   sizeof(buf)) <= 0)
		return 0;
	max_part = atoi(buf);
	while (max_part > 0) {
		shift++;
		max_part >>= 1;
	}
	return shift;
}

/* First device number >= @from that no device uses. */
static int ctl_unused_from(int from)
{
	while (loop_exists(from))
		from++;
	return from;
}

/*
 * The argument a bad-argument variant passes: @arg, or with
 * @past_minor_range that far past the last number the minors allow.
 */
static unsigned long ctl_bad_arg(unsigned long arg, bool past_minor_range)
{
	if (past_minor_range)
		arg += 1UL << (LOOP_MINORBITS - ctl_part_shift());
	return arg;
}

/* Bind loopN to @backfd through a fresh opener, then close it again. */
static int ctl_bind(int nr, int backfd)
{
	int fd, ret;

	fd = loop_open(nr, O_RDWR);
	if (fd < 0)
		return fd;
	ret = loop_ioctl(fd, LOOP_SET_FD, backfd);
	close(fd);
	return ret;
}

FIXTURE(ctl) {
	struct loop_fixture lo;	/* no device, a sparse backing file */
};

FIXTURE_SETUP(ctl)
{
	loop_fixture_start(_metadata, &self->lo, LOOP_FIX_BACKING, 0);
}

FIXTURE_TEARDOWN(ctl)
{
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

/* The node is a misc char device 10:237, mode 0600, named loop-control. */
TEST_F(ctl, control_node)
{
	struct stat st;
	char buf[64];

	ASSERT_EQ(0, stat(LOOP_CTL_PATH, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode))
		TH_LOG("%s must be a character device", LOOP_CTL_PATH);
	EXPECT_EQ(10, major(st.st_rdev))
		TH_LOG("loop-control is a misc device (major 10)");
	EXPECT_EQ(LOOP_CTL_MISC_MINOR, minor(st.st_rdev))
		TH_LOG("loop-control uses LOOP_CTRL_MINOR (237)");
	EXPECT_EQ(0600, st.st_mode & 07777)
		TH_LOG("loop-control should be mode 0600, is %o",
		       st.st_mode & 07777);
	ASSERT_LT(0, loop_read_file("/sys/class/misc/loop-control/dev",
				    buf, sizeof(buf)));
	EXPECT_STREQ("10:237", buf);
}

/* LOOP_CTL_ADD N returns N and the device is there, unbound. */
TEST_F(ctl, add_returns_number)
{
	int nr = ctl_unused_from(CTL_BASE_NR);
	struct loop_info64 info;
	int fd;

	EXPECT_EQ(nr, loop_ctl_add(self->lo.ctl, nr))
		TH_LOG("LOOP_CTL_ADD %d must return %d", nr, nr);
	EXPECT_TRUE(loop_exists(nr));

	fd = loop_open(nr, O_RDWR);
	ASSERT_LE(0, fd) TH_LOG("opening the new loop%d failed", nr);
	EXPECT_EQ(-ENXIO, loop_get_status64(fd, &info))
		TH_LOG("a freshly added device must be unbound");
	close(fd);
}

/* /dev/loopN and /sys/block/loopN appear with the right dev_t. */
TEST_F(ctl, add_creates_node_and_sysfs)
{
	int nr = ctl_unused_from(CTL_BASE_NR);
	char path[PATH_MAX], buf[64], want[64];
	struct stat st;

	ASSERT_FALSE(loop_exists(nr));
	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));

	EXPECT_EQ(0, loop_wait_node(nr, true))
		TH_LOG("/dev/loop%d did not appear within %d ms", nr,
		       LOOP_NODE_WAIT_MS);
	loop_dev_path(path, sizeof(path), nr);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(LOOP_BLOCK_MAJOR, major(st.st_rdev));
	EXPECT_EQ((unsigned int)nr << ctl_part_shift(), minor(st.st_rdev))
		TH_LOG("loop%d must use minor N << part_shift", nr);

	ASSERT_LT(0, loop_sysfs_read(nr, "dev", buf, sizeof(buf)))
		TH_LOG("/sys/block/loop%d/dev missing", nr);
	snprintf(want, sizeof(want), "%d:%d", LOOP_BLOCK_MAJOR,
		 nr << ctl_part_shift());
	EXPECT_STREQ(want, buf);
	EXPECT_EQ(0, loop_sysfs_ll(nr, "size"))
		TH_LOG("an unbound device has size 0");
}

/* LOOP_CTL_ADD of an existing number: EEXIST. */
TEST_F(ctl, add_existing)
{
	int nr = ctl_unused_from(CTL_BASE_NR);

	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));
	EXPECT_EQ(-EEXIST, loop_ctl_add(self->lo.ctl, nr))
		TH_LOG("adding loop%d twice must fail with EEXIST", nr);
	EXPECT_TRUE(loop_exists(nr));
}

/* LOOP_CTL_ADD of a bound device: still EEXIST, still bound. */
TEST_F(ctl, add_existing_bound)
{
	int nr = ctl_unused_from(CTL_BASE_NR);

	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));
	ASSERT_EQ(0, ctl_bind(nr, self->lo.backfd));
	EXPECT_EQ(-EEXIST, loop_ctl_add(self->lo.ctl, nr));
	EXPECT_EQ(1, loop_bound_state(nr))
		TH_LOG("a failed ADD must leave the bound device alone");
}

/* LOOP_CTL_ADD -1: a new device at the lowest unused number. */
TEST_F(ctl, add_minus_one_lowest_unused)
{
	int hole = ctl_unused_from(0);
	int above = ctl_unused_from(hole + 1);
	int third;

	/* Occupy the number right above the hole, so "max + 1" is wrong. */
	ASSERT_EQ(above, loop_ctl_add(self->lo.ctl, above));

	EXPECT_EQ(hole, loop_ctl_add(self->lo.ctl, -1UL))
		TH_LOG("ADD -1 must fill the lowest unused number %d", hole);
	EXPECT_TRUE(loop_exists(hole));

	third = ctl_unused_from(hole);
	EXPECT_EQ(third, loop_ctl_add(self->lo.ctl, -1UL))
		TH_LOG("a second ADD -1 must take %d", third);
}

/*
 * -1 as a 32-bit int: what a compat task sends, and what an int -1 passed
 * through ioctl()'s varargs becomes on x86-64.  It asks for any number too.
 */
TEST_F(ctl, add_minus_one_32bit)
{
	int hole = ctl_unused_from(0);

	EXPECT_EQ(hole, loop_ctl_add(self->lo.ctl, 0xffffffffUL))
		TH_LOG("ADD 0xffffffff must act as ADD -1 and take %d", hole);
	EXPECT_TRUE(loop_exists(hole));
}

/* The last device number the minor space allows can be added. */
TEST_F(ctl, add_last_minor)
{
	int last = (1 << (LOOP_MINORBITS - ctl_part_shift())) - 1;

	if (loop_exists(last))
		SKIP(return, "loop%d already exists", last);
	EXPECT_EQ(last, loop_ctl_add(self->lo.ctl, last))
		TH_LOG("loop%d is the last one whose minors fit", last);
	EXPECT_EQ(0, loop_wait_node(last, true));
}

/* A number removed can be added again. */
TEST_F(ctl, add_after_remove)
{
	int nr = ctl_unused_from(CTL_BASE_NR);
	long ret;

	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));
	ret = loop_ctl_remove(self->lo.ctl, nr);
	ASSERT_LE(0, ret);
	ASSERT_EQ(0, loop_wait_node(nr, false));
	EXPECT_EQ(nr, loop_ctl_add(self->lo.ctl, nr))
		TH_LOG("re-adding a removed number must work");
	EXPECT_EQ(0, loop_wait_node(nr, true));
}

/*
 * LOOP_CTL_REMOVE N returns N.
 * Deliberate difference from stock 6.12: stock returns 0; the seed commit
 * that introduced loop-control documents "returns the device i", and the
 * spec follows the seed.
 */
TEST_F(ctl, remove_returns_number)
{
	int nr = ctl_unused_from(CTL_BASE_NR);

	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));
	EXPECT_EQ(nr, loop_ctl_remove(self->lo.ctl, nr))
		TH_LOG("LOOP_CTL_REMOVE %d must return %d", nr, nr);
	EXPECT_FALSE(loop_exists(nr));
}

/* After REMOVE the node and sysfs go, and the device cannot be opened. */
TEST_F(ctl, removed_device_gone)
{
	int nr = ctl_unused_from(CTL_BASE_NR);
	char path[PATH_MAX];
	int fd;

	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));
	ASSERT_EQ(0, loop_wait_node(nr, true));
	ASSERT_LE(0, loop_ctl_remove(self->lo.ctl, nr));

	EXPECT_EQ(0, loop_wait_node(nr, false))
		TH_LOG("/dev/loop%d still there %d ms after REMOVE", nr,
		       LOOP_NODE_WAIT_MS);
	EXPECT_FALSE(loop_exists(nr))
		TH_LOG("/sys/block/loop%d still there after REMOVE", nr);

	loop_dev_path(path, sizeof(path), nr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	EXPECT_EQ(-1, fd) TH_LOG("a removed device must not open");
	if (fd >= 0) {
		close(fd);
	} else {
		EXPECT_TRUE(errno == ENOENT || errno == ENXIO)
			TH_LOG("open of removed loop%d: %s", nr, strerror(errno));
	}
}

/* LOOP_CTL_REMOVE of a number with no device: ENODEV. */
TEST_F(ctl, remove_missing)
{
	int nr = ctl_unused_from(CTL_BASE_NR);

	EXPECT_EQ(-ENODEV, loop_ctl_remove(self->lo.ctl, nr))
		TH_LOG("removing a missing loop%d must fail with ENODEV", nr);
	EXPECT_FALSE(loop_exists(nr));
}

/* LOOP_CTL_REMOVE of a bound device: EBUSY, and it stays bound. */
TEST_F(ctl, remove_bound)
{
	int nr = ctl_unused_from(CTL_BASE_NR);

	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));
	ASSERT_EQ(0, ctl_bind(nr, self->lo.backfd));

	EXPECT_EQ(-EBUSY, loop_ctl_remove(self->lo.ctl, nr))
		TH_LOG("a bound device must not be removable");
	EXPECT_TRUE(loop_exists(nr));
	EXPECT_EQ(1, loop_bound_state(nr));

	ASSERT_EQ(0, loop_unbind(nr));
	EXPECT_LE(0, loop_ctl_remove(self->lo.ctl, nr))
		TH_LOG("once unbound the device must be removable");
}

/* LOOP_CTL_REMOVE of a device someone holds open: EBUSY. */
TEST_F(ctl, remove_open)
{
	int nr = ctl_unused_from(CTL_BASE_NR);
	int fd;

	ASSERT_EQ(nr, loop_ctl_add(self->lo.ctl, nr));
	fd = loop_open(nr, O_RDONLY);
	ASSERT_LE(0, fd);

	EXPECT_EQ(-EBUSY, loop_ctl_remove(self->lo.ctl, nr))
		TH_LOG("an open device must not be removable");
	EXPECT_TRUE(loop_exists(nr));

	close(fd);
	EXPECT_LE(0, loop_ctl_remove(self->lo.ctl, nr))
		TH_LOG("after the last close the device must be removable");
}

/* GET_FREE returns the lowest-numbered unbound device. */
TEST_F(ctl, get_free_lowest_unbound)
{
	int want = loop_lowest_unbound();
	long ret;

	if (want < 0)
		want = loop_lowest_unused();
	ret = loop_ctl_get_free(self->lo.ctl);
	EXPECT_EQ(want, ret)
		TH_LOG("GET_FREE must return loop%d", want);
	EXPECT_TRUE(loop_exists(ret));
	EXPECT_EQ(0, loop_bound_state(ret));
}

/* GET_FREE skips bound devices and returns to a device once it is free. */
TEST_F(ctl, get_free_skips_bound)
{
	long first, second, want;

	first = loop_ctl_get_free(self->lo.ctl);
	ASSERT_LE(0, first);
	ASSERT_EQ(0, ctl_bind(first, self->lo.backfd));

	second = loop_ctl_get_free(self->lo.ctl);
	ASSERT_LE(0, second);
	EXPECT_NE(first, second)
		TH_LOG("GET_FREE returned the bound loop%ld", first);
	want = loop_lowest_unbound();
	EXPECT_EQ(want, second);

	ASSERT_EQ(0, ctl_bind(second, self->lo.backfd));
	ASSERT_EQ(0, loop_unbind(first));
	EXPECT_EQ(first, loop_ctl_get_free(self->lo.ctl))
		TH_LOG("loop%ld is the lowest unbound again", first);
}

/*
 * GET_FREE follows the lowest free device as it is removed and added back:
 * the next free one stands in for it meanwhile.
 */
TEST_F(ctl, get_free_after_remove_lowest)
{
	long lowest, above, want;

	lowest = loop_ctl_get_free(self->lo.ctl);
	ASSERT_LE(0, lowest);
	above = ctl_unused_from(lowest + 1);
	ASSERT_EQ(above, loop_ctl_add(self->lo.ctl, above));

	ASSERT_EQ(lowest, loop_ctl_remove(self->lo.ctl, lowest));
	want = loop_lowest_unbound();
	ASSERT_LT(lowest, want) TH_LOG("loop%ld at least is free", above);
	EXPECT_EQ(want, loop_ctl_get_free(self->lo.ctl))
		TH_LOG("GET_FREE must not return the removed loop%ld", lowest);

	ASSERT_EQ(lowest, loop_ctl_add(self->lo.ctl, lowest));
	EXPECT_EQ(lowest, loop_ctl_get_free(self->lo.ctl))
		TH_LOG("loop%ld is the lowest free device again", lowest);
}

/* GET_FREE adds a device at the lowest unused number when all are bound. */
TEST_F(ctl, get_free_allocates_when_all_bound)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n, want;
	long ret;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	if (n > 64)
		SKIP(return, "%d devices: too many to bind them all", n);
	for (i = 0; i < n; i++) {
		if (loop_bound_state(ids[i]) == 0) {
			ASSERT_EQ(0, ctl_bind(ids[i], self->lo.backfd))
				TH_LOG("cannot bind loop%d", ids[i]);
		}
	}
	ASSERT_EQ(-1, loop_lowest_unbound());

	want = loop_lowest_unused();
	ret = loop_ctl_get_free(self->lo.ctl);
	EXPECT_EQ(want, ret)
		TH_LOG("with every device bound GET_FREE must add loop%d", want);
	EXPECT_TRUE(loop_exists(want));
	EXPECT_EQ(0, loop_wait_node(want, true));
	EXPECT_EQ(0, loop_bound_state(want));
}

/* GET_FREE ignores its argument. */
TEST_F(ctl, get_free_ignores_argument)
{
	long plain, with_arg;

	plain = loop_ctl_get_free(self->lo.ctl);
	ASSERT_LE(0, plain);
	with_arg = loop_ctl_ioctl(self->lo.ctl, LOOP_CTL_GET_FREE, 12345);
	EXPECT_EQ(plain, with_arg);
	with_arg = loop_ctl_ioctl(self->lo.ctl, LOOP_CTL_GET_FREE, -1UL);
	EXPECT_EQ(plain, with_arg);
}

/* Any other ioctl on the control node: LOOP_CTL_UNKNOWN_ERRNO. */
TEST_F(ctl, unknown_ioctl)
{
	int ids[LOOP_MAX_DEVICES];
	int before = loop_list(ids, LOOP_MAX_DEVICES);

	EXPECT_EQ(-LOOP_CTL_UNKNOWN_ERRNO,
		  loop_ctl_ioctl(self->lo.ctl, 0x4C83, 0));
	EXPECT_EQ(-LOOP_CTL_UNKNOWN_ERRNO,
		  loop_ctl_ioctl(self->lo.ctl, 0x4C7F, 0));
	EXPECT_EQ(-LOOP_CTL_UNKNOWN_ERRNO,
		  loop_ctl_ioctl(self->lo.ctl, LOOP_SET_FD, self->lo.backfd))
		TH_LOG("per-device ioctls mean nothing on loop-control");
	EXPECT_EQ(-LOOP_CTL_UNKNOWN_ERRNO,
		  loop_ctl_ioctl(self->lo.ctl, LOOP_CLR_FD, 0));
	EXPECT_EQ(-LOOP_CTL_UNKNOWN_ERRNO,
		  loop_ctl_ioctl(self->lo.ctl, _IO('L', 0x8F), 0));
	EXPECT_EQ(before, loop_list(ids, LOOP_MAX_DEVICES))
		TH_LOG("an unknown ioctl must not add or remove devices");
}

/* --- LOOP_CTL_ADD with an argument it must refuse ---------------------- */

FIXTURE(ctl_add_bad) {
	struct loop_fixture lo;	/* the control fd only */
};

FIXTURE_VARIANT(ctl_add_bad) {
	unsigned long arg;
	/* Compute arg as (1 << (MINORBITS - part_shift)) + arg instead. */
	bool past_minor_range;
	/* Device number the low 32 bits name, which must not appear. */
	long alias;
};

/*
 * Deliberate difference from stock 6.12: stock turns every negative
 * argument into "allocate any number", so -2 adds a device.
 */
FIXTURE_VARIANT_ADD(ctl_add_bad, minus_two) {
	.arg = -2UL,
	.alias = -1,
};

/*
 * Deliberate difference from stock 6.12: stock truncates to int, 2^31
 * becomes INT_MIN, a negative number, and a new device is allocated.
 */
FIXTURE_VARIANT_ADD(ctl_add_bad, two_pow_31) {
	.arg = 0x80000000UL,
	.alias = -1,
};

FIXTURE_VARIANT_ADD(ctl_add_bad, int_max) {
	.arg = 0x7fffffffUL,
	.alias = -1,
};

/* Truncated to 32 bits this is 0x200000, itself past the minor space. */
FIXTURE_VARIANT_ADD(ctl_add_bad, above_int_max) {
	.arg = 0x80000200000UL,
	.alias = 0x200000,
};

/*
 * Deliberate difference from stock 6.12: stock truncates the argument to
 * int and would add loop150 here; the spec says never truncate.
 */
FIXTURE_VARIANT_ADD(ctl_add_bad, truncates_to_small) {
	.arg = (1UL << 32) | 150,
	.alias = 150,
};

FIXTURE_VARIANT_ADD(ctl_add_bad, past_minor_range) {
	.arg = 0,
	.past_minor_range = true,
	.alias = -1,
};

FIXTURE_VARIANT_ADD(ctl_add_bad, far_past_minor_range) {
	.arg = 1000,
	.past_minor_range = true,
	.alias = -1,
};

FIXTURE_SETUP(ctl_add_bad)
{
	loop_fixture_start(_metadata, &self->lo, 0, 0);
}

FIXTURE_TEARDOWN(ctl_add_bad)
{
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

/* Refused with EINVAL, and no device appears anywhere. */
TEST_F(ctl_add_bad, einval)
{
	unsigned long arg = ctl_bad_arg(variant->arg,
					variant->past_minor_range);
	int ids[LOOP_MAX_DEVICES];
	int before, after;
	long ret;

	if (variant->alias >= 0 && loop_exists(variant->alias))
		SKIP(return, "loop%ld already exists", variant->alias);

	before = loop_list(ids, LOOP_MAX_DEVICES);
	ret = loop_ctl_add(self->lo.ctl, arg);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("LOOP_CTL_ADD %#lx must fail with EINVAL, got %ld",
		       arg, ret);
	after = loop_list(ids, LOOP_MAX_DEVICES);
	EXPECT_EQ(before, after)
		TH_LOG("a refused ADD must not create any device");
	if (variant->alias >= 0) {
		EXPECT_FALSE(loop_exists(variant->alias))
			TH_LOG("%#lx was truncated into loop%ld", arg,
			       variant->alias);
	}
}

/* --- LOOP_CTL_REMOVE with an argument it must refuse ------------------- */

FIXTURE(ctl_remove_bad) {
	struct loop_fixture lo;	/* the control fd only */
	int victim;		/* a device the argument aliases, or -1 */
};

FIXTURE_VARIANT(ctl_remove_bad) {
	unsigned long arg;
	bool past_minor_range;
	/* Add a device and put its number in the low 32 bits of arg. */
	bool alias_victim;
};

FIXTURE_VARIANT_ADD(ctl_remove_bad, minus_one) {
	.arg = -1UL,
};

FIXTURE_VARIANT_ADD(ctl_remove_bad, minus_two) {
	.arg = -2UL,
};

FIXTURE_VARIANT_ADD(ctl_remove_bad, two_pow_31) {
	.arg = 0x80000000UL,
};

/*
 * Deliberate difference from stock 6.12: stock looks the number up and
 * answers ENODEV; the spec calls a number outside the minor space EINVAL.
 */
FIXTURE_VARIANT_ADD(ctl_remove_bad, past_minor_range) {
	.arg = 0,
	.past_minor_range = true,
};

/*
 * Deliberate difference from stock 6.12: stock truncates to int and
 * removes the device named by the low 32 bits; the spec never truncates.
 */
FIXTURE_VARIANT_ADD(ctl_remove_bad, truncates_to_existing) {
	.arg = 1UL << 32,
	.alias_victim = true,
};

FIXTURE_SETUP(ctl_remove_bad)
{
	self->victim = -1;
	loop_fixture_start(_metadata, &self->lo, 0, 0);
}

FIXTURE_TEARDOWN(ctl_remove_bad)
{
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

/* Refused with EINVAL, and no device goes away. */
TEST_F(ctl_remove_bad, einval)
{
	unsigned long arg = ctl_bad_arg(variant->arg,
					variant->past_minor_range);
	int ids[LOOP_MAX_DEVICES];
	int before;
	long ret;

	if (variant->alias_victim) {
		self->victim = ctl_unused_from(CTL_BASE_NR);
		ASSERT_EQ(self->victim, loop_ctl_add(self->lo.ctl,
						     self->victim));
		arg |= self->victim;
	}

	before = loop_list(ids, LOOP_MAX_DEVICES);
	ret = loop_ctl_remove(self->lo.ctl, arg);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("LOOP_CTL_REMOVE %#lx must fail with EINVAL, got %ld",
		       arg, ret);
	EXPECT_EQ(before, loop_list(ids, LOOP_MAX_DEVICES))
		TH_LOG("a refused REMOVE must not remove any device");
	if (self->victim >= 0) {
		EXPECT_TRUE(loop_exists(self->victim))
			TH_LOG("%#lx was truncated into loop%d and removed it",
			       arg, self->victim);
	}
}

TEST_HARNESS_MAIN
