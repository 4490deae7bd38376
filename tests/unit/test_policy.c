// SPDX-License-Identifier: MIT
/* Unit tests for src/fs/policy.c: candidates, skip reasons, dedup by superblock and
 * the freeze order, on recorded mountinfo samples with a fake block-device probe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "failalloc.h"
#include "fs/mountinfo.h"
#include "fs/policy.h"
#include "mountinfo_samples.h"

/* ------------------------------------------------------------ fake probe */

/* What /sys would say about one block device. */
struct fake_dev {
	const char *path;       /* its node, as a mount source names it */
	unsigned maj, min;
	bool loop_backed;       /* a loop device, or dm/md stacked on one */
	const char *backing[3]; /* backing files of the loop devices under it */
};

struct fake_probe {
	const struct fake_dev *devs;
	size_t n;
};

static const struct fake_dev *fake_by_devno(const struct fake_probe *f, unsigned maj,
					    unsigned min)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->devs[i].maj == maj && f->devs[i].min == min)
			return &f->devs[i];
	return NULL;
}

static int fake_source_devno(void *ctx, const char *path, unsigned *maj, unsigned *min)
{
	const struct fake_probe *f = ctx;
	for (size_t i = 0; i < f->n; i++) {
		if (f->devs[i].path && strcmp(f->devs[i].path, path) == 0) {
			*maj = f->devs[i].maj;
			*min = f->devs[i].min;
			return 0;
		}
	}
	return -1;
}

static bool fake_is_loop_backed(void *ctx, unsigned maj, unsigned min)
{
	const struct fake_dev *d = fake_by_devno(ctx, maj, min);
	return d && d->loop_backed;
}

static void fake_backing_files(void *ctx, unsigned maj, unsigned min,
			       void (*fn)(void *arg, const char *path), void *arg)
{
	const struct fake_dev *d = fake_by_devno(ctx, maj, min);
	for (size_t i = 0; d && i < sizeof(d->backing) / sizeof(d->backing[0]); i++)
		if (d->backing[i])
			fn(arg, d->backing[i]);
}

#define FAKE(arr) { arr, sizeof(arr) / sizeof(arr[0]) }

/* The devices of the samples (virtio vdX is 254:16*k+N, like the samples say). */
static const struct fake_dev devs_scsi[] = {
	{ "/dev/sda1", 8, 1, false, { NULL } },
	{ "/dev/sda2", 8, 2, false, { NULL } },
	{ "/dev/sda3", 8, 3, false, { NULL } },
	{ "/dev/mapper/vg0-home", 254, 0, false, { NULL } },
};

static const struct fake_dev devs_virtio[] = {
	{ "/dev/vda1", 254, 1, false, { NULL } },
	{ "/dev/vda2", 254, 2, false, { NULL } },
	{ "/dev/vdb1", 254, 17, false, { NULL } },
	{ "/dev/vdc1", 254, 33, false, { NULL } },
	{ "/dev/vdd1", 254, 49, false, { NULL } },
	{ "/dev/vde1", 254, 65, false, { NULL } },
};

/* For SAMPLE_LOOP. */
static const struct fake_dev devs_loop[] = {
	{ "/dev/vda1", 254, 1, false, { NULL } },
	{ "/dev/loop0", 7, 0, true, { "/tmp/q/mnt/b/a.img" } },
	{ "/dev/loop1", 7, 1, true, { "/tmp/q/img/b.img" } },
	{ "/dev/loop2", 7, 2, true, { "/home/user/debian-12.iso" } },
	{ "/dev/loop3", 7, 3, true, { "/var/lib/snapd/snaps/core22_1380.snap" } },
	/* dm-crypt on loop4: sysfs shows it through the dm device's slaves. */
	{ "/dev/mapper/crypt", 254, 2, true, { "/tmp/q/mnt/b/crypt.img" } },
};

/* ------------------------------------------------------------ helpers */

static const struct fs_policy no_policy;

static void plan_ok(const char *text, const struct fs_policy *pol, const struct fake_probe *fake,
		    struct fs_plan *plan)
{
	struct mount_table mt;
	size_t bad;
	struct blockdev_probe probe = {
		.source_devno = fake_source_devno,
		.is_loop_backed = fake_is_loop_backed,
		.backing_files = fake_backing_files,
		.ctx = (void *)fake,
	};

