// SPDX-License-Identifier: MIT
/* The transaction engine's entry points (engine/txn.h): the stages it is given,
 * the requests it takes, whose the transaction under way is, and what ends a
 * freeze from outside (the thaw guardian, the owner's session, shutdown). The
 * rest is in sequence.c, lease.c, answer.c and report.c (engine_int.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "engine/engine_int.h"

/* The engine's own reasons to thaw, and a request without a caller: callers too, so
 * that every transaction has one, and never the same as a transport's. */
static const struct txn_caller nobody = { "?" };
static const struct txn_caller by_guardian_lost = { "guardian lost" };
static const struct txn_caller by_guardian_deadline = { "guardian deadline" };
static const struct txn_caller by_client_gone = { "client gone" };
static const struct txn_caller by_shutdown = { "shutdown" };

const char *engine_state_name(enum txn_state s)
{
	static const char *const n[] = { "idle", "checking", "freezing", "frozen", "thawing" };
	return (unsigned)s < ARRAY_SIZE(n) ? n[s] : "?";
}

const char *engine_op_name(enum txn_op op)
{
	static const char *const n[] = { "check", "freeze", "thaw" };
	return (unsigned)op < ARRAY_SIZE(n) ? n[op] : "?";
}

const char *engine_err_name(enum txn_err e)
{
	static const char *const n[] = { "ok", "busy", "already-frozen", "veto", "filesystem",
					 "lease-expired", "aborted", "internal" };
	return (unsigned)e < ARRAY_SIZE(n) ? n[e] : "?";
}

struct engine *engine_new(struct loop *loop, const struct engine_config *cfg)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->loop = loop;
	e->cfg = *cfg;
	e->running = -1;
	e->caller = &nobody;
	return e;
}

static void free_request(struct engine *e)
{
	for (size_t i = 0; i < e->req.n_mountpoints; i++)
		free(e->req_mounts[i]);
	free(e->req_mounts);
	e->req_mounts = NULL;
	memset(&e->req, 0, sizeof(e->req));
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	loop_timer_disarm(e->loop, &e->watchdog);
	loop_timer_disarm(e->loop, &e->lease);
	free_request(e);
	json_object_put(e->report);
	json_object_put(e->last);
	free(e);
}

int engine_add_stage(struct engine *e, const struct stage_ops *ops, void *self)
{
	if (e->n_stages == ENGINE_MAX_STAGES) {
		errno = ENOSPC;
		return -1;
	}
	e->stages[e->n_stages].ops = ops;
	e->stages[e->n_stages].self = self;
	e->n_stages++;
	return 0;
}

enum txn_state engine_state(const struct engine *e)
{
	return e->state;
}

const char *engine_origin(const struct engine *e)
{
	return e->state == TXN_IDLE ? NULL : e->caller->name;
}

enum txn_whose engine_whose(const struct engine *e, const struct txn_caller *c)
{
	if (e->state == TXN_IDLE)
		return TXN_WHOSE_NONE;
	return c && c == e->caller ? TXN_WHOSE_YOURS : TXN_WHOSE_OTHER;
}

void engine_set_state(struct engine *e, enum txn_state s)
{
	if (e->state == s)
		return;
	log_debug("transaction: %s -> %s", engine_state_name(e->state), engine_state_name(s));
	e->state = s;
	if (e->cfg.on_state)
		e->cfg.on_state(e->cfg.state_arg, s,
				s == TXN_FREEZING ? (e->req.lease_ms ? e->req.lease_ms : e->cfg.lease_ms)
						  : e->lease_ms);
}

int engine_copy_request(struct engine *e, const struct txn_request *req)
{
	free_request(e);
	e->req = *req;
	e->caller = req->caller ? req->caller : &nobody;
	e->req.caller = e->caller;
	e->req.mountpoints = NULL;
	e->req.n_mountpoints = 0;
	if (req->n_mountpoints) {
		e->req_mounts = calloc(req->n_mountpoints, sizeof(char *));
		if (!e->req_mounts)
			return -1;
		for (size_t i = 0; i < req->n_mountpoints; i++) {
			e->req_mounts[i] = strdup(req->mountpoints[i]);
			if (!e->req_mounts[i])
				return -1;
			e->req.n_mountpoints = i + 1;
		}
		e->req.mountpoints = e->req_mounts;
	}
	return 0;
}

void engine_became_idle(struct engine *e)
{
	void (*fn)(void *) = e->shutdown_done;
	engine_set_state(e, TXN_IDLE);
	e->owner = NULL;
	if (fn) {
		e->shutdown_done = NULL;
		fn(e->shutdown_arg);
	}
}

/* ------------------------------------------------------------ requests */

/* A THAW or the owner's end overtakes the FREEZE: stop the running stage; the
 * sequence then undoes what froze. */
