// SPDX-License-Identifier: MIT
/* Unit tests for src/daemon/config.c: quiesced's settings from the command line and the
 * config file (inih), as quiesced.conf(5) and quiesced(8) describe them. Every kind of
 * value with good and bad input and its error message; the file < command line
 * precedence (a list on the command line replaces the file's); the defaults and the ones
 * derived from other settings; unknown keys and sections; inih's comments, continuation
 * lines and the longest line; --print-config reading back as the same settings; and
 * allocation failures (out of memory is fatal in config.c: exit 1 with a message, so each
 * run is a child process). The fuzz target (tests/fuzz/fuzz_config.c) checks the file
 * parser on garbage; this checks what it does with meaningful input. Config files are
 * written in a fresh temp dir; stdout and stderr are captured in memory. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ini.h>

#include "daemon/config.h"
#include "failalloc.h"
#include "unitguard.h"

#define MAX_LINE (INI_MAX_LINE - 2)     /* quiesced.conf(5): "at most 198 bytes" */

static char top[PATH_MAX];             /* the temp dir, as realpath() gives it */
static char conf[PATH_MAX + 16];       /* top/q.conf */
static char *out_text, *err_text;      /* what the last init() printed */

/* ------------------------------------------------------------ helpers */

static int init_argv(struct config *c, int argc, char **argv)
{
	FILE *saved_out = stdout, *saved_err = stderr;
	size_t on, en;
	int r;

	free(out_text);
	free(err_text);
	out_text = err_text = NULL;
	stdout = open_memstream(&out_text, &on);
	stderr = open_memstream(&err_text, &en);
	r = config_init(c, argc, argv);
	fclose(stdout);
	fclose(stderr);
	stdout = saved_out;
	stderr = saved_err;
	return r;
}

/* config_init with "quiesced" and the arguments up to NULL. */
static int init(struct config *c, ...)
{
	char *argv[64] = { "quiesced" };
	int argc = 1;
	va_list ap;

	va_start(ap, c);
	while (argc < 63 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	return init_argv(c, argc, argv);
}
#define INIT(c, ...) init(c, __VA_ARGS__, (char *)NULL)

static void write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The config file text, then the extra arguments. */
#define LOAD(c, text, ...) (write_conf(text), INIT(c, "--config", conf, ##__VA_ARGS__))

static void expect_err(const char *needle)
{
	if (!err_text || !strstr(err_text, needle))
		fail_msg("stderr lacks \"%s\"; it says: %s", needle, err_text ? err_text : "(null)");
}

/* The config as --print-config shows it (the caller frees). */
static char *printed(const struct config *c)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	config_print(c, f);
	fclose(f);
	return text;
}

static void cwd_path(char *buf, const char *rel)
{
	char cwd[PATH_MAX / 2];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(buf, PATH_MAX, "%s/%s", cwd, rel);
}

/* ------------------------------------------------------------ defaults */

static const char default_print[] =
	"[daemon]\ndebug = false\n# log-ident =\n# scope =\nrun-dir = /run/quiesce\n"
	"# control =\n# qga =\n# qga-backend =\nno-qga-backend = false\n"
	"qga-backend-timeout = 30\nlease = 60\ntimeout = 15\nfs-timeout = 15\n# guardian =\n"
	"\n[filesystems]\n# include =\n# exclude =\n# include-type =\n# exclude-type =\n"
	"\n[hyperv]\n# hyperv =\nno-hyperv = false\n"
	"\n[apps]\n# app-socket =\napp-socket-mode = 0600\n# app-socket-group =\n"
	"max-apps = 1024\napp-connect-rate = 100\n"
	"\n[hooks]\nhook-dir = " DEFAULT_HOOK_DIR "\nhook-timeout = 15\n";

