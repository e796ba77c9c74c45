// SPDX-License-Identifier: GPL-2.0
/*
 * File systems stacked on loop devices, and submitters the backing file
 * must not see: the tests for the context rule of the I/O path.
 *
 * A loop driver that calls the backing file from the task that submitted
 * the request lends that task's state to the backing file system.  Each
 * test here catches one way that goes wrong:
 *
 *  - stack: ext4 on a loop device over a fragmented file on ext4 (three
 *    levels).  With cold caches the lower ext4 reads extent blocks for our
 *    reads, and would wait forever for bios parked on the submitter's
 *    current->bio_list; deleting files makes the upper ext4 read bitmaps
 *    inside a journal handle, and the lower ext4 updating the image's
 *    access time would take that handle for its own (a BUG in jbd2).
 *  - killed: writeback of a task killed in fsync() must not fail.
 *  - fsize: a task's RLIMIT_FSIZE limits its files, not a block device.
 *  - change_fd: LOOP_CHANGE_FD to a file without direct I/O (ramfs) under
 *    O_DIRECT readers.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <linux/fiemap.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"
#include "loop_backing.h"

#define MIB			(1024 * 1024)

/* stack: three levels; an image is allocated, then every other 4 KiB punched */
#define STACK_LEVELS		3
#define FRAG_CHUNK		4096
/* stack: the files of a data level are spread over FILES_DIRS directories */
#define FILES_DIRS		8
#define FILES_MAX_SIZE		(25 * 1024)

/* killed */
#define KILLED_FS_SIZE		(96 * MIB)
#define KILLED_DURABLE		(4 * MIB)
#define KILLED_SYNC_SIZE	(4 * MIB)

/* fsize */
#define FSIZE_LIMIT		(1 * MIB)
#define FSIZE_BACKING		(8 * MIB)
/* Small requests, which a driver is most tempted to move itself. */
#define FSIZE_CHUNK		(64 * 1024)

/* change_fd */
#define CHFD_SIZE		(4 * MIB)
#define CHFD_ROUNDS		100
#define CHFD_READERS		2

/*
 * How much the tests do.  With LOOP_STACK_SMALL=1 in the environment they
 * do less, for slow kernels (KASAN and lockdep under TCG, as in make
 * check-intree), through the same paths: the images still need extent
 * blocks below an index (an ext4 inode holds 4 extents, a 4 KiB tree block
 * 340), the upper file systems still have cold inodes and bitmaps to read.
 */
struct stack_shape {
	off_t lower_size;	/* stack: the tmpfs file under level 0 */
	off_t image_size;	/* stack: the image of level 1, on level 0 */
	off_t third_size;	/* stack: the image of level 2, on level 1 */
	long min_extents;	/* stack: extents each image must have */
	int files_old;		/* stack: files per data level, and new ones */
	int files_new;
	off_t killed_write;	/* killed: bytes written before fsync() */
	int killed_rounds;	/* killed: fdatasync() writers killed */
};

static const struct stack_shape stack_full = {
	.lower_size = 256 * MIB, .image_size = 64 * MIB,
	.third_size = 16 * MIB, .min_extents = 1000,
	.files_old = 192, .files_new = 64,
	.killed_write = 16 * MIB, .killed_rounds = 16,
};

static const struct stack_shape stack_small = {
	.lower_size = 96 * MIB, .image_size = 24 * MIB,
	.third_size = 8 * MIB, .min_extents = 500,
	.files_old = 48, .files_new = 16,
	.killed_write = 4 * MIB, .killed_rounds = 6,
};

static const struct stack_shape *shape = &stack_full;

static void __attribute__((constructor)) stack_shape_pick(void)
{
	const char *small = getenv("LOOP_STACK_SMALL");

	if (small && *small && strcmp(small, "0"))
		shape = &stack_small;
}

/* --- tools, the kernel log, caches ------------------------------------ */

/* Full path of @name in /usr/real/bin or $PATH, in @buf; NULL if none. */
static const char *tool_find(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	const char *p, *end;

	snprintf(buf, len, "/usr/real/bin/%s", name);
	if (!access(buf, X_OK))
		return buf;
	for (p = path; p && *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		snprintf(buf, len, "%.*s/%s", (int)(end - p), p, name);
		if (end > p && !access(buf, X_OK))
			return buf;
	}
	return NULL;
}

/*
 * Run @argv (argv[0] a full path), its output kept in a log: the exit
 * status, or -1 if it did not exit.  On failure the log goes to stderr.
 */
static int tool_run(const char **argv)
{
	char log[PATH_MAX], line[512];
	int status, fd;
	pid_t pid;
	FILE *f;

	snprintf(log, sizeof(log), "%s/ksft-loop-tool-%d.log", loop_tmpdir(),
		 getpid());
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	else if (WIFEXITED(status))
		status = WEXITSTATUS(status);
	else
		status = -1;
	if (status) {
		fprintf(stderr, "# %s exited with %d:\n", argv[0], status);
		f = fopen(log, "r");
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "#   %s", line);
		if (f)
			fclose(f);
	}
	unlink(log);
	return status;
}

/* mkfs.ext4 on loopN, with @opts (-E options) if not NULL. */
static int tool_mkfs(const char *mkfs, int nr, const char *opts)
{
	const char *argv[7];
	char dev[64];
	int n = 0;

	loop_dev_path(dev, sizeof(dev), nr);
	argv[n++] = mkfs;
	argv[n++] = "-q";
	argv[n++] = "-F";
	if (opts) {
		argv[n++] = "-E";
		argv[n++] = opts;
	}
	argv[n++] = dev;
	argv[n] = NULL;
	return tool_run(argv);
}

/* e2fsck -fn on loopN: 0 when the file system is clean. */
static int tool_fsck(const char *fsck, int nr)
{
	const char *argv[4];
	char dev[64];

	loop_dev_path(dev, sizeof(dev), nr);
	argv[0] = fsck;
	argv[1] = "-fn";
	argv[2] = dev;
	argv[3] = NULL;
	return tool_run(argv);
}

/* Write back everything and drop the page cache, dentries and inodes. */
static int caches_drop(void)
{
	sync();
	return write_str("/proc/sys/vm", "drop_caches", "3");
}

/* /dev/kmsg, read from its end on: what the kernel says from now on. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * Lines the kernel logged since the last call that tell of a failed I/O or
 * a file system error: how many, the first of them in @first.
 */
