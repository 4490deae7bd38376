// SPDX-License-Identifier: MIT
/* Unit tests for src/common/loop.c: the timer heap and the epoll fd handlers.
 *
 * Every test stops its loop with loop_stop from a timer (a few also from an fd
 * callback), and a SIGALRM guard ends the whole binary with "Bail out!" if a test
 * hangs. Delays are a few ms; what is asserted is order and counts, never speed. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/loop.h"
#include "unitguard.h"

#define T(f) cmocka_unit_test_setup_teardown(f, unit_guard_on, unit_guard_off)

/* ------------------------------------------------------------ helpers */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void stop_cb(struct loop *loop, void *arg)
{
	loop_stop(loop, arg ? *(int *)arg : 0);
}

/* A backstop in each test: if the loop is still running after this, stop it with
 * code 99, which no test expects. */
static struct loop_timer backstop;
static int backstop_code = 99;
static void arm_backstop(struct loop *loop)
{
	memset(&backstop, 0, sizeof(backstop));
	loop_timer_arm(loop, &backstop, 3000, stop_cb, &backstop_code);
}

/* Stops the loop once done(arg) holds, after a grace period in which anything that
 * should not happen would have had its chance. Polls every 2 ms. Unlike a stop at a
 * fixed time, a stall of the test process cannot make it stop too early. */
struct waiter {
	struct loop_timer t;
	bool (*done)(void *arg);
	void *arg;
	unsigned grace_ms;
	bool seen;
};

static void waiter_cb(struct loop *loop, void *arg)
{
	struct waiter *w = arg;
	if (w->seen) {
		loop_stop(loop, 0);
	} else if (w->done(w->arg)) {
		w->seen = true;
		loop_timer_arm(loop, &w->t, w->grace_ms, waiter_cb, w);
	} else {
		loop_timer_arm(loop, &w->t, 2, waiter_cb, w);
	}
}

static void stop_when(struct loop *loop, struct waiter *w, bool (*done)(void *), void *arg,
		      unsigned grace_ms)
{
	*w = (struct waiter){ .done = done, .arg = arg, .grace_ms = grace_ms };
	loop_timer_arm(loop, &w->t, 0, waiter_cb, w);
}

