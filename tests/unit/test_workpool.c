// SPDX-License-Identifier: MIT
/* Unit tests for src/fs/workpool.c: how many threads run the jobs, and when.
 *
 * Jobs are held on purpose (they wait on a gate the test opens), never timed: "held
 * jobs fan out" means every held job is running at once; "fast jobs run on one
 * thread" is checked with the loop not running, so that the fan-out timer cannot
 * fire whatever the machine's speed. A SIGALRM guard ends a hung test. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/loop.h"
#include "fs/workpool.h"
#include "unitguard.h"

#define N 4

/* ------------------------------------------------------------ held jobs */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int running, ran;
static bool no_hurry_jobs;     /* jobs say nobody waits on them */
static atomic_bool go = true;  /* false: jobs wait until all are queued */

struct tjob {
	struct workpool_job wj;
	bool hold;
};

static void run_tjob(struct workpool_job *wj)
{
	struct tjob *j = (struct tjob *)wj;
	atomic_fetch_add(&running, 1);
	j->wj.no_hurry = no_hurry_jobs;
	while (!atomic_load(&go))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	if (j->hold) {
		pthread_mutex_lock(&gate_mu);
		while (!gate_open)
			pthread_cond_wait(&gate_cond, &gate_mu);
		pthread_mutex_unlock(&gate_mu);
	}
	atomic_fetch_sub(&running, 1);
	atomic_fetch_add(&ran, 1);
}

static void open_gate(bool open)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = open;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_mu);
}

static void free_tjob(struct workpool_job *wj)
{
	free(wj);
}

static int done_count;

static void on_done(void *arg, struct workpool_job *list)
{
	(void)arg;
	while (list) {
		struct workpool_job *next = list->next;
		done_count++;
		free_tjob(list);
		list = next;
	}
}

static void submit(struct workpool *wp, bool hold)
{
	struct tjob *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->hold = hold;
	j->wj.run = run_tjob;
	assert_int_equal(workpool_submit(wp, &j->wj), 0);
}

/* ------------------------------------------------------------ running the loop */

struct until {
	bool (*cond)(void *arg);
	void *arg;
	struct loop_timer t;
	int polls;
};

static void poll_until(struct loop *loop, void *arg)
{
	struct until *u = arg;
	if (u->cond(u->arg) || ++u->polls > 10000)
		loop_stop(loop, 0);
	else
		loop_timer_arm(loop, &u->t, 1, poll_until, u);
}

/* Runs the loop until cond holds (polled every ms, at most ~10 s). */
static bool run_until(struct loop *loop, bool (*cond)(void *arg), void *arg)
{
	struct until u = { .cond = cond, .arg = arg };
	loop_timer_arm(loop, &u.t, 0, poll_until, &u);
	loop_run(loop);
	loop_timer_disarm(loop, &u.t);
	return cond(arg);
}

