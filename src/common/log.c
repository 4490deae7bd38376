// SPDX-License-Identifier: MIT
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

#define HELD_LINES 512
#define LINE_MAX_LEN 400

struct held_line {
	int prio;
	struct timespec when;
	char text[LINE_MAX_LEN];
};

static struct {
	bool foreground;
	bool debug;
	char ident[64];
	int hold;
	unsigned held_n;      /* lines in held[] */
	unsigned dropped;     /* lines lost because held[] was full */
} lg = { .foreground = true, .ident = "quiesced" };

/* Apart from lg, which has initial values: in .data, ~200 KB of file-backed pages that
 * the first read of lg would start mapping in; in .bss, pages only exist once a line
 * is held. */
static struct held_line held[HELD_LINES];

void log_init(const char *ident, bool foreground, bool debug)
{
	str_copy(lg.ident, ident, sizeof(lg.ident));
	lg.foreground = foreground;
	lg.debug = debug;
	if (!foreground)
		openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_ident(const char *ident)
{
	str_copy(lg.ident, ident, sizeof(lg.ident));
	if (!lg.foreground) {
		closelog();
		openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
}

bool log_debug_enabled(void)
{
	return lg.debug;
}

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_DEBUG: return "debug: ";
	case LOG_WARNING: return "warning: ";
	case LOG_ERR: return "error: ";
	default: return "";
	}
}

static void emit(int prio, const struct timespec *when, const char *text)
{
	if (lg.foreground) {
		struct tm tm;
		char stamp[32];
		localtime_r(&when->tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s: %s%s\n", stamp, when->tv_nsec / 1000000L, lg.ident,
			prio_name(prio), text);
		fflush(stderr);
	} else {
		syslog(prio, "%s", text);
	}
}

static void flush_held(void)
{
	unsigned i;
	for (i = 0; i < lg.held_n; i++)
		emit(held[i].prio, &held[i].when, held[i].text);
	lg.held_n = 0;
	if (lg.dropped) {
		struct timespec now;
		char text[96];
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(text, sizeof(text), "%u log lines were dropped while frozen", lg.dropped);
		emit(LOG_WARNING, &now, text);
		lg.dropped = 0;
	}
}

void log_hold(bool hold)
{
	if (hold) {
		lg.hold++;
		return;
	}
	if (lg.hold > 0 && --lg.hold == 0)
		flush_held();
}

bool log_is_held(void)
{
	return lg.hold > 0;
}

static void vlog(int prio, const char *fmt, va_list ap, int errnum)
{
	char text[LINE_MAX_LEN];
	struct timespec now;
	int n;

	if (prio == LOG_DEBUG && !lg.debug)
		return;
	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (errnum && n >= 0 && (size_t)n < sizeof(text))
		snprintf(text + n, sizeof(text) - (size_t)n, ": %s", strerror(errnum));
	clock_gettime(CLOCK_REALTIME, &now);
	if (lg.hold > 0) {
		if (lg.held_n == HELD_LINES) {
			lg.dropped++;
			return;
		}
		held[lg.held_n].prio = prio;
		held[lg.held_n].when = now;
		str_copy(held[lg.held_n].text, text, LINE_MAX_LEN);
		lg.held_n++;
		return;
	}
	emit(prio, &now, text);
}

#define DEFINE_LOG(fn, prio, with_errno)                       \
	void fn(const char *fmt, ...)                          \
	{                                                      \
		int saved = errno;                             \
		va_list ap;                                    \
		va_start(ap, fmt);                             \
		vlog(prio, fmt, ap, with_errno ? saved : 0);   \
		va_end(ap);                                    \
		errno = saved;                                 \
	}

DEFINE_LOG(log_debug, LOG_DEBUG, 0)
DEFINE_LOG(log_info, LOG_INFO, 0)
DEFINE_LOG(log_notice, LOG_NOTICE, 0)
DEFINE_LOG(log_warnx, LOG_WARNING, 0)
DEFINE_LOG(log_warn, LOG_WARNING, 1)
DEFINE_LOG(log_errx, LOG_ERR, 0)

noreturn void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lg.hold = 0;
	vlog(LOG_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

noreturn void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	lg.hold = 0;
	vlog(LOG_ERR, fmt, ap, saved);
	va_end(ap);
	exit(1);
}
