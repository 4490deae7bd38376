// SPDX-License-Identifier: MIT
#include "host/jsonconn.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/jsonput.h"
#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/jsontext.h"

struct jsonconn {
	struct loop *loop;
	int fd;
	struct jsonconn_limits lim;
	const struct jsonconn_ops *ops;
	void *arg;
	struct json_tokener *tok;
	size_t value_bytes;      /* fed to the tokener since the last complete value */
	struct jsontext text;    /* what json-c does not check in this value's strings */
	char *out;
	size_t out_len, out_cap;
	bool closing;            /* close once out is written */
	bool dead;               /* closed; freed when the current callback returns */
	bool skipping;           /* skip_line: dropping input up to the next newline */
	bool paused;             /* keep_on_hup: not polled until hup_timer fires */
	int in_callback;
	struct loop_timer close_timer;
	struct loop_timer hup_timer;
	struct loop_timer value_timer;  /* lim.value_timeout_ms from a value's first byte */
};

#define HUP_RETRY_MS 250

const char *jsonconn_why_depth(void)
{
	return json_tokener_error_desc(json_tokener_error_depth);
}

static void conn_free(struct jsonconn *c)
{
	loop_timer_disarm(c->loop, &c->close_timer);
	loop_timer_disarm(c->loop, &c->hup_timer);
	loop_timer_disarm(c->loop, &c->value_timer);
	json_tokener_free(c->tok);
	free(c->out);
	free(c);
}

