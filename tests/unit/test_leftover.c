// SPDX-License-Identifier: MIT
/* Unit tests for src/fs/leftover.c: the run-dir record of what quiesced is freezing,
 * read at the next start to thaw what a dead quiesced (and its dead guardian) left
 * frozen. Covered: the written format and a round trip through leftover_thaw (odd
 * mountpoints escaped and unescaped), what is not a record (malformed, truncated and
 * oversized lines, a missing or unreadable file), a mount that changed since, thaw
 * results, the atomic replace (tmp + rename) and its failures, and allocations.
 *
 * The seam: the linker's --wrap=ioctl (UNIT_WRAP_leftover in mk/unit.mk), for this
 * binary only. The "filesystems" are ordinary directories in a mkdtemp directory, so
 * open() and the mount id check run for real; leftover_thaw's FITHAW lands in
 * __wrap_ioctl, which logs the directory (from /proc/self/fd) and answers what the
 * test scripted. FIFREEZE and FITHAW never reach the kernel: nothing is frozen or
 * thawed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
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

#include "capture.h"
#include "failalloc.h"
#include "fs/leftover.h"
#include "fs/mountid.h"
#include "fs/policy.h"
#include "ioctlseam.h"
#include "unitguard.h"

#define NDIR 5
#define MAXTHAW 32

/* Mountpoints as odd as mountinfo allows: each needs its own escape. */
static const char *const names[NDIR] = { "plain", "a space", "a\ttab", "a\nnewline", "back\\slash" };
static const char *const escaped[NDIR] = { "plain", "a\\040space", "a\\011tab", "a\\012newline",
					   "back\\134slash" };

static char base[64];
static char record[128];
static char dirs[NDIR][128];
static int mount_ids[NDIR];

/* ------------------------------------------------------------ the fake ioctl */

static char thawed[MAXTHAW][PATH_MAX];
static int n_thawed;         /* FITHAW calls, in order */
static int n_freeze;         /* FIFREEZE calls: there must be none */
static int thaw_errno;       /* what every FITHAW answers: 0 (thawed) or an errno */

int ioctlseam_fake(const char *path, bool freeze)
{
	if (freeze) {
		n_freeze++;
		errno = EPERM;
		return -1;
	}
	if (n_thawed < MAXTHAW)
		snprintf(thawed[n_thawed], PATH_MAX, "%s", path);
	n_thawed++;
	if (thaw_errno) {
		errno = thaw_errno;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ fixture */

static int count_fds(void)
{
	char link[64], target[PATH_MAX];
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if (readlink(link, target, sizeof(target)) >= 0)
			n++;
	}
	return n;
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/test_leftover.XXXXXX";
	(void)state;
	unit_guard_on(state);
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(base, sizeof(base), "%s", tmpl);
	snprintf(record, sizeof(record), "%s/frozen.list", base);
	for (int i = 0; i < NDIR; i++) {
		int fd;
		snprintf(dirs[i], sizeof(dirs[i]), "%s/%s", base, names[i]);
		if (mkdir(dirs[i], 0700) < 0)
			return -1;
		fd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fd_mount_id(fd, &mount_ids[i]) < 0)
			return -1;
		close(fd);
	}
	n_thawed = n_freeze = thaw_errno = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	int r;
	/* Nothing of the test may have frozen anything, nor thawed what it was not
	 * given: every FITHAW went to one of our directories. */
	assert_int_equal(n_freeze, 0);
	for (int i = 0; i < n_thawed && i < MAXTHAW; i++)
		assert_memory_equal(thawed[i], base, strlen(base));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	r = system(cmd);
	(void)r;
	return unit_guard_off(state);
}

/* A plan of the first n directories, as policy_plan makes them (the fields leftover
 * uses). */
static struct fs_plan plan_of(struct fs_candidate *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (struct fs_candidate){ .mountpoint = dirs[i], .mount_id = mount_ids[i],
					      .major = 8, .minor = (unsigned)i };
	return (struct fs_plan){ .v = v, .n = n };
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, true);
	assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
	static char buf[65536];

	assert_int_equal(access(path, F_OK), 0);
	capture_read(path, buf, sizeof(buf));
	return buf;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void assert_thawed(int i, const char *dir)
{
	assert_true(i < n_thawed);
	assert_string_equal(thawed[i], dir);
}

