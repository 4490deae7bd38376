// SPDX-License-Identifier: MIT
#include "host/hyperv.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/jsonput.h"
#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/host.h"
#include "engine/txn.h"
#include "host/hvwire.h"
#include "host/hyperv_int.h"

static const char *state_name(enum hv_state s)
{
	static const char *const n[] = { "closed", "registering", "ready", "busy", "resetting" };
	return (unsigned)s < ARRAY_SIZE(n) ? n[s] : "?";
}

static uint64_t request_deadline(const struct hyperv *hv, unsigned op)
{
	return answer_by(op == HVWIRE_OP_FREEZE ? hv->freeze_budget_ms : hv->budget_ms);
}

/* Hyper-V asks the engine as this one caller; whose a freeze is, the engine says. */
static const struct txn_caller hv_caller = { ORIGIN };

static bool is_ours(const struct hyperv *hv)
{
	return engine_whose(hv->ctx->engine, &hv_caller) == TXN_WHOSE_YOURS;
}

/* ------------------------------------------------------------ engine calls */

static void on_call_done(void *arg, const struct txn_result *res);
static void call_finished(struct hyperv *hv, enum call_kind kind, uint64_t gen,
			  bool ended_early, const struct txn_result *res);

static void submit(struct hyperv *hv, const struct txn_request *req, enum call_kind kind,
		   bool ended_early)
{
	struct hv_call *c = calloc(1, sizeof(*c));
	if (!c) {
		/* Never leave the host waiting: the answer is a failure. */
		struct txn_result res = { .op = req->op, .err = TXN_E_INTERNAL,
					  .message = "out of memory" };
		log_errx("hyperv: out of memory");
		call_finished(hv, kind, hv->gen, ended_early, &res);
		return;
	}
	c->hv = hv;
	c->kind = kind;
	c->gen = hv->gen;
	c->ended_early = ended_early;
	c->next = hv->calls;
	if (hv->calls)
		hv->calls->prev = c;
	hv->calls = c;
	engine_submit(hv->ctx->engine, req, on_call_done, c);
}

/* Thaw what Hyper-V froze, or stop a freeze of ours under way. Returns true if a
 * thaw was started whose end the caller should wait for. */
bool hyperv_undo_ours(struct hyperv *hv, const char *why)
{
	enum txn_state s = engine_state(hv->ctx->engine);
	struct txn_request req = { .op = TXN_THAW, .caller = &hv_caller };

	if (hv->undo_pending)
		return true; /* one thaw undoes it all */
	if (!is_ours(hv) || (s != TXN_FREEZING && s != TXN_FROZEN))
		return false;
	log_notice("VSS: %s: thawing what Hyper-V froze", why);
	hv->undo_pending++;
	submit(hv, &req, CALL_UNDO, false);
	return hv->undo_pending > 0;
}


/* ------------------------------------------------------------ answering */

static void send_reply(struct hyperv *hv, uint32_t error)
{
	uint8_t out[HVWIRE_MSG_SIZE];
	ssize_t n;

	if (hv->state != HV_BUSY)
		return;
	loop_timer_disarm(hv->ctx->loop, &hv->deadline);
	hv->last_ms = (double)(now_ms() - hv->req_t0);
	str_copy(hv->last_op, op_name(hv->req.op), sizeof(hv->last_op));
	str_copy(hv->last_result, error == HVWIRE_S_OK ? "HV_S_OK" : "HV_E_FAIL",
		 sizeof(hv->last_result));
	hvwire_encode_reply(&hv->req, error, out);
	n = hvchan_write(hv, out, sizeof(out));
	if (n != (ssize_t)sizeof(out)) {
		/* A late answer (the kernel timed out), the reply to the hibernation fake
		 * THAW, a reset: the kernel refuses it with EINVAL. */
		int err = n < 0 ? errno : EIO;
		log_errx("write failed; error: %d %s", err, strerror(err));
		hvchan_failed(hv);
		return;
	}
	hv->state = HV_READY;
	if (loop_mod_fd(hv->ctx->loop, hv->fd, EPOLLIN) < 0) {
		log_warn("hyperv: cannot watch %s", hv->path);
		hvchan_failed(hv);
	}
}

/* "FREEZE of %s failed; error:%d %s" as hv_vss_daemon logs it, for the first
 * filesystem the report shows as failed. */
