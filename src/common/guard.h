// SPDX-License-Identifier: MIT
/* quiesced's side of the thaw guardian (src/guardian/main.c): start it, hand it each
 * filesystem's fd before that filesystem is frozen, tell it the deadline, and notice
 * when it dies (then quiesced thaws at once and starts a new one). */
#ifndef QUIESCE_GUARD_H
#define QUIESCE_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct guard;

/* lost: the guardian died, or (expired) its deadline passed and it thawed; called
 * from the loop. quiesced must thaw now. */
struct guard *guard_new(struct loop *loop, const char *program,
			void (*lost)(void *arg, bool expired), void *arg);
void guard_free(struct guard *g);
/* Start the guardian process. -1 if it cannot be started (then freezes fail). */
int guard_start(struct guard *g);
bool guard_running(const struct guard *g);
pid_t guard_pid(const struct guard *g);

/* From any thread: give the guardian the fd before FIFREEZE. -1 if it is not running:
 * the caller must not freeze. */
int guard_arm(struct guard *g, uint64_t id, int fd, const char *path);
void guard_disarm(struct guard *g, uint64_t id);
/* The guardian thaws everything it holds when ms pass (0: no deadline). record: it
 * holds every filesystem we froze, and no FIFREEZE is under way (FROZEN): once it has
 * thawed them all, it removes this run-dir record too (NULL: it must not). */
void guard_deadline(struct guard *g, uint64_t ms, const char *record);
void guard_clear(struct guard *g);

#endif
