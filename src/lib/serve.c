// SPDX-License-Identifier: MIT
/*
 * libquiesce: read requests, answer them, and the blocking loop around both.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "quiesce.h"
#include "lib/internal.h"

int
quiesce_next_request(struct quiesce *q, struct quiesce_request *req, int timeout_ms)
{
	uint64_t deadline = quiesce__deadline(timeout_ms);
	uint8_t buf[APPWIRE_MAX_FRAME];
	struct appwire_msg m;
	int n;

	if (q == NULL || req == NULL)
		return -EINVAL;
	if (q->dead)
		return -ENOTCONN;
	/* One request at a time: the daemon sends the next only after our answer. */
	if (q->pending)
		return -EBUSY;
	if (q->stashed) {
		/* Read earlier by quiesce_filesystems(), while it waited for its answer. */
		q->stashed = 0;
		m = q->stash;
		goto got;
	}
	/* Not quiesce__recv_frame_wait(): waiting in vain (a timeout, a signal) keeps the
	 * connection, only a failed read ends it. */
	for (;;) {
		n = quiesce__recv_frame(q->fd, buf, sizeof(buf));
		if (n != -EAGAIN)
			break;
		if ((n = quiesce__wait(q->fd, POLLIN, -1, deadline)) < 0)
			return n;
	}
	if (n < 0) {
		quiesce__kill(q, n);
		return n;
	}
	if (appwire_decode_request(buf, (size_t)n, &m) != APPWIRE_OK) {
		quiesce__kill(q, -EPROTO);
		return -EPROTO;
	}
got:
	q->req = m;
	q->detail[0] = '\0';
	q->pending = 1;
	/* From here on thawing is the app's job, whether or not the reply gets through. */
	if (m.opt == APPWIRE_OP_THAW)
		q->frozen = 0;
	memset(req, 0, sizeof(*req));
	req->op = m.opt;
	req->msgid = m.msgid;
	req->deadline_ns = quiesce__now_ns() + (uint64_t)q->timeout_ms * 1000000u;
	return 0;
}

int
quiesce_reply(struct quiesce *q, const struct quiesce_request *req, int status)
{
	uint8_t buf[APPWIRE_DETAIL_SIZE];
	struct appwire_msg m;
	size_t len = APPWIRE_MSG_SIZE;
	ssize_t n;

	if (q == NULL || req == NULL)
		return -EINVAL;
	if (q->dead)
		return -ENOTCONN;
	if (!q->pending || req->msgid != q->req.msgid || req->op != q->req.opt)
		return -EINVAL;
	m = q->req;
	m.status = status == QUIESCE_SUCCESS ? APPWIRE_STATUS_SUCCESS : APPWIRE_STATUS_FAIL;
	/* Holding writes starts now, even if the answer is lost on the way: see quiesce_frozen(). */
	if (m.opt == APPWIRE_OP_FREEZE && m.status == APPWIRE_STATUS_SUCCESS)
		q->frozen = 1;
	/* A detail goes in the version 2 frame; without one, the plain reply. */
	if (q->version >= 2 && appwire_detail_len(q->detail) > 0) {
		appwire_encode_reply_detail(buf, &m, q->detail);
		len = APPWIRE_DETAIL_SIZE;
	} else {
		appwire_encode_msg(buf, &m);
	}
	n = send(q->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		/* A full socket can only mean the daemon stopped reading; the caller may retry. */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		n = errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN ? -ECONNRESET : -errno;
		quiesce__kill(q, (int)n);
		return (int)n;
	}
	q->pending = 0;
	q->detail[0] = '\0';
	return 0;
}

int
quiesce_set_detail(struct quiesce *q, const char *detail)
{
	if (q == NULL)
		return -EINVAL;
	if (q->version < 2)
		return -EOPNOTSUPP;
	if (!q->pending)
		return -EINVAL;
	snprintf(q->detail, sizeof(q->detail), "%s", detail != NULL ? detail : "");
	return 0;
}

/* Consume a pending quiesce_stop(). 1 if there was one. */
static int
stop_requested(struct quiesce *q)
{
	uint64_t v;

	return read(q->stop_fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

static int
dispatch(const struct quiesce_callbacks *cb, void *arg, const struct quiesce_request *req)
{
	int (*fn)(void *, const struct quiesce_request *) = NULL;

	if (cb != NULL) {
		if (req->op == QUIESCE_CHECK)
			fn = cb->on_check;
		else if (req->op == QUIESCE_FREEZE)
			fn = cb->on_freeze;
		else if (req->op == QUIESCE_THAW)
			fn = cb->on_thaw;
	}
	return fn != NULL ? fn(arg, req) : QUIESCE_SUCCESS;
}

/* The connection ended with the app frozen: nobody will send THAW, so make one up. */
static int
lost(struct quiesce *q, const struct quiesce_callbacks *cb, void *arg, int err)
{
	struct quiesce_request thaw;

	if (q->frozen) {
		q->frozen = 0;
		memset(&thaw, 0, sizeof(thaw));
		thaw.op = QUIESCE_THAW;
		if (cb != NULL && cb->on_thaw != NULL)
			cb->on_thaw(arg, &thaw);
	}
	return err;
}

int
quiesce_run(struct quiesce *q, const struct quiesce_callbacks *cb, void *arg, int timeout_ms)
{
	uint64_t deadline = quiesce__deadline(timeout_ms);
	struct quiesce_request req;
	int r;

	if (q == NULL)
		return -EINVAL;
	if (q->dead)
		return lost(q, cb, arg, -ENOTCONN);
	for (;;) {
		if (stop_requested(q))
			return 0;
		r = quiesce_next_request(q, &req, 0);
		if (r == -ETIMEDOUT) {
			r = quiesce__wait(q->fd, POLLIN, q->stop_fd, deadline);
			if (r == -ETIMEDOUT)
				return 0;
			if (r < 0)
				return r;
			continue;
		}
		/* Only a lost connection ends the hold; -EBUSY or -EAGAIN leave it alive. */
		if (r < 0)
			return q->dead ? lost(q, cb, arg, r) : r;
		r = quiesce_reply(q, &req, dispatch(cb, arg, &req));
		if (r < 0)
			return q->dead ? lost(q, cb, arg, r) : r;
		if (deadline != QUIESCE_NO_DEADLINE && quiesce__now_ns() >= deadline)
			return 0;
	}
}

void
quiesce_stop(struct quiesce *q)
{
	uint64_t one = 1;
	int saved = errno;
	ssize_t r;

	if (q == NULL)
		return;
	/* A full counter (2^64-2 stops) still reads as "stop"; ignore EAGAIN. */
	r = write(q->stop_fd, &one, sizeof(one));
	(void)r;
	errno = saved;
}
