// SPDX-License-Identifier: MIT
/* Where a hook really is, and whether it is safe to run as root.
 *
 * quiesced runs hooks as root. A hook reached through a symlink runs whatever the
 * symlink points at when it is run, so the check is made right before each run, and
 * the hook is run by its real path. The path is resolved one step at a time: the
 * file, every directory entered on the way (also one passed only through a symlink)
 * and every symlink followed, on the way to the hook and to the hook directory, must
 * be owned by root (or quiesced's user), and the file and directories writable by
 * nobody else, as OpenSSH's StrictModes and sudo ask. Where that holds, only root can
 * change what the path names between the check and the exec.
 *
 * One exception, as for /tmp: a directory writable by others with the sticky bit,
 * owned by root. Others can add names there but cannot rename or remove root's, and
 * the next component on the path must be root's anyway. Not for the hook directory
 * itself: every name added there is a hook (a symlink to /sbin/reboot would do). */
#ifndef QUIESCE_APPS_HOOKPATH_H
#define QUIESCE_APPS_HOOKPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* One entry of a path: true (with why) if someone other than root could change it. */
bool hookpath_unsafe(const struct stat *st, char *why, size_t whylen);

/* Check the real path of every directory on path, and of path itself; want_dir: path
 * is a directory (else a regular executable file). real gets the real path. 0, or -1
 * with why ("owned by uid 1000, not root", "/x/y (on its path) is writable by
 * everyone", "cannot resolve it: No such file or directory"). */
int hookpath_check(const char *path, bool want_dir, char *real, size_t reallen, char *why,
		   size_t whylen);

/* The hook directory itself: root's, and writable by nobody else, sticky or not. */
bool hookpath_unsafe_hookdir(const struct stat *st, char *why, size_t whylen);

/* The hook dir/name: the hook directory's path and the hook's. 0, or -1 with why. */
int hookpath_check_hook(const char *dir, const char *name, char *real, size_t reallen,
			char *why, size_t whylen);

#endif
