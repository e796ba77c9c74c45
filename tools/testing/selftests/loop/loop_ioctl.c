// SPDX-License-Identifier: GPL-2.0
/*
 * Per-device loop ioctls: binding, status, reconfiguration, and the errors
 * each one owes its caller.
 */
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/netlink.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"

/* The fields of struct loop_info64 that the user never sets. */
static void expect_identity(struct __test_metadata *_metadata,
			    const struct loop_info64 *info, int nr, int backfd)
{
	struct stat st;

	ASSERT_EQ(0, fstat(backfd, &st));
	EXPECT_EQ(nr, info->lo_number);
	EXPECT_EQ((uint64_t)st.st_dev, info->lo_device)
		TH_LOG("lo_device must be the backing file's st_dev");
	EXPECT_EQ((uint64_t)st.st_ino, info->lo_inode)
		TH_LOG("lo_inode must be the backing file's st_ino");
	EXPECT_EQ((uint64_t)st.st_rdev, info->lo_rdevice);
}

FIXTURE(dev) {
	struct loop_fixture lo;	/* backing file full of 0x5a */
	int fd2;		/* a second opener of a test device */
	int backfd2;		/* a second backing file */
	char backing2[PATH_MAX];
};

FIXTURE_SETUP(dev)
{
	self->fd2 = -1;
	self->backfd2 = -1;
	self->backing2[0] = '\0';
	loop_fixture_start(_metadata, &self->lo, LOOP_FIX_ALL, 0x5a);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd2 >= 0)
		close(self->fd2);
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
	if (self->backfd2 >= 0)
		close(self->backfd2);
	if (self->backing2[0])
		unlink(self->backing2);
}

/* LOOP_SET_FD binds with defaults; GET_STATUS64 reports them. */
TEST_F(dev, set_fd_get_status64)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));

	expect_identity(_metadata, &info, self->lo.nr, self->lo.backfd);
	EXPECT_EQ(0, info.lo_offset);
	EXPECT_EQ(0, info.lo_sizelimit);
	EXPECT_EQ(0, info.lo_flags)
		TH_LOG("a writable file bound by SET_FD has no flags, got %#x",
		       info.lo_flags);
	EXPECT_EQ(0, info.lo_encrypt_type);
	EXPECT_EQ(0, info.lo_file_name[0])
		TH_LOG("SET_FD sets no file name");
	EXPECT_EQ(LOOP_BACKING_SIZE, loop_dev_size(self->lo.fd));
}

/* LOOP_CONFIGURE stores lo_file_name, truncated to LO_NAME_SIZE - 1. */
TEST_F(dev, configure_file_name)
{
	char longname[LO_NAME_SIZE + 16];
	struct loop_info64 info;

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd, 0, 0, 0, 0,
				    longname));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(LO_NAME_SIZE - 1, strnlen((char *)info.lo_file_name,
					    LO_NAME_SIZE))
		TH_LOG("lo_file_name must be NUL-terminated within 64 bytes");
	EXPECT_EQ(0, memcmp(info.lo_file_name, longname, LO_NAME_SIZE - 1));
}

/* Binding a bound device: EBUSY from SET_FD and CONFIGURE alike. */
TEST_F(dev, set_fd_bound_ebusy)
{
	struct loop_info64 info;
	struct stat st;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	self->backfd2 = loop_backing_create(self->backing2,
					    sizeof(self->backing2),
					    LOOP_BACKING_SIZE, 0);
	ASSERT_LE(0, self->backfd2);

	EXPECT_EQ(-EBUSY, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->backfd2));
	EXPECT_EQ(-EBUSY, loop_configure(self->lo.fd, self->backfd2, 0, 0, 0, 0,
					 NULL));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	ASSERT_EQ(0, fstat(self->lo.backfd, &st));
	EXPECT_EQ((uint64_t)st.st_ino, info.lo_inode)
		TH_LOG("a refused bind must not replace the backing file");
}

/* A descriptor that is not open: EBADF, and the device stays unbound. */
TEST_F(dev, set_fd_bad_fd)
{
	struct loop_info64 info;
	int closed = dup(self->lo.backfd);

	ASSERT_LE(0, closed);
	close(closed);

	EXPECT_EQ(-EBADF, loop_ioctl(self->lo.fd, LOOP_SET_FD, closed));
	EXPECT_EQ(-EBADF, loop_ioctl(self->lo.fd, LOOP_SET_FD, -1UL));
	EXPECT_EQ(-EBADF, loop_configure(self->lo.fd, closed, 0, 0, 0, 0,
					 NULL));
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info))
		TH_LOG("a failed bind must leave the device unbound");
}

/* A loop device cannot be its own backing store: EBADF. */
TEST_F(dev, set_fd_self)
{
	struct loop_info64 info;
	char path[PATH_MAX];

	loop_dev_path(path, sizeof(path), self->lo.nr);
	self->fd2 = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd2);

	EXPECT_EQ(-EBADF, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->fd2))
		TH_LOG("binding loop%d onto itself must fail with EBADF",
		       self->lo.nr);
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info));
}

/*
 * Stacking works, but a chain that leads back to the device being changed
 * does not: loopA on loopB, then LOOP_CHANGE_FD loopB -> loopA is EBADF.
 */
TEST_F(dev, chain_back_to_self)
{
	int upper_nr, upper_fd, lower_node;
	char path[PATH_MAX];
	struct loop_info64 info;
	long ret;

	/* The lower device must be read-only for CHANGE_FD to be allowed. */
	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LO_FLAGS_READ_ONLY, 0, 0, 0, NULL));

	ret = loop_ctl_get_free(self->lo.ctl);
	ASSERT_LE(0, ret);
	upper_nr = ret;
	ASSERT_NE(self->lo.nr, upper_nr);

	loop_dev_path(path, sizeof(path), self->lo.nr);
	lower_node = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, lower_node);
	upper_fd = loop_open(upper_nr, O_RDWR);
	ASSERT_LE(0, upper_fd);
	EXPECT_EQ(0, loop_ioctl(upper_fd, LOOP_SET_FD, lower_node))
		TH_LOG("a loop device over a bound loop device is allowed");
	close(lower_node);

	/* upper's backing chain leads to the lower device itself. */
	loop_dev_path(path, sizeof(path), upper_nr);
	self->fd2 = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->fd2);
	EXPECT_EQ(-EBADF, loop_ioctl(self->lo.fd, LOOP_CHANGE_FD, self->fd2))
		TH_LOG("a backing chain back to loop%d must fail with EBADF",
		       self->lo.nr);
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	expect_identity(_metadata, &info, self->lo.nr, self->lo.backfd);

	close(self->fd2);
	self->fd2 = -1;
	ioctl(upper_fd, LOOP_CLR_FD, 0);
	close(upper_fd);
}

