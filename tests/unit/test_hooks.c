// SPDX-License-Identifier: MIT
/* Unit tests for the hooks runner (src/hooks/): real scripts in a temp hook directory,
 * run through the hooks stage on the real event loop, with the engine faked (its
 * engine_stage_done stops the loop). What is asserted: the order (names on FREEZE,
 * reversed on THAW, only the hooks whose freeze ran), the argument and environment,
 * an exit status or a signal as a veto that stops the hooks after it, a hook past its
 * timeout killed (and reaped), the output kept bounded to its last 4 KiB and logged
 * after the phase with the count of bytes dropped.
 *
 * No timing is asserted: a timeout is a sleeping hook far past a short bound, and the
 * SIGALRM guard ends a hung test. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unitguard.h"

#include "common/log.h"
#include "common/loop.h"
#include "engine/txn.h"
#include "hooks/hooks.h"

/* ------------------------------------------------------------ the fake engine */

static struct {
	struct loop *loop;
	bool done, ok;
	char msg[512];
} eng;

void engine_stage_done(struct engine *e, bool ok, const char *msg)
{
	(void)e;
	eng.done = true;
	eng.ok = ok;
	snprintf(eng.msg, sizeof(eng.msg), "%s", msg ? msg : "");
	loop_stop(eng.loop, 0);
}

const char *engine_op_name(enum txn_op op)
{
	return op == TXN_FREEZE ? "FREEZE" : op == TXN_THAW ? "THAW" : "CHECK";
}

/* ------------------------------------------------------------ the fixture */

static struct {
	char top[64];          /* the temp dir: hooks/ and what the hooks write */
	char dir[96];          /* the hook directory */
	char log[96];          /* each hook run appends a line here */
	struct hooks *h;
} t;

static void add_hook(const char *name, const char *body)
{
	char path[PATH_MAX];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", t.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho \"%s $1 $QUIESCE_PHASE ${QUIESCE_FREEZE_RESULT:-}\" >> %s\n%s\n",
		name, t.log, body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
	(void)state;
	memset(&t, 0, sizeof(t));
	memset(&eng, 0, sizeof(eng));
	snprintf(t.top, sizeof(t.top), "/tmp/quiesce-test-hooks-XXXXXX");
	assert_non_null(mkdtemp(t.top));
	snprintf(t.dir, sizeof(t.dir), "%s/hooks", t.top);
	snprintf(t.log, sizeof(t.log), "%s/runs", t.top);
	assert_int_equal(mkdir(t.dir, 0755), 0);
	eng.loop = loop_new();
	assert_non_null(eng.loop);
	return 0;
}

static void make_hooks(uint64_t timeout_ms)
{
	struct hooks_config cfg = { .dir = t.dir, .timeout_ms = timeout_ms, .budget_ms = 60000 };
	t.h = hooks_new(eng.loop, (struct engine *)&eng, &cfg);
	assert_non_null(t.h);
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	hooks_free(t.h);
	loop_free(eng.loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t.top);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Run op to its end; ok and the message as the engine would get them. */
static bool run(enum txn_op op, char *msg, size_t msglen)
{
	static const struct txn_caller test_caller = { "test" };
	struct txn_request req = { .op = op, .caller = &test_caller };
	bool ok = false;

	eng.done = false;
	msg[0] = '\0';
	if (hooks_stage_ops.start(t.h, op, &req, &ok, msg, msglen) == STAGE_DONE)
		return ok;
	assert_int_equal(loop_run(eng.loop), 0);
	assert_true(eng.done);
	snprintf(msg, msglen, "%s", eng.msg);
	return eng.ok;
}

/* The lines the hooks wrote, then the file emptied. */
static void expect_runs(const char *want)
{
	char buf[1024];
	size_t n;
	FILE *f = fopen(t.log, "r");
	if (!f) {
		assert_string_equal("", want);
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, want);
	unlink(t.log);
}

/* The report's result for each hook, as "name=result[,exit N|,signal N]; ...". */
static void expect_report(const char *want)
{
	struct json_object *out = json_object_new_object(), *arr, *v;
	char buf[512] = "";
	size_t len = 0;

	hooks_stage_ops.report(t.h, out);
	assert_true(json_object_object_get_ex(out, "hooks", &arr));
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		json_object_object_get_ex(o, "name", &v);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "; " : "",
					json_object_get_string(v));
		if (json_object_object_get_ex(o, "result", &v))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "=%s",
						json_object_get_string(v));
		if (json_object_object_get_ex(o, "exit", &v))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",exit %d",
						json_object_get_int(v));
		if (json_object_object_get_ex(o, "signal", &v))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",signal %d",
						json_object_get_int(v));
	}
	json_object_put(out);
	assert_string_equal(buf, want);
}

static void stop_loop(struct loop *loop, void *arg)
{
	(void)arg;
	loop_stop(loop, 0);
}

/* ------------------------------------------------------------ the tests */

static void test_order_and_args(void **state)
{
	char msg[512];
	(void)state;
	add_hook("20-b", "exit 0");
	add_hook("10-a", "exit 0");
	add_hook("30-c~", "exit 9");   /* an editor's leftover: never run */
	make_hooks(10000);
	assert_true(run(TXN_CHECK, msg, sizeof(msg)));
	expect_runs("");
	assert_true(run(TXN_FREEZE, msg, sizeof(msg)));
	expect_runs("10-a freeze freeze \n20-b freeze freeze \n");
	expect_report("10-a=ok; 20-b=ok");
	assert_int_equal(hooks_stage_ops.count(t.h, TXN_FREEZE), 2);
	assert_true(run(TXN_THAW, msg, sizeof(msg)));
	expect_runs("20-b thaw thaw ok\n10-a thaw thaw ok\n");
	expect_report("20-b=ok; 10-a=ok");
	assert_int_equal(hooks_stage_ops.count(t.h, TXN_THAW), 2);
}

