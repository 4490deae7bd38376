// SPDX-License-Identifier: MIT
/* Unit tests for the control socket transport (src/host/control.c), the one quiescectl
 * talks to: the socket's file (mode 0666, a stale one replaced, anything else kept, a
 * running one not taken over), JSON commands over a real Unix socket in a temp dir, the
 * peer's uid from SO_PEERCRED (root may freeze, others only read status), the slots
 * (per user, the ones kept for root, an idle other user's client making way for root),
 * malformed and oversized input, many clients at once, and a client that leaves with
 * its request pending or half sent, or a control_free while a call is pending.
 *
 * The clients of another user connect with the test's euid switched (SO_PEERCRED
 * records the euid at connect), so the test needs root; it skips without. The engine
 * is faked (engine_submit keeps the callback; the test answers it): nothing is frozen.
 * Not covered: the 10 s idle close of a non-root client (it would take 10 s of real
 * time) and the listener pause on EMFILE (test_listener.c has it). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "fakeengine.h"
#include "jsonpeer.h"
#include "unitguard.h"

#include "common/jsonput.h"
#include "common/log.h"
#include "common/loop.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/control.h"
#include "host/host.h"
#include "host/jsonconn.h"

/* ------------------------------------------------------------ the fake engine */

static void engine_answers(enum txn_err err)
{
	fake_engine_answer(0, err, "fake says so", 1, TXN_WHOSE_NONE, NULL);
}

/* ------------------------------------------------------------ the socket */

static struct {
	char dir[64], path[96];
	struct loop *loop;
	struct host_ctx ctx;
	struct control *ctl;
	unsigned status_calls;
} t;

static int status_cb(void *arg, struct json_object *ret)
{
	(void)arg;
	t.status_calls++;
	return jput(ret, "daemon", json_object_new_boolean(1)) ? 0 : -1;
}

static void start(void)
{
	t.ctl = control_new(&t.ctx, t.path);
	assert_non_null(t.ctl);
}

