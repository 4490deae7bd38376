// SPDX-License-Identifier: MIT
/* Unit tests for src/cli/output.c, quiescectl's human output: the exact text of a
 * transaction's report (phases, filesystems with their times and errors, the apps and
 * hooks worth a line, long mountpoints, no or empty phases) and of the status (idle,
 * frozen and its lease, the apps, a restart's hook thaw, the last set, the qemu-ga
 * behind, the last operation's age), with print_* allocating nothing of their own.
 * Also the --json and error side of client.c that the verbs print with
 * (cli_print_json, cli_report_error: text and exit code per error class), on
 * stdout/stderr sent to a temp file. No daemon, no socket: the answers are literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cli/cli.h"
#include "failalloc.h"
#include "capture.h"
#include "unitguard.h"

static struct json_object *parse(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

/* The text fn prints for json, checked not to allocate (failalloc armed, sticky). */
static void assert_prints(void (*fn)(FILE *, const char *, struct json_object *),
			  void (*st)(FILE *, struct json_object *), const char *verb,
			  const char *json, const char *want)
{
	struct json_object *o = parse(json);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	failalloc_start(1, true);
	if (fn)
		fn(f, verb, o);
	else
		st(f, o);
	assert_false(failalloc_stop());
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, want);
	free(text);
	json_object_put(o);
}

#define REPORT(verb, json, want) assert_prints(print_report, NULL, verb, json, want)
#define STATUS(json, want) assert_prints(NULL, print_status, NULL, json, want)

static void test_report_ok(void **state)
{
	(void)state;
	REPORT("freeze",
	       "{\"ok\":true,\"ms\":12.34,\"phases\":["
	       "{\"op\":\"freeze\",\"stage\":\"apps\",\"ok\":true,\"ms\":3.3,"
	       "\"apps\":[{\"name\":\"db\",\"result\":\"ok\",\"ms\":2.5},"
	       "{\"name\":\"cache\",\"result\":\"ok\",\"detail\":\"flushed 3 MB\",\"ms\":1},"
	       "{\"name\":\"slow\",\"result\":\"timeout\",\"ms\":1000}],"
	       "\"hooks\":[{\"name\":\"10-sync\",\"result\":\"ok\"}]},"
	       "{\"op\":\"freeze\",\"stage\":\"filesystems\",\"ok\":true,\"ms\":8.5,"
	       "\"filesystems\":[{\"mountpoint\":\"/\",\"type\":\"ext4\",\"source\":\"/dev/vda1\","
	       "\"state\":\"frozen\",\"freeze_ms\":4.3},"
	       "{\"mountpoint\":\"/srv/a-very-long-mountpoint-name/deeper/still\",\"type\":\"xfs\","
	       "\"source\":\"/dev/vdb\",\"state\":\"frozen\",\"freeze_ms\":0.5,\"thaw_ms\":0.25}]}]}",
	       "freeze: ok in 12.3 ms\n"
	       "  freeze apps         ok          3.3 ms  3 apps  1 hook\n"
	       "      app cache: ok after 1.0 ms: flushed 3 MB\n"
	       "      app slow: timeout after 1000.0 ms\n"
	       "  freeze filesystems  ok          8.5 ms  2 filesystems\n"
	       "      /                                ext4   /dev/vda1      frozen, freeze 4.3 ms\n"
	       "      /srv/a-very-long-mountpoint-name/deeper/still xfs    /dev/vdb       frozen, "
	       "freeze 0.5 ms, thaw 0.25 ms\n");
}

static void test_report_failed(void **state)
{
	(void)state;
	REPORT("snapshot",
	       "{\"ok\":false,\"ms\":1500,\"phases\":["
	       "{\"op\":\"freeze\",\"stage\":\"hooks\",\"ok\":false,\"ms\":1500,"
	       "\"message\":\"hook 20-db vetoed\",\"hooks\":[{\"name\":\"20-db\","
	       "\"result\":\"vetoed\",\"ms\":12.5,\"detail\":\"replica lagging\"}]},"
	       "{\"op\":\"thaw\",\"stage\":\"filesystems\",\"ok\":true,\"ms\":0.4,"
	       "\"filesystems\":[{\"mountpoint\":\"/data\",\"type\":\"ext4\",\"source\":\"/dev/vdc\","
	       "\"state\":\"failed\",\"error\":\"Device or resource busy\"}]},"
	       "{\"op\":\"thaw\",\"stage\":\"apps\",\"ok\":true,\"ms\":0.1,\"apps\":[],"
	       "\"filesystems\":[]}]}",
	       "snapshot: failed in 1500.0 ms\n"
	       "  freeze hooks        FAILED   1500.0 ms  1 hook  hook 20-db vetoed\n"
	       "      hook 20-db: vetoed after 12.5 ms: replica lagging\n"
	       "  thaw   filesystems  ok          0.4 ms  1 filesystem\n"
	       "      /data                            ext4   /dev/vdc       failed "
	       "(Device or resource busy)\n"
	       "  thaw   apps         ok          0.1 ms  0 filesystems\n");
}

