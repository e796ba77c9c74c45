/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A device under test and the file behind it, set up from a test body and
 * torn down in a FIXTURE_TEARDOWN_PARENT().
 *
 * struct backing_state is what the backing tests of loop_data.c need: a
 * struct loop_fixture whose backing file lives on tmpfs, on ext4 over
 * another loop device, or on another loop device, maybe with the test in
 * a cgroup of its own.  backing_prepare() makes it from the test body, so
 * that backing_release() undoes whatever part of it succeeded.  The
 * backing_fix_*() helpers are the parts of that teardown any fixture with
 * a struct loop_fixture and a FIXTURE_TEARDOWN_PARENT() can use.
 *
 * Include this after kselftest_harness.h: backing_ready() and
 * backing_release() check their steps with ASSERT_*() and EXPECT_*().  The
 * other helpers never assert: those that can fail return 0 (or a value
 * >= 0) on success and -errno on failure, as those of loop_lib.h do.
 */
#ifndef __SELFTESTS_LOOP_BACKING_H
#define __SELFTESTS_LOOP_BACKING_H

#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "loop_lib.h"

/* The file the ext4 variants bind: this much of it is allocated. */
#define EXT4_BACKING_SIZE	(16 * 1024 * 1024)
#define CGROUP_ROOT		"/sys/fs/cgroup"

/* Write @val to @dir/@file; 0 or -errno. */
static inline int write_str(const char *dir, const char *file,
			    const char *val)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* The value of @key in a flat-keyed cgroup file, or -errno. */
static inline long long cgroup_stat(const char *dir, const char *file,
				    const char *key)
{
	char path[PATH_MAX], buf[8192], *line;
	size_t klen = strlen(key);
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	ret = loop_read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, key, klen) && line[klen] == ' ')
			return atoll(line + klen + 1);
	}
	return -ENOENT;
}

/* --- a struct loop_fixture made and undone outside the harness's hooks --- */

/*
 * After a failed ASSERT the harness of 6.12 skips FIXTURE_TEARDOWN(): the
 * test's process longjmp()s back into the wrapper, where its copy of the
 * non-volatile "child" may read as before the fork, so it takes the
 * parent's path.  That path does run FIXTURE_TEARDOWN_PARENT(), once, in
 * whichever process gets there first, with self shared between them.  So
 * the teardown runs in the parent after a pass and in the test's own
 * process after a failed ASSERT, and must do right in both: only the
 * owner, the test's process, still has the descriptors to close (and,
 * for the backing tests, the cgroup membership to give up); everything
 * else is named by path, number or pid.
 *
 * So a descriptor in self is closed by its @owner and only forgotten
 * elsewhere: in the parent, the same number may be another file.
 */
