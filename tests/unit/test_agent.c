// SPDX-License-Identifier: MIT
/*
 * Unit tests for the database agents' pure parts: the reconnect backoff
 * (agents/common/agent.c), the CHECKPOINT's share of the deadline and the refusal
 * of a password on the command line (agents/postgresql/). The agents against real
 * servers: tests/integration/db_postgresql*.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "agent.h"
#include "mdbagent.h"
#include "pgagent.h"

static void
test_backoff(void **state)
{
	struct agent_backoff b = { .max_ms = 1000 };
	unsigned want[] = { 100, 200, 400, 800, 1000, 1000 };
	size_t i;

	(void)state;
	assert_int_equal(agent_backoff_wait_ms(&b), 0);	/* the first try is now */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		agent_backoff_failed(&b);
		assert_int_equal(b.cur_ms, want[i]);
		assert_true(agent_backoff_wait_ms(&b) <= (int)want[i]);
		assert_true(agent_backoff_wait_ms(&b) >= (int)want[i] - 50);
	}
	agent_backoff_reset(&b);
	assert_int_equal(agent_backoff_wait_ms(&b), 0);
	agent_backoff_failed(&b);
	assert_int_equal(b.cur_ms, 100);
}

static void
test_checkpoint_budget(void **state)
{
	(void)state;
	/* A margin of 250 ms for the answer, never more than half of what is left. */
	assert_int_equal(pgagent_checkpoint_budget_ms(15000), 14750);
	assert_int_equal(pgagent_checkpoint_budget_ms(400), 200);
	assert_int_equal(pgagent_checkpoint_budget_ms(3), 2);
	/* statement_timeout 0 would mean "no limit": never below 1. */
	assert_int_equal(pgagent_checkpoint_budget_ms(1), 1);
	assert_int_equal(pgagent_checkpoint_budget_ms(0), 1);
}

static void
test_conninfo(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(pgconn_conninfo_ok(NULL, err, sizeof(err)), 0);
	assert_int_equal(pgconn_conninfo_ok("", err, sizeof(err)), 0);
	assert_int_equal(pgconn_conninfo_ok("host=/run/postgresql dbname=postgres", err, sizeof(err)), 0);
	assert_int_equal(pgconn_conninfo_ok("service=main", err, sizeof(err)), 0);
	assert_int_equal(pgconn_conninfo_ok("host=x password=secret", err, sizeof(err)), -1);
	assert_non_null(strstr(err, ".pgpass"));
	assert_int_equal(pgconn_conninfo_ok("postgresql://u:secret@h/db", err, sizeof(err)), -1);
	assert_int_equal(pgconn_conninfo_ok("postgresql://u@h/db", err, sizeof(err)), 0);
	assert_int_equal(pgconn_conninfo_ok("host='unterminated", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad connection string"));
}

static void
test_mariadb(void **state)
{
	char out[64];

	(void)state;
	/* Whole seconds, 500 ms kept to answer; 0 (no wait) rather than past the deadline. */
	assert_int_equal(mdbagent_lock_wait_s(15000), 14);
	assert_int_equal(mdbagent_lock_wait_s(4000), 3);
	assert_int_equal(mdbagent_lock_wait_s(1400), 0);
	assert_int_equal(mdbagent_lock_wait_s(0), 0);
	/* Directory variables as the server reads them. */
	mdbagent_resolve_dir("/var/lib/mysql/", NULL, out, sizeof(out));
	assert_string_equal(out, "/var/lib/mysql/");
	mdbagent_resolve_dir("/var/lib/mysql/", "", out, sizeof(out));
	assert_string_equal(out, "/var/lib/mysql/");
	mdbagent_resolve_dir("/var/lib/mysql/", "./", out, sizeof(out));
	assert_string_equal(out, "/var/lib/mysql//./");
	mdbagent_resolve_dir("/var/lib/mysql/", "/srv/undo", out, sizeof(out));
	assert_string_equal(out, "/srv/undo");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_checkpoint_budget),
		cmocka_unit_test(test_conninfo),
		cmocka_unit_test(test_mariadb),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
