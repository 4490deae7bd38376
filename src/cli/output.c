// SPDX-License-Identifier: MIT
/* Human-readable output of quiescectl: reports of a transaction and the status. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static double num(struct json_object *o, const char *key, double dflt)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : dflt;
}

static struct json_object *arr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array))
		return v;
	return NULL;
}

static void print_filesystems(FILE *out, struct json_object *fss, const char *indent)
{
	size_t n = fss ? json_object_array_length(fss) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(fss, i);
		const char *err = str(f, "error");
		fprintf(out, "%s%-32s %-6s %-14s %s", indent, str(f, "mountpoint"),
			str(f, "type") ? str(f, "type") : "", str(f, "source") ? str(f, "source") : "",
			str(f, "state") ? str(f, "state") : "");
		if (num(f, "freeze_ms", -1) >= 0)
			fprintf(out, ", freeze %.1f ms", num(f, "freeze_ms", 0));
		if (num(f, "thaw_ms", -1) >= 0)
			fprintf(out, ", thaw %.2f ms", num(f, "thaw_ms", 0));
		if (err)
			fprintf(out, " (%s)", err);
		fputc('\n', out);
	}
}

/* The apps and hooks of a phase that did not answer "ok", and those that said something
 * with their answer (a version 2 app's detail): one line each. */
static void print_members(FILE *out, struct json_object *members, const char *what,
			  const char *indent)
{
	size_t n = members ? json_object_array_length(members) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(members, i);
		const char *res = str(m, "result"), *detail = str(m, "detail");
		if (!res || (!strcmp(res, "ok") && !detail))
			continue;
		fprintf(out, "%s%s %s: %s", indent, what, str(m, "name"), res);
		if (num(m, "ms", -1) >= 0)
			fprintf(out, " after %.1f ms", num(m, "ms", 0));
		if (detail)
			fprintf(out, ": %s", detail);
		fputc('\n', out);
	}
}

/* One line per phase, then the filesystems. */
void print_report(FILE *out, const char *verb, struct json_object *report)
{
	struct json_object *phases = arr(report, "phases");
	size_t n = phases ? json_object_array_length(phases) : 0;

	fprintf(out, "%s: %s in %.1f ms\n", verb,
		json_object_get_boolean(json_object_object_get(report, "ok")) ? "ok" : "failed",
		num(report, "ms", 0));
	for (size_t i = 0; i < n; i++) {
		struct json_object *ph = json_object_array_get_idx(phases, i);
		const char *msg = str(ph, "message");
		struct json_object *fss = arr(ph, "filesystems");
		size_t nf = fss ? json_object_array_length(fss) : 0;

		fprintf(out, "  %-6s %-12s %-6s %8.1f ms", str(ph, "op"), str(ph, "stage"),
			json_object_get_boolean(json_object_object_get(ph, "ok")) ? "ok" : "FAILED",
			num(ph, "ms", 0));
		struct json_object *apps = arr(ph, "apps"), *hooks = arr(ph, "hooks");
		size_t na = apps ? json_object_array_length(apps) : 0;
		size_t nh = hooks ? json_object_array_length(hooks) : 0;
		if (fss)
			fprintf(out, "  %zu filesystem%s", nf, nf == 1 ? "" : "s");
		if (na)
			fprintf(out, "  %zu app%s", na, na == 1 ? "" : "s");
		if (nh)
			fprintf(out, "  %zu hook%s", nh, nh == 1 ? "" : "s");
		if (msg)
			fprintf(out, "  %s", msg);
		fputc('\n', out);
		print_filesystems(out, fss, "      ");
		print_members(out, apps, "app", "      ");
		print_members(out, hooks, "hook", "      ");
	}
}

static void print_age(FILE *out, double ms)
{
	if (ms < 1000)
		fprintf(out, "%.0f ms", ms);
	else if (ms < 120000)
		fprintf(out, "%.1f s", ms / 1000);
	else
		fprintf(out, "%.0f min", ms / 60000);
}

/* The hooks a quiesced that died had frozen, thawed by this one at its start. */
static void print_restart_thaw(FILE *out, struct json_object *rt)
{
	struct json_object *hooks = rt ? arr(rt, "hooks") : NULL;
	size_t n = hooks ? json_object_array_length(hooks) : 0;
	if (!rt)
		return;
	fprintf(out, "hooks:   %s, at start, the thaw of %zu hook%s a quiesced that died had "
		"frozen:", json_object_get_boolean(json_object_object_get(rt, "running"))
			   ? "running" : "ran", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		struct json_object *k = json_object_array_get_idx(hooks, i);
		fprintf(out, " %s (%s)", str(k, "name") ? str(k, "name") : "?",
			str(k, "result") ? str(k, "result") : "?");
	}
	fputc('\n', out);
}

