// SPDX-License-Identifier: GPL-2.0
/*
 * The loop data path: where bytes land in the backing file, flush, discard,
 * write-zeroes, direct I/O and large logical blocks.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <linux/aio_abi.h>
#include <linux/fiemap.h>

#include "../kselftest_harness.h"
#include "loop_lib.h"
#include "loop_backing.h"

#define FILL		0xa5

/* pwrite (@wr) or pread all of @len or fail: 0 or -errno (-EIO if short). */
static int full_pio(int fd, char *buf, size_t len, off_t pos, bool wr)
{
	while (len) {
		ssize_t n = wr ? pwrite(fd, buf, len, pos) :
				 pread(fd, buf, len, pos);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= n;
		pos += n;
	}
	return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, off_t pos)
{
	/* full_pio() stores into @buf only when it reads. */
	return full_pio(fd, (char *)buf, len, pos, true);
}

static int full_pread(int fd, void *buf, size_t len, off_t pos)
{
	return full_pio(fd, buf, len, pos, false);
}

static void *aligned_buf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len))
		return NULL;
	return p;
}

/* --- placement: offset and sizelimit ---------------------------------- */

FIXTURE(place) {
	struct loop_fixture lo;
};

FIXTURE_VARIANT(place) {
	uint64_t offset;
	uint64_t sizelimit;
	long long size;		/* the device size this gives */
};

FIXTURE_VARIANT_ADD(place, whole_file) {
	.size = LOOP_BACKING_SIZE,
};

FIXTURE_VARIANT_ADD(place, offset_4k) {
	.offset = 4096,
	.size = LOOP_BACKING_SIZE - 4096,
};

FIXTURE_VARIANT_ADD(place, offset_512_sizelimit_8k) {
	.offset = 512,
	.sizelimit = 8192,
	.size = 8192,
};

FIXTURE_VARIANT_ADD(place, offset_64k_sizelimit_128k) {
	.offset = 65536,
	.sizelimit = 131072,
	.size = 131072,
};

FIXTURE_SETUP(place)
{
	loop_fixture_start(_metadata, &self->lo, LOOP_FIX_ALL, FILL);
}

FIXTURE_TEARDOWN(place)
{
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

/* Device bytes land at offset in the file, and nothing outside the window. */
TEST_F(place, writes_land_at_offset)
{
	size_t size = variant->size;
	unsigned char *buf, *file;

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd, 0,
				    variant->offset, variant->sizelimit, 0,
				    NULL));
	ASSERT_EQ(variant->size, loop_dev_size(self->lo.fd));

	buf = malloc(size);
	file = malloc(LOOP_BACKING_SIZE);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, file);

	loop_pattern_fill(buf, size, 0, 1);
	ASSERT_EQ(0, full_pwrite(self->lo.fd, buf, size, 0));
	ASSERT_EQ(0, fsync(self->lo.fd)) TH_LOG("fsync of the device failed");

	ASSERT_EQ(0, full_pread(self->lo.backfd, file, LOOP_BACKING_SIZE, 0));
	EXPECT_EQ(-1, loop_mem_check(file, variant->offset, FILL))
		TH_LOG("bytes before the offset were overwritten");
	EXPECT_EQ(-1, loop_pattern_check(file + variant->offset, size, 0, 1))
		TH_LOG("device data is not at offset %llu in the file",
		       (unsigned long long)variant->offset);
	EXPECT_EQ(-1, loop_mem_check(file + variant->offset + size,
				     LOOP_BACKING_SIZE - variant->offset - size,
				     FILL))
		TH_LOG("bytes past the sizelimit were overwritten");

	/* Writing at the end of the device is refused. */
	EXPECT_EQ(-1, pwrite(self->lo.fd, buf, 512, size));
	EXPECT_EQ(ENOSPC, errno);
	free(buf);
	free(file);
}

/* Reads through the device see the file's bytes at offset. */
TEST_F(place, reads_see_file)
{
	size_t size = variant->size;
	unsigned char *buf;
	char tail;

	buf = malloc(size);
	ASSERT_NE(NULL, buf);
	loop_pattern_fill(buf, size, 0, 2);
	ASSERT_EQ(0, full_pwrite(self->lo.backfd, buf, size, variant->offset));

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd, 0,
				    variant->offset, variant->sizelimit, 0,
				    NULL));
	memset(buf, 0, size);
	ASSERT_EQ(0, full_pread(self->lo.fd, buf, size, 0));
	EXPECT_EQ(-1, loop_pattern_check(buf, size, 0, 2))
		TH_LOG("device reads do not match the file at offset %llu",
		       (unsigned long long)variant->offset);
	EXPECT_EQ(0, pread(self->lo.fd, &tail, 1, size))
		TH_LOG("reading at the end of the device is end of file");
	free(buf);
}

/* --- everything else on one plain device ------------------------------ */

FIXTURE(io) {
	struct loop_fixture lo;
	int dfd;		/* O_DIRECT opener, when a test wants one */
};

FIXTURE_SETUP(io)
{
	self->dfd = -1;
	loop_fixture_start(_metadata, &self->lo, LOOP_FIX_ALL, FILL);
}

FIXTURE_TEARDOWN(io)
{
	if (self->dfd >= 0)
		close(self->dfd);
	EXPECT_EQ(0, loop_fixture_teardown(&self->lo));
}

