// SPDX-License-Identifier: MIT
#include "fs/policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/util.h"

/* ------------------------------------------------------------ sysfs probe */

static int sysfs_source_devno(void *ctx, const char *path, unsigned *maj, unsigned *min)
{
	struct stat st;
	(void)ctx;
	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
		return -1;
	*maj = major(st.st_rdev);
	*min = minor(st.st_rdev);
	return 0;
}

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* Calls fn for each slave of maj:min with the slave's device number. */
static void for_each_slave(unsigned maj, unsigned min,
			   void (*fn)(unsigned, unsigned, void *), void *arg)
{
	char dir[64], path[64 + 256 + 8], val[32];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u/slaves", maj, min);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		unsigned a, b;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/dev", dir, de->d_name);
		if (read_small(path, val, sizeof(val)) == 0 && sscanf(val, "%u:%u", &a, &b) == 2)
			fn(a, b, arg);
	}
	closedir(d);
}

struct loop_walk {
	int depth;
	bool found;
	void (*file_fn)(void *, const char *);
	void *file_arg;
};

static void loop_walk(unsigned maj, unsigned min, void *arg)
{
	struct loop_walk *w = arg;
	char path[96], file[4096];

	if (w->depth > 8)
		return; /* stacks deeper than this do not exist; do not loop forever */
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop", maj, min);
	if (access(path, F_OK) == 0) {
		w->found = true;
		if (w->file_fn) {
			snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", maj,
				 min);
			if (read_small(path, file, sizeof(file)) == 0 && file[0] == '/')
				w->file_fn(w->file_arg, file);
		}
		return;
	}
	w->depth++;
	for_each_slave(maj, min, loop_walk, w);
	w->depth--;
}

static bool sysfs_is_loop_backed(void *ctx, unsigned maj, unsigned min)
{
	struct loop_walk w = { 0 };
	(void)ctx;
	loop_walk(maj, min, &w);
	return w.found;
}

static void sysfs_backing_files(void *ctx, unsigned maj, unsigned min,
				void (*fn)(void *, const char *), void *arg)
{
	struct loop_walk w = { .file_fn = fn, .file_arg = arg };
	(void)ctx;
	loop_walk(maj, min, &w);
}

const struct blockdev_probe sysfs_probe = {
	.source_devno = sysfs_source_devno,
	.is_loop_backed = sysfs_is_loop_backed,
	.backing_files = sysfs_backing_files,
};

/* ------------------------------------------------------------ rules */

bool policy_type_unfreezable(const char *fstype)
{
	/* Filesystems without freeze support in the kernel (no freeze_fs). */
	static const char *const types[] = { "vfat", "msdos", "exfat", "iso9660", "squashfs",
					     "fuseblk", "ntfs", "ntfs3", "udf" };
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (strcmp(fstype, types[i]) == 0)
			return true;
	return false;
}

static bool in_list(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static bool matches_any(char **pats, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(pats[i], s, 0) == 0)
			return true;
	return false;
}

/* One superblock and the indices of its mount entries. */
struct group {
	unsigned major, minor;
	size_t *mounts;
	size_t n;
	int cand;               /* index into the candidate array, -1 if skipped */
	int order_key;          /* position of its first mount in the table */
};

static int add_skip(struct fs_plan *plan, const char *mp, const char *reason)
{
	struct fs_skip *v = realloc(plan->skipped, (plan->n_skipped + 1) * sizeof(*v));
	if (!v)
		return -1;
	plan->skipped = v;
	v[plan->n_skipped].mountpoint = strdup(mp);
	if (!v[plan->n_skipped].mountpoint)
		return -1;
	v[plan->n_skipped].reason = reason;
	plan->n_skipped++;
	return 0;
}

