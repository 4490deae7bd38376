// SPDX-License-Identifier: MIT
/*
 * quiesce-agent-mariadb: takes part in quiesce's snapshots on behalf of a MariaDB
 * server (man/quiesce-agent-mariadb.8). The answers are mdbagent.c's, the loop
 * agents/common/agentloop.c's.
 */
#include "agentloop.h"
#include "mdbagent.h"

#define PROG "quiesce-agent-mariadb"

static void
ops(void *self, struct agent_ops *ops)
{
	mdbagent_ops(self, ops);
}

static void
end(void)
{
	mysql_library_end();
}

int
main(int argc, char **argv)
{
	static struct mdbagent a;
	const struct agent_def def = {
		.prog = PROG,
		.name = "mariadb",
		.about =
		    "Take part in quiesce's snapshots for a MariaDB server: check that its directories\n"
		    "are on filesystems quiesced freezes, hold BACKUP STAGE BLOCK_COMMIT while frozen\n"
		    "(a bounded lock wait), and report the binlog position and GTID. Connection\n"
		    "settings come from the option files ([client], [client-mariadb] and\n"
		    "[" PROG "] groups).\n",
		.own = { "defaults-file", required_argument, NULL, 'F' },
		.own_help = "  -F, --defaults-file=FILE  read the connection settings from FILE only\n",
		.own_arg = &a.db.defaults_file,
		.self = &a,
		.ops = ops,
		.end = end,
	};

	return agent_main(argc, argv, &def);
}