/*
 * @buf, all of the device or of the backing file read back, holds zeroes
 * where @range says (@zeroes says why, if not) and FILL after them.
 */
static void io_expect_zeroed(struct __test_metadata *_metadata,
			     const unsigned char *buf, const uint64_t *range,
			     const char *zeroes)
{
	EXPECT_EQ(-1, loop_mem_check(buf + range[0], range[1], 0))
		TH_LOG("%s", zeroes);
	EXPECT_EQ(-1, loop_mem_check(buf + range[0] + range[1],
				     LOOP_BACKING_SIZE - range[0] - range[1],
				     FILL));
}

/* Read all of the device into @buf: FILL, but zeroes in @range. */
static void io_expect_dev_zeroed(struct __test_metadata *_metadata, int fd,
				 unsigned char *buf, const uint64_t *range,
				 const char *zeroes)
{
	ASSERT_EQ(0, full_pread(fd, buf, LOOP_BACKING_SIZE, 0));
	EXPECT_EQ(-1, loop_mem_check(buf, range[0], FILL));
	io_expect_zeroed(_metadata, buf, range, zeroes);
}

/* fsync on the device pushes buffered writes into the backing file. */
TEST_F(io, fsync_reaches_file)
{
	unsigned char buf[8192];

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	loop_pattern_fill(buf, sizeof(buf), 40960, 3);
	ASSERT_EQ(0, full_pwrite(self->lo.fd, buf, sizeof(buf), 40960));
	ASSERT_EQ(0, fsync(self->lo.fd));

	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(0, full_pread(self->lo.backfd, buf, sizeof(buf), 40960));
	EXPECT_EQ(-1, loop_pattern_check(buf, sizeof(buf), 40960, 3))
		TH_LOG("after fsync the file must hold what was written");
}

/* The last close writes back the device's dirty pages too. */
TEST_F(io, last_close_reaches_file)
{
	unsigned char buf[4096];

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	loop_pattern_fill(buf, sizeof(buf), 8192, 4);
	ASSERT_EQ(0, full_pwrite(self->lo.fd, buf, sizeof(buf), 8192));
	close(self->lo.fd);
	self->lo.fd = -1;

	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(0, full_pread(self->lo.backfd, buf, sizeof(buf), 8192));
	EXPECT_EQ(-1, loop_pattern_check(buf, sizeof(buf), 8192, 4));
}

/* BLKDISCARD punches a hole in a tmpfs backing file. */
TEST_F(io, discard_punches_hole)
{
	uint64_t range[2] = { 256 * 1024, 256 * 1024 };
	unsigned char *buf;
	struct stat before, after;
	off_t hole;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	EXPECT_LT(0, loop_sysfs_ll(self->lo.nr, "queue/discard_max_bytes"))
		TH_LOG("a tmpfs-backed device advertises discard");
	ASSERT_EQ(0, fstat(self->lo.backfd, &before));
	hole = lseek(self->lo.backfd, 0, SEEK_HOLE);
	ASSERT_EQ(LOOP_BACKING_SIZE, hole)
		TH_LOG("the file starts fully allocated");

	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, BLKDISCARD, range));

	ASSERT_EQ(0, fstat(self->lo.backfd, &after));
	EXPECT_EQ(LOOP_BACKING_SIZE, after.st_size)
		TH_LOG("discard keeps the size");
	EXPECT_GE(before.st_blocks - (blkcnt_t)(range[1] / 512), after.st_blocks)
		TH_LOG("st_blocks %lld -> %lld: no space was freed",
		       (long long)before.st_blocks, (long long)after.st_blocks);
	EXPECT_EQ((off_t)range[0], lseek(self->lo.backfd, 0, SEEK_HOLE));
	EXPECT_EQ((off_t)(range[0] + range[1]),
		  lseek(self->lo.backfd, range[0], SEEK_DATA));

	buf = malloc(LOOP_BACKING_SIZE);
	ASSERT_NE(NULL, buf);
	io_expect_dev_zeroed(_metadata, self->lo.fd, buf, range,
			     "discarded blocks must read back as zeroes");
	free(buf);
}

/* BLKZEROOUT zeroes the range on the device and in the file. */
TEST_F(io, zeroout)
{
	uint64_t range[2] = { 128 * 1024, 64 * 1024 };
	unsigned char *buf;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ASSERT_EQ(0, loop_ioctl_ptr(self->lo.fd, BLKZEROOUT, range));
	ASSERT_EQ(0, fsync(self->lo.fd));

	buf = malloc(LOOP_BACKING_SIZE);
	ASSERT_NE(NULL, buf);
	io_expect_dev_zeroed(_metadata, self->lo.fd, buf, range,
			     "BLKZEROOUT range must read back as zeroes");

	ASSERT_EQ(0, full_pread(self->lo.backfd, buf, LOOP_BACKING_SIZE, 0));
	io_expect_zeroed(_metadata, buf, range,
			 "the backing file must hold the zeroes");
	free(buf);
}

