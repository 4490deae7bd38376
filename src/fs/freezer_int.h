// SPDX-License-Identifier: MIT
/* The freezer's insides, shared by freezer.c (the plan, the order, the deadline, the
 * API) and fsjob.c (the ioctls in the worker threads and what comes back). */
#ifndef QUIESCE_FREEZER_INT_H
#define QUIESCE_FREEZER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/log.h"
#include "common/loop.h"
#include "fs/freezer.h"
#include "fs/workpool.h"

/* A FIFREEZE that took this long or more: the next freeze fans out at once (its
 * filesystems will most likely be as slow; see workpool.h). */
#define SLOW_FREEZE_NS (1000 * 1000)

/* JOB_LATE_THAW: thaw of an abandoned FIFREEZE that came back frozen; its node is
 * no longer tracked, the job carries the fd and path. */
enum job_kind { JOB_FREEZE, JOB_THAW, JOB_LATE_THAW };

struct job {
	struct workpool_job wj;  /* first: a job is its workpool_job */
	struct freezer *fz;
	enum job_kind kind;
	size_t node;
	unsigned epoch;        /* which freeze the node belongs to */
	/* in */
	char *path;
	int mount_id;
	int fd;
	uint64_t guard_id;     /* non-zero: arm the guardian with this id first */
	bool holders_wait;     /* a FIFREEZE other filesystems wait for */
	/* out */
	int err;
	const char *step;
	uint64_t t_start, t_end; /* monotonic ns around the ioctl */
};

struct freezer {
	struct loop *loop;
	struct workpool *pool;

	struct freezer_guard guard;
	bool has_guard;
	/* Filesystems that may be frozen by us: a FIFREEZE queued, under way or done,
	 * not thawed yet. The worker that brings it to 0 removes the record at once. */
	atomic_uint maybe_frozen;
	char *record;           /* the run-dir record (leftover.h), or NULL */

	/* Owned by the loop thread. */
	unsigned epoch;
	struct fs_plan plan;
	struct fs_node *nodes;
	size_t n;
	enum { OP_NONE, OP_FREEZE, OP_THAW } op;
	bool stopping;          /* the freeze failed: issue no more FIFREEZE */
	size_t inflight;        /* jobs of the current op not back yet */
	size_t stragglers;      /* abandoned FIFREEZEs still in the kernel */
	bool holding_log;
	uint64_t op_t0;         /* monotonic ns when the current op began */
	bool unwinding;         /* a failed freeze is thawing what it froze */
	char error[512];
	struct loop_timer deadline;
	struct loop_timer notify;
	bool slow_seen;             /* a FIFREEZE of the current freeze was slow */
	uint64_t timeout_ms;
	freezer_done_fn done;
	void *done_arg;
	void (*settled)(void *arg);
	void *settled_arg;
};

/* freezer.c: the first failure of the operation, kept as its cause. */
void freezer_set_error(struct freezer *fz, const char *fmt, ...) LOG_PRINTF(2, 3);

/* fsjob.c: a job to the workers, and its result back in the freezer's state. */
int fsjob_submit(struct freezer *fz, struct job *j);
/* One filesystem is known not to be frozen by us any more; the last one removes the
 * run-dir record at once (see fsjob.c). */
void fsjob_release(struct freezer *fz);
void fsjob_free(struct workpool_job *wj);
/* An abandoned FIFREEZE came back: thaw it if it froze. True if j was reused. */
bool fsjob_straggler_returned(struct freezer *fz, struct job *j);
void fsjob_freeze_done(struct freezer *fz, struct fs_node *nd, struct job *j);
void fsjob_thaw_done(struct freezer *fz, struct fs_node *nd, struct job *j);

#endif
