// SPDX-License-Identifier: MIT
/* quiescectl: shared pieces of the verbs. */
#ifndef QUIESCE_CLI_H
#define QUIESCE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct json_object;

/* Exit codes (documented in --help, README and docs/control.md). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,        /* the operation failed: veto, freeze error, busy, ... */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,   /* cannot talk to quiesced */
	EXIT_DENIED = 4,        /* not allowed (not root) */
	EXIT_LEASE = 5,         /* thaw: the lease had expired, writes were not held */
	EXIT_SNAP_UNSAFE = 124, /* snapshot: CMD succeeded but the freeze did not hold */
	EXIT_SNAP_NOFREEZE = 125, /* snapshot: the freeze failed, CMD did not run */
	EXIT_SNAP_NOEXEC = 126,
	EXIT_SNAP_NOTFOUND = 127,
};

struct cli {
	const char *socket;
	bool json;
	int wait_ms;            /* longest wait for one answer */
	int fd;
	void *tok;              /* json_tokener */
	char err[512];
	bool timed_out;         /* the last cli_call sent its request and got no answer */
};

struct verb {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *synopsis;
	const char *help;
};

extern const struct verb verbs[];
extern const size_t n_verbs;

/* client.c */
int cli_connect(struct cli *cli);
void cli_disconnect(struct cli *cli);
/* Send {"execute": cmd, "arguments": args} (args consumed, may be NULL) and wait for
 * its answer. Returns 0 and sets *ans (json_object_put it), or -1 with cli->err ("out
 * of memory" too: nothing sent then). */
int cli_call(struct cli *cli, const char *cmd, struct json_object *args, struct json_object **ans);
/* New arguments {"lease": lease} ({} if lease <= 0); NULL if out of memory. */
struct json_object *cli_lease_args(double lease);
/* Exit code for an answer that is an error; prints it unless --json. */
int cli_report_error(struct cli *cli, const char *verb, struct json_object *ans);
/* The "return" member of an answer, or NULL if it is an error. */
struct json_object *cli_return(struct json_object *ans);
/* The error's "desc" of an answer, or "failed". */
const char *cli_error_desc(struct json_object *ans);
void cli_print_json(struct json_object *v);

/* snapshot.c */
int verb_snapshot(struct cli *cli, int argc, char **argv);
/* apps.c */
int verb_apps(struct cli *cli, int argc, char **argv);

/* hook.c: qemu-ga's fsfreeze hook */
int verb_fsfreeze_hook(struct cli *cli, int argc, char **argv);

/* opts.c: the options every verb takes, before or after the verb. Put
 * CLI_COMMON_LONGOPTS in a verb's getopt_long table and pass what getopt_long
 * returns to cli_common_opt(): 1 it was one of them (handled), 0 it was not, -1 a
 * bad value (message printed; exit EXIT_USAGE). */
enum { CLI_OPT_SOCKET = 0x100, CLI_OPT_JSON, CLI_OPT_WAIT };
#define CLI_COMMON_LONGOPTS                                        \
	{ "socket", required_argument, NULL, CLI_OPT_SOCKET },     \
	{ "json", no_argument, NULL, CLI_OPT_JSON },               \
	{ "wait", required_argument, NULL, CLI_OPT_WAIT }
int cli_common_opt(struct cli *cli, const char *who, int c, const char *arg);
/* The line each verb's --help ends with. */
void cli_common_help(FILE *out);

/* output.c */
void print_report(FILE *out, const char *verb, struct json_object *report);
void print_status(FILE *out, struct json_object *st);

/* Parse SECONDS (fractional ok) into *ms; -1 if invalid. */
int cli_parse_seconds(const char *s, double *out);

#endif
