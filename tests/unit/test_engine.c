// SPDX-License-Identifier: MIT
/* Unit tests for src/engine/: the transaction engine, with fake stages on the
 * real event loop.
 *
 * Each fake stage records what it was asked ("apps:freeze") into one trace, and for
 * each op answers at once, later from a loop timer, or not until the test says so
 * (held). What is asserted is order, results and states, never time: the one timed
 * thing, the lease, is a few ms, and the tests wait for its effect with a bound. A
 * SIGALRM guard ends a hung test with "Bail out!". */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/loop.h"
#include "engine/txn.h"
#include "failalloc.h"
#include "unitguard.h"


/* ------------------------------------------------------------ fake stages */

enum how { SYNC, LATER, HELD };

struct fake {
	const char *name;
	bool fs;
	enum how how[3];      /* per op: CHECK, FREEZE, THAW */
	bool fail[3];
	struct engine *e;
	struct loop *loop;
	struct loop_timer later;
	bool pending_ok;
	bool pending;         /* started, engine_stage_done not called yet */
	bool frozen;
	unsigned cancels;
	unsigned thawed;
};

static char trace[2048];

static void note(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(trace);
	if (n && n < sizeof(trace) - 1)
		trace[n++] = ' ';
	va_start(ap, fmt);
	vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
	va_end(ap);
}

static void finish(struct fake *f, bool ok, const char *msg)
{
	f->pending = false;
	engine_stage_done(f->e, ok, msg);
}

static void on_later(struct loop *loop, void *arg)
{
	struct fake *f = arg;
	(void)loop;
	finish(f, f->pending_ok, f->pending_ok ? "" : "said no");
}

static void apply(struct fake *f, enum txn_op op, bool ok)
{
	if (op == TXN_FREEZE && ok)
		f->frozen = true;
	if (op == TXN_THAW) {
		f->thawed += f->frozen;
		f->frozen = false;
	}
}

static enum stage_rc fake_start(void *self, enum txn_op op, const struct txn_request *req,
				bool *ok, char *msg, size_t msglen)
{
	struct fake *f = self;
	(void)req;
	note("%s:%s", f->name, engine_op_name(op));
	*ok = !f->fail[op];
	snprintf(msg, msglen, "%s", *ok ? "" : "said no");
	apply(f, op, *ok);
	if (f->how[op] == SYNC)
		return STAGE_DONE;
	f->pending = true;
	f->pending_ok = *ok;
	if (f->how[op] == LATER)
		loop_timer_arm(f->loop, &f->later, 1, on_later, f);
	return STAGE_PENDING;
}

/* Given up on: finish soon, as a failure (as a real stage does). */
static void fake_cancel(void *self)
{
	struct fake *f = self;
	f->cancels++;
	note("%s:cancel", f->name);
	if (f->pending) {
		f->pending_ok = false;
		loop_timer_arm(f->loop, &f->later, 0, on_later, f);
	}
}

static unsigned fake_count(void *self, enum txn_op op)
{
	struct fake *f = self;
	return op == TXN_FREEZE ? f->frozen : f->thawed;
}

static bool fake_active(void *self)
{
	return ((struct fake *)self)->frozen;
}

static const struct stage_ops fake_ops = {
	.name = "fake", .start = fake_start, .cancel = fake_cancel, .count = fake_count,
	.active = fake_active,
};
static const struct stage_ops fake_fs_ops = {
	.name = "fake-fs", .filesystems = true, .start = fake_start, .cancel = fake_cancel,
	.count = fake_count, .active = fake_active,
};

/* ------------------------------------------------------------ fixture */

struct answer {
	int calls;
	enum txn_err err;
	unsigned count;
	enum txn_whose whose;
	char msg[256];
};


/* A report never holds a JSON null: a value that failed to allocate leaves no report
 * at all. */
static void assert_no_null(struct json_object *o)
{
	assert_non_null(o);
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, v) {
			(void)key;
			assert_no_null(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			assert_no_null(json_object_array_get_idx(o, i));
	}
}

static void on_answer(void *arg, const struct txn_result *res)
{
	struct answer *a = arg;
	if (res->report)
		assert_no_null(res->report);
	a->calls++;
	a->err = res->err;
	a->count = res->count;
	a->whose = res->whose;
	snprintf(a->msg, sizeof(a->msg), "%s", res->message ? res->message : "");
}

