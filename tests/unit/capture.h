// SPDX-License-Identifier: MIT
/* tests/unit/capture.c: stdout and stderr captured around a call, and files read back. */
#ifndef QUIESCE_TEST_CAPTURE_H
#define QUIESCE_TEST_CAPTURE_H

#include <stddef.h>

/* Runs fn(arg) with stdout and stderr sent to temp files; *out and *err get what was
 * written (free them). Assert nothing inside fn: its message would go to the file. */
void capture(void (*fn)(void *arg), void *arg, char **out, char **err);

/* Reads up to len - 1 bytes of the file at path into buf, NUL-terminated; "" if there is
 * no such file. Returns the length read. */
size_t capture_read(const char *path, char *buf, size_t len);

#endif
