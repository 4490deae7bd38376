// SPDX-License-Identifier: MIT
/* The qemu-ga backend: the distribution's qemu-ga, run by quiesced on a private Unix
 * socket in the run dir with the commands quiesced serves itself blocked (-b), for
 * every other guest agent command (qgafwd.c forwards them).
 *
 * Supervised: started, connected to and greeted (0xFF + guest-sync-delimited, then
 * guest-info for its command list); when it dies or its connection breaks it is
 * killed and started again, at once the first time, then with a growing delay (up
 * to 30 s) while it keeps dying. None of this touches a freeze: the backend cannot
 * freeze or thaw (blocked), and quiesced never waits for it but on a timer. */
#ifndef QUIESCE_QGABACK_H
#define QUIESCE_QGABACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct loop;
struct qgaback;
struct qgaproto_info;

struct qgaback_config {
	const char *program;        /* qemu-ga */
	const char *dir;            /* private: its socket and state dir (made 0700) */
	const char *blocked;        /* -b: comma-separated */
};

struct qgaback_ops {
	/* Greeted: qgaback_info() is fresh and requests may be sent. */
	void (*on_ready)(void *arg);
	/* A line from it once ready (0xFF prefix removed; ff says it had one). */
	void (*on_line)(void *arg, const char *line, size_t len, bool ff);
	/* The connection is gone (it died, or was killed): whatever was sent is lost. */
	void (*on_down)(void *arg, const char *why);
};

struct qgaback *qgaback_new(struct loop *loop, const struct qgaback_config *cfg,
			    const struct qgaback_ops *ops, void *arg);
/* Start it (after the daemon has detached: it must be our child). */
void qgaback_start(struct qgaback *b);
bool qgaback_ready(const struct qgaback *b);
/* Queue bytes to it; -1 if not ready (nothing sent). */
int qgaback_send(struct qgaback *b, const char *buf, size_t len);
/* Kill it and start a new one at once (a request hung in it). */
void qgaback_restart(struct qgaback *b, const char *why);
/* An id for a guest-sync of our own, never used before. */
int64_t qgaback_next_id(struct qgaback *b);
/* The last guest-info it gave (n = 0 before the first greeting). */
const struct qgaproto_info *qgaback_info(const struct qgaback *b);
/* Adds its state, pid, ... to out; -1 when out of memory (some may be in). */
int qgaback_status(const struct qgaback *b, struct json_object *out);
/* Kills it. */
void qgaback_free(struct qgaback *b);

#endif
