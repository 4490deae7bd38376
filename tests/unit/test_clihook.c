// SPDX-License-Identifier: MIT
/* Unit tests for quiescectl fsfreeze-hook (src/cli/hook.c), quiescectl as qemu-ga's
 * fsfreeze hook: qemu-ga runs it with one argument, freeze or thaw, reads only its exit
 * status, and aborts its freeze on a non-zero one. The verb runs in-process against a
 * stand-in quiesced on a real Unix socket in a temp dir (fakectl.h). Checked: freeze is
 * an apps-only quiesce-freeze (its lease from --lease or $QUIESCE_HOOK_LEASE); each
 * refusal's exit code; thaw asks the status first and thaws only an application hold
 * (nothing when idle, never a filesystem freeze someone else made), the lease having
 * ended it is exit 5; quiesced absent, gone or silent: exit 3, or 0 with --if-running
 * / $QUIESCE_HOOK_IF_RUNNING; --json changes nothing; anything but exactly one of
 * freeze or thaw is a usage error before any connection. (syslog gets the failures too:
 * not checked here.) */
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "fakectl.h"
#include "capture.h"
#include "unitguard.h"

#define REQ_FREEZE "{\"execute\":\"quiesce-freeze\",\"arguments\":{\"apps-only\":true}}"
#define REQ_STATUS "{\"execute\":\"quiesce-status\"}"
#define REQ_THAW "{\"execute\":\"quiesce-thaw\"}"
#define OK "{\"return\":{\"count\":0,\"report\":{\"ok\":true,\"ms\":1,\"phases\":[]}}}"
#define ST_IDLE "{\"return\":{\"state\":\"idle\",\"lease_expired\":false,\"stages\":[]}}"
#define ST_APPS                                                                               \
	"{\"return\":{\"state\":\"frozen\",\"origin\":\"control\",\"lease_expired\":false,"  \
	"\"stages\":[{\"stage\":\"apps\",\"active\":true},{\"stage\":\"filesystems\","       \
	"\"active\":false}]}}"
#define ST_FS                                                                                 \
	"{\"return\":{\"state\":\"frozen\",\"origin\":\"qga\",\"stages\":[{\"stage\":\"apps\"," \
	"\"active\":true},{\"stage\":\"filesystems\",\"active\":true}]}}"
#define ST_EXPIRED "{\"return\":{\"state\":\"idle\",\"lease_expired\":true,\"stages\":[]}}"

struct run {
	struct cli cli;
	int argc, rc;
	char *argv[16];
};

static void run_hook(void *arg)
{
	struct run *r = arg;

	optind = 0;
	r->rc = verb_fsfreeze_hook(&r->cli, r->argc, r->argv);
	cli_disconnect(&r->cli);
}

/* fsfreeze-hook ARGS... (NULL-terminated) on sock; returns the exit code. */
static int hook_v(const char *sock, int wait_ms, char **out, char **err, va_list ap)
{
	struct run r = { .cli = { .socket = sock, .fd = -1, .wait_ms = wait_ms } };
	const char *a;

	r.argv[r.argc++] = (char *)"fsfreeze-hook";
	while ((a = va_arg(ap, const char *)) && r.argc < 15)
		r.argv[r.argc++] = (char *)a;
	capture(run_hook, &r, out, err);
	return r.rc;
}

/* The hook against steps: it sent want[0..n_want), exited want_rc, printed want_err
 * (on stderr; stdout stays empty). */
static void hook_case(const struct fake_step *steps, size_t n, const char *const *want,
		      size_t n_want, int wait_ms, int want_rc, const char *want_err, ...)
{
	struct fakectl f;
	char *out, *err;
	va_list ap;
	int rc;

	fake_start(&f, steps, n);
	va_start(ap, want_err);
	rc = hook_v(f.path, wait_ms, &out, &err, ap);
	va_end(ap);
	fake_check(&f, want, n_want);
	assert_int_equal(rc, want_rc);
	assert_string_equal(out, "");
	assert_string_equal(err, want_err);
	free(out);
	free(err);
}

static int teardown(void **state)
{
	unsetenv("QUIESCE_HOOK_LEASE");
	unsetenv("QUIESCE_HOOK_IF_RUNNING");
	return unit_guard_off(state);
}

