// SPDX-License-Identifier: MIT
/*
 * quiesce-agent-mariadb: takes part in quiesce's snapshots on behalf of a MariaDB
 * server (man/quiesce-agent-mariadb.8). The answers are mdbagent.c's, the loop
 * agents/common/agentloop.c's.
 */
#include <stdio.h>
#include <string.h>

#include "agentloop.h"
#include "mdbagent.h"

#define PROG "quiesce-agent-mariadb"

static void
usage(FILE *out)
{
	fprintf(out,
	    "Usage: " PROG " [option]...\n"
	    "Take part in quiesce's snapshots for a MariaDB server: check that its directories\n"
	    "are on filesystems quiesced freezes, hold BACKUP STAGE BLOCK_COMMIT while frozen\n"
	    "(a bounded lock wait), and report the binlog position and GTID. Connection\n"
	    "settings come from the option files ([client], [client-mariadb] and\n"
	    "[" PROG "] groups).\n"
	    "\n"
	    "  -F, --defaults-file=FILE  read the connection settings from FILE only\n");
	agent_usage_common(out, "mariadb");
}

int
main(int argc, char **argv)
{
	static const struct option own = { "defaults-file", required_argument, NULL, 'F' };
	struct mdbagent a;
	struct agent_opts o;
	struct agent_ops ops;
	int r;

	memset(&a, 0, sizeof(a));
	agent_opts_init(&o, PROG, "mariadb");
	if ((r = agent_parse(argc, argv, &o, usage, &own, &a.db.defaults_file)) >= 0)
		return r;
	agent_log_init(PROG, o.verbose);
	mdbagent_ops(&a, &ops);
	r = agent_run(&o, &ops);
	mysql_library_end();
	return r;
}
