/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the loop selftests.
 *
 * Every helper returns a value >= 0 on success and -errno on failure, so a
 * test reads as EXPECT_EQ(-EEXIST, loop_ctl_add(ctl, 200)).  The helpers
 * never assert: the caller decides whether a failure ends the test.
 *
 * The tests include this after kselftest_harness.h; nothing here needs the
 * harness, so loopctl.c includes it on its own.
 */
#ifndef __SELFTESTS_LOOP_LIB_H
#define __SELFTESTS_LOOP_LIB_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <linux/fs.h>
#include <linux/loop.h>

#define LOOP_CTL_PATH		"/dev/loop-control"
#define LOOP_BLOCK_MAJOR	7
#define LOOP_CTL_MISC_MINOR	237
#define LOOP_MINORBITS		20
#define LOOP_NODE_WAIT_MS	2000
/* Size of the backing file a fixture gets unless it asks for another. */
#define LOOP_BACKING_SIZE	(1024 * 1024)
/* Most device numbers a test lists or keeps track of at once. */
#define LOOP_MAX_DEVICES	4096

/*
 * /dev/loop-control answers every command it does not know with ENOSYS,
 * not ENOTTY: that is its ABI since it was added in 2011 (Linux 3.1), and
 * the tests check for exactly this errno.  It is the errno of a system
 * call number that does not exist, so ask the kernel for it that way.
 */
static inline int loop_ctl_unknown_errno(void)
{
	static int err;

	if (!err) {
		errno = 0;
		syscall(-1L);
		err = errno;
	}
	return err;
}

#define LOOP_CTL_UNKNOWN_ERRNO	loop_ctl_unknown_errno()

/* An xz file (a compressed module) starts FD '7' 'z' 'X' 'Z' 00. */
#define LOOP_XZ_MAGIC		"\xfd\x37zXZ"

/* Where backing files go; the harness mounts a tmpfs there. */
static inline const char *loop_tmpdir(void)
{
	const char *dir = getenv("LOOP_TMPDIR");

	return dir && *dir ? dir : "/tmp";
}

static inline void loop_msleep(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Evaluate @cond every 10 ms until it holds or @ms milliseconds have
 * passed: 0 when it held, -ETIMEDOUT when it did not.  @cond is evaluated
 * once more after the deadline, so a slow machine never loses a last look.
 */
#define loop_poll_until(cond, ms) ({					\
	uint64_t __end = loop_now_ms() + (ms);				\
	int __ret = -ETIMEDOUT;						\
	bool __late;							\
									\
	do {								\
		__late = loop_now_ms() > __end;				\
		if (cond) {						\
			__ret = 0;					\
			break;						\
		}							\
		if (!__late)						\
			loop_msleep(10);				\
	} while (!__late);						\
	__ret;								\
})

/*
 * Why the tests cannot talk to a loop driver here, or NULL if they can:
 *	if (loop_not_ready())
 *		SKIP(return, "%s", loop_not_ready());
 */
static inline const char *loop_not_ready(void)
{
	if (geteuid() != 0)
		return "loop tests need root";
	if (access(LOOP_CTL_PATH, F_OK))
		return LOOP_CTL_PATH " missing: loop driver not loaded";
	return NULL;
}

/* --- /dev/loop-control ------------------------------------------------- */