/* An unbound loop device is no backing store: EINVAL. */
TEST_F(dev, set_fd_unbound_loop)
{
	struct loop_info64 info;
	long other;

	other = loop_ctl_add(self->lo.ctl, -1UL);
	ASSERT_LE(0, other);
	self->fd2 = loop_open(other, O_RDWR);
	ASSERT_LE(0, self->fd2);

	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->fd2))
		TH_LOG("backing loop%ld is unbound", other);
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info));
}

/* CLR_FD, GET_STATUS*, SET_STATUS*, capacity and block size need a bound device. */
TEST_F(dev, unbound_enxio)
{
	struct loop_info64 info64;
	struct loop_info info;

	EXPECT_EQ(-ENXIO, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	EXPECT_EQ(-ENXIO, loop_ioctl_ptr(self->lo.fd, LOOP_GET_STATUS, &info));
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info64));
	memset(&info64, 0, sizeof(info64));
	EXPECT_EQ(-ENXIO, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64,
					 &info64));
	memset(&info, 0, sizeof(info));
	EXPECT_EQ(-ENXIO, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS, &info));
	EXPECT_EQ(-ENXIO, loop_ioctl(self->lo.fd, LOOP_SET_CAPACITY, 0));
	EXPECT_EQ(-ENXIO, loop_ioctl(self->lo.fd, LOOP_SET_DIRECT_IO, 0));
	EXPECT_EQ(-ENXIO, loop_ioctl(self->lo.fd, LOOP_SET_BLOCK_SIZE, 4096));
	EXPECT_EQ(-ENXIO, loop_ioctl(self->lo.fd, LOOP_CHANGE_FD,
				     self->lo.backfd));
}

/* GET_STATUS and GET_STATUS64 with a NULL buffer: EINVAL. */
TEST_F(dev, get_status_null)
{
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_GET_STATUS, 0));
	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_GET_STATUS64, 0));
}

/* SET_STATUS64 changes offset and sizelimit, and the size follows. */
TEST_F(dev, set_status64_offset_sizelimit)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	info.lo_offset = 4096;
	info.lo_sizelimit = 65536;
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(4096, info.lo_offset);
	EXPECT_EQ(65536, info.lo_sizelimit);
	EXPECT_EQ(65536, loop_dev_size(self->lo.fd));
	EXPECT_EQ(65536 / 512, loop_sysfs_ll(self->lo.nr, "size"));
	EXPECT_EQ(4096, loop_sysfs_ll(self->lo.nr, "loop/offset"));
	EXPECT_EQ(65536, loop_sysfs_ll(self->lo.nr, "loop/sizelimit"));
}

/*
 * While another opener holds the device exclusively (as a mounted file
 * system does), nothing may move the data under it: a new offset or size
 * limit and a new block size fail with EBUSY, other status changes pass.
 * Deliberate difference from stock 6.12 for SET_STATUS64: stock moves the
 * data under the holder; later upstream kernels refuse, as we do.
 */
TEST_F(dev, exclusive_holder_keeps_layout)
{
	struct loop_info64 info;
	char path[64];

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	loop_dev_path(path, sizeof(path), self->lo.nr);
	self->fd2 = open(path, O_RDONLY | O_EXCL);
	ASSERT_LE(0, self->fd2) TH_LOG("O_EXCL open of %s: %s", path,
				       strerror(errno));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	info.lo_offset = 4096;
	EXPECT_EQ(-EBUSY, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info))
		TH_LOG("a new offset under an exclusive holder");
	info.lo_offset = 0;
	info.lo_sizelimit = 65536;
	EXPECT_EQ(-EBUSY, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info))
		TH_LOG("a new size limit under an exclusive holder");
	EXPECT_EQ(-EBUSY, loop_ioctl(self->lo.fd, LOOP_SET_BLOCK_SIZE, 4096));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(0, info.lo_offset);
	EXPECT_EQ(0, info.lo_sizelimit);
	EXPECT_EQ(LOOP_BACKING_SIZE, loop_dev_size(self->lo.fd));

	/* What leaves the data in place is still allowed. */
	info.lo_flags = LO_FLAGS_AUTOCLEAR;
	EXPECT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));
	EXPECT_EQ(1, loop_sysfs_ll(self->lo.nr, "loop/autoclear"));

	/* Once the holder is gone, the layout may change again. */
	close(self->fd2);
	self->fd2 = -1;
	info.lo_offset = 4096;
	EXPECT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));
	EXPECT_EQ(4096, loop_sysfs_ll(self->lo.nr, "loop/offset"));
}

/*
 * SET_STATUS64 may set AUTOCLEAR and PARTSCAN and clear AUTOCLEAR only;
 * anything else in lo_flags is ignored, not an error.
 */
TEST_F(dev, set_status64_flags)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_DIRECT_IO | 0x2 | 0x100;
	EXPECT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info))
		TH_LOG("unsettable flags are ignored by SET_STATUS64");
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(0, info.lo_flags)
		TH_LOG("no unsettable flag may stick, got %#x", info.lo_flags);

	info.lo_flags = LO_FLAGS_AUTOCLEAR;
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(LO_FLAGS_AUTOCLEAR, info.lo_flags);
	EXPECT_EQ(1, loop_sysfs_ll(self->lo.nr, "loop/autoclear"));

	info.lo_flags = 0;
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(0, info.lo_flags) TH_LOG("AUTOCLEAR is clearable");

	info.lo_flags = LO_FLAGS_PARTSCAN;
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(LO_FLAGS_PARTSCAN, info.lo_flags & LO_FLAGS_PARTSCAN);
	EXPECT_EQ(1, loop_sysfs_ll(self->lo.nr, "loop/partscan"));

	info.lo_flags = 0;
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(LO_FLAGS_PARTSCAN, info.lo_flags & LO_FLAGS_PARTSCAN)
		TH_LOG("PARTSCAN cannot be cleared by SET_STATUS64");
}

/* Offset or sizelimit above LLONG_MAX: EOVERFLOW, nothing changes. */
TEST_F(dev, set_status64_overflow)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	info.lo_offset = (uint64_t)LLONG_MAX + 1;
	EXPECT_EQ(-EOVERFLOW, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64,
					     &info));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	info.lo_sizelimit = ~0ULL;
	EXPECT_EQ(-EOVERFLOW, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64,
					     &info));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(0, info.lo_offset);
	EXPECT_EQ(0, info.lo_sizelimit);
	EXPECT_EQ(LOOP_BACKING_SIZE, loop_dev_size(self->lo.fd));

	/* The same limit applies when binding. */
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	ASSERT_EQ(0, loop_fixture_release(&self->lo));
	self->lo.fd = loop_open(self->lo.nr, O_RDWR);
	ASSERT_LE(0, self->lo.fd);
	EXPECT_EQ(-EOVERFLOW, loop_configure(self->lo.fd, self->lo.backfd, 0,
					     (uint64_t)LLONG_MAX + 1, 0, 0,
					     NULL));
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info));
}

