// SPDX-License-Identifier: MIT
/* Unit tests for src/hooks/hookrecord.c: the run-dir record of the hooks that got
 * freeze: a round trip through a file, odd names, and what is not a record. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "hooks/hookrecord.h"

static char path[64];

static int setup(void **state)
{
	char tmpl[] = "/tmp/test_hookrecord.XXXXXX";
	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(path, sizeof(path), "%s/hooks.list", tmpl);
	return 0;
}

static int teardown(void **state)
{
	char dir[64];
	(void)state;
	unlink(path);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
	return rmdir(dir);
}

static void test_round_trip(void **state)
{
	const char *names[] = { "10-db", "20 lock\nwith\\odd bytes\t\x7f", "30-\xc3\xa9t\xc3\xa9" };
	const char *results[] = { "ok", "no time left", "running" };
	struct hookrecord r;
	(void)state;
	assert_int_equal(hookrecord_save(path, "/etc/quiesce/hooks d", names, results, 3), 0);
	assert_int_equal(hookrecord_load(path, &r), 1);
	assert_string_equal(r.dir, "/etc/quiesce/hooks d");
	assert_int_equal(r.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(r.v[i].name, names[i]);
		assert_string_equal(r.v[i].result, results[i]);
	}
	hookrecord_free(&r);
	{
		char tmp[80];
		snprintf(tmp, sizeof(tmp), "%s.new", path);
		assert_int_equal(access(tmp, F_OK), -1);   /* renamed into place */
	}
}

static void test_no_record(void **state)
{
	struct hookrecord r;
	(void)state;
	unlink(path);
	assert_int_equal(hookrecord_load(path, &r), 0);
	assert_int_equal(r.n, 0);
}

static void test_empty_set(void **state)
{
	struct hookrecord r;
	(void)state;
	assert_int_equal(hookrecord_save(path, "/d", NULL, NULL, 0), 0);
	assert_int_equal(hookrecord_load(path, &r), 1);
	assert_int_equal(r.n, 0);
	assert_string_equal(r.dir, "/d");
	hookrecord_free(&r);
}

static void bad(const char *text)
{
	struct hookrecord r;
	if (hookrecord_parse(text, strlen(text), &r) == 0)
		fail_msg("accepted: %s", text);
	assert_null(r.v);
	assert_int_equal(r.n, 0);
}

static void test_malformed(void **state)
{
	(void)state;
	bad("");
	bad("hook ok a\n");                  /* no dir line */
	bad("dir /x\nhook ok a");            /* cut short */
	bad("dir /x\nhook ok\n");            /* no name */
	bad("dir /x\nhook ok a/b\n");        /* a path, not a name */
	bad("dir /x\nhook ok ..\n");
	bad("dir /x\nhook ok a\\000\n");     /* a NUL */
	bad("dir /x\nhook ok a\\08\n");      /* not octal */
	bad("dir /x\nhook ok a\\7\n");       /* cut escape */
	bad("dir /x\nhook ok a b\n");        /* a raw space in the name */
	bad("dir /x\nhook ok a\tb\n");
	bad("dir /x\nfreeze ok a\n");
	bad("dir \n");
}

static void test_too_many(void **state)
{
	size_t cap = 32 + (HOOKRECORD_MAX + 1) * 16, len;
	char *buf = malloc(cap);
	struct hookrecord r;
	(void)state;
	assert_non_null(buf);
	len = (size_t)snprintf(buf, cap, "dir /x\n");
	for (int i = 0; i < HOOKRECORD_MAX; i++)
		len += (size_t)snprintf(buf + len, cap - len, "hook ok h%d\n", i);
	assert_int_equal(hookrecord_parse(buf, len, &r), 0);
	assert_int_equal(r.n, HOOKRECORD_MAX);
	hookrecord_free(&r);
	len += (size_t)snprintf(buf + len, cap - len, "hook ok one-more\n");
	assert_int_equal(hookrecord_parse(buf, len, &r), -1);
	free(buf);
}

static void test_long_name(void **state)
{
	char text[NAME_MAX * 4 + 64], name[NAME_MAX + 2];
	struct hookrecord r;
	(void)state;
	memset(name, 'n', sizeof(name) - 1);
	name[NAME_MAX] = '\0';
	snprintf(text, sizeof(text), "dir /x\nhook ok %s\n", name);
	assert_int_equal(hookrecord_parse(text, strlen(text), &r), 0);
	hookrecord_free(&r);
	name[NAME_MAX] = 'n';
	name[NAME_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "dir /x\nhook ok %s\n", name);
	assert_int_equal(hookrecord_parse(text, strlen(text), &r), -1);
}

/* One load: out of memory said as such (ENOMEM, not a malformed record: EINVAL), or
 * the record that was saved. */
static bool oom_load_run(void *arg)
{
	struct hookrecord r;
	int ret = hookrecord_load(path, &r);
	bool failed = failalloc_stop();
	(void)arg;
	if (ret < 0) {
		assert_true(failed);
		assert_int_equal(errno, ENOMEM);
		assert_int_equal(r.n, 0);
		assert_null(r.v);
		return true;
	}
	assert_int_equal(ret, 1);
	assert_string_equal(r.dir, "/etc/quiesce/hooks.d");
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[1].name, "20-lock");
	hookrecord_free(&r);
	return failed;
}

/* The Nth allocation failing, for every N. */
static void test_out_of_memory(void **state)
{
	const char *names[] = { "10-db", "20-lock" };
	const char *results[] = { "ok", "running" };
	(void)state;
	assert_int_equal(hookrecord_save(path, "/etc/quiesce/hooks.d", names, results, 2), 0);
	failalloc_each("hookrecord_load", oom_load_run, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_no_record),
		cmocka_unit_test(test_empty_set),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_long_name),
		cmocka_unit_test(test_out_of_memory),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