/* 4096-byte logical blocks: O_DIRECT 4 KiB I/O round-trips, 512 does not. */
TEST_F(io, block_size_4096_direct)
{
	size_t len = 64 * 1024;
	off_t pos = 3 * 4096;
	unsigned char *buf, *file;

	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd, 0, 0, 0, 4096,
				    NULL));
	self->dfd = loop_open(self->lo.nr, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->dfd);

	buf = aligned_buf(len);
	file = malloc(len);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, file);

	loop_pattern_fill(buf, len, pos, 5);
	ASSERT_EQ(0, full_pwrite(self->dfd, buf, len, pos));
	memset(buf, 0, len);
	ASSERT_EQ(0, full_pread(self->dfd, buf, len, pos));
	EXPECT_EQ(-1, loop_pattern_check(buf, len, pos, 5));

	ASSERT_EQ(0, full_pread(self->lo.backfd, file, len, pos));
	EXPECT_EQ(-1, loop_pattern_check(file, len, pos, 5))
		TH_LOG("O_DIRECT writes must reach the backing file");

	EXPECT_EQ(-1, pwrite(self->dfd, buf, 512, 512))
		TH_LOG("512-byte O_DIRECT I/O on a 4096-byte block device");
	EXPECT_EQ(EINVAL, errno);
	free(buf);
	free(file);
}

/*
 * The backing file shrinks under a bound device: what is left reads fine,
 * what is gone reads as zeroes or fails with EIO, but never hangs; and
 * SET_CAPACITY then shrinks the device.
 */
TEST_F(io, backing_file_shrinks)
{
	unsigned char *buf;
	ssize_t n;

	ASSERT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_FD, self->lo.backfd));
	ASSERT_EQ(0, ftruncate(self->lo.backfd, LOOP_BACKING_SIZE / 2));
	ASSERT_EQ(0, loop_ioctl(self->lo.fd, BLKFLSBUF, 0));

	self->dfd = loop_open(self->lo.nr, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, self->dfd);
	buf = aligned_buf(4096);
	ASSERT_NE(NULL, buf);

	ASSERT_EQ(0, full_pread(self->dfd, buf, 4096, 0));
	EXPECT_EQ(-1, loop_mem_check(buf, 4096, FILL));

	memset(buf, 0x77, 4096);
	n = pread(self->dfd, buf, 4096, 3 * LOOP_BACKING_SIZE / 4);
	if (n < 0) {
		EXPECT_EQ(EIO, errno)
			TH_LOG("reading past the file's end: %s",
			       strerror(errno));
	} else {
		EXPECT_EQ(-1, loop_mem_check(buf, n, 0))
			TH_LOG("data past the file's end must read as zeroes");
	}

	EXPECT_EQ(0, loop_ioctl(self->lo.fd, LOOP_SET_CAPACITY, 0));
	EXPECT_EQ(LOOP_BACKING_SIZE / 2, loop_dev_size(self->lo.fd));
	free(buf);
}

/* --- backing files: tmpfs and ext4, direct and buffered, in a cgroup ----- */

/* struct backing_state and the helpers that set it up are in loop_backing.h. */

FIXTURE(backing) {
	struct backing_state s;
};

FIXTURE_VARIANT(backing) {
	bool ext4;
	int lo_flags;
	bool cgroup;
	bool on_loop;
};

/* What losetup does by default: buffered, on tmpfs. */
FIXTURE_VARIANT_ADD(backing, tmpfs_buffered) {
	.ext4 = false, .lo_flags = 0,
};

/* Direct I/O on the backing file: async, or the fallback worker. */
FIXTURE_VARIANT_ADD(backing, tmpfs) {
	.ext4 = false, .lo_flags = LO_FLAGS_DIRECT_IO,
};

/*
 * Direct I/O to another loop device over tmpfs.  That device's worker may
 * complete a bio before the backing file's read_iter or write_iter has
 * returned to ours, and our worker then goes on with the request itself.
 */
FIXTURE_VARIANT_ADD(backing, loop_dio) {
	.on_loop = true, .lo_flags = LO_FLAGS_DIRECT_IO,
};

FIXTURE_VARIANT_ADD(backing, ext4) {
	.ext4 = true, .lo_flags = LO_FLAGS_DIRECT_IO,
};

/* Buffered I/O to a file on ext4 over another loop device. */
FIXTURE_VARIANT_ADD(backing, ext4_buffered) {
	.ext4 = true, .lo_flags = 0,
};

/* The same, charged to a cgroup: a work item per request, in its name. */
FIXTURE_VARIANT_ADD(backing, ext4_buffered_cgroup) {
	.ext4 = true, .lo_flags = 0, .cgroup = true,
};

FIXTURE_SETUP(backing)
{
	struct backing_state *s = &self->s;

	backing_init(s, variant->ext4, variant->on_loop, variant->cgroup,
		     variant->lo_flags);
	loop_fixture_start(_metadata, &s->lo, 0, 0);
}

/* Runs in the parent or in the test's process: see backing_close_fd(). */
FIXTURE_TEARDOWN_PARENT(backing)
{
	backing_release(_metadata, &self->s);
}

