// SPDX-License-Identifier: MIT
/* quiesce-group's report. Times are ms since the run began (monotonic clock); -1 or
 * null: it did not happen. */
#include "group/greport.h"

#include <string.h>

#include <json-c/json.h>

static double span(double a, double b)
{
	return a >= 0 && b >= a ? b - a : -1;
}

static int any_qemu_ga(const struct grun *r)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->g[i].check.res.agent, "qemu-ga"))
			return 1;
	return 0;
}

static void ms(FILE *f, double v)
{
	if (v < 0)
		fprintf(f, " %9s", "-");
	else
		fprintf(f, " %9.1f", v);
}

void greport_text(FILE *f, const struct grun *r, const struct greport_info *info)
{
	struct gwin_guest t[GSPEC_MAX_GUESTS];
	struct gwin w;

	gmachine_times(r, t);
	gwin_compute(t, r->n, gmachine_now(r), &w);
	fprintf(f, "group %s (%s): %s%s%s\n", r->spec->name, info->mode, gresult_name(r->result),
		r->why[0] ? ": " : "", r->why);
	fprintf(f, "%-20s %-9s %-10s %9s %9s %9s %9s %-13s %s\n", "domain", "agent", "version",
		"freeze", "frozen", "thaw", "blocked", "state", "answers");
	for (int i = 0; i < r->n; i++) {
		const struct gguest *g = &r->g[i];
		fprintf(f, "%-20s %-9s %-10s", r->spec->g[i].dom,
			g->check.res.agent[0] ? g->check.res.agent : "-",
			g->check.res.version[0] ? g->check.res.version : "-");
		ms(f, span(t[i].freeze_start, t[i].frozen_at));
		ms(f, t[i].froze ? span(t[i].frozen_at, t[i].thaw_start) : -1);
		ms(f, span(t[i].thaw_start, t[i].thaw_done));
		ms(f, t[i].freeze_start >= 0
		      ? span(t[i].freeze_start, t[i].froze ? t[i].thaw_done : t[i].frozen_at) : -1);
		fprintf(f, " %-13s check: %s", gstate_name(g->st), g->check.res.msg);
		if (g->freeze.started)
			fprintf(f, "; freeze: %s%s", g->freeze.done ? g->freeze.res.msg : "no answer",
				g->late ? " (after the deadline)" : "");
		if (g->snap.started)
			fprintf(f, "; snapshot: %s", g->snap.done ? g->snap.res.msg : "no answer");
		if (g->thaw.started)
			fprintf(f, "; thaw: %s", g->thaw.done ? g->thaw.res.msg : "no answer");
		fprintf(f, "\n");
	}
	if (w.all_from >= 0)
		fprintf(f, "all frozen at once: %.1f ms (from %.1f to %.1f ms)\n", w.window_ms,
			w.all_from, w.all_until);
	else
		fprintf(f, "all frozen at once: never\n");
	fprintf(f, "writes blocked: %.1f ms in all (sum over guests), %.1f ms first to last, "
		"%.1f ms the longest\n", w.blocked_total_ms, w.blocked_span_ms, w.blocked_max_ms);
	if (r->hold.msg[0])
		fprintf(f, "command: %s\n", r->hold.msg);
	if (any_qemu_ga(r))
		fprintf(f, "note: qemu-ga has no lease: a guest running it stays frozen if "
			"quiesce-group dies; quiesce-group thaw %s thaws it\n", r->spec->name);
}

/* Milliseconds to the microsecond, printed as such (not 0.0030000000000000001). */
static struct json_object *jms(double v)
{
	char buf[32];

	if (v < 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(v, buf);
}

static struct json_object *jcall(const struct gjob *j)
{
	struct json_object *o;

	if (!j->started)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "asked_ms", jms(j->t_start));
	json_object_object_add(o, "answered_ms", j->done ? jms(j->t_end) : NULL);
	json_object_object_add(o, "ok", json_object_new_boolean(j->done && j->rc == 0));
	json_object_object_add(o, "answer", json_object_new_string(j->done ? j->res.msg : "no answer"));
	return o;
}

