// SPDX-License-Identifier: MIT
/* The hooks' processes: started (each in its own session, with a clean environment,
 * from its checked real path), their output kept and logged, their exit or timeout
 * seen (pidfd, or polled), killed with their process group, reaped, and the pipes a
 * helper still holds drained for a while. hooks.c runs the phases on top. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"
#include "common/nodump.h"
#include "common/util.h"
#include "hooks/hookpath.h"
#include "hooks/hooks_int.h"

/* Output kept per hook run: the last 4 KiB, logged line by line after the phase. */
#define OUTPUT_KEEP 4096
/* Read after the hook exited, before the pipe is handed to the drain. */
#define DRAIN_AT_EXIT (64 * 1024)
/* How long the drain reads on after the hook itself is over. */
#define DRAIN_KEEP_MS 1000

/* Output pipes of hooks that exited but left processes holding them (a helper that
 * keeps a lock, like qemu's mysql-flush sample): read and discarded until EOF or for
 * DRAIN_KEEP_MS, whichever comes first. Not until EOF alone: a helper that never
 * exits (`setsid sleep 1000 &`) would cost us two fds per cycle for as long as it
 * lives. A helper that writes after that gets EPIPE (or SIGPIPE). */
struct drain {
	struct hooks *h;
	int fd;
	size_t bytes;
	struct loop_timer keep;
	char name[NAME_MAX + 1];
	struct drain *next;
};

/* A killed hook not reaped yet. */
struct zombie {
	struct hooks *h;
	pid_t pid;
	int pidfd;
	struct zombie *next;
};

static void on_zombie(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct zombie *z = arg, **p;
	(void)events;
	if (waitpid(z->pid, NULL, WNOHANG) == 0)
		return;
	loop_del_fd(loop, fd);
	close(fd);
	for (p = &z->h->zombies; *p; p = &(*p)->next) {
		if (*p == z) {
			*p = z->next;
			break;
		}
	}
	free(z);
}

static void drain_free(struct loop *loop, struct drain *dr)
{
	struct drain **p;
	loop_timer_disarm(loop, &dr->keep);
	loop_del_fd(loop, dr->fd);
	close(dr->fd);
	for (p = &dr->h->drains; *p; p = &(*p)->next) {
		if (*p == dr) {
			*p = dr->next;
			break;
		}
	}
	free(dr);
}

static void on_drain(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct drain *dr = arg;
	char buf[4096];
	ssize_t n;
	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dr->bytes += (size_t)n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	log_debug("hooks: %s: %zu bytes of output from processes it left running, discarded",
		  dr->name, dr->bytes);
	drain_free(loop, dr);
}

static void on_drain_keep(struct loop *loop, void *arg)
{
	struct drain *dr = arg;
	log_debug("hooks: %s: processes it left running still hold its output pipe; closing "
		  "our end (%zu bytes discarded)", dr->name, dr->bytes);
	drain_free(loop, dr);
}

static void keep_output(struct hook *k, const char *buf, size_t n)
{
	if (!k->out && !(k->out = malloc(OUTPUT_KEEP)))
		return;
	if (n >= OUTPUT_KEEP) {
		k->out_dropped += k->out_len + n - OUTPUT_KEEP;
		memcpy(k->out, buf + n - OUTPUT_KEEP, OUTPUT_KEEP);
		k->out_len = OUTPUT_KEEP;
		return;
	}
	if (k->out_len + n > OUTPUT_KEEP) {
		size_t drop = k->out_len + n - OUTPUT_KEEP;
		memmove(k->out, k->out + drop, k->out_len - drop);
		k->out_len -= drop;
		k->out_dropped += drop;
	}
	memcpy(k->out + k->out_len, buf, n);
	k->out_len += n;
}

/* Read what the running hook wrote; at most limit bytes. Returns true at EOF. */
static bool read_output(struct hooks *h, size_t limit)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	while (total < limit && (n = read(h->outfd, buf, sizeof(buf))) != 0) {
		if (n < 0)
			return !(errno == EAGAIN || errno == EINTR);
		keep_output(&h->v[h->cur], buf, (size_t)n);
		total += (size_t)n;
	}
	return total < limit;
}