static int kmsg_errors(int fd, char *first, size_t len)
{
	static const char * const bad[] = {
		"I/O error",		/* the block layer, buffer heads, ext4 */
		"IO error",		/* jbd2 */
		"EXT4-fs error",
		"Remounting filesystem read-only",
		"Aborting journal",
	};
	char rec[2048];
	unsigned int i;
	int count = 0;
	ssize_t n;

	first[0] = '\0';
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten: read on */
		if (n <= 0)
			break;
		rec[n] = '\0';
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			if (!strstr(rec, bad[i]))
				continue;
			if (!count++)
				snprintf(first, len, "%s",
					 strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
			break;
		}
	}
	return count;
}

/* Extents of @fd as FS_IOC_FIEMAP counts them, or -errno. */
static long fiemap_count(int fd)
{
	struct fiemap fm;

	memset(&fm, 0, sizeof(fm));
	fm.fm_length = FIEMAP_MAX_OFFSET;
	fm.fm_flags = FIEMAP_FLAG_SYNC;
	if (ioctl(fd, FS_IOC_FIEMAP, &fm))
		return -errno;
	return fm.fm_mapped_extents;
}

static long fiemap_count_path(const char *path)
{
	long n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = fiemap_count(fd);
	close(fd);
	return n;
}

/*
 * A file of @size bytes on ext4 with one extent per FRAG_CHUNK it keeps:
 * allocated in one piece, then every other chunk punched out, so no two
 * extents can ever merge.  Returns its number of extents, or -errno.
 */
static long frag_create(const char *path, off_t size)
{
	off_t pos;
	long ret;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fallocate(fd, 0, 0, size))
		goto fail;
	for (pos = FRAG_CHUNK; pos < size; pos += 2 * FRAG_CHUNK)
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      pos, FRAG_CHUNK))
			goto fail;
	if (fsync(fd))
		goto fail;
	ret = fiemap_count(fd);
	close(fd);
	return ret;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

