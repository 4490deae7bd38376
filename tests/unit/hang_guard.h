// SPDX-License-Identifier: MIT
/* A unit test that hangs (a loop that never stops, a child never reaped) ends with a
 * TAP "Bail out!" after a bound, not at CI's timeout with nothing said. Call
 * hang_guard(seconds) at the start of main. */
#ifndef QUIESCE_TEST_HANG_GUARD_H
#define QUIESCE_TEST_HANG_GUARD_H

#include <signal.h>
#include <unistd.h>

static void hang_guard_fired(int sig)
{
	static const char m[] = "Bail out! the test hung\n";
	ssize_t unused = write(1, m, sizeof(m) - 1);
	(void)unused;
	(void)sig;
	_exit(3);
}

static inline void hang_guard(unsigned seconds)
{
	signal(SIGALRM, hang_guard_fired);
	alarm(seconds);
}

#endif
