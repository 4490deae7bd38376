// SPDX-License-Identifier: MIT
/* The qemu-ga backend process and its connection (see qgaback.h). */
#include "host/qgaback.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/jsonput.h"
#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/nodump.h"
#include "host/qgaconf.h"
#include "host/qgaproto.h"

/* qemu-ga's answers: guest-file-read gives up to 48 MiB, base64 (64 MiB); a longer
 * line is a broken backend. */
#define MAX_LINE (65u << 20)
#define CONNECT_POLL_MS 50
#define START_MS 10000          /* from exec to greeted */
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 30000         /* up this long: the next death restarts at once */
#define REAP_POLL_MS 100
#define CHILD_POLL_MS 500       /* without pidfds (valgrind): waitpid on a timer */
#define MAX_ZOMBIES 8
#define MAX_OUT (4u << 20)
#define ERR_LINE 512

enum state { B_IDLE, B_CONNECTING, B_GREETING, B_READY, B_STOPPED };

struct qgaback {
	struct loop *loop;
	char *program, *dir, *sock_path, *state_dir, *blocked;
	const struct qgaback_ops *ops;
	void *arg;
	enum state state;
	pid_t pid, last_pid;         /* last_pid: for the log after it is reaped */
	int pidfd, fd, errfd;
	uint64_t started_at, ready_at;
	struct loop_timer timer;     /* connect poll, start deadline, restart delay */
	struct loop_timer child_poll;
	struct loop_timer reap;
	uint64_t deadline;           /* of the start */
	uint64_t backoff_ms;
	struct qgaproto_lines in;
	char *out;
	size_t out_len, out_cap;
	int64_t greet_id, next_id;
	bool greeted_sync;
	struct qgaproto_info info;
	pid_t zombies[MAX_ZOMBIES];
	size_t n_zombies;
	char errbuf[ERR_LINE];
	size_t err_len;
	unsigned long starts, deaths;
	char last_error[160];
};

static void start(struct qgaback *b);
static void down(struct qgaback *b, const char *why, bool deliberate);

/* ------------------------------------------------------------ the process */

static void on_reap(struct loop *loop, void *arg)
{
	struct qgaback *b = arg;
	size_t k = 0;
	for (size_t i = 0; i < b->n_zombies; i++)
		if (waitpid(b->zombies[i], NULL, WNOHANG) == 0)
			b->zombies[k++] = b->zombies[i];
	b->n_zombies = k;
	if (k)
		loop_timer_arm(loop, &b->reap, REAP_POLL_MS, on_reap, b);
}

/* Stop watching the current process: its pidfd stays readable once it has ended,
 * and would be reported (and spin the loop) for ever. */
static void unwatch(struct qgaback *b)
{
	if (b->pidfd >= 0) {
		loop_del_fd(b->loop, b->pidfd);
		close(b->pidfd);
		b->pidfd = -1;
	}
	loop_timer_disarm(b->loop, &b->child_poll);
}

/* Kill the current process and reap it later (one stuck in the kernel, e.g. on a
 * dead NFS mount or a frozen filesystem, ends only when that returns). */
static void kill_child(struct qgaback *b)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, SIGKILL);
	unwatch(b);
	if (waitpid(b->pid, NULL, WNOHANG) == 0) {
		if (b->n_zombies < MAX_ZOMBIES)
			b->zombies[b->n_zombies++] = b->pid;
		else
			log_warnx("qga backend: pid %d not reaped yet, too many dying", (int)b->pid);
		if (!loop_timer_armed(&b->reap))
			loop_timer_arm(b->loop, &b->reap, REAP_POLL_MS, on_reap, b);
	}
	b->pid = 0;
}

static void exited(struct qgaback *b)
{
	char why[64];
	int st;
	pid_t r = waitpid(b->pid, &st, WNOHANG);
	if (r == 0)
		return;
	if (r < 0)
		snprintf(why, sizeof(why), "is gone");
	else if (WIFEXITED(st))
		snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(st));
	else
		snprintf(why, sizeof(why), "was killed by signal %d", WTERMSIG(st));
	unwatch(b);
	b->pid = 0; /* reaped */
	down(b, why, false);
}

static void on_pidfd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop, (void)fd, (void)events;
	exited(arg);
}

static void on_child_poll(struct loop *loop, void *arg)
{
	struct qgaback *b = arg;
	exited(b);
	if (b->pid > 0)
		loop_timer_arm(loop, &b->child_poll, CHILD_POLL_MS, on_child_poll, b);
}

/* Its stderr, line by line into our log (it logs there without -l). */
static void flush_err(struct qgaback *b)
{
	if (b->err_len)
		log_info("qemu-ga: %.*s", (int)b->err_len, b->errbuf);
	b->err_len = 0;
}

