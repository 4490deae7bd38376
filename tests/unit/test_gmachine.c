// SPDX-License-Identifier: MIT
/* Unit tests for src/group/gmachine.c with fake guests: every guest that froze is
 * thawed, whatever failed (a veto, a missed deadline, a late freeze, a failed
 * snapshot or thaw, a signal); the freezes run in parallel; nothing is frozen when a
 * check fails. Also gagent.c (which agent, from guest-info) and greport.c's JSON. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "group/gagent.h"
#include "group/gmachine.h"
#include "group/greport.h"

struct fake {
	int check_rc, freeze_ms, freeze_rc, thaw_rc, snap_ms, snap_rc;
	int barrier; /* its freeze answers only once every guest's freeze has begun */
	int freezes, thaws, snaps, frozen, max_frozen_together;
};

static struct fake fakes[4];
static int n_fakes;
static int frozen_now, freezes_begun;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* The freezes run in parallel if every one has begun before any answers: wait (2 s at
 * most) for all to begin. One after another, the first would wait in vain. */
static int wait_all_begun(void)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	pthread_mutex_lock(&mu);
	freezes_begun++;
	pthread_cond_broadcast(&cv);
	while (freezes_begun < n_fakes && rc == 0)
		rc = pthread_cond_timedwait(&cv, &mu, &ts);
	rc = freezes_begun < n_fakes;
	pthread_mutex_unlock(&mu);
	return rc;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int f_check(void *ctx, int i, struct gres *r)
{
	(void)ctx;
	snprintf(r->agent, sizeof(r->agent), "fake");
	snprintf(r->msg, sizeof(r->msg), fakes[i].check_rc ? "no agent" : "fine");
	return fakes[i].check_rc;
}

static int f_freeze(void *ctx, int i, struct gres *r)
{
	(void)ctx;
	sleep_ms(fakes[i].freeze_ms);
	if (fakes[i].barrier && wait_all_begun()) {
		snprintf(r->msg, sizeof(r->msg), "the other freezes did not begin: not in parallel");
		return -1;
	}
	pthread_mutex_lock(&mu);
	fakes[i].freezes++;
	if (!fakes[i].freeze_rc) {
		fakes[i].frozen = 1;
		frozen_now++;
		for (int k = 0; k < n_fakes; k++)
			if (frozen_now > fakes[k].max_frozen_together)
				fakes[k].max_frozen_together = frozen_now;
	}
	pthread_mutex_unlock(&mu);
	snprintf(r->msg, sizeof(r->msg), fakes[i].freeze_rc ? "vetoed" : "frozen");
	return fakes[i].freeze_rc;
}

static int f_thaw(void *ctx, int i, struct gres *r)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	fakes[i].thaws++;
	if (!fakes[i].thaw_rc && fakes[i].frozen) {
		fakes[i].frozen = 0;
		frozen_now--;
	}
	pthread_mutex_unlock(&mu);
	snprintf(r->msg, sizeof(r->msg), fakes[i].thaw_rc ? "thaw refused" : "thawed");
	return fakes[i].thaw_rc;
}

static int f_snap(void *ctx, int i, struct gres *r)
{
	(void)ctx;
	sleep_ms(fakes[i].snap_ms);
	pthread_mutex_lock(&mu);
	fakes[i].snaps++;
	pthread_mutex_unlock(&mu);
	snprintf(r->msg, sizeof(r->msg), "snap");
	return fakes[i].snap_rc;
}

static const struct gops fops = { f_check, f_freeze, f_thaw, f_snap, NULL };
static struct gspec spec;
static struct grun run;

static void setup_group(int n, uint64_t deadline_ms, uint64_t agent_ms)
{
	char err[128], dom[16];

	memset(fakes, 0, sizeof(fakes));
	n_fakes = n;
	frozen_now = 0;
	freezes_begun = 0;
	gspec_defaults(&spec);
	spec.deadline_ms = deadline_ms;
	spec.agent_timeout_ms = agent_ms;
	spec.hold_ms = 2000;
	for (int i = 0; i < n; i++) {
		snprintf(dom, sizeof(dom), "g%d", i);
		assert_int_equal(gspec_add2(&spec, "test:///default", dom, err, sizeof(err)), 0);
	}
}

static enum gresult go(const struct gops *ops)
{
	gmachine_init(&run, ops, NULL, &spec);
	if (gmachine_check(&run) != GR_OK)
		return run.result;
	return gmachine_run(&run);
}

static void assert_none_frozen(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < n_fakes; i++)
		assert_int_equal(fakes[i].frozen, 0);
	pthread_mutex_unlock(&mu);
}

static double window(void)
{
	struct gwin_guest t[GSPEC_MAX_GUESTS];
	struct gwin w;

	gmachine_times(&run, t);
	gwin_compute(t, run.n, gmachine_now(&run), &w);
	return w.window_ms;
}

