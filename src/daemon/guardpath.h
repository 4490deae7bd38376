// SPDX-License-Identifier: MIT
/* Which thaw guardian program quiesced runs when --guardian names none. */
#ifndef QUIESCE_GUARDPATH_H
#define QUIESCE_GUARDPATH_H

/* quiesce-guardian in the directory of self_exe if it is executable there (the build
 * tree, or an install that keeps the two together), else installed (the path make
 * install put it at). Returns a malloc'd path (installed even when it is missing too,
 * so that the error names where it was expected), or NULL when out of memory. */
char *guardpath_find(const char *self_exe, const char *installed);

/* guardpath_find for this process (/proc/self/exe) and the compiled-in
 * QUIESCE_GUARDIAN_PATH (make's LIBEXECDIR). */
char *guardpath_default(void);

#endif
