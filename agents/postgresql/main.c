// SPDX-License-Identifier: MIT
/*
 * quiesce-agent-postgresql: takes part in quiesce's snapshots on behalf of a
 * PostgreSQL cluster (man/quiesce-agent-postgresql.8): its options, and its
 * database for the agents' loop (agents/common/agentloop.c).
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

static int
connect_db(void *db, uint64_t deadline_ns, char *err, size_t errlen)
{
	struct pgagent *a = db;

	if (pgconn_ensure(&a->pg, deadline_ns) == 0)
		return 0;
	snprintf(err, errlen, "PostgreSQL: %s", a->pg.err);
	return -1;
}

static int
fd_db(void *db)
{
	return pgconn_fd(&((struct pgagent *)db)->pg);
}

static void
idle_db(void *db)
{
	pgconn_idle_input(&((struct pgagent *)db)->pg);
}

static int
check_db(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len)
{
	((struct pgagent *)db)->q = q;
	return pgagent_check(db, deadline_ns, detail, len);
}

static int
freeze_db(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len)
{
	((struct pgagent *)db)->q = q;
	return pgagent_freeze(db, deadline_ns, detail, len);
}

static int
thaw_db(void *db, char *detail, size_t len)
{
	return pgagent_thaw(db, detail, len);
}

static void
close_db(void *db)
{
	pgconn_close(&((struct pgagent *)db)->pg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dbname", required_argument, NULL, 'd' }, AGENT_LONGOPTS, { NULL, 0, NULL, 0 },
	};
	struct pgagent a;
	struct agent_opts o;
	struct agent_ops ops = {
		.db = &a, .backoff = &a.pg.backoff, .connect = connect_db, .fd = fd_db,
		.idle_input = idle_db, .check = check_db, .freeze = freeze_db, .thaw = thaw_db,
		.lost = NULL,	/* FREEZE holds nothing (pgagent.c) */
		.close = close_db,
	};
	char err[256];
	int c, r;

	memset(&a, 0, sizeof(a));
	agent_opts_init(&o, PROG, "postgresql");
	while ((c = getopt_long(argc, argv, "d:" AGENT_SHORTOPTS, longopts, NULL)) != -1) {
		if (c == 'd') {
			a.pg.conninfo = optarg;
			continue;
		}
		if ((r = agent_opt(&o, c, optarg, usage)) == 1)
			return 0;
		if (r != 0) {
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument %s\nTry '" PROG " --help'.\n", argv[optind]);
		return 2;
	}
	if (pgconn_conninfo_ok(a.pg.conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	agent_log_init(PROG, o.verbose);
	return agent_run(&o, &ops);
}
