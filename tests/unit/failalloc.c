// SPDX-License-Identifier: MIT
/* Allocation failure injection: the counter and the libc wrappers (failalloc.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "failalloc.h"

/* A run of an operation in a unit test makes a few hundred allocations at most; more
 * means the run loops (and failalloc_each would never end). */
#define FAILALLOC_MAX_RUNS 100000ul

static bool armed, sticky, fired, json_off;
static unsigned long nth, seen;

void failalloc_start(unsigned long n, bool stick)
{
	nth = n;
	sticky = stick;
	seen = 0;
	fired = false;
	armed = true;
}

bool failalloc_stop(void)
{
	armed = false;
	return fired;
}

bool failalloc_fired(void)
{
	return fired;
}

bool failalloc_now(void)
{
	if (!armed)
		return false;
	seen++;
	if (seen == nth || (sticky && seen > nth)) {
		fired = true;
		errno = ENOMEM;         /* as libc's allocators say it */
		return true;
	}
	return false;
}

bool failalloc_now_json(void)
{
	return !json_off && failalloc_now();
}

void failalloc_json(bool on)
{
	json_off = !on;
}

unsigned long failalloc_each(const char *what, bool (*run)(void *arg), void *arg)
{
	unsigned long n = 0;
	for (int stick = 0; stick < 2; stick++) {
		for (n = 1; n < FAILALLOC_MAX_RUNS; n++) {
			failalloc_start(n, stick);
			if (!run(arg))
				break;
		}
		failalloc_stop();
		if (n == FAILALLOC_MAX_RUNS)
			fail_msg("%s: still failing after %lu runs", what, n);
	}
	printf("# %s: %lu allocations, each failed in turn\n", what, n - 1);
	return n - 1;
}

int failalloc_forbid(void **state)
{
	(void)state;
	failalloc_start(1, true);
	return 0;
}

int failalloc_none(void **state)
{
	(void)state;
	if (failalloc_stop()) {
		printf("Bail out! failalloc: code that must not allocate tried to\n");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the wrappers */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...);

void *__wrap_malloc(size_t n)
{
	return failalloc_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return failalloc_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return failalloc_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return failalloc_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return failalloc_now() ? NULL : __real_strndup(s, n);
}

/* asprintf's failure leaves *out undefined, so callers may look only at the return. */
int __wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int r;
	if (failalloc_now())
		return -1;
	va_start(ap, fmt);
	r = vasprintf(out, fmt, ap);
	va_end(ap);
	return r;
}
