// SPDX-License-Identifier: MIT
/* The stand-in quiesced of quiescectl's tests (fakectl.h; their output is captured by
 * capture.c). The server is a thread, so that the test reads what it got after
 * joining it; it serves one client, which is all a verb is. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakectl.h"

static const struct fake_step unexpected = {
	.reply = "{\"error\":{\"class\":\"GenericError\",\"desc\":\"fake: unexpected request\"}}",
};

static void send_text(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return; /* the client went away: what it does then is the test's business */
		s += n;
		len -= (size_t)n;
	}
}

static void answer(int fd, const char *reply, int id)
{
	struct json_object *o = json_tokener_parse(reply);
	char *line;

	if (!o)
		abort(); /* a broken script */
	if (id >= 0 && !json_object_object_get_ex(o, "id", NULL))
		json_object_object_add(o, "id", json_object_new_int(id));
	if (asprintf(&line, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) < 0)
		abort();
	send_text(fd, line);
	free(line);
	json_object_put(o);
}

/* Keeps one request; returns its id (-1: none, or not JSON). */
static int record(struct fakectl *f, const char *line)
{
	struct json_object *o = json_tokener_parse(line), *v;
	int id = -1;

	if (o && json_object_object_get_ex(o, "id", &v)) {
		id = json_object_get_int(v);
		json_object_object_del(o, "id");
	}
	if (f->n_req < FAKE_MAX_REQ) {
		f->req[f->n_req] = strdup(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE) : line);
		f->ids[f->n_req++] = id;
	}
	json_object_put(o);
	return id;
}

static void play(struct fakectl *f, int id)
{
	const struct fake_step *s = f->n_req <= f->n_steps ? &f->steps[f->n_req - 1] : &unexpected;

	if (s->on_request)
		s->on_request(s->arg);
	if (s->raw)
		send_text(f->cfd, s->raw);
	if (s->reply)
		answer(f->cfd, s->reply, id);
	if (s->close) {
		close(f->cfd);
		f->cfd = -1;
		f->eof = true; /* the connection ended (the client's close unseen) */
	}
}

/* Reads what the client sent; each complete line is a request, played unless quiet.
 * Returns 1 it read some, 0 nothing there now, -1 the client closed (or it broke). */
static int take(struct fakectl *f, char *buf, size_t *len, size_t size, bool quiet)
{
	ssize_t n = read(f->cfd, buf + *len, size - 1 - *len);
	char *nl;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		f->eof = n == 0;
		return -1;
	}
	*len += (size_t)n;
	buf[*len] = '\0';
	while (f->cfd >= 0 && (nl = strchr(buf, '\n'))) {
		int id;
		*nl = '\0';
		id = record(f, buf);
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
		if (!quiet)
			play(f, id);
	}
	return 1;
}

static void *serve(void *arg)
{
	struct fakectl *f = arg;
	struct pollfd p[2] = { { .fd = f->lfd, .events = POLLIN },
			       { .fd = f->stop[0], .events = POLLIN } };
	static char buf[256 * 1024];
	size_t len = 0;

	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	if (!(p[0].revents & POLLIN))
		return NULL; /* stopped with nobody connected (fake_stop looks again) */
	f->cfd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (f->cfd < 0)
		return NULL;
	f->connected = true;
	p[0].fd = f->cfd;
	for (;;) {
		while (poll(p, 2, -1) < 0 && errno == EINTR)
			;
		if (p[1].revents) {
			/* Stopped: what the client sent before, and whether it closed. */
			while (f->cfd >= 0 && take(f, buf, &len, sizeof(buf), true) > 0)
				;
			break;
		}
		if (take(f, buf, &len, sizeof(buf), false) < 0 || f->cfd < 0)
			p[0].fd = -1; /* closed: wait for the stop */
	}
	if (f->cfd >= 0)
		close(f->cfd);
	return NULL;
}

void fake_start(struct fakectl *f, const struct fake_step *steps, size_t n_steps)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->cfd = -1;
	f->steps = steps;
	f->n_steps = n_steps;
	strcpy(f->dir, "/tmp/test_cli.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
	strcpy(sa.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(pipe2(f->stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&f->th, NULL, serve, f), 0);
}

void fake_stop(struct fakectl *f)
{
	struct pollfd p = { .fd = f->lfd, .events = POLLIN };

	assert_int_equal(write(f->stop[1], "x", 1), 1);
	assert_int_equal(pthread_join(f->th, NULL), 0);
	/* A client in the backlog, never accepted, connected all the same. */
	if (!f->connected && poll(&p, 1, 0) == 1)
		f->connected = true;
	close(f->lfd);
	close(f->stop[0]);
	close(f->stop[1]);
	unlink(f->path);
	assert_int_equal(rmdir(f->dir), 0);
}

void fake_free(struct fakectl *f)
{
	for (size_t i = 0; i < f->n_req; i++)
		free(f->req[i]);
	f->n_req = 0;
}

void fake_check(struct fakectl *f, const char *const *want, size_t n)
{
	fake_stop(f);
	for (size_t i = 0; i < n && i < f->n_req; i++) {
		assert_string_equal(f->req[i], want[i]);
		assert_true(f->ids[i] > 0);
	}
	assert_int_equal(f->n_req, n);
	if (f->connected)
		assert_true(f->eof);
	fake_free(f);
}
