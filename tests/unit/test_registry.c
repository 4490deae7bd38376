// SPDX-License-Identifier: MIT
/* Unit tests for the app registry (src/apps/): the real socket, the real event loop,
 * apps played by this process through the wire format (common/appwire.h), and a fake
 * engine that only records engine_stage_done(). Registration and its refusals, the
 * phases (every app answering, a veto, an optional veto, a timeout and the late
 * window, a disconnect mid-freeze, an app still busy), the THAW order and the owed
 * THAW, and the per-uid pending slots and connection rate. */
#include <errno.h>
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

#include "apps/admit.h"
#include "apps/registry.h"
#include "common/appwire.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"

/* Bound on any wait for the registry; reached only if it hangs. */
#define WAIT_MS 5000

/* The fake engine: what the stage said when it finished from the loop. */
struct engine {
	unsigned done;
	bool ok;
	char msg[512];
};

void engine_stage_done(struct engine *e, bool ok, const char *msg)
{
	e->done++;
	e->ok = ok;
	str_copy(e->msg, msg, sizeof(e->msg));
}

struct fixture {
	struct loop *loop;
	struct engine eng;
	struct registry *reg;
	char dir[64];
	char path[128];
};

/* The fixture of the test running: a failed assertion leaves the test at once, and
 * cleanup() frees what teardown() did not. */
static struct fixture *current;

static struct fixture *setup(unsigned max_apps, unsigned rate)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct registry_config cfg = { .mode = 0666, .max_apps = max_apps, .connect_rate = rate,
				       .default_timeout_ms = 2000, .max_timeout_ms = 2000 };

	assert_non_null(f);
	log_hold(false);
	str_copy(f->dir, "/tmp/quiesce-test-registry-XXXXXX", sizeof(f->dir));
	assert_non_null(mkdtemp(f->dir));
	/* Searchable by other users: the per-uid cases connect as one. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	snprintf(f->path, sizeof(f->path), "%s/app.sock", f->dir);
	cfg.socket_path = f->path;
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->reg = registry_new(f->loop, &f->eng, &cfg);
	assert_non_null(f->reg);
	current = f;
	return f;
}

/* The registry, the loop and the directory gone: rmdir's result. */
static int destroy(struct fixture *f)
{
	int rc;
	current = NULL;
	registry_free(f->reg);
	loop_free(f->loop);
	rc = rmdir(f->dir);
	free(f);
	return rc;
}

static void teardown(struct fixture *f)
{
	assert_int_equal(destroy(f), 0);   /* the socket file is gone too */
}

/* After every test, also a failed one: back to root if a test left it as another
 * user, and the registry and its directory gone. */
static int cleanup(void **state)
{
	(void)state;
	if (getuid() == 0 && geteuid() != 0 && seteuid(0) < 0)
		return -1;
	if (current)
		(void)destroy(current);
	return 0;
}

/* ------------------------------------------------------------ waiting on the loop */

struct waiter {
	bool (*cond)(struct fixture *f, int arg);
	struct fixture *f;
	int arg;
	uint64_t until;
	bool met;
	struct loop_timer tick;
};

static void on_tick(struct loop *loop, void *arg)
{
	struct waiter *w = arg;
	if (w->cond(w->f, w->arg)) {
		w->met = true;
		loop_stop(loop, 0);
	} else if (now_ms() > w->until) {
		loop_stop(loop, 1);
	} else {
		loop_timer_arm(loop, &w->tick, 1, on_tick, w);
	}
}

/* Runs the loop until cond holds (checked every millisecond), bounded by WAIT_MS. */
static void wait_for(struct fixture *f, bool (*cond)(struct fixture *f, int arg), int arg)
{
	struct waiter w = { .cond = cond, .f = f, .arg = arg, .until = now_ms() + WAIT_MS };
	loop_timer_arm(f->loop, &w.tick, 0, on_tick, &w);
	loop_run(f->loop);
	loop_timer_disarm(f->loop, &w.tick);
	assert_true(w.met);
}