/* The variant's LO_FLAGS_DIRECT_IO sticks; data round-trips both ways. */
TEST_F(backing, round_trip)
{
	struct backing_state *s = &self->s;
	size_t len = 256 * 1024;
	struct loop_info64 info;
	unsigned char *buf;

	if (!backing_ready(_metadata, s))
		return;
	ASSERT_EQ(0, loop_get_status64(s->lo.fd, &info));
	ASSERT_EQ(variant->lo_flags, info.lo_flags & LO_FLAGS_DIRECT_IO)
		TH_LOG("the variant's direct I/O setting must hold");
	EXPECT_EQ(!!variant->lo_flags, loop_sysfs_ll(s->lo.nr, "loop/dio"));

	buf = aligned_buf(len);
	ASSERT_NE(NULL, buf);

	/* Buffered through the device, then read back with O_DIRECT. */
	loop_pattern_fill(buf, len, 0, 6);
	ASSERT_EQ(0, full_pwrite(s->lo.fd, buf, len, 0));
	ASSERT_EQ(0, fsync(s->lo.fd));
	s->dfd = loop_open(s->lo.nr, O_RDWR | O_DIRECT);
	ASSERT_LE(0, s->dfd);
	memset(buf, 0, len);
	ASSERT_EQ(0, full_pread(s->dfd, buf, len, 0));
	EXPECT_EQ(-1, loop_pattern_check(buf, len, 0, 6));

	/* O_DIRECT through the device, then read the file itself. */
	loop_pattern_fill(buf, len, len, 7);
	ASSERT_EQ(0, full_pwrite(s->dfd, buf, len, len));
	memset(buf, 0, len);
	ASSERT_EQ(0, full_pread(s->lo.backfd, buf, len, len));
	EXPECT_EQ(-1, loop_pattern_check(buf, len, len, 7))
		TH_LOG("direct writes must be in the backing file");
	free(buf);
}

/* Most requests backing_aio_all() takes at once. */
#define BACKING_AIO_MAX	32

/* Requests on the device's O_DIRECT fd, and the buffer they move. */
struct backing_aio {
	aio_context_t ctx;
	int fd;
	int nr;
	unsigned char *buf;
	struct iocb iocbs[BACKING_AIO_MAX];
};

/*
 * Set the device up as the variant says, open it with O_DIRECT in s->dfd,
 * set up an AIO context for @nr requests and a buffer of @len bytes for
 * them.  Returns false if the test was skipped.
 */
static bool backing_aio_prepare(struct __test_metadata *_metadata,
				struct backing_state *s,
				struct backing_aio *aio, int nr, size_t len)
{
	memset(aio, 0, sizeof(*aio));
	if (!backing_ready(_metadata, s))
		return false;
	s->dfd = loop_open(s->lo.nr, O_RDWR | O_DIRECT);
	ASSERT_LE(0, s->dfd);
	ASSERT_GE(BACKING_AIO_MAX, nr);
	if (syscall(SYS_io_setup, nr, &aio->ctx))
		SKIP(return false, "no native AIO: %s", strerror(errno));
	aio->fd = s->dfd;
	aio->nr = nr;
	aio->buf = aligned_buf(len);
	ASSERT_NE(NULL, aio->buf);
	return true;
}

/* Request @i: @len bytes at @pos on the device, at @off in the buffer. */
static void backing_aio_set(struct backing_aio *aio, int i, bool rd,
			    size_t off, size_t len, off_t pos)
{
	struct iocb *cb = &aio->iocbs[i];

	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = aio->fd;
	cb->aio_lio_opcode = rd ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE;
	cb->aio_buf = (uintptr_t)(aio->buf + off);
	cb->aio_nbytes = len;
	cb->aio_offset = pos;
}

/*
 * Submit all the requests in one io_submit(), so that they are all in
 * flight together, and wait for all of them; each must move all its bytes.
 */
static void backing_aio_all(struct __test_metadata *_metadata,
			    struct backing_aio *aio, int round)
{
	struct iocb *list[BACKING_AIO_MAX];
	struct io_event events[BACKING_AIO_MAX];
	struct timespec ts = { .tv_sec = 20 };
	int i, got = 0, nr = aio->nr;

	for (i = 0; i < nr; i++)
		list[i] = &aio->iocbs[i];
	ASSERT_EQ(nr, syscall(SYS_io_submit, aio->ctx, nr, list));
	while (got < nr) {
		long n = syscall(SYS_io_getevents, aio->ctx, 1, nr - got,
				 events + got, &ts);

		ASSERT_LT(0, n) TH_LOG("round %d: requests did not complete",
				       round);
		got += n;
	}
	for (i = 0; i < nr; i++) {
		const struct iocb *cb = (void *)(uintptr_t)events[i].obj;

		ASSERT_EQ((long long)cb->aio_nbytes, events[i].res)
			TH_LOG("round %d, request at %lld: res %lld", round,
			       (long long)cb->aio_offset,
			       (long long)events[i].res);
	}
}

static void backing_aio_end(struct backing_aio *aio)
{
	syscall(SYS_io_destroy, aio->ctx);
	free(aio->buf);
}

/*
 * Many requests in flight at once all complete, with their data, round
 * after round.
 */
