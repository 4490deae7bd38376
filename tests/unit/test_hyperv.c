// SPDX-License-Identifier: MIT
/* Unit tests for the Hyper-V transport: src/host/hyperv.c (the requests from the host,
 * what is asked of the engine, the kernel's time budgets, the replies) and
 * src/host/hvchan.c (the channel: registering, reading, failing, reopening with
 * backoff). Covered: a full HOT_BACKUP -> FREEZE -> THAW cycle with the replies echoing
 * the request; FREEZE refused when the freeze is someone else's (and taken as done when
 * it is Hyper-V's own), busy, or failed; THAW with nothing frozen for Hyper-V, of a
 * freeze that ended early, of someone else's; unknown operations, short and long
 * messages, a bad registration answer; the channel closed (when idle and with a freeze
 * held: thawed before reopening), the reopen's backoff and its cap, the handshake's
 * and the reset's deadlines; answers overdue (HV_E_FAIL in time, the freeze undone) and
 * the engine's late answers; allocation failures in hyperv_new and in each request.
 *
 * The channel is the Unix SOCK_SEQPACKET stand-in the module supports (hvsim's): a real
 * listening socket in a temp dir, this test its kernel side. The engine is faked (it
 * keeps each call; the test answers it, late or at once), so nothing is frozen. The
 * kernel's budgets are shortened through QUIESCE_HV_KERNEL_TIMEOUTS to keep the
 * overdue cases short; every wait is bounded (unit_run_until). */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "fakeengine.h"
#include "unitguard.h"

#include "common/log.h"
#include "common/util.h"
#include "common/loop.h"
#include "engine/txn.h"
#include "host/host.h"
#include "host/hvwire.h"
#include "host/hyperv.h"
#include "host/hyperv_int.h"

#define WAIT_MS 3000

/* ------------------------------------------------------------ the fake engine */

/* Answer the i-th pending call (0: the oldest). */
static void engine_answers_report(unsigned i, enum txn_err err, unsigned count,
				  enum txn_whose whose, struct json_object *report)
{
	fake_engine_answer(i, err, err ? "it failed" : "", count, whose, report);
}

static void engine_answers(unsigned i, enum txn_err err, unsigned count, enum txn_whose whose)
{
	engine_answers_report(i, err, count, whose, NULL);
}

/* ------------------------------------------------------------ the kernel side */

static struct {
	struct loop *loop;
	struct loop_timer dummy;
	struct host_ctx ctx;
	struct hyperv *hv;
	char dir[64], path[128];
	int lfd, peer;
} t;

