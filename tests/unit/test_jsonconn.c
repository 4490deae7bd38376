// SPDX-License-Identifier: MIT
/* Unit tests for src/host/jsonconn.c, through a real socketpair and the real event
 * loop: values framed whatever the reads cut them into, several in one read, the size
 * limit (whitespace between values not counted, an oversized value closing the
 * connection or, with skip_line, skipping its line), the depth limit, strict UTF-8 and
 * NULs refused, the 0xFF resync, answers written, the peer's close seen.
 *
 * Input goes in pieces: the next piece is written only once the connection's socket
 * has nothing left unread (FIONREAD), so a piece is read on its own whatever the
 * scheduler does. A SIGALRM guard ends the binary if a test hangs. No timing is
 * asserted. */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "unitguard.h"

#include "common/log.h"
#include "common/loop.h"
#include "host/jsonconn.h"

#define MAX_SEEN 16
#define MAX_PIECES 8

struct fixture {
	struct loop *loop;
	struct jsonconn *conn;
	int fd, peer;                     /* conn's end, the test's end */
	const char *piece[MAX_PIECES];    /* input, written one at a time */
	size_t piece_len[MAX_PIECES];
	size_t n_pieces, written;
	size_t values_before[MAX_PIECES]; /* values seen when piece i was written */
	struct loop_timer pump;
	char *seen[MAX_SEEN];             /* values (as JSON text) and errors ("!why") */
	size_t n_seen;
	bool closed;
	bool answer;                      /* answer each value with {"return": value} */
};

static void add_seen(struct fixture *f, const char *pre, const char *s)
{
	size_t n = strlen(pre) + strlen(s) + 1;
	assert_true(f->n_seen < MAX_SEEN);
	f->seen[f->n_seen] = malloc(n);
	assert_non_null(f->seen[f->n_seen]);
	snprintf(f->seen[f->n_seen++], n, "%s%s", pre, s);
}

static void on_value(struct jsonconn *c, struct json_object *v, void *arg)
{
	struct fixture *f = arg;
	add_seen(f, "", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	if (f->answer) {
		struct json_object *ans = json_object_new_object();
		json_object_object_add(ans, "return", json_object_get(v));
		jsonconn_send(c, ans, false);
		json_object_put(ans);
	}
	json_object_put(v);
}

static void on_parse_error(struct jsonconn *c, const char *why, void *arg)
{
	(void)c;
	add_seen(arg, "!", why);
}

static void on_close(struct jsonconn *c, void *arg)
{
	struct fixture *f = arg;
	(void)c;
	f->closed = true;
	f->conn = NULL;
}

static const struct jsonconn_ops ops = { on_value, on_parse_error, on_close };

static const struct jsonconn_limits base_limits = {
	.max_value = 64 * 1024,
	.max_depth = 16,
	.max_output = 64 * 1024,
};

static size_t unread(const struct fixture *f)
{
	int n = 0;
	if (f->closed)
		return 0;
	assert_int_equal(ioctl(f->fd, FIONREAD, &n), 0);
	return (size_t)n;
}

/* Every millisecond: once conn has read all there is, the next piece; after the last
 * one is read, stop. */
static void on_pump(struct loop *loop, void *arg)
{
	struct fixture *f = arg;
	if (unread(f) == 0) {
		if (f->written == f->n_pieces || f->closed) {
			loop_stop(loop, 0);
			return;
		}
		f->values_before[f->written] = f->n_seen;
		assert_int_equal(write(f->peer, f->piece[f->written], f->piece_len[f->written]),
				 (ssize_t)f->piece_len[f->written]);
		f->written++;
	}
	loop_timer_arm(loop, &f->pump, 1, on_pump, f);
}

static void start(struct fixture *f, const struct jsonconn_limits *lim)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	f->loop = loop_new();
	assert_non_null(f->loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[0];
	f->peer = sv[1];
	f->conn = jsonconn_new(f->loop, f->fd, lim, &ops, f);
	assert_non_null(f->conn);
}

static void piece_n(struct fixture *f, const char *s, size_t n)
{
	assert_true(f->n_pieces < MAX_PIECES);
	f->piece[f->n_pieces] = s;
	f->piece_len[f->n_pieces++] = n;
}

static void piece(struct fixture *f, const char *s)
{
	piece_n(f, s, strlen(s));
}

static void run(struct fixture *f)
{
	loop_timer_arm(f->loop, &f->pump, 0, on_pump, f);
	assert_int_equal(loop_run(f->loop), 0);
}

static void finish(struct fixture *f)
{
	loop_timer_disarm(f->loop, &f->pump);
	if (f->conn)
		jsonconn_free(f->conn);
	close(f->peer);
	for (size_t i = 0; i < f->n_seen; i++)
		free(f->seen[i]);
	loop_free(f->loop);
}

static void expect(const struct fixture *f, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n && i < f->n_seen; i++)
		assert_string_equal(f->seen[i], va_arg(ap, const char *));
	va_end(ap);
	assert_int_equal(f->n_seen, n);
}