static struct json_object *jguest(const struct grun *r, int i, const struct gwin_guest *t)
{
	const struct gguest *g = &r->g[i];
	struct json_object *o = json_object_new_object();
	const struct gres *c = &g->check.res;

	json_object_object_add(o, "uri", json_object_new_string(r->spec->g[i].uri));
	json_object_object_add(o, "domain", json_object_new_string(r->spec->g[i].dom));
	json_object_object_add(o, "agent", c->agent[0] ? json_object_new_string(c->agent) : NULL);
	json_object_object_add(o, "version", c->version[0] ? json_object_new_string(c->version) : NULL);
	/* quiesced thaws on its own when its lease ends; qemu-ga never does. */
	json_object_object_add(o, "lease", c->agent[0] ? json_object_new_boolean(
		!strcmp(c->agent, "quiesced")) : NULL);
	json_object_object_add(o, "state", json_object_new_string(gstate_name(g->st)));
	json_object_object_add(o, "late", json_object_new_boolean(g->late));
	json_object_object_add(o, "check", jcall(&g->check));
	json_object_object_add(o, "freeze", jcall(&g->freeze));
	json_object_object_add(o, "snapshot", jcall(&g->snap));
	json_object_object_add(o, "thaw", jcall(&g->thaw));
	json_object_object_add(o, "freeze_ms", jms(span(t->freeze_start, t->frozen_at)));
	json_object_object_add(o, "frozen_ms", jms(t->froze ? span(t->frozen_at, t->thaw_start) : -1));
	json_object_object_add(o, "thaw_ms", jms(span(t->thaw_start, t->thaw_done)));
	json_object_object_add(o, "blocked_ms", jms(t->freeze_start < 0 ? -1
		: span(t->freeze_start, t->froze ? t->thaw_done : t->frozen_at)));
	return o;
}

void greport_json(FILE *f, const struct grun *r, const struct greport_info *info)
{
	struct gwin_guest t[GSPEC_MAX_GUESTS];
	struct json_object *o = json_object_new_object(), *gs = json_object_new_array(), *x;
	struct gwin w;

	gmachine_times(r, t);
	gwin_compute(t, r->n, gmachine_now(r), &w);
	json_object_object_add(o, "group", json_object_new_string(r->spec->name));
	json_object_object_add(o, "mode", json_object_new_string(info->mode));
	json_object_object_add(o, "result", json_object_new_string(gresult_name(r->result)));
	json_object_object_add(o, "exit_status", json_object_new_int(r->result));
	json_object_object_add(o, "reason", r->why[0] ? json_object_new_string(r->why) : NULL);
	json_object_object_add(o, "snapshot", info->snapshot ? json_object_new_string(info->snapshot) : NULL);
	json_object_object_add(o, "deadline_ms", json_object_new_int64((int64_t)r->deadline_ms));
	json_object_object_add(o, "hold_limit_ms", json_object_new_int64((int64_t)r->hold_ms));
	for (int i = 0; i < r->n; i++)
		json_object_array_add(gs, jguest(r, i, &t[i]));
	json_object_object_add(o, "guests", gs);
	x = json_object_new_object();
	json_object_object_add(x, "all_frozen_from_ms", jms(w.all_from));
	json_object_object_add(x, "all_frozen_until_ms", jms(w.all_until));
	json_object_object_add(x, "window_ms", jms(w.window_ms));
	json_object_object_add(o, "all_frozen", x);
	x = json_object_new_object();
	json_object_object_add(x, "total_ms", jms(w.blocked_total_ms));
	json_object_object_add(x, "span_ms", jms(w.blocked_span_ms));
	json_object_object_add(x, "max_ms", jms(w.blocked_max_ms));
	json_object_object_add(o, "writes_blocked", x);
	x = json_object_new_object();
	json_object_object_add(x, "start_ms", jms(r->hold_start));
	json_object_object_add(x, "end_ms", jms(r->hold_end));
	json_object_object_add(x, "answer", r->hold.msg[0] ? json_object_new_string(r->hold.msg) : NULL);
	json_object_object_add(o, "hold", x);
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}
