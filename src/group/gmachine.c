// SPDX-License-Identifier: MIT
/* quiesce-group's state machine.
 *
 * Every call on a guest runs in a detached thread of its own (libvirt's calls block),
 * and reports to the machine under one mutex and condition variable. The machine
 * waits on that condition with an absolute deadline, so no wait is unbounded, and it
 * never joins a thread: a call that never answers leaves its guest GS_UNKNOWN and
 * its thread behind (the process exits soon after). The invariant the machine keeps:
 * every guest whose freeze succeeded, before or after the deadline, gets a thaw. */
#include "group/gmachine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

void gmachine_stop(struct grun *r)
{
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

double gmachine_now(const struct grun *r)
{
	return (double)(now_ns() - r->t0_ns) / 1e6;
}

void gmachine_init(struct grun *r, const struct gops *ops, void *ctx, const struct gspec *s)
{
	memset(r, 0, sizeof(*r));
	r->spec = s;
	r->ops = ops;
	r->ctx = ctx;
	r->n = s->n;
	r->deadline_ms = s->deadline_ms;
	r->hold_ms = s->hold_ms;
	r->agent_timeout_ms = s->agent_timeout_ms;
	r->t0_ns = now_ns();
	r->hold_start = r->hold_end = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < r->n; i++) {
		struct gjob *j[] = { &r->g[i].check, &r->g[i].freeze, &r->g[i].thaw, &r->g[i].snap };
		for (size_t k = 0; k < ARRAY_SIZE(j); k++) {
			j[k]->t_start = j[k]->t_end = -1;
			j[k]->r = r;
			j[k]->i = i;
		}
	}
}

static const char *dom(const struct grun *r, int i)
{
	return r->spec->g[i].dom;
}

/* ------------------------------------------------------------------ the jobs */

static void *job_main(void *arg)
{
	struct gjob *j = arg;
	struct grun *r = j->r;
	struct gres res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = j->op(r->ctx, j->i, &res);
	pthread_mutex_lock(&r->mu);
	j->res = res;
	j->rc = rc;
	j->t_end = gmachine_now(r);
	j->done = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Called with r->mu held. A job that cannot start is done at once, failed. */
static void job_start(struct gjob *j, int (*op)(void *, int, struct gres *))
{
	pthread_attr_t a;
	pthread_t t;
	int e;

	j->op = op;
	j->started = 1;
	j->t_start = gmachine_now(j->r);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &a, job_main, j);
	pthread_attr_destroy(&a);
	if (e) {
		snprintf(j->res.msg, sizeof(j->res.msg), "no thread: %s", strerror(e));
		j->rc = -1;
		j->done = 1;
		j->t_end = j->t_start;
	}
}

/* Called with r->mu held: waits until woken or at_ms passed. 0 if time remains. */
static int wait_until(struct grun *r, double at_ms, int stoppable)
{
	double left = at_ms - gmachine_now(r);
	struct timespec ts;
	uint64_t ns;

	if (left <= 0 || (stoppable && r->stop))
		return -1;
	ns = now_ns() + (uint64_t)(left * 1e6);
	ts.tv_sec = (time_t)(ns / 1000000000ULL);
	ts.tv_nsec = (long)(ns % 1000000000ULL);
	pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	return 0;
}

#define JOB(r, i, field) (&(r)->g[i].field)

/* Called with r->mu held: all started jobs of this kind done, or at_ms passed. */
static int wait_jobs(struct grun *r, size_t off, double at_ms, int stoppable)
{
	for (;;) {
		int pending = 0;
		for (int i = 0; i < r->n; i++) {
			struct gjob *j = (struct gjob *)((char *)&r->g[i] + off);
			pending += j->started && !j->done;
		}
		if (!pending || wait_until(r, at_ms, stoppable) < 0)
			return pending;
	}
}

static void set_result(struct grun *r, enum gresult res, const char *fmt, const char *a,
		       const char *b)
{
	if (r->result != GR_OK && res != GR_THAW)
		return; /* the first failure is the reason; a failed thaw outranks it */
	if (r->result == GR_THAW)
		return;
	if (res == GR_THAW && r->result != GR_OK) {
		char prev[sizeof(r->why)];
		snprintf(prev, sizeof(prev), "%s", r->why);
		snprintf(r->why, sizeof(r->why), fmt, a, b);
		size_t n = strlen(r->why);
		snprintf(r->why + n, sizeof(r->why) - n, "; before that: %.200s", prev);
	} else {
		snprintf(r->why, sizeof(r->why), fmt, a, b);
	}
	r->result = res;
}

