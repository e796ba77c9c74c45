// SPDX-License-Identifier: GPL-2.0
/*
 * LOOP_CTL_CONFIGURE: allocate and bind a loop device in one call and get
 * an open fd for it.  Checks the result, the error paths (nothing left
 * bound, no device left behind, also when somebody opened the new device
 * meanwhile), REMOVE of the device it holds (EBUSY), that it takes
 * CAP_SYS_ADMIN, that concurrent callers never share a device, never see
 * EBUSY, and leak nothing when killed, and LO_FLAGS_STRICT, through
 * LOOP_CTL_CONFIGURE and LOOP_CONFIGURE alike.
 *
 * LOOP_ALLOC_ITERS sets the calls per worker (default 500).
 */
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"

#define NR_WORKERS	8
#define BAD_FD		9999
#define RACE_MS		30000	/* time the racing tests may take to get in */

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

static int ids[LOOP_MAX_DEVICES];

/* How many loop devices there are. */
static int count_devices(void)
{
	return loop_list(ids, LOOP_MAX_DEVICES);
}

/* How many loop devices have a backing file right now. */
static int count_bound(void)
{
	int i, n, bound = 0;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	for (i = 0; i < n; i++)
		bound += loop_sysfs_has(ids[i], "loop/backing_file");
	return bound;
}

static int alloc_iters(void)
{
	const char *env = getenv("LOOP_ALLOC_ITERS");

	return env ? atoi(env) : 500;
}

/*
 * A test and its racing helper take turns by attempt number: the test
 * sets go to the attempt and calls LOOP_CTL_CONFIGURE, the helper races it
 * until the test sets done to the same number, then reports in its fields
 * and sets ack.  A go of -1 sends the helper home.
 */
struct race {
	int nr;			/* the device the call takes or adds */
	int go;
	int done;
	int ack;
	int release;		/* the helper may close what it holds */
	/* failed_configure_reaps_opener */
	int result;		/* REAP_* */
	int status_err;		/* LOOP_GET_STATUS64 on what it holds */
	/* remove_held_by_configure_ebusy */
	int during;		/* REMOVEs while partitions showed */
	int bad;		/* ... that did not answer EBUSY */
	long last_bad;		/* what one of them answered */
};

/*
 * Skip the test on a driver without LOOP_CTL_CONFIGURE (stock).  A setup
 * that skips gets no teardown, so undo @lo here.  True if skipped.
 */
static bool skip_without_ctl_configure(struct __test_metadata *_metadata,
				       struct loop_fixture *lo)
{
	if (loop_ctl_ioctl(lo->ctl, LOOP_CTL_CONFIGURE, 0) !=
	    -LOOP_CTL_UNKNOWN_ERRNO)
		return false;
	loop_fixture_teardown(lo);
	SKIP(return true, "LOOP_CTL_CONFIGURE not supported (stock driver)");
}

FIXTURE(alloc) {
	struct loop_fixture lo;	/* no device, a sparse backing file */
	pid_t helper;		/* a racing helper process, killed at the end */
	struct race *race;	/* shared with it */
	char node[PATH_MAX];	/* a block node of our own */
};

FIXTURE_SETUP(alloc)
{
	self->helper = -1;
	self->race = MAP_FAILED;
	self->node[0] = '\0';
	if (!loop_fixture_start(_metadata, &self->lo, LOOP_FIX_BACKING, 0))
		return;
	if (skip_without_ctl_configure(_metadata, &self->lo))
		return;
}

FIXTURE_TEARDOWN(alloc)
{
	if (self->helper > 0) {
		kill(self->helper, SIGKILL);
		waitpid(self->helper, NULL, 0);
	}
	if (self->race != MAP_FAILED)
		munmap(self->race, sizeof(*self->race));
	if (self->node[0])
		unlink(self->node);
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
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
	first = alloc_bind(self->lo.ctl, self->lo.backfd, LO_FLAGS_AUTOCLEAR);
	ASSERT_LE(0, first) TH_LOG("LOOP_CTL_CONFIGURE: %s", strerror(-first));
	fd = alloc_bind(self->lo.ctl, self->lo.backfd, LO_FLAGS_AUTOCLEAR);
	ASSERT_LE(0, fd) TH_LOG("LOOP_CTL_CONFIGURE: %s", strerror(-fd));
	close(first);
	nr = fd_to_nr(fd);
	EXPECT_LT(0, nr);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	ASSERT_EQ(0, loop_get_status64(fd, &info));
	EXPECT_EQ(nr, (int)info.lo_number);
	EXPECT_TRUE(info.lo_flags & LO_FLAGS_AUTOCLEAR);
	EXPECT_EQ(LOOP_BACKING_SIZE, loop_dev_size(fd));
	close(fd);
	/* Autoclear: the last close unbound it. */
	EXPECT_EQ(0, loop_bound_state(nr));
}

