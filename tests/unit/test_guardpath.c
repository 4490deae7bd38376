// SPDX-License-Identifier: MIT
/* Unit tests for src/daemon/guardpath.c: which guardian quiesced runs by default. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/guardpath.h"

static char dir[64];

static void make_file(const char *name, mode_t mode)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/quiesce-guardpath-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char p[128];
	snprintf(p, sizeof(p), "%s/quiesce-guardian", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/quiesced", dir);
	unlink(p);
	return rmdir(dir);
}

static void check(const char *self, const char *installed, const char *want)
{
	char *got = guardpath_find(self, installed);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* The build tree: the guardian beside quiesced wins over the installed one. */
static void test_beside_wins(void **state)
{
	(void)state;
	char self[128], want[128];
	make_file("quiesce-guardian", 0755);
	snprintf(self, sizeof(self), "%s/quiesced", dir);
	snprintf(want, sizeof(want), "%s/quiesce-guardian", dir);
	check(self, "/usr/libexec/quiesce/quiesce-guardian", want);
}

/* An installed quiesced (/usr/sbin) has no guardian beside it: LIBEXECDIR's. */
static void test_installed_when_none_beside(void **state)
{
	(void)state;
	char self[128];
	snprintf(self, sizeof(self), "%s/quiesced", dir);
	check(self, "/usr/libexec/quiesce/quiesce-guardian", "/usr/libexec/quiesce/quiesce-guardian");
}

/* A file beside it that cannot be run is not a guardian. */
static void test_not_executable_beside(void **state)
{
	(void)state;
	char self[128];
	make_file("quiesce-guardian", 0644);
	snprintf(self, sizeof(self), "%s/quiesced", dir);
	check(self, "/opt/q/libexec/quiesce/quiesce-guardian", "/opt/q/libexec/quiesce/quiesce-guardian");
}

/* /proc/self/exe unreadable, or a name without a directory: the installed path. */
static void test_no_self(void **state)
{
	(void)state;
	check(NULL, "/x/quiesce-guardian", "/x/quiesce-guardian");
	check("quiesced", "/x/quiesce-guardian", "/x/quiesce-guardian");
}

/* The running test binary has no guardian beside it ($(BUILD)/tests/): the
 * compiled-in path, absolute, ending in quiesce/quiesce-guardian. */
static void test_default(void **state)
{
	(void)state;
	char *got = guardpath_default();
	assert_non_null(got);
	assert_true(got[0] == '/');
	size_t n = strlen(got);
	const char *tail = "/quiesce/quiesce-guardian";
	assert_true(n > strlen(tail) && strcmp(got + n - strlen(tail), tail) == 0);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_beside_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_installed_when_none_beside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_executable_beside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_self, setup, teardown),
		cmocka_unit_test(test_default),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
