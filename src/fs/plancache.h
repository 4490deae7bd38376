// SPDX-License-Identifier: MIT
/* The last freeze plan, reused while the mount table has not changed.
 *
 * Reading /proc/self/mountinfo costs ~50 µs of kernel time on a small guest (the
 * kernel prints every mount's paths), parsing it and asking sysfs about loop devices
 * as much again: most of what a 1-filesystem freeze costs quiesced beyond the ioctl.
 * The kernel says when the table changes: an open mountinfo polls POLLPRI|POLLERR
 * after every mount or unmount in our namespace since it was last polled. So the
 * plan made from the table is kept, and used again while that poll stays quiet, for
 * the same selection of mountpoints, for at most PLANCACHE_MAX_AGE_MS (what the poll
 * cannot see, a loop device's or a device-mapper table's change under a mounted
 * filesystem, changes only the order, and is then picked up within that time).
 * Whatever is planned, the freezer still checks each mountpoint's mount id when it
 * opens it, as before. */
#ifndef QUIESCE_PLANCACHE_H
#define QUIESCE_PLANCACHE_H

#include <stdbool.h>

#include "fs/policy.h"

#define PLANCACHE_MAX_AGE_MS 10000

struct plancache;

/* path: the mountinfo file the plans are made from. Not a /proc file (a test's
 * sample): it cannot be polled, so nothing is ever reused. */
struct plancache *plancache_new(const char *path);
void plancache_free(struct plancache *pc);

/* A copy of the kept plan into out if it is still good for pol's selection. False
 * if not (or no memory): then plan from a table read after this call, and put it. */
bool plancache_get(struct plancache *pc, const struct fs_policy *pol, struct fs_plan *out);

/* Keep a copy of plan, made for pol from a table read after plancache_get. */
void plancache_put(struct plancache *pc, const struct fs_policy *pol, const struct fs_plan *plan);

/* Forget the kept plan (a freeze found the table not as planned). */
void plancache_drop(struct plancache *pc);

/* A deep copy of a plan; -1 (out zeroed) without memory. */
int plancache_copy(const struct fs_plan *in, struct fs_plan *out);

#endif
