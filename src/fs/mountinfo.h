// SPDX-License-Identifier: MIT
/* /proc/self/mountinfo: parsing only, no policy.
 *
 * Line format (proc(5)):
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   id parent maj:min root mountpoint mount-options [optional...] - fstype source super-options
 * Paths use octal escapes (\040 for a space, \011, \012, \134). */
#ifndef QUIESCE_MOUNTINFO_H
#define QUIESCE_MOUNTINFO_H

#include <stddef.h>

/* Bounds on untrusted input. mountinfo comes from the kernel, but the parser is also
 * fed recorded samples and fuzz input, and a container can make it very large. */
#define MOUNTINFO_MAX_BYTES (16u << 20)
#define MOUNTINFO_MAX_LINE 8192

struct mount_entry {
	int id;
	int parent_id;
	unsigned major, minor;  /* the superblock's device (st_dev), not the source's */
	char *root;             /* path inside the filesystem that is mounted here */
	char *mountpoint;
	char *mount_opts;       /* per-mount: rw/ro, noatime, ... */
	char *fstype;
	char *source;
	char *super_opts;       /* per-superblock: rw/ro, ... */
};

struct mount_table {
	struct mount_entry *v;
	size_t n;
};

/* Parse a whole mountinfo text. Lines that do not parse are skipped and counted in
 * *bad (may be NULL). Returns 0, or -1 with errno (ENOMEM, EFBIG). */
int mountinfo_parse(const char *text, size_t len, struct mount_table *out, size_t *bad);
/* Read and parse a file (normally /proc/self/mountinfo); out is empty on failure. */
int mountinfo_read(const char *path, struct mount_table *out, size_t *bad);
void mount_table_free(struct mount_table *t);

/* Decode mountinfo octal escapes in place. Invalid escapes are kept literally. */
void mountinfo_unescape(char *s);

/* True if the comma-separated option list contains exactly opt ("ro" in "rw,ro"). */
int mount_opts_has(const char *opts, const char *opt);

#endif