static int setup(void **state)
{
	memset(&t, 0, sizeof(t));
	fake_engine_reset();
	fake_eng.one_at_a_time = true;
	unit_guard_on(state);
	snprintf(t.dir, sizeof(t.dir), "/tmp/qctl.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	assert_int_equal(chmod(t.dir, 0755), 0);   /* other users reach the socket */
	snprintf(t.path, sizeof(t.path), "%s/control.sock", t.dir);
	t.loop = loop_new();
	assert_non_null(t.loop);
	t.ctx = (struct host_ctx){ .loop = t.loop, .engine = (struct engine *)&fake_eng,
				   .status = status_cb };
	return 0;
}

static int teardown(void **state)
{
	control_free(t.ctl);
	assert_int_equal(fake_eng.n, 0);   /* no call left unanswered */
	loop_free(t.loop);
	unlink(t.path);
	assert_int_equal(rmdir(t.dir), 0);   /* control_free removed the socket */
	unit_guard_off(state);
	return 0;
}

/* A client connected as euid uid (SO_PEERCRED takes the euid at connect). */
static int client_as(uid_t uid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t.path);
	if (uid != 0)
		assert_int_equal(seteuid(uid), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (uid != 0)
		assert_int_equal(seteuid(0), 0);
	return fd;
}

/* The next answer line, parsed (the caller puts it); NULL: the connection ended. */
static struct json_object *answer(int fd)
{
	char buf[4096];
	int r = peer_line(t.loop, fd, buf, sizeof(buf), 5000);
	assert_int_not_equal(r, -1);
	if (r == 0)
		return NULL;
	struct json_object *v = json_tokener_parse(buf);
	if (!v)
		fail_msg("not JSON: %s", buf);
	return v;
}
static void expect_error(int fd, const char *klass, const char *desc)
{
	struct json_object *a = answer(fd);
	assert_non_null(a);
	assert_string_equal(peer_str(a, "error", "class"), klass);
	assert_string_equal(peer_str(a, "error", "desc"), desc);
	json_object_put(a);
}

/* quiesce-status answers on fd. */
static void status_ok(int fd)
{
	struct json_object *a;
	peer_say(fd, "{\"execute\":\"quiesce-status\"}\n");
	a = answer(fd);
	assert_non_null(a);
	assert_string_equal(peer_str(a, "return", "state"), "fake");
	json_object_put(a);
}

/* Sends quiesce-status; the answers before its return are errors: how many. */
static unsigned errors_then_status(int fd)
{
	unsigned n = 0;
	peer_say(fd, "{\"execute\":\"quiesce-status\"}\n");
	for (;;) {
		struct json_object *a = answer(fd);
		assert_non_null(a);
		if (json_object_object_get_ex(a, "return", NULL)) {
			json_object_put(a);
			return n;
		}
		assert_string_equal(peer_str(a, "error", "class"), "GenericError");
		json_object_put(a);
		n++;
	}
}

static void expect_eof(int fd)
{
	assert_null(answer(fd));
}

/* ------------------------------------------------------------ the socket file */

static void test_socket_file(void **state)
{
	struct stat st;
	(void)state;
	start();
	assert_int_equal(stat(t.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0666);   /* status is for everyone */
	assert_true(control_in_use(t.path));
	/* A second daemon does not take it over. */
	errno = 0;
	assert_null(control_new(&t.ctx, t.path));
	assert_int_equal(errno, EADDRINUSE);
	control_free(t.ctl);
	t.ctl = NULL;
	assert_int_equal(stat(t.path, &st), -1);
	assert_false(control_in_use(t.path));
}

static void test_stale_and_foreign(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char longpath[200];
	struct stat st;
	int fd;
	(void)state;
	/* A stale socket (bound, nobody listening) is replaced. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t.path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_false(control_in_use(t.path));
	start();
	fd = client_as(0);
	status_ok(fd);
	close(fd);
	control_free(t.ctl);
	t.ctl = NULL;
	/* Anything else at the path is not ours. */
	fd = open(t.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(control_new(&t.ctx, t.path));
	assert_int_equal(stat(t.path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unlink(t.path), 0);
	/* A path longer than sun_path. */
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(control_new(&t.ctx, longpath));
	assert_false(control_in_use(longpath));
}

/* ------------------------------------------------------------ commands */

static bool owner_gone(void *arg)
{
	return fake_eng.owner_gone >= *(unsigned *)arg;
}

static void test_commands_root(void **state)
{
	struct json_object *a;
	int fd;
	(void)state;
	start();
	fd = client_as(0);
	status_ok(fd);
	assert_int_equal(t.status_calls, 1);
	/* Root may freeze; the answer comes when the engine is done, with the id. */
	peer_say(fd, "{\"execute\":\"quiesce-freeze\",\"id\":\"f1\"}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_int_equal(fake_eng.last.req.op, TXN_FREEZE);
	engine_answers(TXN_OK);
	a = answer(fd);
	assert_non_null(a);
	assert_string_equal(peer_str(a, "id", NULL), "f1");
	assert_string_equal(peer_str(a, "return", "count"), "1");
	json_object_put(a);
	/* quiesce-snapshot: the freeze is this client's (its session). */
	peer_say(fd, "{\"execute\":\"quiesce-snapshot\"}{\"execute\":\"quiesce-status\"}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_non_null(fake_eng.last.req.owner);
	/* The status of the same write is answered while the snapshot waits. */
	a = answer(fd);
	assert_string_equal(peer_str(a, "return", "daemon"), "true");
	json_object_put(a);
	engine_answers(TXN_E_VETO);
	expect_error(fd, "Vetoed", "fake says so");
	close(fd);
}

/* Another user reads status and is refused the rest (SO_PEERCRED). */
static void test_commands_user(void **state)
{
	int fd;
	(void)state;
	start();
	fd = client_as(65534);
	status_ok(fd);
	peer_say(fd, "{\"execute\":\"quiesce-freeze\"}\n");
	expect_error(fd, "PermissionDenied",
		     "permission denied: quiesce-freeze needs root (you are uid 65534)");
	peer_say(fd, "{\"execute\":\"quiesce-thaw\"}\n");
	expect_error(fd, "PermissionDenied",
		     "permission denied: quiesce-thaw needs root (you are uid 65534)");
	/* The guest-* commands are the QGA channel's. */
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze\"}\n");
	expect_error(fd, "CommandNotFound", "The command guest-fsfreeze-freeze has not been found");
	assert_int_equal(fake_eng.submitted, 0);
	close(fd);
}

/* ------------------------------------------------------------ bad input */

static void test_malformed(void **state)
{
	int fd;
	(void)state;
	start();
	fd = client_as(0);
	/* A parse error is answered and the connection goes on. */
	peer_say(fd, "}\n");
	expect_error(fd, "GenericError", "JSON parse error, unexpected character");
	status_ok(fd);
	/* The parser resumes at the next byte (no line skipping on this socket): a broken
	 * object may give more than one error, never anything run, and the connection
	 * goes on. */
	peer_say(fd, "{\"execute\" \"quiesce-freeze\"}\n");
	assert_true(errors_then_status(fd) >= 1);
	/* A NUL in a string, bytes that are not UTF-8. */
	peer_say(fd, "{\"execute\":\"quiesce-status\\u0000x\"}\n");
	expect_error(fd, "GenericError", "JSON parse error, " JSONCONN_WHY_NUL);
	status_ok(fd);
	peer_say(fd, "{\"execute\":\"quiesce-\xc0\xaf\"}\n");
	assert_true(errors_then_status(fd) >= 1);
	/* Not a request object. */
	peer_say(fd, "[1,2]\n");
	expect_error(fd, "GenericError", "QMP input must be a JSON object");
	status_ok(fd);
	/* Nested past the depth limit. */
	peer_say(fd, "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}\n");
	assert_true(errors_then_status(fd) >= 1);
	assert_int_equal(fake_eng.submitted, 0);
	close(fd);
}

/* A value past 64 KiB: one error, then the connection is closed. Others go on. */
static void test_too_long(void **state)
{
	size_t n = 70 * 1024;
	char *big = malloc(n + 1);
	int fd, other;
	(void)state;
	assert_non_null(big);
	start();
	other = client_as(0);
	fd = client_as(0);
	memcpy(big, "{\"execute\":\"", 12);
	memset(big + 12, 'a', n - 12);
	big[n] = '\0';
	peer_say(fd, big);
	free(big);
	expect_error(fd, "GenericError", "JSON parse error, " JSONCONN_WHY_TOO_LONG);
	expect_eof(fd);
	close(fd);
	status_ok(other);
	close(other);
}

/* ------------------------------------------------------------ many clients */

/* Many clients at once, their requests interleaved and answered each to its own. */
static void test_many_clients(void **state)
{
	enum { N = 40 };
	int fd[N];
	(void)state;
	start();
	for (int i = 0; i < N; i++) {
		fd[i] = client_as(0);
		status_ok(fd[i]);   /* accepted before the next (the backlog is 16) */
	}
	for (int i = 0; i < N; i++) {
		char req[80];
		snprintf(req, sizeof(req), "{\"execute\":\"quiesce-status\",\"id\":%d}\n", i);
		peer_say(fd[i], req);
	}
	for (int i = N - 1; i >= 0; i--) {
		struct json_object *a = answer(fd[i]), *id;
		assert_non_null(a);
		assert_true(json_object_object_get_ex(a, "id", &id));
		assert_int_equal(json_object_get_int(id), i);
		json_object_put(a);
	}
	for (int i = 0; i < N; i += 2)
		close(fd[i]);
	for (int i = 1; i < N; i += 2)
		status_ok(fd[i]);
	for (int i = 1; i < N; i += 2)
		close(fd[i]);
	assert_int_equal(t.status_calls, N + N + N / 2);
}

/* One other user holds at most 8; the others together 48 (16 kept for root). */
static void test_slots(void **state)
{
	int fd[64], n = 0, x;
	unsigned gone;
	(void)state;
	start();
	for (uid_t u = 65534; u > 65534 - 6; u--)
		for (int i = 0; i < 8; i++) {
			fd[n] = client_as(u);
			status_ok(fd[n++]);
		}
	x = client_as(65534);
	expect_error(x, "GenericError", "too many connections from your user to quiesced");
	expect_eof(x);
	close(x);
	x = client_as(1000);
	expect_error(x, "GenericError", "too many clients connected to quiesced; try again later");
	expect_eof(x);
	close(x);
	/* Root's 16. */
	for (int i = 0; i < 16; i++) {
		fd[n] = client_as(0);
		status_ok(fd[n++]);
	}
	assert_int_equal(n, 64);
	/* Every slot taken: root's next one closes the oldest idle client of another user. */
	x = client_as(0);
	status_ok(x);
	expect_eof(fd[0]);
	for (int i = 1; i < n; i++)
		status_ok(fd[i]);
	/* A root client that left frees its slot: the next one takes it, nobody closed. */
	close(fd[63]);
	gone = 2;   /* the one that made way, and this one */
	assert_true(unit_run_until(t.loop, owner_gone, &gone, 5000));
	fd[63] = client_as(0);
	status_ok(fd[63]);
	for (int i = 1; i < n; i++)
		status_ok(fd[i]);
	for (int i = 0; i < n; i++)
		close(fd[i]);
	close(x);
}

/* A client that left frees its slot: its user's share and the others' 48. */
static void test_slot_freed(void **state)
{
	int fd[48], n = 0, x;
	unsigned gone = 0;
	(void)state;
	start();
	for (uid_t u = 65534; u > 65534 - 6; u--)
		for (int i = 0; i < 8; i++) {
			fd[n] = client_as(u);
			status_ok(fd[n++]);
		}
	for (int round = 0; round < 3; round++) {
		close(fd[3]);
		gone++;
		assert_true(unit_run_until(t.loop, owner_gone, &gone, 5000));
		fd[3] = client_as(65534);
		status_ok(fd[3]);
	}
	x = client_as(1000);
	expect_error(x, "GenericError", "too many clients connected to quiesced; try again later");
	close(x);
	close(fd[47]);
	gone++;
	assert_true(unit_run_until(t.loop, owner_gone, &gone, 5000));
	x = client_as(1000);
	status_ok(x);
	close(x);
	for (int i = 0; i < 47; i++)
		close(fd[i]);
}

/* ------------------------------------------------------------ clients that leave */

/* Gone with its freeze pending: the engine hears of it, the late answer is dropped. */
static void test_leave_pending(void **state)
{
	unsigned gone = 1;
	int fd, other;
	(void)state;
	start();
	other = client_as(0);
	fd = client_as(0);
	peer_say(fd, "{\"execute\":\"quiesce-snapshot\"}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	close(fd);
	assert_true(unit_run_until(t.loop, owner_gone, &gone, 5000));
	engine_answers(TXN_OK);   /* to nobody; the session is freed now */
	status_ok(other);
	close(other);
}

/* Gone half-way through a request: nothing is run. */
static void test_leave_mid_request(void **state)
{
	unsigned gone = 1;
	int fd, other;
	(void)state;
	start();
	other = client_as(0);
	fd = client_as(0);
	status_ok(fd);
	peer_say(fd, "{\"execute\":\"quiesce-fre");
	close(fd);
	assert_true(unit_run_until(t.loop, owner_gone, &gone, 5000));
	assert_int_equal(fake_eng.submitted, 0);
	status_ok(other);
	close(other);
}

/* control_free with a call pending: the client is detached, freed by the answer. */
static void test_free_pending(void **state)
{
	int fd;
	(void)state;
	start();
	fd = client_as(0);
	peer_say(fd, "{\"execute\":\"quiesce-thaw\"}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	control_free(t.ctl);
	t.ctl = NULL;
	expect_eof(fd);
	engine_answers(TXN_OK);
	close(fd);
}

/* ------------------------------------------------------------ allocations */

/* One request on a fresh connection with every allocation failing in turn (json-c's
 * too): the answer a run without a failure gives, an "out of memory" error, or none
 * (the connection closed); never one with a member left out or null. */
struct alloc_case {
	const char *what, *req, *want;
	struct json_object *report; /* the engine's, for a call that reaches it */
	const char *alt;            /* also right out of memory (want without the report) */
};

static bool reply_or_call(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN };
	return fake_eng.n > 0 || poll(&p, 1, 0) > 0;
}

static bool run_answer(void *arg)
{
	const struct alloc_case *a = arg;
	char buf[4096];
	bool failed;
	int fd = client_as(0), got;

	peer_say(fd, a->req);
	unit_run_until(t.loop, reply_or_call, &fd, 5000);
	if (fake_eng.n > 0)
		fake_engine_answer(0, TXN_OK, "", 2, TXN_WHOSE_NONE, a->report);
	got = peer_line(t.loop, fd, buf, sizeof(buf), 5000);
	failed = failalloc_stop();
	assert_int_not_equal(got, -1);
	if (!failed)
		assert_int_equal(got, 1);
	if (got == 1 && (!failed || (!strstr(buf, "\"desc\":\"out of memory\"") &&
				     (!a->alt || strcmp(buf, a->alt)))))
		assert_string_equal(buf, a->want);
	close(fd);
	return failed;
}

static void test_alloc_answers(void **state)
{
	struct json_object *report = json_tokener_parse("{\"ok\":true}");
	char status[256];
	struct alloc_case cases[] = {
		{ "unknown command", "{\"execute\":\"no-such\",\"id\":1}\n",
		  "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command no-such has "
		  "not been found\"},\"id\":1}\n", NULL, NULL },
		{ "freeze, with a report", "{\"execute\":\"quiesce-freeze\",\"id\":2}\n",
		  "{\"return\":{\"report\":{\"ok\":true},\"count\":2},\"id\":2}\n", report,
		  "{\"return\":{\"count\":2},\"id\":2}\n" },
		{ "freeze", "{\"execute\":\"quiesce-freeze\",\"id\":3}\n",
		  "{\"return\":{\"count\":2},\"id\":3}\n", NULL, NULL },
		{ "status", "{\"execute\":\"quiesce-status\",\"id\":4}\n", status, NULL, NULL },
	};
	(void)state;
	snprintf(status, sizeof(status), "{\"return\":{\"version\":\"%s\",\"pid\":%d,"
		 "\"daemon\":true,\"state\":\"fake\"},\"id\":4}\n", QUIESCE_VERSION, (int)getpid());
	assert_non_null(report);
	start();
	/* One round first: the loop's timer heap and fd table grow once, outside the count
	 * (a timer heap that cannot grow is fatal, by design). */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_answer(&cases[i]);
		failalloc_each(cases[i].what, run_answer, &cases[i]);
	}
	json_object_put(report);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_freed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leave_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leave_mid_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_answers, setup, teardown),
	};
	unit_guard("test_control", 60);
	log_hold(true);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (clients of other users via seteuid)\n");
		return 0;
	}
	if (cmd_control_register() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