	assert_int_equal(mountinfo_parse(text, strlen(text), &mt, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(policy_plan(&mt, pol, &probe, plan), 0);
	/* The plan owns its strings. */
	mount_table_free(&mt);
}

static int cand_index(const struct fs_plan *plan, const char *mp)
{
	for (size_t i = 0; i < plan->n; i++)
		if (strcmp(plan->v[i].mountpoint, mp) == 0)
			return (int)i;
	return -1;
}

static const struct fs_candidate *cand(const struct fs_plan *plan, const char *mp)
{
	int i = cand_index(plan, mp);
	if (i < 0)
		fail_msg("%s is not a candidate", mp);
	return &plan->v[i];
}

static void print_plan(const struct fs_plan *plan)
{
	print_message("# plan:");
	for (size_t i = 0; i < plan->n; i++)
		print_message(" %s", plan->v[i].mountpoint);
	print_message("\n# skipped:");
	for (size_t i = 0; i < plan->n_skipped; i++)
		print_message(" %s (%s)", plan->skipped[i].mountpoint, plan->skipped[i].reason);
	print_message("\n");
}

/* The candidates, in exactly this order. */
static void check_order(const struct fs_plan *plan, const char *const *mps, size_t n)
{
	bool ok = plan->n == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(plan->v[i].mountpoint, mps[i]) == 0;
	if (!ok) {
		print_plan(plan);
		fail_msg("wrong candidates or order (want %zu, have %zu)", n, plan->n);
	}
}
#define ORDER(plan, ...)                                                                     \
	check_order((plan), (const char *const[]){ __VA_ARGS__ },                           \
		    sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define NO_CANDIDATES(plan) check_order((plan), NULL, 0)

/* The holders of candidate mp are exactly these candidates (by mountpoint, any order),
 * and every holder index is in range. */
static void check_holders(const struct fs_plan *plan, const char *mp, const char *const *hs,
			  size_t n)
{
	const struct fs_candidate *c = cand(plan, mp);
	for (size_t h = 0; h < c->n_holders; h++)
		assert_in_range(c->holders[h], 0, plan->n - 1);
	if (c->n_holders != n) {
		print_message("# holders of %s:", mp);
		for (size_t h = 0; h < c->n_holders; h++)
			print_message(" %s", plan->v[c->holders[h]].mountpoint);
		print_message("\n");
		fail_msg("%s has %zu holders, want %zu", mp, c->n_holders, n);
	}
	for (size_t k = 0; k < n; k++) {
		bool found = false;
		for (size_t h = 0; h < c->n_holders; h++)
			if (strcmp(plan->v[c->holders[h]].mountpoint, hs[k]) == 0)
				found = true;
		if (!found)
			fail_msg("%s is not held by %s", mp, hs[k]);
	}
}
#define HOLDERS(plan, mp, ...)                                                              \
	check_holders((plan), (mp), (const char *const[]){ __VA_ARGS__ },                   \
		      sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define NO_HOLDERS(plan, mp) check_holders((plan), (mp), NULL, 0)

/* Every candidate comes before all of its holders. */
static void check_topological(const struct fs_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		for (size_t h = 0; h < plan->v[i].n_holders; h++)
			if (plan->v[i].holders[h] <= i)
				fail_msg("%s is frozen after its holder %s", plan->v[i].mountpoint,
					 plan->v[plan->v[i].holders[h]].mountpoint);
}

struct skip_want {
	const char *mp;
	const char *reason;
};

/* The skipped list is exactly these (any order), each mountpoint once. */
static void check_skipped(const struct fs_plan *plan, const struct skip_want *w, size_t n)
{
	if (plan->n_skipped != n) {
		print_plan(plan);
		fail_msg("%zu skipped, want %zu", plan->n_skipped, n);
	}
	for (size_t k = 0; k < n; k++) {
		size_t seen = 0;
		for (size_t i = 0; i < plan->n_skipped; i++) {
			if (strcmp(plan->skipped[i].mountpoint, w[k].mp) != 0)
				continue;
			seen++;
			if (strcmp(plan->skipped[i].reason, w[k].reason) != 0)
				fail_msg("%s skipped for \"%s\", want \"%s\"", w[k].mp,
					 plan->skipped[i].reason, w[k].reason);
		}
		if (seen != 1)
			fail_msg("%s is in the skipped list %zu times", w[k].mp, seen);
	}
}
#define SKIPPED(plan, ...)                                                                  \
	check_skipped((plan), (const struct skip_want[]){ __VA_ARGS__ },                    \
		      sizeof((const struct skip_want[]){ __VA_ARGS__ }) / sizeof(struct skip_want))
#define NONE_SKIPPED(plan) check_skipped((plan), NULL, 0)

static void check_candidate(const struct fs_plan *plan, const char *mp, const char *source,
			    const char *fstype, int mount_id, unsigned maj, unsigned min,
			    bool is_root)
{
	const struct fs_candidate *c = cand(plan, mp);
	assert_string_equal(c->source, source);
	assert_string_equal(c->fstype, fstype);
	assert_int_equal(c->mount_id, mount_id);
	assert_int_equal(c->major, maj);
	assert_int_equal(c->minor, min);
	assert_int_equal(c->is_root, is_root);
}

/* ------------------------------------------------------------ default rules */

static void test_default_normal_system(void **state)
{
	struct fake_probe fake = FAKE(devs_scsi);
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_NORMAL, &no_policy, &fake, &plan);
	/* Reverse mount order, "/" last. */
	ORDER(&plan, "/home", "/boot", "/");
	check_candidate(&plan, "/", "/dev/sda2", "ext4", 26, 8, 2, true);
	check_candidate(&plan, "/boot", "/dev/sda3", "ext4", 62, 8, 3, false);
	check_candidate(&plan, "/home", "/dev/mapper/vg0-home", "ext4", 68, 254, 0, false);
	HOLDERS(&plan, "/home", "/");
	HOLDERS(&plan, "/boot", "/");
	NO_HOLDERS(&plan, "/");
	assert_false(plan.cycle);
	SKIPPED(&plan,
		{ "/boot/efi", "vfat" },
		{ "/sys", "not a block device" },
		{ "/proc", "not a block device" },
		{ "/dev", "not a block device" }, /* devtmpfs, source "udev" */
		{ "/dev/pts", "not a block device" },
		{ "/run", "not a block device" },
		{ "/sys/kernel/security", "not a block device" },
		{ "/dev/shm", "not a block device" },
		{ "/run/lock", "not a block device" },
		{ "/sys/fs/cgroup", "not a block device" },
		{ "/sys/fs/pstore", "not a block device" },
		{ "/sys/fs/bpf", "not a block device" },
		{ "/proc/sys/fs/binfmt_misc", "not a block device" },
		{ "/dev/mqueue", "not a block device" },
		{ "/dev/hugepages", "not a block device" },
		{ "/sys/kernel/debug", "not a block device" },
		{ "/sys/kernel/tracing", "not a block device" },
		{ "/sys/kernel/config", "not a block device" },
		{ "/run/user/1000", "not a block device" });
	fs_plan_free(&plan);
	assert_null(plan.v);
	assert_int_equal(plan.n, 0);
	assert_null(plan.skipped);
	assert_int_equal(plan.n_skipped, 0);
}

static void test_default_readonly(void **state)
{
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_READONLY, &no_policy, &fake, &plan);
	/* The disk mounted ro once and rw once is frozen through its rw mount. */
	ORDER(&plan, "/srv/mixed", "/");
	check_candidate(&plan, "/srv/mixed", "/dev/vdd1", "xfs", 94, 254, 49, false);
	SKIPPED(&plan,
		{ "/mnt/archive", "read-only" },  /* every mount ro */
		{ "/srv/archive", "read-only" },
		{ "/mnt/broken", "read-only" });  /* the superblock ro, the mount rw */
	fs_plan_free(&plan);
}

static void test_empty_table(void **state)
{
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	plan_ok("", &no_policy, &fake, &plan);
	NO_CANDIDATES(&plan);
	NONE_SKIPPED(&plan);
	assert_false(plan.cycle);
	fs_plan_free(&plan);
}

static void test_unfreezable_types(void **state)
{
	(void)state;
	assert_true(policy_type_unfreezable("vfat"));
	assert_true(policy_type_unfreezable("exfat"));
	assert_true(policy_type_unfreezable("iso9660"));
	assert_true(policy_type_unfreezable("squashfs"));
	assert_false(policy_type_unfreezable("ext4"));
	assert_false(policy_type_unfreezable("xfs"));
	assert_false(policy_type_unfreezable("btrfs"));
	assert_false(policy_type_unfreezable("vfat2"));
	assert_false(policy_type_unfreezable(""));
}

/* ------------------------------------------------------------ dedup by superblock */

static void test_bind_dedup(void **state)
{
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	/* Three mounts of vdb1 (one of them a ro bind): one candidate, at the first. */
	plan_ok(SAMPLE_BIND, &no_policy, &fake, &plan);
	ORDER(&plan, "/srv/data", "/");
	check_candidate(&plan, "/srv/data", "/dev/vdb1", "ext4", 80, 254, 17, false);
	HOLDERS(&plan, "/srv/data", "/");
	NONE_SKIPPED(&plan);
	fs_plan_free(&plan);

	/* The ro bind first: the representative is the first read-write mount. */
	plan_ok(SAMPLE_BIND_RO_FIRST, &no_policy, &fake, &plan);
	ORDER(&plan, "/srv/data", "/");
	check_candidate(&plan, "/srv/data", "/dev/vdb1", "ext4", 83, 254, 17, false);
	NONE_SKIPPED(&plan);
	fs_plan_free(&plan);
}

static void test_btrfs_dedup(void **state)
{
	/* A data btrfs with two subvolumes, the second mounted inside the first: the
	 * walk up the parent chain passes its own superblock without holding itself. */
	static const char data_subvols[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"70 26 0:33 /@data /data rw,relatime shared:40 - btrfs /dev/vdb1 rw,space_cache=v2,subvolid=256,subvol=/@data\n"
		"71 70 0:33 /@logs /data/logs rw,relatime shared:41 - btrfs /dev/vdb1 rw,space_cache=v2,subvolid=257,subvol=/@logs\n"
		"72 71 254:33 / /data/logs/old rw,relatime shared:42 - ext4 /dev/vdc1 rw\n";
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	/* The root btrfs: @, @home, @snapshots are one superblock, frozen once at "/". */
	plan_ok(SAMPLE_BTRFS, &no_policy, &fake, &plan);
	ORDER(&plan, "/");
	check_candidate(&plan, "/", "/dev/vda2", "btrfs", 26, 0, 26, true);
	NO_HOLDERS(&plan, "/");
	SKIPPED(&plan,
		{ "/sys", "not a block device" },
		{ "/proc", "not a block device" },
		{ "/boot/efi", "vfat" });
	fs_plan_free(&plan);

	plan_ok(data_subvols, &no_policy, &fake, &plan);
	ORDER(&plan, "/data/logs/old", "/data", "/");
	check_candidate(&plan, "/data", "/dev/vdb1", "btrfs", 70, 0, 33, false);
	/* old lives on @logs, which is the /data superblock. */
	HOLDERS(&plan, "/data/logs/old", "/data", "/");
	HOLDERS(&plan, "/data", "/");
	check_topological(&plan);
	fs_plan_free(&plan);
}

/* ------------------------------------------------------------ loop devices */

static void test_loop_default(void **state)
{
	struct fake_probe fake = FAKE(devs_loop);
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_LOOP, &no_policy, &fake, &plan);
	ORDER(&plan, "/");
	SKIPPED(&plan,
		{ "/tmp", "not a block device" },
		{ "/tmp/q/mnt/a", "loop-backed" },
		{ "/tmp/q/mnt/b", "loop-backed" },
		{ "/tmp/q/mnt/b2", "loop-backed" },
		{ "/mnt/crypt", "loop-backed" },       /* dm on loop: the probe says so */
		{ "/media/iso", "read-only" },
		{ "/snap/core22/1380", "read-only" });
	fs_plan_free(&plan);
}

/* hv_vss_daemon: a source that cannot be stat'ed is not taken for a loop device. */
static void test_loop_unknown_source(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"140 26 7:5 / /mnt/gone rw,relatime shared:90 - ext4 /dev/loop5 rw\n";
	struct fake_probe fake = FAKE(devs_loop); /* no /dev/loop5 there */
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &no_policy, &fake, &plan);
	ORDER(&plan, "/mnt/gone", "/");
	NONE_SKIPPED(&plan);
	fs_plan_free(&plan);
}

/* With a scope, loop-backed filesystems are allowed, and a loop filesystem whose
 * image lives on another candidate is frozen first. b2 (a later bind of b) makes b
 * the most recent superblock, so mount order alone would freeze b first. */
static void test_scope_loop(void **state)
{
	static const char *const scopes[] = { "/tmp/q/mnt", "/tmp/q/mnt/", "/tmp/q/mnt//" };
	struct fake_probe fake = FAKE(devs_loop);
	(void)state;

	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
		struct fs_policy pol = { .scope = scopes[i] };
		struct fs_plan plan;

		plan_ok(SAMPLE_LOOP, &pol, &fake, &plan);
		ORDER(&plan, "/tmp/q/mnt/a", "/tmp/q/mnt/b");
		check_candidate(&plan, "/tmp/q/mnt/a", "/dev/loop0", "ext4", 112, 7, 0, false);
		check_candidate(&plan, "/tmp/q/mnt/b", "/dev/loop1", "ext4", 111, 7, 1, false);
		HOLDERS(&plan, "/tmp/q/mnt/a", "/tmp/q/mnt/b");
		NO_HOLDERS(&plan, "/tmp/q/mnt/b");
		/* Outside the scope nothing is reported. */
		NONE_SKIPPED(&plan);
		assert_false(plan.cycle);
		fs_plan_free(&plan);
	}
}

