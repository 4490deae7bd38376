// SPDX-License-Identifier: MIT
/* Unit tests for quiescectl snapshot (src/cli/snapshot.c): freeze, run a command while
 * frozen, always thaw. The verb runs in-process against a stand-in quiesced on a real
 * Unix socket in a temp dir (fakectl.h); the commands are real child processes (sh,
 * python3 for the one that needs to wait for quiescectl's signal handler). Checked:
 * quiesce-snapshot then quiesce-thaw on one connection, the command run between them
 * (it leaves a marker the server looks for at each request) with QUIESCE_MOUNTPOINTS;
 * the thaw also when the command fails, cannot be found or run, or dies by a signal
 * (one forwarded from quiescectl too, also one that comes during the fork); the command's status passed through; the freeze
 * refused, unreachable or unanswered: 125 and the command not run; the thaw refused,
 * unanswered within --wait, or quiesced gone: 124 when the command succeeded, else its
 * status; the options (usage errors before any connection; CMD's own options are
 * CMD's); --json. */
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "fakectl.h"
#include "capture.h"
#include "unitguard.h"

#define REQ_FREEZE "{\"execute\":\"quiesce-snapshot\",\"arguments\":{}}"
#define REQ_THAW "{\"execute\":\"quiesce-thaw\"}"
#define FROZEN                                                                                \
	"{\"return\":{\"count\":2,\"report\":{\"ok\":true,\"ms\":1.5,\"phases\":[{\"op\":"   \
	"\"freeze\",\"stage\":\"filesystems\",\"ok\":true,\"ms\":1,\"filesystems\":["        \
	"{\"mountpoint\":\"/a\",\"state\":\"frozen\"},{\"mountpoint\":\"/c\",\"state\":"     \
	"\"skipped\"},{\"mountpoint\":\"/b b\",\"state\":\"frozen\"}]}]}}}"
#define THAWED "{\"return\":{\"count\":2,\"report\":{\"ok\":true,\"ms\":0.5,\"phases\":[]}}}"
#define EXPIRED "{\"error\":{\"class\":\"LeaseExpired\",\"desc\":\"the lease expired\"}}"

static const char *const freeze_thaw[] = { REQ_FREEZE, REQ_THAW };

/* --wrap=fork: with term_at_fork set, quiescectl gets SIGTERM (sent to its own
 * thread) the moment fork returns in it, before it could know the command's pid. */
pid_t __real_fork(void);
pid_t __wrap_fork(void);
static bool term_at_fork;
pid_t __wrap_fork(void)
{
	pid_t pid = __real_fork();

	if (pid > 0 && term_at_fork) {
		term_at_fork = false;
		raise(SIGTERM);
	}
	return pid;
}

static char marker[64];

struct run {
	struct cli cli;
	int argc, rc;
	char *argv[32];
};

static void run_snapshot(void *arg)
{
	struct run *r = arg;

	optind = 0;
	r->rc = verb_snapshot(&r->cli, r->argc, r->argv);
	cli_disconnect(&r->cli);
}

/* quiescectl --socket SOCK [--wait WAIT] snapshot ARGS... (NULL-terminated). */
static int snap(const char *sock, int wait_ms, char **out, char **err, ...)
{
	struct run r = { .cli = { .socket = sock, .fd = -1, .wait_ms = wait_ms } };
	const char *a;
	va_list ap;

	unsetenv("QUIESCE_MOUNTPOINTS");
	r.argv[r.argc++] = (char *)"snapshot";
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) && r.argc < 31)
		r.argv[r.argc++] = (char *)a;
	va_end(ap);
	capture(run_snapshot, &r, out, err);
	return r.rc;
}

static void has(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("'%s' is not in '%s'", part, text);
}

static bool ran(void)
{
	return access(marker, F_OK) == 0;
}

/* At each request: had the command run? */
static bool ran_at_freeze, ran_at_thaw;
static void at_freeze(void *arg)
{
	(void)arg;
	ran_at_freeze = ran();
}
static void at_thaw(void *arg)
{
	(void)arg;
	ran_at_thaw = ran();
}

