// SPDX-License-Identifier: MIT
/*
 * Unit tests for src/common/appwire.c: layouts byte by byte, every validation
 * rule, and that decoding never accepts what it should refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "failalloc.h"
#include "common/appfslist.h"
#include "common/appwire.h"

/* FreeBSD's <dev/hyperv/hv_snapshot.h>, as hv_vss(4) shows it. */
struct hv_vss_opt_msg {
	uint32_t opt;
	uint32_t status;
	uint64_t msgid;
	uint8_t reserved[48];
};

static void
test_msg_is_hv_vss_opt_msg(void **state)
{
	struct hv_vss_opt_msg h;
	struct appwire_msg m = { APPWIRE_OP_FREEZE, APPWIRE_STATUS_FAIL, 0x0102030405060708ull };
	uint8_t buf[APPWIRE_MSG_SIZE];

	(void)state;
	assert_int_equal(sizeof(h), APPWIRE_MSG_SIZE);
	assert_int_equal(offsetof(struct hv_vss_opt_msg, msgid), 8);
	memset(&h, 0, sizeof(h));
	h.opt = 2;
	h.status = 1;
	h.msgid = 0x0102030405060708ull;
	memset(buf, 0xaa, sizeof(buf));
	appwire_encode_msg(buf, &m);
	assert_memory_equal(buf, &h, sizeof(h));
}

static void
test_op_values_match_freebsd(void **state)
{
	(void)state;
	assert_int_equal(APPWIRE_OP_NONE, 0);
	assert_int_equal(APPWIRE_OP_CHECK, 1);
	assert_int_equal(APPWIRE_OP_FREEZE, 2);
	assert_int_equal(APPWIRE_OP_THAW, 3);
	assert_int_equal(APPWIRE_STATUS_SUCCESS, 0);
	assert_int_equal(APPWIRE_STATUS_FAIL, 1);
}

static void
make_msg(uint8_t *buf, uint32_t opt, uint32_t status, uint64_t msgid)
{
	struct appwire_msg m = { opt, status, msgid };

	appwire_encode_msg(buf, &m);
}

static void
test_request_valid(void **state)
{
	uint8_t buf[APPWIRE_MSG_SIZE];
	struct appwire_msg m;
	uint32_t op;

	(void)state;
	for (op = APPWIRE_OP_CHECK; op <= APPWIRE_OP_THAW; op++) {
		make_msg(buf, op, 0, 42 + op);
		assert_int_equal(appwire_decode_request(buf, sizeof(buf), &m), APPWIRE_OK);
		assert_int_equal(m.opt, op);
		assert_int_equal(m.status, 0);
		assert_int_equal(m.msgid, 42 + op);
	}
	make_msg(buf, APPWIRE_OP_THAW, 0, UINT64_MAX);
	assert_int_equal(appwire_decode_request(buf, sizeof(buf), &m), APPWIRE_OK);
	assert_true(m.msgid == UINT64_MAX);
}

static void
test_request_rules(void **state)
{
	uint8_t buf[APPWIRE_MSG_SIZE + 1];
	struct appwire_msg m;
	size_t i;

	(void)state;
	make_msg(buf, APPWIRE_OP_CHECK, 0, 1);
	buf[APPWIRE_MSG_SIZE] = 0;
	assert_int_equal(appwire_decode_request(buf, 0, &m), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_request(buf, 63, &m), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_request(buf, 65, &m), APPWIRE_E_SIZE);

	make_msg(buf, APPWIRE_OP_NONE, 0, 1);
	assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_OP);
	make_msg(buf, 4, 0, 1);
	assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_OP);
	make_msg(buf, UINT32_MAX, 0, 1);
	assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_OP);

	/* A request carries no result: status must be 0. */
	make_msg(buf, APPWIRE_OP_CHECK, 1, 1);
	assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_STATUS);
	make_msg(buf, APPWIRE_OP_CHECK, 0, 0);
	assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_MSGID);

	for (i = 16; i < APPWIRE_MSG_SIZE; i++) {
		make_msg(buf, APPWIRE_OP_CHECK, 0, 1);
		buf[i] = 0x80;
		assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_RESERVED);
		assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_E_RESERVED);
	}

	/* The documented order: size, op, status, msgid, reserved. */
	make_msg(buf, 9, 9, 0);
	buf[63] = 1;
	assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_OP);
	make_msg(buf, APPWIRE_OP_THAW, 9, 0);
	assert_int_equal(appwire_decode_request(buf, 64, &m), APPWIRE_E_STATUS);
}