static void test_freeze(void **state)
{
	static const char *const req[] = { REQ_FREEZE };
	static const char *const lease[] = {
		"{\"execute\":\"quiesce-freeze\",\"arguments\":{\"apps-only\":true,\"lease\":2.5}}",
	};
	static const char *const env_lease[] = {
		"{\"execute\":\"quiesce-freeze\",\"arguments\":{\"apps-only\":true,\"lease\":90.0}}",
	};
	const struct fake_step ok[] = { { .reply = OK } };

	(void)state;
	hook_case(ok, 1, req, 1, 5000, 0, "", "freeze", NULL);
	/* --json is for people: the hook prints nothing on stdout whatever. */
	hook_case(ok, 1, req, 1, 5000, 0, "", "--json", "freeze", NULL);
	hook_case(ok, 1, lease, 1, 5000, 0, "", "--lease", "2.5", "freeze", NULL);
	setenv("QUIESCE_HOOK_LEASE", "90", 1);
	hook_case(ok, 1, env_lease, 1, 5000, 0, "", "freeze", NULL);
	/* The option over the environment. */
	hook_case(ok, 1, lease, 1, 5000, 0, "", "--lease=2500ms", "freeze", NULL);
}

static void test_freeze_refused(void **state)
{
	static const char *const req[] = { REQ_FREEZE };
	const struct fake_step vetoed[] = {
		{ .reply = "{\"error\":{\"class\":\"Vetoed\",\"desc\":\"app db vetoed\"}}" },
	};
	const struct fake_step frozen[] = {
		{ .reply = "{\"error\":{\"class\":\"AlreadyFrozen\",\"desc\":\"already frozen\"}}" },
	};
	const struct fake_step denied[] = {
		{ .reply = "{\"error\":{\"class\":\"PermissionDenied\",\"desc\":\"root only\"}}" },
	};

	(void)state;
	hook_case(vetoed, 1, req, 1, 5000, 1, "quiescectl fsfreeze-hook freeze: app db vetoed\n",
		  "freeze", NULL);
	hook_case(frozen, 1, req, 1, 5000, 1, "quiescectl fsfreeze-hook freeze: already frozen\n",
		  "freeze", NULL);
	hook_case(denied, 1, req, 1, 5000, 4, "quiescectl fsfreeze-hook freeze: root only\n",
		  "freeze", NULL);
	/* --json does not turn the message into JSON: qemu-ga reads none. */
	hook_case(denied, 1, req, 1, 5000, 4, "quiescectl fsfreeze-hook freeze: root only\n",
		  "--json", "freeze", NULL);
}

static void test_thaw(void **state)
{
	static const char *const status_only[] = { REQ_STATUS };
	static const char *const status_thaw[] = { REQ_STATUS, REQ_THAW };
	const struct fake_step idle[] = { { .reply = ST_IDLE } };
	const struct fake_step apps[] = { { .reply = ST_APPS }, { .reply = OK } };
	const struct fake_step fs[] = { { .reply = ST_FS } };
	const struct fake_step expired[] = {
		{ .reply = ST_EXPIRED },
		{ .reply = "{\"error\":{\"class\":\"LeaseExpired\",\"desc\":\"the lease of 3.0 s "
			   "expired\"}}" },
	};
	const struct fake_step busy[] = {
		{ .reply = ST_APPS },
		{ .reply = "{\"error\":{\"class\":\"Busy\",\"desc\":\"busy\"}}" },
	};
	const struct fake_step no_status[] = {
		{ .reply = "{\"error\":{\"class\":\"GenericError\",\"desc\":\"out of memory\"}}" },
	};

	(void)state;
	/* qemu-ga thaws also when nothing was frozen: idle, nothing to do. */
	hook_case(idle, 1, status_only, 1, 5000, 0, "", "thaw", NULL);
	hook_case(apps, 2, status_thaw, 2, 5000, 0, "", "thaw", NULL);
	/* A filesystem freeze is someone else's: left alone. */
	hook_case(fs, 1, status_only, 1, 5000, 0,
		  "quiescectl fsfreeze-hook: not thawing: quiesced holds a filesystem freeze made "
		  "by qga, not by this hook\n", "thaw", NULL);
	/* The lease ended the hold before the thaw: said through the exit status. */
	hook_case(expired, 2, status_thaw, 2, 5000, 5,
		  "quiescectl fsfreeze-hook thaw: the lease of 3.0 s expired\n", "thaw", NULL);
	hook_case(busy, 2, status_thaw, 2, 5000, 1, "quiescectl fsfreeze-hook thaw: busy\n", "thaw",
		  NULL);
	hook_case(no_status, 1, status_only, 1, 5000, 1,
		  "quiescectl fsfreeze-hook: thaw: status: out of memory\n", "thaw", NULL);
}

/* JSON nulls where quiesced puts strings (a broken or foreign peer): no crash, no
 * "(null)" printed. */