/* Read all of @path through the page cache, to have it there. */
static int file_warm(const char *path)
{
	static char buf[MIB];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/*
 * Read the first @count 4 KiB blocks of loopN with O_DIRECT, one at a
 * time.  After a burst of requests (a journal commit, say) a driver may
 * hand the next ones to its worker for a while; this gets it past that,
 * so that what follows finds a device whose submitter waits for each
 * request.
 */
static int dev_read_shallow(int nr, int count)
{
	void *buf;
	int fd, i, ret = 0;

	fd = loop_open(nr, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return fd;
	if (posix_memalign(&buf, 4096, 4096)) {
		close(fd);
		return -ENOMEM;
	}
	for (i = 0; i < count && !ret; i++)
		if (pread(fd, buf, 4096, (off_t)i * 4096) != 4096)
			ret = errno ? -errno : -EIO;
	free(buf);
	close(fd);
	return ret;
}

/*
 * Overwrite the first 4 KiB of @path, written and synced before, with
 * O_DIRECT: one write of the image below, with no journal commit above.
 */
static int file_overwrite_direct(const char *path, unsigned int seed)
{
	void *buf;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (posix_memalign(&buf, 4096, 4096)) {
		close(fd);
		return -ENOMEM;
	}
	loop_pattern_fill(buf, 4096, 0, seed);
	if (pwrite(fd, buf, 4096, 0) != 4096)
		ret = errno ? -errno : -EIO;
	free(buf);
	close(fd);
	return ret;
}

/* --- a loop device with ext4, and sets of files on it ----------------- */

/* A loop device over @backing, mounted at @mnt: what each level is. */
struct fs_level {
	int nr;				/* loop device, or -1 */
	bool mounted;
	char backing[PATH_MAX];		/* its backing file, or "" */
	char mnt[PATH_MAX];		/* its mount point, or "" */
};

static void fs_level_init(struct fs_level *l)
{
	l->nr = -1;
	l->mounted = false;
	l->backing[0] = '\0';
	l->mnt[0] = '\0';
}

/*
 * Bind a free device to l->backing, opened with @oflags (O_RDWR and
 * maybe O_DIRECT), with LO_FLAGS_* @lo_flags; 0 or -errno.
 */
static int fs_level_bind(struct fs_level *l, int ctl, int oflags,
			 uint32_t lo_flags)
{
	int backfd, fd, ret;
	long nr;

	backfd = open(l->backing, oflags | O_CLOEXEC);
	if (backfd < 0)
		return -errno;
	nr = loop_ctl_get_free(ctl);
	if (nr < 0) {
		close(backfd);
		return nr;
	}
	fd = loop_open(nr, O_RDWR);
	if (fd < 0) {
		close(backfd);
		return fd;
	}
	ret = loop_configure(fd, backfd, lo_flags, 0, 0, 0, NULL);
	if (!ret)
		l->nr = nr;
	close(fd);
	close(backfd);
	return ret;
}

/* Mount ext4 from the level's device, making the mount point first. */
static int fs_level_mount(struct fs_level *l, unsigned long flags)
{
	char dev[64];

	if (!l->mnt[0]) {
		snprintf(l->mnt, sizeof(l->mnt), "%s/ksft-loop-mnt-XXXXXX",
			 loop_tmpdir());
		if (!mkdtemp(l->mnt)) {
			l->mnt[0] = '\0';
			return -errno;
		}
	}
	loop_dev_path(dev, sizeof(dev), l->nr);
	/* No lazy inode table init: no writes behind the test's back. */
	if (mount(dev, l->mnt, "ext4", flags, "noinit_itable"))
		return -errno;
	l->mounted = true;
	return 0;
}

static int fs_level_umount(struct fs_level *l)
{
	if (!l->mounted)
		return 0;
	if (umount(l->mnt))
		return -errno;
	l->mounted = false;
	return 0;
}

static int fs_level_unbind(struct fs_level *l)
{
	int ret;

	if (l->nr < 0)
		return 0;
	ret = loop_unbind(l->nr);
	if (!ret)
		l->nr = -1;
	return ret;
}

/*
 * Undo whatever part of the level is set up: unmount, unbind, remove the
 * backing file and the mount point.  0, or the first -errno.
 */
static int fs_level_put(struct fs_level *l)
{
	int ret = fs_level_umount(l);

	if (ret && !umount2(l->mnt, MNT_DETACH))
		l->mounted = false;
	if (!ret)
		ret = fs_level_unbind(l);
	else
		fs_level_unbind(l);
	if (l->backing[0] && !unlink(l->backing))
		l->backing[0] = '\0';
	if (l->mnt[0] && !l->mounted && !rmdir(l->mnt))
		l->mnt[0] = '\0';
	return ret;
}

/*
 * The files of a level: @prefix-NNNN in d0..d7, sizes from 1 KiB to
 * 25 KiB, not block multiples, each with its own pattern.
 */
static size_t file_size(int i)
{
	return 1024 * (1 + (i * 7) % 24) + (i * 131) % 1000;
}

static void file_path(char *buf, size_t len, const char *dir,
		      const char *prefix, int i)
{
	snprintf(buf, len, "%s/d%d/%s-%04d", dir, i % FILES_DIRS, prefix, i);
}

/* Create files 0..@count-1, their directories first; 0 or -errno. */
static int files_write(const char *dir, const char *prefix, int count,
		       unsigned int seed)
{
	unsigned char buf[FILES_MAX_SIZE];
	char path[PATH_MAX];
	size_t size;
	int i, fd;

	for (i = 0; i < FILES_DIRS; i++) {
		snprintf(path, sizeof(path), "%s/d%d", dir, i);
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
	}
	for (i = 0; i < count; i++) {
		file_path(path, sizeof(path), dir, prefix, i);
		size = file_size(i);
		loop_pattern_fill(buf, size, 0, seed + i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (write(fd, buf, size) != (ssize_t)size) {
			close(fd);
			return errno ? -errno : -EIO;
		}
		close(fd);
	}
	return 0;
}

/*
 * Check files @first, @first + @step, ... below @count: each has its size
 * (half of it if @halved) and its pattern.  0, or -errno with what is
 * wrong in @why.
 */
static int files_check(const char *dir, const char *prefix, int first,
		       int count, int step, unsigned int seed, bool halved,
		       char *why, size_t len)
{
	unsigned char buf[FILES_MAX_SIZE + 1];
	char path[PATH_MAX];
	size_t size;
	ssize_t n;
	int i, fd;
	long bad;

	for (i = first; i < count; i += step) {
		file_path(path, sizeof(path), dir, prefix, i);
		size = halved ? file_size(i) / 2 : file_size(i);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(why, len, "%s: %s", path, strerror(errno));
			return -errno;
		}
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n != (ssize_t)size) {
			snprintf(why, len, "%s: read %zd bytes, not %zu",
				 path, n, size);
			return -EIO;
		}
		bad = loop_pattern_check(buf, size, 0, seed + i);
		if (bad >= 0) {
			snprintf(why, len, "%s: wrong data at byte %ld",
				 path, bad);
			return -EBADMSG;
		}
	}
	return 0;
}

/* What files_do() does to each file. */
enum files_op {
	FILES_TRUNCATE,		/* truncate it to half its size */
	FILES_STAT,		/* stat() it: its inode comes in */
	FILES_UNLINK,		/* delete it */
};

/* Do @op to files @first, @first + @step, ... below @count; 0 or -errno. */
static int files_do(enum files_op op, const char *dir, const char *prefix,
		    int first, int count, int step)
{
	char path[PATH_MAX];
	struct stat st;
	int i, ret;

	for (i = first; i < count; i += step) {
		file_path(path, sizeof(path), dir, prefix, i);
		switch (op) {
		case FILES_TRUNCATE:
			ret = truncate(path, file_size(i) / 2);
			break;
		case FILES_STAT:
			ret = stat(path, &st);
			break;
		case FILES_UNLINK:
		default:
			ret = unlink(path);
			break;
		}
		if (ret)
			return -errno;
	}
	return 0;
}

/*
 * Write @len bytes of pattern @seed to @path and fsync it if @wr, else
 * check that @path holds them.  0, -EBADMSG (other data) or -errno.
 */
static int file_pattern(const char *path, size_t len, unsigned int seed,
			bool wr)
{
	unsigned char *buf = malloc(MIB);
	size_t done, n;
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	if (wr)
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (done = 0; done < len && !ret; done += n) {
		n = len - done < MIB ? len - done : MIB;
		if (wr) {
			loop_pattern_fill(buf, n, done, seed);
			if (write(fd, buf, n) != (ssize_t)n)
				ret = errno ? -errno : -EIO;
		} else if (read(fd, buf, n) != (ssize_t)n) {
			ret = errno ? -errno : -EIO;
		} else if (loop_pattern_check(buf, n, done, seed) >= 0) {
			ret = -EBADMSG;
		}
	}
	if (!ret && wr && fsync(fd))
		ret = -errno;
	close(fd);
	free(buf);
	return ret;
}

/* Write @len bytes of pattern @seed to @path and fsync it; 0 or -errno. */
static int file_write_sync(const char *path, size_t len, unsigned int seed)
{
	return file_pattern(path, len, seed, true);
}

/* Is @path @len bytes of pattern @seed?  0, -EBADMSG or -errno. */
static int file_check(const char *path, size_t len, unsigned int seed)
{
	return file_pattern(path, len, seed, false);
}

/* --- what every fixture here holds -------------------------------------- */

struct fs_env {
	/* ctl and snap; nr, fd and backing for a test with its own device */
	struct loop_fixture lo;
	int kmsg;
	pid_t owner;		/* the test's process, holder of the fds */
	char mkfs[PATH_MAX];
	char fsck[PATH_MAX];
};

/*
 * Set up the control fd and the kernel log reader of a test (-1 each if
 * that failed), and find mkfs.ext4 and e2fsck when @ext4.  Returns why
 * the test cannot run here, or NULL.
 */
static const char *fs_env_init(struct fs_env *e, bool ext4)
{
	loop_fixture_init(&e->lo);
	e->kmsg = -1;
	e->owner = getpid();
	if (loop_not_ready())
		return loop_not_ready();
	if (ext4) {
		if (!tool_find("mkfs.ext4", e->mkfs, sizeof(e->mkfs)) ||
		    !tool_find("e2fsck", e->fsck, sizeof(e->fsck)))
			return "mkfs.ext4 or e2fsck missing";
		if (system("modprobe ext4 >/dev/null 2>&1") == -1 ||
		    access("/sys/fs/ext4", F_OK))
			return "no ext4 in this kernel";
	}
	loop_fixture_setup(&e->lo, 0, 0);
	e->kmsg = kmsg_open();
	return NULL;
}

/*
 * fs_env_init() as the last step of a FIXTURE_SETUP(): the test skipped
 * when it cannot run here, else failed without the control fd or, for the
 * ext4 tests, without the kernel log reader.
 */
static void fs_env_setup(struct __test_metadata *_metadata, struct fs_env *e,
			 bool ext4)
{
	const char *why = fs_env_init(e, ext4);

	if (why)
		SKIP(return, "%s", why);
	ASSERT_LE(0, e->lo.ctl);
	if (!ext4)
		return;
	ASSERT_LE(0, e->kmsg) TH_LOG("cannot read /dev/kmsg");
}

/*
 * After a failed ASSERT the 6.12 harness runs FIXTURE_TEARDOWN_PARENT() in
 * the test's process, after a pass in its parent (see backing_close_fd()):
 * only the owner has descriptors to close.  Everything else the teardowns
 * undo is named by path, number or pid.
 */
static void fs_env_close(struct fs_env *e)
{
	bool owner = getpid() == e->owner;

	backing_close_fd(&e->kmsg, owner);
	backing_fix_close(&e->lo, owner);
}

/* --- stack: ext4 on a fragmented file on ext4, three levels ----------- */

/*
 * Level 0 is ext4 on a loop device over a tmpfs file; level 1 a loop
 * device over a fragmented image on level 0, with its own ext4; level 2
 * the same again on level 1.  Levels 1 and 2 hold the test's files.
 */
FIXTURE(stack) {
	struct fs_env env;
	struct fs_level lvl[STACK_LEVELS];
};

FIXTURE_VARIANT(stack) {
	unsigned long atime;	/* mount flag of every level */
	uint32_t lo_flags;	/* of the devices over ext4 files */
};

/*
 * strictatime: every read of an image updates its access time, in a
 * journal handle of the lower ext4.
 */
FIXTURE_VARIANT_ADD(stack, strictatime_dio) {
	.atime = MS_STRICTATIME, .lo_flags = LO_FLAGS_DIRECT_IO,
};

FIXTURE_VARIANT_ADD(stack, strictatime_buffered) {
	.atime = MS_STRICTATIME, .lo_flags = 0,
};

/* relatime: the first read after each write of the image does. */
FIXTURE_VARIANT_ADD(stack, relatime_dio) {
	.atime = MS_RELATIME, .lo_flags = LO_FLAGS_DIRECT_IO,
};

FIXTURE_VARIANT_ADD(stack, relatime_buffered) {
	.atime = MS_RELATIME, .lo_flags = 0,
};

FIXTURE_SETUP(stack)
{
	int i;

	for (i = 0; i < STACK_LEVELS; i++)
		fs_level_init(&self->lvl[i]);
	fs_env_setup(_metadata, &self->env, true);
}

FIXTURE_TEARDOWN_PARENT(stack)
{
	int i, failed = 0;

	fs_env_close(&self->env);
	/* Top first: each level's file lives on the level below. */
	for (i = STACK_LEVELS - 1; i >= 0; i--)
		failed += !!fs_level_put(&self->lvl[i]);
	EXPECT_EQ(0, failed) TH_LOG("levels left mounted or bound");
	EXPECT_EQ(0, loop_snap_restore(&self->env.lo.snap));
}

/*
 * Put level @l on a new fragmented image of @size bytes on level @l - 1,
 * bound with @lo_flags, ext4 on it, mounted with @atime.  Returns the
 * image's extents, or -errno.
 */
static long stack_level_new(const struct fs_env *e, struct fs_level *l,
			    off_t size, uint32_t lo_flags, unsigned long atime)
{
	long extents;
	int ret;

	snprintf(l->backing, sizeof(l->backing), "%.2048s/image", l[-1].mnt);
	extents = frag_create(l->backing, size);
	if (extents < 0)
		return extents;
	ret = fs_level_bind(l, e->lo.ctl, O_RDWR, lo_flags);
	/* No discard: it would punch the whole image and undo the extents. */
	if (!ret && tool_mkfs(e->mkfs, l->nr, "nodiscard"))
		ret = -EIO;
	if (!ret)
		ret = fs_level_mount(l, atime);
	return ret ? ret : extents;
}

/*
 * Bring the levels back, with cold caches: level 0 is mounted again, the
 * others bound to their images and mounted.  The first read of each image
 * has the ext4 below read the image's extent tree.
 */
static int stack_up(const struct fs_env *e, struct fs_level *lvl,
		    uint32_t lo_flags, unsigned long atime)
{
	int i, ret;

	ret = fs_level_mount(&lvl[0], atime);
	for (i = 1; i < STACK_LEVELS && !ret; i++) {
		ret = fs_level_bind(&lvl[i], e->lo.ctl, O_RDWR, lo_flags);
		if (!ret)
			ret = fs_level_mount(&lvl[i], atime);
	}
	return ret;
}

/* Unmount every level, and unbind those over images; 0 or -errno. */
static int stack_down(struct fs_level *lvl)
{
	int i, ret = 0;

	for (i = STACK_LEVELS - 1; i >= 0 && !ret; i--) {
		ret = fs_level_umount(&lvl[i]);
		if (!ret && i > 0)
			ret = fs_level_unbind(&lvl[i]);
	}
	return ret;
}

/*
 * From a cold start: mount, read back, write, truncate, and delete files
 * whose inodes and bitmaps are not in memory, on levels 1 and 2; then
 * e2fsck every level.  No step may hang, oops or log an I/O error.
 */
TEST_F_TIMEOUT(stack, cold_caches, 600)
{
	struct fs_level *l0 = &self->lvl[0];
	char why[PATH_MAX + 64], path[PATH_MAX + 16];
	long extents[STACK_LEVELS];
	int backfd, i, ret;

	/* Level 0: ext4 on a loop device over a tmpfs file. */
	backfd = loop_backing_create(l0->backing, sizeof(l0->backing),
				     shape->lower_size, 0);
	ASSERT_LE(0, backfd);
	close(backfd);
	ASSERT_EQ(0, fs_level_bind(l0, self->env.lo.ctl, O_RDWR, 0));
	ASSERT_EQ(0, tool_mkfs(self->env.mkfs, l0->nr, NULL))
		TH_LOG("mkfs.ext4 on loop%d (level 0) failed", l0->nr);
	ASSERT_EQ(0, fs_level_mount(l0, variant->atime));

	/* Levels 1 and 2, each with files on it. */
	for (i = 1; i < STACK_LEVELS; i++) {
		extents[i] = stack_level_new(&self->env, &self->lvl[i],
					     i == 1 ? shape->image_size :
						      shape->third_size,
					     variant->lo_flags, variant->atime);
		ASSERT_LE(shape->min_extents, extents[i])
			TH_LOG("level %d: over %ld extents expected, got %ld",
			       i, shape->min_extents, extents[i]);
		ksft_print_msg("level %d: loop%d over an image of %ld extents\n",
			       i, self->lvl[i].nr, extents[i]);
		EXPECT_EQ(!!(variant->lo_flags & LO_FLAGS_DIRECT_IO),
			  loop_sysfs_ll(self->lvl[i].nr, "loop/dio"))
			TH_LOG("level %d: dio must be as asked for", i);
		ASSERT_EQ(0, files_write(self->lvl[i].mnt, "old", shape->files_old,
					 10 * i));
	}

	/* Everything down, every cache dropped, everything up again. */
	ASSERT_EQ(0, stack_down(self->lvl));
	ASSERT_EQ(0, caches_drop());
	ASSERT_EQ(0, stack_up(&self->env, self->lvl, variant->lo_flags,
			      variant->atime))
		TH_LOG("mounting the stack again with cold caches failed");

	for (i = 1; i < STACK_LEVELS; i++) {
		const char *mnt = self->lvl[i].mnt;

		ret = files_check(mnt, "old", 0, shape->files_old, 1, 10 * i, false,
				  why, sizeof(why));
		ASSERT_EQ(0, ret) TH_LOG("level %d after remount: %s", i, why);
		ASSERT_EQ(0, files_write(mnt, "new", shape->files_new, 100 * i));
		snprintf(path, sizeof(path), "%s/d0", mnt);
		backfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ASSERT_LE(0, backfd);
		EXPECT_EQ(0, syncfs(backfd));
		close(backfd);
		ASSERT_EQ(0, files_do(FILES_TRUNCATE, mnt, "old", 1,
				      shape->files_old, 4));
		ASSERT_EQ(0, files_do(FILES_UNLINK, mnt, "new", 1,
				      shape->files_new, 2));
		snprintf(path, sizeof(path), "%s/bump", mnt);
		ASSERT_EQ(0, file_write_sync(path, 64 * 1024, 200));
	}

	/*
	 * Deletes with the upper file systems cold and the images' pages and
	 * extents in memory: the upper ext4 reads bitmaps inside its journal
	 * handle, and the lower ext4 has them at once, and updates the
	 * image's access time.  The inodes come in first, and each image is
	 * written just before, so that with relatime the first read of it
	 * after that write is one of those bitmaps.
	 */
	ASSERT_EQ(0, caches_drop());
	for (i = 1, ret = 0; i < STACK_LEVELS && !ret; i++)
		ret = file_warm(self->lvl[i].backing);
	for (i = 1; i < STACK_LEVELS && !ret; i++)
		ret = files_do(FILES_STAT, self->lvl[i].mnt, "old", 0,
			       shape->files_old, 2);
	ASSERT_EQ(0, ret) TH_LOG("reading the images and stat(): %s",
				 strerror(-ret));
	for (i = STACK_LEVELS - 1; i > 0; i--) {
		ASSERT_EQ(0, dev_read_shallow(self->lvl[i].nr, 1024));
		snprintf(path, sizeof(path), "%s/bump", self->lvl[i].mnt);
		ASSERT_EQ(0, file_overwrite_direct(path, 200 + i));
		ASSERT_EQ(0, files_do(FILES_UNLINK, self->lvl[i].mnt, "old", 0,
				      shape->files_old, 2))
			TH_LOG("level %d: deleting files with cold caches", i);
	}
	sync();

	for (i = 1; i < STACK_LEVELS; i++) {
		const char *mnt = self->lvl[i].mnt;

		ret = files_check(mnt, "old", 1, shape->files_old, 4, 10 * i, true,
				  why, sizeof(why));
		EXPECT_EQ(0, ret) TH_LOG("level %d, truncated: %s", i, why);
		ret = files_check(mnt, "old", 3, shape->files_old, 4, 10 * i, false,
				  why, sizeof(why));
		EXPECT_EQ(0, ret) TH_LOG("level %d, kept: %s", i, why);
		ret = files_check(mnt, "new", 0, shape->files_new, 2, 100 * i, false,
				  why, sizeof(why));
		EXPECT_EQ(0, ret) TH_LOG("level %d, written: %s", i, why);
	}

	/* Each level clean, the images still in pieces. */
	for (i = STACK_LEVELS - 1; i >= 0; i--) {
		ASSERT_EQ(0, fs_level_umount(&self->lvl[i]));
		EXPECT_EQ(0, tool_fsck(self->env.fsck, self->lvl[i].nr))
			TH_LOG("e2fsck -fn of level %d (loop%d) must find it clean",
			       i, self->lvl[i].nr);
		if (i > 0) {
			ASSERT_EQ(0, fs_level_unbind(&self->lvl[i]));
			extents[i] = fiemap_count_path(self->lvl[i].backing);
			EXPECT_LE(shape->min_extents, extents[i])
				TH_LOG("level %d: the image must stay fragmented, has %ld extents",
				       i, extents[i]);
		}
	}
	EXPECT_EQ(0, kmsg_errors(self->env.kmsg, why, sizeof(why)))
		TH_LOG("no I/O or file system error expected; got: %s", why);
}

/* --- killed: a task killed in fsync() --------------------------------- */

/*
 * A task killed while its fsync() writes back through the device goes on
 * submitting that writeback with SIGKILL pending.  A backing file written
 * in its name would refuse each write (-EINTR), and the file system on
 * the device would see I/O errors.
 */
FIXTURE(killed) {
	struct fs_env env;
	struct fs_level fs;
};

FIXTURE_VARIANT(killed) {
	uint32_t lo_flags;
};

FIXTURE_VARIANT_ADD(killed, buffered) {
	.lo_flags = 0,
};

FIXTURE_VARIANT_ADD(killed, dio) {
	.lo_flags = LO_FLAGS_DIRECT_IO,
};

FIXTURE_SETUP(killed)
{
	fs_level_init(&self->fs);
	fs_env_setup(_metadata, &self->env, true);
}

FIXTURE_TEARDOWN_PARENT(killed)
{
	fs_env_close(&self->env);
	EXPECT_EQ(0, fs_level_put(&self->fs));
	EXPECT_EQ(0, loop_snap_restore(&self->env.lo.snap));
}

/*
 * Write shape->killed_write bytes to @path, say 'S' on @wfd, fsync(), say 'D'
 * (or 'E' if fsync() failed).  The bytes go to every other 4 KiB of the
 * file, so that writeback sends many small requests rather than a few
 * large ones: a driver is most tempted to move small ones itself.
 */
static __noreturn void killed_fsync_child(const char *path, int wfd)
{
	unsigned char buf[4096];
	off_t done;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(1);
	for (done = 0; done < shape->killed_write; done += sizeof(buf)) {
		loop_pattern_fill(buf, sizeof(buf), done, 5);
		if (pwrite(fd, buf, sizeof(buf), 2 * done) != sizeof(buf))
			_exit(1);
	}
	if (write(wfd, "S", 1) != 1)
		_exit(1);
	if (write(wfd, fsync(fd) ? "E" : "D", 1) != 1)
		_exit(1);
	_exit(0);
}

/*
 * Say 'S' on @wfd, then overwrite @path (written and synced before) 4 KiB
 * at a time, each followed by fdatasync(), until killed: one small write
 * request per fdatasync(), the device's queue empty in between.
 */
static __noreturn void killed_fdatasync_child(const char *path, int wfd)
{
	unsigned char buf[4096];
	off_t pos;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(wfd, "S", 1) != 1)
		_exit(1);
	for (pos = 0; ; pos = (pos + sizeof(buf)) % KILLED_SYNC_SIZE) {
		loop_pattern_fill(buf, sizeof(buf), pos, 6);
		if (pwrite(fd, buf, sizeof(buf), pos) != sizeof(buf) ||
		    fdatasync(fd))
			_exit(1);
	}
}

