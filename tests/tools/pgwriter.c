// SPDX-License-Identifier: MIT
/*
 * pgwriter: one PostgreSQL session that commits as fast as it can, for the restore
 * test (tests/integration/db_postgresql.py). Each transaction inserts row (writer,
 * seq) into commits and bumps the writer's counter; after the server acknowledges
 * the COMMIT, "seq t" is written to the log, t being CLOCK_MONOTONIC in ns (Python's
 * time.monotonic_ns()). So the log is exactly the acknowledged commits, each with
 * a time at or after its acknowledgement.
 *
 *   pgwriter CONNINFO WRITER LOGFILE      until SIGTERM, or the server goes away (exit 1)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "writer.h"


static int
exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "pgwriter: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

int
main(int argc, char **argv)
{
	char sql[256];
	long long seq;
	PGconn *c;
	FILE *log;
	int w;

	if (argc != 4) {
		fprintf(stderr, "usage: pgwriter CONNINFO WRITER LOGFILE\n");
		return 2;
	}
	w = atoi(argv[2]);
	signal(SIGTERM, on_term);
	c = PQconnectdb(argv[1]);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgwriter: %s", PQerrorMessage(c));
		return 1;
	}
	log = fopen(argv[3], "w");
	if (log == NULL)
		return 1;
	snprintf(sql, sizeof(sql), "INSERT INTO counters VALUES (%d, 0) ON CONFLICT DO NOTHING", w);
	if (!exec_ok(c, sql))
		return 1;
	for (seq = 1; !stop; seq++) {
		snprintf(sql, sizeof(sql), "BEGIN; INSERT INTO commits VALUES (%d, %lld, repeat('x', 200)); "
		    "UPDATE counters SET n = n + 1 WHERE writer = %d; COMMIT", w, seq, w);
		if (!exec_ok(c, sql))
			return stop ? 0 : 1;
		log_ack(log, seq);
	}
	fclose(log);
	PQfinish(c);
	return 0;
}