static void test_all_ok(void **state)
{
	(void)state;
	setup_group(3, 5000, 1000);
	for (int i = 0; i < 3; i++)
		fakes[i].barrier = 1; /* in parallel, or they fail */
	fakes[1].snap_ms = 20;
	assert_int_equal(go(&fops), GR_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fakes[i].snaps, 1);
		assert_int_equal(fakes[i].thaws, 1);
		assert_int_equal(run.g[i].st, GS_THAWED);
	}
	assert_int_equal(fakes[0].max_frozen_together, 3);
	assert_none_frozen();
	assert_true(window() >= 20);
}

static void test_check_fails(void **state)
{
	(void)state;
	setup_group(2, 2000, 1000);
	fakes[1].check_rc = -1;
	assert_int_equal(go(&fops), GR_CHECK);
	assert_int_equal(fakes[0].freezes + fakes[1].freezes, 0);
	assert_non_null(strstr(run.why, "g1: cannot freeze: no agent"));
}

/* A veto while another guest is still freezing: that one is thawed when it lands. */
static void test_veto(void **state)
{
	(void)state;
	setup_group(2, 2000, 1000);
	fakes[0].freeze_ms = 150;
	fakes[1].freeze_ms = 10;
	fakes[1].freeze_rc = -1;
	assert_int_equal(go(&fops), GR_FREEZE);
	assert_non_null(strstr(run.why, "g1: freeze failed: vetoed"));
	assert_int_equal(fakes[0].freezes, 1);
	assert_int_equal(fakes[0].thaws, 1);
	assert_int_equal(fakes[0].snaps + fakes[1].snaps, 0);
	assert_int_equal(run.g[0].st, GS_THAWED);
	assert_int_equal(run.g[1].st, GS_FREEZE_FAILED);
	assert_none_frozen();
	assert_true(window() == 0);
}

/* The deadline passes; the slow guest's freeze lands after it, and is thawed. */
static void test_deadline_late(void **state)
{
	(void)state;
	setup_group(2, 100, 1000);
	fakes[1].freeze_ms = 300;
	assert_int_equal(go(&fops), GR_DEADLINE);
	assert_non_null(strstr(run.why, "g1: no freeze answer within the group's deadline"));
	assert_int_equal(fakes[0].thaws, 1);
	assert_int_equal(fakes[1].thaws, 1);
	assert_int_equal(run.g[1].late, 1);
	assert_int_equal(run.g[0].late, 0);
	/* g0 was thawed at once, not after g1 landed. */
	assert_true(run.g[0].thaw.t_start < run.g[1].freeze.t_end);
	assert_int_equal(fakes[0].snaps + fakes[1].snaps, 0);
	assert_none_frozen();
}

/* A freeze that does not answer even after the agent timeout: a thaw is asked, but the
 * freeze may land after it (as here): the guest is "unknown" and the result a failed
 * thaw (exit 6: the state file is kept for quiesce-group thaw). */
static void test_freeze_never_answers(void **state)
{
	(void)state;
	setup_group(2, 100, 200);
	fakes[1].freeze_ms = 700;
	assert_int_equal(go(&fops), GR_THAW);
	assert_non_null(strstr(run.why, "g1: no freeze answer even after the agent timeout"));
	assert_non_null(strstr(run.why, "before that: g1: no freeze answer within the group's deadline"));
	assert_int_equal(run.g[1].st, GS_UNKNOWN);
	assert_int_equal(run.g[0].st, GS_THAWED);
	assert_int_equal(fakes[1].thaws, 1);
	sleep_ms(800); /* the freeze lands after the thaw: this is why it is "unknown" */
	pthread_mutex_lock(&mu);
	assert_int_equal(fakes[1].frozen, 1);
	fakes[1].frozen = 0;
	pthread_mutex_unlock(&mu);
}

static void test_snapshot_fails(void **state)
{
	(void)state;
	setup_group(2, 1000, 1000);
	fakes[0].snap_rc = -1;
	assert_int_equal(go(&fops), GR_HOLD);
	assert_non_null(strstr(run.why, "g0: snapshot failed"));
	assert_none_frozen();
}

/* One thaw fails: the other still thaws, and the result says which. */
static void test_thaw_fails(void **state)
{
	(void)state;
	setup_group(2, 1000, 500);
	fakes[0].thaw_rc = -1;
	assert_int_equal(go(&fops), GR_THAW);
	assert_int_equal(fakes[1].thaws, 1);
	assert_int_equal(fakes[1].frozen, 0);
	assert_int_equal(run.g[0].st, GS_THAW_FAILED);
	assert_non_null(strstr(run.why, "g0: thaw failed: thaw refused"));
}

static void *stopper(void *arg)
{
	sleep_ms(100);
	gmachine_stop(arg);
	return NULL;
}

