// SPDX-License-Identifier: MIT
/* Unit tests for src/group/greport.c, quiesce-group's report of a group freeze: the
 * exact text (columns, "-" for what did not happen, the all-frozen window, the
 * writes-blocked sums, the qemu-ga note, long domain names) and the JSON (nulls for
 * what did not happen, ms printed to the microsecond, the lease per agent), on runs
 * whose times are set by hand so every number is known; and the JSON under every
 * allocation failure. The run is built directly (no threads, no guests): the report
 * only reads it. */
#include <ctype.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "failalloc.h"
#include "group/greport.h"
#include "unitguard.h"

static struct gspec spec;
static struct grun run;

static void setup_run(int n, const char *const *doms)
{
	char err[256];

	gspec_defaults(&spec);
	snprintf(spec.name, sizeof(spec.name), "web");
	for (int i = 0; i < n; i++)
		assert_int_equal(gspec_add2(&spec, "qemu:///system", doms[i], err, sizeof(err)), 0);
	gmachine_init(&run, NULL, NULL, &spec);
	run.deadline_ms = 2000;
	run.hold_ms = 60000;
}

/* A call asked at start and answered at end (end < 0: never answered). */
static void job(struct gjob *j, double start, double end, int rc, const char *msg)
{
	j->started = 1;
	j->t_start = start;
	j->done = end >= 0;
	j->t_end = end;
	j->rc = rc;
	snprintf(j->res.msg, sizeof(j->res.msg), "%s", msg);
}

static void checked(int i, const char *agent, const char *version)
{
	job(&run.g[i].check, 0, 1, 0, "fine");
	snprintf(run.g[i].check.res.agent, sizeof(run.g[i].check.res.agent), "%s", agent);
	snprintf(run.g[i].check.res.version, sizeof(run.g[i].check.res.version), "%s", version);
	run.g[i].st = GS_CHECKED;
}

/* Two guests, both frozen and thawed: alpha (quiesced) took its snapshot. */
static void run_ok(void)
{
	static const char *const doms[] = { "alpha", "beta" };

	setup_run(2, doms);
	checked(0, "quiesced", "1.4.2");
	checked(1, "qemu-ga", "8.2.0");
	job(&run.g[0].freeze, 10, 20, 0, "frozen 3");
	job(&run.g[1].freeze, 12, 30, 0, "frozen 2");
	job(&run.g[0].snap, 30, 48, 0, "ok");
	job(&run.g[0].thaw, 50, 55, 0, "thawed 3");
	job(&run.g[1].thaw, 50, 60, 0, "thawed 2");
	run.g[0].st = run.g[1].st = GS_THAWED;
	run.result = GR_OK;
}

/* alpha has no agent: nothing was frozen. */
static void run_check_failed(void)
{
	static const char *const doms[] = { "alpha", "beta" };

	setup_run(2, doms);
	job(&run.g[0].check, 0, 3, -1, "no agent");
	run.g[0].st = GS_CHECK_FAILED;
	checked(1, "quiesced", "1.4.2");
	run.result = GR_CHECK;
	snprintf(run.why, sizeof(run.why), "alpha: cannot freeze: no agent");
}

static char *report(void (*fn)(FILE *, const struct grun *, const struct greport_info *),
		    const char *mode, const char *snapshot)
{
	struct greport_info info = { mode, snapshot };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	fn(f, &run, &info);
	assert_int_equal(fclose(f), 0);
	return text;
}

#define HEADER "domain               agent     version       freeze    frozen      thaw   blocked " \
	"state         answers\n"

static void test_text_ok(void **state)
{
	char *text;

	(void)state;
	run_ok();
	text = report(greport_text, "snapshot", "s1");
	assert_string_equal(text,
		"group web (snapshot): ok\n" HEADER
		"alpha                quiesced  1.4.2           10.0      30.0       5.0      45.0 "
		"thawed        check: fine; freeze: frozen 3; snapshot: ok; thaw: thawed 3\n"
		"beta                 qemu-ga   8.2.0           18.0      20.0      10.0      48.0 "
		"thawed        check: fine; freeze: frozen 2; thaw: thawed 2\n"
		"all frozen at once: 20.0 ms (from 30.0 to 50.0 ms)\n"
		"writes blocked: 93.0 ms in all (sum over guests), 50.0 ms first to last, "
		"48.0 ms the longest\n"
		"note: qemu-ga has no lease: a guest running it stays frozen if quiesce-group dies; "
		"quiesce-group thaw web thaws it\n");
	free(text);
}

static void test_text_check_failed(void **state)
{
	char *text;

	(void)state;
	run_check_failed();
	text = report(greport_text, "check", NULL);
	assert_string_equal(text,
		"group web (check): check-failed: alpha: cannot freeze: no agent\n" HEADER
		"alpha                -         -                  -         -         -         - "
		"check-failed  check: no agent\n"
		"beta                 quiesced  1.4.2              -         -         -         - "
		"checked       check: fine\n"
		"all frozen at once: never\n"
		"writes blocked: 0.0 ms in all (sum over guests), 0.0 ms first to last, "
		"0.0 ms the longest\n");
	free(text);
}