TEST_F(backing, many_in_flight)
{
	struct backing_state *s = &self->s;
	enum { NR = BACKING_AIO_MAX, LEN = 4096, ROUNDS = 48 };
	struct backing_aio aio;
	int i, pass;

	if (!backing_aio_prepare(_metadata, s, &aio, NR, NR * LEN))
		return;

	/* Even passes write a round's pattern, odd ones read it back. */
	for (pass = 0; pass < 2 * ROUNDS; pass++) {
		bool rd = pass & 1;
		int seed = 8 + pass / 2;

		if (rd)
			memset(aio.buf, 0, NR * LEN);
		else
			loop_pattern_fill(aio.buf, NR * LEN, 0, seed);
		/* Scatter the requests: every other 4 KiB block. */
		for (i = 0; i < NR; i++)
			backing_aio_set(&aio, i, rd, i * LEN, LEN,
					(off_t)i * 2 * LEN);
		backing_aio_all(_metadata, &aio, pass);
		if (!rd)
			continue;
		/* The blocks are back in the buffer in request order. */
		for (i = 0; i < NR; i++) {
			ASSERT_EQ(-1, loop_pattern_check(aio.buf + i * LEN, LEN,
							 (uint64_t)i * LEN,
							 seed))
				TH_LOG("pass %d: block %d read back wrong",
				       pass, i);
		}
	}
	backing_aio_end(&aio);
}

/*
 * Large reads in flight side by side all come back with their own data.
 * They are submitted under one plug, so that all but the first find the
 * device's list worker busy, and the worker that copies a file's data
 * hands each of them a worker of its own (see lo_list_add()).  A gap
 * between each two keeps the plug from merging them into one request, and
 * they are issued in reverse order of their offsets.
 */
TEST_F(backing, large_reads_in_flight)
{
	struct backing_state *s = &self->s;
	enum { NR = 4, STRIDE = LOOP_BACKING_SIZE / NR, LEN = STRIDE / 2,
	       ROUNDS = 16 };
	struct backing_aio aio;
	int i, round;

	if (!backing_aio_prepare(_metadata, s, &aio, NR, LOOP_BACKING_SIZE))
		return;

	for (round = 0; round < ROUNDS; round++) {
		int seed = 60 + round;

		loop_pattern_fill(aio.buf, LOOP_BACKING_SIZE, 0, seed);
		ASSERT_EQ(0, full_pwrite(s->dfd, aio.buf, LOOP_BACKING_SIZE,
					 0));
		memset(aio.buf, 0, LOOP_BACKING_SIZE);
		for (i = 0; i < NR; i++) {
			off_t pos = (off_t)(NR - 1 - i) * STRIDE;

			backing_aio_set(&aio, i, true, pos, LEN, pos);
		}
		backing_aio_all(_metadata, &aio, round);
		for (i = 0; i < NR; i++) {
			ASSERT_EQ(-1, loop_pattern_check(aio.buf + i * STRIDE,
							 LEN,
							 (uint64_t)i * STRIDE,
							 seed))
				TH_LOG("round %d: the read at %d came back wrong",
				       round, i * STRIDE);
		}
	}
	backing_aio_end(&aio);
}

/*
 * Set the device up as the variant says for a test that runs a task on
 * each CPU.  Returns the number of CPUs to use (at most 64), or 0 if the
 * test was skipped: there is nothing to run side by side on one CPU.
 */
static int backing_cpus_prepare(struct __test_metadata *_metadata,
				struct backing_state *s)
{
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (!backing_ready(_metadata, s))
		return 0;
	if (ncpu < 2)
		SKIP(return 0, "one CPU: nothing runs side by side");
	return ncpu > 64 ? 64 : ncpu;
}

/* A task pinned to @cpu: so many rounds of its region, written and read. */
static int backing_cpu_rounds(struct backing_state *s, int cpu, int ncpu,
			      int rounds)
{
	size_t region = (LOOP_BACKING_SIZE / ncpu) & ~(size_t)4095;
	off_t base = (off_t)cpu * region;
	unsigned char *buf;
	cpu_set_t set;
	int fd, r, ret = 0;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return 2;
	fd = loop_open(s->lo.nr, O_RDWR | O_DIRECT);
	buf = aligned_buf(region);
	if (fd < 0 || !buf)
		return 2;
	for (r = 0; r < rounds && !ret; r++) {
		int seed = 40 + cpu * rounds + r;
		size_t off;

		loop_pattern_fill(buf, region, base, seed);
		/* 16 KiB requests, so that many go through the worker. */
		for (off = 0; off < region && !ret; off += 16384)
			ret = full_pwrite(fd, buf + off, 16384, base + off);
		memset(buf, 0, region);
		for (off = 0; off < region && !ret; off += 16384)
			ret = full_pread(fd, buf + off, 16384, base + off);
		if (!ret && loop_pattern_check(buf, region, base, seed) != -1)
			ret = 1;
	}
	close(fd);
	free(buf);
	return ret ? 1 : 0;
}

/*
 * One task per online CPU, each pinned to its CPU and writing and reading
 * its own part of the device, all at once: requests from every CPU are in
 * flight together and each task gets its own data back.
 */
TEST_F(backing, every_cpu_busy)
{
	struct backing_state *s = &self->s;
	pid_t pid[64];
	int i, ncpu, status;

	ncpu = backing_cpus_prepare(_metadata, s);
	if (!ncpu)
		return;

	for (i = 0; i < ncpu; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (!pid[i])
			_exit(backing_cpu_rounds(s, i, ncpu, 24));
	}
	for (i = 0; i < ncpu; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("task on CPU %d: status %#x (1: wrong data or I/O error, 2: setup)",
			       i, status);
	}
}

/*
 * Where the bytes at @pos of the backing file are stored: the file itself
 * on tmpfs; for a lower loop device, the tmpfs image under it (read
 * through the lower device's page cache, a block written with direct I/O
 * meanwhile may still show there as it was); on ext4, the block of the
 * image under that file system that FIEMAP names.  An extent not written
 * to it yet (delayed, unwritten) gives -EAGAIN.
 */
