// SPDX-License-Identifier: MIT
/* One app connection once it is there: a frame received (one per wakeup), a request
 * sent and its reply, the deadline and the late window, the v2 query, and the end of
 * it: hang-up or drop, after which the daemon and the other apps go on. The hello
 * itself is apphello.c's. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apps/registry_int.h"
#include "common/util.h"

/* More than APPWIRE_MAX_FRAME, so that an oversize frame shows as such. */
#define RECV_BUF 256

static uint32_t wire_op(enum txn_op op)
{
	return op == TXN_CHECK ? APPWIRE_OP_CHECK : op == TXN_FREEZE ? APPWIRE_OP_FREEZE
								 : APPWIRE_OP_THAW;
}

void appconn_set_frozen(struct registry *r, struct app *a, bool frozen)
{
	if (a->frozen == frozen)
		return;
	a->frozen = frozen;
	if (frozen)
		r->n_frozen++;
	else
		r->n_frozen--;
}

static void note_last(struct app *a, uint32_t op, const char *result, uint64_t latency)
{
	a->last_op = op;
	a->last_result = result;
	a->last_latency_ns = latency;
	a->last_at_wall = wall_ms();
}

/* The app is gone (hang-up or dropped): §4.5 of the protocol. Frees it. */
void appconn_gone(struct app *a)
{
	struct registry *r = a->reg;
	bool in_phase = (a->state == APP_WAITING || a->state == APP_LATE) && r->running &&
			a->out_gen == r->gen;

	loop_timer_disarm(r->loop, &a->timer);
	loop_del_fd(r->loop, a->fd);
	close(a->fd);
	a->fd = -1;
	if (a->state != APP_HELLO && a->out_gen == r->gen && a->out_member < r->n_members &&
	    r->members[a->out_member].app == a)
		r->members[a->out_member].app = NULL;
	apphello_unlink(r, a);
	if (a->frozen) {
		/* It holds nothing any more: a frozen app thaws itself on a lost connection. */
		appconn_set_frozen(r, a, false);
		log_info("app %s (id %u): disconnected while frozen; it counts as thawed", a->name,
			 a->id);
	}
	if (in_phase)
		appphase_member_done(r, a->out_member, M_GONE, now_ns() - a->sent_ns);
	free(a);
	appaccept_resume(r);
}

void appconn_drop(struct app *a, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (a->state == APP_HELLO)
		log_warnx("app connection (pid %d, uid %u): %s; closed", (int)a->pid, a->uid, why);
	else
		log_warnx("app %s (id %u, pid %d): %s; dropped", a->name, a->id, (int)a->pid, why);
	appconn_gone(a);
}

void appconn_hangup(struct app *a, int err)
{
	bool busy = a->state == APP_WAITING || a->state == APP_LATE;
	if (a->state == APP_HELLO) {
		log_debug("app connection (pid %d) closed before registering", (int)a->pid);
	} else if (busy || a->frozen) {
		log_warnx("app %s (id %u, pid %d) disconnected%s%s%s", a->name, a->id, (int)a->pid,
			  busy ? " with " : "", busy ? appwire_op_name(a->out.opt) : "",
			  busy ? " outstanding" : " while frozen");
	} else {
		log_info("app %s (id %u, pid %d) disconnected%s%s", a->name, a->id, (int)a->pid,
			 err ? ": " : "", err ? strerror(err) : "");
	}
	appconn_gone(a);
}

/* Send one frame. SEQPACKET sends whole records; EAGAIN cannot happen with a live app
 * (one frame in flight) and counts as a hang-up, as any other failure does. */
