// SPDX-License-Identifier: MIT
/* What the restore tests' writers (pgwriter.c, mdbwriter.c) share: stopping on SIGTERM,
 * and the log line of an acknowledged commit, "seq t" with t = CLOCK_MONOTONIC in ns
 * (Python's time.monotonic_ns()), taken after the acknowledgement. */
#ifndef QUIESCE_TESTS_WRITER_H
#define QUIESCE_TESTS_WRITER_H

#include <signal.h>
#include <stdio.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
log_ack(FILE *log, long long seq)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(log, "%lld %lld\n", seq, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	fflush(log);
}

#endif