/* dm-crypt on a loop device is allowed with a scope; its image is on b, which is
 * outside this scope (not a candidate), so nothing holds it but nothing breaks. */
static void test_scope_dm_on_loop(void **state)
{
	struct fake_probe fake = FAKE(devs_loop);
	struct fs_policy pol = { .scope = "/mnt" };
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_LOOP, &pol, &fake, &plan);
	ORDER(&plan, "/mnt/crypt");
	NO_HOLDERS(&plan, "/mnt/crypt");
	NONE_SKIPPED(&plan);
	fs_plan_free(&plan);
}

/* Scope "/": everything, loop-backed included, and all the ordering rules at once:
 *   crypt: image on b, mounted on "/"      -> held by b and "/"
 *   a:     image on b, mounted on /tmp     -> held by b and (through /tmp) "/"
 *   b:     image on /tmp (a tmpfs)         -> held by "/"
 * crypt and a are both ready first; crypt was mounted last. */
static void test_scope_root(void **state)
{
	struct fake_probe fake = FAKE(devs_loop);
	struct fs_policy pol = { .scope = "/" };
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_LOOP, &pol, &fake, &plan);
	ORDER(&plan, "/mnt/crypt", "/tmp/q/mnt/a", "/tmp/q/mnt/b", "/");
	HOLDERS(&plan, "/mnt/crypt", "/tmp/q/mnt/b", "/");
	HOLDERS(&plan, "/tmp/q/mnt/a", "/tmp/q/mnt/b", "/");
	HOLDERS(&plan, "/tmp/q/mnt/b", "/");
	NO_HOLDERS(&plan, "/");
	check_topological(&plan);
	SKIPPED(&plan,
		{ "/tmp", "not a block device" },
		{ "/media/iso", "read-only" },
		{ "/snap/core22/1380", "read-only" });
	fs_plan_free(&plan);
}

