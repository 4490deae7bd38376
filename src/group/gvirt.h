// SPDX-License-Identifier: MIT
/* quiesce-group's guests through libvirt's C API: the gops of the real program. */
#ifndef QUIESCE_GVIRT_H
#define QUIESCE_GVIRT_H

#include "group/gmachine.h"
#include "group/gspec.h"

struct gvirt_opts {
	char snapshot_name[128];
	int metadata;   /* keep libvirt's snapshot metadata (default: none) */
};

/* Sets up libvirt (errors kept quiet: each call reports its own). 0 or -1. */
int gvirt_init(const struct gspec *s, const struct gvirt_opts *o);
extern const struct gops gvirt_ops;
/* The agent's freeze status ("frozen", "thawed") of guest i, for thaw GROUP. */
int gvirt_status(int i, char *out, size_t outlen);

#endif