/* A non-zero exit is a veto: the hooks after it are not run; thaw goes to the ones
 * whose freeze ran, the failed one included. */
static void test_exit_status_vetoes(void **state)
{
	char msg[512];
	(void)state;
	add_hook("10-a", "exit 0");
	add_hook("20-b", "exit 3");
	add_hook("30-c", "exit 0");
	make_hooks(10000);
	assert_false(run(TXN_FREEZE, msg, sizeof(msg)));
	assert_string_equal(msg, "hook 20-b exited with status 3");
	expect_runs("10-a freeze freeze \n20-b freeze freeze \n");
	expect_report("10-a=ok; 20-b=failed,exit 3; 30-c=not run");
	assert_true(run(TXN_THAW, msg, sizeof(msg)));
	expect_runs("20-b thaw thaw failed\n10-a thaw thaw ok\n");
}

static void test_signal_vetoes(void **state)
{
	char msg[512];
	(void)state;
	add_hook("10-a", "kill -TERM $$");
	make_hooks(10000);
	assert_false(run(TXN_FREEZE, msg, sizeof(msg)));
	assert_string_equal(msg, "hook 10-a was killed by signal 15");
	expect_report("10-a=killed,signal 15");
}

/* Past its timeout the hook is killed with its process group, and reaped. */
static void test_timeout_kills(void **state)
{
	char msg[512], pidfile[128], buf[32], helper[128];
	pid_t pid = 0, helper_pid = 0;
	FILE *f;
	(void)state;
	snprintf(pidfile, sizeof(pidfile), "%s/pid", t.top);
	snprintf(helper, sizeof(helper), "%s/helper", t.top);
	{
		char body[512];
		/* A child in its process group too, then the hook waits for ever. */
		snprintf(body, sizeof(body), "sleep 600 & echo $! > %s\necho $$ > %s\nexec sleep 600",
			 helper, pidfile);
		add_hook("10-slow", body);
	}
	add_hook("20-next", "exit 0");
	make_hooks(300);
	assert_false(run(TXN_FREEZE, msg, sizeof(msg)));
	assert_string_equal(msg, "hook 10-slow timed out");
	expect_runs("10-slow freeze freeze \n");
	expect_report("10-slow=timeout; 20-next=not run");

	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	pid = (pid_t)atoi(buf);
	f = fopen(helper, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	helper_pid = (pid_t)atoi(buf);
	assert_true(pid > 0 && helper_pid > 0);
	/* Reaped from the loop: run it until the hook is gone (the guard bounds it). */
	while (kill(pid, 0) == 0) {
		struct loop_timer tick = { .heap_index = 0 };
		loop_timer_arm(eng.loop, &tick, 10, stop_loop, NULL);
		assert_int_equal(loop_run(eng.loop), 0);
	}
	assert_int_equal(errno, ESRCH);
	/* The helper was killed with the group (init reaps it: it is not our child). */
	for (int i = 0; kill(helper_pid, 0) == 0; i++) {
		char stat[64], st = 0;
		FILE *s;
		snprintf(stat, sizeof(stat), "/proc/%d/stat", (int)helper_pid);
		s = fopen(stat, "r");
		if (s) {
			if (fscanf(s, "%*d %*s %c", &st) != 1)
				st = 0;
			fclose(s);
		}
		if (st == 'Z' || !s)
			break;   /* dead, waiting for its reaper */
		assert_true(i < 100000);
		usleep(1000);
	}
}

/* Output: the last 4 KiB kept, logged after the phase, the rest counted as dropped. */
static void test_output_bound(void **state)
{
	char msg[512], errpath[128], *text;
	size_t total = 0, n;
	long len;
	int saved, fd;
	FILE *f;
	(void)state;
	/* seq 1 20000 then LAST: its size, as the hook writes it. */
	for (int i = 1; i <= 20000; i++)
		total += (size_t)snprintf(NULL, 0, "%d\n", i);
	total += strlen("LAST\n");
	add_hook("10-chatty", "seq 1 20000\necho LAST");
	make_hooks(10000);

	snprintf(errpath, sizeof(errpath), "%s/stderr", t.top);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	log_hold(false);
	assert_true(run(TXN_FREEZE, msg, sizeof(msg)));
	log_hold(true);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);

	f = fopen(errpath, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	n = fread(text, 1, (size_t)len, f);
	text[n] = '\0';
	fclose(f);
	{
		char dropped[128];
		snprintf(dropped, sizeof(dropped), "hook 10-chatty freeze: (%zu bytes of output "
			 "before these were dropped)", total - 4096);
		if (!strstr(text, dropped))
			fail_msg("no \"%s\" in the log:\n%.2000s", dropped, text);
	}
	assert_non_null(strstr(text, "hook 10-chatty freeze: LAST"));
	assert_non_null(strstr(text, "hook 10-chatty freeze: 20000\n"));
	assert_null(strstr(text, "hook 10-chatty freeze: 1\n"));
	/* 4096 bytes kept: about 700 lines of the 20000, not all of them. */
	{
		size_t lines = 0;
		for (char *p = text; (p = strstr(p, "hook 10-chatty freeze: ")); p++)
			lines++;
		assert_in_range(lines, 600, 900);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_status_vetoes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_vetoes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_bound, setup, teardown),
	};
	unit_guard("test_hooks", 60);
	log_init("test_hooks", true, false);
	log_hold(true);   /* the hooks' warnings stay out of the TAP output */
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