/* The safety rule: a superblock with one mount inside the scope and one outside is
 * not a candidate (freezing it would freeze the outside mount too). Only its mount
 * inside the scope is reported. */
static void test_scope_superblock_partly_outside(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"40 26 0:40 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,inode64\n"
		"150 40 7:0 / /tmp/s/mnt/a rw,relatime shared:100 - ext4 /dev/loop0 rw\n"
		"151 40 7:1 / /tmp/s/mnt/b rw,relatime shared:101 - ext4 /dev/loop1 rw\n"
		"152 26 7:0 /sub /srv/outside rw,relatime shared:100 - ext4 /dev/loop0 rw\n";
	static const struct fake_dev devs[] = {
		{ "/dev/vda1", 254, 1, false, { NULL } },
		{ "/dev/loop0", 7, 0, true, { "/tmp/s/img/a.img" } },
		{ "/dev/loop1", 7, 1, true, { "/tmp/s/img/b.img" } },
	};
	struct fake_probe fake = FAKE(devs);
	struct fs_policy pol = { .scope = "/tmp/s/mnt" };
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &pol, &fake, &plan);
	ORDER(&plan, "/tmp/s/mnt/b");
	SKIPPED(&plan, { "/tmp/s/mnt/a", "also mounted outside the scope" });
	fs_plan_free(&plan);

	/* Seen from the other side: a scope that has the bind but not the other mount. */
	pol.scope = "/srv";
	plan_ok(text, &pol, &fake, &plan);
	NO_CANDIDATES(&plan);
	SKIPPED(&plan, { "/srv/outside", "also mounted outside the scope" });
	fs_plan_free(&plan);
}

/* "/a" is not under "/ab" and the reverse; the scope directory itself is in scope. */
static void test_scope_prefix(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"160 26 7:0 / /tmp/s/a rw,relatime - ext4 /dev/loop0 rw\n"
		"161 26 7:1 / /tmp/s/ab rw,relatime - ext4 /dev/loop1 rw\n"
		"162 160 7:2 / /tmp/s/a/sub rw,relatime - ext4 /dev/loop2 rw\n"
		"163 161 7:3 / /tmp/s/ab/c rw,relatime - ext4 /dev/loop3 rw\n"
		"164 26 0:70 / /tmp/s/a/tmp rw,relatime - tmpfs tmpfs rw\n";
	static const struct fake_dev devs[] = {
		{ "/dev/vda1", 254, 1, false, { NULL } },
		{ "/dev/loop0", 7, 0, true, { "/img/a" } },
		{ "/dev/loop1", 7, 1, true, { "/img/ab" } },
		{ "/dev/loop2", 7, 2, true, { "/img/sub" } },
		{ "/dev/loop3", 7, 3, true, { "/img/c" } },
	};
	struct fake_probe fake = FAKE(devs);
	struct fs_policy pol = { .scope = "/tmp/s/a" };
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &pol, &fake, &plan);
	ORDER(&plan, "/tmp/s/a/sub", "/tmp/s/a");
	HOLDERS(&plan, "/tmp/s/a/sub", "/tmp/s/a");
	SKIPPED(&plan, { "/tmp/s/a/tmp", "not a block device" });
	fs_plan_free(&plan);

	pol.scope = "/tmp/s/ab/";
	plan_ok(text, &pol, &fake, &plan);
	ORDER(&plan, "/tmp/s/ab/c", "/tmp/s/ab");
	HOLDERS(&plan, "/tmp/s/ab/c", "/tmp/s/ab");
	NONE_SKIPPED(&plan);
	fs_plan_free(&plan);

	pol.scope = "/tmp/s/a/su";
	plan_ok(text, &pol, &fake, &plan);
	NO_CANDIDATES(&plan);
	NONE_SKIPPED(&plan);
	fs_plan_free(&plan);
}

/* ------------------------------------------------------------ include / exclude */

static void test_include_patterns(void **state)
{
	struct fake_probe fake = FAKE(devs_scsi);
	char *inc1[] = { "/home", "/boot" };
	char *inc2[] = { "/b*" };
	struct fs_policy pol = { .include = inc1, .n_include = 2 };
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_NORMAL, &pol, &fake, &plan);
	ORDER(&plan, "/home", "/boot");
	/* "/" is not included, so nothing holds the others. */
	NO_HOLDERS(&plan, "/home");
	NO_HOLDERS(&plan, "/boot");
	SKIPPED(&plan,
		{ "/", "not included" },
		{ "/boot/efi", "vfat" }, /* rules before patterns */
		{ "/sys", "not a block device" },
		{ "/proc", "not a block device" },
		{ "/dev", "not a block device" },
		{ "/dev/pts", "not a block device" },
		{ "/run", "not a block device" },
		{ "/sys/kernel/security", "not a block device" },
		{ "/dev/shm", "not a block device" },
		{ "/run/lock", "not a block device" },
		{ "/sys/fs/cgroup", "not a block device" },
		{ "/sys/fs/pstore", "not a block device" },
		{ "/sys/fs/bpf", "not a block device" },
		{ "/proc/sys/fs/binfmt_misc", "not a block device" },
		{ "/dev/mqueue", "not a block device" },
		{ "/dev/hugepages", "not a block device" },
		{ "/sys/kernel/debug", "not a block device" },
		{ "/sys/kernel/tracing", "not a block device" },
		{ "/sys/kernel/config", "not a block device" },
		{ "/run/user/1000", "not a block device" });
	fs_plan_free(&plan);

	pol.include = inc2;
	pol.n_include = 1;
	plan_ok(SAMPLE_NORMAL, &pol, &fake, &plan);
	ORDER(&plan, "/boot");
	assert_int_equal(plan.n_skipped, 21);
	fs_plan_free(&plan);
}