static inline int loop_ctl_open(void)
{
	int fd = open(LOOP_CTL_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* The argument is passed as a full unsigned long, as the ioctl sees it. */
static inline long loop_ctl_ioctl(int ctl, unsigned int cmd, unsigned long arg)
{
	long ret = ioctl(ctl, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static inline long loop_ctl_add(int ctl, unsigned long nr)
{
	return loop_ctl_ioctl(ctl, LOOP_CTL_ADD, nr);
}

static inline long loop_ctl_remove(int ctl, unsigned long nr)
{
	return loop_ctl_ioctl(ctl, LOOP_CTL_REMOVE, nr);
}

static inline long loop_ctl_get_free(int ctl)
{
	return loop_ctl_ioctl(ctl, LOOP_CTL_GET_FREE, 0);
}

/* --- device nodes and sysfs -------------------------------------------- */

static inline void loop_dev_path(char *buf, size_t len, int nr)
{
	snprintf(buf, len, "/dev/loop%d", nr);
}

static inline void loop_sysfs_path(char *buf, size_t len, int nr,
				   const char *attr)
{
	if (attr && *attr)
		snprintf(buf, len, "/sys/block/loop%d/%.256s", nr, attr);
	else
		snprintf(buf, len, "/sys/block/loop%d", nr);
}

/* Does the kernel know loopN (whatever its state)? */
static inline bool loop_exists(int nr)
{
	char path[PATH_MAX];

	loop_sysfs_path(path, sizeof(path), nr, NULL);
	return access(path, F_OK) == 0;
}

static inline bool loop_node_present(int nr)
{
	char path[PATH_MAX];
	struct stat st;

	loop_dev_path(path, sizeof(path), nr);
	if (stat(path, &st))
		return false;
	return S_ISBLK(st.st_mode) && major(st.st_rdev) == LOOP_BLOCK_MAJOR;
}

/*
 * devtmpfs creates and deletes /dev/loopN on its own schedule: wait up to
 * LOOP_NODE_WAIT_MS for the node to reach the wanted state.
 */
static inline int loop_wait_node(int nr, bool present)
{
	return loop_poll_until(loop_node_present(nr) == present,
			       LOOP_NODE_WAIT_MS);
}

/* Wait the same way for an arbitrary path (partition nodes and such). */
static inline int loop_wait_path(const char *path, bool present, unsigned int ms)
{
	return loop_poll_until((access(path, F_OK) == 0) == present, ms);
}

static inline int loop_open(int nr, int flags)
{
	char path[PATH_MAX];
	int fd;

	loop_wait_node(nr, true);
	loop_dev_path(path, sizeof(path), nr);
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static inline int loop_read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return n;
}

/* Read /sys/block/loopN/<attr> without the trailing newline. */
static inline int loop_sysfs_read(int nr, const char *attr, char *buf,
				  size_t len)
{
	char path[PATH_MAX];

	loop_sysfs_path(path, sizeof(path), nr, attr);
	return loop_read_file(path, buf, len);
}

/* Numeric sysfs attribute, or -errno (values here are never negative). */
static inline long long loop_sysfs_ll(int nr, const char *attr)
{
	char buf[64];
	int ret;

	ret = loop_sysfs_read(nr, attr, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	return strtoll(buf, NULL, 0);
}

static inline bool loop_sysfs_has(int nr, const char *attr)
{
	char path[PATH_MAX];

	loop_sysfs_path(path, sizeof(path), nr, attr);
	return access(path, F_OK) == 0;
}

/* --- backing files ----------------------------------------------------- */

/*
 * Create a backing file of @size bytes in loop_tmpdir(), its name in @path.
 * A non-zero @fill byte is written over the whole file; 0 leaves it sparse.
 */
static inline int loop_backing_create(char *path, size_t len, off_t size,
				      unsigned char fill)
{
	char chunk[65536];
	off_t done;
	int fd, err;

	snprintf(path, len, "%s/ksft-loop-XXXXXX", loop_tmpdir());
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size))
		goto fail;
	if (fill) {
		memset(chunk, fill, sizeof(chunk));
		for (done = 0; done < size; ) {
			size_t n = size - done < (off_t)sizeof(chunk) ?
				   size - done : sizeof(chunk);
			ssize_t w = pwrite(fd, chunk, n, done);

			if (w <= 0)
				goto fail;
			done += w;
		}
	}
	return fd;
fail:
	err = errno ? -errno : -EIO;
	close(fd);
	unlink(path);
	path[0] = '\0';
	return err;
}

/*
 * A byte pattern that differs per 512-byte sector and per @seed, so a
 * write landing at the wrong offset cannot compare equal by accident.
 */
static inline void loop_pattern_fill(unsigned char *buf, size_t len,
				     uint64_t pos, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t p = pos + i;

		buf[i] = (unsigned char)((p >> 9) * 31 + (p & 511) * 7 + seed);
	}
}

/* Index of the first byte that differs from the pattern, or -1. */
static inline long loop_pattern_check(const unsigned char *buf, size_t len,
				      uint64_t pos, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t p = pos + i;

		if (buf[i] != (unsigned char)((p >> 9) * 31 + (p & 511) * 7 + seed))
			return (long)i;
	}
	return -1;
}

/* Index of the first byte that is not @c, or -1. */
static inline long loop_mem_check(const unsigned char *buf, size_t len,
				  unsigned char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != c)
			return (long)i;
	return -1;
}

