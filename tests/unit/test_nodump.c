// SPDX-License-Identifier: MIT
/* Unit tests for src/common/nodump.c: while anything may be frozen quiesced dumps no
 * core (RLIMIT_CORE 0, not dumpable), and both come back as they were after; the
 * window is idempotent both ways; a child started in it (a hook, qemu-ga) gets the core
 * limit from before; a dumpable 0 from before stays 0; a failed getrlimit or setrlimit
 * (faked by --wrap, UNIT_WRAP_nodump) leaves nothing half done. Each case runs in a
 * child process, so the test binary's own limits and dumpable flag never change (and
 * nodump.c's saved state starts fresh in each). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/nodump.h"
#include "unitguard.h"

/* The --wrap seam: the next call of each fails with EPERM when set. */
static int fail_getrlimit, fail_setrlimit;

int __real_getrlimit(int res, struct rlimit *r);
int __wrap_getrlimit(int res, struct rlimit *r);
int __real_setrlimit(int res, const struct rlimit *r);
int __wrap_setrlimit(int res, const struct rlimit *r);

int __wrap_getrlimit(int res, struct rlimit *r)
{
	if (fail_getrlimit && res == RLIMIT_CORE) {
		fail_getrlimit = 0;
		errno = EPERM;
		return -1;
	}
	return __real_getrlimit(res, r);
}

int __wrap_setrlimit(int res, const struct rlimit *r)
{
	if (fail_setrlimit && res == RLIMIT_CORE) {
		fail_setrlimit = 0;
		errno = EPERM;
		return -1;
	}
	return __real_setrlimit(res, r);
}

/* In the child: a failed check prints where and ends it with 1. */
#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "# %s:%d: %s\n", __FILE__, __LINE__, #c); \
			_exit(1);                                                 \
		}                                                                 \
	} while (0)

static void in_child(void (*fn)(void))
{
	int st;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void set_core(rlim_t cur, rlim_t max)
{
	struct rlimit r = { cur, max };
	CHECK(setrlimit(RLIMIT_CORE, &r) == 0);
}

static void check_core(rlim_t cur, rlim_t max)
{
	struct rlimit r;
	CHECK(getrlimit(RLIMIT_CORE, &r) == 0);
	CHECK(r.rlim_cur == cur);
	CHECK(r.rlim_max == max);
}

static int dumpable(void)
{
	return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}

/* The limits every case starts from: a soft limit below a hard one that is not
 * unlimited, so that a restore of the wrong one shows. */
#define CUR ((rlim_t)1 << 20)
#define MAX ((rlim_t)1 << 21)

static void start(void)
{
	struct rlimit r = { CUR, MAX };

	/* A hard limit below MAX cannot be raised without privilege: skip. */
	if (setrlimit(RLIMIT_CORE, &r) < 0)
		_exit(77);
	CHECK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0);
}

static void on_off(void)
{
	start();
	nodump_set(true);
	check_core(0, MAX);
	CHECK(dumpable() == 0);
	nodump_set(false);
	check_core(CUR, MAX);
	CHECK(dumpable() == 1);
}

static void test_on_off(void **state)
{
	(void)state;
	in_child(on_off);
}

/* On twice must not save the 0 of the first; off twice or off first change nothing. */
static void idempotent(void)
{
	start();
	nodump_set(false);
	check_core(CUR, MAX);
	CHECK(dumpable() == 1);
	nodump_set(true);
	nodump_set(true);
	check_core(0, MAX);
	CHECK(dumpable() == 0);
	nodump_set(false);
	check_core(CUR, MAX);
	CHECK(dumpable() == 1);
	set_core(CUR / 2, MAX);
	nodump_set(false);
	check_core(CUR / 2, MAX);
	/* A second window saves the limits of its own start. */
	nodump_set(true);
	check_core(0, MAX);
	nodump_set(false);
	check_core(CUR / 2, MAX);
}

static void test_idempotent(void **state)
{
	(void)state;
	in_child(idempotent);
}

/* A child started in the window gets the limit from before; outside it, its own. */
static void grandchild(rlim_t cur)
{
	int st;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		nodump_child();
		check_core(cur, MAX);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void child_limit(void)
{
	start();
	grandchild(CUR);
	nodump_set(true);
	grandchild(CUR);
	check_core(0, MAX);
	nodump_set(false);
	set_core(CUR / 4, MAX);
	grandchild(CUR / 4);
}

static void test_child(void **state)
{
	(void)state;
	in_child(child_limit);
}

/* Not dumpable before: it stays so after (only 1 is toggled). */
static void not_dumpable(void)
{
	start();
	CHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0);
	nodump_set(true);
	CHECK(dumpable() == 0);
	nodump_set(false);
	CHECK(dumpable() == 0);
	check_core(CUR, MAX);
}

static void test_not_dumpable(void **state)
{
	(void)state;
	in_child(not_dumpable);
}

/* getrlimit failing: nothing changes and the window is not entered (the next on works,
 * an off before it restores nothing). */
static void getrlimit_fails(void)
{
	start();
	fail_getrlimit = 1;
	nodump_set(true);
	check_core(CUR, MAX);
	CHECK(dumpable() == 1);
	set_core(CUR / 2, MAX);
	nodump_set(false);
	check_core(CUR / 2, MAX);
	nodump_set(true);
	check_core(0, MAX);
	CHECK(dumpable() == 0);
	nodump_set(false);
	check_core(CUR / 2, MAX);
	CHECK(dumpable() == 1);
}

static void test_getrlimit_fails(void **state)
{
	(void)state;
	in_child(getrlimit_fails);
}

/* setrlimit failing on the way in: not dumpable still, and the off restores both. */
static void setrlimit_fails(void)
{
	start();
	fail_setrlimit = 1;
	nodump_set(true);
	check_core(CUR, MAX);
	CHECK(dumpable() == 0);
	nodump_set(false);
	check_core(CUR, MAX);
	CHECK(dumpable() == 1);
	/* ... and on the way out: dumpable again all the same. */
	nodump_set(true);
	fail_setrlimit = 1;
	nodump_set(false);
	check_core(0, MAX);
	CHECK(dumpable() == 1);
}

static void test_setrlimit_fails(void **state)
{
	(void)state;
	in_child(setrlimit_fails);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, unit_guard_on, unit_guard_off)
	const struct CMUnitTest tests[] = {
		T(test_on_off),
		T(test_idempotent),
		T(test_child),
		T(test_not_dumpable),
		T(test_getrlimit_fails),
		T(test_setrlimit_fails),
	};
#undef T
	unit_guard("test_nodump", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
