// SPDX-License-Identifier: GPL-2.0
/*
 * bench/ctlbench.c - control-path and memory benchmark for the loop driver.
 *
 * Built on the host as a static binary (bench/run.sh: gcc -static -O2) and
 * run in the guest by bench/guest-bench.sh with whichever loop.ko is loaded.
 *
 * Usage: ctlbench ctl BACKING_FILE MAXN [GETFREE_ITERS] [PAIR_SECONDS]
 *        ctlbench mem BACKING_FILE
 *
 * Both start with no loop device present (module loaded with max_loop=0).
 *
 * mem, for a boot of its own in which no other loop module was loaded
 * before: per-CPU memory that one module frees at rmmod stays populated,
 * and the next module would get it for nothing.
 *   1. LOOP_CTL_ADD devices 0..999
 *   2. /proc/meminfo and /proc/slabinfo delta / 1000    -> mem-unbound-*
 *   3. bind them all (LOOP_CONFIGURE on BACKING_FILE), the same delta from
 *      before step 1                                    -> mem-bound-*
 *
 * ctl:
 *   1. LOOP_CTL_ADD devices 0..999, timed               -> create-1000
 *   2. bind devices 0..N-1 (LOOP_CONFIGURE on BACKING_FILE) for N = 10, 100,
 *      1000, then 5000 if MAXN >= 5000; devices up to N exist, device N is
 *      free; time LOOP_CTL_GET_FREE (GETFREE_ITERS calls, median)
 *                                                       -> getfree-nN, and
 *      the time per device of binding 100..999          -> bind-per-dev
 *   3. unbind all (LOOP_CLR_FD), timed                 -> unbind-per-dev
 *      remove 0..999 timed                              -> remove-1000
 *      and remove the rest
 *   4. LOOP_CTL_ADD(-1) + LOOP_CTL_REMOVE pairs for PAIR_SECONDS, each
 *      pair timed, 1 / median pair time                 -> addremove
 *   5. allocate and bind a device with LO_FLAGS_AUTOCLEAR until an open
 *      fd of it is in hand, GETFREE_ITERS / 4 times, median; closing the fd
 *      unbinds it (not timed):
 *      GET_FREE + open + LOOP_CONFIGURE                 -> allocbind-3calls
 *      LOOP_CTL_CONFIGURE, where the driver has it      -> allocbind-ctl
 *
 * Output: one line per result, "test=NAME value=V unit=U"; the caller adds
 * the module and round.  Other lines start with "#".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static int ctl;
static int backing;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what, long arg)
{
	fprintf(stderr, "ctlbench: %s (%ld): %s\n", what, arg, strerror(errno));
	printf("# ctlbench: FAILED: %s (%ld): %s\n", what, arg, strerror(errno));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_CACHES	1024

struct mem {
	long total_used;	/* MemTotal - MemFree, KiB */
	long slab;		/* Slab, KiB */
	long percpu;		/* Percpu, KiB */
	long slabobj;		/* /proc/slabinfo: active objects, bytes */
	int ncaches;
	struct {
		char name[64];
		long bytes;	/* active_objs * objsize */
	} cache[MAX_CACHES];
};

/* Sum and keep, per cache, the bytes of the active objects. */
static void read_slabinfo(struct mem *m)
{
	char line[512], name[64];
	long active, total, size;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &total,
			   &size) != 4)
			continue;
		m->slabobj += active * size;
		if (m->ncaches < MAX_CACHES) {
			strcpy(m->cache[m->ncaches].name, name);
			m->cache[m->ncaches++].bytes = active * size;
		}
	}
	fclose(f);
}

static long cache_bytes(const struct mem *m, const char *name)
{
	for (int i = 0; i < m->ncaches; i++)
		if (!strcmp(m->cache[i].name, name))
			return m->cache[i].bytes;
	return 0;
}

/* The caches that grew most from @a to @b, per device, as info lines. */
static void print_top_caches(const char *state, const struct mem *a,
			     const struct mem *b, int n)
{
	long best_prev = -1;

	printf("# slabinfo %s, bytes/dev by cache:", state);
	for (int k = 0; k < 6; k++) {
		long best = 0;
		int bi = -1;

		for (int i = 0; i < b->ncaches; i++) {
			long d = b->cache[i].bytes - cache_bytes(a, b->cache[i].name);

			if (d > best && (best_prev < 0 || d < best_prev)) {
				best = d;
				bi = i;
			}
		}
		if (bi < 0)
			break;
		printf(" %s=%ld", b->cache[bi].name, best / n);
		best_prev = best;
	}
	printf("\n");
}

