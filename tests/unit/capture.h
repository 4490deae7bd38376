// SPDX-License-Identifier: MIT
/* tests/unit/capture.c: stdout and stderr captured around a call. */
#ifndef QUIESCE_TEST_CAPTURE_H
#define QUIESCE_TEST_CAPTURE_H

/* Runs fn(arg) with stdout and stderr sent to temp files; *out and *err get what was
 * written (free them). Assert nothing inside fn: its message would go to the file. */
void capture(void (*fn)(void *arg), void *arg, char **out, char **err);

#endif