/* No phases, an empty list, phases that are not a list, an empty answer. */
static void test_report_empty(void **state)
{
	(void)state;
	REPORT("thaw", "{\"ok\":true,\"ms\":0.2,\"phases\":[]}", "thaw: ok in 0.2 ms\n");
	REPORT("thaw", "{\"ok\":true,\"ms\":0.2,\"phases\":{\"op\":\"x\"}}", "thaw: ok in 0.2 ms\n");
	REPORT("thaw", "{}", "thaw: failed in 0.0 ms\n");
	/* A member without a result says nothing; one without a type or source, blanks. */
	REPORT("freeze",
	       "{\"ok\":true,\"ms\":1,\"phases\":[{\"op\":\"freeze\",\"stage\":\"apps\",\"ok\":true,"
	       "\"ms\":1,\"apps\":[{\"name\":\"quiet\"}],\"filesystems\":[{\"mountpoint\":\"/x\"}]}]}",
	       "freeze: ok in 1.0 ms\n"
	       "  freeze apps         ok          1.0 ms  1 filesystem  1 app\n"
	       "      /x                                                     \n");
}

static void test_status_idle(void **state)
{
	(void)state;
	STATUS("{\"version\":\"1.2.0\",\"pid\":4242,\"state\":\"idle\",\"stages\":[]}",
	       "quiesced 1.2.0 (pid 4242)\nstate:   idle\n");
	/* The apps stage's count only when there is one. */
	STATUS("{\"version\":\"1.2.0\",\"pid\":\"7\",\"state\":\"idle\","
	       "\"stages\":[{\"stage\":\"apps\"},{\"stage\":\"filesystems\",\"filesystems\":[]}]}",
	       "quiesced 1.2.0 (pid 7)\nstate:   idle\n");
}

static void test_status_frozen(void **state)
{
	struct timespec now;
	char json[2048];

	(void)state;
	clock_gettime(CLOCK_REALTIME, &now);
	/* Three hours ago: the age is "180 min" unless this test takes half a minute. */
	snprintf(json, sizeof(json),
		 "{\"version\":\"1.2.0\",\"pid\":4242,\"scope\":\"/mnt/test\",\"state\":\"frozen\","
		 "\"origin\":\"quiescectl\",\"frozen_ms\":2500,\"lease_ms\":60000,"
		 "\"lease_remaining_ms\":57500,\"held_by_client\":true,\"lease_expired\":false,"
		 "\"stages\":[{\"stage\":\"apps\",\"registered\":2,\"active\":true},"
		 "{\"stage\":\"hooks\",\"restart_thaw\":{\"running\":false,\"hooks\":["
		 "{\"name\":\"10-db\",\"result\":\"ok\"},{\"name\":\"20-x\"}]}},"
		 "{\"stage\":\"filesystems\",\"filesystems\":[{\"mountpoint\":\"/\",\"type\":\"ext4\","
		 "\"source\":\"/dev/vda1\",\"state\":\"frozen\"}]}],"
		 "\"qga_backend\":{\"state\":\"running\",\"version\":\"8.2.0\",\"pid\":99,"
		 "\"forwarded\":12,\"timeouts\":1,\"starts\":3,\"last_error\":\"timed out\"},"
		 "\"last\":{\"op\":\"freeze\",\"ok\":true,\"count\":1,\"ms\":4.5,\"at\":%.3f,"
		 "\"message\":\"all frozen\"}}",
		 (double)now.tv_sec * 1000 + now.tv_nsec / 1e6 - 3 * 3600 * 1000);
	STATUS(json,
	       "quiesced 1.2.0 (pid 4242), scope /mnt/test\n"
	       "state:   frozen (by quiescectl)\n"
	       "frozen:  for 2.5 s; lease 60.0 s, 57.5 s left; held by a client (thaws when it "
	       "disconnects)\n"
	       "apps:    2 registered, some frozen (quiescectl apps)\n"
	       "hooks:   ran, at start, the thaw of 2 hooks a quiesced that died had frozen: "
	       "10-db (ok) 20-x (?)\n"
	       "filesystems (last set):\n"
	       "  /                                ext4   /dev/vda1      frozen\n"
	       "qga:     qemu-ga 8.2.0 behind, running (pid 99); 12 commands passed through, "
	       "1 timed out; 2 restarts; last: timed out\n"
	       "last:    freeze ok, 1 filesystem, 4.5 ms, 180 min ago: all frozen\n");
}