static int setup(void **state)
{
	int fd;

	strcpy(marker, "/tmp/test_snapshot.XXXXXX");
	fd = mkstemp(marker);
	assert_true(fd >= 0);
	close(fd);
	unlink(marker);
	ran_at_freeze = ran_at_thaw = false;
	return unit_guard_on(state);
}

static int teardown(void **state)
{
	unlink(marker);
	unsetenv("QUIESCE_MOUNTPOINTS");
	return unit_guard_off(state);
}

static void test_runs_while_frozen(void **state)
{
	const struct fake_step steps[] = {
		{ .on_request = at_freeze, .reply = FROZEN },
		{ .on_request = at_thaw, .reply = THAWED },
	};
	char script[256], *out, *err;
	struct fakectl f;

	(void)state;
	snprintf(script, sizeof(script), "printf '%%s|' \"$QUIESCE_MOUNTPOINTS\" \"$@\"; touch %s",
		 marker);
	fake_start(&f, steps, 2);
	assert_int_equal(snap(f.path, 5000, &out, &err, "--", "sh", "-c", script, "sh", "x y", "-z",
			      NULL), 0);
	fake_check(&f, freeze_thaw, 2);
	assert_false(ran_at_freeze);
	assert_true(ran_at_thaw);
	/* The frozen mountpoints (not the skipped one), one a line; the arguments as given. */
	assert_string_equal(out, "/a\n/b b|x y|-z|");
	free(out);
	has(err, "freeze: ok in 1.5 ms\n");
	has(err, "\nrunning: sh\ncommand exited with status 0 after ");
	has(err, "\nthaw: ok in 0.5 ms\nwrites were held for ");
	free(err);
}

static void test_options(void **state)
{
	static const char *const req[] = {
		"{\"execute\":\"quiesce-snapshot\",\"arguments\":{\"lease\":2.5}}", REQ_THAW,
	};
	const struct fake_step steps[] = { { .reply = FROZEN }, { .reply = THAWED } };
	struct fakectl f;
	char *out, *err;

	(void)state;
	/* --lease, and the common options after the verb; CMD's options are its own. */
	fake_start(&f, steps, 2);
	assert_int_equal(snap("/nonexistent", 5000, &out, &err, "--lease", "2.5", "--socket", f.path,
			      "--wait", "3", "echo", "--lease", "x", NULL), 0);
	fake_check(&f, req, 2);
	assert_string_equal(out, "--lease x\n");
	free(out);
	free(err);
}

/* The command fails, is not there, cannot be run, dies: thawed all the same, and its
 * status is quiescectl's. */
static void status_case(int want, const char *want_err, const char *const *cmd)
{
	const struct fake_step steps[] = { { .reply = FROZEN }, { .reply = THAWED } };
	struct fakectl f;
	char *out, *err;

	fake_start(&f, steps, 2);
	assert_int_equal(snap(f.path, 5000, &out, &err, cmd[0], cmd[1], cmd[2], cmd[3], NULL), want);
	fake_check(&f, freeze_thaw, 2);
	free(out);
	if (want_err)
		has(err, want_err);
	has(err, "\nthaw: ok in 0.5 ms\n");
	free(err);
}

static void test_command_status(void **state)
{
	static const char *const fails[4] = { "sh", "-c", "exit 7", NULL };
	static const char *const missing[4] = { "/nonexistent/backup-tool", NULL };
	static const char *const killed[4] = { "sh", "-c", "kill -KILL $$", NULL };
	char noexec[80];
	const char *const cant[4] = { noexec, NULL };
	int fd;

	(void)state;
	status_case(7, "command exited with status 7 after ", fails);
	status_case(127, "quiescectl snapshot: /nonexistent/backup-tool: No such file or directory\n"
		    "command exited with status 127 after ", missing);
	status_case(137, "command exited with status 137 after ", killed);
	strcpy(noexec, "/tmp/test_snapshot_noexec.XXXXXX");
	fd = mkstemp(noexec);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(noexec, 0644), 0);
	status_case(126, ": Permission denied\ncommand exited with status 126 after ", cant);
	unlink(noexec);
}

