// SPDX-License-Identifier: MIT
/*
 * The MariaDB agent's answers.
 *
 * CHECK and FREEZE check the server's directories (datadir, InnoDB's data, redo
 * log and undo directories, the binlog's, Aria's log) against the filesystems
 * quiesced freezes.
 *
 * FREEZE then takes MariaDB's backup lock on the session the agent keeps:
 * BACKUP STAGE START and BACKUP STAGE BLOCK_COMMIT (the stages between run on the
 * way: non-transactional tables are flushed, DDL and commits blocked, the binlog
 * flushed), each lock wait bounded by lock_wait_timeout well inside the daemon's
 * deadline. If the lock cannot be had in time (a long DDL, a long write to an Aria
 * or MyISAM table), the agent releases what it got and vetoes, instead of queueing
 * every other session behind it as FLUSH TABLES WITH READ LOCK does. The answer
 * carries the binlog position and GTID at the freeze. THAW: BACKUP STAGE END. If
 * the agent dies, the server ends its session and the lock with it; if quiesced
 * goes away while frozen, the agent ends it (mdbagent_release).
 *
 * MySQL 8 (untested here: Debian 12 has no MySQL): LOCK INSTANCE FOR BACKUP and
 * FLUSH TABLES WITH READ LOCK, released with UNLOCK TABLES and UNLOCK INSTANCE.
 */
#include <stdio.h>
#include <string.h>

#include "agentloop.h"
#include "mdbagent.h"

#define ANSWER_MARGIN_MS 500
#define NVARS 6

static const char dirs_sql[] =
    "SELECT @@datadir, @@innodb_data_home_dir, @@innodb_log_group_home_dir, "
    "@@innodb_undo_directory, @@log_bin_basename, @@aria_log_dir_path";
static const char *const dir_names[NVARS] = {
	"datadir", "innodb_data_home_dir", "innodb_log_group_home_dir", "innodb_undo_directory",
	"binlog", "aria_log_dir_path",
};
/* MySQL has neither Aria nor (before 8.0) the same names: the columns it lacks. */
static const char dirs_sql_mysql[] =
    "SELECT @@datadir, @@innodb_data_home_dir, @@innodb_log_group_home_dir, "
    "@@innodb_undo_directory, @@log_bin_basename, NULL";

unsigned
mdbagent_lock_wait_s(int ms_left)
{
	int s = (ms_left - ANSWER_MARGIN_MS) / 1000;

	return s > 0 ? (unsigned)s : 0;
}

void
mdbagent_resolve_dir(const char *datadir, const char *val, char *out, size_t len)
{
	if (val == NULL || val[0] == '\0')
		snprintf(out, len, "%s", datadir);
	else if (val[0] == '/')
		snprintf(out, len, "%s", val);
	else
		snprintf(out, len, "%s/%s", datadir, val);
}

static int
connect_or_veto(struct mdbagent *a, uint64_t deadline_ns, char *detail, size_t len)
{
	if (mdbconn_ensure(&a->db, deadline_ns) == 0)
		return 0;
	snprintf(detail, len, "MariaDB: %s", a->db.err);
	agent_log(AGENT_WARN, "%s", detail);
	return -1;
}

static int
check_dirs(struct mdbagent *a, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len)
{
	static char vals[NVARS][4096];
	struct agent_dir dirs[NVARS];
	size_t n = 0, i;

	if (mdbconn_row(&a->db, a->db.mysql ? dirs_sql_mysql : dirs_sql, vals, NVARS) != 1) {
		snprintf(detail, len, "cannot list the server's directories: %s", a->db.err);
		agent_log(AGENT_WARN, "%s", detail);
		return -1;
	}
	for (i = 0; i < NVARS; i++) {
		char *slash;
		if (i == 4) {
			/* The binlog's base name: its directory, if the binlog is on. */
			if (vals[i][0] == '\0' || (slash = strrchr(vals[i], '/')) == NULL)
				continue;
			*slash = '\0';
		} else if (i == 5 && a->db.mysql) {
			continue;
		}
		snprintf(dirs[n].what, sizeof(dirs[n].what), "%s", dir_names[i]);
		mdbagent_resolve_dir(vals[0], vals[i], dirs[n].path, sizeof(dirs[n].path));
		n++;
	}
	return agent_dirs_ok(q, dirs, n, deadline_ns, detail, len);}

int
mdbagent_check(struct mdbagent *a, struct quiesce *q, uint64_t deadline_ns, char *detail,
    size_t len)
{
	if (connect_or_veto(a, deadline_ns, detail, len) < 0 ||
	    check_dirs(a, q, deadline_ns, detail, len) < 0)
		return QUIESCE_FAIL;
	return QUIESCE_SUCCESS;
}