static int backing_stored(struct backing_state *s, off_t pos, int *fd,
			  off_t *where)
{
	struct {
		struct fiemap map;
		struct fiemap_extent ext;
	} fm = { 0 };
	const struct fiemap_extent *e = &fm.map.fm_extents[0];

	if (!s->ext4) {
		*fd = s->on_loop ? s->imgfd : s->lo.backfd;
		*where = pos;
		return 0;
	}
	fm.map.fm_start = pos;
	fm.map.fm_length = 1;
	fm.map.fm_extent_count = 1;
	/* No FIEMAP_FLAG_SYNC: that would write back what we test for. */
	if (ioctl(s->lo.backfd, FS_IOC_FIEMAP, &fm.map))
		return -errno;
	if (fm.map.fm_mapped_extents != 1 || e->fe_logical > (uint64_t)pos)
		return -ENODATA;
	if (e->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
			   FIEMAP_EXTENT_UNWRITTEN))
		return -EAGAIN;
	*fd = s->imgfd;
	*where = e->fe_physical + (pos - e->fe_logical);
	return 0;
}

/*
 * Whether the backing store holds at @pos the block that the flush test's
 * writer put there: 0 if so, 1 for other data, -errno if not stored.
 */
static int backing_stored_block(struct backing_state *s, off_t pos,
				unsigned char *blk, size_t len, int seed)
{
	off_t where = 0;
	int fd = -1, ret;

	ret = backing_stored(s, pos, &fd, &where);
	if (!ret)
		ret = full_pread(fd, blk, len, where);
	if (!ret && loop_pattern_check(blk, len, pos, seed) != -1)
		ret = 1;
	return ret;
}

/*
 * A flush issued on one CPU covers the writes that completed before it on
 * every other CPU: after fsync() of the device returns, each block that a
 * writer on another CPU had finished is in the backing store (for ext4,
 * in the image below it, read directly), while those writers go on.
 */
TEST_F(backing, flush_covers_other_cpus)
{
	struct backing_state *s = &self->s;
	enum { BS = 4096, ROUNDS = 8 };
	size_t region;
	unsigned long *done;
	unsigned char *blk;
	pid_t pid[64];
	int i, ncpu, round, status, ret;
	cpu_set_t set;

	ncpu = backing_cpus_prepare(_metadata, s);
	if (!ncpu)
		return;
	region = (LOOP_BACKING_SIZE / (ncpu - 1)) & ~(size_t)(BS - 1);

	/* done[i]: blocks the writer on CPU i + 1 has completed. */
	done = mmap(NULL, ncpu * sizeof(*done), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, done);
	blk = aligned_buf(BS);
	ASSERT_NE(NULL, blk);

	for (i = 0; i < ncpu - 1; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (!pid[i]) {
			off_t base = (off_t)i * region;
			unsigned long k;
			int fd;

			CPU_ZERO(&set);
			CPU_SET(i + 1, &set);
			fd = loop_open(s->lo.nr, O_RDWR | O_DIRECT);
			if (fd < 0 || sched_setaffinity(0, sizeof(set), &set))
				_exit(2);
			for (k = 0; k < region / BS; k++) {
				loop_pattern_fill(blk, BS, base + k * BS, 77);
				if (full_pwrite(fd, blk, BS, base + k * BS))
					_exit(1);
				__atomic_store_n(&done[i], k + 1,
						 __ATOMIC_RELEASE);
			}
			_exit(0);
		}
	}

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
	for (round = 0; round < ROUNDS; round++) {
		unsigned long snap[64];

		loop_msleep(20);
		for (i = 0; i < ncpu - 1; i++)
			snap[i] = __atomic_load_n(&done[i], __ATOMIC_ACQUIRE);
		ASSERT_EQ(0, fsync(s->lo.fd));
		for (i = 0; i < ncpu - 1; i++) {
			unsigned long k;
			off_t pos;

			for (k = 0; k < snap[i]; k++) {
				pos = (off_t)i * region + k * BS;
				ret = backing_stored_block(s, pos, blk, BS, 77);
				ASSERT_EQ(0, ret)
					TH_LOG("round %d: block %lld, done before the flush: %s",
					       round, (long long)pos,
					       ret > 0 ? "other data" :
					       strerror(-ret));
			}
		}
	}
	for (i = 0; i < ncpu - 1; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("writer on CPU %d: status %#x", i + 1, status);
	}
	free(blk);
	munmap(done, ncpu * sizeof(*done));
}

/*
 * The flusher writes the device's page cache back under a plug that lives
 * across many inodes and is flushed early whenever the flusher should
 * yield the CPU.  queue_rq() called from such a flush must not add the
 * backing file's bios to that plug, which the flush is walking: with a
 * direct I/O device over ext4 on another loop device, that left the plug
 * counting a request it no longer held, and the next flush of it oopsed.
 * Busy children keep the flusher yielding; the data must survive.
 */