static void read_err(struct qgaback *b)
{
	char buf[1024];
	ssize_t n;
	while ((n = read(b->errfd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || b->err_len == sizeof(b->errbuf)) {
				flush_err(b);
				if (buf[i] == '\n')
					continue;
			}
			b->errbuf[b->err_len++] = buf[i];
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		flush_err(b);
		loop_del_fd(b->loop, b->errfd);
		close(b->errfd);
		b->errfd = -1;
	}
}

static void on_err(struct loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop, (void)fd, (void)events;
	read_err(arg);
}

static int spawn(struct qgaback *b)
{
	char *argv[] = { b->program, "-m", "unix-listen", "-p", b->sock_path, "-t", b->state_dir,
			 "-b", b->blocked, NULL };
	char **env = qgaconf_prepare(b->dir);
	int pipefd[2], devnull;
	pid_t pid;

	if (!env || pipe2(pipefd, O_CLOEXEC) < 0) {
		qgaconf_free_env(env);
		return -1;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	unlink(b->sock_path);
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls here: quiesced may have threads. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Started while frozen (a restart after a timeout): quiesced's own core
		 * limit, not the window's 0 (nodump.h). */
		nodump_child();
		/* Its own process group: a terminal's ^C to quiesced is quiesced's to handle. */
		setpgid(0, 0);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(127);
		execve(b->program, argv, env);
		_exit(127);
	}
	qgaconf_free_env(env);
	close(pipefd[1]);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		close(pipefd[0]);
		return -1;
	}
	b->pid = b->last_pid = pid;
	b->errfd = pipefd[0];
	if (fd_set_nonblock(b->errfd) < 0 || loop_add_fd(b->loop, b->errfd, EPOLLIN, on_err, b) < 0) {
		close(b->errfd);
		b->errfd = -1;
	}
	b->pidfd = pidfd_open(pid, 0);
	if (b->pidfd < 0 || loop_add_fd(b->loop, b->pidfd, EPOLLIN, on_pidfd, b) < 0) {
		if (b->pidfd >= 0)
			close(b->pidfd);
		b->pidfd = -1;
		loop_timer_arm(b->loop, &b->child_poll, CHILD_POLL_MS, on_child_poll, b);
	}
	return 0;
}

/* ------------------------------------------------------------ the connection */

static void close_conn(struct qgaback *b)
{
	if (b->fd >= 0) {
		loop_del_fd(b->loop, b->fd);
		close(b->fd);
		b->fd = -1;
	}
	qgaproto_lines_free(&b->in);
	b->out_len = 0;
}

static void flush_out(struct qgaback *b)
{
	while (b->out_len) {
		ssize_t n = send(b->fd, b->out, b->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			down(b, "cannot be written to", false);
			return;
		}
		memmove(b->out, b->out + n, b->out_len - (size_t)n);
		b->out_len -= (size_t)n;
	}
	loop_mod_fd(b->loop, b->fd, EPOLLIN | EPOLLRDHUP | (b->out_len ? EPOLLOUT : 0));
}

static int queue_out(struct qgaback *b, const char *buf, size_t len)
{
	if (b->fd < 0 || b->out_len + len > MAX_OUT)
		return -1;
	if (b->out_len + len > b->out_cap) {
		size_t cap = b->out_cap ? b->out_cap : 4096;
		char *o;
		while (cap < b->out_len + len)
			cap *= 2;
		o = realloc(b->out, cap);
		if (!o)
			return -1;
		b->out = o;
		b->out_cap = cap;
	}
	memcpy(b->out + b->out_len, buf, len);
	b->out_len += len;
	flush_out(b);
	/* The write may have found the backend gone (and brought it down): then this
	 * never reached it, and the caller must not count it as sent. */
	return b->fd >= 0 ? 0 : -1;
}

/* The greeting: 0xFF (drops whatever an earlier client left half-sent; answered with
 * a parse error), guest-sync-delimited to find the start of our answers, guest-info. */
static int greet(struct qgaback *b)
{
	char buf[256];
	int n;
	b->greet_id = qgaback_next_id(b);
	b->greeted_sync = false;
	n = snprintf(buf, sizeof(buf),
		     "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%lld}}\n"
		     "{\"execute\":\"guest-info\"}\n", (long long)b->greet_id);
	return queue_out(b, buf, (size_t)n);
}

