// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters (max_loop, max_part, hw_queue_depth), legacy autoload
 * through the block major, and the module's aliases.  Every test reloads the
 * loop module and the teardown puts it back with default parameters.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"

static int params_read_int(const char *name)
{
	char path[PATH_MAX], buf[32];

	snprintf(path, sizeof(path), "/sys/module/loop/parameters/%s", name);
	if (loop_read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	return atoi(buf);
}

/*
 * The teardown of a fixture whose test reloaded the module: close what the
 * test left open, unbind every device and load loop with defaults again.
 * There is no snapshot to restore: the reload is what restores.
 */
static void params_restore(struct __test_metadata *_metadata,
			   struct loop_fixture *lo)
{
	if (lo->fd >= 0)
		close(lo->fd);
	if (lo->ctl >= 0)
		close(lo->ctl);
	loop_unbind_all();
	if (lo->backfd >= 0)
		close(lo->backfd);
	if (lo->backing[0])
		unlink(lo->backing);
	EXPECT_EQ(0, loop_module_reload(""))
		TH_LOG("could not restore the module with default parameters");
	EXPECT_TRUE(loop_have_exactly(8));
}

FIXTURE(params) {
	struct loop_fixture lo;	/* only what a test opens or makes */
	char node[PATH_MAX];	/* a device node of our own */
};

FIXTURE_SETUP(params)
{
	loop_fixture_init(&self->lo);
	self->node[0] = '\0';
	if (loop_module_not_ready())
		SKIP(return, "%s", loop_module_not_ready());
}

FIXTURE_TEARDOWN(params)
{
	if (self->node[0])
		unlink(self->node);
	params_restore(_metadata, &self->lo);
}

/* Without parameters: eight devices, loop0 .. loop7, and the defaults. */
TEST_F(params, defaults)
{
	ASSERT_EQ(0, loop_module_reload(""));
	EXPECT_TRUE(loop_have_exactly(8))
		TH_LOG("a default load pre-creates loop0..loop7");
	EXPECT_EQ(8, params_read_int("max_loop"));
	EXPECT_EQ(0, params_read_int("max_part"));
	EXPECT_EQ(128, params_read_int("hw_queue_depth"));
	EXPECT_EQ(0, loop_wait_node(7, true));
	EXPECT_TRUE(loop_node_present(0));
	EXPECT_EQ(0, access(LOOP_CTL_PATH, F_OK));
}

/* The parameters are read-only in sysfs (0444). */
TEST_F(params, read_only_in_sysfs)
{
	static const char * const names[] = {
		"max_loop", "max_part", "hw_queue_depth",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "/sys/module/loop/parameters/%s",
			 names[i]);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s missing", path);
		EXPECT_EQ(0444, st.st_mode & 0777)
			TH_LOG("%s has mode %o", path, st.st_mode & 0777);
	}
}

/* max_loop=0: no device until one is asked for. */
TEST_F(params, max_loop_zero)
{
	long nr;

	ASSERT_EQ(0, loop_module_reload("max_loop=0"));
	EXPECT_TRUE(loop_have_exactly(0))
		TH_LOG("max_loop=0 pre-creates nothing");
	EXPECT_FALSE(loop_node_present(0));

	self->lo.ctl = loop_ctl_open();
	ASSERT_LE(0, self->lo.ctl);
	nr = loop_ctl_get_free(self->lo.ctl);
	EXPECT_EQ(0, nr) TH_LOG("GET_FREE then adds loop0");
	EXPECT_EQ(0, loop_wait_node(0, true));
}

/*
 * max_loop=0 given explicitly still lets an old static node create its
 * device: stock treats 0 as "no limit" for legacy autoload.
 */
TEST_F(params, max_loop_zero_autoload)
{
	ASSERT_EQ(0, loop_module_reload("max_loop=0"));
	ASSERT_EQ(0, loop_mknod(self->node, sizeof(self->node), 3));
	self->lo.fd = open(self->node, O_RDONLY | O_CLOEXEC);
	EXPECT_LE(0, self->lo.fd) TH_LOG("opening 7:3 must create loop3: %s",
					 strerror(errno));
	EXPECT_TRUE(loop_exists(3));
}

