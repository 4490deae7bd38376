// SPDX-License-Identifier: MIT
/* quiesce-group: the user's command, run while the group is frozen. */
#include "group/gcmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

extern char **environ;

/* What the child needs, all made before the fork: after it, in a process that
 * copied one thread of several (main.c's signal thread, gmachine's), only
 * async-signal-safe calls, no malloc, no stdio. */
struct child {
	char **envp;
	int out_to_err;
	char err[GSPEC_URI_MAX + 64]; /* "quiesce-group: ARGV0: " */
	size_t errlen;
};

static int is_ours(const char *e)
{
	static const char *const names[] = { "QUIESCE_GROUP=", "QUIESCE_GROUP_DOMAINS=",
					     "QUIESCE_GROUP_URIS=" };

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (!strncmp(e, names[k], strlen(names[k])))
			return 1;
	return 0;
}

/* Our environment with QUIESCE_GROUP=name, QUIESCE_GROUP_DOMAINS and QUIESCE_GROUP_URIS:
 * the guests, blank-separated, in the same order (static: one command at a time).
 * NULL if out of memory. */
static char **make_env(const struct gspec *s)
{
	static char name[GSPEC_NAME_MAX + 16];
	static char doms[GSPEC_MAX_GUESTS * GSPEC_DOM_MAX + 32];
	static char uris[GSPEC_MAX_GUESTS * GSPEC_URI_MAX + 32];
	size_t d, u, n = 0, k = 0;
	char **envp;

	snprintf(name, sizeof(name), "QUIESCE_GROUP=%s", s->name);
	d = (size_t)snprintf(doms, sizeof(doms), "QUIESCE_GROUP_DOMAINS=");
	u = (size_t)snprintf(uris, sizeof(uris), "QUIESCE_GROUP_URIS=");
	for (int i = 0; i < s->n; i++) {
		d += (size_t)snprintf(doms + d, sizeof(doms) - d, "%s%s", i ? " " : "", s->g[i].dom);
		u += (size_t)snprintf(uris + u, sizeof(uris) - u, "%s%s", i ? " " : "", s->g[i].uri);
	}
	while (environ && environ[n])
		n++;
	envp = malloc((n + 4) * sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!is_ours(environ[i]))
			envp[k++] = environ[i];
	envp[k++] = name;
	envp[k++] = doms;
	envp[k++] = uris;
	envp[k] = NULL;
	return envp;
}

/* In the child: "quiesce-group: ARGV0: reason\n" in one write(2). strerrordesc_np is
 * a table lookup (strerror may translate, and so allocate). */
static _Noreturn void exec_failed(const struct child *c, int err)
{
	const char *why = strerrordesc_np(err);
	char line[sizeof(c->err) + 128];
	size_t n = c->errlen, w;

	if (!why)
		why = "unknown error";
	memcpy(line, c->err, n);
	w = strlen(why);
	if (w > sizeof(line) - n - 1)
		w = sizeof(line) - n - 1;
	memcpy(line + n, why, w);
	n += w;
	line[n++] = '\n';
	if (write(2, line, n) < 0) {
		/* nothing left to tell it to */
	}
	_exit(127);
}

static _Noreturn void child(char *const argv[], const struct child *c)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* main.c blocks the signals it waits for */
	setpgid(0, 0);
	if (c->out_to_err && dup2(2, 1) < 0)
		exec_failed(c, errno);
	execvpe(argv[0], argv, c->envp);
	exec_failed(c, errno);
}

static pid_t start(char *const argv[], const struct gspec *s, int out_to_err, struct gres *r)
{
	struct child c = { .out_to_err = out_to_err };
	pid_t pid;
	int n;

	c.envp = make_env(s);
	if (!c.envp) {
		snprintf(r->msg, sizeof(r->msg), "%s: out of memory", argv[0]);
		return -1;
	}
	n = snprintf(c.err, sizeof(c.err), "quiesce-group: %s: ", argv[0]);
	c.errlen = n < 0 ? 0 : (size_t)n >= sizeof(c.err) ? sizeof(c.err) - 1 : (size_t)n;
	pid = fork();
	if (pid == 0)
		child(argv, &c);
	if (pid < 0)
		snprintf(r->msg, sizeof(r->msg), "fork: %s", strerror(errno));
	free(c.envp);
	return pid;
}

int gcmd_run(char *const argv[], const struct gspec *s, uint64_t limit_ms, int out_to_err,
	     const volatile int *stop, struct gres *r)
{
	uint64_t end = now_ms() + limit_ms;
	int status = 0;
	pid_t pid, w = 0;

	pid = start(argv, s, out_to_err, r);
	if (pid < 0)
		return -1;
	setpgid(pid, pid); /* also here: no race with the kill below */
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < end && !*stop) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (w == 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(r->msg, sizeof(r->msg), "%s %s: killed", argv[0],
			 *stop ? "still running when a signal came" : "ran over the hold limit");
		return -1;
	}
	if (w < 0) {
		snprintf(r->msg, sizeof(r->msg), "waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(status)) {
		snprintf(r->msg, sizeof(r->msg), "%s exited %d", argv[0], WEXITSTATUS(status));
		return WEXITSTATUS(status) ? -1 : 0;
	}
	snprintf(r->msg, sizeof(r->msg), "%s killed by signal %d", argv[0],
		 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}