/*
 * Run @child on @path in a new process and SIGKILL it @delay_ms after it
 * said 'S'.  1 if it was killed before it said 'D', 0 if it said 'D'
 * first, -errno if it failed on its own.
 */
static int killed_round(void (*child)(const char *path, int wfd),
			const char *path, unsigned int delay_ms)
{
	int pfd[2], status;
	char c = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		child(path, pfd[1]);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		return -EAGAIN;
	}
	n = read(pfd[0], &c, 1);
	if (n == 1 && c == 'S') {
		loop_msleep(delay_ms);
		kill(pid, SIGKILL);
	}
	waitpid(pid, &status, 0);
	if (n != 1 || c != 'S') {
		close(pfd[0]);
		return -EIO;	/* it failed before it started */
	}
	n = read(pfd[0], &c, 1);
	close(pfd[0]);
	if (n == 1)
		return c == 'D' ? 0 : -EIO;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 1 : -EIO;
}

/*
 * ext4 on the device, over a tmpfs file with every page in memory (a
 * tmpfs write is then a mere copy), and @durable written and fsync()ed
 * before anything is killed.
 */
static void killed_prepare(struct __test_metadata *_metadata,
			   struct fs_env *e, struct fs_level *l,
			   uint32_t lo_flags, char *durable, size_t len)
{
	int backfd;

	backfd = loop_backing_create(l->backing, sizeof(l->backing),
				     KILLED_FS_SIZE, 0xff);
	ASSERT_LE(0, backfd);
	close(backfd);
	ASSERT_EQ(0, fs_level_bind(l, e->lo.ctl, O_RDWR, lo_flags));
	/* No discard: it would punch the pages out of the file again. */
	ASSERT_EQ(0, tool_mkfs(e->mkfs, l->nr, "nodiscard"));
	ASSERT_EQ(0, fs_level_mount(l, 0));
	snprintf(durable, len, "%s/durable", l->mnt);
	ASSERT_EQ(0, file_write_sync(durable, KILLED_DURABLE, 21));
}

