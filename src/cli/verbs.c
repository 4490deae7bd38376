// SPDX-License-Identifier: MIT
/* The simple verbs: status, check, freeze, thaw. snapshot is in snapshot.c. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/jsonput.h"


/* Option parsing for a verb: --help, --lease where allowed, and the common options
 * (--socket, --json, --wait). Options may come after the operands too (freeze's
 * mountpoints are paths; "--" ends the options).
 * Returns the index of the first operand, or -1 (usage error) / -2 (help shown). */
static int verb_opts(struct cli *cli, const char *verb, const char *synopsis, const char *help,
		     const char *options, bool lease_ok, double *lease, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lease", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	char who[64];
	int c;

	snprintf(who, sizeof(who), "quiescectl %s", verb);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int common = cli_common_opt(cli, who, c, optarg);
		if (common < 0)
			return -1;
		if (common)
			continue;
		if (c == 'h') {
			printf("Usage: quiescectl %s\n%s\n%s", synopsis, help, options);
			cli_common_help(stdout);
			return -2;
		}
		if (c == 'l' && lease_ok) {
			if (cli_parse_seconds(optarg, lease) < 0) {
				fprintf(stderr, "%s: --lease: expected seconds, got '%s'\n", who, optarg);
				return -1;
			}
			continue;
		}
		/* getopt knows --lease (freeze's) and let it through: say that this verb does not. */
		if (c == 'l')
			fprintf(stderr, "%s: unrecognized option '--lease'\n", who);
		fprintf(stderr, "Try 'quiescectl %s --help'.\n", verb);
		return -1;
	}
	return optind;
}

/* A verb's options for its --help ("" if it has none of its own). */
#define NO_OPTIONS ""
#define OPTS(lease_ok, lease)                                                              \
	int first = verb_opts(cli, argv[0], SYNOPSIS, HELP, OPTIONS, lease_ok, lease, argc, argv); \
	if (first == -2)                                                                   \
		return EXIT_OK;                                                            \
	if (first < 0)                                                                     \
		return EXIT_USAGE

/* Connect, call, and turn the answer into an exit code; *ret gets the return value
 * (owned by *ans) on success. */
static int call(struct cli *cli, const char *verb, const char *cmd, struct json_object *args,
		struct json_object **ans, struct json_object **ret)
{
	if (cli_connect(cli) < 0) {
		json_object_put(args);
		fprintf(stderr, "quiescectl %s: %s\n", verb, cli->err);
		return EXIT_UNREACHABLE;
	}
	if (cli_call(cli, cmd, args, ans) < 0) {
		fprintf(stderr, "quiescectl %s: %s\n", verb, cli->err);
		return EXIT_UNREACHABLE;
	}
	*ret = cli_return(*ans);
	if (!*ret) {
		int code = cli_report_error(cli, verb, *ans);
		struct json_object *err, *report;
		if (!cli->json && json_object_object_get_ex(*ans, "error", &err) &&
		    json_object_object_get_ex(err, "report", &report))
			print_report(stderr, verb, report);
		return code;
	}
	return EXIT_OK;
}

static int no_operands(const char *verb, int first, int argc)
{
	if (first < argc) {
		fprintf(stderr, "quiescectl %s: unexpected argument\nTry 'quiescectl %s --help'.\n",
			verb, verb);
		return -1;
	}
	return 0;
}

#define SYNOPSIS "status"
#define OPTIONS NO_OPTIONS
#define HELP "Show the state, what is frozen and for how long, the lease, the last transaction.\n" \
	     "Any user may ask."
static int verb_status(struct cli *cli, int argc, char **argv)
{
	struct json_object *ans = NULL, *ret;
	int code;
	OPTS(false, NULL);
	if (no_operands("status", first, argc) < 0)
		return EXIT_USAGE;
	code = call(cli, "status", "quiesce-status", NULL, &ans, &ret);
	if (code == EXIT_OK) {
		if (cli->json)
			cli_print_json(ret);
		else
			print_status(stdout, ret);
	}
	json_object_put(ans);
	return code;
}
#undef SYNOPSIS
#undef HELP
#undef OPTIONS

#define SYNOPSIS "check"
#define OPTIONS NO_OPTIONS
#define HELP "Ask the applications whether they can freeze and check the filesystems, freezing\n" \
	     "nothing. Exit 0 if a freeze would be attempted with everyone's consent. Root only."
