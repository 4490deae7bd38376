// SPDX-License-Identifier: MIT
/* Unit tests for the JSON command layer (src/host/cmd.c, cmd_control.c, cmd_guest.c):
 * the request checks and their error answers, the id echoed, the transports and root
 * as each command's table says, the gate, and each verb's arguments, what it asks of
 * the engine and how the engine's answer is worded.
 *
 * The session's connection is a real jsonconn on one end of a socketpair; the test
 * reads the answers from the other end. The engine is faked here (engine_submit keeps
 * the request and the callback; the test answers it), so every error class can be
 * had without freezing anything. */
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
#include <unistd.h>

#include <cmocka.h>

#include "fakeengine.h"
#include "unitguard.h"

#include "common/jsonput.h"
#include "common/log.h"
#include "common/loop.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/control.h"
#include "host/host.h"
#include "host/jsonconn.h"
#include "host/qga.h"

/* ------------------------------------------------------------ the fake engine */

static const struct txn_caller test_control_caller = { "control" };
static const struct txn_caller test_qga_caller = { "qga" };

/* Answer the pending engine call. */
static void engine_answers(enum txn_err err, const char *msg, unsigned count, bool report)
{
	struct json_object *r = NULL;

	if (report) {
		r = json_object_new_object();
		json_object_object_add(r, "fake", json_object_new_int(1));
	}
	fake_engine_answer(0, err, msg, count, TXN_WHOSE_NONE, r);
	json_object_put(r);
}

/* ------------------------------------------------------------ the session */

static struct {
	struct loop *loop;
	int peer;
	struct cmd_session s;
	struct host_ctx ctx;
	bool released;
	const char *refuse;          /* the gate refuses this command */
	unsigned status_calls, apps_calls;
} t;

static void on_value(struct jsonconn *c, struct json_object *v, void *arg)
{
	(void)c;
	(void)arg;
	json_object_put(v);
}

static void on_close(struct jsonconn *c, void *arg)
{
	(void)c;
	(void)arg;
	t.s.conn = NULL;
}

static const struct jsonconn_ops conn_ops = { on_value, NULL, on_close };
static const struct jsonconn_limits conn_limits = {
	.max_value = 4096, .max_depth = 8, .max_output = 1 << 20,
};

static void release(struct cmd_session *s)
{
	(void)s;
	t.released = true;
}

static bool gate(struct cmd_session *s, const char *name, unsigned flags, const char **klass,
		 char *desc, size_t desclen)
{
	(void)s;
	(void)flags;
	if (!t.refuse || strcmp(name, t.refuse) != 0)
		return true;
	*klass = "CommandDisabled";
	snprintf(desc, desclen, "The command %s has been disabled", name);
	return false;
}

static int status_cb(void *arg, struct json_object *ret)
{
	(void)arg;
	t.status_calls++;
	return jput(ret, "daemon", json_object_new_boolean(1)) ? 0 : -1;
}

static int apps_cb(void *arg, struct json_object *ret)
{
	(void)arg;
	t.apps_calls++;
	return jput(ret, "apps", json_object_new_array()) ? 0 : -1;
}