/* Why a superblock is not a candidate, or NULL if it is. rep gets the mount to use. */
static const char *judge(const struct mount_table *mt, const struct group *g,
			 const struct fs_policy *pol, const struct blockdev_probe *probe,
			 size_t *rep)
{
	const struct mount_entry *first = &mt->v[g->mounts[0]];
	bool any_rw = false, any_selected = false, any_included = false;
	unsigned smaj, smin;

	if (pol->scope) {
		size_t inside = 0;
		for (size_t i = 0; i < g->n; i++)
			inside += path_is_under(mt->v[g->mounts[i]].mountpoint, pol->scope);
		if (inside == 0)
			return "outside the scope";
		/* Freezing it would freeze its mounts outside the scope as well. */
		if (inside < g->n)
			return "also mounted outside the scope";
	}
	if (in_list(pol->exclude_types, pol->n_exclude_types, first->fstype))
		return "type excluded";
	if (pol->n_include_types && !in_list(pol->include_types, pol->n_include_types,
					     first->fstype))
		return "type not included";
	if (!str_has_prefix(first->source, "/dev/"))
		return "not a block device";
	if (strcmp(first->fstype, "vfat") == 0 &&
	    !in_list(pol->include_types, pol->n_include_types, "vfat"))
		return "vfat";
	if (mount_opts_has(first->super_opts, "ro"))
		return "read-only";
	*rep = g->mounts[0];
	for (size_t i = 0; i < g->n; i++) {
		const struct mount_entry *e = &mt->v[g->mounts[i]];
		if (!mount_opts_has(e->mount_opts, "ro") && !any_rw) {
			any_rw = true;
			*rep = g->mounts[i];
		}
		if (matches_any(pol->exclude, pol->n_exclude, e->mountpoint))
			return "excluded";
		if (matches_any(pol->include, pol->n_include, e->mountpoint))
			any_included = true;
		for (size_t k = 0; k < pol->n_select; k++)
			if (strcmp(pol->select[k], e->mountpoint) == 0)
				any_selected = true;
	}
	if (!any_rw)
		return "read-only";
	if (pol->n_include && !any_included)
		return "not included";
	if (pol->select_set && !any_selected)
		return "not selected";
	/* hv_vss_daemon: a device it cannot stat is not treated as a loop device. */
	if (!pol->scope && probe->source_devno(probe->ctx, first->source, &smaj, &smin) == 0 &&
	    probe->is_loop_backed(probe->ctx, smaj, smin))
		return "loop-backed";
	return NULL;
}

static int add_holder(struct fs_candidate *c, size_t h)
{
	size_t *v;
	for (size_t i = 0; i < c->n_holders; i++)
		if (c->holders[i] == h)
			return 0;
	v = realloc(c->holders, (c->n_holders + 1) * sizeof(*v));
	if (!v)
		return -1;
	c->holders = v;
	v[c->n_holders++] = h;
	return 0;
}

/* The group of the mount whose mountpoint is the longest prefix of path. */
static int group_of_path(const struct mount_table *mt, const int *group_of, const char *path)
{
	size_t best_len = 0;
	int best = -1;
	for (size_t i = 0; i < mt->n; i++) {
		size_t len = strlen(mt->v[i].mountpoint);
		if (path_is_under(path, mt->v[i].mountpoint) && (best < 0 || len >= best_len)) {
			best = group_of[i];
			best_len = len;
		}
	}
	return best;
}

struct backing_ctx {
	const struct mount_table *mt;
	const int *group_of;
	struct group *groups;
	struct fs_candidate *cands;
	size_t self;
	int err;
};

static void on_backing_file(void *arg, const char *path)
{
	struct backing_ctx *b = arg;
	int g = group_of_path(b->mt, b->group_of, path);
	if (g >= 0 && b->groups[g].cand >= 0 && (size_t)b->groups[g].cand != b->self)
		if (add_holder(&b->cands[b->self], (size_t)b->groups[g].cand) < 0)
			b->err = -1;
}

static int find_entry(const struct mount_table *mt, int id)
{
	for (size_t i = 0; i < mt->n; i++)
		if (mt->v[i].id == id)
			return (int)i;
	return -1;
}

/* Is `to` frozen after `from` already, through the holders linked so far? (Depth
 * first over the holders; seen[] has room for every candidate.) */
static bool holds_after(const struct fs_candidate *cands, size_t nc, size_t from, size_t to,
			bool *seen, size_t *stack)
{
	size_t top = 0;

	memset(seen, 0, nc * sizeof(*seen));
	stack[top++] = from;
	seen[from] = true;
	while (top) {
		size_t c = stack[--top];
		if (c == to)
			return true;
		for (size_t h = 0; h < cands[c].n_holders; h++)
			if (!seen[cands[c].holders[h]]) {
				seen[cands[c].holders[h]] = true;
				stack[top++] = cands[c].holders[h];
			}
	}
	return false;
}

/* An order that is a convention, not a need: added unless it contradicts the ones
 * already linked, which would make a cycle (and the plan says so). */
static int add_soft_holder(struct fs_plan *plan, size_t c, size_t h, bool *seen, size_t *stack)
{
	if (holds_after(plan->v, plan->n, h, c, seen, stack)) {
		plan->cycle = true;
		return 0;
	}
	return add_holder(&plan->v[c], h);
}

/* Two kinds of order. A loop filesystem must be frozen before the filesystem that
 * holds its image, or its flush blocks on the frozen image for good: those are
 * linked first. Children before their parents and "/" last are conventions (qemu-ga,
 * hv_vss_daemon): each is linked only if it does not contradict what is already
 * there, as it would when the image's filesystem is also mounted inside the loop
 * filesystem (a chroot in an image file with /home bound into it). */