static void close_output(struct hooks *h, bool eof)
{
	struct drain *dr;
	if (h->outfd < 0)
		return;
	loop_del_fd(h->loop, h->outfd);
	if (!eof && (dr = calloc(1, sizeof(*dr)))) {
		dr->h = h;
		dr->fd = h->outfd;
		str_copy(dr->name, h->v[h->cur].name, sizeof(dr->name));
		if (loop_add_fd(h->loop, dr->fd, EPOLLIN, on_drain, dr) == 0) {
			dr->next = h->drains;
			h->drains = dr;
			loop_timer_arm(h->loop, &dr->keep, DRAIN_KEEP_MS, on_drain_keep, dr);
			h->outfd = -1;
			return;
		}
		free(dr);
	}
	close(h->outfd);
	h->outfd = -1;
}

static void on_output(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct hooks *h = arg;
	(void)loop;
	(void)fd;
	(void)events;
	if (read_output(h, OUTPUT_KEEP * 4)) {
		/* Every writer closed it; the hook itself may still run. */
		loop_del_fd(h->loop, h->outfd);
		close(h->outfd);
		h->outfd = -1;
	}
}

void hookproc_log_output(struct hooks *h, struct hook *k, const char *arg)
{
	char *p, *end, *nl;
	if (!k->out_len)
		goto out;
	if (k->out_dropped)
		log_info("hook %s %s: (%zu bytes of output before these were dropped)", k->name, arg,
			 k->out_dropped);
	for (p = k->out, end = k->out + k->out_len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		/* Sanitise: the log takes text lines. */
		for (char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t')
				*c = '?';
		if (nl > p)
			log_info("hook %s %s: %.*s", k->name, arg, (int)(nl - p), p);
	}
out:
	(void)h;
	free(k->out);
	k->out = NULL;
	k->out_len = 0;
	k->out_dropped = 0;
}

/* Build the environment in the parent: the child may only make async-signal-safe
 * calls (quiesced has threads). */
static void make_env(struct hooks *h, const struct hook *k, char **envp)
{
	int i = 0;
	snprintf(h->env[i++], ENV_LEN, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	snprintf(h->env[i++], ENV_LEN, "QUIESCE_PHASE=%s", h->op == TXN_FREEZE ? "freeze" : "thaw");
	snprintf(h->env[i++], ENV_LEN, "QUIESCE_ORIGIN=%s", h->origin);
	snprintf(h->env[i++], ENV_LEN, "QUIESCE_HOOK_TIMEOUT_MS=%llu",
		 (unsigned long long)h->timeout_ms);
	if (h->op == TXN_THAW)
		snprintf(h->env[i++], ENV_LEN, "QUIESCE_FREEZE_RESULT=%s",
			 hooks_result_names[k->freeze_result]);
	for (int j = 0; j < i; j++)
		envp[j] = h->env[j];
	envp[i] = NULL;
}

static void on_deadline(struct loop *loop, void *arg);
static void on_exit_event(struct loop *loop, int fd, uint32_t events, void *arg);
static void on_poll_child(struct loop *loop, void *arg);

/* The result of this phase's run of k. */
static void set_result(const struct hooks *h, struct hook *k, int result)
{
	if (h->op == TXN_FREEZE)
		k->freeze_result = result;
	else
		k->thaw_result = result;
}

/* Whether k may run now: budget left (into *left) and its real path safe (into path). */
static int hook_runnable(struct hooks *h, struct hook *k, char *path, size_t pathlen,
			 uint64_t *left)
{
	const char *dir = h->recovering ? h->rec_dir : h->dir;
	uint64_t now = now_ms();

	if (h->budget_end_ms <= now) {
		set_result(h, k, H_NO_TIME);
		return -1;
	}
	*left = h->budget_end_ms - now;
	/* Right before the run, at every phase: a symlink (or a directory on its way)
	 * may point elsewhere now than at CHECK or FREEZE. Run the real path that was
	 * checked: only root can change it. (Not fexecve: a script would get
	 * $0=/dev/fd/N, and qemu's dispatcher looks for its hooks next to $0.) */
	if (hookpath_check_hook(dir, k->name, path, pathlen, h->why, sizeof(h->why)) < 0) {
		log_warnx("hooks: not running %s/%s %s: it is not safe to run: %s", dir, k->name,
			  h->op == TXN_FREEZE ? "freeze" : "thaw", h->why);
		set_result(h, k, H_UNSAFE);
		return -1;
	}
	return 0;
}

/* The child: async-signal-safe calls only, then exec. */
static _Noreturn void exec_hook(const char *path, char **argv, char **envp, int nullfd, int outfd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	static const char m[] = "quiesced: cannot execute the hook\n";
	ssize_t unused;

	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);   /* SIGPIPE was ignored: undo it */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);   /* signalfd blocked TERM/INT/HUP */
	setsid();
	nodump_child();   /* a hook may dump core as it could before the freeze */
	if (dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
		_exit(126);
	close_range(3, ~0u, 0);
	if (chdir("/") < 0)
		_exit(126);
	execve(path, argv, envp);
	unused = write(2, m, sizeof(m) - 1);
	(void)unused;
	_exit(127);
}

/* Fork the hook with stdin on /dev/null, stdout and stderr into a pipe whose read end
 * goes to *outfd. The child's pid, or -1. */
static pid_t fork_hook(struct hooks *h, const char *path, char **argv, char **envp, int *outfd)
{
	int pfd[2], nullfd;
	pid_t pid;

	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0)
		return -1;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		close(nullfd);
		return -1;
	}
	h->started_ns = now_ns();
	pid = fork();
	if (pid == 0)
		exec_hook(path, argv, envp, nullfd, pfd[1]);
	close(pfd[1]);
	close(nullfd);
	if (pid < 0) {
		close(pfd[0]);
		return -1;
	}
	*outfd = pfd[0];
	return pid;
}

