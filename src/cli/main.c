// SPDX-License-Identifier: MIT
/* quiescectl: talk to quiesced. A table of verbs; each verb lives in its own function. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define DEFAULT_SOCKET "/run/quiesce/control.sock"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: quiescectl [--socket PATH] [--json] [--wait SECONDS] VERB [ARG]...\n"
		"Ask quiesced to check, freeze or thaw, or show what it is doing.\n\nVerbs:\n");
	/* A synopsis too long for the column gets its help on the next line. */
	for (size_t i = 0; i < n_verbs; i++) {
		if (strlen(verbs[i].synopsis) > 38)
			fprintf(out, "  %s\n  %38s %s\n", verbs[i].synopsis, "", verbs[i].help);
		else
			fprintf(out, "  %-38s %s\n", verbs[i].synopsis, verbs[i].help);
	}
	fprintf(out,
		"\nOptions (before the verb or after it):\n"
		"  --socket PATH     control socket (default $QUIESCE_CONTROL or " DEFAULT_SOCKET ")\n"
		"  --json            machine-readable output: the daemon's JSON answer\n"
		"  --wait SECONDS    longest wait for an answer (default 120)\n"
		"  -h, --help        this help; 'quiescectl VERB --help' for one verb\n"
		"  -V, --version     show the version\n"
		"\nExit status:\n"
		"  0 success; 1 the operation failed (veto, freeze error, busy, already frozen);\n"
		"  2 bad usage; 3 quiesced cannot be reached; 4 permission denied (check, freeze,\n"
		"  thaw, snapshot and fsfreeze-hook need root; status and apps do not); 5 thaw:\n"
		"  the lease had expired before it, writes were not held until now. snapshot\n"
		"  exits with CMD's status, or 125 if the freeze failed (CMD did not run),\n"
		"  126/127 if CMD could not be run or found, 124 if CMD succeeded but the freeze\n"
		"  did not hold until the thaw (lease expired, thaw failed).\n");
}

/* Called as qemu-ga's hook: through a link named fsfreeze-hook, or from a
 * fsfreeze-hook.d directory (the stock dispatcher runs each entry with "$@"). */
static bool called_as_hook(const char *argv0)
{
	const char *base = strrchr(argv0, '/'), *dir;
	size_t len;
	if (!base)
		return strcmp(argv0, "fsfreeze-hook") == 0;
	if (strcmp(base + 1, "fsfreeze-hook") == 0)
		return true;
	for (dir = base; dir > argv0 && dir[-1] != '/'; dir--)
		;
	len = (size_t)(base - dir);
	return len == strlen("fsfreeze-hook.d") && strncmp(dir, "fsfreeze-hook.d", len) == 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct cli cli = { .fd = -1, .wait_ms = 120000 };
	int c;

	cli.socket = getenv("QUIESCE_CONTROL");
	if (!cli.socket || !*cli.socket)
		cli.socket = DEFAULT_SOCKET;
	if (argc > 0 && called_as_hook(argv[0])) {
		int r;
		argv[0] = (char *)"fsfreeze-hook";
		r = verb_fsfreeze_hook(&cli, argc, argv);
		cli_disconnect(&cli);
		return r;
	}
	/* "+": stop at the verb, so verbs (and snapshot's command) get their own options.
	 * The verbs take these options too, after the verb. */
	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		int common = cli_common_opt(&cli, "quiescectl", c, optarg);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("quiescectl %s\n", QUIESCE_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'quiescectl --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < n_verbs; i++) {
		if (strcmp(argv[optind], verbs[i].name) == 0) {
			int r;
			argc -= optind;
			argv += optind;
			optind = 0; /* reset getopt for the verb's own parsing */
			r = verbs[i].run(&cli, argc, argv);
			cli_disconnect(&cli);
			return r;
		}
	}
	fprintf(stderr, "quiescectl: unknown verb '%s'\nTry 'quiescectl --help'.\n", argv[optind]);
	return EXIT_USAGE;
}