struct fx {
	struct loop *loop;
	struct engine *e;
	struct fake apps, hooks, fs;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct engine_config cfg = { .lease_ms = 60000, .timeout_ms = 15000 };
	unit_guard_on(state);
	trace[0] = '\0';
	fx->loop = loop_new();
	fx->e = engine_new(fx->loop, &cfg);
	fx->apps = (struct fake){ .name = "apps", .e = fx->e, .loop = fx->loop };
	fx->hooks = (struct fake){ .name = "hooks", .e = fx->e, .loop = fx->loop };
	fx->fs = (struct fake){ .name = "fs", .fs = true, .e = fx->e, .loop = fx->loop };
	engine_add_stage(fx->e, &fake_ops, &fx->apps);
	engine_add_stage(fx->e, &fake_ops, &fx->hooks);
	engine_add_stage(fx->e, &fake_fs_ops, &fx->fs);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	struct fake *all[] = { &fx->apps, &fx->hooks, &fx->fs };
	for (size_t i = 0; i < 3; i++)
		loop_timer_disarm(fx->loop, &all[i]->later);
	engine_free(fx->e);
	loop_free(fx->loop);
	free(fx);
	return unit_guard_off(state);
}

/* Runs the loop until cond(fx) holds (at most 10 s). */
static bool run_until(struct fx *fx, bool (*cond)(void *fx))
{
	return unit_run_until(fx->loop, cond, fx, 10000);
}

static struct answer *waiting_for;

static bool answered(void *fx)
{
	(void)fx;
	return waiting_for->calls > 0;
}

static bool is_idle(void *fx) { return engine_state(((struct fx *)fx)->e) == TXN_IDLE; }

/* The tests' transport, and another one. */
static const struct txn_caller test_caller = { "test" };
static const struct txn_caller other_caller = { "other" };

static void submit(struct fx *fx, enum txn_op op, const void *owner, uint64_t lease_ms,
		   struct answer *a)
{
	struct txn_request req = { .op = op, .caller = &test_caller, .owner = owner,
				   .lease_ms = lease_ms };
	engine_submit(fx->e, &req, on_answer, a);
}

/* Submits req and runs the loop until answered. */
static void call_req(struct fx *fx, const struct txn_request *req, struct answer *a)
{
	engine_submit(fx->e, req, on_answer, a);
	waiting_for = a;
	assert_true(run_until(fx, answered));
}

/* op as caller c, run until answered. */
static void call_as(struct fx *fx, const struct txn_caller *c, enum txn_op op, struct answer *a)
{
	struct txn_request req = { .op = op, .caller = c };
	call_req(fx, &req, a);
}

/* Submits and runs the loop until answered. */
static void call(struct fx *fx, enum txn_op op, struct answer *a)
{
	submit(fx, op, NULL, 0, a);
	waiting_for = a;
	assert_true(run_until(fx, answered));
}

/* ------------------------------------------------------------ tests */

/* Freeze: apps, hooks, filesystems in order; thaw the other way round. */
static void test_order(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 };
	fx->hooks.how[TXN_FREEZE] = LATER;
	fx->fs.how[TXN_THAW] = LATER;
	call(fx, TXN_FREEZE, &f);
	assert_int_equal(f.err, TXN_OK);
	assert_int_equal(f.count, 1);
	assert_int_equal(engine_state(fx->e), TXN_FROZEN);
	call(fx, TXN_THAW, &t);
	assert_int_equal(t.err, TXN_OK);
	assert_int_equal(t.count, 1);
	assert_string_equal(trace, "apps:freeze hooks:freeze fs:freeze fs:thaw hooks:thaw apps:thaw");
	assert_int_equal(engine_state(fx->e), TXN_IDLE);
}

/* A stage that says no: it and every earlier one thaw, later ones never start. */
static void test_veto_unwinds(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 };
	fx->hooks.fail[TXN_FREEZE] = true;
	fx->hooks.how[TXN_FREEZE] = LATER;
	call(fx, TXN_FREEZE, &f);
	assert_int_equal(f.err, TXN_E_VETO);
	assert_string_equal(f.msg, "said no");
	assert_string_equal(trace, "apps:freeze hooks:freeze hooks:thaw apps:thaw");
	assert_false(fx->apps.frozen);
	assert_int_equal(engine_state(fx->e), TXN_IDLE);
}

/* The filesystems stage failing is a filesystem error, and also unwinds. */
static void test_fs_failure(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 };
	fx->fs.fail[TXN_FREEZE] = true;
	call(fx, TXN_FREEZE, &f);
	assert_int_equal(f.err, TXN_E_FS);
	assert_string_equal(trace, "apps:freeze hooks:freeze fs:freeze fs:thaw hooks:thaw apps:thaw");
}