static int new_eventfd(uint64_t initial)
{
	int fd = eventfd((unsigned)initial, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void efd_write(int fd)
{
	uint64_t one = 1;
	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void efd_drain(int fd)
{
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0)
		assert_int_equal(errno, EAGAIN);
}

/* ------------------------------------------------------------ run / stop */

static void test_stop_from_timer(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer t = { 0 };
	int code = 42;
	uint64_t t0;
	(void)state;

	assert_non_null(loop);
	arm_backstop(loop);
	t0 = now_ms();
	loop_timer_arm(loop, &t, 10, stop_cb, &code);
	assert_true(loop_timer_armed(&t));
	assert_int_equal(loop_run(loop), 42);
	/* Fired (so disarmed), and not before its time. */
	assert_false(loop_timer_armed(&t));
	assert_true(now_ms() >= t0 + 10);
	loop_free(loop);
}

static void test_stop_before_run(void **state)
{
	struct loop *loop = loop_new();
	(void)state;

	/* Nothing armed and no fds: without the stop this would wait forever. */
	loop_stop(loop, 7);
	assert_int_equal(loop_run(loop), 7);
	loop_free(loop);
	loop_free(NULL);
}

/* A stopped loop runs again, until the next stop. */
static void test_run_again(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer a = { 0 }, b = { 0 };
	int one = 1, two = 2;
	(void)state;

	loop_timer_arm(loop, &a, 0, stop_cb, &one);
	assert_int_equal(loop_run(loop), 1);
	loop_timer_arm(loop, &b, 1, stop_cb, &two);
	assert_int_equal(loop_run(loop), 2);
	assert_false(loop_timer_armed(&b));
	loop_free(loop);
}

/* ------------------------------------------------------------ timers */

struct rec {
	int order[64];
	uint64_t deadline[64];
	size_t n;
};

struct tmr {
	struct loop_timer t;
	int id;
	int fired;
	struct rec *rec;
	struct tmr *victim; /* disarmed from this timer's callback */
	int rearm_ms;       /* > 0: re-armed once from its own callback */
};

static void tmr_cb(struct loop *loop, void *arg)
{
	struct tmr *m = arg;
	assert_false(loop_timer_armed(&m->t)); /* disarmed before its callback */
	m->fired++;
	if (m->rec && m->rec->n < 64) {
		m->rec->order[m->rec->n] = m->id;
		m->rec->deadline[m->rec->n] = m->t.deadline_ms;
		m->rec->n++;
	}
	if (m->victim)
		loop_timer_disarm(loop, &m->victim->t);
	if (m->rearm_ms > 0 && m->fired == 1)
		loop_timer_arm(loop, &m->t, (uint64_t)m->rearm_ms, tmr_cb, m);
}

static void test_timer_order(void **state)
{
	static const int delays[] = { 30, 10, 20, 0, 25, 5, 15 };
	enum { N = sizeof(delays) / sizeof(delays[0]) };
	struct loop *loop = loop_new();
	struct tmr m[N];
	struct loop_timer stop = { 0 };
	struct rec rec = { .n = 0 };
	int code = 1;
	(void)state;

	arm_backstop(loop);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < N; i++) {
		m[i].id = delays[i];
		m[i].rec = &rec;
		loop_timer_arm(loop, &m[i].t, (uint64_t)delays[i], tmr_cb, &m[i]);
	}
	loop_timer_arm(loop, &stop, 100, stop_cb, &code);
	assert_int_equal(loop_run(loop), 1);
	assert_int_equal(rec.n, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(m[i].fired, 1);
	/* Earliest deadline first. The assertion is on the deadlines the timers got,
	 * not on the delays: a stall between two arms may legitimately reorder those. */
	for (size_t i = 1; i < rec.n; i++)
		if (rec.deadline[i - 1] > rec.deadline[i])
			fail_msg("timer %d (deadline %llu) fired before timer %d (deadline %llu)",
				 rec.order[i - 1], (unsigned long long)rec.deadline[i - 1],
				 rec.order[i], (unsigned long long)rec.deadline[i]);
	loop_free(loop);
}

static void test_timer_disarm(void **state)
{
	struct loop *loop = loop_new();
	struct tmr a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
	struct loop_timer stop = { 0 };
	(void)state;

	arm_backstop(loop);
	/* Disarming a timer never armed, or twice, is a no-op. */
	loop_timer_disarm(loop, &c.t);
	assert_false(loop_timer_armed(&c.t));
	assert_int_equal(loop_timer_remaining(&c.t), 0);

	loop_timer_arm(loop, &a.t, 5, tmr_cb, &a);
	loop_timer_arm(loop, &b.t, 10, tmr_cb, &b);
	loop_timer_arm(loop, &c.t, 15, tmr_cb, &c);
	loop_timer_disarm(loop, &b.t);
	loop_timer_disarm(loop, &b.t);
	assert_false(loop_timer_armed(&b.t));
	assert_int_equal(loop_timer_remaining(&b.t), 0);
	assert_true(loop_timer_armed(&a.t));
	assert_true(loop_timer_armed(&c.t));
	loop_timer_arm(loop, &stop, 60, stop_cb, NULL);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(a.fired, 1);
	assert_int_equal(b.fired, 0);
	assert_int_equal(c.fired, 1);

	/* A disarmed timer can be armed again at once. */
	loop_free(loop);
	loop = loop_new();
	arm_backstop(loop);
	loop_timer_arm(loop, &b.t, 5, tmr_cb, &b);
	loop_timer_arm(loop, &stop, 40, stop_cb, NULL);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(b.fired, 1);
	loop_free(loop);
}

static bool fired_twice(void *arg)
{
	return ((struct tmr *)arg)->fired >= 2;
}

static void test_timer_rearm(void **state)
{
	struct loop *loop = loop_new();
	struct tmr a = { .id = 1 };
	struct loop_timer stop = { 0 };
	struct waiter w;
	uint64_t t0, rem;
	(void)state;

	arm_backstop(loop);
	/* Re-arming an armed timer moves it: it fires once, at the new time. */
	loop_timer_arm(loop, &a.t, 5, tmr_cb, &a);
	t0 = now_ms();
	loop_timer_arm(loop, &a.t, 60, tmr_cb, &a);
	rem = loop_timer_remaining(&a.t);
	assert_true(rem <= 60);
	assert_true(a.t.deadline_ms >= t0 + 60);
	loop_timer_arm(loop, &stop, 150, stop_cb, NULL);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(a.fired, 1);
	assert_false(loop_timer_armed(&a.t));
	assert_int_equal(loop_timer_remaining(&a.t), 0);
	loop_free(loop);

	/* Re-armed from its own callback: fires again (and only once more: tmr_cb
	 * re-arms on the first call only). */
	loop = loop_new();
	arm_backstop(loop);
	a = (struct tmr){ .id = 1, .rearm_ms = 5 };
	loop_timer_arm(loop, &a.t, 5, tmr_cb, &a);
	stop_when(loop, &w, fired_twice, &a, 20);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(a.fired, 2);
	assert_false(loop_timer_armed(&a.t));
	loop_free(loop);
}

static void test_timer_remaining(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer t = { 0 };
	uint64_t rem;
	(void)state;

	loop_timer_arm(loop, &t, 1000, stop_cb, NULL);
	rem = loop_timer_remaining(&t);
	assert_true(rem > 0 && rem <= 1000);
	/* Due but not yet fired: 0, still armed. */
	loop_timer_arm(loop, &t, 0, stop_cb, NULL);
	sleep_ms(3);
	assert_true(loop_timer_armed(&t));
	assert_int_equal(loop_timer_remaining(&t), 0);
	loop_timer_disarm(loop, &t);
	loop_free(loop);
}

/* All three are due when the loop starts, so they fire in one pass; a disarms b in
 * its callback, so b never fires, and c still does. */
static void test_timer_disarm_from_callback(void **state)
{
	struct loop *loop = loop_new();
	struct rec rec = { .n = 0 };
	struct tmr a = { .id = 1, .rec = &rec }, b = { .id = 2, .rec = &rec },
		   c = { .id = 3, .rec = &rec };
	struct loop_timer stop = { 0 };
	(void)state;

	arm_backstop(loop);
	a.victim = &b;
	loop_timer_arm(loop, &a.t, 1, tmr_cb, &a);
	loop_timer_arm(loop, &b.t, 2, tmr_cb, &b);
	loop_timer_arm(loop, &c.t, 3, tmr_cb, &c);
	loop_timer_arm(loop, &stop, 40, stop_cb, NULL);
	sleep_ms(10);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(a.fired, 1);
	assert_int_equal(b.fired, 0);
	assert_int_equal(c.fired, 1);
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.order[0], 1);
	assert_int_equal(rec.order[1], 3);

	/* Two that disarm each other: exactly one fires. */
	loop_free(loop);
	loop = loop_new();
	arm_backstop(loop);
	a = (struct tmr){ .id = 1, .victim = &b };
	b = (struct tmr){ .id = 2, .victim = &a };
	loop_timer_arm(loop, &a.t, 1, tmr_cb, &a);
	loop_timer_arm(loop, &b.t, 1, tmr_cb, &b);
	loop_timer_arm(loop, &stop, 40, stop_cb, NULL);
	sleep_ms(10);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(a.fired + b.fired, 1);
	loop_free(loop);
}

/* Many timers, some disarmed before the run, some moved while armed, some disarmed
 * from other timers' callbacks, some re-armed from their own: each fires as often as
 * it should, all in deadline order, and none is left armed. */
enum { STRESS_N = 300 };

struct stress {
	struct loop_timer t;
	int id;
	int fired;
	int rearm_ms;           /* > 0: re-armed once from its own callback */
	struct stress *victim;  /* disarmed from this one's callback, if armed */
	bool killed;
	int fired_at_kill;
};

static struct {
	struct stress m[STRESS_N];
	int order[2 * STRESS_N];
	uint64_t deadline[2 * STRESS_N];
	size_t n;
} st;

static void stress_cb(struct loop *loop, void *arg)
{
	struct stress *s = arg;
	assert_false(loop_timer_armed(&s->t));
	s->fired++;
	assert_true(st.n < 2 * STRESS_N);
	st.order[st.n] = s->id;
	st.deadline[st.n] = s->t.deadline_ms;
	st.n++;
	if (s->victim && loop_timer_armed(&s->victim->t)) {
		loop_timer_disarm(loop, &s->victim->t);
		s->victim->killed = true;
		s->victim->fired_at_kill = s->victim->fired;
	}
	if (s->rearm_ms > 0 && s->fired == 1)
		loop_timer_arm(loop, &s->t, (uint64_t)s->rearm_ms, stress_cb, s);
}

static bool stress_done(void *arg)
{
	(void)arg;
	for (int i = 0; i < STRESS_N; i++)
		if (loop_timer_armed(&st.m[i].t))
			return false;
	return true;
}

static void test_timer_heap_stress(void **state)
{
	struct loop *loop = loop_new();
	struct waiter w;
	uint32_t seed = 12345;
	bool disarmed[STRESS_N] = { false };
	size_t want_total = 0;
	(void)state;

#define RND(n) (((seed = seed * 1103515245u + 12345u) >> 16) % (n))
	arm_backstop(loop);
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < STRESS_N; i++) {
		struct stress *s = &st.m[i];
		s->id = i;
		loop_timer_arm(loop, &s->t, RND(40), stress_cb, s);
		if (i % 5 == 0) /* moved while armed */
			loop_timer_arm(loop, &s->t, RND(40), stress_cb, s);
		if (i % 7 == 0)
			s->rearm_ms = (int)RND(10) + 1;
		if (i % 11 == 0)
			s->victim = &st.m[RND(STRESS_N)];
	}
	/* Out of the middle of the heap, not only the end. */
	for (int i = 3; i < STRESS_N; i += 3) {
		loop_timer_disarm(loop, &st.m[i].t);
		disarmed[i] = true;
	}
#undef RND
	stop_when(loop, &w, stress_done, NULL, 10);
	assert_int_equal(loop_run(loop), 0);

	for (int i = 0; i < STRESS_N; i++) {
		const struct stress *s = &st.m[i];
		int want = disarmed[i] ? 0 : s->rearm_ms ? 2 : 1;
		if (s->killed)
			want = s->fired_at_kill;
		if (s->fired != want)
			fail_msg("timer %d fired %d times, want %d", i, s->fired, want);
		assert_false(loop_timer_armed(&s->t));
		want_total += (size_t)want;
	}
	assert_int_equal(st.n, want_total);
	for (size_t i = 1; i < st.n; i++)
		if (st.deadline[i - 1] > st.deadline[i])
			fail_msg("firing %zu (timer %d, deadline %llu) after one due later (%llu)", i,
				 st.order[i], (unsigned long long)st.deadline[i],
				 (unsigned long long)st.deadline[i - 1]);
	loop_free(loop);
}