static void test_exclude_patterns(void **state)
{
	struct fake_probe fake = FAKE(devs_scsi);
	struct fake_probe vfake = FAKE(devs_virtio);
	char *exc1[] = { "/nothing", "/h?me" };
	char *exc2[] = { "/var/www" };
	char *inc[] = { "/export/*" };
	struct fs_policy pol = { .exclude = exc1, .n_exclude = 2 };
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_NORMAL, &pol, &fake, &plan);
	ORDER(&plan, "/boot", "/");
	assert_int_equal(plan.n_skipped, 20);
	SKIPPED(&plan, { "/home", "excluded" }, { "/boot/efi", "vfat" }, { "/sys", "not a block device" },
		{ "/proc", "not a block device" }, { "/dev", "not a block device" },
		{ "/dev/pts", "not a block device" }, { "/run", "not a block device" },
		{ "/sys/kernel/security", "not a block device" }, { "/dev/shm", "not a block device" },
		{ "/run/lock", "not a block device" }, { "/sys/fs/cgroup", "not a block device" },
		{ "/sys/fs/pstore", "not a block device" }, { "/sys/fs/bpf", "not a block device" },
		{ "/proc/sys/fs/binfmt_misc", "not a block device" },
		{ "/dev/mqueue", "not a block device" }, { "/dev/hugepages", "not a block device" },
		{ "/sys/kernel/debug", "not a block device" },
		{ "/sys/kernel/tracing", "not a block device" },
		{ "/sys/kernel/config", "not a block device" },
		{ "/run/user/1000", "not a block device" });
	fs_plan_free(&plan);

	/* Excluding one bind mount excludes the superblock: every mount of it. */
	pol.exclude = exc2;
	pol.n_exclude = 1;
	plan_ok(SAMPLE_BIND, &pol, &vfake, &plan);
	ORDER(&plan, "/");
	SKIPPED(&plan,
		{ "/srv/data", "excluded" },
		{ "/var/www", "excluded" },
		{ "/export/data", "excluded" });
	fs_plan_free(&plan);

	/* Including one mount (here the ro bind) includes the superblock; it is still
	 * frozen through its first rw mount. */
	pol = (struct fs_policy){ .include = inc, .n_include = 1 };
	plan_ok(SAMPLE_BIND, &pol, &vfake, &plan);
	ORDER(&plan, "/srv/data");
	SKIPPED(&plan, { "/", "not included" });
	fs_plan_free(&plan);

	/* Exclude wins over include. */
	pol.exclude = inc;
	pol.n_exclude = 1;
	plan_ok(SAMPLE_BIND, &pol, &vfake, &plan);
	NO_CANDIDATES(&plan);
	fs_plan_free(&plan);
}

static void test_types(void **state)
{
	struct fake_probe fake = FAKE(devs_scsi);
	char *vfat[] = { "vfat" };
	char *ext4_vfat[] = { "ext4", "vfat" };
	char *ext4[] = { "ext4" };
	struct fs_policy pol = { .include_types = vfat, .n_include_types = 1 };
	struct fs_plan plan;
	(void)state;

	/* An included vfat is allowed; everything else is "type not included". */
	plan_ok(SAMPLE_NORMAL, &pol, &fake, &plan);
	ORDER(&plan, "/boot/efi");
	check_candidate(&plan, "/boot/efi", "/dev/sda1", "vfat", 65, 8, 1, false);
	assert_int_equal(plan.n_skipped, 21);
	for (size_t i = 0; i < plan.n_skipped; i++)
		assert_string_equal(plan.skipped[i].reason, "type not included");
	fs_plan_free(&plan);

	/* ext4 and vfat: /boot/efi is mounted on /boot, so it goes before /boot. */
	pol.include_types = ext4_vfat;
	pol.n_include_types = 2;
	plan_ok(SAMPLE_NORMAL, &pol, &fake, &plan);
	ORDER(&plan, "/home", "/boot/efi", "/boot", "/");
	HOLDERS(&plan, "/boot/efi", "/boot", "/");
	HOLDERS(&plan, "/boot", "/");
	HOLDERS(&plan, "/home", "/");
	check_topological(&plan);
	fs_plan_free(&plan);

	/* Excluded types. */
	pol = (struct fs_policy){ .exclude_types = ext4, .n_exclude_types = 1 };
	plan_ok(SAMPLE_NORMAL, &pol, &fake, &plan);
	NO_CANDIDATES(&plan);
	assert_int_equal(plan.n_skipped, 22);
	for (size_t i = 0; i < plan.n_skipped; i++) {
		const char *mp = plan.skipped[i].mountpoint, *why = plan.skipped[i].reason;
		if (!strcmp(mp, "/") || !strcmp(mp, "/boot") || !strcmp(mp, "/home"))
			assert_string_equal(why, "type excluded");
		else if (!strcmp(mp, "/boot/efi"))
			assert_string_equal(why, "vfat");
		else
			assert_string_equal(why, "not a block device");
	}
	fs_plan_free(&plan);

	/* Excluded wins over included. */
	pol.include_types = ext4;
	pol.n_include_types = 1;
	plan_ok(SAMPLE_NORMAL, &pol, &fake, &plan);
	NO_CANDIDATES(&plan);
	for (size_t i = 0; i < plan.n_skipped; i++)
		if (!strcmp(plan.skipped[i].mountpoint, "/"))
			assert_string_equal(plan.skipped[i].reason, "type excluded");
	fs_plan_free(&plan);
}

