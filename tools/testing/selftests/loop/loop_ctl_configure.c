// SPDX-License-Identifier: GPL-2.0
/*
 * LOOP_CTL_CONFIGURE: allocate and bind a loop device in one call and get
 * an open fd for it.  Checks the result, the error paths (nothing left
 * bound, no device left behind), and that concurrent callers never share a
 * device, never see EBUSY, and leak nothing when killed.
 *
 * LOOP_ALLOC_ITERS sets the calls per worker (default 500).
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

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

TEST_HARNESS_MAIN