/* A thaw never stops half way: a stage failing to thaw, the rest still thaw. */
static void test_thaw_goes_on(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 };
	fx->fs.fail[TXN_THAW] = true;
	call(fx, TXN_FREEZE, &f);
	call(fx, TXN_THAW, &t);
	assert_int_equal(t.err, TXN_E_FS);
	assert_string_equal(trace, "apps:freeze hooks:freeze fs:freeze fs:thaw hooks:thaw apps:thaw");
	assert_int_equal(engine_state(fx->e), TXN_IDLE);
}

/* CHECK asks every stage, freezes nothing, and a no is a veto. */
static void test_check(void **state)
{
	struct fx *fx = *state;
	struct answer c = { 0 }, c2 = { 0 };
	call(fx, TXN_CHECK, &c);
	assert_int_equal(c.err, TXN_OK);
	fx->apps.fail[TXN_CHECK] = true;
	call(fx, TXN_CHECK, &c2);
	assert_int_equal(c2.err, TXN_E_VETO);
	assert_false(fx->fs.frozen);
	assert_int_equal(engine_state(fx->e), TXN_IDLE);
}

/* While a freeze is under way another CHECK or FREEZE is busy; while frozen a
 * FREEZE is refused as already frozen. */
static void test_busy_and_frozen(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, c = { 0 }, f2 = { 0 }, f3 = { 0 }, t = { 0 };
	fx->hooks.how[TXN_FREEZE] = HELD;
	submit(fx, TXN_FREEZE, NULL, 0, &f);
	assert_int_equal(engine_state(fx->e), TXN_FREEZING);
	submit(fx, TXN_CHECK, NULL, 0, &c);
	submit(fx, TXN_FREEZE, NULL, 0, &f2);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, TXN_E_BUSY);
	assert_int_equal(f2.err, TXN_E_BUSY);
	finish(&fx->hooks, true, "");
	waiting_for = &f;
	assert_true(run_until(fx, answered));
	assert_int_equal(f.err, TXN_OK);
	submit(fx, TXN_FREEZE, NULL, 0, &f3);
	assert_int_equal(f3.err, TXN_E_FROZEN);
	call(fx, TXN_THAW, &t);
	assert_int_equal(t.err, TXN_OK);
}

/* A THAW that arrives during the freeze overtakes it: the running stage is
 * cancelled, what froze is thawed, the freeze is answered as aborted and the thaw
 * as done. */
static void test_thaw_overtakes_freeze(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 };
	fx->hooks.how[TXN_FREEZE] = HELD;
	submit(fx, TXN_FREEZE, NULL, 0, &f);
	submit(fx, TXN_THAW, NULL, 0, &t);
	waiting_for = &t;
	assert_true(run_until(fx, answered));
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.err, TXN_E_ABORTED);
	assert_int_equal(t.err, TXN_OK);
	assert_int_equal(fx->hooks.cancels, 1);
	assert_string_equal(trace, "apps:freeze hooks:freeze hooks:cancel hooks:thaw apps:thaw");
	assert_false(fx->apps.frozen);
	assert_int_equal(engine_state(fx->e), TXN_IDLE);
}

/* The lease passes: the engine thaws on its own, and the next THAW (from the same
 * origin) is told that writes were not held until it. */
static void test_lease(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 }, t2 = { 0 };
	submit(fx, TXN_FREEZE, NULL, 5, &f);
	waiting_for = &f;
	assert_true(run_until(fx, answered));
	assert_int_equal(f.err, TXN_OK);
	assert_true(run_until(fx, is_idle));
	assert_int_equal(fx->fs.thawed, 1);
	assert_int_equal(fx->apps.thawed, 1);
	call(fx, TXN_THAW, &t);
	assert_int_equal(t.err, TXN_E_LEASE);
	call(fx, TXN_THAW, &t2);
	assert_int_equal(t2.err, TXN_OK); /* told once */
}

/* The freeze's owner goes away while frozen: thaw at once. Someone else going
 * away changes nothing. */
static void test_owner_gone(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 };
	int owner, other;
	submit(fx, TXN_FREEZE, &owner, 0, &f);
	waiting_for = &f;
	assert_true(run_until(fx, answered));
	engine_owner_gone(fx->e, &other);
	assert_int_equal(engine_state(fx->e), TXN_FROZEN);
	engine_owner_gone(fx->e, &owner);
	assert_true(run_until(fx, is_idle));
	assert_false(fx->fs.frozen);
	assert_false(fx->apps.frozen);
}

