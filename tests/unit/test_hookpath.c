// SPDX-License-Identifier: MIT
/* Unit tests for src/hooks/hookpath.c: a hook's real path, and the rules the file and
 * every directory on its path must meet. Builds a small tree under a fresh temp dir;
 * the ownership cases need root (chown) and are skipped otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "hooks/hookpath.h"

#define OTHER_UID 65534

static char top[PATH_MAX / 2];   /* the temp dir, as realpath() gives it */

static void path_of(char *buf, const char *rel)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", top, rel) >= PATH_MAX)
		fail_msg("path too long");
}

static void mk_dir(const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	path_of(p, rel);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void mk_hook(const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	int fd;
	path_of(p, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0700);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void mk_link(const char *target, const char *rel)
{
	char p[PATH_MAX];
	path_of(p, rel);
	assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/test_hookpath.XXXXXX", real[PATH_MAX];
	(void)state;
	if (!mkdtemp(tmpl) || !realpath(tmpl, real) || strlen(real) >= sizeof(top))
		return -1;
	strcpy(top, real);
	mk_dir("hooks.d", 0755);
	mk_dir("safe", 0755);
	mk_hook("safe/hook", 0755);
	mk_dir("open", 0777);
	mk_hook("open/hook", 0755);
	mk_dir("sticky", 01777);
	mk_hook("sticky/hook", 0755);
	mk_dir("group", 0775);
	mk_hook("group/hook", 0755);
	mk_hook("hooks.d/plain", 0755);
	mk_hook("hooks.d/gw", 0775);
	mk_link("../safe/hook", "hooks.d/to-safe");
	mk_link("../open/hook", "hooks.d/to-open");
	mk_link("../sticky/hook", "hooks.d/to-sticky");
	mk_link("../group/hook", "hooks.d/to-group");
	mk_link("../nowhere", "hooks.d/dangling");
	mk_link("../safe", "hooks.d/dirlink");
	/* Through another user's directory, or their symlink, to a root-owned program. */
	mk_dir("users", 0755);
	mk_link("../safe/hook", "users/link");
	mk_link("../users/link", "hooks.d/via-users-dir");
	mk_link("../safe/hook", "sticky/their-link");
	mk_link("../sticky/their-link", "hooks.d/via-their-link");
	/* Chains of root's symlinks, relative and absolute, with ".." and ".". */
	mk_link("./../hooks.d/to-safe", "hooks.d/chain");
	{
		char abs[PATH_MAX];
		path_of(abs, "safe/./hook");
		mk_link(abs, "hooks.d/absolute");
	}
	mk_link("loop-b", "hooks.d/loop-a");
	mk_link("loop-a", "hooks.d/loop-b");
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

static int check(const char *rel, char *real, char *why)
{
	char dir[PATH_MAX];
	path_of(dir, "hooks.d");
	real[0] = why[0] = '\0';
	return hookpath_check_hook(dir, rel, real, PATH_MAX, why, 256);
}

static void test_plain(void **state)
{
	char real[PATH_MAX], why[256], want[PATH_MAX];
	(void)state;
	assert_int_equal(check("plain", real, why), 0);
	path_of(want, "hooks.d/plain");
	assert_string_equal(real, want);
}

/* The symlink is resolved: the real path is what runs. */
static void test_symlink_real_path(void **state)
{
	char real[PATH_MAX], why[256], want[PATH_MAX];
	(void)state;
	assert_int_equal(check("to-safe", real, why), 0);
	path_of(want, "safe/hook");
	assert_string_equal(real, want);
}

static void test_file_group_writable(void **state)
{
	char real[PATH_MAX], why[256];
	(void)state;
	assert_int_equal(check("gw", real, why), -1);
	assert_string_equal(why, "writable by its group");
}

/* The target is safe, a directory on its way is not: anyone could swap the file. */
static void test_dir_world_writable(void **state)
{
	char real[PATH_MAX], why[256], want[PATH_MAX + 64];
	(void)state;
	assert_int_equal(check("to-open", real, why), -1);
	path_of(want, "open");
	strcat(want, " (on its path) is writable by everyone");
	assert_string_equal(why, want);
}

static void test_dir_group_writable(void **state)
{
	char real[PATH_MAX], why[256];
	(void)state;
	assert_int_equal(check("to-group", real, why), -1);
	assert_non_null(strstr(why, "/group (on its path) is writable by its group"));
}

/* Sticky and root's, like /tmp: others cannot rename or remove root's entries. */
static void test_dir_sticky(void **state)
{
	char real[PATH_MAX], why[256];
	(void)state;
	assert_int_equal(check("to-sticky", real, why), 0);
}

static void test_dangling(void **state)
{
	char real[PATH_MAX], why[256];
	(void)state;
	assert_int_equal(check("dangling", real, why), -1);
	assert_string_equal(why, "cannot resolve it: No such file or directory");
}

static void test_not_regular(void **state)
{
	char real[PATH_MAX], why[256];
	(void)state;
	assert_int_equal(check("dirlink", real, why), -1);
	assert_non_null(strstr(why, "is not a regular file"));
}

/* The directory the symlink lives in counts too: whoever can write there can point
 * the symlink elsewhere. */
static void test_hook_dir_path(void **state)
{
	char real[PATH_MAX], why[256], dir[PATH_MAX];
	(void)state;
	path_of(dir, "open");
	assert_int_equal(hookpath_check_hook(dir, "hook", real, sizeof(real), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "its directory: "));
	assert_non_null(strstr(why, "writable by everyone"));
}

/* Not the hook directory: every name added there would be a hook. */
static void test_hook_dir_sticky(void **state)
{
	char real[PATH_MAX], why[256], dir[PATH_MAX];
	(void)state;
	path_of(dir, "sticky");
	assert_int_equal(hookpath_check_hook(dir, "hook", real, sizeof(real), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "writable by everyone (sticky or not"));
}

static void test_owner(void **state)
{
	char real[PATH_MAX], why[256], p[PATH_MAX];
	(void)state;
	if (geteuid() != 0)
		skip();
	/* Another user's directory on the way, the file root's. */
	path_of(p, "safe");
	assert_int_equal(chown(p, OTHER_UID, 0), 0);
	assert_int_equal(check("to-safe", real, why), -1);
	assert_non_null(strstr(why, "/safe (on its path) is owned by uid 65534, not root"));
	assert_int_equal(chown(p, 0, 0), 0);
	/* Another user's file. */
	path_of(p, "safe/hook");
	assert_int_equal(chown(p, OTHER_UID, 0), 0);
	assert_int_equal(check("to-safe", real, why), -1);
	assert_string_equal(why, "owned by uid 65534, not root");
	assert_int_equal(chown(p, 0, 0), 0);
	/* A sticky directory of another user: they may rename whatever is in it. */
	path_of(p, "sticky");
	assert_int_equal(chown(p, OTHER_UID, 0), 0);
	assert_int_equal(check("to-sticky", real, why), -1);
	assert_non_null(strstr(why, "owned by uid 65534"));
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(check("to-safe", real, why), 0);
}

/* A directory passed only through a symlink counts as much as one on the real path,
 * and a symlink on the way must be root's: in either, another user could point the
 * way at any root-owned program. (realpath() alone saw only the real path.) */
static void test_through_symlinks(void **state)
{
	char real[PATH_MAX], why[256], p[PATH_MAX], want[PATH_MAX];
	(void)state;
	path_of(want, "safe/hook");
	assert_int_equal(check("via-users-dir", real, why), 0);
	assert_int_equal(check("via-their-link", real, why), 0);
	if (geteuid() != 0)
		skip();
	path_of(p, "users");
	assert_int_equal(chown(p, OTHER_UID, 0), 0);
	assert_int_equal(check("via-users-dir", real, why), -1);
	assert_non_null(strstr(why, "/users (on its path) is owned by uid 65534, not root"));
	assert_int_equal(chown(p, 0, 0), 0);
	path_of(p, "sticky/their-link");
	assert_int_equal(lchown(p, OTHER_UID, 0), 0);
	assert_int_equal(check("via-their-link", real, why), -1);
	assert_non_null(strstr(why, "/sticky/their-link (a symlink on its path) is owned by uid 65534"));
	assert_int_equal(lchown(p, 0, 0), 0);
	assert_int_equal(check("via-their-link", real, why), 0);
	assert_string_equal(real, want);
}

static void test_chains(void **state)
{
	char real[PATH_MAX], why[256], want[PATH_MAX];
	(void)state;
	path_of(want, "safe/hook");
	assert_int_equal(check("chain", real, why), 0);
	assert_string_equal(real, want);
	assert_int_equal(check("absolute", real, why), 0);
	assert_string_equal(real, want);
	assert_int_equal(check("loop-a", real, why), -1);
	assert_string_equal(why, "cannot resolve it: Too many levels of symbolic links");
}

/* A directory itself (the hook directory's check). */
static void test_want_dir(void **state)
{
	char real[PATH_MAX], why[256], p[PATH_MAX];
	(void)state;
	path_of(p, "hooks.d/dirlink");
	assert_int_equal(hookpath_check(p, true, real, sizeof(real), why, sizeof(why)), 0);
	path_of(p, "safe");
	assert_string_equal(real, p);
	path_of(p, "hooks.d/plain");
	assert_int_equal(hookpath_check(p, true, real, sizeof(real), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "is not a directory"));
}

static void test_too_long(void **state)
{
	char real[8], why[256], p[PATH_MAX];
	(void)state;
	path_of(p, "hooks.d/plain");
	assert_int_equal(hookpath_check(p, false, real, sizeof(real), why, sizeof(why)), -1);
	assert_string_equal(why, "its path is too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_symlink_real_path),
		cmocka_unit_test(test_file_group_writable),
		cmocka_unit_test(test_dir_world_writable),
		cmocka_unit_test(test_dir_group_writable),
		cmocka_unit_test(test_dir_sticky),
		cmocka_unit_test(test_dangling),
		cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_hook_dir_path),
		cmocka_unit_test(test_hook_dir_sticky),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_through_symlinks),
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_want_dir),
		cmocka_unit_test(test_too_long),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
