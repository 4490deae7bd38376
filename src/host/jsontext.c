// SPDX-License-Identifier: MIT
#include "host/jsontext.h"

#include <json-c/json.h>
#include <string.h>

enum { OUT, STR, ESC, HEX };

void jsontext_reset(struct jsontext *s)
{
	bool no_nonchars = s->no_nonchars;
	memset(s, 0, sizeof(*s));
	s->no_nonchars = no_nonchars;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool code_point_ok(const struct jsontext *s, uint32_t cp)
{
	if (cp < s->min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	return !s->no_nonchars || !((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe);
}

/* A byte of a string, outside escapes: UTF-8 as RFC 3629 has it. Returns false if
 * the byte is not part of a multi-byte sequence (the caller looks at it then). */
static bool utf8_byte(struct jsontext *s, unsigned char c)
{
	if (s->need) {
		if ((c & 0xc0) != 0x80) {
			s->bad_utf8 = true;   /* cut short: c starts something else */
			s->need = 0;
			return false;
		}
		s->cp = s->cp << 6 | (c & 0x3f);
		if (--s->need == 0 && !code_point_ok(s, s->cp))
			s->bad_utf8 = true;
		return true;
	}
	if (c < 0x80)
		return false;
	if (c >= 0xc2 && c <= 0xdf)
		s->need = 1, s->cp = c & 0x1f, s->min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		s->need = 2, s->cp = c & 0x0f, s->min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		s->need = 3, s->cp = c & 0x07, s->min = 0x10000;
	else
		s->bad_utf8 = true;   /* a stray continuation byte, C0, C1, F5-FF */
	return true;
}

static void string_byte(struct jsontext *s, unsigned char c)
{
	if (utf8_byte(s, c))
		return;
	if (c == '\\') {
		s->state = ESC;
	} else if (c == (unsigned char)s->quote) {
		s->state = OUT;
	} else if (c == '\0') {
		s->nuls++;
	}
}

void jsontext_feed(struct jsontext *s, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		int d;
		switch (s->state) {
		case OUT:
			if (c == '"' || c == '\'') {
				s->state = STR;
				s->quote = (char)c;
			} else if (c == '/') {
				s->comment = true;
			}
			break;
		case STR:
			string_byte(s, c);
			break;
		case ESC:
			s->state = STR;
			if (c == 'u') {
				s->state = HEX;
				s->hex_left = 4;
				s->cp = 0;
			}
			break;
		case HEX:
			d = hex_digit(c);
			if (d < 0) {
				/* Not an escape json-c takes: the parse fails on its own. */
				s->state = STR;
				string_byte(s, c);
				break;
			}
			s->cp = s->cp * 16 + (unsigned)d;
			if (--s->hex_left == 0) {
				s->state = STR;
				s->nuls += s->cp == 0;
				s->cp = 0;
			}
			break;
		}
	}
}

size_t jsontext_nuls_in_values(struct json_object *v)
{
	size_t n = 0;
	switch (json_object_get_type(v)) {
	case json_type_string: {
		const char *p = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);
		for (const char *z; (z = memchr(p, '\0', len)); len -= (size_t)(z + 1 - p), p = z + 1)
			n++;
		return n;
	}
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			n += jsontext_nuls_in_values(val);
		}
		return n;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			n += jsontext_nuls_in_values(json_object_array_get_idx(v, i));
		return n;
	default:
		return 0;
	}
}
