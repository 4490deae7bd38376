// SPDX-License-Identifier: MIT
#include "common/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/guardwire.h"
#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"

#define RESTART_MAX_MS 10000
/* Guardians that died (or are dying) and have not been reaped yet. */
#define MAX_DEAD 16
#define REAP_POLL_MS 50

struct guard {
	struct loop *loop;
	char *program;
	void (*lost)(void *arg, bool expired);
	void *arg;
	pthread_mutex_t mu;     /* guards sock against a restart while a worker arms */
	int sock;
	int pidfd;
	pid_t pid;
	uint64_t restart_ms;
	struct loop_timer restart;
	bool stopping;
	pid_t dead[MAX_DEAD];
	size_t n_dead;
	struct loop_timer reap;
};

struct guard *guard_new(struct loop *loop, const char *program,
			void (*lost)(void *arg, bool expired), void *arg)
{
	struct guard *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->program = strdup(program);
	if (!g->program) {
		free(g);
		return NULL;
	}
	g->loop = loop;
	g->lost = lost;
	g->arg = arg;
	g->sock = -1;
	g->pidfd = -1;
	pthread_mutex_init(&g->mu, NULL);
	return g;
}

/* The guardian reads in batches, resting between them (guardian/main.c): our send
 * buffer, raised at its start, holds thousands of frames, far more than a freeze
 * sends in one rest. Should it ever be full, wait a little for the guardian to read
 * rather than fail a freeze for it; a guardian that reads nothing for SEND_WAIT_MS
 * is stuck, and then the send fails as before. */
#define SEND_WAIT_MS 50
#define SEND_BUFFER (4 << 20)

