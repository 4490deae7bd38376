// SPDX-License-Identifier: MIT
/* quiescectl fsfreeze-hook freeze|thaw: quiescectl as qemu-ga's fsfreeze hook.
 *
 * For guests that keep qemu-ga for everything else: qemu-ga freezes the
 * filesystems itself and calls its hook (-F/path) with "freeze" before and "thaw"
 * after. We make quiesced freeze the applications only (an apps-only freeze) and
 * thaw them again. A non-zero exit at freeze makes qemu-ga abort the freeze.
 *
 * qemu-ga's conventions shape this: exactly one argument; stdin, stdout and
 * stderr are /dev/null in 7.2 (newer versions put our output in their error
 * reply), so failures also go to syslog; the call is synchronous with no timeout
 * (--wait bounds ours); when qemu-ga freezes nothing, or its freeze fails, it
 * calls no thaw, so the applications stay held until quiesced's lease ends. The
 * same would follow from a freeze we give up on (no answer within --wait): that
 * one we thaw ourselves before exiting. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cli/cli.h"
#include "common/jsonput.h"

static void say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void to_syslog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* qemu-ga 7.2 throws a hook's output away (newer ones put it in their reply), so
 * what goes wrong goes to syslog as well. The filesystems are not frozen while a
 * hook runs, so syslog cannot block on them. */
static void to_syslog(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	openlog("quiescectl", LOG_PID, LOG_DAEMON);
	vsyslog(prio, fmt, ap);
	closelog();
	va_end(ap);
}

/* stderr and syslog. */
static void say(int prio, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "quiescectl fsfreeze-hook: %s\n", msg);
	to_syslog(prio, "fsfreeze-hook: %s", msg);
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

/* A member's text, or "?" if it is missing or null. */
static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;
	const char *s = json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
	return s ? s : "?";
}

/* Is a filesystem freeze under way or held? Then the engine's freeze is not one
 * of ours (ours are apps-only), and our thaw must leave it alone. */
static bool holds_filesystems(struct json_object *st, const char **origin)
{
	struct json_object *stages;
	*origin = str(st, "origin");
	if (!json_object_object_get_ex(st, "stages", &stages))
		return false;
	for (size_t i = 0; i < json_object_array_length(stages); i++) {
		struct json_object *s = json_object_array_get_idx(stages, i), *active;
		if (!strcmp(str(s, "stage"), "filesystems") &&
		    json_object_object_get_ex(s, "active", &active) &&
		    json_object_get_boolean(active))
			return true;
	}
	return false;
}

static int hook_thaw(struct cli *cli);

/* The freeze got no answer in time: it may still go on, or be done, and qemu-ga,
 * seeing our refusal, will call no thaw. Thaw what it froze now rather than leave
 * the applications held until the lease ends (hook_thaw leaves alone a freeze that
 * is not ours). A late answer to the freeze, with its id, is skipped by cli_call. */
static void undo_late_freeze(struct cli *cli)
{
	say(LOG_NOTICE, "freeze: thawing what the unanswered freeze may have frozen");
	if (hook_thaw(cli) != EXIT_OK)
		say(LOG_ERR, "freeze: the applications may stay held until quiesced's lease ends");
}

static int hook_freeze(struct cli *cli, double lease)
{
	struct json_object *args = json_object_new_object(), *ans = NULL;
	int code;

	if (!args || !jput(args, "apps-only", json_object_new_boolean(1)) ||
	    (lease > 0 && !jput(args, "lease", json_object_new_double(lease)))) {
		json_object_put(args);
		say(LOG_ERR, "freeze: out of memory: refusing the freeze");
		return EXIT_FAILED;
	}
	if (cli_call(cli, "quiesce-freeze", args, &ans) < 0) {
		say(LOG_ERR, "freeze: %s: refusing the freeze", cli->err);
		if (cli->timed_out)
			undo_late_freeze(cli);
		return EXIT_UNREACHABLE;
	}
	if (cli_return(ans)) {
		json_object_put(ans);
		return EXIT_OK;
	}
	to_syslog(LOG_ERR, "fsfreeze-hook: freeze refused: %s", cli_error_desc(ans));
	code = cli_report_error(cli, "fsfreeze-hook freeze", ans);
	json_object_put(ans);
	return code;
}

