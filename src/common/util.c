#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	if (v > (double)max_ms)
		return -1;
	/* Round, then check again as an integer: llround() stops at LLONG_MAX, a
	 * uint64_t at 2^64 (where (double)UINT64_MAX lands), and (double)max_ms itself
	 * may have been rounded up. */
	v = round(v);
	if (v >= 0x1p64 || (uint64_t)v > max_ms)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
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
