// SPDX-License-Identifier: MIT
/* The options every verb takes, before the verb or after it (as systemctl and virsh
 * do): people type "quiescectl status --json" as often as "quiescectl --json status". */
#include <stdio.h>

#include "cli/cli.h"

int cli_common_opt(struct cli *cli, const char *who, int c, const char *arg)
{
	double secs;

	switch (c) {
	case CLI_OPT_SOCKET:
		cli->socket = arg;
		return 1;
	case CLI_OPT_JSON:
		cli->json = true;
		return 1;
	case CLI_OPT_WAIT:
		if (cli_parse_seconds(arg, &secs) < 0) {
			fprintf(stderr, "%s: --wait: expected seconds, got '%s'\n", who, arg);
			return -1;
		}
		cli->wait_ms = (int)(secs * 1000);
		return 1;
	default:
		return 0;
	}
}

void cli_common_help(FILE *out)
{
	fprintf(out, "--socket PATH, --json and --wait SECONDS work here as before the verb\n"
		     "(see 'quiescectl --help').\n");
}