static void test_defaults(void **state)
{
	struct config c;
	char *p;
	(void)state;
	assert_int_equal(INIT(&c, "--config", "/dev/null"), 0);
	assert_string_equal(err_text, "");
	assert_false(c.foreground || c.debug || c.no_guardian || c.no_hyperv || c.no_qga_backend);
	assert_int_equal(c.lease_ms, 60000);
	assert_int_equal(c.timeout_ms, 15000);
	assert_int_equal(c.fs_timeout_ms, 15000);
	assert_int_equal(c.hook_timeout_ms, 15000);
	assert_int_equal(c.qga_backend_timeout_ms, 30000);
	assert_string_equal(c.run_dir, DEFAULT_RUN_DIR);
	assert_string_equal(c.hook_dir, DEFAULT_HOOK_DIR);
	assert_int_equal(c.app_socket_mode, 0600);
	assert_int_equal(c.max_apps, 1024);
	assert_int_equal(c.app_connect_rate, 100);
	assert_null(c.scope);
	assert_null(c.control_path);
	assert_null(c.app_socket);
	assert_null(c.qga_path);
	assert_int_equal(c.include.n + c.exclude.n + c.include_types.n + c.exclude_types.n, 0);
	p = printed(&c);
	assert_string_equal(p, default_print);
	free(p);
	config_free(&c);
}

/* fs-timeout and hook-timeout follow --timeout unless set, wherever it was set. */
static void test_derived_timeouts(void **state)
{
	struct config c;
	(void)state;
	assert_int_equal(INIT(&c, "--config", "/dev/null", "--timeout", "5"), 0);
	assert_int_equal(c.fs_timeout_ms, 5000);
	assert_int_equal(c.hook_timeout_ms, 5000);
	config_free(&c);
	assert_int_equal(LOAD(&c, "[daemon]\ntimeout = 4\n", "--fs-timeout", "2"), 0);
	assert_int_equal(c.timeout_ms, 4000);
	assert_int_equal(c.fs_timeout_ms, 2000);
	assert_int_equal(c.hook_timeout_ms, 4000);
	config_free(&c);
	assert_int_equal(LOAD(&c, "[hooks]\nhook-timeout = 1\n", "--timeout", "9"), 0);
	assert_int_equal(c.fs_timeout_ms, 9000);
	assert_int_equal(c.hook_timeout_ms, 1000);
	config_free(&c);
}

/* 0600, or 0660 with a group; a mode given wins either way. */
static void test_derived_mode(void **state)
{
	struct config c;
	(void)state;
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--app-socket-group", "quiesce"), 0);
	assert_int_equal(c.app_socket_mode, 0660);
	assert_string_equal(c.app_socket_group, "quiesce");
	config_free(&c);
	assert_int_equal(LOAD(&c, "[apps]\napp-socket-group = nosuchgroup-xyz\n"
			      "app-socket-mode = 0640\n"), 0);
	/* Not looked up here: the app registry resolves the group when it makes the socket. */
	assert_string_equal(c.app_socket_group, "nosuchgroup-xyz");
	assert_int_equal(c.app_socket_mode, 0640);
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--app-socket-mode", "0"), 0);
	assert_int_equal(c.app_socket_mode, 0);
	config_free(&c);
}

static void test_run_path(void **state)
{
	struct config c;
	char *p;
	(void)state;
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--run-dir", "/r/q"), 0);
	p = config_run_path(&c, NULL, "control.sock");
	assert_string_equal(p, "/r/q/control.sock");
	free(p);
	p = config_run_path(&c, "/elsewhere/c.sock", "control.sock");
	assert_string_equal(p, "/elsewhere/c.sock");
	free(p);
	config_free(&c);
}

/* ------------------------------------------------------------ durations */

static const struct {
	const char *s;
	uint64_t ms;
} good_durations[] = {
	{ "15", 15000 },  { "2.5", 2500 },  { "2.5s", 2500 },   { "500ms", 500 },
	{ ".5", 500 },    { "007", 7000 },  { "0.001", 1 },     { "0.0005", 1 },
	{ "1.5ms", 2 },   { "1.0004", 1000 }, { "86400", 86400000 }, { "86400s", 86400000 },
	{ "86400000ms", 86400000 },
};

static const char *const bad_durations[] = {
	"0", "0ms", "0.0", "0.0004", "0.4ms", "-1", "+1", "1e3", "0x10", "inf", "nan", "1m",
	"1h", "1min", "ms", "s", ".", "", "1.5.2", "1sms", "1mss", "1 s", "86400.001",
	"86401", "86400001ms", "99999999999999999999999", "18446744073709551616ms",
};

