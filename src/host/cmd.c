// SPDX-License-Identifier: MIT
#include "host/cmd.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonput.h"
#include "common/log.h"
#include "engine/txn.h"
#include "host/jsonconn.h"

#define MAX_COMMANDS 64

static const struct cmd_def *commands[MAX_COMMANDS];
static size_t n_commands;
static struct cmd_def flat[MAX_COMMANDS];

int cmd_register(const struct cmd_def *defs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (n_commands == MAX_COMMANDS || cmd_lookup(defs[i].name)) {
			errno = n_commands == MAX_COMMANDS ? ENOSPC : EEXIST;
			return -1;
		}
		commands[n_commands] = &defs[i];
		flat[n_commands] = defs[i];
		n_commands++;
	}
	return 0;
}

const struct cmd_def *cmd_lookup(const char *name)
{
	for (size_t i = 0; i < n_commands; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

const struct cmd_def *cmd_table(size_t *n)
{
	*n = n_commands;
	return flat;
}

static void session_unref(struct cmd_session *s)
{
	if (s->closed && s->pending == 0 && s->release)
		s->release(s);
}

static void call_done(struct cmd_call *call)
{
	struct cmd_session *s = call->s;
	json_object_put(call->id);
	json_object_put(call->args);
	free(call);
	s->pending--;
	if (!s->closed && s->pending == 0 && s->idle)
		s->idle(s); /* may release s */
	else
		session_unref(s);
}

/* ans NULL (out of memory): no answer rather than a wrong one, and as when jsonconn
 * cannot queue one, the client is dropped (it would wait for it for ever, and on QGA
 * take the next answer for it). */
static void send_answer(struct cmd_call *call, struct json_object *ans)
{
	struct cmd_session *s = call->s;
	if (ans && (call->id || call->has_id))
		json_object_object_add(ans, "id", json_object_get(call->id));
	if (!ans && s->conn)
		jsonconn_free(s->conn);
	else if (s->conn)
		jsonconn_send(s->conn, ans, call->ff_prefix);
	json_object_put(ans);
	call_done(call);
}

void cmd_return_raw(struct cmd_call *call, const char *text, size_t len)
{
	if (call->s->conn && len)
		jsonconn_send_raw(call->s->conn, text, len, false);
	call_done(call);
}

void cmd_return(struct cmd_call *call, struct json_object *ret)
{
	struct json_object *ans;
	/* No value: its handler ran out of memory making it (an empty object in its
	 * place would be a wrong answer, e.g. to guest-sync). */
	if (!ret) {
		cmd_error(call, "GenericError", "out of memory");
		return;
	}
	ans = json_object_new_object();
	if (!ans)
		json_object_put(ret);
	else
		json_object_object_add(ans, "return", ret);
	send_answer(call, ans);
}

/* {"class": klass, "desc": the len bytes of desc (a NUL among them too)}; NULL if out
 * of memory (never one without its class or desc). */
static struct json_object *error_object_len(const char *klass, const char *desc, size_t len)
{
	struct json_object *err = json_object_new_object();

	if (!jput(err, "class", json_object_new_string(klass)) ||
	    !jput(err, "desc", json_object_new_string_len(desc, (int)len))) {
		json_object_put(err);
		return NULL;
	}
	return err;
}

static struct json_object *error_object(const char *klass, const char *desc)
{
	return error_object_len(klass, desc, strlen(desc));
}

/* A text cut to its buffer may end in half a UTF-8 character (a long command name or
 * member echoed back): drop that half, or the answer is not valid UTF-8 and a QGA
 * host's parser rejects it whole. */
static void utf8_cut(char *s, int len, size_t size)
{
	size_t end, i, cont = 0;
	unsigned char lead;

	if (len < 0 || (size_t)len < size)
		return;
	end = i = size - 1;
	while (i > 0 && cont < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--, cont++;
	if (i == 0)
		return;
	lead = (unsigned char)s[i - 1];
	if ((lead >= 0xc0 && cont < 1) || (lead >= 0xe0 && cont < 2) || (lead >= 0xf0 && cont < 3))
		end = i - 1;
	s[end] = '\0';
}

static void verror(struct cmd_call *call, const char *klass, struct json_object *extra,
		   const char *fmt, va_list ap)
{
	char desc[1024];
	struct json_object *ans = json_object_new_object(), *err;
	utf8_cut(desc, vsnprintf(desc, sizeof(desc), fmt, ap), sizeof(desc));
	err = error_object(klass, desc);
	if (!ans || !err) {
		json_object_put(ans);
		json_object_put(err);
		json_object_put(extra);
		send_answer(call, NULL);
		return;
	}
	if (extra) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(err, k, json_object_get(v));
		json_object_put(extra);
	}
	json_object_object_add(ans, "error", err);
	send_answer(call, ans);
}

void cmd_error(struct cmd_call *call, const char *klass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(call, klass, NULL, fmt, ap);
	va_end(ap);
}

void cmd_error_with(struct cmd_call *call, const char *klass, struct json_object *extra,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(call, klass, extra, fmt, ap);
	va_end(ap);
}

void cmd_send_error(struct cmd_session *s, const char *klass, const char *desc)
{
	struct json_object *ans = json_object_new_object(), *err = error_object(klass, desc);
	if (ans && err) {
		json_object_object_add(ans, "error", err);
		err = NULL;
		if (s->conn)
			jsonconn_send(s->conn, ans, false);
	} else if (s->conn) {
		jsonconn_free(s->conn); /* out of memory: as send_answer */
	}
	json_object_put(err);
	json_object_put(ans);
}

/* A command name with a NUL in it (QGA; the control socket refuses NULs before): not
 * the name before the NUL but no command at all, named whole as qemu-ga 7.2 does
 * ("The command guest-ping\u0000junk has not been found"). */
static void not_found_nul(struct cmd_call *call, struct json_object *exec)
{
	static const char pre[] = "The command ", post[] = " has not been found";
	size_t len = (size_t)json_object_get_string_len(exec);
	struct json_object *ans = json_object_new_object(), *err;
	char *desc = len < 4096 ? malloc(sizeof(pre) + len + sizeof(post)) : NULL;

	if (desc) {
		memcpy(desc, pre, sizeof(pre) - 1);
		memcpy(desc + sizeof(pre) - 1, json_object_get_string(exec), len);
		memcpy(desc + sizeof(pre) - 1 + len, post, sizeof(post));
		err = error_object_len("CommandNotFound", desc,
				       len + sizeof(pre) - 1 + sizeof(post) - 1);
	} else {
		err = error_object("CommandNotFound", "The command has not been found");
	}
	free(desc);
	if (!jput(ans, "error", err)) {
		json_object_put(ans);
		ans = NULL; /* no answer rather than one without its class or desc */
	}
	send_answer(call, ans);
}

/* The request's members, checked as qemu's qmp_dispatch() does (the texts are
 * qemu-ga's): NULL if fine, else why not. */
static const char *check_request(struct json_object *req, struct json_object **exec,
				 char *why, size_t len)
{
	*exec = NULL;
	json_object_object_foreach(req, key, val) {
		if (!strcmp(key, "execute")) {
			if (!json_object_is_type(val, json_type_string))
				return "QMP input member 'execute' must be a string";
			*exec = val;
		} else if (!strcmp(key, "arguments")) {
			if (!json_object_is_type(val, json_type_object))
				return "QMP input member 'arguments' must be an object";
		} else if (strcmp(key, "id") != 0) {
			utf8_cut(why, snprintf(why, len, "QMP input member '%s' is unexpected", key),
				 len);
			return why;
		}
	}
	if (!*exec)
		return "QMP input lacks member 'execute'";
	return NULL;
}

void cmd_dispatch(struct cmd_session *s, struct json_object *req)
{
	struct json_object *exec = NULL, *args = NULL, *id = NULL;
	const struct cmd_def *def;
	struct cmd_call *call;
	const char *klass, *bad;
	char desc[256];

	if (!json_object_is_type(req, json_type_object)) {
		cmd_send_error(s, "GenericError", "QMP input must be a JSON object");
		return;
	}
	call = calloc(1, sizeof(*call));
	if (!call) {
		cmd_send_error(s, "GenericError", "out of memory");
		return;
	}
	call->s = s;
	s->pending++;
	/* From here on every answer, errors included, echoes the id (as qemu-ga 7.2). */
	if (json_object_object_get_ex(req, "id", &id)) {
		call->has_id = true; /* "id": null is echoed too */
		call->id = json_object_get(id);
	}
	bad = check_request(req, &exec, desc, sizeof(desc));
	if (bad) {
		cmd_error(call, "GenericError", "%s", bad);
		return;
	}
	if (strlen(json_object_get_string(exec)) != (size_t)json_object_get_string_len(exec)) {
		not_found_nul(call, exec);
		return;
	}
	if (str_copy(call->name, json_object_get_string(exec), sizeof(call->name)) >=
	    sizeof(call->name)) {
		cmd_error(call, "CommandNotFound", "The command %s has not been found",
			  json_object_get_string(exec));
		return;
	}
	def = cmd_lookup(call->name);
	if ((!def || !(def->flags & s->transport)) && s->lookup)
		def = s->lookup(s, call->name);
	if (!def || !(def->flags & s->transport)) {
		cmd_error(call, "CommandNotFound", "The command %s has not been found", call->name);
		return;
	}
	if (json_object_object_get_ex(req, "arguments", &args))
		call->args = json_object_get(args);
	if (s->gate && !s->gate(s, def->name, def->flags, &klass, desc, sizeof(desc))) {
		cmd_error(call, klass, "%s", desc);
		return;
	}
	if ((def->flags & CMD_ROOT) && !s->root) {
		cmd_error(call, "PermissionDenied", "permission denied: %s needs root (you are uid %u)",
			  def->name, (unsigned)s->uid);
		return;
	}
	log_debug("%s: %s (uid %u)", s->caller->name, def->name, (unsigned)s->uid);
	def->fn(call);
}

void cmd_session_closed(struct cmd_session *s)
{
	s->conn = NULL;
	s->closed = true;
	session_unref(s);
}

void cmd_session_get(struct cmd_session *s)
{
	s->pending++;
}

void cmd_session_put(struct cmd_session *s)
{
	s->pending--;
	session_unref(s);
}

/* ------------------------------------------------------------ arguments */

/* "key": null is present (json-c gives it as a NULL object): a type error, never
 * the same as leaving the key out (freeze-list without mountpoints freezes all). */
static bool arg(struct cmd_call *call, const char *key, struct json_object **v)
{
	*v = NULL;
	return call->args && json_object_object_get_ex(call->args, key, v);
}

int cmd_arg_int64(struct cmd_call *call, const char *key, bool required, int64_t *out,
		  bool *present)
{
	struct json_object *v;
	if (present)
		*present = false;
	if (!arg(call, key, &v)) {
		if (!required)
			return 0;
		cmd_error(call, "GenericError", "Parameter '%s' is missing", key);
		return -1;
	}
	/* json-c clamps big numbers to the uint64 range: above INT64_MAX is not an int64. */
	if (!json_object_is_type(v, json_type_int) ||
	    (json_object_get_int64(v) == INT64_MAX && json_object_get_uint64(v) > INT64_MAX)) {
		cmd_error(call, "GenericError", "Invalid parameter type for '%s', expected: integer",
			  key);
		return -1;
	}
	*out = json_object_get_int64(v);
	if (present)
		*present = true;
	return 0;
}

int cmd_args_only(struct cmd_call *call, const char *const *known)
{
	if (!call->args)
		return 0;
	json_object_object_foreach(call->args, key, val) {
		size_t i;
		(void)val;
		for (i = 0; known && known[i]; i++)
			if (!strcmp(key, known[i]))
				break;
		if (!known || !known[i]) {
			cmd_error(call, "GenericError", "Parameter '%s' is unexpected", key);
			return -1;
		}
	}
	return 0;
}

int cmd_arg_bool(struct cmd_call *call, const char *key, bool *out)
{
	struct json_object *v;
	if (!arg(call, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		cmd_error(call, "GenericError", "Invalid parameter type for '%s', expected: boolean",
			  key);
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

int cmd_arg_seconds(struct cmd_call *call, const char *key, uint64_t *ms)
{
	struct json_object *v;
	double d;
	if (!arg(call, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
		cmd_error(call, "GenericError", "Invalid parameter type for '%s', expected: number",
			  key);
		return -1;
	}
	d = json_object_get_double(v);
	if (!isfinite(d) || d <= 0 || d > 86400) {
		cmd_error(call, "GenericError", "Parameter '%s' must be between 0 and 86400 seconds",
			  key);
		return -1;
	}
	*ms = round_u64(d * 1000.0);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

void cmd_free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int cmd_arg_strings(struct cmd_call *call, const char *key, char ***out, size_t *n, bool *set)
{
	struct json_object *v;
	size_t len, got = 0;
	char **list;

	*out = NULL;
	*n = 0;
	*set = false;
	if (!arg(call, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_array)) {
		cmd_error(call, "GenericError", "Invalid parameter type for '%s', expected: array",
			  key);
		return -1;
	}
	len = json_object_array_length(v);
	list = calloc(len ? len : 1, sizeof(*list));
	if (!list) {
		cmd_error(call, "GenericError", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string)) {
			cmd_free_strings(list, got);
			cmd_error(call, "GenericError",
				  "Invalid parameter type for '%s[%zu]', expected: string", key, i);
			return -1;
		}
		/* A string with a NUL in it names no path: left out, not cut at the NUL
		 * (QGA; the control socket refuses NULs before). qemu-ga too finds no
		 * such mountpoint. */
		if (strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e))
			continue;
		list[got] = strdup(json_object_get_string(e));
		if (!list[got]) {
			cmd_free_strings(list, got);
			cmd_error(call, "GenericError", "out of memory");
			return -1;
		}
		got++;
	}
	*out = list;
	*n = got;
	*set = true;
	return 0;
}
