// SPDX-License-Identifier: MIT
#include "apps/hookpath.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

bool hookpath_unsafe(const struct stat *st, char *why, size_t whylen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(why, whylen, "owned by uid %u, not root", (unsigned)st->st_uid);
		return true;
	}
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return false;
	/* Sticky (/tmp): others may add names, not rename or remove ours. */
	if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return false;
	snprintf(why, whylen, "writable by %s", st->st_mode & S_IWOTH ? "everyone" : "its group");
	return true;
}

bool hookpath_unsafe_hookdir(const struct stat *st, char *why, size_t whylen)
{
	if (hookpath_unsafe(st, why, whylen))
		return true;
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return false;
	snprintf(why, whylen, "writable by %s (sticky or not: whatever is added there runs)",
		 st->st_mode & S_IWOTH ? "everyone" : "its group");
	return true;
}

/* One directory on the path (buf cut at its end). */
static int check_dir(const char *dir, char *why, size_t whylen)
{
	struct stat st;
	char w[96];

	if (lstat(dir, &st) < 0) {
		snprintf(why, whylen, "%s (on its path): %s", dir, strerror(errno));
		return -1;
	}
	/* realpath() resolved every symlink: one now means the path changed under us. */
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s (on its path) changed while it was checked", dir);
		return -1;
	}
	if (hookpath_unsafe(&st, w, sizeof(w))) {
		snprintf(why, whylen, "%s (on its path) is %s", dir, w);
		return -1;
	}
	return 0;
}

int hookpath_check(const char *path, bool want_dir, char *real, size_t reallen, char *why,
		   size_t whylen)
{
	char buf[PATH_MAX];
	struct stat st;

	if (!realpath(path, buf)) {
		snprintf(why, whylen, "cannot resolve it: %s", strerror(errno));
		return -1;
	}
	if (check_dir("/", why, whylen) < 0)
		return -1;
	for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		int r;
		*p = '\0';
		r = check_dir(buf, why, whylen);
		*p = '/';
		if (r < 0)
			return -1;
	}
	if (lstat(buf, &st) < 0) {
		snprintf(why, whylen, "%s: %s", buf, strerror(errno));
		return -1;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a %s (or changed while it was checked)", buf,
			 want_dir ? "directory" : "regular file");
		return -1;
	}
	if (hookpath_unsafe(&st, why, whylen))
		return -1;
	if (str_copy(real, buf, reallen) >= reallen) {
		snprintf(why, whylen, "its path is too long");
		return -1;
	}
	return 0;
}

int hookpath_check_hook(const char *dir, const char *name, char *real, size_t reallen,
			char *why, size_t whylen)
{
	char path[PATH_MAX], w[PATH_MAX + 128];
	struct stat st;

	/* Where the symlink lives: whoever can write there can point it elsewhere. */
	if (hookpath_check(dir, true, path, sizeof(path), w, sizeof(w)) < 0) {
		snprintf(why, whylen, "its directory: %s", w);
		return -1;
	}
	if (lstat(path, &st) < 0 || hookpath_unsafe_hookdir(&st, w, sizeof(w))) {
		snprintf(why, whylen, "its directory %s is %s", path, w);
		return -1;
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		snprintf(why, whylen, "its path is too long");
		return -1;
	}
	return hookpath_check(path, false, real, reallen, why, whylen);
}