static int link_holders(const struct mount_table *mt, const int *group_of, struct group *groups,
			size_t ng, struct fs_plan *plan, const struct blockdev_probe *probe)
{
	struct fs_candidate *cands = plan->v;
	size_t nc = plan->n;
	bool *seen = calloc(nc ? nc : 1, sizeof(*seen));
	size_t *stack = calloc(nc ? nc : 1, sizeof(*stack));
	int ret = -1;

	if (!seen || !stack)
		goto out;
	/* The filesystem holding its loop device's backing file. */
	for (size_t gi = 0; gi < ng; gi++) {
		size_t c;
		unsigned smaj, smin;
		struct backing_ctx b;

		if (groups[gi].cand < 0)
			continue;
		c = (size_t)groups[gi].cand;
		if (probe->source_devno(probe->ctx, cands[c].source, &smaj, &smin) == 0) {
			b = (struct backing_ctx){ mt, group_of, groups, cands, c, 0 };
			probe->backing_files(probe->ctx, smaj, smin, on_backing_file, &b);
			if (b.err)
				goto out;
		}
	}
	/* The filesystem each of its mountpoints lives on. */
	for (size_t gi = 0; gi < ng; gi++) {
		struct group *g = &groups[gi];
		size_t c;

		if (g->cand < 0)
			continue;
		c = (size_t)g->cand;
		for (size_t k = 0; k < g->n; k++) {
			int e = (int)g->mounts[k];
			for (size_t steps = 0; steps < mt->n; steps++) {
				int p = find_entry(mt, mt->v[e].parent_id);
				if (p < 0 || p == e)
					break;
				if (groups[group_of[p]].cand >= 0 &&
				    (size_t)groups[group_of[p]].cand != c) {
					if (add_soft_holder(plan, c, (size_t)groups[group_of[p]].cand,
							    seen, stack))
						goto out;
					break;
				}
				e = p;
			}
		}
	}
	/* "/" last, as hv_vss_daemon does it. */
	for (size_t c = 0; c < nc; c++) {
		if (!cands[c].is_root)
			continue;
		for (size_t o = 0; o < nc; o++)
			if (o != c && add_soft_holder(plan, o, c, seen, stack))
				goto out;
	}
	ret = 0;
out:
	free(seen);
	free(stack);
	return ret;
}

/* Kahn's algorithm: a candidate is ready when everything it holds is placed. Among
 * ready ones, the most recently mounted goes first (qemu-ga's reverse mount order). */
static int sort_plan(struct fs_plan *plan, const int *key)
{
	size_t n = plan->n, placed = 0;
	size_t *indeg = calloc(n ? n : 1, sizeof(*indeg));
	size_t *order = calloc(n ? n : 1, sizeof(*order));
	size_t *newpos = calloc(n ? n : 1, sizeof(*newpos));
	bool *done = calloc(n ? n : 1, sizeof(*done));
	struct fs_candidate *sorted = calloc(n ? n : 1, sizeof(*sorted));

	if (!indeg || !order || !newpos || !done || !sorted) {
		free(indeg), free(order), free(newpos), free(done), free(sorted);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h < plan->v[i].n_holders; h++)
			indeg[plan->v[i].holders[h]]++;
	while (placed < n) {
		int best = -1;
		for (size_t i = 0; i < n; i++)
			if (!done[i] && indeg[i] == 0 && (best < 0 || key[i] > key[best]))
				best = (int)i;
		if (best < 0) {
			/* A cycle of images on each other's filesystems: real mounts cannot
			 * make one, but never loop or drop a candidate. */
			plan->cycle = true;
			for (size_t i = 0; i < n; i++)
				if (!done[i] && (best < 0 || key[i] > key[best]))
					best = (int)i;
		}
		done[best] = true;
		order[placed++] = (size_t)best;
		for (size_t h = 0; h < plan->v[best].n_holders; h++)
			if (indeg[plan->v[best].holders[h]])
				indeg[plan->v[best].holders[h]]--;
	}
	for (size_t i = 0; i < n; i++)
		newpos[order[i]] = i;
	for (size_t i = 0; i < n; i++) {
		size_t kept = 0;
		sorted[i] = plan->v[order[i]];
		/* An order the cycle broke is dropped: the freezer waits for every holder's
		 * holdees, and a cycle would leave them all waiting until the deadline. */
		for (size_t h = 0; h < sorted[i].n_holders; h++)
			if (newpos[sorted[i].holders[h]] > i)
				sorted[i].holders[kept++] = newpos[sorted[i].holders[h]];
		sorted[i].n_holders = kept;
	}
	free(plan->v);
	plan->v = sorted;
	free(indeg), free(order), free(newpos), free(done);
	return 0;
}