static void test_durations_good(void **state)
{
	struct config c;
	char line[128];
	(void)state;
	for (size_t i = 0; i < sizeof(good_durations) / sizeof(good_durations[0]); i++) {
		const char *s = good_durations[i].s;
		assert_int_equal(INIT(&c, "-c", "/dev/null", "--lease", s, "--hook-timeout", s), 0);
		assert_int_equal(c.lease_ms, good_durations[i].ms);
		assert_int_equal(c.hook_timeout_ms, good_durations[i].ms);
		config_free(&c);
		snprintf(line, sizeof(line), "[daemon]\nqga-backend-timeout = %s\nfs-timeout=%s\n", s, s);
		assert_int_equal(LOAD(&c, line), 0);
		assert_int_equal(c.qga_backend_timeout_ms, good_durations[i].ms);
		assert_int_equal(c.fs_timeout_ms, good_durations[i].ms);
		config_free(&c);
	}
}

static void test_durations_bad(void **state)
{
	struct config c;
	char want[128], line[128];
	(void)state;
	for (size_t i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++) {
		const char *s = bad_durations[i];
		assert_int_equal(INIT(&c, "-c", "/dev/null", "--timeout", s), -1);
		snprintf(want, sizeof(want), "--timeout: timeout: expected seconds (e.g. 15, 2.5 or 500ms; "
			 "more than 0, at most a day), got '%s'\n", s);
		expect_err(want);
		config_free(&c);
		snprintf(line, sizeof(line), "[hooks]\nhook-timeout = %s\n", s);
		assert_int_equal(LOAD(&c, line), -1);
		snprintf(want, sizeof(want), "q.conf: [hooks]: hook-timeout: expected seconds");
		expect_err(want);
		config_free(&c);
	}
	/* On the command line blanks are part of the value; the file strips them. */
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--lease", " 5"), -1);
	config_free(&c);
	assert_int_equal(LOAD(&c, "[daemon]\nlease =   5   \n"), 0);
	assert_int_equal(c.lease_ms, 5000);
	config_free(&c);
}

/* ------------------------------------------------------------ flags, numbers, modes */

static void test_flags(void **state)
{
	static const char *const yes[] = { "true", "TRUE", "Yes", "on", "1" };
	static const char *const no[] = { "false", "No", "OFF", "0" };
	static const char *const bad[] = { "maybe", "2", "y", "t", "truee", "", "1 x" };
	struct config c;
	char text[128];
	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\ndebug = %s\n[hyperv]\nno-hyperv=%s\n", yes[i], yes[i]);
		assert_int_equal(LOAD(&c, text), 0);
		assert_true(c.debug && c.no_hyperv);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\ndebug = true\ndebug = %s\n", no[i]);
		assert_int_equal(LOAD(&c, text), 0);
		assert_false(c.debug);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[daemon]\nno-qga-backend = %s\n", bad[i]);
		assert_int_equal(LOAD(&c, text), -1);
		snprintf(text, sizeof(text), "no-qga-backend: expected true or false, got '%s'", bad[i]);
		expect_err(text);
		config_free(&c);
	}
}

static void test_flags_command_line(void **state)
{
	struct config c;
	(void)state;
	assert_int_equal(INIT(&c, "-c", "/dev/null", "-n", "-d", "--no-guardian", "--no-hyperv",
			      "--no-qga-backend"), 0);
	assert_true(c.foreground && c.debug && c.no_guardian && c.no_hyperv && c.no_qga_backend);
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--no-daemon", "-dn"), 0);
	assert_true(c.foreground && c.debug);
	config_free(&c);
	/* A flag takes no value on the command line. */
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--debug=false"), -1);
	expect_err("Try 'quiesced --help'.");
	config_free(&c);
}

