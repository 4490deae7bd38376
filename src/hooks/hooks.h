// SPDX-License-Identifier: MIT
/* The hook directory as the "hooks" stage of the transaction engine: qemu-ga's
 * fsfreeze-hook.d convention, bounded and unwound.
 *
 * FREEZE runs every hook in the directory as `HOOK freeze`, one after another in
 * name order (strcmp), before the filesystems freeze; a non-zero exit, a signal or a
 * timeout is a veto and the hooks after it are not run. THAW runs `HOOK thaw` in
 * reverse order after the filesystems thaw, for exactly the hooks whose freeze was
 * run (the one that failed included: it may have done half its work). CHECK runs
 * nothing (a hook may treat an unknown argument as an error): it checks that every
 * hook could be run safely. docs/apps.md has the details. */
#ifndef QUIESCE_APPS_HOOKS_H
#define QUIESCE_APPS_HOOKS_H

#include <stdint.h>

#include "engine/txn.h"

struct loop;
struct engine;
struct hooks;

struct hooks_config {
	const char *dir;          /* missing: no hooks */
	uint64_t timeout_ms;      /* one hook run */
	uint64_t budget_ms;       /* all hooks of one phase together (quiesced: --timeout) */
	const char *record;       /* which hooks got freeze (src/hooks/hookrecord.h), or NULL */
};

extern const struct stage_ops hooks_stage_ops;

struct hooks *hooks_new(struct loop *loop, struct engine *engine, const struct hooks_config *cfg);
/* At start: if the record names hooks that got freeze from a quiesced that died, run
 * their thaw now (in the background, bounded as every thaw; CHECK and FREEZE are
 * refused until it is over). 1 if it started, 0 if there was nothing to thaw. */
int hooks_recover(struct hooks *h);
/* Kills and reaps what is still running (nothing, once the engine is idle). */
void hooks_free(struct hooks *h);

#endif
