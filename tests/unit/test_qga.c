// SPDX-License-Identifier: MIT
/* Unit tests for the QEMU guest agent transport: src/host/qga.c (the channel, here
 * its Unix socket mode on a real socket in a temp dir) and src/host/qgafwd.c (the
 * other guest-* commands forwarded to a qemu-ga backend), with the real command layer
 * (cmd.c, cmd_guest.c), framing (jsonconn.c) and backend supervision (qgaback.c).
 *
 * Why: the host (libvirt, Proxmox) speaks qemu-ga's protocol and relies on its exact
 * answers: guest-sync-delimited's 0xFF, the fsfreeze answer shapes and error classes,
 * answers in request order, the frozen-state allow-list, and for forwarded commands
 * the backend's answer with the host's id, bounded in time when the backend hangs or
 * dies.
 *
 * The engine is faked (engine_submit keeps the callback; the test answers it), so
 * nothing is ever frozen. The qemu-ga backend is this very binary (run with qemu-ga's
 * arguments, as in test_qgaback.c): it refuses to run unless quiesced's -b list blocks
 * the fsfreeze commands, and exits 9 if it ever gets one; no real qemu-ga is run.
 * Not covered: the character device mode (reopen every second) and the 5 s limit on
 * a half-sent request (real time). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <signal.h>
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
#include "fakeqga.h"
#include "jsonpeer.h"
#include "unitguard.h"

#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/host.h"
#include "host/qga.h"
#include "host/qgafwd.h"

/* ------------------------------------------------------------ the stand-in qemu-ga */

static const char fake_info[] =
	"{\"return\": {\"version\": \"7.2.99\", \"supported_commands\": ["
	"{\"enabled\": true, \"name\": \"guest-get-time\", \"success-response\": true}, "
	"{\"enabled\": true, \"name\": \"guest-get-fsinfo\", \"success-response\": true}, "
	"{\"enabled\": true, \"name\": \"guest-get-users\", \"success-response\": true}, "
	"{\"enabled\": true, \"name\": \"test-no-reply\", \"success-response\": false}, "
	"{\"enabled\": true, \"name\": \"guest-sync\", \"success-response\": true}, "
	"{\"enabled\": false, \"name\": \"guest-fsfreeze-thaw\", \"success-response\": true}]}}\n";

/* guest-get-time: answered with the id; guest-get-fsinfo: never answered (hung);
 * guest-get-users: dies; test-no-reply: no answer by design. */
static void fake_request(int fd, const char *name, struct json_object *req)
{
	if (str_has_prefix(name, "guest-fsfreeze"))
		_exit(9); /* never: quiesced blocks them (-b) and serves them itself */
	if (!strcmp(name, "guest-info"))
		fakeqga_send(fd, fake_info);
	else if (!strcmp(name, "guest-get-users"))
		_exit(3);
	else if (!strcmp(name, "guest-get-time"))
		fakeqga_answer_id(fd, "1234", req);
}

/* The freeze family is blocked; the greeting's commands are not. */
static int fake_check(int argc, char **argv)
{
	const char *blocked = fakeqga_arg(argc, argv, "-b");

	if (!blocked)
		blocked = "";
	if (!fakeqga_arg(argc, argv, "-p") || !strstr(blocked, "guest-fsfreeze-freeze,") ||
	    !strstr(blocked, "guest-fsfreeze-thaw") || strstr(blocked, "guest-sync"))
		return 7;
	if (getenv("FAKE_MODE") && !strcmp(getenv("FAKE_MODE"), "exit"))
		return 3;
	return 0;
}

/* Its parse error for a line after 0xFF is not needed here. */
static const struct fakeqga fake_qemu_ga = { .check = fake_check, .request = fake_request };

/* ------------------------------------------------------------ the fake engine */

static void engine_answers(enum txn_err err, const char *msg, unsigned count)
{
	fake_engine_answer(0, err, msg, count, TXN_WHOSE_NONE, NULL);
}

/* ------------------------------------------------------------ the channel */

static char self[4096];
static char topdir[] = "/tmp/quiesce-test-qga-XXXXXX";

static struct {
	char path[128];
	struct loop *loop;
	struct host_ctx ctx;
	struct qga *g;
} t;

static void start_fwd(const char *program, bool disabled, uint64_t timeout_ms)
{
	struct qgafwd_config cfg = { program, disabled, timeout_ms, topdir };
	t.ctx.qgafwd = qgafwd_new(&t.ctx, &cfg);
	assert_non_null(t.ctx.qgafwd);
	qgafwd_start(t.ctx.qgafwd);
}

