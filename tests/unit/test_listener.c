// SPDX-License-Identifier: MIT
/* Unit tests for src/host/listener.c, on the real loop: a listener out of descriptors
 * is not polled until the retry, a transient error changes nothing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/loop.h"
#include "host/listener.h"

struct fixture {
	struct loop *loop;
	int lfd, cfd;
	struct listener_pause pause;
	unsigned wakeups, accepted;
};

static void on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fixture *f = arg;
	int c = accept(fd, NULL, NULL);
	(void)events;
	f->wakeups++;
	if (c < 0) {
		listener_accept_failed(&f->pause);
	} else {
		listener_accepted(&f->pause);
		f->accepted++;
		close(c);
	}
	if (f->wakeups > 1000)
		loop_stop(loop, 2);   /* spinning */
}

static void on_stop(struct loop *loop, void *arg)
{
	(void)arg;
	loop_stop(loop, 0);
}

static void test_pause_on_emfile(void **state)
{
	struct fixture f = { .wakeups = 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct loop_timer stop = { .heap_index = 0 };
	struct rlimit old, low;
	(void)state;

	log_hold(true);
	f.loop = loop_new();
	assert_non_null(f.loop);
	f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(f.lfd >= 0);
	/* An abstract address: nothing on disk. */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "quiesce-test-listener-%d", (int)getpid());
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	assert_int_equal(loop_add_fd(f.loop, f.lfd, EPOLLIN, on_accept, &f), 0);
	listener_pause_init(&f.pause, f.loop, f.lfd, "test");
	f.cfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(f.cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);

	/* No descriptor left for accept: EMFILE. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)f.cfd + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	loop_timer_arm(f.loop, &stop, 3 * LISTENER_RETRY_MS + LISTENER_RETRY_MS / 2, on_stop, NULL);
	assert_int_equal(loop_run(f.loop), 0);
	/* One failed accept at once and one per retry: a handful, not thousands. */
	assert_in_range(f.wakeups, 3, 5);
	assert_int_equal(f.accepted, 0);
	assert_true(f.pause.warned);

	/* Descriptors again: the next retry accepts, and the episode ends. */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	loop_timer_arm(f.loop, &stop, 2 * LISTENER_RETRY_MS, on_stop, NULL);
	assert_int_equal(loop_run(f.loop), 0);
	assert_int_equal(f.accepted, 1);
	assert_false(f.pause.warned);

	/* A transient error does not pause. */
	errno = EAGAIN;
	listener_accept_failed(&f.pause);
	assert_false(loop_timer_armed(&f.pause.timer));
	assert_false(f.pause.warned);

	listener_pause_free(&f.pause);
	loop_del_fd(f.loop, f.lfd);
	close(f.lfd);
	close(f.cfd);
	loop_free(f.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_on_emfile),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