/* max_loop=4: exactly loop0 .. loop3. */
TEST_F(params, max_loop_four)
{
	ASSERT_EQ(0, loop_module_reload("max_loop=4"));
	EXPECT_TRUE(loop_have_exactly(4))
		TH_LOG("max_loop=4 pre-creates loop0..loop3 and no more");
	EXPECT_EQ(4, params_read_int("max_loop"));
}

/* With max_loop=4 opening 7:5 does not create loop5. */
TEST_F(params, max_loop_limits_autoload)
{
	ASSERT_EQ(0, loop_module_reload("max_loop=4"));
	ASSERT_EQ(0, loop_mknod(self->node, sizeof(self->node), 5));
	self->lo.fd = open(self->node, O_RDONLY | O_CLOEXEC);
	EXPECT_EQ(-1, self->lo.fd)
		TH_LOG("7:5 is at or above max_loop and must not autoload");
	if (self->lo.fd < 0)
		EXPECT_EQ(ENXIO, errno);
	EXPECT_FALSE(loop_exists(5));
}

/* Below max_loop, opening the node of a removed device re-creates it. */
TEST_F(params, autoload_below_max_loop)
{
	ASSERT_EQ(0, loop_module_reload("max_loop=4"));
	self->lo.ctl = loop_ctl_open();
	ASSERT_LE(0, self->lo.ctl);
	ASSERT_LE(0, loop_ctl_remove(self->lo.ctl, 2));
	ASSERT_FALSE(loop_exists(2));

	ASSERT_EQ(0, loop_mknod(self->node, sizeof(self->node), 2));
	self->lo.fd = open(self->node, O_RDONLY | O_CLOEXEC);
	EXPECT_LE(0, self->lo.fd)
		TH_LOG("opening 7:2 must bring loop2 back: %s",
		       strerror(errno));
	EXPECT_TRUE(loop_exists(2));
}

/* max_loop does not limit LOOP_CTL_ADD or GET_FREE. */
TEST_F(params, max_loop_does_not_limit_control)
{
	int i, fd;

	ASSERT_EQ(0, loop_module_reload("max_loop=2"));
	self->lo.ctl = loop_ctl_open();
	ASSERT_LE(0, self->lo.ctl);

	self->lo.backfd = loop_backing_create(self->lo.backing,
					      sizeof(self->lo.backing),
					      LOOP_BACKING_SIZE, 0);
	ASSERT_LE(0, self->lo.backfd);
	/* Bind loop0 and loop1: GET_FREE must now go beyond max_loop. */
	for (i = 0; i < 2; i++) {
		fd = loop_open(i, O_RDWR);
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, loop_ioctl(fd, LOOP_SET_FD, self->lo.backfd));
		close(fd);
	}
	EXPECT_EQ(2, loop_ctl_get_free(self->lo.ctl))
		TH_LOG("GET_FREE adds loop2 even though max_loop=2");
	EXPECT_TRUE(loop_exists(2));
	EXPECT_EQ(10, loop_ctl_add(self->lo.ctl, 10))
		TH_LOG("ADD is not limited by max_loop either");
}

/* Default load (max_loop not given): any number autoloads. */
TEST_F(params, default_autoload_any_number)
{
	ASSERT_EQ(0, loop_module_reload(""));
	ASSERT_FALSE(loop_exists(20));
	ASSERT_EQ(0, loop_mknod(self->node, sizeof(self->node), 20));
	self->lo.fd = open(self->node, O_RDONLY | O_CLOEXEC);
	EXPECT_LE(0, self->lo.fd)
		TH_LOG("opening 7:20 must create loop20: %s", strerror(errno));
	EXPECT_TRUE(loop_exists(20));
}

/* Opening a 10:237 node while loop is unloaded loads it. */
TEST_F(params, control_node_autoloads_module)
{
	char path[PATH_MAX];

	ASSERT_EQ(0, loop_module_unload_wait());
	ASSERT_FALSE(loop_module_loaded());

	snprintf(path, sizeof(path), "/dev/ksft-loop-control-%d", getpid());
	unlink(path);
	ASSERT_EQ(0, mknod(path, S_IFCHR | 0600, makedev(10, 237)));
	snprintf(self->node, sizeof(self->node), "%s", path);

	self->lo.ctl = open(path, O_RDWR | O_CLOEXEC);
	EXPECT_LE(0, self->lo.ctl)
		TH_LOG("opening 10:237 must load loop: %s", strerror(errno));
	EXPECT_TRUE(loop_module_loaded());
	if (self->lo.ctl >= 0) {
		EXPECT_LE(0, loop_ctl_get_free(self->lo.ctl))
			TH_LOG("and the control node must work");
	}
	if (!loop_module_loaded())
		loop_module_load("");
}