static void log_failed_fs(const struct json_object *report)
{
	struct json_object *phases, *ph, *fss, *f, *v;
	if (!report || !json_object_object_get_ex(report, "phases", &phases))
		return;
	for (size_t i = 0; i < json_object_array_length(phases); i++) {
		ph = json_object_array_get_idx(phases, i);
		if (!json_object_object_get_ex(ph, "filesystems", &fss))
			continue;
		for (size_t k = 0; k < json_object_array_length(fss); k++) {
			const char *mp;
			int err;
			f = json_object_array_get_idx(fss, k);
			if (!json_object_object_get_ex(f, "errno", &v))
				continue;
			err = json_object_get_int(v);
			if (!json_object_object_get_ex(f, "mountpoint", &v))
				continue;
			mp = json_object_get_string(v);
			log_errx("FREEZE of %s failed; error:%d %s", mp, err, strerror(err));
			return;
		}
	}
}

/* A FREEZE while frozen: the engine says whose the freeze is. */
static void freeze_refused_frozen(struct hyperv *hv, const struct txn_result *res)
{
	if (res->whose == TXN_WHOSE_YOURS) {
		/* hv_vss_daemon answers a second FREEZE 0 (its FIFREEZEs get EBUSY,
		 * which it counts as success). The freeze and its lease go on. */
		log_info("VSS: op=FREEZE: succeeded (already frozen for Hyper-V)");
		send_reply(hv, HVWIRE_S_OK);
		return;
	}
	/* Someone else's freeze: its owner may thaw it during the checkpoint, and our
	 * THAW would not be allowed to end it. */
	log_errx("VSS: op=FREEZE: failed");
	log_errx("VSS: FREEZE: the filesystems are frozen by %s, not for Hyper-V",
		 engine_origin(hv->ctx->engine));
	send_reply(hv, HVWIRE_E_FAIL);
}

static void freeze_done(struct hyperv *hv, const struct txn_result *res)
{
	if (res->err == TXN_E_FROZEN) {
		freeze_refused_frozen(hv, res);
		return;
	}
	if (res->err == TXN_OK) {
		hv->frozen_by_us = true;
		/* Held in memory while frozen (log.c), written after the thaw. */
		log_info("VSS: op=FREEZE: succeeded");
		if (!res->count)
			log_notice("VSS: FREEZE: no filesystem to freeze (only applications "
				   "and hooks, if any, hold their writes)");
		send_reply(hv, HVWIRE_S_OK);
		return;
	}
	/* The engine has thawed everything it froze for this request. */
	log_errx("VSS: op=FREEZE: failed");
	if (res->err == TXN_E_FS)
		log_failed_fs(res->report);
	log_errx("VSS: FREEZE: %s (%s)", res->message, engine_err_name(res->err));
	send_reply(hv, HVWIRE_E_FAIL);
}

static void thaw_done(struct hyperv *hv, const struct txn_result *res, bool ended_early)
{
	hv->frozen_by_us = false;
	if (res->err == TXN_OK && !ended_early) {
		log_info("VSS: op=THAW: succeeded");
		send_reply(hv, HVWIRE_S_OK);
		return;
	}
	log_errx("VSS: op=THAW: failed");
	if (res->err == TXN_OK)
		log_errx("VSS: THAW: the freeze had already been ended by someone else "
			 "(a quiescectl thaw?) before the host's THAW: writes were not held "
			 "for the whole checkpoint");
	else
		log_errx("VSS: THAW: %s (%s)", res->message, engine_err_name(res->err));
	send_reply(hv, HVWIRE_E_FAIL);
}

static void check_done(struct hyperv *hv, const struct txn_result *res)
{
	if (res->err == TXN_OK) {
		log_debug("VSS: CHECK HOT BACKUP: ready to freeze");
		send_reply(hv, HVWIRE_S_OK);
		return;
	}
	/* hv_vss(4) (FreeBSD) answers a failed check with HV_E_FAIL, so the host does
	 * not go on to a FREEZE that would fail. */
	log_errx("VSS: op=CHECK HOT BACKUP: failed: %s (%s)", res->message,
		 engine_err_name(res->err));
	send_reply(hv, HVWIRE_E_FAIL);
}

static void undo_done(struct hyperv *hv, const struct txn_result *res)
{
	if (hv->undo_pending)
		hv->undo_pending--;
	hv->frozen_by_us = false;
	if (res->err == TXN_OK)
		log_notice("VSS: thawed what Hyper-V froze (%u filesystem%s)", res->count,
			   res->count == 1 ? "" : "s");
	else
		log_errx("failed to thaw file system: %s (%s)", res->message,
			 engine_err_name(res->err));
	if (hv->state == HV_RESETTING && !hv->undo_pending) {
		hv->backoff_ms = 0;
		hvchan_schedule_open(hv, 0);
	}
}