static void test_uint(void **state)
{
	static const char *const bad[] = { "1000001", "-1", "-0", "1x", "x", "0x10", " ", "",
					   "1.5", "18446744073709551616", "99999999999999999999999" };
	struct config c;
	char want[128];
	(void)state;
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--max-apps", "65536", "--app-connect-rate",
			      "0"), 0);
	assert_int_equal(c.max_apps, 65536);
	assert_int_equal(c.app_connect_rate, 0);
	config_free(&c);
	assert_int_equal(LOAD(&c, "[apps]\nmax-apps = 0001\napp-connect-rate = 1000000\n"), 0);
	assert_int_equal(c.max_apps, 1);
	assert_int_equal(c.app_connect_rate, 1000000);
	config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(INIT(&c, "-c", "/dev/null", "--app-connect-rate", bad[i]), -1);
		snprintf(want, sizeof(want), "--app-connect-rate: app-connect-rate: expected a number (at most "
			 "1000000), got '%s'\n", bad[i]);
		expect_err(want);
		config_free(&c);
	}
	/* In the number's range but not max-apps's (1 to 65536). */
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--max-apps", "0"), -1);
	expect_err("max-apps: must be 1 to 65536");
	config_free(&c);
	assert_int_equal(LOAD(&c, "[apps]\nmax-apps = 65537\n"), -1);
	expect_err("max-apps: must be 1 to 65536");
	config_free(&c);
}

static void test_mode(void **state)
{
	static const struct { const char *s; unsigned mode; } good[] = {
		{ "0660", 0660 }, { "660", 0660 }, { "0", 0 }, { "0777", 0777 }, { "00600", 0600 },
	};
	static const char *const bad[] = { "0778", "8", "1000", "01000", "-0", "rw", "0x1ff",
					   "0o660", "u+rw", "" };
	struct config c;
	char want[128];
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(INIT(&c, "-c", "/dev/null", "--app-socket-mode", good[i].s), 0);
		assert_int_equal(c.app_socket_mode, good[i].mode);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "[apps]\napp-socket-mode = %s\n", bad[i]);
		assert_int_equal(LOAD(&c, want), -1);
		snprintf(want, sizeof(want), "app-socket-mode: expected an octal file mode "
			 "(e.g. 0660), got '%s'\n", bad[i]);
		expect_err(want);
		config_free(&c);
	}
}

/* ------------------------------------------------------------ strings and paths */

static void test_empty_values(void **state)
{
	static const char *const texts[] = {
		"[daemon]\nlog-ident =\n", "[daemon]\nrun-dir = \n", "[filesystems]\nexclude =\n",
		"[apps]\napp-socket-group=\n", "[hooks]\nhook-dir =\n",
	};
	struct config c;
	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(LOAD(&c, texts[i]), -1);
		expect_err(": empty value\n");
		config_free(&c);
	}
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--log-ident="), -1);
	expect_err("quiesced: --log-ident: log-ident: empty value\n");
	config_free(&c);
	assert_int_equal(INIT(&c, "--include", "", "-c", "/dev/null"), -1);
	expect_err("quiesced: --include: include: empty value\n");
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", ""), -1);
	expect_err("quiesced: --config: config: empty value\n");
	config_free(&c);
}

/* Relative paths become absolute (the daemon later changes to /), device paths too
 * (--hyperv's is opened, and reopened, after that); the config file stays as given,
 * and so does an abstract socket ("@NAME"). */
static void test_relative_paths(void **state)
{
	struct config c;
	char want[PATH_MAX];
	(void)state;
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--run-dir", "run", "--control", "c.sock",
			      "--guardian", "g", "--app-socket", "a/b.sock", "--hook-dir", "h.d",
			      "--qga-backend", "qemu-ga", "--qga", "qga.sock", "--hyperv", "hv"), 0);
	cwd_path(want, "run");
	assert_string_equal(c.run_dir, want);
	cwd_path(want, "c.sock");
	assert_string_equal(c.control_path, want);
	cwd_path(want, "g");
	assert_string_equal(c.guardian, want);
	cwd_path(want, "a/b.sock");
	assert_string_equal(c.app_socket, want);
	cwd_path(want, "h.d");
	assert_string_equal(c.hook_dir, want);
	cwd_path(want, "qemu-ga");
	assert_string_equal(c.qga_backend, want);
	cwd_path(want, "qga.sock");
	assert_string_equal(c.qga_path, want);
	cwd_path(want, "hv");
	assert_string_equal(c.hyperv_path, want);
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--hyperv", "@hv_vss"), 0);
	assert_string_equal(c.hyperv_path, "@hv_vss");
	config_free(&c);
}

static void test_scope(void **state)
{
	struct config c;
	char dotted[PATH_MAX + 64];
	(void)state;
	snprintf(dotted, sizeof(dotted), "%s/./", top);
	assert_int_equal(LOAD(&c, "", "--scope", dotted), 0);
	assert_string_equal(c.scope, top);
	config_free(&c);
	snprintf(dotted, sizeof(dotted), "[daemon]\nscope = %s/missing\n", top);
	assert_int_equal(LOAD(&c, dotted), -1);
	expect_err("/missing: No such file or directory");
	config_free(&c);
}

