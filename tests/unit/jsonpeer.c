// SPDX-License-Identifier: MIT
/* The client's side of a JSON-lines socket: see jsonpeer.h. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "jsonpeer.h"
#include "unitguard.h"

void peer_say_n(int fd, const char *text, size_t n)
{
	assert_int_equal(send(fd, text, n, MSG_NOSIGNAL), (ssize_t)n);
}

void peer_say(int fd, const char *text)
{
	peer_say_n(fd, text, strlen(text));
}

/* A whole line, or the end of the connection, is there to read. */
static bool line_or_eof(void *arg)
{
	char buf[4096];
	ssize_t n = recv(*(int *)arg, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n > 0 && memchr(buf, '\n', (size_t)n)) || (n < 0 && errno != EAGAIN);
}

int peer_line(struct loop *loop, int fd, char *buf, size_t size, unsigned limit_ms)
{
	size_t n = 0;
	if (!unit_run_until(loop, line_or_eof, &fd, limit_ms))
		return -1;
	while (n < size - 1) {
		ssize_t r = recv(fd, buf + n, 1, MSG_DONTWAIT);
		if (r <= 0) {
			assert_int_equal(n, 0);
			return 0;
		}
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return 1;
}

const char *peer_str(struct json_object *a, const char *k1, const char *k2)
{
	struct json_object *v;
	if (!json_object_object_get_ex(a, k1, &v))
		fail_msg("no %s in %s", k1, json_object_to_json_string(a));
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		fail_msg("no %s.%s in %s", k1, k2, json_object_to_json_string(a));
	return json_object_get_string(v);
}
