// SPDX-License-Identifier: MIT
/*
 * quiesce-agent-postgresql: takes part in quiesce's snapshots on behalf of a
 * PostgreSQL cluster (man/quiesce-agent-postgresql.8). The answers are pgagent.c's,
 * the loop agents/common/agentloop.c's.
 */
#include "agentloop.h"
#include "pgagent.h"

static int
check(void *self, char *err, size_t len)
{
	return pgconn_conninfo_ok(((struct pgagent *)self)->pg.conninfo, err, len);
}

static void
ops(void *self, struct agent_ops *ops)
{
	pgagent_ops(self, ops);
}

int
main(int argc, char **argv)
{
	static struct pgagent a;
	const struct agent_def def = {
		.prog = "quiesce-agent-postgresql",
		.name = "postgresql",
		.about =
		    "Take part in quiesce's snapshots for a PostgreSQL cluster: check that its\n"
		    "directories are on filesystems quiesced freezes, CHECKPOINT at the freeze, and\n"
		    "report the WAL position. Connection settings are libpq's: PG* variables, the\n"
		    "service file, ~/.pgpass.\n",
		.own = { "dbname", required_argument, NULL, 'd' },
		.own_help = "  -d, --dbname=CONNINFO   libpq connection string or URI (no password in it)\n",
		.own_arg = &a.pg.conninfo,
		.self = &a,
		.check = check,
		.ops = ops,
	};

	return agent_main(argc, argv, &def);
}