/* A stage that never finishes: the engine's watchdog cancels it and the freeze
 * fails and unwinds (timeout_ms small here: the watchdog is 2 * it + 5 s). */
static void test_watchdog(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 };
	struct engine_config cfg = { .lease_ms = 60000, .timeout_ms = 1 };
	engine_free(fx->e);
	fx->e = engine_new(fx->loop, &cfg);
	fx->apps.e = fx->hooks.e = fx->fs.e = fx->e;
	engine_add_stage(fx->e, &fake_ops, &fx->apps);
	engine_add_stage(fx->e, &fake_ops, &fx->hooks);
	engine_add_stage(fx->e, &fake_fs_ops, &fx->fs);
	fx->hooks.how[TXN_FREEZE] = HELD;
	submit(fx, TXN_FREEZE, NULL, 0, &f);
	waiting_for = &f;
	unit_guard_on(state);
	assert_true(run_until(fx, answered));
	assert_int_equal(f.err, TXN_E_VETO);
	assert_int_equal(fx->hooks.cancels, 1);
	assert_false(fx->apps.frozen);
}

/* Shutting down while frozen thaws first; done is called once idle. */
static int shut;

static void on_shut(void *arg)
{
	(void)arg;
	shut++;
}

static bool is_shut(void *fx)
{
	(void)fx;
	return shut > 0;
}

static void test_shutdown_thaws(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 };
	call(fx, TXN_FREEZE, &f);
	shut = 0;
	engine_shutdown(fx->e, on_shut, NULL);
	assert_true(run_until(fx, is_shut));
	assert_int_equal(shut, 1);
	assert_false(fx->fs.frozen);
	assert_false(fx->apps.frozen);
}

/* ------------------------------------------------------------ ownership */

/* Whose a freeze is, by caller token: the same caller is "yours", another one, or
 * a request without a caller, is "other"; idle is nobody's. The name plays no
 * part: a caller with the same name is still another one. */
static void test_whose(void **state)
{
	struct fx *fx = *state;
	static const struct txn_caller same_name = { "test" };
	struct answer f = { 0 }, t = { 0 };
	assert_int_equal(engine_whose(fx->e, &test_caller), TXN_WHOSE_NONE);
	call(fx, TXN_FREEZE, &f);
	assert_int_equal(f.err, TXN_OK);
	assert_int_equal(engine_whose(fx->e, &test_caller), TXN_WHOSE_YOURS);
	assert_int_equal(engine_whose(fx->e, &other_caller), TXN_WHOSE_OTHER);
	assert_int_equal(engine_whose(fx->e, &same_name), TXN_WHOSE_OTHER);
	assert_int_equal(engine_whose(fx->e, NULL), TXN_WHOSE_OTHER);
	assert_string_equal(engine_origin(fx->e), "test");
	call(fx, TXN_THAW, &t);
	assert_int_equal(engine_whose(fx->e, &test_caller), TXN_WHOSE_NONE);
	assert_null(engine_origin(fx->e));
}

/* A FREEZE while frozen is refused either way, and says whose the freeze is: the
 * same caller's ("already yours": Hyper-V answers it as done), or someone else's.
 * The freeze goes on untouched. */
static void test_already_yours(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, mine = { 0 }, theirs = { 0 }, nobodys = { 0 };
	call(fx, TXN_FREEZE, &f);
	call_as(fx, &test_caller, TXN_FREEZE, &mine);
	assert_int_equal(mine.err, TXN_E_FROZEN);
	assert_int_equal(mine.whose, TXN_WHOSE_YOURS);
	call_as(fx, &other_caller, TXN_FREEZE, &theirs);
	assert_int_equal(theirs.err, TXN_E_FROZEN);
	assert_int_equal(theirs.whose, TXN_WHOSE_OTHER);
	call_as(fx, NULL, TXN_FREEZE, &nobodys);
	assert_int_equal(nobodys.whose, TXN_WHOSE_OTHER);
	assert_int_equal(engine_state(fx->e), TXN_FROZEN);
	assert_true(fx->fs.frozen);
	assert_string_equal(trace, "apps:freeze hooks:freeze fs:freeze");
}

