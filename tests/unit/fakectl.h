// SPDX-License-Identifier: MIT
/* A stand-in quiesced for the tests of quiescectl (tests/unit/test_cli.c, test_snapshot.c,
 * test_clihook.c): a real Unix control socket in a temp dir, served by a thread that
 * plays a script (one step per request: an answer, raw bytes, silence, a close) and
 * keeps every request it got. (Their output is captured by capture.c.) */
#ifndef QUIESCE_FAKECTL_H
#define QUIESCE_FAKECTL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define FAKE_MAX_REQ 16

/* What the server does with one request, in this order. */
struct fake_step {
	void (*on_request)(void *arg); /* run first (in the server's thread) */
	void *arg;
	const char *raw;   /* bytes sent as they are */
	const char *reply; /* an answer object; the request's id is added unless it has one */
	bool close;        /* then close the connection (reading nothing more) */
	/* no raw, no reply, no close: silence (the client waits) */
};

struct fakectl {
	char dir[64], path[128];
	int lfd, cfd, stop[2];
	pthread_t th;
	const struct fake_step *steps;
	size_t n_steps;
	/* What it got: each request's plain JSON without its "id", and that id (-1 none). */
	char *req[FAKE_MAX_REQ];
	int ids[FAKE_MAX_REQ];
	size_t n_req;
	bool connected; /* a client connected */
	bool eof;       /* and closed its end (seen by fake_stop) */
};

/* Listens on f->path (a fresh temp dir) and serves one client with steps; a request
 * past the steps gets a GenericError "fake: unexpected request". */
void fake_start(struct fakectl *f, const struct fake_step *steps, size_t n_steps);
/* Ends the thread (after reading what the client has sent, and whether it closed),
 * removes the socket and dir. The requests stay until fake_free. */
void fake_stop(struct fakectl *f);
void fake_free(struct fakectl *f);
/* fake_stop, checking that exactly the requests want[0..n) came, in order (plain JSON,
 * without the id; each had a positive id), and that the client closed; then fake_free. */
void fake_check(struct fakectl *f, const char *const *want, size_t n);


#endif