static void greeted(struct qgaback *b, const char *line, size_t len, bool ff)
{
	struct json_object *v = NULL;
	struct qgaproto_info info;

	if (!b->greeted_sync) {
		/* Anything before our sync's answer is someone else's (or the 0xFF's). */
		b->greeted_sync = ff && qgaproto_is_sync_reply(line, len, b->greet_id);
		return;
	}
	if (qgaproto_classify(line, len, &v) != QGAPROTO_RETURN ||
	    qgaproto_parse_info(v, &info) < 0) {
		json_object_put(v);
		down(b, "gave no command list (guest-info)", false);
		return;
	}
	json_object_put(v);
	qgaproto_info_free(&b->info);
	b->info = info;
	b->state = B_READY;
	b->ready_at = now_ms();
	loop_timer_disarm(b->loop, &b->timer);
	log_info("qga backend: qemu-ga %s (pid %d) serves %zu commands behind quiesced",
		 info.version ? info.version : "?", (int)b->pid, info.n);
	b->ops->on_ready(b->arg);
}

static int on_line(void *arg, const char *line, size_t len, bool ff)
{
	struct qgaback *b = arg;
	unsigned long starts = b->starts;
	if (b->state == B_GREETING)
		greeted(b, line, len, ff);
	else if (b->state == B_READY)
		b->ops->on_line(b->arg, line, len, ff);
	/* Stop if that took the connection down (and maybe up again). */
	return b->state == B_IDLE || b->starts != starts || b->fd < 0;
}

static void on_io(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct qgaback *b = arg;
	char buf[65536];
	ssize_t n;
	(void)loop;

	if (events & EPOLLOUT) {
		flush_out(b);
		if (b->fd != fd)
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
		return;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		down(b, n == 0 ? "closed the connection" : "connection error", false);
		return;
	}
	if (qgaproto_lines_feed(&b->in, buf, (size_t)n, on_line, b) < 0)
		down(b, "sent a line too long (or quiesced ran out of memory)", false);
}

static void on_start_timer(struct loop *loop, void *arg);

static void try_connect(struct qgaback *b)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	str_copy(sa.sun_path, b->sock_path, sizeof(sa.sun_path));
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		b->fd = fd;
		qgaproto_lines_init(&b->in, MAX_LINE);
		if (loop_add_fd(b->loop, fd, EPOLLIN | EPOLLRDHUP, on_io, b) < 0 || greet(b) < 0) {
			down(b, "cannot be talked to", false);
			return;
		}
		b->state = B_GREETING;
		/* The start deadline still runs: greeted by then, or restarted. */
		loop_timer_arm(b->loop, &b->timer, b->deadline - now_ms(), on_start_timer, b);
		return;
	}
	if (fd >= 0)
		close(fd);
	loop_timer_arm(b->loop, &b->timer, CONNECT_POLL_MS, on_start_timer, b);
}

static void on_start_timer(struct loop *loop, void *arg)
{
	struct qgaback *b = arg;
	(void)loop;
	if (b->state == B_IDLE) {
		start(b);
	} else if (now_ms() >= b->deadline) {
		down(b, b->state == B_CONNECTING ? "did not open its socket in time"
						 : "did not answer its greeting in time", false);
	} else if (b->state == B_CONNECTING) {
		try_connect(b);
	}
}

static void start(struct qgaback *b)
{
	if (b->state != B_IDLE)
		return;
	b->starts++;
	if (spawn(b) < 0) {
		log_warn("qga backend: cannot start %s", b->program);
		b->state = B_CONNECTING; /* so that down() backs off */
		down(b, "could not be started", false);
		return;
	}
	b->state = B_CONNECTING;
	b->started_at = now_ms();
	b->deadline = b->started_at + START_MS;
	log_debug("qga backend: started %s (pid %d)", b->program, (int)b->pid);
	loop_timer_arm(b->loop, &b->timer, CONNECT_POLL_MS, on_start_timer, b);
}

/* The connection or the process is gone (or must go): kill, and start again. */
static void down(struct qgaback *b, const char *why, bool deliberate)
{
	enum state was = b->state;
	pid_t pid = b->last_pid;
	uint64_t delay;

	if (was == B_IDLE || was == B_STOPPED)
		return;
	close_conn(b);
	if (b->errfd >= 0) {
		read_err(b); /* its last words, if any */
		if (b->errfd >= 0) {
			flush_err(b);
			loop_del_fd(b->loop, b->errfd);
			close(b->errfd);
			b->errfd = -1;
		}
	}
	kill_child(b);
	b->state = B_IDLE;
	str_copy(b->last_error, why, sizeof(b->last_error));
	if (deliberate || (was == B_READY && now_ms() - b->ready_at >= STABLE_MS))
		b->backoff_ms = 0;
	delay = b->backoff_ms;
	if (!deliberate) {
		b->deaths++;
		b->backoff_ms = b->backoff_ms ? b->backoff_ms * 2 : BACKOFF_FIRST_MS;
		if (b->backoff_ms > BACKOFF_MAX_MS)
			b->backoff_ms = BACKOFF_MAX_MS;
	}
	log_warnx("qga backend: %s (pid %d) %s; starting a new one in %llu ms (its state, such "
		  "as open guest-file handles and guest-exec results, is lost)", b->program,
		  (int)pid, why, (unsigned long long)delay);
	loop_timer_arm(b->loop, &b->timer, delay, on_start_timer, b);
	b->ops->on_down(b->arg, why);
}

