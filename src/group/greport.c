// SPDX-License-Identifier: MIT
/* quiesce-group's report. Times are ms since the run began (monotonic clock); -1 or
 * null: it did not happen. */
#include "group/greport.h"

#include <stdbool.h>
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

/* Out of memory: json-c's constructors give NULL, and an add to a NULL object is an
 * assert in json-c; a NULL value would read as "did not happen". So every constructor
 * goes through J(), which notes its failure in *bad, objects are added to only when
 * they exist, and a report with a failure is not printed. */
static struct json_object *jcheck(struct json_object *v, bool *bad)
{
	if (!v)
		*bad = true;
	return v;
}

#define J(v) jcheck((v), bad)

static void jadd(struct json_object *o, const char *key, struct json_object *v)
{
	if (o)
		json_object_object_add(o, key, v);
	else
		json_object_put(v);
}

/* Milliseconds to the microsecond, printed as such (not 0.0030000000000000001). */
static struct json_object *jms(double v, bool *bad)
{
	char buf[32];

	if (v < 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%.3f", v);
	return J(json_object_new_double_s(v, buf));
}

static struct json_object *jcall(const struct gjob *j, bool *bad)
{
	struct json_object *o;

	if (!j->started)
		return NULL;
	o = J(json_object_new_object());
	jadd(o, "asked_ms", jms(j->t_start, bad));
	jadd(o, "answered_ms", j->done ? jms(j->t_end, bad) : NULL);
	jadd(o, "ok", J(json_object_new_boolean(j->done && j->rc == 0)));
	jadd(o, "answer", J(json_object_new_string(j->done ? j->res.msg : "no answer")));
	return o;
}

static struct json_object *jguest(const struct grun *r, int i, const struct gwin_guest *t,
				  bool *bad)
{
	const struct gguest *g = &r->g[i];
	struct json_object *o = J(json_object_new_object());
	const struct gres *c = &g->check.res;

	jadd(o, "uri", J(json_object_new_string(r->spec->g[i].uri)));
	jadd(o, "domain", J(json_object_new_string(r->spec->g[i].dom)));
	jadd(o, "agent", c->agent[0] ? J(json_object_new_string(c->agent)) : NULL);
	jadd(o, "version", c->version[0] ? J(json_object_new_string(c->version)) : NULL);
	/* quiesced thaws on its own when its lease ends; qemu-ga never does. */
	jadd(o, "lease", c->agent[0] ? J(json_object_new_boolean(!strcmp(c->agent, "quiesced")))
				     : NULL);
	jadd(o, "state", J(json_object_new_string(gstate_name(g->st))));
	jadd(o, "late", J(json_object_new_boolean(g->late)));
	jadd(o, "check", jcall(&g->check, bad));
	jadd(o, "freeze", jcall(&g->freeze, bad));
	jadd(o, "snapshot", jcall(&g->snap, bad));
	jadd(o, "thaw", jcall(&g->thaw, bad));
	jadd(o, "freeze_ms", jms(span(t->freeze_start, t->frozen_at), bad));
	jadd(o, "frozen_ms", jms(t->froze ? span(t->frozen_at, t->thaw_start) : -1, bad));
	jadd(o, "thaw_ms", jms(span(t->thaw_start, t->thaw_done), bad));
	jadd(o, "blocked_ms", jms(t->freeze_start < 0 ? -1
		: span(t->freeze_start, t->froze ? t->thaw_done : t->frozen_at), bad));
	return o;
}

/* The group's times: the all-frozen window, writes blocked, the hold. */
static void jtimes(struct json_object *o, const struct grun *r, const struct gwin *w, bool *bad)
{
	struct json_object *x = J(json_object_new_object());

	jadd(x, "all_frozen_from_ms", jms(w->all_from, bad));
	jadd(x, "all_frozen_until_ms", jms(w->all_until, bad));
	jadd(x, "window_ms", jms(w->window_ms, bad));
	jadd(o, "all_frozen", x);
	x = J(json_object_new_object());
	jadd(x, "total_ms", jms(w->blocked_total_ms, bad));
	jadd(x, "span_ms", jms(w->blocked_span_ms, bad));
	jadd(x, "max_ms", jms(w->blocked_max_ms, bad));
	jadd(o, "writes_blocked", x);
	x = J(json_object_new_object());
	jadd(x, "start_ms", jms(r->hold_start, bad));
	jadd(x, "end_ms", jms(r->hold_end, bad));
	jadd(x, "answer", r->hold.msg[0] ? J(json_object_new_string(r->hold.msg)) : NULL);
	jadd(o, "hold", x);
}

static struct json_object *jreport(const struct grun *r, const struct greport_info *info,
				   bool *bad)
{
	struct gwin_guest t[GSPEC_MAX_GUESTS];
	struct json_object *o = J(json_object_new_object()), *gs = J(json_object_new_array());
	struct gwin w;

	gmachine_times(r, t);
	gwin_compute(t, r->n, gmachine_now(r), &w);
	jadd(o, "group", J(json_object_new_string(r->spec->name)));
	jadd(o, "mode", J(json_object_new_string(info->mode)));
	jadd(o, "result", J(json_object_new_string(gresult_name(r->result))));
	jadd(o, "exit_status", J(json_object_new_int(r->result)));
	jadd(o, "reason", r->why[0] ? J(json_object_new_string(r->why)) : NULL);
	jadd(o, "snapshot", info->snapshot ? J(json_object_new_string(info->snapshot)) : NULL);
	jadd(o, "deadline_ms", J(json_object_new_int64((int64_t)r->deadline_ms)));
	jadd(o, "hold_limit_ms", J(json_object_new_int64((int64_t)r->hold_ms)));
	for (int i = 0; i < r->n; i++) {
		struct json_object *g = jguest(r, i, &t[i], bad);
		if (gs)
			json_object_array_add(gs, g);
		else
			json_object_put(g);
	}
	jadd(o, "guests", gs);
	jtimes(o, r, &w, bad);
	return o;
}

void greport_json(FILE *f, const struct grun *r, const struct greport_info *info)
{
	bool bad = false;
	struct json_object *o = jreport(r, info, &bad);
	const char *text = bad ? NULL : json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (text)
		fprintf(f, "%s\n", text);
	else
		fprintf(stderr, "quiesce-group: no JSON report: out of memory\n");
	json_object_put(o);
}