static void
test_reply_rules(void **state)
{
	uint8_t buf[APPWIRE_MSG_SIZE];
	struct appwire_msg req = { APPWIRE_OP_FREEZE, 0, 77 }, m;

	(void)state;
	make_msg(buf, APPWIRE_OP_FREEZE, APPWIRE_STATUS_SUCCESS, 77);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_OK);
	assert_int_equal(appwire_reply_matches(&req, &m), APPWIRE_OK);
	make_msg(buf, APPWIRE_OP_FREEZE, APPWIRE_STATUS_FAIL, 77);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_OK);
	assert_int_equal(m.status, APPWIRE_STATUS_FAIL);
	assert_int_equal(appwire_reply_matches(&req, &m), APPWIRE_OK);
	make_msg(buf, APPWIRE_OP_FREEZE, 2, 77);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_E_STATUS);
	make_msg(buf, APPWIRE_OP_FREEZE, UINT32_MAX, 77);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_E_STATUS);
	make_msg(buf, APPWIRE_OP_FREEZE, 0, 0);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_E_MSGID);
	make_msg(buf, APPWIRE_OP_NONE, 0, 77);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_E_OP);

	/* Valid frames that answer something else. */
	make_msg(buf, APPWIRE_OP_THAW, 0, 77);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_OK);
	assert_int_equal(appwire_reply_matches(&req, &m), APPWIRE_E_MISMATCH);
	make_msg(buf, APPWIRE_OP_FREEZE, 0, 78);
	assert_int_equal(appwire_decode_reply(buf, 64, &m), APPWIRE_OK);
	assert_int_equal(appwire_reply_matches(&req, &m), APPWIRE_E_MISMATCH);
}

static void
hello(uint8_t *buf, const char *name, uint32_t flags, uint32_t timeout_ms)
{
	struct appwire_hello h;

	memset(&h, 0, sizeof(h));
	h.version = APPWIRE_VERSION_MIN;	/* the layout is the same in every version */
	h.flags = flags;
	h.timeout_ms = timeout_ms;
	memcpy(h.name, name, strnlen(name, sizeof(h.name) - 1));
	appwire_encode_hello(buf, &h);
}

static void
test_hello_layout(void **state)
{
	uint8_t buf[APPWIRE_HELLO_SIZE], zero[APPWIRE_HELLO_SIZE] = { 0 };
	uint16_t v16;
	uint32_t v32;

	(void)state;
	hello(buf, "pg@main", APPWIRE_F_OPTIONAL, 30000);
	assert_memory_equal(buf, "QAPH", 4);
	memcpy(&v16, buf + 4, 2);
	assert_int_equal(v16, 1);
	memcpy(&v16, buf + 6, 2);
	assert_int_equal(v16, 0);
	memcpy(&v32, buf + 8, 4);
	assert_int_equal(v32, APPWIRE_F_OPTIONAL);
	memcpy(&v32, buf + 12, 4);
	assert_int_equal(v32, 30000);
	assert_memory_equal(buf + 16, "pg@main", 8);
	assert_memory_equal(buf + 24, zero, 56 + 48);
}

static void
test_hello_roundtrip(void **state)
{
	uint8_t buf[APPWIRE_HELLO_SIZE], again[APPWIRE_HELLO_SIZE];
	struct appwire_hello h;

	(void)state;
	hello(buf, "A-z_0.9:@+", 0, 0);
	assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_OK);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.timeout_ms, 0);
	assert_string_equal(h.name, "A-z_0.9:@+");
	appwire_encode_hello(again, &h);
	assert_memory_equal(buf, again, sizeof(buf));

	hello(buf, "x", APPWIRE_F_OPTIONAL, UINT32_MAX);
	assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_OK);
	assert_int_equal(h.flags, APPWIRE_F_OPTIONAL);
	assert_true(h.timeout_ms == UINT32_MAX);
}

