// SPDX-License-Identifier: MIT
/* What quiesced is freezing, recorded in its run dir (a tmpfs) before the first
 * FIFREEZE and removed after the last thaw. If quiesced and its guardian both die
 * while frozen, the next quiesced finds the record at start and thaws what it names. */
#ifndef QUIESCE_LEFTOVER_H
#define QUIESCE_LEFTOVER_H

#include "fs/policy.h"

/* Write the plan's filesystems to path (atomically). Returns 0 or -1 with errno. */
int leftover_save(const char *path, const struct fs_plan *plan);
void leftover_clear(const char *path);
/* Thaw what a record names, if it still names the same mounts; remove it. Returns the
 * number of filesystems thawed, or -1 if the record could not be read to its end
 * (then it stays, for a later try). */
int leftover_thaw(const char *path);

#endif