void
mdbagent_release(struct mdbagent *a)
{
	const char *sql = a->db.mysql ? "UNLOCK TABLES" : "BACKUP STAGE END";

	if (!a->locked)
		return;
	a->locked = 0;
	if (mdbconn_exec(&a->db, sql) < 0 ||
	    (a->db.mysql && mdbconn_exec(&a->db, "UNLOCK INSTANCE") < 0)) {
		/* Closing the session releases everything on the server's side. */
		agent_log(AGENT_WARN, "%s; closing the session to release the lock", a->db.err);
		mdbconn_close(&a->db);
		agent_backoff_failed(&a->db.backoff);
		return;
	}
	agent_log(AGENT_INFO, "backup lock released");
}

/* Take the lock, each wait bounded by lock_wait_timeout. 0, or -1 (released). */
static int
lock(struct mdbagent *a, uint64_t deadline_ns, char *detail, size_t len)
{
	static const char *const mariadb[] = { "BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT" };
	static const char *const mysql[] = { "LOCK INSTANCE FOR BACKUP", "FLUSH TABLES WITH READ LOCK" };
	const char *const *steps = a->db.mysql ? mysql : mariadb;
	char sql[64];
	int i;

	snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %u",
	    mdbagent_lock_wait_s(agent_ms_left(deadline_ns)));
	if (mdbconn_exec(&a->db, sql) < 0) {
		snprintf(detail, len, "%s", a->db.err);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		if (mdbconn_exec(&a->db, steps[i]) < 0) {
			snprintf(detail, len, "%s", a->db.err);
			if (i > 0 || a->db.mysql) {
				a->locked = 1;	/* START holds a stage, LOCK INSTANCE a lock */
				mdbagent_release(a);
			}
			return -1;
		}
		a->locked = 1;
	}
	return 0;
}

/* "binlog FILE:POS gtid G", or what of it there is. */
static void
position(struct mdbagent *a, char *out, size_t len)
{
	static char v[2][4096];
	char file[160] = "";

	if (mdbconn_row(&a->db, "SHOW MASTER STATUS", v, 2) == 1)
		snprintf(file, sizeof(file), "binlog %.100s:%.20s ", v[0], v[1]);
	if (mdbconn_row(&a->db, a->db.mysql ? "SELECT @@gtid_executed" : "SELECT @@gtid_binlog_pos",
	    v, 1) == 1 && v[0][0])
		snprintf(out, len, "%sgtid %.60s", file, v[0]);
	else
		snprintf(out, len, "%s", file[0] ? file : "no binlog");
	len = strlen(out);
	if (len && out[len - 1] == ' ')
		out[len - 1] = '\0';
}

int
mdbagent_freeze(struct mdbagent *a, struct quiesce *q, uint64_t deadline_ns, char *detail,
    size_t len)
{
	uint64_t t0;

	if (connect_or_veto(a, deadline_ns, detail, len) < 0 ||
	    check_dirs(a, q, deadline_ns, detail, len) < 0)
		return QUIESCE_FAIL;
	t0 = now_ns();
	if (lock(a, deadline_ns, detail, len) < 0) {
		agent_log(AGENT_WARN, "veto: %s (nothing stays locked)", detail);
		return QUIESCE_FAIL;
	}
	position(a, a->position, sizeof(a->position));
	snprintf(detail, len, "%s; locked in %.0f ms", a->position, (double)(now_ns() - t0) / 1e6);
	agent_log(AGENT_INFO, "frozen: %s", detail);
	return QUIESCE_SUCCESS;
}

int
mdbagent_thaw(struct mdbagent *a, char *detail, size_t len)
{
	if (!a->locked) {
		detail[0] = '\0';
		return QUIESCE_SUCCESS;
	}
	mdbagent_release(a);
	snprintf(detail, len, "thawed; the snapshot is at %s", a->position);
	return QUIESCE_SUCCESS;
}

/* ---- for the agents' loop (agents/common/agentloop.h) */

static int
op_connect(void *db, uint64_t deadline_ns, char *err, size_t errlen)
{
	struct mdbagent *a = db;

	if (mdbconn_ensure(&a->db, deadline_ns) == 0)
		return 0;
	snprintf(err, errlen, "MariaDB: %s", a->db.err);
	return -1;
}

static int
op_fd(void *db)
{
	return mdbconn_fd(&((struct mdbagent *)db)->db);
}

static void
op_idle(void *db)
{
	mdbconn_idle_input(&((struct mdbagent *)db)->db);
}

static int
op_check(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len)
{
	return mdbagent_check(db, q, deadline_ns, detail, len);
}

static int
op_freeze(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len)
{
	return mdbagent_freeze(db, q, deadline_ns, detail, len);
}

static int
op_thaw(void *db, char *detail, size_t len)
{
	return mdbagent_thaw(db, detail, len);
}

static void
op_lost(void *db)
{
	mdbagent_release(db);
}

static void
op_close(void *db)
{
	mdbagent_release(db);
	mdbconn_close(&((struct mdbagent *)db)->db);
}

void
mdbagent_ops(struct mdbagent *a, struct agent_ops *ops)
{
	*ops = (struct agent_ops){
		.db = a, .backoff = &a->db.backoff, .connect = op_connect, .fd = op_fd,
		.idle_input = op_idle, .check = op_check, .freeze = op_freeze, .thaw = op_thaw,
		.lost = op_lost, .close = op_close,
	};
}