/* A line longer than inih's buffer is an error, not split into two settings; a value of
 * any length on the command line is taken. */
static void test_line_too_long(void **state)
{
	struct config c;
	char text[512], want[128];
	int n;
	(void)state;
	n = snprintf(text, sizeof(text), "[daemon]\nlog-ident = ");
	memset(text + n, 'x', MAX_LINE - 12);
	strcpy(text + n + MAX_LINE - 12, "\n");
	assert_int_equal(LOAD(&c, text), 0);
	assert_int_equal(strlen(c.log_ident), MAX_LINE - 12);
	config_free(&c);
	strcpy(text + n + MAX_LINE - 12, "x\n");
	assert_int_equal(LOAD(&c, text), -1);
	snprintf(want, sizeof(want), "q.conf:2: line too long (at most %d bytes)\n", MAX_LINE);
	expect_err(want);
	assert_null(c.log_ident);
	config_free(&c);
	/* A comment too: "exclude = /" hidden at its end must not be read. */
	memset(text, '#', 300);
	strcpy(text + 300 - 12, "exclude = /\n");
	assert_int_equal(LOAD(&c, text), -1);
	expect_err("q.conf:1: line too long");
	assert_int_equal(c.exclude.n, 0);
	config_free(&c);
}

/* ------------------------------------------------------------ the file */

static void test_precedence(void **state)
{
	struct config c;
	(void)state;
	write_conf("[daemon]\ntimeout = 5\nlease = 40\ndebug = true\nlog-ident = file\n"
		   "[filesystems]\nexclude = /a\nexclude = /b\ninclude-type = ext4\n");
	assert_int_equal(INIT(&c, "--config", conf), 0);
	assert_int_equal(c.timeout_ms, 5000);
	assert_true(c.debug);
	assert_int_equal(c.exclude.n, 2);
	assert_string_equal(c.exclude.v[1], "/b");
	config_free(&c);
	/* The command line wins, wherever it is (before -c too), and replaces a list. */
	assert_int_equal(INIT(&c, "--timeout", "7", "--log-ident", "cli", "--config", conf,
			      "--exclude", "/c", "--exclude", "/d"), 0);
	assert_int_equal(c.timeout_ms, 7000);
	assert_int_equal(c.fs_timeout_ms, 7000);
	assert_int_equal(c.lease_ms, 40000);
	assert_string_equal(c.log_ident, "cli");
	assert_int_equal(c.exclude.n, 2);
	assert_string_equal(c.exclude.v[0], "/c");
	assert_string_equal(c.exclude.v[1], "/d");
	assert_int_equal(c.include_types.n, 1);
	assert_string_equal(c.include_types.v[0], "ext4");
	config_free(&c);
	/* The last -c wins. */
	assert_int_equal(INIT(&c, "-c", conf, "-c", "/dev/null"), 0);
	assert_int_equal(c.timeout_ms, 15000);
	assert_string_equal(c.config_file, "/dev/null");
	config_free(&c);
}

static void test_unknown(void **state)
{
	static const struct { const char *text, *err; } cases[] = {
		{ "[daemon]\nbogus = 1\n", "q.conf: [daemon]: unknown setting 'bogus'\n" },
		{ "[bogus]\ndebug = true\n", "q.conf: [bogus]: unknown setting 'debug'\n" },
		{ "[apps]\ndebug = true\n", "q.conf: [apps]: unknown setting 'debug'\n" },
		{ "debug = true\n", "q.conf: []: unknown setting 'debug'\n" },
		{ "[Daemon]\ndebug = true\n", "[Daemon]: unknown setting 'debug'\n" },
		{ "[daemon]\nDebug = true\n", "[daemon]: unknown setting 'Debug'\n" },
		/* Command line only. */
		{ "[daemon]\nno-guardian = true\n", "unknown setting 'no-guardian'" },
		{ "[daemon]\nforeground = true\n", "unknown setting 'foreground'" },
		{ "[daemon]\nconfig = /x\n", "unknown setting 'config'" },
		{ "[daemon]\nprint-config = 1\n", "unknown setting 'print-config'" },
		{ "[daemon]\njunk\n", "q.conf:2: syntax error\n" },
		{ "[daemon\ndebug = true\n", "q.conf:1: syntax error\n" },
	};
	struct config c;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(LOAD(&c, cases[i].text), -1);
		expect_err(cases[i].err);
		config_free(&c);
	}
	/* A section with no key in it is never seen: no error. */
	assert_int_equal(LOAD(&c, "[bogus]\n[daemon]\n"), 0);
	config_free(&c);
	/* Every error is reported, not only the first. */
	assert_int_equal(LOAD(&c, "[daemon]\nbogus = 1\ntimeout = x\nlease = 9\n"), -1);
	expect_err("unknown setting 'bogus'");
	expect_err("timeout: expected seconds");
	config_free(&c);
	assert_int_equal(INIT(&c, "--config", "/nonexistent/q.conf"), -1);
	expect_err("cannot read config file /nonexistent/q.conf: No such file or directory\n");
	config_free(&c);
}

