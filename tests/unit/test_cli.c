// SPDX-License-Identifier: MIT
/* Unit tests for quiescectl's verbs and plumbing (src/cli/main.c, opts.c, verbs.c,
 * apps.c, client.c; snapshot and the qemu-ga hook have test_snapshot.c and
 * test_clihook.c): quiescectl's main runs in-process against a stand-in quiesced on a
 * real Unix socket in a temp dir (fakectl.h). Checked: the requests each verb sends
 * (command, arguments, an id), how answers and error classes become output and exit
 * codes, options before and after the verb, bad input (usage exit 2, before any
 * connection), the daemon absent (exit 3, its reason), and the client's reading of
 * answers: another id, an error without id, an answer over several reads, bad JSON, the
 * connection closed, no answer within --wait. The output is compared with the text
 * the code prints (output.c's own tests cover the report and status layout). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "fakectl.h"
#include "capture.h"
#include "unitguard.h"

/* main.c, its main renamed: the program's entry is the one under test. */
int quiescectl_main(int argc, char **argv);
#define main quiescectl_main
#include "cli/main.c"
#undef main

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct run {
	int argc, rc;
	char *argv[32];
};

static void run_main(void *arg)
{
	struct run *r = arg;

	optind = 0; /* as main does for a verb: a fresh getopt for each run */
	r->rc = quiescectl_main(r->argc, r->argv);
}

/* quiescectl ARGS... (NULL-terminated; argv[0] is the first); *out, *err: its output. */
static int ctl_argv(char **out, char **err, const char *arg0, va_list ap)
{
	struct run r = { .argc = 0 };
	const char *a;

	r.argv[r.argc++] = (char *)arg0;
	while ((a = va_arg(ap, const char *)) && r.argc < 31)
		r.argv[r.argc++] = (char *)a;
	r.argv[r.argc] = NULL;
	capture(run_main, &r, out, err);
	return r.rc;
}

static int ctl(char **out, char **err, const char *arg0, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg0);
	rc = ctl_argv(out, err, arg0, ap);
	va_end(ap);
	return rc;
}

/* Checks the output and frees it. */
static void expect(char *out, char *err, const char *want_out, const char *want_err)
{
	assert_string_equal(out, want_out);
	assert_string_equal(err, want_err);
	free(out);
	free(err);
}

