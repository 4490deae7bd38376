// SPDX-License-Identifier: MIT
/*
 * The agents' main loop and shared options: one poll loop on quiesced's app socket,
 * the database's socket while idle, and a signalfd; both connections made again with
 * backoff when lost. An agent supplies its database as struct agent_ops.
 */
#ifndef QUIESCE_AGENTLOOP_H
#define QUIESCE_AGENTLOOP_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "agent.h"

struct agent_opts {
	const char *prog;
	const char *name;	/* to register with */
	const char *socket;
	unsigned timeout_ms;
	unsigned retry_max_ms;
	int optional;
	int verbose;
};

/* The options every agent takes (the man pages list them too). */
#define AGENT_SHORTOPTS "n:os:t:r:vhV"
#define AGENT_LONGOPTS \
	{ "name", required_argument, NULL, 'n' }, { "optional", no_argument, NULL, 'o' }, \
	{ "socket", required_argument, NULL, 's' }, { "timeout", required_argument, NULL, 't' }, \
	{ "retry-max", required_argument, NULL, 'r' }, { "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }

void agent_opts_init(struct agent_opts *o, const char *prog, const char *name);
/* One of the shared options: 0 handled, 1 exit 0 (--help, --version: after usage() or
 * the version is printed), 2 usage error, -1 not a shared option. */
int agent_opt(struct agent_opts *o, int c, const char *arg, void (*usage)(FILE *));
/* The shared options' lines of --help. */
void agent_usage_common(FILE *out, const char *default_name);

struct agent_ops {
	void *db;
	struct agent_backoff *backoff;	/* the database connection's */
	/* Connect if not connected, until deadline: 0, or -1 with the reason in err. */
	int (*connect)(void *db, uint64_t deadline_ns, char *err, size_t errlen);
	int (*fd)(void *db);		/* -1 when not connected */
	void (*idle_input)(void *db);	/* fd readable while idle: the server went away? */
	int (*check)(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len);
	int (*freeze)(void *db, struct quiesce *q, uint64_t deadline_ns, char *detail, size_t len);
	int (*thaw)(void *db, char *detail, size_t len);
	/* quiesced is gone while we are frozen: nobody will send THAW. Release. */
	void (*lost)(void *db);
	void (*close)(void *db);
};

/* Run until SIGTERM or SIGINT: 0, or 1 if the loop could not be set up. */
int agent_run(const struct agent_opts *o, const struct agent_ops *ops);

/* Parse argv: the shared options and the agent's own one (own: its getopt_long entry,
 * with a short letter as val), whose argument goes to *own_arg. -1 to run, else the
 * exit status (0 after --help or --version, 2 on a usage error). */
int agent_parse(int argc, char **argv, struct agent_opts *o, void (*usage)(FILE *),
    const struct option *own, const char **own_arg);

/* What an agent's main.c says about itself (agentmain.c does the rest). */
struct agent_def {
	const char *prog;		/* quiesce-agent-NAME */
	const char *name;		/* default name to register with */
	const char *about;		/* --help: what it does, before the options */
	struct option own;		/* its own option (a short letter as val) */
	const char *own_help;		/* its --help line */
	const char **own_arg;		/* where the own option's argument goes */
	void *self;			/* the agent's database side */
	/* The options read: 0, or -1 with the reason in err (exit 2). May be NULL. */
	int (*check)(void *self, char *err, size_t len);
	void (*ops)(void *self, struct agent_ops *ops);
	void (*end)(void);		/* after the loop; may be NULL */
};

/* The whole main(): the exit status. */
int agent_main(int argc, char **argv, const struct agent_def *def);

#endif
