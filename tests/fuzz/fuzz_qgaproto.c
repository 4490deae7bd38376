// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what quiesced reads from its qemu-ga backend
 * (src/host/qgaproto.c): the byte stream cut into answer lines (0xFF prefix, a line
 * limit set by the first input byte), each line classified, checked for being the
 * answer to a guest-sync, and, if it parses, read as a guest-info answer.
 *
 * Checked: a line never holds a newline and is never longer than the limit (+1); a line classified as an answer is a JSON object with "return"
 * or "error"; a parsed command list has unique, non-empty names of at most
 * QGAPROTO_MAX_NAME bytes and at most QGAPROTO_MAX_COMMANDS entries.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/qgaproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t max_line;

static void check(int cond)
{
	if (!cond)
		abort();
}

static int on_line(void *arg, const char *line, size_t len, bool ff)
{
	struct json_object *v = NULL;
	enum qgaproto_kind k;
	(void)arg, (void)ff;

	check(len <= max_line + 1 && !memchr(line, '\n', len));
	k = qgaproto_classify(line, len, &v);
	check((k == QGAPROTO_BAD) == (v == NULL));
	if (v) {
		struct qgaproto_info info;
		check(json_object_is_type(v, json_type_object));
		check(json_object_object_get_ex(v, k == QGAPROTO_RETURN ? "return" : "error", NULL));
		if (qgaproto_parse_info(v, &info) == 0) {
			check(info.n <= QGAPROTO_MAX_COMMANDS);
			for (size_t i = 0; i < info.n; i++) {
				size_t n = strlen(info.cmds[i].name);
				check(n > 0 && n <= QGAPROTO_MAX_NAME);
				check(qgaproto_info_find(&info, info.cmds[i].name) == &info.cmds[i]);
			}
			qgaproto_info_free(&info);
		}
		json_object_put(v);
	}
	(void)qgaproto_is_sync_reply(line, len, 42);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qgaproto_lines l;
	if (size < 1)
		return 0;
	max_line = 1 + data[0] * 8u;
	qgaproto_lines_init(&l, max_line);
	/* In two pieces, as reads may cut it. */
	if (qgaproto_lines_feed(&l, (const char *)data + 1, (size - 1) / 2, on_line, NULL) == 0)
		(void)qgaproto_lines_feed(&l, (const char *)data + 1 + (size - 1) / 2,
					  size - 1 - (size - 1) / 2, on_line, NULL);
	qgaproto_lines_free(&l);
	return 0;
}
