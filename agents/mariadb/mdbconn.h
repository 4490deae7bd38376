// SPDX-License-Identifier: MIT
/*
 * The MariaDB agent's one session, through MariaDB Connector/C. Settings come the
 * client's own way: option files ([client], [client-mariadb] and
 * [quiesce-agent-mariadb] groups of my.cnf, or --defaults-file), never credentials
 * on the command line. Connector/C blocks, so every wait is bounded by its
 * timeouts (connect, read, write) and, for lock waits, by the server's
 * lock_wait_timeout, set per statement well inside the daemon's deadline.
 */
#ifndef QUIESCE_AGENT_MDBCONN_H
#define QUIESCE_AGENT_MDBCONN_H

#include <stdint.h>

#include <mysql.h>

#include "agent.h"

/* Every read from the server ends within this, whatever it is waiting for. */
#define MDB_IO_TIMEOUT_S 30

struct mdbconn {
	const char *defaults_file;	/* NULL: the usual option files */
	MYSQL *m;
	int mysql;			/* the server is MySQL, not MariaDB */
	struct agent_backoff backoff;
	char err[256];
};

int mdbconn_ensure(struct mdbconn *c, uint64_t deadline_ns);
/* Run a statement; its result set is discarded. 0, or -1 and c->err ("SQL: error"). */
int mdbconn_exec(struct mdbconn *c, const char *sql);
/* Run a query and copy the first row's columns (NULL -> "") into vals[i] (each cap
 * bytes). 1 with a row, 0 without, -1 on error. */
int mdbconn_row(struct mdbconn *c, const char *sql, char (*vals)[4096], unsigned n);
int mdbconn_fd(const struct mdbconn *c);
void mdbconn_idle_input(struct mdbconn *c);
void mdbconn_close(struct mdbconn *c);

#endif
