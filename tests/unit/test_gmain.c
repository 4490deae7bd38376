// SPDX-License-Identifier: MIT
/* Unit tests for src/group/main.c, quiesce-group's wiring: options, the state file, the
 * thaw verb, signals, exit statuses (quiesce-group(1)). main.c is included here with its
 * main renamed, and every case runs it in a child process (it exits on bad usage, it
 * keeps static state), its stdout and stderr in files of a mkdtemp dir, which is also
 * its --state-dir.
 *
 * The guests are libvirt's test driver ("test:///default", in libvirt.so: no daemon, no
 * VM, its freeze and thaw are a mock, nothing is frozen), whose domain "test" runs but
 * has no guest agent: a run against it fails its check (exit 2) with libvirt's error.
 * For the runs that go on, the linker's --wrap (UNIT_WRAP_gmain) answers for the agent
 * (guest-ping, guest-info of quiesced, guest-fsfreeze-status as a case sets it) and can
 * fail virDomainFSThaw; the freeze and the thaw are otherwise the test driver's own. The
 * test driver refuses disk-only snapshots, so a snapshot run fails its hold (exit 5).
 *
 * Covered: --help, --version, every usage error (exit 1 with the reason and the hint),
 * options after the domain names (not after "--"), a --connect per name,
 * no state directory, the check failing or asked alone (no state file either way), the
 * command's run (the state file there while it runs, the group in its environment,
 * gone after; --json), its stdout (on stderr with --json), a failed command, a failed snapshot, a state file left over that
 * blocks the run, a thaw that fails (exit 6, the state file kept for thaw), a SIGTERM
 * during the command (killed, all thawed), and the thaw verb: nothing to thaw, a frozen
 * guest thawed, one not frozen left, a guest that cannot be reached (exit 6, file
 * kept), a state file that is not one (exit 1), a state file it cannot look for (exit
 * 1, never "nothing is left frozen"); a state directory too long (refused, not cut
 * short) and a state file that cannot be written (said, no empty file left). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>

#include "capture.h"
#include "ginfo.h"
#include "unitguard.h"

int group_main(int argc, char **argv);
#define main group_main
#include "group/main.c"
#undef main

/* The seams, set before a case forks its child. */
static const char *agent_status; /* guest-fsfreeze-status's answer; NULL: none */
static int agent_on;             /* 0: libvirt's own (the test driver: not supported) */
static int fail_thaw;

static const char *const quiesced_info = GINFO(QUIESCED8);

char *__real_virDomainQemuAgentCommand(virDomainPtr d, const char *cmd, int timeout,
				       unsigned int flags);
char *__wrap_virDomainQemuAgentCommand(virDomainPtr d, const char *cmd, int timeout,
				       unsigned int flags);
int __real_virDomainFSThaw(virDomainPtr d, const char **mounts, unsigned int n,
			   unsigned int flags);
int __wrap_virDomainFSThaw(virDomainPtr d, const char **mounts, unsigned int n,
			   unsigned int flags);

char *__wrap_virDomainQemuAgentCommand(virDomainPtr d, const char *cmd, int timeout,
				       unsigned int flags)
{
	const char *a = NULL;

	if (agent_on)
		a = strstr(cmd, "\"guest-ping\"") ? "{\"return\":{}}"
		    : strstr(cmd, "\"guest-info\"") ? quiesced_info
		    : strstr(cmd, "\"guest-fsfreeze-status\"") ? agent_status : NULL;
	return a ? strdup(a) : __real_virDomainQemuAgentCommand(d, cmd, timeout, flags);
}

int __wrap_virDomainFSThaw(virDomainPtr d, const char **mounts, unsigned int n,
			   unsigned int flags)
{
	/* No domain: libvirt's own error (an invalid domain pointer). */
	if (fail_thaw)
		return __real_virDomainFSThaw(NULL, mounts, n, flags);
	return __real_virDomainFSThaw(d, mounts, n, flags);
}

static char dir[64];
static char out[16384], err[4096];

static void path_of(char *p, size_t len, const char *name)
{
	snprintf(p, len, "%s/%s", dir, name);
}

