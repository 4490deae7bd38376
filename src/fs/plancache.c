// SPDX-License-Identifier: MIT
#include "fs/plancache.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/util.h"

struct plancache {
	char *path;
	int fd;                 /* the mountinfo we poll; -1: none, or not a /proc file */
	bool valid;
	uint64_t made_ns;
	struct fs_plan plan;
	/* The selection it was made for. */
	bool select_set;
	char **select;
	size_t n_select;
};

struct plancache *plancache_new(const char *path)
{
	struct plancache *pc = calloc(1, sizeof(*pc));
	struct statfs sf;

	if (!pc)
		return NULL;
	pc->path = strdup(path);
	if (!pc->path) {
		free(pc);
		return NULL;
	}
	/* Opened now, for good: its poll reports the changes since this open. An fd
	 * held from the start, not one more after the first freeze. */
	pc->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pc->fd >= 0 && (fstatfs(pc->fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC)) {
		close(pc->fd);
		pc->fd = -1;
	}
	return pc;
}

static void free_selection(struct plancache *pc)
{
	for (size_t i = 0; i < pc->n_select; i++)
		free(pc->select[i]);
	free(pc->select);
	pc->select = NULL;
	pc->n_select = 0;
	pc->select_set = false;
}

void plancache_drop(struct plancache *pc)
{
	if (!pc)
		return;
	fs_plan_free(&pc->plan);
	free_selection(pc);
	pc->valid = false;
}

void plancache_free(struct plancache *pc)
{
	if (!pc)
		return;
	plancache_drop(pc);
	if (pc->fd >= 0)
		close(pc->fd);
	free(pc->path);
	free(pc);
}

static bool same_selection(const struct plancache *pc, const struct fs_policy *pol)
{
	if (pc->select_set != pol->select_set || pc->n_select != pol->n_select)
		return false;
	for (size_t i = 0; i < pc->n_select; i++)
		if (strcmp(pc->select[i], pol->select[i]) != 0)
			return false;
	return true;
}

/* True if the table may have changed since the last look (or we cannot tell). */
static bool table_changed(struct plancache *pc)
{
	struct pollfd p = { .fd = pc->fd, .events = POLLPRI };

	if (pc->fd < 0)
		return true;
	/* POLLPRI|POLLERR once after any number of changes; a failed poll: the same. */
	return poll(&p, 1, 0) != 0;
}

bool plancache_get(struct plancache *pc, const struct fs_policy *pol, struct fs_plan *out)
{
	/* Poll first, whatever follows: a change after this look is seen by the next. */
	bool changed = table_changed(pc);

	if (changed || !pc->valid || !same_selection(pc, pol) ||
	    now_ns() - pc->made_ns > (uint64_t)PLANCACHE_MAX_AGE_MS * 1000000u) {
		plancache_drop(pc);
		return false;
	}
	return plancache_copy(&pc->plan, out) == 0;
}

static int keep_selection(struct plancache *pc, const struct fs_policy *pol)
{
	pc->select_set = pol->select_set;
	if (!pol->n_select)
		return 0;
	pc->select = calloc(pol->n_select, sizeof(*pc->select));
	if (!pc->select)
		return -1;
	for (; pc->n_select < pol->n_select; pc->n_select++) {
		pc->select[pc->n_select] = strdup(pol->select[pc->n_select]);
		if (!pc->select[pc->n_select])
			return -1;
	}
	return 0;
}

void plancache_put(struct plancache *pc, const struct fs_policy *pol, const struct fs_plan *plan)
{
	plancache_drop(pc);
	if (pc->fd < 0)
		return;
	if (keep_selection(pc, pol) < 0 || plancache_copy(plan, &pc->plan) < 0) {
		plancache_drop(pc);
		return;
	}
	pc->made_ns = now_ns();
	pc->valid = true;
}

static int copy_candidate(const struct fs_candidate *in, struct fs_candidate *out)
{
	*out = *in;
	out->mountpoint = strdup(in->mountpoint);
	out->source = strdup(in->source);
	out->fstype = strdup(in->fstype);
	out->holders = NULL;
	if (in->n_holders) {
		out->holders = malloc(in->n_holders * sizeof(*out->holders));
		if (out->holders)
			memcpy(out->holders, in->holders, in->n_holders * sizeof(*out->holders));
	}
	return out->mountpoint && out->source && out->fstype &&
	       (out->holders || !in->n_holders) ? 0 : -1;
}

int plancache_copy(const struct fs_plan *in, struct fs_plan *out)
{
	memset(out, 0, sizeof(*out));
	out->cycle = in->cycle;
	if (in->n && !(out->v = calloc(in->n, sizeof(*out->v))))
		goto fail;
	for (; out->n < in->n; out->n++)
		if (copy_candidate(&in->v[out->n], &out->v[out->n]) < 0) {
			out->n++; /* fs_plan_free frees what was copied of it */
			goto fail;
		}
	if (in->n_skipped && !(out->skipped = calloc(in->n_skipped, sizeof(*out->skipped))))
		goto fail;
	for (; out->n_skipped < in->n_skipped; out->n_skipped++) {
		out->skipped[out->n_skipped].reason = in->skipped[out->n_skipped].reason;
		out->skipped[out->n_skipped].mountpoint = strdup(in->skipped[out->n_skipped].mountpoint);
		if (!out->skipped[out->n_skipped].mountpoint)
			goto fail;
	}
	return 0;
fail:
	fs_plan_free(out);
	errno = ENOMEM;
	return -1;
}
