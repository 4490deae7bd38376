// SPDX-License-Identifier: MIT
/*
 * The agent's one session to PostgreSQL, through libpq, with every wait bounded:
 * connecting (PQconnectStart/PQconnectPoll), and each statement (PQsendQuery, then
 * poll until a deadline, then PQcancel and a short wait for the cancel to land).
 * Connection settings are libpq's own: the conninfo string (or URI) given, the PG*
 * variables, the service file, ~/.pgpass. The session is dropped on any
 * connection error and made again with backoff (agent_backoff).
 */
#ifndef QUIESCE_AGENT_PGCONN_H
#define QUIESCE_AGENT_PGCONN_H

#include <stdint.h>

#include <libpq-fe.h>

#include "agent.h"

struct pgconn {
	const char *conninfo;	/* "" or NULL: the PG* variables and defaults */
	PGconn *conn;
	struct agent_backoff backoff;
	char err[256];		/* the last failure, one line */
};

/* Refuse a conninfo that carries a password (it would be on the command line). 0 or -1. */
int pgconn_conninfo_ok(const char *conninfo, char *err, size_t errlen);

/* Connect if not connected, waiting at most until deadline_ns. 0, or -1 and p->err. */
int pgconn_ensure(struct pgconn *p, uint64_t deadline_ns);
/* Run one statement, waiting at most until deadline_ns. The result (the caller
 * PQclear()s it) if it succeeded, else NULL and p->err. */
PGresult *pgconn_exec(struct pgconn *p, const char *sql, uint64_t deadline_ns);
/* The socket to watch while idle (-1 if not connected); call pgconn_idle_input() when
 * it is readable: a server that went away (restart, shutdown) shows there first. */
int pgconn_fd(const struct pgconn *p);
void pgconn_idle_input(struct pgconn *p);
void pgconn_close(struct pgconn *p);

#endif