/* SIGTERM to quiescectl while the command runs goes to the command; quiescectl stays
 * to thaw. The command waits until quiescectl catches SIGTERM (its mask in /proc), so
 * the signal comes after the handler is in place, not before. */
static void test_signal_forwarded(void **state)
{
	static const char *const cmd[4] = {
		"python3", "-c",
		"import os, signal, time\n"
		"pp = os.getppid()\n"
		"def caught():\n"
		"    for l in open('/proc/%d/status' % pp):\n"
		"        if l.startswith('SigCgt:'):\n"
		"            return int(l.split()[1], 16) & (1 << (signal.SIGTERM - 1))\n"
		"while not caught():\n"
		"    time.sleep(0.001)\n"
		"os.kill(pp, signal.SIGTERM)\n"
		"time.sleep(60)\n",
		NULL,
	};

	(void)state;
	status_case(128 + 15, "command exited with status 143 after ", cmd);
}

/* A SIGTERM that comes while quiescectl forks the command is not lost and does not
 * kill quiescectl: it goes to the command once there is one, and the thaw follows. */
static void test_signal_at_fork(void **state)
{
	static const char *const cmd[4] = { "sleep", "30", NULL };

	(void)state;
	term_at_fork = true;
	status_case(128 + 15, "command exited with status 143 after ", cmd);
}

/* The freeze refused: 125, the command not run, no thaw. */
static void test_freeze_refused(void **state)
{
	static const char *const req[] = { REQ_FREEZE };
	const struct fake_step steps[] = { {
		.reply = "{\"error\":{\"class\":\"Vetoed\",\"desc\":\"app db vetoed\",\"report\":"
			 "{\"ok\":false,\"ms\":2,\"phases\":[]}}}",
	} };
	struct fakectl f;
	char *out, *err;

	(void)state;
	fake_start(&f, steps, 1);
	assert_int_equal(snap(f.path, 5000, &out, &err, "touch", marker, NULL), 125);
	fake_check(&f, req, 1);
	assert_false(ran());
	free(out);
	assert_string_equal(err, "quiescectl snapshot: freeze failed: app db vetoed; touch not run\n"
				 "freeze: failed in 2.0 ms\n");
	free(err);
	/* --json: the answer, on stderr (stdout is the command's). */
	fake_start(&f, steps, 1);
	assert_int_equal(snap(f.path, 5000, &out, &err, "--json", "touch", marker, NULL), 125);
	fake_check(&f, req, 1);
	assert_false(ran());
	assert_string_equal(out, "");
	free(out);
	has(err, "{\"error\":{\"class\":\"Vetoed\",\"desc\":\"app db vetoed\",\"report\":{");
	free(err);
}

/* quiesced not there, silent, or gone before the freeze's answer: 125, not run. */
static void test_freeze_unanswered(void **state)
{
	static const char *const req[] = { REQ_FREEZE };
	const struct fake_step silent[] = { { .raw = "" } };
	const struct fake_step gone[] = { { .close = true } };
	struct fakectl f;
	char *out, *err, want[256];

	(void)state;
	assert_int_equal(snap("/nonexistent/control.sock", 5000, &out, &err, "touch", marker, NULL),
			 125);
	assert_false(ran());
	free(out);
	assert_string_equal(err, "quiescectl snapshot: cannot connect to quiesced at "
				 "/nonexistent/control.sock: No such file or directory (is quiesced "
				 "running?); touch not run\n");
	free(err);

	fake_start(&f, silent, 1);
	assert_int_equal(snap(f.path, 200, &out, &err, "touch", marker, NULL), 125);
	fake_check(&f, req, 1);
	assert_false(ran());
	free(out);
	snprintf(want, sizeof(want), "quiescectl snapshot: no answer from quiesced within 0.2 s "
		 "(see --wait); touch not run\n");
	assert_string_equal(err, want);
	free(err);

	fake_start(&f, gone, 1);
	assert_int_equal(snap(f.path, 5000, &out, &err, "touch", marker, NULL), 125);
	fake_check(&f, req, 1);
	assert_false(ran());
	free(out);
	assert_string_equal(err, "quiescectl snapshot: quiesced closed the connection; touch not "
				 "run\n");
	free(err);
}