static int setup(void **state)
{
	int sv[2];
	(void)state;
	memset(&t, 0, sizeof(t));
	fake_engine_reset();
	t.loop = loop_new();
	assert_non_null(t.loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	t.peer = sv[1];
	t.ctx = (struct host_ctx){ .loop = t.loop, .engine = (struct engine *)&fake_eng,
				   .status = status_cb, .apps = apps_cb };
	t.s.conn = jsonconn_new(t.loop, sv[0], &conn_limits, &conn_ops, NULL);
	assert_non_null(t.s.conn);
	t.s.ctx = &t.ctx;
	t.s.transport = CMD_CONTROL;
	t.s.caller = &test_control_caller;
	t.s.uid = 1000;
	t.s.root = false;
	t.s.release = release;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (t.s.conn)
		jsonconn_free(t.s.conn);
	cmd_session_closed(&t.s);
	assert_true(t.released);
	assert_int_equal(fake_eng.n, 0);   /* no call left unanswered */
	close(t.peer);
	loop_free(t.loop);
	return 0;
}

static void as_root(void)
{
	t.s.uid = 0;
	t.s.root = true;
}

static void as_qga(void)
{
	t.s.transport = CMD_QGA;
	t.s.caller = &test_qga_caller;
	t.s.root = true;
	t.s.uid = 0;
	t.s.gate = gate;
}

/* Dispatch one request (JSON text). */
static void request(const char *text)
{
	struct json_object *req = json_tokener_parse(text);
	assert_non_null(req);
	cmd_dispatch(&t.s, req);
	json_object_put(req);
}

/* The next answer line the peer got, parsed (the caller puts it). ff: it began with 0xFF. */
static struct json_object *answer_ff(bool *ff)
{
	char buf[8192];
	size_t n = 0;

	while (n < sizeof(buf) - 1) {
		ssize_t r = recv(t.peer, buf + n, 1, MSG_DONTWAIT);
		assert_int_equal(r, 1);   /* the answer is written at once, whole */
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	*ff = buf[0] == '\xff';
	{
		struct json_object *v = json_tokener_parse(buf + (*ff ? 1 : 0));
		assert_non_null(v);
		return v;
	}
}

static struct json_object *answer(void)
{
	bool ff;
	struct json_object *v = answer_ff(&ff);
	assert_false(ff);
	return v;
}

static void no_answer(void)
{
	char c;
	assert_int_equal(recv(t.peer, &c, 1, MSG_DONTWAIT), -1);
}

/* The next answer is an error of klass with desc. */
static void expect_error(const char *klass, const char *desc)
{
	struct json_object *a = answer(), *err, *v;
	if (!json_object_object_get_ex(a, "error", &err))
		fail_msg("not an error: %s", json_object_to_json_string(a));
	assert_true(json_object_object_get_ex(err, "class", &v));
	assert_string_equal(json_object_get_string(v), klass);
	assert_true(json_object_object_get_ex(err, "desc", &v));
	assert_string_equal(json_object_get_string(v), desc);
	json_object_put(a);
}

/* The next answer's "return", as JSON text. */
static void expect_return(const char *ret)
{
	struct json_object *a = answer(), *v;
	if (!json_object_object_get_ex(a, "return", &v))
		fail_msg("not a return: %s", json_object_to_json_string(a));
	assert_string_equal(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), ret);
	json_object_put(a);
}

/* ------------------------------------------------------------ dispatch */

static void test_request_checks(void **state)
{
	(void)state;
	request("[1]");
	expect_error("GenericError", "QMP input must be a JSON object");
	request("{\"arguments\":{}}");
	expect_error("GenericError", "QMP input lacks member 'execute'");
	request("{\"execute\":1}");
	expect_error("GenericError", "QMP input member 'execute' must be a string");
	request("{\"execute\":\"quiesce-status\",\"arguments\":[]}");
	expect_error("GenericError", "QMP input member 'arguments' must be an object");
	request("{\"execute\":\"quiesce-status\",\"extra\":1}");
	expect_error("GenericError", "QMP input member 'extra' is unexpected");
	request("{\"execute\":\"no-such\"}");
	expect_error("CommandNotFound", "The command no-such has not been found");
	request("{\"execute\":\"0123456789012345678901234567890123456789012345678901234567890123\"}");
	expect_error("CommandNotFound", "The command 0123456789012345678901234567890123456789012345678901234567890123 has not been found");
	assert_int_equal(fake_eng.submitted, 0);
}

static void test_id_echoed(void **state)
{
	struct json_object *a, *id;
	(void)state;
	request("{\"execute\":\"guest-ping\",\"id\":{\"x\":[1]}}");
	a = answer();
	assert_true(json_object_object_get_ex(a, "id", &id));
	assert_string_equal(json_object_to_json_string_ext(id, JSON_C_TO_STRING_PLAIN), "{\"x\":[1]}");
	json_object_put(a);
	/* An error echoes it too, "id": null included. */
	request("{\"execute\":\"no-such\",\"id\":null}");
	a = answer();
	assert_true(json_object_object_get_ex(a, "id", &id));
	assert_null(id);
	assert_true(json_object_object_get_ex(a, "error", &id));
	json_object_put(a);
	request("{\"execute\":\"guest-ping\"}");
	a = answer();
	assert_false(json_object_object_get_ex(a, "id", &id));
	json_object_put(a);
}

static void test_nul_in_name(void **state)
{
	(void)state;
	as_qga();
	request("{\"execute\":\"guest-ping\\u0000junk\"}");
	{
		struct json_object *a = answer(), *err, *v;
		assert_true(json_object_object_get_ex(a, "error", &err));
		assert_true(json_object_object_get_ex(err, "class", &v));
		assert_string_equal(json_object_get_string(v), "CommandNotFound");
		assert_true(json_object_object_get_ex(err, "desc", &v));
		assert_int_equal(json_object_get_string_len(v),
				 (int)strlen("The command guest-ping") + 5 + (int)strlen(" has not been found"));
		assert_memory_equal(json_object_get_string(v), "The command guest-ping\0junk has", 31);
		json_object_put(a);
	}
}

static void test_root_and_transport(void **state)
{
	(void)state;
	request("{\"execute\":\"quiesce-freeze\"}");
	expect_error("PermissionDenied", "permission denied: quiesce-freeze needs root (you are uid 1000)");
	request("{\"execute\":\"guest-fsfreeze-thaw\"}");
	expect_error("PermissionDenied", "permission denied: guest-fsfreeze-thaw needs root (you are uid 1000)");
	/* quiesce-* are not served on the QGA channel. */
	as_qga();
	request("{\"execute\":\"quiesce-status\"}");
	expect_error("CommandNotFound", "The command quiesce-status has not been found");
	assert_int_equal(fake_eng.submitted, 0);
}

static void test_gate(void **state)
{
	(void)state;
	as_qga();
	t.refuse = "guest-fsfreeze-freeze";
	request("{\"execute\":\"guest-fsfreeze-freeze\"}");
	expect_error("CommandDisabled", "The command guest-fsfreeze-freeze has been disabled");
	assert_int_equal(fake_eng.submitted, 0);
}

/* ------------------------------------------------------------ quiesce-* */

static void test_control_freeze_args(void **state)
{
	(void)state;
	as_root();
	request("{\"execute\":\"quiesce-freeze\",\"arguments\":{\"mountpoints\":\"/x\"}}");
	expect_error("GenericError", "Invalid parameter type for 'mountpoints', expected: array");
	request("{\"execute\":\"quiesce-freeze\",\"arguments\":{\"mountpoints\":[1]}}");
	expect_error("GenericError", "Invalid parameter type for 'mountpoints[0]', expected: string");
	request("{\"execute\":\"quiesce-freeze\",\"arguments\":{\"lease\":\"5\"}}");
	expect_error("GenericError", "Invalid parameter type for 'lease', expected: number");
	request("{\"execute\":\"quiesce-freeze\",\"arguments\":{\"lease\":0}}");
	expect_error("GenericError", "Parameter 'lease' must be between 0 and 86400 seconds");
	request("{\"execute\":\"quiesce-freeze\",\"arguments\":{\"lease\":86401}}");
	expect_error("GenericError", "Parameter 'lease' must be between 0 and 86400 seconds");
	request("{\"execute\":\"quiesce-snapshot\",\"arguments\":{\"apps-only\":1}}");
	expect_error("GenericError", "Invalid parameter type for 'apps-only', expected: boolean");
	assert_int_equal(fake_eng.submitted, 0);
}

static void test_control_freeze(void **state)
{
	struct json_object *a, *ret, *v;
	(void)state;
	as_root();
	request("{\"execute\":\"quiesce-freeze\",\"arguments\":{\"mountpoints\":[\"/a\",\"/b\"],"
		"\"lease\":1.5,\"apps-only\":true},\"id\":7}");
	assert_int_equal(fake_eng.submitted, 1);
	no_answer();   /* until the engine is done */
	assert_int_equal(fake_eng.last.req.op, TXN_FREEZE);
	assert_int_equal(fake_eng.last.req.lease_ms, 1500);
	assert_true(fake_eng.last.req.skip_fs);
	assert_true(fake_eng.last.req.mountpoints_set);
	assert_true(fake_eng.last.req.strict_mountpoints);
	assert_null(fake_eng.last.req.owner);
	assert_int_equal(fake_eng.last.req.n_mountpoints, 2);
	assert_string_equal(fake_eng.last.mounts[0], "/a");
	assert_string_equal(fake_eng.last.mounts[1], "/b");
	engine_answers(TXN_OK, "", 2, true);
	a = answer();
	assert_true(json_object_object_get_ex(a, "return", &ret));
	assert_true(json_object_object_get_ex(ret, "count", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(ret, "report", &v));
	assert_true(json_object_object_get_ex(a, "id", &v));
	assert_int_equal(json_object_get_int(v), 7);
	json_object_put(a);

	/* quiesce-snapshot: the session owns the freeze. */
	request("{\"execute\":\"quiesce-snapshot\"}");
	assert_ptr_equal(fake_eng.last.req.owner, &t.s);
	assert_false(fake_eng.last.req.mountpoints_set);
	assert_int_equal(fake_eng.last.req.lease_ms, 0);
	engine_answers(TXN_OK, "", 0, false);
	expect_return("{\"count\":0}");
}

/* Each engine error has its class (quiescectl's exit codes); the report goes along. */
static void test_control_errors(void **state)
{
	static const struct { enum txn_err err; const char *klass; } map[] = {
		{ TXN_E_BUSY, "Busy" }, { TXN_E_FROZEN, "AlreadyFrozen" },
		{ TXN_E_VETO, "Vetoed" }, { TXN_E_FS, "FilesystemError" },
		{ TXN_E_LEASE, "LeaseExpired" }, { TXN_E_ABORTED, "Aborted" },
		{ TXN_E_INTERNAL, "GenericError" },
	};
	(void)state;
	as_root();
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		request("{\"execute\":\"quiesce-thaw\"}");
		assert_int_equal(fake_eng.last.req.op, TXN_THAW);
		engine_answers(map[i].err, "it went wrong", 0, false);
		expect_error(map[i].klass, "it went wrong");
	}
	request("{\"execute\":\"quiesce-check\"}");
	assert_int_equal(fake_eng.last.req.op, TXN_CHECK);
	engine_answers(TXN_E_VETO, "app x said no", 0, true);
	{
		struct json_object *a = answer(), *err, *v;
		assert_true(json_object_object_get_ex(a, "error", &err));
		assert_true(json_object_object_get_ex(err, "report", &v));
		assert_true(json_object_object_get_ex(v, "fake", &v));
		json_object_put(a);
	}
}

static void test_control_status_apps(void **state)
{
	struct json_object *a, *ret, *v;
	(void)state;
	/* Anyone may ask. */
	request("{\"execute\":\"quiesce-status\"}");
	a = answer();
	assert_true(json_object_object_get_ex(a, "return", &ret));
	assert_true(json_object_object_get_ex(ret, "version", &v));
	assert_true(json_object_object_get_ex(ret, "pid", &v));
	assert_int_equal(json_object_get_int(v), (int)getpid());
	assert_true(json_object_object_get_ex(ret, "daemon", &v));
	assert_true(json_object_object_get_ex(ret, "state", &v));
	json_object_put(a);
	assert_int_equal(t.status_calls, 1);
	request("{\"execute\":\"quiesce-apps\"}");
	expect_return("{\"apps\":[]}");
	assert_int_equal(t.apps_calls, 1);
	assert_int_equal(fake_eng.submitted, 0);
}

/* ------------------------------------------------------------ guest-* */

static void test_guest_sync(void **state)
{
	struct json_object *a;
	bool ff;
	(void)state;
	as_qga();
	request("{\"execute\":\"guest-sync\"}");
	expect_error("GenericError", "Parameter 'id' is missing");
	request("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":\"1\"}}");
	expect_error("GenericError", "Invalid parameter type for 'id', expected: integer");
	request("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":18446744073709551615}}");
	expect_error("GenericError", "Invalid parameter type for 'id', expected: integer");
	request("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1,\"x\":2}}");
	expect_error("GenericError", "Parameter 'x' is unexpected");
	request("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":-42}}");
	expect_return("-42");
	request("{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":9}}");
	a = answer_ff(&ff);
	assert_true(ff);
	json_object_put(a);
	/* An error is not delimited. */
	request("{\"execute\":\"guest-sync-delimited\"}");
	expect_error("GenericError", "Parameter 'id' is missing");
}