static bool readable(struct fixture *f, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	(void)f;
	return poll(&p, 1, 0) == 1;
}

static bool stage_done(struct fixture *f, int n)
{
	return f->eng.done >= (unsigned)n;
}

static bool active(struct fixture *f, int unused)
{
	(void)unused;
	return registry_stage_ops.active(f->reg);
}

static bool registered(struct fixture *f, int n)
{
	struct json_object *o = json_object_new_object();
	bool yes;
	registry_list(f->reg, o);
	yes = json_object_get_int(json_object_object_get(o, "count")) == n;
	json_object_put(o);
	return yes;
}

/* ------------------------------------------------------------ the apps' side */

static int app_connect(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	str_copy(sa.sun_path, f->path, sizeof(sa.sun_path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_hello(int fd, const char *name, uint32_t flags, uint32_t timeout_ms)
{
	struct appwire_hello h = { .version = APPWIRE_VERSION, .flags = flags,
				   .timeout_ms = timeout_ms };
	uint8_t buf[APPWIRE_HELLO_SIZE];
	str_copy(h.name, name, sizeof(h.name));
	appwire_encode_hello(buf, &h);
	assert_int_equal(send(fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
}

static struct appwire_welcome read_welcome(struct fixture *f, int fd)
{
	struct appwire_welcome w;
	uint8_t buf[APPWIRE_MAX_FRAME];
	ssize_t n;
	wait_for(f, readable, fd);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, APPWIRE_WELCOME_SIZE);
	assert_int_equal(appwire_decode_welcome(buf, (size_t)n, &w), APPWIRE_OK);
	return w;
}

/* Connect, hello, and the welcome: the app's fd. */
static int app_register(struct fixture *f, const char *name, uint32_t flags, uint32_t timeout_ms)
{
	int fd = app_connect(f);
	struct appwire_welcome w;
	send_hello(fd, name, flags, timeout_ms);
	w = read_welcome(f, fd);
	assert_int_equal(w.result, APPWIRE_ACCEPTED);
	assert_true(w.app_id >= 1);
	return fd;
}

/* A newcomer's hello: the welcome's result (the connection is closed again). */
static uint16_t hello_result(struct fixture *f, const char *name)
{
	int fd = app_connect(f);
	uint16_t res;
	send_hello(fd, name, 0, 0);
	res = read_welcome(f, fd).result;
	close(fd);
	return res;
}

static struct appwire_msg read_request(struct fixture *f, int fd, uint32_t opt)
{
	struct appwire_msg m;
	uint8_t buf[APPWIRE_MAX_FRAME];
	ssize_t n;
	wait_for(f, readable, fd);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, APPWIRE_MSG_SIZE);
	assert_int_equal(appwire_decode_request(buf, (size_t)n, &m), APPWIRE_OK);
	assert_int_equal(m.opt, opt);
	return m;
}

static void send_reply(int fd, struct appwire_msg m, uint32_t status, const char *detail)
{
	uint8_t buf[APPWIRE_DETAIL_SIZE];
	size_t len = APPWIRE_MSG_SIZE;
	m.status = status;
	if (detail) {
		appwire_encode_reply_detail(buf, &m, detail);
		len = APPWIRE_DETAIL_SIZE;
	} else {
		appwire_encode_msg(buf, &m);
	}
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Nothing sent to the app (it has been asked nothing), and it is still connected. */
static void assert_quiet(int fd)
{
	uint8_t b;
	assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK), -1);
	assert_int_equal(errno, EAGAIN);
}

/* ------------------------------------------------------------ the engine's side */

/* Starts op; STAGE_PENDING expected (apps to ask). */
static void start_pending(struct fixture *f, enum txn_op op)
{
	bool ok = false;
	char msg[512];
	struct txn_request req = { .op = op };
	assert_int_equal(registry_stage_ops.start(f->reg, op, &req, &ok, msg, sizeof(msg)),
			 STAGE_PENDING);
}

/* Two apps registered, a before b, and asked op: their fds and requests. */
struct two {
	int a, b;
	struct appwire_msg ma, mb;
};

static struct two two_asked(struct fixture *f, const char *name_a, uint32_t flags_a,
			    uint32_t timeout_a, const char *name_b, enum txn_op op)
{
	uint32_t opt = op == TXN_CHECK ? APPWIRE_OP_CHECK : APPWIRE_OP_FREEZE;
	struct two t;
	t.a = app_register(f, name_a, flags_a, timeout_a);
	t.b = app_register(f, name_b, 0, 0);
	start_pending(f, op);
	t.ma = read_request(f, t.a, opt);
	t.mb = read_request(f, t.b, opt);
	return t;
}

/* Starts op; done at once expected: its result. */
static bool start_done(struct fixture *f, enum txn_op op, char *msg, size_t len)
{
	bool ok = false;
	struct txn_request req = { .op = op };
	assert_int_equal(registry_stage_ops.start(f->reg, op, &req, &ok, msg, len), STAGE_DONE);
	return ok;
}

/* The result of member i in the stage's report, e.g. "ok", "cancelled". */
static void assert_member(struct fixture *f, size_t i, const char *name, const char *result)
{
	struct json_object *o = json_object_new_object(), *m;
	registry_stage_ops.report(f->reg, o);
	m = json_object_array_get_idx(json_object_object_get(o, "apps"), i);
	assert_non_null(m);
	assert_string_equal(json_object_get_string(json_object_object_get(m, "name")), name);
	assert_string_equal(json_object_get_string(json_object_object_get(m, "result")), result);
	json_object_put(o);
}

/* ------------------------------------------------------------ the cases */

static void test_no_apps(void **state)
{
	struct fixture *f = setup(4, 0);
	char msg[512];
	(void)state;
	/* Nobody registered: every phase is over inside start. */
	assert_true(start_done(f, TXN_FREEZE, msg, sizeof(msg)));
	assert_string_equal(msg, "");
	assert_false(registry_stage_ops.active(f->reg));
	assert_true(start_done(f, TXN_THAW, msg, sizeof(msg)));
	assert_int_equal(f->eng.done, 0);
	teardown(f);
}

static void test_register_and_names(void **state)
{
	struct fixture *f = setup(4, 0);
	int a, c;
	struct appwire_welcome w;
	(void)state;

	a = app_register(f, "db", 0, 0);
	/* The name is taken while its holder is connected... */
	assert_int_equal(hello_result(f, "db"), APPWIRE_REFUSED_NAME_TAKEN);
	/* ...and free again once its holder has hung up. */
	close(a);
	c = app_connect(f);
	send_hello(c, "db", APPWIRE_F_OPTIONAL, 50000);
	w = read_welcome(f, c);
	assert_int_equal(w.result, APPWIRE_ACCEPTED);
	assert_int_equal(w.app_id, 2);
	assert_int_equal(w.flags, APPWIRE_F_OPTIONAL);
	assert_int_equal(w.timeout_ms, 2000);    /* clamped to max_timeout_ms */
	assert_true(registered(f, 1));
	close(c);
	wait_for(f, registered, 0);
	teardown(f);
}

static void test_freeze_all_answer_and_thaw_order(void **state)
{
	struct fixture *f = setup(4, 0);
	struct two t = two_asked(f, "first", 0, 0, "second", TXN_FREEZE);
	int a = t.a, b = t.b;
	struct appwire_msg ma = t.ma, mb = t.mb;
	(void)state;

	send_reply(a, ma, APPWIRE_STATUS_SUCCESS, NULL);
	send_reply(b, mb, APPWIRE_STATUS_SUCCESS, "flushed");
	wait_for(f, stage_done, 1);
	assert_true(f->eng.ok);
	assert_string_equal(f->eng.msg, "");
	assert_int_equal(registry_stage_ops.count(f->reg, TXN_FREEZE), 2);
	assert_true(registry_stage_ops.active(f->reg));

	/* THAW in reverse registration order: the second app is asked first. */
	start_pending(f, TXN_THAW);
	ma = read_request(f, a, APPWIRE_OP_THAW);
	mb = read_request(f, b, APPWIRE_OP_THAW);
	assert_true(mb.msgid < ma.msgid);
	send_reply(a, ma, APPWIRE_STATUS_SUCCESS, NULL);
	/* A THAW failure does not fail the thaw: the app counts as thawed. */
	send_reply(b, mb, APPWIRE_STATUS_FAIL, NULL);
	wait_for(f, stage_done, 2);
	assert_true(f->eng.ok);
	assert_string_equal(f->eng.msg, "1 of 2 apps did not thaw cleanly (they count as thawed)");
	assert_member(f, 0, "second", "failed");
	assert_member(f, 1, "first", "ok");
	assert_false(registry_stage_ops.active(f->reg));
	close(a);
	close(b);
	teardown(f);
}

/* registry_list (quiescectl apps), each allocation failing in turn: -1, or the whole
 * list (as without a failure, the clock's members aside); never an app or a member
 * left out (they were added unchecked). */
static char *list_text(struct json_object *o)
{
	struct json_object *apps;
	char *text;

	if (json_object_object_get_ex(o, "apps", &apps))
		for (size_t i = 0; i < json_object_array_length(apps); i++) {
			json_object_object_del(json_object_array_get_idx(apps, i), "connected_ms");
			json_object_object_del(json_object_array_get_idx(apps, i), "asked_ms");
		}
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	assert_non_null(text);
	return text;
}

/* An app's answer has come (its "detail" is in the list). */
static bool answered(struct fixture *f, int unused)
{
	struct json_object *o = json_object_new_object();
	bool yes;
	(void)unused;
	registry_list(f->reg, o);
	yes = strstr(json_object_to_json_string(o), "\"detail\"") != NULL;
	json_object_put(o);
	return yes;
}

struct list_run {
	struct fixture *f;
	struct json_object *o; /* made before the failures, emptied after each run */
	char *want;
};

static bool run_list(void *arg)
{
	static const char *const keys[] = { "apps", "count", "max", "socket" };
	struct list_run *l = arg;
	bool failed;
	int r;

	r = registry_list(l->f->reg, l->o);
	failed = failalloc_stop();
	if (r == 0) {
		char *text = list_text(l->o);
		assert_string_equal(text, l->want);
		free(text);
	}
	assert_true(r == 0 || failed);
	for (size_t i = 0; i < 4; i++)
		json_object_object_del(l->o, keys[i]);
	return failed;
}

static void test_list_out_of_memory(void **state)
{
	struct fixture *f = setup(4, 0);
	/* "first" with a last answer (and its detail), "second" asked and waiting. */
	struct two t = two_asked(f, "first", 0, 0, "second", TXN_FREEZE);
	struct list_run l = { f, json_object_new_object(), NULL };
	(void)state;

	send_reply(t.a, t.ma, APPWIRE_STATUS_SUCCESS, "flushed");
	wait_for(f, answered, 0);
	assert_int_equal(registry_list(f->reg, l.o), 0);
	l.want = list_text(l.o);
	json_object_put(l.o);
	l.o = json_object_new_object();
	assert_non_null(strstr(l.want, "\"detail\":\"flushed\""));
	assert_non_null(strstr(l.want, "\"asked\":"));
	failalloc_each("registry_list", run_list, &l);
	json_object_put(l.o);
	free(l.want);
	send_reply(t.b, t.mb, APPWIRE_STATUS_SUCCESS, NULL);
	wait_for(f, stage_done, 1);
	close(t.a);
	close(t.b);
	teardown(f);
}

static void test_veto_then_late_success_owed_thaw(void **state)
{
	struct fixture *f = setup(4, 0);
	struct two t = two_asked(f, "vetoer", 0, 0, "slow", TXN_FREEZE);
	int a = t.a, b = t.b;
	struct appwire_msg ma = t.ma, mb = t.mb;
	(void)state;

	send_reply(a, ma, APPWIRE_STATUS_FAIL, "replica behind");
	/* A required app's veto ends the phase at once: the other is not waited for. */
	wait_for(f, stage_done, 1);
	assert_false(f->eng.ok);
	assert_string_equal(f->eng.msg, "app vetoer (id 1) vetoed the freeze: replica behind");
	assert_member(f, 0, "vetoer", "failed");
	assert_member(f, 1, "slow", "cancelled");
	assert_int_equal(registry_stage_ops.count(f->reg, TXN_FREEZE), 0);

	/* Its success after the phase: it holds its writes and is owed the THAW that
	 * comes with the transaction's thaw (the engine unwinds with one). */
	send_reply(b, mb, APPWIRE_STATUS_SUCCESS, NULL);
	wait_for(f, active, 0);
	assert_quiet(b);
	start_pending(f, TXN_THAW);
	mb = read_request(f, b, APPWIRE_OP_THAW);
	assert_quiet(a);    /* the vetoer did not freeze: no THAW */
	send_reply(b, mb, APPWIRE_STATUS_SUCCESS, NULL);
	wait_for(f, stage_done, 2);
	assert_true(f->eng.ok);
	assert_false(registry_stage_ops.active(f->reg));
	close(a);
	close(b);
	teardown(f);
}

static void test_optional_veto(void **state)
{
	struct fixture *f = setup(4, 0);
	struct two t = two_asked(f, "opt", APPWIRE_F_OPTIONAL, 0, "req", TXN_CHECK);
	(void)state;

	send_reply(t.a, t.ma, APPWIRE_STATUS_FAIL, NULL);
	send_reply(t.b, t.mb, APPWIRE_STATUS_SUCCESS, NULL);
	wait_for(f, stage_done, 1);
	assert_true(f->eng.ok);
	assert_string_equal(f->eng.msg, "1 optional app did not take part");
	assert_member(f, 0, "opt", "failed");
	assert_member(f, 1, "req", "ok");
	close(t.a);
	close(t.b);
	teardown(f);
}

static bool hung_up(struct fixture *f, int fd)
{
	uint8_t b;
	(void)f;
	return readable(f, fd) && recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
}

static void test_timeout_busy_and_late_window(void **state)
{
	struct fixture *f = setup(4, 0);
	struct two t = two_asked(f, "sleepy", 0, 100, "prompt", TXN_CHECK);
	int a = t.a, b = t.b;
	char msg[512];
	(void)state;

	send_reply(b, t.mb, APPWIRE_STATUS_SUCCESS, NULL);
	wait_for(f, stage_done, 1);
	assert_false(f->eng.ok);
	assert_string_equal(f->eng.msg, "app sleepy (id 1) did not answer the check within 100 ms");
	assert_member(f, 0, "sleepy", "timeout");
	assert_member(f, 1, "prompt", "ok");

	/* Still in its late window: the next phase counts it busy and asks nobody,
	 * so that nobody holds writes for a freeze that fails anyway. */
	assert_false(start_done(f, TXN_FREEZE, msg, sizeof(msg)));
	assert_string_equal(msg, "app sleepy (id 1) was still busy with msgid 1 of an earlier request");
	assert_member(f, 0, "sleepy", "busy");
	assert_member(f, 1, "prompt", "not asked");
	assert_quiet(a);
	assert_quiet(b);
	assert_false(registry_stage_ops.active(f->reg));

	/* No answer within twice its timeout: dropped. */
	wait_for(f, hung_up, a);
	assert_true(registered(f, 1));
	close(a);
	close(b);
	teardown(f);
}

static void test_disconnect_mid_freeze(void **state)
{
	struct fixture *f = setup(4, 0);
	struct two t = two_asked(f, "frozen", 0, 0, "quitter", TXN_FREEZE);
	(void)state;

	send_reply(t.a, t.ma, APPWIRE_STATUS_SUCCESS, NULL);
	close(t.b);
	wait_for(f, stage_done, 1);
	assert_false(f->eng.ok);
	assert_string_equal(f->eng.msg, "app quitter (id 2) disconnected before answering the freeze");
	assert_member(f, 0, "frozen", "ok");
	assert_member(f, 1, "quitter", "disconnected");
	assert_true(registry_stage_ops.active(f->reg));

	/* A frozen app that goes counts as thawed: nothing of the stage is frozen. */
	close(t.a);
	wait_for(f, registered, 0);
	assert_false(registry_stage_ops.active(f->reg));
	teardown(f);
}

static void test_connect_rate(void **state)
{
	struct fixture *f = setup(2, 1);
	int a, b;
	(void)state;

	/* max_apps 2 and rate 1: a burst of 2 connections, the third within the second
	 * is over the rate (there is room for it). */
	a = app_register(f, "one", 0, 0);
	b = app_register(f, "two", 0, 0);
	close(b);
	wait_for(f, registered, 1);
	assert_int_equal(hello_result(f, "three"), APPWIRE_REFUSED_TOO_MANY);
	close(a);
	wait_for(f, registered, 0);
	teardown(f);
}

static void test_max_apps(void **state)
{
	struct fixture *f = setup(2, 0);
	int a, b, c;
	(void)state;

	a = app_register(f, "one", 0, 0);
	b = app_register(f, "two", 0, 0);
	assert_int_equal(hello_result(f, "three"), APPWIRE_REFUSED_TOO_MANY);
	/* One goes: there is room again. */
	close(a);
	wait_for(f, registered, 1);
	c = app_register(f, "three", 0, 0);
	close(b);
	close(c);
	wait_for(f, registered, 0);
	teardown(f);
}

static void test_per_uid_pending(void **state)
{
	struct fixture *f;
	int fds[ADMIT_PENDING_PER_UID + 1], root;
	struct appwire_welcome w;
	(void)state;

	if (geteuid() != 0)
		skip();
	f = setup(16, 0);
	/* Another user holds its share of connections without a hello: the next one is
	 * refused at once; root still gets in. The credentials are those at connect(). */
	assert_int_equal(seteuid(65534), 0);
	for (int i = 0; i <= ADMIT_PENDING_PER_UID; i++)
		fds[i] = app_connect(f);
	assert_int_equal(seteuid(0), 0);
	w = read_welcome(f, fds[ADMIT_PENDING_PER_UID]);
	assert_int_equal(w.result, APPWIRE_REFUSED_TOO_MANY);
	for (int i = 0; i < ADMIT_PENDING_PER_UID; i++)
		assert_quiet(fds[i]);
	/* Not in the socket's group (none set): its hello is refused. */
	send_hello(fds[0], "other", 0, 0);
	w = read_welcome(f, fds[0]);
	assert_int_equal(w.result, APPWIRE_REFUSED_PERMISSION);
	root = app_register(f, "root", 0, 0);
	for (int i = 0; i <= ADMIT_PENDING_PER_UID; i++)
		close(fds[i]);
	close(root);
	wait_for(f, registered, 0);
	teardown(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_no_apps, cleanup),
		cmocka_unit_test_teardown(test_register_and_names, cleanup),
		cmocka_unit_test_teardown(test_freeze_all_answer_and_thaw_order, cleanup),
		cmocka_unit_test_teardown(test_list_out_of_memory, cleanup),
		cmocka_unit_test_teardown(test_veto_then_late_success_owed_thaw, cleanup),
		cmocka_unit_test_teardown(test_optional_veto, cleanup),
		cmocka_unit_test_teardown(test_timeout_busy_and_late_window, cleanup),
		cmocka_unit_test_teardown(test_disconnect_mid_freeze, cleanup),
		cmocka_unit_test_teardown(test_connect_rate, cleanup),
		cmocka_unit_test_teardown(test_max_apps, cleanup),
		cmocka_unit_test_teardown(test_per_uid_pending, cleanup),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
