// SPDX-License-Identifier: MIT
/* What the unit tests share beside cmocka: the guard against a hang, and running the
 * event loop until something holds.
 *
 * The guard: a test still running after its seconds ends the whole binary with
 * "Bail out!" (SIGALRM), so that prove reports it instead of waiting for ever. */
#ifndef QUIESCE_UNITGUARD_H
#define QUIESCE_UNITGUARD_H

#include <stdbool.h>

struct loop;

/* Once, in main: prog names the binary in the bail-out line. */
void unit_guard(const char *prog, unsigned seconds);
/* cmocka setup and teardown: start the count again, stop it. */
int unit_guard_on(void **state);
int unit_guard_off(void **state);

/* Runs loop until cond(arg) holds, looked at every millisecond; gives up after limit_ms.
 * Returns cond(arg). (unitloop.c: for the tests that link the loop.) */
bool unit_run_until(struct loop *loop, bool (*cond)(void *arg), void *arg, unsigned limit_ms);

#endif