static void test_guest_no_args(void **state)
{
	static const char *const verbs[] = { "guest-ping", "guest-info", "guest-fsfreeze-status",
					     "guest-fsfreeze-freeze", "guest-fsfreeze-thaw" };
	char req[160];
	(void)state;
	as_qga();
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		snprintf(req, sizeof(req), "{\"execute\":\"%s\",\"arguments\":{\"bogus\":1}}", verbs[i]);
		request(req);
		expect_error("GenericError", "Parameter 'bogus' is unexpected");
	}
	request("{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[],\"x\":1}}");
	expect_error("GenericError", "Parameter 'x' is unexpected");
	request("{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":{}}}");
	expect_error("GenericError", "Invalid parameter type for 'mountpoints', expected: array");
	assert_int_equal(fake_eng.submitted, 0);
	request("{\"execute\":\"guest-ping\"}");
	expect_return("{}");
}

static void test_guest_status(void **state)
{
	static const struct { enum txn_state st; const char *ret; } map[] = {
		{ TXN_IDLE, "\"thawed\"" }, { TXN_CHECKING, "\"thawed\"" },
		{ TXN_FREEZING, "\"frozen\"" }, { TXN_FROZEN, "\"frozen\"" },
		{ TXN_THAWING, "\"frozen\"" },
	};
	(void)state;
	as_qga();
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		fake_eng.state = map[i].st;
		request("{\"execute\":\"guest-fsfreeze-status\"}");
		expect_return(map[i].ret);
	}
}