static void test_nulls(void **state)
{
	static const char *const status_only[] = { REQ_STATUS };
	static const char *const status_thaw[] = { REQ_STATUS, REQ_THAW };
	const struct fake_step fs[] = { {
		.reply = "{\"return\":{\"state\":null,\"origin\":null,\"stages\":[{\"stage\":"
			 "\"filesystems\",\"active\":true}]}}",
	} };
	const struct fake_step apps[] = {
		{ .reply = "{\"return\":{\"state\":null,\"stages\":[{\"stage\":null}]}}" },
		{ .reply = OK },
	};
	const struct fake_step no_desc[] = {
		{ .reply = "{\"return\":{\"state\":\"frozen\"}}" },
		{ .reply = "{\"error\":{\"class\":\"LeaseExpired\",\"desc\":null}}" },
	};

	(void)state;
	hook_case(fs, 1, status_only, 1, 5000, 0,
		  "quiescectl fsfreeze-hook: not thawing: quiesced holds a filesystem freeze made "
		  "by ?, not by this hook\n", "thaw", NULL);
	hook_case(apps, 2, status_thaw, 2, 5000, 0, "", "thaw", NULL);
	hook_case(no_desc, 2, status_thaw, 2, 5000, 5, "quiescectl fsfreeze-hook thaw: failed\n",
		  "thaw", NULL);
}

/* quiesced gone or silent half-way: exit 3. */
static void test_lost(void **state)
{
	static const char *const req[] = { REQ_FREEZE };
	static const char *const status_only[] = { REQ_STATUS };
	static const char *const status_thaw[] = { REQ_STATUS, REQ_THAW };
	const struct fake_step gone[] = { { .close = true } };
	const struct fake_step gone_at_thaw[] = { { .reply = ST_APPS }, { .close = true } };

	(void)state;
	hook_case(gone, 1, req, 1, 5000, 3, "quiescectl fsfreeze-hook: freeze: quiesced closed the "
		  "connection: refusing the freeze\n", "freeze", NULL);
	hook_case(gone, 1, status_only, 1, 5000, 3, "quiescectl fsfreeze-hook: thaw: quiesced "
		  "closed the connection\n", "thaw", NULL);
	hook_case(gone_at_thaw, 2, status_thaw, 2, 5000, 3, "quiescectl fsfreeze-hook: thaw: "
		  "quiesced closed the connection\n", "thaw", NULL);
}

#define GAVE_UP(s)                                                                            \
	"quiescectl fsfreeze-hook: freeze: no answer from quiesced within " s " s (see "     \
	"--wait): refusing the freeze\n"                                                      \
	"quiescectl fsfreeze-hook: freeze: thawing what the unanswered freeze may have frozen\n"

/* A freeze that gets no answer within --wait is refused (exit 3) and, as qemu-ga will
 * call no thaw for it, thawed by the hook itself (status, then thaw, on the same
 * connection); the late answer to the freeze is skipped. */
static void test_freeze_unanswered(void **state)
{
	static const char *const undone[] = { REQ_FREEZE, REQ_STATUS, REQ_THAW };
	static const char *const looked[] = { REQ_FREEZE, REQ_STATUS };
	const struct fake_step silent_then_thaw[] = {
		{ .raw = "" }, { .reply = ST_APPS }, { .reply = OK },
	};
	const struct fake_step late_answer[] = {
		{ .raw = "" },
		{ .raw = "{\"return\":{},\"id\":1}\n", .reply = ST_APPS },
		{ .reply = OK },
	};
	const struct fake_step thaw_refused[] = {
		{ .raw = "" }, { .reply = ST_FS },
	};
	const struct fake_step status_fails[] = {
		{ .raw = "" }, { .reply = "{\"error\":{\"class\":\"GenericError\",\"desc\":\"x\"}}" },
	};

	(void)state;
	hook_case(silent_then_thaw, 3, undone, 3, 200, 3, GAVE_UP("0.2"), "freeze", NULL);
	/* --wait after the verb bounds it too. */
	hook_case(silent_then_thaw, 3, undone, 3, 5000, 3, GAVE_UP("0.1"), "--wait", "0.1",
		  "freeze", NULL);
	hook_case(late_answer, 3, undone, 3, 200, 3, GAVE_UP("0.2"), "freeze", NULL);
	/* Someone else's filesystem freeze is left alone. */
	hook_case(thaw_refused, 2, looked, 2, 200, 3, GAVE_UP("0.2")
		  "quiescectl fsfreeze-hook: not thawing: quiesced holds a filesystem freeze made "
		  "by qga, not by this hook\n", "freeze", NULL);
	hook_case(status_fails, 2, looked, 2, 200, 3, GAVE_UP("0.2")
		  "quiescectl fsfreeze-hook: thaw: status: x\n"
		  "quiescectl fsfreeze-hook: freeze: the applications may stay held until "
		  "quiesced's lease ends\n", "freeze", NULL);
}

static int hook(const char *sock, char **out, char **err, ...)
{
	va_list ap;
	int rc;

	va_start(ap, err);
	rc = hook_v(sock, 5000, out, err, ap);
	va_end(ap);
	return rc;
}

