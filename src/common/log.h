// SPDX-License-Identifier: MIT
/* Logging for quiesced: stderr in the foreground, syslog otherwise.
 *
 * While any filesystem is frozen, nothing may be written that could land on a
 * frozen filesystem: stderr may be redirected to a file there, and the syslog
 * daemon may block writing its own files. So between log_hold(true) and
 * log_hold(false) lines go to a fixed in-memory buffer (no allocation), and are
 * written out when the hold ends. */
#ifndef QUIESCE_LOG_H
#define QUIESCE_LOG_H

#include <stdbool.h>
#include <stdnoreturn.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(const char *ident, bool foreground, bool debug);
void log_set_ident(const char *ident);
bool log_debug_enabled(void);

/* Nested: each true must be matched by a false; output resumes at zero. */
void log_hold(bool hold);
bool log_is_held(void);

void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_notice(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
/* log_warn appends ": strerror(errno)". */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_errx(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Startup failures only: log and exit(1). */
noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);
noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
