// SPDX-License-Identifier: MIT
/* The engine's sequencing: the stages run one after another (in order on FREEZE
 * and CHECK, in reverse on THAW), each bounded by a watchdog; a failed FREEZE
 * turns round and thaws what froze; and how each transaction ends. */
#include <json-c/json.h>
#include <string.h>

#include "common/util.h"
#include "engine/engine_int.h"

static bool stage_applies(const struct engine *e, int i)
{
	if (e->stages[i].ops->filesystems && e->req.skip_fs)
		return false;
	if (e->phase == TXN_THAW)
		return e->stages[i].entered;
	return true;
}

/* Thaw stage `from` and every one before it, in reverse. */
static void unwind_from(struct engine *e, int from)
{
	e->unwinding = true;
	e->phase = TXN_THAW;
	e->dir = -1;
	e->next = from;
}

/* The first failure of a transaction is the one it reports. */
static void note_failure(struct engine *e, enum txn_err err, const char *msg)
{
	if (e->fail_msg[0])
		return;
	e->fail_err = err;
	str_copy(e->fail_msg, msg ? msg : "", sizeof(e->fail_msg));
}

static void stage_finished(struct engine *e, int i, bool ok, const char *msg)
{
	enum txn_err err = e->stages[i].ops->filesystems ? TXN_E_FS : TXN_E_VETO;

	engine_report_stage(e, i, ok, msg);
	if (ok)
		return;
	log_warnx("%s: %s %s failed: %s", e->caller->name, e->stages[i].ops->name,
		  engine_op_name(e->phase), msg && *msg ? msg : "(no reason given)");
	switch (e->phase) {
	case TXN_CHECK:
		if (!e->check_failed) {
			e->check_failed = true;
			e->fail_err = err;
			str_copy(e->fail_msg, msg ? msg : "", sizeof(e->fail_msg));
		}
		break;
	case TXN_FREEZE:
		/* Stop here; thaw this stage (it may have frozen part of its members) and
		 * every earlier one, in reverse. */
		note_failure(e, e->abort_requested ? TXN_E_ABORTED : err, msg);
		unwind_from(e, i);
		break;
	case TXN_THAW:
		/* Never stop half way: note the first failure and go on with the rest. */
		note_failure(e, err, msg);
		break;
	}
}

static void on_watchdog(struct loop *loop, void *arg)
{
	struct engine *e = arg;
	(void)loop;
	if (e->running < 0)
		return;
	log_errx("%s: the %s stage did not finish its %s in time; giving up on it",
		 e->caller->name, e->stages[e->running].ops->name, engine_op_name(e->phase));
	engine_cancel_running(e);
}

static uint64_t watchdog_ms(const struct engine *e)
{
	/* Stages bound themselves by --timeout; this is the engine's own backstop. */
	return 2 * e->cfg.timeout_ms + 5000;
}

static void answer_early(struct engine *e, int i)
{
	unsigned count;
	if (e->phase != TXN_THAW || e->unwinding || e->answered || !e->req.early_reply ||
	    !e->stages[i].ops->filesystems)
		return;
	/* The caller's THAW budget is short (Hyper-V: 30 s); the filesystems are
	 * thawed, so answer now and let the stages in front thaw after the reply. */
	count = e->stages[i].ops->count ? e->stages[i].ops->count(e->stages[i].self, TXN_THAW) : 0;
	e->answered = true;
	engine_reply(e->done, e->done_arg, TXN_THAW, e->fail_msg[0] ? e->fail_err : TXN_OK, count,
		     e->report, "%s", e->fail_msg);
}

/* Stage i is done with its op (at once, or later through engine_stage_done). */
static void stage_done(struct engine *e, int i, bool ok, const char *msg)
{
	e->running = -1;
	if (e->phase == TXN_THAW)
		e->stages[i].entered = false;
	stage_finished(e, i, ok, msg);
	answer_early(e, i);
}

