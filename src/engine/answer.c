// SPDX-License-Identifier: MIT
/* The engine's answers: to the caller of a request, and to the THAWs that arrived
 * while a transaction was under way and wait for its end. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine_int.h"

static void vreply(txn_done_fn fn, void *arg, const struct txn_result *base, const char *fmt,
		   va_list ap) LOG_PRINTF(4, 0);

static void vreply(txn_done_fn fn, void *arg, const struct txn_result *base, const char *fmt,
		   va_list ap)
{
	char msg[ENGINE_MSG_LEN];
	struct txn_result res = *base;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	res.message = msg;
	if (fn)
		fn(arg, &res);
}

void engine_reply(txn_done_fn fn, void *arg, enum txn_op op, enum txn_err err, unsigned count,
		  struct json_object *report, const char *fmt, ...)
{
	struct txn_result res = { .op = op, .err = err, .count = count, .report = report };
	va_list ap;
	va_start(ap, fmt);
	vreply(fn, arg, &res, fmt, ap);
	va_end(ap);
}

void engine_refuse(const struct engine *e, const struct txn_request *req, txn_done_fn fn,
		   void *arg, enum txn_err err, const char *fmt, ...)
{
	struct txn_result res = { .op = req->op, .err = err,
				  .whose = engine_whose(e, req->caller) };
	va_list ap;
	va_start(ap, fmt);
	vreply(fn, arg, &res, fmt, ap);
	va_end(ap);
}

bool engine_add_waiter(struct engine *e, txn_done_fn done, void *arg)
{
	if (e->n_waiters == ENGINE_MAX_WAITERS)
		return false;
	e->waiters[e->n_waiters].fn = done;
	e->waiters[e->n_waiters].arg = arg;
	e->n_waiters++;
	return true;
}

void engine_call_waiters(struct engine *e, enum txn_err err, unsigned count, const char *msg)
{
	/* A waiter's callback may submit again (and wait again): answer a copy. */
	size_t n = e->n_waiters;
	struct waiter w[ENGINE_MAX_WAITERS];
	memcpy(w, e->waiters, n * sizeof(*w));
	e->n_waiters = 0;
	for (size_t i = 0; i < n; i++)
		engine_reply(w[i].fn, w[i].arg, TXN_THAW, err, count, e->report, "%s", msg);
}
