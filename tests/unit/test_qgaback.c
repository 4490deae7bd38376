// SPDX-License-Identifier: MIT
/* Unit tests for src/host/qgaback.c: the qemu-ga backend's supervision, on the real
 * event loop, with a stand-in for qemu-ga: this very binary, which acts as one when
 * started with qemu-ga's arguments (-m unix-listen -p PATH ...). FAKE_MODE picks how it
 * behaves: "ok" (greets, answers "echo" with qemu-ga's formatting, exits 3 on "die"),
 * "exit" (exits 3 at once), "badinfo" (answers guest-info with something else). It
 * exits 7 unless its config (QGA_CONF) is the administrator's (this test's, which
 * says daemon=true) followed by daemon=false.
 *
 * What is asserted: the greeting (the stray 0xFF's error and stale lines skipped),
 * the command list, answers handed over byte for byte, a death noticed and followed by
 * a restart, a deliberate restart, deaths counted and the backend given up on never.
 * A SIGALRM guard ends the binary if a test hangs. No timing is asserted. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/qgaback.h"
#include "host/qgaproto.h"
#include "fakeqga.h"
#include "unitguard.h"

/* ------------------------------------------------------------ the stand-in */

static void fake_request(int fd, const char *name, struct json_object *req)
{
	if (!strcmp(name, "guest-info")) {
		fakeqga_send(fd, !strcmp(getenv("FAKE_MODE"), "badinfo") ? "{\"return\": 5}\n" :
			     "{\"return\": {\"version\": \"7.2.99\", \"supported_commands\": ["
			     "{\"enabled\": true, \"name\": \"echo\", \"success-response\": true}, "
			     "{\"enabled\": false, \"name\": \"guest-fsfreeze-thaw\", "
			     "\"success-response\": true}]}}\n");
	} else if (!strcmp(name, "die")) {
		_exit(3);
	} else if (!strcmp(name, "echo")) {
		fakeqga_answer_id(fd, "{\"x\": 1}", req);
	}
}

/* Its config: the administrator's, then never a daemon. */
static int fake_check(int argc, char **argv)
{
	const char *mode = getenv("FAKE_MODE");
	FILE *f;
	char buf[4096];
	size_t n;

	if (!fakeqga_arg(argc, argv, "-p") || !mode || !strcmp(mode, "exit"))
		return 3;
	f = getenv("QGA_CONF") ? fopen(getenv("QGA_CONF"), "r") : NULL;
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	if (!strstr(buf, "block-rpcs=from-the-admin\n") ||
	    !strstr(buf, "[general]\ndaemon=false\n") ||
	    strstr(buf, "daemon=false") < strstr(buf, "daemon=true"))
		return 7;
	return 0;
}

/* Something left by an earlier client, as qemu-ga may have; and qemu-ga's error for
 * the stray 0xFF. */
static const struct fakeqga fake_qemu_ga = {
	.check = fake_check,
	.first = "{\"return\": \"stale\"}\n",
	.ff_answer = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
	"\"JSON parse error, stray '\\uFFFD'\"}}\n",
	.request = fake_request,
};

/* ------------------------------------------------------------ the test side */

#define GUARD_SECONDS 20

static char self[4096];
static char dir[] = "/tmp/quiesce-test-qgaback-XXXXXX";
static struct loop *loop;
static int readies, downs;
static char last_line[256], last_down[128];

static void on_ready(void *arg)
{
	(void)arg;
	readies++;
}

static void on_line(void *arg, const char *line, size_t len, bool ff)
{
	(void)arg;
	(void)ff;
	snprintf(last_line, sizeof(last_line), "%.*s", (int)len, line);
}

static void on_down(void *arg, const char *why)
{
	(void)arg;
	downs++;
	str_copy(last_down, why, sizeof(last_down));
}

static const struct qgaback_ops ops = { on_ready, on_line, on_down };

/* Run the loop until pred holds (0) or 10 s passed (1). */
static int run_until(bool (*pred)(void *arg))
{
	return unit_run_until(loop, pred, NULL, 10000) ? 0 : 1;
}

static bool one_ready(void *arg) { (void)arg; return readies >= 1; }
static bool two_ready(void *arg) { (void)arg; return readies >= 2; }
static bool got_line(void *arg) { (void)arg; return last_line[0] != '\0'; }
static bool three_downs(void *arg) { (void)arg; return downs >= 3; }

static struct qgaback *start(const char *mode)
{
	struct qgaback_config cfg = { self, dir, "guest-fsfreeze-thaw" };
	struct qgaback *b;
	setenv("FAKE_MODE", mode, 1);
	readies = downs = 0;
	last_line[0] = last_down[0] = '\0';
	b = qgaback_new(loop, &cfg, &ops, NULL);
	assert_non_null(b);
	qgaback_start(b);
	return b;
}

static int64_t status_int(struct qgaback *b, const char *key)
{
	struct json_object *o = json_object_new_object();
	int64_t v;
	qgaback_status(b, o);
	v = json_object_get_int64(json_object_object_get(o, key));
	json_object_put(o);
	return v;
}