static void
test_hello_rules(void **state)
{
	uint8_t buf[APPWIRE_HELLO_SIZE + 8];
	struct appwire_hello h;
	uint16_t v3 = 3;
	size_t i;

	(void)state;
	memset(buf, 0, sizeof(buf));
	hello(buf, "app", 0, 0);
	assert_int_equal(appwire_decode_hello(buf, 0, &h), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_hello(buf, 5, &h), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_hello(buf, 64, &h), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_hello(buf, 127, &h), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_hello(buf, 129, &h), APPWIRE_E_SIZE);

	/* Another version is reported as such, whatever its length, so it can be refused politely. */
	memcpy(buf + 4, &v3, 2);
	assert_int_equal(appwire_decode_hello(buf, 6, &h), APPWIRE_E_VERSION);
	assert_int_equal(h.version, 3);
	assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_E_VERSION);
	assert_int_equal(appwire_refusal_for(APPWIRE_E_VERSION), APPWIRE_REFUSED_VERSION);

	hello(buf, "app", 0, 0);
	buf[0] = 'q';
	assert_int_equal(appwire_decode_hello(buf, APPWIRE_HELLO_SIZE, &h), APPWIRE_E_MAGIC);

	hello(buf, "app", 0x2, 0);
	assert_int_equal(appwire_decode_hello(buf, APPWIRE_HELLO_SIZE, &h), APPWIRE_E_FLAGS);
	hello(buf, "app", 0x80000000u, 0);
	assert_int_equal(appwire_decode_hello(buf, APPWIRE_HELLO_SIZE, &h), APPWIRE_E_FLAGS);

	for (i = 6; i < 8; i++) {
		hello(buf, "app", 0, 0);
		buf[i] = 1;
		assert_int_equal(appwire_decode_hello(buf, APPWIRE_HELLO_SIZE, &h), APPWIRE_E_RESERVED);
	}
	for (i = 80; i < APPWIRE_HELLO_SIZE; i++) {
		hello(buf, "app", 0, 0);
		buf[i] = 1;
		assert_int_equal(appwire_decode_hello(buf, APPWIRE_HELLO_SIZE, &h), APPWIRE_E_RESERVED);
	}
}

static void
test_hello_names(void **state)
{
	static const char *const bad[] = { "", "my app", "a/b", "tab\t", "nl\n", "\x7f", "\xc3\xa9",
	    "semi;colon", "quote\"", "star*", "pct%" };
	uint8_t buf[APPWIRE_HELLO_SIZE];
	char name[APPWIRE_NAME_FIELD + 1];
	struct appwire_hello h;
	size_t i;

	(void)state;
	memset(name, 'n', APPWIRE_NAME_MAX);
	name[APPWIRE_NAME_MAX] = '\0';
	hello(buf, name, 0, 0);
	assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_OK);
	assert_int_equal(strlen(h.name), APPWIRE_NAME_MAX);
	assert_true(appwire_name_valid(name));

	/* 64 bytes: no room for the NUL. */
	memset(buf + 16, 'n', APPWIRE_NAME_FIELD);
	assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_E_NAME);
	assert_int_equal(h.name[0], '\0');
	memset(name, 'n', APPWIRE_NAME_FIELD);
	name[APPWIRE_NAME_FIELD] = '\0';
	assert_false(appwire_name_valid(name));

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(buf, 0, sizeof(buf));
		hello(buf, "x", 0, 0);
		memset(buf + 16, 0, APPWIRE_NAME_FIELD);
		memcpy(buf + 16, bad[i], strlen(bad[i]));
		assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_E_NAME);
		assert_false(appwire_name_valid(bad[i]));
	}
	assert_int_equal(appwire_refusal_for(APPWIRE_E_NAME), APPWIRE_REFUSED_NAME);

	/* NUL padding means all of it: nothing may hide after the name. */
	hello(buf, "db", 0, 0);
	buf[16 + 3] = 'x';
	assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_E_NAME);
	hello(buf, "db", 0, 0);
	buf[16 + 63] = 'x';
	assert_int_equal(appwire_decode_hello(buf, sizeof(buf), &h), APPWIRE_E_NAME);
	assert_false(appwire_name_valid(NULL));
}

static void
welcome(uint8_t *buf, uint16_t result, uint32_t id, uint32_t timeout_ms, uint32_t flags)
{
	struct appwire_welcome w = { APPWIRE_VERSION, result, id, timeout_ms, flags };

	appwire_encode_welcome(buf, &w);
}

