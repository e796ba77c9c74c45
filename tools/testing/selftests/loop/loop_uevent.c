// SPDX-License-Identifier: GPL-2.0
/*
 * What udev sees of a bind with LO_FLAGS_PARTSCAN.
 *
 * A listener process reads the kernel's uevents and, on a change uevent
 * for a loop disk, opens that disk at once and closes it again, as udev
 * does to probe it.  Over many binds, through LOOP_CONFIGURE, through
 * LOOP_SET_FD followed by LOOP_SET_STATUS64 with PARTSCAN, and through
 * LOOP_CTL_CONFIGURE, on new devices and on reused ones, each partition
 * of the image must be added exactly once per bind and never removed
 * during it, and removed exactly once at the unbind.
 *
 * Those counts cannot tell the driver's order from stock's.  Stock 6.12's
 * loop_configure() sends the change uevent and scans afterwards; a
 * listener would see partitions dropped and added again only if its open
 * scanned them in between, and the ioctl's own scan then redid it.  That
 * window is a few microseconds against the listener's wake-up, too narrow
 * to hit reliably, and in this kernel an open does not even scan there:
 * disk_force_media_change() no longer sets GD_NEED_PART_SCAN.  So a pass
 * says little about the order, and stock passes too.  What guarantees a
 * listener its partitions is the order itself: scanned first, announced
 * last.  That is what can be seen, and is checked for LOOP_CONFIGURE and
 * LOOP_CTL_CONFIGURE: every partition's add uevent comes before the last
 * change uevent of the bind, and each open the listener makes on a change
 * uevent of the bind finds all partitions.  (The scan itself sends a
 * change uevent before it adds them, but holds the disk's open_mutex
 * meanwhile: an open on that one waits for the scan.)  Stock announces
 * first; on a driver without LOOP_CTL_CONFIGURE (stock) that check is
 * left out.  LOOP_SET_FD announces a bind without partitions; the
 * LOOP_SET_STATUS64 that asks for them adds them after it.
 *
 * LOOP_UEVENT_ROUNDS sets the binds per path (default 20).
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/netlink.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"

#define NR_PARTS	2
#define PART_START	64		/* sectors */
#define PART_SECTORS	2048
/* Larger than LOOP_BACKING_SIZE: the partitions end past 2 MiB. */
#define IMAGE_SIZE	(4 * 1024 * 1024)
#define LOG_SIZE	16384
#define WAIT_MS		5000

enum uev_kind {
	UEV_ADD,
	UEV_REMOVE,
	UEV_CHANGE,
	UEV_OTHER,
	UEV_OPENED,	/* the listener opened and closed the disk */
	UEV_MARK,	/* a synthetic change uevent the test asked for */
};

struct uev {
	enum uev_kind kind;
	int nr;			/* loopN */
	int part;		/* M of loopNpM, 0 for the disk itself */
	int err;		/* UEV_OPENED: 0, or the errno of the open */
	int parts;		/* UEV_OPENED: partitions it found in sysfs */
	unsigned int mark;	/* UEV_MARK: its number */
};

/* Written by the listener only, read by the test: shared memory. */
struct uev_log {
	int count;		/* entries in ev[], stored with release */
	int lost;		/* the socket overflowed, or ev[] is full */
	struct uev ev[LOG_SIZE];
};

enum bind_how {
	BIND_CONFIGURE,
	BIND_SET_FD_STATUS,
	BIND_CTL_CONFIGURE,
};

/*
 * Read one kernel uevent, "ACTION@DEVPATH" and then KEY=VALUE strings,
 * all NUL-terminated, into @ev.  False if it is not about a loop disk or
 * one of its partitions.
 */