static void test_guest_freeze_thaw(void **state)
{
	(void)state;
	as_qga();
	request("{\"execute\":\"guest-fsfreeze-freeze\"}");
	assert_int_equal(fake_eng.last.req.op, TXN_FREEZE);
	assert_true(fake_eng.last.req.undo_if_none);
	assert_false(fake_eng.last.req.mountpoints_set);
	assert_false(fake_eng.last.req.strict_mountpoints);
	assert_null(fake_eng.last.req.owner);
	engine_answers(TXN_OK, "", 3, true);
	expect_return("3");

	request("{\"execute\":\"guest-fsfreeze-freeze-list\",\"arguments\":{\"mountpoints\":[\"/m\"]}}");
	assert_true(fake_eng.last.req.mountpoints_set);
	assert_int_equal(fake_eng.last.req.n_mountpoints, 1);
	assert_string_equal(fake_eng.last.mounts[0], "/m");
	engine_answers(TXN_E_FS, "cannot freeze /m", 0, false);
	expect_error("GenericError", "cannot freeze /m");

	request("{\"execute\":\"guest-fsfreeze-thaw\"}");
	assert_int_equal(fake_eng.last.req.op, TXN_THAW);
	engine_answers(TXN_E_LEASE, "the lease passed", 0, false);
	expect_error("GenericError", "couldn't hold writes: the lease passed");
}

