// SPDX-License-Identifier: MIT
/* Forwarding to the qemu-ga backend (see qgafwd.h). */
#include "host/qgafwd.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/jsonput.h"
#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/host.h"
#include "host/cmd.h"
#include "host/qga.h"
#include "host/qgaback.h"
#include "host/qgaproto.h"

/* A command of the client's own (a thaw, a sync) behind its forwarded request: the
 * most that request may still take. Long enough for a slow guest-get-fsinfo that a
 * host pipelined, short enough that a thaw is never held. */
#define HURRY_MS 1000
#define BACKEND_DIR "qga-backend"
/* Served by quiesced but left to the backend too: greeting it needs them. */
static const char *const keep_enabled[] = { "guest-sync", "guest-sync-delimited", "guest-info",
					    "guest-ping", NULL };

struct fwd_req {
	struct cmd_call *call;          /* NULL once answered */
	char name[64];
	char *line;
	size_t len;
	bool no_reply;                  /* guest-shutdown, guest-suspend-* */
	bool sent;
	int64_t follow_id;              /* no_reply: our guest-sync after it */
	uint64_t deadline;
	struct fwd_req *next;
};

struct qgafwd {
	struct host_ctx *ctx;
	struct qgaback *b;              /* NULL: no backend */
	char *program;
	char why_none[160];             /* without a backend: why */
	uint64_t timeout_ms;
	struct fwd_req *head, *tail;
	struct loop_timer timer;
	struct cmd_def scratch;         /* lookup before the backend's list is known */
	struct cmd_def *defs;           /* the backend's commands, names in its info */
	size_t n_defs;
	bool closing;
	unsigned long forwarded, timeouts;
};

static void do_forward(struct cmd_call *call);
static void pump(struct qgafwd *f);

static bool served_here(const char *name)
{
	const struct cmd_def *d = cmd_lookup(name);
	return d && (d->flags & CMD_QGA);
}

/* ------------------------------------------------------------ the queue */

static struct fwd_req *pop(struct qgafwd *f)
{
	struct fwd_req *r = f->head;
	if (r) {
		f->head = r->next;
		if (!f->head)
			f->tail = NULL;
	}
	return r;
}

static void unlink_req(struct qgafwd *f, struct fwd_req *r)
{
	struct fwd_req **p = &f->head, *prev = NULL;
	while (*p && *p != r) {
		prev = *p;
		p = &(*p)->next;
	}
	if (!*p)
		return;
	*p = r->next;
	if (f->tail == r)
		f->tail = prev;
}

static void req_free(struct fwd_req *r)
{
	free(r->line);
	free(r);
}

/* Answer r's call, if still unanswered: with an error, or (a command that has no
 * answer by design) with nothing. r is already off the queue. */