static bool uev_parse(const char *buf, size_t len, struct uev *ev)
{
	const char *devname = NULL;
	unsigned long mark = 0;
	bool synth = false;
	size_t off;
	int n;

	if (!strchr(buf, '@'))
		return false;
	for (off = strlen(buf) + 1; off < len; off += strlen(buf + off) + 1) {
		const char *kv = buf + off;

		if (!strncmp(kv, "DEVNAME=", 8)) {
			devname = kv + 8;
		} else if (!strncmp(kv, "SYNTH_UUID=", 11)) {
			synth = true;
			mark = strtoul(kv + 11, NULL, 16);
		}
	}
	if (!devname)
		return false;

	memset(ev, 0, sizeof(*ev));
	n = 0;
	if (sscanf(devname, "loop%dp%d%n", &ev->nr, &ev->part, &n) != 2 ||
	    devname[n]) {
		ev->part = 0;
		n = 0;
		if (sscanf(devname, "loop%d%n", &ev->nr, &n) != 1 ||
		    devname[n])
			return false;
	}

	if (!strncmp(buf, "add@", 4))
		ev->kind = UEV_ADD;
	else if (!strncmp(buf, "remove@", 7))
		ev->kind = UEV_REMOVE;
	else if (!strncmp(buf, "change@", 7))
		ev->kind = UEV_CHANGE;
	else
		ev->kind = UEV_OTHER;
	if (synth) {
		ev->kind = mark && ev->kind == UEV_CHANGE ? UEV_MARK : UEV_OTHER;
		ev->mark = mark;
	}
	return true;
}

static void uev_log_add(struct uev_log *log, const struct uev *ev)
{
	int n = log->count;

	if (n >= LOG_SIZE) {
		__atomic_store_n(&log->lost, 1, __ATOMIC_RELAXED);
		return;
	}
	log->ev[n] = *ev;
	__atomic_store_n(&log->count, n + 1, __ATOMIC_RELEASE);
}

/* How many of loopN's partitions sysfs shows. */
static int parts_present(int nr)
{
	char path[PATH_MAX];
	int p, n = 0;

	for (p = 1; p <= NR_PARTS; p++) {
		snprintf(path, sizeof(path), "/sys/block/loop%d/loop%dp%d", nr,
			 nr, p);
		n += !access(path, F_OK);
	}
	return n;
}

/* The listener: log loop uevents, and probe a loop disk when it changes. */
static __noreturn void listener_run(int sk, struct uev_log *log)
{
	struct uev ev, opened;
	char buf[8192], path[64];
	ssize_t n;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		n = recv(sk, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == ENOBUFS)
				__atomic_store_n(&log->lost, 1, __ATOMIC_RELAXED);
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			_exit(1);
		}
		buf[n] = '\0';
		if (!uev_parse(buf, n, &ev))
			continue;
		uev_log_add(log, &ev);
		if (ev.kind != UEV_CHANGE || ev.part)
			continue;

		/* As udev does: open the disk the moment it changes. */
		snprintf(path, sizeof(path), "/dev/loop%d", ev.nr);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		memset(&opened, 0, sizeof(opened));
		opened.kind = UEV_OPENED;
		opened.nr = ev.nr;
		opened.err = fd < 0 ? errno : 0;
		if (fd >= 0) {
			opened.parts = parts_present(ev.nr);
			close(fd);
		}
		uev_log_add(log, &opened);
	}
}

/*
 * Look through the log entries from *@i on for a @kind entry of disk
 * loopN: true with *@i its index, else false with *@i past the last one.
 */
static bool uev_find(struct uev_log *log, enum uev_kind kind, int nr,
		     unsigned int mark, int *i)
{
	int count = __atomic_load_n(&log->count, __ATOMIC_ACQUIRE);

	for (; *i < count; (*i)++) {
		const struct uev *ev = &log->ev[*i];

		if (ev->kind == kind && ev->nr == nr && !ev->part &&
		    (kind != UEV_MARK || ev->mark == mark))
			return true;
	}
	return false;
}

/* Index of the first @kind entry of disk loopN from @from on, or -errno. */
static int uev_wait(struct uev_log *log, enum uev_kind kind, int nr,
		    unsigned int mark, int from)
{
	int i = from;

	if (loop_poll_until(uev_find(log, kind, nr, mark, &i), WAIT_MS))
		return -ETIMEDOUT;
	return i;
}

/*
 * Ask for a synthetic change uevent of loopN, numbered @mark, and wait for
 * the listener to log it: whatever uevent the kernel sent before it has
 * been logged by then.  Returns its index in the log, or -errno.
 */
static int uev_mark(struct uev_log *log, int nr, unsigned int mark)
{
	char path[PATH_MAX], buf[64];
	int fd, len, err;

	loop_sysfs_path(path, sizeof(path), nr, "uevent");
	len = snprintf(buf, sizeof(buf),
		       "change %08x-0000-4000-8000-000000000000", mark);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = write(fd, buf, len) == len ? 0 : -errno;
	close(fd);
	if (err)
		return err;
	return uev_wait(log, UEV_MARK, nr, mark, 0);
}

