// SPDX-License-Identifier: MIT
#ifndef QUIESCE_MOUNTID_H
#define QUIESCE_MOUNTID_H
/* The mount id (as in mountinfo) of the mount an open fd is on, from statx(2).
 * Returns 0, or -1 if the kernel cannot tell (before Linux 5.8). */
int fd_mount_id(int fd, int *id);
#endif