static void slurp(const char *name, char *text, size_t len)
{
	char p[128];

	path_of(p, sizeof(p), name);
	capture_read(p, text, len);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int exists(const char *name)
{
	char p[128];

	path_of(p, sizeof(p), name);
	return access(p, F_OK) == 0;
}

static void put(const char *name, const char *text)
{
	char p[128];
	FILE *f;

	path_of(p, sizeof(p), name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void redirect(const char *name, int fd)
{
	char p[128];
	FILE *f;

	path_of(p, sizeof(p), name);
	f = fopen(p, "w");
	if (!f || dup2(fileno(f), fd) < 0)
		_exit(99);
	fclose(f);
}

/* quiesce-group ARGS... (NULL-terminated) in a child: its exit status; its stdout and
 * stderr in out and err. */
static int qg(const char *arg, ...)
{
	char *argv[32];
	int argc = 0, status = 0;
	va_list ap;
	pid_t pid;

	argv[argc++] = "quiesce-group";
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		redirect("stdout.txt", 1);
		redirect("stderr.txt", 2);
		optind = 1;
		status = group_main(argc, argv);
		fflush(NULL);
		_exit(status);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp("stdout.txt", out, sizeof(out));
	slurp("stderr.txt", err, sizeof(err));
	if (!WIFEXITED(status))
		fail_msg("quiesce-group ended by signal %d; stderr: %s", WTERMSIG(status), err);
	return WEXITSTATUS(status);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_gmain.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	agent_on = 0;
	agent_status = NULL;
	fail_thaw = 0;
	return unit_guard_on(state);
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return -1;
	return unit_guard_off(state);
}

static void test_help_version(void **state)
{
	char want[64];

	(void)state;
	assert_int_equal(qg("--help", NULL), 0);
	assert_true(starts_with(out, "Usage: quiesce-group [OPTIONS]"));
	assert_non_null(strstr(out, "Exit status: 0 done; 1 usage"));
	assert_string_equal(err, "");
	assert_int_equal(qg("-h", NULL), 0);
	assert_true(starts_with(out, "Usage: quiesce-group"));
	snprintf(want, sizeof(want), "quiesce-group %s\n", QUIESCE_VERSION);
	assert_int_equal(qg("-V", NULL), 0);
	assert_string_equal(out, want);
	assert_int_equal(qg("--version", NULL), 0);
	assert_string_equal(out, want);
}

/* Exit 1, nothing on stdout, the reason on stderr and the hint to --help. */
static void usage_error(const char *reason)
{
	const char *hint = "\nTry 'quiesce-group --help'.\n";
	size_t n = strlen(err), h = strlen(hint);
	char want[256];

	snprintf(want, sizeof(want), "quiesce-group: %s", reason);
	if (!strstr(err, want))
		fail_msg("stderr has not '%s': %s", want, err);
	assert_true(n >= h && strcmp(err + n - h, hint) == 0);
	assert_string_equal(out, "");
}

static void test_usage_errors(void **state)
{
	(void)state;
	assert_int_equal(qg("--bogus", NULL), 1);
	usage_error("bad option");
	assert_int_equal(qg("--state-dir", dir, NULL), 1);
	usage_error("no guests: give -d URI:DOMAIN, --connect URI DOMAIN... or -c FILE");
	assert_int_equal(qg("db", NULL), 1);
	usage_error("domain name 'db' without --connect URI");
	assert_int_equal(qg("-d", "nocolon", NULL), 1);
	usage_error("'nocolon': want URI:DOMAIN");
	assert_int_equal(qg("--deadline", "0", NULL), 1);
	usage_error("bad duration for --deadline");
	assert_int_equal(qg("--hold", "abc", NULL), 1);
	usage_error("bad duration for --hold");
	assert_int_equal(qg("--agent-timeout", "25h", NULL), 1);
	usage_error("bad duration for --agent-timeout");
	assert_int_equal(qg("-n", "a/b", NULL), 1);
	usage_error("bad group name 'a/b' (letters, digits, - _ .)");
	assert_int_equal(qg("--connect", "test:///default", "test", "--", NULL), 1);
	usage_error("nothing after --");
	assert_int_equal(qg("-c", "/nonexistent/quiesce-group.conf", NULL), 1);
	usage_error("");
	assert_non_null(strstr(err, "/nonexistent/quiesce-group.conf"));
	assert_int_equal(qg("--state-dir", dir, "-d", "test:///default:test", "--snapshot-name",
			    "a<b", NULL), 1);
	usage_error("bad snapshot name (no < > & ' \" /)");
	assert_int_equal(qg("thaw", NULL), 1);
	usage_error("thaw takes one group name");
	assert_int_equal(qg("thaw", "a", "b", NULL), 1);
	usage_error("thaw takes one group name");
	assert_int_equal(qg("thaw", "a/b", NULL), 1);
	usage_error("thaw takes one group name");
	assert_false(exists("group.state"));
}

static void test_no_state_dir(void **state)
{
	(void)state;
	assert_int_equal(qg("--state-dir", "/nonexistent/quiesce-group", "-d",
			    "test:///default:test", NULL), 1);
	assert_string_equal(err, "quiesce-group: no state directory (No such file or directory): "
			    "give --state-dir\n");
}

/* The test driver's domain has no agent: exit 2, libvirt's reason in the report, no
 * state file (nothing was frozen). */
static void test_check_fails(void **state)
{
	(void)state;
	assert_int_equal(qg("--state-dir", dir, "--connect", "test:///default", "test", "--",
			    "true", NULL), 2);
	assert_true(starts_with(out, "group group (check): check-failed"));
	assert_non_null(strstr(out, "check: guest agent: "));
	assert_non_null(strstr(out, "not supported"));
	assert_false(exists("group.state"));
}

static void test_check_only(void **state)
{
	(void)state;
	agent_on = 1;
	assert_int_equal(qg("--state-dir", dir, "--check", "-n", "g1", "-d", "test:///default:test",
			    NULL), 0);
	assert_true(starts_with(out, "group g1 (check): ok\n"));
	assert_non_null(strstr(out, "check: quiesced 7.2.15 answers"));
	assert_null(strstr(out, "freeze:"));
	assert_false(exists("g1.state"));
}

static const char *json_result(void)
{
	static char res[32];
	struct json_object *o = json_tokener_parse(out), *x;

	res[0] = 0;
	if (o && json_object_object_get_ex(o, "result", &x))
		snprintf(res, sizeof(res), "%s", json_object_get_string(x));
	json_object_put(o);
	return res;
}

/* The command runs with the state file written and the group in its environment; the
 * file is gone after; the JSON report says ok. */
static void test_command_ok(void **state)
{
	char script[512], seen[1024];

	(void)state;
	agent_on = 1;
	snprintf(script, sizeof(script),
		 "cd '%s' && cat g1.state > seen.txt && "
		 "echo \"$QUIESCE_GROUP|$QUIESCE_GROUP_DOMAINS|$QUIESCE_GROUP_URIS\" >> seen.txt", dir);
	assert_int_equal(qg("--state-dir", dir, "--json", "-n", "g1", "--connect", "test:///default",
			    "test", "--", "sh", "-c", script, NULL), 0);
	slurp("seen.txt", seen, sizeof(seen));
	assert_non_null(strstr(seen, "'quiesce-group thaw g1' thaws them"));
	assert_non_null(strstr(seen, "[group]"));
	assert_non_null(strstr(seen, "guest = test:///default:test\n"));
	assert_non_null(strstr(seen, "g1|test|test:///default\n"));
	assert_false(exists("g1.state"));
	assert_string_equal(json_result(), "ok");
	assert_string_equal(err, "");
}

/* With --json, stdout is the report alone: the command's stdout goes to stderr, its
 * stderr stays there. Without, its stdout is ours, before the report. */
static void test_command_output(void **state)
{
	const char *script = "echo out-line; echo err-line >&2";

	(void)state;
	agent_on = 1;
	assert_int_equal(qg("--state-dir", dir, "--json", "-n", "g1", "-d", "test:///default:test",
			    "--", "sh", "-c", script, NULL), 0);
	assert_true(starts_with(out, "{"));
	assert_string_equal(json_result(), "ok");
	assert_string_equal(err, "out-line\nerr-line\n");
	assert_int_equal(qg("--state-dir", dir, "-n", "g1", "-d", "test:///default:test", "--",
			    "sh", "-c", script, NULL), 0);
	assert_true(starts_with(out, "out-line\ngroup g1 (command): ok"));
	assert_string_equal(err, "err-line\n");
}

/* Options anywhere before "--" (here after the domain names, and a name before
 * --connect); what follows "--" is the command's, options or not. */
static void test_options_after_names(void **state)
{
	char script[256], seen[256];

	(void)state;
	agent_on = 1;
	assert_int_equal(qg("--connect", "test:///default", "test", "--check", "--json",
			    "--state-dir", dir, "-n", "g1", NULL), 0);
	assert_string_equal(json_result(), "ok");
	assert_non_null(strstr(out, "\"mode\":\"check\""));
	assert_false(exists("g1.state"));
	assert_int_equal(qg("test", "--check", "--connect", "test:///default", "--state-dir", dir,
			    NULL), 0);
	assert_true(starts_with(out, "group group (check): ok\n"));
	snprintf(script, sizeof(script), "echo \"$*\" > '%s/seen.txt'", dir);
	assert_int_equal(qg("--connect", "test:///default", "test", "--state-dir", dir, "--", "sh",
			    "-c", script, "sh", "--json", "-n", NULL), 0);
	assert_true(starts_with(out, "group group (command): ok"));
	slurp("seen.txt", seen, sizeof(seen));
	assert_string_equal(seen, "--json -n\n");
	assert_int_equal(qg("--connect", "test:///default", "test", "--bogus", NULL), 1);
	usage_error("bad option");
}

/* Each name is on the URI of the --connect before it. */
static void test_two_connects(void **state)
{
	(void)state;
	agent_on = 1;
	assert_int_equal(qg("--state-dir", dir, "--check", "--connect", "test:///default", "test",
			    "--connect", "test:///nonexistent/quiesce-unit.xml", "other", NULL), 2);
	assert_non_null(strstr(out, "\ntest "));
	assert_non_null(strstr(out, "check: quiesced 7.2.15 answers"));
	assert_non_null(strstr(out, "\nother "));
	assert_non_null(strstr(out, "check: cannot connect to test:///nonexistent/quiesce-unit.xml"));
}

static void test_command_fails(void **state)
{
	(void)state;
	agent_on = 1;
	assert_int_equal(qg("--state-dir", dir, "-n", "g1", "-d", "test:///default:test", "--", "sh",
			    "-c", "exit 7", NULL), 5);
	assert_true(starts_with(out, "group g1 (command): hold-failed"));
	assert_non_null(strstr(out, "command: sh exited 7\n"));
	assert_non_null(strstr(out, "; thaw: 2 filesystem(s) thawed"));
	assert_false(exists("g1.state"));
}

/* A SIGTERM while the command runs (the command sends it): the command is killed, every
 * guest thawed, exit 5. */
static void test_signal_during_command(void **state)
{
	(void)state;
	agent_on = 1;
	assert_int_equal(qg("--state-dir", dir, "-n", "g1", "-d", "test:///default:test", "--", "sh",
			    "-c", "kill -TERM $PPID; sleep 30", NULL), 5);
	assert_non_null(strstr(out, "command: sh still running when a signal came: killed\n"));
	assert_non_null(strstr(out, "; thaw: 2 filesystem(s) thawed"));
	assert_false(exists("g1.state"));
}

/* The test driver takes no disk-only snapshot: exit 5, thawed, the file gone. */
static void test_snapshot_refused(void **state)
{
	(void)state;
	agent_on = 1;
	assert_int_equal(qg("--state-dir", dir, "-n", "g1", "--snapshot-name", "s1", "-d",
			    "test:///default:test", NULL), 5);
	assert_true(starts_with(out, "group g1 (snapshot): hold-failed"));
	assert_non_null(strstr(out, "snapshot: snapshot: "));
	assert_non_null(strstr(out, "; thaw: 2 filesystem(s) thawed"));
	assert_false(exists("g1.state"));
}

/* A state file left by a run: the next run refuses before freezing, and leaves it. */
static void test_state_file_blocks(void **state)
{
	char text[256];

	(void)state;
	agent_on = 1;
	put("g1.state", "[group]\nname = g1\nguest = test:///default:test\n");
	assert_int_equal(qg("--state-dir", dir, "-n", "g1", "-d", "test:///default:test", "--",
			    "true", NULL), 1);
	assert_non_null(strstr(err, "g1.state: File exists (a run of this group is going on, or "
				    "one was killed: quiesce-group thaw thaws its guests)"));
	slurp("g1.state", text, sizeof(text));
	assert_string_equal(text, "[group]\nname = g1\nguest = test:///default:test\n");
}

/* A thaw fails: exit 6, the state file kept (the group as it ran) and said so. */
static void test_thaw_fails_keeps_state(void **state)
{
	struct gspec kept;
	char p[128], e[256], want[256];

	(void)state;
	agent_on = 1;
	fail_thaw = 1;
	assert_int_equal(qg("--state-dir", dir, "-n", "g1", "--hold", "30s", "-d",
			    "test:///default:test", "--", "true", NULL), 6);
	assert_true(starts_with(out, "group g1 (command): thaw-failed"));
	snprintf(want, sizeof(want), "quiesce-group: a guest may be left frozen: %s/g1.state is "
		 "kept; quiesce-group thaw g1\n", dir);
	assert_string_equal(err, want);
	path_of(p, sizeof(p), "g1.state");
	gspec_defaults(&kept);
	assert_int_equal(gspec_load_file(&kept, p, e, sizeof(e)), 0);
	assert_int_equal(kept.n, 1);
	assert_string_equal(kept.g[0].dom, "test");
	assert_int_equal(kept.hold_ms, 30000);
}

static void test_thaw_verb(void **state)
{
	const char *file = "[group]\nname = g1\nguest = test:///default:test\n";

	(void)state;
	agent_on = 1;
	assert_int_equal(qg("thaw", "--state-dir", dir, "g1", NULL), 0);
	assert_non_null(strstr(err, "g1.state: no state file: nothing of group g1 is left frozen"));
	/* Frozen: thawed, the file removed; options after the verb. */
	put("g1.state", file);
	agent_status = "{\"return\":\"frozen\"}";
	assert_int_equal(qg("thaw", "--state-dir", dir, "--json", "g1", NULL), 0);
	assert_string_equal(json_result(), "ok");
	assert_non_null(strstr(out, "filesystem(s) thawed"));
	assert_false(exists("g1.state"));
	/* Not frozen: left alone, said so; options before the verb. */
	put("g1.state", file);
	agent_status = "{\"return\":\"thawed\"}";
	assert_int_equal(qg("--state-dir", dir, "thaw", "g1", NULL), 0);
	assert_true(starts_with(out, "group g1 (thaw): ok"));
	assert_non_null(strstr(out, "thaw: was not frozen"));
	assert_false(exists("g1.state"));
	/* No agent answer (the test driver's): thawed all the same. */
	put("g1.state", file);
	agent_on = 0;
	assert_int_equal(qg("--state-dir", dir, "thaw", "g1", NULL), 0);
	assert_non_null(strstr(out, "; thaw: 0 filesystem(s) thawed"));
	assert_false(exists("g1.state"));
}

/* A guest that cannot be thawed: exit 6 and the file kept; a file that is not a group:
 * exit 1. */
static void test_thaw_verb_fails(void **state)
{
	(void)state;
	put("g1.state", "[group]\nname = g1\nguest = test:///default:nosuch\n");
	assert_int_equal(qg("--state-dir", dir, "thaw", "g1", NULL), 6);
	assert_true(starts_with(out, "group g1 (thaw): thaw-failed"));
	assert_non_null(strstr(out, "no domain 'nosuch' on test:///default"));
	assert_true(exists("g1.state"));
	put("g1.state", "[group]\nguest = nocolon\n");
	assert_int_equal(qg("--state-dir", dir, "thaw", "g1", NULL), 1);
	assert_non_null(strstr(err, "nocolon"));
	assert_string_equal(out, "");
	assert_true(exists("g1.state"));
}

/* The thaw cannot look for the state file (here the state directory is a file: ENOTDIR;
 * for a user, EACCES on root's directory): it fails and says why, never that nothing
 * is left frozen. */
static void test_thaw_verb_cannot_look(void **state)
{
	char p[128], want[256];

	(void)state;
	put("notadir", "x");
	path_of(p, sizeof(p), "notadir");
	assert_int_equal(qg("thaw", "--state-dir", p, "g1", NULL), 1);
	snprintf(want, sizeof(want), "quiesce-group: %s/g1.state: Not a directory\n", p);
	assert_string_equal(err, want);
}

/* A state directory too long for quiesce-group's buffers: refused, not cut short to
 * another directory (which it would create, and use). */
static void test_state_dir_too_long(void **state)
{
	char longdir[600], parent[300];

	(void)state;
	snprintf(parent, sizeof(parent), "%s/%0200d", dir, 0);
	assert_int_equal(mkdir(parent, 0700), 0);
	snprintf(longdir, sizeof(longdir), "%s/%0250d", parent, 0);
	assert_int_equal(qg("thaw", "--state-dir", longdir, "g1", NULL), 1);
	assert_string_equal(err, "quiesce-group: no state directory (File name too long): "
			    "give --state-dir\n");
	assert_int_equal(rmdir(parent), 0); /* nothing made in it */
}

/* The state file cannot be written (its ".new" is a directory here): the run says why
 * and leaves no empty state file behind to block the next run. */
static void test_state_file_unwritable(void **state)
{
	char p[128];

	(void)state;
	agent_on = 1;
	path_of(p, sizeof(p), "g1.state.new");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(qg("--state-dir", dir, "-n", "g1", "-d", "test:///default:test", "--",
			    "true", NULL), 1);
	assert_non_null(strstr(err, "g1.state: Is a directory"));
	assert_false(exists("g1.state"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_help_version),      T(test_usage_errors),   T(test_no_state_dir),
		T(test_check_fails),       T(test_check_only),     T(test_command_ok),
		T(test_command_output),    T(test_options_after_names), T(test_two_connects),
		T(test_command_fails),     T(test_signal_during_command),
		T(test_snapshot_refused),  T(test_state_file_blocks),
		T(test_thaw_fails_keeps_state), T(test_thaw_verb), T(test_thaw_verb_fails),
		T(test_thaw_verb_cannot_look), T(test_state_dir_too_long),
		T(test_state_file_unwritable),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	unit_guard("test_gmain", 60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