/* ------------------------------------------------------------ fds */

struct fdc {
	int fd;
	int calls;
	uint32_t events[8];
	void *arg_seen;
	bool drain;
	int del_after;          /* > 0: loop_del_fd itself after that many calls */
	struct fdc *victim;     /* loop_del_fd this one from the callback */
	int stop_code;          /* != 0: loop_stop with it */
};

static void fd_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fdc *c = arg;
	assert_int_equal(fd, c->fd);
	if (c->calls < 8)
		c->events[c->calls] = events;
	c->calls++;
	c->arg_seen = arg;
	if (c->drain)
		efd_drain(fd);
	if (c->del_after && c->calls == c->del_after)
		loop_del_fd(loop, fd);
	if (c->victim)
		loop_del_fd(loop, c->victim->fd);
	if (c->stop_code)
		loop_stop(loop, c->stop_code);
}

static void test_fd_readable(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer stop = { 0 };
	int p[2];
	struct fdc c = { .del_after = 1 };
	char byte = 'x';
	(void)state;

	arm_backstop(loop);
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	c.fd = p[0];
	assert_int_equal(loop_add_fd(loop, p[0], EPOLLIN, fd_cb, &c), 0);
	assert_int_equal(write(p[1], &byte, 1), 1);
	loop_timer_arm(loop, &stop, 20, stop_cb, NULL);
	assert_int_equal(loop_run(loop), 0);
	/* The callback got its fd, its arg and EPOLLIN (then deleted itself). */
	assert_int_equal(c.calls, 1);
	assert_true(c.events[0] & EPOLLIN);
	assert_ptr_equal(c.arg_seen, &c);
	close(p[0]);
	close(p[1]);
	loop_free(loop);
}

