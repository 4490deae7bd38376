// SPDX-License-Identifier: MIT
/* What the PostgreSQL agent does for each request (see pgagent.c). */
#ifndef QUIESCE_AGENT_PGAGENT_H
#define QUIESCE_AGENT_PGAGENT_H

#include <stddef.h>
#include <stdint.h>

#include "pgconn.h"

struct pgagent {
	struct pgconn pg;
	struct quiesce *q;	/* for the filesystem query */
	int frozen;		/* answered FREEZE with success, no THAW yet */
	char position[64];	/* "lsn X/Y" of the last FREEZE */
};

/* Each returns QUIESCE_SUCCESS or QUIESCE_FAIL and writes the answer's detail (a veto's
 * reason, the WAL position) into detail. deadline_ns: when the daemon stops waiting. */
int pgagent_check(struct pgagent *a, uint64_t deadline_ns, char *detail, size_t len);
int pgagent_freeze(struct pgagent *a, uint64_t deadline_ns, char *detail, size_t len);
int pgagent_thaw(struct pgagent *a, char *detail, size_t len);

/* The agent as struct agent_ops, for agent_run(). */
struct agent_ops;
void pgagent_ops(struct pgagent *a, struct agent_ops *ops);

/* The statement_timeout for a CHECKPOINT that must end by deadline_ns (ms, >= 1):
 * what is left minus a margin to read the WAL position and answer. */
unsigned pgagent_checkpoint_budget_ms(int ms_left);

#endif
