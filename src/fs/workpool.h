// SPDX-License-Identifier: MIT
/* The freezer's worker threads: blocking ioctls run there, off the event loop, and
 * come back to the loop through an eventfd.
 *
 * As few threads as the kernel lets us have. A FIFREEZE that returns at once (a
 * clean filesystem where RCU grace periods are expedited: ~0.1-0.5 ms) costs less
 * than waking another thread, so fast jobs run one after another on one worker (or
 * on as many as the caller's base, workpool_set_base: one per CPU lets fast jobs
 * use every CPU, which halves a 16-filesystem freeze on 2 cores even when each
 * FIFREEZE returns in 0.1 ms). A
 * slow one (an RCU grace period of ~25-40 ms where they are not expedited, dirty
 * data to write back, a writer in the middle of a write, a FIFREEZE stuck for good)
 * must never hold up the next independent job: when WORKPOOL_FANOUT_MS pass with
 * jobs waiting and none taken, every waiting job gets a thread of its own. In eager
 * mode (the caller has seen slow jobs lately) every job gets a thread at once.
 * Threads idle for WORKPOOL_RETIRE_MS after workpool_rest() exit, so that the daemon
 * shrinks back to its idle size between freezes. */
#ifndef QUIESCE_WORKPOOL_H
#define QUIESCE_WORKPOOL_H

#include <stdbool.h>

#define WORKPOOL_MAX_THREADS 64
#define WORKPOOL_FANOUT_MS 1
#define WORKPOOL_FANOUT_RETRY_MS 100   /* no thread could be made: look again later */
#define WORKPOOL_RETIRE_MS 2000

struct loop;
struct workpool;

/* A job: embed it in your own struct. run() is called in a worker thread. */
struct workpool_job {
	struct workpool_job *next;
	void (*run)(struct workpool_job *job);
	/* Set by run(): nobody waits on this one, the loop may hear of it together
	 * with a later job (it always hears once no job is queued). Each wakeup of
	 * the loop took a CPU from the workers: on 2 cores, 16 of them cost a fast
	 * 16-filesystem freeze ~0.2 ms. */
	bool no_hurry;
};

/* Called on the loop with the jobs that finished since the last call, as a list
 * through ->next (most recent first); the callee owns them. */
typedef void (*workpool_done_fn)(void *arg, struct workpool_job *finished);

struct workpool *workpool_new(struct loop *loop, workpool_done_fn done, void *arg);

/* Stops the pool. Returns false (and frees nothing) if a worker is inside a job:
 * a stuck ioctl may never return, so that is left to the process's exit (or to
 * another call, once the job has returned). Jobs that finished but were not handed
 * to done are freed with free_job. */
bool workpool_free(struct workpool *wp, void (*free_job)(struct workpool_job *job));

/* Queues a job. -1 only if there is no thread at all and none can be made. */
int workpool_submit(struct workpool *wp, struct workpool_job *job);

/* Threads made at once, without waiting to see whether jobs are slow (default 1). */
void workpool_set_base(struct workpool *wp, unsigned base);

/* Eager: a thread per job at once (the last jobs were slow). */
void workpool_set_eager(struct workpool *wp, bool eager);

/* The caller's operation is over: retire idle threads after WORKPOOL_RETIRE_MS. */
void workpool_rest(struct workpool *wp);

/* Hand the jobs that finished so far to done now, without waiting for the loop
 * to hear of them (before judging what is still under way). */
void workpool_collect(struct workpool *wp);

/* Threads now (for tests and status). */
unsigned workpool_threads(struct workpool *wp);

#endif
