// SPDX-License-Identifier: GPL-2.0
/*
 * Module unload: refused while anything holds the driver (a bound device,
 * an open device, an open control node), allowed otherwise, and repeated
 * load/unload cycles with devices present keep working.
 *
 * The refusal comes from the module core (delete_module(2) fails with
 * EWOULDBLOCK, which is EAGAIN) when the module's reference count is not
 * zero; stock takes a module reference for every bound device, so a bound
 * device whose descriptors are all closed still pins the module.
 */
#include "../kselftest_harness.h"
#include "loop_lib.h"

FIXTURE(unload) {
	struct loop_fixture lo;	/* a backing file full of 0x3c */
};

FIXTURE_SETUP(unload)
{
	loop_fixture_init(&self->lo);
	if (loop_module_not_ready())
		SKIP(return, "%s", loop_module_not_ready());
	/*
	 * Not loop_fixture_setup(): its control fd would keep the module in,
	 * and a snapshot means nothing across a reload.
	 */
	self->lo.backfd = loop_backing_create(self->lo.backing,
					      sizeof(self->lo.backing),
					      LOOP_BACKING_SIZE, 0x3c);
	ASSERT_LE(0, self->lo.backfd);
}

FIXTURE_TEARDOWN(unload)
{
	if (self->lo.fd >= 0)
		close(self->lo.fd);
	if (self->lo.ctl >= 0)
		close(self->lo.ctl);
	if (loop_module_loaded())
		loop_unbind_all();
	if (self->lo.backfd >= 0)
		close(self->lo.backfd);
	if (self->lo.backing[0])
		unlink(self->lo.backing);
	EXPECT_EQ(0, loop_module_reload(""))
		TH_LOG("could not restore the module with default parameters");
	EXPECT_TRUE(loop_have_exactly(8));
}

/* Bind a free device and close every descriptor; returns its number. */
static int unload_bind_and_close(int backfd, uint32_t flags)
{
	long nr;
	int ctl, fd, ret;

	ctl = loop_ctl_open();
	if (ctl < 0)
		return ctl;
	nr = loop_ctl_get_free(ctl);
	close(ctl);
	if (nr < 0)
		return nr;
	fd = loop_open(nr, O_RDWR);
	if (fd < 0)
		return fd;
	ret = loop_configure(fd, backfd, flags, 0, 0, 0, NULL);
	close(fd);
	return ret ? ret : nr;
}

/* A bound device with no opener still keeps the module in. */
TEST_F(unload, refused_while_bound)
{
	int nr = unload_bind_and_close(self->lo.backfd, 0);

	ASSERT_LE(0, nr);
	EXPECT_EQ(-EWOULDBLOCK, loop_module_unload())
		TH_LOG("unloading with loop%d bound must be refused", nr);
	EXPECT_TRUE(loop_module_loaded());
	EXPECT_EQ(1, loop_bound_state(nr))
		TH_LOG("the refused unload must not touch the device");
}

/* An open (unbound) device keeps the module in. */
TEST_F(unload, refused_while_device_open)
{
	self->lo.fd = loop_open(0, O_RDONLY);
	ASSERT_LE(0, self->lo.fd);
	EXPECT_EQ(-EWOULDBLOCK, loop_module_unload());
	EXPECT_TRUE(loop_module_loaded());
	close(self->lo.fd);
	self->lo.fd = -1;
	EXPECT_EQ(0, loop_module_unload_wait())
		TH_LOG("after the close the module may go");
}

/* An open /dev/loop-control keeps the module in. */
TEST_F(unload, refused_while_control_open)
{
	self->lo.ctl = loop_ctl_open();
	ASSERT_LE(0, self->lo.ctl);
	EXPECT_EQ(-EWOULDBLOCK, loop_module_unload());
	EXPECT_TRUE(loop_module_loaded());
	EXPECT_LE(0, loop_ctl_get_free(self->lo.ctl))
		TH_LOG("the control node still works after a refused unload");
}