/* alpha vetoed; beta froze after the deadline and was thawed; the command's answer. */
static void test_text_freeze_failed(void **state)
{
	static const char *const doms[] = { "alpha", "beta" };
	char *text;

	(void)state;
	setup_run(2, doms);
	checked(0, "quiesced", "1.4.2");
	checked(1, "quiesced", "1.4.2");
	job(&run.g[0].freeze, 0, 5, -1, "vetoed by app db");
	job(&run.g[1].freeze, 0, 40, 0, "frozen 2");
	job(&run.g[1].thaw, 40, 42, 0, "thawed 2");
	run.g[0].st = GS_FREEZE_FAILED;
	run.g[1].st = GS_THAWED;
	run.g[1].late = 1;
	run.result = GR_FREEZE;
	snprintf(run.why, sizeof(run.why), "alpha: vetoed by app db");
	snprintf(run.hold.msg, sizeof(run.hold.msg), "not run");
	text = report(greport_text, "command", NULL);
	assert_string_equal(text,
		"group web (command): freeze-failed: alpha: vetoed by app db\n" HEADER
		"alpha                quiesced  1.4.2            5.0         -         -       5.0 "
		"freeze-failed check: fine; freeze: vetoed by app db\n"
		"beta                 quiesced  1.4.2           40.0       0.0       2.0      42.0 "
		"thawed        check: fine; freeze: frozen 2 (after the deadline); thaw: thawed 2\n"
		"all frozen at once: never\n"
		"writes blocked: 47.0 ms in all (sum over guests), 42.0 ms first to last, "
		"42.0 ms the longest\n"
		"command: not run\n");
	free(text);
}

/* A freeze and a thaw that never answered; a domain name wider than its column. */
static void test_text_no_answer(void **state)
{
	static const char *const doms[] = { "a-domain-name-much-wider-than-twenty", "b" };
	char *text;

	(void)state;
	setup_run(2, doms);
	checked(0, "quiesced", "1.4.2");
	checked(1, "quiesced", "1.4.2");
	job(&run.g[0].freeze, 0, 3, 0, "frozen 1");
	job(&run.g[0].thaw, 4, 6, 0, "thawed 1");
	job(&run.g[1].freeze, 0, -1, 0, "");
	job(&run.g[1].thaw, 4, -1, 0, "");
	run.g[0].st = GS_THAWED;
	run.g[1].st = GS_UNKNOWN;
	run.result = GR_THAW;
	text = report(greport_text, "snapshot", "s1");
	assert_non_null(strstr(text, "\na-domain-name-much-wider-than-twenty quiesced  1.4.2    "
		"        3.0       1.0       2.0       6.0 thawed        check: fine; "
		"freeze: frozen 1; thaw: thawed 1\n"));
	assert_non_null(strstr(text, "\nb                    quiesced  1.4.2              - "
		"        -         -         - unknown       check: fine; freeze: no answer; "
		"thaw: no answer\n"));
	assert_non_null(strstr(text, "\nall frozen at once: never\n"));
	free(text);
}

static struct json_object *get(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;

	while (o && (dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		o = isdigit((unsigned char)key[0]) ? json_object_array_get_idx(o, (size_t)atoi(key))
						   : json_object_object_get(o, key);
		path = dot + 1;
	}
	if (!o)
		return NULL;
	if (!json_object_object_get_ex(o, path, &o))
		fail_msg("no member %s", path);
	return o;
}

static void assert_str(struct json_object *o, const char *path, const char *want)
{
	struct json_object *v = get(o, path);

	if (!want) {
		assert_null(v);
		return;
	}
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), want);
}

static void assert_num(struct json_object *o, const char *path, double want)
{
	struct json_object *v = get(o, path);

	assert_non_null(v);
	assert_true(json_object_get_double(v) == want);
}

