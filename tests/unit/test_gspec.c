// SPDX-License-Identifier: MIT
/* Unit tests for src/group/gspec.c: quiesce-group's guests from the command line and
 * from its config file, and the state file's round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "group/gspec.h"

static void test_uri_dom(void **state)
{
	struct gspec s;
	char err[256];

	(void)state;
	gspec_defaults(&s);
	assert_int_equal(gspec_add(&s, "qemu:///system:db", err, sizeof(err)), 0);
	assert_string_equal(s.g[0].uri, "qemu:///system");
	assert_string_equal(s.g[0].dom, "db");
	/* The last ':' splits: a socket path in the URI is fine. */
	assert_int_equal(gspec_add(&s, "qemu+ssh://h2:22/system?socket=/a/b:app", err, sizeof(err)), 0);
	assert_string_equal(s.g[1].uri, "qemu+ssh://h2:22/system?socket=/a/b");
	assert_string_equal(s.g[1].dom, "app");
	assert_int_equal(s.n, 2);
	assert_int_equal(gspec_add(&s, "nodomain", err, sizeof(err)), -1);
	assert_int_equal(gspec_add(&s, "qemu:///system:", err, sizeof(err)), -1);
	assert_int_equal(gspec_add(&s, ":db", err, sizeof(err)), -1);
	assert_int_equal(gspec_add(&s, "qemu:///system:db", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(gspec_add2(&s, "qemu:///system", "a b", err, sizeof(err)), -1);
	assert_int_equal(s.n, 2);
}

static void test_limit(void **state)
{
	struct gspec s;
	char err[256], dom[32];

	(void)state;
	gspec_defaults(&s);
	for (int i = 0; i < GSPEC_MAX_GUESTS; i++) {
		snprintf(dom, sizeof(dom), "d%d", i);
		assert_int_equal(gspec_add2(&s, "test:///default", dom, err, sizeof(err)), 0);
	}
	assert_int_equal(gspec_add2(&s, "test:///default", "one-more", err, sizeof(err)), -1);
}

static void test_file(void **state)
{
	struct gspec s;
	char err[256];

	(void)state;
	gspec_defaults(&s);
	assert_int_equal(gspec_load_string(&s, "; a shop\n[group]\nname = shop\ndeadline = 2.5\n"
					   "hold = 250ms\nguest = qemu:///system:db\n"
					   "guest = qemu+ssh://h/system:app\n", err, sizeof(err)), 0);
	assert_string_equal(s.name, "shop");
	assert_int_equal(s.deadline_ms, 2500);
	assert_int_equal(s.hold_ms, 250);
	assert_int_equal(s.agent_timeout_ms, 10000);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.g[1].uri, "qemu+ssh://h/system");
}

static void test_file_errors(void **state)
{
	static const char *const bad[] = {
		"[group]\nname = ../etc\n", "[group]\ndeadline = -1\n", "[group]\ndeadline = 0\n",
		"[group]\nhold = soon\n", "[other]\nname = x\n", "[group]\ncolour = red\n",
		"[group]\nguest = nodomain\n", "name = x\n", "[group\n",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct gspec s;
		gspec_defaults(&s);
		err[0] = 0;
		assert_int_equal(gspec_load_string(&s, bad[i], err, sizeof(err)), -1);
		assert_non_null(strstr(err, "line "));
	}
}

/* What gspec_print writes loads back into the same group (the state file). */
static void test_round_trip(void **state)
{
	struct gspec a, b;
	char err[256], *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	gspec_defaults(&a);
	assert_int_equal(gspec_load_string(&a, "[group]\nname=x.y\nagent-timeout=3s\n"
					   "guest=test:///default:a\nguest=qemu:///system:b-2\n",
					   err, sizeof(err)), 0);
	f = open_memstream(&text, &len);
	gspec_print(f, &a);
	fclose(f);
	gspec_defaults(&b);
	assert_int_equal(gspec_load_string(&b, text, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	free(text);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(gspec_name_ok("shop-1_a.b"));
	assert_false(gspec_name_ok(""));
	assert_false(gspec_name_ok(".hidden"));
	assert_false(gspec_name_ok("a/b"));
	assert_false(gspec_name_ok("a b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_dom),  cmocka_unit_test(test_limit),
		cmocka_unit_test(test_file),     cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_names),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