/* Once the device is unbound the module can be unloaded. */
TEST_F(unload, allowed_after_unbind)
{
	int nr = unload_bind_and_close(self->lo.backfd, 0);

	ASSERT_LE(0, nr);
	ASSERT_EQ(0, loop_unbind(nr));
	EXPECT_EQ(0, loop_module_unload_wait());
	EXPECT_FALSE(loop_module_loaded());
	EXPECT_FALSE(loop_exists(0)) TH_LOG("unload removes every device");
	EXPECT_EQ(0, loop_wait_node(0, false));
}

/* An autoclear device unbinds at its last close and lets the module go. */
TEST_F(unload, allowed_after_autoclear)
{
	int nr = unload_bind_and_close(self->lo.backfd, LO_FLAGS_AUTOCLEAR);

	ASSERT_LE(0, nr);
	EXPECT_EQ(0, loop_wait_unbound(nr, LOOP_NODE_WAIT_MS));
	EXPECT_EQ(0, loop_module_unload_wait());
	EXPECT_FALSE(loop_module_loaded());
}

/* Unloading with many added (unbound) devices removes them all. */
TEST_F(unload, many_devices)
{
	long ret;
	int i;

	self->lo.ctl = loop_ctl_open();
	ASSERT_LE(0, self->lo.ctl);
	for (i = 0; i < 64; i++) {
		/* Kept braced: ASSERT_EQ expands to more than one statement. */
		ret = loop_ctl_add(self->lo.ctl, 100 + i);
		ASSERT_EQ(100 + i, ret)
			TH_LOG("LOOP_CTL_ADD %d", 100 + i);
	}
	close(self->lo.ctl);
	self->lo.ctl = -1;

	EXPECT_EQ(0, loop_module_unload_wait());
	EXPECT_FALSE(loop_exists(100));
	EXPECT_FALSE(loop_exists(163));
	EXPECT_EQ(0, loop_module_load(""));
	EXPECT_TRUE(loop_have_exactly(8))
		TH_LOG("a fresh load starts from loop0..loop7 again");
}

/* Load, use some devices, unload: over and over. */
TEST_F_TIMEOUT(unload, cycles, 300)
{
	const char *env = getenv("LOOP_UNLOAD_CYCLES");
	int cycles = env && *env ? atoi(env) : 20;
	unsigned char buf[4096];
	int cycle;

	for (cycle = 0; cycle < cycles; cycle++) {
		int extra = 8 + cycle % 4, far = 200 + cycle;
		long nr;
		int ret;

		self->lo.ctl = loop_ctl_open();
		ASSERT_LE(0, self->lo.ctl) TH_LOG("cycle %d", cycle);
		ASSERT_EQ(extra, loop_ctl_add(self->lo.ctl, extra))
			TH_LOG("cycle %d: ADD %d", cycle, extra);
		ASSERT_EQ(far, loop_ctl_add(self->lo.ctl, far));
		nr = loop_ctl_get_free(self->lo.ctl);
		ASSERT_LE(0, nr);

		/* Some I/O through one of them, then let it go again. */
		self->lo.fd = loop_open(far, O_RDWR);
		ASSERT_LE(0, self->lo.fd);
		ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD,
					self->lo.backfd));
		ASSERT_EQ(sizeof(buf), pread(self->lo.fd, buf, sizeof(buf), 0));
		EXPECT_EQ(-1, loop_mem_check(buf, sizeof(buf), 0x3c));
		ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
		close(self->lo.fd);
		self->lo.fd = -1;
		close(self->lo.ctl);
		self->lo.ctl = -1;
		ASSERT_EQ(0, loop_wait_unbound(far, LOOP_NODE_WAIT_MS));

		ret = loop_module_unload_wait();
		ASSERT_EQ(0, ret) TH_LOG("cycle %d: unload: %s", cycle,
					 strerror(-ret));
		ASSERT_FALSE(loop_exists(far));
		ASSERT_FALSE(loop_module_loaded());

		ret = loop_module_load("");
		ASSERT_EQ(0, ret) TH_LOG("cycle %d: load: %s", cycle,
					 strerror(-ret));
		ASSERT_TRUE(loop_have_exactly(8))
			TH_LOG("cycle %d: devices left over from before", cycle);
	}
}

TEST_HARNESS_MAIN
