// SPDX-License-Identifier: MIT
/* The engine's report of a transaction (its phases, each stage's own details) and
 * its status: what quiescectl status and the transports' replies show. Out of memory,
 * a report is dropped whole (the transaction goes on without one), never sent with a
 * part missing or a JSON null where a value failed to allocate. */
#include <json-c/json.h>

#include "common/jsonput.h"
#include "common/util.h"
#include "engine/engine_int.h"

/* The report under way could not be completed: none at all, for this transaction and
 * as the last one in status (the one before it would tell of another transaction). */
static void drop_report(struct engine *e)
{
	if (e->report)
		log_errx("out of memory: no report of this %s", engine_op_name(e->req.op));
	json_object_put(e->report);
	e->report = NULL;
	json_object_put(e->last);
	e->last = NULL;
}

void engine_report_begin(struct engine *e)
{
	json_object_put(e->report);
	e->report = json_object_new_object();
	if (!e->report) {
		log_errx("out of memory: no report of this %s", engine_op_name(e->req.op));
		return;
	}
	if (!jput(e->report, "op", json_object_new_string(engine_op_name(e->req.op))) ||
	    !jput(e->report, "origin", json_object_new_string(e->caller->name)) ||
	    !jput(e->report, "phases", json_object_new_array()))
		drop_report(e);
}

void engine_report_stage(struct engine *e, int i, bool ok, const char *msg)
{
	struct stage_slot *s = &e->stages[i];
	struct json_object *ph, *arr;

	if (!e->report)
		return;
	ph = json_object_new_object();
	if (!jput(ph, "stage", json_object_new_string(s->ops->name)) ||
	    !jput(ph, "op", json_object_new_string(engine_op_name(e->phase))) ||
	    !jput(ph, "ok", json_object_new_boolean(ok)) ||
	    !jput(ph, "ms", json_object_new_double(ns_to_ms(now_ns() - s->t0))) ||
	    (msg && *msg && !jput(ph, "message", json_object_new_string(msg))))
		goto fail;
	if (s->ops->report)
		s->ops->report(s->self, ph);
	if (!json_object_object_get_ex(e->report, "phases", &arr) ||
	    json_object_array_add(arr, ph) < 0)
		goto fail;
	return;
fail:
	json_object_put(ph);
	drop_report(e);
}

void engine_report_finish(struct engine *e, bool ok, unsigned count, const char *msg)
{
	if (!e->report) {
		drop_report(e);
		return;
	}
	if (!jput(e->report, "ok", json_object_new_boolean(ok)) ||
	    !jput(e->report, "count", json_object_new_int((int)count)) ||
	    !jput(e->report, "ms", json_object_new_double(ns_to_ms(now_ns() - e->t0))) ||
	    !jput(e->report, "at", json_object_new_int64((int64_t)wall_ms())) ||
	    (msg && *msg && !jput(e->report, "message", json_object_new_string(msg)))) {
		drop_report(e);
		return;
	}
	json_object_put(e->last);
	e->last = json_object_get(e->report);
}

static bool add_frozen(struct engine *e, struct json_object *out)
{
	return jput(out, "frozen_at", json_object_new_int64((int64_t)e->frozen_at_wall)) &&
	       jput(out, "frozen_ms", json_object_new_int64((int64_t)(now_ms() - e->frozen_at))) &&
	       jput(out, "lease_ms", json_object_new_int64((int64_t)e->lease_ms)) &&
	       jput(out, "lease_remaining_ms",
		   json_object_new_int64((int64_t)loop_timer_remaining(&e->lease))) &&
	       jput(out, "held_by_client", json_object_new_boolean(e->owner != NULL));
}

static bool add_stage(const struct stage_slot *st, struct json_object *stages)
{
	struct json_object *s = json_object_new_object();

	if (!jput(s, "stage", json_object_new_string(st->ops->name)) ||
	    !jput(s, "active", json_object_new_boolean(st->ops->active && st->ops->active(st->self)))) {
		json_object_put(s);
		return false;
	}
	if (st->ops->report)
		st->ops->report(st->self, s);
	if (json_object_array_add(stages, s) < 0) {
		json_object_put(s);
		return false;
	}
	return true;
}

static struct json_object *stages_status(struct engine *e)
{
	struct json_object *stages = json_object_new_array();
	for (size_t i = 0; stages && i < e->n_stages; i++) {
		if (!add_stage(&e->stages[i], stages)) {
			json_object_put(stages);
			return NULL;
		}
	}
	return stages;
}

int engine_status(struct engine *e, struct json_object *out)
{
	if (!jput(out, "state", json_object_new_string(engine_state_name(e->state))) ||
	    (e->state != TXN_IDLE && !jput(out, "origin", json_object_new_string(e->caller->name))) ||
	    (e->state == TXN_FROZEN && !add_frozen(e, out)) ||
	    !jput(out, "lease_expired", json_object_new_boolean(e->lease_expired)))
		return -1;
	if (e->lease_expired &&
	    (!jput(out, "lease_expired_at", json_object_new_int64((int64_t)e->lease_expired_at_wall)) ||
	     !jput(out, "early_thaw", json_object_new_string(e->early_thaw))))
		return -1;
	if (!jput(out, "stages", stages_status(e)) ||
	    (e->last && !jput(out, "last", json_object_get(e->last))))
		return -1;
	return 0;
}