/*
 * Write a classic MBR with @parts (1 to 4) Linux partitions (type 0x83),
 * each @count sectors long, one after the other from sector @start.
 */
static inline int loop_write_mbr_parts(int fd, int parts, uint32_t start,
				       uint32_t count)
{
	unsigned char mbr[512];
	int i;

	if (parts < 1 || parts > 4)
		return -EINVAL;
	memset(mbr, 0, sizeof(mbr));
	for (i = 0; i < parts; i++, start += count) {
		unsigned char *pe = mbr + 446 + 16 * i;

		pe[0] = 0x00;			/* not bootable */
		pe[1] = 0xfe; pe[2] = 0xff; pe[3] = 0xff; /* CHS: use LBA */
		pe[4] = 0x83;			/* Linux */
		pe[5] = 0xfe; pe[6] = 0xff; pe[7] = 0xff;
		pe[8] = start & 0xff;
		pe[9] = (start >> 8) & 0xff;
		pe[10] = (start >> 16) & 0xff;
		pe[11] = (start >> 24) & 0xff;
		pe[12] = count & 0xff;
		pe[13] = (count >> 8) & 0xff;
		pe[14] = (count >> 16) & 0xff;
		pe[15] = (count >> 24) & 0xff;
	}
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	if (pwrite(fd, mbr, sizeof(mbr), 0) != sizeof(mbr))
		return errno ? -errno : -EIO;
	return fsync(fd) ? -errno : 0;
}

/* An MBR with one Linux partition: @count sectors from sector @start. */
static inline int loop_write_mbr(int fd, uint32_t start, uint32_t count)
{
	return loop_write_mbr_parts(fd, 1, start, count);
}

/* --- per-device ioctls ------------------------------------------------- */