static void call_finished(struct hyperv *hv, enum call_kind kind, uint64_t gen,
			  bool ended_early, const struct txn_result *res)
{
	if (kind == CALL_UNDO) {
		undo_done(hv, res);
		return;
	}
	if (gen != hv->gen || hv->state != HV_BUSY) {
		/* Given up already (deadline, channel reset): the host has its answer. */
		log_notice("VSS: %s finished after the host had its answer: %s",
			   engine_op_name(res->op), res->err == TXN_OK ? "ok" : res->message);
		if (res->op == TXN_FREEZE && res->err == TXN_OK)
			hyperv_undo_ours(hv, "a freeze finished after its answer");
		else if (res->op == TXN_THAW)
			hv->frozen_by_us = false;
		return;
	}
	switch (res->op) {
	case TXN_FREEZE:
		freeze_done(hv, res);
		break;
	case TXN_THAW:
		thaw_done(hv, res, ended_early);
		break;
	case TXN_CHECK:
		check_done(hv, res);
		break;
	}
}

static void on_call_done(void *arg, const struct txn_result *res)
{
	struct hv_call *c = arg;
	struct hyperv *hv = c->hv;
	enum call_kind kind = c->kind;
	uint64_t gen = c->gen;
	bool ended_early = c->ended_early;

	if (hv) {
		if (c->prev)
			c->prev->next = c->next;
		else
			hv->calls = c->next;
		if (c->next)
			c->next->prev = c->prev;
	}
	free(c);
	if (hv)
		call_finished(hv, kind, gen, ended_early, res);
}

/* ------------------------------------------------------------ requests */

static void do_freeze(struct hyperv *hv)
{
	struct txn_request req = { .op = TXN_FREEZE, .caller = &hv_caller };
	/* Already frozen (ours or not) and busy are answered by the engine, at once
	 * (freeze_done). */
	submit(hv, &req, CALL_REQUEST, false);
}

static void do_thaw(struct hyperv *hv)
{
	struct engine *e = hv->ctx->engine;
	enum txn_state s = engine_state(e);
	/* The host's THAW budget is short (30 s): answer once the filesystems are. */
	struct txn_request req = { .op = TXN_THAW, .caller = &hv_caller, .early_reply = true };

	if (is_ours(hv) && s != TXN_CHECKING) {
		/* Frozen (or freezing, or thawing) for Hyper-V. */
		submit(hv, &req, CALL_REQUEST, false);
		return;
	}
	if (hv->frozen_by_us) {
		/* Our freeze ended before this THAW: the lease passed (the engine says so),
		 * or someone thawed it. Either way writes were not held until now. */
		if (s == TXN_IDLE || s == TXN_THAWING) {
			submit(hv, &req, CALL_REQUEST, true);
			return;
		}
		hv->frozen_by_us = false;
		log_errx("VSS: op=THAW: failed");
		log_errx("VSS: THAW: the freeze for Hyper-V had already ended (quiesced is %s "
			 "for %s now, left alone)", engine_state_name(s), engine_origin(e));
		send_reply(hv, HVWIRE_E_FAIL);
		return;
	}
	/* Nothing frozen for Hyper-V: the hibernation fake THAW, a THAW after a reset
	 * or a restart. hv_vss_daemon's FITHAWs get EINVAL, which it counts as success. */
	if (s == TXN_FROZEN || s == TXN_FREEZING)
		log_info("VSS: op=THAW: succeeded (nothing frozen for Hyper-V; the freeze of "
			 "%s is left alone)", engine_origin(e));
	else
		log_info("VSS: op=THAW: succeeded (nothing frozen)");
	send_reply(hv, HVWIRE_S_OK);
}

static void do_check(struct hyperv *hv)
{
	struct txn_request req = { .op = TXN_CHECK, .caller = &hv_caller };
	log_info("VSS: op=CHECK HOT BACKUP");
	/* A required app's veto fails the CHECK in the apps stage, a candidate that
	 * cannot be frozen in the filesystems stage: either way HV_E_FAIL (check_done). */
	submit(hv, &req, CALL_REQUEST, false);
}

