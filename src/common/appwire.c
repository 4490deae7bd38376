// SPDX-License-Identifier: MIT
/*
 * appwire: encode, decode and check app socket frames (see appwire.h and
 * docs/protocol.md for the layouts). Every decoder first checks the length,
 * then reads fields with memcpy at fixed offsets, so any input is safe.
 */
#include <string.h>

#include "common/wirebytes.h"
#include "common/appwire.h"

/* struct hv_vss_opt_msg */
#define MSG_OFF_OPT		0
#define MSG_OFF_STATUS		4
#define MSG_OFF_MSGID		8
#define MSG_OFF_RESERVED	16

/* hello */
#define HELLO_OFF_MAGIC		0
#define HELLO_OFF_VERSION	4
#define HELLO_OFF_RESERVED0	6
#define HELLO_OFF_FLAGS		8
#define HELLO_OFF_TIMEOUT	12
#define HELLO_OFF_NAME		16
#define HELLO_OFF_RESERVED	(HELLO_OFF_NAME + APPWIRE_NAME_FIELD)

/* welcome */
#define WELCOME_OFF_MAGIC	0
#define WELCOME_OFF_VERSION	4
#define WELCOME_OFF_RESULT	6
#define WELCOME_OFF_APP_ID	8
#define WELCOME_OFF_TIMEOUT	12
#define WELCOME_OFF_FLAGS	16
#define WELCOME_OFF_RESERVED	20

/* Both kinds of header: magic, then the version, at the same offsets. */
#define HDR_LEN			6

_Static_assert(HELLO_OFF_RESERVED + 48 == APPWIRE_HELLO_SIZE, "hello layout");
_Static_assert(WELCOME_OFF_RESERVED + 12 == APPWIRE_WELCOME_SIZE, "welcome layout");
_Static_assert(MSG_OFF_RESERVED + 48 == APPWIRE_MSG_SIZE, "msg layout");
_Static_assert(APPWIRE_MAX_FRAME >= APPWIRE_HELLO_SIZE && APPWIRE_MAX_FRAME >= APPWIRE_MSG_SIZE &&
    APPWIRE_MAX_FRAME >= APPWIRE_WELCOME_SIZE && APPWIRE_MAX_FRAME >= APPWIRE_DETAIL_SIZE,
    "max frame");
_Static_assert(APPWIRE_MSG_SIZE + APPWIRE_DETAIL_FIELD == APPWIRE_DETAIL_SIZE, "detail layout");

/* v2 query */
#define QUERY_OFF_MAGIC		0
#define QUERY_OFF_VERSION	4
#define QUERY_OFF_KIND		6
#define QUERY_OFF_RESERVED	8

static int
all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static int
version_spoken(uint16_t v)
{
	return v >= APPWIRE_VERSION_MIN && v <= APPWIRE_VERSION;
}

static int
op_valid(uint32_t opt)
{
	return opt == APPWIRE_OP_CHECK || opt == APPWIRE_OP_FREEZE || opt == APPWIRE_OP_THAW;
}

void
appwire_encode_msg(uint8_t out[APPWIRE_MSG_SIZE], const struct appwire_msg *m)
{
	memset(out, 0, APPWIRE_MSG_SIZE);
	put32(out, MSG_OFF_OPT, m->opt);
	put32(out, MSG_OFF_STATUS, m->status);
	put64(out, MSG_OFF_MSGID, m->msgid);
}

/* The checks both directions share, in the documented order. */
static enum appwire_err
decode_msg(const uint8_t *p, size_t len, struct appwire_msg *out, uint32_t max_status)
{
	memset(out, 0, sizeof(*out));
	if (len != APPWIRE_MSG_SIZE)
		return APPWIRE_E_SIZE;
	out->opt = get32(p, MSG_OFF_OPT);
	out->status = get32(p, MSG_OFF_STATUS);
	out->msgid = get64(p, MSG_OFF_MSGID);
	if (!op_valid(out->opt))
		return APPWIRE_E_OP;
	if (out->status > max_status)
		return APPWIRE_E_STATUS;
	if (out->msgid == 0)
		return APPWIRE_E_MSGID;
	if (!all_zero(p + MSG_OFF_RESERVED, APPWIRE_MSG_SIZE - MSG_OFF_RESERVED))
		return APPWIRE_E_RESERVED;
	return APPWIRE_OK;
}