static inline int loop_ioctl(int fd, unsigned int cmd, unsigned long arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static inline int loop_ioctl_ptr(int fd, unsigned int cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static inline int loop_configure(int devfd, int backfd, uint32_t flags,
				 uint64_t offset, uint64_t sizelimit,
				 uint32_t block_size, const char *name)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = backfd;
	cfg.block_size = block_size;
	cfg.info.lo_flags = flags;
	cfg.info.lo_offset = offset;
	cfg.info.lo_sizelimit = sizelimit;
	if (name)
		snprintf((char *)cfg.info.lo_file_name,
			 sizeof(cfg.info.lo_file_name), "%.*s",
			 LO_NAME_SIZE - 1, name);
	return loop_ioctl_ptr(devfd, LOOP_CONFIGURE, &cfg);
}

static inline int loop_get_status64(int devfd, struct loop_info64 *info)
{
	memset(info, 0, sizeof(*info));
	return loop_ioctl_ptr(devfd, LOOP_GET_STATUS64, info);
}

static inline long long loop_dev_size(int devfd)
{
	uint64_t size;

	if (ioctl(devfd, BLKGETSIZE64, &size))
		return -errno;
	return (long long)size;
}

/*
 * 1 if loopN is bound, 0 if unbound, -errno if it cannot be asked (no such
 * device, or it is being torn down and refuses openers: -ENXIO).
 */
static inline int loop_bound_state(int nr)
{
	struct loop_info64 info;
	char path[PATH_MAX];
	int fd, ret;

	loop_dev_path(path, sizeof(path), nr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = loop_get_status64(fd, &info);
	close(fd);
	if (ret == 0)
		return 1;
	return ret == -ENXIO ? 0 : ret;
}

/* Is loopN unbound or gone?  Its state in @st either way. */
static inline bool loop_unbound_or_gone(int nr, int *st)
{
	*st = loop_bound_state(nr);
	return *st == 0 || *st == -ENOENT || *st == -ENODEV;
}

/* Wait until loopN is no longer bound (teardown may be deferred). */
static inline int loop_wait_unbound(int nr, unsigned int ms)
{
	int st;

	if (!loop_poll_until(loop_unbound_or_gone(nr, &st), ms))
		return 0;
	return st < 0 ? st : -EBUSY;
}

/* LOOP_CLR_FD on loopN from an opener of our own, errors ignored. */
static inline void loop_ask_unbind(int nr)
{
	char path[PATH_MAX];
	int fd;

	loop_dev_path(path, sizeof(path), nr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ioctl(fd, LOOP_CLR_FD, 0);
		close(fd);
	}
}

/*
 * Detach loopN if it is bound: LOOP_CLR_FD (deferred to the last close),
 * then wait until the device reports unbound.
 */
static inline int loop_unbind(int nr)
{
	loop_ask_unbind(nr);
	return loop_wait_unbound(nr, LOOP_NODE_WAIT_MS);
}

/* --- the set of devices ------------------------------------------------ */

/* All loop device numbers the kernel shows in /sys/block, ascending. */
struct loop_snap {
	int count;
	int ids[LOOP_MAX_DEVICES];
	bool bound[LOOP_MAX_DEVICES];
};

static inline int loop_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static inline int loop_list(int *ids, int max)
{
	struct dirent *de;
	int count = 0;
	DIR *dir;

	dir = opendir("/sys/block");
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) != NULL) {
		const char *p = de->d_name;
		char *end;
		long nr;

		if (strncmp(p, "loop", 4) || !isdigit((unsigned char)p[4]))
			continue;
		nr = strtol(p + 4, &end, 10);
		if (*end || nr < 0 || nr > INT_MAX)
			continue;
		if (count < max)
			ids[count] = (int)nr;
		count++;
	}
	closedir(dir);
	if (count > max)
		count = max;
	qsort(ids, count, sizeof(*ids), loop_cmp_int);
	return count;
}

static inline void loop_snap_take(struct loop_snap *snap)
{
	int i, n;

	memset(snap, 0, sizeof(*snap));
	n = loop_list(snap->ids, LOOP_MAX_DEVICES);
	snap->count = n < 0 ? 0 : n;
	for (i = 0; i < snap->count; i++)
		snap->bound[i] = loop_bound_state(snap->ids[i]) != 0;
}

static inline int loop_snap_find(const struct loop_snap *snap, int nr)
{
	int i;

	for (i = 0; i < snap->count; i++)
		if (snap->ids[i] == nr)
			return i;
	return -1;
}

/*
 * Remove loopN and see it gone from /sys/block, allowing a moment for
 * closers.  -ENODEV from LOOP_CTL_REMOVE only says that nobody can find the
 * number right now: another remover, or a LOOP_CTL_CONFIGURE that has taken
 * the device, may hide it for a moment and then publish it again.  So only
 * a device that no longer exists counts as removed.
 */