void hyperv_handle_request(struct hyperv *hv, const struct hvwire_request *req)
{
	hv->req = *req;
	hv->gen++;
	hv->n_requests++;
	hv->req_t0 = now_ms();
	hv->state = HV_BUSY;
	/* The kernel sends nothing else until we answer (except the hibernation fake
	 * THAW, which it expects to find after our answer fails): watch for the channel's
	 * end only (EPOLLHUP/EPOLLERR are always reported). */
	if (loop_mod_fd(hv->ctx->loop, hv->fd, 0) < 0) {
		log_warn("hyperv: cannot watch %s", hv->path);
		hvchan_failed(hv);
		return;
	}
	loop_timer_arm(hv->ctx->loop, &hv->deadline, request_deadline(hv, req->op), hvchan_on_deadline, hv);
	log_debug("hyperv: request %s (%u)", op_name(req->op), req->op);
	switch (req->op) {
	case HVWIRE_OP_FREEZE:
		do_freeze(hv);
		break;
	case HVWIRE_OP_THAW:
		do_thaw(hv);
		break;
	case HVWIRE_OP_HOT_BACKUP:
		do_check(hv);
		break;
	default:
		/* The kernel answers every other operation itself; hv_vss_daemon logs one
		 * that reaches it and answers success. */
		log_errx("Illegal op:%u", req->op);
		send_reply(hv, HVWIRE_S_OK);
		break;
	}
}

/* The held request's budget is nearly used up: answer HV_E_FAIL while the host can
 * still hear it, and undo a freeze under way. */
void hyperv_request_overdue(struct hyperv *hv)
{
	unsigned op = hv->req.op;
	hv->n_deadlines++;
	hv->gen++;
	log_errx("VSS: op=%s: failed", op_name(op));
	log_errx("VSS: %s: no result after %.1f s (the kernel's limit is %.0f s): answering "
		 "HV_E_FAIL", op_name(op), (double)(now_ms() - hv->req_t0) / 1000.0,
		 (double)(op == HVWIRE_OP_FREEZE ? hv->freeze_budget_ms : hv->budget_ms) / 1000.0);
	send_reply(hv, HVWIRE_E_FAIL);
	if (op == HVWIRE_OP_FREEZE)
		hyperv_undo_ours(hv, "FREEZE given up");
}

/* ------------------------------------------------------------ setup */

/* The kernel's timers, "FREEZE_MS,OTHER_MS", for tests against hvsim with shorter
 * ones. Only ever shorter than the kernel's: this cannot stretch an answer past them. */
static void kernel_timeouts_from_env(struct hyperv *hv)
{
	const char *s = getenv("QUIESCE_HV_KERNEL_TIMEOUTS");
	unsigned long long f, o;
	char extra;

	if (!s || !*s)
		return;
	if (sscanf(s, "%llu,%llu%c", &f, &o, &extra) != 2 || f < 100 || o < 100 ||
	    f > KERNEL_FREEZE_TIMEOUT_MS || o > KERNEL_TIMEOUT_MS) {
		log_warnx("QUIESCE_HV_KERNEL_TIMEOUTS=%s ignored: expected FREEZE_MS,OTHER_MS "
			  "within 100..%u,100..%u", s, KERNEL_FREEZE_TIMEOUT_MS, KERNEL_TIMEOUT_MS);
		return;
	}
	hv->freeze_budget_ms = f;
	hv->budget_ms = o;
	log_notice("hyperv: the kernel's timers are taken as FREEZE %llu ms, others %llu ms "
		   "(QUIESCE_HV_KERNEL_TIMEOUTS)", f, o);
}

/* The engine's own bounds against the kernel's. Every answer is sent in time anyway
 * (request_overdue); these warn about settings with which a normal, slow request
 * would be cut short. */
static void check_budgets(const struct hyperv *hv, const struct hyperv_config *cfg)
{
	uint64_t other = answer_by(hv->budget_ms), freeze = answer_by(hv->freeze_budget_ms);

	if (cfg->timeout_ms >= other)
		log_warnx("hyperv: --timeout %.1f s: one participant may use up the whole "
			  "HOT_BACKUP budget (%.1f s of the kernel's %.0f s); a CHECK that slow "
			  "is answered HV_E_FAIL", (double)cfg->timeout_ms / 1000.0,
			  (double)other / 1000.0, (double)hv->budget_ms / 1000.0);
	if (cfg->fs_timeout_ms >= other)
		log_warnx("hyperv: --fs-timeout %.1f s is longer than a THAW may take (%.1f s)",
			  (double)cfg->fs_timeout_ms / 1000.0, (double)other / 1000.0);
	/* Apps take at most --timeout, the hooks together at most --timeout (each at most
	 * --hook-timeout; docs/apps.md), then FIFREEZE. */
	if (2 * cfg->timeout_ms + cfg->fs_timeout_ms >= freeze)
		log_warnx("hyperv: --timeout and --fs-timeout allow a FREEZE of %.1f s, past "
			  "the %.1f s it may take; a FREEZE that slow is answered HV_E_FAIL and undone",
			  (double)(2 * cfg->timeout_ms + cfg->fs_timeout_ms) / 1000.0,
			  (double)freeze / 1000.0);
	if (cfg->lease_ms < LEASE_WARN_MS)
		log_warnx("hyperv: --lease %.1f s: Hyper-V sends THAW once its checkpoint is "
			  "taken, usually within seconds; a THAW after the lease is answered "
			  "HV_E_FAIL", (double)cfg->lease_ms / 1000.0);
}

