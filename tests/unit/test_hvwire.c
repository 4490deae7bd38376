// SPDX-License-Identifier: MIT
/* Unit tests for src/host/hvwire.c: the /dev/vmbus/hv_vss messages byte by byte, as
 * the kernel (drivers/hv/hv_snapshot.c) and hv_vss_daemon have them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "failalloc.h"
#include "host/hvwire.h"

static void test_register(void **state)
{
	/* struct hv_vss_msg{ .vss_hdr.operation = VSS_OP_REGISTER1 }: 12 bytes, 129 first. */
	static const uint8_t want[12] = { 129, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t out[HVWIRE_MSG_SIZE];
	(void)state;
	memset(out, 0xAA, sizeof(out));
	hvwire_encode_register(out);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(HVWIRE_MSG_SIZE, 12);
}

static void test_version(void **state)
{
	const uint8_t v129[4] = { 129, 0, 0, 0 };   /* a __u32, little-endian guest */
	const uint8_t v12[12] = { 129 };
	uint32_t v = 7;
	(void)state;
	assert_int_equal(hvwire_decode_version(v129, 4, &v), HVWIRE_OK);
	assert_int_equal(v, 129);
	/* Any other length is a failed handshake (hv_vss_daemon: "invalid version
	 * negotiation"), even a well-formed request. */
	assert_int_equal(hvwire_decode_version(v12, 12, &v), HVWIRE_E_LONG);
	assert_int_equal(v, 0);
	assert_int_equal(hvwire_decode_version(v129, 3, &v), HVWIRE_E_SHORT);
	assert_int_equal(hvwire_decode_version(v129, 0, &v), HVWIRE_E_SHORT);
}

static void test_request_sizes(void **state)
{
	uint8_t buf[64] = { HVWIRE_OP_FREEZE };
	struct hvwire_request r;
	(void)state;
	assert_int_equal(hvwire_decode_request(buf, 12, &r), HVWIRE_OK);
	assert_int_equal(r.op, HVWIRE_OP_FREEZE);
	assert_int_equal(hvwire_decode_request(buf, 11, &r), HVWIRE_E_SHORT);
	assert_int_equal(hvwire_decode_request(buf, 4, &r), HVWIRE_E_SHORT);
	assert_int_equal(hvwire_decode_request(buf, 0, &r), HVWIRE_E_SHORT);
	assert_int_equal(hvwire_decode_request(buf, 13, &r), HVWIRE_E_LONG);
	assert_int_equal(hvwire_decode_request(buf, 64, &r), HVWIRE_E_LONG);
	assert_int_equal(r.op, 0);
}

static void test_reply_bytes(void **state)
{
	/* What the kernel sends: only operation set (kzalloc'd). */
	const uint8_t thaw[12] = { HVWIRE_OP_THAW };
	/* The stock daemon's answers, as hvsim records them (hv_stock_compat.py). */
	static const uint8_t ok[12] = { 0 };
	static const uint8_t fail[12] = { 0x05, 0x40, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct hvwire_request r;
	uint8_t out[HVWIRE_MSG_SIZE];
	(void)state;

	assert_int_equal(hvwire_decode_request(thaw, sizeof(thaw), &r), HVWIRE_OK);
	hvwire_encode_reply(&r, HVWIRE_S_OK, out);
	assert_memory_equal(out, ok, 12);
	hvwire_encode_reply(&r, HVWIRE_E_FAIL, out);
	assert_memory_equal(out, fail, 12);
	/* The error overlays the operation byte: a reply never keeps it (so the kernel's
	 * HOT_BACKUP flag branch does not trigger, as with hv_vss_daemon). */
	assert_int_not_equal(out[0], HVWIRE_OP_THAW);
}

static void test_reply_echoes_rest(void **state)
{
	const uint8_t in[12] = { HVWIRE_OP_HOT_BACKUP, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	const uint8_t want[12] = { 0, 0, 0, 0, 4, 5, 6, 7, 8, 9, 10, 11 };
	struct hvwire_request r;
	uint8_t out[HVWIRE_MSG_SIZE];
	(void)state;
	assert_int_equal(hvwire_decode_request(in, sizeof(in), &r), HVWIRE_OK);
	assert_int_equal(r.op, HVWIRE_OP_HOT_BACKUP);
	hvwire_encode_reply(&r, HVWIRE_S_OK, out);
	assert_memory_equal(out, want, 12);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(hvwire_op_name(HVWIRE_OP_FREEZE), "FREEZE");
	assert_string_equal(hvwire_op_name(HVWIRE_OP_THAW), "THAW");
	assert_string_equal(hvwire_op_name(HVWIRE_OP_HOT_BACKUP), "HOT_BACKUP");
	assert_string_equal(hvwire_op_name(HVWIRE_OP_AUTO_RECOVER), "AUTO_RECOVER");
	assert_string_equal(hvwire_op_name(HVWIRE_OP_REGISTER1), "REGISTER1");
	assert_null(hvwire_op_name(8));
	assert_null(hvwire_op_name(99));
	assert_null(hvwire_op_name(255));
	assert_string_equal(hvwire_strerror(HVWIRE_OK), "ok");
	assert_non_null(hvwire_strerror(HVWIRE_E_SHORT));
	assert_non_null(hvwire_strerror(HVWIRE_E_LONG));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_request_sizes),
		cmocka_unit_test(test_reply_bytes),
		cmocka_unit_test(test_reply_echoes_rest),
		cmocka_unit_test(test_names),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	/* The decoders never allocate: every allocation fails from the first. */
	return cmocka_run_group_tests(tests, failalloc_forbid, failalloc_none);
}
