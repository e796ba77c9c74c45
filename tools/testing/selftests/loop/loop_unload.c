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

#define BACKING_SIZE	(1024 * 1024)

static void unload_unbind_all(void)
{
	int ids[512];
	int i, n;

	n = loop_list(ids, 512);
	for (i = 0; i < n; i++) {
		char path[PATH_MAX];
		int fd;

		loop_dev_path(path, sizeof(path), ids[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ioctl(fd, LOOP_CLR_FD, 0);
			close(fd);
		}
	}
	for (i = 0; i < n; i++)
		loop_unbind(ids[i]);
}

static bool unload_have_defaults(void)
{
	int ids[512];
	int i, n;

	n = loop_list(ids, 512);
	if (n != 8)
		return false;
	for (i = 0; i < n; i++)
		if (ids[i] != i)
			return false;
	return true;
}

FIXTURE(unload) {
	int ctl;
	int fd;
	int backfd;
	char backing[PATH_MAX];
};

FIXTURE_SETUP(unload)
{
	self->ctl = -1;
	self->fd = -1;
	self->backfd = -1;
	self->backing[0] = '\0';

	if (loop_not_ready())
		SKIP(return, "%s", loop_not_ready());
	if (!loop_module_loaded())
		SKIP(return, "loop is not a loaded module (built in?)");
	self->backfd = loop_backing_create(self->backing, sizeof(self->backing),
					   BACKING_SIZE, 0x3c);
	ASSERT_LE(0, self->backfd);
}

FIXTURE_TEARDOWN(unload)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->ctl >= 0)
		close(self->ctl);
	if (loop_module_loaded())
		unload_unbind_all();
	if (self->backfd >= 0)
		close(self->backfd);
	if (self->backing[0])
		unlink(self->backing);
	EXPECT_EQ(0, loop_module_reload(""))
		TH_LOG("could not restore the module with default parameters");
	EXPECT_TRUE(unload_have_defaults());
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
	int nr = unload_bind_and_close(self->backfd, 0);

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
	self->fd = loop_open(0, O_RDONLY);
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(-EWOULDBLOCK, loop_module_unload());
	EXPECT_TRUE(loop_module_loaded());
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(0, loop_module_unload_wait())
		TH_LOG("after the close the module may go");
}

/* An open /dev/loop-control keeps the module in. */
TEST_F(unload, refused_while_control_open)
{
	self->ctl = loop_ctl_open();
	ASSERT_LE(0, self->ctl);
	EXPECT_EQ(-EWOULDBLOCK, loop_module_unload());
	EXPECT_TRUE(loop_module_loaded());
	EXPECT_LE(0, loop_ctl_get_free(self->ctl))
		TH_LOG("the control node still works after a refused unload");
}

/* Once the device is unbound the module can be unloaded. */
TEST_F(unload, allowed_after_unbind)
{
	int nr = unload_bind_and_close(self->backfd, 0);

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
	int nr = unload_bind_and_close(self->backfd, LO_FLAGS_AUTOCLEAR);

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

	self->ctl = loop_ctl_open();
	ASSERT_LE(0, self->ctl);
	for (i = 0; i < 64; i++) {
		/* Kept braced: ASSERT_EQ expands to more than one statement. */
		ret = loop_ctl_add(self->ctl, 100 + i);
		ASSERT_EQ(100 + i, ret)
			TH_LOG("LOOP_CTL_ADD %d", 100 + i);
	}
	close(self->ctl);
	self->ctl = -1;

	EXPECT_EQ(0, loop_module_unload_wait());
	EXPECT_FALSE(loop_exists(100));
	EXPECT_FALSE(loop_exists(163));
	EXPECT_EQ(0, loop_module_load(""));
	EXPECT_TRUE(unload_have_defaults())
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

		self->ctl = loop_ctl_open();
		ASSERT_LE(0, self->ctl) TH_LOG("cycle %d", cycle);
		ASSERT_EQ(extra, loop_ctl_add(self->ctl, extra))
			TH_LOG("cycle %d: ADD %d", cycle, extra);
		ASSERT_EQ(far, loop_ctl_add(self->ctl, far));
		nr = loop_ctl_get_free(self->ctl);
		ASSERT_LE(0, nr);

		/* Some I/O through one of them, then let it go again. */
		self->fd = loop_open(far, O_RDWR);
		ASSERT_LE(0, self->fd);
		ASSERT_EQ(0, loop_ioctl(self->fd, LOOP_SET_FD, self->backfd));
		ASSERT_EQ(sizeof(buf), pread(self->fd, buf, sizeof(buf), 0));
		EXPECT_EQ(-1, loop_mem_check(buf, sizeof(buf), 0x3c));
		ASSERT_EQ(0, loop_ioctl(self->fd, LOOP_CLR_FD, 0));
		close(self->fd);
		self->fd = -1;
		close(self->ctl);
		self->ctl = -1;
		ASSERT_EQ(0, loop_wait_unbound(far, LOOP_NODE_WAIT_MS));

		ret = loop_module_unload_wait();
		ASSERT_EQ(0, ret) TH_LOG("cycle %d: unload: %s", cycle,
					 strerror(-ret));
		ASSERT_FALSE(loop_exists(far));
		ASSERT_FALSE(loop_module_loaded());

		ret = loop_module_load("");
		ASSERT_EQ(0, ret) TH_LOG("cycle %d: load: %s", cycle,
					 strerror(-ret));
		ASSERT_TRUE(unload_have_defaults())
			TH_LOG("cycle %d: devices left over from before", cycle);
	}
}

TEST_HARNESS_MAIN
