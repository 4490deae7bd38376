// SPDX-License-Identifier: MIT
/* The wire side of the qemu-ga backend (qgaback.c, qgafwd.c), without I/O: reply lines
 * out of a byte stream, what a reply is, qemu-ga's guest-info list, requests.
 *
 * qemu-ga writes one JSON object per line ("\n"-terminated; its JSON has no raw
 * newline), the answer to guest-sync-delimited prefixed with a 0xFF byte. Lines are
 * relayed to the host byte for byte, so they are kept as text; only the few quiesced
 * needs to understand (its own syncs, guest-info) are parsed. */
#ifndef QUIESCE_QGAPROTO_H
#define QUIESCE_QGAPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* ---- lines */

struct qgaproto_lines {
	char *buf;
	size_t len, cap;
	size_t max;             /* longest line, newline excluded */
};

/* One complete line, without its newline and without a leading 0xFF (ff says if it
 * had one). Return non-zero to stop: the caller drops the stream (the rest of the
 * input is not looked at, and fn may have freed l with qgaproto_lines_free). */
typedef int (*qgaproto_line_fn)(void *arg, const char *line, size_t len, bool ff);

void qgaproto_lines_init(struct qgaproto_lines *l, size_t max);
void qgaproto_lines_free(struct qgaproto_lines *l);
/* Append data and hand out every complete line. Returns 0; 1 if fn stopped (l is then
 * as fn left it: free or init it before feeding again); -1 if a line grows past max
 * (nothing of it was handed out) or memory ran out: the buffer is then emptied and the
 * stream is out of step. */
int qgaproto_lines_feed(struct qgaproto_lines *l, const char *data, size_t n,
			qgaproto_line_fn fn, void *arg);

/* ---- replies */

enum qgaproto_kind {
	QGAPROTO_BAD,           /* not a JSON object with "return" or "error" */
	QGAPROTO_RETURN,
	QGAPROTO_ERROR,
};

/* What a line is. With v, the parsed object is handed over (json_object_put it),
 * NULL if BAD. Lines longer than a small bound are only checked for their shape
 * ('{' ... '}'), never parsed: a 40 MiB guest-file-read answer is relayed as is. */
enum qgaproto_kind qgaproto_classify(const char *line, size_t len, struct json_object **v);
/* True if line is {"return": id} (the answer to our own guest-sync). */
bool qgaproto_is_sync_reply(const char *line, size_t len, int64_t id);

/* ---- guest-info */

struct qgaproto_cmd {
	char *name;
	bool enabled;
	bool success_response;  /* false: guest-shutdown, guest-suspend-*: no answer */
};

struct qgaproto_info {
	char *version;
	struct qgaproto_cmd *cmds;
	size_t n;
};

#define QGAPROTO_MAX_COMMANDS 256
#define QGAPROTO_MAX_NAME 63

/* A guest-info answer ({"return": {"version": ..., "supported_commands": [...]}}):
 * 0, or -1 if it is not one (out untouched). Entries that are not well-formed are
 * skipped; at most QGAPROTO_MAX_COMMANDS, names up to QGAPROTO_MAX_NAME bytes. */
int qgaproto_parse_info(struct json_object *reply, struct qgaproto_info *out);
void qgaproto_info_free(struct qgaproto_info *info);
const struct qgaproto_cmd *qgaproto_info_find(const struct qgaproto_info *info, const char *name);

/* ---- requests */

/* {"execute": name, "arguments": args, "id": id} and a newline; args and id may be
 * NULL (left out; with has_id an id of JSON null is sent). NULL on no memory. */
char *qgaproto_request(const char *name, struct json_object *args, struct json_object *id,
		       bool has_id, size_t *len);

#endif
