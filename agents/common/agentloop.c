// SPDX-License-Identifier: MIT
/* The agents' main loop and shared options (see agentloop.h). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agentloop.h"

#define REGISTER_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 2000

void
agent_opts_init(struct agent_opts *o, const char *prog, const char *name)
{
	*o = (struct agent_opts){ .prog = prog, .name = name, .retry_max_ms = 30000 };
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

int
agent_opt(struct agent_opts *o, int c, const char *arg, void (*usage)(FILE *))
{
	switch (c) {
	case 'n': o->name = arg; return 0;
	case 'o': o->optional = 1; return 0;
	case 's': o->socket = arg; return 0;
	case 't':
	case 'r':
		if (parse_ms(arg, c == 't' ? &o->timeout_ms : &o->retry_max_ms) < 0) {
			fprintf(stderr, "%s: bad milliseconds: %s\n", o->prog, arg);
			return 2;
		}
		if (o->retry_max_ms < 100)
			o->retry_max_ms = 100;
		return 0;
	case 'v': o->verbose = 1; return 0;
	case 'h': usage(stdout); return 1;
	case 'V': printf("%s %s\n", o->prog, QUIESCE_VERSION); return 1;
	default: return -1;
	}
}

void
agent_usage_common(FILE *out, const char *default_name)
{
	fprintf(out,
	    "  -n, --name=NAME         name to register with quiesced (default %s)\n"
	    "  -o, --optional          register as optional: a veto is logged, not fatal\n"
	    "  -s, --socket=PATH       quiesced's app socket (default $QUIESCE_APP_SOCKET,\n"
	    "                          else " QUIESCE_DEFAULT_SOCKET ")\n"
	    "  -t, --timeout=MS        time to ask for per request (default: the daemon's)\n"
	    "  -r, --retry-max=MS      longest wait between reconnects (default 30000)\n"
	    "  -v, --verbose           log every step\n"
	    "  -h, --help              show this help and exit\n"
	    "  -V, --version           show the version and exit\n", default_name);
}

int
agent_parse(int argc, char **argv, struct agent_opts *o, void (*usage)(FILE *),
    const struct option *own, const char **own_arg)
{
	const struct option longopts[] = { *own, AGENT_LONGOPTS, { NULL, 0, NULL, 0 } };
	char shortopts[32];
	int c, r;

	snprintf(shortopts, sizeof(shortopts), "%c:%s", own->val, AGENT_SHORTOPTS);
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == own->val) {
			*own_arg = optarg;
			continue;
		}
		if ((r = agent_opt(o, c, optarg, usage)) == 1)
			return 0;
		if (r != 0) {
			fprintf(stderr, "Try '%s --help'.\n", o->prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument %s\nTry '%s --help'.\n", o->prog, argv[optind],
		    o->prog);
		return 2;
	}
	return -1;
}

struct loop {
	const struct agent_opts *o;
	const struct agent_ops *ops;
	struct quiesce *q;
	struct agent_backoff qb;
	int frozen;
};

/* Answer one request, with a detail when the daemon takes one. 1 answered, 0 none
 * waiting, or the negative errno that ended the connection. */
static int
serve(struct loop *l)
{
	const struct agent_ops *ops = l->ops;
	struct quiesce_request req;
	char detail[256] = "";
	int status, r;

	r = quiesce_next_request(l->q, &req, 0);
	if (r == -ETIMEDOUT || r == -EINTR)
		return 0;
	if (r < 0)
		return r;
	switch (req.op) {
	case QUIESCE_CHECK:
		status = ops->check(ops->db, l->q, req.deadline_ns, detail, sizeof(detail));
		break;
	case QUIESCE_FREEZE:
		status = ops->freeze(ops->db, l->q, req.deadline_ns, detail, sizeof(detail));
		break;
	default:
		status = ops->thaw(ops->db, detail, sizeof(detail));
		break;
	}
	if (req.op == QUIESCE_FREEZE)
		l->frozen = status == QUIESCE_SUCCESS;
	else if (req.op == QUIESCE_THAW)
		l->frozen = 0;
	agent_log(AGENT_DEBUG, "%s msgid %llu: %s%s%s", quiesce_op_name(req.op),
	    (unsigned long long)req.msgid, status == QUIESCE_SUCCESS ? "success" : "failure",
	    detail[0] ? ": " : "", detail);
	if (detail[0] && quiesce_protocol_version(l->q) >= 2)
		quiesce_set_detail(l->q, detail);
	if ((r = quiesce_reply(l->q, &req, status)) < 0) {
		agent_log(AGENT_WARN, "answer to %s: %s", quiesce_op_name(req.op), quiesce_strerror(r));
		return r;
	}
	return 1;
}

