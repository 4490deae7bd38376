// SPDX-License-Identifier: MIT
/* Unit tests for src/common/guardwire.c: quiesced <-> thaw guardian messages. Pure:
 * every test runs with every allocation failing (failalloc.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/guardwire.h"
#include "failalloc.h"

static void test_round_trip(void **state)
{
	struct guardwire_msg m = { GUARD_ARM, 7, 30000, "/run/quiesce/frozen" }, out;
	unsigned char buf[GUARD_MSG_SIZE];
	(void)state;
	guardwire_encode(&m, buf);
	assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.type, GUARD_ARM);
	assert_int_equal(out.id, 7);
	assert_int_equal(out.value, 30000);
	assert_string_equal(out.path, "/run/quiesce/frozen");
}

/* A path of GUARD_PATH_MAX bytes fills the field (no NUL on the wire) and comes back
 * NUL-terminated; a longer one is cut. */
static void test_full_path(void **state)
{
	struct guardwire_msg m = { .type = GUARD_DEADLINE }, out;
	unsigned char buf[GUARD_MSG_SIZE];
	(void)state;
	memset(m.path, 'p', GUARD_PATH_MAX);
	m.path[GUARD_PATH_MAX] = '\0';
	guardwire_encode(&m, buf);
	assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(strlen(out.path), GUARD_PATH_MAX);
}

static void test_refused(void **state)
{
	struct guardwire_msg m = { .type = GUARD_HELLO }, out;
	unsigned char buf[GUARD_MSG_SIZE];
	uint32_t type;
	(void)state;
	guardwire_encode(&m, buf);
	assert_int_equal(guardwire_decode(buf, sizeof(buf) - 1, &out), -1);
	assert_int_equal(guardwire_decode(buf, 0, &out), -1);
	buf[0] ^= 1;                                    /* the magic */
	assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), -1);
	buf[0] ^= 1;
	for (type = 0; type < 9; type += 8) {           /* 0 and past GUARD_EXPIRED */
		memcpy(buf + 4, &type, 4);
		assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_full_path),
		cmocka_unit_test(test_refused),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	/* The codec never allocates: every allocation fails from the first. */
	return cmocka_run_group_tests(tests, failalloc_forbid, failalloc_none);
}
