// SPDX-License-Identifier: MIT
/* Small helpers shared by the daemon, quiescectl and the tools. */
#ifndef QUIESCE_UTIL_H
#define QUIESCE_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic clock: what every deadline and duration is measured with. */
uint64_t now_ns(void);
uint64_t now_ms(void);
double ns_to_ms(uint64_t ns);

/* Wall clock in ms since the epoch, for status output only. */
uint64_t wall_ms(void);

/* strlcpy: copy at most size-1 bytes, always terminate, return strlen(src). */
size_t str_copy(char *dst, const char *src, size_t size);
bool str_has_prefix(const char *s, const char *prefix);

/* "1.5", "60", "250ms", "2s" -> milliseconds. Rejects negatives, garbage and values
 * above max_ms. Returns 0 on success, -1 on error. */
int parse_duration_ms(const char *s, uint64_t max_ms, uint64_t *out);

/* ms as seconds that parse_duration_ms reads back exactly: "15", "2.5", "0.001" (%g
 * would keep 6 digits: 1234.567 s as 1234.57). Returns buf; size: 32 is enough. */
const char *format_duration_ms(uint64_t ms, char *buf, size_t size);

/* round(3) for 0 <= v < 2^64 (halves away from zero), without libm. */
uint64_t round_u64(double v);

int fd_set_nonblock(int fd);

/* True if path equals dir or lies under it ("/a/b" is under "/a", "/ab" is not). */
bool path_is_under(const char *path, const char *dir);
/* *p (malloc'd; NULL stays NULL) made absolute against the current directory unless it
 * is already: a daemon changes to / once started. 0, or -1 with errno (*p unchanged). */
int path_make_absolute(char **p);

struct sockaddr_un;
/* Something accepts connections on the Unix socket sa (type SOCK_STREAM or
 * SOCK_SEQPACKET): another daemon's live socket, never to be unlinked or taken over.
 * Never blocks: a listener with a full backlog answers yes at once. */
bool unix_socket_answers(const struct sockaddr_un *sa, int type);

/* Replace path atomically: write(f, arg) fills PATH.new, which is then renamed over
 * path (a reader sees the old file or the whole new one). 0, or -1 with errno. */
int file_replace(const char *path, void (*write)(FILE *f, void *arg), void *arg);

#endif
