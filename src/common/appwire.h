// SPDX-License-Identifier: MIT
/*
 * appwire: the app socket's wire format (docs/protocol.md), as pure functions.
 *
 * No I/O and no allocation: the library (src/lib) and the daemon's app registry
 * both build and check frames through these, so both ends agree byte for byte.
 * Decoding is total: any byte string of any length either decodes to a valid
 * frame or yields one specific enum appwire_err, and never reads outside it.
 *
 * Multi-byte integers are in the host's native byte order: the socket is
 * AF_UNIX, so both ends always run on the same machine (as with hv_vss(4)'s
 * ioctls, which copy struct hv_vss_opt_msg as is).
 */
#ifndef QUIESCE_APPWIRE_H
#define QUIESCE_APPWIRE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Versions spoken: 1 and 2. Version 2 (docs/protocol.md §2.5) adds the reply with a
 * detail and the filesystem query; a connection speaks the version of its hello, so
 * a version 1 app sees exactly what it always saw.
 */
#define APPWIRE_VERSION		2	/* the highest spoken */
#define APPWIRE_VERSION_MIN	1

/* Frame sizes. They differ so that a frame's length alone says what it is. */
#define APPWIRE_MSG_SIZE	64	/* struct hv_vss_opt_msg: request and reply */
#define APPWIRE_HELLO_SIZE	128	/* app -> daemon, first frame: registration */
#define APPWIRE_WELCOME_SIZE	32	/* daemon -> app: answer to the hello */
#define APPWIRE_DETAIL_SIZE	192	/* v2, app -> daemon: a reply and its detail */
#define APPWIRE_QUERY_SIZE	16	/* v2, app -> daemon: a question (filesystems) */
#define APPWIRE_MAX_FRAME	192	/* receive with a bigger buffer to see oversize */

/* v2 detail: 1..APPWIRE_DETAIL_MAX printable ASCII bytes, NUL-padded to the field. */
#define APPWIRE_DETAIL_FIELD	128
#define APPWIRE_DETAIL_MAX	(APPWIRE_DETAIL_FIELD - 1)

/* v2 query: magic, u16 version, u16 kind, 8 reserved bytes. */
#define APPWIRE_QUERY_MAGIC	"QAPQ"
#define APPWIRE_QUERY_FILESYSTEMS	1	/* answered with a filesystem list (appfslist.h) */

/* Every hello and welcome, of any version, starts with 4 magic bytes and a u16 version. */
#define APPWIRE_HELLO_MAGIC	"QAPH"
#define APPWIRE_WELCOME_MAGIC	"QAPW"
#define APPWIRE_MAGIC_LEN	4

/* Name: 1..APPWIRE_NAME_MAX bytes of [A-Za-z0-9._:@+-], NUL-padded to APPWIRE_NAME_FIELD. */
#define APPWIRE_NAME_FIELD	64
#define APPWIRE_NAME_MAX	(APPWIRE_NAME_FIELD - 1)

/* Hello flags. Zero means "required": the safe default is what an all-zero hello asks for. */
#define APPWIRE_F_OPTIONAL	0x00000001u	/* a veto or timeout is logged, not fatal */
#define APPWIRE_F_ALL		APPWIRE_F_OPTIONAL

/* hv_vss(4)'s enum hv_vss_op_t and VSS_SUCCESS / VSS_FAIL, same values. */
enum appwire_op {
	APPWIRE_OP_NONE = 0,	/* never valid on this socket */
	APPWIRE_OP_CHECK = 1,
	APPWIRE_OP_FREEZE = 2,
	APPWIRE_OP_THAW = 3,
};

enum appwire_status {
	APPWIRE_STATUS_SUCCESS = 0,
	APPWIRE_STATUS_FAIL = 1,
};

/* The welcome's result: 0 accepted, anything else is why the daemon refused. */
enum appwire_result {
	APPWIRE_ACCEPTED = 0,
	APPWIRE_REFUSED_VERSION = 1,	/* hello version not spoken; welcome.version = ours */
	APPWIRE_REFUSED_HELLO = 2,	/* malformed hello: size, flags, reserved bytes */
	APPWIRE_REFUSED_NAME = 3,	/* name empty, too long, bad byte, not NUL-padded */
	APPWIRE_REFUSED_NAME_TAKEN = 4,	/* another live connection has this name */
	APPWIRE_REFUSED_TOO_MANY = 5,	/* the daemon's app limit is reached */
	APPWIRE_REFUSED_PERMISSION = 6,	/* the peer's credentials are not allowed */
	APPWIRE_RESULT_COUNT
};