static void finish(struct fwd_req *r, const char *klass, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finish(struct fwd_req *r, const char *klass, const char *fmt, ...)
{
	struct cmd_call *call = r->call;
	char desc[512];
	va_list ap;

	r->call = NULL;
	if (!call)
		return;
	if (r->no_reply) {
		cmd_return_raw(call, NULL, 0);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	cmd_error(call, klass, "%s", desc);
}

static void arm(struct qgafwd *f);

static void on_timer(struct loop *loop, void *arg)
{
	struct qgafwd *f = arg;
	uint64_t now = now_ms();
	struct fwd_req *r = f->head;
	char why[160];
	(void)loop;

	if (r && r->sent && now >= r->deadline) {
		pop(f);
		f->timeouts++;
		snprintf(why, sizeof(why), "did not answer %s within %.1f s", r->name,
			 (double)(now - r->deadline + f->timeout_ms) / 1000);
		log_warnx("qga backend: qemu-ga %s: restarting it", why);
		/* Restart first: what the answer lets the client send next must not go
		 * to the hung one. */
		qgaback_restart(f->b, why);
		finish(r, "GenericError", "%s: the guest agent backend (qemu-ga) %s; it was "
		       "restarted, and its state (open guest-file handles, guest-exec results) is lost",
		       r->name, why);
		req_free(r);
	}
	/* Requests that never got to the backend: it is down or kept busy. */
	for (struct fwd_req *q = f->head, *next; q; q = next) {
		next = q->next;
		if (q->sent || now < q->deadline)
			continue;
		unlink_req(f, q);
		finish(q, "GenericError", "%s: not run: the guest agent backend (qemu-ga) %s", q->name,
		       qgaback_ready(f->b) ? "was busy with an earlier command for too long"
					   : "is not available (it is being restarted)");
		req_free(q);
		next = f->head; /* the answer may have changed the queue */
	}
	pump(f);
	arm(f);
}

static void arm(struct qgafwd *f)
{
	uint64_t first = UINT64_MAX, now = now_ms();
	for (struct fwd_req *r = f->head; r; r = r->next)
		if (r->deadline < first)
			first = r->deadline;
	if (first == UINT64_MAX)
		loop_timer_disarm(f->ctx->loop, &f->timer);
	else
		loop_timer_arm(f->ctx->loop, &f->timer, first > now ? first - now : 0, on_timer, f);
}

/* Send the next request if the backend is free. */
static void pump(struct qgafwd *f)
{
	struct fwd_req *r;
	while ((r = f->head) && !r->sent && qgaback_ready(f->b)) {
		/* Queued before a freeze began: qemu-ga would read it frozen. */
		if (guest_agent_frozen(f->ctx->engine)) {
			pop(f);
			r->no_reply = false; /* qemu-ga answers a disabled command, whichever */
			finish(r, "CommandNotFound",
			       "Command %s has been disabled: the agent is in frozen state", r->name);
			req_free(r);
			continue;
		}
		if (!r->no_reply) {
			/* Decided now, not when it was queued: before qemu-ga's first greeting
			 * nobody knew that guest-shutdown has no answer. */
			const struct qgaproto_cmd *c = qgaproto_info_find(qgaback_info(f->b), r->name);
			r->no_reply = c && !c->success_response;
		}
		if (qgaback_send(f->b, r->line, r->len) < 0)
			break; /* it went down: on_down */
		if (r->no_reply) {
			char buf[96];
			int n;
			r->follow_id = qgaback_next_id(f->b);
			n = snprintf(buf, sizeof(buf),
				     "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":%lld}}\n",
				     (long long)r->follow_id);
			if (qgaback_send(f->b, buf, (size_t)n) < 0)
				break;
		}
		r->sent = true;
		log_debug("qga backend: %s forwarded", r->name);
	}
	arm(f);
}

/* ------------------------------------------------------------ backend events */

static void on_ready(void *arg)
{
	struct qgafwd *f = arg;
	const struct qgaproto_info *info = qgaback_info(f->b);
	struct cmd_def *defs = calloc(info->n ? info->n : 1, sizeof(*defs));

	free(f->defs);
	f->defs = defs;
	f->n_defs = 0;
	for (size_t i = 0; defs && i < info->n; i++) {
		if (served_here(info->cmds[i].name))
			continue;
		defs[f->n_defs++] = (struct cmd_def){ info->cmds[i].name, do_forward, CMD_QGA };
	}
	pump(f);
}

static void on_line(void *arg, const char *line, size_t len, bool ff)
{
	struct qgafwd *f = arg;
	struct fwd_req *r = f->head;
	struct cmd_call *call;

	if (!r || !r->sent) {
		log_debug("qga backend: an answer to nothing, dropped: %.*s", len > 200 ? 200 : (int)len,
			  line);
		return;
	}
	if (r->no_reply) {
		if (!ff && qgaproto_is_sync_reply(line, len, r->follow_id)) {
			pop(f);
			finish(r, NULL, "%s", ""); /* by design, no answer */
			req_free(r);
			pump(f);
			return;
		}
		/* Before our sync's answer: the command's own error, the host's. */
		call = r->call;
		r->call = NULL;
		if (call)
			cmd_return_raw(call, line, len);
		return;
	}
	pop(f);
	call = r->call;
	r->call = NULL;
	if (qgaproto_classify(line, len, NULL) == QGAPROTO_BAD || ff) {
		log_warnx("qga backend: qemu-ga answered %s with something that is not an answer",
			  r->name);
		qgaback_restart(f->b, "gave an answer that is not JSON");
		if (call)
			cmd_error(call, "GenericError", "%s: the guest agent backend (qemu-ga) gave "
				  "no valid answer; it was restarted, and its state (open guest-file "
				  "handles, guest-exec results) is lost", r->name);
		req_free(r);
		return;
	}
	if (call)
		cmd_return_raw(call, line, len);
	req_free(r);
	pump(f);
}

