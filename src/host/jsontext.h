// SPDX-License-Identifier: MIT
/* What json-c does not check in the strings of a JSON text, found by scanning the raw
 * bytes beside the parser (jsonconn feeds both):
 *
 * - NUL characters. json-c decodes "\u0000" (and takes a raw NUL byte) into a string
 *   but hands out C strings, so "quiesce-status\u0000junk" reads as "quiesce-status",
 *   and an object key is cut at the NUL for good (only the raw text still shows it).
 * - UTF-8 that is not UTF-8. JSON_TOKENER_VALIDATE_UTF8 counts continuation bytes only:
 *   overlong forms (C0 80), surrogates (ED A0 80), code points past U+10FFFF and the
 *   bytes F5-FF pass, and an answer that echoes them is not UTF-8 either. */
#ifndef QUIESCE_JSONTEXT_H
#define QUIESCE_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

struct jsontext {
	bool no_nonchars;        /* also refuse noncharacters (U+FDD0-FDEF, U+xFFFE/xFFFF),
				  * as qemu-ga does */
	unsigned char state;     /* outside a string, in one, after '\', in \uXXXX */
	char quote;              /* '"' or '\'' (json-c takes single quotes too) */
	unsigned char hex_left;  /* digits of \uXXXX still to come */
	unsigned char need;      /* continuation bytes of a UTF-8 sequence still to come */
	uint32_t cp, min;        /* the code point so far; the least its length may hold */
	size_t nuls;             /* NULs seen in strings since the reset */
	bool bad_utf8;           /* a string held something that is not UTF-8 */
	bool comment;            /* a '/' outside strings: json-c takes comments, JSON has
				  * none, and a quote inside one would hide the strings
				  * after it from this scan */
};

/* Forget the value scanned so far (keeps no_nonchars). */
void jsontext_reset(struct jsontext *s);
/* Scan the next bytes of the input. */
void jsontext_feed(struct jsontext *s, const char *buf, size_t len);
/* NULs in the string values of v (json-c cuts keys: jsontext counts those only). */
size_t jsontext_nuls_in_values(struct json_object *v);

#endif
