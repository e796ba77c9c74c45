// SPDX-License-Identifier: GPL-2.0
/*
 * LOOP_CTL_CONFIGURE: allocate and bind a loop device in one call and get
 * an open fd for it.  Checks the result, the error paths (nothing left
 * bound, no device left behind), that it takes CAP_SYS_ADMIN, that
 * concurrent callers never share a device, never see EBUSY, and leak
 * nothing when killed, and LO_FLAGS_STRICT, through LOOP_CTL_CONFIGURE
 * and LOOP_CONFIGURE alike.
 *
 * LOOP_ALLOC_ITERS sets the calls per worker (default 500).
 */
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"

#define NR_WORKERS	8
#define BACKING_SIZE	(1024 * 1024)
#define MAX_DEVICES	4096

/* Bind a free device to @backfd; returns the new fd or -errno. */
static int alloc_bind(int ctl, int backfd, uint32_t flags)
{
	struct loop_config cfg = {
		.fd = backfd,
		.info.lo_flags = flags,
	};
	int fd = ioctl(ctl, LOOP_CTL_CONFIGURE, &cfg);

	return fd < 0 ? -errno : fd;
}

/*
 * The device number behind a loop fd, or -1.  The minor is the number
 * shifted left by fls(max_part), so ask sysfs for the disk's name instead:
 * /sys/dev/block/7:M links to .../block/loopN.
 */
static int fd_to_nr(int fd)
{
	char link[64], target[PATH_MAX];
	const char *name;
	struct stat st;
	ssize_t len;
	char *end;
	long nr;

	if (fstat(fd, &st) || !S_ISBLK(st.st_mode) ||
	    major(st.st_rdev) != LOOP_BLOCK_MAJOR)
		return -1;
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		return -1;
	target[len] = '\0';
	name = strrchr(target, '/');
	name = name ? name + 1 : target;
	/* A partition (loopNpM) is not what LOOP_CTL_CONFIGURE returns. */
	if (strncmp(name, "loop", 4) || !isdigit((unsigned char)name[4]))
		return -1;
	nr = strtol(name + 4, &end, 10);
	if (*end || nr > INT_MAX)
		return -1;
	return nr;
}

static int ids[MAX_DEVICES];

/* How many loop devices there are. */
static int count_devices(void)
{
	return loop_list(ids, MAX_DEVICES);
}

/* How many loop devices have a backing file right now. */
static int count_bound(void)
{
	int i, n, bound = 0;

	n = loop_list(ids, MAX_DEVICES);
	for (i = 0; i < n; i++)
		bound += loop_sysfs_has(ids[i], "loop/backing_file");
	return bound;
}

static int alloc_iters(void)
{
	const char *env = getenv("LOOP_ALLOC_ITERS");

	return env ? atoi(env) : 500;
}

FIXTURE(alloc) {
	int ctl;
	int back;
	char path[PATH_MAX];
	struct loop_snap snap;
};

FIXTURE_SETUP(alloc)
{
	const char *why = loop_not_ready();

	self->ctl = -1;
	self->back = -1;
	self->path[0] = '\0';
	if (why)
		SKIP(return, "%s", why);
	loop_snap_take(&self->snap);
	self->ctl = loop_ctl_open();
	ASSERT_LE(0, self->ctl);
	if (ioctl(self->ctl, LOOP_CTL_CONFIGURE, NULL) < 0 && errno == LOOP_CTL_UNKNOWN_ERRNO)
		SKIP(return, "LOOP_CTL_CONFIGURE not supported (stock driver)");
	self->back = loop_backing_create(self->path, sizeof(self->path),
					 BACKING_SIZE, 0);
	ASSERT_LE(0, self->back);
}

FIXTURE_TEARDOWN(alloc)
{
	if (self->back >= 0)
		close(self->back);
	if (self->path[0])
		unlink(self->path);
	if (self->ctl >= 0) {
		close(self->ctl);
		EXPECT_EQ(0, loop_snap_restore(&self->snap));
	}
}

