/*
 * appswarm: N applications registered with quiesced through libquiesce, in one process,
 * each answering every request at once with success. For the "connected apps" rows
 * of the benchmark: what the daemon pays per app, with as little as possible spent on
 * the apps' side.
 *
 *   appswarm SOCKET N [NAME-PREFIX]
 *
 * Prints "ready N" once all N are registered, then serves until stdin closes (or
 * SIGTERM), and prints "served K" (requests answered) before it exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <quiesce.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *path, *prefix;
	struct quiesce **q;
	struct rlimit rl;
	unsigned long served = 0;
	int n, ep;

	if (argc < 3) {
		fprintf(stderr, "usage: appswarm SOCKET N [NAME-PREFIX]\n");
		return 2;
	}
	path = argv[1];
	n = atoi(argv[2]);
	prefix = argc > 3 ? argv[3] : "bench";
	if (n < 0 || n > 100000) {
		fprintf(stderr, "appswarm: bad N\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	q = calloc((size_t)n + 1, sizeof(*q));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!q || ep < 0) {
		perror("appswarm");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char name[64];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		int r;
		snprintf(name, sizeof(name), "%s-%d", prefix, i);
		/* The daemon limits the connection rate: retry a refusal for a while. */
		for (int tries = 0;; tries++) {
			r = quiesce_open(path, name, NULL, 10000, &q[i]);
			if (r == 0 || tries == 200 || stop)
				break;
			usleep(50000);
		}
		if (r < 0) {
			fprintf(stderr, "appswarm: app %d: %s\n", i, quiesce_strerror(r));
			return 1;
		}
		if (epoll_ctl(ep, EPOLL_CTL_ADD, quiesce_fd(q[i]), &ev) < 0) {
			perror("appswarm: epoll_ctl");
			return 1;
		}
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)n };
		epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	}
	printf("ready %d\n", n);

	while (!stop) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, -1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			perror("appswarm: epoll_wait");
			break;
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
			if (r == -ETIMEDOUT)
				continue;
			if (r < 0) {
				fprintf(stderr, "appswarm: app %u: %s\n", i, quiesce_strerror(r));
				epoll_ctl(ep, EPOLL_CTL_DEL, quiesce_fd(q[i]), NULL);
				continue;
			}
			if (quiesce_reply(q[i], &req, QUIESCE_SUCCESS) == 0)
				served++;
		}
	}
	for (int i = 0; i < n; i++)
		quiesce_close(q[i]);
	printf("served %lu\n", served);
	return 0;
}
