// SPDX-License-Identifier: MIT
/* Unit tests for src/common/util.c: durations, paths, strings, clocks, sockets. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "unitguard.h"

/* ------------------------------------------------------------ parse_duration_ms */

static void check_duration(const char *s, uint64_t max_ms, uint64_t want)
{
	uint64_t out = 0xdeadbeef;
	if (parse_duration_ms(s, max_ms, &out) != 0)
		fail_msg("\"%s\" (max %llu) refused", s, (unsigned long long)max_ms);
	if (out != want)
		fail_msg("\"%s\" -> %llu, want %llu", s, (unsigned long long)out,
			 (unsigned long long)want);
}

static void check_duration_bad(const char *s, uint64_t max_ms)
{
	uint64_t out = 0;
	if (parse_duration_ms(s, max_ms, &out) != -1)
		fail_msg("\"%s\" (max %llu) accepted as %llu", s ? s : "(null)",
			 (unsigned long long)max_ms, (unsigned long long)out);
}

#define DAY_MS (24ull * 3600 * 1000)

static void test_duration_valid(void **state)
{
	(void)state;
	/* Plain numbers are seconds. */
	check_duration("60", DAY_MS, 60000);
	check_duration("1.5", DAY_MS, 1500);
	check_duration("0.25", DAY_MS, 250);
	check_duration("0", DAY_MS, 0);
	check_duration("0.0", DAY_MS, 0);
	check_duration("007", DAY_MS, 7000);
	/* Suffixes. */
	check_duration("2s", DAY_MS, 2000);
	check_duration("2.5s", DAY_MS, 2500);
	check_duration("250ms", DAY_MS, 250);
	check_duration("0ms", DAY_MS, 0);
	/* Fractions of a millisecond round to the nearest. */
	check_duration("1.5ms", DAY_MS, 2);
	check_duration("0.4ms", DAY_MS, 0);
	check_duration("0.0016", DAY_MS, 2);
	/* The bound is inclusive. */
	check_duration("86400", DAY_MS, DAY_MS);
	check_duration("86400000ms", DAY_MS, DAY_MS);
	check_duration("0", 0, 0);
	check_duration("10ms", 10, 10);
}

/* Printed as parse_duration_ms reads it back, exactly, with no trailing zeros. */
static void test_format_duration(void **state)
{
	static const uint64_t ms[] = { 0, 1, 10, 100, 250, 1000, 1500, 1234567, 60000, DAY_MS,
				       UINT64_MAX };
	char buf[32];
	(void)state;
	assert_string_equal(format_duration_ms(1234567, buf, sizeof(buf)), "1234.567");
	assert_string_equal(format_duration_ms(2500, buf, sizeof(buf)), "2.5");
	assert_string_equal(format_duration_ms(10, buf, sizeof(buf)), "0.01");
	assert_string_equal(format_duration_ms(60000, buf, sizeof(buf)), "60");
	assert_string_equal(format_duration_ms(UINT64_MAX, buf, sizeof(buf)),
			    "18446744073709551.615");
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]) - 1; i++)
		check_duration(format_duration_ms(ms[i], buf, sizeof(buf)), DAY_MS, ms[i]);
}

static void test_duration_invalid(void **state)
{
	(void)state;
	check_duration_bad(NULL, DAY_MS);
	check_duration_bad("", DAY_MS);
	/* Signs, also a negative zero and a sign after blanks. */
	check_duration_bad("-1", DAY_MS);
	check_duration_bad("+1", DAY_MS);
	check_duration_bad("-0", DAY_MS);
	check_duration_bad("-0.5s", DAY_MS);
	check_duration_bad(" -1", DAY_MS);
	/* Garbage and unknown units. */
	check_duration_bad("abc", DAY_MS);
	check_duration_bad("s", DAY_MS);
	check_duration_bad("ms", DAY_MS);
	check_duration_bad(".", DAY_MS);
	check_duration_bad("1x", DAY_MS);
	check_duration_bad("1 s", DAY_MS);
	check_duration_bad("1 ms", DAY_MS);
	check_duration_bad("1s ", DAY_MS);
	check_duration_bad("1sec", DAY_MS);
	check_duration_bad("1mss", DAY_MS);
	check_duration_bad("1S", DAY_MS);
	check_duration_bad("1MS", DAY_MS);
	check_duration_bad("1m", DAY_MS);
	check_duration_bad("1h", DAY_MS);
	check_duration_bad("1us", DAY_MS);
	check_duration_bad("1..5", DAY_MS);
	check_duration_bad("1,5", DAY_MS);
	/* Not finite, or out of double's range. */
	check_duration_bad("inf", DAY_MS);
	check_duration_bad("infinity", DAY_MS);
	check_duration_bad("nan", DAY_MS);
	check_duration_bad("infs", DAY_MS);
	check_duration_bad("1e400", DAY_MS);
	/* Above the bound. */
	check_duration_bad("86400.001", DAY_MS);
	check_duration_bad("86401", DAY_MS);
	check_duration_bad("86400001ms", DAY_MS);
	check_duration_bad("1ms", 0);
	check_duration_bad("11ms", 10);
	check_duration_bad("1e300", UINT64_MAX);
	/* Plain decimal only: no exponents, hex, blanks or infinities. */
	check_duration_bad("1e3ms", DAY_MS);
	check_duration_bad("0x10", DAY_MS);
	check_duration_bad(" 1", DAY_MS);
	check_duration_bad("1 ", DAY_MS);
	check_duration_bad("inf", UINT64_MAX);
}

