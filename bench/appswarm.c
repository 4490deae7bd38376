// SPDX-License-Identifier: MIT
/*
 * appswarm: N apps in one process, registered with quiesced through libquiesce, each
 * answering every request with success at once. For bench/apps_bench.py.
 *
 *   appswarm -s SOCKET [-n N] [-p PREFIX] [-o]
 *
 * Prints "ready N" once all N are registered, then serves until SIGTERM/SIGINT or
 * until stdin closes; exits 1 if an app fails to register or loses its connection.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <quiesce.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *prefix = "swarm";
	struct quiesce_options opt = { 0 };
	struct quiesce **q;
	struct epoll_event ev, evs[256];
	struct rlimit rl;
	unsigned long answered = 0;
	int n = 1000, c, ep;

	while ((c = getopt(argc, argv, "s:n:p:o")) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'p': prefix = optarg; break;
		case 'o': opt.flags = QUIESCE_OPTIONAL; break;
		default:
			fprintf(stderr, "usage: appswarm -s SOCKET [-n N] [-p PREFIX] [-o]\n");
			return 2;
		}
	}
	if (!sock || n < 1) {
		fprintf(stderr, "usage: appswarm -s SOCKET [-n N] [-p PREFIX] [-o]\n");
		return 2;
	}
	/* Each app is two fds (its socket and its stop eventfd): 10,000 apps need more
	 * than a usual hard limit of 20,000, which root may raise (up to fs.nr_open). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = 2 * (rlim_t)n + 64;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
			struct rlimit more = { want, want };
			if (setrlimit(RLIMIT_NOFILE, &more) == 0)
				rl = more;
		}
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	q = calloc((size_t)n, sizeof(*q));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!q || ep < 0) {
		perror("appswarm");
		return 1;
	}
	/* stdin closing (the driver went away) stops us too. */
	ev.events = EPOLLIN;
	ev.data.u32 = (uint32_t)n;
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	for (int i = 0; i < n; i++) {
		char name[QUIESCE_NAME_MAX + 1];
		int r;
		snprintf(name, sizeof(name), "%s%05d", prefix, i);
		r = quiesce_open(sock, name, &opt, 30000, &q[i]);
		if (r < 0) {
			fprintf(stderr, "appswarm: %s: %s\n", name, quiesce_strerror(r));
			return 1;
		}
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, quiesce_fd(q[i]), &ev) < 0) {
			perror("appswarm: epoll_ctl");
			return 1;
		}
	}
	printf("ready %d\n", n);
	fflush(stdout);
	while (!stop) {
		int k = epoll_wait(ep, evs, 256, -1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			perror("appswarm: epoll_wait");
			return 1;
		}
		for (int j = 0; j < k; j++) {
			uint32_t i = evs[j].data.u32;
			struct quiesce_request req;
			int r;
			if (i == (uint32_t)n) {
				char buf[64];
				if (read(0, buf, sizeof(buf)) <= 0)
					stop = 1;
				continue;
			}
			r = quiesce_next_request(q[i], &req, 0);
			if (r == -ETIMEDOUT || r == -EINTR)
				continue;
			if (r < 0 || (r = quiesce_reply(q[i], &req, QUIESCE_SUCCESS)) < 0) {
				fprintf(stderr, "appswarm: app %u: %s\n", i, quiesce_strerror(r));
				return 1;
			}
			answered++;
		}
	}
	for (int i = 0; i < n; i++)
		quiesce_close(q[i]);
	free(q);
	fprintf(stderr, "appswarm: %lu requests answered\n", answered);
	return 0;
}
