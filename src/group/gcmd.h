// SPDX-License-Identifier: MIT
/* quiesce-group's HOLD by a command: run it with the group in its environment,
 * bounded by the hold limit. */
#ifndef QUIESCE_GCMD_H
#define QUIESCE_GCMD_H

#include <stdint.h>

#include "group/gmachine.h"
#include "group/gspec.h"

/* argv: NULL-terminated. out_to_err: its stdout is our stderr (with --json, stdout
 * carries the report alone). stop: set (by a signal thread) to end it early. 0 if it
 * exited 0 within limit_ms; else -1, and r->msg says how it ended. It runs in its own
 * process group, killed (SIGKILL) whole when it runs over. */
int gcmd_run(char *const argv[], const struct gspec *s, uint64_t limit_ms, int out_to_err,
	     const volatile int *stop, struct gres *r);

#endif
