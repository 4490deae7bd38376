// SPDX-License-Identifier: MIT
/* The unit tests' one fake of FIFREEZE and FITHAW (tests/unit/ioctlseam.c), for a test
 * binary linked with -Wl,--wrap=ioctl (UNIT_WRAP_<name> in mk/unit.mk): every other
 * request goes on to the real ioctl; these two never do. Nothing is frozen. */
#ifndef QUIESCE_IOCTLSEAM_H
#define QUIESCE_IOCTLSEAM_H

#include <stdbool.h>

/* Defined by the test: a FIFREEZE (freeze) or FITHAW on the fd whose path this is ("" if
 * /proc/self/fd does not say). 0, or -1 with errno, as the ioctl would. May block. */
int ioctlseam_fake(const char *path, bool freeze);

#endif
