// SPDX-License-Identifier: MIT
/* Unit tests for src/group/gwindow.c: the all-frozen window and writes-blocked times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "group/gwindow.h"

static void test_overlap(void **state)
{
	/* freeze asked, answered, thaw asked, answered, froze */
	struct gwin_guest g[] = { { 0, 10, 50, 55, 1 }, { 1, 20, 40, 48, 1 } };
	struct gwin w;

	(void)state;
	gwin_compute(g, 2, 100, &w);
	assert_true(w.all_from == 20 && w.all_until == 40 && w.window_ms == 20);
	assert_true(w.blocked_total_ms == 55 + 47);
	assert_true(w.blocked_span_ms == 55 && w.blocked_max_ms == 55);
}

/* One after another (a guest thawed before the next froze): never all at once. */
static void test_disjoint(void **state)
{
	struct gwin_guest g[] = { { 0, 10, 20, 25, 1 }, { 30, 40, 50, 55, 1 } };
	struct gwin w;

	(void)state;
	gwin_compute(g, 2, 100, &w);
	assert_true(w.window_ms == 0);
	assert_true(w.blocked_total_ms == 50 && w.blocked_span_ms == 55);
}

static void test_failed_guest(void **state)
{
	/* The second freeze failed at 30: the group was never all frozen; it blocked 29 ms. */
	struct gwin_guest g[] = { { 0, 10, 35, 40, 1 }, { 1, 30, -1, -1, 0 } };
	struct gwin w;

	(void)state;
	gwin_compute(g, 2, 100, &w);
	assert_true(w.all_from < 0 && w.all_until < 0 && w.window_ms == 0);
	assert_true(w.blocked_total_ms == 40 + 29);
}

/* Still frozen (no thaw yet): counts up to now. Never asked: nothing. */
static void test_open_ends(void **state)
{
	struct gwin_guest g[] = { { 0, 10, -1, -1, 1 }, { 5, 15, -1, -1, 1 } };
	struct gwin_guest none[] = { { -1, -1, -1, -1, 0 } };
	struct gwin w;

	(void)state;
	gwin_compute(g, 2, 100, &w);
	assert_true(w.all_from == 15 && w.all_until == 100 && w.window_ms == 85);
	assert_true(w.blocked_total_ms == 195);
	gwin_compute(none, 1, 100, &w);
	assert_true(w.blocked_total_ms == 0 && w.window_ms == 0 && w.blocked_span_ms == 0);
	gwin_compute(g, 0, 100, &w);
	assert_true(w.all_from < 0 && w.window_ms == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlap), cmocka_unit_test(test_disjoint),
		cmocka_unit_test(test_failed_guest), cmocka_unit_test(test_open_ends),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
