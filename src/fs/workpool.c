// SPDX-License-Identifier: MIT
#include "fs/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"

#define WORKER_STACK (128 * 1024)

struct workpool {
	struct loop *loop;
	int efd;
	workpool_done_fn done;
	void *done_arg;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct workpool_job *todo, **todo_tail;
	struct workpool_job *finished;  /* back from the workers, for the loop */
	unsigned idle, threads;
	unsigned queued;                /* jobs in todo, not yet taken */
	unsigned long taken;            /* jobs ever taken: progress, for the fan-out */
	pthread_t tids[WORKPOOL_MAX_THREADS];
	bool shutdown;
	bool retire;                    /* idle workers exit */
	bool eager;
	unsigned base;                  /* threads made without waiting */

	/* Owned by the loop thread. */
	struct loop_timer fanout;
	unsigned long taken_seen;       /* taken when the fan-out timer was armed */
	struct loop_timer retire_timer;
};

static void *worker_main(void *arg)
{
	struct workpool *wp = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&wp->mu);
	for (;;) {
		struct workpool_job *j;
		while (!wp->todo && !wp->shutdown && !wp->retire)
			pthread_cond_wait(&wp->cond, &wp->mu);
		if (wp->shutdown || !wp->todo)
			break;
		j = wp->todo;
		wp->todo = j->next;
		if (!wp->todo)
			wp->todo_tail = &wp->todo;
		wp->queued--;
		wp->idle--;
		wp->taken++;
		pthread_mutex_unlock(&wp->mu);

		j->no_hurry = false;
		j->run(j);

		pthread_mutex_lock(&wp->mu);
		j->next = wp->finished;
		wp->finished = j;
		wp->idle++;
		/* The eventfd write cannot block: the counter is far from overflowing. */
		if ((!j->no_hurry || !wp->todo) && write(wp->efd, &one, sizeof(one)) < 0)
			abort();
	}
	pthread_mutex_unlock(&wp->mu);
	return NULL;
}

/* One more worker; called with mu held. */
static int spawn_worker(struct workpool *wp)
{
	pthread_attr_t attr;
	int err;

	if (wp->threads >= WORKPOOL_MAX_THREADS)
		return -1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	err = pthread_create(&wp->tids[wp->threads], &attr, worker_main, wp);
	pthread_attr_destroy(&attr);
	if (err)
		return -1;
	wp->threads++;
	wp->idle++;
	return 0;
}

/* Jobs that no worker is free to take. An idle worker that has not yet woken up to
 * take an earlier job is not free for this one: count the queue, or independent
 * jobs end up run one after another by the same thread. */
static unsigned unserved(const struct workpool *wp)
{
	return wp->queued > wp->idle ? wp->queued - wp->idle : 0;
}

static void on_fanout(struct loop *loop, void *arg);

static void arm_fanout(struct workpool *wp, unsigned long taken, uint64_t ms)
{
	wp->taken_seen = taken;
	loop_timer_arm(wp->loop, &wp->fanout, ms, on_fanout, wp);
}

static void on_fanout(struct loop *loop, void *arg)
{
	struct workpool *wp = arg;
	unsigned long taken;
	bool waiting, queued, finished, stuck = false;
	(void)loop;
	pthread_mutex_lock(&wp->mu);
	taken = wp->taken;
	/* No job taken for WORKPOOL_FANOUT_MS: every worker is inside a job that has
	 * not returned, and whatever holds it up may hold the next one too. */
	if (taken == wp->taken_seen)
		while (unserved(wp) && !(stuck = spawn_worker(wp) < 0))
			;
	waiting = unserved(wp) > 0;
	/* A job still queued: a worker that finishes one may keep quiet about it
	 * (no_hurry) and take that one next, which may not return for long. */
	queued = wp->queued > 0;
	finished = wp->finished != NULL;
	pthread_mutex_unlock(&wp->mu);
	/* Progress: look again soon. Out of threads (all stuck in the kernel, or none
	 * to be had): look again, but not a thousand times a second. */
	if (waiting || queued)
		arm_fanout(wp, taken, stuck ? WORKPOOL_FANOUT_RETRY_MS : WORKPOOL_FANOUT_MS);
	/* What finished quietly is heard of here, not only when the job after it
	 * returns: that one may be a FIFREEZE stuck for seconds, and status would
	 * show the filesystems frozen before it as still freezing all that time. */
	if (finished)
		workpool_collect(wp);
}

void workpool_collect(struct workpool *wp)
{
	struct workpool_job *list;

	pthread_mutex_lock(&wp->mu);
	list = wp->finished;
	wp->finished = NULL;
	pthread_mutex_unlock(&wp->mu);
	if (list)
		wp->done(wp->done_arg, list);
}

static void on_wakeup(struct loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t cnt;
	struct workpool *wp = arg;
	bool queued;
	(void)loop;
	(void)events;

	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn("worker eventfd");
	pthread_mutex_lock(&wp->mu);
	queued = wp->queued > 0;
	pthread_mutex_unlock(&wp->mu);
	/* Nothing queued: nothing to fan out to and nothing can finish quietly. */
	if (!queued)
		loop_timer_disarm(loop, &wp->fanout);
	workpool_collect(wp);
}

