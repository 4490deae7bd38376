// SPDX-License-Identifier: MIT
/* The one event loop of quiesced: epoll for fds, a min-heap of monotonic timers.
 *
 * Everything the daemon does happens in callbacks from loop_run(); blocking work
 * (FIFREEZE, hooks) runs elsewhere and reports back through an fd. Timers are
 * embedded in their owner's struct, so there is nothing to free and a fired or
 * disarmed timer can be re-armed at once. */
#ifndef QUIESCE_LOOP_H
#define QUIESCE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;

typedef void (*loop_fd_fn)(struct loop *loop, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_fn)(struct loop *loop, void *arg);

struct loop_timer {
	uint64_t deadline_ms;   /* monotonic */
	size_t heap_index;      /* position in the heap + 1; 0 = not armed */
	loop_timer_fn fn;
	void *arg;
};

struct loop *loop_new(void);
void loop_free(struct loop *loop);

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn, void *arg);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
/* Safe to call from inside a callback, also for an fd with events still pending. */
void loop_del_fd(struct loop *loop, int fd);

void loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms,
		    loop_timer_fn fn, void *arg);
void loop_timer_disarm(struct loop *loop, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t) { return t->heap_index != 0; }
/* Milliseconds until the timer fires (0 if due or not armed). */
uint64_t loop_timer_remaining(const struct loop_timer *t);

/* Runs until loop_stop(); returns the code given to it. It may be run again then. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop, int code);

#endif