static void
test_welcome(void **state)
{
	uint8_t buf[APPWIRE_WELCOME_SIZE + 4], again[APPWIRE_WELCOME_SIZE];
	struct appwire_welcome w;
	uint32_t v32;
	size_t i;

	(void)state;
	welcome(buf, APPWIRE_ACCEPTED, 7, 15000, APPWIRE_F_OPTIONAL);
	assert_memory_equal(buf, "QAPW", 4);
	memcpy(&v32, buf + 8, 4);
	assert_int_equal(v32, 7);
	memcpy(&v32, buf + 12, 4);
	assert_int_equal(v32, 15000);
	memcpy(&v32, buf + 16, 4);
	assert_int_equal(v32, APPWIRE_F_OPTIONAL);
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_OK);
	assert_int_equal(w.result, APPWIRE_ACCEPTED);
	assert_int_equal(w.app_id, 7);
	appwire_encode_welcome(again, &w);
	assert_memory_equal(buf, again, APPWIRE_WELCOME_SIZE);

	assert_int_equal(appwire_decode_welcome(buf, 31, &w), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_welcome(buf, 33, &w), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_welcome(buf, 64, &w), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_welcome(buf, 3, &w), APPWIRE_E_SIZE);

	for (i = APPWIRE_ACCEPTED + 1; i < APPWIRE_RESULT_COUNT; i++) {
		welcome(buf, (uint16_t)i, 0, 0, 0);
		assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_OK);
		assert_int_equal(w.result, i);
		assert_string_not_equal(appwire_result_name(w.result), "accepted");
	}
	/* Unknown refusals decode: newer daemons may add reasons. */
	welcome(buf, 999, 0, 0, 0);
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_OK);
	assert_non_null(appwire_result_name(999));

	welcome(buf, APPWIRE_REFUSED_NAME_TAKEN, 1, 0, 0);
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_FIELD);
	welcome(buf, APPWIRE_REFUSED_NAME_TAKEN, 0, 1, 0);
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_FIELD);
	welcome(buf, APPWIRE_ACCEPTED, 0, 15000, 0);
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_FIELD);
	welcome(buf, APPWIRE_ACCEPTED, 1, 0, 0);
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_FIELD);
	welcome(buf, APPWIRE_ACCEPTED, 1, 1, 4);
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_FLAGS);
	for (i = 20; i < APPWIRE_WELCOME_SIZE; i++) {
		welcome(buf, APPWIRE_ACCEPTED, 1, 1, 0);
		buf[i] = 1;
		assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w),
		    APPWIRE_E_RESERVED);
	}
	welcome(buf, APPWIRE_ACCEPTED, 1, 1, 0);
	buf[4] = 3;
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_VERSION);
	buf[4] = 0;
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_VERSION);
	buf[4] = 1;
	buf[3] = 'H';
	assert_int_equal(appwire_decode_welcome(buf, APPWIRE_WELCOME_SIZE, &w), APPWIRE_E_MAGIC);
}

static void
test_frames_not_confused(void **state)
{
	uint8_t h[APPWIRE_HELLO_SIZE], w[APPWIRE_WELCOME_SIZE], m[APPWIRE_MSG_SIZE];
	struct appwire_hello hh;
	struct appwire_welcome ww;
	struct appwire_msg mm;

	(void)state;
	hello(h, "app", 0, 0);
	welcome(w, APPWIRE_ACCEPTED, 1, 1, 0);
	make_msg(m, APPWIRE_OP_CHECK, 0, 1);
	assert_int_not_equal(appwire_decode_request(h, sizeof(h), &mm), APPWIRE_OK);
	assert_int_not_equal(appwire_decode_request(w, sizeof(w), &mm), APPWIRE_OK);
	assert_int_not_equal(appwire_decode_reply(h, 64, &mm), APPWIRE_OK);
	assert_int_not_equal(appwire_decode_hello(m, sizeof(m), &hh), APPWIRE_OK);
	assert_int_not_equal(appwire_decode_hello(w, sizeof(w), &hh), APPWIRE_OK);
	assert_int_not_equal(appwire_decode_welcome(h, sizeof(h), &ww), APPWIRE_OK);
	assert_int_not_equal(appwire_decode_welcome(m, sizeof(m), &ww), APPWIRE_OK);
}

