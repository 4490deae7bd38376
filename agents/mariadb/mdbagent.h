// SPDX-License-Identifier: MIT
/* What the MariaDB agent does for each request (see mdbagent.c). */
#ifndef QUIESCE_AGENT_MDBAGENT_H
#define QUIESCE_AGENT_MDBAGENT_H

#include <stddef.h>
#include <stdint.h>

#include "mdbconn.h"

struct mdbagent {
	struct mdbconn db;
	int locked;		/* the session holds the backup lock (FREEZE succeeded) */
	char position[128];	/* binlog position / GTID of the last FREEZE */
};

int mdbagent_check(struct mdbagent *a, struct quiesce *q, uint64_t deadline_ns, char *detail,
    size_t len);
int mdbagent_freeze(struct mdbagent *a, struct quiesce *q, uint64_t deadline_ns, char *detail,
    size_t len);
int mdbagent_thaw(struct mdbagent *a, char *detail, size_t len);
/* Release the backup lock now (quiesced is gone while frozen, or we stop). */
void mdbagent_release(struct mdbagent *a);

/* The agent as struct agent_ops, for agent_run(). */
struct agent_ops;
void mdbagent_ops(struct mdbagent *a, struct agent_ops *ops);

/* lock_wait_timeout (whole seconds) for a lock that must be had by deadline: what is
 * left less a margin to answer; 0 (do not wait) when less than a second is left. */
unsigned mdbagent_lock_wait_s(int ms_left);
/* A directory variable as the server resolves it: NULL or "" is the datadir, a
 * relative path is relative to it. */
void mdbagent_resolve_dir(const char *datadir, const char *val, char *out, size_t len);

#endif