/* The fd is a bound, writable, close-on-exec loop device. */
TEST_F(alloc, returns_bound_fd)
{
	struct loop_info64 info;
	int first, fd, nr;

	/*
	 * Hold a first device, so that the one checked is not loop0: its
	 * minor is 0 whatever the max_part shift, which would hide a number
	 * taken for a minor.
	 */
	first = alloc_bind(self->ctl, self->back, LO_FLAGS_AUTOCLEAR);
	ASSERT_LE(0, first) TH_LOG("LOOP_CTL_CONFIGURE: %s", strerror(-first));
	fd = alloc_bind(self->ctl, self->back, LO_FLAGS_AUTOCLEAR);
	ASSERT_LE(0, fd) TH_LOG("LOOP_CTL_CONFIGURE: %s", strerror(-fd));
	close(first);
	nr = fd_to_nr(fd);
	EXPECT_LT(0, nr);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	ASSERT_EQ(0, loop_get_status64(fd, &info));
	EXPECT_EQ(nr, (int)info.lo_number);
	EXPECT_TRUE(info.lo_flags & LO_FLAGS_AUTOCLEAR);
	EXPECT_EQ(BACKING_SIZE, loop_dev_size(fd));
	close(fd);
	/* Autoclear: the last close unbound it. */
	EXPECT_EQ(0, loop_bound_state(nr));
}