/* The module carries the aliases that autoload it. */
TEST_F(params, module_aliases)
{
	static const char * const aliases[] = {
		"alias=devname:loop-control",
		"alias=char-major-10-237",
		"alias=block-major-7-",
	};
	const char *ko = loop_module_file();
	unsigned int i;
	struct stat st;
	char *image;
	int fd;

	if (!*ko)
		SKIP(return, "module file unknown (set LOOP_MODULE)");
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	image = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, image);
	if (!memcmp(image, LOOP_XZ_MAGIC, 5)) {
		munmap(image, st.st_size);
		SKIP(return, "%s is compressed", ko);
	}
	for (i = 0; i < ARRAY_SIZE(aliases); i++) {
		const char *a = aliases[i] ? aliases[i] : "";

		EXPECT_NE(NULL, memmem(image, st.st_size, a, strlen(a)))
			TH_LOG("%s lacks %s", ko, a);
	}
	munmap(image, st.st_size);
}

/* hw_queue_depth=4 is taken and sizes the queue. */
TEST_F(params, hw_queue_depth)
{
	char sched[128];

	ASSERT_EQ(0, loop_module_reload("hw_queue_depth=4"));
	EXPECT_EQ(4, params_read_int("hw_queue_depth"));
	ASSERT_LT(0, loop_sysfs_read(0, "queue/scheduler", sched,
				     sizeof(sched)));
	if (strstr(sched, "[none]")) {
		EXPECT_EQ(4, loop_sysfs_ll(0, "queue/nr_requests"))
			TH_LOG("without a scheduler nr_requests is the depth");
	}
}

/* --- max_part: rounding, minors and partition scanning ----------------- */

FIXTURE(part) {
	struct loop_fixture lo;	/* only what a test opens or makes */
};

FIXTURE_VARIANT(part) {
	const char *params;
	int max_part;		/* as the module reports it after rounding */
};

FIXTURE_VARIANT_ADD(part, max_part_15) {
	.params = "max_part=15",
	.max_part = 15,
};

FIXTURE_VARIANT_ADD(part, max_part_5_rounds_to_7) {
	.params = "max_part=5",
	.max_part = 7,
};

FIXTURE_VARIANT_ADD(part, max_part_16_rounds_to_31) {
	.params = "max_part=16",
	.max_part = 31,
};

FIXTURE_VARIANT_ADD(part, max_part_255) {
	.params = "max_part=255",
	.max_part = 255,
};

FIXTURE_SETUP(part)
{
	loop_fixture_init(&self->lo);
	if (loop_module_not_ready())
		SKIP(return, "%s", loop_module_not_ready());
}

FIXTURE_TEARDOWN(part)
{
	params_restore(_metadata, &self->lo);
}

/* max_part is rounded to 2^k - 1 and devices use minors N << k. */
TEST_F(part, minors)
{
	int shift = 0, m = variant->max_part;
	char want[32], buf[32];

	while (m > 0) {
		shift++;
		m >>= 1;
	}
	ASSERT_EQ(0, loop_module_reload(variant->params));
	EXPECT_EQ(variant->max_part, params_read_int("max_part"));
	EXPECT_TRUE(loop_have_exactly(8));

	snprintf(want, sizeof(want), "%d:%d", LOOP_BLOCK_MAJOR, 3 << shift);
	ASSERT_LT(0, loop_sysfs_read(3, "dev", buf, sizeof(buf)));
	EXPECT_STREQ(want, buf);
	EXPECT_EQ(variant->max_part + 1, loop_sysfs_ll(3, "range"))
		TH_LOG("each device reserves max_part + 1 minors");
}

