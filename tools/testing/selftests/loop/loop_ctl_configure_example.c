// SPDX-License-Identifier: GPL-2.0
/*
 * Example: get a loop device bound to a file in one call.
 *
 *	loop_ctl_configure_example FILE
 *
 * LOOP_CTL_CONFIGURE finds (or adds) a free device, binds it to FILE as
 * LOOP_CONFIGURE would, and returns an open fd for it.  No other process can
 * take the device in between, so there is no EBUSY retry loop; with
 * LO_FLAGS_AUTOCLEAR the device is unbound when the fd is closed, even if
 * the program dies first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/loop.h>

int main(int argc, char **argv)
{
	struct loop_config cfg = { .info.lo_flags = LO_FLAGS_AUTOCLEAR };
	struct stat st;
	int ctl, file, dev;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	file = open(argv[1], O_RDWR | O_CLOEXEC);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (file < 0 || ctl < 0) {
		perror("open");
		return 1;
	}
	cfg.fd = file;
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", argv[1]);

	dev = ioctl(ctl, LOOP_CTL_CONFIGURE, &cfg);
	if (dev < 0) {
		perror("LOOP_CTL_CONFIGURE");
		return 1;
	}
	/* The backing file and the control fd are no longer needed. */
	close(file);
	close(ctl);

	fstat(dev, &st);
	printf("%s is bound to /dev/loop%u (fd %d)\n", argv[1],
	       minor(st.st_rdev), dev);

	/* ... use dev like any open block device ... */

	close(dev);	/* autoclear: the device is free again */
	return 0;
}
