// SPDX-License-Identifier: MIT
/* quiesce-guardian: the thaw guardian. A separate, tiny process started by quiesced.
 *
 * quiesced hands it the fd of every filesystem before freezing it. If quiesced dies
 * (its end of the socket closes) or the deadline passes, the guardian thaws every fd
 * it holds. It never touches a filesystem otherwise: it writes nothing anywhere until
 * it has thawed, and it locks its memory so it needs nothing from disk to do so.
 * While quiesced is FROZEN it also knows the run-dir record of the freeze: once it has
 * thawed everything, it removes it, so that the record never outlives the freeze
 * (quiesced, dying right after, would leave it for the next start to act on).
 *
 * Usage (by quiesced only): quiesce-guardian FD   -- FD is the socketpair end.
 * --help and --version are there for the man page's sake (and its test).
 * All of it is here, main.c only calls guardian_main: tests/unit/test_guardian.c runs
 * it in a child process of its own, FITHAW faked. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/guardwire.h"
#include "guardian/guardian.h"

#define MAX_HELD 1024
/* After reading what quiesced sent, the guardian rests this long before it looks
 * again. A freeze of 16 filesystems sends ~20 frames within a millisecond or two;
 * woken for each, the guardian took a CPU from the freeze on every one of them (on
 * 2 cores a 16-filesystem freeze was ~0.5 ms slower). Nothing waits for the guardian
 * to read: once quiesced's sendmsg returns, the fd is in our queue, ours to thaw
 * even if quiesced dies at once (quiesced's send buffer holds far more than it can
 * send in this time: see guard.c). All it delays is our reaction to quiesced's death
 * or a deadline, by at most this, next to deadlines of seconds. */
#define REST_NS (2 * 1000 * 1000)

struct held {
	uint64_t id;
	int fd;
	char path[GUARD_PATH_MAX + 1];
};

static struct held held[MAX_HELD];
static size_t n_held;
/* The run-dir record to remove after a full thaw ("": not ours to remove now). */
static char record[GUARD_PATH_MAX + 1];
static int sock = -1;
static volatile sig_atomic_t got_term;
/* SIGTERM and SIGHUP are blocked but while the guardian waits (ppoll with this
 * mask, in rest() too): one cannot come between its look at got_term and
 * the wait, and leave it waiting for quiesced's next frame. */
static sigset_t wait_mask;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void forget(size_t i)
{
	close(held[i].fd);
	held[i] = held[--n_held];
}

/* Thaw everything held, in reverse order of arrival (quiesced arms a filesystem
 * before the ones that hold it). Only after this may anything be logged. */
static unsigned thaw_all(const char *why)
{
	unsigned thawed = 0;
	bool all = true;
	int unused = 0;
	char lines[MAX_HELD > 64 ? 64 : MAX_HELD][GUARD_PATH_MAX + 64];
	size_t nlines = 0;

	for (size_t i = n_held; i-- > 0;) {
		int r = ioctl(held[i].fd, FITHAW, &unused);
		int err = r < 0 ? errno : 0;
		if (r == 0)
			thawed++;
		all &= r == 0 || err == EINVAL;
		/* EINVAL: it was not frozen (not yet, or already thawed). */
		if ((r == 0 || err != EINVAL) && nlines < sizeof(lines) / sizeof(lines[0])) {
			if (r == 0)
				snprintf(lines[nlines++], sizeof(lines[0]), "%s: thawed", held[i].path);
			else
				snprintf(lines[nlines++], sizeof(lines[0]), "%s: thaw failed: %s",
					 held[i].path, strerror(err));
		}
		close(held[i].fd);
	}
	n_held = 0;
	/* Nothing of the freeze is frozen now: its record would only mislead. */
	if (all && record[0] && unlink(record) == 0 && nlines < sizeof(lines) / sizeof(lines[0]))
		snprintf(lines[nlines++], sizeof(lines[0]), "removed %s", record);
	record[0] = '\0';
	/* Everything we held is thawed: logging cannot block on it any more. */
	if (thawed || nlines)
		fprintf(stderr, "quiesce-guardian: %s: thawed %u filesystem%s\n", why, thawed,
			thawed == 1 ? "" : "s");
	for (size_t i = 0; i < nlines; i++)
		fprintf(stderr, "quiesce-guardian:   %s\n", lines[i]);
	return thawed;
}

