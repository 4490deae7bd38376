// SPDX-License-Identifier: MIT
/*
 * hvshim.so: LD_PRELOAD shim that lets the unmodified stock hv_vss_daemon talk to hvsim,
 * and fences its freezes. Loaded only inside the sandbox (run-stock.sh + sandbox-exec).
 *
 *   open("/dev/vmbus/hv_vss")  -> connect to the SOCK_SEQPACKET socket in HVSHIM_SOCK
 *                                 ("@name" = abstract; abstract names survive pivot_root)
 *   write() on that fd         -> send(MSG_NOSIGNAL): a device write never raises SIGPIPE,
 *                                 and a daemon killed by SIGPIPE while frozen leaves the
 *                                 filesystems frozen
 *   syslog family              -> stderr (the sandbox has no /dev/log)
 *   ioctl(FIFREEZE/FITHAW)     -> FENCE: -1/EPERM unless fstat(fd).st_dev is listed in
 *                                 HVSHIM_ALLOW_DEV ("maj:min,maj:min"); unset = refuse all
 *
 * HVSHIM_TRACE=1: log every FIFREEZE/FITHAW that passed the fence, with its result.
 * HVSHIM_INJECT_FILE=FILE: before each FIFREEZE the shim reads FILE (if it exists); a line
 * "eio PATH" makes the FIFREEZE of PATH fail with EIO without reaching the kernel, logged as
 * INJECTED. The test arms and disarms it between steps (for the sandboxed daemon through
 * /proc/PID/root/FILE). FILE must not live on a filesystem that can be frozen.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define VSS_DEV "/dev/vmbus/hv_vss"
#define VSS_OP_FREEZE 5

static int vss_fd = -1;

/* glibc's fortified entry points; not declared unless _FORTIFY_SOURCE is on. */
void __syslog_chk(int pri, int flag, const char *fmt, ...);
void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int open64(const char *path, int flags, ...);

static void *real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		static const char m[] = "hvshim: dlsym failed\n";

		if (write(2, m, sizeof(m) - 1) < 0)
			_exit(125);
		_exit(125);
	}
	return f;
}

/* One write(2) per line so lines from the daemon and the shim never interleave. */
static void vlogline(const char *who, const char *fmt, va_list ap)
{
	char buf[1024];
	struct timespec ts;
	int n, m;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(buf, sizeof(buf), "[%lld.%03ld] %s[%d]: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
		     who, (int)getpid());
	if (n < 0 || n >= (int)sizeof(buf))
		return;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n++] = '\n';
	if (write(2, buf, (size_t)n) < 0)
		return;
}

static void shimlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shimlog(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vlogline("hvshim", fmt, ap);
	va_end(ap);
	errno = e;
}

__attribute__((constructor)) static void shim_init(void)
{
	/* Belt and braces for the write() hook below. */
	signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------------ syslog -> stderr */

void openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
}

void closelog(void)
{
}

void vsyslog(int pri, const char *fmt, va_list ap)
{
	int e = errno;

	(void)pri;
	vlogline("hv_vss_daemon", fmt, ap);
	errno = e;
}

void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	vsyslog(pri, fmt, ap);
}

void syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(pri, fmt, ap);
	va_end(ap);
}