/* The thaw fails: the command's status, or 124 if it succeeded (its snapshot may not
 * be consistent). */
static void thaw_case(const struct fake_step *thaw, int wait_ms, const char *exit_cmd, int want,
		      const char *want_err)
{
	struct fake_step steps[] = { { .reply = FROZEN }, *thaw };
	char *out, *err;
	struct fakectl f;

	fake_start(&f, steps, 2);
	assert_int_equal(snap(f.path, wait_ms, &out, &err, "sh", "-c", exit_cmd, NULL), want);
	fake_check(&f, freeze_thaw, 2);
	free(out);
	has(err, want_err);
	if (want != 124)
		assert_null(strstr(err, "may not be consistent"));
	free(err);
}

static void test_thaw_fails(void **state)
{
	const struct fake_step expired = { .reply = EXPIRED };
	const struct fake_step silent = { .raw = "" };
	const struct fake_step gone = { .close = true };

	(void)state;
	thaw_case(&expired, 5000, "exit 0", 124,
		  "\nquiescectl snapshot: thaw: the lease expired\nquiescectl snapshot: the command "
		  "succeeded, but its snapshot may not be consistent\n");
	thaw_case(&expired, 5000, "exit 3", 3, "\nquiescectl snapshot: thaw: the lease expired\n");
	thaw_case(&silent, 300, "exit 0", 124,
		  "\nquiescectl snapshot: thaw: no answer from quiesced within 0.3 s (see --wait) "
		  "(quiesced thaws when this connection closes)\n");
	thaw_case(&silent, 300, "exit 4", 4, "\nquiescectl snapshot: thaw: no answer from quiesced");
	/* quiesced gone with the thaw pending. */
	thaw_case(&gone, 5000, "exit 0", 124, "\nquiescectl snapshot: thaw: quiesced closed the "
		  "connection (quiesced thaws when this connection closes)\n");
	thaw_case(&gone, 5000, "exit 9", 9, "\nquiescectl snapshot: thaw: quiesced closed the ");
}

/* quiesced gone while the command runs (it closes after the freeze's answer): the
 * thaw's send or its read finds out, whichever comes first. */
static void test_gone_while_running(void **state)
{
	static const char *const req[] = { REQ_FREEZE };
	const struct fake_step steps[] = { { .reply = FROZEN, .close = true } };
	char script[128], *out, *err;
	struct fakectl f;

	(void)state;
	snprintf(script, sizeof(script), "touch %s", marker);
	fake_start(&f, steps, 1);
	assert_int_equal(snap(f.path, 5000, &out, &err, "sh", "-c", script, NULL), 124);
	fake_check(&f, req, 1);
	assert_true(ran());
	free(out);
	has(err, "\nquiescectl snapshot: thaw: ");
	has(err, " (quiesced thaws when this connection closes)\n");
	free(err);
}

/* JSON nulls where quiesced puts strings (a broken or foreign peer): no crash, no
 * "(null)" printed. */
