// SPDX-License-Identifier: MIT
/* The agents' shared skeleton: logging, clock, backoff. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "agent.h"

static const char *log_prog = "quiesce-agent";
static int log_verbose;

void
agent_log_init(const char *prog, int verbose)
{
	log_prog = prog;
	log_verbose = verbose;
}

void
agent_log(enum agent_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level == AGENT_DEBUG && !log_verbose)
		return;
	fprintf(stderr, "%s: %s: ", log_prog, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
agent_ms_left(uint64_t deadline_ns)
{
	uint64_t now = now_ns();

	if (now >= deadline_ns)
		return 0;
	return (deadline_ns - now) / 1000000u > 0x7fffffff ? 0x7fffffff
	    : (int)((deadline_ns - now) / 1000000u);
}

void
agent_backoff_failed(struct agent_backoff *b)
{
	if (b->cur_ms == 0)
		b->cur_ms = 100;
	else if (b->cur_ms < b->max_ms)
		b->cur_ms = b->cur_ms * 2 > b->max_ms ? b->max_ms : b->cur_ms * 2;
	b->next_ns = now_ns() + (uint64_t)b->cur_ms * 1000000u;
}

void
agent_backoff_reset(struct agent_backoff *b)
{
	b->cur_ms = 0;
	b->next_ns = 0;
}

int
agent_backoff_wait_ms(const struct agent_backoff *b)
{
	return agent_ms_left(b->next_ns);
}