static int setup(void **state)
{
	memset(&t, 0, sizeof(t));
	fake_engine_reset();
	fake_eng.one_at_a_time = true;
	unit_guard_on(state);
	setenv("FAKE_MODE", "ok", 1);
	snprintf(t.path, sizeof(t.path), "%s/qga.sock", topdir);
	t.loop = loop_new();
	assert_non_null(t.loop);
	t.ctx = (struct host_ctx){ .loop = t.loop, .engine = (struct engine *)&fake_eng };
	return 0;
}

static void open_channel(void)
{
	t.g = qga_new(&t.ctx, t.path);
	assert_non_null(t.g);
}

static int teardown(void **state)
{
	qga_free(t.g);
	qgafwd_free(t.ctx.qgafwd);
	assert_int_equal(fake_eng.n, 0); /* no call left unanswered */
	loop_free(t.loop);
	assert_int_equal(access(t.path, F_OK), -1); /* qga_free removed the socket */
	unit_guard_off(state);
	return 0;
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	str_copy(sa.sun_path, t.path, sizeof(sa.sun_path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The next answer line, raw (0xFF included), bounded: false if the connection ended. */
static bool answer_text(int fd, char *buf, size_t size, unsigned limit_ms)
{
	int r = peer_line(t.loop, fd, buf, size, limit_ms);
	assert_int_not_equal(r, -1);
	return r == 1;
}

/* The next answer, parsed (the caller puts it); *ff: it began with 0xFF. */
static struct json_object *answer_ff(int fd, bool *ff, unsigned limit_ms)
{
	char buf[4096];
	struct json_object *v;
	assert_true(answer_text(fd, buf, sizeof(buf), limit_ms));
	*ff = buf[0] == '\xff';
	v = json_tokener_parse(buf + (*ff ? 1 : 0));
	if (!v)
		fail_msg("not JSON: %s", buf);
	return v;
}

static struct json_object *answer(int fd)
{
	bool ff;
	struct json_object *v = answer_ff(fd, &ff, 5000);
	assert_false(ff);
	return v;
}

static void expect_eof(int fd)
{
	char buf[64];
	assert_false(answer_text(fd, buf, sizeof(buf), 5000));
}

/* The answer is exactly this JSON (compared as plain text after a round trip). */
static void expect_json(int fd, const char *want)
{
	struct json_object *a = answer(fd), *w = json_tokener_parse(want);
	assert_non_null(w);
	assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
			    json_object_to_json_string_ext(w, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	json_object_put(w);
}

/* An error answer: its class, and its desc starts with desc. */
static void expect_error(int fd, const char *klass, const char *desc)
{
	struct json_object *a = answer(fd);
	assert_string_equal(peer_str(a, "error", "class"), klass);
	if (!str_has_prefix(peer_str(a, "error", "desc"), desc))
		fail_msg("desc \"%s\" does not start with \"%s\"", peer_str(a, "error", "desc"), desc);
	json_object_put(a);
}


/* A member of qgafwd_status's "qga_backend", as an int64 (state: 1 if "running"). */
static int64_t fwd_status(const char *key)
{
	struct json_object *o = json_object_new_object(), *b, *v;
	int64_t r = -1;
	qgafwd_status(t.ctx.qgafwd, o);
	assert_true(json_object_object_get_ex(o, "qga_backend", &b));
	if (json_object_object_get_ex(b, key, &v))
		r = !strcmp(key, "state") ? !strcmp(json_object_get_string(v), "running")
					  : json_object_get_int64(v);
	json_object_put(o);
	return r;
}

static bool backend_running(void *arg)
{
	(void)arg;
	return fwd_status("state") == 1 && fwd_status("commands") > 0;
}

static void wait_backend(void)
{
	assert_true(unit_run_until(t.loop, backend_running, NULL, 10000));
}

/* The channel open, the stand-in qemu-ga up behind it (its timeout_ms), and a client. */
static int live_client(uint64_t timeout_ms)
{
	start_fwd(self, false, timeout_ms);
	open_channel();
	wait_backend();
	return client();
}

/* Something that never holds: run the loop this long (to show nothing comes). */
static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void nothing_comes(int fd)
{
	char buf[16];
	assert_false(unit_run_until(t.loop, never, NULL, 100));
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
}

/* ------------------------------------------------------------ the socket file */

static void test_socket_file(void **state)
{
	struct stat st;
	struct qga *other;
	int fd;
	(void)state;
	/* A stale socket (bound, nobody listening) is replaced. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		str_copy(sa.sun_path, t.path, sizeof(sa.sun_path));
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	open_channel();
	assert_int_equal(stat(t.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600); /* the peer may freeze: root only */
	/* A live one is not taken over. */
	other = qga_new(&t.ctx, t.path);
	assert_null(other);
	qga_free(t.g);
	t.g = NULL;
	/* Nor anything that is not a socket. */
	fd = open(t.path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(qga_new(&t.ctx, t.path));
	assert_int_equal(stat(t.path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(t.path);
}

/* ------------------------------------------------------------ served here */

static void test_sync_and_ping(void **state)
{
	bool ff;
	struct json_object *a;
	int fd;
	(void)state;
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":5}}\n");
	expect_json(fd, "{\"return\":5}");
	peer_say(fd, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":-9007199254740993},\"id\":\"x\"}\n");
	expect_json(fd, "{\"return\":-9007199254740993,\"id\":\"x\"}");
	/* The host's resync: 0xFF (answered with qemu-ga's parse error, not delimited),
	 * then guest-sync-delimited, answered after a 0xFF of its own. */
	peer_say(fd, "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":77}}\n");
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"JSON parse error, stray '\xef\xbf\xbd'\"}}");
	a = answer_ff(fd, &ff, 5000);
	assert_true(ff);
	assert_int_equal(json_object_get_int64(json_object_object_get(a, "return")), 77);
	json_object_put(a);
	/* Half a request, then 0xFF: the half is dropped, the resync works. */
	peer_say(fd, "{\"execute\":\"guest-sy\xff{\"execute\":\"guest-sync-delimited\","
		"\"arguments\":{\"id\":78}}\n");
	expect_error(fd, "GenericError", "JSON parse error, stray");
	a = answer_ff(fd, &ff, 5000);
	assert_true(ff);
	assert_int_equal(json_object_get_int64(json_object_object_get(a, "return")), 78);
	json_object_put(a);
	/* Only a successful answer is delimited. */
	peer_say(fd, "{\"execute\":\"guest-sync-delimited\",\"id\":1}\n");
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"Parameter 'id' is missing\"},\"id\":1}");
	peer_say(fd, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":\"a\"}}\n");
	expect_error(fd, "GenericError", "Invalid parameter type for 'id', expected: integer");
	peer_say(fd, "{\"execute\":\"guest-ping\",\"id\":[1,{\"a\":null}]}\n");
	expect_json(fd, "{\"return\":{},\"id\":[1,{\"a\":null}]}");
	peer_say(fd, "{\"execute\":\"guest-ping\",\"arguments\":{\"x\":1}}\n");
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"Parameter 'x' is unexpected\"}}");
	assert_int_equal(fake_eng.submitted, 0);
	close(fd);
}

static void test_fsfreeze(void **state)
{
	int fd;
	(void)state;
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-status\",\"id\":1}\n");
	expect_json(fd, "{\"return\":\"thawed\",\"id\":1}");
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":2}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_int_equal(fake_eng.last.req.op, TXN_FREEZE);
	assert_true(fake_eng.last.req.undo_if_none);
	assert_false(fake_eng.last.req.mountpoints_set);
	fake_eng.state = TXN_FROZEN;
	engine_answers(TXN_OK, "ok", 3);
	expect_json(fd, "{\"return\":3,\"id\":2}");
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-status\"}\n");
	expect_json(fd, "{\"return\":\"frozen\"}");
	/* The lease took the freeze back: worded as qemu-ga's hold limit. */
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":3}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_int_equal(fake_eng.last.req.op, TXN_THAW);
	fake_eng.state = TXN_IDLE;
	engine_answers(TXN_E_LEASE, "the lease of 10 s ran out", 0);
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
			"\"couldn't hold writes: the lease of 10 s ran out\"},\"id\":3}");
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze-list\","
		"\"arguments\":{\"mountpoints\":[\"/srv/a\",\"/b\"]}}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_true(fake_eng.last.req.mountpoints_set);
	assert_int_equal(fake_eng.last.req.n_mountpoints, 2);
	assert_string_equal(fake_eng.last.mounts[0], "/srv/a");
	engine_answers(TXN_E_BUSY, "a freeze is already running", 0);
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"a freeze is already running\"}}");
	/* An empty list freezes nothing, never everything; 0 (qemu-ga). */
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[]}}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_true(fake_eng.last.req.mountpoints_set);
	assert_int_equal(fake_eng.last.req.n_mountpoints, 0);
	engine_answers(TXN_OK, "ok", 0);
	expect_json(fd, "{\"return\":0}");
	/* Bad arguments never reach the engine. */
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze\",\"arguments\":{\"mountpoints\":[]}}\n");
	expect_error(fd, "GenericError", "Parameter 'mountpoints' is unexpected");
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":\"/\"}}\n");
	expect_error(fd, "GenericError", "");
	assert_int_equal(fake_eng.submitted, 4);
	close(fd);
}