/* The whole uint64_t range of max_ms: results of 2^63 ms and more are right, not
 * clipped to what a long long holds, and what does not fit is refused. */
static void test_duration_large(void **state)
{
	(void)state;
	check_duration("9223372036854775807ms", UINT64_MAX, 9223372036854775808ull); /* as a double */
	check_duration("9223372036854775808ms", UINT64_MAX, 9223372036854775808ull);
	check_duration("10000000000000000", UINT64_MAX, 10000000000000000000ull);
	check_duration("18000000000000000000ms", UINT64_MAX, 18000000000000000000ull);
	/* 2^64 itself: (double)UINT64_MAX rounds up to it, a uint64_t cannot hold it. */
	check_duration_bad("18446744073709551616ms", UINT64_MAX);
	check_duration_bad("100000000000000000000ms", UINT64_MAX);
	/* A max that a double cannot represent: 2^53 + 3 rounds up to 2^53 + 4, which
	 * is above the max and must still be refused. */
	check_duration("9007199254740994ms", 9007199254740995ull, 9007199254740994ull);
	check_duration_bad("9007199254740996ms", 9007199254740995ull);
}

/* ------------------------------------------------------------ round_u64 */

static void test_round_u64(void **state)
{
	(void)state;
	assert_int_equal(round_u64(0.0), 0);
	assert_int_equal(round_u64(0.4), 0);
	assert_int_equal(round_u64(0.5), 1);       /* halves away from zero, as round(3) */
	assert_int_equal(round_u64(1.5), 2);
	assert_int_equal(round_u64(2.5), 3);
	assert_int_equal(round_u64(2.4999), 2);
	/* The largest double below 0.5: adding 0.5 would round up to 1 in double. */
	assert_int_equal(round_u64(0.49999999999999994), 0);
	assert_int_equal(round_u64(4503599627370495.5), 4503599627370496ull); /* 2^52 - 0.5 */
	assert_int_equal(round_u64(0x1p53), 9007199254740992ull);
	assert_int_equal(round_u64(0x1p63), 9223372036854775808ull);
	/* The largest double below 2^64. */
	assert_int_equal(round_u64(0x1.fffffffffffffp63), 18446744073709549568ull);
}

/* ------------------------------------------------------------ unix_socket_answers */

/* A listening socket answers, of its type only; once closed (a stale file) it does not. */
static void check_answers(int type, int other)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/quiesce-test-util-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	assert_false(unix_socket_answers(&sa, type)); /* no file */
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_true(unix_socket_answers(&sa, type));
	assert_false(unix_socket_answers(&sa, other));
	close(fd);
	assert_false(unix_socket_answers(&sa, type));
	unlink(sa.sun_path);
}

static void test_unix_socket_answers(void **state)
{
	(void)state;
	check_answers(SOCK_STREAM, SOCK_SEQPACKET);
	check_answers(SOCK_SEQPACKET, SOCK_STREAM);
}

/* A listener whose backlog is full (it does not accept): a yes, at once; a blocking
 * connect waited for the accept (the hang guard ended the binary). */