/* v2: a reply with a detail is the 64-byte reply, then 128 bytes of printable ASCII. */
static void
test_detail_reply(void **state)
{
	uint8_t buf[APPWIRE_DETAIL_SIZE], again[APPWIRE_DETAIL_SIZE];
	struct appwire_msg m = { APPWIRE_OP_FREEZE, APPWIRE_STATUS_SUCCESS, 42 }, got;
	char d[APPWIRE_DETAIL_FIELD], longer[300];

	(void)state;
	appwire_encode_reply_detail(buf, &m, "lsn 0/3000148");
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_OK);
	assert_string_equal(d, "lsn 0/3000148");
	assert_true(got.opt == m.opt && got.msgid == 42 && got.status == 0);
	/* Its first 64 bytes are exactly the plain reply. */
	appwire_encode_msg(again, &m);
	assert_memory_equal(buf, again, APPWIRE_MSG_SIZE);
	assert_int_equal(appwire_decode_reply_detail(buf, APPWIRE_MSG_SIZE, &got, d), APPWIRE_E_SIZE);
	assert_int_equal(appwire_decode_reply(buf, sizeof(buf), &got), APPWIRE_E_SIZE);

	/* Control bytes become '?'; too long is cut at 127 and still decodes. */
	appwire_encode_reply_detail(buf, &m, "a\tb\n");
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_OK);
	assert_string_equal(d, "a?b?");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	appwire_encode_reply_detail(buf, &m, longer);
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_OK);
	assert_int_equal(strlen(d), APPWIRE_DETAIL_MAX);
	assert_int_equal(appwire_detail_len(longer), APPWIRE_DETAIL_MAX);
	assert_int_equal(appwire_detail_len(NULL), 0);

	/* Refused: empty (that is the 64-byte reply), a control byte, garbage after the NUL,
	 * no NUL at all, and whatever the plain reply refuses. */
	appwire_encode_reply_detail(buf, &m, "");
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_E_DETAIL);
	appwire_encode_reply_detail(buf, &m, "ok");
	buf[APPWIRE_MSG_SIZE + 1] = 0x7f;
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_E_DETAIL);
	appwire_encode_reply_detail(buf, &m, "ok");
	buf[APPWIRE_DETAIL_SIZE - 1] = 'x';
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_E_DETAIL);
	memset(buf + APPWIRE_MSG_SIZE, 'x', APPWIRE_DETAIL_FIELD);
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_E_DETAIL);
	assert_string_equal(d, "");
	appwire_encode_reply_detail(buf, &m, "ok");
	buf[20] = 1;
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_E_RESERVED);
	m.msgid = 0;
	appwire_encode_reply_detail(buf, &m, "ok");
	assert_int_equal(appwire_decode_reply_detail(buf, sizeof(buf), &got, d), APPWIRE_E_MSGID);
}

static void
test_query(void **state)
{
	uint8_t buf[APPWIRE_QUERY_SIZE + 1];
	uint16_t kind, v;

	(void)state;
	appwire_encode_query(buf, APPWIRE_QUERY_FILESYSTEMS);
	assert_memory_equal(buf, "QAPQ", 4);
	memcpy(&v, buf + 4, 2);
	assert_int_equal(v, 2);
	assert_int_equal(appwire_decode_query(buf, APPWIRE_QUERY_SIZE, &kind), APPWIRE_OK);
	assert_int_equal(kind, APPWIRE_QUERY_FILESYSTEMS);
	assert_int_equal(appwire_decode_query(buf, APPWIRE_QUERY_SIZE + 1, &kind), APPWIRE_E_SIZE);
	buf[15] = 1;
	assert_int_equal(appwire_decode_query(buf, APPWIRE_QUERY_SIZE, &kind), APPWIRE_E_RESERVED);
	appwire_encode_query(buf, 7);
	assert_int_equal(appwire_decode_query(buf, APPWIRE_QUERY_SIZE, &kind), APPWIRE_E_FIELD);
	appwire_encode_query(buf, 1);
	buf[4] = 1;
	assert_int_equal(appwire_decode_query(buf, APPWIRE_QUERY_SIZE, &kind), APPWIRE_E_VERSION);
	buf[4] = 2;
	buf[0] = 'X';
	assert_int_equal(appwire_decode_query(buf, APPWIRE_QUERY_SIZE, &kind), APPWIRE_E_MAGIC);
}

