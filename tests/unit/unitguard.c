// SPDX-License-Identifier: MIT
/* The unit tests' guard against a hang (unitguard.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "unitguard.h"

static char bail[128];
static unsigned guard_seconds;

static void on_alarm(int sig)
{
	(void)sig;
	if (write(STDOUT_FILENO, bail, strlen(bail)) < 0) {
		/* nothing more to say */
	}
	_exit(2);
}

void unit_guard(const char *prog, unsigned seconds)
{
	snprintf(bail, sizeof(bail), "Bail out! %s: a test hung (SIGALRM)\n", prog);
	guard_seconds = seconds;
	/* Line-buffered, so that the results before a hang are not lost at _exit. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
}

int unit_guard_on(void **state)
{
	(void)state;
	alarm(guard_seconds);
	return 0;
}

int unit_guard_off(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}