enum appwire_err {
	APPWIRE_OK = 0,
	APPWIRE_E_SIZE,		/* wrong length for this frame */
	APPWIRE_E_MAGIC,	/* hello/welcome without its magic */
	APPWIRE_E_VERSION,	/* hello/welcome of a version we do not speak */
	APPWIRE_E_OP,		/* opt not CHECK, FREEZE or THAW */
	APPWIRE_E_STATUS,	/* request status not 0, or reply status not 0/1 */
	APPWIRE_E_MSGID,	/* msgid 0 */
	APPWIRE_E_RESERVED,	/* a reserved byte is not zero */
	APPWIRE_E_FLAGS,	/* unknown flag bits */
	APPWIRE_E_NAME,		/* name fails the name rule */
	APPWIRE_E_FIELD,	/* a welcome field out of range for its result */
	APPWIRE_E_MISMATCH,	/* reply's opt or msgid is not the outstanding request's */
	APPWIRE_E_DETAIL,	/* v2 detail empty, not printable or not NUL-padded */
	APPWIRE_E_COUNT
};

/* One request or reply: struct hv_vss_opt_msg minus its 48 reserved (zero) bytes. */
struct appwire_msg {
	uint32_t opt;		/* enum appwire_op */
	uint32_t status;	/* enum appwire_status */
	uint64_t msgid;		/* chosen by the daemon, echoed by the app, never 0 */
};

struct appwire_hello {
	uint16_t version;
	uint32_t flags;		/* APPWIRE_F_* */
	uint32_t timeout_ms;	/* per-request timeout wanted; 0 = daemon's default */
	char name[APPWIRE_NAME_FIELD];	/* NUL-terminated after decoding */
};

struct appwire_welcome {
	uint16_t version;
	uint16_t result;	/* enum appwire_result; unknown values decode fine */
	uint32_t app_id;	/* accepted: >= 1; refused: 0 */
	uint32_t timeout_ms;	/* accepted: effective per-request timeout, >= 1; refused: 0 */
	uint32_t flags;		/* accepted: effective APPWIRE_F_*; refused: 0 */
};

/* Requests (daemon -> app) and replies (app -> daemon). */
void appwire_encode_msg(uint8_t out[APPWIRE_MSG_SIZE], const struct appwire_msg *m);
enum appwire_err appwire_decode_request(const void *buf, size_t len, struct appwire_msg *out);
enum appwire_err appwire_decode_reply(const void *buf, size_t len, struct appwire_msg *out);
enum appwire_err appwire_reply_matches(const struct appwire_msg *req,
    const struct appwire_msg *rep);

/*
 * v2: a reply with a detail (APPWIRE_DETAIL_SIZE bytes). The encoder copies at most
 * APPWIRE_DETAIL_MAX bytes and turns any byte outside 0x20..0x7e into '?', so what it
 * sends always decodes; an empty detail is sent as a plain reply (the caller's
 * choice: appwire_detail_len() says whether there is one). detail out: NUL-terminated.
 */
void appwire_encode_reply_detail(uint8_t out[APPWIRE_DETAIL_SIZE], const struct appwire_msg *m,
    const char *detail);
enum appwire_err appwire_decode_reply_detail(const void *buf, size_t len, struct appwire_msg *out,
    char detail[APPWIRE_DETAIL_FIELD]);
/* How many bytes of detail the encoder would send (0 for NULL or ""). */
size_t appwire_detail_len(const char *detail);

/* v2: the query frame. */
void appwire_encode_query(uint8_t out[APPWIRE_QUERY_SIZE], uint16_t kind);
enum appwire_err appwire_decode_query(const void *buf, size_t len, uint16_t *kind);

/* Registration. */
void appwire_encode_hello(uint8_t out[APPWIRE_HELLO_SIZE], const struct appwire_hello *h);
enum appwire_err appwire_decode_hello(const void *buf, size_t len, struct appwire_hello *out);
void appwire_encode_welcome(uint8_t out[APPWIRE_WELCOME_SIZE], const struct appwire_welcome *w);
enum appwire_err appwire_decode_welcome(const void *buf, size_t len,
    struct appwire_welcome *out);

/* 1 if name obeys the name rule (length 1..APPWIRE_NAME_MAX, allowed bytes), else 0. */
int appwire_name_valid(const char *name);

/* The refusal a daemon sends for a hello that failed to decode with err. */
enum appwire_result appwire_refusal_for(enum appwire_err err);

/* The timeout the daemon grants: requested, or dflt when 0; clamped to [1, max]. */
uint32_t appwire_effective_timeout(uint32_t requested, uint32_t dflt, uint32_t max);

/* Static strings for logs; never NULL, "?" style text for values out of range. */
const char *appwire_strerror(enum appwire_err err);
const char *appwire_op_name(uint32_t opt);
const char *appwire_result_name(uint32_t result);

#endif