void engine_advance(struct engine *e)
{
	for (;;) {
		int i = e->next;
		bool ok = true;
		char msg[ENGINE_MSG_LEN] = "";
		enum stage_rc rc;

		if (i < 0 || i >= (int)e->n_stages) {
			engine_phase_complete(e);
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
		stage_done(e, i, ok, msg);
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
	stage_done(e, i, ok, msg);
	engine_advance(e);
}

void engine_cancel_running(struct engine *e)
{
	if (e->running >= 0 && e->stages[e->running].ops->cancel)
		e->stages[e->running].ops->cancel(e->stages[e->running].self);
}

void engine_begin(struct engine *e, enum txn_op phase, int first, int dir)
{
	engine_report_begin(e);
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

void engine_start_thaw(struct engine *e, const struct txn_caller *by, bool early_reply,
		       txn_done_fn done, void *arg)
{
	/* Which stages thaw follows from what froze (stage_slot.entered), not from the
	 * request: a skip_fs freeze thaws the stages before the filesystems only. */
	struct txn_request req = { .op = TXN_THAW, .caller = by, .early_reply = early_reply };
	loop_timer_disarm(e->loop, &e->lease);
	if (engine_copy_request(e, &req) < 0) {
		/* Cannot fail for a request without mountpoints. */
		log_errx("out of memory starting a thaw");
	}
	e->done = done;
	e->done_arg = arg;
	engine_set_state(e, TXN_THAWING);
	engine_begin(e, TXN_THAW, (int)e->n_stages - 1, -1);
	engine_advance(e);
}

/* ------------------------------------------------------------ how it ends */

static unsigned fs_count(const struct engine *e, enum txn_op op)
{
	unsigned n = 0;
	/* A stage that did not run (skip_fs) would report its last transaction. */
	for (size_t i = 0; i < e->n_stages; i++)
		if (e->stages[i].ops->filesystems && e->stages[i].ops->count && e->stages[i].ran)
			n += e->stages[i].ops->count(e->stages[i].self, op);
	return n;
}

static void check_complete(struct engine *e, txn_done_fn done, void *arg)
{
	engine_report_finish(e, !e->check_failed, 0, e->fail_msg);
	engine_became_idle(e);
	engine_reply(done, arg, TXN_CHECK, e->check_failed ? e->fail_err : TXN_OK, 0, e->report,
		     "%s", e->check_failed ? e->fail_msg : "");
}

/* Every stage froze: held, or undone first (aborted, or nothing frozen). */
static void freeze_complete(struct engine *e, txn_done_fn done, void *arg)
{
	unsigned count = fs_count(e, TXN_FREEZE);

	if (e->abort_requested || (e->req.undo_if_none && !e->req.skip_fs && count == 0)) {
		/* Undo it all, then answer. */
		e->done = done;
		if (e->abort_requested) {
			e->fail_err = TXN_E_ABORTED;
			str_copy(e->fail_msg, "the freeze was cancelled (a thaw arrived, or its "
				 "client went away)", sizeof(e->fail_msg));
		} else {
			e->undo_ok = true;
		}
		unwind_from(e, (int)e->n_stages - 1);
		engine_advance(e);
		return;
	}
	engine_report_finish(e, true, count, "");
	engine_hold(e);
	log_info("%s: froze %u filesystem%s in %.1f ms; lease %.1f s", e->caller->name, count,
		 count == 1 ? "" : "s", ns_to_ms(now_ns() - e->t0), (double)e->lease_ms / 1000.0);
	engine_reply(done, arg, TXN_FREEZE, TXN_OK, count, e->report, "%s", "");
}

/* The unwinding of a failed (or undone) FREEZE is complete. */
static void unwind_complete(struct engine *e, txn_done_fn done, void *arg)
{
	char msg[ENGINE_MSG_LEN];

	if (e->undo_ok) {
		engine_report_finish(e, true, 0, "");
		engine_became_idle(e);
		engine_call_waiters(e, TXN_OK, 0, "");
		engine_reply(done, arg, TXN_FREEZE, TXN_OK, 0, e->report, "%s", "");
		return;
	}
	str_copy(msg, e->fail_msg, sizeof(msg));
	engine_report_finish(e, false, 0, msg);
	engine_became_idle(e);
	engine_call_waiters(e, TXN_OK, fs_count(e, TXN_THAW), "");
	engine_reply(done, arg, TXN_FREEZE, e->fail_err, 0, e->report, "%s", msg);
}

static void thaw_complete(struct engine *e, txn_done_fn done, void *arg)
{
	unsigned count = fs_count(e, TXN_THAW);
	char msg[ENGINE_MSG_LEN];
	enum txn_err err;
	bool answered = e->answered;

	str_copy(msg, e->fail_msg, sizeof(msg));
	err = msg[0] ? e->fail_err : TXN_OK;
	engine_report_finish(e, !msg[0], count, msg);
	engine_became_idle(e);
	log_info("%s: thawed %u filesystem%s in %.1f ms", e->caller->name, count,
		 count == 1 ? "" : "s", ns_to_ms(now_ns() - e->t0));
	engine_call_waiters(e, err, count, msg);
	if (!answered)
		engine_reply(done, arg, TXN_THAW, err, count, e->report, "%s", msg);
}

void engine_phase_complete(struct engine *e)
{
	txn_done_fn done = e->done;
	void *arg = e->done_arg;

	e->done = NULL;
	switch (e->req.op) {
	case TXN_CHECK:
		check_complete(e, done, arg);
		break;
	case TXN_FREEZE:
		if (e->phase == TXN_FREEZE)
			freeze_complete(e, done, arg);
		else
			unwind_complete(e, done, arg);
		break;
	case TXN_THAW:
		thaw_complete(e, done, arg);
		break;
	}
}
