// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency: worker processes race LOOP_CTL_ADD / REMOVE / GET_FREE
 * against open / LOOP_CONFIGURE / LOOP_CLR_FD / I/O / close on a small range
 * of device numbers for a bounded time.  Losing a race is fine and shows up
 * as EEXIST, ENODEV, EBUSY, ENXIO or ENOENT; any other errno, or a worker
 * that does not come back, is a failure.  Every read is checked against
 * the backing file; stress_read() says when a read may lose a race.
 * Afterwards nothing in the range may stay bound, and every device in it
 * must be removable.
 *
 * LOOP_STRESS_SECONDS sets the run time of each test (default 10).
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"

#define NR_WORKERS	8
#define RANGE_FIRST	16
#define RANGE_COUNT	16
/* The backing file holds loop_pattern_fill(PATTERN_SEED) from offset 0. */
#define PATTERN_SEED	0x5a
#define READ_SIZE	4096
/* Grace after the deadline before a worker counts as hung. */
#define HANG_GRACE_S	60

enum stress_op {
	OP_ADD, OP_REMOVE, OP_GET_FREE, OP_OPEN, OP_CONFIGURE, OP_CLR_FD,
	OP_STATUS, OP_IO, OP_COUNT
};

static const char * const op_name[OP_COUNT] = {
	"ADD", "REMOVE", "GET_FREE", "open", "CONFIGURE", "CLR_FD",
	"GET_STATUS64", "read",
};

/* Per-op counters and the first unexpected outcome, shared with workers. */
struct stress_stats {
	long ok[OP_COUNT];
	long raced[OP_COUNT];
	long bad[OP_COUNT];
	char bad_why[OP_COUNT][128];
};

static bool stress_expected(enum stress_op op, int err)
{
	switch (op) {
	case OP_ADD:
		return err == EEXIST;
	case OP_REMOVE:
		return err == ENODEV || err == EBUSY;
	case OP_GET_FREE:
		return false;
	case OP_OPEN:
		/* The node is gone, or the device is being torn down. */
		return err == ENOENT || err == ENXIO || err == ENODEV;
	case OP_CONFIGURE:
		/* Bound by someone else, or claimed, or going away. */
		return err == EBUSY || err == ENXIO;
	case OP_CLR_FD:
	case OP_STATUS:
		return err == ENXIO;
	default:
		return false;
	}
}

/* Count a failure of @op on loopN; the first one keeps its description. */
static __printf(4, 5) void stress_bad(struct stress_stats *st,
				      enum stress_op op, int nr,
				      const char *fmt, ...)
{
	char *why = st->bad_why[op];
	size_t len = sizeof(st->bad_why[op]);
	va_list ap;
	int n;

	if (__atomic_add_fetch(&st->bad[op], 1, __ATOMIC_RELAXED) != 1)
		return;
	n = snprintf(why, len, "loop%d: ", nr);
	va_start(ap, fmt);
	vsnprintf(why + n, len - n, fmt, ap);
	va_end(ap);
}

static void stress_count(struct stress_stats *st, enum stress_op op, int ret,
			 int nr)
{
	if (ret >= 0)
		__atomic_add_fetch(&st->ok[op], 1, __ATOMIC_RELAXED);
	else if (stress_expected(op, -ret))
		__atomic_add_fetch(&st->raced[op], 1, __ATOMIC_RELAXED);
	else
		stress_bad(st, op, nr, "unexpected %s", strerror(-ret));
}

static bool in_range(long nr)
{
	return nr >= RANGE_FIRST && nr < RANGE_FIRST + RANGE_COUNT;
}