/*
 * After the kills: no I/O error in the kernel log, @durable intact, the
 * file system clean, and @durable intact after a remount.
 */
static void killed_verify(struct __test_metadata *_metadata,
			  struct fs_env *e, struct fs_level *l,
			  const char *durable)
{
	char why[512];

	sync();
	EXPECT_EQ(0, kmsg_errors(e->kmsg, why, sizeof(why)))
		TH_LOG("a killed writer's writeback must not fail; the kernel said: %s",
		       why);
	EXPECT_EQ(0, file_check(durable, KILLED_DURABLE, 21))
		TH_LOG("data fsync()ed before the kills must be intact");
	ASSERT_EQ(0, fs_level_umount(l));
	EXPECT_EQ(0, tool_fsck(e->fsck, l->nr))
		TH_LOG("e2fsck -fn must find loop%d clean", l->nr);
	ASSERT_EQ(0, caches_drop());
	ASSERT_EQ(0, fs_level_mount(l, 0));
	EXPECT_EQ(0, file_check(durable, KILLED_DURABLE, 21))
		TH_LOG("after a remount, data fsync()ed before the kills must be intact");
}

/* Children killed 0 to 20 ms into the fsync() of 16 MiB. */
TEST_F_TIMEOUT(killed, in_fsync, 300)
{
	static const unsigned int delay_ms[] = { 0, 2, 5, 10, 20 };
	char path[PATH_MAX + 16], durable[PATH_MAX + 16];
	struct fs_level *l = &self->fs;
	unsigned int r;
	int mid = 0, ret;

	killed_prepare(_metadata, &self->env, l, variant->lo_flags, durable,
		       sizeof(durable));
	snprintf(path, sizeof(path), "%s/victim", l->mnt);
	for (r = 0; r < ARRAY_SIZE(delay_ms); r++) {
		ret = killed_round(killed_fsync_child, path, delay_ms[r]);
		ASSERT_LE(0, ret)
			TH_LOG("round %u: the writer failed on its own (%s)",
			       r, strerror(-ret));
		mid += ret;
		ASSERT_EQ(0, unlink(path));
	}
	ksft_print_msg("%d of %zu writers died before fsync() returned\n",
		       mid, ARRAY_SIZE(delay_ms));
	EXPECT_LE(1, mid)
		TH_LOG("no writer was killed before its fsync() returned: the test proved nothing");
	killed_verify(_metadata, &self->env, l, durable);
}