/* The removed cryptoloop interface is refused with EINVAL. */
TEST_F(dev, set_status64_encryption_refused)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	info.lo_encrypt_type = LO_CRYPT_XOR;
	EXPECT_EQ(-EINVAL, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64,
					  &info));
	info.lo_encrypt_type = LO_CRYPT_CRYPTOAPI;
	EXPECT_EQ(-EINVAL, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64,
					  &info));
	info.lo_encrypt_type = LO_CRYPT_NONE;
	info.lo_encrypt_key_size = LO_KEY_SIZE + 1;
	EXPECT_EQ(-EINVAL, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64,
					  &info));
}

/* Old struct loop_info: SET_STATUS then GET_STATUS round trip. */
TEST_F(dev, old_status_round_trip)
{
	struct loop_info64 info64;
	struct loop_info info;
	struct stat st;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ASSERT_EQ(0, fstat(self->lo.backfd, &st));

	memset(&info, 0, sizeof(info));
	info.lo_offset = 512;
	info.lo_flags = LO_FLAGS_AUTOCLEAR;
	snprintf(info.lo_name, sizeof(info.lo_name), "old-style-name");
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS, &info));

	memset(&info, 0xff, sizeof(info));
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_GET_STATUS, &info));
	EXPECT_EQ(self->lo.nr, info.lo_number);
	EXPECT_EQ(512, info.lo_offset);
	EXPECT_EQ(LO_FLAGS_AUTOCLEAR, info.lo_flags);
	EXPECT_STREQ("old-style-name", info.lo_name);
	EXPECT_EQ((unsigned long)st.st_ino, info.lo_inode);
	EXPECT_EQ((unsigned long)st.st_dev, (unsigned long)info.lo_device);
	EXPECT_EQ(0, info.lo_encrypt_type);

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info64));
	EXPECT_EQ(512, info64.lo_offset);
	EXPECT_EQ(0, info64.lo_sizelimit);
	EXPECT_STREQ("old-style-name", (char *)info64.lo_file_name);
	EXPECT_EQ(LOOP_BACKING_SIZE - 512, loop_dev_size(self->lo.fd));
}

/* An offset that does not fit the old struct's int: EOVERFLOW. */
TEST_F(dev, old_get_status_overflow)
{
	struct loop_info64 info64;
	struct loop_info info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info64));
	info64.lo_offset = (uint64_t)INT_MAX + 1;
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info64));

	EXPECT_EQ(-EOVERFLOW, loop_ioctl_ptr(self->lo.fd, LOOP_GET_STATUS,
					     &info))
		TH_LOG("lo_offset %#llx does not fit struct loop_info",
		       (unsigned long long)info64.lo_offset);
	EXPECT_EQ(0, loop_get_status64(self->lo.fd, &info64))
		TH_LOG("GET_STATUS64 has room for it");
	EXPECT_EQ((uint64_t)INT_MAX + 1, info64.lo_offset);
}

/* LOOP_CONFIGURE with a flag outside LOOP_CONFIGURE_SETTABLE_FLAGS: EINVAL. */
TEST_F(dev, configure_unknown_flags)
{
	static const uint32_t bad[] = { 0x2, 0x40, 0x100, 0x80000000 };
	struct loop_info64 info;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, loop_configure(self->lo.fd, self->lo.backfd,
						  bad[i], 0, 0, 0, NULL))
			TH_LOG("lo_flags %#x must be refused", bad[i]);
		EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info))
			TH_LOG("and leave the device unbound");
	}
	EXPECT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LOOP_CONFIGURE_SETTABLE_FLAGS &
				    ~LO_FLAGS_AUTOCLEAR, 0, 0, 0, NULL))
		TH_LOG("every settable flag together is fine");
}

/* LOOP_SET_CAPACITY picks up a grown or shrunk backing file. */
TEST_F(dev, set_capacity)
{
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ASSERT_EQ(LOOP_BACKING_SIZE, loop_dev_size(self->lo.fd));

	ASSERT_EQ(0, ftruncate(self->lo.backfd, 2 * LOOP_BACKING_SIZE));
	EXPECT_EQ(LOOP_BACKING_SIZE, loop_dev_size(self->lo.fd))
		TH_LOG("the size must not change before SET_CAPACITY");
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_CAPACITY, 0));
	EXPECT_EQ(2 * LOOP_BACKING_SIZE, loop_dev_size(self->lo.fd));
	EXPECT_EQ(2 * LOOP_BACKING_SIZE / 512,
		  loop_sysfs_ll(self->lo.nr, "size"));

	ASSERT_EQ(0, ftruncate(self->lo.backfd, LOOP_BACKING_SIZE / 2));
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_CAPACITY, 0));
	EXPECT_EQ(LOOP_BACKING_SIZE / 2, loop_dev_size(self->lo.fd));
	EXPECT_EQ(LOOP_BACKING_SIZE / 2 / 512,
		  loop_sysfs_ll(self->lo.nr, "size"));
}

/* SET_CAPACITY still honours sizelimit and offset. */
TEST_F(dev, set_capacity_sizelimit)
{
	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd, 0, 4096,
				    3 * LOOP_BACKING_SIZE / 2, 0, NULL));
	EXPECT_EQ(LOOP_BACKING_SIZE - 4096, loop_dev_size(self->lo.fd));

	ASSERT_EQ(0, ftruncate(self->lo.backfd, 4 * LOOP_BACKING_SIZE));
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_CAPACITY, 0));
	EXPECT_EQ(3 * LOOP_BACKING_SIZE / 2, loop_dev_size(self->lo.fd))
		TH_LOG("sizelimit caps the new size");
}

/* LOOP_SET_DIRECT_IO turns direct I/O on and off (tmpfs allows it). */
TEST_F(dev, set_direct_io)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));

	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_DIRECT_IO, 1));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(LO_FLAGS_DIRECT_IO, info.lo_flags & LO_FLAGS_DIRECT_IO);
	EXPECT_EQ(1, loop_sysfs_ll(self->lo.nr, "loop/dio"));

	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_DIRECT_IO, 0));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_DIRECT_IO);
	EXPECT_EQ(0, loop_sysfs_ll(self->lo.nr, "loop/dio"));
}