/* Level-triggered: an fd that stays readable is reported again and again until it
 * is deleted; after loop_del_fd, never again. It is gone from epoll too: the same
 * (still open) fd can be added again, and is reported to its new handler. */
struct readd_ctx {
	struct loop_timer t;
	struct fdc c, c2;
	int phase;
	int calls_at_readd;
};

static void readd_timer(struct loop *loop, void *arg)
{
	struct readd_ctx *r = arg;
	switch (r->phase) {
	case 0: /* wait for the three calls and the delete */
		if (r->c.calls >= 3) {
			r->phase = 1;
			loop_timer_arm(loop, &r->t, 20, readd_timer, r); /* time for a 4th */
			return;
		}
		break;
	case 1:
		r->calls_at_readd = r->c.calls;
		r->c2.fd = r->c.fd;
		r->c2.del_after = 1;
		assert_int_equal(loop_add_fd(loop, r->c.fd, EPOLLIN, fd_cb, &r->c2), 0);
		r->phase = 2;
		break;
	case 2:
		if (r->c2.calls >= 1) {
			loop_stop(loop, 0);
			return;
		}
		break;
	}
	loop_timer_arm(loop, &r->t, 2, readd_timer, r);
}

static void test_fd_level_and_del(void **state)
{
	struct loop *loop = loop_new();
	struct readd_ctx r;
	(void)state;

	arm_backstop(loop);
	memset(&r, 0, sizeof(r));
	r.c.fd = new_eventfd(1);
	r.c.del_after = 3;
	assert_int_equal(loop_add_fd(loop, r.c.fd, EPOLLIN, fd_cb, &r.c), 0);
	loop_timer_arm(loop, &r.t, 0, readd_timer, &r);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(r.calls_at_readd, 3);
	assert_int_equal(r.c.calls, 3);
	assert_int_equal(r.c2.calls, 1);
	/* Deleting again, or an fd never added, is a no-op. */
	loop_del_fd(loop, r.c.fd);
	loop_del_fd(loop, r.c.fd);
	loop_del_fd(loop, 1000);
	loop_del_fd(loop, -1);
	close(r.c.fd);
	loop_free(loop);
}