/*
 * Children overwriting a file with an fdatasync() after each 4 KiB,
 * killed at shape->killed_rounds points of that: a killed task's writeback
 * one request at a time.
 */
TEST_F_TIMEOUT(killed, in_fdatasync, 300)
{
	char path[PATH_MAX + 16], durable[PATH_MAX + 16];
	struct fs_level *l = &self->fs;
	unsigned int r;
	int ret;

	killed_prepare(_metadata, &self->env, l, variant->lo_flags, durable,
		       sizeof(durable));
	snprintf(path, sizeof(path), "%s/victim", l->mnt);
	ASSERT_EQ(0, file_write_sync(path, KILLED_SYNC_SIZE, 6));
	for (r = 0; r < shape->killed_rounds; r++) {
		/* After the last burst (a journal commit): dev_read_shallow(). */
		ASSERT_EQ(0, dev_read_shallow(l->nr, 600));
		ret = killed_round(killed_fdatasync_child, path, 1 + r % 10);
		ASSERT_EQ(1, ret)
			TH_LOG("round %u: the writer must die of SIGKILL, not on its own (%s)",
			       r, strerror(-ret));
	}
	killed_verify(_metadata, &self->env, l, durable);
}

/* --- fsize: a small RLIMIT_FSIZE, writes beyond it ---------------------- */

/*
 * RLIMIT_FSIZE limits the files a task writes, not a block device; a
 * backing file written in the task's name would fail with -EFBIG (an I/O
 * error) and raise SIGXFSZ.
 */
FIXTURE(fsize) {
	struct fs_env env;
	int dfd;
};

FIXTURE_VARIANT(fsize) {
	uint32_t lo_flags;
};