/* WORKPOOL_RETIRE_MS after the caller's last operation, every worker idle: let
 * them all go. The join only waits for threads leaving pthread_cond_wait. */
static void on_retire(struct loop *loop, void *arg)
{
	struct workpool *wp = arg;
	unsigned n;
	(void)loop;
	pthread_mutex_lock(&wp->mu);
	if (wp->idle != wp->threads || wp->todo) {
		pthread_mutex_unlock(&wp->mu);
		return; /* busy again, or one is stuck in the kernel: keep them */
	}
	wp->retire = true;
	n = wp->threads;
	pthread_cond_broadcast(&wp->cond);
	pthread_mutex_unlock(&wp->mu);
	for (unsigned i = 0; i < n; i++)
		pthread_join(wp->tids[i], NULL);
	pthread_mutex_lock(&wp->mu);
	wp->threads = wp->idle = 0;
	wp->retire = false;
	pthread_mutex_unlock(&wp->mu);
}

struct workpool *workpool_new(struct loop *loop, workpool_done_fn done, void *arg)
{
	struct workpool *wp = calloc(1, sizeof(*wp));
	if (!wp)
		return NULL;
	wp->loop = loop;
	wp->done = done;
	wp->done_arg = arg;
	wp->todo_tail = &wp->todo;
	wp->base = 1;
	pthread_mutex_init(&wp->mu, NULL);
	pthread_cond_init(&wp->cond, NULL);
	wp->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wp->efd < 0 || loop_add_fd(loop, wp->efd, EPOLLIN, on_wakeup, wp) < 0) {
		if (wp->efd >= 0)
			close(wp->efd);
		pthread_mutex_destroy(&wp->mu);
		pthread_cond_destroy(&wp->cond);
		free(wp);
		return NULL;
	}
	return wp;
}

static void free_list(struct workpool_job *j, void (*free_job)(struct workpool_job *job))
{
	while (j) {
		struct workpool_job *next = j->next;
		free_job(j);
		j = next;
	}
}

bool workpool_free(struct workpool *wp, void (*free_job)(struct workpool_job *job))
{
	bool busy;
	if (!wp)
		return true;
	loop_timer_disarm(wp->loop, &wp->fanout);
	loop_timer_disarm(wp->loop, &wp->retire_timer);
	loop_del_fd(wp->loop, wp->efd);
	pthread_mutex_lock(&wp->mu);
	wp->shutdown = true;
	busy = wp->idle != wp->threads;
	pthread_cond_broadcast(&wp->cond);
	pthread_mutex_unlock(&wp->mu);
	if (busy)
		return false;
	for (unsigned i = 0; i < wp->threads; i++)
		pthread_join(wp->tids[i], NULL);
	free_list(wp->finished, free_job);
	free_list(wp->todo, free_job);
	close(wp->efd);
	pthread_mutex_destroy(&wp->mu);
	pthread_cond_destroy(&wp->cond);
	free(wp);
	return true;
}

int workpool_submit(struct workpool *wp, struct workpool_job *j)
{
	bool wait_and_see = false, quiet_possible = false;
	unsigned long taken;
	int ret = 0;

	loop_timer_disarm(wp->loop, &wp->retire_timer);
	pthread_mutex_lock(&wp->mu);
	taken = wp->taken;
	if (wp->idle <= wp->queued) {
		/* Fewer workers than the base, or slow jobs expected: a thread now.
		 * Otherwise a busy worker takes it next, unless WORKPOOL_FANOUT_MS pass
		 * first. */
		if (wp->threads < wp->base || wp->eager)
			ret = spawn_worker(wp) < 0 && wp->threads == 0 ? -1 : 0;
		else
			wait_and_see = true;
	}
	if (ret == 0) {
		j->next = NULL;
		*wp->todo_tail = j;
		wp->todo_tail = &j->next;
		wp->queued++;
		/* Another job queued or running besides this one: one of them may
		 * finish quietly before a worker takes the next (see on_fanout). */
		quiet_possible = wp->queued + (wp->threads - wp->idle) >= 2;
		pthread_cond_signal(&wp->cond);
	}
	pthread_mutex_unlock(&wp->mu);
	if ((wait_and_see || quiet_possible) && !loop_timer_armed(&wp->fanout))
		arm_fanout(wp, taken, WORKPOOL_FANOUT_MS);
	return ret;
}

void workpool_set_base(struct workpool *wp, unsigned base)
{
	pthread_mutex_lock(&wp->mu);
	wp->base = base < 1 ? 1 : base > WORKPOOL_MAX_THREADS ? WORKPOOL_MAX_THREADS : base;
	pthread_mutex_unlock(&wp->mu);
}

void workpool_set_eager(struct workpool *wp, bool eager)
{
	pthread_mutex_lock(&wp->mu);
	wp->eager = eager;
	pthread_mutex_unlock(&wp->mu);
}

void workpool_rest(struct workpool *wp)
{
	loop_timer_arm(wp->loop, &wp->retire_timer, WORKPOOL_RETIRE_MS, on_retire, wp);
}

unsigned workpool_threads(struct workpool *wp)
{
	unsigned n;
	pthread_mutex_lock(&wp->mu);
	n = wp->threads;
	pthread_mutex_unlock(&wp->mu);
	return n;
}