/* Busy says whose the transaction under way is, too. */
static void test_busy_says_whose(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, mine = { 0 }, theirs = { 0 };
	fx->hooks.how[TXN_FREEZE] = HELD;
	submit(fx, TXN_FREEZE, NULL, 0, &f);
	call_as(fx, &test_caller, TXN_CHECK, &mine);
	call_as(fx, &other_caller, TXN_FREEZE, &theirs);
	assert_int_equal(mine.err, TXN_E_BUSY);
	assert_int_equal(mine.whose, TXN_WHOSE_YOURS);
	assert_int_equal(theirs.err, TXN_E_BUSY);
	assert_int_equal(theirs.whose, TXN_WHOSE_OTHER);
	finish(&fx->hooks, true, "");
	waiting_for = &f;
	assert_true(run_until(fx, answered));
	assert_int_equal(f.err, TXN_OK);
}

/* The current rule for a THAW from a caller that did not freeze: it ends the
 * freeze (quiescectl thaw ends any freeze; a transport that must leave others'
 * alone asks engine_whose() first), and while it runs the thaw is its. */
static void test_thaw_by_other(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 };
	fx->fs.how[TXN_THAW] = HELD;
	call(fx, TXN_FREEZE, &f);
	engine_submit(fx->e, &(struct txn_request){ .op = TXN_THAW, .caller = &other_caller },
		      on_answer, &t);
	assert_int_equal(engine_state(fx->e), TXN_THAWING);
	assert_int_equal(engine_whose(fx->e, &other_caller), TXN_WHOSE_YOURS);
	assert_int_equal(engine_whose(fx->e, &test_caller), TXN_WHOSE_OTHER);
	finish(&fx->fs, true, "");
	waiting_for = &t;
	assert_true(run_until(fx, answered));
	assert_int_equal(t.err, TXN_OK);
	assert_int_equal(t.count, 1);
	assert_false(fx->apps.frozen);
	assert_int_equal(engine_state(fx->e), TXN_IDLE);
}

/* The news that the lease ended a freeze goes to the caller whose freeze it was,
 * and to nobody else: another caller's THAW of nothing is just that, and leaves
 * the news for the owner. */
static void test_lease_news_is_the_owners(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, theirs = { 0 }, mine = { 0 }, again = { 0 };
	submit(fx, TXN_FREEZE, NULL, 5, &f);
	waiting_for = &f;
	assert_true(run_until(fx, answered));
	assert_true(run_until(fx, is_idle));
	call_as(fx, &other_caller, TXN_THAW, &theirs);
	assert_int_equal(theirs.err, TXN_OK);
	call_as(fx, NULL, TXN_THAW, &theirs);
	assert_int_equal(theirs.err, TXN_OK);
	call_as(fx, &test_caller, TXN_THAW, &mine);
	assert_int_equal(mine.err, TXN_E_LEASE);
	call_as(fx, &test_caller, TXN_THAW, &again);
	assert_int_equal(again.err, TXN_OK);
}

/* A freeze without a caller is nobody's: no THAW hears of its early end, not even
 * another one without a caller. */
static void test_no_caller_is_nobodys(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 };
	struct txn_request req = { .op = TXN_FREEZE, .lease_ms = 5 };
	call_req(fx, &req, &f);
	assert_int_equal(f.err, TXN_OK);
	assert_int_equal(engine_whose(fx->e, NULL), TXN_WHOSE_OTHER);
	assert_true(run_until(fx, is_idle));
	call_as(fx, NULL, TXN_THAW, &t);
	assert_int_equal(t.err, TXN_OK);
}

/* skip_fs: only the stages without .filesystems freeze, nothing is counted, and
 * undo_if_none does not undo it; the THAW thaws just those. */
static void test_skip_fs(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 };
	struct txn_request req = { .op = TXN_FREEZE, .caller = &test_caller, .skip_fs = true,
				   .undo_if_none = true };
	call_req(fx, &req, &f);
	assert_int_equal(f.err, TXN_OK);
	assert_int_equal(f.count, 0);
	assert_int_equal(engine_state(fx->e), TXN_FROZEN);
	assert_true(fx->hooks.frozen);
	assert_false(fx->fs.frozen);
	call(fx, TXN_THAW, &t);
	assert_int_equal(t.err, TXN_OK);
	assert_string_equal(trace, "apps:freeze hooks:freeze hooks:thaw apps:thaw");
}

/* early_reply: the THAW is answered once the filesystems are thawed, while the
 * stages in front of them are still thawing; the engine is idle after them. */