/* ------------------------------------------------------------ the format */

/* One line per filesystem, in plan order: "<mount id> <major>:<minor> <mountpoint>",
 * the mountpoint escaped as in mountinfo. */
static void test_format(void **state)
{
	struct fs_candidate v[NDIR];
	struct fs_plan plan = plan_of(v, NDIR);
	char want[4096] = "", line[512];
	(void)state;
	assert_int_equal(leftover_save(record, &plan), 0);
	for (int i = 0; i < NDIR; i++) {
		snprintf(line, sizeof(line), "%d 8:%d %s/%s\n", mount_ids[i], i, base, escaped[i]);
		strcat(want, line);
	}
	assert_string_equal(read_file(record), want);
	assert_int_equal(n_thawed, 0);
}

/* What is saved is what is thawed, odd names included, in the record's order; the
 * record is gone after, and no fd is left open. */
static void test_round_trip(void **state)
{
	struct fs_candidate v[NDIR];
	struct fs_plan plan = plan_of(v, NDIR);
	int fds = count_fds();
	(void)state;
	assert_int_equal(leftover_save(record, &plan), 0);
	assert_int_equal(leftover_thaw(record), NDIR);
	assert_int_equal(n_thawed, NDIR);
	for (int i = 0; i < NDIR; i++)
		assert_thawed(i, dirs[i]);
	assert_false(exists(record));
	assert_int_equal(count_fds(), fds);
}

/* An empty plan: an empty record, which thaws nothing and is removed. */
static void test_empty(void **state)
{
	struct fs_plan plan = { 0 };
	(void)state;
	assert_int_equal(leftover_save(record, &plan), 0);
	assert_string_equal(read_file(record), "");
	assert_int_equal(leftover_thaw(record), 0);
	assert_int_equal(n_thawed, 0);
	assert_false(exists(record));
}

/* ------------------------------------------------------------ what is not a record */

/* No record: nothing was frozen. */
static void test_missing(void **state)
{
	(void)state;
	assert_int_equal(leftover_thaw(record), 0);
	assert_int_equal(n_thawed, 0);
}