static void expect(char *out, char *err, const char *want_err)
{
	assert_string_equal(out, "");
	assert_string_equal(err, want_err);
	free(out);
	free(err);
}

/* quiesced not running: exit 3 (qemu-ga aborts its freeze), or 0 with --if-running. */
static void test_unreachable(void **state)
{
	static const char *const sock = "/nonexistent/control.sock";
	char *out, *err;

	(void)state;
	assert_int_equal(hook(sock, &out, &err, "freeze", NULL), 3);
	expect(out, err, "quiescectl fsfreeze-hook: freeze: cannot connect to quiesced at "
	       "/nonexistent/control.sock: No such file or directory (is quiesced running?): "
	       "refusing the freeze\n");
	assert_int_equal(hook(sock, &out, &err, "thaw", NULL), 3);
	expect(out, err, "quiescectl fsfreeze-hook: thaw: cannot connect to quiesced at "
	       "/nonexistent/control.sock: No such file or directory (is quiesced running?)\n");
	assert_int_equal(hook(sock, &out, &err, "--if-running", "freeze", NULL), 0);
	expect(out, err, "quiescectl fsfreeze-hook: freeze: cannot connect to quiesced at "
	       "/nonexistent/control.sock: No such file or directory (is quiesced running?); "
	       "going ahead without it (--if-running)\n");
	setenv("QUIESCE_HOOK_IF_RUNNING", "yes", 1);
	assert_int_equal(hook(sock, &out, &err, "thaw", NULL), 0);
	expect(out, err, "quiescectl fsfreeze-hook: thaw: cannot connect to quiesced at "
	       "/nonexistent/control.sock: No such file or directory (is quiesced running?); "
	       "going ahead without it (--if-running)\n");
	setenv("QUIESCE_HOOK_IF_RUNNING", "0", 1);
	assert_int_equal(hook(sock, &out, &err, "freeze", NULL), 3);
	free(out);
	free(err);
}

/* Anything but one freeze or thaw: exit 2, no connection. */
static void usage_case(const char *want_err, ...)
{
	const struct fake_step none = { .reply = OK };
	struct fakectl f;
	char *out, *err;
	va_list ap;
	int rc;

	fake_start(&f, &none, 0);
	va_start(ap, want_err);
	rc = hook_v(f.path, 5000, &out, &err, ap);
	va_end(ap);
	fake_stop(&f);
	assert_false(f.connected);
	fake_free(&f);
	assert_int_equal(rc, 2);
	expect(out, err, want_err);
}

static void test_usage(void **state)
{
	char *out, *err;

	(void)state;
	usage_case("quiescectl fsfreeze-hook: expected one argument, freeze or thaw\n", NULL);
	usage_case("quiescectl fsfreeze-hook: expected one argument, freeze or thaw; got "
		   "freeze-list\n", "freeze-list", NULL);
	usage_case("quiescectl fsfreeze-hook: expected one argument, freeze or thaw; got FREEZE\n",
		   "FREEZE", NULL);
	usage_case("quiescectl fsfreeze-hook: expected one argument, freeze or thaw; got freeze\n",
		   "freeze", "thaw", NULL);
	/* After the action no option is taken ("+"). */
	usage_case("quiescectl fsfreeze-hook: expected one argument, freeze or thaw; got freeze\n",
		   "freeze", "--if-running", NULL);
	usage_case("fsfreeze-hook: unrecognized option '--bogus'\n"
		   "Try 'quiescectl fsfreeze-hook --help'.\n", "--bogus", "freeze", NULL);
	usage_case("quiescectl fsfreeze-hook: --lease: expected seconds, got 'x'\n", "--lease", "x",
		   "freeze", NULL);
	setenv("QUIESCE_HOOK_LEASE", "forever", 1);
	usage_case("quiescectl fsfreeze-hook: QUIESCE_HOOK_LEASE: expected seconds, got 'forever'\n",
		   "freeze", NULL);
	unsetenv("QUIESCE_HOOK_LEASE");
	assert_int_equal(hook("/nonexistent", &out, &err, "--help", NULL), 0);
	assert_string_equal(err, "");
	assert_non_null(strstr(out, "Usage: quiescectl fsfreeze-hook [--lease SECONDS] "
				    "[--if-running] freeze|thaw\n"));
	free(out);
	free(err);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, unit_guard_on, teardown)
	const struct CMUnitTest tests[] = {
		T(test_freeze),
		T(test_freeze_refused),
		T(test_thaw),
		T(test_nulls),
		T(test_lost), T(test_freeze_unanswered),
		T(test_unreachable),
		T(test_usage),
	};
#undef T
	unit_guard("test_clihook", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