static void expect_prefix(char *text, const char *prefix)
{
	if (strncmp(text, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", text, prefix);
	free(text);
}

#define STATUS_IDLE "{\"return\":{\"version\":\"1.2.0\",\"pid\":7,\"state\":\"idle\"}}"
#define STATUS_IDLE_TEXT "quiesced 1.2.0 (pid 7)\nstate:   idle\n"
#define REQ_STATUS "{\"execute\":\"quiesce-status\"}"
#define REPORT_OK "{\"ok\":true,\"ms\":1.5,\"phases\":[]}"
#define REPORT_FAILED "{\"ok\":false,\"ms\":2,\"phases\":[]}"

/* One verb against one answer: the exit code, the output, the one request. */
static void verb_case(const char *reply, const char *want_req, int want_rc, const char *want_out,
		      const char *want_err, ...)
{
	struct fake_step step = { .reply = reply };
	struct fakectl f;
	const char *arg;
	struct run r = { .argc = 0 };
	char *out, *err;
	va_list ap;

	fake_start(&f, &step, 1);
	r.argv[r.argc++] = (char *)"quiescectl";
	r.argv[r.argc++] = (char *)"--socket";
	r.argv[r.argc++] = f.path;
	va_start(ap, want_err);
	while ((arg = va_arg(ap, const char *)))
		r.argv[r.argc++] = (char *)arg;
	va_end(ap);
	capture(run_main, &r, &out, &err);
	fake_check(&f, &want_req, 1);
	assert_int_equal(r.rc, want_rc);
	if (want_out[0] == '~') /* the start only */
		expect_prefix(out, want_out + 1);
	else if (strcmp(out, want_out) == 0)
		free(out);
	else
		assert_string_equal(out, want_out);
	assert_string_equal(err, want_err);
	free(err);
}

static void test_status(void **state)
{
	(void)state;
	verb_case(STATUS_IDLE, REQ_STATUS, 0, STATUS_IDLE_TEXT, "", "status", NULL);
	/* --json before the verb or after it: the return value, as is. */
	verb_case(STATUS_IDLE, REQ_STATUS, 0,
		  "{\n  \"version\":\"1.2.0\",\n  \"pid\":7,\n  \"state\":\"idle\"\n}\n", "",
		  "--json", "status", NULL);
	verb_case(STATUS_IDLE, REQ_STATUS, 0,
		  "{\n  \"version\":\"1.2.0\",\n  \"pid\":7,\n  \"state\":\"idle\"\n}\n", "",
		  "status", "--json", NULL);
	verb_case("{\"error\":{\"class\":\"GenericError\",\"desc\":\"out of memory\"}}", REQ_STATUS,
		  1, "", "quiescectl status: out of memory\n", "status", NULL);
	verb_case("{\"error\":{\"class\":\"GenericError\",\"desc\":\"out of memory\"}}", REQ_STATUS,
		  1, "~{\n  \"error\":{\n    \"class\":\"GenericError\",\n    \"desc\":\"out of memory\"\n"
		  "  },\n  \"id\":", "", "status", "--json", NULL);
}

static void test_check(void **state)
{
	(void)state;
	verb_case("{\"return\":{\"report\":" REPORT_OK "}}", "{\"execute\":\"quiesce-check\"}", 0,
		  "check: ok in 1.5 ms\n", "", "check", NULL);
	/* A veto: its desc, and the report that came with the error, on stderr. */
	verb_case("{\"error\":{\"class\":\"Vetoed\",\"desc\":\"app db vetoed\",\"report\":"
		  REPORT_FAILED "}}", "{\"execute\":\"quiesce-check\"}", 1, "",
		  "quiescectl check: app db vetoed\ncheck: failed in 2.0 ms\n", "check", NULL);
	verb_case("{\"error\":{\"class\":\"PermissionDenied\",\"desc\":\"root only\"}}",
		  "{\"execute\":\"quiesce-check\"}", 4, "", "quiescectl check: root only\n",
		  "check", NULL);
}

static void test_freeze(void **state)
{
	static const char *const ok = "{\"return\":{\"count\":2,\"report\":" REPORT_OK "}}";

	(void)state;
	verb_case(ok, "{\"execute\":\"quiesce-freeze\",\"arguments\":{}}", 0,
		  "freeze: ok in 1.5 ms\n", "", "freeze", NULL);
	verb_case(ok, "{\"execute\":\"quiesce-freeze\",\"arguments\":{\"lease\":1.5,"
		  "\"mountpoints\":[\"/a\",\"/b\"]}}", 0, "freeze: ok in 1.5 ms\n", "",
		  "freeze", "--lease", "1.5", "/a", "/b", NULL);
	/* Options after the mountpoints too; "--" ends them. */
	verb_case(ok, "{\"execute\":\"quiesce-freeze\",\"arguments\":{\"lease\":0.25,"
		  "\"mountpoints\":[\"/a\",\"--lease\"]}}", 0, "freeze: ok in 1.5 ms\n", "",
		  "freeze", "/a", "--lease=250ms", "--", "--lease", NULL);
	verb_case(ok, "{\"execute\":\"quiesce-freeze\",\"arguments\":{}}", 0,
		  "{\n  \"count\":2,\n  \"report\":{\n    \"ok\":true,\n    \"ms\":1.5,\n"
		  "    \"phases\":[\n    ]\n  }\n}\n", "", "freeze", "--json", NULL);
	verb_case("{\"error\":{\"class\":\"AlreadyFrozen\",\"desc\":\"already frozen\"}}",
		  "{\"execute\":\"quiesce-freeze\",\"arguments\":{}}", 1, "",
		  "quiescectl freeze: already frozen\n", "freeze", NULL);
	verb_case("{\"error\":{\"class\":\"FilesystemError\",\"desc\":\"/a: busy\",\"report\":"
		  REPORT_FAILED "}}", "{\"execute\":\"quiesce-freeze\",\"arguments\":{}}", 1, "",
		  "quiescectl freeze: /a: busy\nfreeze: failed in 2.0 ms\n", "freeze", NULL);
}

static void test_thaw(void **state)
{
	static const char *const req = "{\"execute\":\"quiesce-thaw\"}";

	(void)state;
	verb_case("{\"return\":{\"count\":1,\"report\":" REPORT_OK "}}", req, 0,
		  "thaw: ok in 1.5 ms\n", "", "thaw", NULL);
	verb_case("{\"return\":{\"count\":0}}", req, 0, "thaw: nothing was frozen\n", "", "thaw",
		  NULL);
	verb_case("{\"error\":{\"class\":\"LeaseExpired\",\"desc\":\"the lease expired\"}}", req, 5,
		  "", "quiescectl thaw: the lease expired\n", "thaw", NULL);
	/* A daemon that does not know the command: as if it were not there. */
	verb_case("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"no such command\"}}", req,
		  3, "", "quiescectl thaw: no such command\n", "thaw", NULL);
}

static void test_apps(void **state)
{
	static const char *const req = "{\"execute\":\"quiesce-apps\"}";

	(void)state;
	verb_case("{\"return\":{\"apps\":[],\"count\":0,\"max\":64,\"socket\":\"/run/q/app.sock\"}}",
		  req, 0, "0 apps registered (at most 64) on /run/q/app.sock\n", "", "apps", NULL);
	verb_case("{\"return\":{\"apps\":[{\"id\":3,\"name\":\"db\",\"pid\":42,\"uid\":0,"
		  "\"required\":true,\"timeout_ms\":5000,\"state\":\"idle\",\"connected_ms\":500,"
		  "\"last\":{\"op\":\"freeze\",\"result\":\"ok\",\"ms\":2.5,\"detail\":\"lsn 7\"}},"
		  "{\"id\":4,\"name\":\"cache\",\"pid\":43,\"uid\":1000,\"timeout_ms\":200000,"
		  "\"state\":\"asked\",\"connected_ms\":9000000}],\"max\":64,\"socket\":\"/s\"}}",
		  req, 0,
		  "2 apps registered (at most 64) on /s\n"
		  "ID    NAME                     PID      UID    KIND     TIMEOUT  STATE   LAST"
		  "                       CONNECTED\n"
		  "3     db                       42       0      required 5.0 s    idle    "
		  "freeze ok 2.5 ms           500 ms ago\n"
		  "      lsn 7\n"
		  "4     cache                    43       1000   optional 3 min    asked   -"
		  "                          2.5 h ago\n", "", "apps", NULL);
	verb_case("{\"return\":{\"apps\":[],\"max\":64,\"socket\":\"/s\"}}", req, 0,
		  "{\n  \"apps\":[\n  ],\n  \"max\":64,\n  \"socket\":\"/s\"\n}\n", "", "--json",
		  "apps", NULL);
	verb_case("{\"error\":{\"class\":\"GenericError\",\"desc\":\"no app socket\"}}", req, 1, "",
		  "quiescectl apps: no app socket\n", "apps", NULL);
	/* JSON nulls where quiesced puts strings: the default, not "(null)". */
	verb_case("{\"return\":{\"apps\":[{\"id\":3,\"name\":null,\"state\":null,"
		  "\"last\":{\"op\":null,\"result\":\"ok\"}}],\"max\":64,\"socket\":null}}", req,
		  0, "1 app registered (at most 64) on ?\n"
		  "ID    NAME                     PID      UID    KIND     TIMEOUT  STATE   LAST"
		  "                       CONNECTED\n"
		  "3     ?                        0        0      optional 0 ms     ?       "
		  "? ok                       0 ms ago\n", "", "apps", NULL);
}

/* Bad usage: exit 2 and the reason, before any connection. */
static void usage_case(const char *want_out, const char *want_err, int want_rc, ...)
{
	struct fake_step none = { .reply = STATUS_IDLE };
	struct fakectl f;
	struct run r = { .argc = 0 };
	const char *arg;
	char *out, *err;
	va_list ap;

	fake_start(&f, &none, 0);
	r.argv[r.argc++] = (char *)"quiescectl";
	r.argv[r.argc++] = (char *)"--socket";
	r.argv[r.argc++] = f.path;
	va_start(ap, want_rc);
	while ((arg = va_arg(ap, const char *)))
		r.argv[r.argc++] = (char *)arg;
	va_end(ap);
	capture(run_main, &r, &out, &err);
	fake_stop(&f);
	assert_false(f.connected);
	fake_free(&f);
	assert_int_equal(r.rc, want_rc);
	if (want_out)
		assert_string_equal(out, want_out);
	if (want_err)
		assert_string_equal(err, want_err);
	free(out);
	free(err);
}

static void test_usage(void **state)
{
	(void)state;
	usage_case("", "quiescectl: unknown verb 'stauts'\nTry 'quiescectl --help'.\n", 2,
		   "stauts", NULL);
	usage_case("", "quiescectl: --wait: expected seconds, got 'soon'\n", 2, "--wait", "soon",
		   "status", NULL);
	usage_case("", "quiescectl status: --wait: expected seconds, got '0'\n", 2, "status",
		   "--wait", "0", NULL);
	usage_case("", "quiescectl status: unexpected argument\nTry 'quiescectl status --help'.\n",
		   2, "status", "now", NULL);
	usage_case("", "quiescectl thaw: unexpected argument\nTry 'quiescectl thaw --help'.\n", 2,
		   "thaw", "/a", NULL);
	usage_case("", "quiescectl check: unexpected argument\nTry 'quiescectl check --help'.\n",
		   2, "check", "x", NULL);
	usage_case("", "quiescectl apps: unexpected argument\nTry 'quiescectl apps --help'.\n", 2,
		   "apps", "x", NULL);
	usage_case("", "quiescectl freeze: --lease: expected seconds, got 'long'\n", 2, "freeze",
		   "--lease", "long", NULL);
	usage_case("", "quiescectl freeze: --lease: expected seconds, got '0'\n", 2, "freeze",
		   "--lease", "0", NULL);
	usage_case("", "quiescectl freeze: --lease: expected seconds, got '-1'\n", 2, "freeze",
		   "--lease=-1", NULL);
	/* getopt's own word on an unknown option, then where to look. */
	usage_case("", "quiescectl: unrecognized option '--bogus'\nTry 'quiescectl --help'.\n", 2,
		   "--bogus", "status", NULL);
	usage_case("", "status: unrecognized option '--bogus'\nTry 'quiescectl status --help'.\n",
		   2, "status", "--bogus", NULL);
	usage_case("", "apps: unrecognized option '--bogus'\nTry 'quiescectl apps --help'.\n", 2,
		   "apps", "--bogus", NULL);
	usage_case("", "status: option '--wait' requires an argument\n"
		   "Try 'quiescectl status --help'.\n", 2, "status", "--wait", NULL);
	/* --lease is freeze's: the others say they do not take it (not only "Try"). */
	usage_case("", "quiescectl status: unrecognized option '--lease'\n"
		   "Try 'quiescectl status --help'.\n", 2, "status", "--lease", "5", NULL);
	usage_case("", "quiescectl thaw: unrecognized option '--lease'\n"
		   "Try 'quiescectl thaw --help'.\n", 2, "thaw", "--lease=5", NULL);
	/* --help: stdout, exit 0. */
	usage_case("Usage: quiescectl status\nShow the state, what is frozen and for how long, the "
		   "lease, the last transaction.\nAny user may ask.\n--socket PATH, --json and "
		   "--wait SECONDS work here as before the verb\n(see 'quiescectl --help').\n", "",
		   0, "status", "--help", NULL);
	usage_case("quiescectl 0.1.0\n", "", 0, "-V", NULL);
}

static void test_usage_text(void **state)
{
	char *out, *err;

	(void)state;
	/* No verb: the usage on stderr, exit 2; --help: the same on stdout, exit 0. */
	assert_int_equal(ctl(&out, &err, "quiescectl", NULL), 2);
	assert_string_equal(out, "");
	free(out);
	assert_non_null(strstr(err, "\n  status                                 show state, "
				    "frozen filesystems, lease, last result\n"));
	/* A synopsis too long for the column: its help on the next line. */
	assert_non_null(strstr(err, "\n  fsfreeze-hook [--lease S] [--if-running] freeze|thaw\n"
				    "                                         as qemu-ga's"));
	expect_prefix(err, "Usage: quiescectl [--socket PATH] [--json] [--wait SECONDS] VERB");
	assert_int_equal(ctl(&out, &err, "quiescectl", "--help", "status", NULL), 0);
	assert_string_equal(err, "");
	free(err);
	expect_prefix(out, "Usage: quiescectl [--socket PATH] [--json] [--wait SECONDS] VERB");
	assert_int_equal(ctl(&out, &err, "quiescectl", "freeze", "--help", NULL), 0);
	assert_string_equal(err, "");
	free(err);
	assert_non_null(strstr(out, "  --lease SECONDS  quiesced thaws on its own after this long"));
	expect_prefix(out, "Usage: quiescectl freeze [--lease SECONDS] [MOUNTPOINT]...\nFreeze: ");
	assert_int_equal(ctl(&out, &err, "quiescectl", "apps", "-h", NULL), 0);
	assert_string_equal(err, "");
	free(err);
	expect_prefix(out, "Usage: quiescectl apps\nList the applications registered");
}

/* quiesced not there: exit 3 and why, for each verb that connects. */
static void test_unreachable(void **state)
{
	char dir[] = "/tmp/test_cli.XXXXXX", path[128], want[512], longpath[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char *const verbs_[] = { "status", "check", "freeze", "thaw", "apps" };
	char *out, *err;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	for (size_t i = 0; i < N(verbs_); i++) {
		assert_int_equal(ctl(&out, &err, "quiescectl", "--socket", path, verbs_[i], NULL), 3);
		snprintf(want, sizeof(want), "quiescectl %s: cannot connect to quiesced at %s: No such "
			 "file or directory (is quiesced running?)\n", verbs_[i], path);
		expect(out, err, "", want);
	}
	/* The socket's file left behind by a quiesced that is gone. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(ctl(&out, &err, "quiescectl", "--socket", path, "status", NULL), 3);
	snprintf(want, sizeof(want), "quiescectl status: cannot connect to quiesced at %s: "
		 "Connection refused (is quiesced running?)\n", path);
	expect(out, err, "", want);
	/* $QUIESCE_CONTROL when there is no --socket. */
	setenv("QUIESCE_CONTROL", path, 1);
	assert_int_equal(ctl(&out, &err, "quiescectl", "status", NULL), 3);
	unsetenv("QUIESCE_CONTROL");
	expect(out, err, "", want);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	/* Not a socket at all: no hint about quiesced running. */
	assert_int_equal(ctl(&out, &err, "quiescectl", "--socket", "/dev/null", "status", NULL), 3);
	expect(out, err, "", "quiescectl status: cannot connect to quiesced at /dev/null: "
	       "Connection refused (is quiesced running?)\n");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(ctl(&out, &err, "quiescectl", "--socket", longpath, "status", NULL), 3);
	snprintf(want, sizeof(want), "quiescectl status: socket path too long: %s\n", longpath);
	expect(out, err, "", want);
}

/* The client's reading of answers (client.c's cli_call), through status. */
static void answer_case(const struct fake_step *steps, size_t n, const char *wait, int want_rc,
			const char *want_out, const char *want_err_prefix)
{
	static const char *const req[] = { REQ_STATUS };
	struct fakectl f;
	char *out, *err;
	int rc;

	fake_start(&f, steps, n);
	rc = ctl(&out, &err, "quiescectl", "--socket", f.path, "--wait", wait, "status", NULL);
	fake_check(&f, req, 1);
	assert_int_equal(rc, want_rc);
	assert_string_equal(out, want_out);
	free(out);
	expect_prefix(err, want_err_prefix);
}

static void test_answers(void **state)
{
	static char big[16 * 1024];
	char *text;
	const struct fake_step other_id[] = { {
		.raw = "{\"return\":{\"state\":\"frozen\"},\"id\":-5}\n[1]\n\"x\"\n",
		.reply = STATUS_IDLE,
	} };
	/* Refused before reading (no slot): the error has no id. */
	const struct fake_step no_id[] = { {
		.raw = "{\"error\":{\"class\":\"GenericError\",\"desc\":\"too many clients\"}}\n",
	} };
	const struct fake_step bad[] = { { .raw = "{\"return\":}\n" } };
	const struct fake_step closed[] = { { .close = true } };
	const struct fake_step silent[] = { { .raw = "{\"return\":" } };
	const struct fake_step split[] = { { .raw = big } };

	(void)state;
	answer_case(other_id, 1, "5", 0, STATUS_IDLE_TEXT, "");
	answer_case(no_id, 1, "5", 1, "", "quiescectl status: too many clients\n");
	answer_case(bad, 1, "5", 3, "", "quiescectl status: bad answer from quiesced: ");
	answer_case(closed, 1, "5", 3, "", "quiescectl status: quiesced closed the connection\n");
	/* Half an answer and then nothing: --wait bounds the wait. */
	answer_case(silent, 1, "0.2", 3, "",
		    "quiescectl status: no answer from quiesced within 0.2 s (see --wait)\n");
	/* An answer larger than one read (4 KiB), in pieces. */
	text = big;
	text += sprintf(text, "{\"return\":{\"version\":\"1.2.0\",\"pid\":7,\"state\":\"idle\","
			"\"scope\":\"/");
	memset(text, 's', 12000);
	text += 12000;
	sprintf(text, "\"},\"id\":1}\n");
	/* The id is the client's next one: find it from a first run. */
	{
		struct fake_step first[] = { { .reply = STATUS_IDLE } };
		struct fakectl f;
		char *out, *err;
		fake_start(&f, first, 1);
		assert_int_equal(ctl(&out, &err, "quiescectl", "--socket", f.path, "status", NULL), 0);
		fake_stop(&f);
		expect(out, err, STATUS_IDLE_TEXT, "");
		sprintf(text, "\"},\"id\":%d}\n", f.ids[0] + 1);
		fake_free(&f);
	}
	{
		struct fakectl f;
		char *out, *err;
		static const char *const req[] = { REQ_STATUS };
		fake_start(&f, split, 1);
		assert_int_equal(ctl(&out, &err, "quiescectl", "--socket", f.path, "status", NULL), 0);
		fake_check(&f, req, 1);
		assert_string_equal(err, "");
		free(err);
		assert_int_equal(strlen(out), strlen("quiesced 1.2.0 (pid 7), scope /\nstate:   idle\n") +
							 12000);
		expect_prefix(out, "quiesced 1.2.0 (pid 7), scope /sss");
	}
}

/* Called as qemu-ga's hook (by a link's name or from fsfreeze-hook.d): hook mode, an
 * apps-only freeze; else "freeze" is the verb, a whole one. The socket from
 * $QUIESCE_CONTROL. */
static void hook_name_case(const char *argv0, bool hook)
{
	const char *const req[] = {
		hook ? "{\"execute\":\"quiesce-freeze\",\"arguments\":{\"apps-only\":true}}"
		     : "{\"execute\":\"quiesce-freeze\",\"arguments\":{}}",
	};
	struct fake_step ok = { .reply = "{\"return\":{\"count\":0}}" };
	struct fakectl f;
	char *out, *err;

	fake_start(&f, &ok, 1);
	setenv("QUIESCE_CONTROL", f.path, 1);
	assert_int_equal(ctl(&out, &err, argv0, "freeze", NULL), 0);
	unsetenv("QUIESCE_CONTROL");
	fake_check(&f, req, 1);
	expect(out, err, "", "");
}

static void test_hook_name(void **state)
{
	(void)state;
	hook_name_case("fsfreeze-hook", true);
	hook_name_case("/etc/qemu/fsfreeze-hook", true);
	hook_name_case("/etc/qemu/fsfreeze-hook.d/50-quiesce", true);
	hook_name_case("fsfreeze-hook.d/50-quiesce", true);
	hook_name_case("/usr/bin/quiescectl", false);
	hook_name_case("/etc/qemu/fsfreeze-hook.dd/50-quiesce", false);
	hook_name_case("/etc/qemu/my-fsfreeze-hook.d/50-quiesce", false);
	hook_name_case("/etc/qemu/fsfreeze-hook.d", false);
	hook_name_case("/etc/qemu/fsfreeze-hook/50-quiesce", false);
	hook_name_case("fsfreeze/50-quiesce", false);
	hook_name_case("/fsfreeze-hook.sh", false);
}

/* Out of memory in quiescectl freeze (its arguments, the request in cli_call): each
 * allocation failing in turn. The "daemon" is a listening socket nobody answers: a request
 * that went out is read back from it and must be the whole right one (no field left out
 * or null); one that could not be built must not go out, and the exit is not 0. */
struct oom_freeze {
	char dir[64], path[128];
	int lfd, null;
};

#define REQ_FREEZE "{\"execute\":\"quiesce-freeze\",\"arguments\":{\"lease\":1.5," \
	"\"mountpoints\":[\"a\",\"b\"]},\"id\":"

/* What the one client that connected sent ("" if none did). */
static void oom_sent(struct oom_freeze *o, char *buf, size_t size)
{
	int c = accept(o->lfd, NULL, NULL);
	ssize_t n = 0;

	if (c >= 0) {
		n = read(c, buf, size - 1);
		close(c);
	} else {
		assert_int_equal(errno, EAGAIN);
	}
	buf[n > 0 ? n : 0] = '\0';
}

static bool oom_freeze_run(void *arg)
{
	struct oom_freeze *o = arg;
	struct run r = { .argc = 10, .argv = { "quiescectl", "--socket", o->path, "--wait", "10ms",
				  "freeze", "--lease", "1.5", "a", "b", NULL } };
	char sent[512];
	int saved = dup(2);
	bool fired;

	dup2(o->null, 2); /* its error messages */
	run_main(&r);
	fired = failalloc_stop();
	dup2(saved, 2);
	close(saved);
	oom_sent(o, sent, sizeof(sent));
	assert_int_not_equal(r.rc, 0); /* no answer comes: 3 even when all went well */
	if (!fired || sent[0])
		assert_memory_equal(sent, REQ_FREEZE, strlen(REQ_FREEZE));
	return fired;
}

static void test_out_of_memory(void **state)
{
	struct oom_freeze o = { .dir = "/tmp/test_cli.XXXXXX" };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	(void)state;
	assert_non_null(mkdtemp(o.dir));
	snprintf(o.path, sizeof(o.path), "%s/control.sock", o.dir);
	strcpy(sa.sun_path, o.path);
	o.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(o.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(o.lfd, 4), 0);
	o.null = open("/dev/null", O_WRONLY);
	assert_true(o.null >= 0);
	assert_true(failalloc_each("quiescectl freeze", oom_freeze_run, &o) >= 5);
	close(o.null);
	close(o.lfd);
	unlink(o.path);
	assert_int_equal(rmdir(o.dir), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, unit_guard_on, unit_guard_off)
	const struct CMUnitTest tests[] = {
		T(test_status),
		T(test_check),
		T(test_freeze),
		T(test_thaw),
		T(test_apps),
		T(test_usage),
		T(test_usage_text),
		T(test_unreachable),
		T(test_answers),
		T(test_hook_name),
		T(test_out_of_memory),
	};
#undef T
	unit_guard("test_cli", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
