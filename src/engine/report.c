// SPDX-License-Identifier: MIT
/* The engine's report of a transaction (its phases, each stage's own details) and
 * its status: what quiescectl status and the transports' replies show. */
#include <json-c/json.h>

#include "common/util.h"
#include "engine/engine_int.h"

void engine_report_begin(struct engine *e)
{
	json_object_put(e->report);
	e->report = json_object_new_object();
	json_object_object_add(e->report, "op", json_object_new_string(engine_op_name(e->req.op)));
	json_object_object_add(e->report, "origin", json_object_new_string(e->caller->name));
	json_object_object_add(e->report, "phases", json_object_new_array());
}

void engine_report_stage(struct engine *e, int i, bool ok, const char *msg)
{
	struct stage_slot *s = &e->stages[i];
	struct json_object *ph = json_object_new_object(), *arr;

	json_object_object_add(ph, "stage", json_object_new_string(s->ops->name));
	json_object_object_add(ph, "op", json_object_new_string(engine_op_name(e->phase)));
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

void engine_report_finish(struct engine *e, bool ok, unsigned count, const char *msg)
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

static void add_frozen(struct engine *e, struct json_object *out)
{
	json_object_object_add(out, "frozen_at", json_object_new_int64((int64_t)e->frozen_at_wall));
	json_object_object_add(out, "frozen_ms",
			       json_object_new_int64((int64_t)(now_ms() - e->frozen_at)));
	json_object_object_add(out, "lease_ms", json_object_new_int64((int64_t)e->lease_ms));
	json_object_object_add(out, "lease_remaining_ms",
			       json_object_new_int64((int64_t)loop_timer_remaining(&e->lease)));
	json_object_object_add(out, "held_by_client", json_object_new_boolean(e->owner != NULL));
}

static struct json_object *stages_status(struct engine *e)
{
	struct json_object *stages = json_object_new_array();
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
	return stages;
}

void engine_status(struct engine *e, struct json_object *out)
{
	json_object_object_add(out, "state", json_object_new_string(engine_state_name(e->state)));
	if (e->state != TXN_IDLE)
		json_object_object_add(out, "origin", json_object_new_string(e->caller->name));
	if (e->state == TXN_FROZEN)
		add_frozen(e, out);
	json_object_object_add(out, "lease_expired", json_object_new_boolean(e->lease_expired));
	if (e->lease_expired) {
		json_object_object_add(out, "lease_expired_at",
				       json_object_new_int64((int64_t)e->lease_expired_at_wall));
		json_object_object_add(out, "early_thaw", json_object_new_string(e->early_thaw));
	}
	json_object_object_add(out, "stages", stages_status(e));
	if (e->last)
		json_object_object_add(out, "last", json_object_get(e->last));
}
