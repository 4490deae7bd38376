// SPDX-License-Identifier: MIT
/*
 * An agent's main(): its --help, the options (the shared ones and its own), its own
 * check of them, the log, the loop. Each agent's main.c only describes itself
 * (struct agent_def).
 */
#include <stdio.h>

#include "agentloop.h"

/* usage() takes no context (agent_opt calls it): the one agent this process is. */
static const struct agent_def *def;

static void
usage(FILE *out)
{
	fprintf(out, "Usage: %s [option]...\n%s\n%s", def->prog, def->about, def->own_help);
	agent_usage_common(out, def->name);
}

int
agent_main(int argc, char **argv, const struct agent_def *d)
{
	struct agent_opts o;
	struct agent_ops ops;
	char err[256];
	int r;

	def = d;
	agent_opts_init(&o, d->prog, d->name);
	if ((r = agent_parse(argc, argv, &o, usage, &d->own, d->own_arg)) >= 0)
		return r;
	if (d->check && d->check(d->self, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", d->prog, err);
		return 2;
	}
	agent_log_init(d->prog, o.verbose);
	d->ops(d->self, &ops);
	r = agent_run(&o, &ops);
	if (d->end)
		d->end();
	return r;
}
