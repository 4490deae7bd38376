// SPDX-License-Identifier: MIT
/* The JSON command layer, shared by every JSON transport (the control socket of
 * quiescectl and the QEMU guest agent channel): QMP-style requests
 *   {"execute": NAME, "arguments": {...}, "id": ANY}
 * answered with {"return": ...} or {"error": {"class": ..., "desc": ...}}, with the
 * id echoed. Commands live in tables (cmd_control.c for quiesce's own, the guest-*
 * ones beside the QGA transport); each says which transports serve it, whether it
 * needs root, and whether it may run while frozen. Handlers may answer later (a
 * freeze answers when the engine is done); if the client has gone by then, the
 * answer is dropped. */
#ifndef QUIESCE_CMD_H
#define QUIESCE_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

struct json_object;
struct jsonconn;
struct host_ctx;
struct txn_caller;

#define CMD_ROOT      0x01  /* only uid 0 (SO_PEERCRED) may run it */
#define CMD_FROZEN_OK 0x02  /* QGA: still served while frozen (qemu-ga's allow-list) */
#define CMD_QGA       0x04  /* served on the QGA transport */
#define CMD_CONTROL   0x08  /* served on the control socket */

struct cmd_session {
	struct jsonconn *conn;   /* NULL once the client has gone */
	struct host_ctx *ctx;    /* the loop, the engine, the transports (host.h) */
	unsigned transport;      /* CMD_QGA or CMD_CONTROL */
	const struct txn_caller *caller; /* who asks the engine (engine/txn.h); its name
					  * for logs */
	uid_t uid;
	pid_t pid;
	bool root;
	unsigned pending;        /* calls not answered yet */
	bool closed;
	/* Called when the client has gone and no call is pending (free the session). */
	void (*release)(struct cmd_session *s);
	/* May be NULL. Called when the last pending call has been answered and the
	 * client is still there (a transport that answers in order sends the next). */
	void (*idle)(struct cmd_session *s);
	/* Transport hooks, may be NULL. gate: refuse a command (e.g. QGA while frozen);
	 * returns false and fills klass/desc to refuse. */
	bool (*gate)(struct cmd_session *s, const char *name, unsigned flags, const char **klass,
		     char *desc, size_t desclen);
	/* May be NULL. A command the tables do not have (the QGA pass-through, qgafwd.c):
	 * its definition, or NULL for CommandNotFound. */
	const struct cmd_def *(*lookup)(struct cmd_session *s, const char *name);
	/* May be NULL. guest-info: add to its answer (more supported_commands); -1 when
	 * out of memory (the answer is then an error, never a list with commands missing). */
	int (*info_extra)(struct cmd_session *s, struct json_object *ret);
};

struct cmd_call {
	struct cmd_session *s;
	struct json_object *id;    /* echoed in the answer (may be NULL) */
	bool has_id;               /* the request had an "id", maybe null: echo it */
	struct json_object *args;  /* "arguments", NULL if absent */
	char name[64];
	bool ff_prefix;            /* answer preceded by 0xFF (guest-sync-delimited) */
};

typedef void (*cmd_fn)(struct cmd_call *call);

struct cmd_def {
	const char *name;
	cmd_fn fn;
	unsigned flags;
};

int cmd_register(const struct cmd_def *defs, size_t n);
const struct cmd_def *cmd_lookup(const char *name);
/* All registered commands, for guest-info. */
const struct cmd_def *cmd_table(size_t *n);
/* One of guest-info's supported_commands: {"enabled", "name", "success-response"}; NULL
 * if out of memory (cmd_guest.c). */
struct json_object *cmd_info_entry(const char *name, bool enabled, bool success_response);

/* Handle one request value (borrowed). */
void cmd_dispatch(struct cmd_session *s, struct json_object *req);
/* Answer a call; both consume ret and free call. */
void cmd_return(struct cmd_call *call, struct json_object *ret);
void cmd_error(struct cmd_call *call, const char *klass, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The error with extra members (e.g. a "report"); consumes extra. */
void cmd_error_with(struct cmd_call *call, const char *klass, struct json_object *extra,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answer a call with text that is already a whole JSON answer (relayed from the
 * qemu-ga backend, id included); len 0: no answer at all (guest-shutdown). */
void cmd_return_raw(struct cmd_call *call, const char *text, size_t len);
/* Send an error that answers no call (e.g. a JSON parse error). */
void cmd_send_error(struct cmd_session *s, const char *klass, const char *desc);

/* The transport's connection closed. */
void cmd_session_closed(struct cmd_session *s);
/* Keep s from being released (counts as a pending call, without idle) while the
 * transport works on it; cmd_session_put may release it. */
void cmd_session_get(struct cmd_session *s);
void cmd_session_put(struct cmd_session *s);

/* Argument helpers: return -1 and answer the call with a GenericError on misuse. */
int cmd_arg_bool(struct cmd_call *call, const char *key, bool *out);
int cmd_arg_seconds(struct cmd_call *call, const char *key, uint64_t *ms);
/* A list of strings; *v is allocated (free with cmd_free_strings). *set: present. */
int cmd_arg_strings(struct cmd_call *call, const char *key, char ***v, size_t *n, bool *set);
/* An int64 (qemu's 'int'); required: missing is an error. *present may be NULL. */
int cmd_arg_int64(struct cmd_call *call, const char *key, bool required, int64_t *out,
		  bool *present);
/* Refuse arguments not in known (NULL-terminated; NULL: none allowed), as QAPI does
 * after the declared ones: "Parameter 'x' is unexpected". */
int cmd_args_only(struct cmd_call *call, const char *const *known);
void cmd_free_strings(char **v, size_t n);

#endif
