// SPDX-License-Identifier: MIT
/*
 * quiesce-agent-postgresql: takes part in quiesce's snapshots on behalf of a
 * PostgreSQL cluster (man/quiesce-agent-postgresql.8). A long-lived service with
 * two connections, each made again with backoff when it is lost: to quiesced's
 * app socket (libquiesce) and to PostgreSQL (libpq). One poll loop: the app socket,
 * the PostgreSQL socket while idle, and a signalfd.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "pgagent.h"

#define PROG "quiesce-agent-postgresql"
#define REGISTER_TIMEOUT_MS 5000

struct opts {
	const char *conninfo;
	const char *name;
	const char *socket;
	unsigned timeout_ms;
	unsigned retry_max_ms;
	int optional;
	int verbose;
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "Usage: " PROG " [option]...\n"
	    "Take part in quiesce's snapshots for a PostgreSQL cluster: check that its\n"
	    "directories are on filesystems quiesced freezes, CHECKPOINT at the freeze, and\n"
	    "report the WAL position. Connection settings are libpq's: PG* variables, the\n"
	    "service file, ~/.pgpass.\n"
	    "\n"
	    "  -d, --dbname=CONNINFO   libpq connection string or URI (no password in it)\n"
	    "  -n, --name=NAME         name to register with quiesced (default postgresql)\n"
	    "  -o, --optional          register as optional: a veto is logged, not fatal\n"
	    "  -s, --socket=PATH       quiesced's app socket (default $QUIESCE_APP_SOCKET,\n"
	    "                          else " QUIESCE_DEFAULT_SOCKET ")\n"
	    "  -t, --timeout=MS        time to ask for per request (default: the daemon's)\n"
	    "  -r, --retry-max=MS      longest wait between reconnects (default 30000)\n"
	    "  -v, --verbose           log every step\n"
	    "  -h, --help              show this help and exit\n"
	    "  -V, --version           show the version and exit\n");
}

static int
parse_ms(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 3600000ul || s[0] == '-')
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* 0 to run, 1 to exit 0 (help, version), 2 on a usage error. */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "dbname", required_argument, NULL, 'd' }, { "name", required_argument, NULL, 'n' },
		{ "optional", no_argument, NULL, 'o' }, { "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retry-max", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};
	char err[256];
	int c;

	*o = (struct opts){ .name = "postgresql", .retry_max_ms = 30000 };
	while ((c = getopt_long(argc, argv, "d:n:os:t:r:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->conninfo = optarg; break;
		case 'n': o->name = optarg; break;
		case 'o': o->optional = 1; break;
		case 's': o->socket = optarg; break;
		case 't':
		case 'r':
			if (parse_ms(optarg, c == 't' ? &o->timeout_ms : &o->retry_max_ms) < 0) {
				fprintf(stderr, PROG ": bad milliseconds: %s\n", optarg);
				return 2;
			}
			break;
		case 'v': o->verbose = 1; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf(PROG " " QUIESCE_VERSION "\n"); return 1;
		default: fprintf(stderr, "Try '" PROG " --help'.\n"); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument %s\nTry '" PROG " --help'.\n", argv[optind]);
		return 2;
	}
	if (o->retry_max_ms < 100)
		o->retry_max_ms = 100;
	if (pgconn_conninfo_ok(o->conninfo, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	return 0;
}

/* Answer one request, with a detail when the daemon takes one. 1 answered, 0 none
 * waiting, or the negative errno that ended the connection. */
static int
serve(struct pgagent *a, struct quiesce *q)
{
	struct quiesce_request req;
	char detail[256] = "";
	int status, r;

	r = quiesce_next_request(q, &req, 0);
	if (r == -ETIMEDOUT || r == -EINTR)
		return 0;
	if (r < 0)
		return r;
	switch (req.op) {
	case QUIESCE_CHECK: status = pgagent_check(a, req.deadline_ns, detail, sizeof(detail)); break;
	case QUIESCE_FREEZE: status = pgagent_freeze(a, req.deadline_ns, detail, sizeof(detail)); break;
	default: status = pgagent_thaw(a, detail, sizeof(detail)); break;
	}
	agent_log(AGENT_DEBUG, "%s msgid %llu: %s%s%s", quiesce_op_name(req.op),
	    (unsigned long long)req.msgid, status == QUIESCE_SUCCESS ? "success" : "failure",
	    detail[0] ? ": " : "", detail);
	if (detail[0] && quiesce_protocol_version(q) >= 2)
		quiesce_set_detail(q, detail);
	if ((r = quiesce_reply(q, &req, status)) < 0) {
		agent_log(AGENT_WARN, "answer to %s: %s", quiesce_op_name(req.op), quiesce_strerror(r));
		return r;
	}
	return 1;
}

static struct quiesce *
register_app(const struct opts *o, struct agent_backoff *b)
{
	struct quiesce_options qo = { .flags = o->optional ? QUIESCE_OPTIONAL : 0,
				      .timeout_ms = o->timeout_ms };
	struct quiesce *q = NULL;
	int r = quiesce_open(o->socket, o->name, &qo, REGISTER_TIMEOUT_MS, &q);

	if (r < 0) {
		if (b->cur_ms == 0 || b->cur_ms == b->max_ms)
			agent_log(AGENT_WARN, "cannot register with quiesced: %s", quiesce_strerror(r));
		agent_backoff_failed(b);
		return NULL;
	}
	agent_backoff_reset(b);
	agent_log(AGENT_INFO, "registered with quiesced as %s (id %u, %s, timeout %u ms, protocol %u)",
	    o->name, quiesce_app_id(q), quiesce_flags(q) & QUIESCE_OPTIONAL ? "optional" : "required",
	    quiesce_timeout_ms(q), quiesce_protocol_version(q));
	return q;
}

static int
signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int
min_wait(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct pgagent a;
	struct agent_backoff qb;
	struct signalfd_siginfo si;
	int sfd, r = parse_opts(argc, argv, &o);

	if (r)
		return r == 1 ? 0 : 2;
	agent_log_init(PROG, o.verbose);
	memset(&a, 0, sizeof(a));
	a.pg.conninfo = o.conninfo;
	a.pg.backoff.max_ms = o.retry_max_ms;
	qb = (struct agent_backoff){ .max_ms = o.retry_max_ms };
	if ((sfd = signals()) < 0) {
		agent_log(AGENT_ERR, "signals: %s", strerror(errno));
		return 1;
	}
	for (;;) {
		struct pollfd p[3] = { { .fd = sfd, .events = POLLIN },
				       { .fd = a.q ? quiesce_fd(a.q) : -1, .events = POLLIN },
				       { .fd = pgconn_fd(&a.pg), .events = POLLIN } };
		int wait = -1;

		/* Connect whichever is missing once its backoff is over. PostgreSQL is
		 * connected ahead of the first request, so a CHECK finds it ready. */
		if (a.q == NULL && agent_backoff_wait_ms(&qb) == 0)
			a.q = register_app(&o, &qb);
		if (a.pg.conn == NULL && agent_backoff_wait_ms(&a.pg.backoff) == 0 &&
		    pgconn_ensure(&a.pg, agent_now_ns() + 2000000000ull) < 0)
			agent_log(a.pg.backoff.cur_ms <= 100 ? AGENT_WARN : AGENT_DEBUG,
			    "PostgreSQL: %s (retrying)", a.pg.err);
		if (a.q == NULL)
			wait = agent_backoff_wait_ms(&qb);
		if (a.pg.conn == NULL)
			wait = min_wait(wait, agent_backoff_wait_ms(&a.pg.backoff));
		p[1].fd = a.q ? quiesce_fd(a.q) : -1;
		p[2].fd = pgconn_fd(&a.pg);
		if (poll(p, 3, wait) < 0 && errno != EINTR)
			break;
		if (p[0].revents && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
		    si.ssi_signo != SIGHUP)
			break;
		if (p[2].revents)
			pgconn_idle_input(&a.pg);
		if (a.q && p[1].revents) {
			/* Until none is waiting: a filesystem query may have read the next
			 * request already, which poll does not show. */
			while ((r = serve(&a, a.q)) > 0)
				;
			if (r < 0) {
				agent_log(AGENT_WARN, "lost the connection to quiesced%s; registering again",
				    a.frozen ? " while frozen (nothing is held)" : "");
				a.frozen = 0;
				quiesce_close(a.q);
				a.q = NULL;
				agent_backoff_failed(&qb);
			}
		}
	}
	agent_log(AGENT_INFO, "stopping");
	quiesce_close(a.q);
	pgconn_close(&a.pg);
	close(sfd);
	return 0;
}