static void on_down(void *arg, const char *why)
{
	struct qgafwd *f = arg;
	struct fwd_req *r = f->head;

	if (!r || !r->sent)
		return;
	/* A no-reply command (guest-shutdown) may well end the backend: no error then. */
	pop(f);
	finish(r, "GenericError", "%s: the guest agent backend (qemu-ga) %s before it answered; "
	       "it is restarted, and its state (open guest-file handles, guest-exec results) is "
	       "lost", r->name, why);
	req_free(r);
	arm(f);
}

static const struct qgaback_ops back_ops = { on_ready, on_line, on_down };

/* ------------------------------------------------------------ commands */

static void do_forward(struct cmd_call *call)
{
	struct qgafwd *f = call->s->ctx->qgafwd;
	const struct qgaproto_cmd *c = qgaproto_info_find(qgaback_info(f->b), call->name);
	struct fwd_req *r;

	if (f->closing) {
		cmd_error(call, "GenericError", "%s: quiesced is stopping", call->name);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r)
		r->line = qgaproto_request(call->name, call->args, call->id, call->has_id, &r->len);
	if (!r || !r->line) {
		free(r);
		cmd_error(call, "GenericError", "out of memory");
		return;
	}
	r->call = call;
	str_copy(r->name, call->name, sizeof(r->name));
	r->no_reply = c && !c->success_response;
	r->deadline = now_ms() + f->timeout_ms;
	if (f->tail)
		f->tail->next = r;
	else
		f->head = r;
	f->tail = r;
	f->forwarded++;
	pump(f);
}

const struct cmd_def *qgafwd_lookup(struct cmd_session *s, const char *name)
{
	struct qgafwd *f = s->ctx->qgafwd;
	const struct qgaproto_info *info;

	if (!f || !f->b)
		return NULL;
	info = qgaback_info(f->b);
	if (!info->n) {
		/* Not greeted yet: qemu-ga itself answers a name it does not know. */
		f->scratch = (struct cmd_def){ name, do_forward, CMD_QGA };
		return &f->scratch;
	}
	for (size_t i = 0; i < f->n_defs; i++)
		if (!strcmp(f->defs[i].name, name))
			return &f->defs[i];
	return NULL;
}

int qgafwd_info(struct cmd_session *s, struct json_object *ret)
{
	struct qgafwd *f = s->ctx->qgafwd;
	const struct qgaproto_info *info;
	struct json_object *list;

	if (!f || !f->b || !json_object_object_get_ex(ret, "supported_commands", &list))
		return 0;
	info = qgaback_info(f->b);
	/* Hosts that go by the version read qemu-ga's numbers: the commands are its. */
	if (info->version && !jput(ret, "version", json_object_new_string(info->version)))
		return -1;
	for (size_t i = 0; i < info->n; i++) {
		const struct qgaproto_cmd *c = &info->cmds[i];
		const char *klass;
		char desc[160];
		bool enabled = c->enabled;

		if (served_here(c->name))
			continue;
		if (enabled && s->gate)
			enabled = s->gate(s, c->name, CMD_QGA, &klass, desc, sizeof(desc));
		if (!jappend(list, cmd_info_entry(c->name, enabled, c->success_response)))
			return -1;
	}
	return 0;
}

