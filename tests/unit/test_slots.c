// SPDX-License-Identifier: MIT
/* Unit tests for src/common/slots.c: who may take which connection slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/slots.h"

static const struct slots_policy control = { .total = 64, .root_reserved = 16, .per_uid = 8 };

static enum slots_verdict admit(const struct slots_policy *p, uid_t uid, unsigned all,
				unsigned others, unsigned mine)
{
	struct slots_used u = { .all = all, .others = others, .this_uid = mine };
	return slots_admit(p, uid, &u);
}

static void test_root_gets_reserved_slots(void **state)
{
	(void)state;
	/* 48 other users' connections fill every slot they may take... */
	assert_int_equal(admit(&control, 1000, 48, 48, 0), SLOTS_FULL);
	/* ...and root still gets the 16 kept for it. */
	for (unsigned i = 48; i < 64; i++)
		assert_int_equal(admit(&control, 0, i, 48, i - 48), SLOTS_OK);
	assert_int_equal(admit(&control, 0, 64, 48, 16), SLOTS_FULL);
}

static void test_root_may_use_every_slot(void **state)
{
	(void)state;
	assert_int_equal(admit(&control, 0, 63, 0, 63), SLOTS_OK);
	assert_int_equal(admit(&control, 0, 64, 0, 64), SLOTS_FULL);
	/* Root's own connections do not count against the others' share. */
	assert_int_equal(admit(&control, 1000, 40, 0, 0), SLOTS_OK);
	assert_int_equal(admit(&control, 1000, 64, 0, 0), SLOTS_FULL);
}

static void test_per_uid_cap(void **state)
{
	(void)state;
	assert_int_equal(admit(&control, 1000, 7, 7, 7), SLOTS_OK);
	assert_int_equal(admit(&control, 1000, 8, 8, 8), SLOTS_UID_FULL);
	assert_int_equal(admit(&control, 1001, 8, 8, 0), SLOTS_OK);
	/* The cap does not apply to root. */
	assert_int_equal(admit(&control, 0, 8, 0, 8), SLOTS_OK);
}

static void test_no_per_uid_cap(void **state)
{
	struct slots_policy p = { .total = 1024, .root_reserved = 64, .per_uid = 0 };
	(void)state;
	assert_int_equal(admit(&p, 1000, 959, 959, 959), SLOTS_OK);
	assert_int_equal(admit(&p, 1000, 960, 960, 960), SLOTS_FULL);
	assert_int_equal(admit(&p, 0, 960, 960, 0), SLOTS_OK);
}

static void test_reserve_larger_than_total(void **state)
{
	struct slots_policy p = { .total = 2, .root_reserved = 5, .per_uid = 0 };
	(void)state;
	assert_int_equal(admit(&p, 1000, 0, 0, 0), SLOTS_FULL);
	assert_int_equal(admit(&p, 0, 1, 0, 1), SLOTS_OK);
	assert_int_equal(admit(&p, 0, 2, 0, 2), SLOTS_FULL);
}

static void test_root_share(void **state)
{
	(void)state;
	assert_int_equal(slots_root_share(0), 0);
	assert_int_equal(slots_root_share(1), 0);
	assert_int_equal(slots_root_share(2), 1);
	assert_int_equal(slots_root_share(16), 2);
	assert_int_equal(slots_root_share(64), 8);
	assert_int_equal(slots_root_share(1024), 64);
	assert_int_equal(slots_root_share(65536), 64);
	assert_string_equal(slots_verdict_name(SLOTS_FULL), "full");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_gets_reserved_slots),
		cmocka_unit_test(test_root_may_use_every_slot),
		cmocka_unit_test(test_per_uid_cap),
		cmocka_unit_test(test_no_per_uid_cap),
		cmocka_unit_test(test_reserve_larger_than_total),
		cmocka_unit_test(test_root_share),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