static void test_guest_info(void **state)
{
	struct json_object *a, *ret, *list, *v;
	bool saw_freeze = false, saw_quiesce = false;
	(void)state;
	as_qga();
	t.refuse = "guest-fsfreeze-freeze";
	request("{\"execute\":\"guest-info\"}");
	a = answer();
	assert_true(json_object_object_get_ex(a, "return", &ret));
	assert_true(json_object_object_get_ex(ret, "supported_commands", &list));
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i), *name, *en;
		assert_true(json_object_object_get_ex(c, "name", &name));
		assert_true(json_object_object_get_ex(c, "enabled", &en));
		if (!strncmp(json_object_get_string(name), "quiesce-", 8))
			saw_quiesce = true;
		if (!strcmp(json_object_get_string(name), "guest-fsfreeze-freeze")) {
			saw_freeze = true;
			assert_false(json_object_get_boolean(en));
		} else {
			assert_true(json_object_get_boolean(en));
		}
	}
	assert_true(saw_freeze);
	assert_false(saw_quiesce);
	assert_true(json_object_object_get_ex(ret, "version", &v));
	json_object_put(a);
}

/* A client gone before its answer: the answer is dropped, the session released after. */
static void test_client_gone(void **state)
{
	(void)state;
	as_root();
	request("{\"execute\":\"quiesce-thaw\"}");
	jsonconn_free(t.s.conn);
	assert_null(t.s.conn);
	cmd_session_closed(&t.s);
	assert_false(t.released);   /* a call is pending */
	engine_answers(TXN_OK, "", 1, false);
	assert_true(t.released);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_echoed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_in_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_and_transport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_freeze_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_status_apps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_no_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_freeze_thaw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
	};
	unit_guard("test_cmd", 60);
	log_hold(true);
	if (cmd_control_register() < 0 || cmd_guest_register() < 0)
		return 1;
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