/* loop_mod_fd: registered with no events, nothing is reported (an eventfd has no
 * HUP or ERR). A timer switches it to EPOLLIN; the callback, on EPOLLIN, switches it
 * to EPOLLOUT, and on EPOLLOUT to nothing again. */
struct mod_ctx {
	int fd;
	int calls;
	int calls_before_mod;
	uint32_t events[8];
};

static void mod_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct mod_ctx *m = arg;
	if (m->calls < 8)
		m->events[m->calls] = events;
	m->calls++;
	if (events & EPOLLIN)
		assert_int_equal(loop_mod_fd(loop, fd, EPOLLOUT), 0);
	else if (events & EPOLLOUT)
		assert_int_equal(loop_mod_fd(loop, fd, 0), 0);
}

static void mod_timer(struct loop *loop, void *arg)
{
	struct mod_ctx *m = arg;
	m->calls_before_mod = m->calls;
	assert_int_equal(loop_mod_fd(loop, m->fd, EPOLLIN), 0);
}

static bool two_mod_calls(void *arg)
{
	return ((struct mod_ctx *)arg)->calls >= 2;
}

static void test_fd_mod(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer t = { 0 };
	struct mod_ctx m = { .calls_before_mod = -1 };
	struct waiter w;
	(void)state;

	arm_backstop(loop);
	m.fd = new_eventfd(1); /* readable and writable */
	assert_int_equal(loop_add_fd(loop, m.fd, 0, mod_cb, &m), 0);
	loop_timer_arm(loop, &t, 20, mod_timer, &m);
	stop_when(loop, &w, two_mod_calls, &m, 20);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(m.calls_before_mod, 0);
	assert_int_equal(m.calls, 2);
	assert_true(m.events[0] & EPOLLIN);
	assert_false(m.events[0] & EPOLLOUT);
	assert_true(m.events[1] & EPOLLOUT);
	assert_false(m.events[1] & EPOLLIN);
	close(m.fd);
	loop_free(loop);
}

