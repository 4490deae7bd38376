// SPDX-License-Identifier: MIT
/* Freezing and thawing a planned set of filesystems, in parallel, off the loop.
 *
 * A FIFREEZE can take long (where RCU grace periods are not expedited a cold one
 * waits ~25-40 ms for them; dirty data must be written back; a writer in the middle
 * of a write holds it) and a stuck one can block in the kernel for good, so the
 * ioctls run in worker threads (workpool.h) and report back to the event loop, which
 * keeps answering meanwhile. Independent filesystems never wait for one another's
 * slow FIFREEZE: fast ones run one after another on one thread, slow ones each get a
 * thread of their own. One that holds another (see policy.h) is frozen only after
 * it, and thawed before it.
 *
 * The freezer keeps the fd of every filesystem it froze until it is thawed, so FITHAW
 * reaches the same superblock even if paths change, and it thaws exactly that set.
 * Any failure while freezing stops the freeze and thaws everything that froze. */
#ifndef QUIESCE_FREEZER_H
#define QUIESCE_FREEZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/policy.h"

struct loop;
struct freezer;

/* The thaw guardian, seen from the freezer. arm runs in a worker thread, right
 * before FIFREEZE: if it fails, that filesystem is not frozen. */
struct freezer_guard {
	int (*arm)(void *ctx, uint64_t id, int fd, const char *path);
	void (*disarm)(void *ctx, uint64_t id);
	void *ctx;
};

enum fs_state {
	FS_PENDING,      /* waiting for the filesystems it holds to freeze first */
	FS_FREEZING,     /* FIFREEZE in a worker */
	FS_FROZEN,
	FS_THAWING,      /* FITHAW in a worker */
	FS_THAWED,
	FS_FAILED,       /* open/check/FIFREEZE failed: not frozen by us */
	FS_SKIPPED,      /* not tried: the freeze had already failed */
	FS_FOREIGN,      /* FIFREEZE said EBUSY: someone else froze it; not ours to thaw */
	FS_THAW_FAILED,  /* FITHAW failed with something other than EINVAL: may be frozen */
};

const char *fs_state_name(enum fs_state s);

struct fs_node {
	const struct fs_candidate *cand;
	enum fs_state state;
	int fd;
	int err;                 /* errno of the failed step */
	const char *failed_step; /* "open", "mount check", "freeze", "thaw" */
	bool abandoned;          /* its FIFREEZE outlived the deadline: thaw on return */
	bool thawed_by_other;    /* FITHAW said EINVAL: already thawed when we got there */
	uint64_t freeze_ns;      /* time spent in FIFREEZE */
	uint64_t thaw_ns;
	/* When its ioctl started and ended, from the start of the freeze (or thaw): shows
	 * the order and the overlap of parallel freezes in reports. */
	uint64_t freeze_start_ns, freeze_end_ns;
	uint64_t thaw_start_ns, thaw_end_ns;
	size_t waiting;          /* scheduling: how many must go before this one */
	bool thaw_tried;         /* scheduling: its FITHAW failed in this operation */
	uint64_t guard_id;       /* its id with the thaw guardian (0: not handed over) */
};

/* Called from the loop when an operation has finished. ok: nothing failed. */
typedef void (*freezer_done_fn)(void *arg, bool ok);

struct freezer *freezer_new(struct loop *loop);
void freezer_free(struct freezer *fz);
/* From now on every filesystem goes to the guardian before it is frozen. */
void freezer_set_guard(struct freezer *fz, const struct freezer_guard *guard);

/* Freeze every candidate of plan (the freezer takes it over). Returns 1 when
 * finished at once (empty plan; done is not called), 0 when done will be called,
 * -1 with errno (EBUSY: an operation or a stuck FIFREEZE is still under way). */
int freezer_freeze(struct freezer *fz, struct fs_plan *plan, uint64_t timeout_ms,
		   freezer_done_fn done, void *arg);
/* Thaw what the last freeze froze. Same return convention. */
int freezer_thaw(struct freezer *fz, freezer_done_fn done, void *arg);

/* Called from the loop when the last abandoned FIFREEZE has come back (and been
 * thawed if it froze) and nothing is frozen any more: no done callback covers that. */
void freezer_set_settled(struct freezer *fz, void (*fn)(void *arg), void *arg);
/* The run-dir record (leftover.h): removed by the worker whose thaw (or failed
 * FIFREEZE) leaves nothing of ours frozen, at once. Set before the first freeze. */
void freezer_set_record(struct freezer *fz, const char *path);
/* An abandoned FIFREEZE is still in the kernel. */
bool freezer_stuck(const struct freezer *fz);

/* The set of the last freeze, for status and reports. */
const struct fs_node *freezer_nodes(const struct freezer *fz, size_t *n);
/* A freeze that failed before it reached the freezer: the last set (reports, counts)
 * is no longer this operation's. Nothing is dropped while anything of it is active. */
void freezer_forget(struct freezer *fz);
size_t freezer_count(const struct freezer *fz, enum fs_state s);
/* Something is frozen, or an ioctl is under way. */
bool freezer_active(const struct freezer *fz);
/* First failure of the last operation, human readable ("" if none). */
const char *freezer_error(const struct freezer *fz);

#endif