/* It takes the lowest unbound device, as GET_FREE would name it. */
TEST_F(alloc, takes_lowest_free)
{
	int expect, fd;

	expect = loop_ctl_get_free(self->ctl);
	ASSERT_LE(0, expect);
	fd = alloc_bind(self->ctl, self->back, LO_FLAGS_AUTOCLEAR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(expect, fd_to_nr(fd));
	close(fd);
}

/* A read-only config gives a read-only fd and device. */
TEST_F(alloc, read_only)
{
	struct loop_info64 info;
	int fd;

	fd = alloc_bind(self->ctl, self->back,
			LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(O_RDONLY, fcntl(fd, F_GETFL) & O_ACCMODE);
	ASSERT_EQ(0, loop_get_status64(fd, &info));
	EXPECT_TRUE(info.lo_flags & LO_FLAGS_READ_ONLY);
	close(fd);
}

/* Every LOOP_CONFIGURE error applies, and leaves nothing behind. */
TEST_F(alloc, errors_leave_nothing)
{
	int before_bound = count_bound();
	int before_devs = count_devices();
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	struct loop_config cfg = { .fd = self->back, .block_size = 1000 };

	ASSERT_LE(0, dir);
	EXPECT_EQ(-EBADF, alloc_bind(self->ctl, 9999, 0));
	EXPECT_EQ(-EINVAL, alloc_bind(self->ctl, dir, 0));
	EXPECT_EQ(-EINVAL, alloc_bind(self->ctl, self->back, 0x8000));
	EXPECT_EQ(-1, ioctl(self->ctl, LOOP_CTL_CONFIGURE, &cfg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->ctl, LOOP_CTL_CONFIGURE, NULL));
	EXPECT_EQ(EFAULT, errno);
	close(dir);
	EXPECT_EQ(before_bound, count_bound());
	EXPECT_EQ(before_devs, count_devices());
}

/* A device made for a failing call is removed again. */
TEST_F(alloc, failure_removes_new_device)
{
	int fds[64];
	int i, n, before;

	/* Bind every existing device, so the next call must add one. */
	for (n = 0; n < 64 && count_bound() < count_devices(); n++) {
		fds[n] = alloc_bind(self->ctl, self->back, LO_FLAGS_AUTOCLEAR);
		ASSERT_LE(0, fds[n]);
	}
	ASSERT_EQ(count_devices(), count_bound());
	before = count_devices();
	EXPECT_EQ(-EBADF, alloc_bind(self->ctl, 9999, 0));
	EXPECT_EQ(before, count_devices());
	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* Workers: bind, check sole ownership, unbind; any error is a failure. */
static int alloc_worker(int ctl, int back, int *owner, int iters)
{
	int i, fd, nr, zero;

	for (i = 0; i < iters; i++) {
		fd = alloc_bind(ctl, back, LO_FLAGS_AUTOCLEAR);
		if (fd < 0)
			return 10 + (-fd & 0xff) % 100;
		nr = fd_to_nr(fd);
		if (nr < 0 || nr >= MAX_DEVICES)
			return 2;
		zero = 0;
		if (!__atomic_compare_exchange_n(&owner[nr], &zero, getpid(),
						 false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST))
			return 3;	/* somebody else holds this device */
		__atomic_store_n(&owner[nr], 0, __ATOMIC_SEQ_CST);
		close(fd);
	}
	return 0;
}

/*
 * Fork NR_WORKERS alloc_worker()s sharing one owner table (*owner, to be
 * unmapped by the caller).  0, or -errno with no worker left running.
 */
static int start_workers(int ctl, int back, int iters, pid_t *pids,
			 int **owner)
{
	int i, j, err;

	*owner = mmap(NULL, MAX_DEVICES * sizeof(int), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (*owner == MAP_FAILED)
		return -errno;
	for (i = 0; i < NR_WORKERS; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			err = -errno;
			for (j = 0; j < i; j++) {
				kill(pids[j], SIGKILL);
				waitpid(pids[j], NULL, 0);
			}
			munmap(*owner, MAX_DEVICES * sizeof(int));
			*owner = MAP_FAILED;
			return err;
		}
		if (!pids[i])
			_exit(alloc_worker(ctl, back, *owner, iters));
	}
	return 0;
}

TEST_F_TIMEOUT(alloc, concurrent_never_shared, 170)
{
	int *owner;
	pid_t pids[NR_WORKERS];
	int i, status, iters = alloc_iters();

	ASSERT_EQ(0, start_workers(self->ctl, self->back, iters, pids, &owner));
	for (i = 0; i < NR_WORKERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		/* 2: bad fd, 3: shared device, 10+: errno + 10 */
		EXPECT_EQ(0, WEXITSTATUS(status))
			TH_LOG("worker %d exit %d", i, WEXITSTATUS(status));
	}
	munmap(owner, MAX_DEVICES * sizeof(int));
	EXPECT_EQ(0, count_bound()) TH_LOG("devices left bound");
}

/* Callers killed at any point leave no device bound. */
TEST_F_TIMEOUT(alloc, killed_callers_leak_nothing, 120)
{
	pid_t pids[NR_WORKERS];
	int *owner;
	int i, status;

	ASSERT_EQ(0, start_workers(self->ctl, self->back, INT_MAX, pids,
				   &owner));
	loop_msleep(2000);
	for (i = 0; i < NR_WORKERS; i++)
		kill(pids[i], SIGKILL);
	for (i = 0; i < NR_WORKERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status))
			TH_LOG("worker %d ended early: exit %d", i,
			       WEXITSTATUS(status));
	}
	munmap(owner, MAX_DEVICES * sizeof(int));
	EXPECT_EQ(0, count_bound()) TH_LOG("devices left bound");
}

/*
 * Who may call LOOP_CTL_CONFIGURE.  The fd it hands out was never checked
 * against /dev/loopN's mode, so it takes CAP_SYS_ADMIN, while the other
 * commands stay open to whoever may open /dev/loop-control: a user it was
 * opened up to (the nobody variant: the node's mode is 0666 for the test,
 * /dev/loopN keep theirs), or root without CAP_SYS_ADMIN.
 */
FIXTURE(unpriv) {
	int ctl;
	int back;
	mode_t ctl_mode;	/* /dev/loop-control's, to put back */
	bool chmodded;
	char path[PATH_MAX];
	struct loop_snap snap;
};

FIXTURE_VARIANT(unpriv) {
	bool nobody;		/* else root without CAP_SYS_ADMIN */
};

FIXTURE_VARIANT_ADD(unpriv, nobody) {
	.nobody = true,
};

FIXTURE_VARIANT_ADD(unpriv, no_cap_sys_admin) {
	.nobody = false,
};

FIXTURE_SETUP(unpriv)
{
	const char *why = loop_not_ready();
	struct stat st;

	self->ctl = -1;
	self->back = -1;
	self->chmodded = false;
	self->path[0] = '\0';
	if (why)
		SKIP(return, "%s", why);
	self->ctl = loop_ctl_open();
	ASSERT_LE(0, self->ctl);
	if (ioctl(self->ctl, LOOP_CTL_CONFIGURE, NULL) < 0 &&
	    errno == LOOP_CTL_UNKNOWN_ERRNO)
		SKIP(return, "LOOP_CTL_CONFIGURE not supported (stock driver)");
	loop_snap_take(&self->snap);
	self->back = loop_backing_create(self->path, sizeof(self->path),
					 BACKING_SIZE, 0);
	ASSERT_LE(0, self->back);
	ASSERT_EQ(0, stat(LOOP_CTL_PATH, &st));
	self->ctl_mode = st.st_mode & 07777;
	if (variant->nobody) {
		/* Last: teardown, which puts the mode back, runs from here on. */
		ASSERT_EQ(0, chmod(LOOP_CTL_PATH, 0666));
		self->chmodded = true;
	}
}

FIXTURE_TEARDOWN(unpriv)
{
	if (self->chmodded)
		EXPECT_EQ(0, chmod(LOOP_CTL_PATH, self->ctl_mode));
	if (self->back >= 0)
		close(self->back);
	if (self->path[0])
		unlink(self->path);
	if (self->ctl >= 0) {
		close(self->ctl);
		EXPECT_EQ(0, loop_snap_restore(&self->snap));
	}
}

static int drop_cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	unsigned int i = CAP_TO_INDEX(CAP_SYS_ADMIN);
	__u32 mask = CAP_TO_MASK(CAP_SYS_ADMIN);

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[i].effective &= ~mask;
	data[i].permitted &= ~mask;
	data[i].inheritable &= ~mask;
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

static int become_nobody(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return -errno;
	return 0;
}

struct unpriv_result {
	int drop_err;		/* errno of giving up the privilege */
	int open_err;		/* errno of opening /dev/loop-control */
	long get_free;		/* LOOP_CTL_GET_FREE: number or -errno */
	long configure;		/* LOOP_CTL_CONFIGURE: fd or -errno */
};

TEST_F(unpriv, configure_needs_cap_sys_admin)
{
	struct unpriv_result *res;
	int status, ctl;
	pid_t pid;

	/* No ASSERT: the harness would skip the teardown, the mode stay. */
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	EXPECT_NE(MAP_FAILED, res);
	if (res == MAP_FAILED)
		return;
	pid = fork();
	if (!pid) {
		res->drop_err = -(variant->nobody ? become_nobody() :
				  drop_cap_sys_admin());
		if (res->drop_err)
			_exit(0);
		ctl = open(LOOP_CTL_PATH, O_RDWR | O_CLOEXEC);
		res->open_err = ctl < 0 ? errno : 0;
		if (ctl < 0)
			_exit(0);
		res->get_free = loop_ctl_get_free(ctl);
		/* Should it bind, exiting unbinds it again. */
		res->configure = alloc_bind(ctl, self->back,
					    LO_FLAGS_AUTOCLEAR);
		_exit(0);
	}
	EXPECT_LT(0, pid);
	EXPECT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, res->drop_err)
		TH_LOG("cannot drop privileges: %s", strerror(res->drop_err));
	EXPECT_EQ(0, res->open_err)
		TH_LOG("cannot open %s unprivileged: %s", LOOP_CTL_PATH,
		       strerror(res->open_err));
	if (pid < 0 || res->drop_err || res->open_err)
		goto out;
	EXPECT_LE(0, res->get_free)
		TH_LOG("GET_FREE without CAP_SYS_ADMIN: %s",
		       strerror(-res->get_free));
	EXPECT_EQ(-EPERM, res->configure)
		TH_LOG("LOOP_CTL_CONFIGURE without CAP_SYS_ADMIN: want EPERM, got %ld",
		       res->configure);
out:
	munmap(res, sizeof(*res));
}