void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	vsyslog(pri, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ the device */

static int connect_sim(void)
{
	const char *name = getenv("HVSHIM_SOCK");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	size_t n;
	int fd;

	if (!name || !*name) {
		shimlog("HVSHIM_SOCK not set: no device");
		errno = ENOENT;
		return -1;
	}
	n = strlen(name);
	if (n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@') {
		sa.sun_path[0] = 0;
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;

		close(fd);
		shimlog("connect %s: %s", name, strerror(e));
		errno = e;
		return -1;
	}
	vss_fd = fd;
	shimlog("open(%s) -> socket %s (fd %d)", VSS_DEV, name, fd);
	return fd;
}

static int open_common(const char *fn, const char *path, int flags, mode_t mode)
{
	int (*o)(const char *, int, ...);

	if (path && strcmp(path, VSS_DEV) == 0)
		return connect_sim();
	o = (int (*)(const char *, int, ...))real(fn);
	return o(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_common("open", path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return open_common("open64", path, flags, mode);
}

int __open_2(const char *path, int flags)
{
	return open_common("open", path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return open_common("open64", path, flags, 0);
}

ssize_t write(int fd, const void *buf, size_t count)
{
	ssize_t (*w)(int, const void *, size_t);

	if (fd == vss_fd && vss_fd >= 0)
		return send(fd, buf, count, MSG_NOSIGNAL);
	w = (ssize_t(*)(int, const void *, size_t))real("write");
	return w(fd, buf, count);
}

int close(int fd)
{
	int (*c)(int) = (int (*)(int))real("close");

	if (fd == vss_fd)
		vss_fd = -1;
	return c(fd);
}

/* ------------------------------------------------------------------ the fence */

static int dev_allowed(dev_t dev)
{
	const char *list = getenv("HVSHIM_ALLOW_DEV");
	const char *p = list;

	if (!list)
		return 0;
	while (*p) {
		unsigned ma, mi;
		int used = 0;

		if (sscanf(p, "%u:%u%n", &ma, &mi, &used) != 2)
			return 0;
		if (makedev(ma, mi) == dev)
			return 1;
		p += used;
		if (*p == ',')
			p++;
		else if (*p)
			return 0;
	}
	return 0;
}

static void fd_path(int fd, char *out, size_t n)
{
	char link[64];
	ssize_t k;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	k = readlink(link, out, n - 1);
	if (k < 0)
		snprintf(out, n, "fd %d", fd);
	else
		out[k] = 0;
}

static int inject_eio(const char *path)
{
	const char *file = getenv("HVSHIM_INJECT_FILE");
	int (*o)(const char *, int, ...);
	char buf[1024], *line, *save = NULL;
	ssize_t n;
	int fd;

	if (!file || !*file)
		return 0;
	o = (int (*)(const char *, int, ...))real("open");
	fd = o(file, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0)
		fd = o(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = ((ssize_t(*)(int, void *, size_t))real("read"))(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "eio ", 4) == 0 && strcmp(line + 4, path) == 0)
			return 1;
	return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
	int (*io)(int, unsigned long, ...) = (int (*)(int, unsigned long, ...))real("ioctl");
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (request == FIFREEZE || request == FITHAW) {
		const char *name = request == FIFREEZE ? "FIFREEZE" : "FITHAW";
		char path[512];
		struct stat st = { 0 };

		fd_path(fd, path, sizeof(path));
		if (fstat(fd, &st) < 0 || !dev_allowed(st.st_dev)) {
			shimlog("FENCE: refused %s on %s (dev %u:%u not allowlisted) -> EPERM", name, path,
				major(st.st_dev), minor(st.st_dev));
			errno = EPERM;
			return -1;
		}
		if (request == FIFREEZE && inject_eio(path)) {
			shimlog("INJECTED EIO (simulated failure) on FIFREEZE of %s", path);
			if (getenv("HVSHIM_TRACE"))
				shimlog("TRACE FIFREEZE %s -> EIO (injected)", path);
			errno = EIO;
			return -1;
		}
	}
	if (request == FIFREEZE || request == FITHAW) {
		int rc = io(fd, request, arg);
		int e = errno;

		if (getenv("HVSHIM_TRACE")) {
			char path[512];

			fd_path(fd, path, sizeof(path));
			shimlog("TRACE %s %s -> %s", request == FIFREEZE ? "FIFREEZE" : "FITHAW", path,
				rc == 0 ? "ok" : strerrorname_np(e));
		}
		errno = e;
		return rc;
	}
	return io(fd, request, arg);
}