struct uev_tally {
	int add[NR_PARTS + 1];
	int remove[NR_PARTS + 1];
	int stray;		/* partitions the image does not have */
	int open_err;		/* errno of a failed open by the listener */
	int late;		/* adds after the disk's last change uevent */
	int found;		/* fewest partitions a probe found, or -1 */
};

/* Count the partition uevents of loopN in log entries [@from, @to). */
static void uev_tally(const struct uev_log *log, int nr, int from, int to,
		      struct uev_tally *t)
{
	int i;

	memset(t, 0, sizeof(*t));
	t->found = -1;
	for (i = from; i < to; i++) {
		const struct uev *ev = &log->ev[i];

		if (ev->nr != nr)
			continue;
		if (ev->kind == UEV_CHANGE && !ev->part)
			t->late = 0;
		if (ev->kind == UEV_OPENED) {
			if (ev->err)
				t->open_err = ev->err;
			else if (t->found < 0 || ev->parts < t->found)
				t->found = ev->parts;
		}
		if (!ev->part || (ev->kind != UEV_ADD && ev->kind != UEV_REMOVE))
			continue;
		if (ev->part > NR_PARTS)
			t->stray++;
		else if (ev->kind == UEV_ADD)
			t->add[ev->part]++;
		else
			t->remove[ev->part]++;
		if (ev->kind == UEV_ADD)
			t->late++;
	}
}

/* Each partition added @add times and removed @remove times, no other. */
static bool uev_tally_is(const struct uev_tally *t, int add, int remove)
{
	int p;

	for (p = 1; p <= NR_PARTS; p++)
		if (t->add[p] != add || t->remove[p] != remove)
			return false;
	return !t->stray;
}

static const char * const bind_name[] = {
	[BIND_CONFIGURE]	= "LOOP_CONFIGURE",
	[BIND_SET_FD_STATUS]	= "LOOP_SET_FD + LOOP_SET_STATUS64",
	[BIND_CTL_CONFIGURE]	= "LOOP_CTL_CONFIGURE",
};

/*
 * Bind @back with LO_FLAGS_PARTSCAN as @how says, on the device GET_FREE
 * names or, for LOOP_CTL_CONFIGURE, the one it picks.  Returns an fd for
 * the device and its number in *@nr, or -errno with nothing bound.
 */
static int bind_partscan(int ctl, int back, enum bind_how how, int *nr)
{
	struct loop_config cfg = {
		.fd = back,
		.info.lo_flags = LO_FLAGS_PARTSCAN,
	};
	struct loop_info64 info;
	long free;
	int fd, ret;

	if (how == BIND_CTL_CONFIGURE) {
		fd = ioctl(ctl, LOOP_CTL_CONFIGURE, &cfg);
		if (fd < 0)
			return -errno;
	} else {
		free = loop_ctl_get_free(ctl);
		if (free < 0)
			return free;
		fd = loop_open(free, O_RDWR);
		if (fd < 0)
			return fd;
		if (how == BIND_CONFIGURE) {
			ret = loop_ioctl_ptr(fd, LOOP_CONFIGURE, &cfg);
		} else {
			/* As losetup -P did before LOOP_CONFIGURE. */
			ret = loop_ioctl(fd, LOOP_SET_FD, back);
			if (!ret) {
				memset(&info, 0, sizeof(info));
				info.lo_flags = LO_FLAGS_PARTSCAN;
				ret = loop_ioctl_ptr(fd, LOOP_SET_STATUS64,
						     &info);
			}
		}
		if (ret) {
			ioctl(fd, LOOP_CLR_FD, 0);
			close(fd);
			return ret;
		}
	}
	ret = loop_get_status64(fd, &info);
	if (ret) {
		close(fd);
		return ret;
	}
	*nr = info.lo_number;
	return fd;
}

static int uevent_rounds(void)
{
	const char *env = getenv("LOOP_UEVENT_ROUNDS");

	return env ? atoi(env) : 20;
}

/* What the test holds, in a plain struct that helpers can take. */
struct uevent_state {
	struct loop_fixture lo;	/* fd: the device a round has bound */
	int sk;
	pid_t listener;
	struct uev_log *log;
	unsigned int marks;
	bool stock;		/* no LOOP_CTL_CONFIGURE: stock's order */
};