/* Backing store without O_DIRECT support (ramfs): dio refused with EINVAL. */
TEST_F(dev, set_direct_io_unsupported)
{
	char dir[PATH_MAX], file[PATH_MAX + 16];
	struct loop_info64 info;
	int ramfd;

	snprintf(dir, sizeof(dir), "%s/ksft-loop-ramfs-XXXXXX", loop_tmpdir());
	ASSERT_NE(NULL, mkdtemp(dir));
	if (mount("ramfs", dir, "ramfs", 0, NULL)) {
		rmdir(dir);
		SKIP(return, "cannot mount ramfs: %s", strerror(errno));
	}
	snprintf(file, sizeof(file), "%.1024s/backing", dir);
	ramfd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ramfd < 0 || ftruncate(ramfd, LOOP_BACKING_SIZE)) {
		umount2(dir, MNT_DETACH);
		rmdir(dir);
		ASSERT_TRUE(false) TH_LOG("cannot create a file on ramfs");
	}

	EXPECT_EQ(0, loop_configure(self->lo.fd, ramfd, LO_FLAGS_DIRECT_IO,
				    0, 0, 0, NULL));
	EXPECT_EQ(0, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_DIRECT_IO)
		TH_LOG("DIRECT_IO cannot stick on ramfs");
	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_SET_DIRECT_IO, 1))
		TH_LOG("SET_DIRECT_IO must fail where O_DIRECT is unsupported");
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_DIRECT_IO, 0));

	ioctl(self->lo.fd, LOOP_CLR_FD, 0);
	loop_fixture_release(&self->lo);
	close(ramfd);
	unlink(file);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* CHANGE_FD on a writable device: EINVAL. */
TEST_F(dev, change_fd_writable)
{
	self->backfd2 = loop_backing_create(self->backing2,
					    sizeof(self->backing2),
					    LOOP_BACKING_SIZE, 0x11);
	ASSERT_LE(0, self->backfd2);
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_CHANGE_FD,
				      self->backfd2))
		TH_LOG("only a read-only device may change its backing file");
}

/* CHANGE_FD on a read-only device to a same-size file swaps the data. */
TEST_F(dev, change_fd_read_only)
{
	unsigned char buf[4096];
	struct loop_info64 info;
	char sysbuf[PATH_MAX];

	self->backfd2 = loop_backing_create(self->backing2,
					    sizeof(self->backing2),
					    LOOP_BACKING_SIZE, 0x11);
	ASSERT_LE(0, self->backfd2);
	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LO_FLAGS_READ_ONLY, 0, 0, 0, NULL));
	ASSERT_EQ(sizeof(buf), pread(self->lo.fd, buf, sizeof(buf), 0));
	EXPECT_EQ(-1, loop_mem_check(buf, sizeof(buf), 0x5a));

	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CHANGE_FD, self->backfd2));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	expect_identity(_metadata, &info, self->lo.nr, self->backfd2);
	EXPECT_EQ(LO_FLAGS_READ_ONLY, info.lo_flags & LO_FLAGS_READ_ONLY);
	ASSERT_LT(0, loop_sysfs_read(self->lo.nr, "loop/backing_file", sysbuf,
				     sizeof(sysbuf)));
	EXPECT_STREQ(self->backing2, sysbuf);

	/* Drop the cached pages: reads now come from the new file. */
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, BLKFLSBUF, 0));
	ASSERT_EQ(sizeof(buf), pread(self->lo.fd, buf, sizeof(buf), 0));
	EXPECT_EQ(-1, loop_mem_check(buf, sizeof(buf), 0x11))
		TH_LOG("the device must read the new backing file");
}

/* CHANGE_FD to a file of another size: EINVAL, old file stays. */
TEST_F(dev, change_fd_other_size)
{
	struct loop_info64 info;

	self->backfd2 = loop_backing_create(self->backing2,
					    sizeof(self->backing2),
					    2 * LOOP_BACKING_SIZE, 0);
	ASSERT_LE(0, self->backfd2);
	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LO_FLAGS_READ_ONLY, 0, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_CHANGE_FD,
				      self->backfd2));
	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	expect_identity(_metadata, &info, self->lo.nr, self->lo.backfd);
}

/* CHANGE_FD with a descriptor that is not open: EBADF. */
TEST_F(dev, change_fd_bad_fd)
{
	int closed = dup(self->lo.backfd);

	ASSERT_LE(0, closed);
	close(closed);
	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LO_FLAGS_READ_ONLY, 0, 0, 0, NULL));
	EXPECT_EQ(-EBADF, loop_ioctl(self->lo.fd, LOOP_CHANGE_FD, closed));
}

/*
 * Reconfiguring needs write mode or CAP_SYS_ADMIN: a child drops root
 * (and with it every capability) while holding descriptors opened before.
 */
TEST_F(dev, eperm_without_write_or_cap)
{
	enum { R_STATUS64, R_STATUS, R_CAPACITY, R_DIO, R_BSIZE, R_GET,
	       R_RW_CAPACITY, R_COUNT };
	static const char * const what[R_COUNT] = {
		"SET_STATUS64", "SET_STATUS", "SET_CAPACITY", "SET_DIRECT_IO",
		"SET_BLOCK_SIZE", "GET_STATUS64 (allowed)",
		"SET_CAPACITY with write mode (allowed)",
	};
	static const int want[R_COUNT] = {
		-EPERM, -EPERM, -EPERM, -EPERM, -EPERM, 0, 0,
	};
	int *res;
	pid_t pid;
	int status, i, rofd;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	rofd = loop_open(self->lo.nr, O_RDONLY);
	ASSERT_LE(0, rofd);

	/* Root without write mode is fine thanks to CAP_SYS_ADMIN. */
	EXPECT_EQ(0, loop_ioctl(rofd, LOOP_SET_CAPACITY, 0))
		TH_LOG("CAP_SYS_ADMIN allows SET_CAPACITY on a read-only open");

	res = mmap(NULL, sizeof(int) * R_COUNT, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	for (i = 0; i < R_COUNT; i++)
		res[i] = 1;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct loop_info64 info64;
		struct loop_info info;

		if (setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(2);
		memset(&info64, 0, sizeof(info64));
		memset(&info, 0, sizeof(info));
		res[R_STATUS64] = loop_ioctl_ptr(rofd, LOOP_SET_STATUS64,
						 &info64);
		res[R_STATUS] = loop_ioctl_ptr(rofd, LOOP_SET_STATUS, &info);
		res[R_CAPACITY] = loop_ioctl(rofd, LOOP_SET_CAPACITY, 0);
		res[R_DIO] = loop_ioctl(rofd, LOOP_SET_DIRECT_IO, 1);
		res[R_BSIZE] = loop_ioctl(rofd, LOOP_SET_BLOCK_SIZE, 4096);
		res[R_GET] = loop_get_status64(rofd, &info64);
		res[R_RW_CAPACITY] = loop_ioctl(self->lo.fd,
						LOOP_SET_CAPACITY, 0);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(rofd);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("could not drop root");

	for (i = 0; i < R_COUNT; i++) {
		const char *name = what[i] ? what[i] : "?";

		EXPECT_EQ(want[i], res[i])
			TH_LOG("%s without CAP_SYS_ADMIN: want %d, got %d",
			       name, want[i], res[i]);
	}
	munmap(res, sizeof(int) * R_COUNT);
}

/* A read-only device refuses writes. */
TEST_F(dev, read_only_refuses_writes)
{
	unsigned char buf[512];

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LO_FLAGS_READ_ONLY, 0, 0, 0, NULL));
	memset(buf, 0x33, sizeof(buf));
	EXPECT_EQ(-1, pwrite(self->lo.fd, buf, sizeof(buf), 0));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(sizeof(buf), pread(self->lo.backfd, buf, sizeof(buf), 0));
	EXPECT_EQ(-1, loop_mem_check(buf, sizeof(buf), 0x5a));
}

