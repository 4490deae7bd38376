/* The freezer's worker threads: blocking ioctls run there, off the event loop, and
 * come back to the loop through an eventfd.
 *
 * As few threads as the kernel lets us have. A FIFREEZE that returns at once (a
 * clean filesystem where RCU grace periods are expedited: ~0.1-0.5 ms) costs less
 * than waking another thread, so fast jobs run one after another on one worker. A
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

/* Eager: a thread per job at once (the last jobs were slow). */
void workpool_set_eager(struct workpool *wp, bool eager);

/* The caller's operation is over: retire idle threads after WORKPOOL_RETIRE_MS. */
void workpool_rest(struct workpool *wp);

/* Threads now (for tests and status). */
unsigned workpool_threads(struct workpool *wp);

#endif
