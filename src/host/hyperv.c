#include "host/hyperv.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/host.h"
#include "engine/txn.h"
#include "host/hvwire.h"

/* The kernel's timers for our answer (drivers/hv/hv_snapshot.c: VSS_FREEZE_TIMEOUT,
 * drivers/hv/hyperv_vmbus.h: HV_UTIL_TIMEOUT). They start when the kernel hands us
 * the request; past them the host has HV_E_FAIL and our late answer is refused. */
#define KERNEL_FREEZE_TIMEOUT_MS (900u * 1000)
#define KERNEL_TIMEOUT_MS (30u * 1000)

#define ORIGIN "hyperv"
#define HANDSHAKE_TIMEOUT_MS 10000     /* the kernel answers a registration at once */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
#define READ_BUF 64                    /* more than any message: a longer one is an error */
#define LEASE_WARN_MS 10000

enum hv_state {
	HV_CLOSED,      /* waiting to (re)open */
	HV_HANDSHAKE,   /* registered, waiting for the kernel's 4-byte answer */
	HV_READY,       /* waiting for a request */
	HV_BUSY,        /* a request is with the engine: the kernel sends nothing else */
	HV_RESETTING,   /* the channel failed: thawing what Hyper-V froze before reopening */
};

enum call_kind { CALL_REQUEST, CALL_UNDO };

/* One engine_submit(). The engine calls back exactly once, maybe after the request
 * it served was answered by the deadline or lost with the channel (gen differs). */
struct hv_call {
	struct hyperv *hv;          /* NULL once the adapter is gone */
	enum call_kind kind;
	uint64_t gen;
	bool ended_early;           /* THAW of a freeze that had already ended */
	struct hv_call *prev, *next;
};

struct hyperv {
	struct host_ctx *ctx;
	char *path;
	bool is_socket;
	int fd;
	enum hv_state state;
	struct loop_timer retry;    /* reopen */
	struct loop_timer deadline; /* handshake, the held request's budget, the reset's thaw */
	uint64_t backoff_ms;
	int last_open_err;          /* a failure logged once, then at debug level */
	bool started;
	uint32_t kernel_version;

	uint64_t freeze_budget_ms;  /* the kernel's timers (QUIESCE_HV_KERNEL_TIMEOUTS) */
	uint64_t budget_ms;

	struct hvwire_request req;  /* the request held (HV_BUSY) */
	uint64_t gen;               /* bumped for each request, and when one is given up */
	uint64_t req_t0;
	bool frozen_by_us;          /* our FREEZE succeeded and no THAW of ours ended it */
	unsigned undo_pending;      /* thaws started on our own (reset, abandoned freeze) */
	struct hv_call *calls;

	unsigned long n_requests, n_registrations, n_resets, n_deadlines;
	char last_op[16];
	char last_result[16];
	double last_ms;
};

static void open_channel(struct hyperv *hv);
static void channel_failed(struct hyperv *hv);

static const char *state_name(enum hv_state s)
{
	static const char *const n[] = { "closed", "registering", "ready", "busy", "resetting" };
	return (unsigned)s < ARRAY_SIZE(n) ? n[s] : "?";
}

static const char *op_name(unsigned op)
{
	const char *n = hvwire_op_name(op);
	return n ? n : "unknown";
}

/* Answer by: the budget less a margin for the way back through the kernel. */
static uint64_t answer_by(uint64_t budget_ms)
{
	uint64_t margin = budget_ms / 5 < 5000 ? budget_ms / 5 : 5000;
	return budget_ms - margin;
}

static uint64_t request_deadline(const struct hyperv *hv, unsigned op)
{
	return answer_by(op == HVWIRE_OP_FREEZE ? hv->freeze_budget_ms : hv->budget_ms);
}

static bool engine_is_ours(const struct hyperv *hv)
{
	const char *o = engine_origin(hv->ctx->engine);
	return o && strcmp(o, ORIGIN) == 0;
}

/* ------------------------------------------------------------ channel I/O */

static ssize_t chan_read(struct hyperv *hv, void *buf, size_t len)
{
	/* MSG_TRUNC: the real length of a longer packet, so it is refused, not cut. */
	if (hv->is_socket)
		return recv(hv->fd, buf, len, MSG_DONTWAIT | MSG_TRUNC);
	/* The device's read blocks whatever O_NONBLOCK says: we only get here after
	 * EPOLLIN, when a message is queued. */
	return read(hv->fd, buf, len);
}

