// SPDX-License-Identifier: MIT
/*
 * The PostgreSQL agent's answers.
 *
 * CHECK and FREEZE both check the cluster's directories (data_directory, the real
 * location of pg_wal, every tablespace) against the filesystems quiesced freezes:
 * `quiescectl freeze` and `snapshot` go straight to FREEZE, and a snapshot that
 * misses the WAL restores to a broken cluster.
 *
 * FREEZE then runs CHECKPOINT under a statement_timeout that ends inside the
 * daemon's deadline, so that the restored cluster replays only the WAL written
 * after it, and answers with the WAL insert position ("lsn X/Y"): every commit
 * acknowledged before that is in the snapshot. Nothing is held after the answer:
 * PostgreSQL's WAL makes any atomic image of all its filesystems recoverable (the
 * daemon freezes all of them before the snapshot is taken), so FREEZE only makes
 * the recovery short and says where the snapshot stands.
 *
 * Non-exclusive pg_backup_start()/pg_backup_stop() is not used: it adds nothing
 * to a snapshot taken while every filesystem of the cluster is frozen. Its
 * backup_label, which tells recovery where to start, only exists after
 * pg_backup_stop() (after the snapshot) and would have to be put into the
 * restored copy by hand; without it the restored cluster recovers as after a
 * crash, from the last checkpoint, which our CHECKPOINT has just moved to the
 * freeze. PostgreSQL's documentation asks for the backup functions only when
 * the filesystems cannot be snapshotted at one instant, which a freeze of all of
 * them provides. (docs/apps.md.)
 */
#include <stdio.h>
#include <string.h>

#include "agentloop.h"
#include "pgagent.h"

/* Reserved after the CHECKPOINT for the WAL position and the answer. */
#define ANSWER_MARGIN_MS 250
#define MAX_DIRS 64

/* data_directory (needs superuser or pg_read_all_settings) and every tablespace. */
static const char dirs_sql[] =
    "SELECT 'data_directory', current_setting('data_directory') UNION ALL "
    "SELECT 'tablespace ' || spcname, pg_tablespace_location(oid) FROM pg_tablespace "
    "WHERE pg_tablespace_location(oid) <> ''";

/* On a standby (recovery) the position is the replay position. */
static const char lsn_sql[] =
    "SELECT CASE WHEN pg_is_in_recovery() THEN 'replay ' || pg_last_wal_replay_lsn() "
    "ELSE 'lsn ' || pg_current_wal_lsn() END";

unsigned
pgagent_checkpoint_budget_ms(int ms_left)
{
	/* Keep a margin, but never less than half of what is left for the CHECKPOINT. */
	int margin = ms_left / 2 < ANSWER_MARGIN_MS ? ms_left / 2 : ANSWER_MARGIN_MS;
	int b = ms_left - margin;

	return b >= 1 ? (unsigned)b : 1;
}

static int
connect_or_veto(struct pgagent *a, uint64_t deadline_ns, char *detail, size_t len)
{
	if (pgconn_ensure(&a->pg, deadline_ns) == 0)
		return 0;
	snprintf(detail, len, "PostgreSQL: %s", a->pg.err);
	agent_log(AGENT_WARN, "%s", detail);
	return -1;
}

/* The cluster's directories, from the server; pg_wal is <data_directory>/pg_wal,
 * resolved by agent_check_dirs (it is often a symlink to another filesystem). */
static size_t
cluster_dirs(struct pgagent *a, uint64_t deadline_ns, struct agent_dir *dirs, size_t max)
{
	PGresult *r = pgconn_exec(&a->pg, dirs_sql, deadline_ns);
	size_t n = 0;
	int i;

	if (r == NULL)
		return 0;
	for (i = 0; i < PQntuples(r) && n + 2 <= max; i++) {
		snprintf(dirs[n].what, sizeof(dirs[n].what), "%s", PQgetvalue(r, i, 0));
		snprintf(dirs[n].path, sizeof(dirs[n].path), "%s", PQgetvalue(r, i, 1));
		n++;
		if (i == 0) {
			snprintf(dirs[n].what, sizeof(dirs[n].what), "pg_wal");
			snprintf(dirs[n].path, sizeof(dirs[n].path), "%s/pg_wal", PQgetvalue(r, i, 1));
			n++;
		}
	}
	PQclear(r);
	return n;
}

/* 0 if every directory is frozen (or cannot be checked with a protocol 1 daemon). */
static int
check_dirs(struct pgagent *a, uint64_t deadline_ns, char *detail, size_t len)
{
	struct agent_dir dirs[MAX_DIRS];
	size_t n = cluster_dirs(a, deadline_ns, dirs, MAX_DIRS);

	if (n == 0) {
		snprintf(detail, len, "cannot list the cluster's directories: %s", a->pg.err);
		agent_log(AGENT_WARN, "%s", detail);
		return -1;
	}
	return agent_dirs_ok(a->q, dirs, n, deadline_ns, detail, len);}