static void
register_app(struct loop *l)
{
	const struct agent_opts *o = l->o;
	struct quiesce_options qo = { .flags = o->optional ? QUIESCE_OPTIONAL : 0,
				      .timeout_ms = o->timeout_ms };
	int r = quiesce_open(o->socket, o->name, &qo, REGISTER_TIMEOUT_MS, &l->q);

	if (r < 0) {
		if (l->qb.cur_ms == 0 || l->qb.cur_ms == l->qb.max_ms)
			agent_log(AGENT_WARN, "cannot register with quiesced: %s", quiesce_strerror(r));
		agent_backoff_failed(&l->qb);
		l->q = NULL;
		return;
	}
	agent_backoff_reset(&l->qb);
	agent_log(AGENT_INFO, "registered with quiesced as %s (id %u, %s, timeout %u ms, protocol %u)",
	    o->name, quiesce_app_id(l->q), quiesce_flags(l->q) & QUIESCE_OPTIONAL ? "optional" : "required",
	    quiesce_timeout_ms(l->q), quiesce_protocol_version(l->q));
}

/* The connection to quiesced ended: whatever FREEZE holds is ours to release. */
static void
unregister(struct loop *l, int err)
{
	agent_log(AGENT_WARN, "lost the connection to quiesced (%s)%s; registering again",
	    quiesce_strerror(err), l->frozen ? " while frozen: releasing" : "");
	if (l->frozen && l->ops->lost)
		l->ops->lost(l->ops->db);
	l->frozen = 0;
	quiesce_close(l->q);
	l->q = NULL;
	agent_backoff_failed(&l->qb);
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

/* Connect whichever is missing once its backoff is over; the poll timeout until the
 * next try (-1: nothing to retry). The database is connected ahead of the first
 * request, so that a CHECK finds it ready. */
static int
reconnect(struct loop *l)
{
	const struct agent_ops *ops = l->ops;
	char err[256];
	int wait = -1;

	if (l->q == NULL && agent_backoff_wait_ms(&l->qb) == 0)
		register_app(l);
	if (ops->fd(ops->db) < 0 && agent_backoff_wait_ms(ops->backoff) == 0 &&
	    ops->connect(ops->db, now_ns() + CONNECT_TIMEOUT_MS * 1000000ull, err,
	    sizeof(err)) < 0)
		agent_log(ops->backoff->cur_ms <= 100 ? AGENT_WARN : AGENT_DEBUG, "%s (retrying)", err);
	if (l->q == NULL)
		wait = agent_backoff_wait_ms(&l->qb);
	if (ops->fd(ops->db) < 0) {
		int w = agent_backoff_wait_ms(ops->backoff);
		wait = wait < 0 || w < wait ? w : wait;
	}
	return wait;
}

int
agent_run(const struct agent_opts *o, const struct agent_ops *ops)
{
	struct loop l = { .o = o, .ops = ops, .qb = { .max_ms = o->retry_max_ms } };
	struct signalfd_siginfo si;
	int sfd, r;

	ops->backoff->max_ms = o->retry_max_ms;
	if ((sfd = signals()) < 0) {
		agent_log(AGENT_ERR, "signals: %s", strerror(errno));
		return 1;
	}
	for (;;) {
		int wait = reconnect(&l);
		struct pollfd p[3] = { { .fd = sfd, .events = POLLIN },
				       { .fd = l.q ? quiesce_fd(l.q) : -1, .events = POLLIN },
				       { .fd = ops->fd(ops->db), .events = POLLIN } };

		if (poll(p, 3, wait) < 0 && errno != EINTR)
			break;
		if (p[0].revents && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
		    si.ssi_signo != SIGHUP)
			break;
		if (p[2].revents)
			ops->idle_input(ops->db);
		if (l.q && p[1].revents) {
			/* Until none is waiting: a filesystem query may have read the next
			 * request already, which poll does not show. */
			while ((r = serve(&l)) > 0)
				;
			if (r < 0)
				unregister(&l, r);
		}
	}
	agent_log(AGENT_INFO, "stopping");
	if (l.frozen && ops->lost)
		ops->lost(ops->db);
	quiesce_close(l.q);
	ops->close(ops->db);
	close(sfd);
	return 0;
}