static inline int loop_remove_wait(int ctl, int nr)
{
	long ret = 0;

	for (int tries = 0; tries < 100; tries++) {
		if (!loop_exists(nr))
			return 0;
		if (tries)
			loop_msleep(20);
		ret = loop_ctl_remove(ctl, nr);
	}
	if (!loop_exists(nr))
		return 0;
	return ret < 0 ? (int)ret : -EBUSY;
}

/*
 * Put the device set back the way loop_snap_take() saw it: unbind what was
 * unbound, remove what was not there, re-add what went missing.  Returns
 * the number of devices that could not be restored.
 */
static inline int loop_snap_restore(const struct loop_snap *snap)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n, ctl, bad = 0;

	ctl = loop_ctl_open();
	n = loop_list(ids, LOOP_MAX_DEVICES);

	/*
	 * Ask every device to detach first and wait afterwards: a device
	 * stacked on another keeps the lower one open until it lets go.
	 */
	for (i = 0; i < n; i++) {
		int idx = loop_snap_find(snap, ids[i]);

		if (idx < 0 || !snap->bound[idx])
			loop_ask_unbind(ids[i]);
	}
	for (i = n - 1; i >= 0; i--) {
		int idx = loop_snap_find(snap, ids[i]);

		if (idx >= 0 && snap->bound[idx])
			continue;
		if (loop_unbind(ids[i]))
			bad++;
	}

	for (i = 0; i < n; i++) {
		/* Not ours to keep: remove it. */
		if (loop_snap_find(snap, ids[i]) < 0 &&
		    (ctl < 0 || loop_remove_wait(ctl, ids[i])))
			bad++;
	}
	for (i = 0; i < snap->count; i++) {
		if (!loop_exists(snap->ids[i]) &&
		    (ctl < 0 || loop_ctl_add(ctl, snap->ids[i]) < 0))
			bad++;
	}
	if (ctl >= 0)
		close(ctl);
	return bad;
}

/*
 * Remove every unbound device, so that the next GET_FREE or
 * LOOP_CTL_CONFIGURE has to add one; loop_snap_restore() adds them back.
 * Returns how many could not be removed.
 */
static inline int loop_remove_unbound(int ctl)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n, bad = 0;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	for (i = 0; i < n; i++)
		if (loop_bound_state(ids[i]) == 0 &&
		    loop_remove_wait(ctl, ids[i]))
			bad++;
	return bad;
}

/* Lowest existing device that is unbound, or -1 if every one is bound. */
static inline int loop_lowest_unbound(void)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	for (i = 0; i < n; i++)
		if (loop_bound_state(ids[i]) == 0)
			return ids[i];
	return -1;
}

/* Lowest device number that no device uses. */
static inline int loop_lowest_unused(void)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n, want = 0;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	for (i = 0; i < n; i++) {
		if (ids[i] == want)
			want++;
		else if (ids[i] > want)
			break;
	}
	return want;
}

/* --- the fixture body most tests share --------------------------------- */

/*
 * The control device, a free device opened read-write and a backing file,
 * with the device set as it was before the test.  Every fd is -1 and every
 * path empty until set, so loop_fixture_teardown() is safe at any point.
 */
struct loop_fixture {
	int ctl;		/* /dev/loop-control */
	int nr;			/* the device under test */
	int fd;			/* it, opened O_RDWR */
	int backfd;		/* the backing file, not yet bound */
	char backing[PATH_MAX];
	struct loop_snap snap;	/* what loop_fixture_teardown() restores */
};

/* What loop_fixture_setup() makes besides the snapshot and control fd. */
enum {
	LOOP_FIX_DEVICE		= 1 << 0,	/* nr and fd */
	LOOP_FIX_BACKING	= 1 << 1,	/* backfd and backing */
	LOOP_FIX_ALL		= LOOP_FIX_DEVICE | LOOP_FIX_BACKING,
};

static inline void loop_fixture_init(struct loop_fixture *f)
{
	f->ctl = -1;
	f->nr = -1;
	f->fd = -1;
	f->backfd = -1;
	f->backing[0] = '\0';
	f->snap.count = 0;
}