int hyperv_new(struct host_ctx *ctx, const struct hyperv_config *cfg, struct hyperv **out)
{
	const char *path = cfg->path;
	struct hyperv *hv;

	*out = NULL;
	if (cfg->disabled) {
		if (path)
			log_warnx("hyperv: --no-hyperv given: --hyperv %s ignored", path);
		return 0;
	}
	if (!path) {
		/* Tests never take the real device from the host's daemon by accident. */
		if (getenv("QUIESCE_REQUIRE_SCOPE")) {
			log_debug("hyperv: not opening %s by default under QUIESCE_REQUIRE_SCOPE",
				  HYPERV_DEFAULT_DEVICE);
			return 0;
		}
		if (access(HYPERV_DEFAULT_DEVICE, F_OK) < 0) {
			log_debug("hyperv: no %s: Hyper-V not served", HYPERV_DEFAULT_DEVICE);
			return 0;
		}
		path = HYPERV_DEFAULT_DEVICE;
	}
	hv = calloc(1, sizeof(*hv));
	if (!hv || !(hv->path = strdup(path))) {
		free(hv);
		return -1;
	}
	hv->ctx = ctx;
	hv->fd = -1;
	hv->freeze_budget_ms = KERNEL_FREEZE_TIMEOUT_MS;
	hv->budget_ms = KERNEL_TIMEOUT_MS;
	kernel_timeouts_from_env(hv);
	check_budgets(hv, cfg);
	/* Opened from the loop, after daemon(): the pid logged is the daemon's. */
	hvchan_schedule_open(hv, 0);
	*out = hv;
	return 0;
}

void hyperv_free(struct hyperv *hv)
{
	if (!hv)
		return;
	loop_timer_disarm(hv->ctx->loop, &hv->retry);
	loop_timer_disarm(hv->ctx->loop, &hv->deadline);
	/* Calls the engine still owes us are answered to nobody. */
	for (struct hv_call *c = hv->calls; c; c = c->next)
		c->hv = NULL;
	/* Closing with a request held makes the kernel answer it HV_E_FAIL at once. */
	hvchan_close(hv);
	free(hv->path);
	free(hv);
}

static bool put_last(const struct hyperv *hv, struct json_object *o)
{
	struct json_object *l;

	if (!hv->last_op[0])
		return true;
	l = json_object_new_object();
	if (!jput(l, "op", json_object_new_string(hv->last_op)) ||
	    !jput(l, "answer", json_object_new_string(hv->last_result)) ||
	    !jput(l, "ms", json_object_new_double(hv->last_ms))) {
		json_object_put(l);
		return false;
	}
	return jput(o, "last", l);
}

int hyperv_status(const struct hyperv *hv, struct json_object *out)
{
	struct json_object *o = json_object_new_object();
	bool ok = jput(o, "path", json_object_new_string(hv->path)) &&
		jput(o, "channel", json_object_new_string(hv->fd < 0 ? "none" :
							  hv->is_socket ? "socket" : "device")) &&
		jput(o, "state", json_object_new_string(state_name(hv->state))) &&
		(!hv->kernel_version ||
		 jput(o, "kernel_version", json_object_new_int64((int64_t)hv->kernel_version))) &&
		(hv->state != HV_BUSY ||
		 jput(o, "request", json_object_new_string(op_name(hv->req.op)))) &&
		jput(o, "frozen_for_hyperv", json_object_new_boolean(hv->frozen_by_us)) &&
		jput(o, "requests", json_object_new_int64((int64_t)hv->n_requests)) &&
		jput(o, "registrations", json_object_new_int64((int64_t)hv->n_registrations)) &&
		jput(o, "resets", json_object_new_int64((int64_t)hv->n_resets)) &&
		jput(o, "overdue", json_object_new_int64((int64_t)hv->n_deadlines)) &&
		jput(o, "freeze_budget_ms", json_object_new_int64((int64_t)hv->freeze_budget_ms)) &&
		jput(o, "budget_ms", json_object_new_int64((int64_t)hv->budget_ms)) &&
		put_last(hv, o);

	if (!ok) {
		json_object_put(o);
		return -1;
	}
	return jput(out, "hyperv", o) ? 0 : -1;
}
