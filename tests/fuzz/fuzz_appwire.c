// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the app socket's wire format (src/common/appwire.c).
 *
 * Feeds the input to every decoder (version 2's detail reply, query and filesystem
 * list included). Beyond "no crash, no UB", it checks that a
 * frame that decodes is canonical: encoding what was decoded gives back the
 * same bytes, so two peers can never read one frame two ways.
 *
 * Built two ways (mk/fuzz.mk): with clang -fsanitize=fuzzer for fuzzing, and with
 * tests/fuzz/replay.c as a TAP program that replays tests/fuzz/corpus/appwire/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/appfslist.h"
#include "common/appwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t fsbuf[APPWIRE_FSLIST_MAX];

static void
check(int cond)
{
	if (!cond)
		abort();
}

/* A filesystem list that decodes encodes back to the same bytes, entry by entry. */
static void
check_fslist(const uint8_t *data, size_t size)
{
	struct appwire_fslist h;
	struct appwire_fs fs;
	size_t off = APPWIRE_FSLIST_HDR, len;
	uint32_t i, count = 0;

	if (appwire_decode_fslist(data, size, &h) != APPWIRE_OK)
		return;
	check(h.count <= size / APPWIRE_FSLIST_ENTRY_HDR);
	appwire_fslist_begin(fsbuf, sizeof(fsbuf), &len);
	for (i = 0; i < h.count; i++) {
		check(appwire_fslist_entry(data, size, &off, &fs) == APPWIRE_OK);
		check(fs.mountpoint[0] == '/' && strlen(fs.fstype) >= 1);
		check(appwire_fslist_add(fsbuf, sizeof(fsbuf), &len, &count, &fs) == 0);
	}
	appwire_fslist_end(fsbuf, h.flags, count);
	check(off == size && len == size && memcmp(fsbuf, data, size) == 0);
}

static void
check_v2(const uint8_t *data, size_t size)
{
	uint8_t out[APPWIRE_MAX_FRAME];
	char detail[APPWIRE_DETAIL_FIELD];
	struct appwire_msg m;
	uint16_t kind;
	size_t i;

	if (appwire_decode_reply_detail(data, size, &m, detail) == APPWIRE_OK) {
		check(size == APPWIRE_DETAIL_SIZE && appwire_detail_len(detail) >= 1);
		for (i = 0; detail[i]; i++)
			check(detail[i] >= 0x20 && detail[i] <= 0x7e);
		appwire_encode_reply_detail(out, &m, detail);
		check(memcmp(out, data, size) == 0);
	}
	check(memchr(detail, '\0', sizeof(detail)) != NULL);
	if (appwire_decode_query(data, size, &kind) == APPWIRE_OK) {
		appwire_encode_query(out, kind);
		check(size == APPWIRE_QUERY_SIZE && memcmp(out, data, size) == 0);
	}
	check_fslist(data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[APPWIRE_MAX_FRAME];
	struct appwire_msg m, m2;
	struct appwire_hello h;
	struct appwire_welcome w;
	char name[APPWIRE_NAME_FIELD + 8];
	enum appwire_err e;

	e = appwire_decode_request(data, size, &m);
	check(appwire_strerror(e) != NULL);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_MSG_SIZE && m.status == APPWIRE_STATUS_SUCCESS && m.msgid != 0);
		appwire_encode_msg(out, &m);
		check(memcmp(out, data, size) == 0);
		check(appwire_decode_reply(data, size, &m2) == APPWIRE_OK);
	}

	e = appwire_decode_reply(data, size, &m);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_MSG_SIZE && m.status <= APPWIRE_STATUS_FAIL);
		check(appwire_reply_matches(&m, &m) == APPWIRE_OK);
		appwire_encode_msg(out, &m);
		check(memcmp(out, data, size) == 0);
		check(appwire_op_name(m.opt) != NULL);
	}

	e = appwire_decode_hello(data, size, &h);
	check(appwire_refusal_for(e) < APPWIRE_RESULT_COUNT);
	check(memchr(h.name, '\0', sizeof(h.name)) != NULL);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_HELLO_SIZE && appwire_name_valid(h.name));
		appwire_encode_hello(out, &h);
		check(memcmp(out, data, size) == 0);
	}

	e = appwire_decode_welcome(data, size, &w);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_WELCOME_SIZE && appwire_result_name(w.result) != NULL);
		appwire_encode_welcome(out, &w);
		check(memcmp(out, data, size) == 0);
	}

	check_v2(data, size);

	/* The name check on the raw bytes, as a C string of bounded length. */
	memset(name, 0, sizeof(name));
	memcpy(name, data, size < sizeof(name) - 1 ? size : sizeof(name) - 1);
	(void)appwire_name_valid(name);
	return 0;
}