static void test_frozen_gate(void **state)
{
	struct json_object *a, *list;
	bool saw_freeze = false;
	int fd;
	(void)state;
	open_channel();
	fd = client();
	fake_eng.state = TXN_FREEZING; /* frozen from the start of a freeze */
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":1}\n");
	expect_json(fd, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Command "
			"guest-fsfreeze-freeze has been disabled: the agent is in frozen state\"},"
			"\"id\":1}");
	fake_eng.state = TXN_THAWING; /* until its thaw has finished */
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze-list\"}\n");
	expect_error(fd, "CommandNotFound", "Command guest-fsfreeze-freeze-list has been disabled");
	fake_eng.state = TXN_FROZEN;
	peer_say(fd, "{\"execute\":\"guest-ping\"}\n");
	expect_json(fd, "{\"return\":{}}");
	peer_say(fd, "{\"execute\":\"guest-info\"}\n");
	a = answer(fd);
	assert_true(json_object_object_get_ex(json_object_object_get(a, "return"),
					      "supported_commands", &list));
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);
		const char *name = peer_str(c, "name", NULL);
		bool on = json_object_get_boolean(json_object_object_get(c, "enabled"));
		if (!strcmp(name, "guest-fsfreeze-freeze")) {
			saw_freeze = true;
			assert_false(on);
		} else if (!strcmp(name, "guest-fsfreeze-thaw") || !strcmp(name, "guest-sync")) {
			assert_true(on);
		}
	}
	assert_true(saw_freeze);
	json_object_put(a);
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-thaw\"}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	fake_eng.state = TXN_IDLE;
	engine_answers(TXN_OK, "ok", 2);
	expect_json(fd, "{\"return\":2}");
	assert_int_equal(fake_eng.submitted, 1);
	close(fd);
}