static void
fs_entry(struct appwire_fs *f, uint32_t maj, uint32_t min, const char *type, const char *src,
    const char *mp)
{
	memset(f, 0, sizeof(*f));
	f->major = maj;
	f->minor = min;
	strcpy(f->fstype, type);
	strcpy(f->source, src);
	strcpy(f->mountpoint, mp);
}

static void
test_fslist(void **state)
{
	static uint8_t buf[APPWIRE_FSLIST_MAX + 64];
	struct appwire_fslist h;
	struct appwire_fs f, g;
	uint32_t count = 0;
	size_t len, off, n;

	(void)state;
	appwire_fslist_begin(buf, sizeof(buf), &len);
	appwire_fslist_end(buf, 0, 0);
	assert_int_equal(len, APPWIRE_FSLIST_HDR);
	assert_int_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_OK);
	assert_int_equal(h.count, 0);

	fs_entry(&f, 7, 3, "ext4", "/dev/loop3", "/srv/pg");
	assert_int_equal(appwire_fslist_add(buf, sizeof(buf), &len, &count, &f), 0);
	fs_entry(&f, 253, 1, "xfs", "", "/");
	assert_int_equal(appwire_fslist_add(buf, sizeof(buf), &len, &count, &f), 0);
	appwire_fslist_end(buf, APPWIRE_FSLIST_F_INCOMPLETE, count);
	assert_int_equal(len, APPWIRE_FSLIST_HDR + 2 * APPWIRE_FSLIST_ENTRY_HDR + 4 + 10 + 7 + 3 + 1);
	assert_int_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_OK);
	assert_true(h.count == 2 && h.flags == APPWIRE_FSLIST_F_INCOMPLETE && h.version == 2);
	off = APPWIRE_FSLIST_HDR;
	assert_int_equal(appwire_fslist_entry(buf, len, &off, &g), APPWIRE_OK);
	assert_true(g.major == 7 && g.minor == 3);
	assert_string_equal(g.mountpoint, "/srv/pg");
	assert_string_equal(g.source, "/dev/loop3");
	assert_int_equal(appwire_fslist_entry(buf, len, &off, &g), APPWIRE_OK);
	assert_string_equal(g.fstype, "xfs");
	assert_string_equal(g.source, "");
	assert_int_equal(off, len);

	/* Every shorter or longer frame, a wrong count, unknown flags, reserved bytes. */
	for (n = 0; n < len; n++)
		assert_int_not_equal(appwire_decode_fslist(buf, n, &h), APPWIRE_OK);
	assert_int_equal(appwire_decode_fslist(buf, len + 1, &h), APPWIRE_E_SIZE);
	appwire_fslist_end(buf, 0, 3);
	assert_int_not_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_OK);
	appwire_fslist_end(buf, 2, 2);
	assert_int_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_E_FLAGS);
	appwire_fslist_end(buf, 0, 2);
	buf[APPWIRE_FSLIST_HDR + 14] = 1;
	assert_int_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_E_RESERVED);
	buf[APPWIRE_FSLIST_HDR + 14] = 0;
	buf[APPWIRE_FSLIST_HDR + 16 + 4 + 10] = 'x';	/* the mountpoint must start with / */
	assert_int_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_E_FIELD);
	buf[APPWIRE_FSLIST_HDR + 16 + 4 + 10] = '/';
	buf[APPWIRE_FSLIST_HDR + 16 + 1] = 0;		/* no NUL inside a string */
	assert_int_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_E_FIELD);
	buf[APPWIRE_FSLIST_HDR + 16 + 1] = 'x';

	/* The adder refuses bad strings and what does not fit, and leaves the frame alone. */
	fs_entry(&f, 1, 1, "ext4", "", "relative");
	assert_int_equal(appwire_fslist_add(buf, sizeof(buf), &len, &count, &f), -1);
	fs_entry(&f, 1, 1, "", "", "/");
	assert_int_equal(appwire_fslist_add(buf, sizeof(buf), &len, &count, &f), -1);
	fs_entry(&f, 1, 1, "ext4", "", "/");
	n = len;
	assert_int_equal(appwire_fslist_add(buf, len + 20, &len, &count, &f), -1);
	assert_int_equal(len, n);
	assert_int_equal(count, 2);
	/* Filling up stops at APPWIRE_FSLIST_MAX, whatever the buffer. */
	memset(f.mountpoint, 'a', APPWIRE_FS_PATH_MAX);
	f.mountpoint[0] = '/';
	while (appwire_fslist_add(buf, sizeof(buf), &len, &count, &f) == 0)
		;
	assert_true(len <= APPWIRE_FSLIST_MAX);
	appwire_fslist_end(buf, 0, count);
	assert_int_equal(appwire_decode_fslist(buf, len, &h), APPWIRE_OK);
}

