// SPDX-License-Identifier: MIT
#include "common/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"

/* Handlers are indexed by fd. Each registration gets a generation number that
 * travels in the epoll data with the fd, so an event that was already fetched
 * for an fd that a callback closed (and maybe reused) in the same batch is
 * recognised as stale and dropped. */
struct fd_handler {
	loop_fd_fn fn;
	void *arg;
	uint32_t gen;
};

struct loop {
	int epfd;
	struct fd_handler *fds;
	size_t nfds;
	uint32_t next_gen;
	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	bool stop;
	int code;
};

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->next_gen = 1;
	return loop;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	free(loop->fds);
	free(loop->heap);
	free(loop);
}

static uint64_t pack(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn, void *arg)
{
	struct epoll_event ev = { .events = events };
	uint32_t gen;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if ((size_t)fd >= loop->nfds) {
		size_t n = (size_t)fd + 64;
		struct fd_handler *v = realloc(loop->fds, n * sizeof(*v));
		if (!v)
			return -1;
		memset(v + loop->nfds, 0, (n - loop->nfds) * sizeof(*v));
		loop->fds = v;
		loop->nfds = n;
	}
	gen = loop->next_gen++;
	if (loop->next_gen == 0)
		loop->next_gen = 1;
	ev.data.u64 = pack(fd, gen);
	/* epoll first: if it refuses (EEXIST for an fd that is already added), the
	 * existing registration of this fd must stay as it is. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	loop->fds[fd].fn = fn;
	loop->fds[fd].arg = arg;
	loop->fds[fd].gen = gen;
	return 0;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].fn) {
		errno = EBADF;
		return -1;
	}
	ev.data.u64 = pack(fd, loop->fds[fd].gen);
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del_fd(struct loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].fn)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd].fn = NULL;
	loop->fds[fd].arg = NULL;
	loop->fds[fd].gen = 0;
}

/* ------------------------------------------------------------ timer heap */

static void heap_set(struct loop *loop, size_t i, struct loop_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i + 1;
}

static void heap_up(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop->heap[parent]->deadline_ms <= t->deadline_ms)
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct loop *loop, size_t i)
{
	struct loop_timer *t = loop->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t md = t->deadline_ms;
		if (l < loop->heap_len && loop->heap[l]->deadline_ms < md) {
			m = l;
			md = loop->heap[l]->deadline_ms;
		}
		if (r < loop->heap_len && loop->heap[r]->deadline_ms < md)
			m = r;
		if (m == i)
			break;
		heap_set(loop, i, loop->heap[m]);
		i = m;
	}
	heap_set(loop, i, t);
}

void loop_timer_disarm(struct loop *loop, struct loop_timer *t)
{
	size_t i;
	struct loop_timer *last;

	if (!t->heap_index)
		return;
	i = t->heap_index - 1;
	t->heap_index = 0;
	last = loop->heap[--loop->heap_len];
	if (last == t)
		return;
	heap_set(loop, i, last);
	heap_up(loop, i);
	heap_down(loop, last->heap_index - 1);
}

void loop_timer_arm(struct loop *loop, struct loop_timer *t, uint64_t delay_ms,
		    loop_timer_fn fn, void *arg)
{
	loop_timer_disarm(loop, t);
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		struct loop_timer **h = realloc(loop->heap, cap * sizeof(*h));
		if (!h)
			fatal("timer heap");
		loop->heap = h;
		loop->heap_cap = cap;
	}
	t->deadline_ms = now_ms() + delay_ms;
	t->fn = fn;
	t->arg = arg;
	loop->heap[loop->heap_len] = t;
	t->heap_index = ++loop->heap_len;
	heap_up(loop, loop->heap_len - 1);
}

uint64_t loop_timer_remaining(const struct loop_timer *t)
{
	uint64_t now = now_ms();
	if (!t->heap_index || t->deadline_ms <= now)
		return 0;
	return t->deadline_ms - now;
}

static void run_due_timers(struct loop *loop)
{
	uint64_t now = now_ms();
	while (loop->heap_len && loop->heap[0]->deadline_ms <= now && !loop->stop) {
		struct loop_timer *t = loop->heap[0];
		loop_timer_disarm(loop, t);
		t->fn(loop, t->arg);
	}
}

static int next_timeout(struct loop *loop)
{
	uint64_t now, d;
	if (!loop->heap_len)
		return -1;
	now = now_ms();
	d = loop->heap[0]->deadline_ms;
	if (d <= now)
		return 0;
	return d - now > 60000 ? 60000 : (int)(d - now);
}

/* ------------------------------------------------------------ run */

int loop_run(struct loop *loop)
{
	struct epoll_event evs[64];

	while (!loop->stop) {
		int n = epoll_wait(loop->epfd, evs, ARRAY_SIZE(evs), next_timeout(loop));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			struct fd_handler *h;
			if ((size_t)fd >= loop->nfds)
				continue;
			h = &loop->fds[fd];
			if (!h->fn || h->gen != gen)
				continue; /* removed (or replaced) earlier in this batch */
			h->fn(loop, fd, evs[i].events, h->arg);
		}
		run_due_timers(loop);
	}
	/* Ready for another loop_run (the fuzz driver runs the loop once per input). */
	loop->stop = false;
	return loop->code;
}

void loop_stop(struct loop *loop, int code)
{
	loop->stop = true;
	loop->code = code;
}
