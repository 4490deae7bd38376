// SPDX-License-Identifier: MIT
/* The guest-* commands: qemu-ga's fsfreeze subset, with qemu-ga 7.2's names,
 * arguments, return values and error texts (see docs/qga.md for where and why we
 * differ). Served on the QGA channel (where the peer is the host) and on the
 * control socket (where freeze and thaw need root). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonput.h"
#include "common/util.h"
#include "host/host.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/qga.h"

static const char *const no_args[] = { NULL };

bool guest_agent_frozen(const struct engine *e)
{
	/* qemu-ga is "frozen" from just before its first FIFREEZE until its thaw is
	 * done. Ours includes the application stage before the filesystems and the
	 * whole thaw: while anything may be held, a host asking gets "frozen" and
	 * only the allow-list runs. */
	switch (engine_state(e)) {
	case TXN_FREEZING:
	case TXN_FROZEN:
	case TXN_THAWING:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------ no freezing */

static void sync_common(struct cmd_call *call, bool delimited)
{
	int64_t id;
	if (cmd_arg_int64(call, "id", true, &id, NULL) < 0)
		return;
	if (cmd_args_only(call, (const char *const[]){ "id", NULL }) < 0)
		return;
	/* Only a successful answer is delimited, as in qemu-ga. */
	call->ff_prefix = delimited;
	cmd_return(call, json_object_new_int64(id));
}

static void do_sync(struct cmd_call *call)
{
	sync_common(call, false);
}

static void do_sync_delimited(struct cmd_call *call)
{
	sync_common(call, true);
}

static void do_ping(struct cmd_call *call)
{
	if (cmd_args_only(call, no_args) < 0)
		return;
	cmd_return(call, json_object_new_object());
}

struct json_object *cmd_info_entry(const char *name, bool enabled, bool success_response)
{
	struct json_object *c = json_object_new_object();

	if (!jput(c, "enabled", json_object_new_boolean(enabled)) ||
	    !jput(c, "name", json_object_new_string(name)) ||
	    !jput(c, "success-response", json_object_new_boolean(success_response))) {
		json_object_put(c);
		return NULL;
	}
	return c;
}

/* guest-info's {"version", "supported_commands"}: ours, then the backend's (info_extra);
 * NULL if out of memory (never a list with commands left out). */
static struct json_object *info(struct cmd_session *s)
{
	struct json_object *ret = json_object_new_object(), *list = json_object_new_array();
	const struct cmd_def *defs;
	size_t n;

	if (!jput(ret, "version", json_object_new_string(QUIESCE_VERSION))) {
		json_object_put(list);
		goto fail;
	}
	if (!jput(ret, "supported_commands", list))
		goto fail;
	defs = cmd_table(&n);
	for (size_t i = 0; i < n; i++) {
		const char *klass;
		char desc[160];
		bool enabled = true;

		if (!(defs[i].flags & s->transport))
			continue;
		if (s->gate)
			enabled = s->gate(s, defs[i].name, defs[i].flags, &klass, desc, sizeof(desc));
		if (!jappend(list, cmd_info_entry(defs[i].name, enabled, true)))
			goto fail;
	}
	if (s->info_extra && s->info_extra(s, ret) < 0) /* the qemu-ga backend's commands */
		goto fail;
	return ret;
fail:
	json_object_put(ret);
	return NULL;
}

static void do_info(struct cmd_call *call)
{
	if (cmd_args_only(call, no_args) < 0)
		return;
	cmd_return(call, info(call->s)); /* NULL: "out of memory" */
}

static void do_status(struct cmd_call *call)
{
	if (cmd_args_only(call, no_args) < 0)
		return;
	cmd_return(call, json_object_new_string(guest_agent_frozen(call->s->ctx->engine)
						? "frozen" : "thawed"));
}

/* ------------------------------------------------------------ freeze and thaw */

static void on_txn_done(void *arg, const struct txn_result *res)
{
	struct cmd_call *call = arg;

	if (res->err == TXN_OK) {
		cmd_return(call, json_object_new_int64(res->count));
		return;
	}
	/* qemu-ga has one error class for failures. A thaw after our lease took the
	 * freeze back is an error, worded as qemu-ga's own hold-time limit (Windows
	 * VSS: "couldn't hold writes: fsfreeze is limited up to 10 seconds"). */
	if (res->err == TXN_E_LEASE)
		cmd_error(call, "GenericError", "couldn't hold writes: %s", res->message);
	else
		cmd_error(call, "GenericError", "%s", res->message);
}

static void freeze(struct cmd_call *call, bool listed)
{
	struct txn_request req = {
		.op = TXN_FREEZE,
		.caller = call->s->caller,
		/* Nothing frozen: stay thawed and report 0 (qemu-ga); the application
		 * freeze is undone as well (qemu-ga leaves its hook's freeze standing). */
		.undo_if_none = true,
	};
	char **mounts = NULL;
	size_t n = 0;
	bool set = false;

	if (listed) {
		if (cmd_arg_strings(call, "mountpoints", &mounts, &n, &set) < 0)
			return;
		if (cmd_args_only(call, (const char *const[]){ "mountpoints", NULL }) < 0) {
			cmd_free_strings(mounts, n);
			return;
		}
	} else if (cmd_args_only(call, no_args) < 0) {
		return;
	}
	/* Exact mountpoints; unknown ones are ignored (the policy's select list). An
	 * empty list freezes nothing (qemu-ga 7.2 too), never everything. */
	req.mountpoints = mounts;
	req.n_mountpoints = n;
	req.mountpoints_set = set;
	/* No owner: the freeze outlives the client, until a thaw or the lease. */
	engine_submit(call->s->ctx->engine, &req, on_txn_done, call);
	cmd_free_strings(mounts, n);
}

static void do_freeze(struct cmd_call *call)
{
	freeze(call, false);
}

static void do_freeze_list(struct cmd_call *call)
{
	freeze(call, true);
}

static void do_thaw(struct cmd_call *call)
{
	struct txn_request req = { .op = TXN_THAW, .caller = call->s->caller };
	if (cmd_args_only(call, no_args) < 0)
		return;
	/* Thaws exactly what quiesced froze; the count is of filesystems whose FITHAW
	 * we did (qemu-ga thaws every mounted filesystem and counts them all). */
	engine_submit(call->s->ctx->engine, &req, on_txn_done, call);
}

#define ANY (CMD_QGA | CMD_CONTROL)

/* CMD_FROZEN_OK is qemu-ga 7.2's allow-list (ga_freeze_allowlist in qga/main.c). */
static const struct cmd_def guest_cmds[] = {
	{ "guest-sync-delimited", do_sync_delimited, ANY | CMD_FROZEN_OK },
	{ "guest-sync", do_sync, ANY | CMD_FROZEN_OK },
	{ "guest-ping", do_ping, ANY | CMD_FROZEN_OK },
	{ "guest-info", do_info, ANY | CMD_FROZEN_OK },
	{ "guest-fsfreeze-status", do_status, ANY | CMD_FROZEN_OK },
	{ "guest-fsfreeze-freeze", do_freeze, ANY | CMD_ROOT },
	{ "guest-fsfreeze-freeze-list", do_freeze_list, ANY | CMD_ROOT },
	{ "guest-fsfreeze-thaw", do_thaw, ANY | CMD_ROOT | CMD_FROZEN_OK },
};

int cmd_guest_register(void)
{
	return cmd_register(guest_cmds, ARRAY_SIZE(guest_cmds));
}