/* ------------------------------------------------------------ select (qga freeze-list) */

static void test_select(void **state)
{
	struct fake_probe fake = FAKE(devs_virtio);
	char *const sel1[] = { "/var/www", "/nonexistent" };
	char *const sel2[] = { "/srv", "/srv/data/", "/" };
	struct fs_policy pol = { .select = sel1, .n_select = 2, .select_set = true };
	struct fs_plan plan;
	(void)state;

	/* Any mount of the superblock selects it; unknown mountpoints are ignored. */
	plan_ok(SAMPLE_BIND, &pol, &fake, &plan);
	ORDER(&plan, "/srv/data");
	check_candidate(&plan, "/srv/data", "/dev/vdb1", "ext4", 80, 254, 17, false);
	SKIPPED(&plan, { "/", "not selected" });
	fs_plan_free(&plan);

	/* Exact match only: no prefix, no trailing slash. */
	pol.select = sel2;
	pol.n_select = 3;
	plan_ok(SAMPLE_BIND, &pol, &fake, &plan);
	ORDER(&plan, "/");
	SKIPPED(&plan,
		{ "/srv/data", "not selected" },
		{ "/var/www", "not selected" },
		{ "/export/data", "not selected" });
	fs_plan_free(&plan);

	/* An empty freeze-list selects nothing. */
	pol.select = NULL;
	pol.n_select = 0;
	plan_ok(SAMPLE_BIND, &pol, &fake, &plan);
	NO_CANDIDATES(&plan);
	SKIPPED(&plan,
		{ "/", "not selected" },
		{ "/srv/data", "not selected" },
		{ "/var/www", "not selected" },
		{ "/export/data", "not selected" });
	fs_plan_free(&plan);

	/* Selecting does not override the rules. */
	{
		struct fake_probe sfake = FAKE(devs_scsi);
		char *const sel3[] = { "/boot/efi", "/proc", "/home" };
		pol.select = sel3;
		pol.n_select = 3;
		plan_ok(SAMPLE_NORMAL, &pol, &sfake, &plan);
		ORDER(&plan, "/home");
		for (size_t i = 0; i < plan.n_skipped; i++) {
			if (!strcmp(plan.skipped[i].mountpoint, "/boot/efi"))
				assert_string_equal(plan.skipped[i].reason, "vfat");
			if (!strcmp(plan.skipped[i].mountpoint, "/proc"))
				assert_string_equal(plan.skipped[i].reason, "not a block device");
		}
		fs_plan_free(&plan);
	}
}

/* ------------------------------------------------------------ order */

/* Children before parents, through a non-candidate (tmpfs) in the middle:
 *   x (on tmpfs /srv/tmp, on /srv)  deep (on /srv/data)  -> ready first, x mounted last
 *   data (on /srv) after deep, srv after data and x, "/" last. */
static void test_order_nested(void **state)
{
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	plan_ok(SAMPLE_NESTED, &no_policy, &fake, &plan);
	ORDER(&plan, "/srv/tmp/x", "/srv/data/deep", "/srv/data", "/srv", "/");
	/* Holders name the right candidates after the sort moved them. */
	HOLDERS(&plan, "/srv/tmp/x", "/srv", "/");
	HOLDERS(&plan, "/srv/data/deep", "/srv/data", "/");
	HOLDERS(&plan, "/srv/data", "/srv", "/");
	HOLDERS(&plan, "/srv", "/");
	NO_HOLDERS(&plan, "/");
	check_topological(&plan);
	assert_false(plan.cycle);
	SKIPPED(&plan, { "/srv/tmp", "not a block device" });
	fs_plan_free(&plan);
}

/* Siblings are frozen in reverse mount order; a superblock's place is that of its
 * last mount. */
static void test_order_ties(void **state)
{
	static const char siblings[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"100 26 254:17 / /a rw,relatime shared:50 - ext4 /dev/vdb1 rw\n"
		"101 26 254:33 / /b rw,relatime shared:51 - ext4 /dev/vdc1 rw\n"
		"102 26 254:49 / /c rw,relatime shared:52 - ext4 /dev/vdd1 rw\n";
	static const char siblings_rebound[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"100 26 254:17 / /a rw,relatime shared:50 - ext4 /dev/vdb1 rw\n"
		"101 26 254:33 / /b rw,relatime shared:51 - ext4 /dev/vdc1 rw\n"
		"102 26 254:49 / /c rw,relatime shared:52 - ext4 /dev/vdd1 rw\n"
		"103 26 254:17 / /a2 rw,relatime shared:50 - ext4 /dev/vdb1 rw\n";
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	plan_ok(siblings, &no_policy, &fake, &plan);
	ORDER(&plan, "/c", "/b", "/a", "/");
	HOLDERS(&plan, "/c", "/");
	HOLDERS(&plan, "/b", "/");
	HOLDERS(&plan, "/a", "/");
	fs_plan_free(&plan);

	plan_ok(siblings_rebound, &no_policy, &fake, &plan);
	ORDER(&plan, "/a", "/c", "/b", "/");
	HOLDERS(&plan, "/a", "/");
	fs_plan_free(&plan);
}

/* "/" holds everyone, also a mount whose parent is not in the table (a mount
 * namespace can show such). */
static void test_order_root_holds_all(void **state)
{
	static const char text[] =
		"100 999 254:17 / /detached rw,relatime - ext4 /dev/vdb1 rw\n"
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"101 26 254:33 / /later rw,relatime - ext4 /dev/vdc1 rw\n";
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &no_policy, &fake, &plan);
	ORDER(&plan, "/later", "/detached", "/");
	HOLDERS(&plan, "/detached", "/");
	HOLDERS(&plan, "/later", "/");
	NO_HOLDERS(&plan, "/");
	fs_plan_free(&plan);
}

/* A filesystem bound into another filesystem is held by it, whichever of its mounts
 * it is: A (vdb1) at /a and bound to /c/a on C (vdc1) goes before C, although C has
 * the later mount (/c2). */
static void test_order_bind_into_other(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"100 26 254:17 / /a rw,relatime - ext4 /dev/vdb1 rw\n"
		"101 26 254:33 / /c rw,relatime - ext4 /dev/vdc1 rw\n"
		"102 101 254:17 / /c/a rw,relatime - ext4 /dev/vdb1 rw\n"
		"103 26 254:33 / /c2 rw,relatime - ext4 /dev/vdc1 rw\n";
	struct fake_probe fake = FAKE(devs_virtio);
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &no_policy, &fake, &plan);
	ORDER(&plan, "/a", "/c", "/");
	HOLDERS(&plan, "/a", "/c", "/");
	HOLDERS(&plan, "/c", "/");
	fs_plan_free(&plan);
}