static void read_mem(struct mem *m)
{
	char line[256];
	long total = 0, memfree = 0, v;
	FILE *f;

	/* Drop reclaimable caches so that only what the devices pin stays. */
	sync();
	f = fopen("/proc/sys/vm/drop_caches", "w");
	if (f) {
		fputs("3\n", f);
		fclose(f);
	}
	usleep(200000);
	memset(m, 0, sizeof(*m));
	f = fopen("/proc/meminfo", "r");
	if (!f)
		die("open /proc/meminfo", 0);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %ld", &v) == 1)
			total = v;
		else if (sscanf(line, "MemFree: %ld", &v) == 1)
			memfree = v;
		else if (sscanf(line, "Slab: %ld", &v) == 1)
			m->slab = v;
		else if (sscanf(line, "Percpu: %ld", &v) == 1)
			m->percpu = v;
	}
	fclose(f);
	m->total_used = total - memfree;
	read_slabinfo(m);
}

static void print_mem(const char *state, const struct mem *a,
		      const struct mem *b, int n)
{
	printf("test=mem-%s-total value=%.0f unit=bytes/dev\n", state,
	       (b->total_used - a->total_used) * 1024.0 / n);
	printf("test=mem-%s-slab value=%.0f unit=bytes/dev\n", state,
	       (b->slab - a->slab) * 1024.0 / n);
	printf("test=mem-%s-percpu value=%.0f unit=bytes/dev\n", state,
	       (b->percpu - a->percpu) * 1024.0 / n);
	if (a->ncaches && b->ncaches) {
		printf("test=mem-%s-slabobj value=%.0f unit=bytes/dev\n", state,
		       (double)(b->slabobj - a->slabobj) / n);
		print_top_caches(state, a, b, n);
	}
}

static void add_dev(int i)
{
	if (ioctl(ctl, LOOP_CTL_ADD, i) != i)
		die("LOOP_CTL_ADD", i);
}

static int open_dev(int i)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/loop%d", i);
	fd = open(path, O_RDWR);
	if (fd < 0)
		die("open /dev/loopN", i);
	return fd;
}

static void bind_dev(int i)
{
	struct loop_config cfg;
	int fd = open_dev(i);

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = backing;
	if (ioctl(fd, LOOP_CONFIGURE, &cfg))
		die("LOOP_CONFIGURE", i);
	close(fd);
}

static void unbind_dev(int i)
{
	int fd = open_dev(i);

	if (ioctl(fd, LOOP_CLR_FD, 0))
		die("LOOP_CLR_FD", i);
	close(fd);
}

static void remove_dev(int i)
{
	int tries;

	/* A release still running elsewhere may keep it busy for a moment. */
	/* Success is >= 0: some versions return the index. */
	for (tries = 0; ioctl(ctl, LOOP_CTL_REMOVE, i) < 0; tries++) {
		if (errno != EBUSY || tries > 1000)
			die("LOOP_CTL_REMOVE", i);
		usleep(1000);
	}
}

/* The classic way: name a free device, open it, bind it. */
static int allocbind_3calls(const struct loop_config *cfg)
{
	char path[64];
	int nr, fd;

	for (;;) {
		nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0)
			die("LOOP_CTL_GET_FREE", 0);
		snprintf(path, sizeof(path), "/dev/loop%d", nr);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die("open /dev/loopN", nr);
		if (ioctl(fd, LOOP_CONFIGURE, cfg) == 0)
			return fd;
		if (errno != EBUSY)
			die("LOOP_CONFIGURE", nr);
		close(fd);	/* lost a race: try again */
	}
}

/* Time allocate-and-bind @iters times; "3calls" or "ctl". */
static void allocbind(const char *how, int iters)
{
	struct loop_config cfg;
	double *t = calloc(iters, sizeof(*t));
	int i, fd;

	if (!t)
		die("calloc", iters);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = backing;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	for (i = 0; i < iters; i++) {
		double t0 = now_ns();

		if (how[0] == 'c') {
			fd = ioctl(ctl, LOOP_CTL_CONFIGURE, &cfg);
			if (fd < 0) {
				if (i == 0 && (errno == ENOSYS || errno == EINVAL ||
					       errno == ENOTTY)) {
					printf("# allocbind-ctl: not supported (%s)\n",
					       strerror(errno));
					free(t);
					return;
				}
				die("LOOP_CTL_CONFIGURE", i);
			}
		} else {
			fd = allocbind_3calls(&cfg);
		}
		t[i] = now_ns() - t0;
		close(fd);	/* autoclear: unbinds it */
	}
	printf("test=allocbind-%s value=%.0f unit=us\n", how,
	       median(t, iters) / 1e3);
	free(t);
}

static void getfree(int n, int iters)
{
	double *t = calloc(iters, sizeof(*t));
	int i, r;

	if (!t)
		die("calloc", iters);
	for (i = 0; i < iters; i++) {
		double t0 = now_ns();

		r = ioctl(ctl, LOOP_CTL_GET_FREE);
		t[i] = now_ns() - t0;
		if (r < 0)
			die("LOOP_CTL_GET_FREE", n);
		if (r != n) {
			printf("# getfree n=%d returned %d\n", n, r);
			/* It may have added a device; do not let that pile up. */
			if (r > n + 1)
				remove_dev(r);
		}
	}
	printf("test=getfree-n%d value=%.0f unit=ns\n", n, median(t, iters));
	free(t);
}