/* ------------------------------------------------------------ the interface */

static char *join(const char *dir, const char *name)
{
	char *p;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

struct qgaback *qgaback_new(struct loop *loop, const struct qgaback_config *cfg,
			    const struct qgaback_ops *ops, void *arg)
{
	struct qgaback *b = calloc(1, sizeof(*b));
	struct sockaddr_un sa;

	if (!b)
		return NULL;
	b->loop = loop;
	b->ops = ops;
	b->arg = arg;
	b->pidfd = b->fd = b->errfd = -1;
	b->next_id = ((int64_t)(getpid() & 0xffff) << 32) | (int64_t)(now_ms() & 0xffffff);
	b->program = strdup(cfg->program);
	b->dir = strdup(cfg->dir);
	b->blocked = strdup(cfg->blocked);
	b->sock_path = join(cfg->dir, "qga.sock");
	b->state_dir = join(cfg->dir, "state");
	if (!b->program || !b->dir || !b->blocked || !b->sock_path || !b->state_dir)
		goto fail;
	if (strlen(b->sock_path) >= sizeof(sa.sun_path)) {
		log_warnx("qga backend: socket path too long: %s", b->sock_path);
		goto fail;
	}
	/* Private: whoever reaches its socket runs commands as root. */
	if ((mkdir(b->dir, 0700) < 0 && errno != EEXIST) || chmod(b->dir, 0700) < 0 ||
	    (mkdir(b->state_dir, 0700) < 0 && errno != EEXIST)) {
		log_warn("qga backend: %s", b->dir);
		goto fail;
	}
	return b;
fail:
	qgaback_free(b);
	return NULL;
}

void qgaback_start(struct qgaback *b)
{
	start(b);
}

bool qgaback_ready(const struct qgaback *b)
{
	return b->state == B_READY;
}

int qgaback_send(struct qgaback *b, const char *buf, size_t len)
{
	if (b->state != B_READY)
		return -1;
	return queue_out(b, buf, len);
}

void qgaback_restart(struct qgaback *b, const char *why)
{
	down(b, why, true);
}

int64_t qgaback_next_id(struct qgaback *b)
{
	return ++b->next_id;
}

const struct qgaproto_info *qgaback_info(const struct qgaback *b)
{
	return &b->info;
}

int qgaback_status(const struct qgaback *b, struct json_object *o)
{
	static const char *const names[] = { "restarting", "starting", "starting", "running",
					     "stopped" };
	bool ok = jput(o, "state", json_object_new_string(b->starts ? names[b->state]
								   : "starting")) &&
		(b->pid <= 0 || jput(o, "pid", json_object_new_int((int)b->pid))) &&
		(!b->info.version ||
		 jput(o, "version", json_object_new_string(b->info.version))) &&
		jput(o, "commands", json_object_new_int64((int64_t)b->info.n)) &&
		jput(o, "starts", json_object_new_int64((int64_t)b->starts)) &&
		jput(o, "deaths", json_object_new_int64((int64_t)b->deaths)) &&
		(!b->last_error[0] ||
		 jput(o, "last_error", json_object_new_string(b->last_error)));
	return ok ? 0 : -1;
}

void qgaback_free(struct qgaback *b)
{
	if (!b)
		return;
	b->state = B_STOPPED;
	loop_timer_disarm(b->loop, &b->timer);
	loop_timer_disarm(b->loop, &b->child_poll);
	loop_timer_disarm(b->loop, &b->reap);
	close_conn(b);
	if (b->errfd >= 0) {
		loop_del_fd(b->loop, b->errfd);
		close(b->errfd);
	}
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		unwatch(b);
		b->zombies[b->n_zombies < MAX_ZOMBIES ? b->n_zombies++ : 0] = b->pid;
	}
	/* At exit: a short wait each (a process stuck in the kernel is left behind). */
	for (size_t i = 0; i < b->n_zombies; i++)
		for (int k = 0; k < 50 && waitpid(b->zombies[i], NULL, WNOHANG) == 0; k++)
			usleep(10000);
	if (b->sock_path)
		unlink(b->sock_path);
	qgaproto_info_free(&b->info);
	free(b->out);
	free(b->program);
	free(b->dir);
	free(b->blocked);
	free(b->sock_path);
	free(b->state_dir);
	free(b);
}