static void test_nulls(void **state)
{
	static const char *const req[] = { REQ_FREEZE };
	const struct fake_step refused[] = {
		{ .reply = "{\"error\":{\"class\":\"Vetoed\",\"desc\":null}}" },
	};
	const struct fake_step steps[] = {
		{ .reply = "{\"return\":{\"count\":1,\"report\":{\"ok\":true,\"ms\":1,\"phases\":"
			   "[{\"filesystems\":[{\"mountpoint\":\"/a\",\"state\":null},{\"mountpoint\":"
			   "null,\"state\":\"frozen\"},{\"mountpoint\":\"/b\",\"state\":\"frozen\"}]}]}}}" },
		{ .reply = THAWED },
	};
	struct fakectl f;
	char *out, *err;

	(void)state;
	fake_start(&f, refused, 1);
	assert_int_equal(snap(f.path, 5000, &out, &err, "touch", marker, NULL), 125);
	fake_check(&f, req, 1);
	free(out);
	assert_string_equal(err, "quiescectl snapshot: freeze failed: failed; touch not run\n");
	free(err);
	fake_start(&f, steps, 2);
	assert_int_equal(snap(f.path, 5000, &out, &err, "sh", "-c",
			      "printf '%s|' \"$QUIESCE_MOUNTPOINTS\"", NULL), 0);
	fake_check(&f, freeze_thaw, 2);
	assert_string_equal(out, "/b|");
	free(out);
	free(err);
}

static void test_json(void **state)
{
	const struct fake_step steps[] = { { .reply = FROZEN }, { .reply = EXPIRED } };
	struct fakectl f;
	char *out, *err;

	(void)state;
	fake_start(&f, steps, 2);
	assert_int_equal(snap(f.path, 5000, &out, &err, "--json", "true", NULL), 124);
	fake_check(&f, freeze_thaw, 2);
	assert_string_equal(out, "");
	free(out);
	/* The freeze's return value, the thaw's whole answer (an error), one line each. */
	has(err, "{\"count\":2,\"report\":{\"ok\":true,\"ms\":1.5,\"phases\":[{");
	has(err, "}\n{\"error\":{\"class\":\"LeaseExpired\",\"desc\":\"the lease expired\"},"
		 "\"id\":");
	assert_null(strstr(err, "running:"));
	free(err);
}

/* Usage errors: exit 2, nothing sent. */
static void usage_case(int want, const char *want_err, ...)
{
	const struct fake_step none = { .reply = THAWED };
	struct run r = { .cli = { .fd = -1, .wait_ms = 5000 } };
	struct fakectl f;
	char *out, *err;
	const char *a;
	va_list ap;

	fake_start(&f, &none, 0);
	r.cli.socket = f.path;
	r.argv[r.argc++] = (char *)"snapshot";
	va_start(ap, want_err);
	while ((a = va_arg(ap, const char *)))
		r.argv[r.argc++] = (char *)a;
	va_end(ap);
	capture(run_snapshot, &r, &out, &err);
	fake_stop(&f);
	assert_false(f.connected);
	fake_free(&f);
	assert_int_equal(r.rc, want);
	if (want == 0)
		has(out, "Usage: quiescectl snapshot [--lease SECONDS] -- CMD [ARG]...\n");
	else
		assert_string_equal(out, "");
	assert_string_equal(err, want_err);
	free(out);
	free(err);
	assert_false(ran());
}

static void test_usage(void **state)
{
	(void)state;
	usage_case(2, "quiescectl snapshot: no command given\n"
		      "Usage: quiescectl snapshot [--lease SECONDS] -- CMD [ARG]...\n", NULL);
	usage_case(2, "quiescectl snapshot: no command given\n"
		      "Usage: quiescectl snapshot [--lease SECONDS] -- CMD [ARG]...\n", "--lease", "3",
		   "--", NULL);
	usage_case(2, "quiescectl snapshot: --lease: expected seconds\n", "--lease", "soon", "true",
		   NULL);
	usage_case(2, "quiescectl snapshot: --wait: expected seconds, got '-3'\n", "--wait", "-3",
		   "true", NULL);
	usage_case(2, "snapshot: unrecognized option '--bogus'\nTry 'quiescectl snapshot --help'.\n",
		   "--bogus", "true", NULL);
	usage_case(0, "", "--help", "true", NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_runs_while_frozen),
		T(test_options),
		T(test_command_status),
		T(test_signal_forwarded), T(test_signal_at_fork),
		T(test_freeze_refused),
		T(test_freeze_unanswered),
		T(test_thaw_fails),
		T(test_gone_while_running),
		T(test_nulls),
		T(test_json),
		T(test_usage),
	};
#undef T
	unit_guard("test_snapshot", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