static ssize_t send_bounded(int sock, const struct msghdr *mh)
{
	uint64_t end = now_ns() + (uint64_t)SEND_WAIT_MS * 1000000u;
	for (;;) {
		ssize_t n = sendmsg(sock, mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		uint64_t now = now_ns();
		struct pollfd p = { .fd = sock, .events = POLLOUT };
		if (n >= 0 || (errno != EAGAIN && errno != EINTR) || now >= end)
			return n;
		(void)poll(&p, 1, (int)((end - now) / 1000000u) + 1);
	}
}

static int send_msg(struct guard *g, const struct guardwire_msg *m, int fd)
{
	unsigned char buf[GUARD_MSG_SIZE];
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	guardwire_encode(m, buf);
	if (fd >= 0) {
		struct cmsghdr *c;
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	pthread_mutex_lock(&g->mu);
	/* Once sendmsg returns, the kernel holds the fd in the guardian's queue: even
	 * if we die before it reads, it gets the fd and thaws. */
	n = g->sock < 0 ? -1 : send_bounded(g->sock, &mh);
	if (g->sock < 0)
		errno = ENOTCONN;
	pthread_mutex_unlock(&g->mu);
	return n == (ssize_t)sizeof(buf) ? 0 : -1;
}

int guard_arm(struct guard *g, uint64_t id, int fd, const char *path)
{
	struct guardwire_msg m = { .type = GUARD_ARM, .id = id };
	str_copy(m.path, path, sizeof(m.path));
	return send_msg(g, &m, fd);
}

void guard_disarm(struct guard *g, uint64_t id)
{
	struct guardwire_msg m = { .type = GUARD_DISARM, .id = id };
	send_msg(g, &m, -1);
}

void guard_deadline(struct guard *g, uint64_t ms, const char *record)
{
	struct guardwire_msg m = { .type = GUARD_DEADLINE, .value = ms };
	/* Too long for the frame: the guardian leaves the record to the next start. */
	if (record && strlen(record) <= GUARD_PATH_MAX)
		str_copy(m.path, record, sizeof(m.path));
	send_msg(g, &m, -1);
}

void guard_clear(struct guard *g)
{
	struct guardwire_msg m = { .type = GUARD_CLEAR };
	send_msg(g, &m, -1);
}

bool guard_running(const struct guard *g)
{
	return g->sock >= 0;
}

pid_t guard_pid(const struct guard *g)
{
	return g->pid;
}

static void close_child(struct guard *g)
{
	loop_del_fd(g->loop, g->sock);
	loop_del_fd(g->loop, g->pidfd);
	pthread_mutex_lock(&g->mu);
	close(g->sock);
	g->sock = -1;
	pthread_mutex_unlock(&g->mu);
	if (g->pidfd >= 0)
		close(g->pidfd);
	g->pidfd = -1;
}

static void on_restart(struct loop *loop, void *arg)
{
	struct guard *g = arg;
	(void)loop;
	if (guard_start(g) < 0) {
		g->restart_ms = g->restart_ms ? g->restart_ms * 2 : 500;
		if (g->restart_ms > RESTART_MAX_MS)
			g->restart_ms = RESTART_MAX_MS;
		loop_timer_arm(g->loop, &g->restart, g->restart_ms, on_restart, g);
	}
}

/* Reap the guardians that died: their end of the socket (or their pidfd) can be seen
 * before the kernel has made them zombies, so one waitpid(WNOHANG) is not enough. */
static void on_reap(struct loop *loop, void *arg)
{
	struct guard *g = arg;
	size_t k = 0;
	for (size_t i = 0; i < g->n_dead; i++) {
		pid_t r = waitpid(g->dead[i], NULL, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			g->dead[k++] = g->dead[i];
	}
	g->n_dead = k;
	if (k)
		loop_timer_arm(loop, &g->reap, REAP_POLL_MS, on_reap, g);
}

static void reap_later(struct guard *g, pid_t pid)
{
	if (waitpid(pid, NULL, WNOHANG) != 0)
		return; /* reaped, or not our child any more */
	if (g->n_dead == MAX_DEAD) {
		/* Cannot happen with the restart backoff; never block the loop for it. */
		log_warnx("the thaw guardian (pid %d) is not reaped yet; too many dying", (int)pid);
		return;
	}
	g->dead[g->n_dead++] = pid;
	if (!loop_timer_armed(&g->reap))
		loop_timer_arm(g->loop, &g->reap, REAP_POLL_MS, on_reap, g);
}

/* Wait a little for pid to end, then kill it: only at exit. */
static void reap_now(pid_t pid)
{
	int i;
	for (i = 0; i < 100 && waitpid(pid, NULL, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 100) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static void died(struct guard *g, const char *why)
{
	pid_t pid = g->pid;

	if (g->sock < 0)
		return;
	close_child(g);
	g->pid = 0;
	if (pid > 0)
		reap_later(g, pid);
	log_warnx("the thaw guardian (pid %d) %s%s", (int)pid, why,
		  g->stopping ? "" : ": thawing now if anything is frozen, then starting a new one");
	if (g->stopping)
		return;
	g->lost(g->arg, false);
	/* Start a new one at once; back off only if it keeps dying. */
	loop_timer_arm(g->loop, &g->restart, g->restart_ms, on_restart, g);
	g->restart_ms = g->restart_ms ? g->restart_ms * 2 : 200;
	if (g->restart_ms > RESTART_MAX_MS)
		g->restart_ms = RESTART_MAX_MS;
}

static void on_sock(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct guard *g = arg;
	unsigned char buf[GUARD_MSG_SIZE];
	struct guardwire_msg m;
	ssize_t n;
	(void)loop;
	(void)events;

	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		died(g, "closed its socket");
		return;
	}
	if (guardwire_decode(buf, (size_t)n, &m) < 0) {
		log_warnx("the thaw guardian sent a malformed message");
		return;
	}
	if (m.type == GUARD_HELLO) {
		log_debug("thaw guardian running (pid %llu)", (unsigned long long)m.value);
		g->restart_ms = 0;
	} else if (m.type == GUARD_EXPIRED) {
		log_warnx("the thaw guardian's deadline passed: it thawed %llu filesystem%s",
			  (unsigned long long)m.value, m.value == 1 ? "" : "s");
		g->lost(g->arg, true);
	}
}

static void on_pidfd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	died(arg, "exited");
}

/* Room for the frames the guardian has not read yet (see send_bounded). Root may go
 * beyond net.core.wmem_max; anyone else gets what the system allows. */
static void set_send_buffer(int sock)
{
	int size = SEND_BUFFER;
	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int guard_start(struct guard *g)
{
	int sv[2];
	pid_t pid;
	char fdarg[16];

	if (g->sock >= 0)
		return 0;
	if (access(g->program, X_OK) < 0) {
		log_warn("cannot run the thaw guardian %s", g->program);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("thaw guardian: socketpair");
		return -1;
	}
	set_send_buffer(sv[0]);
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	pid = fork();
	if (pid < 0) {
		log_warn("thaw guardian: fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls here: quiesced may have threads. */
		sigset_t none;
		int fl = fcntl(sv[1], F_GETFD);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fl >= 0)
			fcntl(sv[1], F_SETFD, fl & ~FD_CLOEXEC);
		/* Its own process group: a signal for quiesced's group is not for it. */
		setpgid(0, 0);
		execl(g->program, "quiesce-guardian", fdarg, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	g->pid = pid;
	g->pidfd = pidfd_open(pid, 0);
	g->sock = sv[0];
	if (loop_add_fd(g->loop, g->sock, EPOLLIN, on_sock, g) < 0 ||
	    (g->pidfd >= 0 && loop_add_fd(g->loop, g->pidfd, EPOLLIN, on_pidfd, g) < 0)) {
		log_warn("thaw guardian: watching it");
		kill(pid, SIGKILL);
		close_child(g);
		waitpid(pid, NULL, 0);
		g->pid = 0;     /* reaped: guard_free must not wait for whoever has it next */
		return -1;
	}
	log_debug("started the thaw guardian %s (pid %d)", g->program, (int)pid);
	return 0;
}

void guard_free(struct guard *g)
{
	pid_t pid;
	if (!g)
		return;
	g->stopping = true;
	loop_timer_disarm(g->loop, &g->restart);
	loop_timer_disarm(g->loop, &g->reap);
	pid = g->pid;
	if (g->sock >= 0) {
		/* Nothing is frozen at a clean exit; closing the socket ends the guardian. */
		guard_clear(g);
		close_child(g);
	}
	if (pid > 0)
		reap_now(pid);
	for (size_t i = 0; i < g->n_dead; i++)
		reap_now(g->dead[i]);
	pthread_mutex_destroy(&g->mu);
	free(g->program);
	free(g);
}
