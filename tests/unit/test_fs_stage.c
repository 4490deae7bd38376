// SPDX-License-Identifier: MIT
/* Unit tests for the filesystems stage (src/fs/fs_stage.c): its stage interface as the
 * engine drives it (start, report, count, active), planned from a mount table with the
 * policy and run by the real freezer: an empty plan, a plan of three, the report (each
 * filesystem's state and times, the skipped ones with their reason on CHECK), a failing
 * FIFREEZE that fails the stage and unwinds, the thaw after a freeze, a thaw with
 * nothing frozen, a strict selection, CHECK's refusals, the apps' filesystem list.
 *
 * Two seams, so that nothing is ever frozen:
 * - the mount table is a sample file (fs_stage_mountinfo_path, which fs_stage.h keeps
 *   for tests), whose filesystems are directories of a mkdtemp dir on whatever holds
 *   /tmp, each given a made-up /dev/ source and superblock, and the directory's real
 *   mount id (the freezer opens and mount-checks each for real). The policy's scope is
 *   that dir. A real mount in a namespace would not do: the policy plans only
 *   filesystems with a block device source (a tmpfs is "not a block device"), and no
 *   block device filesystem is safe to hand to a freezer here.
 * - the linker's --wrap=ioctl (UNIT_WRAP_fs_stage in mk/unit.mk), as test_freezer.c:
 *   FIFREEZE and FITHAW land in __wrap_ioctl, which finds the directory from
 *   /proc/self/fd and plays its script (succeed, or fail with an errno), counting
 *   each. They never reach the real ioctl.
 *
 * The engine is faked (engine_stage_done records the outcome and stops the loop). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ioctlseam.h"
#include "unitguard.h"

#include "common/appfslist.h"
#include "common/log.h"
#include "common/loop.h"
#include "engine/txn.h"
#include "fs/fs_stage.h"
#include "fs/mountid.h"

#define NFS 4

/* ------------------------------------------------------------ the fake ioctl */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char fs_path[NFS][128];     /* real paths: the mkdtemp dir is short */
static int freeze_err[NFS];          /* 0: FIFREEZE succeeds, else fails with it */
static int freezes[NFS], thaws[NFS];  /* calls seen */
static int strangers;                /* FIFREEZE/FITHAW on an fd none of ours */