static void test_fd_errors(void **state)
{
	struct loop *loop = loop_new();
	struct fdc c = { 0 };
	int file;
	(void)state;

	errno = 0;
	assert_int_equal(loop_add_fd(loop, -1, EPOLLIN, fd_cb, &c), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(loop_mod_fd(loop, -1, EPOLLIN), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(loop_mod_fd(loop, 5, EPOLLIN), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(loop_mod_fd(loop, 100000, EPOLLIN), -1);
	assert_int_equal(errno, EBADF);

	/* epoll refuses regular files: the add fails and leaves nothing registered.
	 * (Not a /proc file: mountinfo, for one, can be polled.) */
	file = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	assert_true(file >= 0);
	errno = 0;
	assert_int_equal(loop_add_fd(loop, file, EPOLLIN, fd_cb, &c), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(loop_mod_fd(loop, file, EPOLLIN), -1);
	assert_int_equal(errno, EBADF);
	close(file);
	loop_free(loop);
}

/* A high fd number grows the handler table. */
static void test_fd_high_number(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer stop = { 0 };
	struct fdc c = { .del_after = 1 };
	int low = new_eventfd(1);
	(void)state;

	arm_backstop(loop);
	c.fd = dup2(low, 700);
	assert_int_equal(c.fd, 700);
	close(low);
	assert_int_equal(loop_add_fd(loop, c.fd, EPOLLIN, fd_cb, &c), 0);
	loop_timer_arm(loop, &stop, 20, stop_cb, NULL);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(c.calls, 1);
	close(c.fd);
	loop_free(loop);
}

/* Both fds are readable before the run, so their events come in one batch. Each
 * callback deletes the other: the second event of the batch is dropped. */
static void test_fd_del_other_in_batch(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer stop = { 0 };
	struct fdc a = { .drain = true }, b = { .drain = true };
	(void)state;

	arm_backstop(loop);
	a.fd = new_eventfd(1);
	b.fd = new_eventfd(1);
	a.victim = &b;
	b.victim = &a;
	assert_int_equal(loop_add_fd(loop, a.fd, EPOLLIN, fd_cb, &a), 0);
	assert_int_equal(loop_add_fd(loop, b.fd, EPOLLIN, fd_cb, &b), 0);
	loop_timer_arm(loop, &stop, 30, stop_cb, NULL);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(a.calls + b.calls, 1);
	close(a.fd);
	close(b.fd);
	loop_free(loop);
}

/* The generation check. a and b are readable in one batch; whichever callback runs
 * first deletes and closes the other, and registers a fresh (not readable) eventfd,
 * which gets the same number. The event already fetched for the old fd must not
 * reach the fresh fd's handler. Later, the fresh fd works normally. */
struct reuse_ctx {
	struct loop *loop;
	int fd[2];
	int calls[2];
	int fresh_fd;
	int fresh_calls;
	int fresh_calls_before_write;
	bool reused_number;
};

static void fresh_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct reuse_ctx *r = arg;
	(void)loop;
	(void)events;
	assert_int_equal(fd, r->fresh_fd);
	r->fresh_calls++;
	efd_drain(fd);
}

static void reuse_cb(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct reuse_ctx *r = arg;
	int me = fd == r->fd[0] ? 0 : 1, other = 1 - me;
	(void)events;
	assert_int_equal(fd, r->fd[me]);
	r->calls[me]++;
	efd_drain(fd);
	if (r->fresh_fd >= 0)
		return;
	loop_del_fd(loop, r->fd[other]);
	close(r->fd[other]);
	r->fresh_fd = new_eventfd(0);
	r->reused_number = r->fresh_fd == r->fd[other];
	r->fd[other] = -1;
	assert_int_equal(loop_add_fd(loop, r->fresh_fd, EPOLLIN, fresh_cb, r), 0);
}

static void reuse_write(struct loop *loop, void *arg)
{
	struct reuse_ctx *r = arg;
	(void)loop;
	r->fresh_calls_before_write = r->fresh_calls;
	efd_write(r->fresh_fd);
}

static bool fresh_called(void *arg)
{
	return ((struct reuse_ctx *)arg)->fresh_calls > 0;
}

static void test_fd_stale_event_after_reuse(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer wr = { 0 };
	struct waiter w;
	struct reuse_ctx r = { .fresh_fd = -1, .fresh_calls_before_write = -1 };
	(void)state;

	arm_backstop(loop);
	r.loop = loop;
	r.fd[0] = new_eventfd(1);
	r.fd[1] = new_eventfd(1);
	assert_int_equal(loop_add_fd(loop, r.fd[0], EPOLLIN, reuse_cb, &r), 0);
	assert_int_equal(loop_add_fd(loop, r.fd[1], EPOLLIN, reuse_cb, &r), 0);
	loop_timer_arm(loop, &wr, 20, reuse_write, &r);
	stop_when(loop, &w, fresh_called, &r, 10);
	assert_int_equal(loop_run(loop), 0);

	assert_true(r.reused_number); /* else the test shows nothing */
	assert_int_equal(r.calls[0] + r.calls[1], 1);
	assert_int_equal(r.fresh_calls_before_write, 0);
	assert_int_equal(r.fresh_calls, 1);
	for (int i = 0; i < 2; i++)
		if (r.fd[i] >= 0)
			close(r.fd[i]);
	close(r.fresh_fd);
	loop_free(loop);
}

/* An fd closed without loop_del_fd leaves epoll by itself; its number can be
 * registered again. */
static void test_fd_closed_without_del(void **state)
{
	struct loop *loop = loop_new();
	struct loop_timer stop = { 0 };
	struct fdc old = { 0 }, c = { .del_after = 1 };
	int fd;
	(void)state;

	arm_backstop(loop);
	old.fd = new_eventfd(0);
	assert_int_equal(loop_add_fd(loop, old.fd, EPOLLIN, fd_cb, &old), 0);
	close(old.fd);
	fd = new_eventfd(1);
	assert_int_equal(fd, old.fd);
	c.fd = fd;
	assert_int_equal(loop_add_fd(loop, fd, EPOLLIN, fd_cb, &c), 0);
	loop_timer_arm(loop, &stop, 20, stop_cb, NULL);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(old.calls, 0);
	assert_int_equal(c.calls, 1);
	close(fd);
	loop_free(loop);
}

/* Adding an fd that is already added fails with EEXIST, and must leave the existing
 * registration as it was: its handler still gets the fd's events (and can delete it). */
static bool one_call(void *arg)
{
	return ((struct fdc *)arg)->calls >= 1;
}

static void test_fd_add_twice(void **state)
{
	struct loop *loop = loop_new();
	struct fdc c1 = { .del_after = 1 }, c2 = { .del_after = 1 };
	struct waiter w;
	(void)state;

	arm_backstop(loop);
	c1.fd = c2.fd = new_eventfd(1);
	assert_int_equal(loop_add_fd(loop, c1.fd, EPOLLIN, fd_cb, &c1), 0);
	errno = 0;
	assert_int_equal(loop_add_fd(loop, c1.fd, EPOLLIN, fd_cb, &c2), -1);
	assert_int_equal(errno, EEXIST);
	/* Still registered: modifiable. */
	assert_int_equal(loop_mod_fd(loop, c1.fd, EPOLLIN), 0);
	stop_when(loop, &w, one_call, &c1, 10);
	assert_int_equal(loop_run(loop), 0);
	assert_int_equal(c1.calls, 1);
	assert_int_equal(c2.calls, 0);
	close(c1.fd);
	loop_free(loop);
}

/* loop_stop from an fd callback: the rest of the batch and the due timers wait. */
static void test_stop_from_fd_callback(void **state)
{
	struct loop *loop = loop_new();
	struct fdc a = { .drain = true, .stop_code = 5 }, b = { .drain = true, .stop_code = 6 };
	struct tmr t = { .id = 1 };
	int rc;
	(void)state;

	arm_backstop(loop);
	a.fd = new_eventfd(1);
	b.fd = new_eventfd(1);
	assert_int_equal(loop_add_fd(loop, a.fd, EPOLLIN, fd_cb, &a), 0);
	assert_int_equal(loop_add_fd(loop, b.fd, EPOLLIN, fd_cb, &b), 0);
	loop_timer_arm(loop, &t.t, 0, tmr_cb, &t);
	sleep_ms(2);
	rc = loop_run(loop);
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(rc, a.calls ? 5 : 6);
	assert_int_equal(t.fired, 0);
	assert_true(loop_timer_armed(&t.t));
	close(a.fd);
	close(b.fd);
	loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_stop_from_timer),
		T(test_stop_before_run),
		T(test_run_again),
		T(test_timer_order),
		T(test_timer_disarm),
		T(test_timer_rearm),
		T(test_timer_remaining),
		T(test_timer_disarm_from_callback),
		T(test_timer_heap_stress),
		T(test_fd_readable),
		T(test_fd_level_and_del),
		T(test_fd_mod),
		T(test_fd_errors),
		T(test_fd_high_number),
		T(test_fd_del_other_in_batch),
		T(test_fd_stale_event_after_reuse),
		T(test_fd_closed_without_del),
		T(test_fd_add_twice),
		T(test_stop_from_fd_callback),
	};

	unit_guard("test_loop", 10);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