static void test_greeting_and_answers(void **state)
{
	struct qgaback *b = start("ok");
	const struct qgaproto_info *info;
	static const char req[] = "{\"execute\":\"echo\",\"id\":[1,\"a\"]}\n";
	(void)state;
	assert_int_equal(run_until(one_ready), 0);
	assert_true(qgaback_ready(b));
	/* The stale line and the 0xFF's error were skipped, not taken for answers. */
	assert_string_equal(last_line, "");
	info = qgaback_info(b);
	assert_string_equal(info->version, "7.2.99");
	assert_int_equal(info->n, 2);
	assert_non_null(qgaproto_info_find(info, "echo"));
	assert_int_equal(qgaback_send(b, req, sizeof(req) - 1), 0);
	assert_int_equal(run_until(got_line), 0);
	/* Byte for byte: qemu-ga's spaces, the id as sent. */
	assert_string_equal(last_line, "{\"return\": {\"x\": 1}, \"id\": [1,\"a\"]}");
	assert_int_equal(downs, 0);
	qgaback_free(b);
}

static void test_death_and_restart(void **state)
{
	struct qgaback *b = start("ok");
	static const char die[] = "{\"execute\":\"die\"}\n";
	int64_t pid;
	(void)state;
	assert_int_equal(run_until(one_ready), 0);
	pid = status_int(b, "pid");
	assert_int_equal(qgaback_send(b, die, sizeof(die) - 1), 0);
	assert_int_equal(run_until(two_ready), 0);
	assert_int_equal(downs, 1);
	/* Noticed through the socket or the process, whichever came first. */
	assert_true(strstr(last_down, "exited with status 3") ||
		    strstr(last_down, "closed the connection"));
	assert_int_not_equal(status_int(b, "pid"), pid);
	assert_int_equal(status_int(b, "deaths"), 1);
	assert_int_equal(status_int(b, "starts"), 2);
	qgaback_free(b);
}

static void test_deliberate_restart(void **state)
{
	struct qgaback *b = start("ok");
	(void)state;
	assert_int_equal(run_until(one_ready), 0);
	qgaback_restart(b, "hung");
	assert_false(qgaback_ready(b));
	assert_int_equal(qgaback_send(b, "x\n", 2), -1); /* nothing goes to a dead one */
	assert_int_equal(downs, 1);
	assert_string_equal(last_down, "hung");
	assert_int_equal(run_until(two_ready), 0);
	/* A restart on purpose is not a death. */
	assert_int_equal(status_int(b, "deaths"), 0);
	qgaback_free(b);
}

static void test_keeps_dying(void **state)
{
	struct qgaback *b = start("exit");
	(void)state;
	/* Started again and again (with a growing delay), never given up on. */
	assert_int_equal(run_until(three_downs), 0);
	assert_int_equal(readies, 0);
	assert_true(strstr(last_down, "exited with status 3") != NULL);
	assert_true(status_int(b, "starts") >= 3);
	qgaback_free(b);
}

static void test_bad_info(void **state)
{
	struct qgaback *b = start("badinfo");
	(void)state;
	assert_int_equal(run_until(three_downs), 0);
	assert_int_equal(readies, 0);
	assert_string_equal(last_down, "gave no command list (guest-info)");
	assert_int_equal(qgaback_info(b)->n, 0);
	qgaback_free(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_answers),
		cmocka_unit_test(test_death_and_restart),
		cmocka_unit_test(test_deliberate_restart),
		cmocka_unit_test(test_keeps_dying),
		cmocka_unit_test(test_bad_info),
	};
	int r;

	if (fakeqga_wanted(argc, argv))
		return fakeqga_run(argc, argv, &fake_qemu_ga);
	if (!realpath("/proc/self/exe", self) || !mkdtemp(dir))
		return 1;
	/* An administrator's qemu-ga.conf that would make it a daemon. */
	{
		char conf[sizeof(dir) + 16];
		FILE *f;
		snprintf(conf, sizeof(conf), "%s/admin.conf", dir);
		f = fopen(conf, "w");
		if (!f || fputs("[general]\ndaemon=true\nblock-rpcs=from-the-admin\n", f) < 0 ||
		    fclose(f) != 0)
			return 1;
		setenv("QGA_CONF", conf, 1);
	}
	unit_guard("test_qgaback", GUARD_SECONDS);
	signal(SIGPIPE, SIG_IGN);
	unit_guard_on(NULL);
	/* qgaback logs every death and restart: to stderr only when asked. */
	if (!getenv("TEST_QGABACK_LOG") && !freopen("/dev/null", "w", stderr))
		return 1;
	log_init("test_qgaback", true, false);
	loop = loop_new();
	cmocka_set_message_output(CM_OUTPUT_TAP);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	loop_free(loop);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			r = r ? r : 1;
	}
	return r;
}