/* Answers in request order: what comes behind a pending freeze waits for it (a host's
 * guest-sync-delimited after a timeout must not overtake the freeze's answer). */
static void test_order(void **state)
{
	bool ff;
	struct json_object *a;
	int fd;
	(void)state;
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":1}\n"
		"\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":2}}\n"
		"{\"execute\":\"guest-fsfreeze-status\",\"id\":3}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	nothing_comes(fd);
	fake_eng.state = TXN_FROZEN;
	engine_answers(TXN_OK, "ok", 1);
	expect_json(fd, "{\"return\":1,\"id\":1}");
	expect_error(fd, "GenericError", "JSON parse error, stray");
	a = answer_ff(fd, &ff, 5000);
	assert_true(ff);
	assert_int_equal(json_object_get_int64(json_object_object_get(a, "return")), 2);
	json_object_put(a);
	expect_json(fd, "{\"return\":\"frozen\",\"id\":3}");
	fake_eng.state = TXN_IDLE;
	close(fd);
}

/* More than 16 requests ahead of an answer: the client is dropped; its pending
 * freeze is still answered (to nobody) and its session released. */
static void test_queue_limit(void **state)
{
	char many[17 * 32 + 64] = "{\"execute\":\"guest-fsfreeze-freeze\"}\n";
	int fd, fd2;
	(void)state;
	open_channel();
	fd = client();
	for (int i = 0; i < 17; i++)
		strcat(many, "{\"execute\":\"guest-ping\"}\n");
	peer_say(fd, many);
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	expect_eof(fd);
	engine_answers(TXN_OK, "ok", 1);
	close(fd);
	/* 16 are fine. */
	fd2 = client();
	many[strlen(many) - strlen("{\"execute\":\"guest-ping\"}\n")] = '\0';
	peer_say(fd2, many);
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	engine_answers(TXN_OK, "ok", 1);
	expect_json(fd2, "{\"return\":1}");
	for (int i = 0; i < 16; i++)
		expect_json(fd2, "{\"return\":{}}");
	close(fd2);
}