int ioctlseam_fake(const char *path, bool freeze)
{
	int fs = -1, err = 0;
	for (int i = 0; i < NFS && fs < 0; i++)
		if (strcmp(fs_path[i], path) == 0)
			fs = i;
	pthread_mutex_lock(&mu);
	if (fs < 0) {
		strangers++;
		err = ENOTTY;
	} else if (freeze) {
		freezes[fs]++;
		err = freeze_err[fs];
	} else {
		thaws[fs]++;
	}
	pthread_mutex_unlock(&mu);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

static int count_of(const int *v, int i)
{
	int n;
	pthread_mutex_lock(&mu);
	n = v[i];
	pthread_mutex_unlock(&mu);
	return n;
}

/* ------------------------------------------------------------ the fake engine */

static struct {
	struct loop *loop;
	unsigned calls;
	bool ok;
	char msg[512];
} eng;

void engine_stage_done(struct engine *e, bool ok, const char *msg)
{
	assert_ptr_equal(e, (struct engine *)&eng);
	eng.calls++;
	eng.ok = ok;
	snprintf(eng.msg, sizeof(eng.msg), "%s", msg ? msg : "");
	loop_stop(eng.loop, 0);
}

const char *engine_op_name(enum txn_op op)
{
	return op == TXN_FREEZE ? "freeze" : op == TXN_THAW ? "thaw" : "check";
}

/* ------------------------------------------------------------ the fixture */

static struct {
	char dir[64], mountinfo[96];
	int mount_id[NFS];
	struct fs_policy pol;
	struct fs_stage *fs;
} t;

/* The mount table: "/" outside the scope, then the lines given (printf format, each
 * with the fixture's paths filled in by the caller). */
static void table(const char *lines)
{
	FILE *f = fopen(t.mountinfo, "w");
	assert_non_null(f);
	fprintf(f, "1000000 1 8:1 / / rw,relatime - ext4 /dev/fakeroot rw\n%s", lines);
	assert_int_equal(fclose(f), 0);
}

/* A mountinfo line for filesystem i: type, options of the mount and the superblock,
 * its mount id (id < 0: the real one). */
static void line(char *buf, size_t len, int i, const char *type, const char *opts, int id)
{
	size_t at = strlen(buf);
	snprintf(buf + at, len - at, "%d 1000000 250:%d / %s %s - %s /dev/fake%d %s\n",
		 id < 0 ? t.mount_id[i] : id, i, fs_path[i], opts, type, i, opts);
}

/* The usual table: n ext4 filesystems. */
static void table_of(int n)
{
	char buf[4096] = "";
	for (int i = 0; i < n; i++)
		line(buf, sizeof(buf), i, "ext4", "rw", -1);
	table(buf);
}

static int setup(void **state)
{
	memset(&t, 0, sizeof(t));
	memset(&eng, 0, sizeof(eng));
	pthread_mutex_lock(&mu);
	memset(freeze_err, 0, sizeof(freeze_err));
	memset(freezes, 0, sizeof(freezes));
	memset(thaws, 0, sizeof(thaws));
	strangers = 0;
	pthread_mutex_unlock(&mu);
	unit_guard_on(state);
	snprintf(t.dir, sizeof(t.dir), "/tmp/test_fs_stage.XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	for (int i = 0; i < NFS; i++) {
		char path[PATH_MAX], real[PATH_MAX];
		int fd;
		snprintf(path, sizeof(path), "%s/fs%d", t.dir, i);
		assert_int_equal(mkdir(path, 0700), 0);
		assert_non_null(realpath(path, real));
		assert_true(strlen(real) < sizeof(fs_path[i]));
		strcpy(fs_path[i], real);
		fd = open(fs_path[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(fd >= 0);
		if (fd_mount_id(fd, &t.mount_id[i]) != 0)
			t.mount_id[i] = 0;
		close(fd);
	}
	snprintf(t.mountinfo, sizeof(t.mountinfo), "%s/mountinfo", t.dir);
	table("");
	fs_stage_mountinfo_path = t.mountinfo;
	t.pol.scope = t.dir;
	eng.loop = loop_new();
	assert_non_null(eng.loop);
	t.fs = fs_stage_new(eng.loop, (struct engine *)&eng, &t.pol, 5000);
	assert_non_null(t.fs);
	return 0;
}

static int teardown(void **state)
{
	char path[PATH_MAX];
	/* Nothing of ours left frozen: every FIFREEZE that succeeded was thawed. */
	assert_false(fs_stage_ops.active(t.fs));
	for (int i = 0; i < NFS; i++) {
		if (!freeze_err[i])
			assert_int_equal(count_of(thaws, i), count_of(freezes, i));
		snprintf(path, sizeof(path), "%s/fs%d", t.dir, i);
		rmdir(path);
	}
	assert_int_equal(strangers, 0);
	fs_stage_free(t.fs);
	loop_free(eng.loop);
	unlink(t.mountinfo);
	assert_int_equal(rmdir(t.dir), 0);
	unit_guard_off(state);
	return 0;
}

static bool stage_done(void *arg)
{
	(void)arg;
	return eng.calls > 0;
}

/* Runs op as the engine would; the outcome is in eng (ok, msg). Returns true if the
 * stage finished at once (STAGE_DONE). */
static bool run(enum txn_op op, const struct txn_request *req)
{
	struct txn_request none = { .op = op };
	char msg[512] = "";
	bool ok = false;
	enum stage_rc rc;

	eng.calls = 0;
	rc = fs_stage_ops.start(t.fs, op, req ? req : &none, &ok, msg, sizeof(msg));
	if (rc == STAGE_DONE) {
		assert_int_equal(eng.calls, 0);
		eng.ok = ok;
		snprintf(eng.msg, sizeof(eng.msg), "%s", msg);
		return true;
	}
	assert_int_equal(eng.calls, 0);   /* never from inside start() */
	assert_true(unit_run_until(eng.loop, stage_done, NULL, 5000));
	assert_int_equal(eng.calls, 1);
	return false;
}

/* The stage's report (the caller puts it). */
static struct json_object *report(void)
{
	struct json_object *out = json_object_new_object();
	fs_stage_ops.report(t.fs, out);
	return out;
}

/* The report's entry for filesystem i in array key, or NULL. */
static struct json_object *entry(struct json_object *rep, const char *key, int i)
{
	struct json_object *arr, *mp;
	assert_true(json_object_object_get_ex(rep, key, &arr));
	for (size_t k = 0; k < json_object_array_length(arr); k++) {
		struct json_object *o = json_object_array_get_idx(arr, k);
		assert_true(json_object_object_get_ex(o, "mountpoint", &mp));
		if (strcmp(json_object_get_string(mp), fs_path[i]) == 0)
			return o;
	}
	return NULL;
}

static size_t n_entries(struct json_object *rep, const char *key)
{
	struct json_object *arr;
	assert_true(json_object_object_get_ex(rep, key, &arr));
	return json_object_array_length(arr);
}

static const char *member(struct json_object *o, const char *key)
{
	struct json_object *v;
	assert_non_null(o);
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no %s in %s", key, json_object_to_json_string(o));
	return json_object_get_string(v);
}

/* ------------------------------------------------------------ the cases */

/* Nothing to freeze in the scope: done at once, nothing frozen, the skipped ones and
 * why on CHECK. */
static void test_empty_plan(void **state)
{
	char buf[4096] = "";
	struct json_object *rep;
	(void)state;
	snprintf(buf, sizeof(buf), "%d 1000000 0:99 / %s rw - tmpfs tmpfs rw\n", t.mount_id[0],
		 fs_path[0]);
	line(buf, sizeof(buf), 1, "ext4", "ro", -1);
	line(buf, sizeof(buf), 2, "vfat", "rw", -1);
	table(buf);
	assert_true(run(TXN_FREEZE, NULL));
	assert_true(eng.ok);
	assert_int_equal(fs_stage_ops.count(t.fs, TXN_FREEZE), 0);
	assert_false(fs_stage_ops.active(t.fs));
	rep = report();
	assert_int_equal(n_entries(rep, "filesystems"), 0);
	json_object_put(rep);
	for (int i = 0; i < NFS; i++)
		assert_int_equal(count_of(freezes, i), 0);

	assert_true(run(TXN_CHECK, NULL));
	assert_true(eng.ok);
	rep = report();
	assert_int_equal(n_entries(rep, "filesystems"), 0);
	assert_int_equal(n_entries(rep, "skipped"), 3);
	assert_string_equal(member(entry(rep, "skipped", 0), "reason"), "not a block device");
	assert_string_equal(member(entry(rep, "skipped", 1), "reason"), "read-only");
	assert_string_equal(member(entry(rep, "skipped", 2), "reason"), "vfat");
	json_object_put(rep);
}

/* A plan of three: all frozen, reported, counted; then thawed. */
static void test_freeze_thaw(void **state)
{
	struct json_object *rep, *o, *v;
	(void)state;
	table_of(3);
	assert_false(run(TXN_FREEZE, NULL));
	assert_true(eng.ok);
	assert_string_equal(eng.msg, "");
	assert_true(fs_stage_ops.active(t.fs));
	assert_int_equal(fs_stage_ops.count(t.fs, TXN_FREEZE), 3);
	rep = report();
	assert_int_equal(n_entries(rep, "filesystems"), 3);
	for (int i = 0; i < 3; i++) {
		o = entry(rep, "filesystems", i);
		assert_string_equal(member(o, "state"), "frozen");
		assert_string_equal(member(o, "type"), "ext4");
		assert_true(json_object_object_get_ex(o, "freeze_ms", &v));
		assert_false(json_object_object_get_ex(o, "thaw_ms", &v));
		assert_false(json_object_object_get_ex(o, "error", &v));
		assert_int_equal(count_of(freezes, i), 1);
		assert_int_equal(count_of(thaws, i), 0);
	}
	assert_null(entry(rep, "filesystems", 3));   /* not in the table */
	json_object_put(rep);

	assert_false(run(TXN_THAW, NULL));
	assert_true(eng.ok);
	assert_false(fs_stage_ops.active(t.fs));
	assert_int_equal(fs_stage_ops.count(t.fs, TXN_THAW), 3);
	rep = report();
	for (int i = 0; i < 3; i++) {
		o = entry(rep, "filesystems", i);
		assert_string_equal(member(o, "state"), "thawed");
		assert_true(json_object_object_get_ex(o, "thaw_ms", &v));
		assert_int_equal(count_of(thaws, i), 1);
	}
	json_object_put(rep);
}

/* A FIFREEZE fails: the stage fails with the freezer's error, what froze is thawed,
 * and the report says which failed and how. */
static void test_freeze_fails(void **state)
{
	struct json_object *rep, *o, *v;
	(void)state;
	table_of(3);
	pthread_mutex_lock(&mu);
	freeze_err[1] = EIO;
	pthread_mutex_unlock(&mu);
	assert_false(run(TXN_FREEZE, NULL));
	assert_false(eng.ok);
	assert_non_null(strstr(eng.msg, fs_path[1]));
	assert_false(fs_stage_ops.active(t.fs));
	assert_int_equal(fs_stage_ops.count(t.fs, TXN_FREEZE), 0);
	rep = report();
	o = entry(rep, "filesystems", 1);
	assert_string_equal(member(o, "state"), "failed");
	assert_string_equal(member(o, "error"), "freeze: Input/output error");
	assert_true(json_object_object_get_ex(o, "errno", &v));
	assert_int_equal(json_object_get_int(v), EIO);
	for (int i = 0; i < 3; i += 2) {
		const char *st = member(entry(rep, "filesystems", i), "state");
		/* Frozen and thawed again, or never tried. */
		if (count_of(freezes, i))
			assert_string_equal(st, "thawed");
		else
			assert_string_equal(st, "skipped");
	}
	json_object_put(rep);
	/* A later thaw has nothing to do: no FITHAW more. (Its count is still the
	 * unwinding's; the engine answers a THAW with nothing frozen itself, with 0.) */
	{
		int before[3];
		for (int i = 0; i < 3; i++)
			before[i] = count_of(thaws, i);
		assert_true(run(TXN_THAW, NULL));
		assert_true(eng.ok);
		for (int i = 0; i < 3; i++)
			assert_int_equal(count_of(thaws, i), before[i]);
	}
}

/* A thaw with nothing frozen: done at once, no FITHAW. */
static void test_thaw_nothing(void **state)
{
	(void)state;
	table_of(2);
	assert_true(run(TXN_THAW, NULL));
	assert_true(eng.ok);
	assert_int_equal(fs_stage_ops.count(t.fs, TXN_THAW), 0);
	for (int i = 0; i < NFS; i++)
		assert_int_equal(count_of(thaws, i), 0);
	/* After a freeze and its thaw, a second thaw has nothing left either. */
	assert_false(run(TXN_FREEZE, NULL));
	assert_false(run(TXN_THAW, NULL));
	assert_true(run(TXN_THAW, NULL));
	assert_true(eng.ok);
	for (int i = 0; i < 2; i++)
		assert_int_equal(count_of(thaws, i), 1);
}

/* A filesystem found not as planned (another mount id): failed before FIFREEZE. */
static void test_mount_changed(void **state)
{
	char buf[4096] = "";
	struct json_object *rep;
	(void)state;
	line(buf, sizeof(buf), 0, "ext4", "rw", -1);
	line(buf, sizeof(buf), 1, "ext4", "rw", t.mount_id[1] + 1000);
	table(buf);
	if (t.mount_id[1] == 0)
		skip();   /* the kernel cannot tell a mount id: nothing is checked */
	assert_false(run(TXN_FREEZE, NULL));
	assert_false(eng.ok);
	assert_int_equal(count_of(freezes, 1), 0);
	rep = report();
	assert_string_equal(member(entry(rep, "filesystems", 1), "state"), "failed");
	assert_non_null(strstr(member(entry(rep, "filesystems", 1), "error"), "mount check"));
	json_object_put(rep);
	/* CHECK says so too, without freezing. */
	assert_true(run(TXN_CHECK, NULL));
	assert_false(eng.ok);
	assert_non_null(strstr(eng.msg, "cannot be reached"));
}

/* A strict selection: a listed mountpoint that is no candidate fails the freeze, with
 * the reason it was skipped; a selected one freezes alone. */
static void test_selection(void **state)
{
	char buf[4096] = "";
	char *sel[1];
	struct txn_request req = { .op = TXN_FREEZE, .mountpoints = sel, .n_mountpoints = 1,
				   .mountpoints_set = true, .strict_mountpoints = true };
	char expect[PATH_MAX + 128];
	(void)state;
	line(buf, sizeof(buf), 0, "ext4", "rw", -1);
	line(buf, sizeof(buf), 1, "ext4", "rw", -1);
	line(buf, sizeof(buf), 2, "ext4", "ro", -1);
	table(buf);
	sel[0] = fs_path[2];
	assert_true(run(TXN_FREEZE, &req));
	assert_false(eng.ok);
	snprintf(expect, sizeof(expect), "%s is not a filesystem quiesced can freeze: read-only",
		 fs_path[2]);
	assert_string_equal(eng.msg, expect);
	sel[0] = fs_path[3];
	assert_true(run(TXN_FREEZE, &req));
	assert_false(eng.ok);
	snprintf(expect, sizeof(expect), "%s is not a filesystem quiesced can freeze: not a "
		 "mountpoint, or outside the scope", fs_path[3]);
	assert_string_equal(eng.msg, expect);
	for (int i = 0; i < NFS; i++)
		assert_int_equal(count_of(freezes, i), 0);
	sel[0] = fs_path[1];
	assert_false(run(TXN_FREEZE, &req));
	assert_true(eng.ok);
	assert_int_equal(fs_stage_ops.count(t.fs, TXN_FREEZE), 1);
	assert_int_equal(count_of(freezes, 0), 0);
	assert_int_equal(count_of(freezes, 1), 1);
	assert_false(run(TXN_THAW, NULL));
	assert_true(eng.ok);
}

/* CHECK: the candidates and the skipped in the report; a type the kernel cannot freeze
 * fails it; nothing is frozen. */
static void test_check(void **state)
{
	char buf[4096] = "";
	struct json_object *rep;
	(void)state;
	line(buf, sizeof(buf), 0, "ext4", "rw", -1);
	line(buf, sizeof(buf), 1, "xfs", "rw", -1);
	line(buf, sizeof(buf), 2, "ext4", "ro", -1);
	table(buf);
	assert_true(run(TXN_CHECK, NULL));
	assert_true(eng.ok);
	rep = report();
	assert_int_equal(n_entries(rep, "filesystems"), 2);
	assert_string_equal(member(entry(rep, "filesystems", 1), "type"), "xfs");
	assert_string_equal(member(entry(rep, "filesystems", 1), "source"), "/dev/fake1");
	assert_string_equal(member(entry(rep, "skipped", 2), "reason"), "read-only");
	json_object_put(rep);

	buf[0] = '\0';
	line(buf, sizeof(buf), 0, "exfat", "rw", -1);
	table(buf);
	assert_true(run(TXN_CHECK, NULL));
	assert_false(eng.ok);
	assert_non_null(strstr(eng.msg, "cannot be frozen: exfat does not support it"));
	for (int i = 0; i < NFS; i++)
		assert_int_equal(count_of(freezes, i), 0);
}

/* The mount table cannot be read: the freeze fails with why, nothing is tried. */
static void test_no_table(void **state)
{
	(void)state;
	table_of(2);
	assert_int_equal(unlink(t.mountinfo), 0);
	assert_true(run(TXN_FREEZE, NULL));
	assert_false(eng.ok);
	assert_non_null(strstr(eng.msg, "cannot read"));
	assert_int_equal(fs_stage_ops.count(t.fs, TXN_FREEZE), 0);
	table("");
}

/* The apps' filesystem query: the plan as app protocol entries. */
static void test_fs_list(void **state)
{
	struct appwire_fs *v;
	size_t n = 0;
	bool incomplete = false;
	char msg[256];
	(void)state;
	table_of(3);
	assert_int_equal(fs_stage_fs_list(t.fs, &v, &n, &incomplete, msg, sizeof(msg)), 0);
	assert_int_equal(n, 3);
	assert_false(incomplete);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(v[i].fstype, "ext4");
		assert_int_equal(v[i].major, 250);
		assert_string_equal(v[i].mountpoint, fs_path[v[i].minor]);
		assert_int_equal(v[i].minor < 3, true);
	}
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_plan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze_thaw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freeze_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thaw_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mount_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_list, setup, teardown),
	};
	unit_guard("test_fs_stage", 60);
	log_hold(true);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