/*
 * Read a page of loopN through @fd and check it against the backing file.
 * Every binding in the range is of the one backing file at offset 0, so
 * whatever a read returns must be the pattern at that offset.  What else
 * it may see depends on what the reader knew before it started:
 *
 * - @bound: our own LOOP_CONFIGURE or GET_STATUS64 found the device bound,
 *   and we hold it open.  Then it stays bound until we close it: a
 *   LOOP_CLR_FD from another opener only defers the unbind to the last
 *   close, and LOOP_CTL_REMOVE refuses a bound or open device.  The read
 *   must return the whole page.  An error, EIO included, or a short read
 *   is a failure.
 *
 * - Not known bound: the device was unbound when asked, and another worker
 *   may bind it while we read.  An unbound device has no sectors, so the
 *   read returns 0; once bound, it returns the page.  In between, both
 *   stock 6.12 and this driver set the capacity a moment before the device
 *   takes I/O, so a read that sees the new size may fail with EIO.  Stock
 *   also counts openers in LOOP_CLR_FD without disk->open_mutex, so an open
 *   that is just completing may find the device running down (our
 *   GET_STATUS64 then said ENXIO): its I/O fails with EIO too.  So EOF and
 *   EIO are lost races here; anything else is a failure.
 */
static void stress_read(struct stress_stats *st, int fd, int nr, bool bound,
			unsigned int *seed)
{
	const char *what = bound ? "bound" : "not seen bound";
	off_t pos = (off_t)(rand_r(seed) % 64) * READ_SIZE;
	unsigned char buf[READ_SIZE];
	ssize_t ret;
	long diff;
	int err;

	ret = pread(fd, buf, sizeof(buf), pos);
	err = ret < 0 ? errno : 0;
	if (ret == sizeof(buf)) {
		diff = loop_pattern_check(buf, sizeof(buf), pos, PATTERN_SEED);
		if (diff < 0)
			__atomic_add_fetch(&st->ok[OP_IO], 1, __ATOMIC_RELAXED);
		else
			stress_bad(st, OP_IO, nr,
				   "byte %lld differs from the backing file",
				   (long long)pos + diff);
	} else if (!bound && (ret == 0 || err == EIO)) {
		__atomic_add_fetch(&st->raced[OP_IO], 1, __ATOMIC_RELAXED);
	} else if (ret < 0) {
		stress_bad(st, OP_IO, nr, "%s at %lld, device %s",
			   strerror(err), (long long)pos, what);
	} else {
		stress_bad(st, OP_IO, nr, "%zd of %d bytes at %lld, device %s",
			   ret, READ_SIZE, (long long)pos, what);
	}
}