static void test_malformed(void **state)
{
	static char big[70 * 1024];
	char deep[200] = "";
	int fd;
	(void)state;
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\" guest-ping}\n");
	expect_error(fd, "GenericError", "JSON parse error, ");
	peer_say(fd, "[1,2]\n");
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"QMP input must be a JSON object\"}}");
	peer_say(fd, "null\n");
	expect_error(fd, "GenericError", "QMP input must be a JSON object");
	peer_say(fd, "{\"execute\":\"guest-ping\",\"bogus\":1,\"id\":4}\n");
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"QMP input member 'bogus' is unexpected\"},\"id\":4}");
	peer_say(fd, "{\"execute\":\"guest-exec\",\"id\":5}\n"); /* no backend */
	expect_json(fd, "{\"error\":{\"class\":\"CommandNotFound\","
			"\"desc\":\"The command guest-exec has not been found\"},\"id\":5}");
	/* Not UTF-8: qemu-ga refuses it. */
	peer_say(fd, "{\"execute\":\"guest-ping\",\"id\":\"\xc0\xaf\"}\n");
	expect_error(fd, "GenericError", "JSON parse error, ");
	/* Past 64 KiB: one error, the rest of the line skipped, then on. */
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"execute\":\"guest-ping\",\"id\":\"", 30);
	memset(big + 30, 'a', sizeof(big) - 32);
	big[sizeof(big) - 2] = '"';
	big[sizeof(big) - 1] = '\n';
	peer_say_n(fd, big, sizeof(big));
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"JSON token size limit exceeded\"}}");
	/* 40 levels of nesting. */
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	strcat(deep, "\n");
	peer_say(fd, deep);
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\","
			"\"desc\":\"JSON nesting depth limit exceeded\"}}");
	peer_say(fd, "{\"execute\":\"guest-ping\",\"id\":6}\n");
	expect_json(fd, "{\"return\":{},\"id\":6}");
	assert_int_equal(fake_eng.submitted, 0);
	close(fd);
}

/* What qga.c documents: a freeze made over the channel outlives the client; it ends
 * with guest-fsfreeze-thaw from the next one (or with the lease, the engine's). */
static void test_disconnect_mid_freeze(void **state)
{
	int fd;
	(void)state;
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-freeze\",\"id\":1}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	/* The host goes away while the freeze runs: seen (its side closed)... */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_eof(fd);
	close(fd);
	/* ...and the freeze goes on: its answer goes to nobody, nothing is thawed. */
	fake_eng.state = TXN_FROZEN;
	engine_answers(TXN_OK, "ok", 2);
	assert_int_equal(fake_eng.submitted, 1);
	/* A client that leaves while frozen changes nothing either. */
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-status\"}\n");
	expect_json(fd, "{\"return\":\"frozen\"}");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_eof(fd);
	close(fd);
	assert_int_equal(fake_eng.submitted, 1);
	/* The next client thaws it. */
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":2}\n");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_int_equal(fake_eng.last.req.op, TXN_THAW);
	fake_eng.state = TXN_IDLE;
	engine_answers(TXN_OK, "ok", 2);
	expect_json(fd, "{\"return\":2,\"id\":2}");
	close(fd);
}

static void test_max_clients(void **state)
{
	int fd[5];
	(void)state;
	open_channel();
	for (int i = 0; i < 4; i++) {
		fd[i] = client();
		peer_say(fd[i], "{\"execute\":\"guest-ping\"}\n");
		expect_json(fd[i], "{\"return\":{}}");
	}
	fd[4] = client();
	expect_error(fd[4], "GenericError", "too many clients connected to the agent channel");
	expect_eof(fd[4]);
	close(fd[4]);
	/* One leaves: room for the next. */
	assert_int_equal(shutdown(fd[0], SHUT_WR), 0);
	expect_eof(fd[0]);
	close(fd[0]);
	fd[0] = client();
	peer_say(fd[0], "{\"execute\":\"guest-ping\"}\n");
	expect_json(fd[0], "{\"return\":{}}");
	for (int i = 0; i < 4; i++)
		close(fd[i]);
}

/* ------------------------------------------------------------ forwarded */

