// SPDX-License-Identifier: MIT
/* Allocation failure injection for the unit tests, the way SQLite tests itself: run the
 * same operation again and again, the 1st allocation failing, then the 2nd, ..., until
 * a run makes no failure; once with only the Nth failing, once with it and all after.
 * For every N the operation must fail cleanly (an error return, no crash), leak nothing
 * (LeakSanitizer checks that under SANITIZE=1) and not lie (a success is the right
 * result).
 *
 * The hook is the linker's --wrap (FAILALLOC_WRAP in mk/unit.mk): every call from the
 * objects of a test binary to malloc, calloc, realloc, strdup, strndup and asprintf goes
 * through failalloc.c; failalloc_json.c does the same for the json-c calls that allocate
 * (json-c's own malloc, inside the shared library, is out of reach of --wrap). Nothing
 * fails unless a test has armed it. */
#ifndef QUIESCE_FAILALLOC_H
#define QUIESCE_FAILALLOC_H

#include <stdbool.h>

/* From now on the nth allocation fails (1 = the next one); with sticky every one after
 * it too. */
void failalloc_start(unsigned long nth, bool sticky);
/* Disarm; true if a failure was injected since failalloc_start. */
bool failalloc_stop(void);
/* True if a failure was injected since failalloc_start (it stays armed). */
bool failalloc_fired(void);
/* For the wrappers: true if this allocation is to fail. */
bool failalloc_now(void);
/* For failalloc_json.c: the same, unless json-c's failures are turned off. */
bool failalloc_now_json(void);
/* Whether json-c's calls fail too (on until turned off). */
void failalloc_json(bool on);

/* Calls run(arg) with failalloc_start(n, sticky) armed for n = 1, 2, ... (one-shot, then
 * sticky) until run returns false: run must call failalloc_stop() right after the
 * operation under test, check its outcome and return what failalloc_stop said. Returns
 * the number of allocations of the run that failed none (fails the test past a bound). */
unsigned long failalloc_each(const char *what, bool (*run)(void *arg), void *arg);

/* For code that must not allocate at all (the pure wire decoders), as cmocka setup and
 * teardown (of a test or a group): from forbid on every allocation fails, and
 * failalloc_none fails the test if one was tried. */
int failalloc_forbid(void **state);
int failalloc_none(void **state);

#endif
