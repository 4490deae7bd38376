// SPDX-License-Identifier: MIT
/* The "apps" stage of the transaction engine (engine/txn.h): CHECK and FREEZE go to
 * every registered app at once; THAW to exactly the apps that froze, in reverse
 * registration order. The phase's bookkeeping is appphase.c's. */
#include <json-c/json.h>
#include <stdio.h>

#include "apps/registry_int.h"
#include "common/util.h"

/* THAW: exactly the apps that froze, sent in reverse registration order. */
static void start_thaw(struct registry *r)
{
	struct app *a, *next;

	r->held = false;
	for (a = r->tail; a; a = next) {
		next = a->prev;
		if (!a->frozen)
			continue;
		appphase_add(r, a, M_PENDING);
		r->pending++;
		if (a->state != APP_IDLE) {
			/* Cannot happen (frozen apps have nothing outstanding); be safe. */
			appconn_set_frozen(r, a, false);
			appphase_member_done(r, r->n_members - 1, M_BUSY, 0);
			continue;
		}
		appconn_send_request(a, TXN_THAW, r->gen, r->n_members - 1);
	}
}

/* A required app still busy with an earlier request fails the phase before anyone
 * is asked. */
static struct app *first_busy(const struct registry *r)
{
	for (struct app *a = r->head; a; a = a->next)
		if (!a->optional && a->state != APP_IDLE)
			return a;
	return NULL;
}

/* Every registered app is a member; with busy set nobody is asked. */
static void ask_all(struct registry *r, enum txn_op op, const struct app *busy)
{
	struct app *a, *next;

	for (a = r->head; a && r->running; a = next) {
		struct member *m = appphase_add(r, a, busy ? M_NOT_ASKED : M_PENDING);
		next = a->next;
		if (a->state != APP_IDLE) {
			/* One request at a time: still busy from an earlier transaction
			 * counts as timed out at once (§3). */
			m->msgid = a->out.msgid;
			if (busy) {
				m->result = M_BUSY;
				continue;
			}
			r->pending++;
			appphase_member_done(r, r->n_members - 1, M_BUSY, 0);
			continue;
		}
		if (busy)
			continue;   /* the phase fails anyway: ask nobody, hold nothing */
		r->pending++;
		appconn_send_request(a, op, r->gen, r->n_members - 1);
	}
}

static void fail_busy(struct registry *r, enum txn_op op, struct app *busy)
{
	struct member m = { .app = busy, .result = M_BUSY };
	char why[128];

	r->ok = false;
	snprintf(r->msg, sizeof(r->msg), "app %s (id %u) %s", busy->name, busy->id,
		 appphase_reason(&m, r, why, sizeof(why)));
	log_warnx("%s: nobody was asked to %s", r->msg, appphase_op_word(op));
	r->in_start = true;
	appphase_finish(r);
}

/* CHECK and FREEZE: every registered app at once. */
static void start_ask(struct registry *r, enum txn_op op)
{
	struct app *busy = first_busy(r);

	if (op == TXN_FREEZE)
		r->held = true;
	ask_all(r, op, busy);
	if (busy)
		fail_busy(r, op, busy);
}

enum stage_rc appstage_start(void *self, enum txn_op op, const struct txn_request *req,
			     bool *ok, char *msg, size_t msglen)
{
	struct registry *r = self;
	(void)req;

	appphase_begin(r, op);
	if (op == TXN_THAW)
		start_thaw(r);
	else
		start_ask(r, op);
	r->in_start = false;
	if (r->running && r->pending == 0) {
		r->in_start = true;
		appphase_finish(r);
		r->in_start = false;
	}
	if (r->running)
		return STAGE_PENDING;
	*ok = r->ok;
	str_copy(msg, r->msg, msglen);
	return STAGE_DONE;
}

/* The engine stops waiting: a THAW overtook the FREEZE, or its watchdog fired. The
 * requests stay outstanding; their answers are handled as late ones. */
void appstage_cancel(void *self)
{
	struct registry *r = self;
	size_t n = 0;

	if (!r->running)
		return;
	for (size_t i = 0; i < r->n_members; i++) {
		if (r->members[i].result == M_PENDING) {
			r->members[i].result = M_CANCELLED;
			n++;
		}
	}
	r->pending = 0;
	if (r->op != TXN_THAW && n && r->ok) {
		r->ok = false;
		snprintf(r->msg, sizeof(r->msg), "cancelled with %zu app%s still to answer the %s", n,
			 n == 1 ? "" : "s", appphase_op_word(r->op));
	}
	appphase_finish(r);
}

void appstage_report(void *self, struct json_object *out)
{
	struct registry *r = self;
	struct json_object *arr = json_object_new_array_ext((int)r->n_members);

	for (size_t i = 0; i < r->n_members; i++) {
		const struct member *m = &r->members[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(m->name));
		json_object_object_add(o, "id", json_object_new_int64(m->id));
		json_object_object_add(o, "required", json_object_new_boolean(!m->optional));
		json_object_object_add(o, "result", json_object_new_string(appphase_result_names[m->result]));
		if (m->msgid)
			json_object_object_add(o, "msgid", json_object_new_int64((int64_t)m->msgid));
		if (m->result != M_PENDING && m->result != M_NOT_ASKED && m->result != M_BUSY)
			json_object_object_add(o, "ms", json_object_new_double(ns_to_ms(m->latency_ns)));
		if (m->detail[0])
			json_object_object_add(o, "detail", json_object_new_string(m->detail));
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "apps", arr);
	json_object_object_add(out, "registered", json_object_new_int64(r->n_apps));
}

unsigned appstage_count(void *self, enum txn_op op)
{
	struct registry *r = self;
	unsigned n = 0;
	if (op != r->op)
		return 0;
	for (size_t i = 0; i < r->n_members; i++)
		n += op == TXN_THAW ? r->members[i].result != M_PENDING
				    : r->members[i].result == M_OK;
	return n;
}

bool appstage_active(void *self)
{
	return ((struct registry *)self)->n_frozen > 0;
}