/* The loop/ sysfs directory exists while bound and goes at unbind. */
TEST_F(dev, sysfs_vanishes_on_unbind)
{
	static const char * const attrs[] = {
		"loop/backing_file", "loop/offset", "loop/sizelimit",
		"loop/autoclear", "loop/partscan", "loop/dio",
	};
	unsigned int i;

	EXPECT_FALSE(loop_sysfs_has(self->lo.nr, "loop"))
		TH_LOG("an unbound device has no loop/ directory");
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		const char *name = attrs[i] ? attrs[i] : "?";

		EXPECT_TRUE(loop_sysfs_has(self->lo.nr, name))
			TH_LOG("%s missing while bound", name);
	}

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	ASSERT_EQ(0, loop_fixture_release(&self->lo));

	EXPECT_FALSE(loop_sysfs_has(self->lo.nr, "loop"))
		TH_LOG("loop/ must vanish at unbind");
	EXPECT_EQ(0, loop_sysfs_ll(self->lo.nr, "size"));
	EXPECT_EQ(512, loop_sysfs_ll(self->lo.nr, "queue/logical_block_size"))
		TH_LOG("unbind resets the block size");
}

/* The only opener's CLR_FD unbinds at its close. */
TEST_F(dev, clr_fd_sole_opener)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	EXPECT_EQ(0, loop_fixture_release(&self->lo));
	self->lo.fd = loop_open(self->lo.nr, O_RDWR);
	ASSERT_LE(0, self->lo.fd);
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info));
	EXPECT_EQ(0, loop_dev_size(self->lo.fd));
	/* And the device can be bound again. */
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
}

/* CLR_FD while others hold the device: autoclear, unbind at last close. */
TEST_F(dev, clr_fd_deferred)
{
	struct loop_info64 info;
	int fd3;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	self->fd2 = loop_open(self->lo.nr, O_RDONLY);
	ASSERT_LE(0, self->fd2);

	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0))
		TH_LOG("CLR_FD with other openers succeeds (deferred)");
	ASSERT_EQ(0, loop_get_status64(self->fd2, &info))
		TH_LOG("the device stays bound while others hold it");
	EXPECT_EQ(LO_FLAGS_AUTOCLEAR, info.lo_flags & LO_FLAGS_AUTOCLEAR);
	EXPECT_EQ(1, loop_sysfs_ll(self->lo.nr, "loop/autoclear"));

	close(self->lo.fd);
	self->lo.fd = -1;
	EXPECT_EQ(0, loop_get_status64(self->fd2, &info))
		TH_LOG("still one opener left: still bound");

	close(self->fd2);
	self->fd2 = -1;
	EXPECT_EQ(0, loop_wait_unbound(self->lo.nr, LOOP_NODE_WAIT_MS))
		TH_LOG("the last close must unbind");
	fd3 = loop_open(self->lo.nr, O_RDONLY);
	ASSERT_LE(0, fd3);
	EXPECT_EQ(-ENXIO, loop_get_status64(fd3, &info));
	close(fd3);
}

/* LO_FLAGS_AUTOCLEAR unbinds at the last close, not before. */
TEST_F(dev, autoclear_last_close)
{
	struct loop_info64 info;

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LO_FLAGS_AUTOCLEAR, 0, 0, 0, NULL));
	self->fd2 = loop_open(self->lo.nr, O_RDONLY);
	ASSERT_LE(0, self->fd2);

	close(self->lo.fd);
	self->lo.fd = -1;
	EXPECT_EQ(0, loop_get_status64(self->fd2, &info))
		TH_LOG("autoclear must wait for the last opener");

	close(self->fd2);
	self->fd2 = -1;
	EXPECT_EQ(0, loop_wait_unbound(self->lo.nr, LOOP_NODE_WAIT_MS))
		TH_LOG("autoclear must unbind at the last close");
	EXPECT_FALSE(loop_sysfs_has(self->lo.nr, "loop"));
}

/* The generic block ioctls answer for a bound loop device. */
TEST_F(dev, block_ioctls)
{
	unsigned long sectors = 0;
	int ssz = 0, ro = -1;

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd, 0, 0,
				    LOOP_BACKING_SIZE / 2, 0, NULL));
	EXPECT_EQ(LOOP_BACKING_SIZE / 2, loop_dev_size(self->lo.fd));
	EXPECT_EQ(0, ioctl(self->lo.fd, BLKGETSIZE, &sectors));
	EXPECT_EQ(LOOP_BACKING_SIZE / 2 / 512, sectors);
	EXPECT_EQ(0, ioctl(self->lo.fd, BLKSSZGET, &ssz));
	EXPECT_EQ(512, ssz);
	EXPECT_EQ(0, ioctl(self->lo.fd, BLKROGET, &ro));
	EXPECT_EQ(0, ro);
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, BLKFLSBUF, 0));
	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, BLKRRPART, 0))
		TH_LOG("no partition scanning without PARTSCAN or max_part");
}

/* A socket on the kernel's uevent broadcast, or -errno. */
static int uevent_socket(void)
{
	struct sockaddr_nl addr = {
		.nl_family = AF_NETLINK,
		.nl_groups = 1,
	};
	int sk;

	sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
		    NETLINK_KOBJECT_UEVENT);
	if (sk < 0)
		return -errno;
	if (bind(sk, (struct sockaddr *)&addr, sizeof(addr))) {
		close(sk);
		return -errno;
	}
	return sk;
}