/* quiesced.conf(5): comments, the ';' after a blank, continuation lines. */
static void test_syntax(void **state)
{
	struct config c;
	(void)state;
	assert_int_equal(LOAD(&c, "# c\n; c\n\n[daemon]\n  # indented\ntimeout = 5 ;c\n"
			      "[filesystems]\nexclude = /a\n  /b\n[daemon]\nlease = 9\n  8\n"), 0);
	assert_int_equal(c.timeout_ms, 5000);
	assert_int_equal(c.lease_ms, 8000);
	assert_int_equal(c.exclude.n, 2);
	assert_string_equal(c.exclude.v[1], "/b");
	config_free(&c);
	assert_int_equal(LOAD(&c, "[daemon]\ntimeout = 5;c\n"), -1);
	expect_err("got '5;c'");
	config_free(&c);
	assert_int_equal(LOAD(&c, "[daemon]\ntimeout = 5 # c\n"), -1);
	expect_err("got '5 # c'");
	config_free(&c);
	/* A value may start with ';' when it follows '=' with no blank. */
	assert_int_equal(LOAD(&c, "[filesystems]\nexclude=;odd\n"), 0);
	assert_string_equal(c.exclude.v[0], ";odd");
	config_free(&c);
}

static void test_load_string(void **state)
{
	struct config c;
	FILE *saved = stderr;
	char *err = NULL;
	size_t len;
	(void)state;
	assert_int_equal(INIT(&c, "-c", "/dev/null"), 0);
	assert_int_equal(config_load_string(&c, "[daemon]\nlease = 1\n[filesystems]\ninclude=/x"), 0);
	assert_int_equal(c.lease_ms, 1000);
	assert_string_equal(c.include.v[0], "/x");
	stderr = open_memstream(&err, &len);
	assert_int_equal(config_load_string(&c, "[daemon]\nlease = 0\n"), -1);
	fclose(stderr);
	stderr = saved;
	assert_non_null(strstr(err, "(string): [daemon]: lease: expected seconds"));
	free(err);
	config_free(&c);
}

/* ------------------------------------------------------------ actions */

static void test_actions(void **state)
{
	struct config c;
	(void)state;
	assert_int_equal(INIT(&c, "--help"), 1);
	assert_non_null(strstr(out_text, "Usage: quiesced [OPTION]..."));
	assert_non_null(strstr(out_text, "    --fs-timeout SECONDS"));
	assert_null(strstr(out_text, "    --no-daemon"));      /* an alias: no line */
	config_free(&c);
	assert_int_equal(INIT(&c, "-V"), 1);
	assert_int_equal(strncmp(out_text, "quiesced ", 9), 0);
	config_free(&c);
	assert_int_equal(INIT(&c, "--bogus"), -1);
	expect_err("Try 'quiesced --help'.\n");
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", "/dev/null", "stray"), -1);
	expect_err("quiesced: unexpected argument 'stray'\n");
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--timeout"), -1);
	config_free(&c);
	/* --print-config does not print a config with an error. */
	assert_int_equal(LOAD(&c, "[daemon]\nbogus = 1\n", "--print-config"), -1);
	assert_string_equal(out_text, "");
	config_free(&c);
}