/* Watch the running hook: its exit (pidfd, or polling where there is none), its output
 * and its deadline. On failure it is killed and reaped. */
static int watch_hook(struct hooks *h, struct hook *k, uint64_t left)
{
	pid_t pid = h->pid;

	h->pidfd = h->no_pidfd ? -1 : pidfd_open(pid, 0);
	if (h->pidfd < 0 && (h->no_pidfd || errno == ENOSYS)) {
		h->no_pidfd = true;
		log_debug("hooks: no pidfd_open here: polling for %s to exit", k->name);
		h->poll_ms = 1;
		loop_timer_arm(h->loop, &h->poll_child, h->poll_ms, on_poll_child, h);
	}
	if ((h->pidfd < 0 && !loop_timer_armed(&h->poll_child)) || fd_set_nonblock(h->outfd) < 0 ||
	    (h->pidfd >= 0 && loop_add_fd(h->loop, h->pidfd, EPOLLIN, on_exit_event, h) < 0) ||
	    loop_add_fd(h->loop, h->outfd, EPOLLIN, on_output, h) < 0) {
		loop_timer_disarm(h->loop, &h->poll_child);
		log_warn("hooks: watching %s", k->name);
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (h->pidfd >= 0) {
			loop_del_fd(h->loop, h->pidfd);
			close(h->pidfd);
		}
		loop_del_fd(h->loop, h->outfd);
		close(h->outfd);
		h->pidfd = h->outfd = -1;
		h->pid = -1;
		return -1;
	}
	loop_timer_arm(h->loop, &h->deadline, h->timeout_ms < left ? h->timeout_ms : left,
		       on_deadline, h);
	return 0;
}

/* Start h->v[h->cur]. 0, or -1 (the result is set). */
int hookproc_spawn(struct hooks *h)
{
	struct hook *k = &h->v[h->cur];
	const char *arg = h->op == TXN_FREEZE ? "freeze" : "thaw";
	char path[PATH_MAX];
	char *argv[3], *envp[ENV_N + 1];
	uint64_t left;
	pid_t pid;

	if (hook_runnable(h, k, path, sizeof(path), &left) < 0)
		return -1;
	argv[0] = path;
	argv[1] = (char *)arg;
	argv[2] = NULL;
	make_env(h, k, envp);
	if (h->op == TXN_FREEZE) {
		k->freeze_ran = true;
		k->freeze_result = H_RUNNING;
		/* Before it starts: if quiesced dies now, the next one owes it a thaw. */
		hooks_record_save(h);
	} else {
		k->thaw_result = H_RUNNING;
	}
	k->status = 0;
	log_debug("hooks: running %s %s", path, arg);

	pid = fork_hook(h, path, argv, envp, &h->outfd);
	if (pid < 0) {
		log_warn("hooks: cannot start %s", k->name);
		set_result(h, k, H_NO_START);
		return -1;
	}
	h->pid = pid;
	if (watch_hook(h, k, left) < 0) {
		set_result(h, k, H_NO_START);
		return -1;
	}
	return 0;
}

