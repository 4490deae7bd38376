// SPDX-License-Identifier: MIT
/* Unit tests for src/host/qgaproto.c: qemu-ga's answer lines as quiesced reads them
 * from its backend (lines, the 0xFF prefix, limits), what an answer is, guest-info's
 * command list, and the requests it forwards. The sample answers are qemu-ga 7.2.22's
 * own bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "failalloc.h"
#include "host/qgaproto.h"

struct got {
	char lines[8][128];
	bool ff[8];
	int n;
	int stop_at;            /* stop after this many lines (0: never) */
	struct qgaproto_lines *drop; /* freed when stopping, as qgaback drops its stream */
};

static int on_line(void *arg, const char *line, size_t len, bool ff)
{
	struct got *g = arg;
	assert_true(g->n < 8 && len < 128);
	memcpy(g->lines[g->n], line, len);
	g->lines[g->n][len] = '\0';
	g->ff[g->n] = ff;
	g->n++;
	if (g->stop_at && g->n == g->stop_at) {
		if (g->drop)
			qgaproto_lines_free(g->drop);
		return 1;
	}
	return 0;
}

static void test_lines_split_and_ff(void **state)
{
	struct qgaproto_lines l;
	struct got g = { .n = 0 };
	const char in[] = "{\"error\": {\"class\": \"GenericError\"}}\n\xff{\"return\": 7}\n{\"ret";
	(void)state;
	qgaproto_lines_init(&l, 100);
	assert_int_equal(qgaproto_lines_feed(&l, in, sizeof(in) - 1, on_line, &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.lines[0], "{\"error\": {\"class\": \"GenericError\"}}");
	assert_false(g.ff[0]);
	assert_string_equal(g.lines[1], "{\"return\": 7}");
	assert_true(g.ff[1]);
	/* The partial line waits for its end, byte by byte too. */
	assert_int_equal(qgaproto_lines_feed(&l, "urn", 3, on_line, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(qgaproto_lines_feed(&l, "\": {}}\n", 7, on_line, &g), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.lines[2], "{\"return\": {}}");
	qgaproto_lines_free(&l);
}

static void test_lines_limit(void **state)
{
	struct qgaproto_lines l;
	struct got g = { .n = 0 };
	char big[64];
	(void)state;
	qgaproto_lines_init(&l, 16);
	memset(big, 'x', sizeof(big));
	/* A line of exactly the limit passes (with a 0xFF before it too). */
	assert_int_equal(qgaproto_lines_feed(&l, big, 16, on_line, &g), 0);
	assert_int_equal(qgaproto_lines_feed(&l, "\n", 1, on_line, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(strlen(g.lines[0]), 16);
	/* One far longer is refused, whether it comes at once or in pieces. */
	assert_int_equal(qgaproto_lines_feed(&l, big, sizeof(big), on_line, &g), -1);
	assert_int_equal(qgaproto_lines_feed(&l, big, 10, on_line, &g), 0);
	assert_int_equal(qgaproto_lines_feed(&l, big, 10, on_line, &g), -1);
	assert_int_equal(g.n, 1);
	qgaproto_lines_free(&l);
}

static void test_lines_stop(void **state)
{
	struct qgaproto_lines l;
	struct got g = { .n = 0, .stop_at = 1, .drop = &l };
	(void)state;
	qgaproto_lines_init(&l, 100);
	/* The callee dropped the stream, freeing the buffer under the feed: nothing
	 * more is handed out, nothing of it touched (ASan would say). */
	assert_int_equal(qgaproto_lines_feed(&l, "a\nb\nc", 5, on_line, &g), 1);
	assert_int_equal(g.n, 1);
	g.stop_at = 0;
	qgaproto_lines_init(&l, 100);
	assert_int_equal(qgaproto_lines_feed(&l, "d\n", 2, on_line, &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.lines[1], "d");
	qgaproto_lines_free(&l);
}

static enum qgaproto_kind kind(const char *s)
{
	return qgaproto_classify(s, strlen(s), NULL);
}

static void test_classify(void **state)
{
	struct json_object *v;
	const char *s = "{\"return\": 1796402603071179000, \"id\": \"x\"}";
	(void)state;
	assert_int_equal(kind(s), QGAPROTO_RETURN);
	assert_int_equal(kind("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"x\"}}"),
			 QGAPROTO_ERROR);
	assert_int_equal(kind("{\"id\": 1}"), QGAPROTO_BAD);
	assert_int_equal(kind("[1]"), QGAPROTO_BAD);
	assert_int_equal(kind("{\"return\": 1"), QGAPROTO_BAD);
	assert_int_equal(kind("{\"return\": 1} x"), QGAPROTO_BAD);
	assert_int_equal(kind("{\"return\": 1} "), QGAPROTO_RETURN);
	assert_int_equal(kind(""), QGAPROTO_BAD);
	assert_int_equal(qgaproto_classify(s, strlen(s), &v), QGAPROTO_RETURN);
	assert_int_equal(json_object_get_int64(json_object_object_get(v, "return")),
			 1796402603071179000LL);
	json_object_put(v);
}

static void test_classify_big(void **state)
{
	/* A guest-file-read of megabytes is not parsed, only its shape is looked at. */
	size_t n = 1 << 20;
	char *s = malloc(n);
	(void)state;
	assert_non_null(s);
	memset(s, 'A', n);
	memcpy(s, "{\"return\": {\"buf-b64\": \"", 24);
	memcpy(s + n - 29, "\", \"count\": 1, \"eof\": false}}", 29);
	assert_int_equal(qgaproto_classify(s, n, NULL), QGAPROTO_RETURN);
	s[0] = '[';
	assert_int_equal(qgaproto_classify(s, n, NULL), QGAPROTO_BAD);
	free(s);
}

static void test_sync_reply(void **state)
{
	(void)state;
	assert_true(qgaproto_is_sync_reply("{\"return\": 42}", 14, 42));
	assert_false(qgaproto_is_sync_reply("{\"return\": 42}", 14, 43));
	assert_false(qgaproto_is_sync_reply("{\"return\": 42, \"id\": 1}", 23, 42));
	assert_false(qgaproto_is_sync_reply("{\"return\": \"42\"}", 16, 42));
	assert_false(qgaproto_is_sync_reply("{\"error\": 42}", 13, 42));
	assert_true(qgaproto_is_sync_reply("{\"return\": -9223372036854775807}", 32,
					   -9223372036854775807LL));
}

static void test_info(void **state)
{
	/* qemu-ga 7.2.22's answer, cut short; the fsfreeze family blocked (-b). */
	const char *s =
		"{\"return\": {\"version\": \"7.2.22\", \"supported_commands\": ["
		"{\"enabled\": true, \"name\": \"guest-get-time\", \"success-response\": true}, "
		"{\"enabled\": false, \"name\": \"guest-fsfreeze-thaw\", \"success-response\": true}, "
		"{\"enabled\": true, \"name\": \"guest-shutdown\", \"success-response\": false}, "
		"{\"enabled\": true, \"name\": \"guest-get-time\", \"success-response\": false}, "
		"{\"enabled\": 1, \"name\": \"bad-enabled\", \"success-response\": true}, "
		"{\"enabled\": true, \"name\": \"\", \"success-response\": true}, "
		"{\"enabled\": true, \"success-response\": true}, 7]}, \"id\": 1}";
	struct json_object *v = json_tokener_parse(s);
	struct qgaproto_info info;
	const struct qgaproto_cmd *c;
	(void)state;
	assert_int_equal(qgaproto_parse_info(v, &info), 0);
	assert_string_equal(info.version, "7.2.22");
	/* Malformed entries and a second guest-get-time are skipped. */
	assert_int_equal(info.n, 3);
	c = qgaproto_info_find(&info, "guest-shutdown");
	assert_non_null(c);
	assert_true(c->enabled);
	assert_false(c->success_response);
	c = qgaproto_info_find(&info, "guest-get-time");
	assert_true(c->success_response);
	assert_false(qgaproto_info_find(&info, "guest-fsfreeze-thaw")->enabled);
	assert_null(qgaproto_info_find(&info, "bad-enabled"));
	qgaproto_info_free(&info);
	json_object_put(v);

	v = json_tokener_parse("{\"return\": {\"version\": \"1\"}}");
	assert_int_equal(qgaproto_parse_info(v, &info), -1);
	json_object_put(v);
	v = json_tokener_parse("{\"error\": {}}");
	assert_int_equal(qgaproto_parse_info(v, &info), -1);
	json_object_put(v);
}

static void test_request(void **state)
{
	struct json_object *args = json_tokener_parse("{\"path\": \"/tmp/x\", \"mode\": \"r\"}");
	struct json_object *id = json_tokener_parse("[1, \"a\"]");
	size_t len;
	char *r;
	(void)state;
	r = qgaproto_request("guest-file-open", args, id, true, &len);
	assert_string_equal(r, "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"/tmp/x\","
			       "\"mode\":\"r\"},\"id\":[1,\"a\"]}\n");
	assert_int_equal(len, strlen(r));
	free(r);
	/* An id of JSON null is sent as such; none is left out. */
	r = qgaproto_request("guest-get-time", NULL, NULL, true, &len);
	assert_string_equal(r, "{\"execute\":\"guest-get-time\",\"id\":null}\n");
	free(r);
	r = qgaproto_request("guest-get-time", NULL, NULL, false, &len);
	assert_string_equal(r, "{\"execute\":\"guest-get-time\"}\n");
	free(r);
	json_object_put(args);
	json_object_put(id);
}

/* ------------------------------------------------------------ out of memory */

static const char oom_stream[] = "{\"return\": 1}\n\xff{\"return\": 2}\n{\"error\": {}}\n";

/* Fed 5 bytes at a time: -1 (the lines before it handed out right), or every line. */
static bool oom_lines_run(void *arg)
{
	struct qgaproto_lines l;
	struct got g = { .n = 0 };
	int r = 0;
	bool failed;
	(void)arg;
	qgaproto_lines_init(&l, 16);
	for (size_t i = 0; r == 0 && i < sizeof(oom_stream) - 1; i += 5)
		r = qgaproto_lines_feed(&l, oom_stream + i,
					i + 5 < sizeof(oom_stream) - 1 ? 5 : sizeof(oom_stream) - 1 - i,
					on_line, &g);
	qgaproto_lines_free(&l);
	failed = failalloc_stop();
	assert_true(r == 0 || (r == -1 && failed));
	assert_int_equal(g.n > 0 ? strcmp(g.lines[0], "{\"return\": 1}") : 0, 0);
	assert_int_equal(g.n > 1 ? strcmp(g.lines[1], "{\"return\": 2}") + !g.ff[1] : 0, 0);
	if (r == 0)
		assert_int_equal(g.n, 3);
	return failed;
}

/* RETURN with its object, or (the parser out of memory) BAD with none. */
static bool oom_classify_run(void *arg)
{
	struct json_object *v;
	enum qgaproto_kind k = qgaproto_classify("{\"return\": {\"a\": [1, 2]}}", 25, &v);
	bool failed = failalloc_stop();
	(void)arg;
	if (k == QGAPROTO_BAD) {
		assert_true(failed);
		assert_null(v);
		return true;
	}
	assert_int_equal(k, QGAPROTO_RETURN);
	assert_int_equal(json_object_array_length(
		json_object_object_get(json_object_object_get(v, "return"), "a")), 2);
	json_object_put(v);
	return failed;
}

/* -1, or every command and the version. */
static bool oom_info_run(void *arg)
{
	struct qgaproto_info info;
	int r = qgaproto_parse_info(arg, &info);
	bool failed = failalloc_stop();
	if (r < 0) {
		assert_true(failed);
		return true;
	}
	assert_non_null(info.version);
	assert_string_equal(info.version, "9.0");
	assert_int_equal(info.n, 3);
	assert_string_equal(info.cmds[0].name, "guest-ping");
	assert_string_equal(info.cmds[1].name, "guest-info");
	assert_string_equal(info.cmds[2].name, "guest-sync");
	qgaproto_info_free(&info);
	return failed;
}

/* NULL, or the whole request. */
static bool oom_request_run(void *arg)
{
	size_t len = 0;
	char *r = qgaproto_request("guest-file-open", arg, NULL, true, &len);
	bool failed = failalloc_stop();
	if (!r) {
		assert_true(failed);
		return true;
	}
	assert_string_equal(r, "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"/x\"},"
			       "\"id\":null}\n");
	assert_int_equal(len, strlen(r));
	free(r);
	return failed;
}

/* The Nth allocation failing, for every N: each call fails cleanly or is right. */
static void test_out_of_memory(void **state)
{
	struct json_object *info = json_tokener_parse(
		"{\"return\": {\"version\": \"9.0\", \"supported_commands\": ["
		"{\"enabled\": true, \"name\": \"guest-ping\", \"success-response\": true}, "
		"{\"enabled\": true, \"name\": \"guest-info\", \"success-response\": true}, "
		"{\"enabled\": false, \"name\": \"guest-sync\", \"success-response\": true}]}}");
	struct json_object *args = json_tokener_parse("{\"path\": \"/x\"}");
	(void)state;
	assert_non_null(info);
	failalloc_each("qgaproto_lines_feed", oom_lines_run, NULL);
	failalloc_each("qgaproto_classify", oom_classify_run, NULL);
	failalloc_each("qgaproto_parse_info", oom_info_run, info);
	failalloc_each("qgaproto_request", oom_request_run, args);
	json_object_put(info);
	json_object_put(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_split_and_ff),
		cmocka_unit_test(test_lines_limit),
		cmocka_unit_test(test_lines_stop),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_classify_big),
		cmocka_unit_test(test_sync_reply),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_out_of_memory),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