/* Every setting a file can hold, none at its default. */
#define EVERY_SETTING "-d", "--log-ident", "Hyper-V VSS", "--scope", top, "--run-dir", "/r",    \
	"--control", "/r/c.sock", "--qga", "/dev/vport0p1", "--qga-backend", "/usr/bin/qga",     \
	"--no-qga-backend", "--qga-backend-timeout", "2.5", "--lease", "90", "--timeout", "0.25", \
	"--fs-timeout", "1500ms", "--guardian", "/g", "--include", "/srv/*", "--include",        \
	"/data x", "--exclude", ";odd", "--include-type", "ext4", "--exclude-type", "btrfs",      \
	"--hyperv", "/dev/hv", "--no-hyperv", "--app-socket", "/a.sock", "--app-socket-mode",   \
	"0640", "--app-socket-group", "quiesce", "--max-apps", "7", "--app-connect-rate", "0",   \
	"--hook-dir", "/h", "--hook-timeout", "0.001"

/* What --print-config prints reads back as the same settings (and prints the same). */
static void test_print_round_trip(void **state)
{
	struct config a, b;
	char *first;
	(void)state;
	assert_int_equal(INIT(&a, "-c", "/dev/null", "--print-config", EVERY_SETTING), 1);
	first = strdup(out_text);
	assert_non_null(strstr(first, "include = /srv/*\ninclude = /data x\nexclude=;odd\n"));
	assert_non_null(strstr(first, "fs-timeout = 1.5\n"));
	assert_non_null(strstr(first, "hook-timeout = 0.001\n"));
	write_conf(first);
	assert_int_equal(INIT(&b, "-c", conf, "--print-config"), 1);
	assert_string_equal(out_text, first);
	assert_int_equal(b.timeout_ms, 250);
	assert_int_equal(b.fs_timeout_ms, 1500);
	assert_int_equal(b.hook_timeout_ms, 1);
	assert_int_equal(b.app_socket_mode, 0640);
	assert_string_equal(b.scope, top);
	assert_string_equal(b.log_ident, "Hyper-V VSS");
	assert_int_equal(b.include.n, 2);
	config_free(&a);
	config_free(&b);
	/* The defaults too. */
	write_conf(default_print);
	assert_int_equal(INIT(&b, "-c", conf, "--print-config"), 1);
	assert_string_equal(out_text, default_print);
	config_free(&b);
	free(first);
}

/* A value --print-config could not write as it is read back is refused, naming the
 * option: a line break would start another setting ("include = /srv" and "exclude = /"
 * from one --include), inih strips blanks at either end, and " ;" starts a comment. */
static void test_value_unwritable(void **state)
{
	static const char *const bad[][2] = {
		{ "--include", "/srv\nexclude=/" }, { "--exclude", "/a\r\nexclude=/" },
		{ "--control", "/c\rx" }, { "--log-ident", " quiesced" },
		{ "--log-ident", "quiesced\t" }, { "--hook-dir", "/h ;x" },
		{ "--app-socket-group", "a\n" },
	};
	struct config c;
	char want[128];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(INIT(&c, "-c", "/dev/null", "--print-config", bad[i][0], bad[i][1]),
				 -1);
		snprintf(want, sizeof(want), "quiesced: %s: %s: a line break", bad[i][0],
			 bad[i][0] + 2);
		expect_err(want);
		assert_string_equal(out_text, "");
		config_free(&c);
	}
	/* In the file, a CR within a value (its line's end is stripped: CRLF files load). */
	assert_int_equal(LOAD(&c, "[daemon]\r\nlog-ident = a\rb\r\n"), -1);
	expect_err(": [daemon]: log-ident: a line break");
	config_free(&c);
	assert_int_equal(LOAD(&c, "[daemon]\r\nlog-ident = a;b c\r\n"), 0);
	assert_string_equal(c.log_ident, "a;b c");
	config_free(&c);
}

/* A value too long for a line of the file: printed as "name=value" where that fits;
 * where nothing fits, reading it back is an error, never a different setting. */
