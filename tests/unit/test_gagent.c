// SPDX-License-Identifier: MIT
/* Unit tests for src/group/gagent.c beyond test_gmachine.c's test_agent (which covers a
 * quiesced and a qemu-ga answer, a disabled freeze, two non-answers): the shapes of
 * guest-info that tell quiesced from qemu-ga at their edges (quiesced's eight commands
 * alone, out of order, one short, the list's entries that are not commands), "enabled"
 * left out (enabled), the version absent or too long, the report's text, and out of
 * memory while parsing (failalloc: an error, no crash, nothing leaked, never a lie). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "failalloc.h"
#include "group/gagent.h"
#include "ginfo.h"

static int classify(const char *reply, struct gres *r)
{
	memset(r, 0, sizeof(*r));
	return gagent_classify(reply, r);
}

/* quiesced without a qemu-ga behind it: exactly its eight; with one: the eight, then
 * qemu-ga's list (names twice). */
static void test_quiesced_shapes(void **state)
{
	struct gres r;

	(void)state;
	assert_int_equal(classify("{\"return\":{\"version\":\"0.1.0\",\"supported_commands\":["
				  QUIESCED8 "]}}", &r), 0);
	assert_string_equal(r.agent, "quiesced");
	assert_string_equal(r.msg, "quiesced 0.1.0 answers, 8 commands");
	assert_int_equal(classify("{\"return\":{\"version\":\"8.0\",\"supported_commands\":["
				  QUIESCED8 "," C("guest-ping") "," C("guest-fsfreeze-freeze")
				  "]}}", &r), 0);
	assert_string_equal(r.agent, "quiesced");
	assert_string_equal(r.msg, "quiesced 8.0 answers, 10 commands");
}

/* Not quiesced's order, or one short of its eight: qemu-ga. */
static void test_qemu_ga_shapes(void **state)
{
	struct gres r;

	(void)state;
	assert_int_equal(classify("{\"return\":{\"version\":\"7.2\",\"supported_commands\":["
				  C("guest-sync") "," C("guest-sync-delimited") ","
				  C("guest-ping") "," C("guest-info") "," C("guest-fsfreeze-status") ","
				  C("guest-fsfreeze-freeze") "," C("guest-fsfreeze-freeze-list") ","
				  C("guest-fsfreeze-thaw") "]}}", &r), 0);
	assert_string_equal(r.agent, "qemu-ga");
	assert_int_equal(classify("{\"return\":{\"version\":\"7.2\",\"supported_commands\":["
				  C("guest-sync-delimited") "," C("guest-sync") "," C("guest-ping")
				  "," C("guest-info") "," C("guest-fsfreeze-status") ","
				  C("guest-fsfreeze-freeze") "," C("guest-fsfreeze-freeze-list")
				  "]}}", &r), 0);
	assert_string_equal(r.agent, "qemu-ga");
	assert_string_equal(r.msg, "qemu-ga 7.2 answers, 7 commands");
}

/* Entries that are not commands are skipped, not fatal; "enabled" left out is true;
 * no version is said so; a long one is cut, not overrun. */
static void test_odd_entries(void **state)
{
	struct gres r;

	(void)state;
	assert_int_equal(classify("{\"return\":{\"supported_commands\":[1,\"x\",{},{\"name\":5},"
				  "{\"name\":\"guest-fsfreeze-freeze\"}]}}", &r), 0);
	assert_string_equal(r.agent, "qemu-ga");
	assert_string_equal(r.version, "");
	assert_string_equal(r.msg, "qemu-ga (no version) answers, 5 commands");
	assert_int_equal(classify("{\"return\":{\"version\":7,\"supported_commands\":["
				  "{\"name\":\"guest-fsfreeze-freeze\",\"enabled\":false}]}}", &r), -1);
	assert_string_equal(r.version, "");
	assert_non_null(strstr(r.msg, ": guest-fsfreeze-freeze is not enabled"));
	assert_int_equal(classify("{\"return\":{\"version\":\"0123456789012345678901234567890123456789\","
				  "\"supported_commands\":[" C("guest-fsfreeze-freeze") "]}}", &r), 0);
	assert_int_equal(strlen(r.version), sizeof(r.version) - 1);
	assert_true(strncmp(r.version, "0123456789", 10) == 0);
}

static void test_not_answers(void **state)
{
	const char *bad[] = {
		"", "[]", "{}", "{\"return\":{}}", "{\"return\":[]}",
		"{\"return\":{\"supported_commands\":{}}}",
		"{\"return\":{\"supported_commands\":\"guest-fsfreeze-freeze\"}}",
		"{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"x\"}}",
	};
	struct gres r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(classify(bad[i], &r), -1);
		assert_string_equal(r.msg, "guest-info: not an answer with supported_commands");
		assert_string_equal(r.agent, "");
	}
}

static bool oom_run(void *arg)
{
	struct gres r;
	int rc;
	bool failed;

	memset(&r, 0, sizeof(r));
	rc = gagent_classify(arg, &r);
	failed = failalloc_stop();
	if (rc < 0) {
		assert_true(failed);
		assert_string_equal(r.msg, "guest-info: not an answer with supported_commands");
		return true;
	}
	assert_string_equal(r.agent, "quiesced");
	assert_string_equal(r.msg, "quiesced 0.1.0 answers, 8 commands");
	return failed;
}

static void test_out_of_memory(void **state)
{
	(void)state;
	failalloc_each("gagent_classify", oom_run,
		       "{\"return\":{\"version\":\"0.1.0\",\"supported_commands\":[" QUIESCED8 "]}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiesced_shapes), cmocka_unit_test(test_qemu_ga_shapes),
		cmocka_unit_test(test_odd_entries),     cmocka_unit_test(test_not_answers),
		cmocka_unit_test(test_out_of_memory),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