static void test_forward(void **state)
{
	struct json_object *a, *ret, *list;
	unsigned syncs = 0;
	bool saw_time = false, saw_noreply = false;
	int fd, fd2;
	(void)state;
	fd = live_client(10000);
	/* The backend's answer, with the host's id, whatever its shape. */
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":\"abc\"}\n");
	expect_json(fd, "{\"return\":1234,\"id\":\"abc\"}");
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":[1,{\"k\":-2.5}]}\n");
	expect_json(fd, "{\"return\":1234,\"id\":[1,{\"k\":-2.5}]}");
	/* Two clients at once: each gets its own. */
	fd2 = client();
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":11}\n");
	peer_say(fd2, "{\"execute\":\"guest-get-time\",\"id\":22}\n");
	expect_json(fd2, "{\"return\":1234,\"id\":22}");
	expect_json(fd, "{\"return\":1234,\"id\":11}");
	/* No answer by design: nothing comes for it, the next request is answered. */
	peer_say(fd, "{\"execute\":\"test-no-reply\",\"id\":9}\n{\"execute\":\"guest-ping\",\"id\":10}\n");
	expect_json(fd, "{\"return\":{},\"id\":10}");
	/* Known to neither. */
	peer_say(fd, "{\"execute\":\"guest-nonesuch\",\"id\":12}\n");
	expect_error(fd, "CommandNotFound", "The command guest-nonesuch has not been found");
	/* guest-info: its commands too, with qemu-ga's version; ours once. */
	peer_say(fd, "{\"execute\":\"guest-info\"}\n");
	a = answer(fd);
	ret = json_object_object_get(a, "return");
	assert_string_equal(peer_str(ret, "version", NULL), "7.2.99");
	assert_true(json_object_object_get_ex(ret, "supported_commands", &list));
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);
		const char *name = peer_str(c, "name", NULL);
		bool resp = json_object_get_boolean(json_object_object_get(c, "success-response"));
		syncs += !strcmp(name, "guest-sync");
		if (!strcmp(name, "guest-get-time"))
			saw_time = resp;
		if (!strcmp(name, "test-no-reply"))
			saw_noreply = !resp;
	}
	assert_int_equal(syncs, 1);
	assert_true(saw_time);
	assert_true(saw_noreply);
	json_object_put(a);
	/* While frozen nothing is forwarded. */
	fake_eng.state = TXN_FROZEN;
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":13}\n");
	expect_json(fd, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Command "
			"guest-get-time has been disabled: the agent is in frozen state\"},\"id\":13}");
	fake_eng.state = TXN_IDLE;
	assert_int_equal(fwd_status("forwarded"), 5); /* not the one refused */
	assert_int_equal(fwd_status("timeouts"), 0);
	assert_int_equal(fwd_status("deaths"), 0);
	assert_int_equal(fake_eng.submitted, 0);
	close(fd);
	close(fd2);
}

/* A hung command: the host's error after the timeout, the backend restarted. */
static void test_backend_slow(void **state)
{
	int fd;
	(void)state;
	fd = live_client(300);
	peer_say(fd, "{\"execute\":\"guest-get-fsinfo\",\"id\":1}\n");
	expect_error(fd, "GenericError", "guest-get-fsinfo: the guest agent backend (qemu-ga) did "
		     "not answer guest-get-fsinfo within 0.");
	assert_int_equal(fwd_status("timeouts"), 1);
	wait_backend();
	assert_int_equal(fwd_status("starts"), 2);
	assert_int_equal(fwd_status("deaths"), 0); /* a restart on purpose */
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":2}\n");
	expect_json(fd, "{\"return\":1234,\"id\":2}");
	close(fd);
}

/* A thaw behind a hung forwarded command cuts its wait to a second. */
static void test_thaw_hurries(void **state)
{
	int fd;
	(void)state;
	fd = live_client(600000);
	peer_say(fd, "{\"execute\":\"guest-get-fsinfo\",\"id\":1}\n");
	assert_false(unit_run_until(t.loop, never, NULL, 100));
	fake_eng.state = TXN_FROZEN; /* frozen by another client since */
	peer_say(fd, "{\"execute\":\"guest-fsfreeze-thaw\",\"id\":2}\n");
	expect_error(fd, "GenericError", "guest-get-fsinfo: the guest agent backend (qemu-ga) did "
		     "not answer");
	assert_true(unit_run_until(t.loop, fake_engine_called, NULL, 5000));
	assert_int_equal(fake_eng.last.req.op, TXN_THAW);
	fake_eng.state = TXN_IDLE;
	engine_answers(TXN_OK, "ok", 1);
	expect_json(fd, "{\"return\":1,\"id\":2}");
	close(fd);
}

