// SPDX-License-Identifier: MIT
/* The pass-through: every guest agent command quiesced does not serve itself goes to
 * the qemu-ga backend (qgaback.c) and its answer comes back to the host unchanged.
 *
 * One request at a time goes to the backend (it serves one at a time anyway), from
 * any client, in the order they came. Each is bounded: with no answer within
 * --qga-backend-timeout the host gets an error and the backend is restarted (its
 * state is lost, and the error says so). A client's own freeze, thaw or sync that
 * arrives behind its forwarded request cuts that wait short (to a second), so a
 * hung command never holds a thaw. Commands with no success answer by design
 * (guest-shutdown, guest-suspend-*: "success-response": false in guest-info) are
 * not waited for: a guest-sync of our own follows them, and an error that comes
 * before its answer is the host's. While frozen nothing is forwarded (qemu-ga's
 * allow-list holds only commands quiesced serves itself). */
#ifndef QUIESCE_QGAFWD_H
#define QUIESCE_QGAFWD_H

#include <stdbool.h>
#include <stdint.h>

struct cmd_def;
struct cmd_session;
struct json_object;
/* The distribution's qemu-ga (Debian's qemu-guest-agent). */
#define QGA_BACKEND_DEFAULT "/usr/sbin/qemu-ga"

struct host_ctx;
struct qgafwd;

struct qgafwd_config {
	const char *program;      /* NULL: QGA_BACKEND_DEFAULT */
	bool disabled;            /* --no-qga-backend */
	uint64_t timeout_ms;      /* --qga-backend-timeout */
	const char *run_dir;      /* the backend's socket goes in a directory under it */
};

/* Never NULL but on no memory: without a backend (not installed, --no-qga-backend)
 * it is there to say so (status). */
struct qgafwd *qgafwd_new(struct host_ctx *ctx, const struct qgafwd_config *cfg);
/* Start the backend (after the daemon has detached). */
void qgafwd_start(struct qgafwd *f);
/* Answers what is pending (quiesced is stopping) and kills the backend. */
void qgafwd_free(struct qgafwd *f);
/* Adds "qga_backend" to out; -1 (out unchanged) when out of memory. */
int qgafwd_status(const struct qgafwd *f, struct json_object *out);

/* The QGA transport's session hooks (cmd.h); all do nothing without a backend. */
const struct cmd_def *qgafwd_lookup(struct cmd_session *s, const char *name);
int qgafwd_info(struct cmd_session *s, struct json_object *ret);
/* req (borrowed, may be NULL) has just been queued behind s's pending call. */
void qgafwd_queued(struct cmd_session *s, struct json_object *req);

#endif