static void send_msg(uint32_t type, uint64_t value)
{
	struct guardwire_msg m = { .type = type, .value = value };
	unsigned char buf[GUARD_MSG_SIZE];
	guardwire_encode(&m, buf);
	/* Best effort: if quiesced is gone there is nobody to tell. */
	(void)send(sock, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* One frame from quiesced. Returns 0 to go on, 1 when none is queued, -1 when the
 * socket is done. */
static int receive(uint64_t *deadline)
{
	unsigned char buf[GUARD_MSG_SIZE + 1];
	struct guardwire_msg m;
	int fds[GUARD_RECV_FDS], nfds;
	ssize_t n;

	n = guardwire_recv(sock, MSG_DONTWAIT, buf, sizeof(buf), fds, GUARD_RECV_FDS, &nfds, NULL);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return -1;
	if (guardwire_decode(buf, (size_t)n, &m) < 0 || (m.type == GUARD_ARM) != (nfds == 1)) {
		/* Not from quiesced as we know it: hold what came, trust nothing else. */
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return 0;
	}
	switch (m.type) {
	case GUARD_ARM:
		if (n_held == MAX_HELD) {
			close(fds[0]);
			break;
		}
		held[n_held].id = m.id;
		held[n_held].fd = fds[0];
		memcpy(held[n_held].path, m.path, sizeof(m.path));
		n_held++;
		break;
	case GUARD_DISARM:
		for (size_t i = 0; i < n_held; i++)
			if (held[i].id == m.id) {
				forget(i);
				break;
			}
		break;
	case GUARD_DEADLINE:
		*deadline = m.value ? now_ms() + m.value : 0;
		memcpy(record, m.path, sizeof(record));
		break;
	case GUARD_CLEAR:
		while (n_held)
			forget(n_held - 1);
		*deadline = 0;
		record[0] = '\0';
		break;
	default:
		break;
	}
	return 0;
}

/* Everything queued. Returns -1 once the socket is done (quiesced gone). */
static int drain(uint64_t *deadline)
{
	int r;
	while ((r = receive(deadline)) == 0)
		;
	return r < 0 ? -1 : 0;
}

/* Woken by a frame: let the ones right behind it queue up too (REST_NS). A signal
 * cuts the rest short. */
static void rest(void)
{
	const struct timespec t = { 0, REST_NS };
	if (!got_term)
		(void)ppoll(NULL, 0, &t, &wait_mask);
}

/* poll, for timeout_ms (-1: no end), SIGTERM and SIGHUP let in meanwhile. */
static int wait_for(struct pollfd *p, int timeout_ms)
{
	struct timespec t = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
	return ppoll(p, 1, timeout_ms < 0 ? NULL : &t, &wait_mask);
}

static void usage(void)
{
	printf("Usage: quiesce-guardian FD\n"
	       "The thaw guardian, started by quiesced (never by hand): it holds the fd of every\n"
	       "filesystem quiesced freezes, and thaws them all if quiesced dies or hangs past\n"
	       "the deadline quiesced gave it. FD is its end of quiesced's socketpair.\n"
	       "  -h, --help     show this help and exit\n"
	       "  -V, --version  show the version and exit\n"
	       "Exit status: 0 when it ends (quiesced gone, SIGTERM or SIGHUP), after thawing\n"
	       "what it held; 2 bad usage.\n");
}

int guardian_main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigset_t term;
	uint64_t deadline = 0;
	char *end;
	long v;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage();
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("quiesce-guardian %s\n", QUIESCE_VERSION);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "quiesce-guardian: started by quiesced only (usage: %s FD)\n", argv[0]);
		return 2;
	}
	/* Digits only: strtol alone takes "" (as 0), leading blanks and a sign. */
	v = strtol(argv[1], &end, 10);
	if (!argv[1][0] || argv[1][strspn(argv[1], "0123456789")] || *end || v > 1024 ||
	    fcntl((int)v, F_GETFD) < 0) {
		fprintf(stderr, "quiesce-guardian: %s is not an open fd\n", argv[1]);
		return 2;
	}
	sock = (int)v;
	/* Nothing to page in from a frozen disk when it matters. */
	(void)mlockall(MCL_CURRENT | MCL_FUTURE);
	signal(SIGPIPE, SIG_IGN);
	/* Ctrl-C in quiesced's terminal reaches us too: quiesced handles it. */
	signal(SIGINT, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGHUP);
	sigprocmask(SIG_BLOCK, &term, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGHUP);
	send_msg(GUARD_HELLO, (uint64_t)getpid());

	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int timeout = -1, r;

		/* First what is queued, whatever happens next: every fd sent is ours
		 * to thaw, and a newer deadline may have come. */
		if (drain(&deadline) < 0)
			break;
		if (got_term) {
			thaw_all("terminated");
			return 0;
		}
		if (deadline) {
			uint64_t now = now_ms();
			if (now >= deadline) {
				unsigned n = thaw_all("deadline passed");
				deadline = 0;
				send_msg(GUARD_EXPIRED, n);
				continue;
			}
			timeout = (int)(deadline - now > 60000 ? 60000 : deadline - now);
		}
		r = wait_for(&p, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && (p.revents & POLLIN))
			rest();
		else if (r > 0 && (p.revents & (POLLHUP | POLLERR)))
			break;
	}
	/* quiesced is gone: whatever it froze, nobody else will thaw. */
	(void)drain(&deadline);
	thaw_all("quiesced is gone");
	return 0;
}
