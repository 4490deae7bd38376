// SPDX-License-Identifier: MIT
/* The agent's PostgreSQL session, every wait bounded (see pgconn.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "pgconn.h"

/* After a cancel, how long the server gets to answer before the session is dropped. */
#define CANCEL_GRACE_MS 1000

static void
set_err(struct pgconn *p, const char *what, const char *msg)
{
	size_t n;

	snprintf(p->err, sizeof(p->err), "%s%s%s", what, *what ? ": " : "", msg ? msg : "");
	/* libpq's messages end in a newline and may hold several lines: keep one. */
	n = strcspn(p->err, "\n");
	p->err[n] = '\0';
}

int
pgconn_conninfo_ok(const char *conninfo, char *err, size_t errlen)
{
	PQconninfoOption *opts, *o;
	char *perr = NULL;
	int ok = 1;

	if (conninfo == NULL || conninfo[0] == '\0')
		return 0;
	opts = PQconninfoParse(conninfo, &perr);
	if (opts == NULL) {
		snprintf(err, errlen, "bad connection string: %s", perr ? perr : "out of memory");
		PQfreemem(perr);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			ok = 0;
	PQconninfoFree(opts);
	if (!ok)
		snprintf(err, errlen, "a password on the command line is visible to every user: "
		    "put it in ~/.pgpass, PGPASSFILE or the service file");
	return ok ? 0 : -1;
}

void
pgconn_close(struct pgconn *p)
{
	if (p->conn != NULL)
		PQfinish(p->conn);
	p->conn = NULL;
}

/* Wait for fd to be ready for events until deadline. 1 ready, 0 timed out. */
static int
wait_fd(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&pfd, 1, agent_ms_left(deadline_ns));
	while (r < 0 && errno == EINTR && agent_ms_left(deadline_ns) > 0);
	return r > 0;
}

int
pgconn_ensure(struct pgconn *p, uint64_t deadline_ns)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (p->conn != NULL && PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	pgconn_close(p);
	p->conn = PQconnectStart(p->conninfo ? p->conninfo : "");
	if (p->conn == NULL) {
		set_err(p, "connect", "out of memory");
		return -1;
	}
	if (PQstatus(p->conn) == CONNECTION_BAD) {
		set_err(p, "connect", PQerrorMessage(p->conn));
		goto fail;
	}
	for (;;) {
		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED) {
			set_err(p, "connect", PQerrorMessage(p->conn));
			goto fail;
		}
		if (!wait_fd(PQsocket(p->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		    deadline_ns)) {
			set_err(p, "connect", "timed out");
			goto fail;
		}
		st = PQconnectPoll(p->conn);
	}
	if (PQsetnonblocking(p->conn, 1) != 0) {
		set_err(p, "connect", PQerrorMessage(p->conn));
		goto fail;
	}
	agent_backoff_reset(&p->backoff);
	agent_log(AGENT_INFO, "connected to PostgreSQL %d (%s)", PQserverVersion(p->conn),
	    PQhost(p->conn) ? PQhost(p->conn) : "default");
	return 0;
fail:
	pgconn_close(p);
	agent_backoff_failed(&p->backoff);
	return -1;
}

/* Ask the server to cancel, then give it CANCEL_GRACE_MS to say so. */
static void
cancel(struct pgconn *p)
{
	char buf[256];
	PGcancel *c = PQgetCancel(p->conn);

	if (c != NULL) {
		if (!PQcancel(c, buf, sizeof(buf)))
			agent_log(AGENT_WARN, "cancel: %s", buf);
		PQfreeCancel(c);
	}
}

/* Read until the statement's last result, or deadline. 1 done, 0 timed out, -1 error. */
static int
drain(struct pgconn *p, uint64_t deadline_ns, PGresult **last)
{
	PGresult *r;

	for (;;) {
		if (PQflush(p->conn) < 0)
			return -1;
		while (!PQisBusy(p->conn)) {
			r = PQgetResult(p->conn);
			if (r == NULL)
				return 1;
			PQclear(*last);
			*last = r;
		}
		if (!wait_fd(PQsocket(p->conn), POLLIN, deadline_ns))
			return 0;
		if (!PQconsumeInput(p->conn))
			return -1;
	}
}

PGresult *
pgconn_exec(struct pgconn *p, const char *sql, uint64_t deadline_ns)
{
	PGresult *last = NULL;
	int r;

	if (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK) {
		set_err(p, sql, "not connected");
		return NULL;
	}
	if (!PQsendQuery(p->conn, sql)) {
		set_err(p, sql, PQerrorMessage(p->conn));
		goto lost;
	}
	r = drain(p, deadline_ns, &last);
	if (r == 0) {
		cancel(p);
		r = drain(p, now_ns() + CANCEL_GRACE_MS * 1000000ull, &last);
		set_err(p, sql, "timed out (cancelled)");
		PQclear(last);
		if (r == 1)
			return NULL;	/* the session is fine: the statement was cancelled */
		goto lost;
	}
	if (r < 0) {
		set_err(p, sql, PQerrorMessage(p->conn));
		PQclear(last);
		goto lost;
	}
	if (last == NULL || (PQresultStatus(last) != PGRES_COMMAND_OK &&
	    PQresultStatus(last) != PGRES_TUPLES_OK)) {
		set_err(p, sql, last ? PQresultErrorMessage(last) : "no result");
		PQclear(last);
		if (PQstatus(p->conn) != CONNECTION_OK)
			goto lost;
		return NULL;
	}
	return last;
lost:
	/* A session in an unknown state is not reused: nothing may stay held in it. */
	pgconn_close(p);
	agent_backoff_failed(&p->backoff);
	return NULL;
}

int
pgconn_fd(const struct pgconn *p)
{
	return p->conn != NULL ? PQsocket(p->conn) : -1;
}

void
pgconn_idle_input(struct pgconn *p)
{
	PGnotify *n;

	if (p->conn == NULL)
		return;
	/* Idle, the server only speaks to say it is going away (or a notice). */
	if (!PQconsumeInput(p->conn) || PQstatus(p->conn) != CONNECTION_OK) {
		set_err(p, "connection lost", PQerrorMessage(p->conn));
		agent_log(AGENT_WARN, "PostgreSQL: %s; reconnecting", p->err);
		pgconn_close(p);
		agent_backoff_failed(&p->backoff);
		return;
	}
	while ((n = PQnotifies(p->conn)) != NULL)
		PQfreemem(n);
}