/* Random frames: whatever decodes must satisfy every rule. */
static void
test_random_frames(void **state)
{
	uint8_t buf[APPWIRE_MAX_FRAME + 8];
	struct appwire_msg m;
	struct appwire_hello h;
	struct appwire_welcome w;
	unsigned int seed = 12345;
	size_t i, j, len;

	(void)state;
	for (i = 0; i < 200000; i++) {
		len = (size_t)rand_r(&seed) % sizeof(buf);
		if (i % 4 == 0)
			len = APPWIRE_MSG_SIZE;
		for (j = 0; j < len; j++)
			/* Mostly zeros so that some frames are valid. */
			buf[j] = rand_r(&seed) % 8 == 0 ? (uint8_t)rand_r(&seed) : 0;
		if (len >= 4 && i % 4 == 1)
			memcpy(buf, "QAPH", 4);
		if (appwire_decode_request(buf, len, &m) == APPWIRE_OK)
			assert_true(len == 64 && m.opt >= 1 && m.opt <= 3 && m.status == 0 && m.msgid);
		if (appwire_decode_reply(buf, len, &m) == APPWIRE_OK)
			assert_true(len == 64 && m.status <= 1 && m.msgid);
		if (appwire_decode_hello(buf, len, &h) == APPWIRE_OK)
			assert_true(len == 128 && appwire_name_valid(h.name));
		if (appwire_decode_welcome(buf, len, &w) == APPWIRE_OK)
			assert_true(len == 32);
	}
}

static void
test_effective_timeout(void **state)
{
	(void)state;
	assert_int_equal(appwire_effective_timeout(0, 15000, 0), 15000);
	assert_int_equal(appwire_effective_timeout(0, 15000, 60000), 15000);
	assert_int_equal(appwire_effective_timeout(5000, 15000, 60000), 5000);
	assert_int_equal(appwire_effective_timeout(900000, 15000, 60000), 60000);
	assert_int_equal(appwire_effective_timeout(900000, 15000, 0), 900000);
	assert_int_equal(appwire_effective_timeout(0, 0, 0), 1);
}

static void
test_names_for_logs(void **state)
{
	(void)state;
	assert_string_equal(appwire_op_name(APPWIRE_OP_CHECK), "CHECK");
	assert_string_equal(appwire_op_name(APPWIRE_OP_FREEZE), "FREEZE");
	assert_string_equal(appwire_op_name(APPWIRE_OP_THAW), "THAW");
	assert_string_equal(appwire_op_name(77), "UNKNOWN");
	assert_string_equal(appwire_strerror(APPWIRE_OK), "ok");
	assert_string_equal(appwire_strerror((enum appwire_err)999), "unknown error");
	assert_non_null(appwire_strerror(APPWIRE_E_MISMATCH));
	assert_string_equal(appwire_result_name(APPWIRE_ACCEPTED), "accepted");
	assert_int_equal(appwire_refusal_for(APPWIRE_OK), APPWIRE_ACCEPTED);
	assert_int_equal(appwire_refusal_for(APPWIRE_E_RESERVED), APPWIRE_REFUSED_HELLO);
	assert_int_equal(appwire_refusal_for(APPWIRE_E_SIZE), APPWIRE_REFUSED_HELLO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_is_hv_vss_opt_msg),
		cmocka_unit_test(test_op_values_match_freebsd),
		cmocka_unit_test(test_request_valid),
		cmocka_unit_test(test_request_rules),
		cmocka_unit_test(test_reply_rules),
		cmocka_unit_test(test_hello_layout),
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_hello_rules),
		cmocka_unit_test(test_hello_names),
		cmocka_unit_test(test_welcome),
		cmocka_unit_test(test_frames_not_confused),
		cmocka_unit_test(test_detail_reply),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_fslist),
		cmocka_unit_test(test_random_frames),
		cmocka_unit_test(test_effective_timeout),
		cmocka_unit_test(test_names_for_logs),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	/* The decoders never allocate: every allocation fails from the first. */
	return cmocka_run_group_tests(tests, failalloc_forbid, failalloc_none);
}