/* Throw away whatever is queued, until the socket is quiet for 300 ms. */
static void uevent_drain(int sk)
{
	struct pollfd pfd = { .fd = sk, .events = POLLIN };
	char buf[8192];

	while (poll(&pfd, 1, 300) > 0)
		recv(sk, buf, sizeof(buf), MSG_DONTWAIT);
}

/*
 * Read what is queued on @sk: true once it held the uevent @want, with
 * @key among its NUL-separated KEY=value lines if @key is given.
 */
static bool uevent_got(int sk, const char *want, const char *key)
{
	char buf[8192];
	ssize_t n, off;

	while ((n = recv(sk, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		if (strcmp(buf, want))
			continue;
		if (!key)
			return true;
		for (off = strlen(buf) + 1; off < n; off += strlen(buf + off) + 1)
			if (!strcmp(buf + off, key))
				return true;
	}
	return false;
}

/*
 * Wait up to 2 s for "change@/devices/virtual/block/loopN", with @key
 * among its KEY=value lines if @key is given.
 */
static bool uevent_wait_change(int sk, int nr, const char *key)
{
	char want[64];

	snprintf(want, sizeof(want), "change@/devices/virtual/block/loop%d",
		 nr);
	return !loop_poll_until(uevent_got(sk, want, key), 2000);
}

/* KOBJ_CHANGE uevents announce bind and unbind. */
TEST_F(dev, uevent_on_bind_and_unbind)
{
	int sk = uevent_socket();

	if (sk < 0)
		SKIP(return, "no uevent netlink socket: %s", strerror(-sk));

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	EXPECT_TRUE(uevent_wait_change(sk, self->lo.nr, NULL))
		TH_LOG("no change uevent for loop%d after bind", self->lo.nr);

	/* Drain what binding sent, so it is not taken for unbind. */
	uevent_drain(sk);
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	close(self->lo.fd);
	self->lo.fd = -1;
	EXPECT_TRUE(uevent_wait_change(sk, self->lo.nr, NULL))
		TH_LOG("no change uevent for loop%d after unbind", self->lo.nr);
	close(sk);
}

/* A capacity change is announced with a RESIZE=1 change uevent. */
TEST_F(dev, uevent_on_capacity_change)
{
	int sk = uevent_socket();

	if (sk < 0)
		SKIP(return, "no uevent netlink socket: %s", strerror(-sk));

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	uevent_drain(sk);
	ASSERT_EQ(0, ftruncate(self->lo.backfd, 2 * LOOP_BACKING_SIZE));
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_CAPACITY, 0));
	EXPECT_TRUE(uevent_wait_change(sk, self->lo.nr, "RESIZE=1"))
		TH_LOG("no RESIZE=1 uevent for loop%d after SET_CAPACITY",
		       self->lo.nr);
	close(sk);
}

/* Turning PARTSCAN on with SET_STATUS64 scans the partition table. */
TEST_F(dev, set_status64_partscan_rescans)
{
	struct loop_info64 info;
	char part[PATH_MAX];

	ASSERT_EQ(0, loop_write_mbr(self->lo.backfd, 64, 256));
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	snprintf(part, sizeof(part), "/dev/loop%dp1", self->lo.nr);
	EXPECT_EQ(0, loop_sysfs_ll(self->lo.nr, "loop/partscan"));
	EXPECT_NE(0, access(part, F_OK))
		TH_LOG("no partitions without PARTSCAN");

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	info.lo_flags |= LO_FLAGS_PARTSCAN;
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, LOOP_SET_STATUS64, &info));
	EXPECT_EQ(0, loop_wait_path(part, true, LOOP_NODE_WAIT_MS))
		TH_LOG("%s must appear once PARTSCAN is set", part);
	snprintf(part, sizeof(part), "loop%dp1/size", self->lo.nr);
	EXPECT_EQ(256, loop_sysfs_ll(self->lo.nr, part));
}

/* --- LOOP_CONFIGURE over a table of settings --------------------------- */

FIXTURE(cfg) {
	struct loop_fixture lo;	/* backing file full of 0x5a */
};

FIXTURE_VARIANT(cfg) {
	uint32_t flags;
	uint64_t offset;
	uint64_t sizelimit;
	uint32_t block_size;
	bool backing_ro;	/* open the backing file O_RDONLY */
	bool dev_ro;		/* open the loop device O_RDONLY */
	bool mbr;		/* write a partition table first */
	/* expectations */
	uint32_t want_flags;
	long long want_size;
	int want_ro;
};

FIXTURE_VARIANT_ADD(cfg, plain) {
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, offset) {
	.offset = 4096,
	.want_size = LOOP_BACKING_SIZE - 4096,
};

FIXTURE_VARIANT_ADD(cfg, sizelimit) {
	.sizelimit = 65536,
	.want_size = 65536,
};

FIXTURE_VARIANT_ADD(cfg, offset_and_sizelimit) {
	.offset = 8192,
	.sizelimit = 131072,
	.want_size = 131072,
};

FIXTURE_VARIANT_ADD(cfg, sizelimit_past_end) {
	.sizelimit = 4 * LOOP_BACKING_SIZE,
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, offset_past_end) {
	.offset = 2 * LOOP_BACKING_SIZE,
	.want_size = 0,
};

FIXTURE_VARIANT_ADD(cfg, read_only) {
	.flags = LO_FLAGS_READ_ONLY,
	.want_flags = LO_FLAGS_READ_ONLY,
	.want_size = LOOP_BACKING_SIZE,
	.want_ro = 1,
};