static void check_full_backlog(int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type, 0), c[16];
	size_t n = 0;
	uint64_t t0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/quiesce-test-util-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 0), 0);
	for (; n < 16; n++) {
		c[n] = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
		assert_true(c[n] >= 0);
		if (connect(c[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
	}
	assert_true(n < 16); /* the backlog is full */
	t0 = now_ms();
	assert_true(unix_socket_answers(&sa, type));
	assert_true(now_ms() - t0 < 1000);
	for (size_t i = 0; i <= n; i++)
		close(c[i]);
	close(fd);
	unlink(sa.sun_path);
}

static void test_unix_socket_full_backlog(void **state)
{
	(void)state;
	check_full_backlog(SOCK_STREAM);
	check_full_backlog(SOCK_SEQPACKET);
}

/* ------------------------------------------------------------ path_is_under */

static void check_under(const char *path, const char *dir, bool want)
{
	if (path_is_under(path, dir) != want)
		fail_msg("path_is_under(\"%s\", \"%s\") is not %s", path, dir,
			 want ? "true" : "false");
}

static void test_path_is_under(void **state)
{
	(void)state;
	/* The directory itself and what is below it. */
	check_under("/a", "/a", true);
	check_under("/a/b", "/a", true);
	check_under("/a/b/c", "/a", true);
	check_under("/a/", "/a", true);
	/* A common prefix is not enough. */
	check_under("/ab", "/a", false);
	check_under("/a/bc", "/a/b", false);
	check_under("/a", "/ab", false);
	check_under("/a", "/a/b", false);
	check_under("/", "/a", false);
	check_under("", "/a", false);
	check_under("/A", "/a", false);
	/* Trailing slashes on the directory do not matter. */
	check_under("/a", "/a/", true);
	check_under("/a/b", "/a/", true);
	check_under("/a/b", "/a//", true);
	check_under("/ab", "/a/", false);
	check_under("/tmp/q/mnt/m0", "/tmp/q/mnt/", true);
	/* Everything absolute is under "/". */
	check_under("/", "/", true);
	check_under("/x/y", "/", true);
	check_under("/x", "//", true);
	check_under("x", "/", false);
	check_under("", "/", false);
	/* Only an absolute directory contains anything. */
	check_under("/x", "", false);
	check_under("/x", "x", false);
}

/* ------------------------------------------------------------ strings */

static void test_str_copy(void **state)
{
	char buf[16];
	(void)state;

	memset(buf, 'X', sizeof(buf));
	assert_int_equal(str_copy(buf, "hello", sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	assert_int_equal(buf[6], 'X'); /* nothing written past the terminator */

	/* Exactly fits: 5 bytes and the NUL. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(str_copy(buf, "hello", 6), 5);
	assert_string_equal(buf, "hello");

	/* Truncated: size-1 bytes, terminated, and the return says it did not fit. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(str_copy(buf, "hello", 5), 5);
	assert_string_equal(buf, "hell");
	assert_int_equal(buf[5], 'X');

	memset(buf, 'X', sizeof(buf));
	assert_int_equal(str_copy(buf, "hello", 1), 5);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(buf[1], 'X');

	/* Size 0 writes nothing at all. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(str_copy(buf, "hello", 0), 5);
	assert_int_equal(buf[0], 'X');

	memset(buf, 'X', sizeof(buf));
	assert_int_equal(str_copy(buf, "", sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void test_str_has_prefix(void **state)
{
	(void)state;
	assert_true(str_has_prefix("/dev/sda1", "/dev/"));
	assert_true(str_has_prefix("/dev/", "/dev/"));
	assert_true(str_has_prefix("anything", ""));
	assert_true(str_has_prefix("", ""));
	assert_false(str_has_prefix("/dev", "/dev/"));
	assert_false(str_has_prefix("/devx/sda", "/dev/"));
	assert_false(str_has_prefix("udev", "/dev/"));
	assert_false(str_has_prefix("", "/"));
}

/* ------------------------------------------------------------ clocks, fds */

static void test_clocks(void **state)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	uint64_t ns0, ms0, ns1, ms1;
	(void)state;

	ns0 = now_ns();
	ms0 = now_ms();
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	ns1 = now_ns();
	ms1 = now_ms();
	/* Monotonic, and a 20 ms sleep lasts at least 20 ms on it (a lower bound only). */
	assert_true(ns1 >= ns0 + 20u * 1000 * 1000);
	assert_true(ms1 >= ms0 + 19);
	assert_true(ms1 <= ns1 / 1000000u);
	assert_true(ns_to_ms(1500000) == 1.5);
	assert_true(ns_to_ms(0) == 0.0);
	/* The wall clock is in milliseconds since the epoch: after 2020-01-01. */
	assert_true(wall_ms() > 1577836800000ull);
}

static void test_fd_set_nonblock(void **state)
{
	int p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(fd_set_nonblock(p[0]), 0);
	assert_int_not_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	/* The access mode is kept. */
	assert_int_equal(fcntl(p[0], F_GETFL) & O_ACCMODE, O_RDONLY);
	/* Twice is fine. */
	assert_int_equal(fd_set_nonblock(p[0]), 0);
	/* The other end is untouched. */
	assert_int_equal(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
	close(p[0]);
	close(p[1]);

	errno = 0;
	assert_int_equal(fd_set_nonblock(-1), -1);
	assert_int_equal(errno, EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_unix_socket_answers),
		cmocka_unit_test_setup_teardown(test_unix_socket_full_backlog, unit_guard_on,
						unit_guard_off),
		cmocka_unit_test(test_duration_large),
		cmocka_unit_test(test_round_u64),
		cmocka_unit_test(test_path_is_under),
		cmocka_unit_test(test_str_copy),
		cmocka_unit_test(test_str_has_prefix),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_fd_set_nonblock),
	};

	unit_guard("test_util", 10);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