/* With --qga: what answers the agent commands quiesced does not serve itself. */
static void print_qga_backend(FILE *out, struct json_object *b)
{
	const char *state = str(b, "state");
	if (!state || !strcmp(state, "none")) {
		fprintf(out, "qga:     fsfreeze commands only, no qemu-ga behind (%s)\n",
			str(b, "reason") ? str(b, "reason") : "?");
		return;
	}
	fprintf(out, "qga:     qemu-ga %s behind, %s", str(b, "version") ? str(b, "version") : "",
		state);
	if (num(b, "pid", 0) > 0)
		fprintf(out, " (pid %d)", (int)num(b, "pid", 0));
	fprintf(out, "; %d commands passed through, %d timed out; %d restarts",
		(int)num(b, "forwarded", 0), (int)num(b, "timeouts", 0),
		num(b, "starts", 0) > 1 ? (int)num(b, "starts", 0) - 1 : 0);
	if (str(b, "last_error"))
		fprintf(out, "; last: %s", str(b, "last_error"));
	fputc('\n', out);
}

void print_status(FILE *out, struct json_object *st)
{
	const char *state = str(st, "state");
	struct json_object *stages = arr(st, "stages"), *last = NULL;
	struct json_object *v;
	size_t n = stages ? json_object_array_length(stages) : 0;

	fprintf(out, "quiesced %s (pid %s)%s%s\n", str(st, "version"), str(st, "pid"),
		str(st, "scope") ? ", scope " : "", str(st, "scope") ? str(st, "scope") : "");
	fprintf(out, "state:   %s", state);
	if (str(st, "origin"))
		fprintf(out, " (by %s)", str(st, "origin"));
	fputc('\n', out);
	if (state && !strcmp(state, "frozen")) {
		fprintf(out, "frozen:  for ");
		print_age(out, num(st, "frozen_ms", 0));
		fprintf(out, "; lease %.1f s, ", num(st, "lease_ms", 0) / 1000);
		print_age(out, num(st, "lease_remaining_ms", 0));
		fprintf(out, " left%s\n",
			json_object_object_get_ex(st, "held_by_client", &v) && json_object_get_boolean(v)
				? "; held by a client (thaws when it disconnects)" : "");
	}
	if (json_object_object_get_ex(st, "lease_expired", &v) && json_object_get_boolean(v))
		fprintf(out, "warning: the last freeze outlived its lease and was thawed by quiesced; "
			     "the next thaw reports it\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(stages, i);
		if (str(s, "stage") && !strcmp(str(s, "stage"), "apps") && num(s, "registered", -1) >= 0)
			fprintf(out, "apps:    %d registered%s (quiescectl apps)\n", (int)num(s, "registered", 0),
				json_object_get_boolean(json_object_object_get(s, "active")) ? ", some frozen" : "");
	}
	for (size_t i = 0; i < n; i++)
		print_restart_thaw(out, json_object_object_get(json_object_array_get_idx(stages, i),
							       "restart_thaw"));
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(stages, i);
		struct json_object *fss = arr(s, "filesystems");
		if (fss && json_object_array_length(fss)) {
			fprintf(out, "%s (last set):\n", str(s, "stage"));
			print_filesystems(out, fss, "  ");
		}
	}
	if (json_object_object_get_ex(st, "qga_backend", &v))
		print_qga_backend(out, v);
	if (json_object_object_get_ex(st, "last", &last)) {
		double at = num(last, "at", 0);
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		fprintf(out, "last:    %s %s, %d filesystem%s, %.1f ms, ", str(last, "op"),
			json_object_get_boolean(json_object_object_get(last, "ok")) ? "ok" : "failed",
			(int)num(last, "count", 0), (int)num(last, "count", 0) == 1 ? "" : "s",
			num(last, "ms", 0));
		print_age(out, (double)now.tv_sec * 1000 + now.tv_nsec / 1e6 - at);
		fprintf(out, " ago");
		if (str(last, "message"))
			fprintf(out, ": %s", str(last, "message"));
		fputc('\n', out);
	}
}