/* A chain of loop images: c's image is on b, b's on a, a's on the tmpfs. Later binds
 * of a and b make mount order say b, a, c; the images say c, b, a. */
static void test_order_loop_chain(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"40 26 0:40 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,inode64\n"
		"200 40 7:0 / /tmp/q/a rw,relatime - ext4 /dev/loop0 rw\n"
		"201 40 7:1 / /tmp/q/b rw,relatime - ext4 /dev/loop1 rw\n"
		"202 40 7:2 / /tmp/q/c rw,relatime - ext4 /dev/loop2 rw\n"
		"203 40 7:0 / /tmp/q/a2 rw,relatime - ext4 /dev/loop0 rw\n"
		"204 40 7:1 / /tmp/q/b2 rw,relatime - ext4 /dev/loop1 rw\n";
	static const struct fake_dev devs[] = {
		{ "/dev/vda1", 254, 1, false, { NULL } },
		{ "/dev/loop0", 7, 0, true, { "/tmp/q/img/a.img" } },
		{ "/dev/loop1", 7, 1, true, { "/tmp/q/a/b.img" } },
		/* the image seen through the later bind of b: the same superblock */
		{ "/dev/loop2", 7, 2, true, { "/tmp/q/b2/c.img" } },
	};
	struct fake_probe fake = FAKE(devs);
	struct fs_policy pol = { .scope = "/tmp/q" };
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &pol, &fake, &plan);
	ORDER(&plan, "/tmp/q/c", "/tmp/q/b", "/tmp/q/a");
	HOLDERS(&plan, "/tmp/q/c", "/tmp/q/b");
	HOLDERS(&plan, "/tmp/q/b", "/tmp/q/a");
	NO_HOLDERS(&plan, "/tmp/q/a");
	check_topological(&plan);
	assert_false(plan.cycle);
	fs_plan_free(&plan);
}

/* An image on a filesystem mounted over another one at the same place: the top
 * mount (the later one) holds it. And an image inside a loop filesystem's own
 * tree does not make it hold itself. */
static void test_order_backing_resolution(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"210 26 7:0 / /tmp/q/x rw,relatime - ext4 /dev/loop0 rw\n"
		"211 210 7:1 / /tmp/q/x rw,relatime - ext4 /dev/loop1 rw\n"
		"212 26 7:2 / /tmp/q/y rw,relatime - ext4 /dev/loop2 rw\n"
		"213 26 7:3 / /tmp/q/z rw,relatime - ext4 /dev/loop3 rw\n";
	static const struct fake_dev devs[] = {
		{ "/dev/vda1", 254, 1, false, { NULL } },
		{ "/dev/loop0", 7, 0, true, { "/img/x0" } },
		{ "/dev/loop1", 7, 1, true, { "/img/x1" } },
		/* y: its image on the top x (loop1), and one on itself (a dm stack of two
		 * loop devices could have that) */
		{ "/dev/loop2", 7, 2, true, { "/tmp/q/x/y.img", "/tmp/q/y/self.img" } },
		{ "/dev/loop3", 7, 3, true, { NULL } },
	};
	struct fake_probe fake = FAKE(devs);
	struct fs_policy pol = { .scope = "/tmp/q" };
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &pol, &fake, &plan);
	/* z is mounted last but ready like y; x1 on x0 by parent; y on x1 by image. */
	ORDER(&plan, "/tmp/q/z", "/tmp/q/y", "/tmp/q/x", "/tmp/q/x");
	assert_int_equal(plan.v[2].mount_id, 211);
	assert_int_equal(plan.v[3].mount_id, 210);
	/* y is held by loop1's x (index 2), not loop0's (index 3). */
	assert_int_equal(plan.v[1].n_holders, 1);
	assert_int_equal(plan.v[1].holders[0], 2);
	assert_int_equal(plan.v[2].n_holders, 1);
	assert_int_equal(plan.v[2].holders[0], 3);
	assert_int_equal(plan.v[3].n_holders, 0);
	assert_int_equal(plan.v[0].n_holders, 0);
	assert_false(plan.cycle);
	fs_plan_free(&plan);
}

/* A probe that makes a cycle: a's image is on b and b's on a. The plan says so, and
 * still has every candidate exactly once; c, which sits on a and is not part of the
 * cycle, still goes before a. */
static void test_order_cycle(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"40 26 0:40 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,inode64\n"
		"220 40 7:0 / /tmp/q/a rw,relatime - ext4 /dev/loop0 rw\n"
		"221 40 7:1 / /tmp/q/b rw,relatime - ext4 /dev/loop1 rw\n"
		"222 220 7:2 / /tmp/q/a/c rw,relatime - ext4 /dev/loop2 rw\n";
	static const struct fake_dev devs[] = {
		{ "/dev/vda1", 254, 1, false, { NULL } },
		{ "/dev/loop0", 7, 0, true, { "/tmp/q/b/a.img" } },
		{ "/dev/loop1", 7, 1, true, { "/tmp/q/a/b.img" } },
		{ "/dev/loop2", 7, 2, true, { "/tmp/q/img/c.img" } },
	};
	struct fake_probe fake = FAKE(devs);
	struct fs_policy pol = { .scope = "/tmp/q" };
	struct fs_plan plan;
	int seen[3] = { 0 };
	(void)state;

	plan_ok(text, &pol, &fake, &plan);
	assert_true(plan.cycle);
	assert_int_equal(plan.n, 3);
	for (size_t i = 0; i < plan.n; i++) {
		if (!strcmp(plan.v[i].mountpoint, "/tmp/q/a"))
			seen[0]++;
		else if (!strcmp(plan.v[i].mountpoint, "/tmp/q/b"))
			seen[1]++;
		else if (!strcmp(plan.v[i].mountpoint, "/tmp/q/a/c"))
			seen[2]++;
	}
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);
	assert_int_equal(seen[2], 1);
	assert_string_equal(plan.v[0].mountpoint, "/tmp/q/a/c");
	/* The cycle is broken where the order was a choice (b, mounted last, first) and
	 * the broken order is dropped, so that the freezer never waits in a circle. */
	ORDER(&plan, "/tmp/q/a/c", "/tmp/q/b", "/tmp/q/a");
	HOLDERS(&plan, "/tmp/q/b", "/tmp/q/a");
	NO_HOLDERS(&plan, "/tmp/q/a");
	HOLDERS(&plan, "/tmp/q/a/c", "/tmp/q/a");
	check_topological(&plan);
	fs_plan_free(&plan);
}