static int hook_thaw(struct cli *cli)
{
	struct json_object *ans = NULL, *st, *v;
	const char *state, *origin;
	bool expired;
	int code;

	if (cli_call(cli, "quiesce-status", NULL, &ans) < 0) {
		say(LOG_ERR, "thaw: %s", cli->err);
		return EXIT_UNREACHABLE;
	}
	if (!(st = cli_return(ans))) {
		say(LOG_ERR, "thaw: status: %s", cli_error_desc(ans));
		json_object_put(ans);
		return EXIT_FAILED;
	}
	state = str(st, "state");
	expired = json_object_object_get_ex(st, "lease_expired", &v) && json_object_get_boolean(v);
	/* qemu-ga calls the thaw hook after every thaw, also when nothing was frozen. */
	if (!strcmp(state, "idle") && !expired) {
		json_object_put(ans);
		return EXIT_OK;
	}
	if (holds_filesystems(st, &origin)) {
		say(LOG_NOTICE, "not thawing: quiesced holds a filesystem freeze made by %s, "
				"not by this hook", origin);
		json_object_put(ans);
		return EXIT_OK;
	}
	json_object_put(ans);
	ans = NULL;
	if (cli_call(cli, "quiesce-thaw", NULL, &ans) < 0) {
		say(LOG_ERR, "thaw: %s", cli->err);
		return EXIT_UNREACHABLE;
	}
	if (cli_return(ans)) {
		json_object_put(ans);
		return EXIT_OK;
	}
	/* The lease ended the application freeze before this thaw: the applications
	 * did not hold their writes for the whole snapshot. Say so through qemu-ga. */
	to_syslog(LOG_WARNING, "fsfreeze-hook: thaw: %s", cli_error_desc(ans));
	code = cli_report_error(cli, "fsfreeze-hook thaw", ans);
	json_object_put(ans);
	return code;
}

#define HELP \
	"Usage: quiescectl fsfreeze-hook [--lease SECONDS] [--if-running] freeze|thaw\n" \
	"qemu-ga's fsfreeze hook: 'freeze' asks quiesced to freeze the applications only\n" \
	"(qemu-ga freezes the filesystems itself) and exits non-zero if one vetoes, so\n" \
	"qemu-ga aborts; 'thaw' thaws them. Install as qemu-ga's hook (qemu-ga -F/path, or\n" \
	"a symlink named fsfreeze-hook, or an entry in fsfreeze-hook.d; then the\n" \
	"environment gives the options: QUIESCE_CONTROL, QUIESCE_HOOK_LEASE,\n" \
	"QUIESCE_HOOK_IF_RUNNING=1).\n" \
	"  --lease SECONDS  longest hold of the applications (default: quiesced's --lease)\n" \
	"  --if-running     if quiesced cannot be reached, exit 0 (the freeze goes ahead\n" \
	"                   without the applications) instead of 3 (qemu-ga aborts)\n" \
	"Exit: 0 ok; 1 refused (veto, busy, already frozen); 3 quiesced unreachable;\n" \
	"4 not root; 5 thaw: the lease ended the hold before this thaw.\n"

int verb_fsfreeze_hook(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lease", required_argument, NULL, 'l' },
		{ "if-running", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	bool if_running = env_true("QUIESCE_HOOK_IF_RUNNING");
	const char *env_lease = getenv("QUIESCE_HOOK_LEASE");
	double lease = 0;
	const char *action;
	int c;

	if (env_lease && *env_lease && cli_parse_seconds(env_lease, &lease) < 0) {
		say(LOG_ERR, "QUIESCE_HOOK_LEASE: expected seconds, got '%s'", env_lease);
		return EXIT_USAGE;
	}
	/* "+": qemu-ga passes one argument, freeze or thaw, and nothing may follow it. */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		int common = cli_common_opt(cli, "quiescectl fsfreeze-hook", c, optarg);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		switch (c) {
		case 'h':
			fputs(HELP, stdout);
			cli_common_help(stdout);
			return EXIT_OK;
		case 'l':
			if (cli_parse_seconds(optarg, &lease) == 0)
				continue;
			fprintf(stderr, "quiescectl fsfreeze-hook: --lease: expected seconds, got '%s'\n",
				optarg);
			return EXIT_USAGE;
		case 'r':
			if_running = true;
			continue;
		default:
			fprintf(stderr, "Try 'quiescectl fsfreeze-hook --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 ||
	    (strcmp(argv[optind], "freeze") != 0 && strcmp(argv[optind], "thaw") != 0)) {
		say(LOG_ERR, "expected one argument, freeze or thaw%s%s",
		    optind < argc ? "; got " : "", optind < argc ? argv[optind] : "");
		return EXIT_USAGE;
	}
	action = argv[optind];
	if (cli_connect(cli) < 0) {
		if (if_running) {
			say(LOG_NOTICE, "%s: %s; going ahead without it (--if-running)", action,
			    cli->err);
			return EXIT_OK;
		}
		say(LOG_ERR, "%s: %s%s", action, cli->err,
		    strcmp(action, "freeze") ? "" : ": refusing the freeze");
		return EXIT_UNREACHABLE;
	}
	/* Messages only: qemu-ga reads the exit status. */
	cli->json = false;
	return strcmp(action, "freeze") ? hook_thaw(cli) : hook_freeze(cli, lease);
}
