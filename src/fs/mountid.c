// SPDX-License-Identifier: MIT
/* Kept apart: it needs the kernel's struct statx (glibc's lacks stx_mnt_id), and
 * <linux/stat.h> cannot be included together with <sys/stat.h>. */
#include "fs/mountid.h"

#include <fcntl.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int fd_mount_id(int fd, int *id)
{
	struct statx stx;
	if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) != 0)
		return -1;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -1;
	*id = (int)stx.stx_mnt_id;
	return 0;
}