static ssize_t chan_write(struct hyperv *hv, const void *buf, size_t len)
{
	/* A write to the device never blocks; a socket must not raise SIGPIPE. */
	if (hv->is_socket)
		return send(hv->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return write(hv->fd, buf, len);
}

static void close_fd(struct hyperv *hv)
{
	if (hv->fd < 0)
		return;
	loop_del_fd(hv->ctx->loop, hv->fd);
	close(hv->fd);
	hv->fd = -1;
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
static bool undo_ours(struct hyperv *hv, const char *why)
{
	enum txn_state s = engine_state(hv->ctx->engine);
	struct txn_request req = { .op = TXN_THAW, .origin = ORIGIN };

	if (hv->undo_pending)
		return true; /* one thaw undoes it all */
	if (!engine_is_ours(hv) || (s != TXN_FREEZING && s != TXN_FROZEN))
		return false;
	log_notice("VSS: %s: thawing what Hyper-V froze", why);
	hv->undo_pending++;
	submit(hv, &req, CALL_UNDO, false);
	return hv->undo_pending > 0;
}

/* ------------------------------------------------------------ opening, reopening */

static void on_retry(struct loop *loop, void *arg)
{
	(void)loop;
	open_channel(arg);
}

static void schedule_open(struct hyperv *hv, uint64_t delay_ms)
{
	hv->state = HV_CLOSED;
	loop_timer_disarm(hv->ctx->loop, &hv->deadline);
	loop_timer_arm(hv->ctx->loop, &hv->retry, delay_ms, on_retry, hv);
}

/* After a failure to open or register: wait longer each time, up to the maximum. */
static void retry_later(struct hyperv *hv)
{
	close_fd(hv);
	hv->backoff_ms = hv->backoff_ms ? hv->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (hv->backoff_ms > BACKOFF_MAX_MS)
		hv->backoff_ms = BACKOFF_MAX_MS;
	log_debug("hyperv: retrying in %.1f s", (double)hv->backoff_ms / 1000.0);
	schedule_open(hv, hv->backoff_ms);
}

/* A failure to open or register is logged once, then at debug level while it repeats
 * (quiesced retries for as long as it runs). */
static bool first_time(struct hyperv *hv, int code)
{
	bool again = code == hv->last_open_err;
	hv->last_open_err = code;
	return !again;
}

static void log_open_failure(struct hyperv *hv, int err)
{
	if (!first_time(hv, err)) {
		log_debug("open %s failed; error: %d %s", hv->path, err, strerror(err));
		return;
	}
	if (err == EBUSY)
		log_errx("open %s failed; error: %d %s: another VSS daemon holds it "
			 "(hv_vss_daemon, hypervvssd: stop and disable it, see docs/hyperv.md); "
			 "quiesced keeps trying, every %u s at most", hv->path, err, strerror(err),
			 BACKOFF_MAX_MS / 1000);
	else if (err == ENOENT && !hv->is_socket)
		log_errx("open %s failed; error: %d %s: not a Hyper-V guest, or the hv_utils "
			 "module is not loaded; quiesced keeps trying", hv->path, err, strerror(err));
	else
		log_errx("open %s failed; error: %d %s; quiesced keeps trying", hv->path, err,
			 strerror(err));
}

static int connect_socket(struct hyperv *hv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	size_t n = strlen(hv->path);
	int fd;

	if (n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (hv->path[0] == '@') {
		/* Abstract: no terminating NUL counts, as hvsim binds it. */
		memcpy(sa.sun_path + 1, hv->path + 1, n - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		memcpy(sa.sun_path, hv->path, n);
		len = sizeof(sa);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg);
static void on_deadline(struct loop *loop, void *arg);

static void open_channel(struct hyperv *hv)
{
	uint8_t msg[HVWIRE_MSG_SIZE];
	struct stat st;
	ssize_t n;

	if (!hv->started) {
		hv->started = true;
		/* hv_vss_daemon's first line, for the log searches that expect it. */
		log_info("VSS starting; pid is:%d", (int)getpid());
	}
	close_fd(hv);
	hv->is_socket = hv->path[0] == '@' || (stat(hv->path, &st) == 0 && S_ISSOCK(st.st_mode));
	hv->fd = hv->is_socket ? connect_socket(hv) : open(hv->path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (hv->fd < 0) {
		log_open_failure(hv, errno);
		retry_later(hv);
		return;
	}
	/* Register: a 12-byte message with operation REGISTER1; the kernel answers with
	 * 4 bytes before it sends anything else. */
	hvwire_encode_register(msg);
	n = chan_write(hv, msg, sizeof(msg));
	if (n != (ssize_t)sizeof(msg)) {
		int err = n < 0 ? errno : EIO;
		/* Closed at once counts as one failure with the handshake's end of file:
		 * which of the two a second opener sees is a race. */
		bool closed = err == EPIPE || err == ECONNRESET;
		if (first_time(hv, closed ? -1 : -10 - err))
			log_errx("registration to kernel failed; error: %d %s%s; quiesced keeps trying",
				 err, strerror(err), closed ?
				 " (the channel was closed at once: does another VSS daemon hold it?)" : "");
		retry_later(hv);
		return;
	}
	if (loop_add_fd(hv->ctx->loop, hv->fd, EPOLLIN, on_fd, hv) < 0) {
		log_warn("hyperv: cannot watch %s", hv->path);
		retry_later(hv);
		return;
	}
	hv->state = HV_HANDSHAKE;
	loop_timer_arm(hv->ctx->loop, &hv->deadline, HANDSHAKE_TIMEOUT_MS, on_deadline, hv);
	log_debug("hyperv: %s open (%s), registration sent", hv->path,
		  hv->is_socket ? "socket" : "device");
}

/* The channel is dead (read or write failure, EOF, a reset by the kernel). Whatever
 * request we held, the kernel has answered it with HV_E_FAIL: drop it, thaw what
 * Hyper-V froze, then reopen and register again. */
static void channel_failed(struct hyperv *hv)
{
	bool was_working = hv->state == HV_READY || hv->state == HV_BUSY;

	if (hv->state == HV_BUSY)
		hv->gen++;
	close_fd(hv);
	loop_timer_disarm(hv->ctx->loop, &hv->deadline);
	if (!was_working) {
		retry_later(hv);
		return;
	}
	hv->n_resets++;
	hv->state = HV_RESETTING;
	if (undo_ours(hv, "the channel was reset")) {
		/* Bounded: reopen anyway if the thaw takes longer than a THAW may. */
		if (hv->state == HV_RESETTING)
			loop_timer_arm(hv->ctx->loop, &hv->deadline, answer_by(hv->budget_ms),
				       on_deadline, hv);
		return;
	}
	hv->backoff_ms = 0;
	schedule_open(hv, 0);
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
	n = chan_write(hv, out, sizeof(out));
	if (n != (ssize_t)sizeof(out)) {
		/* A late answer (the kernel timed out), the reply to the hibernation fake
		 * THAW, a reset: the kernel refuses it with EINVAL. */
		int err = n < 0 ? errno : EIO;
		log_errx("write failed; error: %d %s", err, strerror(err));
		channel_failed(hv);
		return;
	}
	hv->state = HV_READY;
	if (loop_mod_fd(hv->ctx->loop, hv->fd, EPOLLIN) < 0) {
		log_warn("hyperv: cannot watch %s", hv->path);
		channel_failed(hv);
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

static void freeze_done(struct hyperv *hv, const struct txn_result *res)
{
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
	log_errx("VSS: FREEZE: %s (%s)", res->message, txn_err_name(res->err));
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
		log_errx("VSS: THAW: %s (%s)", res->message, txn_err_name(res->err));
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
		 txn_err_name(res->err));
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
			 txn_err_name(res->err));
	if (hv->state == HV_RESETTING && !hv->undo_pending) {
		hv->backoff_ms = 0;
		schedule_open(hv, 0);
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
			   txn_op_name(res->op), res->err == TXN_OK ? "ok" : res->message);
		if (res->op == TXN_FREEZE && res->err == TXN_OK)
			undo_ours(hv, "a freeze finished after its answer");
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
	struct engine *e = hv->ctx->engine;
	struct txn_request req = { .op = TXN_FREEZE, .origin = ORIGIN };

	if (engine_state(e) == TXN_FROZEN) {
		if (engine_is_ours(hv)) {
			/* hv_vss_daemon answers a second FREEZE 0 (its FIFREEZEs get EBUSY,
			 * which it counts as success). The freeze and its lease go on. */
			log_info("VSS: op=FREEZE: succeeded (already frozen for Hyper-V)");
			send_reply(hv, HVWIRE_S_OK);
		} else {
			/* Someone else's freeze: its owner may thaw it during the checkpoint,
			 * and our THAW would not be allowed to end it. */
			log_errx("VSS: op=FREEZE: failed");
			log_errx("VSS: FREEZE: the filesystems are frozen by %s, not for Hyper-V",
				 engine_origin(e));
			send_reply(hv, HVWIRE_E_FAIL);
		}
		return;
	}
	/* Busy (a check, a freeze or a thaw under way) is answered by the engine. */
	submit(hv, &req, CALL_REQUEST, false);
}

static void do_thaw(struct hyperv *hv)
{
	struct engine *e = hv->ctx->engine;
	enum txn_state s = engine_state(e);
	struct txn_request req = { .op = TXN_THAW, .origin = ORIGIN, .reply_after_fs = true };

	if (engine_is_ours(hv) && s != TXN_CHECKING) {
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
			 "for %s now, left alone)", txn_state_name(s), engine_origin(e));
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
	struct txn_request req = { .op = TXN_CHECK, .origin = ORIGIN };
	log_info("VSS: op=CHECK HOT BACKUP");
	/* A required app's veto fails the CHECK in the apps stage, a candidate that
	 * cannot be frozen in the filesystems stage: either way HV_E_FAIL (check_done). */
	submit(hv, &req, CALL_REQUEST, false);
}

static void handle_request(struct hyperv *hv, const struct hvwire_request *req)
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
		channel_failed(hv);
		return;
	}
	loop_timer_arm(hv->ctx->loop, &hv->deadline, request_deadline(hv, req->op), on_deadline, hv);
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
static void request_overdue(struct hyperv *hv)
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
		undo_ours(hv, "FREEZE given up");
}

static void on_deadline(struct loop *loop, void *arg)
{
	struct hyperv *hv = arg;
	(void)loop;
	switch (hv->state) {
	case HV_HANDSHAKE:
		if (first_time(hv, -3))
			log_errx("invalid version negotiation: no answer to the registration within "
				 "%u s; quiesced keeps trying", HANDSHAKE_TIMEOUT_MS / 1000);
		retry_later(hv);
		break;
	case HV_BUSY:
		request_overdue(hv);
		break;
	case HV_RESETTING:
		log_errx("failed to thaw file system: the thaw after the reset did not finish in "
			 "%.0f s; reopening %s anyway", (double)answer_by(hv->budget_ms) / 1000.0,
			 hv->path);
		hv->backoff_ms = 0;
		schedule_open(hv, 0);
		break;
	default:
		break;
	}
}

/* The kernel's answer to our registration did not come (n: what read returned, -1
 * with err, 0 for EOF; or -1 with err 0: the channel closed). The kernel closes the
 * channel of a second opener at once (EBUSY, as hvsim emulates it); the device
 * itself refuses the open. */
static void handshake_failed(struct hyperv *hv, ssize_t n, int err)
{
	int code = n > 0 ? -2 : -1;
	if (!first_time(hv, code))
		log_debug("invalid version negotiation (again)");
	else if (n > 0)
		log_errx("invalid version negotiation: %zd bytes (expected %d); quiesced keeps "
			 "trying", n, HVWIRE_VERSION_SIZE);
	else
		log_errx("invalid version negotiation: the channel closed during the registration "
			 "(%s; does another VSS daemon hold it?); quiesced keeps trying",
			 n < 0 && err ? strerror(err) : "end of file");
	channel_failed(hv);
}

static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct hyperv *hv = arg;
	uint8_t buf[READ_BUF];
	struct hvwire_request req;
	uint32_t version;
	ssize_t n;
	int err;
	(void)loop;
	(void)fd;

	if (hv->state == HV_BUSY) {
		/* Only EPOLLHUP/EPOLLERR are watched while we hold a request. */
		log_errx("read failed; error: the channel was closed while op=%s was under way "
			 "(the kernel has answered it HV_E_FAIL)", op_name(hv->req.op));
		channel_failed(hv);
		return;
	}
	if (!(events & EPOLLIN)) {
		if (hv->state == HV_HANDSHAKE)
			handshake_failed(hv, -1, 0);
		else {
			log_errx("read failed; error: the channel was closed");
			channel_failed(hv);
		}
		return;
	}
	n = chan_read(hv, buf, sizeof(buf));
	err = errno;
	if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return; /* woken with nothing queued: poll again */

	if (hv->state == HV_HANDSHAKE) {
		if (n <= 0 || hvwire_decode_version(buf, (size_t)n, &version) != HVWIRE_OK) {
			handshake_failed(hv, n, err);
			return;
		}
		loop_timer_disarm(hv->ctx->loop, &hv->deadline);
		hv->kernel_version = version;
		hv->state = HV_READY;
		hv->n_registrations++;
		hv->backoff_ms = 0;
		if (hv->last_open_err) {
			log_notice("hyperv: %s is open now", hv->path);
			hv->last_open_err = 0;
		}
		log_info("VSS: kernel module version: %u", version);
		return;
	}

	if (n < 0) {
		log_errx("read failed; error:%d %s", err, strerror(err));
		channel_failed(hv);
		return;
	}
	if (hvwire_decode_request(buf, (size_t)n, &req) != HVWIRE_OK) {
		if (n == 0)
			log_errx("read failed; error: the channel was closed");
		else
			log_errx("read failed; error: a message of %zd bytes (expected %d)", n,
				 HVWIRE_MSG_SIZE);
		channel_failed(hv);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* The kernel reset the channel right after sending it: it has already
		 * answered HV_E_FAIL, so doing the work would only freeze for nobody. */
		log_errx("read failed; error: the channel was closed with op=%s unanswered "
			 "(not done; the kernel has answered it HV_E_FAIL)", op_name(req.op));
		channel_failed(hv);
		return;
	}
	handle_request(hv, &req);
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

int hyperv_start(struct host_ctx *ctx, const struct hyperv_config *cfg, struct hyperv **out)
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
	schedule_open(hv, 0);
	*out = hv;
	return 0;
}

void hyperv_close(struct hyperv *hv)
{
	if (!hv)
		return;
	loop_timer_disarm(hv->ctx->loop, &hv->retry);
	loop_timer_disarm(hv->ctx->loop, &hv->deadline);
	/* Calls the engine still owes us are answered to nobody. */
	for (struct hv_call *c = hv->calls; c; c = c->next)
		c->hv = NULL;
	/* Closing with a request held makes the kernel answer it HV_E_FAIL at once. */
	close_fd(hv);
	free(hv->path);
	free(hv);
}

void hyperv_status(const struct hyperv *hv, struct json_object *out)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "path", json_object_new_string(hv->path));
	json_object_object_add(o, "channel", json_object_new_string(hv->fd < 0 ? "none" :
				hv->is_socket ? "socket" : "device"));
	json_object_object_add(o, "state", json_object_new_string(state_name(hv->state)));
	if (hv->kernel_version)
		json_object_object_add(o, "kernel_version",
				       json_object_new_int64((int64_t)hv->kernel_version));
	if (hv->state == HV_BUSY)
		json_object_object_add(o, "request", json_object_new_string(op_name(hv->req.op)));
	json_object_object_add(o, "frozen_for_hyperv", json_object_new_boolean(hv->frozen_by_us));
	json_object_object_add(o, "requests", json_object_new_int64((int64_t)hv->n_requests));
	json_object_object_add(o, "registrations",
			       json_object_new_int64((int64_t)hv->n_registrations));
	json_object_object_add(o, "resets", json_object_new_int64((int64_t)hv->n_resets));
	json_object_object_add(o, "overdue", json_object_new_int64((int64_t)hv->n_deadlines));
	json_object_object_add(o, "freeze_budget_ms",
			       json_object_new_int64((int64_t)hv->freeze_budget_ms));
	json_object_object_add(o, "budget_ms", json_object_new_int64((int64_t)hv->budget_ms));
	if (hv->last_op[0]) {
		struct json_object *l = json_object_new_object();
		json_object_object_add(l, "op", json_object_new_string(hv->last_op));
		json_object_object_add(l, "answer", json_object_new_string(hv->last_result));
		json_object_object_add(l, "ms", json_object_new_double(hv->last_ms));
		json_object_object_add(o, "last", l);
	}
	json_object_object_add(out, "hyperv", o);
}