/* m0 holds inner's image and is also bound inside inner (a chroot in an image file
 * with /home bound in): nesting says m0 first, the image says inner first. The image
 * wins; with m0 frozen first, inner's flush would block on it for good. */
static void test_order_bind_into_loop(void **state)
{
	static const char text[] =
		"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
		"40 26 0:40 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,inode64\n"
		"230 40 7:0 / /tmp/q/m0 rw,relatime - ext4 /dev/loop0 rw\n"
		"231 40 7:1 / /tmp/q/inner rw,relatime - ext4 /dev/loop1 rw\n"
		"232 231 7:0 / /tmp/q/inner/host rw,relatime - ext4 /dev/loop0 rw\n";
	static const struct fake_dev devs[] = {
		{ "/dev/vda1", 254, 1, false, { NULL } },
		{ "/dev/loop0", 7, 0, true, { "/tmp/q-img/m0.img" } },
		{ "/dev/loop1", 7, 1, true, { "/tmp/q/m0/inner.img" } },
	};
	struct fake_probe fake = FAKE(devs);
	struct fs_policy pol = { .scope = "/tmp/q" };
	struct fs_plan plan;
	(void)state;

	plan_ok(text, &pol, &fake, &plan);
	assert_true(plan.cycle);
	ORDER(&plan, "/tmp/q/inner", "/tmp/q/m0");
	HOLDERS(&plan, "/tmp/q/inner", "/tmp/q/m0");
	NO_HOLDERS(&plan, "/tmp/q/m0");
	check_topological(&plan);
	fs_plan_free(&plan);
}

/* ------------------------------------------------------------ out of memory */

static bool same_plan(const struct fs_plan *a, const struct fs_plan *b)
{
	if (a->n != b->n || a->n_skipped != b->n_skipped || a->cycle != b->cycle)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct fs_candidate *x = &a->v[i], *y = &b->v[i];
		if (strcmp(x->mountpoint, y->mountpoint) || strcmp(x->source, y->source) ||
		    strcmp(x->fstype, y->fstype) || x->mount_id != y->mount_id ||
		    x->is_root != y->is_root || x->n_holders != y->n_holders ||
		    (x->n_holders && memcmp(x->holders, y->holders, x->n_holders * sizeof(size_t))))
			return false;
	}
	for (size_t i = 0; i < a->n_skipped; i++)
		if (strcmp(a->skipped[i].mountpoint, b->skipped[i].mountpoint) ||
		    strcmp(a->skipped[i].reason, b->skipped[i].reason))
			return false;
	return true;
}

struct oom_plan {
	struct mount_table mt;
	const struct fs_policy *pol;
	struct blockdev_probe probe;
	struct fs_plan want;
};

/* One run: ENOMEM and an empty plan, or the plan made without the failure. */
static bool oom_plan_run(void *arg)
{
	struct oom_plan *o = arg;
	struct fs_plan plan;
	int r = policy_plan(&o->mt, o->pol, &o->probe, &plan);
	bool failed = failalloc_stop();
	if (r < 0) {
		assert_true(failed);
		assert_int_equal(errno, ENOMEM);
		assert_int_equal(plan.n + plan.n_skipped, 0);
		assert_null(plan.v);
		assert_null(plan.skipped);
		return true;
	}
	assert_true(same_plan(&plan, &o->want));
	fs_plan_free(&plan);
	return failed;
}

/* The Nth allocation failing, for every N, with candidates, holders and skips. */
static void test_out_of_memory(void **state)
{
	struct fake_probe fake = FAKE(devs_loop);
	const struct fs_policy *pols[] = { &no_policy, &(struct fs_policy){ .scope = "/" } };
	struct oom_plan o = { .probe = { .source_devno = fake_source_devno,
					 .is_loop_backed = fake_is_loop_backed,
					 .backing_files = fake_backing_files, .ctx = &fake } };
	(void)state;
	assert_int_equal(mountinfo_parse(SAMPLE_LOOP, strlen(SAMPLE_LOOP), &o.mt, NULL), 0);
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		o.pol = pols[i];
		assert_int_equal(policy_plan(&o.mt, o.pol, &o.probe, &o.want), 0);
		assert_true(o.want.n > 0);
		failalloc_each("policy_plan", oom_plan_run, &o);
		fs_plan_free(&o.want);
	}
	mount_table_free(&o.mt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_normal_system),
		cmocka_unit_test(test_default_readonly),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_unfreezable_types),
		cmocka_unit_test(test_bind_dedup),
		cmocka_unit_test(test_btrfs_dedup),
		cmocka_unit_test(test_loop_default),
		cmocka_unit_test(test_loop_unknown_source),
		cmocka_unit_test(test_scope_loop),
		cmocka_unit_test(test_scope_dm_on_loop),
		cmocka_unit_test(test_scope_root),
		cmocka_unit_test(test_scope_superblock_partly_outside),
		cmocka_unit_test(test_scope_prefix),
		cmocka_unit_test(test_include_patterns),
		cmocka_unit_test(test_exclude_patterns),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_order_nested),
		cmocka_unit_test(test_order_ties),
		cmocka_unit_test(test_order_root_holds_all),
		cmocka_unit_test(test_order_bind_into_other),
		cmocka_unit_test(test_order_loop_chain),
		cmocka_unit_test(test_order_backing_resolution),
		cmocka_unit_test(test_order_cycle),
		cmocka_unit_test(test_order_bind_into_loop),
		cmocka_unit_test(test_out_of_memory),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