/* A record that cannot be read at all is an error (quiesced says so at start). */
static void test_unreadable(void **state)
{
	char path[192];
	(void)state;
	write_file(record, "");
	snprintf(path, sizeof(path), "%s/frozen.list", record);  /* under a file */
	errno = 0;
	assert_int_equal(leftover_thaw(path), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_int_equal(n_thawed, 0);
}

/* A record that cannot be read to its end (here a directory: read fails with EISDIR)
 * is an error, and it stays for a later try. */
static void test_read_fails(void **state)
{
	char path[192];
	(void)state;
	snprintf(path, sizeof(path), "%s/record.d", base);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(leftover_thaw(path), -1);
	assert_int_equal(n_thawed, 0);
	assert_true(exists(path));
}

/* Lines that are not "<id> <maj>:<min> <path>" are skipped, the good ones around
 * them still thawed; a last line cut short (no newline) still counts if whole. */
static void test_malformed(void **state)
{
	char text[4096];
	int fds = count_fds();
	(void)state;
	snprintf(text, sizeof(text),
		 "\n"
		 "garbage\n"
		 "%d 8:0\n"                       /* no mountpoint */
		 "%d 8-0 %s\n"                    /* no colon */
		 "x 8:0 %s\n"                     /* no id */
		 "%d 8:0 %s\n"                    /* good */
		 "%d 8: %s\n"                     /* no minor */
		 "%d 8:4 %s/no-such-dir\n"        /* gone: nothing to thaw */
		 "%d 8:1 %s",                     /* good, the last line cut before \n */
		 mount_ids[0], mount_ids[0], dirs[0], dirs[0], mount_ids[0], dirs[0],
		 mount_ids[2], dirs[2], mount_ids[0], base, mount_ids[1], base);
	/* dirs[1] escaped by hand: "a space" */
	strcat(text, "/a\\040space");
	write_file(record, text);
	assert_int_equal(leftover_thaw(record), 2);
	assert_int_equal(n_thawed, 2);
	assert_thawed(0, dirs[0]);
	assert_thawed(1, dirs[1]);
	assert_false(exists(record));
	assert_int_equal(count_fds(), fds);
}

/* A record cut in the middle of a line (quiesced died while writing it: it cannot,
 * the rename is atomic, but a record may be damaged otherwise): the cut path names
 * nothing that exists, so nothing is thawed. */
static void test_truncated(void **state)
{
	struct fs_candidate v[NDIR];
	struct fs_plan plan = plan_of(v, 2);
	char *text;
	(void)state;
	assert_int_equal(leftover_save(record, &plan), 0);
	text = read_file(record);
	assert_int_equal(truncate(record, (off_t)(strchr(text, '\n') - text) - 2), 0);
	assert_int_equal(leftover_thaw(record), 0);
	assert_int_equal(n_thawed, 0);
	assert_false(exists(record));
}

/* A line of 20 kB naming a path longer than PATH_MAX names nothing it can thaw, and
 * the line after it is still read. */
static void test_oversized(void **state)
{
	size_t len = 20000;
	char *text = malloc(len + 512);
	int n;
	(void)state;
	assert_non_null(text);
	n = snprintf(text, 512, "%d 8:1 %s/", mount_ids[1], base);
	memset(text + n, 'x', len);
	snprintf(text + n + len, 512, "\n%d 8:0 %s\n", mount_ids[0], dirs[0]);
	write_file(record, text);
	free(text);
	assert_int_equal(leftover_thaw(record), 1);
	assert_int_equal(n_thawed, 1);
	assert_thawed(0, dirs[0]);
	assert_false(exists(record));
}

/* A mountpoint as long as a path may be, all spaces: escaped, its line is ~15 kB,
 * more than any fixed line buffer would take, and it is thawed all the same. */
static void test_long_mountpoint(void **state)
{
	struct fs_candidate v[1];
	struct fs_plan plan;
	char path[PATH_MAX];
	size_t n = (size_t)snprintf(path, sizeof(path), "%s", base);
	(void)state;
	while (n + 252 < sizeof(path) - 16) {
		path[n++] = '/';
		memset(path + n, ' ', 250);
		n += 250;
		path[n] = '\0';
		assert_int_equal(mkdir(path, 0700), 0);
	}
	v[0] = (struct fs_candidate){ .mountpoint = path, .mount_id = mount_ids[0], .major = 8 };
	plan = (struct fs_plan){ .v = v, .n = 1 };
	assert_int_equal(leftover_save(record, &plan), 0);
	assert_true(strlen(read_file(record)) > 3 * strlen(path));
	assert_int_equal(leftover_thaw(record), 1);
	assert_thawed(0, path);
	assert_false(exists(record));
}

/* ------------------------------------------------------------ the thaw */

/* Another mount at the same place now (the mount id differs): not ours to thaw. */
static void test_mount_changed(void **state)
{
	char text[1024];
	(void)state;
	snprintf(text, sizeof(text), "%d 8:0 %s\n%d 8:1 %s/%s\n", mount_ids[0] + 1, dirs[0],
		 mount_ids[1], base, escaped[1]);
	write_file(record, text);
	assert_int_equal(leftover_thaw(record), 1);
	assert_int_equal(n_thawed, 1);
	assert_thawed(0, dirs[1]);
	assert_false(exists(record));
}

/* EINVAL: not frozen (the guardian thawed it already); another error: thaw failed.
 * Neither counts, both are tried, and the record is removed either way. */
static void test_thaw_fails(void **state)
{
	struct fs_candidate v[NDIR];
	struct fs_plan plan = plan_of(v, 3);
	int errs[] = { EINVAL, EIO };
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		n_thawed = 0;
		thaw_errno = errs[k];
		assert_int_equal(leftover_save(record, &plan), 0);
		assert_int_equal(leftover_thaw(record), 0);
		assert_int_equal(n_thawed, 3);
		assert_false(exists(record));
	}
}

/* ------------------------------------------------------------ atomic replace */

/* A new record replaces the old one whole, through RECORD.new renamed into place; a
 * stale RECORD.new of a write that died is overwritten. */