enum appwire_err
appwire_decode_request(const void *buf, size_t len, struct appwire_msg *out)
{
	/* A request carries no result yet: its status is always SUCCESS (0). */
	return decode_msg(buf, len, out, APPWIRE_STATUS_SUCCESS);
}

enum appwire_err
appwire_decode_reply(const void *buf, size_t len, struct appwire_msg *out)
{
	return decode_msg(buf, len, out, APPWIRE_STATUS_FAIL);
}

enum appwire_err
appwire_reply_matches(const struct appwire_msg *req, const struct appwire_msg *rep)
{
	if (req->opt != rep->opt || req->msgid != rep->msgid)
		return APPWIRE_E_MISMATCH;
	return APPWIRE_OK;
}

static int
detail_byte_valid(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

size_t
appwire_detail_len(const char *detail)
{
	return detail == NULL ? 0 : strnlen(detail, APPWIRE_DETAIL_MAX);
}

void
appwire_encode_reply_detail(uint8_t out[APPWIRE_DETAIL_SIZE], const struct appwire_msg *m,
    const char *detail)
{
	size_t i, n = appwire_detail_len(detail);

	memset(out, 0, APPWIRE_DETAIL_SIZE);
	appwire_encode_msg(out, m);
	for (i = 0; i < n; i++)
		out[APPWIRE_MSG_SIZE + i] = detail_byte_valid((unsigned char)detail[i]) ?
		    (uint8_t)detail[i] : '?';
}

enum appwire_err
appwire_decode_reply_detail(const void *buf, size_t len, struct appwire_msg *out,
    char detail[APPWIRE_DETAIL_FIELD])
{
	const uint8_t *d = (const uint8_t *)buf + APPWIRE_MSG_SIZE;
	enum appwire_err e;
	size_t n;

	memset(detail, 0, APPWIRE_DETAIL_FIELD);
	if (len != APPWIRE_DETAIL_SIZE) {
		memset(out, 0, sizeof(*out));
		return APPWIRE_E_SIZE;
	}
	if ((e = decode_msg(buf, APPWIRE_MSG_SIZE, out, APPWIRE_STATUS_FAIL)) != APPWIRE_OK)
		return e;
	for (n = 0; n < APPWIRE_DETAIL_FIELD && d[n] != 0; n++)
		if (!detail_byte_valid(d[n]))
			return APPWIRE_E_DETAIL;
	/* One encoding only: a reply without a detail is the 64-byte frame. */
	if (n == 0 || n > APPWIRE_DETAIL_MAX || !all_zero(d + n, APPWIRE_DETAIL_FIELD - n))
		return APPWIRE_E_DETAIL;
	memcpy(detail, d, n);
	return APPWIRE_OK;
}

void
appwire_encode_query(uint8_t out[APPWIRE_QUERY_SIZE], uint16_t kind)
{
	memset(out, 0, APPWIRE_QUERY_SIZE);
	memcpy(out + QUERY_OFF_MAGIC, APPWIRE_QUERY_MAGIC, APPWIRE_MAGIC_LEN);
	put16(out, QUERY_OFF_VERSION, 2);
	put16(out, QUERY_OFF_KIND, kind);
}

enum appwire_err
appwire_decode_query(const void *buf, size_t len, uint16_t *kind)
{
	const uint8_t *p = buf;

	*kind = 0;
	if (len != APPWIRE_QUERY_SIZE)
		return APPWIRE_E_SIZE;
	if (memcmp(p + QUERY_OFF_MAGIC, APPWIRE_QUERY_MAGIC, APPWIRE_MAGIC_LEN) != 0)
		return APPWIRE_E_MAGIC;
	/* Queries came with version 2: the frame says 2, whatever the hello said. */
	if (get16(p, QUERY_OFF_VERSION) != 2)
		return APPWIRE_E_VERSION;
	if (!all_zero(p + QUERY_OFF_RESERVED, APPWIRE_QUERY_SIZE - QUERY_OFF_RESERVED))
		return APPWIRE_E_RESERVED;
	*kind = get16(p, QUERY_OFF_KIND);
	if (*kind != APPWIRE_QUERY_FILESYSTEMS)
		return APPWIRE_E_FIELD;
	return APPWIRE_OK;
}

static int
name_byte_valid(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == '-' || c == ':' || c == '@' || c == '+';
}

int
appwire_name_valid(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		if (i >= APPWIRE_NAME_MAX || !name_byte_valid((unsigned char)name[i]))
			return 0;
	return i > 0;
}

void
appwire_encode_hello(uint8_t out[APPWIRE_HELLO_SIZE], const struct appwire_hello *h)
{
	size_t n;

	memset(out, 0, APPWIRE_HELLO_SIZE);
	memcpy(out + HELLO_OFF_MAGIC, APPWIRE_HELLO_MAGIC, APPWIRE_MAGIC_LEN);
	put16(out, HELLO_OFF_VERSION, h->version);
	put32(out, HELLO_OFF_FLAGS, h->flags);
	put32(out, HELLO_OFF_TIMEOUT, h->timeout_ms);
	/* Bounded copy: the field keeps at least one NUL even if h->name is not terminated. */
	n = strnlen(h->name, APPWIRE_NAME_MAX);
	memcpy(out + HELLO_OFF_NAME, h->name, n);
}

enum appwire_err
appwire_decode_hello(const void *buf, size_t len, struct appwire_hello *out)
{
	const uint8_t *p = buf;
	const uint8_t *name;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (len < HDR_LEN)
		return APPWIRE_E_SIZE;
	if (memcmp(p + HELLO_OFF_MAGIC, APPWIRE_HELLO_MAGIC, APPWIRE_MAGIC_LEN) != 0)
		return APPWIRE_E_MAGIC;
	/* The version comes before the size check: a newer hello may be longer or shorter. */
	out->version = get16(p, HELLO_OFF_VERSION);
	if (!version_spoken(out->version))
		return APPWIRE_E_VERSION;
	if (len != APPWIRE_HELLO_SIZE)
		return APPWIRE_E_SIZE;
	out->flags = get32(p, HELLO_OFF_FLAGS);
	out->timeout_ms = get32(p, HELLO_OFF_TIMEOUT);
	if (get16(p, HELLO_OFF_RESERVED0) != 0 ||
	    !all_zero(p + HELLO_OFF_RESERVED, APPWIRE_HELLO_SIZE - HELLO_OFF_RESERVED))
		return APPWIRE_E_RESERVED;
	if (out->flags & ~APPWIRE_F_ALL)
		return APPWIRE_E_FLAGS;

	name = p + HELLO_OFF_NAME;
	for (n = 0; n < APPWIRE_NAME_FIELD && name[n] != 0; n++)
		if (!name_byte_valid(name[n]))
			return APPWIRE_E_NAME;
	/* n == FIELD: no NUL at all. Then everything after the name must be NUL padding. */
	if (n == 0 || n > APPWIRE_NAME_MAX || !all_zero(name + n, APPWIRE_NAME_FIELD - n))
		return APPWIRE_E_NAME;
	memcpy(out->name, name, n);
	out->name[n] = '\0';
	return APPWIRE_OK;
}

void
appwire_encode_welcome(uint8_t out[APPWIRE_WELCOME_SIZE], const struct appwire_welcome *w)
{
	memset(out, 0, APPWIRE_WELCOME_SIZE);
	memcpy(out + WELCOME_OFF_MAGIC, APPWIRE_WELCOME_MAGIC, APPWIRE_MAGIC_LEN);
	put16(out, WELCOME_OFF_VERSION, w->version);
	put16(out, WELCOME_OFF_RESULT, w->result);
	put32(out, WELCOME_OFF_APP_ID, w->app_id);
	put32(out, WELCOME_OFF_TIMEOUT, w->timeout_ms);
	put32(out, WELCOME_OFF_FLAGS, w->flags);
}

enum appwire_err
appwire_decode_welcome(const void *buf, size_t len, struct appwire_welcome *out)
{
	const uint8_t *p = buf;

	memset(out, 0, sizeof(*out));
	if (len < HDR_LEN)
		return APPWIRE_E_SIZE;
	if (memcmp(p + WELCOME_OFF_MAGIC, APPWIRE_WELCOME_MAGIC, APPWIRE_MAGIC_LEN) != 0)
		return APPWIRE_E_MAGIC;
	out->version = get16(p, WELCOME_OFF_VERSION);
	if (!version_spoken(out->version))
		return APPWIRE_E_VERSION;
	if (len != APPWIRE_WELCOME_SIZE)
		return APPWIRE_E_SIZE;
	out->result = get16(p, WELCOME_OFF_RESULT);
	out->app_id = get32(p, WELCOME_OFF_APP_ID);
	out->timeout_ms = get32(p, WELCOME_OFF_TIMEOUT);
	out->flags = get32(p, WELCOME_OFF_FLAGS);
	if (!all_zero(p + WELCOME_OFF_RESERVED, APPWIRE_WELCOME_SIZE - WELCOME_OFF_RESERVED))
		return APPWIRE_E_RESERVED;
	if (out->result == APPWIRE_ACCEPTED) {
		if (out->app_id == 0 || out->timeout_ms == 0)
			return APPWIRE_E_FIELD;
		if (out->flags & ~APPWIRE_F_ALL)
			return APPWIRE_E_FLAGS;
	} else if (out->app_id != 0 || out->timeout_ms != 0 || out->flags != 0) {
		/* Refusal codes this version does not know are fine: newer daemons add some. */
		return APPWIRE_E_FIELD;
	}
	return APPWIRE_OK;
}

enum appwire_result
appwire_refusal_for(enum appwire_err err)
{
	switch (err) {
	case APPWIRE_OK:
		return APPWIRE_ACCEPTED;
	case APPWIRE_E_VERSION:
		return APPWIRE_REFUSED_VERSION;
	case APPWIRE_E_NAME:
		return APPWIRE_REFUSED_NAME;
	default:
		return APPWIRE_REFUSED_HELLO;
	}
}

uint32_t
appwire_effective_timeout(uint32_t requested, uint32_t dflt, uint32_t max)
{
	uint32_t t = requested != 0 ? requested : dflt;

	if (max != 0 && t > max)
		t = max;
	return t != 0 ? t : 1;
}

const char *
appwire_strerror(enum appwire_err err)
{
	static const char *const text[APPWIRE_E_COUNT] = {
		[APPWIRE_OK] = "ok",
		[APPWIRE_E_SIZE] = "wrong frame size",
		[APPWIRE_E_MAGIC] = "bad magic",
		[APPWIRE_E_VERSION] = "unsupported protocol version",
		[APPWIRE_E_OP] = "unknown operation",
		[APPWIRE_E_STATUS] = "bad status",
		[APPWIRE_E_MSGID] = "msgid is zero",
		[APPWIRE_E_RESERVED] = "reserved bytes not zero",
		[APPWIRE_E_FLAGS] = "unknown flags",
		[APPWIRE_E_NAME] = "invalid name",
		[APPWIRE_E_FIELD] = "field out of range",
		[APPWIRE_E_MISMATCH] = "reply does not match the request",
		[APPWIRE_E_DETAIL] = "bad detail",
	};

	if ((unsigned)err >= APPWIRE_E_COUNT)
		return "unknown error";
	return text[err];
}

const char *
appwire_op_name(uint32_t opt)
{
	switch (opt) {
	case APPWIRE_OP_NONE:
		return "NONE";
	case APPWIRE_OP_CHECK:
		return "CHECK";
	case APPWIRE_OP_FREEZE:
		return "FREEZE";
	case APPWIRE_OP_THAW:
		return "THAW";
	default:
		return "UNKNOWN";
	}
}

const char *
appwire_result_name(uint32_t result)
{
	static const char *const text[APPWIRE_RESULT_COUNT] = {
		[APPWIRE_ACCEPTED] = "accepted",
		[APPWIRE_REFUSED_VERSION] = "unsupported protocol version",
		[APPWIRE_REFUSED_HELLO] = "malformed registration",
		[APPWIRE_REFUSED_NAME] = "invalid name",
		[APPWIRE_REFUSED_NAME_TAKEN] = "name already registered",
		[APPWIRE_REFUSED_TOO_MANY] = "too many apps",
		[APPWIRE_REFUSED_PERMISSION] = "permission denied",
	};

	if (result >= APPWIRE_RESULT_COUNT)
		return "refused (unknown reason)";
	return text[result];
}