int
pgagent_check(struct pgagent *a, uint64_t deadline_ns, char *detail, size_t len)
{
	if (connect_or_veto(a, deadline_ns, detail, len) < 0 || check_dirs(a, deadline_ns, detail, len) < 0)
		return QUIESCE_FAIL;
	return QUIESCE_SUCCESS;
}

int
pgagent_freeze(struct pgagent *a, uint64_t deadline_ns, char *detail, size_t len)
{
	char sql[64];
	PGresult *r;
	uint64_t t0;
	unsigned budget;

	if (connect_or_veto(a, deadline_ns, detail, len) < 0 || check_dirs(a, deadline_ns, detail, len) < 0)
		return QUIESCE_FAIL;
	/* The server's own bound, and ours around it (pgconn_exec cancels at the deadline). */
	budget = pgagent_checkpoint_budget_ms(agent_ms_left(deadline_ns));
	snprintf(sql, sizeof(sql), "SET statement_timeout = %u", budget);
	t0 = now_ns();
	r = pgconn_exec(&a->pg, sql, deadline_ns);
	if (r != NULL) {
		PQclear(r);
		r = pgconn_exec(&a->pg, "CHECKPOINT", t0 + (uint64_t)budget * 1000000u);
	}
	if (r == NULL) {
		snprintf(detail, len, "CHECKPOINT failed: %s", a->pg.err);
		agent_log(AGENT_WARN, "veto: %s", detail);
		if ((r = pgconn_exec(&a->pg, "RESET statement_timeout", deadline_ns)) != NULL)
			PQclear(r);
		return QUIESCE_FAIL;
	}
	PQclear(r);
	if ((r = pgconn_exec(&a->pg, "RESET statement_timeout", deadline_ns)) != NULL)
		PQclear(r);
	r = pgconn_exec(&a->pg, lsn_sql, deadline_ns);
	if (r == NULL || PQntuples(r) != 1) {
		snprintf(detail, len, "cannot read the WAL position: %s", a->pg.err);
		agent_log(AGENT_WARN, "veto: %s", detail);
		PQclear(r);
		return QUIESCE_FAIL;
	}
	snprintf(detail, len, "%s checkpoint %.0f ms", PQgetvalue(r, 0, 0),
	    (double)(now_ns() - t0) / 1e6);
	snprintf(a->position, sizeof(a->position), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	agent_log(AGENT_INFO, "frozen: %s", detail);
	a->frozen = 1;
	return QUIESCE_SUCCESS;
}

int
pgagent_thaw(struct pgagent *a, char *detail, size_t len)
{
	/* FREEZE holds nothing past its answer (see above): nothing to end here. The
	 * answer repeats the snapshot's position, so that quiescectl apps (which shows
	 * the last answer) still says where the last snapshot stands. */
	detail[0] = '\0';
	if (a->frozen && a->position[0])
		snprintf(detail, len, "thawed; the snapshot is at %s", a->position);
	if (a->frozen)
		agent_log(AGENT_INFO, "thawed");
	a->frozen = 0;
	return QUIESCE_SUCCESS;
}

/* ---- for the agents' loop (agents/common/agentloop.h) */

static int
op_connect(void *db, uint64_t deadline_ns, char *err, size_t errlen)
{
	struct pgagent *a = db;

	if (pgconn_ensure(&a->pg, deadline_ns) == 0)
		return 0;
	snprintf(err, errlen, "PostgreSQL: %s", a->pg.err);
	return -1;
}

static int
op_fd(void *db)
{
	return pgconn_fd(&((struct pgagent *)db)->pg);
}

static void
op_idle(void *db)
{
	pgconn_idle_input(&((struct pgagent *)db)->pg);
}

static int
op_check(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len)
{
	((struct pgagent *)db)->q = q;
	return pgagent_check(db, deadline_ns, detail, len);
}

static int
op_freeze(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len)
{
	((struct pgagent *)db)->q = q;
	return pgagent_freeze(db, deadline_ns, detail, len);
}

static int
op_thaw(void *db, char *detail, size_t len)
{
	return pgagent_thaw(db, detail, len);
}

static void
op_close(void *db)
{
	pgconn_close(&((struct pgagent *)db)->pg);
}

void
pgagent_ops(struct pgagent *a, struct agent_ops *ops)
{
	*ops = (struct agent_ops){
		.db = a, .backoff = &a->pg.backoff, .connect = op_connect, .fd = op_fd,
		.idle_input = op_idle, .check = op_check, .freeze = op_freeze, .thaw = op_thaw,
		.lost = NULL,	/* FREEZE holds nothing */
		.close = op_close,
	};
}