FIXTURE_VARIANT_ADD(fsize, buffered) {
	.lo_flags = 0,
};

FIXTURE_VARIANT_ADD(fsize, dio) {
	.lo_flags = LO_FLAGS_DIRECT_IO,
};

FIXTURE_SETUP(fsize)
{
	self->dfd = -1;
	fs_env_setup(_metadata, &self->env, false);
}

FIXTURE_TEARDOWN_PARENT(fsize)
{
	struct loop_fixture *lo = &self->env.lo;

	backing_close_fd(&self->dfd, getpid() == self->env.owner);
	fs_env_close(&self->env);
	EXPECT_EQ(0, backing_fix_unbind(lo));
	if (lo->backing[0])
		unlink(lo->backing);
	EXPECT_EQ(0, loop_snap_restore(&lo->snap));
}

/* Write FSIZE_CHUNK bytes of pattern at @pos, fsync() if @sync; 0 or -errno. */
static int fsize_write(int fd, unsigned char *buf, off_t pos, bool sync)
{
	loop_pattern_fill(buf, FSIZE_CHUNK, pos, 41);
	errno = 0;
	if (pwrite(fd, buf, FSIZE_CHUNK, pos) != FSIZE_CHUNK)
		return errno ? -errno : -EIO;
	if (sync && fsync(fd))
		return -errno;
	return 0;
}

/* @fd holds what fsize_write() wrote at @pos: the write must @where. */
static void fsize_expect(struct __test_metadata *_metadata, int fd,
			 unsigned char *buf, off_t pos, const char *where)
{
	memset(buf, 0, FSIZE_CHUNK);
	ASSERT_EQ(FSIZE_CHUNK, pread(fd, buf, FSIZE_CHUNK, pos));
	EXPECT_EQ(-1, loop_pattern_check(buf, FSIZE_CHUNK, pos, 41))
		TH_LOG("the write at %lld must %s", (long long)pos, where);
}

/*
 * With a 1 MiB RLIMIT_FSIZE, write the device beyond 1 MiB: O_DIRECT, and
 * buffered with fsync(), and across the limit.  Every write succeeds, no
 * SIGXFSZ arrives, the data reads back.
 */
TEST_F_TIMEOUT(fsize, write_past_limit, 120)
{
	static const off_t pos[] = { 2 * MIB, 5 * MIB, MIB - FSIZE_CHUNK / 2 };
	static const char * const what[] = {
		"O_DIRECT write at 2 MiB",
		"buffered write and fsync() at 5 MiB",
		"O_DIRECT write across the 1 MiB limit",
	};
	struct loop_fixture *lo = &self->env.lo;
	sigset_t xfsz, pending;
	struct rlimit old, lim;
	unsigned char *buf;
	unsigned int i;
	int err[3];

	/* Every page of the file in memory: a tmpfs write is a copy. */
	lo->backfd = loop_backing_create(lo->backing, sizeof(lo->backing),
					 FSIZE_BACKING, 0xff);
	ASSERT_LE(0, lo->backfd);
	ASSERT_EQ(0, loop_fixture_device(lo, O_RDWR));
	ASSERT_EQ(0, loop_configure(lo->fd, lo->backfd, variant->lo_flags,
				    0, 0, 0, NULL));
	self->dfd = loop_open(lo->nr, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->dfd);
	ASSERT_EQ(0, posix_memalign((void **)&buf, 4096, FSIZE_CHUNK));
	/* The device number may have had a busy past in an earlier test. */
	ASSERT_EQ(0, dev_read_shallow(lo->nr, 1024));
	/* Blocked, a SIGXFSZ stays pending for us to see. */
	sigemptyset(&xfsz);
	sigaddset(&xfsz, SIGXFSZ);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &xfsz, NULL));
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));

	lim = old;
	lim.rlim_cur = FSIZE_LIMIT;
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	err[0] = fsize_write(self->dfd, buf, pos[0], false);
	err[1] = fsize_write(lo->fd, buf, pos[1], true);
	err[2] = fsize_write(self->dfd, buf, pos[2], false);
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	ASSERT_EQ(0, sigpending(&pending));

	for (i = 0; i < ARRAY_SIZE(pos); i++) {
		if (!err[i])
			continue;
		EXPECT_EQ(0, err[i])
			TH_LOG("%s: %s; RLIMIT_FSIZE is not for block devices",
			       what[i], strerror(-err[i]));
	}
	EXPECT_EQ(0, sigismember(&pending, SIGXFSZ))
		TH_LOG("SIGXFSZ is for files, not for a block device");

	for (i = 0; i < ARRAY_SIZE(pos); i++) {
		fsize_expect(_metadata, lo->backfd, buf, pos[i],
			     "be in the backing file");
		fsize_expect(_metadata, self->dfd, buf, pos[i],
			     "read back from the device");
	}
	free(buf);
}

/* --- change_fd: from a direct I/O file to one without ------------------- */

/*
 * LOOP_CHANGE_FD from a tmpfs file opened O_DIRECT (the device does direct
 * I/O) to a ramfs file (no direct I/O) and back, under O_DIRECT readers.
 * No request may reach the ramfs file as direct I/O: ramfs has no
 * ->direct_IO.
 */
struct chfd_stats {
	unsigned long reads;
	unsigned long errors;
	unsigned long mismatches;
	int last_errno;
	bool stop;
};

/* env.lo: the device, opened read-only, and the tmpfs file as its backing */
FIXTURE(change_fd) {
	struct fs_env env;
	char ramfs_dir[PATH_MAX];
	char ramfs_file[PATH_MAX + 16];
	bool ramfs_mounted;
	pid_t reader[CHFD_READERS];
};

FIXTURE_SETUP(change_fd)
{
	int i;

	self->ramfs_dir[0] = '\0';
	self->ramfs_file[0] = '\0';
	self->ramfs_mounted = false;
	for (i = 0; i < CHFD_READERS; i++)
		self->reader[i] = -1;
	fs_env_setup(_metadata, &self->env, false);
}

FIXTURE_TEARDOWN_PARENT(change_fd)
{
	int i;

	/* The readers hold the device open. */
	for (i = 0; i < CHFD_READERS; i++) {
		if (self->reader[i] <= 0)
			continue;
		kill(self->reader[i], SIGKILL);
		waitpid(self->reader[i], NULL, 0);
	}
	fs_env_close(&self->env);
	EXPECT_EQ(0, backing_fix_unbind(&self->env.lo));
	if (self->env.lo.backing[0])
		unlink(self->env.lo.backing);
	if (self->ramfs_file[0])
		unlink(self->ramfs_file);
	if (self->ramfs_mounted)
		EXPECT_EQ(0, umount(self->ramfs_dir));
	if (self->ramfs_dir[0])
		rmdir(self->ramfs_dir);
	EXPECT_EQ(0, loop_snap_restore(&self->env.lo.snap));
}

