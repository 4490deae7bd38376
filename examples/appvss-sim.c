// SPDX-License-Identifier: MIT
/*
 * appvss-sim: the hv_vss(4) sample application, done with libquiesce.
 *
 * It registers with quiesced and answers CHECK / FREEZE / THAW, simulating
 * success, a timeout or a failure for each (-c, -f, -t), as the FreeBSD man
 * page's sample does for /dev/hv_appvss_dev. For tests it can also prove what
 * it saw: -w writes and fsyncs a file on FREEZE (before answering, so the
 * filesystems must not be frozen yet) and on THAW (after the filesystems are
 * thawed), and -l appends one line per event to a log file.
 *
 * It shows the blocking style of the library: quiesce_run() with callbacks,
 * quiesce_stop() from a signal handler, and reconnecting when the daemon goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <quiesce.h>

enum sim { SIM_SUCCESS = 0, SIM_TIMEOUT = 1, SIM_FAIL = 2 };

struct app {
	const char *name;
	const char *socket;		/* NULL: library default */
	struct quiesce_options opt;
	enum sim sim[4];		/* by enum quiesce_op */
	unsigned int work_ms;		/* -S: time "spent" before each answer */
	unsigned int late_ms;		/* -L: how long after the deadline a "timeout" answers */
	int dir_fd;			/* -w, or -1 */
	char dir[PATH_MAX];
	int log_fd;			/* -l, or -1 */
	int foreground, debug, exit_on_loss;
};

static volatile sig_atomic_t stop_signal;
/* The open handle, for the signal handler; changed only with signals blocked. */
static struct quiesce *volatile live_q;