/* It takes the lowest unbound device, as GET_FREE would name it. */
TEST_F(alloc, takes_lowest_free)
{
	int expect, fd;

	expect = loop_ctl_get_free(self->lo.ctl);
	ASSERT_LE(0, expect);
	fd = alloc_bind(self->lo.ctl, self->lo.backfd, LO_FLAGS_AUTOCLEAR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(expect, fd_to_nr(fd));
	close(fd);
}

/* A read-only config gives a read-only fd and device. */
TEST_F(alloc, read_only)
{
	struct loop_info64 info;
	int fd;

	fd = alloc_bind(self->lo.ctl, self->lo.backfd,
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
	struct loop_config cfg = { .fd = self->lo.backfd, .block_size = 1000 };

	ASSERT_LE(0, dir);
	EXPECT_EQ(-EBADF, alloc_bind(self->lo.ctl, BAD_FD, 0));
	EXPECT_EQ(-EINVAL, alloc_bind(self->lo.ctl, dir, 0));
	EXPECT_EQ(-EINVAL, alloc_bind(self->lo.ctl, self->lo.backfd, 0x8000));
	EXPECT_EQ(-1, ioctl(self->lo.ctl, LOOP_CTL_CONFIGURE, &cfg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->lo.ctl, LOOP_CTL_CONFIGURE, NULL));
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
		fds[n] = alloc_bind(self->lo.ctl, self->lo.backfd,
				    LO_FLAGS_AUTOCLEAR);
		ASSERT_LE(0, fds[n]);
	}
	ASSERT_EQ(count_devices(), count_bound());
	before = count_devices();
	EXPECT_EQ(-EBADF, alloc_bind(self->lo.ctl, BAD_FD, 0));
	EXPECT_EQ(before, count_devices());
	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* Minors per device: a device's first minor is its number shifted by this. */
static int part_shift(void)
{
	char buf[32];
	int max_part, shift = 0;

	if (loop_read_file("/sys/module/loop/parameters/max_part", buf,
			   sizeof(buf)) < 0)
		return 0;
	for (max_part = atoi(buf); max_part >> shift; shift++)
		;
	return shift;
}

static int load_int(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_int(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Wait until *@p == @v, up to 5 s; 0 or -ETIMEDOUT. */
static int wait_int(const int *p, int v)
{
	uint64_t end = loop_now_ms() + 5000;

	while (load_int(p) != v)
		if (loop_now_ms() > end)
			return -ETIMEDOUT;
	return 0;
}

/* Wait for the next attempt; its number, or -1 to go home. */
static int race_next(struct race *rc, int prev)
{
	int gen;

	while ((gen = load_int(&rc->go)) == prev)
		;
	return gen;
}

/* End attempt @gen on the test's side: wait for the helper's report. */
static int race_finish(struct race *rc, int gen)
{
	store_int(&rc->done, gen);
	return wait_int(&rc->ack, gen);
}

/* The shared struct race of a test, unmapped at teardown; NULL on failure. */
static struct race *race_map(struct race **race)
{
	*race = mmap(NULL, sizeof(**race), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return *race == MAP_FAILED ? NULL : *race;
}

enum {
	REAP_MISSED,		/* the device was gone before we got in */
	REAP_CAUGHT,		/* we hold the device the failed call added */
	REAP_AUTOLOAD,		/* too late: our open made a new device */
};

/*
 * The helper of failed_configure_reaps_opener: open the device the failing
 * call adds, through @node, while it exists.  Opening a loop device that
 * does not exist creates it (legacy autoload), so open only once sysfs
 * shows it, and check that the device opened is the one sysfs showed: a
 * new one has another disk sequence number.
 */
static __noreturn void reap_helper(struct race *rc, int ctl,
				   const char *node)
{
	char sys[PATH_MAX];
	struct loop_info64 info;
	long long seq;
	uint64_t got;
	int gen = 0, fd, result;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	loop_sysfs_path(sys, sizeof(sys), rc->nr, NULL);
	for (;;) {
		gen = race_next(rc, gen);
		if (gen < 0)
			_exit(0);
		result = REAP_MISSED;
		fd = -1;
		while (load_int(&rc->done) != gen) {
			if (access(sys, F_OK))
				continue;
			seq = loop_sysfs_ll(rc->nr, "diskseq");
			if (seq < 0)
				continue;
			fd = open(node, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (!ioctl(fd, BLKGETDISKSEQ, &got) &&
			    got == (uint64_t)seq) {
				result = REAP_CAUGHT;
				rc->status_err = -loop_get_status64(fd, &info);
				break;
			}
			close(fd);
			fd = -1;
			loop_remove_wait(ctl, rc->nr);
			result = REAP_AUTOLOAD;
			break;
		}
		while (load_int(&rc->done) != gen)
			;
		rc->result = result;
		store_int(&rc->ack, gen);
		if (result == REAP_CAUGHT) {
			while (!load_int(&rc->release))
				loop_msleep(1);
			close(fd);
			_exit(0);
		}
	}
}

/*
 * A LOOP_CTL_CONFIGURE that added a device and failed leaves no device
 * behind, also when somebody opened the new device meanwhile, as udev and
 * blkid do on its add uevent: new opens fail, and the device goes at that
 * opener's last close.  No device is free, so each failing call adds
 * loopK, K the lowest unused number, and a helper opens it in the moment
 * between the add and the failure.  Whether it gets in there is up to the
 * scheduler: the test tries again and again, and skips if it never did.
 */
TEST_F_TIMEOUT(alloc, failed_configure_reaps_opener, 120)
{
	int attempt, autoload = 0, nr, fd;
	char sys[PATH_MAX];
	struct race *rc;
	uint64_t end;
	long ret;

	/* No ASSERT from here on: the harness would skip the teardown. */
	ret = loop_remove_unbound(self->lo.ctl);
	EXPECT_EQ(0, ret) TH_LOG("cannot remove the unbound devices");
	rc = race_map(&self->race);
	EXPECT_NE(NULL, rc);
	if (ret || !rc)
		return;
	nr = loop_lowest_unused();
	rc->nr = nr;
	loop_sysfs_path(sys, sizeof(sys), nr, NULL);
	ret = loop_mknod(self->node, sizeof(self->node), nr << part_shift());
	EXPECT_EQ(0, ret) TH_LOG("mknod: %s", strerror(-ret));
	if (ret)
		return;
	self->helper = fork();
	if (!self->helper)
		reap_helper(rc, self->lo.ctl, self->node);
	EXPECT_LT(0, self->helper);
	if (self->helper < 0)
		return;

	end = loop_now_ms() + RACE_MS;
	for (attempt = 1; attempt < 1000 && loop_now_ms() < end; attempt++) {
		store_int(&rc->go, attempt);
		ret = alloc_bind(self->lo.ctl, BAD_FD, 0);
		EXPECT_EQ(0, race_finish(rc, attempt))
			TH_LOG("the helper does not answer");
		EXPECT_EQ(-EBADF, ret);
		if (ret != -EBADF || rc->ack != attempt)
			return;
		if (rc->result == REAP_CAUGHT)
			break;
		autoload += rc->result == REAP_AUTOLOAD;
		EXPECT_FALSE(loop_exists(nr))
			TH_LOG("attempt %d: the failed call left loop%d behind",
			       attempt, nr);
		if (loop_exists(nr))
			return;
	}
	if (rc->result != REAP_CAUGHT)
		SKIP(return, "the helper never got in: %d calls, %d opens late",
		     attempt - 1, autoload);
	TH_LOG("the helper got in on attempt %d (%d opens too late)",
	       attempt, autoload);

	/* The helper holds a device on its way out, unbound. */
	EXPECT_EQ(ENXIO, rc->status_err)
		TH_LOG("LOOP_GET_STATUS64 on it: %s", strerror(rc->status_err));
	EXPECT_TRUE(loop_exists(nr))
		TH_LOG("loop%d went away while the helper held it", nr);
	if (!loop_exists(nr))
		return;
	fd = open(self->node, O_RDONLY | O_CLOEXEC);
	EXPECT_EQ(-ENXIO, fd < 0 ? -errno : fd)
		TH_LOG("a new open of loop%d on its way out", nr);
	if (fd >= 0)
		close(fd);
	EXPECT_EQ(-ENODEV, loop_ctl_remove(self->lo.ctl, nr));
	EXPECT_EQ(-EEXIST, loop_ctl_add(self->lo.ctl, nr));
	ret = loop_ctl_get_free(self->lo.ctl);
	EXPECT_NE(nr, ret) TH_LOG("GET_FREE names the device on its way out");

	/*
	 * Its last close removes it, shortly after, in a worker: sysfs first,
	 * the number a moment later.
	 */
	store_int(&rc->release, 1);
	EXPECT_EQ(self->helper, waitpid(self->helper, NULL, 0));
	self->helper = -1;
	loop_poll_until((ret = loop_exists(nr) ? -EEXIST :
			 loop_ctl_add(self->lo.ctl, nr)) != -EEXIST, 2000);
	EXPECT_EQ(nr, ret)
		TH_LOG("2 s after its last opener left, loop%d %s", nr,
		       loop_exists(nr) ? "is still there" :
		       "cannot be added again");
	EXPECT_EQ(0, loop_remove_wait(self->lo.ctl, nr));
	EXPECT_EQ(-ENODEV, loop_ctl_remove(self->lo.ctl, nr));
}

/*
 * The helper of remove_held_by_configure_ebusy: REMOVE the device the call
 * binds whenever its first partition shows.  The partitions are scanned
 * inside the call, so from then on the device exists, held by the call or
 * bound and published, and REMOVE must answer EBUSY.
 */
static __noreturn void busy_helper(struct race *rc, int ctl)
{
	char part[PATH_MAX];
	int gen = 0;
	long ret;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(part, sizeof(part), "/sys/block/loop%d/loop%dp1", rc->nr,
		 rc->nr);
	for (;;) {
		gen = race_next(rc, gen);
		if (gen < 0)
			_exit(0);
		while (load_int(&rc->done) != gen) {
			if (access(part, F_OK))
				continue;
			ret = loop_ctl_remove(ctl, rc->nr);
			/* Only what ran before the call returned counts. */
			if (load_int(&rc->done) == gen)
				break;
			rc->during++;
			if (ret != -EBUSY) {
				rc->bad++;
				rc->last_bad = ret;
			}
		}
		store_int(&rc->ack, gen);
	}
}

/*
 * REMOVE of a device that LOOP_CTL_CONFIGURE holds answers EBUSY: the
 * device is there, only busy.  The call holds it from taking it until it
 * publishes it bound; a helper calls REMOVE once the partition scan of the
 * bind has shown the first of four partitions, so it gets in while the
 * last ones are added, if the scheduler lets it.  Best effort: the test
 * skips if the helper never got in before the call returned.
 */
TEST_F_TIMEOUT(alloc, remove_held_by_configure_ebusy, 120)
{
	int attempt, nr, fd;
	struct race *rc;
	uint64_t end;

	/* No ASSERT from here on: the harness would skip the teardown. */
	EXPECT_EQ(0, loop_write_mbr_parts(self->lo.backfd, 4, 64, 256));
	nr = loop_ctl_get_free(self->lo.ctl);
	EXPECT_LE(0, nr);
	rc = race_map(&self->race);
	EXPECT_NE(NULL, rc);
	if (nr < 0 || !rc)
		return;
	rc->nr = nr;
	self->helper = fork();
	if (!self->helper)
		busy_helper(rc, self->lo.ctl);
	EXPECT_LT(0, self->helper);
	if (self->helper < 0)
		return;

	end = loop_now_ms() + RACE_MS;
	for (attempt = 1; attempt < 1000 && loop_now_ms() < end &&
	     rc->during < 20; attempt++) {
		store_int(&rc->go, attempt);
		fd = alloc_bind(self->lo.ctl, self->lo.backfd,
				LO_FLAGS_PARTSCAN);
		EXPECT_EQ(0, race_finish(rc, attempt))
			TH_LOG("the helper does not answer");
		EXPECT_LE(0, fd) TH_LOG("bind: %s", strerror(-fd));
		if (fd < 0 || rc->ack != attempt)
			return;
		EXPECT_EQ(nr, fd_to_nr(fd));
		EXPECT_EQ(0, loop_ioctl(fd, LOOP_CLR_FD, 0));
		close(fd);
		EXPECT_EQ(0, loop_wait_unbound(nr, LOOP_NODE_WAIT_MS));
		EXPECT_EQ(0, rc->bad)
			TH_LOG("attempt %d: REMOVE of loop%d answered %ld",
			       attempt, nr, rc->last_bad);
		if (rc->bad)
			return;
	}
	if (!rc->during)
		SKIP(return, "REMOVE never ran during the call, in %d calls",
		     attempt - 1);
	TH_LOG("%d REMOVEs while partitions showed, in %d calls", rc->during,
	       attempt - 1);
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
		if (nr < 0 || nr >= LOOP_MAX_DEVICES)
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

	*owner = mmap(NULL, LOOP_MAX_DEVICES * sizeof(int),
		      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
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
			munmap(*owner, LOOP_MAX_DEVICES * sizeof(int));
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

	ASSERT_EQ(0, start_workers(self->lo.ctl, self->lo.backfd, iters,
				   pids, &owner));
	for (i = 0; i < NR_WORKERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		/* 2: bad fd, 3: shared device, 10+: errno + 10 */
		EXPECT_EQ(0, WEXITSTATUS(status))
			TH_LOG("worker %d exit %d", i, WEXITSTATUS(status));
	}
	munmap(owner, LOOP_MAX_DEVICES * sizeof(int));
	EXPECT_EQ(0, count_bound()) TH_LOG("devices left bound");
}

/* Callers killed at any point leave no device bound. */
TEST_F_TIMEOUT(alloc, killed_callers_leak_nothing, 120)
{
	pid_t pids[NR_WORKERS];
	int *owner;
	int i, status;

	ASSERT_EQ(0, start_workers(self->lo.ctl, self->lo.backfd, INT_MAX, pids,
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
	munmap(owner, LOOP_MAX_DEVICES * sizeof(int));
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
	struct loop_fixture lo;	/* no device, a sparse backing file */
	mode_t ctl_mode;	/* /dev/loop-control's, to put back */
	bool chmodded;
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
	struct stat st;

	self->chmodded = false;
	if (!loop_fixture_start(_metadata, &self->lo, LOOP_FIX_BACKING, 0))
		return;
	if (skip_without_ctl_configure(_metadata, &self->lo))
		return;
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
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
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
		res->configure = alloc_bind(ctl, self->lo.backfd,
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
/* What a strict test holds, in a plain struct that helpers can take. */
struct strict_state {
	/*
	 * A tmpfs backing file; nr is GET_FREE's device, then the bound one,
	 * and fd the bound device.
	 */
	struct loop_fixture lo;
	int ramfd;		/* a ramfs file: no direct I/O */
	int devs;		/* devices before the test */
	int bound;		/* ... of which bound */
	char ramdir[PATH_MAX];
	char ramfile[PATH_MAX + 16];
};

FIXTURE(strict) {
	struct strict_state s;
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
	long nr;

	self->s.ramfd = -1;
	self->s.ramdir[0] = '\0';
	self->s.ramfile[0] = '\0';
	if (!loop_fixture_start(_metadata, &self->s.lo, LOOP_FIX_BACKING, 0))
		return;
	if (variant->ctl && skip_without_ctl_configure(_metadata, &self->s.lo))
		return;
	/* Not opened: LOOP_CTL_CONFIGURE is to take this very device. */
	nr = loop_ctl_get_free(self->s.lo.ctl);
	ASSERT_LE(0, nr);
	self->s.lo.nr = nr;
	self->s.devs = count_devices();
	self->s.bound = count_bound();

	snprintf(self->s.ramdir, sizeof(self->s.ramdir),
		 "%s/ksft-loop-ramfs-XXXXXX", loop_tmpdir());
	ASSERT_NE(NULL, mkdtemp(self->s.ramdir));
	if (mount("ramfs", self->s.ramdir, "ramfs", 0, NULL)) {
		rmdir(self->s.ramdir);
		SKIP(return, "cannot mount ramfs: %s", strerror(errno));
	}
	snprintf(self->s.ramfile, sizeof(self->s.ramfile), "%s/backing",
		 self->s.ramdir);
	self->s.ramfd = open(self->s.ramfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (self->s.ramfd < 0 || ftruncate(self->s.ramfd, LOOP_BACKING_SIZE)) {
		umount2(self->s.ramdir, MNT_DETACH);
		rmdir(self->s.ramdir);
		ASSERT_TRUE(false) TH_LOG("cannot make a file on ramfs");
	}
}

FIXTURE_TEARDOWN(strict)
{
	/* Unbind first: a device may be bound to the ramfs file. */
	EXPECT_EQ(0, loop_fixture_teardown(&self->s.lo));
	if (self->s.ramfd >= 0) {
		close(self->s.ramfd);
		unlink(self->s.ramfile);
		umount2(self->s.ramdir, MNT_DETACH);
		rmdir(self->s.ramdir);
	}
}

/*
 * Bind @backfd with @flags the variant's way.  The fd for the device goes
 * to self->lo.fd, its number to self->lo.nr, its status to @info.  0 or
 * -errno.
 */
static int strict_bind(struct strict_state *self, bool ctl, int backfd,
		       uint32_t flags, struct loop_info64 *info)
{
	int fd, ret;

	if (ctl) {
		fd = alloc_bind(self->lo.ctl, backfd, flags);
		if (fd < 0)
			return fd;
	} else {
		fd = loop_open(self->lo.nr, O_RDWR);
		if (fd < 0)
			return fd;
		ret = loop_configure(fd, backfd, flags, 0, 0, 0, NULL);
		if (ret) {
			close(fd);
			return ret;
		}
	}
	self->lo.fd = fd;
	ret = loop_get_status64(fd, info);
	if (!ret)
		self->lo.nr = info->lo_number;
	return ret;
}

/* A failed bind left everything as it was. */
static void expect_unchanged(struct __test_metadata *_metadata,
			     struct strict_state *self)
{
	EXPECT_EQ(self->bound, count_bound())
		TH_LOG("a failed bind left a device bound");
	EXPECT_EQ(self->devs, count_devices())
		TH_LOG("a failed bind added a device or lost one");
	EXPECT_EQ(self->lo.nr, loop_ctl_get_free(self->lo.ctl))
		TH_LOG("loop%d is no longer the free device", self->lo.nr);
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

	ret = strict_bind(&self->s, variant->ctl, self->s.ramfd,
			  LO_FLAGS_STRICT | LO_FLAGS_DIRECT_IO, &info);
	if (ret == -EINVAL && !variant->ctl)
		SKIP(return, STRICT_UNSUPPORTED);
	EXPECT_EQ(-EOPNOTSUPP, ret)
		TH_LOG("STRICT | DIRECT_IO on ramfs: %s", strerror(-ret));
	expect_unchanged(_metadata, &self->s);
}

/* Without STRICT the same bind succeeds, without direct I/O, as in stock. */
TEST_F(strict, dio_dropped_without_strict)
{
	struct loop_info64 info;
	int ret;

	ret = strict_bind(&self->s, variant->ctl, self->s.ramfd,
			  LO_FLAGS_DIRECT_IO, &info);
	EXPECT_EQ(0, ret) TH_LOG("DIRECT_IO on ramfs: %s", strerror(-ret));
	if (ret)
		return;
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_DIRECT_IO);
	EXPECT_EQ(0, loop_sysfs_ll(self->s.lo.nr, "loop/dio"));
}

/* A read-only fd makes a read-only device: EROFS unless that was asked. */
TEST_F(strict, read_only_unasked)
{
	struct loop_info64 info;
	int rofd, ret;

	rofd = open(self->s.lo.backing, O_RDONLY | O_CLOEXEC);
	EXPECT_LE(0, rofd);
	if (rofd < 0)
		return;
	ret = strict_bind(&self->s, variant->ctl, rofd, LO_FLAGS_STRICT, &info);
	if (ret == -EINVAL && !variant->ctl) {
		close(rofd);
		SKIP(return, STRICT_UNSUPPORTED);
	}
	EXPECT_EQ(-EROFS, ret)
		TH_LOG("STRICT, O_RDONLY backing fd: %s", strerror(-ret));
	if (ret) {
		expect_unchanged(_metadata, &self->s);
		/* Asked for, read-only is what STRICT holds to. */
		ret = strict_bind(&self->s, variant->ctl, rofd,
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

	ret = strict_bind(&self->s, variant->ctl, self->s.lo.backfd,
			  LO_FLAGS_STRICT, &info);
	if (ret == -EINVAL && !variant->ctl)
		SKIP(return, STRICT_UNSUPPORTED);
	EXPECT_EQ(0, ret) TH_LOG("STRICT on tmpfs: %s", strerror(-ret));
	if (ret)
		return;
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_STRICT);
	EXPECT_EQ(0, info.lo_flags & LO_FLAGS_READ_ONLY);
	EXPECT_EQ(LOOP_BACKING_SIZE, loop_dev_size(self->s.lo.fd));
}

TEST_HARNESS_MAIN