static void listen_on(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	t.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(t.lfd >= 0);
	assert_true(strlen(t.path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, t.path, strlen(t.path) + 1);
	assert_int_equal(bind(t.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(t.lfd, 4), 0);
}

static void unlisten(void)
{
	close(t.lfd);
	t.lfd = -1;
	unlink(t.path);
}

static void close_peer(void)
{
	if (t.peer >= 0)
		close(t.peer);
	t.peer = -1;
}

static bool accepted(void *arg)
{
	(void)arg;
	if (t.peer < 0)
		t.peer = accept4(t.lfd, NULL, NULL, SOCK_CLOEXEC);
	return t.peer >= 0;
}

static struct rx {
	uint8_t buf[64];
	ssize_t n;
	int err;
	bool done;                   /* kept: unit_run_until asks once more at the end */
} rx;

static bool received(void *arg)
{
	(void)arg;
	if (rx.done)
		return true;
	rx.n = recv(t.peer, rx.buf, sizeof(rx.buf), MSG_DONTWAIT);
	rx.err = errno;
	rx.done = rx.n >= 0 || (rx.err != EAGAIN && rx.err != EWOULDBLOCK);
	return rx.done;
}

static void peer_recv(void)
{
	rx.done = false;
	assert_true(unit_run_until(t.loop, received, NULL, WAIT_MS));
}

static bool in_state_ready(void *arg) { (void)arg; return t.hv->state == HV_READY; }

/* Accept quiesced's connection and its REGISTER1; answer with version bytes of len. */
static void accept_register(size_t len)
{
	uint32_t version = HVWIRE_OP_REGISTER1;
	uint8_t msg[8] = { 0 };

	close_peer();
	assert_true(unit_run_until(t.loop, accepted, NULL, WAIT_MS));
	peer_recv();
	assert_int_equal(rx.n, HVWIRE_MSG_SIZE);
	assert_int_equal(rx.buf[0], HVWIRE_OP_REGISTER1);
	for (int i = 1; i < HVWIRE_MSG_SIZE; i++)
		assert_int_equal(rx.buf[i], 0);
	memcpy(msg, &version, sizeof(version));
	if (len)                            /* 0: no answer at all */
		assert_int_equal(send(t.peer, msg, len, 0), (ssize_t)len);
}

static void connect_ready(void)
{
	accept_register(HVWIRE_VERSION_SIZE);
	assert_true(unit_run_until(t.loop, in_state_ready, NULL, WAIT_MS));
	assert_int_equal(t.hv->kernel_version, HVWIRE_OP_REGISTER1);
	assert_int_equal(t.hv->backoff_ms, 0);
}

static unsigned long seen_requests;
static bool request_taken(void *arg) { (void)arg; return t.hv->n_requests > seen_requests; }

/* The host sends op; tag fills bytes 8-11 (echoed in the reply). */
static void request(uint8_t op, uint8_t tag)
{
	uint8_t msg[HVWIRE_MSG_SIZE] = { op };
	memset(msg + 8, tag, 4);
	seen_requests = t.hv->n_requests;
	assert_int_equal(send(t.peer, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	assert_true(unit_run_until(t.loop, request_taken, NULL, WAIT_MS));
}

static void expect_reply(uint32_t error, uint8_t tag)
{
	uint32_t got;
	peer_recv();
	assert_int_equal(rx.n, HVWIRE_MSG_SIZE);
	memcpy(&got, rx.buf, sizeof(got));
	assert_int_equal(got, error);
	for (int i = 4; i < 8; i++)
		assert_int_equal(rx.buf[i], 0);
	for (int i = 8; i < 12; i++)
		assert_int_equal(rx.buf[i], tag);
	assert_int_equal(t.hv->state, HV_READY);
}

static void expect_no_reply(void)
{
	rx.done = false;
	assert_false(received(NULL));
}

/* The channel was closed by quiesced: the peer sees the end. */
static void expect_closed(void)
{
	peer_recv();
	assert_int_equal(rx.n, 0);
}

static void start_hv(const char *timeouts)
{
	struct hyperv_config cfg = { .path = t.path, .timeout_ms = 1000, .fs_timeout_ms = 1000,
				     .lease_ms = 60000 };
	if (timeouts)
		setenv("QUIESCE_HV_KERNEL_TIMEOUTS", timeouts, 1);
	assert_int_equal(hyperv_new(&t.ctx, &cfg, &t.hv), 0);
	assert_non_null(t.hv);
	t.ctx.hyperv = t.hv;
}

static int setup(void **state)
{
	memset(&t, 0, sizeof(t));
	fake_engine_reset();
	fake_eng.whose_caller = "hyperv";
	t.peer = -1;
	t.loop = loop_new();
	assert_non_null(t.loop);
	/* The timer heap allocated before any allocation is failed on purpose. */
	loop_timer_arm(t.loop, &t.dummy, 0, NULL, NULL);
	loop_timer_disarm(t.loop, &t.dummy);
	t.ctx = (struct host_ctx){ .loop = t.loop, .engine = (struct engine *)&fake_eng };
	snprintf(t.dir, sizeof(t.dir), "/tmp/test_hyperv.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.path, sizeof(t.path), "%s/hv_vss", t.dir);
	listen_on();
	unsetenv("QUIESCE_HV_KERNEL_TIMEOUTS");
	return unit_guard_on(state);
}

static int teardown(void **state)
{
	hyperv_free(t.hv);
	/* Calls the engine still owed are answered to nobody. */
	while (fake_eng.n)
		engine_answers(0, TXN_E_ABORTED, 0, TXN_WHOSE_NONE);
	close_peer();
	if (t.lfd >= 0)
		unlisten();
	rmdir(t.dir);
	loop_free(t.loop);
	unsetenv("QUIESCE_HV_KERNEL_TIMEOUTS");
	return unit_guard_off(state);
}

static struct json_object *status(void)
{
	struct json_object *out = json_object_new_object(), *o;
	assert_int_equal(hyperv_status(t.hv, out), 0);
	assert_true(json_object_object_get_ex(out, "hyperv", &o));
	json_object_get(o);
	json_object_put(out);
	return o;
}

static const char *status_str(struct json_object *o, const char *k1, const char *k2)
{
	struct json_object *v;
	assert_true(json_object_object_get_ex(o, k1, &v));
	if (k2)
		assert_true(json_object_object_get_ex(v, k2, &v));
	return json_object_get_string(v);
}

/* ------------------------------------------------------------ the tests */

static void test_cycle(void **state)
{
	const struct txn_caller *caller;
	struct json_object *st;
	(void)state;

	start_hv(NULL);
	assert_int_equal(t.hv->freeze_budget_ms, KERNEL_FREEZE_TIMEOUT_MS);
	connect_ready();
	assert_int_equal(t.hv->n_registrations, 1);

	request(HVWIRE_OP_HOT_BACKUP, 1);
	assert_int_equal(fake_eng.n, 1);
	assert_int_equal(fake_eng.q[0].req.op, TXN_CHECK);
	caller = fake_eng.q[0].req.caller;
	assert_int_equal(t.hv->state, HV_BUSY);
	expect_no_reply();                  /* held until the engine answers */
	st = status();
	assert_string_equal(status_str(st, "request", NULL), "HOT_BACKUP");
	json_object_put(st);
	engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_S_OK, 1);

	request(HVWIRE_OP_FREEZE, 2);
	assert_int_equal(fake_eng.n, 1);
	assert_int_equal(fake_eng.q[0].req.op, TXN_FREEZE);
	assert_ptr_equal(fake_eng.q[0].req.caller, caller);
	assert_null(fake_eng.q[0].req.owner);    /* held by the lease, not a session */
	fake_eng.state = TXN_FROZEN;
	fake_eng.whose = TXN_WHOSE_YOURS;
	engine_answers(0, TXN_OK, 2, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_S_OK, 2);
	assert_true(t.hv->frozen_by_us);

	request(HVWIRE_OP_THAW, 3);
	assert_int_equal(fake_eng.n, 1);
	assert_int_equal(fake_eng.q[0].req.op, TXN_THAW);
	assert_true(fake_eng.q[0].req.early_reply);
	assert_ptr_equal(fake_eng.q[0].req.caller, caller);
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	engine_answers(0, TXN_OK, 2, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_S_OK, 3);
	assert_false(t.hv->frozen_by_us);

	st = status();
	assert_string_equal(status_str(st, "channel", NULL), "socket");
	assert_string_equal(status_str(st, "state", NULL), "ready");
	assert_string_equal(status_str(st, "requests", NULL), "3");
	assert_string_equal(status_str(st, "last", "op"), "THAW");
	assert_string_equal(status_str(st, "last", "answer"), "HV_S_OK");
	json_object_put(st);
	assert_int_equal(fake_eng.submitted, 3);
}

/* The engine's report of a filesystem that failed (log_failed_fs). */
static struct json_object *fs_report(void)
{
	struct json_object *r = json_object_new_object(), *ph = json_object_new_array();
	struct json_object *p = json_object_new_object(), *fss = json_object_new_array();
	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "mountpoint", json_object_new_string("/m"));
	json_object_object_add(f, "errno", json_object_new_int(EIO));
	json_object_array_add(fss, json_object_new_object());
	json_object_array_add(fss, f);
	json_object_object_add(p, "filesystems", fss);
	json_object_array_add(ph, json_object_new_object());
	json_object_array_add(ph, p);
	json_object_object_add(r, "phases", ph);
	return r;
}

static void test_freeze_refused(void **state)
{
	struct json_object *r;
	(void)state;
	start_hv(NULL);
	connect_ready();

	/* Someone else's freeze: refused, not taken as Hyper-V's. */
	fake_eng.state = TXN_FROZEN;
	fake_eng.whose = TXN_WHOSE_OTHER;
	fake_eng.origin = "control";
	request(HVWIRE_OP_FREEZE, 1);
	engine_answers(0, TXN_E_FROZEN, 0, TXN_WHOSE_OTHER);
	expect_reply(HVWIRE_E_FAIL, 1);
	assert_false(t.hv->frozen_by_us);

	/* Hyper-V's own held freeze: a second FREEZE is done. */
	fake_eng.whose = TXN_WHOSE_YOURS;
	request(HVWIRE_OP_FREEZE, 2);
	engine_answers(0, TXN_E_FROZEN, 0, TXN_WHOSE_YOURS);
	expect_reply(HVWIRE_S_OK, 2);

	/* Busy, answered inside engine_submit. */
	fake_eng.state = TXN_CHECKING;
	fake_eng.whose = TXN_WHOSE_OTHER;
	fake_eng.answer_now = true;
	fake_eng.now_err = TXN_E_BUSY;
	request(HVWIRE_OP_FREEZE, 3);
	expect_reply(HVWIRE_E_FAIL, 3);
	fake_eng.answer_now = false;

	/* A filesystem failed; a CHECK vetoed. */
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	request(HVWIRE_OP_FREEZE, 4);
	r = fs_report();
	engine_answers_report(0, TXN_E_FS, 0, TXN_WHOSE_NONE, r);
	json_object_put(r);
	expect_reply(HVWIRE_E_FAIL, 4);
	assert_false(t.hv->frozen_by_us);
	request(HVWIRE_OP_HOT_BACKUP, 5);
	engine_answers(0, TXN_E_VETO, 0, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_E_FAIL, 5);
	/* A FREEZE with nothing to freeze is still a freeze. */
	request(HVWIRE_OP_FREEZE, 6);
	engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_S_OK, 6);
	assert_true(t.hv->frozen_by_us);
	assert_int_equal(fake_eng.n, 0);
}

static void freeze_ok(uint8_t tag)
{
	request(HVWIRE_OP_FREEZE, tag);
	fake_eng.state = TXN_FROZEN;
	fake_eng.whose = TXN_WHOSE_YOURS;
	engine_answers(0, TXN_OK, 1, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_S_OK, tag);
	assert_true(t.hv->frozen_by_us);
}

static void test_thaw(void **state)
{
	(void)state;
	start_hv(NULL);
	connect_ready();

	/* Nothing frozen (the hibernation fake THAW, a THAW after a restart): done. */
	request(HVWIRE_OP_THAW, 1);
	expect_reply(HVWIRE_S_OK, 1);
	/* Someone else's freeze: left alone, answered done. */
	fake_eng.state = TXN_FROZEN;
	fake_eng.whose = TXN_WHOSE_OTHER;
	fake_eng.origin = "control";
	request(HVWIRE_OP_THAW, 2);
	expect_reply(HVWIRE_S_OK, 2);
	assert_int_equal(fake_eng.submitted, 0);

	/* Hyper-V's freeze ended early (the lease): the engine is asked, HV_E_FAIL. */
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	freeze_ok(3);
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	request(HVWIRE_OP_THAW, 4);
	assert_int_equal(fake_eng.n, 1);
	assert_int_equal(fake_eng.q[0].req.op, TXN_THAW);
	engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_E_FAIL, 4);
	assert_false(t.hv->frozen_by_us);

	/* Hyper-V's freeze ended and another caller froze since: not thawed, HV_E_FAIL. */
	fake_eng.state = TXN_IDLE;
	freeze_ok(5);
	fake_eng.state = TXN_FROZEN;
	fake_eng.whose = TXN_WHOSE_OTHER;
	request(HVWIRE_OP_THAW, 6);
	expect_reply(HVWIRE_E_FAIL, 6);
	assert_int_equal(fake_eng.n, 0);
	assert_false(t.hv->frozen_by_us);

	/* The engine's THAW fails. */
	fake_eng.state = TXN_IDLE;
	freeze_ok(7);
	request(HVWIRE_OP_THAW, 8);
	engine_answers(0, TXN_E_FS, 0, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_E_FAIL, 8);
	assert_false(t.hv->frozen_by_us);
}

static void test_bad_messages(void **state)
{
	uint8_t msg[20] = { HVWIRE_OP_FREEZE };
	(void)state;
	start_hv(NULL);
	connect_ready();

	/* Operations the kernel answers itself: logged, answered 0, the engine not asked. */
	request(HVWIRE_OP_CREATE, 1);
	expect_reply(HVWIRE_S_OK, 1);
	request(HVWIRE_OP_AUTO_RECOVER, 2);
	expect_reply(HVWIRE_S_OK, 2);
	request(200, 3);
	expect_reply(HVWIRE_S_OK, 3);
	assert_int_equal(fake_eng.submitted, 0);

	/* Short: the channel is given up and opened again at once. */
	assert_int_equal(send(t.peer, msg, 5, 0), 5);
	expect_closed();
	connect_ready();
	assert_int_equal(t.hv->n_resets, 1);
	/* Long (not cut to 12 bytes). */
	assert_int_equal(send(t.peer, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	expect_closed();
	connect_ready();
	assert_int_equal(t.hv->n_resets, 2);
	assert_int_equal(fake_eng.submitted, 0);

	/* A bad answer to the registration: retried after the first backoff. */
	close_peer();
	accept_register(3);
	expect_closed();
	assert_int_equal(t.hv->backoff_ms, BACKOFF_FIRST_MS);
	assert_true(loop_timer_armed(&t.hv->retry));
	connect_ready();
	assert_int_equal(t.hv->n_registrations, 4);
	request(HVWIRE_OP_HOT_BACKUP, 4);
	engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_S_OK, 4);
}

static bool backed_off(void *arg)
{
	return t.hv->backoff_ms >= *(uint64_t *)arg;
}

static void test_reopen_backoff(void **state)
{
	uint64_t want = 4 * BACKOFF_FIRST_MS;
	(void)state;
	start_hv(NULL);
	connect_ready();

	/* Closed while idle: reopened at once. */
	close_peer();
	connect_ready();
	assert_int_equal(t.hv->n_resets, 1);
	assert_int_equal(t.hv->n_registrations, 2);

	/* Nothing to connect to: 100, 200, 400 ms ... */
	unlisten();
	close_peer();
	assert_true(unit_run_until(t.loop, backed_off, &want, WAIT_MS));
	assert_int_equal(t.hv->backoff_ms, want);
	assert_int_equal(t.hv->state, HV_CLOSED);
	assert_true(loop_timer_armed(&t.hv->retry));
	assert_true(loop_timer_remaining(&t.hv->retry) <= want);
	assert_int_equal(t.hv->last_open_err, ENOENT);
	/* ... up to the maximum. */
	t.hv->backoff_ms = BACKOFF_MAX_MS / 2 + 1000;
	hvchan_failed(t.hv);
	assert_int_equal(t.hv->backoff_ms, BACKOFF_MAX_MS);
	assert_true(loop_timer_remaining(&t.hv->retry) <= BACKOFF_MAX_MS);
	assert_true(loop_timer_remaining(&t.hv->retry) > BACKOFF_MAX_MS - 5000);

	/* Back: the next open works, the backoff starts again. */
	listen_on();
	hvchan_schedule_open(t.hv, 0);
	connect_ready();
	assert_int_equal(t.hv->last_open_err, 0);

	/* The handshake unanswered past its deadline: retried. */
	close_peer();
	accept_register(0);
	assert_int_equal(t.hv->state, HV_HANDSHAKE);
	assert_true(loop_timer_armed(&t.hv->deadline));
	hvchan_on_deadline(t.loop, t.hv);
	assert_int_equal(t.hv->backoff_ms, BACKOFF_FIRST_MS);
	expect_closed();
	connect_ready();
}

static bool resetting(void *arg) { (void)arg; return t.hv->state == HV_RESETTING; }

static void test_reset_while_frozen(void **state)
{
	(void)state;
	start_hv(NULL);
	connect_ready();

	/* The channel closes with a FREEZE under way: thawed before reopening. */
	request(HVWIRE_OP_FREEZE, 1);
	fake_eng.state = TXN_FREEZING;
	fake_eng.whose = TXN_WHOSE_YOURS;
	close_peer();
	assert_true(unit_run_until(t.loop, resetting, NULL, WAIT_MS));
	assert_int_equal(t.hv->state, HV_RESETTING);
	assert_false(loop_timer_armed(&t.hv->retry));
	assert_true(loop_timer_armed(&t.hv->deadline));
	assert_int_equal(fake_eng.n, 2);
	assert_int_equal(fake_eng.q[1].req.op, TXN_THAW);
	assert_int_equal(t.hv->undo_pending, 1);
	/* The FREEZE ends after the host had its answer: the thaw under way undoes it. */
	fake_eng.state = TXN_FROZEN;
	engine_answers(0, TXN_OK, 1, TXN_WHOSE_NONE);
	assert_int_equal(fake_eng.n, 1);
	assert_false(t.hv->frozen_by_us);
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	engine_answers(0, TXN_OK, 1, TXN_WHOSE_NONE);
	assert_int_equal(t.hv->undo_pending, 0);
	connect_ready();

	/* Frozen for Hyper-V, the channel closes, the thaw hangs: reopened at the
	 * deadline anyway; its late end changes nothing. */
	freeze_ok(2);
	close_peer();
	assert_true(unit_run_until(t.loop, resetting, NULL, WAIT_MS));
	assert_int_equal(fake_eng.n, 1);
	hvchan_on_deadline(t.loop, t.hv);
	connect_ready();
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	engine_answers(0, TXN_E_FS, 0, TXN_WHOSE_NONE);
	assert_int_equal(t.hv->state, HV_READY);
	assert_false(loop_timer_armed(&t.hv->retry));
	assert_false(t.hv->frozen_by_us);
	assert_int_equal(t.hv->n_resets, 2);
}

static void test_late_answers(void **state)
{
	struct json_object *st;
	(void)state;
	start_hv("300,200");
	assert_int_equal(t.hv->freeze_budget_ms, 300);
	assert_int_equal(t.hv->budget_ms, 200);
	connect_ready();

	/* A CHECK with no answer in time: HV_E_FAIL; its late answer is not sent. */
	request(HVWIRE_OP_HOT_BACKUP, 1);
	expect_reply(HVWIRE_E_FAIL, 1);
	assert_int_equal(t.hv->n_deadlines, 1);
	engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
	expect_no_reply();
	assert_int_equal(t.hv->state, HV_READY);

	/* A FREEZE overdue: HV_E_FAIL, and the freeze under way undone. */
	request(HVWIRE_OP_FREEZE, 2);
	fake_eng.state = TXN_FREEZING;
	fake_eng.whose = TXN_WHOSE_YOURS;
	expect_reply(HVWIRE_E_FAIL, 2);
	assert_int_equal(fake_eng.n, 2);
	assert_int_equal(fake_eng.q[1].req.op, TXN_THAW);
	engine_answers(0, TXN_E_ABORTED, 0, TXN_WHOSE_NONE);
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
	expect_no_reply();
	assert_false(t.hv->frozen_by_us);
	assert_int_equal(t.hv->undo_pending, 0);

	/* A THAW overdue: HV_E_FAIL; its late end clears Hyper-V's freeze. */
	freeze_ok(3);
	request(HVWIRE_OP_THAW, 4);
	expect_reply(HVWIRE_E_FAIL, 4);
	assert_true(t.hv->frozen_by_us);
	fake_eng.state = TXN_IDLE;
	fake_eng.whose = TXN_WHOSE_NONE;
	engine_answers(0, TXN_OK, 1, TXN_WHOSE_NONE);
	assert_false(t.hv->frozen_by_us);
	expect_no_reply();
	assert_int_equal(t.hv->n_deadlines, 3);
	st = status();
	assert_string_equal(status_str(st, "overdue", NULL), "3");
	json_object_put(st);

	/* A late answer that comes in time is sent. */
	request(HVWIRE_OP_HOT_BACKUP, 5);
	assert_int_equal(t.hv->state, HV_BUSY);
	expect_no_reply();
	engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
	expect_reply(HVWIRE_S_OK, 5);
}

static bool run_new(void *arg)
{
	struct hyperv_config cfg = { .path = t.path, .lease_ms = 60000 };
	struct hyperv *hv = (struct hyperv *)1;
	int rc = hyperv_new(&t.ctx, &cfg, &hv);
	bool injected = failalloc_stop();
	(void)arg;
	if (injected) {
		assert_int_equal(rc, -1);
		assert_null(hv);
	} else {
		assert_int_equal(rc, 0);
		assert_non_null(hv);
		assert_string_equal(hv->path, t.path);
	}
	hyperv_free(hv);
	return injected;
}

static bool run_request(void *arg)
{
	struct hvwire_request req;
	uint8_t msg[HVWIRE_MSG_SIZE] = { *(uint8_t *)arg, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9 };
	bool injected;

	assert_int_equal(hvwire_decode_request(msg, sizeof(msg), &req), HVWIRE_OK);
	hyperv_handle_request(t.hv, &req);
	injected = failalloc_stop();
	if (injected) {
		/* Never left waiting: HV_E_FAIL, the engine not asked. */
		assert_int_equal(fake_eng.n, 0);
		expect_reply(HVWIRE_E_FAIL, 9);
	} else {
		assert_int_equal(fake_eng.n, 1);
		engine_answers(0, TXN_OK, 0, TXN_WHOSE_NONE);
		expect_reply(HVWIRE_S_OK, 9);
	}
	return injected;
}

/* quiesce-status: out of memory is an error (the status is not sent), never a crash
 * in json-c or a "hyperv" object with parts missing. */
static bool run_status(void *arg)
{
	struct json_object *out = arg, *o;  /* made before the failures are armed */
	int rc = hyperv_status(t.hv, out);
	bool injected;

	injected = failalloc_stop();
	if (injected) {
		assert_int_equal(rc, -1);
		assert_false(json_object_object_get_ex(out, "hyperv", &o));
	} else {
		assert_int_equal(rc, 0);
		assert_true(json_object_object_get_ex(out, "hyperv", &o));
		assert_string_equal(status_str(o, "last", "answer"), "HV_S_OK");
		json_object_object_del(out, "hyperv");
	}
	return injected;
}

static void test_out_of_memory(void **state)
{
	uint8_t ops[] = { HVWIRE_OP_HOT_BACKUP, HVWIRE_OP_FREEZE };
	struct json_object *out;
	(void)state;
	assert_int_equal(failalloc_each("hyperv_new", run_new, NULL), 2);
	start_hv(NULL);
	connect_ready();
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		assert_int_equal(failalloc_each("request", run_request, &ops[i]), 1);
	out = json_object_new_object();
	assert_true(failalloc_each("status", run_status, out) > 10);
	json_object_put(out);
	/* The undo of a freeze given up, out of memory: nothing is left pending. */
	fake_eng.state = TXN_FROZEN;
	fake_eng.whose = TXN_WHOSE_YOURS;
	failalloc_start(1, false);
	assert_false(hyperv_undo_ours(t.hv, "test"));
	assert_true(failalloc_stop());
	assert_int_equal(t.hv->undo_pending, 0);
	assert_int_equal(fake_eng.n, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_cycle),
		T(test_freeze_refused),
		T(test_thaw),
		T(test_bad_messages),
		T(test_reopen_backoff),
		T(test_reset_while_frozen),
		T(test_late_answers),
		T(test_out_of_memory),
	};
	unit_guard("test_hyperv", 30);
	log_hold(getenv("TEST_LOG") == NULL);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
