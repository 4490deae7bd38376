// SPDX-License-Identifier: MIT
/* The engine faked for the transports' unit tests: see fakeengine.h. Also the status
 * of the transports a test does not link (hyperv_status, qgafwd_status): weak, so that
 * a test linking the real one gets it, and one that does not fails if they are asked. */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fakeengine.h"

#include "common/jsonput.h"

#include "host/hyperv.h"
#include "host/qgafwd.h"

struct fake_engine fake_eng;

void fake_engine_reset(void)
{
	memset(&fake_eng, 0, sizeof(fake_eng));
}

static struct fake_call record(const struct txn_request *req, txn_done_fn done, void *arg)
{
	struct fake_call c = { .req = *req, .done = done, .arg = arg };

	c.req.mountpoints = NULL;
	for (size_t i = 0; i < req->n_mountpoints && i < FAKE_ENGINE_MOUNTS; i++)
		snprintf(c.mounts[i], sizeof(c.mounts[i]), "%s", req->mountpoints[i]);
	return c;
}

void engine_submit(struct engine *e, const struct txn_request *req, txn_done_fn done, void *arg)
{
	(void)e;
	if (fake_eng.one_at_a_time)
		assert_int_equal(fake_eng.n, 0); /* the test answers each call before the next */
	fake_eng.submitted++;
	fake_eng.last = record(req, done, arg);
	if (fake_eng.answer_now) {
		struct txn_result res = { req->op, fake_eng.now_err, "busy", 0, NULL,
					  TXN_WHOSE_OTHER };
		done(arg, &res);
		return;
	}
	assert_true(fake_eng.n < FAKE_ENGINE_CALLS);
	fake_eng.q[fake_eng.n++] = fake_eng.last;
}

void fake_engine_answer(unsigned i, enum txn_err err, const char *msg, unsigned count,
			enum txn_whose whose, struct json_object *report)
{
	struct fake_call c;
	struct txn_result res;

	assert_true(i < fake_eng.n);
	c = fake_eng.q[i];
	memmove(&fake_eng.q[i], &fake_eng.q[i + 1], (fake_eng.n - i - 1) * sizeof(fake_eng.q[0]));
	fake_eng.n--;
	res = (struct txn_result){ c.req.op, err, msg, count, report, whose };
	c.done(c.arg, &res);
}

bool fake_engine_called(void *arg)
{
	(void)arg;
	return fake_eng.n > 0;
}

enum txn_state engine_state(const struct engine *e)
{
	(void)e;
	return fake_eng.state;
}

enum txn_whose engine_whose(const struct engine *e, const struct txn_caller *c)
{
	(void)e;
	assert_non_null(c);
	if (fake_eng.whose_caller)
		assert_string_equal(c->name, fake_eng.whose_caller);
	return fake_eng.whose;
}

const char *engine_origin(const struct engine *e)
{
	(void)e;
	return fake_eng.origin;
}

int engine_status(struct engine *e, struct json_object *out)
{
	(void)e;
	return jput(out, "state", json_object_new_string("fake")) ? 0 : -1;
}

void engine_owner_gone(struct engine *e, const void *owner)
{
	(void)e;
	(void)owner;
	fake_eng.owner_gone++;
}

const char *engine_state_name(enum txn_state s) { (void)s; return "state"; }
const char *engine_op_name(enum txn_op op) { (void)op; return "op"; }
const char *engine_err_name(enum txn_err e) { (void)e; return "err"; }

__attribute__((weak)) int hyperv_status(const struct hyperv *hv, struct json_object *out)
{
	(void)hv;
	(void)out;
	fail_msg("hyperv_status without Hyper-V");
	return -1;
}

__attribute__((weak)) int qgafwd_status(const struct qgafwd *f, struct json_object *out)
{
	(void)f;
	(void)out;
	fail_msg("qgafwd_status without a backend");
	return -1;
}