void jsonconn_free(struct jsonconn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	loop_del_fd(c->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->in_callback++;
	if (c->ops->on_close)
		c->ops->on_close(c, c->arg);
	c->in_callback--;
	if (!c->in_callback)
		conn_free(c);
}

static void reset_parser(struct jsonconn *c)
{
	json_tokener_reset(c->tok);
	c->value_bytes = 0;
	jsontext_reset(&c->text);
	loop_timer_disarm(c->loop, &c->value_timer);
}

static void on_value_timer(struct loop *loop, void *arg)
{
	struct jsonconn *c = arg;
	(void)loop;
	if (c->skipping)
		log_warnx("a bad line did not end within %u ms: closing the connection",
			  c->lim.value_timeout_ms);
	else
		log_warnx("a request did not arrive whole within %u ms (%zu bytes of it): closing "
			  "the connection", c->lim.value_timeout_ms, c->value_bytes);
	jsonconn_free(c);
}

/* A value json-c took but the connection does not (jsontext.h): why, or NULL. */
static const char *text_refused(struct jsonconn *c, struct json_object *v)
{
	if (c->lim.strict_utf8 && c->text.bad_utf8)
		return json_tokener_error_desc(json_tokener_error_parse_utf8_string);
	if (c->lim.strict_utf8 && c->text.comment)
		return JSONCONN_WHY_COMMENT;
	if (!c->text.nuls)
		return NULL;
	if (c->lim.reject_nul)
		return JSONCONN_WHY_NUL;
	if (c->lim.reject_nul_keys && jsontext_nuls_in_values(v) < c->text.nuls)
		return JSONCONN_WHY_NUL_KEY;
	return NULL;
}

static void parse_error(struct jsonconn *c, const char *why)
{
	c->in_callback++;
	if (c->ops->on_parse_error)
		c->ops->on_parse_error(c, why, c->arg);
	c->in_callback--;
}

static void flush_out(struct jsonconn *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = write(c->fd, c->out, c->out_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			log_debug("connection write: %s", strerror(errno));
			jsonconn_free(c);
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	if (c->out_len == 0 && c->closing) {
		jsonconn_free(c);
		return;
	}
	if (c->paused)
		return; /* re-registered with EPOLLOUT when the pause ends */
	loop_mod_fd(c->loop, c->fd, EPOLLIN | EPOLLRDHUP | (c->out_len ? EPOLLOUT : 0));
}

static void feed(struct jsonconn *c, const char *buf, size_t len);

/* lim.ff_resync: a 0xFF byte at buf resets the parser (consumed: true); one further on
 * first has the bytes before it fed (true, buf then at it); none: false. */
static bool feed_to_ff(struct jsonconn *c, const char **buf, size_t *len)
{
	const char *ff = memchr(*buf, 0xff, *len);

	if (ff == *buf) {
		/* The client asks us to drop whatever partial input we hold. */
		reset_parser(c);
		c->skipping = false;
		(*buf)++;
		(*len)--;
		if (c->lim.ff_report)
			parse_error(c, JSONCONN_WHY_FF);
		return true;
	}
	if (!ff)
		return false;
	feed(c, *buf, (size_t)(ff - *buf));
	*len -= (size_t)(ff - *buf);
	*buf = ff;
	return true;
}

/* skip_line: drop input up to the next newline. false: none yet, all of it dropped. */
static bool skip_to_newline(struct jsonconn *c, const char **buf, size_t *len)
{
	const char *nl = memchr(*buf, '\n', *len);

	if (!nl)
		return false;
	*len -= (size_t)(nl + 1 - *buf);
	*buf = nl + 1;
	c->skipping = false;
	return true;
}

/* Whitespace between values: it must not count against a value's size. false: there
 * was nothing else. */
static bool skip_blanks(const char **buf, size_t *len)
{
	while (*len && (**buf == ' ' || **buf == '\n' || **buf == '\r' || **buf == '\t')) {
		(*buf)++;
		(*len)--;
	}
	return *len > 0;
}

/* A value that grew past max_value: reported; then its line skipped (skip_line) or the
 * connection closed. -1: stop feeding. */
static int value_too_long(struct jsonconn *c)
{
	reset_parser(c);
	parse_error(c, JSONCONN_WHY_TOO_LONG);
	if (c->lim.skip_line) {
		c->skipping = true;
		return 0;
	}
	/* The rest of an oversized value cannot be resynchronised with. */
	if (!c->dead)
		jsonconn_close_after_flush(c);
	return -1;
}

/* A value complete (err success) or broken (err, the input up to buf consumed; bumped:
 * the bad byte itself was, json-c having taken nothing): to on_value or on_parse_error. */
static void value_done(struct jsonconn *c, struct json_object *v, enum json_tokener_error err,
		       bool bumped, const char *buf)
{
	const char *why = err == json_tokener_success ? text_refused(c, v) : NULL;

	reset_parser(c);
	c->in_callback++;
	if (why) {
		json_object_put(v);
		if (c->ops->on_parse_error)
			c->ops->on_parse_error(c, why, c->arg);
	} else if (err == json_tokener_success) {
		if (c->ops->on_value)
			c->ops->on_value(c, v, c->arg);
		else
			json_object_put(v);
	} else {
		if (c->lim.skip_line) {
			/* Resume after the line with the error. used stops at the bad
			 * byte, so a newline that was itself the bad byte ends the skip. */
			c->skipping = true;
			if (bumped && buf[-1] == '\n')
				c->skipping = false;
		}
		if (c->ops->on_parse_error)
			c->ops->on_parse_error(c, json_tokener_error_desc(err), c->arg);
	}
	c->in_callback--;
}

/* The tokener gets at most one byte past max_value at a time. -1: stop feeding. */
static int parse_some(struct jsonconn *c, const char **buf, size_t *len)
{
	struct json_object *v;
	enum json_tokener_error err;
	size_t used, chunk = *len;
	bool bumped = false;

	if (chunk > c->lim.max_value - c->value_bytes + 1)
		chunk = c->lim.max_value - c->value_bytes + 1;
	v = json_tokener_parse_ex(c->tok, *buf, (int)chunk);
	err = json_tokener_get_error(c->tok);
	used = err == json_tokener_continue ? chunk : json_tokener_get_parse_end(c->tok);
	if (used == 0 && err != json_tokener_success && err != json_tokener_continue) {
		used = 1; /* the bad byte itself */
		bumped = true;
	}
	if (used > *len)
		used = *len;
	if (c->lim.reject_nul || c->lim.reject_nul_keys || c->lim.strict_utf8)
		jsontext_feed(&c->text, *buf, used);
	*buf += used;
	*len -= used;
	c->value_bytes += used;
	if (err == json_tokener_continue)
		return c->value_bytes > c->lim.max_value ? value_too_long(c) : 0;
	value_done(c, v, err, bumped, *buf);
	return 0;
}

static void feed(struct jsonconn *c, const char *buf, size_t len)
{
	while (len && !c->dead && !c->closing) {
		if (c->lim.ff_resync && feed_to_ff(c, &buf, &len))
			continue;
		if (c->skipping) {
			if (!skip_to_newline(c, &buf, &len))
				return;
			continue;
		}
		if (c->value_bytes == 0 && !skip_blanks(&buf, &len))
			return;
		if (parse_some(c, &buf, &len) < 0)
			return;
	}
}

static void on_io(struct loop *loop, int fd, uint32_t events, void *arg);

/* lim.value_timeout_ms runs from the first byte of a value (or of a bad line being
 * skipped) until its end: armed here after each read, disarmed by reset_parser(). */
static void bound_value(struct jsonconn *c)
{
	bool partial = c->value_bytes > 0 || c->skipping;
	if (!c->lim.value_timeout_ms)
		return;
	if (!partial)
		loop_timer_disarm(c->loop, &c->value_timer);
	else if (!loop_timer_armed(&c->value_timer))
		loop_timer_arm(c->loop, &c->value_timer, c->lim.value_timeout_ms, on_value_timer, c);
}

static void on_hup_timer(struct loop *loop, void *arg)
{
	struct jsonconn *c = arg;
	c->paused = false;
	if (loop_add_fd(loop, c->fd, EPOLLIN | EPOLLRDHUP | (c->out_len ? EPOLLOUT : 0), on_io, c) < 0) {
		log_warn("cannot poll the channel again");
		jsonconn_free(c);
	}
}

/* A character device with nobody on the other side (virtio-serial without a host)
 * reports EPOLLHUP and reads 0 until someone comes: stop polling it for a while
 * rather than spin. Whatever a previous peer left half-sent is dropped. */
static void pause_on_hup(struct jsonconn *c)
{
	reset_parser(c);
	c->skipping = false;
	loop_del_fd(c->loop, c->fd);
	c->paused = true;
	loop_timer_arm(c->loop, &c->hup_timer, HUP_RETRY_MS, on_hup_timer, c);
}

static void on_io(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct jsonconn *c = arg;
	char buf[4096];
	(void)loop;

	c->in_callback++;
	if (events & EPOLLOUT)
		flush_out(c);
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			feed(c, buf, (size_t)n);
			if (!c->dead)
				bound_value(c);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			if (n == 0 && c->lim.keep_on_hup) {
				/* virtio-serial with no host attached reads 0: not an error. */
				pause_on_hup(c);
			} else {
				jsonconn_free(c);
			}
		} else if (c->lim.keep_on_hup && (events & EPOLLHUP)) {
			pause_on_hup(c);
		}
	}
	c->in_callback--;
	if (c->dead && !c->in_callback)
		conn_free(c);
}