/* ----------------------------------------------------------------- the phases */

enum gresult gmachine_check(struct grun *r)
{
	double at = gmachine_now(r) + (double)r->agent_timeout_ms + 1000;

	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < r->n; i++)
		job_start(JOB(r, i, check), r->ops->check);
	wait_jobs(r, offsetof(struct gguest, check), at, 1);
	for (int i = 0; i < r->n; i++) {
		struct gjob *j = JOB(r, i, check);
		if (j->done && j->rc == 0) {
			r->g[i].st = GS_CHECKED;
			continue;
		}
		r->g[i].st = GS_CHECK_FAILED;
		if (!j->done)
			snprintf(j->res.msg, sizeof(j->res.msg), "no answer to the check");
		set_result(r, GR_CHECK, "%s: cannot freeze: %s", dom(r, i), j->res.msg);
	}
	pthread_mutex_unlock(&r->mu);
	return r->result;
}

/* Called with r->mu held: a thaw for every guest that froze (or may have) and has
 * none yet. */
static void thaw_frozen(struct grun *r)
{
	for (int i = 0; i < r->n; i++) {
		struct gjob *f = JOB(r, i, freeze), *t = JOB(r, i, thaw);
		if (f->started && f->done && f->rc == 0 && !t->started)
			job_start(t, r->ops->thaw);
	}
}

/* Called with r->mu held, after a failure: thaw what froze at once, then wait (up to
 * the agent timeout) for the freezes still out, thawing each that lands frozen. */
static void abort_freeze(struct grun *r, double freeze_deadline)
{
	double at = freeze_deadline + (double)r->agent_timeout_ms;

	for (;;) {
		int pending = 0;
		thaw_frozen(r);
		for (int i = 0; i < r->n; i++) {
			struct gjob *f = JOB(r, i, freeze);
			pending += !f->done;
		}
		if (!pending || wait_until(r, at, 0) < 0)
			break;
	}
	for (int i = 0; i < r->n; i++) {
		struct gjob *f = JOB(r, i, freeze);
		if (!f->done) /* still nothing: ask for a thaw anyway, it queues behind */
			job_start(JOB(r, i, thaw), r->ops->thaw);
		else if (f->t_end > freeze_deadline && f->rc == 0)
			r->g[i].late = 1;
	}
}

static int freeze_all(struct grun *r)
{
	double deadline;
	int pending;

	pthread_mutex_lock(&r->mu);
	deadline = gmachine_now(r) + (double)r->deadline_ms;
	for (int i = 0; i < r->n; i++) {
		r->g[i].st = GS_FREEZING;
		job_start(JOB(r, i, freeze), r->ops->freeze);
	}
	/* Wait until all answered, one failed, or the deadline. */
	for (;;) {
		int failed = -1;
		pending = 0;
		for (int i = 0; i < r->n; i++) {
			struct gjob *f = JOB(r, i, freeze);
			pending += !f->done;
			if (f->done && f->rc != 0 && failed < 0)
				failed = i;
		}
		if (failed >= 0) {
			set_result(r, GR_FREEZE, "%s: freeze failed: %s", dom(r, failed),
				   JOB(r, failed, freeze)->res.msg);
			break;
		}
		if (!pending)
			break;
		if (wait_until(r, deadline, 1) < 0) {
			if (r->stop)
				set_result(r, GR_FREEZE, "%s%s", "interrupted by a signal", "");
			for (int i = 0; i < r->n; i++)
				if (!JOB(r, i, freeze)->done) {
					set_result(r, GR_DEADLINE, "%s: %s", dom(r, i),
						   "no freeze answer within the group's deadline");
					break;
				}
			break;
		}
	}
	if (r->result != GR_OK)
		abort_freeze(r, deadline);
	pthread_mutex_unlock(&r->mu);
	return r->result == GR_OK ? 0 : -1;
}