void qgafwd_queued(struct cmd_session *s, struct json_object *req)
{
	struct qgafwd *f = s->ctx->qgafwd;
	struct json_object *exec;
	uint64_t by;

	if (!f || !f->b || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "execute", &exec) ||
	    !json_object_is_type(exec, json_type_string) ||
	    !served_here(json_object_get_string(exec)))
		return;
	by = now_ms() + HURRY_MS;
	for (struct fwd_req *r = f->head; r; r = r->next) {
		if (r->call && r->call->s == s && r->deadline > by) {
			log_debug("qga backend: %s waits behind %s: giving it %d ms more",
				  json_object_get_string(exec), r->call->name, HURRY_MS);
			r->deadline = by;
			arm(f);
		}
	}
}

/* ------------------------------------------------------------ life */

/* -b: what quiesced serves itself, but for what greeting the backend needs. */
static char *blocked_list(void)
{
	size_t n, len = 0;
	const struct cmd_def *defs = cmd_table(&n);
	char *s = calloc(1, n * (QGAPROTO_MAX_NAME + 1) + 1);
	for (size_t i = 0; s && i < n; i++) {
		bool keep = !(defs[i].flags & CMD_QGA);
		for (size_t k = 0; keep_enabled[k] && !keep; k++)
			keep = !strcmp(defs[i].name, keep_enabled[k]);
		if (keep)
			continue;
		len += (size_t)sprintf(s + len, "%s%s", len ? "," : "", defs[i].name);
	}
	return s;
}

struct qgafwd *qgafwd_new(struct host_ctx *ctx, const struct qgafwd_config *cfg)
{
	struct qgafwd *f = calloc(1, sizeof(*f));
	char *dir = NULL, *blocked = NULL;

	if (!f)
		return NULL;
	f->ctx = ctx;
	f->timeout_ms = cfg->timeout_ms;
	f->program = strdup(cfg->program ? cfg->program : QGA_BACKEND_DEFAULT);
	if (!f->program) {
		free(f);
		return NULL;
	}
	if (cfg->disabled) {
		str_copy(f->why_none, "disabled (--no-qga-backend)", sizeof(f->why_none));
	} else if (access(f->program, X_OK) < 0) {
		snprintf(f->why_none, sizeof(f->why_none), "%s not found (%s)",
			 f->program, cfg->program ? "--qga-backend"
						     : "Debian package qemu-guest-agent");
	} else {
		if (asprintf(&dir, "%s/%s", cfg->run_dir, BACKEND_DIR) < 0)
			dir = NULL;
		blocked = blocked_list();
		if (dir && blocked) {
			struct qgaback_config bc = { f->program, dir, blocked };
			f->b = qgaback_new(ctx->loop, &bc, &back_ops, f);
		}
		if (!f->b)
			str_copy(f->why_none, "could not be set up", sizeof(f->why_none));
		free(dir);
		free(blocked);
	}
	if (!f->b)
		log_notice("qga: no qemu-ga backend: %s; serving the fsfreeze commands alone "
			   "(every other guest agent command: CommandNotFound)", f->why_none);
	return f;
}

void qgafwd_start(struct qgafwd *f)
{
	if (f && f->b)
		qgaback_start(f->b);
}

void qgafwd_free(struct qgafwd *f)
{
	struct fwd_req *r;
	if (!f)
		return;
	f->closing = true;
	loop_timer_disarm(f->ctx->loop, &f->timer);
	while ((r = pop(f))) {
		finish(r, "GenericError", "%s: quiesced is stopping", r->name);
		req_free(r);
	}
	qgaback_free(f->b);
	free(f->defs);
	free(f->program);
	free(f);
}

int qgafwd_status(const struct qgafwd *f, struct json_object *out)
{
	struct json_object *o = json_object_new_object();
	bool ok = jput(o, "program", json_object_new_string(f->program)) &&
		(f->b ? qgaback_status(f->b, o) == 0
		      : jput(o, "state", json_object_new_string("none")) &&
			jput(o, "reason", json_object_new_string(f->why_none))) &&
		jput(o, "timeout_ms", json_object_new_int64((int64_t)f->timeout_ms)) &&
		jput(o, "forwarded", json_object_new_int64((int64_t)f->forwarded)) &&
		jput(o, "timeouts", json_object_new_int64((int64_t)f->timeouts));

	if (!ok) {
		json_object_put(o);
		return -1;
	}
	return jput(out, "qga_backend", o) ? 0 : -1;
}
