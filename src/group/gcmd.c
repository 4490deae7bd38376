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

/* QUIESCE_GROUP=name, QUIESCE_GROUP_DOMAINS and QUIESCE_GROUP_URIS: the guests,
 * blank-separated, in the same order. */
static void set_env(const struct gspec *s)
{
	static char doms[GSPEC_MAX_GUESTS * GSPEC_DOM_MAX], uris[GSPEC_MAX_GUESTS * GSPEC_URI_MAX];
	size_t d = 0, u = 0;

	doms[0] = uris[0] = 0;
	for (int i = 0; i < s->n; i++) {
		d += (size_t)snprintf(doms + d, sizeof(doms) - d, "%s%s", i ? " " : "", s->g[i].dom);
		u += (size_t)snprintf(uris + u, sizeof(uris) - u, "%s%s", i ? " " : "", s->g[i].uri);
	}
	setenv("QUIESCE_GROUP", s->name, 1);
	setenv("QUIESCE_GROUP_DOMAINS", doms, 1);
	setenv("QUIESCE_GROUP_URIS", uris, 1);
}

int gcmd_run(char *const argv[], const struct gspec *s, uint64_t limit_ms, int out_to_err,
	     const volatile int *stop, struct gres *r)
{
	uint64_t end = now_ms() + limit_ms;
	int status = 0;
	sigset_t none;
	pid_t pid, w = 0;

	pid = fork();
	if (pid < 0) {
		snprintf(r->msg, sizeof(r->msg), "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* main.c blocks the signals it waits for */
		setpgid(0, 0);
		if (out_to_err && dup2(2, 1) < 0)
			_exit(127);
		set_env(s);
		execvp(argv[0], argv);
		fprintf(stderr, "quiesce-group: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
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