/* The lease expired, ages in ms and minutes, no apps frozen, no qemu-ga behind. */
static void test_status_expired(void **state)
{
	(void)state;
	STATUS("{\"version\":\"1.2.0\",\"pid\":1,\"state\":\"frozen\",\"frozen_ms\":250,"
	       "\"lease_ms\":600000,\"lease_remaining_ms\":300000,\"lease_expired\":true,"
	       "\"stages\":[{\"stage\":\"apps\",\"registered\":0,\"active\":false},"
	       "{\"stage\":\"hooks\",\"restart_thaw\":{\"running\":true,\"hooks\":[]}}],"
	       "\"qga_backend\":{\"state\":\"none\",\"reason\":\"no qemu-ga binary\"}}",
	       "quiesced 1.2.0 (pid 1)\n"
	       "state:   frozen\n"
	       "frozen:  for 250 ms; lease 600.0 s, 5 min left\n"
	       "warning: the last freeze outlived its lease and was thawed by quiesced; the next "
	       "thaw reports it\n"
	       "apps:    0 registered (quiescectl apps)\n"
	       "hooks:   running, at start, the thaw of 0 hooks a quiesced that died had frozen:\n"
	       "qga:     fsfreeze commands only, no qemu-ga behind (no qemu-ga binary)\n");
	STATUS("{\"version\":\"1.2.0\",\"pid\":1,\"state\":\"idle\",\"qga_backend\":{}}",
	       "quiesced 1.2.0 (pid 1)\nstate:   idle\n"
	       "qga:     fsfreeze commands only, no qemu-ga behind (?)\n");
}

struct err_case {
	struct cli cli;
	const char *answer;
	int rc;
};

static void run_report_error(void *arg)
{
	struct err_case *c = arg;
	struct json_object *o = parse(c->answer);

	c->rc = cli_report_error(&c->cli, "thaw", o);
	json_object_put(o);
}

static void assert_error(bool json, const char *answer, int rc, const char *out,
			 const char *err)
{
	struct err_case c = { .cli = { .json = json }, .answer = answer };
	char *o, *e;

	capture(run_report_error, &c, &o, &e);
	assert_string_equal(o, out);
	assert_string_equal(e, err);
	assert_int_equal(c.rc, rc);
	free(o);
	free(e);
}

static void test_errors(void **state)
{
	(void)state;
	assert_error(false, "{\"error\":{\"class\":\"PermissionDenied\",\"desc\":\"not root\"}}",
		     EXIT_DENIED, "", "quiescectl thaw: not root\n");
	assert_error(false, "{\"error\":{\"class\":\"LeaseExpired\",\"desc\":\"too late\"}}",
		     EXIT_LEASE, "", "quiescectl thaw: too late\n");
	assert_error(false, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"no such\"}}",
		     EXIT_UNREACHABLE, "", "quiescectl thaw: no such\n");
	assert_error(false, "{\"error\":{\"class\":\"Busy\"}}", EXIT_FAILED, "",
		     "quiescectl thaw: failed\n");
	assert_error(false, "{\"error\":{}}", EXIT_FAILED, "", "quiescectl thaw: failed\n");
	/* --json: the answer on stdout as is (slashes not escaped), nothing on stderr. */
	assert_error(true, "{\"error\":{\"class\":\"LeaseExpired\",\"desc\":\"/ thawed\"}}",
		     EXIT_LEASE,
		     "{\n  \"error\":{\n    \"class\":\"LeaseExpired\",\n    \"desc\":\"/ thawed\"\n"
		     "  }\n}\n", "");
}

static void run_print_json(void *arg)
{
	cli_print_json(arg);
}

static void test_json(void **state)
{
	struct json_object *o = parse("{\"return\":{\"state\":\"idle\",\"mounts\":[\"/\",\"/srv\"],"
				      "\"empty\":[]}}");
	char *text, *err;

	(void)state;
	capture(run_print_json, cli_return(o), &text, &err);
	assert_string_equal(err, "");
	free(err);
	assert_string_equal(text, "{\n  \"state\":\"idle\",\n  \"mounts\":[\n    \"/\",\n"
				  "    \"/srv\"\n  ],\n  \"empty\":[\n  ]\n}\n");
	free(text);
	assert_string_equal(cli_error_desc(o), "failed");
	json_object_put(o);
	o = parse("{\"error\":{\"class\":\"X\",\"desc\":\"it broke\"}}");
	assert_null(cli_return(o));
	assert_string_equal(cli_error_desc(o), "it broke");
	json_object_put(o);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, unit_guard_on, unit_guard_off)
	const struct CMUnitTest tests[] = {
		T(test_report_ok),
		T(test_report_failed),
		T(test_report_empty),
		T(test_status_idle),
		T(test_status_frozen),
		T(test_status_expired),
		T(test_errors),
		T(test_json),
	};
#undef T
	unit_guard("test_output", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