static void test_json_ok(void **state)
{
	struct json_object *o;
	char *text;

	(void)state;
	run_ok();
	text = report(greport_json, "snapshot", "s1");
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_str(o, "group", "web");
	assert_str(o, "mode", "snapshot");
	assert_str(o, "result", "ok");
	assert_num(o, "exit_status", 0);
	assert_str(o, "reason", NULL);
	assert_str(o, "snapshot", "s1");
	assert_num(o, "deadline_ms", 2000);
	assert_num(o, "hold_limit_ms", 60000);
	assert_str(o, "guests.0.domain", "alpha");
	assert_str(o, "guests.0.uri", "qemu:///system");
	assert_str(o, "guests.0.agent", "quiesced");
	assert_true(json_object_get_boolean(get(o, "guests.0.lease")));
	assert_false(json_object_get_boolean(get(o, "guests.1.lease")));
	assert_true(json_object_is_type(get(o, "guests.1.lease"), json_type_boolean));
	assert_str(o, "guests.0.state", "thawed");
	assert_num(o, "guests.0.freeze.asked_ms", 10);
	assert_num(o, "guests.0.freeze.answered_ms", 20);
	assert_true(json_object_get_boolean(get(o, "guests.0.freeze.ok")));
	assert_str(o, "guests.0.snapshot.answer", "ok");
	assert_null(get(o, "guests.1.snapshot"));
	assert_num(o, "guests.1.freeze_ms", 18);
	assert_num(o, "guests.1.frozen_ms", 20);
	assert_num(o, "guests.1.thaw_ms", 10);
	assert_num(o, "guests.1.blocked_ms", 48);
	assert_num(o, "all_frozen.all_frozen_from_ms", 30);
	assert_num(o, "all_frozen.window_ms", 20);
	assert_num(o, "writes_blocked.total_ms", 93);
	assert_num(o, "writes_blocked.span_ms", 50);
	assert_num(o, "writes_blocked.max_ms", 48);
	assert_null(get(o, "hold.start_ms"));
	assert_null(get(o, "hold.answer"));
	/* To the microsecond, as printed. */
	assert_non_null(strstr(text, "\"freeze_ms\":18.000,"));
	json_object_put(o);
	free(text);
}

static void test_json_check_failed(void **state)
{
	struct json_object *o;
	char *text;

	(void)state;
	run_check_failed();
	text = report(greport_json, "check", NULL);
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_str(o, "result", "check-failed");
	assert_num(o, "exit_status", GR_CHECK);
	assert_str(o, "reason", "alpha: cannot freeze: no agent");
	assert_str(o, "snapshot", NULL);
	assert_str(o, "guests.0.agent", NULL);
	assert_null(get(o, "guests.0.lease"));
	assert_false(json_object_get_boolean(get(o, "guests.0.check.ok")));
	assert_str(o, "guests.0.check.answer", "no agent");
	assert_null(get(o, "guests.0.freeze"));
	assert_null(get(o, "guests.0.freeze_ms"));
	assert_null(get(o, "guests.0.blocked_ms"));
	assert_num(o, "all_frozen.window_ms", 0);
	assert_null(get(o, "all_frozen.all_frozen_from_ms"));
	json_object_put(o);
	free(text);
}

/* A freeze asked and never answered: its answer is "no answer", its answered_ms null. */
static void test_json_no_answer(void **state)
{
	static const char *const doms[] = { "alpha" };
	struct json_object *o;
	char *text;

	(void)state;
	setup_run(1, doms);
	checked(0, "quiesced", "1.4.2");
	job(&run.g[0].freeze, 0.0015, -1, 0, "");
	run.g[0].st = GS_UNKNOWN;
	run.hold_start = 7;
	snprintf(run.hold.msg, sizeof(run.hold.msg), "exit 0");
	text = report(greport_json, "command", NULL);
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_str(o, "guests.0.freeze.answer", "no answer");
	assert_null(get(o, "guests.0.freeze.answered_ms"));
	assert_false(json_object_get_boolean(get(o, "guests.0.freeze.ok")));
	assert_non_null(strstr(text, "\"asked_ms\":0.002,"));
	assert_num(o, "hold.start_ms", 7);
	assert_null(get(o, "hold.end_ms"));
	assert_str(o, "hold.answer", "exit 0");
	json_object_put(o);
	free(text);
}

/* Every allocation failing in turn (json-c's constructors and printer): no crash, no
 * leak, and either the whole report or none of it (a message on stderr instead). */
static bool json_oom_run(void *arg)
{
	struct greport_info info = { "snapshot", "s1" };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bool failed;

	(void)arg;
	assert_non_null(f);
	greport_json(f, &run, &info);
	failed = failalloc_stop();
	assert_int_equal(fclose(f), 0);
	if (failed) {
		assert_string_equal(text, "");
	} else {
		struct json_object *o = json_tokener_parse(text);
		assert_non_null(o);
		assert_num(o, "writes_blocked.total_ms", 93);
		assert_str(o, "guests.1.thaw.answer", "thawed 2");
		json_object_put(o);
	}
	free(text);
	return failed;
}

static void test_json_out_of_memory(void **state)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY);

	(void)state;
	run_ok();
	/* Not the message once per run. */
	assert_true(saved >= 0 && null >= 0);
	fflush(stderr);
	dup2(null, 2);
	assert_true(failalloc_each("greport_json", json_oom_run, NULL) >= 40);
	dup2(saved, 2);
	close(saved);
	close(null);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, unit_guard_on, unit_guard_off)
	const struct CMUnitTest tests[] = {
		T(test_text_ok),
		T(test_text_check_failed),
		T(test_text_freeze_failed),
		T(test_text_no_answer),
		T(test_json_ok),
		T(test_json_check_failed),
		T(test_json_no_answer),
		T(test_json_out_of_memory),
	};
#undef T
	unit_guard("test_greport", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