FIXTURE(uevent) {
	struct uevent_state s;
};

FIXTURE_VARIANT(uevent) {
	enum bind_how how;
	bool announce_last;	/* the bind's change uevent follows the scan */
};

FIXTURE_VARIANT_ADD(uevent, configure) {
	.how = BIND_CONFIGURE,
	.announce_last = true,
};

FIXTURE_VARIANT_ADD(uevent, set_fd_set_status) {
	.how = BIND_SET_FD_STATUS,
	.announce_last = false,
};

FIXTURE_VARIANT_ADD(uevent, ctl_configure) {
	.how = BIND_CTL_CONFIGURE,
	.announce_last = true,
};

FIXTURE_SETUP(uevent)
{
	struct sockaddr_nl addr = {
		.nl_family = AF_NETLINK,
		.nl_groups = 1,		/* the kernel's own uevents */
	};
	int rcvbuf = 4 << 20;

	self->s.sk = -1;
	self->s.listener = -1;
	self->s.log = MAP_FAILED;
	self->s.marks = 0;
	/* The backing file is larger than the fixture's: made below. */
	if (!loop_fixture_start(_metadata, &self->s.lo, 0, 0))
		return;
	self->s.stock = loop_ctl_ioctl(self->s.lo.ctl, LOOP_CTL_CONFIGURE, 0) ==
			-LOOP_CTL_UNKNOWN_ERRNO;
	if (variant->how == BIND_CTL_CONFIGURE && self->s.stock)
		SKIP(return, "LOOP_CTL_CONFIGURE not supported (stock driver)");

	self->s.lo.backfd = loop_backing_create(self->s.lo.backing,
						sizeof(self->s.lo.backing),
						IMAGE_SIZE, 0);
	ASSERT_LE(0, self->s.lo.backfd);
	ASSERT_EQ(0, loop_write_mbr_parts(self->s.lo.backfd, NR_PARTS,
					  PART_START, PART_SECTORS));

	self->s.sk = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
			    NETLINK_KOBJECT_UEVENT);
	if (self->s.sk < 0)
		SKIP(return, "no uevent netlink socket: %s", strerror(errno));
	/* Root may go past rmem_max; a lost uevent fails the test. */
	setsockopt(self->s.sk, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		   sizeof(rcvbuf));
	ASSERT_EQ(0, bind(self->s.sk, (struct sockaddr *)&addr, sizeof(addr)))
		TH_LOG("bind to the uevent group: %s", strerror(errno));

	self->s.log = mmap(NULL, sizeof(*self->s.log), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->s.log);
	self->s.listener = fork();
	ASSERT_LE(0, self->s.listener);
	if (!self->s.listener)
		listener_run(self->s.sk, self->s.log);
}

FIXTURE_TEARDOWN(uevent)
{
	/* The listener opens devices: stop it before they are restored. */
	if (self->s.listener > 0) {
		kill(self->s.listener, SIGKILL);
		waitpid(self->s.listener, NULL, 0);
	}
	if (self->s.sk >= 0)
		close(self->s.sk);
	if (self->s.log != MAP_FAILED)
		munmap(self->s.log, sizeof(*self->s.log));
	EXPECT_EQ(0, loop_fixture_teardown(&self->s.lo));
}

/*
 * Wait for the listener to have opened loopN on a change uevent logged
 * from @from on, then mark: *@to is the mark's index.  False on failure.
 */
static bool uev_settle(struct __test_metadata *_metadata,
		       struct uevent_state *self, int nr, int from, int *to)
{
	int ret;

	ret = uev_wait(self->log, UEV_OPENED, nr, 0, from);
	EXPECT_LE(0, ret) TH_LOG("no change uevent for loop%d", nr);
	if (ret < 0)
		return false;
	*to = uev_mark(self->log, nr, ++self->marks);
	EXPECT_LE(0, *to) TH_LOG("mark uevent: %s", strerror(-*to));
	if (*to < 0)
		return false;
	EXPECT_FALSE(__atomic_load_n(&self->log->lost, __ATOMIC_RELAXED))
		TH_LOG("the listener lost uevents");
	return !self->log->lost;
}

