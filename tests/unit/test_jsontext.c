// SPDX-License-Identifier: MIT
/* Unit tests for src/host/jsontext.c: NULs and UTF-8 in the strings of raw JSON. */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "failalloc.h"
#include "host/jsontext.h"

static struct jsontext scan(const char *text, size_t len, bool no_nonchars, size_t step)
{
	struct jsontext s = { .no_nonchars = no_nonchars };
	jsontext_reset(&s);
	/* Fed in pieces of `step` bytes: a sequence cut between reads is still one. */
	for (size_t i = 0; i < len; i += step)
		jsontext_feed(&s, text + i, len - i < step ? len - i : step);
	return s;
}

#define SCAN(lit, nc, step) scan(lit, sizeof(lit) - 1, nc, step)

static void test_nuls(void **state)
{
	(void)state;
	for (size_t step = 1; step <= 4; step++) {
		assert_int_equal(SCAN("{\"execute\":\"quiesce-status\"}", false, step).nuls, 0);
		assert_int_equal(SCAN("{\"execute\":\"a\\u0000b\"}", false, step).nuls, 1);
		assert_int_equal(SCAN("{\"e\\u0000\":\"\\u0000\\u0000\"}", false, step).nuls, 3);
		/* An escaped backslash, then the text u0000: no NUL. */
		assert_int_equal(SCAN("{\"id\":\"\\\\u0000\"}", false, step).nuls, 0);
		/* \u0001 and \u1000 are no NULs; outside a string nothing counts. */
		assert_int_equal(SCAN("[\"\\u0001\\u1000\", \\u0000]", false, step).nuls, 0);
		/* A raw NUL byte inside a string, and single quotes (json-c takes them). */
		assert_int_equal(SCAN("{'a':'x\0y'}", false, step).nuls, 1);
		assert_int_equal(SCAN("{\"a\":\"it's\\u0000\"}", false, step).nuls, 1);
	}
}

static void test_utf8(void **state)
{
	static const struct { const char *s; bool bad; } cases[] = {
		{ "\"plain\"", false },
		{ "\"\xc3\xa9\"", false },                  /* é */
		{ "\"\xe2\x82\xac\"", false },              /* € */
		{ "\"\xf0\x9f\x98\x80\"", false },          /* U+1F600 */
		{ "\"\xf4\x8f\xbf\xbf\"", false },          /* U+10FFFF */
		{ "\"\xef\xbf\xbf\"", false },              /* U+FFFF: a noncharacter, still UTF-8 */
		{ "\"\xc3\"", true },                       /* cut short */
		{ "\"\xc3x\"", true },
		{ "\"\x80\"", true },                       /* a stray continuation byte */
		{ "\"\xc0\x80\"", true },                   /* overlong NUL */
		{ "\"\xc1\xbf\"", true },
		{ "\"\xe0\x80\xaf\"", true },               /* overlong '/' */
		{ "\"\xf0\x80\x80\x80\"", true },
		{ "\"\xed\xa0\x80\"", true },               /* a surrogate */
		{ "\"\xf4\x90\x80\x80\"", true },           /* past U+10FFFF */
		{ "\"\xf5\x80\x80\x80\"", true },
		{ "\"\xff\"", true },
		{ "\xff", false },                          /* outside strings: json-c's to refuse */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t step = 1; step <= 3; step++) {
			struct jsontext s = scan(cases[i].s, strlen(cases[i].s), false, step);
			if (s.bad_utf8 != cases[i].bad)
				fail_msg("case %zu (step %zu): bad_utf8 %d", i, step, s.bad_utf8);
		}
}

static void test_nonchars(void **state)
{
	(void)state;
	assert_true(SCAN("\"\xef\xbf\xbf\"", true, 1).bad_utf8);
	assert_true(SCAN("\"\xef\xbf\xbe\"", true, 1).bad_utf8);
	assert_true(SCAN("\"\xef\xb7\x90\"", true, 1).bad_utf8);     /* U+FDD0 */
	assert_true(SCAN("\"\xf0\x9f\xbf\xbf\"", true, 1).bad_utf8); /* U+1FFFF */
	assert_false(SCAN("\"\xef\xbf\xbd\"", true, 1).bad_utf8);    /* U+FFFD */
}

static void test_reset_keeps_option(void **state)
{
	struct jsontext s = { .no_nonchars = true };
	(void)state;
	jsontext_feed(&s, "\"\\u0000\xc3", 8);
	assert_int_equal(s.nuls, 1);
	jsontext_reset(&s);
	assert_int_equal(s.nuls, 0);
	assert_false(s.bad_utf8);
	assert_true(s.no_nonchars);
	/* After a reset the scanner is outside any string again. */
	jsontext_feed(&s, "\\u0000", 6);
	assert_int_equal(s.nuls, 0);
}

static void test_nuls_in_values(void **state)
{
	struct json_tokener *tok = json_tokener_new();
	const char text[] = "{\"a\":\"x\\u0000y\\u0000\",\"k\\u0000\":[1,\"\\u0000\",{\"b\":\"c\"}],"
			    "\"n\":null}";
	struct json_object *v;
	(void)state;
	v = json_tokener_parse_ex(tok, text, (int)sizeof(text) - 1);
	assert_non_null(v);
	/* 4 in the text, one of them in a key json-c cut: 3 in the values. */
	assert_int_equal(SCAN(text, false, 1).nuls, 4);
	failalloc_forbid(NULL);
	assert_int_equal(jsontext_nuls_in_values(v), 3);
	assert_int_equal(failalloc_none(NULL), 0);
	json_object_put(v);
	json_tokener_free(tok);
}

/* The scanner never allocates: every allocation fails from the first. */
#define NO_ALLOC(t) cmocka_unit_test_setup_teardown(t, failalloc_forbid, failalloc_none)

int main(void)
{
	const struct CMUnitTest tests[] = {
		NO_ALLOC(test_nuls),
		NO_ALLOC(test_utf8),
		NO_ALLOC(test_nonchars),
		NO_ALLOC(test_reset_keeps_option),
		cmocka_unit_test(test_nuls_in_values),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
