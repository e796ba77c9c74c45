// SPDX-License-Identifier: GPL-2.0
/*
 * loopctl - a tiny client of /dev/loop-control and the loop ioctls, for the
 * shell tests and for trying the driver by hand.
 *
 *   loopctl add N|-1           LOOP_CTL_ADD
 *   loopctl remove N           LOOP_CTL_REMOVE
 *   loopctl get-free           LOOP_CTL_GET_FREE
 *   loopctl attach DEV FILE [ro] [autoclear] [partscan] [dio]
 *                  [offset=N] [sizelimit=N] [bs=N]
 *                              LOOP_CONFIGURE
 *   loopctl detach DEV         LOOP_CLR_FD
 *   loopctl status DEV         LOOP_GET_STATUS64
 *
 * On success the ioctl's result goes to stdout (a device number for the
 * control commands) and the exit status is 0.  On failure the errno name
 * (EEXIST, ENODEV, ...) goes to stdout, a message to stderr, exit status 1.
 * Numbers are read with base 0 and kept at full unsigned long width, so
 * "loopctl add 0x80000000" passes exactly that to the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/loop.h>

#include "loop_lib.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

static const struct {
	int err;
	const char *name;
} errnames[] = {
	{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EIO, "EIO" },
	{ ENXIO, "ENXIO" }, { EBADF, "EBADF" }, { EAGAIN, "EAGAIN" },
	{ ENOMEM, "ENOMEM" }, { EACCES, "EACCES" }, { EFAULT, "EFAULT" },
	{ EBUSY, "EBUSY" }, { EEXIST, "EEXIST" }, { ENODEV, "ENODEV" },
	{ EINVAL, "EINVAL" }, { ENOTTY, "ENOTTY" }, { ENOSPC, "ENOSPC" },
	{ EOVERFLOW, "EOVERFLOW" }, { EOPNOTSUPP, "EOPNOTSUPP" },
};

static int loopctl_usage(void)
{
	fprintf(stderr,
		"usage: loopctl add N|-1 | remove N | get-free\n"
		"       loopctl attach DEV FILE [ro] [autoclear] [partscan] [dio]\n"
		"                      [offset=N] [sizelimit=N] [bs=N]\n"
		"       loopctl detach DEV | status DEV\n");
	return 2;
}

static int fail(const char *what, int err)
{
	const char *name = NULL;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(errnames); i++)
		if (errnames[i].err == err)
			name = errnames[i].name;
	if (!name && err == LOOP_CTL_UNKNOWN_ERRNO)
		name = "ENOSYS";
	if (name)
		printf("%s\n", name);
	else
		printf("E%d\n", err);
	fprintf(stderr, "loopctl: %s: %s\n", what, strerror(err));
	return 1;
}

/* Full-width number: "-1" is ~0UL, "0x80000200000" stays as it is. */
static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	if (*s == '-')
		*out = (unsigned long)strtol(s, &end, 0);
	else
		*out = strtoul(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

static int ctl_command(unsigned int cmd, unsigned long arg, const char *what)
{
	int fd, ret;

	fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("/dev/loop-control", errno);
	ret = ioctl(fd, cmd, arg);
	if (ret < 0)
		return fail(what, errno);
	close(fd);
	printf("%d\n", ret);
	return 0;
}

static int attach(int argc, char **argv)
{
	struct loop_config cfg;
	int dev, file, i;
	unsigned long v;

	memset(&cfg, 0, sizeof(cfg));
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "ro"))
			cfg.info.lo_flags |= LO_FLAGS_READ_ONLY;
		else if (!strcmp(a, "autoclear"))
			cfg.info.lo_flags |= LO_FLAGS_AUTOCLEAR;
		else if (!strcmp(a, "partscan"))
			cfg.info.lo_flags |= LO_FLAGS_PARTSCAN;
		else if (!strcmp(a, "dio"))
			cfg.info.lo_flags |= LO_FLAGS_DIRECT_IO;
		else if (!strncmp(a, "offset=", 7) && !parse_ulong(a + 7, &v))
			cfg.info.lo_offset = v;
		else if (!strncmp(a, "sizelimit=", 10) &&
			 !parse_ulong(a + 10, &v))
			cfg.info.lo_sizelimit = v;
		else if (!strncmp(a, "bs=", 3) && !parse_ulong(a + 3, &v))
			cfg.block_size = v;
		else
			return loopctl_usage();
	}

	file = open(argv[1], ((cfg.info.lo_flags & LO_FLAGS_READ_ONLY) ?
			      O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (file < 0)
		return fail(argv[1], errno);
	dev = open(argv[0], O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return fail(argv[0], errno);
	cfg.fd = file;
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%.*s",
		 LO_NAME_SIZE - 1, argv[1]);
	if (ioctl(dev, LOOP_CONFIGURE, &cfg))
		return fail("LOOP_CONFIGURE", errno);
	close(dev);
	close(file);
	printf("%s\n", argv[0]);
	return 0;
}

static int device(const char *path, const char *what)
{
	struct loop_info64 info;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(path, errno);
	if (!strcmp(what, "detach")) {
		if (ioctl(fd, LOOP_CLR_FD, 0))
			return fail("LOOP_CLR_FD", errno);
		printf("0\n");
	} else {
		memset(&info, 0, sizeof(info));
		if (ioctl(fd, LOOP_GET_STATUS64, &info))
			return fail("LOOP_GET_STATUS64", errno);
		printf("number=%u offset=%llu sizelimit=%llu flags=%#x name=%s\n",
		       info.lo_number, (unsigned long long)info.lo_offset,
		       (unsigned long long)info.lo_sizelimit, info.lo_flags,
		       (char *)info.lo_file_name);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long arg;

	if (argc < 2)
		return loopctl_usage();
	if (!strcmp(argv[1], "add") && argc == 3 && !parse_ulong(argv[2], &arg))
		return ctl_command(LOOP_CTL_ADD, arg, "LOOP_CTL_ADD");
	if (!strcmp(argv[1], "remove") && argc == 3 &&
	    !parse_ulong(argv[2], &arg))
		return ctl_command(LOOP_CTL_REMOVE, arg, "LOOP_CTL_REMOVE");
	if (!strcmp(argv[1], "get-free") && argc == 2)
		return ctl_command(LOOP_CTL_GET_FREE, 0, "LOOP_CTL_GET_FREE");
	if (!strcmp(argv[1], "attach") && argc >= 4)
		return attach(argc - 2, argv + 2);
	if ((!strcmp(argv[1], "detach") || !strcmp(argv[1], "status")) &&
	    argc == 3)
		return device(argv[2], argv[1]);
	return loopctl_usage();
}