/*
 * Round @r: bind, wait for the listener to have opened the disk on its
 * change uevent, and count the partition uevents up to a mark sent after
 * that; unbind and count again.  Even rounds bind a device made for the
 * purpose (none is free), odd ones the device the round before left
 * unbound, and remove it afterwards.  *@nr is the device bound; false once
 * something failed.  No ASSERT: after one in the test body the harness
 * skips teardown, which must unbind and restore the devices.
 */
static bool uevent_round(struct __test_metadata *_metadata,
			 struct uevent_state *self, enum bind_how how,
			 bool announce_last, int r, int *nr)
{
	const char *name = bind_name[how];
	bool fresh = !(r & 1), known = false;
	int ids[LOOP_MAX_DEVICES], i, n, prev = *nr, from, to;
	struct uev_tally t;

	n = loop_list(ids, LOOP_MAX_DEVICES);
	from = __atomic_load_n(&self->log->count, __ATOMIC_ACQUIRE);
	self->lo.fd = bind_partscan(self->lo.ctl, self->lo.backfd, how, nr);
	EXPECT_LE(0, self->lo.fd)
		TH_LOG("%s, round %d: %s", name, r, strerror(-self->lo.fd));
	if (self->lo.fd < 0)
		return false;
	for (i = 0; i < n; i++)
		known |= ids[i] == *nr;
	if (fresh) {
		EXPECT_FALSE(known)
			TH_LOG("round %d: loop%d is not a new device", r, *nr);
	} else {
		EXPECT_EQ(prev, *nr)
			TH_LOG("round %d: loop%d not reused", r, prev);
	}

	if (!uev_settle(_metadata, self, *nr, from, &to))
		return false;
	uev_tally(self->log, *nr, from, to, &t);
	EXPECT_EQ(0, t.open_err)
		TH_LOG("the listener could not open loop%d: %s", *nr,
		       strerror(t.open_err));
	EXPECT_TRUE(uev_tally_is(&t, 1, 0))
		TH_LOG("%s, round %d, %s loop%d: bind: p1 +%d -%d, p2 +%d -%d, pN %d",
		       name, r, fresh ? "new" : "reused", *nr, t.add[1],
		       t.remove[1], t.add[2], t.remove[2], t.stray);
	if (!uev_tally_is(&t, 1, 0))
		return false;
	if (announce_last && !self->stock) {
		EXPECT_EQ(0, t.late)
			TH_LOG("%s, round %d: %d partition adds after loop%d's last change",
			       name, r, t.late, *nr);
		EXPECT_EQ(NR_PARTS, t.found)
			TH_LOG("%s, round %d: a listener's open found %d of %d partitions",
			       name, r, t.found, NR_PARTS);
		if (t.late || t.found != NR_PARTS)
			return false;
	}

	from = to + 1;
	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_CLR_FD, 0));
	close(self->lo.fd);
	self->lo.fd = -1;
	EXPECT_EQ(0, loop_wait_unbound(*nr, WAIT_MS));
	if (!uev_settle(_metadata, self, *nr, from, &to))
		return false;
	uev_tally(self->log, *nr, from, to, &t);
	EXPECT_TRUE(uev_tally_is(&t, 0, 1))
		TH_LOG("%s, round %d, loop%d: unbind: p1 +%d -%d, p2 +%d -%d, pN %d",
		       name, r, *nr, t.add[1], t.remove[1], t.add[2],
		       t.remove[2], t.stray);
	if (!uev_tally_is(&t, 0, 1))
		return false;

	/* The next round starts without a free device. */
	if (!fresh)
		EXPECT_EQ(0, loop_remove_wait(self->lo.ctl, *nr));
	return true;
}

TEST_F_TIMEOUT(uevent, partitions_once_per_bind, 150)
{
	int r, ret, nr = -1, rounds = uevent_rounds();

	if (variant->announce_last && self->s.stock)
		TH_LOG("stock driver: it announces a bind before it scans; order not checked");
	ret = loop_remove_unbound(self->s.lo.ctl);
	EXPECT_EQ(0, ret) TH_LOG("cannot remove the unbound devices");
	for (r = 0; !ret && r < rounds; r++)
		if (!uevent_round(_metadata, &self->s, variant->how,
				  variant->announce_last, r, &nr))
			break;
}

TEST_HARNESS_MAIN