FIXTURE_VARIANT_ADD(cfg, autoclear) {
	.flags = LO_FLAGS_AUTOCLEAR,
	.want_flags = LO_FLAGS_AUTOCLEAR,
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, partscan) {
	.flags = LO_FLAGS_PARTSCAN,
	.mbr = true,
	.want_flags = LO_FLAGS_PARTSCAN,
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, direct_io) {
	.flags = LO_FLAGS_DIRECT_IO,
	.want_flags = LO_FLAGS_DIRECT_IO,
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, block_size_1024) {
	.block_size = 1024,
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, block_size_2048) {
	.block_size = 2048,
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, block_size_4096) {
	.block_size = 4096,
	.want_size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(cfg, direct_io_block_size_4096) {
	.flags = LO_FLAGS_DIRECT_IO,
	.block_size = 4096,
	.want_flags = LO_FLAGS_DIRECT_IO,
	.want_size = LOOP_BACKING_SIZE,
};

/* Read-only backing file: read-only is forced. */
FIXTURE_VARIANT_ADD(cfg, backing_read_only) {
	.backing_ro = true,
	.want_flags = LO_FLAGS_READ_ONLY,
	.want_size = LOOP_BACKING_SIZE,
	.want_ro = 1,
};

/* A device opened without write mode is bound read-only, as in stock. */
FIXTURE_VARIANT_ADD(cfg, device_opened_read_only) {
	.dev_ro = true,
	.want_flags = LO_FLAGS_READ_ONLY,
	.want_size = LOOP_BACKING_SIZE,
	.want_ro = 1,
};

FIXTURE_VARIANT_ADD(cfg, everything) {
	.flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN |
		 LO_FLAGS_DIRECT_IO,
	.offset = 4096,
	.sizelimit = 262144,
	.block_size = 4096,
	.want_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR |
		      LO_FLAGS_PARTSCAN | LO_FLAGS_DIRECT_IO,
	.want_size = 262144,
	.want_ro = 1,
};

/*
 * Replace the descriptor in *@fd by a new open of @path with @flags; the
 * old one stays if the open fails.  0 or -errno.
 */
static int reopen(int *fd, const char *path, int flags)
{
	int newfd = open(path, flags | O_CLOEXEC);

	if (newfd < 0)
		return -errno;
	close(*fd);
	*fd = newfd;
	return 0;
}

FIXTURE_SETUP(cfg)
{
	char path[PATH_MAX];

	if (!loop_fixture_start(_metadata, &self->lo, LOOP_FIX_ALL, 0x5a))
		return;
	if (variant->mbr)
		ASSERT_EQ(0, loop_write_mbr(self->lo.backfd, 64, 256));
	if (variant->backing_ro)
		ASSERT_EQ(0, reopen(&self->lo.backfd, self->lo.backing,
				    O_RDONLY));
	if (variant->dev_ro) {
		loop_dev_path(path, sizeof(path), self->lo.nr);
		ASSERT_EQ(0, reopen(&self->lo.fd, path, O_RDONLY));
	}
}

FIXTURE_TEARDOWN(cfg)
{
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

/* Status, size, block size, read-only and sysfs all match the config. */
TEST_F(cfg, configure)
{
	unsigned int bsize = variant->block_size ? variant->block_size : 512;
	char buf[PATH_MAX];
	struct loop_info64 info;
	int ssz = 0, ro = -1;

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    variant->flags, variant->offset,
				    variant->sizelimit, variant->block_size,
				    "cfg-name"));

	ASSERT_EQ(0, loop_get_status64(self->lo.fd, &info));
	expect_identity(_metadata, &info, self->lo.nr, self->lo.backfd);
	EXPECT_EQ(variant->want_flags, info.lo_flags)
		TH_LOG("lo_flags: want %#x, got %#x", variant->want_flags,
		       info.lo_flags);
	EXPECT_EQ(variant->offset, info.lo_offset);
	EXPECT_EQ(variant->sizelimit, info.lo_sizelimit);
	EXPECT_STREQ("cfg-name", (char *)info.lo_file_name);

	EXPECT_EQ(variant->want_size, loop_dev_size(self->lo.fd));
	EXPECT_EQ(variant->want_size / 512, loop_sysfs_ll(self->lo.nr, "size"));
	EXPECT_EQ(0, ioctl(self->lo.fd, BLKSSZGET, &ssz));
	EXPECT_EQ(bsize, ssz);
	EXPECT_EQ(bsize, loop_sysfs_ll(self->lo.nr,
				       "queue/logical_block_size"));
	EXPECT_EQ(0, ioctl(self->lo.fd, BLKROGET, &ro));
	EXPECT_EQ(variant->want_ro, ro);
	EXPECT_EQ(variant->want_ro, loop_sysfs_ll(self->lo.nr, "ro"));

	ASSERT_LT(0, loop_sysfs_read(self->lo.nr, "loop/backing_file", buf,
				     sizeof(buf)));
	EXPECT_STREQ(self->lo.backing, buf);
	EXPECT_EQ(variant->offset, loop_sysfs_ll(self->lo.nr, "loop/offset"));
	EXPECT_EQ(variant->sizelimit,
		  loop_sysfs_ll(self->lo.nr, "loop/sizelimit"));
	EXPECT_EQ(!!(variant->want_flags & LO_FLAGS_AUTOCLEAR),
		  loop_sysfs_ll(self->lo.nr, "loop/autoclear"));
	EXPECT_EQ(!!(variant->want_flags & LO_FLAGS_PARTSCAN),
		  loop_sysfs_ll(self->lo.nr, "loop/partscan"));
	EXPECT_EQ(!!(variant->want_flags & LO_FLAGS_DIRECT_IO),
		  loop_sysfs_ll(self->lo.nr, "loop/dio"));

	if (variant->mbr) {
		char part[PATH_MAX];

		snprintf(part, sizeof(part), "/dev/loop%dp1", self->lo.nr);
		EXPECT_EQ(0, loop_wait_path(part, true, LOOP_NODE_WAIT_MS))
			TH_LOG("PARTSCAN must create %s", part);
		snprintf(part, sizeof(part), "loop%dp1/size", self->lo.nr);
		EXPECT_EQ(256, loop_sysfs_ll(self->lo.nr, part));
		EXPECT_EQ(0, loop_ioctl(self->lo.fd, BLKRRPART, 0))
			TH_LOG("BLKRRPART works with PARTSCAN");
	}
}

/* Unbinding drops partitions and resets what CONFIGURE set. */
TEST_F(cfg, unbind_resets)
{
	struct loop_info64 info;
	char part[PATH_MAX];

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    variant->flags, variant->offset,
				    variant->sizelimit, variant->block_size,
				    NULL));
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	ASSERT_EQ(0, loop_fixture_release(&self->lo));

	EXPECT_EQ(0, loop_sysfs_ll(self->lo.nr, "size"));
	EXPECT_EQ(512, loop_sysfs_ll(self->lo.nr, "queue/logical_block_size"));
	EXPECT_FALSE(loop_sysfs_has(self->lo.nr, "loop"));
	snprintf(part, sizeof(part), "/dev/loop%dp1", self->lo.nr);
	EXPECT_EQ(0, loop_wait_path(part, false, LOOP_NODE_WAIT_MS))
		TH_LOG("partitions must be dropped at unbind");

	self->lo.fd = loop_open(self->lo.nr, O_RDWR);
	ASSERT_LE(0, self->lo.fd);
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info));
}