static int verb_check(struct cli *cli, int argc, char **argv)
{
	struct json_object *ans = NULL, *ret, *report;
	int code;
	OPTS(false, NULL);
	if (no_operands("check", first, argc) < 0)
		return EXIT_USAGE;
	code = call(cli, "check", "quiesce-check", NULL, &ans, &ret);
	if (code == EXIT_OK) {
		if (cli->json)
			cli_print_json(ret);
		else if (json_object_object_get_ex(ret, "report", &report))
			print_report(stdout, "check", report);
	}
	json_object_put(ans);
	return code;
}
#undef SYNOPSIS
#undef HELP
#undef OPTIONS

#define SYNOPSIS "freeze [--lease SECONDS] [MOUNTPOINT]..."
#define OPTIONS \
	"Options:\n  --lease SECONDS  quiesced thaws on its own after this long (default: its --lease)\n"
#define HELP "Freeze: applications first, then the filesystems (all candidates, or only the\n" \
	     "given mountpoints). It stays frozen until 'quiescectl thaw' or until the lease\n" \
	     "(default: quiesced's --lease) passes. Root only."
/* {"lease": lease, "mountpoints": [mounts...]} (each only if given); NULL if out of memory. */
static struct json_object *freeze_args(double lease, char **mounts, int n)
{
	struct json_object *args = cli_lease_args(lease), *m;

	if (!args || n == 0)
		return args;
	m = json_object_new_array();
	for (int i = 0; m && i < n; i++) {
		if (!jappend(m, json_object_new_string(mounts[i]))) {
			json_object_put(m);
			m = NULL;
		}
	}
	if (!jput(args, "mountpoints", m)) {
		json_object_put(args);
		return NULL;
	}
	return args;
}

static int verb_freeze(struct cli *cli, int argc, char **argv)
{
	struct json_object *ans = NULL, *ret, *report, *args;
	double lease = 0;
	int code;
	OPTS(true, &lease);
	args = freeze_args(lease, argv + first, argc - first);
	if (!args) {
		fprintf(stderr, "quiescectl freeze: out of memory\n");
		return EXIT_FAILED;
	}
	code = call(cli, "freeze", "quiesce-freeze", args, &ans, &ret);
	if (code == EXIT_OK) {
		if (cli->json)
			cli_print_json(ret);
		else if (json_object_object_get_ex(ret, "report", &report))
			print_report(stdout, "freeze", report);
	}
	json_object_put(ans);
	return code;
}
#undef SYNOPSIS
#undef HELP
#undef OPTIONS

#define SYNOPSIS "thaw"
#define OPTIONS NO_OPTIONS
#define HELP "Thaw exactly what was frozen, filesystems first, then the applications.\n" \
	     "Exit 5 if the lease had already expired (quiesced thawed on its own). Root only."
static int verb_thaw(struct cli *cli, int argc, char **argv)
{
	struct json_object *ans = NULL, *ret, *report;
	int code;
	OPTS(false, NULL);
	if (no_operands("thaw", first, argc) < 0)
		return EXIT_USAGE;
	code = call(cli, "thaw", "quiesce-thaw", NULL, &ans, &ret);
	if (code == EXIT_OK) {
		if (cli->json)
			cli_print_json(ret);
		else if (json_object_object_get_ex(ret, "report", &report))
			print_report(stdout, "thaw", report);
		else
			printf("thaw: nothing was frozen\n");
	}
	json_object_put(ans);
	return code;
}
#undef SYNOPSIS
#undef HELP
#undef OPTIONS

const struct verb verbs[] = {
	{ "status", verb_status, "status", "show state, frozen filesystems, lease, last result" },
	{ "check", verb_check, "check", "ask apps and check filesystems; freeze nothing" },
	{ "freeze", verb_freeze, "freeze [--lease S] [MOUNTPOINT]...", "freeze until thaw or lease" },
	{ "thaw", verb_thaw, "thaw", "thaw what was frozen" },
	{ "snapshot", verb_snapshot, "snapshot [--lease S] -- CMD [ARG]...",
	  "freeze, run CMD, always thaw; exit with CMD's status" },
	{ "fsfreeze-hook", verb_fsfreeze_hook, "fsfreeze-hook [--lease S] [--if-running] freeze|thaw",
	  "as qemu-ga's fsfreeze hook: freeze/thaw the apps only" },
	{ "apps", verb_apps, "apps", "list registered apps, their state and last answer" },
};
const size_t n_verbs = sizeof(verbs) / sizeof(verbs[0]);
