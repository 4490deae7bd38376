#include "engine/txn.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"

#define MAX_STAGES 8
#define MAX_WAITERS 16
#define MSG_LEN 512

struct stage_slot {
	const struct stage_ops *ops;
	void *self;
	bool entered;           /* its FREEZE started in this transaction: it gets THAW */
	bool ran;               /* started in this transaction: its count() is current */
	uint64_t t0;
};

struct waiter {
	txn_done_fn fn;
	void *arg;
};

struct engine {
	struct loop *loop;
	struct engine_config cfg;
	enum txn_state state;
	struct stage_slot stages[MAX_STAGES];
	size_t n_stages;

	/* The transaction under way. */
	struct txn_request req;       /* deep copy */
	char **req_mounts;
	const struct txn_caller *caller; /* whose it is (never NULL while under way) */
	txn_done_fn done;             /* the caller of the FREEZE/THAW/CHECK; NULL if internal */
	void *done_arg;
	struct waiter waiters[MAX_WAITERS]; /* THAWs that arrived while busy */
	size_t n_waiters;
	enum txn_op phase;            /* what the stages are doing now */
	int next;                     /* next stage index to run, in direction dir */
	int dir;
	int running;                  /* stage index running, -1 if none */
	bool unwinding;               /* a FREEZE failed (or is undone): thawing what froze */
	bool undo_ok;                 /* the unwinding is an undo, the FREEZE reports success */
	bool abort_requested;         /* a THAW or the owner's end overtook the FREEZE */
	bool answered;                /* done already called (THAW early_reply) */
	bool check_failed;
	enum txn_err fail_err;
	char fail_msg[MSG_LEN];
	uint64_t t0;
	struct json_object *report;   /* of the transaction under way */
	struct json_object *last;     /* of the last finished one */
	struct loop_timer watchdog;

	/* Frozen. */
	const void *owner;
	uint64_t lease_ms;
	uint64_t frozen_at;           /* monotonic ms */
	uint64_t frozen_at_wall;
	struct loop_timer lease;
	/* quiesced thawed before anyone asked (lease passed, guardian died or hit its
	 * deadline): sticky until a THAW reports it or a FREEZE starts. */
	bool lease_expired;
	uint64_t lease_expired_at_wall;
	char early_thaw[160];         /* why, for the THAW's error and status */
	const struct txn_caller *early_caller; /* whose freeze it was: only its THAW hears */

	void (*shutdown_done)(void *);
	void *shutdown_arg;
};

const char *txn_state_name(enum txn_state s)
{
	static const char *const n[] = { "idle", "checking", "freezing", "frozen", "thawing" };
	return (unsigned)s < ARRAY_SIZE(n) ? n[s] : "?";
}

const char *txn_op_name(enum txn_op op)
{
	static const char *const n[] = { "check", "freeze", "thaw" };
	return (unsigned)op < ARRAY_SIZE(n) ? n[op] : "?";
}

const char *txn_err_name(enum txn_err e)
{
	static const char *const n[] = { "ok", "busy", "already-frozen", "veto", "filesystem",
					 "lease-expired", "aborted", "internal" };
	return (unsigned)e < ARRAY_SIZE(n) ? n[e] : "?";
}

/* The engine's own reasons to thaw, and a request without a caller: callers too, so
 * that every transaction has one, and never the same as a transport's. */