static void test_backend_dies(void **state)
{
	int fd;
	(void)state;
	fd = live_client(10000);
	peer_say(fd, "{\"execute\":\"guest-get-users\",\"id\":1}\n");
	expect_error(fd, "GenericError", "guest-get-users: the guest agent backend (qemu-ga) ");
	assert_int_equal(fwd_status("timeouts"), 0);
	wait_backend();
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":2}\n");
	expect_json(fd, "{\"return\":1234,\"id\":2}");
	close(fd);
}

/* No backend (not installed, --no-qga-backend): the rest is CommandNotFound. */
static void test_backend_absent(void **state)
{
	struct json_object *o = json_object_new_object();
	int fd;
	(void)state;
	start_fwd("/nonexistent/qemu-ga", false, 300);
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":1}\n");
	expect_json(fd, "{\"error\":{\"class\":\"CommandNotFound\","
			"\"desc\":\"The command guest-get-time has not been found\"},\"id\":1}");
	qgafwd_status(t.ctx.qgafwd, o);
	assert_string_equal(peer_str(o, "qga_backend", "state"), "none");
	assert_string_equal(peer_str(o, "qga_backend", "reason"),
			    "/nonexistent/qemu-ga not found (--qga-backend)");
	json_object_put(o);
	close(fd);
	qga_free(t.g);
	qgafwd_free(t.ctx.qgafwd);
	start_fwd(self, true, 300);
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-get-time\"}\n");
	expect_error(fd, "CommandNotFound", "The command guest-get-time has not been found");
	close(fd);
}

/* A backend that never comes up: a forwarded request is not run, bounded. */
static void test_backend_down(void **state)
{
	int fd;
	(void)state;
	setenv("FAKE_MODE", "exit", 1);
	start_fwd(self, false, 300);
	open_channel();
	fd = client();
	peer_say(fd, "{\"execute\":\"guest-get-time\",\"id\":1}\n");
	expect_json(fd, "{\"error\":{\"class\":\"GenericError\",\"desc\":\"guest-get-time: not "
			"run: the guest agent backend (qemu-ga) is not available (it is being "
			"restarted)\"},\"id\":1}");
	close(fd);
}

/* ------------------------------------------------------------ allocations */

static bool run_open(void *arg)
{
	struct qga *g;
	bool failed;
	(void)arg;
	g = qga_new(&t.ctx, t.path);
	failed = failalloc_stop();
	if (!failed)
		assert_non_null(g);
	qga_free(g);
	assert_int_equal(access(t.path, F_OK), -1);
	return failed;
}

static void test_alloc_open(void **state)
{
	char cwd[4096];
	(void)state;
	failalloc_each("qga_new", run_open, NULL);
	/* A relative path too (made absolute with the cwd: getcwd, asprintf). */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(topdir), 0);
	str_copy(t.path, "qga.sock", sizeof(t.path));
	failalloc_each("qga_new (relative)", run_open, NULL);
	assert_int_equal(chdir(cwd), 0);
	snprintf(t.path, sizeof(t.path), "%s/qga.sock", topdir);
}

static bool run_fwd_new(void *arg)
{
	struct qgafwd_config cfg = { self, false, 1000, topdir };
	struct qgafwd *f;
	bool failed;
	(void)arg;
	f = qgafwd_new(&t.ctx, &cfg);
	failed = failalloc_stop();
	qgafwd_free(f);
	return failed;
}

static void test_alloc_fwd(void **state)
{
	(void)state;
	failalloc_each("qgafwd_new", run_fwd_new, NULL);
}

/* A request on a live channel with every allocation failing in turn (json-c's too):
 * the right answer, an error, or none, never a crash, a leak or a wrong answer (out
 * of memory for guest-sync's value used to answer {"return": {}}). */
struct alloc_req {
	const char *req, *want; /* a request line, its whole answer line */
	const char *alt;        /* also right out of memory (NULL: none) */
};

static bool run_request(void *arg)
{
	const struct alloc_req *a = arg;
	char buf[4096];
	bool failed;
	int fd, got;
	fd = client();
	peer_say(fd, a->req);
	/* Out of memory, no answer may come at all: given up on sooner then. */
	got = peer_line(t.loop, fd, buf, sizeof(buf), 500);
	if (got == -1 && !failalloc_fired())
		got = peer_line(t.loop, fd, buf, sizeof(buf), 5000);
	failed = failalloc_stop();
	if (!failed) {
		assert_int_equal(got, 1);
		assert_string_equal(buf, a->want);
	} else if (got == 1 && !strstr(buf, "\"desc\":\"out of memory\"") &&
		   (!a->alt || strcmp(buf, a->alt))) {
		assert_string_equal(buf, a->want);
	}
	close(fd);
	return failed;
}

