// SPDX-License-Identifier: MIT
/*
 * quiesce-agent-postgresql: takes part in quiesce's snapshots on behalf of a
 * PostgreSQL cluster (man/quiesce-agent-postgresql.8). The answers are pgagent.c's,
 * the loop agents/common/agentloop.c's.
 */
#include <stdio.h>
#include <string.h>

#include "agentloop.h"
#include "pgagent.h"

#define PROG "quiesce-agent-postgresql"

static void
usage(FILE *out)
{
	fprintf(out,
	    "Usage: " PROG " [option]...\n"
	    "Take part in quiesce's snapshots for a PostgreSQL cluster: check that its\n"
	    "directories are on filesystems quiesced freezes, CHECKPOINT at the freeze, and\n"
	    "report the WAL position. Connection settings are libpq's: PG* variables, the\n"
	    "service file, ~/.pgpass.\n"
	    "\n"
	    "  -d, --dbname=CONNINFO   libpq connection string or URI (no password in it)\n");
	agent_usage_common(out, "postgresql");
}

int
main(int argc, char **argv)
{
	static const struct option own = { "dbname", required_argument, NULL, 'd' };
	struct pgagent a;
	struct agent_opts o;
	struct agent_ops ops;
	char err[256];
	int r;

	memset(&a, 0, sizeof(a));
	agent_opts_init(&o, PROG, "postgresql");
	if ((r = agent_parse(argc, argv, &o, usage, &own, &a.pg.conninfo)) >= 0)
		return r;
	if (pgconn_conninfo_ok(a.pg.conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	agent_log_init(PROG, o.verbose);
	pgagent_ops(&a, &ops);
	return agent_run(&o, &ops);
}