/* Memory per unbound and per bound device, over 1000 devices. */
static void mem_bench(void)
{
	static struct mem m0, m1, m2;
	int i;

	read_mem(&m0);
	for (i = 0; i < 1000; i++)
		add_dev(i);
	read_mem(&m1);
	print_mem("unbound", &m0, &m1, 1000);
	for (i = 0; i < 1000; i++)
		bind_dev(i);
	read_mem(&m2);
	print_mem("bound", &m0, &m2, 1000);
	fflush(stdout);
}

static void ctl_bench(int maxn, int iters, double pair_secs)
{
	static const int ns[] = { 10, 100, 1000, 5000 };
	int i, k, bound = 0, created;
	double t0, t1, *rates;
	int nrates = 0, maxrates = 100000;

	t0 = now_ns();
	for (i = 0; i < 1000; i++)
		add_dev(i);
	t1 = now_ns();
	printf("test=create-1000 value=%.1f unit=ms\n", (t1 - t0) / 1e6);
	created = 1000;

	for (k = 0; k < 4 && ns[k] <= maxn; k++) {
		int n = ns[k];

		while (created <= n)
			add_dev(created++);
		t0 = now_ns();
		for (i = bound; i < n; i++)
			bind_dev(i);
		t1 = now_ns();
		if (n > bound)
			printf("# bound %d..%d in %.0f ms (%.0f us/dev)\n", bound,
			       n - 1, (t1 - t0) / 1e6, (t1 - t0) / 1e3 / (n - bound));
		if (n == 1000)
			printf("test=bind-per-dev value=%.0f unit=us\n",
			       (t1 - t0) / 1e3 / (n - bound));
		bound = n;
		fflush(stdout);
		getfree(n, iters);
		fflush(stdout);
	}

	t0 = now_ns();
	for (i = 0; i < bound; i++)
		unbind_dev(i);
	t1 = now_ns();
	printf("# unbound %d devices in %.0f ms\n", bound, (t1 - t0) / 1e6);
	printf("test=unbind-per-dev value=%.0f unit=us\n", (t1 - t0) / 1e3 / bound);
	t0 = now_ns();
	for (i = 0; i < 1000; i++)
		remove_dev(i);
	t1 = now_ns();
	printf("test=remove-1000 value=%.1f unit=ms\n", (t1 - t0) / 1e6);
	for (i = 1000; i < created; i++)
		remove_dev(i);
	fflush(stdout);

	rates = calloc(maxrates, sizeof(*rates));
	if (!rates)
		die("calloc", maxrates);
	t0 = now_ns();
	while (nrates < maxrates && now_ns() - t0 < pair_secs * 1e9) {
		double b0 = now_ns();
		int id = ioctl(ctl, LOOP_CTL_ADD, -1);

		if (id < 0)
			die("LOOP_CTL_ADD", -1);
		remove_dev(id);
		rates[nrates++] = now_ns() - b0;
	}
	printf("test=addremove value=%.1f unit=pairs/s\n", 1e9 / median(rates, nrates));
	printf("# addremove: %d pairs timed one by one\n", nrates);
	free(rates);
	fflush(stdout);

	allocbind("3calls", iters / 4 > 0 ? iters / 4 : 1);
	allocbind("ctl", iters / 4 > 0 ? iters / 4 : 1);
	/* The one device they used, unbound again by the last close. */
	i = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (i >= 0)
		remove_dev(i);
}

int main(int argc, char **argv)
{
	bool mem = argc == 3 && !strcmp(argv[1], "mem");
	int i;

	if (!mem && (argc < 4 || strcmp(argv[1], "ctl"))) {
		fprintf(stderr, "usage: %s ctl BACKING_FILE MAXN [GETFREE_ITERS] [PAIR_SECONDS]\n"
			"       %s mem BACKING_FILE\n", argv[0], argv[0]);
		return 2;
	}

	backing = open(argv[2], O_RDWR);
	if (backing < 0)
		die("open backing file", 0);
	ctl = open("/dev/loop-control", O_RDWR);
	if (ctl < 0)
		die("open /dev/loop-control", 0);
	/* GET_FREE creates loop0 if nothing exists; start from nothing. */
	i = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (i != 0) {
		errno = EEXIST;
		die("loop devices other than an unbound loop0 exist; GET_FREE", i);
	}
	remove_dev(0);

	if (mem) {
		mem_bench();
	} else {
		int maxn = atoi(argv[3]);

		ctl_bench(maxn < 1000 ? 1000 : maxn,
			  argc > 4 ? atoi(argv[4]) : 1000,
			  argc > 5 ? atof(argv[5]) : 2.0);
	}
	close(ctl);
	return 0;
}