static void
say(const struct app *a, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !a->debug)
		return;
	va_start(ap, fmt);
	if (a->foreground) {
		fprintf(stderr, "appvss-sim[%s]: ", a->name);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *
errname(int err)
{
	const char *s = NULL;

	if (err < 0)
		err = -err;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	s = strerrorname_np(err);
#endif
	return s != NULL ? s : "EUNKNOWN";
}

/* -l: one line per event, "<monotonic ns> <EVENT> <result> key=value...", one write each. */
static void
event(const struct app *a, const char *fmt, ...)
{
	char line[PATH_MAX + 256];
	va_list ap;
	int n, m;

	if (a->log_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%llu ", (unsigned long long)mono_ns());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(a->log_fd, line, (size_t)n) != n)
		say(a, LOG_WARNING, "event log: %s", strerror(errno));
}

/* Sleep until the monotonic time t, or until a signal asks us to stop. 0, or -1 if stopped. */
static int
sleep_until(uint64_t t)
{
	struct timespec ts = { 0, 20000000 };

	while (mono_ns() < t) {
		if (stop_signal)
			return -1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* -w: write and fsync DIR/NAME.<suffix>. 0, or a negative errno. */
static int
write_mark(const struct app *a, const char *suffix, const struct quiesce_request *req,
    char *path, size_t pathlen)
{
	char file[QUIESCE_NAME_MAX + 16], text[128];
	int fd, n, r = 0;

	snprintf(file, sizeof(file), "%s.%s", a->name, suffix);
	snprintf(path, pathlen, "%s/%s", a->dir, file);
	n = snprintf(text, sizeof(text), "%s msgid=%llu ns=%llu\n", quiesce_op_name(req->op),
	    (unsigned long long)req->msgid, (unsigned long long)mono_ns());
	fd = openat(a->dir_fd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		r = -errno;
	else if (fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* One request: what the hv_vss(4) sample's check()/freeze()/thaw() do, plus -w and -l. */
static int
simulate(struct app *a, const struct quiesce_request *req)
{
	const char *op = quiesce_op_name(req->op);
	enum sim sim = req->op <= QUIESCE_THAW ? a->sim[req->op] : SIM_FAIL;
	char path[PATH_MAX + QUIESCE_NAME_MAX + 16], wrote[sizeof(path) + 8] = "";
	const char *result = "ok";
	int r;

	say(a, LOG_DEBUG, "%s request, msgid %llu", op, (unsigned long long)req->msgid);
	if (sim == SIM_FAIL) {
		say(a, LOG_INFO, "%s failure simulation", op);
		event(a, "%s fail msgid=%llu simulated", op, (unsigned long long)req->msgid);
		return QUIESCE_FAIL;
	}
	if (sim == SIM_TIMEOUT) {
		/* Answer only once the daemon has stopped waiting (by default 1 s after). */
		say(a, LOG_INFO, "%s timeout simulation", op);
		result = "timeout";
		if (sleep_until(req->deadline_ns + a->late_ms * 1000000ull) < 0) {
			event(a, "%s fail msgid=%llu interrupted", op, (unsigned long long)req->msgid);
			return QUIESCE_FAIL;
		}
	} else if (a->work_ms > 0 && sleep_until(mono_ns() + a->work_ms * 1000000ull) < 0) {
		event(a, "%s fail msgid=%llu interrupted", op, (unsigned long long)req->msgid);
		return QUIESCE_FAIL;
	}
	if (a->dir_fd >= 0 && req->op != QUIESCE_CHECK) {
		r = write_mark(a, req->op == QUIESCE_FREEZE ? "freeze" : "thaw", req, path,
		    sizeof(path));
		if (r < 0) {
			say(a, LOG_ERR, "%s: write %s: %s", op, path, strerror(-r));
			event(a, "%s fail msgid=%llu error=%s path=%s", op,
			    (unsigned long long)req->msgid, errname(r), path);
			return QUIESCE_FAIL;
		}
		snprintf(wrote, sizeof(wrote), " wrote=%s", path);
	}
	say(a, LOG_INFO, "%s %s simulation", op, sim == SIM_TIMEOUT ? "(late) success" : "success");
	event(a, "%s %s msgid=%llu%s%s", op, result, (unsigned long long)req->msgid, wrote,
	    req->msgid == 0 ? " lost-connection" : "");
	return QUIESCE_SUCCESS;
}

static int
on_request(void *arg, const struct quiesce_request *req)
{
	return simulate(arg, req);
}

static void
on_signal(int sig)
{
	stop_signal = sig;
	if (live_q != NULL)
		quiesce_stop(live_q);
}

static void
publish(struct quiesce *q)
{
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, &old);
	live_q = q;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Errors that retrying cannot fix. */
static int
permanent(int err)
{
	return err == -EINVAL || err == -EACCES || err == -EPROTONOSUPPORT || err == -EPROTO ||
	    err == -ENAMETOOLONG;
}

/* Connected: serve until stopped or the connection is lost. */
static int
serve(struct app *a, struct quiesce *q)
{
	const struct quiesce_callbacks cb = { on_request, on_request, on_request };
	int r;

	/*
	 * q is published before the first check of stop_signal: a signal before the check
	 * is seen by it, one after it makes quiesce_run() return through quiesce_stop().
	 */
	for (;;) {
		if (stop_signal)
			return 0;
		r = quiesce_run(q, &cb, a, -1);
		if (r == 0 || r == -EINTR)
			continue;
		say(a, LOG_WARNING, "connection lost: %s", quiesce_strerror(r));
		event(a, "DISCONNECT fail error=%s", errname(r));
		return r;
	}
}

static int
run(struct app *a)
{
	struct quiesce *q;
	int r, last = 0;

	for (;;) {
		if (stop_signal)
			return 0;
		r = quiesce_open(a->socket, a->name, &a->opt, 5000, &q);
		if (r == -EINTR && stop_signal)
			return 0;
		if (r < 0) {
			if (r != last) {
				say(a, LOG_WARNING, "register: %s", quiesce_strerror(r));
				event(a, "REGISTER fail error=%s", errname(r));
			}
			last = r;
			if (permanent(r) || a->exit_on_loss)
				return 1;
			sleep_until(mono_ns() + 1000000000u);
			continue;
		}
		last = 0;
		say(a, LOG_INFO, "registered as app %u, timeout %u ms, %s", quiesce_app_id(q),
		    quiesce_timeout_ms(q), quiesce_flags(q) & QUIESCE_OPTIONAL ? "optional" : "required");
		event(a, "REGISTER ok name=%s id=%u timeout_ms=%u flags=%s pid=%d", a->name,
		    quiesce_app_id(q), quiesce_timeout_ms(q),
		    quiesce_flags(q) & QUIESCE_OPTIONAL ? "optional" : "required", (int)getpid());
		publish(q);
		r = serve(a, q);
		publish(NULL);
		quiesce_close(q);
		if (r == 0)
			return 0;
		if (a->exit_on_loss)
			return 1;
		sleep_until(mono_ns() + 1000000000u);
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: appvss-sim [-dnorx] [-c N] [-f N] [-t N] [-N name] [-s socket] [-T ms]\n"
	    "                  [-S ms] [-L ms] [-w dir] [-l file]\n"
	    "Answer quiesced's CHECK, FREEZE and THAW requests (the hv_vss(4) sample app).\n"
	    "  -c N       simulate CHECK:  0 success, 1 timeout, 2 failure (default 0)\n"
	    "  -f N       simulate FREEZE: 0 success, 1 timeout, 2 failure (default 0)\n"
	    "  -t N       simulate THAW:   0 success, 1 timeout, 2 failure (default 0)\n"
	    "             a timeout answers (success) -L ms after the daemon's deadline\n"
	    "  -n         stay in the foreground (default: daemon(3), messages to syslog)\n"
	    "  -d         debug messages\n"
	    "  -N name    register under this name (default appvss-sim)\n"
	    "  -s socket  quiesced's app socket (default $" QUIESCE_SOCKET_ENV " or "
	    QUIESCE_DEFAULT_SOCKET ")\n"
	    "  -r         register as required: a veto or timeout fails the snapshot (default)\n"
	    "  -o         register as optional: a veto or timeout is only logged\n"
	    "  -T ms      ask for this per-request timeout (default: the daemon's)\n"
	    "  -S ms      spend this long on each request before answering (default 0)\n"
	    "  -L ms      with 1: answer this long after the daemon's deadline (default 1000)\n"
	    "  -w dir     on FREEZE and THAW write and fsync dir/NAME.freeze, dir/NAME.thaw\n"
	    "             before answering\n"
	    "  -l file    append a line per event: <monotonic ns> <EVENT> <ok|fail|timeout> k=v...\n"
	    "  -x         exit (status 1) when registration fails or the connection is lost\n"
	    "             (default: retry every second)\n"
	    "SIGTERM or SIGINT: unregister and exit 0.\n");
}

static int
number(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out >= min && *out <= max ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	struct app a = { .name = "appvss-sim", .dir_fd = -1, .log_fd = -1, .late_ms = 1000 };
	const char *dir = NULL, *logfile = NULL;
	char sockbuf[PATH_MAX];
	struct sigaction sa;
	long v;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "c:f:t:dnN:s:roT:S:L:w:l:xh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
		case 'f':
		case 't':
			if (number(optarg, 0, 2, &v) < 0) {
				fprintf(stderr, "appvss-sim: -%c wants 0, 1 or 2\n", ch);
				return 2;
			}
			a.sim[ch == 'c' ? QUIESCE_CHECK : ch == 'f' ? QUIESCE_FREEZE : QUIESCE_THAW] =
			    (enum sim)v;
			break;
		case 'd':
			a.debug = 1;
			break;
		case 'n':
			a.foreground = 1;
			break;
		case 'N':
			a.name = optarg;
			break;
		case 's':
			a.socket = optarg;
			break;
		case 'r':
			a.opt.flags &= ~QUIESCE_OPTIONAL;
			break;
		case 'o':
			a.opt.flags |= QUIESCE_OPTIONAL;
			break;
		case 'T':
		case 'S':
		case 'L':
			if (number(optarg, 0, INT_MAX, &v) < 0) {
				fprintf(stderr, "appvss-sim: -%c wants milliseconds\n", ch);
				return 2;
			}
			if (ch == 'T')
				a.opt.timeout_ms = (unsigned int)v;
			else if (ch == 'S')
				a.work_ms = (unsigned int)v;
			else
				a.late_ms = (unsigned int)v;
			break;
		case 'w':
			dir = optarg;
			break;
		case 'l':
			logfile = optarg;
			break;
		case 'x':
			a.exit_on_loss = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strlen(a.name) > QUIESCE_NAME_MAX) {
		fprintf(stderr, "appvss-sim: name longer than %d bytes\n", QUIESCE_NAME_MAX);
		return 2;
	}

	/* Everything path-based is opened or made absolute now: daemon(3) moves us to /. */
	if (dir != NULL) {
		if (realpath(dir, a.dir) == NULL ||
		    (a.dir_fd = open(a.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "appvss-sim: %s: %s\n", dir, strerror(errno));
			return 1;
		}
	}
	if (logfile != NULL) {
		a.log_fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (a.log_fd < 0) {
			fprintf(stderr, "appvss-sim: %s: %s\n", logfile, strerror(errno));
			return 1;
		}
	}
	if (a.socket != NULL && a.socket[0] != '/' && getcwd(sockbuf, sizeof(sockbuf)) != NULL &&
	    strlen(sockbuf) + strlen(a.socket) + 2 <= sizeof(sockbuf)) {
		strcat(sockbuf, "/");
		strcat(sockbuf, a.socket);
		a.socket = sockbuf;
	}

	openlog("appvss-sim", LOG_PID, LOG_USER);
	if (!a.foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "appvss-sim: daemon: %s\n", strerror(errno));
		return 1;
	}
	say(&a, LOG_INFO, "starting; pid is %d", (int)getpid());

	/* No SA_RESTART: a signal must interrupt the library's waits (it returns -EINTR). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	r = run(&a);
	if (stop_signal)
		event(&a, "EXIT ok signal=%s", sigabbrev_np(stop_signal));
	else
		event(&a, "EXIT fail status=%d", r);
	say(&a, LOG_INFO, "exiting");
	return r;
}
