// SPDX-License-Identifier: MIT
/* See ioctlseam.h. The path comes from /proc/self/fd: the code under test opened a
 * real directory, so the test can tell its filesystems apart by where they are. */
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "ioctlseam.h"

int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	char link[64], path[PATH_MAX];
	ssize_t n;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req != FIFREEZE && req != FITHAW)
		return __real_ioctl(fd, req, arg);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = '\0';
	return ioctlseam_fake(path, req == FIFREEZE);
}