static void test_replace(void **state)
{
	struct fs_candidate v[NDIR];
	struct fs_plan big = plan_of(v, NDIR), small = { .v = v + 1, .n = 1 };
	char tmp[192], want[512];
	struct stat before, after;
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s.new", record);
	assert_int_equal(leftover_save(record, &big), 0);
	assert_int_equal(stat(record, &before), 0);
	write_file(tmp, "stale half-written record");
	assert_int_equal(leftover_save(record, &small), 0);
	assert_int_equal(stat(record, &after), 0);
	assert_true(before.st_ino != after.st_ino);        /* a new file, not rewritten */
	assert_false(exists(tmp));
	snprintf(want, sizeof(want), "%d 8:1 %s/a\\040space\n", mount_ids[1], base);
	assert_string_equal(read_file(record), want);
}

/* If RECORD.new cannot be written, or not renamed over RECORD, the save fails with
 * errno, leaves no RECORD.new, and RECORD is what it was. */
static void test_replace_fails(void **state)
{
	struct fs_candidate v[NDIR];
	struct fs_plan plan = plan_of(v, 2);
	char tmp[192], inner[256], *old;
	(void)state;
	snprintf(tmp, sizeof(tmp), "%s.new", record);
	assert_int_equal(leftover_save(record, &plan), 0);
	old = strdup(read_file(record));
	assert_non_null(old);

	assert_int_equal(mkdir(tmp, 0700), 0);              /* RECORD.new is a directory */
	assert_int_equal(leftover_save(record, &(struct fs_plan){ 0 }), -1);
	assert_int_equal(errno, EISDIR);
	assert_string_equal(read_file(record), old);
	assert_int_equal(rmdir(tmp), 0);
	free(old);

	/* RECORD itself a non-empty directory: the rename fails, RECORD.new is removed. */
	assert_int_equal(unlink(record), 0);
	assert_int_equal(mkdir(record, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/x", record);
	write_file(inner, "");
	errno = 0;
	assert_int_equal(leftover_save(record, &plan), -1);
	assert_true(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST);
	assert_false(exists(tmp));
	assert_int_equal(unlink(inner), 0);
	assert_int_equal(rmdir(record), 0);
}

/* A path with no room for ".new" is refused before anything is written. */
static void test_name_too_long(void **state)
{
	struct fs_plan plan = { 0 };
	char path[4096];
	(void)state;
	memset(path, 'r', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	errno = 0;
	assert_int_equal(leftover_save(path, &plan), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* leftover_clear removes the record; none is fine. */
static void test_clear(void **state)
{
	struct fs_plan plan = { 0 };
	(void)state;
	assert_int_equal(leftover_save(record, &plan), 0);
	leftover_clear(record);
	assert_false(exists(record));
	leftover_clear(record);
	assert_false(exists(record));
}

/* ------------------------------------------------------------ allocations */

static bool oom_run(void *arg)
{
	struct fs_plan *plan = arg;
	int saved, n;
	bool failed;
	n_thawed = 0;
	saved = leftover_save(record, plan);
	n = leftover_thaw(record);
	failed = failalloc_stop();
	/* Nothing fails for it: leftover allocates nothing of its own (stdio's buffers
	 * are libc's, out of the wrappers' reach), so both must succeed every time. */
	assert_int_equal(saved, 0);
	assert_int_equal(n, NDIR);
	assert_int_equal(n_thawed, NDIR);
	assert_false(exists(record));
	return failed;
}

/* The Nth allocation failing, for every N: there is none to fail. */
static void test_out_of_memory(void **state)
{
	struct fs_candidate v[NDIR];
	struct fs_plan plan = plan_of(v, NDIR);
	(void)state;
	assert_int_equal(failalloc_each("leftover save and thaw", oom_run, &plan), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_format),
		T(test_round_trip),
		T(test_empty),
		T(test_missing),
		T(test_unreadable),
		T(test_read_fails),
		T(test_malformed),
		T(test_truncated),
		T(test_oversized),
		T(test_long_mountpoint),
		T(test_mount_changed),
		T(test_thaw_fails),
		T(test_replace),
		T(test_replace_fails),
		T(test_name_too_long),
		T(test_clear),
		T(test_out_of_memory),
	};
#undef T
	unit_guard("test_leftover", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