/*
 * LO_FLAGS_STRICT: the bind fails, and binds nothing, rather than drop a
 * setting it cannot honour: EOPNOTSUPP for direct I/O the backing file
 * cannot do (a file on ramfs), EROFS for a device that would be read-only
 * unasked (an O_RDONLY backing fd).  It is never stored.  Through
 * LOOP_CONFIGURE on the device GET_FREE names, and through
 * LOOP_CTL_CONFIGURE, which takes that same device.  Stock 6.12 has no
 * LOOP_CTL_CONFIGURE and refuses the 0x20 bit with EINVAL.
 */
FIXTURE(strict) {
	int ctl;
	int back;		/* a tmpfs file */
	int ramfd;		/* a ramfs file: no direct I/O */
	int fd;			/* the bound device */
	int nr;			/* GET_FREE's device, then the bound one */
	int devs;		/* devices before the test */
	int bound;		/* ... of which bound */
	char path[PATH_MAX];
	char ramdir[PATH_MAX];
	char ramfile[PATH_MAX + 16];
	struct loop_snap snap;
};

FIXTURE_VARIANT(strict) {
	bool ctl;		/* LOOP_CTL_CONFIGURE, else LOOP_CONFIGURE */
};

FIXTURE_VARIANT_ADD(strict, configure) {
	.ctl = false,
};