/* Without the loop: waits (at most ~5 s) for cond. */
static bool spin_until(bool (*cond)(void *arg), void *arg)
{
	for (int i = 0; i < 5000 && !cond(arg); i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	return cond(arg);
}

static bool one_running(void *arg) { (void)arg; return atomic_load(&running) == 1; }
static bool all_running(void *arg) { (void)arg; return atomic_load(&running) == N; }
static bool all_ran(void *arg) { (void)arg; return atomic_load(&ran) == N; }
static bool all_done(void *arg) { (void)arg; return done_count == N; }
static bool no_threads(void *arg) { return workpool_threads(arg) == 0; }

struct fx {
	struct loop *loop;
	struct workpool *wp;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	unit_guard_on(state);
	atomic_store(&running, 0);
	atomic_store(&ran, 0);
	done_count = 0;
	no_hurry_jobs = false;
	atomic_store(&go, true);
	open_gate(false);
	fx->loop = loop_new();
	fx->wp = fx->loop ? workpool_new(fx->loop, on_done, NULL) : NULL;
	*state = fx;
	return fx->wp ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	open_gate(true);
	if (fx->wp)
		assert_true(workpool_free(fx->wp, free_tjob));
	loop_free(fx->loop);
	free(fx);
	return unit_guard_off(state);
}

/* ------------------------------------------------------------ tests */

/* Jobs that do not return hold up nothing: within the fan-out time every waiting
 * job has a thread, and all N run at once. */
static void test_held_jobs_fan_out(void **state)
{
	struct fx *fx = *state;
	for (int i = 0; i < N; i++)
		submit(fx->wp, true);
	assert_true(run_until(fx->loop, all_running, NULL));
	assert_int_equal(workpool_threads(fx->wp), N);
	open_gate(true);
	assert_true(run_until(fx->loop, all_done, NULL));
}

/* Eager: a thread per job at submit time, before any loop turn. */
static void test_eager_spawns_at_once(void **state)
{
	struct fx *fx = *state;
	workpool_set_eager(fx->wp, true);
	for (int i = 0; i < N; i++)
		submit(fx->wp, true);
	assert_true(spin_until(all_running, NULL));
	assert_int_equal(workpool_threads(fx->wp), N);
	open_gate(true);
	assert_true(run_until(fx->loop, all_done, NULL));
}

/* Jobs that return at once run one after another on one thread: with the loop not
 * running no fan-out can happen, and all of them still run. */
static void test_fast_jobs_one_thread(void **state)
{
	struct fx *fx = *state;
	for (int i = 0; i < N; i++)
		submit(fx->wp, false);
	assert_true(spin_until(all_ran, NULL));
	assert_int_equal(workpool_threads(fx->wp), 1);
	assert_true(run_until(fx->loop, all_done, NULL));
}

/* A base of 2: fast jobs get two threads at once (one per CPU, as the freezer
 * asks), and no more while they keep returning. */
static void test_base_threads_at_once(void **state)
{
	struct fx *fx = *state;
	workpool_set_base(fx->wp, 2);
	for (int i = 0; i < N; i++)
		submit(fx->wp, false);
	assert_true(spin_until(all_ran, NULL));
	assert_int_equal(workpool_threads(fx->wp), 2);
	assert_true(run_until(fx->loop, all_done, NULL));
}

/* Jobs that need no hurry do not wake the loop while others are queued, but a job
 * that does not return does not hide them: with the last one held, the loop hears
 * of the N-1 before it within a few fan-out ticks (before the fix it heard nothing
 * until the held one returned: status showed filesystems frozen long ago as still
 * freezing while another's FIFREEZE was stuck). */
static bool only_last_running(void *arg)
{
	(void)arg;
	return atomic_load(&running) == 1 && atomic_load(&ran) == N - 1;
}

static bool all_but_last_done(void *arg)
{
	(void)arg;
	return done_count == N - 1;
}

static void test_no_hurry_not_hidden_by_a_held_job(void **state)
{
	struct fx *fx = *state;
	no_hurry_jobs = true;
	atomic_store(&go, false); /* all queued before the first one ends */
	for (int i = 0; i < N; i++)
		submit(fx->wp, i == N - 1);
	atomic_store(&go, true);
	assert_true(spin_until(only_last_running, NULL));
	assert_true(run_until(fx->loop, all_but_last_done, NULL));
	open_gate(true);
	assert_true(run_until(fx->loop, all_done, NULL));
	no_hurry_jobs = false;
}

/* Idle threads are retired after workpool_rest, and come back when needed. */
static void test_retire_and_again(void **state)
{
	struct fx *fx = *state;
	for (int i = 0; i < N; i++)
		submit(fx->wp, true);
	assert_true(run_until(fx->loop, all_running, NULL));
	open_gate(true);
	assert_true(run_until(fx->loop, all_done, NULL));
	workpool_rest(fx->wp);
	assert_true(run_until(fx->loop, no_threads, fx->wp));
	done_count = 0;
	atomic_store(&ran, 0);
	for (int i = 0; i < N; i++)
		submit(fx->wp, false);
	assert_true(run_until(fx->loop, all_done, NULL));
	assert_true(workpool_threads(fx->wp) >= 1);
}

/* A worker inside a job that does not return: the pool is not freed, and says so;
 * once the job has returned, the same call frees it all. */
static void test_free_with_busy_worker(void **state)
{
	struct fx *fx = *state;
	bool freed = false;
	submit(fx->wp, true);
	assert_true(spin_until(one_running, NULL));
	assert_false(workpool_free(fx->wp, free_tjob));
	open_gate(true);
	for (int i = 0; i < 5000 && !freed; i++) {
		freed = workpool_free(fx->wp, free_tjob);
		if (!freed)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	assert_true(freed);
	fx->wp = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_held_jobs_fan_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eager_spawns_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_jobs_one_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_base_threads_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_hurry_not_hidden_by_a_held_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retire_and_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_busy_worker, setup, teardown),
	};
	unit_guard("test_workpool", 20);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