static void abort_freeze(struct engine *e)
{
	e->abort_requested = true;
	engine_cancel_running(e);
}

static void submit_thaw(struct engine *e, const struct txn_request *req, txn_done_fn done,
			void *arg)
{
	switch (e->state) {
	case TXN_IDLE:
	case TXN_CHECKING:
		if (!engine_tell_early_thaw(e, req, done, arg))
			engine_reply(done, arg, TXN_THAW, TXN_OK, 0, NULL, "%s", "");
		return;
	case TXN_FREEZING:
		/* Thaw overtakes the freeze: stop it, undo what froze, answer both. */
		if (!engine_add_waiter(e, done, arg)) {
			engine_reply(done, arg, TXN_THAW, TXN_E_BUSY, 0, NULL, "too many waiting thaws");
			return;
		}
		log_notice("%s: thaw requested while freezing: cancelling the freeze",
			   (req->caller ? req->caller : &nobody)->name);
		abort_freeze(e);
		return;
	case TXN_THAWING:
		if (!engine_add_waiter(e, done, arg))
			engine_reply(done, arg, TXN_THAW, TXN_E_BUSY, 0, NULL, "too many waiting thaws");
		return;
	case TXN_FROZEN:
		/* Anyone's THAW ends the freeze (a caller that must not asks whose first). */
		e->lease_expired = false;
		engine_start_thaw(e, req->caller ? req->caller : &nobody, req->early_reply, done,
				  arg);
		return;
	}
}

void engine_submit(struct engine *e, const struct txn_request *req, txn_done_fn done, void *arg)
{
	if (req->op == TXN_THAW) {
		submit_thaw(e, req, done, arg);
		return;
	}
	if (e->shutdown_done) {
		engine_reply(done, arg, req->op, TXN_E_BUSY, 0, NULL, "quiesced is shutting down");
		return;
	}
	if (e->state == TXN_FROZEN && req->op == TXN_FREEZE) {
		engine_refuse(e, req, done, arg, TXN_E_FROZEN,
			      "already frozen (by %s %.1f s ago): thaw first", e->caller->name,
			      (double)(now_ms() - e->frozen_at) / 1000.0);
		return;
	}
	if (e->state != TXN_IDLE) {
		engine_refuse(e, req, done, arg, TXN_E_BUSY,
			      "busy: a transaction is under way (%s, from %s)",
			      engine_state_name(e->state), e->caller->name);
		return;
	}
	if (engine_copy_request(e, req) < 0) {
		free_request(e);
		engine_reply(done, arg, req->op, TXN_E_INTERNAL, 0, NULL, "out of memory");
		return;
	}
	e->done = done;
	e->done_arg = arg;
	e->abort_requested = false;
	for (size_t i = 0; i < e->n_stages; i++)
		e->stages[i].entered = false;
	if (req->op == TXN_FREEZE) {
		e->lease_expired = false;
		engine_set_state(e, TXN_FREEZING);
		engine_begin(e, TXN_FREEZE, 0, 1);
	} else {
		engine_set_state(e, TXN_CHECKING);
		engine_begin(e, TXN_CHECK, 0, 1);
	}
	engine_advance(e);
}

/* ------------------------------------------------------------ ended from outside */

void engine_guardian_lost(struct engine *e, bool expired)
{
	/* Writes stop being held now: the next THAW must hear of it. */
	if (e->state == TXN_FROZEN || e->state == TXN_FREEZING)
		engine_note_early_thaw(e, expired ? "the thaw guardian's deadline passed"
					       : "the thaw guardian died");
	if (e->state == TXN_FROZEN)
		engine_start_thaw(e, expired ? &by_guardian_deadline : &by_guardian_lost, false,
				  NULL, NULL);
	else if (e->state == TXN_FREEZING)
		abort_freeze(e);
}

void engine_owner_gone(struct engine *e, const void *owner)
{
	if (!owner || owner != e->req.owner)
		return;
	if (e->state == TXN_FROZEN && e->owner == owner) {
		log_notice("%s: the client holding the freeze went away: thawing", e->caller->name);
		engine_start_thaw(e, &by_client_gone, false, NULL, NULL);
	} else if (e->state == TXN_FREEZING) {
		log_notice("%s: the client went away during the freeze: cancelling it",
			   e->caller->name);
		abort_freeze(e);
	}
}

void engine_shutdown(struct engine *e, void (*done)(void *arg), void *arg)
{
	if (e->state == TXN_IDLE) {
		done(arg);
		return;
	}
	e->shutdown_done = done;
	e->shutdown_arg = arg;
	if (e->state == TXN_FROZEN) {
		log_notice("shutting down: thawing first");
		engine_start_thaw(e, &by_shutdown, false, NULL, NULL);
	} else if (e->state == TXN_FREEZING) {
		abort_freeze(e);
	}
}