static inline void backing_close_fd(int *fd, bool owner)
{
	if (owner && *fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * The same for the device, the backing file and the control device of @f.
 * The caller closes its other descriptors on the device first.
 */
static inline void backing_fix_close(struct loop_fixture *f, bool owner)
{
	backing_close_fd(&f->fd, owner);
	backing_close_fd(&f->backfd, owner);
	backing_close_fd(&f->ctl, owner);
}

/* Then detach the device under test, if there is one: 0 or -errno. */
static inline int backing_fix_unbind(const struct loop_fixture *f)
{
	return f->nr >= 0 ? loop_unbind(f->nr) : 0;
}

/* --- the backing tests: tmpfs and ext4, direct and buffered, cgroups --- */

/* What a backing test sets up, in a plain struct so helpers can take it. */
struct backing_state {
	/* the variant: where the backing file lives, cgroup, LO_FLAGS_* */
	bool ext4;
	bool on_loop;
	bool cgroup;
	uint32_t lo_flags;
	/* control fd, the device and the file it is bound to, the snapshot */
	struct loop_fixture lo;
	int dfd;		/* the device opened O_DIRECT, when wanted */
	/* ext4 variant: image file, its loop device, the mount point */
	int imgfd;
	char image[PATH_MAX];
	char mnt[PATH_MAX];
	bool mounted;
	/* cgroup variant: our cgroup; whether we joined it, mounted cgroup2 */
	char cg[64];
	bool cg_entered;
	bool cg_mounted;
	/* the process that runs the test and holds its descriptors */
	pid_t owner;
	/* writeback test: busy children, the writeback setting to restore */
	pid_t spinner[2];
	const char *dirty_knob;
	char dirty_bg[32];
};

/* Nothing set up yet: backing_release() is safe from here on. */
static inline void backing_init(struct backing_state *s, bool ext4,
				bool on_loop, bool cgroup, uint32_t lo_flags)
{
	s->ext4 = ext4;
	s->on_loop = on_loop;
	s->cgroup = cgroup;
	s->lo_flags = lo_flags;
	loop_fixture_init(&s->lo);
	s->dfd = -1;
	s->imgfd = -1;
	s->image[0] = '\0';
	s->mnt[0] = '\0';
	s->mounted = false;
	s->cg[0] = '\0';
	s->cg_entered = false;
	s->cg_mounted = false;
	s->owner = getpid();
	s->spinner[0] = -1;
	s->spinner[1] = -1;
	s->dirty_knob = NULL;
}

/*
 * Bind another loop device to a new tmpfs image of @size bytes.  Returns a
 * descriptor of that device, with its number in @nr, or -errno.
 */
static inline int backing_lower_setup(struct backing_state *s, off_t size,
				      long *nr)
{
	int fd, ret;

	s->imgfd = loop_backing_create(s->image, sizeof(s->image), size, 0);
	if (s->imgfd < 0)
		return s->imgfd;
	*nr = loop_ctl_get_free(s->lo.ctl);
	if (*nr < 0)
		return *nr;
	fd = loop_open(*nr, O_RDWR);
	if (fd < 0)
		return fd;
	ret = loop_ioctl(fd, LOOP_SET_FD, s->imgfd);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Put an ext4 file system on a loop device over a tmpfs image, mount it and
 * create the backing file there.  Returns its descriptor or -errno; -ENOENT
 * when there is no mkfs.ext4, -ENODEV when the kernel has no ext4.
 */
static inline int backing_ext4_setup(struct backing_state *s)
{
	const char *mkfs = getenv("MKFS_EXT4");
	char cmd[PATH_MAX + 128];
	long nr;
	int fd;

	if (!mkfs || !*mkfs)
		mkfs = "/usr/real/bin/mkfs.ext4";
	if (access(mkfs, X_OK))
		return -ENOENT;
	if (system("modprobe ext4 >/dev/null 2>&1") == -1)
		return -ENODEV;

	fd = backing_lower_setup(s, 32 << 20, &nr);
	if (fd < 0)
		return fd;
	close(fd);

	snprintf(cmd, sizeof(cmd), "%s -q -F /dev/loop%ld >/dev/null 2>&1",
		 mkfs, nr);
	if (system(cmd) != 0)
		return -EIO;
	snprintf(s->mnt, sizeof(s->mnt), "%s/ksft-loop-mnt-XXXXXX",
		 loop_tmpdir());
	if (!mkdtemp(s->mnt)) {
		s->mnt[0] = '\0';
		return -errno;
	}
	snprintf(cmd, sizeof(cmd), "/dev/loop%ld", nr);
	if (mount(cmd, s->mnt, "ext4", 0, NULL))
		return -errno;
	s->mounted = true;

	snprintf(s->lo.backing, sizeof(s->lo.backing), "%.1024s/backing",
		 s->mnt);
	fd = open(s->lo.backing, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fallocate(fd, 0, 0, EXT4_BACKING_SIZE)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * Move this process into a new cgroup with the io and memory controllers,
 * so that its I/O is charged there.  -EOPNOTSUPP if there are none.
 */
static inline int backing_enter_cgroup(struct backing_state *s)
{
	char buf[512];
	int ret;

	/* Words, space separated, with a space at either end. */
	buf[0] = ' ';
	if (access(CGROUP_ROOT "/cgroup.controllers", F_OK)) {
		if (mount("cgroup2", CGROUP_ROOT, "cgroup2", 0, NULL))
			return -EOPNOTSUPP;
		s->cg_mounted = true;
	}
	ret = loop_read_file(CGROUP_ROOT "/cgroup.controllers", buf + 1,
			     sizeof(buf) - 2);
	if (ret < 0)
		return ret;
	strcat(buf, " ");
	if (!strstr(buf, " io ") || !strstr(buf, " memory "))
		return -EOPNOTSUPP;
	ret = write_str(CGROUP_ROOT, "cgroup.subtree_control", "+io +memory");
	if (ret)
		return ret;

	snprintf(s->cg, sizeof(s->cg), CGROUP_ROOT "/ksft-loop-XXXXXX");
	if (!mkdtemp(s->cg)) {
		s->cg[0] = '\0';
		return -errno;
	}
	ret = write_str(s->cg, "cgroup.procs", "0");
	if (ret)
		return ret;
	s->cg_entered = true;
	return 0;
}

/* Why a backing test cannot run here, or NULL if it can. */
static inline const char *backing_unavailable(int ret)
{
	switch (ret) {
	case -ENOENT:
		return "no mkfs.ext4 (set MKFS_EXT4)";
	case -ENODEV:
		return "ext4 is not available";
	case -EOPNOTSUPP:
		return "no cgroup2 with the io and memory controllers";
	}
	return NULL;
}

/*
 * The backing file, and the device under test bound to it, as the variant
 * says.  Done from the test body, not the setup, so that the teardown
 * undoes whatever part of it succeeded.
 */
static inline int backing_prepare(struct backing_state *s)
{
	long nr;
	int ret;

	if (s->cgroup) {
		ret = backing_enter_cgroup(s);
		if (ret)
			return ret;
	}
	if (s->ext4)
		s->lo.backfd = backing_ext4_setup(s);
	else if (s->on_loop)
		s->lo.backfd = backing_lower_setup(s, LOOP_BACKING_SIZE, &nr);
	else
		s->lo.backfd = loop_backing_create(s->lo.backing,
						   sizeof(s->lo.backing),
						   LOOP_BACKING_SIZE, 0);
	if (s->lo.backfd < 0)
		return s->lo.backfd;

	ret = loop_fixture_device(&s->lo, O_RDWR);
	if (ret)
		return ret;
	return loop_configure(s->lo.fd, s->lo.backfd, s->lo_flags, 0, 0, 0,
			      NULL);
}

/*
 * backing_prepare() from a test body: false if the test was skipped, as
 * what the variant needs is not here; a failure to set up fails the test.
 */
static inline bool backing_ready(struct __test_metadata *_metadata,
				 struct backing_state *s)
{
	int ret = backing_prepare(s);

	if (backing_unavailable(ret))
		SKIP(return false, "%s", backing_unavailable(ret));
	ASSERT_EQ(0, ret) TH_LOG("could not set up the device: %s",
				 strerror(-ret));
	return true;
}

/*
 * A busy child of writeback_under_load.  It holds none of the test's
 * descriptors, so it cannot keep a device open, and it dies with its
 * parent, however the test ends.
 */
static inline void backing_spin(pid_t parent)
{
	int fd;

	for (fd = 3; fd < 1024; fd++)
		close(fd);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	for (;;)
		;
}

/* Stop the busy children of writeback_under_load, if any. */
static inline void backing_stop_spinners(struct backing_state *s)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (s->spinner[i] <= 0)
			continue;
		kill(s->spinner[i], SIGKILL);
		/* Not ours to reap in the harness's parent: no matter. */
		waitpid(s->spinner[i], NULL, 0);
		s->spinner[i] = -1;
	}
}

/*
 * The whole of FIXTURE_TEARDOWN_PARENT() for a struct backing_state: undo
 * whatever backing_prepare() and the test set up, in whichever process
 * gets here (see backing_close_fd()).
 */
static inline void backing_release(struct __test_metadata *_metadata,
				   struct backing_state *s)
{
	bool owner = getpid() == s->owner;
	int ret = 0;

	backing_stop_spinners(s);
	if (s->dirty_knob)
		EXPECT_EQ(0, write_str("/proc/sys/vm", s->dirty_knob,
				       s->dirty_bg));
	backing_close_fd(&s->dfd, owner);
	backing_close_fd(&s->imgfd, owner);
	backing_fix_close(&s->lo, owner);
	if (owner && s->cg_entered)
		EXPECT_EQ(0, write_str(CGROUP_ROOT, "cgroup.procs", "0"));
	/* The upper device first: it holds the file on the mount. */
	EXPECT_EQ(0, backing_fix_unbind(&s->lo));
	if (s->lo.backing[0])
		unlink(s->lo.backing);
	if (s->mounted)
		EXPECT_EQ(0, umount(s->mnt));
	if (s->mnt[0])
		rmdir(s->mnt);
	EXPECT_EQ(0, loop_snap_restore(&s->lo.snap));
	if (s->image[0])
		unlink(s->image);
	if (s->cg[0]) {
		/* A killed spinner may take a moment to leave it. */
		loop_poll_until((ret = rmdir(s->cg) ? -errno : 0) != -EBUSY,
				1000);
		EXPECT_EQ(0, ret);
	}
	if (s->cg_mounted)
		EXPECT_EQ(0, umount(CGROUP_ROOT));
}

#endif /* __SELFTESTS_LOOP_BACKING_H */
