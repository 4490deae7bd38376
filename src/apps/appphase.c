// SPDX-License-Identifier: MIT
/* The member table and the phase: who takes part in this CHECK, FREEZE or THAW, what
 * became of each, and when the phase is over: a required app's veto, timeout or
 * disconnect ends a CHECK or FREEZE at once; otherwise the last answer does. The
 * table is sized for --max-apps at start: no allocation during a phase. */
#include <stdio.h>
#include <string.h>

#include "apps/registry_int.h"
#include "common/util.h"

const char *const appphase_result_names[M_NOT_ASKED + 1] = {
	[M_PENDING] = "pending",     [M_OK] = "ok",           [M_FAILED] = "failed",
	[M_TIMEOUT] = "timeout",     [M_BUSY] = "busy",       [M_GONE] = "disconnected",
	[M_CANCELLED] = "cancelled", [M_NOT_ASKED] = "not asked",
};

const char *appphase_op_word(enum txn_op op)
{
	return op == TXN_CHECK ? "check" : op == TXN_FREEZE ? "freeze" : "thaw";
}

void appphase_begin(struct registry *r, enum txn_op op)
{
	r->gen++;
	if (r->gen == 0)
		r->gen = 1;   /* 0 means "no phase" */
	r->op = op;
	r->running = true;
	r->in_start = true;
	r->n_members = 0;
	r->pending = 0;
	r->ok = true;
	r->msg[0] = '\0';
	r->t0 = now_ns();
	loop_timer_disarm(r->loop, &r->done_timer);
}

struct member *appphase_add(struct registry *r, struct app *a, enum member_result result)
{
	struct member *m = &r->members[r->n_members++];
	*m = (struct member){ .app = a, .id = a->id, .optional = a->optional,
			      .result = (uint8_t)result };
	str_copy(m->name, a->name, sizeof(m->name));
	return m;
}

static bool failure(enum member_result res)
{
	return res != M_OK && res != M_PENDING;
}

const char *appphase_reason(const struct member *m, const struct registry *r, char *buf,
			    size_t len)
{
	const struct app *a = m->app;
	const char *op = appphase_op_word(r->op);
	switch (m->result) {
	case M_FAILED:
		if (r->op == TXN_THAW)
			snprintf(buf, len, "answered the thaw with failure");
		else
			snprintf(buf, len, "vetoed the %s", op);
		if (m->detail[0])
			snprintf(buf + strlen(buf), len - strlen(buf), ": %s", m->detail);
		break;
	case M_TIMEOUT:
		snprintf(buf, len, "did not answer the %s within %u ms", op, a ? a->timeout_ms : 0);
		break;
	case M_BUSY:
		snprintf(buf, len, "was still busy with msgid %llu of an earlier request",
			 (unsigned long long)(a ? a->out.msgid : m->msgid));
		break;
	case M_GONE:
		snprintf(buf, len, "disconnected before answering the %s", op);
		break;
	case M_CANCELLED:
		snprintf(buf, len, "had not answered the %s when the engine stopped waiting", op);
		break;
	default:
		snprintf(buf, len, "%s", appphase_result_names[m->result]);
	}
	return buf;
}

/* One member's result is in. May finish the phase: when a required app fails a CHECK
 * or FREEZE (nothing is gained by waiting for the others), or when none is pending. */
void appphase_member_done(struct registry *r, size_t idx, enum member_result res,
			  uint64_t latency)
{
	struct member *m = &r->members[idx];
	char why[256];

	if (!r->running || m->result != M_PENDING)
		return;
	m->result = (uint8_t)res;
	m->latency_ns = latency;
	r->pending--;
	if (failure(res)) {
		appphase_reason(m, r, why, sizeof(why));
		if (r->op == TXN_THAW) {
			log_warnx("app %s (id %u) %s; it counts as thawed", m->name, m->id, why);
		} else if (m->optional) {
			log_warnx("app %s (id %u, optional) %s; going on without it", m->name, m->id,
				  why);
		} else {
			log_warnx("app %s (id %u) %s", m->name, m->id, why);
			if (r->ok) {
				r->ok = false;
				snprintf(r->msg, sizeof(r->msg), "app %s (id %u) %s", m->name, m->id, why);
			}
			appphase_finish(r);
			return;
		}
	}
	if (r->pending == 0 && !r->in_start)
		appphase_finish(r);
}

static void on_done_timer(struct loop *loop, void *arg)
{
	struct registry *r = arg;
	(void)loop;
	engine_stage_done(r->engine, r->ok, r->msg);
}

/* Those still pending when the phase ends: stopped waiting for. */
static void count_results(struct registry *r, size_t counts[M_NOT_ASKED + 1])
{
	for (size_t i = 0; i < r->n_members; i++) {
		if (r->members[i].result == M_PENDING) {
			/* A required app failed first: stop waiting for these. Their requests
			 * stay outstanding; a late FREEZE success is owed a THAW (§4.4). */
			r->members[i].result = M_NOT_ASKED;
			if (r->members[i].app && r->members[i].app->state != APP_IDLE)
				r->members[i].result = M_CANCELLED;
		}
		counts[r->members[i].result]++;
	}
}

/* The phase is over: say so, here (inside start) or from the loop (a timer, so the
 * engine never runs inside one of our fd callbacks). */
void appphase_finish(struct registry *r)
{
	size_t counts[M_NOT_ASKED + 1] = { 0 };

	if (!r->running)
		return;
	r->running = false;
	r->phase_ns = now_ns() - r->t0;
	count_results(r, counts);
	if (r->op == TXN_THAW) {
		size_t bad = r->n_members - counts[M_OK];
		/* A THAW failure does not fail the thaw: the app counts as thawed (§4.4),
		 * and the filesystems are thawed already. The report says what happened. */
		r->ok = true;
		if (bad)
			snprintf(r->msg, sizeof(r->msg),
				 "%zu of %zu apps did not thaw cleanly (they count as thawed)", bad,
				 r->n_members);
	} else if (r->ok && r->n_members > counts[M_OK]) {
		snprintf(r->msg, sizeof(r->msg), "%zu optional app%s did not take part",
			 r->n_members - counts[M_OK], r->n_members - counts[M_OK] == 1 ? "" : "s");
	}
	if (r->n_members)
		log_info("apps: %s: %zu asked, %zu ok, %zu failed, %zu timed out, %zu gone in %.1f ms",
			 appphase_op_word(r->op), r->n_members - counts[M_NOT_ASKED], counts[M_OK],
			 counts[M_FAILED], counts[M_TIMEOUT] + counts[M_BUSY] + counts[M_CANCELLED],
			 counts[M_GONE], ns_to_ms(r->phase_ns));
	if (!r->in_start)
		loop_timer_arm(r->loop, &r->done_timer, 0, on_done_timer, r);
}
