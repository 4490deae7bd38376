// SPDX-License-Identifier: MIT
/* quiescectl snapshot: freeze, run a command, always thaw.
 *
 * The freeze is held by this connection: if quiescectl dies while the command runs,
 * quiesced thaws at once instead of waiting for the lease. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* QUIESCE_MOUNTPOINTS for the command: the frozen mountpoints, one per line. */
static void export_mountpoints(struct json_object *report)
{
	struct json_object *phases, *fss;
	char *list = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&list, &len);

	if (!f)
		return;
	if (json_object_object_get_ex(report, "phases", &phases)) {
		for (size_t i = 0; i < json_object_array_length(phases); i++) {
			struct json_object *ph = json_object_array_get_idx(phases, i);
			if (!json_object_object_get_ex(ph, "filesystems", &fss))
				continue;
			for (size_t k = 0; k < json_object_array_length(fss); k++) {
				struct json_object *fs = json_object_array_get_idx(fss, k), *st, *mp;
				const char *state = NULL, *m = NULL;
				/* (null, the JSON value, gives NULL) */
				if (json_object_object_get_ex(fs, "state", &st))
					state = json_object_get_string(st);
				if (json_object_object_get_ex(fs, "mountpoint", &mp))
					m = json_object_get_string(mp);
				if (state && m && !strcmp(state, "frozen"))
					fprintf(f, "%s%s", len ? "\n" : "", m);
				fflush(f);
			}
		}
	}
	fclose(f);
	setenv("QUIESCE_MOUNTPOINTS", list ? list : "", 1);
	free(list);
}

static const int forwarded[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP };
#define N_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* The command decides what a signal means; we stay to thaw afterwards. The
 * signals are blocked from before the fork until child_pid is set, so that one
 * arriving in between waits and is passed on, rather than killing quiescectl
 * (default action) or being dropped (no child yet). */
static void forward_signals(struct sigaction *old, sigset_t *old_mask)
{
	struct sigaction sa = { .sa_handler = forward_signal };
	sigset_t block;

	sigemptyset(&block);
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, old_mask);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction *old)
{
	for (size_t i = 0; i < N_FORWARDED; i++)
		sigaction(forwarded[i], &old[i], NULL);
}

static int run_command(char **cmd, uint64_t *ms)
{
	struct sigaction old[N_FORWARDED];
	sigset_t old_mask;
	uint64_t t0 = now_ms();
	int status;
	pid_t pid;

	fflush(NULL);
	forward_signals(old, &old_mask);
	pid = fork();
	if (pid == 0) {
		/* The command gets the signal dispositions and mask quiescectl got. */
		restore_signals(old);
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		execvp(cmd[0], cmd);
		fprintf(stderr, "quiescectl snapshot: %s: %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? EXIT_SNAP_NOTFOUND : EXIT_SNAP_NOEXEC);
	}
	if (pid > 0)
		child_pid = pid;
	sigprocmask(SIG_SETMASK, &old_mask, NULL); /* a signal held since the fork: now */
	if (pid < 0) {
		fprintf(stderr, "quiescectl snapshot: fork: %s\n", strerror(errno));
		status = EXIT_SNAP_NOEXEC << 8;
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = EXIT_SNAP_NOEXEC << 8;
			break;
		}
	}
	child_pid = 0;
	restore_signals(old);
	*ms = now_ms() - t0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_SNAP_NOEXEC;
}

/* The options before CMD. -1: go on; else the exit code (after --help or a usage error). */
static int snapshot_opts(struct cli *cli, int argc, char **argv, double *lease)
{
	static const struct option longopts[] = {
		{ "lease", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	int c;

	/* "+": the options end at CMD (or at "--"); what follows is CMD's. */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		int common = cli_common_opt(cli, "quiescectl snapshot", c, optarg);
		if (common > 0)
			continue;
		if (common < 0)
			return EXIT_USAGE;
		if (c == 'h') {
			printf("Usage: quiescectl snapshot [--lease SECONDS] -- CMD [ARG]...\n"
			       "Freeze, run CMD while frozen, and always thaw, even if CMD fails or\n"
			       "quiescectl is killed (quiesced then thaws when the connection drops).\n"
			       "CMD gets QUIESCE_MOUNTPOINTS: the frozen mountpoints, one per line.\n"
			       "Exit: CMD's status; 125 the freeze failed and CMD did not run;\n"
			       "126/127 CMD could not be run / found; 124 CMD succeeded but the freeze\n"
			       "did not hold until the thaw (the lease expired, or the thaw failed).\n"
			       "Root only.\n"
			       "Options:\n"
			       "  --lease SECONDS  quiesced thaws on its own after this long, also while\n"
			       "                   CMD runs (default: its --lease)\n");
			cli_common_help(stdout);
			return EXIT_OK;
		}
		if (c == 'l' && cli_parse_seconds(optarg, lease) == 0)
			continue;
		fprintf(stderr, c == 'l' ? "quiescectl snapshot: --lease: expected seconds\n"
					 : "Try 'quiescectl snapshot --help'.\n");
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "quiescectl snapshot: no command given\n"
				"Usage: quiescectl snapshot [--lease SECONDS] -- CMD [ARG]...\n");
		return EXIT_USAGE;
	}
	return -1;
}