FIXTURE_VARIANT_ADD(strict, ctl_configure) {
	.ctl = true,
};

FIXTURE_SETUP(strict)
{
	const char *why = loop_not_ready();

	self->ctl = -1;
	self->back = -1;
	self->ramfd = -1;
	self->fd = -1;
	self->nr = -1;
	self->path[0] = '\0';
	self->ramdir[0] = '\0';
	self->ramfile[0] = '\0';
	if (why)
		SKIP(return, "%s", why);
	self->ctl = loop_ctl_open();
	ASSERT_LE(0, self->ctl);
	if (variant->ctl && ioctl(self->ctl, LOOP_CTL_CONFIGURE, NULL) < 0 &&
	    errno == LOOP_CTL_UNKNOWN_ERRNO)
		SKIP(return, "LOOP_CTL_CONFIGURE not supported (stock driver)");
	loop_snap_take(&self->snap);
	self->nr = loop_ctl_get_free(self->ctl);
	ASSERT_LE(0, self->nr);
	self->devs = count_devices();
	self->bound = count_bound();
	self->back = loop_backing_create(self->path, sizeof(self->path),
					 BACKING_SIZE, 0);
	ASSERT_LE(0, self->back);

	snprintf(self->ramdir, sizeof(self->ramdir),
		 "%s/ksft-loop-ramfs-XXXXXX", loop_tmpdir());
	ASSERT_NE(NULL, mkdtemp(self->ramdir));
	if (mount("ramfs", self->ramdir, "ramfs", 0, NULL)) {
		rmdir(self->ramdir);
		SKIP(return, "cannot mount ramfs: %s", strerror(errno));
	}
	snprintf(self->ramfile, sizeof(self->ramfile), "%s/backing",
		 self->ramdir);
	self->ramfd = open(self->ramfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (self->ramfd < 0 || ftruncate(self->ramfd, BACKING_SIZE)) {
		umount2(self->ramdir, MNT_DETACH);
		rmdir(self->ramdir);
		ASSERT_TRUE(false) TH_LOG("cannot make a file on ramfs");
	}
}

FIXTURE_TEARDOWN(strict)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->ctl >= 0)
		EXPECT_EQ(0, loop_snap_restore(&self->snap));
	if (self->ramfd >= 0) {
		close(self->ramfd);
		unlink(self->ramfile);
		umount2(self->ramdir, MNT_DETACH);
		rmdir(self->ramdir);
	}
	if (self->back >= 0)
		close(self->back);
	if (self->path[0])
		unlink(self->path);
	if (self->ctl >= 0)
		close(self->ctl);
}

/*
 * Bind @backfd with @flags the variant's way.  The fd for the device goes
 * to self->fd, its number to self->nr, its status to @info.  0 or -errno.
 */
static int strict_bind(FIXTURE_DATA(strict) *self,
		       const FIXTURE_VARIANT(strict) *variant, int backfd,
		       uint32_t flags, struct loop_info64 *info)
{
	int fd, ret;

	if (variant->ctl) {
		fd = alloc_bind(self->ctl, backfd, flags);
		if (fd < 0)
			return fd;
	} else {
		fd = loop_open(self->nr, O_RDWR);
		if (fd < 0)
			return fd;
		ret = loop_configure(fd, backfd, flags, 0, 0, 0, NULL);
		if (ret) {
			close(fd);
			return ret;
		}
	}
	self->fd = fd;
	ret = loop_get_status64(fd, info);
	if (!ret)
		self->nr = info->lo_number;
	return ret;
}

