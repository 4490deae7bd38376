// SPDX-License-Identifier: MIT
/* The filesystems as a stage of the transaction engine: plan with the policy, freeze
 * and thaw with the freezer, check what can be checked without freezing. */
#ifndef QUIESCE_FS_STAGE_H
#define QUIESCE_FS_STAGE_H

#include <stdint.h>

#include "engine/txn.h"
#include "fs/freezer.h"
#include "fs/policy.h"

struct loop;
struct appwire_fs;
struct fs_stage;

extern const struct stage_ops fs_stage_ops;

/* policy must outlive the stage. timeout_ms bounds one FIFREEZE. */
struct fs_stage *fs_stage_new(struct loop *loop, struct engine *engine,
			      const struct fs_policy *policy, uint64_t timeout_ms);
void fs_stage_free(struct fs_stage *fs);
/* Hand every filesystem to the thaw guardian before freezing it. */
void fs_stage_set_guard(struct fs_stage *fs, const struct freezer_guard *guard);
/* Keep a record of what is being frozen at path (see leftover.h). */
void fs_stage_set_record(struct fs_stage *fs, const char *path);
/* Told when a FIFREEZE abandoned at its deadline came back and was thawed, after the
 * transaction had ended: nothing of ours is frozen any more. */
void fs_stage_set_settled(struct fs_stage *fs, void (*fn)(void *arg), void *arg);
/* An abandoned FIFREEZE is still in the kernel (the guardian may not hold it). */
bool fs_stage_stuck(const struct fs_stage *fs);

/* The plan a freeze would follow now (the apps' filesystem query). 0, or -1 and msg. */
int fs_stage_plan(struct fs_stage *fs, struct fs_plan *plan, char *msg, size_t msglen);
/* The plan's candidates as app protocol entries (the apps' filesystem query): *out
 * malloc'd with *n entries, those too long for the frame left out (*incomplete). */
int fs_stage_fs_list(struct fs_stage *fs, struct appwire_fs **out, size_t *n, bool *incomplete,
		     char *msg, size_t msglen);

/* Where the mount table is read from (tests may point it elsewhere). */
extern const char *fs_stage_mountinfo_path;

#endif