TEST_F_TIMEOUT(backing, writeback_under_load, 180)
{
	struct backing_state *s = &self->s;
	pid_t ppid = getpid();
	off_t pos, size;
	unsigned char *buf;
	int ret, i, pass;
	size_t len;

	if (!backing_ready(_metadata, s))
		return;
	size = loop_dev_size(s->lo.fd);
	ASSERT_LT(0, size);
	len = size < (4 << 20) ? size : (4 << 20);
	buf = aligned_buf(len);
	ASSERT_NE(NULL, buf);

	/*
	 * Background writeback after 256 KiB of dirty pages.  Setting the
	 * bytes zeroes the ratio, so restore whichever of them was in use.
	 */
	ret = loop_read_file("/proc/sys/vm/dirty_background_bytes", s->dirty_bg,
			     sizeof(s->dirty_bg));
	ASSERT_LE(0, ret);
	s->dirty_knob = "dirty_background_bytes";
	if (atoll(s->dirty_bg) == 0) {
		ret = loop_read_file("/proc/sys/vm/dirty_background_ratio",
				     s->dirty_bg, sizeof(s->dirty_bg));
		ASSERT_LE(0, ret);
		s->dirty_knob = "dirty_background_ratio";
	}
	ASSERT_EQ(0, write_str("/proc/sys/vm", "dirty_background_bytes",
			       "262144"));
	for (i = 0; i < 2; i++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid)
			backing_spin(ppid);
		/* Stored after the fork: self is shared with the child. */
		s->spinner[i] = pid;
	}

	for (pass = 0; pass < 2; pass++) {
		for (pos = 0; pos + (off_t)len <= size; pos += len) {
			loop_pattern_fill(buf, len, pos, 20 + pass);
			ASSERT_EQ(0, full_pwrite(s->lo.fd, buf, len, pos));
		}
		/* sync(2) has the flusher write it all, under its plug. */
		sync();
	}
	backing_stop_spinners(s);

	s->dfd = loop_open(s->lo.nr, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, s->dfd);
	for (pos = 0; pos + (off_t)len <= size; pos += len) {
		memset(buf, 0, len);
		ASSERT_EQ(0, full_pread(s->dfd, buf, len, pos));
		EXPECT_EQ(-1, loop_pattern_check(buf, len, pos, 21))
			TH_LOG("data at %lld is not the last pass's",
			       (long long)pos);
	}
	free(buf);
}

/*
 * Writes the worker does for a cgroup land in that cgroup's page cache: the
 * backing file's pages are charged to it, not to the worker.
 */
TEST_F(backing, charged_to_cgroup)
{
	struct backing_state *s = &self->s;
	size_t len = 8 << 20;
	long long file;
	unsigned char *buf;

	if (!variant->cgroup || variant->lo_flags)
		SKIP(return, "the buffered cgroup variant checks this");
	if (!backing_ready(_metadata, s))
		return;
	s->dfd = loop_open(s->lo.nr, O_RDWR | O_DIRECT);
	ASSERT_LE(0, s->dfd);
	buf = aligned_buf(len);
	ASSERT_NE(NULL, buf);

	/* Not cached before: the file was only fallocated. */
	loop_pattern_fill(buf, len, 0, 9);
	ASSERT_EQ(0, full_pwrite(s->dfd, buf, len, 0));
	/* Unflushed memcg statistics are at most a few hundred KiB off. */
	file = cgroup_stat(s->cg, "memory.stat", "file");
	EXPECT_LE((long long)len / 2, file)
		TH_LOG("%lld bytes of page cache charged to the cgroup", file);
	memset(buf, 0, len);
	ASSERT_EQ(0, full_pread(s->dfd, buf, len, 0));
	EXPECT_EQ(-1, loop_pattern_check(buf, len, 0, 9));
	free(buf);
}

/* --- tmpfs pages out in swap ------------------------------------------- */

#define SWAP_DEV	"/dev/ram0"
#define SWAP_MAGIC	"SWAPSPACE2"

/*
 * A tmpfs backing file whose pages were swapped out.  Reading such a page
 * back starts I/O to the swap device and waits for it; done in queue_rq()
 * under submit_bio(), that I/O would only start once queue_rq() returned,
 * and the request would hang for good.  The swap device is a RAM disk
 * (brd): it completes the write-out at once, so the pages leave the swap
 * cache too and the next access has to read them back.
 */
FIXTURE(swapped) {
	struct loop_fixture lo;
	int dfd;
	bool brd_loaded;
	bool swap_on;
	pid_t owner;
};

FIXTURE_VARIANT(swapped) {
	bool write;
};

FIXTURE_VARIANT_ADD(swapped, read) {
	.write = false,
};

FIXTURE_VARIANT_ADD(swapped, write) {
	.write = true,
};

/*
 * Make SWAP_DEV a swap device and turn it on; 0 or -errno.  *@brd_loaded
 * says whether we loaded brd for it.
 */
static int swapped_swapon(bool *brd_loaded)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long size;
	unsigned char *hdr;
	uint32_t *info;
	int fd, ret = 0;

	if (access("/sys/module/brd", F_OK)) {
		if (system("modprobe brd rd_nr=1 rd_size=8192 >/dev/null 2>&1"))
			return -ENODEV;
		*brd_loaded = true;
	}
	if (loop_wait_path(SWAP_DEV, true, LOOP_NODE_WAIT_MS))
		return -ENODEV;
	fd = open(SWAP_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	hdr = calloc(1, page);
	if (!hdr || ioctl(fd, BLKGETSIZE64, &size)) {
		ret = hdr ? -errno : -ENOMEM;
		goto out;
	}
	/* union swap_header, version 1: words after 1 KiB of boot bits */
	info = (uint32_t *)(hdr + 1024);
	info[0] = 1;				/* version */
	info[1] = size / page - 1;		/* last_page */
	memcpy(hdr + page - 10, SWAP_MAGIC, 10);
	if (pwrite(fd, hdr, page, 0) != page || fsync(fd))
		ret = errno ? -errno : -EIO;
out:
	free(hdr);
	close(fd);
	if (ret)
		return ret;
	return swapon(SWAP_DEV, 0) ? -errno : 0;
}