/* A signal during a slow snapshot: thaw now. */
static void test_stop(void **state)
{
	pthread_t t;

	(void)state;
	setup_group(2, 1000, 500);
	fakes[0].snap_ms = 600;
	gmachine_init(&run, &fops, NULL, &spec);
	assert_int_equal(gmachine_check(&run), GR_OK);
	pthread_create(&t, NULL, stopper, &run);
	assert_int_equal(gmachine_run(&run), GR_HOLD);
	pthread_join(t, NULL);
	assert_non_null(strstr(run.why, "signal"));
	assert_true(run.g[0].thaw.t_start < 500);
	assert_none_frozen();
	sleep_ms(600); /* the abandoned snapshot thread ends before the next test */
}

static int cmd_fail(void *ctx, uint64_t limit_ms, struct gres *r)
{
	(void)ctx;
	(void)limit_ms;
	snprintf(r->msg, sizeof(r->msg), "backup exited 1");
	return -1;
}

static void test_command_fails(void **state)
{
	struct gops ops = fops;

	(void)state;
	ops.command = cmd_fail;
	setup_group(2, 1000, 500);
	assert_int_equal(go(&ops), GR_HOLD);
	assert_non_null(strstr(run.why, "backup exited 1"));
	assert_int_equal(fakes[0].snaps, 0);
	assert_none_frozen();
}

static void test_thaw_only(void **state)
{
	(void)state;
	setup_group(2, 1000, 500);
	gmachine_init(&run, &fops, NULL, &spec);
	assert_int_equal(gmachine_thaw_only(&run), GR_OK);
	assert_int_equal(fakes[0].thaws + fakes[1].thaws, 2);
}

static void test_agent(void **state)
{
	struct gres r;
	const char *quiesced = "{\"return\":{\"version\":\"7.2.15\",\"supported_commands\":["
		"{\"enabled\":true,\"name\":\"guest-sync-delimited\"},{\"enabled\":true,\"name\":\"guest-sync\"},"
		"{\"enabled\":true,\"name\":\"guest-ping\"},{\"enabled\":true,\"name\":\"guest-info\"},"
		"{\"enabled\":true,\"name\":\"guest-fsfreeze-status\"},{\"enabled\":true,\"name\":\"guest-fsfreeze-freeze\"},"
		"{\"enabled\":true,\"name\":\"guest-fsfreeze-freeze-list\"},{\"enabled\":true,\"name\":\"guest-fsfreeze-thaw\"},"
		"{\"enabled\":true,\"name\":\"guest-get-time\"}]}}";
	const char *qga = "{\"return\":{\"version\":\"7.2.15\",\"supported_commands\":["
		"{\"enabled\":true,\"name\":\"guest-get-time\"},{\"enabled\":true,\"name\":\"guest-fsfreeze-freeze\"}]}}";
	const char *nofreeze = "{\"return\":{\"version\":\"7.2.15\",\"supported_commands\":["
		"{\"enabled\":false,\"name\":\"guest-fsfreeze-freeze\"}]}}";

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(gagent_classify(quiesced, &r), 0);
	assert_string_equal(r.agent, "quiesced");
	assert_string_equal(r.version, "7.2.15");
	memset(&r, 0, sizeof(r));
	assert_int_equal(gagent_classify(qga, &r), 0);
	assert_string_equal(r.agent, "qemu-ga");
	memset(&r, 0, sizeof(r));
	assert_int_equal(gagent_classify(nofreeze, &r), -1);
	assert_non_null(strstr(r.msg, "not enabled"));
	assert_int_equal(gagent_classify("{\"return\":1}", &r), -1);
	assert_int_equal(gagent_classify("garbage", &r), -1);
}

static void test_report_json(void **state)
{
	struct greport_info info = { "snapshot", "s1" };
	struct json_object *o, *x, *g;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	setup_group(2, 1000, 500);
	fakes[0].snap_ms = 30;
	assert_int_equal(go(&fops), GR_OK);
	f = open_memstream(&text, &len);
	greport_json(f, &run, &info);
	fclose(f);
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "all_frozen", &x));
	assert_true(json_object_object_get_ex(x, "window_ms", &x));
	assert_true(json_object_get_double(x) >= 30);
	assert_true(json_object_object_get_ex(o, "guests", &g));
	assert_int_equal(json_object_array_length(g), 2);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(g, 1), "state", &x));
	assert_string_equal(json_object_get_string(x), "thawed");
	assert_true(json_object_object_get_ex(o, "result", &x));
	assert_string_equal(json_object_get_string(x), "ok");
	json_object_put(o);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_ok),        cmocka_unit_test(test_check_fails),
		cmocka_unit_test(test_veto),          cmocka_unit_test(test_deadline_late),
		cmocka_unit_test(test_freeze_never_answers),
		cmocka_unit_test(test_snapshot_fails), cmocka_unit_test(test_thaw_fails),
		cmocka_unit_test(test_stop),          cmocka_unit_test(test_command_fails),
		cmocka_unit_test(test_thaw_only),     cmocka_unit_test(test_agent),
		cmocka_unit_test(test_report_json),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