/* The running hook is over (exited, or killed and handed to the reaper). */
static void child_exited(struct hooks *h, int status)
{
	h->v[h->cur].status = status;
	if (h->pidfd >= 0) {
		loop_del_fd(h->loop, h->pidfd);
		close(h->pidfd);
	}
	loop_timer_disarm(h->loop, &h->poll_child);
	h->pidfd = -1;
	h->pid = -1;
	if (h->outfd >= 0)
		close_output(h, read_output(h, DRAIN_AT_EXIT));
	if (WIFEXITED(status))
		hooks_finished(h, WEXITSTATUS(status) == 0 ? H_OK : H_FAILED);
	else
		hooks_finished(h, H_SIGNALED);
}

static void on_exit_event(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct hooks *h = arg;
	int status;
	(void)loop;
	(void)fd;
	(void)events;
	if (waitpid(h->pid, &status, WNOHANG) > 0)
		child_exited(h, status);
}

static void on_poll_child(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	int status;
	if (h->pid < 0)
		return;
	if (waitpid(h->pid, &status, WNOHANG) > 0) {
		child_exited(h, status);
		return;
	}
	/* 1, 2, 4 ... 32 ms: quick for quick hooks, cheap for slow ones. */
	if (h->poll_ms < 32)
		h->poll_ms *= 2;
	loop_timer_arm(loop, &h->poll_child, h->poll_ms, on_poll_child, h);
}

static void on_poll_zombies(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	bool left = false;
	for (struct zombie **p = &h->zombies, *z; (z = *p);) {
		if (z->pidfd < 0 && waitpid(z->pid, NULL, WNOHANG) != 0) {
			*p = z->next;
			free(z);
			continue;
		}
		left |= z->pidfd < 0;
		p = &z->next;
	}
	if (left)
		loop_timer_arm(loop, &h->poll_zombies, 50, on_poll_zombies, h);
}

/* Kill the running hook and its process group (everything it started that did not
 * leave the session), and leave the reaping to the loop. */
void hookproc_kill_running(struct hooks *h)
{
	struct zombie *z;
	if (h->pid < 0)
		return;
	kill(-h->pid, SIGKILL);
	kill(h->pid, SIGKILL);   /* in case it had not reached setsid() yet */
	loop_timer_disarm(h->loop, &h->poll_child);
	if (h->pidfd >= 0)
		loop_del_fd(h->loop, h->pidfd);
	z = calloc(1, sizeof(*z));
	if (z) {
		z->h = h;
		z->pid = h->pid;
		z->pidfd = h->pidfd;
	}
	if (z && z->pidfd >= 0 && loop_add_fd(h->loop, z->pidfd, EPOLLIN, on_zombie, z) == 0) {
		z->next = h->zombies;
		h->zombies = z;
	} else if (z && z->pidfd < 0) {
		z->next = h->zombies;
		h->zombies = z;
		loop_timer_arm(h->loop, &h->poll_zombies, 10, on_poll_zombies, h);
	} else {
		/* No way to watch it: wait here, which SIGKILL keeps short. */
		free(z);
		waitpid(h->pid, NULL, 0);
		close(h->pidfd);
	}
	h->pidfd = -1;
	h->pid = -1;
	if (h->outfd >= 0)
		close_output(h, read_output(h, DRAIN_AT_EXIT));
}

static void on_deadline(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	(void)loop;
	if (h->pid < 0)
		return;
	log_warnx("hooks: %s %s did not finish within %.1f s: killing it", h->v[h->cur].name,
		  h->op == TXN_FREEZE ? "freeze" : "thaw",
		  ns_to_ms(now_ns() - h->started_ns) / 1000.0);
	hookproc_kill_running(h);
	hooks_finished(h, H_TIMEOUT);
}


/* The hook exited: what is left of its output is read (bounded), the pipe handed to a
 * drain if a helper still holds it. */
void hookproc_end_output(struct hooks *h)
{
	close_output(h, read_output(h, DRAIN_AT_EXIT));
}

/* At the end: the running hook killed, the zombies reaped (what can be), the drains
 * closed. */
void hookproc_free(struct hooks *h)
{
	if (h->pid >= 0)
		hookproc_kill_running(h);
	while (h->zombies) {
		struct zombie *z = h->zombies;
		h->zombies = z->next;
		if (z->pidfd >= 0) {
			loop_del_fd(h->loop, z->pidfd);
			close(z->pidfd);
		}
		waitpid(z->pid, NULL, WNOHANG);
		free(z);
	}
	loop_timer_disarm(h->loop, &h->poll_child);
	loop_timer_disarm(h->loop, &h->poll_zombies);
	while (h->drains)
		drain_free(h->loop, h->drains);
}