/*
 * Take a free device for @f and open it with @flags: what LOOP_FIX_DEVICE
 * does, and what a test body does when it wants the device later or
 * opened otherwise.  0 or -errno.
 */
static inline int loop_fixture_device(struct loop_fixture *f, int flags)
{
	long nr = loop_ctl_get_free(f->ctl);

	if (nr < 0)
		return nr;
	f->nr = nr;
	f->fd = loop_open(f->nr, flags);
	return f->fd < 0 ? f->fd : 0;
}

/*
 * Close @f's device and wait until it is no longer bound, for a test that
 * unbound it or let autoclear do it at the last close: 0 or -errno.
 */
static inline int loop_fixture_release(struct loop_fixture *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	return loop_wait_unbound(f->nr, LOOP_NODE_WAIT_MS);
}

/*
 * Take the snapshot, open the control device, then make what @what asks
 * for; the backing file has LOOP_BACKING_SIZE bytes of @fill (0: sparse).
 * 0 or -errno; whatever was made is for loop_fixture_teardown() to undo.
 * Fixtures call it through loop_fixture_start().
 */
static inline int loop_fixture_setup(struct loop_fixture *f, unsigned int what,
				     unsigned char fill)
{
	loop_snap_take(&f->snap);
	f->ctl = loop_ctl_open();
	if (f->ctl < 0)
		return f->ctl;
	if (what & LOOP_FIX_BACKING) {
		f->backfd = loop_backing_create(f->backing, sizeof(f->backing),
						LOOP_BACKING_SIZE, fill);
		if (f->backfd < 0)
			return f->backfd;
	}
	if (what & LOOP_FIX_DEVICE)
		return loop_fixture_device(f, O_RDWR);
	return 0;
}

/*
 * Close the device, put the device set back, drop the backing file and the
 * control fd.  Close every other fd on a test device first.  Returns the
 * number of devices that could not be restored, and says so:
 *	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
 */
static inline int loop_fixture_teardown(struct loop_fixture *f)
{
	int bad = 0;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->ctl >= 0)
		bad = loop_snap_restore(&f->snap);
	if (bad)
		printf("# %d devices left bound or not removable after the test\n",
		       bad);
	if (f->backfd >= 0)
		close(f->backfd);
	f->backfd = -1;
	if (f->backing[0])
		unlink(f->backing);
	f->backing[0] = '\0';
	if (f->ctl >= 0)
		close(f->ctl);
	f->ctl = -1;
	return bad;
}

#ifdef __KSELFTEST_HARNESS_H
/*
 * The usual start of a FIXTURE_SETUP(): @f made safe to tear down, the
 * test skipped where no loop driver can be reached, then
 * loop_fixture_setup() or the test fails (the ASSERT leaves the setup).
 * False when the test is skipped, for setups that do more after it.
 */
static inline bool loop_fixture_start(struct __test_metadata *_metadata,
				      struct loop_fixture *f, unsigned int what,
				      unsigned char fill)
{
	int err;

	loop_fixture_init(f);
	if (loop_not_ready())
		SKIP(return false, "%s", loop_not_ready());
	err = loop_fixture_setup(f, what, fill);
	ASSERT_EQ(0, err) TH_LOG("fixture setup: %s", strerror(-err));
	return true;
}
#endif

/*
 * Detach every device: ask them all first, then wait for each, since a
 * device stacked on another keeps the lower one open until it lets go.
 */
static inline void loop_unbind_all(void)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	for (i = 0; i < n; i++)
		loop_ask_unbind(ids[i]);
	for (i = 0; i < n; i++)
		loop_unbind(ids[i]);
}

