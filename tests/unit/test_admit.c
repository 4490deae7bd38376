// SPDX-License-Identifier: MIT
/* Unit tests for src/apps/admit.c: the app socket's pending slots, registrations and
 * connection rate, per user. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "apps/admit.h"

static void test_pending_per_uid_and_root(void **state)
{
	struct admit a;
	unsigned ok = 0;
	(void)state;
	admit_init(&a, 1024, 100, 0);
	/* Ten users with ten connections each: 8 each at most, 48 in all. */
	for (uid_t uid = 1000; uid < 1010; uid++)
		for (int i = 0; i < 10; i++) {
			enum slots_verdict v = admit_connect(&a, uid);
			ok += v == SLOTS_OK;
			if (i >= 8)
				assert_int_not_equal(v, SLOTS_OK);
		}
	assert_int_equal(ok, 48);
	assert_int_equal(admit_connect(&a, 2000), SLOTS_FULL);
	/* Root takes the 16 kept for it, and no more. */
	for (int i = 0; i < 16; i++)
		assert_int_equal(admit_connect(&a, 0), SLOTS_OK);
	assert_int_equal(admit_connect(&a, 0), SLOTS_FULL);
	/* One of user 1000's goes: user 1000 (at its share no more) gets one back. */
	admit_pending_done(&a, 0);
	admit_pending_done(&a, 1000);
	assert_int_equal(admit_connect(&a, 1000), SLOTS_OK);
	assert_int_equal(admit_connect(&a, 1000), SLOTS_UID_FULL);
	assert_int_equal(a.pending, 63);
}

static void test_per_uid_table_reuses_slots(void **state)
{
	struct admit a;
	(void)state;
	admit_init(&a, 16, 0, 0);
	/* Many users one after another: a user's entry is freed when its count is 0. */
	for (uid_t uid = 1; uid < 1000; uid++) {
		assert_int_equal(admit_connect(&a, uid), SLOTS_OK);
		admit_pending_done(&a, uid);
	}
	assert_int_equal(a.pending, 0);
	assert_int_equal(a.pending_others, 0);
}

static void test_registrations(void **state)
{
	struct admit a;
	(void)state;
	admit_init(&a, 16, 100, 0);
	for (int i = 0; i < 14; i++) {
		assert_int_equal(admit_may_register(&a, 1000 + (uid_t)i % 3), SLOTS_OK);
		admit_registered(&a, 1000 + (uid_t)i % 3);
	}
	assert_int_equal(admit_may_register(&a, 1000), SLOTS_FULL);
	assert_int_equal(admit_may_register(&a, 0), SLOTS_OK);
	admit_registered(&a, 0);
	admit_registered(&a, 0);
	assert_int_equal(admit_may_register(&a, 0), SLOTS_FULL);
	admit_unregister(&a, 1000);
	assert_int_equal(admit_may_register(&a, 1001), SLOTS_OK);
	/* With one app in all, nothing is kept: max-apps 1 stays usable by anyone. */
	admit_init(&a, 1, 100, 0);
	assert_int_equal(admit_may_register(&a, 1000), SLOTS_OK);
}

static void test_rate_buckets(void **state)
{
	struct admit a;
	(void)state;
	admit_init(&a, 3, 1, 0);
	/* Burst max(max_apps, rate) = 3 for the others... */
	for (int i = 0; i < 3; i++)
		assert_true(admit_token(&a, 1000, 0));
	assert_false(admit_token(&a, 1001, 10));
	/* ...which leaves root's own bucket full. */
	for (int i = 0; i < 3; i++)
		assert_true(admit_token(&a, 0, 10));
	assert_false(admit_token(&a, 0, 10));
	/* One a second after that. */
	assert_true(admit_token(&a, 1000, 1010));
	assert_false(admit_token(&a, 1000, 1020));
	/* Rate 0: no limit. */
	admit_init(&a, 1, 0, 0);
	for (int i = 0; i < 100; i++)
		assert_true(admit_token(&a, 1000, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pending_per_uid_and_root),
		cmocka_unit_test(test_per_uid_table_reuses_slots),
		cmocka_unit_test(test_registrations),
		cmocka_unit_test(test_rate_buckets),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
