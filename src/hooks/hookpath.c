// SPDX-License-Identifier: MIT
#include "hooks/hookpath.h"

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

/* At most this many symlinks on the way, as the kernel (ELOOP). */
#define MAX_LINKS 40

static int unresolved(const char *err, char *why, size_t whylen)
{
	snprintf(why, whylen, "cannot resolve it: %s", err);
	return -1;
}

/* Take the first component of rest into name (rest keeps what follows). 0 when rest
 * has none left, 1 with one, -1 if it is too long. *last: nothing follows it. */
static int next_component(char *rest, char *name, bool *last)
{
	char *p = rest;
	size_t len;
	while (*p == '/')
		p++;
	if (!*p)
		return 0;
	len = strcspn(p, "/");
	if (len > NAME_MAX)
		return -1;
	memcpy(name, p, len);
	name[len] = '\0';
	memmove(rest, p + len, strlen(p + len) + 1);
	*last = rest[strspn(rest, "/")] == '\0';
	return 1;
}

/* Resolve path into cur as realpath() would, but one step at a time, checking every
 * directory it enters and every symlink it follows on the way: a directory it only
 * passes through a symlink counts as much as one on the real path (a symlink into
 * another user's directory, where their own symlink points at any root program). */
static int resolve(const char *path, char *cur, char *why, size_t whylen)
{
	char rest[2 * PATH_MAX], name[NAME_MAX + 1], next[PATH_MAX], target[PATH_MAX], w[96];
	struct stat st;
	int links = 0, r;
	bool last;

	cur[0] = '\0';   /* "/" */
	if (path[0] == '/') {
		if (str_copy(rest, path, sizeof(rest)) >= sizeof(rest))
			return unresolved("its path is too long", why, whylen);
	} else if (!getcwd(rest, PATH_MAX) || strlen(rest) + strlen(path) + 2 > sizeof(rest)) {
		return unresolved(strerror(errno ? errno : ENAMETOOLONG), why, whylen);
	} else {
		strcat(rest, "/");
		strcat(rest, path);
	}
	if (lstat("/", &st) < 0 || hookpath_unsafe(&st, w, sizeof(w))) {
		snprintf(why, whylen, "/ is %s", w);
		return -1;
	}
	while ((r = next_component(rest, name, &last)) > 0) {
		ssize_t n;
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (cur[0])   /* cur is "" (that is "/") or starts with '/' */
				*strrchr(cur, '/') = '\0';
			continue;
		}
		if (snprintf(next, sizeof(next), "%s/%s", cur, name) >= (int)sizeof(next))
			return unresolved("its path is too long", why, whylen);
		if (lstat(next, &st) < 0)
			return unresolved(strerror(errno), why, whylen);
		if (S_ISLNK(st.st_mode)) {
			if (++links > MAX_LINKS)
				return unresolved(strerror(ELOOP), why, whylen);
			/* Its mode means nothing; whose it is does (in a sticky directory
			 * its owner may point it anywhere). */
			if (st.st_uid != 0 && st.st_uid != geteuid()) {
				snprintf(why, whylen, "%s (a symlink on its path) is owned by uid %u, "
					 "not root", next, (unsigned)st.st_uid);
				return -1;
			}
			n = readlink(next, target, sizeof(target) - 1);
			if (n <= 0)
				return unresolved(n < 0 ? strerror(errno) : "an empty symlink", why, whylen);
			if ((size_t)n + 1 + strlen(rest) >= sizeof(rest))
				return unresolved("its path is too long", why, whylen);
			memmove(rest + n + 1, rest, strlen(rest) + 1);
			memcpy(rest, target, (size_t)n);
			rest[n] = '/';
			if (target[0] == '/')
				cur[0] = '\0';
			continue;
		}
		if (!last && !S_ISDIR(st.st_mode))
			return unresolved(strerror(ENOTDIR), why, whylen);
		if (!last && hookpath_unsafe(&st, w, sizeof(w))) {
			snprintf(why, whylen, "%s (on its path) is %s", next, w);
			return -1;
		}
		memcpy(cur, next, strlen(next) + 1);
	}
	if (r < 0)
		return unresolved(strerror(ENAMETOOLONG), why, whylen);
	return 0;
}

int hookpath_check(const char *path, bool want_dir, char *real, size_t reallen, char *why,
		   size_t whylen)
{
	char buf[PATH_MAX];
	struct stat st;

	if (resolve(path, buf, why, whylen) < 0)
		return -1;
	if (!buf[0])
		strcpy(buf, "/");
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