/* Are exactly loop0 .. loop(@count - 1) there, and nothing else? */
static inline bool loop_have_exactly(int count)
{
	int ids[LOOP_MAX_DEVICES];
	int i, n;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	if (n != count)
		return false;
	for (i = 0; i < n; i++)
		if (ids[i] != i)
			return false;
	return true;
}

/*
 * Make a block node for (LOOP_BLOCK_MAJOR, @minor) under a private name,
 * the way an old static /dev would have it.  Used to poke legacy autoload.
 */
static inline int loop_mknod(char *path, size_t len, unsigned int minor)
{
	snprintf(path, len, "/dev/ksft-loop-node-%d-%u", getpid(), minor);
	unlink(path);
	if (mknod(path, S_IFBLK | 0600, makedev(LOOP_BLOCK_MAJOR, minor)))
		return -errno;
	return 0;
}

/* --- the module -------------------------------------------------------- */

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE	4
#endif

/* Is loop a loadable module that is loaded right now? */
static inline bool loop_module_loaded(void)
{
	return access("/sys/module/loop/initstate", F_OK) == 0;
}

/* Why a test that reloads the module cannot run here, or NULL. */
static inline const char *loop_module_not_ready(void)
{
	if (loop_not_ready())
		return loop_not_ready();
	if (!loop_module_loaded())
		return "loop is not a loaded module (built in?)";
	return NULL;
}

/* The module file under test; empty when only modprobe can find it. */
static inline const char *loop_module_file(void)
{
	const char *ko = getenv("LOOP_MODULE");

	if (ko && *ko)
		return ko;
	if (access("/lib/loop-under-test.ko", R_OK) == 0)
		return "/lib/loop-under-test.ko";
	return "";
}

/* delete_module(2) on "loop", as rmmod does: 0 or -errno. */
static inline int loop_module_unload(void)
{
	if (syscall(SYS_delete_module, "loop", O_NONBLOCK))
		return -errno;
	return 0;
}

/* Unload, giving just-closed openers a moment to let go. */
static inline int loop_module_unload_wait(void)
{
	int ret = 0;

	for (int tries = 0; tries < 100; tries++) {
		if (!loop_module_loaded())
			return 0;
		ret = loop_module_unload();
		if (ret != -EAGAIN && ret != -EBUSY)
			return ret;
		loop_msleep(20);
	}
	return ret;
}

/*
 * Load loop with @params ("" for defaults).  finit_module(2) on the module
 * file gives the kernel's errno; without the file, fall back to modprobe,
 * which can only say "failed" (-EINVAL then).
 */
static inline int loop_module_load(const char *params)
{
	const char *ko = loop_module_file();
	unsigned char magic[6];
	int fd, flags = 0, ret;

	if (*ko) {
		fd = open(ko, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		/* An xz-compressed module: let the kernel decompress it. */
		if (pread(fd, magic, sizeof(magic), 0) == sizeof(magic) &&
		    !memcmp(magic, LOOP_XZ_MAGIC, sizeof(magic)))
			flags |= MODULE_INIT_COMPRESSED_FILE;
		ret = syscall(SYS_finit_module, fd, params, flags);
		ret = ret ? -errno : 0;
		close(fd);
	} else {
		char cmd[512];
		const char *modprobe = getenv("MODPROBE");

		snprintf(cmd, sizeof(cmd), "%s loop %s >/dev/null 2>&1",
			 modprobe && *modprobe ? modprobe : "modprobe", params);
		ret = system(cmd) == 0 ? 0 : -EINVAL;
	}
	if (ret == 0)
		/* The control node shows up with the misc device. */
		loop_wait_path(LOOP_CTL_PATH, true, LOOP_NODE_WAIT_MS);
	return ret;
}

/* Unload and load again with @params: 0 or -errno of the failing step. */
static inline int loop_module_reload(const char *params)
{
	int ret = loop_module_unload_wait();

	if (ret)
		return ret;
	return loop_module_load(params);
}

#endif /* __SELFTESTS_LOOP_LIB_H */
