// SPDX-License-Identifier: MIT
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>   /* isfinite: a macro, no libm */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_ms(void)
{
	return now_ns() / 1000000u;
}

double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

size_t str_copy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);
	if (size) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int parse_duration_ms(const char *s, uint64_t max_ms, uint64_t *out)
{
	char *end;
	double v, scale = 1000.0;
	uint64_t r;

	/* Plain decimal only: strtod would also take blanks, signs, hex and "inf". */
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -1;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == 'm' || *p == 's'))
			return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		scale = 1.0;
	else if (strcmp(end, "s") != 0 && *end != '\0')
		return -1;
	v *= scale;
	/* A uint64_t stops below 2^64 (where (double)UINT64_MAX lands), and (double)max_ms
	 * itself may have been rounded up: check the rounded integer too. */
	if (v > (double)max_ms || v >= 0x1p64)
		return -1;
	r = round_u64(v);
	if (r > max_ms)
		return -1;
	*out = r;
	return 0;
}

const char *format_duration_ms(uint64_t ms, char *buf, size_t size)
{
	char frac[8] = "";
	if (ms % 1000) {
		snprintf(frac, sizeof(frac), ".%03u", (unsigned)(ms % 1000));
		for (size_t n = strlen(frac); frac[n - 1] == '0'; n--)
			frac[n - 1] = '\0';
	}
	snprintf(buf, size, "%llu%s", (unsigned long long)(ms / 1000), frac);
	return buf;
}

uint64_t round_u64(double v)
{
	/* v - trunc(v) is exact in double, so this is round(3) for 0 <= v < 2^64; and
	 * the daemon need not load libm for one function. */
	uint64_t t = (uint64_t)v;
	return v - (double)t >= 0.5 ? t + 1 : t;
}

int fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

bool unix_socket_answers(const struct sockaddr_un *sa, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool yes;
	if (fd < 0)
		return false;
	/* Non-blocking: a listener whose backlog is full (busy, or hung but there) held a
	 * blocking connect until it accepted, maybe for ever; here that is EAGAIN at once,
	 * and a yes (no listener is ECONNREFUSED). Linux never has a Unix connect under
	 * way (EINPROGRESS); if one were, something is there too. */
	yes = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN ||
	      errno == EINPROGRESS;
	close(fd);
	return yes;
}

bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 0 || dir[0] != '/')
		return false; /* only absolute directories contain anything */
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	if (strncmp(path, dir, n) != 0)
		return false;
	return path[n] == '\0' || path[n] == '/';
}

int path_make_absolute(char **p)
{
	char *cwd, *abs = NULL;

	if (!*p || (*p)[0] == '/')
		return 0;
	cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&abs, "%s/%s", cwd, *p) < 0) {
		abs = NULL;
		errno = ENOMEM;
	}
	free(cwd);
	if (!abs)
		return -1;
	free(*p);
	*p = abs;
	return 0;
}

int file_replace(const char *path, void (*write)(FILE *f, void *arg), void *arg)
{
	char tmp[4096];
	FILE *f;
	int saved;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = fopen(tmp, "we");
	if (!f)
		return -1;
	write(f, arg);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}
