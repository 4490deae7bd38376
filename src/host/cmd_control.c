// SPDX-License-Identifier: MIT
/* quiesce's own commands on the control socket (quiescectl). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/jsonput.h"
#include "common/util.h"
#include "host/host.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/control.h"
#include "host/hyperv.h"
#include "host/qgafwd.h"

/* Error classes quiescectl maps to its exit codes (docs/control.md). */
static const char *err_class(enum txn_err e)
{
	switch (e) {
	case TXN_E_BUSY: return "Busy";
	case TXN_E_FROZEN: return "AlreadyFrozen";
	case TXN_E_VETO: return "Vetoed";
	case TXN_E_FS: return "FilesystemError";
	case TXN_E_LEASE: return "LeaseExpired";
	case TXN_E_ABORTED: return "Aborted";
	default: return "GenericError";
	}
}

static void on_txn_done(void *arg, const struct txn_result *res)
{
	struct cmd_call *call = arg;
	struct json_object *extra = NULL;

	/* Out of memory, the answer goes without its report (as the engine drops one). */
	if (res->report && !jput(extra = json_object_new_object(), "report",
				 json_object_get(res->report))) {
		json_object_put(extra);
		extra = NULL;
	}
	if (res->err == TXN_OK) {
		struct json_object *ret = extra ? extra : json_object_new_object();
		if (!jput(ret, "count", json_object_new_int((int)res->count))) {
			json_object_put(ret);
			ret = NULL; /* answered "out of memory": never without its count */
		}
		cmd_return(call, ret);
	} else {
		cmd_error_with(call, err_class(res->err), extra, "%s", res->message);
	}
}

static void do_status(struct cmd_call *call)
{
	struct host_ctx *ctx = call->s->ctx;
	struct json_object *ret = json_object_new_object();

	if (!jput(ret, "version", json_object_new_string(QUIESCE_VERSION)) ||
	    !jput(ret, "pid", json_object_new_int((int)getpid())) ||
	    (ctx->status && ctx->status(ctx->arg, ret) < 0) ||
	    engine_status(ctx->engine, ret) < 0 ||
	    (ctx->hyperv && hyperv_status(ctx->hyperv, ret) < 0) ||
	    (ctx->qgafwd && qgafwd_status(ctx->qgafwd, ret) < 0)) {
		/* Never a status with parts missing. */
		json_object_put(ret);
		cmd_error(call, "GenericError", "out of memory");
		return;
	}
	cmd_return(call, ret);
}

static void do_check(struct cmd_call *call)
{
	struct txn_request req = { .op = TXN_CHECK, .caller = call->s->caller };
	engine_submit(call->s->ctx->engine, &req, on_txn_done, call);
}

/* quiesce-freeze {"mountpoints": [...], "lease": S, "apps-only": B}
 * quiesce-snapshot: the same, but the freeze ends (thaws) when this connection does. */
static void freeze(struct cmd_call *call, bool held)
{
	struct txn_request req = { .op = TXN_FREEZE, .caller = call->s->caller };
	char **mounts = NULL;
	size_t n = 0;
	bool set = false;

	if (cmd_arg_strings(call, "mountpoints", &mounts, &n, &set) < 0 ||
	    cmd_arg_seconds(call, "lease", &req.lease_ms) < 0 ||
	    cmd_arg_bool(call, "apps-only", &req.skip_fs) < 0) {
		cmd_free_strings(mounts, n);
		return;
	}
	req.mountpoints = mounts;
	req.n_mountpoints = n;
	req.mountpoints_set = set;
	req.strict_mountpoints = true;
	if (held)
		req.owner = call->s;
	/* The engine copies what it keeps. */
	engine_submit(call->s->ctx->engine, &req, on_txn_done, call);
	cmd_free_strings(mounts, n);
}

static void do_freeze(struct cmd_call *call)
{
	freeze(call, false);
}

static void do_snapshot(struct cmd_call *call)
{
	freeze(call, true);
}

static void do_thaw(struct cmd_call *call)
{
	struct txn_request req = { .op = TXN_THAW, .caller = call->s->caller };
	engine_submit(call->s->ctx->engine, &req, on_txn_done, call);
}

/* quiescectl apps: the registered apps, their state and last answer. Anyone may ask,
 * as for status (which shows the same through the apps stage). */
static void do_apps(struct cmd_call *call)
{
	struct json_object *ret = json_object_new_object();
	if (ret && call->s->ctx->apps && call->s->ctx->apps(call->s->ctx->arg, ret) < 0) {
		json_object_put(ret);
		ret = NULL; /* "out of memory", never a list with apps left out */
	}
	cmd_return(call, ret);
}

static const struct cmd_def control_cmds[] = {
	{ "quiesce-status", do_status, CMD_CONTROL },
	{ "quiesce-check", do_check, CMD_CONTROL | CMD_ROOT },
	{ "quiesce-freeze", do_freeze, CMD_CONTROL | CMD_ROOT },
	{ "quiesce-snapshot", do_snapshot, CMD_CONTROL | CMD_ROOT },
	{ "quiesce-thaw", do_thaw, CMD_CONTROL | CMD_ROOT },
	{ "quiesce-apps", do_apps, CMD_CONTROL },
};

int cmd_control_register(void)
{
	return cmd_register(control_cmds, ARRAY_SIZE(control_cmds));
}
