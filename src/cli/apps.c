// SPDX-License-Identifier: MIT
/* quiescectl apps: the applications registered on quiesced's app socket. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* A member's text, or dflt if it is missing or null. */
static const char *str(struct json_object *o, const char *key, const char *dflt)
{
	struct json_object *v;
	const char *s = json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
	return s ? s : dflt;
}

static double num(struct json_object *o, const char *key, double dflt)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : dflt;
}

static void age(char *buf, size_t len, double ms)
{
	if (ms < 1000)
		snprintf(buf, len, "%.0f ms", ms);
	else if (ms < 120000)
		snprintf(buf, len, "%.1f s", ms / 1000);
	else if (ms < 7200000)
		snprintf(buf, len, "%.0f min", ms / 60000);
	else
		snprintf(buf, len, "%.1f h", ms / 3600000);
}

static void print_apps(FILE *out, struct json_object *ret)
{
	struct json_object *apps, *v;
	size_t n = json_object_object_get_ex(ret, "apps", &apps) ? json_object_array_length(apps) : 0;

	fprintf(out, "%zu app%s registered (at most %d) on %s\n", n, n == 1 ? "" : "s",
		(int)num(ret, "max", 0), str(ret, "socket", "?"));
	if (!n)
		return;
	fprintf(out, "%-5s %-24s %-8s %-6s %-8s %-8s %-7s %-26s %s\n", "ID", "NAME", "PID", "UID",
		"KIND", "TIMEOUT", "STATE", "LAST", "CONNECTED");
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(apps, i), *last = NULL;
		char timeout[32], since[32], lastbuf[64] = "-";
		age(timeout, sizeof(timeout), num(a, "timeout_ms", 0));
		age(since, sizeof(since), num(a, "connected_ms", 0));
		if (json_object_object_get_ex(a, "last", &last)) {
			int k = snprintf(lastbuf, sizeof(lastbuf), "%s %s", str(last, "op", "?"),
					 str(last, "result", "?"));
			if (json_object_object_get_ex(last, "ms", &v) && k > 0 &&
			    (size_t)k < sizeof(lastbuf))
				snprintf(lastbuf + k, sizeof(lastbuf) - (size_t)k, " %.1f ms",
					 json_object_get_double(v));
		}
		fprintf(out, "%-5d %-24s %-8d %-6d %-8s %-8s %-7s %-26s %s ago\n", (int)num(a, "id", 0),
			str(a, "name", "?"), (int)num(a, "pid", 0), (int)num(a, "uid", 0),
			json_object_get_boolean(json_object_object_get(a, "required")) ? "required"
											  : "optional",
			timeout, str(a, "state", "?"), lastbuf, since);
		/* A version 2 app's word on its last answer (a position, a veto's reason). */
		if (last && str(last, "detail", NULL))
			fprintf(out, "      %s\n", str(last, "detail", NULL));
	}
}

int verb_apps(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		CLI_COMMON_LONGOPTS,
		{ 0 },
	};
	struct json_object *ans = NULL, *ret;
	int c, code = EXIT_OK;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int common = cli_common_opt(cli, "quiescectl apps", c, optarg);
		if (common < 0)
			return EXIT_USAGE;
		if (common)
			continue;
		if (c == 'h') {
			printf("Usage: quiescectl apps\n"
			       "List the applications registered with quiesced: id, name, pid, uid,\n"
			       "required or optional, timeout, state (idle, asked, late, frozen), the\n"
			       "last answer with its latency, and since when connected. Any user may ask.\n");
			cli_common_help(stdout);
			return EXIT_OK;
		}
		fprintf(stderr, "Try 'quiescectl apps --help'.\n");
		return EXIT_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "quiescectl apps: unexpected argument\nTry 'quiescectl apps --help'.\n");
		return EXIT_USAGE;
	}
	if (cli_connect(cli) < 0 || cli_call(cli, "quiesce-apps", NULL, &ans) < 0) {
		fprintf(stderr, "quiescectl apps: %s\n", cli->err);
		return EXIT_UNREACHABLE;
	}
	ret = cli_return(ans);
	if (!ret)
		code = cli_report_error(cli, "apps", ans);
	else if (cli->json)
		cli_print_json(ret);
	else
		print_apps(stdout, ret);
	json_object_put(ans);
	return code;
}