/* --- block sizes ------------------------------------------------------- */

FIXTURE(bsize) {
	struct loop_fixture lo;	/* sparse backing file */
};

FIXTURE_VARIANT(bsize) {
	unsigned long size;
	bool page_multiple;	/* size is this many pages instead */
	bool valid;
};

FIXTURE_VARIANT_ADD(bsize, bs_512) { .size = 512, .valid = true };
FIXTURE_VARIANT_ADD(bsize, bs_1024) { .size = 1024, .valid = true };
FIXTURE_VARIANT_ADD(bsize, bs_2048) { .size = 2048, .valid = true };
FIXTURE_VARIANT_ADD(bsize, bs_4096) { .size = 4096, .valid = true };
FIXTURE_VARIANT_ADD(bsize, bs_page) { .size = 1, .page_multiple = true,
				      .valid = true };
FIXTURE_VARIANT_ADD(bsize, bs_256) { .size = 256 };
FIXTURE_VARIANT_ADD(bsize, bs_511) { .size = 511 };
FIXTURE_VARIANT_ADD(bsize, bs_1000) { .size = 1000 };
FIXTURE_VARIANT_ADD(bsize, bs_1536) { .size = 1536 };
FIXTURE_VARIANT_ADD(bsize, bs_two_pages) { .size = 2, .page_multiple = true };
FIXTURE_VARIANT_ADD(bsize, bs_1m) { .size = 1 << 20 };

FIXTURE_SETUP(bsize)
{
	loop_fixture_start(_metadata, &self->lo, LOOP_FIX_ALL, 0);
}

FIXTURE_TEARDOWN(bsize)
{
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

static unsigned long bsize_of(unsigned long size, bool page_multiple)
{
	return page_multiple ? size * sysconf(_SC_PAGESIZE) : size;
}

/* LOOP_CONFIGURE takes a power of two in 512..PAGE_SIZE, else EINVAL. */
TEST_F(bsize, configure)
{
	unsigned long bs = bsize_of(variant->size, variant->page_multiple);
	struct loop_info64 info;
	int ret;

	ret = loop_configure(self->lo.fd, self->lo.backfd, 0, 0, 0, bs, NULL);
	if (variant->valid) {
		EXPECT_EQ(0, ret);
		EXPECT_EQ(bs, loop_sysfs_ll(self->lo.nr,
					    "queue/logical_block_size"));
		return;
	}
	EXPECT_EQ(-EINVAL, ret) TH_LOG("block size %lu must be refused", bs);
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info))
		TH_LOG("a refused CONFIGURE leaves the device unbound");
	/* And the device is still usable afterwards. */
	EXPECT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    0, 0, 0, 0, NULL));
	EXPECT_EQ(512, loop_sysfs_ll(self->lo.nr, "queue/logical_block_size"));
}

/* LOOP_SET_BLOCK_SIZE on a bound device: same rule, old size kept on error. */
TEST_F(bsize, set_block_size)
{
	unsigned long bs = bsize_of(variant->size, variant->page_multiple);
	int ssz = 0, ret;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ret = loop_ioctl(self->lo.fd, LOOP_SET_BLOCK_SIZE, bs);
	ASSERT_EQ(0, ioctl(self->lo.fd, BLKSSZGET, &ssz));
	if (variant->valid) {
		EXPECT_EQ(0, ret);
		EXPECT_EQ(bs, ssz);
		EXPECT_EQ(bs, loop_sysfs_ll(self->lo.nr,
					    "queue/logical_block_size"));
		EXPECT_EQ(LOOP_BACKING_SIZE, loop_dev_size(self->lo.fd));
		return;
	}
	EXPECT_EQ(-EINVAL, ret) TH_LOG("block size %lu must be refused", bs);
	EXPECT_EQ(512, ssz) TH_LOG("a refused size must not stick");
	EXPECT_EQ(512, loop_sysfs_ll(self->lo.nr, "queue/logical_block_size"));
}

/* --- backing descriptors that are not files or block devices ----------- */

enum badfile_kind { BAD_PIPE_READ, BAD_PIPE_WRITE, BAD_SOCKET, BAD_DIR,
		    BAD_CHARDEV };

FIXTURE(badfile) {
	struct loop_fixture lo;	/* sparse backing file, for CHANGE_FD */
	int bad[2];		/* the descriptor(s) of the variant's kind */
};

FIXTURE_VARIANT(badfile) {
	enum badfile_kind kind;
};

FIXTURE_VARIANT_ADD(badfile, pipe_read_end) { .kind = BAD_PIPE_READ };
FIXTURE_VARIANT_ADD(badfile, pipe_write_end) { .kind = BAD_PIPE_WRITE };
FIXTURE_VARIANT_ADD(badfile, socket) { .kind = BAD_SOCKET };
FIXTURE_VARIANT_ADD(badfile, directory) { .kind = BAD_DIR };
FIXTURE_VARIANT_ADD(badfile, char_device) { .kind = BAD_CHARDEV };

FIXTURE_SETUP(badfile)
{
	self->bad[0] = -1;
	self->bad[1] = -1;
	if (!loop_fixture_start(_metadata, &self->lo, LOOP_FIX_ALL, 0))
		return;

	switch (variant->kind) {
	case BAD_PIPE_READ:
	case BAD_PIPE_WRITE:
		ASSERT_EQ(0, pipe2(self->bad, O_CLOEXEC));
		break;
	case BAD_SOCKET:
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					self->bad));
		break;
	case BAD_DIR:
		self->bad[0] = open(loop_tmpdir(),
				    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ASSERT_LE(0, self->bad[0]);
		break;
	case BAD_CHARDEV:
		self->bad[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, self->bad[0]);
		break;
	}
}

FIXTURE_TEARDOWN(badfile)
{
	if (self->bad[0] >= 0)
		close(self->bad[0]);
	if (self->bad[1] >= 0)
		close(self->bad[1]);
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

/* SET_FD, CONFIGURE and CHANGE_FD refuse it with EINVAL. */
TEST_F(badfile, einval)
{
	int bad = variant->kind == BAD_PIPE_WRITE ? self->bad[1] : self->bad[0];
	struct loop_info64 info;

	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_SET_FD, bad));
	EXPECT_EQ(-EINVAL, loop_configure(self->lo.fd, bad, 0, 0, 0, 0, NULL));
	EXPECT_EQ(-ENXIO, loop_get_status64(self->lo.fd, &info));

	EXPECT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd,
				    LO_FLAGS_READ_ONLY, 0, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, loop_ioctl(self->lo.fd, LOOP_CHANGE_FD, bad));
}

TEST_HARNESS_MAIN
