// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for mountinfo parsing (src/fs/mountinfo.c) and the freeze plan
 * made from it (src/fs/policy.c), with a fake block-device probe.
 *
 * The input is a mountinfo text. Lines starting with '#' (malformed to the parser)
 * also set the policy and the fake devices: #scope DIR, #include PAT, #exclude PAT,
 * #type T, #notype T, #select MP, "#select " (an empty list), #loop MAJ:MIN (a device
 * stacked on a loop), #backing MAJ:MIN FILE (a loop device's backing file). A source
 * /dev/loopN is 7:N (a loop), any other the device of its first mount.
 * Checked: a superblock is a candidate at most once, and if not, unscoped, its mounts
 * are skipped; holders are in range and after their candidate (a cycle too); with
 * a scope, every mount of a candidate and every skipped one is inside it; with a
 * select list, every candidate has a selected mount.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fs/mountinfo.h"
#include "fs/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#define MAXD 8
#define ADD(arr, n, v) do { if ((n) < MAXD) (arr)[(n)++] = (v); } while (0)
#define SAME_SB(a, b) ((a)->major == (b)->major && (a)->minor == (b)->minor)
struct dev { unsigned major, minor; char *path; };
struct fake { const struct mount_table *mt; struct dev loop[MAXD], back[MAXD]; size_t nl, nb; };

static void check(int cond) { if (!cond) abort(); }

static int f_devno(void *ctx, const char *path, unsigned *maj, unsigned *min)
{
	const struct mount_table *mt = ((struct fake *)ctx)->mt;
	if (sscanf(path, "/dev/loop%u", min) == 1)
		return *maj = 7, 0;
	for (size_t i = 0; i < mt->n; i++)
		if (!strcmp(mt->v[i].source, path))
			return *maj = mt->v[i].major, *min = mt->v[i].minor, 0;
	return -1;
}
static bool f_loop(void *ctx, unsigned maj, unsigned min)
{
	struct fake *f = ctx;
	struct dev d = { maj, min, NULL };
	for (size_t i = 0; i < f->nl; i++)
		if (SAME_SB(&f->loop[i], &d))
			return true;
	return maj == 7;
}
static void f_backing(void *ctx, unsigned maj, unsigned min, void (*fn)(void *, const char *),
		      void *arg)
{
	struct fake *f = ctx;
	struct dev d = { maj, min, NULL };
	for (size_t i = 0; i < f->nb; i++)
		if (SAME_SB(&f->back[i], &d))
			fn(arg, f->back[i].path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mount_table mt;
	struct fake f = { .mt = &mt };
	struct blockdev_probe probe = { f_devno, f_loop, f_backing, &f };
	char *inc[MAXD], *exc[MAXD], *ty[MAXD], *xty[MAXD], *sel[MAXD], *l, *nl, *sp;
	char *text = malloc(size + 1);
	struct fs_policy pol = { .include = inc, .exclude = exc, .include_types = ty,
				 .exclude_types = xty, .select = sel };
	struct fs_plan plan;
	size_t bad = SIZE_MAX;
	int at;

	check(text && mountinfo_parse((const char *)data, size, &mt, &bad) == 0);
	check(mt.n + bad <= size);
	memcpy(text, data, size);
	text[size] = '\0';
	for (l = text; l; l = nl ? nl + 1 : NULL) {
		struct dev d = { 0, 0, NULL };
		if ((nl = strchr(l, '\n')))
			*nl = '\0';
		if (*l != '#' || !(sp = strchr(l, ' ')))
			continue;
		*sp++ = '\0';
		if (!strcmp(l, "#scope")) pol.scope = sp;
		else if (!strcmp(l, "#include")) ADD(inc, pol.n_include, sp);
		else if (!strcmp(l, "#exclude")) ADD(exc, pol.n_exclude, sp);
		else if (!strcmp(l, "#type")) ADD(ty, pol.n_include_types, sp);
		else if (!strcmp(l, "#notype")) ADD(xty, pol.n_exclude_types, sp);
		else if (!strcmp(l, "#select") && (pol.select_set = true) && *sp)
			ADD(sel, pol.n_select, sp);
		else if (!strcmp(l, "#loop") && sscanf(sp, "%u:%u", &d.major, &d.minor) == 2)
			ADD(f.loop, f.nl, d);
		else if (!strcmp(l, "#backing") &&
			 sscanf(sp, "%u:%u %n", &d.major, &d.minor, &at) == 2 && (d.path = sp + at))
			ADD(f.back, f.nb, d);
	}
	check(policy_plan(&mt, &pol, &probe, &plan) == 0);
	for (size_t i = 0; i < plan.n; i++)
		for (size_t h = 0; h < plan.v[i].n_holders; h++)
			check(plan.v[i].holders[h] < plan.n && plan.v[i].holders[h] > i);
	for (size_t i = 0; i < mt.n; i++) {
		const struct mount_entry *e = &mt.v[i];
		size_t cands = 0, skipped = 0, selected = 0;
		check(e->mountpoint[0] == '/' && e->root && e->fstype && e->source && e->mount_opts &&
		      e->super_opts);
		for (size_t k = 0; k < plan.n; k++)
			cands += SAME_SB(&plan.v[k], e);
		for (size_t k = 0; k < plan.n_skipped; k++)
			skipped += !strcmp(plan.skipped[k].mountpoint, e->mountpoint);
		for (size_t a = 0; a < mt.n; a++)
			for (size_t k = 0; k < pol.n_select; k++)
				selected += SAME_SB(&mt.v[a], e) && !strcmp(mt.v[a].mountpoint, sel[k]);
		check(cands <= 1 && (cands || pol.scope || skipped));
		check(!cands || !pol.scope || path_is_under(e->mountpoint, pol.scope));
		check(!cands || !pol.select_set || selected);
	}
	for (size_t k = 0; k < plan.n_skipped; k++)
		check(plan.skipped[k].reason &&
		      (!pol.scope || path_is_under(plan.skipped[k].mountpoint, pol.scope)));
	fs_plan_free(&plan);
	mount_table_free(&mt);
	free(text);
	return 0;
}