/* One group per superblock (major:minor), in the order of its first mount; group_of[i]
 * is mount i's group. *ng counts the groups so far, also on failure (for the free). */
static int group_mounts(const struct mount_table *mt, struct group *groups, int *group_of,
			size_t *ng)
{
	for (size_t i = 0; i < mt->n; i++) {
		size_t g;
		size_t *v;
		for (g = 0; g < *ng; g++)
			if (groups[g].major == mt->v[i].major && groups[g].minor == mt->v[i].minor)
				break;
		if (g == *ng) {
			groups[g].major = mt->v[i].major;
			groups[g].minor = mt->v[i].minor;
			groups[g].order_key = (int)i;
			(*ng)++;
		}
		v = realloc(groups[g].mounts, (groups[g].n + 1) * sizeof(*v));
		if (!v)
			return -1;
		groups[g].mounts = v;
		v[groups[g].n++] = i;
		group_of[i] = (int)g;
	}
	return 0;
}

/* The group's candidate, its mount rep standing for the superblock; key[] its place in
 * reverse mount order. */
static int add_candidate(const struct mount_table *mt, struct group *gr, size_t rep,
			 struct fs_plan *out, int *key)
{
	struct fs_candidate *c = &out->v[out->n];
	const struct mount_entry *e = &mt->v[rep];

	c->mountpoint = strdup(e->mountpoint);
	c->source = strdup(e->source);
	c->fstype = strdup(e->fstype);
	if (!c->mountpoint || !c->source || !c->fstype) {
		out->n++;
		return -1;
	}
	c->mount_id = e->id;
	c->major = gr->major;
	c->minor = gr->minor;
	for (size_t k = 0; k < gr->n; k++)
		if (strcmp(mt->v[gr->mounts[k]].mountpoint, "/") == 0)
			c->is_root = true;
	/* The last mount of a superblock decides its place in reverse mount order. */
	key[out->n] = (int)gr->mounts[gr->n - 1];
	gr->cand = (int)out->n;
	out->n++;
	return 0;
}

/* Each group judged: a candidate, or a skip for each of its mounts. */
static int judge_groups(const struct mount_table *mt, const struct fs_policy *pol,
			const struct blockdev_probe *probe, struct group *groups, size_t ng,
			struct fs_plan *out, int *key)
{
	for (size_t g = 0; g < ng; g++) {
		size_t rep = 0;
		const char *why = judge(mt, &groups[g], pol, probe, &rep);
		groups[g].cand = -1;
		if (!why) {
			if (add_candidate(mt, &groups[g], rep, out, key) < 0)
				return -1;
			continue;
		}
		/* Report skips inside the scope only: outside it there are hundreds. */
		for (size_t k = 0; k < groups[g].n; k++) {
			const char *mp = mt->v[groups[g].mounts[k]].mountpoint;
			if (!pol->scope || path_is_under(mp, pol->scope))
				if (add_skip(out, mp, why) < 0)
					return -1;
		}
	}
	return 0;
}

int policy_plan(const struct mount_table *mt, const struct fs_policy *pol,
		const struct blockdev_probe *probe, struct fs_plan *out)
{
	struct group *groups = NULL;
	int *group_of = NULL, *key = NULL;
	size_t ng = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	group_of = calloc(mt->n ? mt->n : 1, sizeof(*group_of));
	groups = calloc(mt->n ? mt->n : 1, sizeof(*groups));
	if (!group_of || !groups || group_mounts(mt, groups, group_of, &ng) < 0)
		goto out;
	out->v = calloc(ng ? ng : 1, sizeof(*out->v));
	key = calloc(ng ? ng : 1, sizeof(*key));
	if (!out->v || !key || judge_groups(mt, pol, probe, groups, ng, out, key) < 0)
		goto out;
	if (link_holders(mt, group_of, groups, ng, out, probe) < 0)
		goto out;
	if (sort_plan(out, key) < 0)
		goto out;
	ret = 0;
out:
	for (size_t g = 0; groups && g < ng; g++)
		free(groups[g].mounts);
	free(groups);
	free(group_of);
	free(key);
	if (ret < 0) {
		fs_plan_free(out);
		errno = ENOMEM;
	}
	return ret;
}

void fs_plan_free(struct fs_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->v[i].mountpoint);
		free(plan->v[i].source);
		free(plan->v[i].fstype);
		free(plan->v[i].holders);
	}
	free(plan->v);
	for (size_t i = 0; i < plan->n_skipped; i++)
		free(plan->skipped[i].mountpoint);
	free(plan->skipped);
	memset(plan, 0, sizeof(*plan));
}
