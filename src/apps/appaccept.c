// SPDX-License-Identifier: MIT
/* The listen socket's side: connections accepted (paused while the pending slots are
 * full, or for a while when out of fds), their credentials read and judged, the
 * pending slots per uid and the connection rate (apps/admit.h) applied, and the
 * refusals logged without letting a flood of them flood the log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apps/registry_int.h"
#include "common/util.h"

/* Refusals logged per second; a flood of them is summarised. */
#define REFUSAL_LOGS_PER_S 20

void appaccept_refusal_log(struct registry *r, const struct app *a, const char *why)
{
	uint64_t now = now_ms();
	if (now - r->refusal_window_ms >= 1000) {
		if (r->refusals_suppressed)
			log_warnx("apps: %u more refusals not logged", r->refusals_suppressed);
		r->refusal_window_ms = now;
		r->refusals_logged = 0;
		r->refusals_suppressed = 0;
	}
	if (r->refusals_logged++ < REFUSAL_LOGS_PER_S)
		log_warnx("app connection (pid %d, uid %u): %s", (int)a->pid, a->uid, why);
	else
		r->refusals_suppressed++;
}

static bool credentials_allowed(struct registry *r, int fd, const struct ucred *c)
{
	gid_t groups[256], *g = groups;
	socklen_t len = sizeof(groups);
	bool yes = false;

	if (c->uid == 0)
		return true;
	if (!r->group_set)
		return false;
	if (c->gid == r->gid)
		return true;
	/* Supplementary groups, as they were when the peer connected. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || !(g = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
			free(g);
			return false;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !yes; i++)
		yes = g[i] == r->gid;
	if (g != groups)
		free(g);
	return yes;
}

/* A connection beyond the pending slots its uid may take (apps/admit.h): refused at
 * once, so that it holds no slot until the hello timeout. */
static void refuse_at_accept(struct registry *r, int fd, const struct ucred *cred,
			     enum slots_verdict v)
{
	struct appwire_welcome w = { .version = APPWIRE_VERSION,
				     .result = APPWIRE_REFUSED_TOO_MANY };
	struct app who = { .reg = r, .pid = cred->pid, .uid = cred->uid };
	uint8_t buf[APPWIRE_WELCOME_SIZE];
	char line[160];

	snprintf(line, sizeof(line), "refused (%s): connections without a hello: %s",
		 appwire_result_name(APPWIRE_REFUSED_TOO_MANY),
		 v == SLOTS_UID_FULL ? "its user holds its share" : "all that others may hold");
	appaccept_refusal_log(r, &who, line);
	appwire_encode_welcome(buf, &w);
	(void)send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
	/* A hello already sent would be unread: closing then resets the connection, and
	 * the app sees that instead of the refusal. Read it (one frame, maybe two). */
	for (int i = 0; i < 2 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC) > 0; i++)
		;
	close(fd);
}

static void accept_pause(struct registry *r)
{
	if (!r->accept_paused && loop_mod_fd(r->loop, r->lfd, 0) == 0)
		r->accept_paused = true;
}

void appaccept_resume(struct registry *r)
{
	if (r->accept_paused && r->n_hello < MAX_HELLO && !loop_timer_armed(&r->accept_timer) &&
	    loop_mod_fd(r->loop, r->lfd, EPOLLIN) == 0)
		r->accept_paused = false;
}

static void on_accept_timer(struct loop *loop, void *arg)
{
	(void)loop;
	appaccept_resume(arg);
}

void appaccept_on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct registry *r = arg;
	(void)events;

	while (r->n_hello < MAX_HELLO) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct app *a;
		enum slots_verdict v;
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			/* Out of fds or memory: the socket stays readable, so wait a little
			 * instead of spinning. */
			log_warn("apps: accept");
			accept_pause(r);
			loop_timer_arm(loop, &r->accept_timer, 200, on_accept_timer, r);
			return;
		}
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("apps: new connection");
			close(cfd);
			continue;
		}
		v = admit_connect(&r->adm, cred.uid);
		if (v != SLOTS_OK) {
			refuse_at_accept(r, cfd, &cred, v);
			continue;
		}
		if (!(a = calloc(1, sizeof(*a)))) {
			log_warn("apps: new connection");
			admit_pending_done(&r->adm, cred.uid);
			close(cfd);
			continue;
		}
		a->reg = r;
		a->fd = cfd;
		a->state = APP_HELLO;
		a->pid = cred.pid;
		a->uid = cred.uid;
		a->gid = cred.gid;
		a->allowed = credentials_allowed(r, cfd, &cred);
		a->over_rate = !admit_token(&r->adm, cred.uid, now_ms());
		a->connected_wall = wall_ms();
		if (loop_add_fd(loop, cfd, EPOLLIN, appconn_on_event, a) < 0) {
			log_warn("apps: new connection");
			admit_pending_done(&r->adm, cred.uid);
			close(cfd);
			free(a);
			continue;
		}
		a->next = r->hello;
		if (r->hello)
			r->hello->prev = a;
		r->hello = a;
		r->n_hello++;
		loop_timer_arm(loop, &a->timer, HELLO_TIMEOUT_MS, appconn_on_timer, a);
	}
	accept_pause(r);
}
