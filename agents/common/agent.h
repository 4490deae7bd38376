// SPDX-License-Identifier: MIT
/*
 * What every database agent shares (agents/<db>/ on this skeleton, docs/apps.md):
 * logging to stderr (journald adds the time), the monotonic clock, reconnect
 * backoff, and the check that every directory the database writes is on a
 * filesystem quiesced will freeze.
 */
#ifndef QUIESCE_AGENT_H
#define QUIESCE_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "quiesce.h"

/* ---- logging: "<prog>: <level>: <text>" on stderr */
enum agent_level { AGENT_ERR, AGENT_WARN, AGENT_INFO, AGENT_DEBUG };
void agent_log_init(const char *prog, int verbose);
void agent_log(enum agent_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- time (now_ns: common/util.h) */
/* Milliseconds from now until deadline_ns (CLOCK_MONOTONIC), 0 if passed. */
int agent_ms_left(uint64_t deadline_ns);

/* ---- reconnect backoff: 100 ms, doubling, up to max_ms; reset on success */
struct agent_backoff {
	unsigned cur_ms, max_ms;
	uint64_t next_ns;	/* 0: try now */
};
void agent_backoff_failed(struct agent_backoff *b);
void agent_backoff_reset(struct agent_backoff *b);
/* Milliseconds until the next try is due (0: now). */
int agent_backoff_wait_ms(const struct agent_backoff *b);

/* ---- the directories a database writes, and whether quiesced freezes them */
struct agent_dir {
	char what[64];		/* "data_directory", "pg_wal", "tablespace ts1", ... */
	char path[4096];
};

enum agent_cover {
	AGENT_COVERED = 0,	/* every directory is on a filesystem quiesced freezes */
	AGENT_NOT_COVERED,	/* one is not: why names it and its mount */
	AGENT_CANNOT_TELL,	/* stat failed, the list is incomplete, the query failed */
	AGENT_NOT_CHECKED,	/* the daemon speaks protocol 1: no list to check with */
};

/* Ask q for the candidates and check each of dirs (symlinks resolved). why: a
 * sentence for the log and the veto (the answer's detail keeps its first 127 bytes). */
enum agent_cover agent_check_dirs(struct quiesce *q, const struct agent_dir *dirs, size_t n,
    int timeout_ms, char *why, size_t whylen);

/* agent_check_dirs with the query bounded by deadline_ns (at most 2 s), logged: 0 to go
 * on (covered, or not checkable with a protocol 1 daemon), -1 to veto with detail. */
int agent_dirs_ok(struct quiesce *q, const struct agent_dir *dirs, size_t n, uint64_t deadline_ns,
    char *detail, size_t len);

#endif