/*
 * Swap out the pages of the backing file: MADV_PAGEOUT reclaims the pages
 * a process maps, so map them all first.  Returns the index of a page no
 * longer in memory (in neither the page cache nor the swap cache), -EAGAIN
 * if every page is still there, or -errno.
 */
static long swapped_page_out(int fd, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char vec[LOOP_BACKING_SIZE / 512];
	unsigned char *map;
	size_t i;
	long ret;

	map = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	ret = madvise(map, len, MADV_PAGEOUT) ? -errno : 0;
	munmap(map, len);
	if (ret)
		return ret;

	/* A fresh mapping, never touched: mincore() tells what is left. */
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	ret = mincore(map, len, vec) ? -errno : -EAGAIN;
	for (i = 0; ret == -EAGAIN && i < len / page; i++)
		if (!(vec[i] & 1))
			ret = i;
	munmap(map, len);
	return ret;
}

FIXTURE_SETUP(swapped)
{
	self->dfd = -1;
	self->brd_loaded = false;
	self->swap_on = false;
	self->owner = getpid();
	loop_fixture_start(_metadata, &self->lo, 0, 0);
}

/* See backing_close_fd(): swap left on would fail later runs. */
FIXTURE_TEARDOWN_PARENT(swapped)
{
	bool owner = getpid() == self->owner;

	backing_close_fd(&self->dfd, owner);
	backing_fix_close(&self->lo, owner);
	EXPECT_EQ(0, backing_fix_unbind(&self->lo));
	EXPECT_EQ(0, loop_snap_restore(&self->lo.snap));
	/* Brings the file's pages back in, before the file goes. */
	if (self->swap_on)
		EXPECT_EQ(0, swapoff(SWAP_DEV));
	if (self->lo.backing[0])
		unlink(self->lo.backing);
	if (self->brd_loaded)
		EXPECT_EQ(0, system("modprobe -r brd"));
}

/* The request for a swapped-out page completes, with the right data. */
TEST_F(swapped, request_completes)
{
	size_t len = LOOP_BACKING_SIZE, bs = 4096;
	unsigned char *buf;
	off_t pos;
	long pg;
	int ret;

	if (access("/proc/swaps", F_OK))
		SKIP(return, "the kernel has no swap (CONFIG_SWAP)");
	/* An empty range: 0 if the kernel knows the advice. */
	if (madvise(NULL, 0, MADV_PAGEOUT))
		SKIP(return, "no madvise(MADV_PAGEOUT): %s", strerror(errno));
	ret = swapped_swapon(&self->brd_loaded);
	if (ret == -ENODEV)
		SKIP(return, "no RAM disk %s to swap to (brd)", SWAP_DEV);
	ASSERT_EQ(0, ret) TH_LOG("swapon %s: %s", SWAP_DEV, strerror(-ret));
	self->swap_on = true;

	buf = aligned_buf(len);
	ASSERT_NE(NULL, buf);
	self->lo.backfd = loop_backing_create(self->lo.backing,
					      sizeof(self->lo.backing), len, 0);
	ASSERT_LE(0, self->lo.backfd);
	loop_pattern_fill(buf, len, 0, 11);
	ASSERT_EQ(0, full_pwrite(self->lo.backfd, buf, len, 0));

	pg = swapped_page_out(self->lo.backfd, len);
	if (pg == -EAGAIN)
		SKIP(return, "no page of the tmpfs file left memory");
	ASSERT_LE(0, pg) TH_LOG("paging out: %s", strerror(-pg));
	pos = pg * sysconf(_SC_PAGESIZE);

	ASSERT_EQ(0, loop_fixture_device(&self->lo, O_RDWR));
	ASSERT_EQ(0, loop_configure(self->lo.fd, self->lo.backfd, 0, 0, 0, 0,
				    NULL));
	/* O_DIRECT: one request, issued from submit_bio() */
	self->dfd = loop_open(self->lo.nr, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->dfd);

	if (variant->write) {
		loop_pattern_fill(buf, bs, pos, 12);
		ASSERT_EQ(0, full_pwrite(self->dfd, buf, bs, pos));
		memset(buf, 0, bs);
		ASSERT_EQ(0, full_pread(self->lo.backfd, buf, bs, pos));
		EXPECT_EQ(-1, loop_pattern_check(buf, bs, pos, 12))
			TH_LOG("the write to page %ld must be in the file", pg);
	} else {
		memset(buf, 0, bs);
		ASSERT_EQ(0, full_pread(self->dfd, buf, bs, pos));
		EXPECT_EQ(-1, loop_pattern_check(buf, bs, pos, 11))
			TH_LOG("page %ld must read back as written", pg);
	}
	free(buf);
}

TEST_HARNESS_MAIN