/* Read loopN with O_DIRECT at random until told to stop. */
static __noreturn void chfd_reader(int nr, struct chfd_stats *st,
				   unsigned int seed)
{
	const size_t blocks = CHFD_SIZE / 4096;
	unsigned char *buf;
	size_t len;
	off_t pos;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = loop_open(nr, O_RDONLY | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&buf, 4096, 16 * 4096)) {
		__atomic_add_fetch(&st->errors, 1, __ATOMIC_RELAXED);
		_exit(1);
	}
	while (!__atomic_load_n(&st->stop, __ATOMIC_RELAXED)) {
		seed = seed * 1103515245 + 12345;
		len = 4096 * (1 + (seed >> 16) % 16);
		pos = 4096 * ((seed >> 4) % (blocks - len / 4096 + 1));
		if (pread(fd, buf, len, pos) != (ssize_t)len) {
			st->last_errno = errno;
			__atomic_add_fetch(&st->errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (loop_pattern_check(buf, len, pos, 51) >= 0)
			__atomic_add_fetch(&st->mismatches, 1,
					   __ATOMIC_RELAXED);
		__atomic_add_fetch(&st->reads, 1, __ATOMIC_RELAXED);
	}
	_exit(0);
}

/* LOOP_CHANGE_FD to @path opened with @oflags; 0 or -errno. */
static int chfd_switch(int devfd, const char *path, int oflags)
{
	int fd, ret;

	fd = open(path, oflags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = loop_ioctl(devfd, LOOP_CHANGE_FD, fd);
	close(fd);
	return ret;
}

TEST_F_TIMEOUT(change_fd, dio_to_ramfs, 300)
{
	int failed = 0, dio_on_ramfs = 0, dio_lost = 0, first_err = 0;
	struct loop_fixture *lo = &self->env.lo;
	struct chfd_stats *st;
	unsigned char *buf;
	int fd, i, r;

	/* Two files with the same bytes, on tmpfs and on ramfs. */
	buf = malloc(CHFD_SIZE);
	ASSERT_NE(NULL, buf);
	loop_pattern_fill(buf, CHFD_SIZE, 0, 51);
	fd = loop_backing_create(lo->backing, sizeof(lo->backing), CHFD_SIZE,
				 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(CHFD_SIZE, pwrite(fd, buf, CHFD_SIZE, 0));
	close(fd);
	snprintf(self->ramfs_dir, sizeof(self->ramfs_dir),
		 "%s/ksft-loop-ramfs-XXXXXX", loop_tmpdir());
	if (!mkdtemp(self->ramfs_dir))
		self->ramfs_dir[0] = '\0';
	ASSERT_NE(0, self->ramfs_dir[0]);
	if (mount("ramfs", self->ramfs_dir, "ramfs", 0, "mode=0700"))
		SKIP(return, "cannot mount ramfs: %s", strerror(errno));
	self->ramfs_mounted = true;
	snprintf(self->ramfs_file, sizeof(self->ramfs_file), "%s/file",
		 self->ramfs_dir);
	fd = open(self->ramfs_file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		  0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(CHFD_SIZE, pwrite(fd, buf, CHFD_SIZE, 0));
	close(fd);
	free(buf);

	/* Read-only (LOOP_CHANGE_FD wants it), direct I/O, on tmpfs. */
	lo->backfd = open(lo->backing, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (lo->backfd < 0 && errno == EINVAL)
		SKIP(return, "tmpfs without O_DIRECT (before Linux 6.6)");
	ASSERT_LE(0, lo->backfd);
	ASSERT_EQ(0, loop_fixture_device(lo, O_RDONLY));
	ASSERT_EQ(0, loop_configure(lo->fd, lo->backfd, LO_FLAGS_READ_ONLY |
				    LO_FLAGS_DIRECT_IO, 0, 0, 0, NULL));
	close(lo->backfd);
	lo->backfd = -1;
	ASSERT_EQ(1, loop_sysfs_ll(lo->nr, "loop/dio"))
		TH_LOG("direct I/O expected on a tmpfs file opened O_DIRECT");

	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, st);
	for (i = 0; i < CHFD_READERS; i++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid)
			chfd_reader(lo->nr, st, 7 + i);
		/* Only here: self is shared with the child. */
		self->reader[i] = pid;
	}
	loop_poll_until(__atomic_load_n(&st->reads, __ATOMIC_RELAXED), 2000);

	for (r = 0; r < CHFD_ROUNDS; r++) {
		int ret = chfd_switch(lo->fd, self->ramfs_file, O_RDONLY);

		if (!ret && loop_sysfs_ll(lo->nr, "loop/dio") != 0)
			dio_on_ramfs++;
		if (!ret)
			ret = chfd_switch(lo->fd, lo->backing,
					  O_RDONLY | O_DIRECT);
		if (!ret && loop_sysfs_ll(lo->nr, "loop/dio") != 1)
			dio_lost++;
		if (ret && !failed++)
			first_err = ret;
	}

	__atomic_store_n(&st->stop, true, __ATOMIC_RELAXED);
	for (i = 0; i < CHFD_READERS; i++) {
		waitpid(self->reader[i], NULL, 0);
		self->reader[i] = -1;
	}
	close(lo->fd);
	lo->fd = -1;
	ksft_print_msg("%lu reads in %d rounds\n", st->reads, CHFD_ROUNDS);

	EXPECT_EQ(0, failed)
		TH_LOG("%d of %d rounds of LOOP_CHANGE_FD failed, the first with %s",
		       failed, CHFD_ROUNDS, strerror(-first_err));
	EXPECT_EQ(0, dio_on_ramfs)
		TH_LOG("dio must read 0 on a ramfs file (%d rounds did not)",
		       dio_on_ramfs);
	EXPECT_EQ(0, dio_lost)
		TH_LOG("dio must read 1 back on the O_DIRECT tmpfs file (%d rounds did not)",
		       dio_lost);
	EXPECT_LT(0, st->reads) TH_LOG("the readers read nothing");
	EXPECT_EQ(0, st->errors)
		TH_LOG("%lu of %lu reads failed, the last with %s", st->errors,
		       st->reads + st->errors, strerror(st->last_errno));
	EXPECT_EQ(0, st->mismatches)
		TH_LOG("%lu reads returned wrong data", st->mismatches);
	munmap(st, sizeof(*st));
}

TEST_HARNESS_MAIN
