// SPDX-License-Identifier: MIT
#include "host/qgaproto.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lines up to this long are parsed when classified: every answer quiesced reads
 * itself (syncs, errors, guest-info's few KiB) is shorter. */
#define PARSE_MAX (256 * 1024)

/* ------------------------------------------------------------ lines */

void qgaproto_lines_init(struct qgaproto_lines *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max;
}

void qgaproto_lines_free(struct qgaproto_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

static int grow(struct qgaproto_lines *l, size_t need)
{
	size_t cap = l->cap ? l->cap : 4096;
	char *b;
	if (need <= l->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	b = realloc(l->buf, cap);
	if (!b)
		return -1;
	l->buf = b;
	l->cap = cap;
	return 0;
}

/* Hand out the complete lines at the start of the buffer. */
static int deliver(struct qgaproto_lines *l, qgaproto_line_fn fn, void *arg)
{
	size_t start = 0;
	while (start < l->len) {
		char *nl = memchr(l->buf + start, '\n', l->len - start);
		const char *line = l->buf + start;
		size_t len;
		bool ff;
		if (!nl)
			break;
		len = (size_t)(nl - line);
		start += len + 1;
		ff = len && (unsigned char)line[0] == 0xff;
		/* Stopped: the caller drops the stream and may have freed the buffer
		 * (qgaproto_lines_free) from inside fn: touch nothing. */
		if (fn(arg, line + ff, len - ff, ff))
			return 1;
	}
	memmove(l->buf, l->buf + start, l->len - start);
	l->len -= start;
	return 0;
}

int qgaproto_lines_feed(struct qgaproto_lines *l, const char *data, size_t n,
			qgaproto_line_fn fn, void *arg)
{
	while (n) {
		/* At most what completes a line of max (+ 0xFF + newline) at a time. */
		size_t room = l->max + 2 - l->len, take = n < room ? n : room;
		int r;
		if (grow(l, l->len + take) < 0) {
			l->len = 0;
			return -1;
		}
		memcpy(l->buf + l->len, data, take);
		l->len += take;
		data += take;
		n -= take;
		r = deliver(l, fn, arg);
		if (r)
			return r;
		if (l->len >= l->max + 2) {
			l->len = 0;
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ replies */

static enum qgaproto_kind kind_of(struct json_object *o)
{
	if (!json_object_is_type(o, json_type_object))
		return QGAPROTO_BAD;
	if (json_object_object_get_ex(o, "return", NULL))
		return QGAPROTO_RETURN;
	if (json_object_object_get_ex(o, "error", NULL))
		return QGAPROTO_ERROR;
	return QGAPROTO_BAD;
}

static struct json_object *parse(const char *line, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;
	if (len > PARSE_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, line, (int)len);
	/* One whole value and nothing after it but blanks. */
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	} else {
		for (size_t i = json_tokener_get_parse_end(tok); o && i < len; i++)
			if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
				json_object_put(o);
				o = NULL;
			}
	}
	json_tokener_free(tok);
	return o;
}

enum qgaproto_kind qgaproto_classify(const char *line, size_t len, struct json_object **v)
{
	struct json_object *o;
	enum qgaproto_kind k;

	if (v)
		*v = NULL;
	if (len > PARSE_MAX) {
		/* Too long to parse for nothing: qemu-ga's big answers are returns. */
		if (line[0] == '{' && line[len - 1] == '}' && !memchr(line, '\0', len) &&
		    !strncmp(line, "{\"return\"", 9))
			return QGAPROTO_RETURN;
		return QGAPROTO_BAD;
	}
	o = parse(line, len);
	k = kind_of(o);
	if (v && k != QGAPROTO_BAD)
		*v = o;
	else
		json_object_put(o);
	return k;
}

bool qgaproto_is_sync_reply(const char *line, size_t len, int64_t id)
{
	struct json_object *o, *r;
	bool yes = false;
	if (len > 256)
		return false;
	o = parse(line, len);
	if (o && json_object_is_type(o, json_type_object) && json_object_object_length(o) == 1 &&
	    json_object_object_get_ex(o, "return", &r) && json_object_is_type(r, json_type_int))
		yes = json_object_get_int64(r) == id;
	json_object_put(o);
	return yes;
}

/* ------------------------------------------------------------ guest-info */

static bool get_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return false;
	*out = json_object_get_boolean(v);
	return true;
}

int qgaproto_parse_info(struct json_object *reply, struct qgaproto_info *out)
{
	struct json_object *ret, *ver, *list;
	struct qgaproto_info info = { 0 };
	size_t n;

	if (!json_object_is_type(reply, json_type_object) ||
	    !json_object_object_get_ex(reply, "return", &ret) ||
	    !json_object_is_type(ret, json_type_object) ||
	    !json_object_object_get_ex(ret, "supported_commands", &list) ||
	    !json_object_is_type(list, json_type_array))
		return -1;
	/* Out of memory is a failure, never a list with a command or the version left
	 * out: the caller would take the command for one qemu-ga does not have. */
	if (json_object_object_get_ex(ret, "version", &ver) &&
	    json_object_is_type(ver, json_type_string) && json_object_get_string_len(ver) < 64) {
		info.version = strdup(json_object_get_string(ver));
		if (!info.version)
			return -1;
	}
	n = json_object_array_length(list);
	if (n > QGAPROTO_MAX_COMMANDS)
		n = QGAPROTO_MAX_COMMANDS;
	info.cmds = calloc(n ? n : 1, sizeof(*info.cmds));
	if (!info.cmds) {
		free(info.version);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(list, i), *name;
		struct qgaproto_cmd cmd = { 0 };
		if (!json_object_is_type(c, json_type_object) ||
		    !json_object_object_get_ex(c, "name", &name) ||
		    !json_object_is_type(name, json_type_string) ||
		    json_object_get_string_len(name) == 0 ||
		    json_object_get_string_len(name) > QGAPROTO_MAX_NAME ||
		    strlen(json_object_get_string(name)) != (size_t)json_object_get_string_len(name) ||
		    !get_bool(c, "enabled", &cmd.enabled) ||
		    !get_bool(c, "success-response", &cmd.success_response) ||
		    qgaproto_info_find(&info, json_object_get_string(name)))
			continue;
		cmd.name = strdup(json_object_get_string(name));
		if (!cmd.name) {
			qgaproto_info_free(&info);
			return -1;
		}
		info.cmds[info.n++] = cmd;
	}
	*out = info;
	return 0;
}

void qgaproto_info_free(struct qgaproto_info *info)
{
	for (size_t i = 0; i < info->n; i++)
		free(info->cmds[i].name);
	free(info->cmds);
	free(info->version);
	memset(info, 0, sizeof(*info));
}

const struct qgaproto_cmd *qgaproto_info_find(const struct qgaproto_info *info, const char *name)
{
	for (size_t i = 0; i < info->n; i++)
		if (!strcmp(info->cmds[i].name, name))
			return &info->cmds[i];
	return NULL;
}

/* ------------------------------------------------------------ requests */

/* Adds v (NULL: JSON null) to o, or drops it. */
static bool add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!json_object_object_add(o, key, v))
		return true;
	json_object_put(v);
	return false;
}

char *qgaproto_request(const char *name, struct json_object *args, struct json_object *id,
		       bool has_id, size_t *len)
{
	struct json_object *req = json_object_new_object(), *exe = json_object_new_string(name);
	const char *s = NULL;
	char *out = NULL;

	/* Every member checked: a request with one missing (or "execute": null) would be
	 * another request. */
	if (req && exe && add(req, "execute", exe) &&
	    (!args || add(req, "arguments", json_object_get(args))) &&
	    (!(id || has_id) || add(req, "id", json_object_get(id))))
		s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
						   JSON_C_TO_STRING_NOSLASHESCAPE);
	else if (!req)
		json_object_put(exe);
	if (s) {
		*len = strlen(s) + 1;
		out = malloc(*len + 1);
		if (out)
			snprintf(out, *len + 1, "%s\n", s);
	}
	json_object_put(req);
	return out;
}