static const struct txn_caller nobody = { "?" };
static const struct txn_caller by_lease = { "lease" };
static const struct txn_caller by_guardian_lost = { "guardian lost" };
static const struct txn_caller by_guardian_deadline = { "guardian deadline" };
static const struct txn_caller by_client_gone = { "client gone" };
static const struct txn_caller by_shutdown = { "shutdown" };

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
	if (e->n_stages == MAX_STAGES) {
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

static void set_state(struct engine *e, enum txn_state s)
{
	if (e->state == s)
		return;
	log_debug("transaction: %s -> %s", txn_state_name(e->state), txn_state_name(s));
	e->state = s;
	if (e->cfg.on_state)
		e->cfg.on_state(e->cfg.state_arg, s,
				s == TXN_FREEZING ? (e->req.lease_ms ? e->req.lease_ms : e->cfg.lease_ms)
						  : e->lease_ms);
}

static int copy_request(struct engine *e, const struct txn_request *req)
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

static void reply(txn_done_fn fn, void *arg, enum txn_op op, enum txn_err err, unsigned count,
		  struct json_object *report, const char *fmt, ...) LOG_PRINTF(7, 8);

static void vreply(txn_done_fn fn, void *arg, const struct txn_result *base, const char *fmt,
		   va_list ap) LOG_PRINTF(4, 0);

static void vreply(txn_done_fn fn, void *arg, const struct txn_result *base, const char *fmt,
		   va_list ap)
{
	char msg[MSG_LEN];
	struct txn_result res = *base;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	res.message = msg;
	if (fn)
		fn(arg, &res);
}

static void reply(txn_done_fn fn, void *arg, enum txn_op op, enum txn_err err, unsigned count,
		  struct json_object *report, const char *fmt, ...)
{
	struct txn_result res = { .op = op, .err = err, .count = count, .report = report };
	va_list ap;
	va_start(ap, fmt);
	vreply(fn, arg, &res, fmt, ap);
	va_end(ap);
}

static void refuse(const struct engine *e, const struct txn_request *req, txn_done_fn fn,
		   void *arg, enum txn_err err, const char *fmt, ...) LOG_PRINTF(6, 7);

/* A request refused because of what is under way or held: says whose that is. */
static void refuse(const struct engine *e, const struct txn_request *req, txn_done_fn fn,
		   void *arg, enum txn_err err, const char *fmt, ...)
{
	struct txn_result res = { .op = req->op, .err = err,
				  .whose = engine_whose(e, req->caller) };
	va_list ap;
	va_start(ap, fmt);
	vreply(fn, arg, &res, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ running stages */

static void advance(struct engine *e);
static void phase_complete(struct engine *e);

static bool stage_applies(const struct engine *e, int i)
{
	if (e->stages[i].ops->filesystems && e->req.skip_fs)
		return false;
	if (e->phase == TXN_THAW)
		return e->stages[i].entered;
	return true;
}

static void record_stage(struct engine *e, int i, bool ok, const char *msg)
{
	struct stage_slot *s = &e->stages[i];
	struct json_object *ph = json_object_new_object(), *arr;

	json_object_object_add(ph, "stage", json_object_new_string(s->ops->name));
	json_object_object_add(ph, "op", json_object_new_string(txn_op_name(e->phase)));
	json_object_object_add(ph, "ok", json_object_new_boolean(ok));
	json_object_object_add(ph, "ms", json_object_new_double(ns_to_ms(now_ns() - s->t0)));
	if (msg && *msg)
		json_object_object_add(ph, "message", json_object_new_string(msg));
	if (s->ops->report)
		s->ops->report(s->self, ph);
	if (json_object_object_get_ex(e->report, "phases", &arr))
		json_object_array_add(arr, ph);
	else
		json_object_put(ph);
}

static void stage_finished(struct engine *e, int i, bool ok, const char *msg)
{
	record_stage(e, i, ok, msg);
	if (ok)
		return;
	log_warnx("%s: %s %s failed: %s", e->caller->name, e->stages[i].ops->name, txn_op_name(e->phase),
		  msg && *msg ? msg : "(no reason given)");
	switch (e->phase) {
	case TXN_CHECK:
		if (!e->check_failed) {
			e->check_failed = true;
			e->fail_err = e->stages[i].ops->filesystems ? TXN_E_FS : TXN_E_VETO;
			str_copy(e->fail_msg, msg ? msg : "", sizeof(e->fail_msg));
		}
		break;
	case TXN_FREEZE:
		/* Stop here; thaw this stage (it may have frozen part of its members) and
		 * every earlier one, in reverse. */
		if (!e->fail_msg[0]) {
			e->fail_err = e->abort_requested ? TXN_E_ABORTED
				      : e->stages[i].ops->filesystems ? TXN_E_FS : TXN_E_VETO;
			str_copy(e->fail_msg, msg ? msg : "", sizeof(e->fail_msg));
		}
		e->unwinding = true;
		e->phase = TXN_THAW;
		e->dir = -1;
		e->next = i;
		break;
	case TXN_THAW:
		/* Never stop half way: note the first failure and go on with the rest. */
		if (!e->fail_msg[0]) {
			e->fail_err = e->stages[i].ops->filesystems ? TXN_E_FS : TXN_E_VETO;
			str_copy(e->fail_msg, msg ? msg : "", sizeof(e->fail_msg));
		}
		break;
	}
}

static void on_watchdog(struct loop *loop, void *arg)
{
	struct engine *e = arg;
	(void)loop;
	if (e->running < 0)
		return;
	log_errx("%s: the %s stage did not finish its %s in time; giving up on it", e->caller->name,
		 e->stages[e->running].ops->name, txn_op_name(e->phase));
	if (e->stages[e->running].ops->cancel)
		e->stages[e->running].ops->cancel(e->stages[e->running].self);
}

static uint64_t watchdog_ms(const struct engine *e)
{
	/* Stages bound themselves by --timeout; this is the engine's own backstop. */
	return 2 * e->cfg.timeout_ms + 5000;
}

static void maybe_answer_after_fs(struct engine *e, int i)
{
	unsigned count;
	if (e->phase != TXN_THAW || e->unwinding || e->answered || !e->req.early_reply ||
	    !e->stages[i].ops->filesystems)
		return;
	/* The host's THAW budget is short (Hyper-V: 30 s); the filesystems are thawed,
	 * so answer now and let the apps thaw after the reply. */
	count = e->stages[i].ops->count ? e->stages[i].ops->count(e->stages[i].self, TXN_THAW) : 0;
	e->answered = true;
	if (e->fail_msg[0])
		reply(e->done, e->done_arg, TXN_THAW, e->fail_err, count, e->report, "%s",
		      e->fail_msg);
	else
		reply(e->done, e->done_arg, TXN_THAW, TXN_OK, count, e->report, "%s", "");
}

static void advance(struct engine *e)
{
	for (;;) {
		int i = e->next;
		bool ok = true;
		char msg[MSG_LEN] = "";
		enum stage_rc rc;

		if (i < 0 || i >= (int)e->n_stages) {
			phase_complete(e);
			return;
		}
		e->next += e->dir;
		if (!stage_applies(e, i))
			continue;
		if (e->phase == TXN_FREEZE)
			e->stages[i].entered = true;
		e->stages[i].ran = true;
		e->stages[i].t0 = now_ns();
		e->running = i;
		rc = e->stages[i].ops->start(e->stages[i].self, e->phase, &e->req, &ok, msg,
					     sizeof(msg));
		if (rc == STAGE_PENDING) {
			loop_timer_arm(e->loop, &e->watchdog, watchdog_ms(e), on_watchdog, e);
			return;
		}
		e->running = -1;
		if (e->phase == TXN_THAW)
			e->stages[i].entered = false;
		stage_finished(e, i, ok, msg);
		maybe_answer_after_fs(e, i);
	}
}

void engine_stage_done(struct engine *e, bool ok, const char *msg)
{
	int i = e->running;
	if (i < 0) {
		log_warnx("a stage reported completion with nothing running");
		return;
	}
	loop_timer_disarm(e->loop, &e->watchdog);
	e->running = -1;
	if (e->phase == TXN_THAW)
		e->stages[i].entered = false;
	stage_finished(e, i, ok, msg);
	maybe_answer_after_fs(e, i);
	advance(e);
}

static unsigned fs_count(const struct engine *e, enum txn_op op)
{
	unsigned n = 0;
	/* A stage that did not run (apps-only) would report its last transaction. */
	for (size_t i = 0; i < e->n_stages; i++)
		if (e->stages[i].ops->filesystems && e->stages[i].ops->count && e->stages[i].ran)
			n += e->stages[i].ops->count(e->stages[i].self, op);
	return n;
}

static void begin(struct engine *e, enum txn_op phase, int first, int dir)
{
	json_object_put(e->report);
	e->report = json_object_new_object();
	json_object_object_add(e->report, "op", json_object_new_string(txn_op_name(e->req.op)));
	json_object_object_add(e->report, "origin", json_object_new_string(e->caller->name));
	json_object_object_add(e->report, "phases", json_object_new_array());
	for (size_t i = 0; i < e->n_stages; i++)
		e->stages[i].ran = false;
	e->phase = phase;
	e->next = first;
	e->dir = dir;
	e->unwinding = false;
	e->undo_ok = false;
	e->check_failed = false;
	e->answered = false;
	e->fail_err = TXN_OK;
	e->fail_msg[0] = '\0';
	e->t0 = now_ns();
}

static void finish_report(struct engine *e, bool ok, unsigned count, const char *msg)
{
	json_object_object_add(e->report, "ok", json_object_new_boolean(ok));
	json_object_object_add(e->report, "count", json_object_new_int((int)count));
	json_object_object_add(e->report, "ms", json_object_new_double(ns_to_ms(now_ns() - e->t0)));
	json_object_object_add(e->report, "at", json_object_new_int64((int64_t)wall_ms()));
	if (msg && *msg)
		json_object_object_add(e->report, "message", json_object_new_string(msg));
	json_object_put(e->last);
	e->last = json_object_get(e->report);
}

static void call_waiters(struct engine *e, enum txn_err err, unsigned count, const char *msg)
{
	size_t n = e->n_waiters;
	struct waiter w[MAX_WAITERS];
	memcpy(w, e->waiters, n * sizeof(*w));
	e->n_waiters = 0;
	for (size_t i = 0; i < n; i++)
		reply(w[i].fn, w[i].arg, TXN_THAW, err, count, e->report, "%s", msg);
}

static void became_idle(struct engine *e)
{
	void (*fn)(void *) = e->shutdown_done;
	set_state(e, TXN_IDLE);
	e->owner = NULL;
	if (fn) {
		e->shutdown_done = NULL;
		fn(e->shutdown_arg);
	}
}

static void on_lease(struct loop *loop, void *arg);
static void start_thaw(struct engine *e, const struct txn_caller *by, bool early_reply,
		       txn_done_fn done, void *arg);

static void phase_complete(struct engine *e)
{
	txn_done_fn done = e->done;
	void *arg = e->done_arg;
	char msg[MSG_LEN];
	unsigned count;

	e->done = NULL;
	switch (e->req.op) {
	case TXN_CHECK:
		finish_report(e, !e->check_failed, 0, e->fail_msg);
		became_idle(e);
		if (e->check_failed)
			reply(done, arg, TXN_CHECK, e->fail_err, 0, e->report, "%s", e->fail_msg);
		else
			reply(done, arg, TXN_CHECK, TXN_OK, 0, e->report, "%s", "");
		return;

	case TXN_FREEZE:
		if (e->phase == TXN_FREEZE) {
			/* Every stage froze. */
			count = fs_count(e, TXN_FREEZE);
			if (e->abort_requested || (e->req.undo_if_none && !e->req.skip_fs &&
						   count == 0)) {
				/* Undo it all, then answer. */
				e->done = done;
				if (e->abort_requested) {
					e->fail_err = TXN_E_ABORTED;
					str_copy(e->fail_msg,
						 "the freeze was cancelled (a thaw arrived, or its "
						 "client went away)", sizeof(e->fail_msg));
				} else {
					e->undo_ok = true;
				}
				e->unwinding = true;
				e->phase = TXN_THAW;
				e->dir = -1;
				e->next = (int)e->n_stages - 1;
				advance(e);
				return;
			}
			finish_report(e, true, count, "");
			e->owner = e->req.owner;
			e->lease_ms = e->req.lease_ms ? e->req.lease_ms : e->cfg.lease_ms;
			set_state(e, TXN_FROZEN);
			e->frozen_at = now_ms();
			e->frozen_at_wall = wall_ms();
			loop_timer_arm(e->loop, &e->lease, e->lease_ms, on_lease, e);
			log_info("%s: froze %u filesystem%s in %.1f ms; lease %.1f s", e->caller->name,
				 count, count == 1 ? "" : "s", ns_to_ms(now_ns() - e->t0),
				 (double)e->lease_ms / 1000.0);
			reply(done, arg, TXN_FREEZE, TXN_OK, count, e->report, "%s", "");
			return;
		}
		/* The unwinding of a failed (or undone) FREEZE is complete. */
		if (e->undo_ok) {
			finish_report(e, true, 0, "");
			became_idle(e);
			call_waiters(e, TXN_OK, 0, "");
			reply(done, arg, TXN_FREEZE, TXN_OK, 0, e->report, "%s", "");
			return;
		}
		str_copy(msg, e->fail_msg, sizeof(msg));
		finish_report(e, false, 0, msg);
		became_idle(e);
		call_waiters(e, TXN_OK, fs_count(e, TXN_THAW), "");
		reply(done, arg, TXN_FREEZE, e->fail_err, 0, e->report, "%s", msg);
		return;

	case TXN_THAW:
		count = fs_count(e, TXN_THAW);
		str_copy(msg, e->fail_msg, sizeof(msg));
		finish_report(e, !msg[0], count, msg);
		became_idle(e);
		log_info("%s: thawed %u filesystem%s in %.1f ms", e->caller->name, count,
			 count == 1 ? "" : "s", ns_to_ms(now_ns() - e->t0));
		{
			enum txn_err err = msg[0] ? e->fail_err : TXN_OK;
			bool answered = e->answered;
			call_waiters(e, err, count, msg);
			if (!answered)
				reply(done, arg, TXN_THAW, err, count, e->report, "%s", msg);
		}
		return;
	}
}

/* ------------------------------------------------------------ lease and thaw */

static void note_early_thaw(struct engine *e, const char *fmt, ...) LOG_PRINTF(2, 3);

static void note_early_thaw(struct engine *e, const char *fmt, ...)
{
	va_list ap;
	e->lease_expired = true;
	e->lease_expired_at_wall = wall_ms();
	/* Called while the freeze's request is still the current one. */
	e->early_caller = e->caller;
	va_start(ap, fmt);
	vsnprintf(e->early_thaw, sizeof(e->early_thaw), fmt, ap);
	va_end(ap);
}

static void on_lease(struct loop *loop, void *arg)
{
	struct engine *e = arg;
	(void)loop;
	if (e->state != TXN_FROZEN)
		return;
	log_warnx("the lease of %.1f s passed with no thaw: thawing on our own",
		  (double)e->lease_ms / 1000.0);
	note_early_thaw(e, "the lease of %.1f s expired", (double)e->lease_ms / 1000.0);
	start_thaw(e, &by_lease, false, NULL, NULL);
}

static void start_thaw(struct engine *e, const struct txn_caller *by, bool early_reply,
		       txn_done_fn done, void *arg)
{
	/* Which stages thaw follows from what froze (stage_slot.entered), not from the
	 * request: an apps-only freeze thaws apps only. */
	struct txn_request req = { .op = TXN_THAW, .caller = by, .early_reply = early_reply };
	loop_timer_disarm(e->loop, &e->lease);
	if (copy_request(e, &req) < 0) {
		/* Cannot fail for a request without mountpoints. */
		log_errx("out of memory starting a thaw");
	}
	e->done = done;
	e->done_arg = arg;
	set_state(e, TXN_THAWING);
	begin(e, TXN_THAW, (int)e->n_stages - 1, -1);
	advance(e);
}

static bool add_waiter(struct engine *e, txn_done_fn done, void *arg)
{
	if (e->n_waiters == MAX_WAITERS)
		return false;
	e->waiters[e->n_waiters].fn = done;
	e->waiters[e->n_waiters].arg = arg;
	e->n_waiters++;
	return true;
}

static void cancel_running(struct engine *e)
{
	if (e->running >= 0 && e->stages[e->running].ops->cancel)
		e->stages[e->running].ops->cancel(e->stages[e->running].self);
}

static void submit_thaw(struct engine *e, const struct txn_request *req, txn_done_fn done,
			void *arg)
{
	switch (e->state) {
	case TXN_IDLE:
	case TXN_CHECKING:
		/* The transport that froze is owed the news; another one's thaw of
		 * nothing is just that, and leaves the news for the owner. */
		if (e->lease_expired && req->caller && req->caller == e->early_caller) {
			char when[64];
			time_t t = (time_t)(e->lease_expired_at_wall / 1000);
			struct tm tm;
			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
			e->lease_expired = false;
			reply(done, arg, TXN_THAW, TXN_E_LEASE, 0, NULL,
			      "%s at %s and quiesced thawed on its own: writes were not held "
			      "until this thaw", e->early_thaw, when);
			return;
		}
		reply(done, arg, TXN_THAW, TXN_OK, 0, NULL, "%s", "");
		return;
	case TXN_FREEZING:
		/* Thaw overtakes the freeze: stop it, undo what froze, answer both. */
		if (!add_waiter(e, done, arg)) {
			reply(done, arg, TXN_THAW, TXN_E_BUSY, 0, NULL, "too many waiting thaws");
			return;
		}
		log_notice("%s: thaw requested while freezing: cancelling the freeze",
			   (req->caller ? req->caller : &nobody)->name);
		e->abort_requested = true;
		cancel_running(e);
		return;
	case TXN_THAWING:
		if (!add_waiter(e, done, arg))
			reply(done, arg, TXN_THAW, TXN_E_BUSY, 0, NULL, "too many waiting thaws");
		return;
	case TXN_FROZEN:
		e->lease_expired = false;
		start_thaw(e, req->caller ? req->caller : &nobody, req->early_reply, done, arg);
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
		reply(done, arg, req->op, TXN_E_BUSY, 0, NULL, "quiesced is shutting down");
		return;
	}
	if (e->state == TXN_FROZEN && req->op == TXN_FREEZE) {
		refuse(e, req, done, arg, TXN_E_FROZEN,
		       "already frozen (by %s %.1f s ago): thaw first", e->caller->name,
		       (double)(now_ms() - e->frozen_at) / 1000.0);
		return;
	}
	if (e->state != TXN_IDLE) {
		refuse(e, req, done, arg, TXN_E_BUSY,
		       "busy: a transaction is under way (%s, from %s)", txn_state_name(e->state),
		       e->caller->name);
		return;
	}
	if (copy_request(e, req) < 0) {
		free_request(e);
		reply(done, arg, req->op, TXN_E_INTERNAL, 0, NULL, "out of memory");
		return;
	}
	e->done = done;
	e->done_arg = arg;
	e->abort_requested = false;
	for (size_t i = 0; i < e->n_stages; i++)
		e->stages[i].entered = false;
	if (req->op == TXN_FREEZE) {
		e->lease_expired = false;
		set_state(e, TXN_FREEZING);
		begin(e, TXN_FREEZE, 0, 1);
	} else {
		set_state(e, TXN_CHECKING);
		begin(e, TXN_CHECK, 0, 1);
	}
	advance(e);
}

void engine_guardian_lost(struct engine *e, bool expired)
{
	/* Writes stop being held now: the next THAW must hear of it. */
	if (e->state == TXN_FROZEN || e->state == TXN_FREEZING)
		note_early_thaw(e, expired ? "the thaw guardian's deadline passed"
					   : "the thaw guardian died");
	if (e->state == TXN_FROZEN) {
		start_thaw(e, expired ? &by_guardian_deadline : &by_guardian_lost, false, NULL, NULL);
	} else if (e->state == TXN_FREEZING) {
		e->abort_requested = true;
		cancel_running(e);
	}
}

void engine_owner_gone(struct engine *e, const void *owner)
{
	if (!owner || owner != e->req.owner)
		return;
	if (e->state == TXN_FROZEN && e->owner == owner) {
		log_notice("%s: the client holding the freeze went away: thawing", e->caller->name);
		start_thaw(e, &by_client_gone, false, NULL, NULL);
	} else if (e->state == TXN_FREEZING) {
		log_notice("%s: the client went away during the freeze: cancelling it", e->caller->name);
		e->abort_requested = true;
		cancel_running(e);
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
		start_thaw(e, &by_shutdown, false, NULL, NULL);
	} else if (e->state == TXN_FREEZING) {
		e->abort_requested = true;
		cancel_running(e);
	}
}

void engine_status(struct engine *e, struct json_object *out)
{
	struct json_object *stages = json_object_new_array();

	json_object_object_add(out, "state", json_object_new_string(txn_state_name(e->state)));
	if (e->state != TXN_IDLE)
		json_object_object_add(out, "origin", json_object_new_string(e->caller->name));
	if (e->state == TXN_FROZEN) {
		json_object_object_add(out, "frozen_at", json_object_new_int64((int64_t)e->frozen_at_wall));
		json_object_object_add(out, "frozen_ms",
				       json_object_new_int64((int64_t)(now_ms() - e->frozen_at)));
		json_object_object_add(out, "lease_ms", json_object_new_int64((int64_t)e->lease_ms));
		json_object_object_add(out, "lease_remaining_ms",
				       json_object_new_int64((int64_t)loop_timer_remaining(&e->lease)));
		json_object_object_add(out, "held_by_client", json_object_new_boolean(e->owner != NULL));
	}
	json_object_object_add(out, "lease_expired", json_object_new_boolean(e->lease_expired));
	if (e->lease_expired) {
		json_object_object_add(out, "lease_expired_at",
				       json_object_new_int64((int64_t)e->lease_expired_at_wall));
		json_object_object_add(out, "early_thaw", json_object_new_string(e->early_thaw));
	}
	for (size_t i = 0; i < e->n_stages; i++) {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "stage", json_object_new_string(e->stages[i].ops->name));
		json_object_object_add(s, "active",
				       json_object_new_boolean(e->stages[i].ops->active &&
							       e->stages[i].ops->active(e->stages[i].self)));
		if (e->stages[i].ops->report)
			e->stages[i].ops->report(e->stages[i].self, s);
		json_object_array_add(stages, s);
	}
	json_object_object_add(out, "stages", stages);
	if (e->last)
		json_object_object_add(out, "last", json_object_get(e->last));
}