static void hold(struct grun *r)
{
	double at;
	int pending;

	r->hold_start = gmachine_now(r);
	for (int i = 0; i < r->n; i++)
		r->g[i].st = GS_FROZEN;
	if (r->ops->command) {
		if (r->ops->command(r->ctx, r->hold_ms, &r->hold) != 0)
			set_result(r, GR_HOLD, "the command: %s%s", r->hold.msg, "");
		r->hold_end = gmachine_now(r);
		return;
	}
	at = r->hold_start + (double)r->hold_ms;
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < r->n; i++)
		job_start(JOB(r, i, snap), r->ops->snapshot);
	pending = wait_jobs(r, offsetof(struct gguest, snap), at, 1);
	r->hold_end = gmachine_now(r);
	for (int i = 0; i < r->n; i++) {
		struct gjob *s = JOB(r, i, snap);
		if (!s->done)
			set_result(r, GR_HOLD, "%s: %s", dom(r, i), r->stop
				   ? "snapshot not done when a signal came"
				   : "snapshot not done within the hold limit");
		else if (s->rc != 0)
			set_result(r, GR_HOLD, "%s: snapshot failed: %s", dom(r, i), s->res.msg);
	}
	(void)pending;
	pthread_mutex_unlock(&r->mu);
}

/* Thaw every guest with a thaw started (or to start), wait for all, to the end. */
static void thaw_wait(struct grun *r, int everyone)
{
	double at;

	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < r->n; i++) {
		struct gjob *t = JOB(r, i, thaw);
		if (!t->started && (everyone || (JOB(r, i, freeze)->done && JOB(r, i, freeze)->rc == 0)))
			job_start(t, r->ops->thaw);
	}
	at = gmachine_now(r) + (double)r->agent_timeout_ms + 1000;
	wait_jobs(r, offsetof(struct gguest, thaw), at, 0);
	for (int i = 0; i < r->n; i++) {
		struct gguest *g = &r->g[i];
		struct gjob *f = &g->freeze, *t = &g->thaw;
		if (f->started && !f->done) {
			/* Its freeze may still land after our thaw: say so, keep the state file. */
			g->st = GS_UNKNOWN;
			set_result(r, GR_THAW, "%s: %s", dom(r, i), "no freeze answer even after the "
				   "agent timeout: it may be frozen (a thaw was asked)");
		} else if (t->started && t->done && t->rc == 0) {
			g->st = GS_THAWED;
		} else if (t->started) {
			g->st = t->done ? GS_THAW_FAILED : GS_UNKNOWN;
			if (!t->done)
				snprintf(t->res.msg, sizeof(t->res.msg), "no answer to the thaw");
			set_result(r, GR_THAW, "%s: thaw failed: %s", dom(r, i), t->res.msg);
		} else if (f->started && f->done && f->rc != 0) {
			g->st = GS_FREEZE_FAILED;
		}
	}
	pthread_mutex_unlock(&r->mu);
}

enum gresult gmachine_run(struct grun *r)
{
	if (freeze_all(r) == 0)
		hold(r);
	thaw_wait(r, 0);
	return r->result;
}

enum gresult gmachine_thaw_only(struct grun *r)
{
	thaw_wait(r, 1);
	return r->result;
}

void gmachine_times(const struct grun *r, struct gwin_guest *out)
{
	for (int i = 0; i < r->n; i++) {
		const struct gguest *g = &r->g[i];
		out[i].freeze_start = g->freeze.t_start;
		out[i].frozen_at = g->freeze.done ? g->freeze.t_end : -1;
		out[i].froze = g->freeze.done && g->freeze.rc == 0;
		out[i].thaw_start = g->thaw.t_start;
		out[i].thaw_done = g->thaw.done ? g->thaw.t_end : -1;
	}
}

const char *gstate_name(enum gstate st)
{
	static const char *const names[] = { "new", "checked", "check-failed", "freezing",
		"frozen", "freeze-failed", "thawed", "thaw-failed", "unknown" };
	return (unsigned)st < ARRAY_SIZE(names) ? names[st] : "?";
}

const char *gresult_name(enum gresult res)
{
	switch (res) {
	case GR_OK: return "ok";
	case GR_CHECK: return "check-failed";
	case GR_FREEZE: return "freeze-failed";
	case GR_DEADLINE: return "deadline";
	case GR_HOLD: return "hold-failed";
	case GR_THAW: return "thaw-failed";
	}
	return "?";
}
