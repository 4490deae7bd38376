// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the messages between quiesced and its thaw guardian
 * (src/common/guardwire.c).
 *
 * guardwire_decode must accept exactly the GUARD_MSG_SIZE-byte frames that carry the
 * magic and a known type, and nothing else. What it accepts must survive a round
 * trip: encoding it and decoding that gives the same message, and encoding is then
 * stable. The input is also taken as a message to encode (any bytes, a path with no
 * NUL): encoding never reads past the path and always decodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/guardwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static int same(const struct guardwire_msg *a, const struct guardwire_msg *b)
{
	return a->type == b->type && a->id == b->id && a->value == b->value &&
	       strcmp(a->path, b->path) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char b1[GUARD_MSG_SIZE], b2[GUARD_MSG_SIZE];
	struct guardwire_msg m, m2, m3;
	uint32_t magic = 0, type = 0;
	int r;

	memset(&m, 0xa5, sizeof(m));
	r = guardwire_decode(data, size, &m);
	if (size >= 8) {
		memcpy(&magic, data, 4);
		memcpy(&type, data + 4, 4);
	}
	check((r == 0) == (size == GUARD_MSG_SIZE && magic == GUARD_MAGIC &&
			   type >= GUARD_ARM && type <= GUARD_EXPIRED));
	if (r == 0) {
		check(m.type == type && memchr(m.path, '\0', sizeof(m.path)) != NULL);
		check(strncmp(m.path, (const char *)data + 24, GUARD_PATH_MAX) == 0);
		guardwire_encode(&m, b1);
		check(guardwire_decode(b1, sizeof(b1), &m2) == 0 && same(&m, &m2));
		guardwire_encode(&m2, b2);
		check(memcmp(b1, b2, sizeof(b1)) == 0);
		/* The frame differs from its re-encoding only after the path's end. */
		check(memcmp(b1, data, 24 + strlen(m.path)) == 0);
	}

	/* Any message, as the sender may fill it: the path need not be terminated. */
	memset(&m, 0, sizeof(m));
	memcpy(&m, data, size < sizeof(m) ? size : sizeof(m));
	guardwire_encode(&m, b1);
	if (m.type >= GUARD_ARM && m.type <= GUARD_EXPIRED) {
		check(guardwire_decode(b1, sizeof(b1), &m3) == 0);
		check(m3.type == m.type && m3.id == m.id && m3.value == m.value);
		check(strncmp(m3.path, m.path, GUARD_PATH_MAX) == 0 && strlen(m3.path) <= GUARD_PATH_MAX);
	} else {
		check(guardwire_decode(b1, sizeof(b1), &m3) < 0);
	}
	check(guardwire_decode(b1, sizeof(b1) - 1, &m3) < 0);
	return 0;
}
