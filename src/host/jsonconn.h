// SPDX-License-Identifier: MIT
/* A connection that carries a stream of JSON values: the control socket and the QEMU
 * guest agent channel. Input is parsed incrementally with a bounded size and depth;
 * output is queued (bounded) and written when the peer can take it. */
#ifndef QUIESCE_JSONCONN_H
#define QUIESCE_JSONCONN_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct loop;
struct jsonconn;

struct jsonconn_limits {
	size_t max_value;       /* bytes of one JSON value, whitespace included */
	int max_depth;          /* nesting of arrays and objects */
	size_t max_output;      /* bytes queued to a slow reader before it is dropped
				 * (one answer alone is always queued, whatever its size) */
	bool ff_resync;         /* a 0xFF byte resets the parser (QGA guest-sync-delimited) */
	bool keep_on_hup;       /* a character device: EPOLLHUP means no host, not the end */
	/* QGA (qemu-ga compatibility). ff_report: each 0xFF is also reported through
	 * on_parse_error with why = JSONCONN_WHY_FF (qemu-ga answers it with an error).
	 * skip_line: after a parse error or an oversized value, drop input up to the
	 * next newline (or 0xFF) and go on, instead of resuming at the next byte (one
	 * error per bad line, like qemu-ga's one per bad token) or closing.
	 * validate_utf8: strings must be valid UTF-8 (qemu-ga rejects the rest). */
	bool ff_report;
	bool skip_line;
	bool validate_utf8;
	/* What json-c does not check (jsontext.h), each a parse error of the value:
	 * strict_utf8: strings must be UTF-8 as RFC 3629 has it (no overlong forms,
	 * surrogates, nor code points past U+10FFFF); no_nonchars: nor noncharacters
	 * (qemu-ga). reject_nul: no NUL in any string (the control socket);
	 * reject_nul_keys: none in a member name, which json-c would cut (QGA: the
	 * command layer sees values whole). */
	bool strict_utf8;
	bool no_nonchars;
	bool reject_nul;
	bool reject_nul_keys;
	/* Longest time from a value's first byte to its last (0: none); past it the
	 * connection is closed, so that half-sent requests cannot hold a slot for good. */
	unsigned value_timeout_ms;
};

#define JSONCONN_WHY_FF "stray 0xff"
#define JSONCONN_WHY_TOO_LONG "input too long"
#define JSONCONN_WHY_NUL "a string holds a NUL character (\\u0000)"
#define JSONCONN_WHY_NUL_KEY "a member name holds a NUL character (\\u0000)"
#define JSONCONN_WHY_COMMENT "a comment (JSON has none)"
/* json-c's description of a value nested deeper than max_depth. */
const char *jsonconn_why_depth(void);

struct jsonconn_ops {
	/* One complete value. The callee owns v (json_object_put it). */
	void (*on_value)(struct jsonconn *c, struct json_object *v, void *arg);
	/* Input that is not JSON (why says how). The parser has been reset; the
	 * connection goes on unless the callee closes it. */
	void (*on_parse_error)(struct jsonconn *c, const char *why, void *arg);
	/* The connection is going away: the last callback; c is freed after it. */
	void (*on_close)(struct jsonconn *c, void *arg);
};

/* Takes over fd (closed by jsonconn_free). */
struct jsonconn *jsonconn_new(struct loop *loop, int fd, const struct jsonconn_limits *lim,
			      const struct jsonconn_ops *ops, void *arg);
/* Queue v followed by a newline; with ff_prefix a 0xFF byte goes first. Returns -1 if
 * the connection is closed or its output limit is passed (it is then closed). */
int jsonconn_send(struct jsonconn *c, struct json_object *v, bool ff_prefix);
/* Queue len bytes that are one JSON value already (relayed as they are), then a
 * newline unless they end with one. As jsonconn_send otherwise. */
int jsonconn_send_raw(struct jsonconn *c, const char *text, size_t len, bool ff_prefix);
/* Close after the queued output is written (bounded: at most a second). */
void jsonconn_close_after_flush(struct jsonconn *c);
/* Close the connection now and free it (on_close is its last callback). Safe from
 * inside any callback of this connection: it is then freed when that returns. */
void jsonconn_free(struct jsonconn *c);
int jsonconn_fd(const struct jsonconn *c);

/* Turn away a client that was just accepted: one GenericError answer, best effort and
 * never blocking, then close fd. */
void jsonconn_refuse(int fd, const char *desc);

#endif
