// SPDX-License-Identifier: MIT
/*
 * Are a database's directories on filesystems quiesced will freeze? A snapshot that
 * holds the data files but not the WAL (or one tablespace but not another) restores
 * to a broken database, and nothing else checks this: the daemon knows which
 * filesystems it freezes, the agent knows where the database writes.
 *
 * A directory is covered when its st_dev (after resolving symlinks) is the device
 * number of one of the daemon's candidates: FIFREEZE freezes a superblock, and
 * st_dev is the superblock's. The mount named in a veto comes from our own
 * /proc/self/mountinfo (the agent runs beside the database, in its mount namespace).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agent.h"
#include "fs/mountinfo.h"

/* The mount of path's filesystem: the entry of its device with the longest
 * mountpoint that is a prefix of path. NULL if none (fills mp, type). */
static int
mount_of(const char *path, unsigned maj, unsigned min, char *mp, size_t mplen, char *type,
    size_t typelen)
{
	struct mount_table mt;
	size_t i, best = 0, l;
	int found = 0;

	if (mountinfo_read("/proc/self/mountinfo", &mt, NULL) < 0)
		return 0;
	for (i = 0; i < mt.n; i++) {
		const struct mount_entry *e = &mt.v[i];
		if (e->major != maj || e->minor != min)
			continue;
		l = strlen(e->mountpoint);
		if (strncmp(path, e->mountpoint, l) != 0 ||
		    (l > 1 && path[l] != '\0' && path[l] != '/'))
			continue;
		if (!found || l > best) {
			snprintf(mp, mplen, "%s", e->mountpoint);
			snprintf(type, typelen, "%s", e->fstype);
			best = l;
			found = 1;
		}
	}
	mount_table_free(&mt);
	return found;
}

static int
in_list(const struct quiesce_fs *fs, size_t n, unsigned maj, unsigned min)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fs[i].major == maj && fs[i].minor == min)
			return 1;
	return 0;
}

/* One directory: AGENT_COVERED, or why it is not / cannot be told. */
static enum agent_cover
check_one(const struct agent_dir *d, const struct quiesce_fs *fs, size_t n, unsigned flags,
    char *why, size_t whylen)
{
	char real[PATH_MAX], mp[PATH_MAX] = "?", type[64] = "?";
	struct stat st;

	if (realpath(d->path, real) == NULL || stat(real, &st) < 0) {
		snprintf(why, whylen, "cannot check %s %s: %s", d->what, d->path, strerror(errno));
		return AGENT_CANNOT_TELL;
	}
	if (in_list(fs, n, major(st.st_dev), minor(st.st_dev))) {
		agent_log(AGENT_DEBUG, "%s %s: on a filesystem quiesced freezes (%u:%u)", d->what,
		    real, major(st.st_dev), minor(st.st_dev));
		return AGENT_COVERED;
	}
	if (flags & QUIESCE_FS_INCOMPLETE) {
		snprintf(why, whylen, "cannot tell whether %s %s is frozen: the daemon's list is "
		    "incomplete", d->what, real);
		return AGENT_CANNOT_TELL;
	}
	mount_of(real, major(st.st_dev), minor(st.st_dev), mp, sizeof(mp), type, sizeof(type));
	/* What and where first: the answer's detail keeps 127 bytes. */
	snprintf(why, whylen, "%s %s is on %s (%s %u:%u), a filesystem quiesced does not freeze",
	    d->what, real, mp, type, major(st.st_dev), minor(st.st_dev));
	return AGENT_NOT_COVERED;
}

enum agent_cover
agent_check_dirs(struct quiesce *q, const struct agent_dir *dirs, size_t n, int timeout_ms,
    char *why, size_t whylen)
{
	struct quiesce_fs *fs = NULL;
	enum agent_cover res = AGENT_COVERED;
	unsigned int flags = 0;
	size_t nfs = 0, i;
	int r;

	r = quiesce_filesystems(q, &fs, &nfs, &flags, timeout_ms);
	if (r == -EOPNOTSUPP) {
		snprintf(why, whylen, "directories not checked: the daemon speaks protocol 1");
		return AGENT_NOT_CHECKED;
	}
	if (r < 0) {
		snprintf(why, whylen, "cannot ask quiesced for its filesystems: %s",
		    quiesce_strerror(r));
		return AGENT_CANNOT_TELL;
	}
	for (i = 0; i < n && res == AGENT_COVERED; i++)
		res = check_one(&dirs[i], fs, nfs, flags, why, whylen);
	quiesce_filesystems_free(fs);
	if (res == AGENT_COVERED)
		snprintf(why, whylen, "%zu directories on %zu frozen filesystems", n, nfs);
	return res;
}

int
agent_dirs_ok(struct quiesce *q, const struct agent_dir *dirs, size_t n, uint64_t deadline_ns,
    char *detail, size_t len)
{
	int qt = agent_ms_left(deadline_ns);

	switch (agent_check_dirs(q, dirs, n, qt < 2000 ? qt : 2000, detail, len)) {
	case AGENT_COVERED:
		agent_log(AGENT_DEBUG, "%s", detail);
		return 0;
	case AGENT_NOT_CHECKED:
		agent_log(AGENT_WARN, "%s", detail);
		return 0;
	default:
		agent_log(AGENT_WARN, "veto: %s", detail);
		return -1;
	}
}