int appconn_send_frame(struct app *a, const void *buf, size_t len)
{
	ssize_t n = send(a->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : -1;
}

/* Send a request; on failure the app is gone (freed) and -1 returned. */
int appconn_send_request(struct app *a, enum txn_op op, unsigned gen, size_t member)
{
	struct registry *r = a->reg;
	uint8_t buf[APPWIRE_MSG_SIZE];

	a->out.opt = wire_op(op);
	a->out.status = APPWIRE_STATUS_SUCCESS;
	a->out.msgid = ++r->next_msgid;
	a->out_gen = gen;
	a->out_member = member;
	a->sent_ns = now_ns();
	if (gen)
		r->members[member].msgid = a->out.msgid;
	appwire_encode_msg(buf, &a->out);
	if (op == TXN_THAW)
		appconn_set_frozen(r, a, false);   /* FROZEN is cleared by sending THAW */
	a->state = APP_WAITING;
	if (appconn_send_frame(a, buf, sizeof(buf)) < 0) {
		appconn_hangup(a, errno == EAGAIN ? 0 : errno);
		return -1;
	}
	loop_timer_arm(r->loop, &a->timer, a->timeout_ms, appconn_on_timer, a);
	log_debug("app %s (id %u): %s msgid %llu sent", a->name, a->id,
		  appwire_op_name(a->out.opt), (unsigned long long)a->out.msgid);
	return 0;
}

/* A FREEZE success that arrived after its phase: the app holds its writes and is owed
 * a THAW (§4.4). With the transaction's THAW if it is still to come, else now: by then
 * no filesystem is frozen, since the apps stage thaws last. */
static void owe_thaw(struct app *a)
{
	struct registry *r = a->reg;
	appconn_set_frozen(r, a, true);
	if (r->held) {
		log_info("app %s (id %u): frozen late; it gets THAW with the transaction's thaw",
			 a->name, a->id);
		return;
	}
	log_info("app %s (id %u): frozen after its freeze was over; sending THAW now", a->name,
		 a->id);
	appconn_send_request(a, TXN_THAW, 0, 0);
}

static void on_reply(struct app *a, const uint8_t *buf, size_t len)
{
	struct registry *r = a->reg;
	struct appwire_msg rep;
	char detail[APPWIRE_DETAIL_FIELD] = "";
	enum appwire_err e;
	bool late = a->state == APP_LATE, in_phase, owed = a->out_gen == 0;
	bool success;
	uint64_t latency;
	size_t member;

	if (len != APPWIRE_MSG_SIZE && !(len == APPWIRE_DETAIL_SIZE && a->version >= 2)) {
		appconn_drop(a, "wrong frame size %zu", len);
		return;
	}
	e = len == APPWIRE_MSG_SIZE ? appwire_decode_reply(buf, len, &rep)
				    : appwire_decode_reply_detail(buf, len, &rep, detail);
	if (e != APPWIRE_OK) {
		appconn_drop(a, "bad reply: %s", appwire_strerror(e));
		return;
	}
	if (appwire_reply_matches(&a->out, &rep) != APPWIRE_OK) {
		appconn_drop(a, "reply does not match the request (got %s msgid %llu, asked %s msgid %llu)",
			     appwire_op_name(rep.opt), (unsigned long long)rep.msgid,
			     appwire_op_name(a->out.opt), (unsigned long long)a->out.msgid);
		return;
	}
	success = rep.status == APPWIRE_STATUS_SUCCESS;
	latency = now_ns() - a->sent_ns;
	loop_timer_disarm(r->loop, &a->timer);
	a->state = APP_IDLE;
	in_phase = !late && !owed && r->running && a->out_gen == r->gen &&
		   a->out_member < r->n_members && r->members[a->out_member].result == M_PENDING;
	member = a->out_member;
	a->out_gen = 0;
	appext_note_detail(a->name, a->id, rep.opt, detail, a->last_detail,
			   in_phase ? r->members[member].detail : NULL);
	if (in_phase) {
		note_last(a, rep.opt, success ? "ok" : "failed", latency);
		log_debug("app %s (id %u): %s %s in %.2f ms", a->name, a->id,
			  appwire_op_name(rep.opt), success ? "ok" : "failed", ns_to_ms(latency));
	} else if (late) {
		note_last(a, rep.opt, success ? "late ok" : "late failed", latency);
		log_info("app %s (id %u): late %s answer to %s msgid %llu after %.1f ms (timeout %u ms)",
			 a->name, a->id, success ? "success" : "failure", appwire_op_name(rep.opt),
			 (unsigned long long)rep.msgid, ns_to_ms(latency), a->timeout_ms);
	} else if (owed) {
		/* The answer to a THAW sent outside a phase (owed after a late freeze). */
		note_last(a, rep.opt, success ? "ok" : "failed", latency);
		log_info("app %s (id %u): %s %s in %.1f ms", a->name, a->id,
			 appwire_op_name(rep.opt), success ? "ok" : "failed", ns_to_ms(latency));
	} else {
		/* In time, but its phase had already ended (a required app failed first). */
		note_last(a, rep.opt, success ? "ok" : "failed", latency);
		log_info("app %s (id %u): %s answer to %s msgid %llu came after the %s was over",
			 a->name, a->id, success ? "success" : "failure", appwire_op_name(rep.opt),
			 (unsigned long long)rep.msgid, rep.opt == APPWIRE_OP_CHECK ? "check" :
			 rep.opt == APPWIRE_OP_FREEZE ? "freeze" : "thaw");
	}
	if (rep.opt == APPWIRE_OP_THAW && !success && !in_phase)
		log_warnx("app %s (id %u): THAW failed; it counts as thawed", a->name, a->id);
	if (in_phase) {
		if (rep.opt == APPWIRE_OP_FREEZE && success)
			appconn_set_frozen(r, a, true);
		appphase_member_done(r, member, success ? M_OK : M_FAILED, latency);
	} else if (rep.opt == APPWIRE_OP_FREEZE && success) {
		owe_thaw(a);   /* may drop a: do not touch it after this */
	}
}

/* v2: a question, in any registered state; the outstanding request stays as it is. */
static void on_query(struct app *a, const uint8_t *buf, size_t len)
{
	uint16_t kind;
	enum appwire_err e = appwire_decode_query(buf, len, &kind);

	if (e != APPWIRE_OK) {
		appconn_drop(a, "bad query: %s", appwire_strerror(e));
		return;
	}
	if (appext_answer_filesystems(a->fd, &a->reg->fs_source, a->name, a->id) < 0)
		appconn_hangup(a, errno == EAGAIN ? 0 : errno);
}

void appconn_on_timer(struct loop *loop, void *arg)
{
	struct app *a = arg;
	struct registry *r = a->reg;
	(void)loop;

	switch (a->state) {
	case APP_HELLO:
		log_warnx("app connection (pid %d, uid %u): no hello within %d s; closed",
			  (int)a->pid, a->uid, HELLO_TIMEOUT_MS / 1000);
		appconn_gone(a);
		return;
	case APP_WAITING: {
		bool in_phase = r->running && a->out_gen == r->gen && a->out_gen != 0 &&
				a->out_member < r->n_members &&
				r->members[a->out_member].result == M_PENDING;
		/* The late window: one more timeout for an answer (§3). */
		a->state = APP_LATE;
		note_last(a, a->out.opt, "timeout", 0);
		loop_timer_arm(r->loop, &a->timer, a->timeout_ms, appconn_on_timer, a);
		if (in_phase)
			appphase_member_done(r, a->out_member, M_TIMEOUT, now_ns() - a->sent_ns);
		else
			log_warnx("app %s (id %u): no answer to %s msgid %llu within %u ms", a->name,
				  a->id, appwire_op_name(a->out.opt),
				  (unsigned long long)a->out.msgid, a->timeout_ms);
		return;
	}
	case APP_LATE:
		appconn_drop(a, "hung: no answer to %s msgid %llu within twice its timeout (%u ms)",
			     appwire_op_name(a->out.opt), (unsigned long long)a->out.msgid,
			     2 * a->timeout_ms);
		return;
	case APP_IDLE:
		return;
	}
}

void appconn_on_event(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct app *a = arg;
	uint8_t buf[RECV_BUF];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	(void)loop;
	(void)events;

	/* One frame per wakeup: a chatty app cannot starve the others. */
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		appconn_hangup(a, errno == ECONNRESET ? 0 : errno);
		return;
	}
	if (n == 0) {
		appconn_hangup(a, 0);
		return;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		const char *what = mh.msg_flags & MSG_TRUNC ? "a frame longer than any frame"
							    : "a frame with ancillary data";
		if (a->state == APP_HELLO)
			apphello_refuse(a, APPWIRE_REFUSED_HELLO, "%s", what);
		else
			appconn_drop(a, "garbage: %s", what);
		return;
	}
	if (a->state != APP_HELLO && a->version >= 2 && n == APPWIRE_QUERY_SIZE) {
		on_query(a, buf, (size_t)n);
		return;
	}
	switch (a->state) {
	case APP_HELLO:
		apphello_on_hello(a, buf, (size_t)n);
		return;
	case APP_IDLE:
		appconn_drop(a, "reply to a request that was not asked (%zd bytes)", n);
		return;
	case APP_WAITING:
	case APP_LATE:
		on_reply(a, buf, (size_t)n);
		return;
	}
}