static void test_alloc_request(void **state)
{
	static struct alloc_req sync = {
		"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":3},\"id\":4}\n",
		"{\"return\":3,\"id\":4}\n", NULL };
	static struct alloc_req nul = {
		"{\"execute\":\"guest-ping\\u0000junk\",\"id\":5}\n",
		"{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command "
		"guest-ping\\u0000junk has not been found\"},\"id\":5}\n",
		/* its text could not be made: the class, a shorter desc */
		"{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command has not been "
		"found\"},\"id\":5}\n" };
	(void)state;
	open_channel();
	/* One round first: the loop's timer heap and fd table grow once, outside the
	 * count (a timer heap that cannot grow is fatal, by design). */
	run_request(&sync);
	failalloc_each("a request", run_request, &sync);
	/* A name with a NUL: its CommandNotFound built apart (cmd.c's not_found_nul). */
	failalloc_each("a name with a NUL", run_request, &nul);
}

/* guest-info with the backend's commands, each allocation failing in turn: the whole
 * answer (as without a failure) or an error, or none; never one with commands or the
 * backend's version left out (they used to be added unchecked). */
static void test_alloc_info(void **state)
{
	char want[4096];
	int fd;

	(void)state;
	fd = live_client(10000);
	peer_say(fd, "{\"execute\":\"guest-info\"}\n");
	assert_true(answer_text(fd, want, sizeof(want), 5000));
	close(fd);
	assert_non_null(strstr(want, "\"version\":\"7.2.99\""));
	assert_non_null(strstr(want, "guest-get-time"));
	failalloc_each("guest-info", run_request,
		       &(struct alloc_req){ "{\"execute\":\"guest-info\"}\n", want, NULL });
}

/* qgafwd_status, each allocation failing in turn: -1 and no "qga_backend", or 0 and the
 * whole of it (its members used to be added unchecked: some left out, or null). */
static bool run_status(void *arg)
{
	struct json_object *o = arg;
	const char *want = json_object_get_userdata(o);
	bool failed;
	int r;

	r = qgafwd_status(t.ctx.qgafwd, o);
	failed = failalloc_stop();
	if (r == 0)
		assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), want);
	else
		assert_false(json_object_object_get_ex(o, "qga_backend", NULL));
	assert_true(r == 0 || failed);
	json_object_object_del(o, "qga_backend");
	return failed;
}

static void test_alloc_status(void **state)
{
	struct json_object *o = json_object_new_object();
	char *want;

	(void)state;
	for (int running = 0; running < 2; running++) {
		start_fwd(running ? self : "/nonexistent/qemu-ga", false, 300);
		if (running)
			wait_backend();
		assert_int_equal(qgafwd_status(t.ctx.qgafwd, o), 0);
		want = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		assert_non_null(want);
		json_object_object_del(o, "qga_backend");
		json_object_set_userdata(o, want, NULL);
		failalloc_each(running ? "qgafwd_status (running)" : "qgafwd_status (none)",
			       run_status, o);
		free(want);
		qgafwd_free(t.ctx.qgafwd);
		t.ctx.qgafwd = NULL;
	}
	json_object_put(o);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsfreeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frozen_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_mid_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_slow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thaw_hurries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_fwd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_status, setup, teardown),
	};
	char conf[sizeof(topdir) + 16];
	FILE *f;
	int r;

	if (fakeqga_wanted(argc, argv))
		return fakeqga_run(argc, argv, &fake_qemu_ga);
	if (!realpath("/proc/self/exe", self) || !mkdtemp(topdir))
		return 1;
	/* Its config: an empty one of ours, not the machine's. */
	snprintf(conf, sizeof(conf), "%s/admin.conf", topdir);
	f = fopen(conf, "w");
	if (!f || fclose(f) != 0)
		return 1;
	setenv("QGA_CONF", conf, 1);
	unit_guard("test_qga", 60);
	signal(SIGPIPE, SIG_IGN);
	/* Backend restarts are logged: to stderr only when asked. */
	if (!getenv("TEST_QGA_LOG") && !freopen("/dev/null", "w", stderr))
		return 1;
	log_init("test_qga", true, false);
	if (cmd_guest_register() < 0)
		return 1;
	cmocka_set_message_output(CM_OUTPUT_TAP);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", topdir);
		if (system(cmd) != 0)
			r = r ? r : 1;
	}
	return r;
}