/* A failed bind left everything as it was. */
static void expect_unchanged(struct __test_metadata *_metadata,
			     FIXTURE_DATA(strict) *self)
{
	EXPECT_EQ(self->bound, count_bound())
		TH_LOG("a failed bind left a device bound");
	EXPECT_EQ(self->devs, count_devices())
		TH_LOG("a failed bind added a device or lost one");
	EXPECT_EQ(self->nr, loop_ctl_get_free(self->ctl))
		TH_LOG("loop%d is no longer the free device", self->nr);
}

#define STRICT_UNSUPPORTED \
	"LO_FLAGS_STRICT not supported (stock 6.12 refuses 0x20 with EINVAL)"

/*
 * The tests below check with EXPECT and return: after an ASSERT in a test
 * body the harness skips the teardown, which unbinds and unmounts.
 */

/* Direct I/O the backing file cannot do: EOPNOTSUPP, nothing bound. */
TEST_F(strict, dio_unsupported)
{
	struct loop_info64 info;
	int ret;

	ret = strict_bind(self, variant, self->ramfd,
			  LO_FLAGS_STRICT | LO_FLAGS_DIRECT_IO, &info);
	if (ret == -EINVAL && !variant->ctl)
		SKIP(return, STRICT_UNSUPPORTED);
	EXPECT_EQ(-EOPNOTSUPP, ret)
		TH_LOG("STRICT | DIRECT_IO on ramfs: %s", strerror(-ret));
	expect_unchanged(_metadata, self);
}

/* Without STRICT the same bind succeeds, without direct I/O, as in stock. */
TEST_F(strict, dio_dropped_without_strict)
{
	struct loop_info64 info;
	int ret;

	ret = strict_bind(self, variant, self->ramfd, LO_FLAGS_DIRECT_IO,
			  &info);
	EXPECT_EQ(0, ret) TH_LOG("DIRECT_IO on ramfs: %s", strerror(-ret));
	if (ret)
		return;
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_DIRECT_IO);
	EXPECT_EQ(0, loop_sysfs_ll(self->nr, "loop/dio"));
}

/* A read-only fd makes a read-only device: EROFS unless that was asked. */
TEST_F(strict, read_only_unasked)
{
	struct loop_info64 info;
	int rofd, ret;

	rofd = open(self->path, O_RDONLY | O_CLOEXEC);
	EXPECT_LE(0, rofd);
	if (rofd < 0)
		return;
	ret = strict_bind(self, variant, rofd, LO_FLAGS_STRICT, &info);
	if (ret == -EINVAL && !variant->ctl) {
		close(rofd);
		SKIP(return, STRICT_UNSUPPORTED);
	}
	EXPECT_EQ(-EROFS, ret)
		TH_LOG("STRICT, O_RDONLY backing fd: %s", strerror(-ret));
	if (ret) {
		expect_unchanged(_metadata, self);
		/* Asked for, read-only is what STRICT holds to. */
		ret = strict_bind(self, variant, rofd,
				  LO_FLAGS_STRICT | LO_FLAGS_READ_ONLY, &info);
		EXPECT_EQ(0, ret)
			TH_LOG("STRICT | READ_ONLY: %s", strerror(-ret));
		if (!ret) {
			EXPECT_EQ(LO_FLAGS_READ_ONLY,
				  info.lo_flags & LO_FLAGS_READ_ONLY);
		}
	}
	close(rofd);
}

/* What can be honoured binds; STRICT is a request, not a device flag. */
TEST_F(strict, not_stored)
{
	struct loop_info64 info;
	int ret;

	ret = strict_bind(self, variant, self->back, LO_FLAGS_STRICT, &info);
	if (ret == -EINVAL && !variant->ctl)
		SKIP(return, STRICT_UNSUPPORTED);
	EXPECT_EQ(0, ret) TH_LOG("STRICT on tmpfs: %s", strerror(-ret));
	if (ret)
		return;
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_STRICT);
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_READ_ONLY);
	EXPECT_EQ(BACKING_SIZE, loop_dev_size(self->fd));
}

TEST_HARNESS_MAIN