/* What the peer can read now, up to len - 1 bytes (nothing: ""); 0 at EOF. */
static ssize_t peer_read(struct fixture *f, char *buf, size_t len)
{
	ssize_t n = recv(f->peer, buf, len - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void test_several_in_one_read(void **state)
{
	struct fixture f;
	(void)state;
	start(&f, &base_limits);
	piece(&f, "{\"a\":1}{\"b\":2}\n {\"c\":[3]}\r\n\t\"s\" 7");
	run(&f);
	/* A number at the very end is not over until something follows it. */
	expect(&f, 4, "{\"a\":1}", "{\"b\":2}", "{\"c\":[3]}", "\"s\"");
	assert_false(f.closed);
	finish(&f);
}

static void test_partial_reads(void **state)
{
	struct fixture f;
	(void)state;
	start(&f, &base_limits);
	piece(&f, "{\"exe");
	piece(&f, "cute\":\"guest-p");
	piece(&f, "ing\"}{\"x\"");
	piece(&f, ":true}");
	run(&f);
	expect(&f, 2, "{\"execute\":\"guest-ping\"}", "{\"x\":true}");
	/* Nothing came out of a piece that did not end a value. */
	assert_int_equal(f.values_before[1], 0);
	assert_int_equal(f.values_before[2], 0);
	assert_int_equal(f.values_before[3], 1);
	finish(&f);
}

/* A value longer than one read (the loop reads 4 KiB at a time), under the limit. */
static void test_value_across_reads(void **state)
{
	static char big[20000];
	struct fixture f;
	size_t n;
	(void)state;
	start(&f, &base_limits);
	n = (size_t)snprintf(big, sizeof(big), "{\"k\":\"");
	memset(big + n, 'x', 15000);
	n += 15000;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\"}");
	piece_n(&f, big, n);
	run(&f);
	assert_int_equal(f.n_seen, 1);
	assert_int_equal(strlen(f.seen[0]), n);
	finish(&f);
}

/* Exactly max_value bytes is fine; one more closes the connection (after the error). */
static void test_oversize_closes(void **state)
{
	struct jsonconn_limits lim = base_limits;
	struct fixture f;
	char buf[64];
	(void)state;
	lim.max_value = 16;
	start(&f, &lim);
	piece(&f, "{\"k\":\"0123456789\"}");   /* 18 bytes: too long */
	run(&f);
	expect(&f, 1, "!" JSONCONN_WHY_TOO_LONG);
	assert_true(f.closed);
	assert_int_equal(peer_read(&f, buf, sizeof(buf)), 0);   /* EOF */
	finish(&f);

	start(&f, &lim);
	piece(&f, "   \n\n    {\"k\":\"012345678\"}");   /* 16 bytes after 10 blanks */
	run(&f);
	expect(&f, 1, "{\"k\":\"012345678\"}");
	assert_false(f.closed);
	finish(&f);
}

/* skip_line (QGA): the oversized value's line is dropped, the next line is read. */
static void test_oversize_skips_line(void **state)
{
	struct jsonconn_limits lim = base_limits;
	struct fixture f;
	(void)state;
	lim.max_value = 16;
	lim.skip_line = true;
	start(&f, &lim);
	piece(&f, "{\"k\":\"0123456789abcdef\", ");
	piece(&f, "\"more\": [1,2,3]}\n{\"ok\":1}\n");
	run(&f);
	expect(&f, 2, "!" JSONCONN_WHY_TOO_LONG, "{\"ok\":1}");
	assert_false(f.closed);
	finish(&f);
}

static void test_depth(void **state)
{
	struct jsonconn_limits lim = base_limits;
	struct fixture f;
	char why[128];
	(void)state;
	lim.max_depth = 3;
	start(&f, &lim);
	piece(&f, "[[1]] [[[1]]]");
	run(&f);
	snprintf(why, sizeof(why), "!%s", jsonconn_why_depth());
	assert_true(f.n_seen >= 2);
	assert_string_equal(f.seen[0], "[[1]]");
	assert_string_equal(f.seen[1], why);
	finish(&f);
}

static void test_nul(void **state)
{
	struct jsonconn_limits lim = base_limits;
	struct fixture f;
	(void)state;
	lim.reject_nul = true;
	start(&f, &lim);
	piece(&f, "{\"a\":\"x\\u0000y\"} {\"a\":\"xy\"}");
	run(&f);
	expect(&f, 2, "!" JSONCONN_WHY_NUL, "{\"a\":\"xy\"}");
	finish(&f);

	/* reject_nul_keys: in a member name only (json-c would cut the name there). */
	lim.reject_nul = false;
	lim.reject_nul_keys = true;
	start(&f, &lim);
	piece(&f, "{\"a\\u0000b\":1} {\"a\":\"x\\u0000y\"}");
	run(&f);
	expect(&f, 2, "!" JSONCONN_WHY_NUL_KEY, "{\"a\":\"x\\u0000y\"}");
	finish(&f);
}

static void test_strict_utf8(void **state)
{
	struct jsonconn_limits lim = base_limits;
	struct fixture f;
	(void)state;
	lim.strict_utf8 = true;
	start(&f, &lim);
	/* An overlong '/', a surrogate (U+D800) in UTF-8, then good UTF-8 (é). */
	piece(&f, "\"\xc0\xaf\" \"\xed\xa0\x80\" \"\xc3\xa9\" ");
	run(&f);
	assert_int_equal(f.n_seen, 3);
	assert_true(f.seen[0][0] == '!');
	assert_true(f.seen[1][0] == '!');
	assert_string_equal(f.seen[2], "\"\xc3\xa9\"");
	finish(&f);

	/* Not strict: json-c takes the overlong form. */
	start(&f, &base_limits);
	piece(&f, "\"\xc0\xaf\" ");
	run(&f);
	assert_int_equal(f.n_seen, 1);
	assert_true(f.seen[0][0] != '!');
	finish(&f);
}

/* 0xFF (guest-sync-delimited) drops the partial value; with ff_report it is an error. */
static void test_ff_resync(void **state)
{
	struct jsonconn_limits lim = base_limits;
	struct fixture f;
	(void)state;
	lim.ff_resync = true;
	lim.ff_report = true;
	start(&f, &lim);
	piece(&f, "{\"a\":\xff{\"b\":1}");
	run(&f);
	expect(&f, 2, "!" JSONCONN_WHY_FF, "{\"b\":1}");
	finish(&f);
}

/* A bad token: an error, and the connection goes on. */
static void test_parse_error_goes_on(void **state)
{
	struct jsonconn_limits lim = base_limits;
	struct fixture f;
	(void)state;
	lim.skip_line = true;
	start(&f, &lim);
	piece(&f, "{\"a\": nope, \"b\": 2}\n{\"c\":3}\n");
	run(&f);
	assert_int_equal(f.n_seen, 2);
	assert_true(f.seen[0][0] == '!');
	assert_string_equal(f.seen[1], "{\"c\":3}");
	assert_false(f.closed);
	finish(&f);
}

/* Answers are written whole, one per line; the peer's close is seen. */
static void test_answers_and_close(void **state)
{
	struct fixture f;
	char buf[256];
	(void)state;
	start(&f, &base_limits);
	f.answer = true;
	piece(&f, "{\"a\":1}{\"b\":\"/\"}");
	run(&f);
	assert_true(peer_read(&f, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"return\":{\"a\":1}}\n{\"return\":{\"b\":\"/\"}}\n");
	shutdown(f.peer, SHUT_WR);
	f.n_pieces = f.written = 0;
	loop_timer_arm(f.loop, &f.pump, 1, on_pump, &f);
	/* on_pump stops once the close was seen. */
	assert_int_equal(loop_run(f.loop), 0);
	assert_true(f.closed);
	finish(&f);
}

/* A refusal with each allocation failing in turn: the whole error line, or the fd
 * closed without a word; never an error without its class or desc (it crashed). */
static bool run_refuse(void *arg)
{
	static const char want[] = "{\"error\":{\"class\":\"GenericError\",\"desc\":\"too many"
				   " clients\"}}\n";
	char buf[256];
	int sv[2];
	ssize_t n;
	bool failed;

	(void)arg;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	jsonconn_refuse(sv[0], "too many clients");
	failed = failalloc_stop();
	n = read(sv[1], buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	if (!failed || n > 0)
		assert_string_equal(buf, want);
	close(sv[1]);
	return failed;
}

static void test_refuse_out_of_memory(void **state)
{
	(void)state;
	failalloc_each("jsonconn_refuse", run_refuse, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_several_in_one_read),
		cmocka_unit_test(test_partial_reads),
		cmocka_unit_test(test_value_across_reads),
		cmocka_unit_test(test_oversize_closes),
		cmocka_unit_test(test_oversize_skips_line),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_strict_utf8),
		cmocka_unit_test(test_ff_resync),
		cmocka_unit_test(test_parse_error_goes_on),
		cmocka_unit_test(test_answers_and_close),
		cmocka_unit_test(test_refuse_out_of_memory),
	};
	unit_guard("test_jsonconn", 60);
	log_hold(true);   /* the warnings stay out of the TAP output */
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