static void test_print_long_values(void **state)
{
	struct config c;
	char path[400], want[400];
	(void)state;
	path[0] = '/';
	memset(path + 1, 'p', sizeof(path) - 1);
	path[MAX_LINE - 8] = '\0';     /* "control=" and it: 198 bytes */
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--print-config", "--control", path), 1);
	snprintf(want, sizeof(want), "\ncontrol=%s\n", path);
	assert_non_null(strstr(out_text, want));
	write_conf(out_text);
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", conf), 0);
	assert_string_equal(c.control_path, path);
	config_free(&c);
	memset(path + 1, 'p', sizeof(path) - 2);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(INIT(&c, "-c", "/dev/null", "--print-config", "--control", path), 1);
	write_conf(out_text);
	config_free(&c);
	assert_int_equal(INIT(&c, "-c", conf), -1);
	expect_err("line too long");
	config_free(&c);
}

/* ------------------------------------------------------------ out of memory */

struct oom_case {
	int argc;
	char **argv;
	char *want;             /* the config printed by a run with no failure */
};

/* In the child: 0 no failure and the right config, 3 a failure yet the right config,
 * 4 an error returned, 5 and 6 a lie. (config.c's own out of memory exits 1.) */
static int oom_child(const struct oom_case *oc)
{
	struct config c;
	char *text;
	bool fired;
	int r = config_init(&c, oc->argc, oc->argv);

	fired = failalloc_stop();
	if (r != 0) {
		config_free(&c);
		return r < 0 && fired ? 4 : 6;
	}
	text = printed(&c);
	r = strcmp(text, oc->want) ? 5 : fired ? 3 : 0;
	free(text);
	config_free(&c);
	return r;
}

static bool oom_run(void *arg)
{
	char err[4096];
	size_t len = 0;
	ssize_t n;
	int p[2], status, code;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		exit(oom_child(arg));   /* exit: LeakSanitizer looks (SANITIZE=1) */
	}
	failalloc_stop();
	close(p[1]);
	while ((n = read(p[0], err + len, sizeof(err) - 1 - len)) > 0)
		len += (size_t)n;
	err[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (code == 0 || code == 3)
		return code == 3;
	if ((code == 1 && len >= 24 && !strcmp(err + len - 24, "quiesced: out of memory\n")) ||
	    (code == 4 && strstr(err, "Cannot allocate memory")))
		return true;
	fail_msg("out of memory: child status %d, stderr: %s", code, err);
	return false;
}

static void oom_check(const char *what, char **argv, int argc)
{
	struct oom_case oc = { argc, argv, NULL };
	struct config c;

	assert_int_equal(init_argv(&c, argc, argv), 0);
	oc.want = printed(&c);
	config_free(&c);
	assert_true(failalloc_each(what, oom_run, &oc) > 0);
	free(oc.want);
}

static void test_out_of_memory(void **state)
{
	char *defaults[] = { "quiesced", "-c", "/dev/null", NULL };
	char *every[] = { "quiesced", "--config", conf, "--exclude", "/c", "--exclude", "/d",
			  "--run-dir", "rel/run", "--guardian", "g", "--app-socket", "a.sock",
			  "--hook-dir", "h", "--qga-backend", "q", "--control", "c", "-d", NULL };
	(void)state;
	write_conf("[daemon]\nlog-ident = x\nscope = /\nqga = /q\n[filesystems]\n"
		   "exclude = /a\nexclude = /b\ninclude = /i\ninclude-type = ext4\n"
		   "exclude-type = btrfs\n[hyperv]\nhyperv = /h\n[apps]\napp-socket-group = g\n");
	oom_check("defaults", defaults, 3);
	oom_check("every kind of setting", every, (int)(sizeof(every) / sizeof(every[0])) - 1);
}

/* ------------------------------------------------------------ main */

static int setup(void **state)
{
	char tmp[] = "/tmp/test_config.XXXXXX";
	(void)state;
	if (!mkdtemp(tmp) || !realpath(tmp, top))
		return -1;
	snprintf(conf, sizeof(conf), "%s/q.conf", top);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(conf);
	rmdir(top);
	free(out_text);
	free(err_text);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_derived_timeouts),
		cmocka_unit_test(test_derived_mode),
		cmocka_unit_test(test_run_path),
		cmocka_unit_test(test_durations_good),
		cmocka_unit_test(test_durations_bad),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_flags_command_line),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_value_unwritable),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_load_string),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_print_long_values),
		cmocka_unit_test(test_out_of_memory),
	};
	unit_guard("test_config", 120);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