struct jsonconn *jsonconn_new(struct loop *loop, int fd, const struct jsonconn_limits *lim,
			      const struct jsonconn_ops *ops, void *arg)
{
	struct jsonconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->lim = *lim;
	c->ops = ops;
	c->arg = arg;
	c->tok = json_tokener_new_ex(lim->max_depth);
	c->text.no_nonchars = lim->no_nonchars;
	if (c->tok && lim->validate_utf8)
		json_tokener_set_flags(c->tok, JSON_TOKENER_VALIDATE_UTF8);
	if (!c->tok || fd_set_nonblock(fd) < 0 ||
	    loop_add_fd(loop, fd, EPOLLIN | EPOLLRDHUP, on_io, c) < 0) {
		if (c->tok)
			json_tokener_free(c->tok);
		free(c);
		return NULL;
	}
	return c;
}

int jsonconn_send(struct jsonconn *c, struct json_object *v, bool ff_prefix)
{
	const char *s;

	if (c->dead || c->closing)
		return -1;
	s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s) {
		/* Out of memory: as when the answer cannot be queued. */
		jsonconn_free(c);
		return -1;
	}
	return jsonconn_send_raw(c, s, strlen(s), ff_prefix);
}

int jsonconn_send_raw(struct jsonconn *c, const char *s, size_t len, bool ff_prefix)
{
	size_t need;

	if (c->dead || c->closing)
		return -1;
	if (len && s[len - 1] == '\n')
		len--;
	need = c->out_len + len + 2;
	/* One answer alone may be longer (relayed from the qemu-ga backend: up to
	 * guest-file-read's 48 MiB in base64); a client that does not read is dropped
	 * before a second one is queued behind it. */
	if (need > c->lim.max_output && c->out_len) {
		log_warnx("client does not read its replies: dropping it");
		jsonconn_free(c);
		return -1;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 1024;
		char *o;
		while (cap < need)
			cap *= 2;
		o = realloc(c->out, cap);
		if (!o) {
			jsonconn_free(c);
			return -1;
		}
		c->out = o;
		c->out_cap = cap;
	}
	if (ff_prefix)
		c->out[c->out_len++] = (char)0xff;
	memcpy(c->out + c->out_len, s, len);
	c->out_len += len;
	c->out[c->out_len++] = '\n';
	c->in_callback++;
	flush_out(c);
	c->in_callback--;
	if (c->dead) {
		if (!c->in_callback)
			conn_free(c);
		return -1;
	}
	return 0;
}

static void on_close_timer(struct loop *loop, void *arg)
{
	(void)loop;
	jsonconn_free(arg);
}

void jsonconn_close_after_flush(struct jsonconn *c)
{
	if (c->dead)
		return;
	if (!c->out_len) {
		jsonconn_free(c);
		return;
	}
	c->closing = true;
	loop_timer_arm(c->loop, &c->close_timer, 1000, on_close_timer, c);
}

int jsonconn_fd(const struct jsonconn *c)
{
	return c->fd;
}

void jsonconn_refuse(int fd, const char *desc)
{
	struct json_object *ans = json_object_new_object(), *err = json_object_new_object();
	const char *s = NULL;

	/* Out of memory: closed without a word, never an error without its class or desc. */
	if (!jput(err, "class", json_object_new_string("GenericError")) ||
	    !jput(err, "desc", json_object_new_string(desc)))
		json_object_put(err);
	else if (jput(ans, "error", err))
		s = json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN);
	/* The client may not even read: never wait for it. */
	if (s && send(fd, s, strlen(s), MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
		(void)send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	json_object_put(ans);
	close(fd);
}
