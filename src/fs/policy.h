// SPDX-License-Identifier: MIT
/* Which filesystems to freeze, and in what order.
 *
 * The default rules are hv_vss_daemon's, so quiesced can replace it: a source under
 * /dev/, not read-only, not vfat, not loop-backed, "/" last. --scope DIR limits the
 * candidates to filesystems mounted only at or under DIR, and then allows loop-backed
 * ones (tests run on loop-mounted scratch images). Include/exclude lists narrow it.
 *
 * Filesystems are deduplicated by superblock: bind mounts and btrfs subvolumes share
 * one, and FIFREEZE freezes the superblock, so each is frozen exactly once.
 *
 * Order: a filesystem must be frozen before the filesystems that hold it, and thawed
 * after them. A holder is the filesystem its mountpoint lives on (children before
 * parents) and the filesystem holding its loop device's backing file (freezing the
 * loop filesystem flushes through the loop device into that file; if the file's
 * filesystem were frozen first, that flush would block forever). "/" holds all. */
#ifndef QUIESCE_POLICY_H
#define QUIESCE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "fs/mountinfo.h"

struct fs_policy {
	const char *scope;              /* NULL: the whole system */
	char **include;                 /* fnmatch(3) patterns on mountpoints; none = all */
	size_t n_include;
	char **exclude;
	size_t n_exclude;
	char **include_types;           /* fs types; none = all (an included vfat is allowed) */
	size_t n_include_types;
	char **exclude_types;
	size_t n_exclude_types;
	/* Per request (qga freeze-list): only these mountpoints, exact match. */
	char *const *select;
	size_t n_select;
	bool select_set;
};

/* What the policy needs to know about block devices, behind a seam so that unit
 * tests can replay recorded samples without the host's /sys. */
struct blockdev_probe {
	/* Device number of the block device at path; -1 if it is not one. */
	int (*source_devno)(void *ctx, const char *path, unsigned *maj, unsigned *min);
	/* A loop device, or stacked on one (dm/md "slaves", recursively). */
	bool (*is_loop_backed)(void *ctx, unsigned maj, unsigned min);
	/* Calls fn with the backing file of every loop device under maj:min. */
	void (*backing_files)(void *ctx, unsigned maj, unsigned min,
			      void (*fn)(void *arg, const char *path), void *arg);
	void *ctx;
};

extern const struct blockdev_probe sysfs_probe;

struct fs_candidate {
	char *mountpoint;       /* where we open it: its first read-write mount */
	char *source;
	char *fstype;
	int mount_id;
	unsigned major, minor;  /* superblock */
	bool is_root;
	size_t *holders;        /* indices of candidates to freeze after this one */
	size_t n_holders;
};

struct fs_skip {
	char *mountpoint;
	const char *reason;
};

struct fs_plan {
	struct fs_candidate *v; /* in a valid one-by-one freeze order */
	size_t n;
	struct fs_skip *skipped;
	size_t n_skipped;
	bool cycle;             /* dependencies formed a cycle; order is best effort */
};

int policy_plan(const struct mount_table *mt, const struct fs_policy *pol,
		const struct blockdev_probe *probe, struct fs_plan *out);
void fs_plan_free(struct fs_plan *plan);

/* Filesystem types whose FIFREEZE is known to fail with EOPNOTSUPP (CHECK warns). */
bool policy_type_unfreezable(const char *fstype);

#endif