static void test_early_reply(void **state)
{
	struct fx *fx = *state;
	struct answer f = { 0 }, t = { 0 };
	struct txn_request req = { .op = TXN_THAW, .caller = &test_caller, .early_reply = true };
	fx->apps.how[TXN_THAW] = HELD;
	call(fx, TXN_FREEZE, &f);
	engine_submit(fx->e, &req, on_answer, &t);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.err, TXN_OK);
	assert_int_equal(t.count, 1);
	/* Answered with the apps' thaw still under way. */
	assert_int_equal(engine_state(fx->e), TXN_THAWING);
	assert_true(fx->apps.pending);
	finish(&fx->apps, true, "");
	assert_int_equal(engine_state(fx->e), TXN_IDLE);
	assert_int_equal(t.calls, 1); /* answered once */
}

/* Status is a JSON object with the state in it. */
static void test_status(void **state)
{
	struct fx *fx = *state;
	struct json_object *st = json_object_new_object(), *v;
	assert_int_equal(engine_status(fx->e, st), 0);
	assert_true(json_object_object_get_ex(st, "state", &v));
	assert_string_equal(json_object_get_string(v), "idle");
	json_object_put(st);
}

/* ------------------------------------------------------------ out of memory */

/* One whole run on fx's loop: a new engine, a freeze of two mountpoints (a stage that
 * answers later), the status while frozen, a thaw, the engine freed. */
static bool oom_engine_run(void *arg)
{
	struct fx *fx = arg;
	struct engine_config cfg = { .lease_ms = 60000, .timeout_ms = 15000 };
	char *mps[] = { "/a", "/b" };
	struct txn_request req = { .op = TXN_FREEZE, .caller = &test_caller, .mountpoints = mps,
				   .n_mountpoints = 2, .mountpoints_set = true };
	struct answer f = { 0 }, t = { 0 };
	struct json_object *st;
	bool failed;

	trace[0] = '\0';
	fx->e = engine_new(fx->loop, &cfg);
	if (!fx->e) {
		assert_true(failalloc_stop());
		return true;
	}
	fx->apps = (struct fake){ .name = "apps", .e = fx->e, .loop = fx->loop };
	fx->fs = (struct fake){ .name = "fs", .fs = true, .e = fx->e, .loop = fx->loop };
	fx->apps.how[TXN_FREEZE] = LATER;
	assert_int_equal(engine_add_stage(fx->e, &fake_ops, &fx->apps), 0);
	assert_int_equal(engine_add_stage(fx->e, &fake_fs_ops, &fx->fs), 0);
	engine_submit(fx->e, &req, on_answer, &f);
	waiting_for = &f;
	assert_true(run_until(fx, answered));
	st = json_object_new_object();
	if (st && engine_status(fx->e, st) == 0) {
		/* A status said whole is whole. */
		assert_no_null(st);
		assert_true(json_object_object_get_ex(st, "state", NULL));
		assert_true(json_object_object_get_ex(st, "stages", NULL));
	}
	json_object_put(st);
	call(fx, TXN_THAW, &t);
	engine_free(fx->e);
	failed = failalloc_stop();

	/* It does not lie: a freeze said done froze every stage, a thaw said done (or a
	 * freeze that failed) left none frozen. */
	if (f.err == TXN_OK)
		assert_string_equal(trace, "apps:freeze fs:freeze fs:thaw apps:thaw");
	else
		assert_int_equal(f.err, TXN_E_INTERNAL);
	assert_true(t.err == TXN_OK || (failed && t.err == TXN_E_INTERNAL));
	if (t.err == TXN_OK || f.err != TXN_OK)
		assert_false(fx->apps.frozen || fx->fs.frozen);
	if (!failed)
		assert_true(f.err == TXN_OK && t.err == TXN_OK && f.count == 1 && t.count == 1);
	return failed;
}

/* The Nth allocation failing, for every N, json-c's included (the loop's own grown
 * beforehand: it exits when out of memory, by design). */
static void test_out_of_memory(void **state)
{
	struct fx *fx = *state;
	engine_free(fx->e);
	assert_false(oom_engine_run(fx));
	failalloc_each("engine freeze and thaw", oom_engine_run, fx);
	fx->e = engine_new(fx->loop, &(struct engine_config){ .lease_ms = 1, .timeout_ms = 1 });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_veto_unwinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thaw_goes_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_frozen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thaw_overtakes_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_thaws, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whose, setup, teardown),
		cmocka_unit_test_setup_teardown(test_already_yours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_says_whose, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thaw_by_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_news_is_the_owners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_caller_is_nobodys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skip_fs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_early_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
	};
	unit_guard("test_engine", 20);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
