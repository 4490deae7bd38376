// SPDX-License-Identifier: MIT
/* No core dump while anything may be frozen.
 *
 * A process that dies with a core dump writes it before its files are closed: with
 * the working directory on a frozen filesystem (in production `/`, with a core
 * pattern like "core"), the dying quiesced blocks in the dump, its end of the
 * guardian's socket stays open, and the guardian thaws only at its deadline (the
 * lease + 2 s) instead of at once. So from FREEZING until everything is thawed,
 * quiesced dumps no core: RLIMIT_CORE 0 (file dumps) and not dumpable (dumps to a
 * pipe, unless fs.suid_dumpable is 2); both are restored after. */
#ifndef QUIESCE_DAEMON_NODUMP_H
#define QUIESCE_DAEMON_NODUMP_H

#include <stdbool.h>

/* Enter (on) or leave (off) the window; idempotent. */
void nodump_set(bool on);
/* In a child before execve (async-signal-safe): give it the core limit we had. */
void nodump_child(void);

#endif