/* With max_part every bind scans partitions; unbind drops them. */
TEST_F(part, scans_partitions)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_module_reload(variant->params));
	self->lo.backfd = loop_backing_create(self->lo.backing,
					      sizeof(self->lo.backing), 4 << 20,
					      0);
	ASSERT_LE(0, self->lo.backfd);
	ASSERT_EQ(0, loop_write_mbr(self->lo.backfd, 2048, 4096));

	self->lo.fd = loop_open(1, O_RDWR);
	ASSERT_LE(0, self->lo.fd);
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd))
		TH_LOG("plain SET_FD, no PARTSCAN flag asked for");
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(LO_FLAGS_PARTSCAN, info.lo_flags & LO_FLAGS_PARTSCAN)
		TH_LOG("max_part forces PARTSCAN");

	EXPECT_EQ(0, loop_wait_path("/dev/loop1p1", true, LOOP_NODE_WAIT_MS))
		TH_LOG("/dev/loop1p1 must appear");
	EXPECT_EQ(4096, loop_sysfs_ll(1, "loop1p1/size"));
	EXPECT_EQ(2048, loop_sysfs_ll(1, "loop1p1/start"));

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	close(self->lo.fd);
	self->lo.fd = -1;
	EXPECT_EQ(0, loop_wait_unbound(1, LOOP_NODE_WAIT_MS));
	EXPECT_EQ(0, loop_wait_path("/dev/loop1p1", false, LOOP_NODE_WAIT_MS))
		TH_LOG("unbind must drop the partitions");
}

/* With max_part the device numbers end where the minors run out. */
TEST_F(part, add_range)
{
	int shift = 0, m = variant->max_part, ctl, limit;

	while (m > 0) {
		shift++;
		m >>= 1;
	}
	limit = 1 << (LOOP_MINORBITS - shift);
	ASSERT_EQ(0, loop_module_reload(variant->params));
	ctl = loop_ctl_open();
	ASSERT_LE(0, ctl);
	EXPECT_EQ(-EINVAL, loop_ctl_add(ctl, limit))
		TH_LOG("loop%d needs minors past 2^20", limit);
	EXPECT_EQ(limit - 1, loop_ctl_add(ctl, limit - 1))
		TH_LOG("loop%d is the last one that fits", limit - 1);
	close(ctl);
}

/* --- loads that must fail ---------------------------------------------- */

FIXTURE(badload) {
	int unused;
};

FIXTURE_VARIANT(badload) {
	const char *params;
};

/* 2^9 minors per device is more than DISK_MAX_PARTS (256). */
FIXTURE_VARIANT_ADD(badload, max_part_256) { .params = "max_part=256" };
FIXTURE_VARIANT_ADD(badload, max_part_1000000) {
	.params = "max_part=1000000"
};

/* More devices than 2^20 minors hold. */
FIXTURE_VARIANT_ADD(badload, max_loop_2000000) {
	.params = "max_loop=2000000"
};

/* With 16 minors a device, 2^16 devices is the most. */
FIXTURE_VARIANT_ADD(badload, max_loop_65537_max_part_15) {
	.params = "max_part=15 max_loop=65537"
};

FIXTURE_VARIANT_ADD(badload, hw_queue_depth_0) {
	.params = "hw_queue_depth=0"
};

FIXTURE_VARIANT_ADD(badload, hw_queue_depth_negative) {
	.params = "hw_queue_depth=-1"
};

FIXTURE_SETUP(badload)
{
	if (loop_module_not_ready())
		SKIP(return, "%s", loop_module_not_ready());
}

FIXTURE_TEARDOWN(badload)
{
	loop_unbind_all();
	if (loop_module_loaded())
		EXPECT_EQ(0, loop_module_unload_wait());
	EXPECT_EQ(0, loop_module_load(""))
		TH_LOG("could not restore the module with default parameters");
	EXPECT_TRUE(loop_have_exactly(8));
}

/* The load fails with EINVAL and leaves no module behind. */
TEST_F(badload, einval)
{
	int ret;

	ASSERT_EQ(0, loop_module_unload_wait());
	ret = loop_module_load(variant->params);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("loading with '%s' must fail with EINVAL, got %d",
		       variant->params, ret);
	EXPECT_FALSE(loop_module_loaded());
	EXPECT_FALSE(loop_exists(0));
}

TEST_HARNESS_MAIN