/* quiesce-snapshot: 0 when frozen (at *t_frozen; its mountpoints exported for CMD),
 * else EXIT_SNAP_NOFREEZE. Takes args. */
static int snapshot_freeze(struct cli *cli, struct json_object *args, const char *cmd,
			   uint64_t *t_frozen, FILE *out)
{
	struct json_object *ans = NULL, *ret, *report = NULL;

	if (cli_connect(cli) < 0) {
		fprintf(stderr, "quiescectl snapshot: %s; %s not run\n", cli->err, cmd);
		json_object_put(args);
		return EXIT_SNAP_NOFREEZE;
	}
	if (cli_call(cli, "quiesce-snapshot", args, &ans) < 0) {
		fprintf(stderr, "quiescectl snapshot: %s; %s not run\n", cli->err, cmd);
		return EXIT_SNAP_NOFREEZE;
	}
	ret = cli_return(ans);
	if (!ret) {
		struct json_object *err;
		if (cli->json)
			fprintf(out, "%s\n", json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN));
		else
			fprintf(out, "quiescectl snapshot: freeze failed: %s; %s not run\n",
				cli_error_desc(ans), cmd);
		if (!cli->json && json_object_object_get_ex(ans, "error", &err) &&
		    json_object_object_get_ex(err, "report", &report))
			print_report(out, "freeze", report);
		json_object_put(ans);
		return EXIT_SNAP_NOFREEZE;
	}
	*t_frozen = now_ms();
	if (json_object_object_get_ex(ret, "report", &report)) {
		if (cli->json)
			fprintf(out, "%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN));
		else
			print_report(out, "freeze", report);
		export_mountpoints(report);
	}
	json_object_put(ans);
	return 0;
}

/* quiesce-thaw, whatever the command did: the exit code, from CMD's status and the thaw. */
static int snapshot_thaw(struct cli *cli, int cmd_status, uint64_t t_frozen, FILE *out)
{
	struct json_object *ans = NULL, *ret, *report;
	int code = cmd_status;

	if (cli_call(cli, "quiesce-thaw", NULL, &ans) < 0) {
		fprintf(stderr, "quiescectl snapshot: thaw: %s (quiesced thaws when this connection "
				"closes)\n", cli->err);
		return cmd_status ? cmd_status : EXIT_SNAP_UNSAFE;
	}
	ret = cli_return(ans);
	if (cli->json) {
		/* As the freeze's line, and as quiescectl thaw --json: the return value, or
		 * the whole answer when it is an error. */
		fprintf(out, "%s\n", json_object_to_json_string_ext(ret ? ret : ans,
								  JSON_C_TO_STRING_PLAIN));
	} else if (ret && json_object_object_get_ex(ret, "report", &report)) {
		print_report(out, "thaw", report);
		fprintf(out, "writes were held for %.1f ms\n", (double)(now_ms() - t_frozen));
	}
	if (!ret) {
		fprintf(stderr, "quiescectl snapshot: thaw: %s\n", cli_error_desc(ans));
		if (cmd_status == 0) {
			fprintf(stderr, "quiescectl snapshot: the command succeeded, but its snapshot "
					"may not be consistent\n");
			code = EXIT_SNAP_UNSAFE;
		}
	}
	json_object_put(ans);
	return code;
}

int verb_snapshot(struct cli *cli, int argc, char **argv)
{
	struct json_object *args;
	double lease = 0;
	uint64_t t_frozen, cmd_ms = 0;
	int code, cmd_status;
	FILE *out = stderr; /* stdout belongs to the command */

	code = snapshot_opts(cli, argc, argv, &lease);
	if (code >= 0)
		return code;
	args = cli_lease_args(lease);
	if (!args) {
		fprintf(stderr, "quiescectl snapshot: out of memory; %s not run\n", argv[optind]);
		return EXIT_SNAP_NOFREEZE;
	}
	code = snapshot_freeze(cli, args, argv[optind], &t_frozen, out);
	if (code != 0)
		return code;

	if (!cli->json)
		fprintf(out, "running: %s\n", argv[optind]);
	cmd_status = run_command(argv + optind, &cmd_ms);
	if (!cli->json)
		fprintf(out, "command exited with status %d after %.1f ms\n", cmd_status,
			(double)cmd_ms);
	return snapshot_thaw(cli, cmd_status, t_frozen, out);
}