/* Use a device for a moment: open, maybe bind, poke, maybe unbind, close. */
static void stress_use(struct stress_stats *st, int nr, int backfd,
		       unsigned int *seed)
{
	struct loop_info64 info;
	char path[PATH_MAX];
	bool bound = false;
	int fd, ret;

	/* No waiting for the node here: a missing node is a lost race. */
	loop_dev_path(path, sizeof(path), nr);
	fd = open(path, ((rand_r(seed) & 3) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	stress_count(st, OP_OPEN, fd < 0 ? -errno : fd, nr);
	if (fd < 0)
		return;

	if (rand_r(seed) & 1) {
		uint32_t flags = (rand_r(seed) & 1) ? LO_FLAGS_AUTOCLEAR : 0;

		ret = loop_configure(fd, backfd, flags, 0, 0, 0, NULL);
		stress_count(st, OP_CONFIGURE, ret, nr);
		bound = ret == 0;
	}
	ret = loop_get_status64(fd, &info);
	if (ret && bound) {
		/* We bound it and hold it open: nobody can unbind it. */
		stress_bad(st, OP_STATUS, nr, "%s right after our bind",
			   strerror(-ret));
	} else {
		stress_count(st, OP_STATUS, ret, nr);
	}
	if (ret == 0 && info.lo_number != (uint32_t)nr) {
		/* A status for some other device is never a race. */
		stress_bad(st, OP_STATUS, nr, "status of loop%u",
			   info.lo_number);
	}
	bound |= ret == 0;

	stress_read(st, fd, nr, bound, seed);

	if (rand_r(seed) % 3 == 0) {
		ret = loop_ioctl(fd, LOOP_CLR_FD, 0);
		stress_count(st, OP_CLR_FD, ret, nr);
	}
	close(fd);
}

static void stress_worker(struct stress_stats *st, int id, uint64_t deadline,
			  bool control_heavy, const char *backing)
{
	unsigned int seed = getpid() ^ (id * 2654435761u);
	int ctl, backfd;

	ctl = loop_ctl_open();
	backfd = open(backing, O_RDWR | O_CLOEXEC);
	if (ctl < 0 || backfd < 0)
		_exit(2);

	while (loop_now_ms() < deadline) {
		int nr = RANGE_FIRST + rand_r(&seed) % RANGE_COUNT;
		int pick = rand_r(&seed) % 10;
		long ret;

		/* Half the workers hammer the control node, half use devices. */
		if (control_heavy && (id & 1))
			pick = pick % 4;
		else if (control_heavy)
			pick = 4 + pick % 6;

		switch (pick) {
		case 0:
		case 1:
			ret = loop_ctl_add(ctl, nr);
			stress_count(st, OP_ADD, ret, nr);
			if (ret >= 0 && ret != nr)
				stress_bad(st, OP_ADD, nr, "added loop%ld",
					   ret);
			break;
		case 2:
			ret = loop_ctl_remove(ctl, nr);
			stress_count(st, OP_REMOVE, ret, nr);
			break;
		case 3:
			ret = loop_ctl_get_free(ctl);
			stress_count(st, OP_GET_FREE, ret, nr);
			if (ret < 0)
				break;
			if (in_range(ret)) {
				stress_use(st, ret, backfd, &seed);
			} else {
				/*
				 * Made outside the range (everything there
				 * is held bound): drop it again.
				 */
				ret = loop_ctl_remove(ctl, ret);
				stress_count(st, OP_REMOVE, ret, nr);
			}
			break;
		default:
			stress_use(st, nr, backfd, &seed);
			break;
		}
	}
	close(backfd);
	close(ctl);
	_exit(0);
}

/* Write the pattern over the whole backing file. */
static int backing_fill(int fd)
{
	unsigned char buf[65536];
	off_t pos;

	for (pos = 0; pos < LOOP_BACKING_SIZE; pos += sizeof(buf)) {
		loop_pattern_fill(buf, sizeof(buf), pos, PATTERN_SEED);
		if (pwrite(fd, buf, sizeof(buf), pos) != sizeof(buf))
			return errno ? -errno : -EIO;
	}
	return 0;
}

FIXTURE(stress) {
	/* no device; the backing file holds the pattern */
	struct loop_fixture lo;
	/* devices outside the range, bound here so GET_FREE skips them */
	int held[64];
	int nheld;
	struct stress_stats *st;
};

FIXTURE_VARIANT(stress) {
	bool control_heavy;
};

/* Every worker does a bit of everything. */
FIXTURE_VARIANT_ADD(stress, mixed) { .control_heavy = false };
/* Odd workers only ADD/REMOVE/GET_FREE, even ones only use devices. */
FIXTURE_VARIANT_ADD(stress, control_vs_users) { .control_heavy = true };

FIXTURE_SETUP(stress)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n;

	self->nheld = 0;
	self->st = MAP_FAILED;
	/*
	 * The backing file comes after the range check: a setup that skips
	 * gets no teardown to remove it.
	 */
	if (!loop_fixture_start(_metadata, &self->lo, 0, 0))
		return;
	for (i = 0; i < self->lo.snap.count; i++) {
		if (in_range(self->lo.snap.ids[i]))
			SKIP(return, "loop%d already exists: the range is not free",
			     self->lo.snap.ids[i]);
	}
	self->lo.backfd = loop_backing_create(self->lo.backing,
					      sizeof(self->lo.backing),
					      LOOP_BACKING_SIZE, 0);
	ASSERT_LE(0, self->lo.backfd);
	ASSERT_EQ(0, backing_fill(self->lo.backfd));
	self->st = mmap(NULL, sizeof(*self->st), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->st);
	memset(self->st, 0, sizeof(*self->st));

	/*
	 * Hold every other unbound device, so GET_FREE has to answer from
	 * the range (or make new devices, which the workers remove again).
	 */
	n = loop_list(ids, LOOP_MAX_DEVICES);
	for (i = 0; i < n && self->nheld < 64; i++) {
		int fd;

		if (loop_bound_state(ids[i]) != 0)
			continue;
		fd = loop_open(ids[i], O_RDONLY);
		if (fd < 0)
			continue;
		if (loop_ioctl(fd, LOOP_SET_FD, self->lo.backfd) == 0)
			self->held[self->nheld++] = ids[i];
		close(fd);
	}
}

FIXTURE_TEARDOWN(stress)
{
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
	if (self->st != MAP_FAILED)
		munmap(self->st, sizeof(*self->st));
}

TEST_F_TIMEOUT(stress, race, 400)
{
	const char *env = getenv("LOOP_STRESS_SECONDS");
	int seconds = env && *env ? atoi(env) : 10;
	pid_t pids[NR_WORKERS];
	uint64_t deadline, give_up;
	int i, alive, op, nr;
	long total = 0;

	if (seconds < 1)
		seconds = 1;
	if (seconds > 300)
		seconds = 300;
	deadline = loop_now_ms() + seconds * 1000ULL;
	give_up = deadline + HANG_GRACE_S * 1000ULL;

	for (i = 0; i < NR_WORKERS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0)
			stress_worker(self->st, i, deadline,
				      variant->control_heavy, self->lo.backing);
	}

	/* Reap; a worker still there long after the deadline is hung. */
	alive = NR_WORKERS;
	while (alive && loop_now_ms() < give_up) {
		for (i = 0; i < NR_WORKERS; i++) {
			int status;

			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], &status, WNOHANG) != pids[i])
				continue;
			EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
				TH_LOG("worker %d died (status %#x)", i, status);
			pids[i] = 0;
			alive--;
		}
		loop_msleep(50);
	}
	for (i = 0; i < NR_WORKERS; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			TH_LOG("worker %d (pid %d) hung", i, pids[i]);
		}
	}
	ASSERT_EQ(0, alive)
		TH_LOG("%d workers still busy %d s after the deadline", alive,
		       HANG_GRACE_S);

	for (op = 0; op < OP_COUNT; op++) {
		const char *name = op_name[op] ? op_name[op] : "?";

		total += self->st->ok[op] + self->st->raced[op];
		ksft_print_msg("%-12s ok %6ld  raced %6ld  unexpected %ld\n",
			       name, self->st->ok[op], self->st->raced[op],
			       self->st->bad[op]);
		EXPECT_EQ(0, self->st->bad[op])
			TH_LOG("%s on %s", name, self->st->bad_why[op]);
	}
	EXPECT_LT(NR_WORKERS, total) TH_LOG("the workers did next to nothing");
	EXPECT_LT(0, self->st->ok[OP_CONFIGURE])
		TH_LOG("no bind ever succeeded: nothing was really raced");
	EXPECT_LT(0, self->st->ok[OP_IO])
		TH_LOG("no read ever returned data to check");

	/* Nothing in the range may stay bound, and all of it is removable. */
	for (nr = RANGE_FIRST; nr < RANGE_FIRST + RANGE_COUNT; nr++) {
		long ret;

		if (!loop_exists(nr))
			continue;
		EXPECT_EQ(0, loop_unbind(nr))
			TH_LOG("loop%d stays bound after CLR_FD", nr);
		ret = loop_ctl_remove(self->lo.ctl, nr);
		EXPECT_TRUE(ret >= 0 || ret == -ENODEV)
			TH_LOG("loop%d cannot be removed: %s", nr,
			       strerror(-ret));
		EXPECT_FALSE(loop_exists(nr));
	}
}

TEST_HARNESS_MAIN
