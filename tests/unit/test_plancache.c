// SPDX-License-Identifier: MIT
/* Unit tests for src/fs/plancache.c: the last plan is reused only while the mount
 * table has not changed, for the same selection, and only from a pollable /proc
 * file. The mount change is real: the test unshares its mount namespace (as root)
 * and mounts a tmpfs there, so nothing outside it sees the mount. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs/plancache.h"

#define MOUNTINFO "/proc/self/mountinfo"

/* A plan with two candidates (the first held by the second) and one skip. */
static void sample_plan(struct fs_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->n = 2;
	p->v = calloc(2, sizeof(*p->v));
	assert_non_null(p->v);
	for (size_t i = 0; i < 2; i++) {
		p->v[i].mountpoint = strdup(i ? "/srv" : "/srv/data");
		p->v[i].source = strdup(i ? "/dev/vda2" : "/dev/loop0");
		p->v[i].fstype = strdup("ext4");
		p->v[i].mount_id = 40 + (int)i;
		p->v[i].major = i ? 254 : 7;
		p->v[i].minor = i ? 2 : 0;
	}
	p->v[0].holders = malloc(sizeof(size_t));
	assert_non_null(p->v[0].holders);
	p->v[0].holders[0] = 1;
	p->v[0].n_holders = 1;
	p->n_skipped = 1;
	p->skipped = calloc(1, sizeof(*p->skipped));
	assert_non_null(p->skipped);
	p->skipped[0].mountpoint = strdup("/boot/efi");
	p->skipped[0].reason = "vfat is not frozen";
	p->cycle = true;
}

static void assert_same_plan(const struct fs_plan *a, const struct fs_plan *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->n_skipped, b->n_skipped);
	assert_int_equal(a->cycle, b->cycle);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->v[i].mountpoint, b->v[i].mountpoint);
		assert_ptr_not_equal(a->v[i].mountpoint, b->v[i].mountpoint);
		assert_string_equal(a->v[i].source, b->v[i].source);
		assert_string_equal(a->v[i].fstype, b->v[i].fstype);
		assert_int_equal(a->v[i].mount_id, b->v[i].mount_id);
		assert_int_equal(a->v[i].major, b->v[i].major);
		assert_int_equal(a->v[i].minor, b->v[i].minor);
		assert_int_equal(a->v[i].n_holders, b->v[i].n_holders);
		for (size_t h = 0; h < a->v[i].n_holders; h++)
			assert_int_equal(a->v[i].holders[h], b->v[i].holders[h]);
	}
	for (size_t i = 0; i < a->n_skipped; i++) {
		assert_string_equal(a->skipped[i].mountpoint, b->skipped[i].mountpoint);
		assert_string_equal(a->skipped[i].reason, b->skipped[i].reason);
	}
}

static void test_copy(void **state)
{
	struct fs_plan p, c;
	(void)state;
	sample_plan(&p);
	assert_int_equal(plancache_copy(&p, &c), 0);
	assert_same_plan(&p, &c);
	fs_plan_free(&p);
	fs_plan_free(&c);
}

/* First look: nothing kept. After a put, the same plan back, as a copy of its own. */
static void test_miss_then_hit(void **state)
{
	struct plancache *pc = plancache_new(MOUNTINFO);
	struct fs_policy pol = { 0 };
	struct fs_plan p, got;
	(void)state;
	assert_non_null(pc);
	sample_plan(&p);
	assert_false(plancache_get(pc, &pol, &got));
	plancache_put(pc, &pol, &p);
	assert_true(plancache_get(pc, &pol, &got));
	assert_same_plan(&p, &got);
	fs_plan_free(&got);
	plancache_drop(pc);
	assert_false(plancache_get(pc, &pol, &got));
	fs_plan_free(&p);
	plancache_free(pc);
}

/* A plan made for one selection of mountpoints is not another's. */
static void test_selection(void **state)
{
	struct plancache *pc = plancache_new(MOUNTINFO);
	char *a[] = { "/srv" }, *b[] = { "/srv/data" };
	struct fs_policy pa = { .select = a, .n_select = 1, .select_set = true };
	struct fs_policy pb = { .select = b, .n_select = 1, .select_set = true };
	struct fs_policy all = { 0 };
	struct fs_plan p, got;
	(void)state;
	sample_plan(&p);
	assert_false(plancache_get(pc, &pa, &got));
	plancache_put(pc, &pa, &p);
	assert_false(plancache_get(pc, &pb, &got));
	plancache_put(pc, &pa, &p);
	assert_false(plancache_get(pc, &all, &got));
	plancache_put(pc, &pa, &p);
	assert_true(plancache_get(pc, &pa, &got));
	fs_plan_free(&got);
	fs_plan_free(&p);
	plancache_free(pc);
}

/* A file that is not /proc's (a test's sample) cannot say when it changes: never
 * reused. */
static void test_not_proc(void **state)
{
	char path[] = "/tmp/quiesce-test-plancache-XXXXXX";
	int fd = mkstemp(path);
	struct plancache *pc;
	struct fs_policy pol = { 0 };
	struct fs_plan p, got;
	(void)state;
	assert_true(fd >= 0);
	close(fd);
	pc = plancache_new(path);
	sample_plan(&p);
	assert_false(plancache_get(pc, &pol, &got));
	plancache_put(pc, &pol, &p);
	assert_false(plancache_get(pc, &pol, &got));
	fs_plan_free(&p);
	plancache_free(pc);
	unlink(path);
}

/* A mount and an unmount in our namespace each end the kept plan. */
static void test_mount_change(void **state)
{
	char dir[] = "/tmp/quiesce-test-plancache-XXXXXX";
	struct plancache *pc;
	struct fs_policy pol = { 0 };
	struct fs_plan p, got;
	(void)state;
	if (geteuid() != 0)
		skip();
	/* Our own namespace, before the cache opens mountinfo: it watches this one. */
	assert_int_equal(unshare(CLONE_NEWNS), 0);
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	assert_non_null(mkdtemp(dir));
	pc = plancache_new(MOUNTINFO);
	sample_plan(&p);
	assert_false(plancache_get(pc, &pol, &got));
	plancache_put(pc, &pol, &p);
	assert_true(plancache_get(pc, &pol, &got));
	fs_plan_free(&got);

	assert_int_equal(mount("quiesce-test", dir, "tmpfs", 0, "size=1m"), 0);
	assert_false(plancache_get(pc, &pol, &got));
	plancache_put(pc, &pol, &p);
	assert_true(plancache_get(pc, &pol, &got));
	fs_plan_free(&got);

	assert_int_equal(umount(dir), 0);
	assert_false(plancache_get(pc, &pol, &got));
	fs_plan_free(&p);
	plancache_free(pc);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_miss_then_hit),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_not_proc),
		cmocka_unit_test(test_mount_change),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
