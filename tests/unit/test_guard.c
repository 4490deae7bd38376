// SPDX-License-Identifier: MIT
/* Unit tests for src/common/guard.c: quiesced's side of the thaw guardian. Covered:
 * starting it (and failing to), what each call sends (ARM with its fd in SCM_RIGHTS,
 * DISARM, DEADLINE with and without the record, CLEAR), what the guardian sends back
 * (HELLO, EXPIRED, a malformed frame), the guardian dying (killed, or its socket
 * closed): lost() is called, arming fails until a new one is started, the dead one is
 * reaped; a full send buffer (the bounded wait, and the retry once the guardian has
 * read); allocation failures in guard_new and guard_start.
 *
 * The guardian is this binary itself: guard_start execs it as "quiesce-guardian FD"
 * (the real quiesce-guardian would FITHAW what it holds when its socket closes; this
 * one never touches an fd). It hands its end of the socketpair over to the test (by
 * SCM_RIGHTS over a control socketpair named in the environment, with its pid) and
 * waits, touching nothing, for guard.c to close the socket (or the test the control
 * socket). So the test plays the
 * guardian on the real socket quiesced talks to, while guard.c watches a real child:
 * killing it is a real death, closing the handed-over end a real closed socket.
 *
 * The seam for the bounded wait: --wrap=poll (UNIT_WRAP_guard in mk/unit.mk). It
 * passes every call on, but can first play the guardian reading (drain the socket)
 * while guard.c waits for room: deterministic, no race with the 50 ms bound. The
 * guard's arm frames used to fill the buffer carry no fd. Every wait is bounded. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/guard.h"
#include "common/guardwire.h"
#include "common/loop.h"
#include "failalloc.h"
#include "unitguard.h"

#define CTL_ENV "TEST_GUARD_CTL"
#define DROP_ENV "TEST_GUARD_DROP"
#define WAIT_MS 5000

static char self[PATH_MAX];      /* this binary: the fake guardian */

/* ------------------------------------------------------------ the fake guardian */

static int send_fd(int via, int fd, const void *data, size_t len)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	memset(&ctl, 0, sizeof(ctl));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(via, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Run as "quiesce-guardian FD" by guard_start. It ends when the test's control socket
 * closes, or (unless TEST_GUARD_DROP is set: then it drops its copy at once) when
 * guard.c closes its end, as the real one does. */
static int fake_guardian(const char *fdarg)
{
	int sock = atoi(fdarg), ctl = atoi(getenv(CTL_ENV));
	pid_t pid = getpid();
	char c;
	if (send_fd(ctl, sock, &pid, sizeof(pid)) < 0)
		return 1;
	if (getenv(DROP_ENV)) {
		close(sock);
		sock = -1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = ctl, .events = POLLIN }, { .fd = sock } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents & (POLLHUP | POLLERR))
			return 0;
		if (p[0].revents && read(ctl, &c, 1) <= 0)
			return 0;
	}
}

/* ------------------------------------------------------------ the poll seam */

static int polls;                 /* guard.c's waits for room */
static int drain_on_poll = -1;    /* >= 0: the socket to drain at the next wait */
static int drained;

int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);

static int drain(int sock)
{
	unsigned char buf[GUARD_MSG_SIZE];
	int k = 0;
	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		k++;
	return k;
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (n == 1 && fds[0].events == POLLOUT) {
		polls++;
		assert_true(timeout > 0 && timeout <= 51);
		if (drain_on_poll >= 0) {
			drained += drain(drain_on_poll);
			drain_on_poll = -1;
		}
	}
	return __real_poll(fds, n, timeout);
}

/* ------------------------------------------------------------ fixture */

struct fx {
	struct loop *loop;
	struct guard *g;
	int ctl[2];        /* [0] the test's, [1] the fake guardians' */
	int gsock;         /* the guardian's end, handed over */
	pid_t gpid;        /* the fake guardian's own word for its pid */
	int lost, expired;
	bool running_in_lost;
	int arm_in_lost, arm_errno_in_lost;
};

static void on_lost(void *arg, bool expired)
{
	struct fx *fx = arg;
	fx->lost++;
	fx->expired += expired;
	/* What quiesced does here: thaw, and arming must fail now. */
	fx->running_in_lost = guard_running(fx->g);
	errno = 0;
	fx->arm_in_lost = guard_arm(fx->g, 99, -1, "/lost");
	fx->arm_errno_in_lost = errno;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char num[16];
	unit_guard_on(state);
	if (!fx || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fx->ctl) < 0)
		return -1;
	/* The fake guardians' end stays open across their exec. */
	fcntl(fx->ctl[1], F_SETFD, 0);
	snprintf(num, sizeof(num), "%d", fx->ctl[1]);
	setenv(CTL_ENV, num, 1);
	unsetenv(DROP_ENV);
	fx->gsock = -1;
	fx->loop = loop_new();
	fx->g = guard_new(fx->loop, self, on_lost, fx);
	if (!fx->loop || !fx->g)
		return -1;
	polls = drained = 0;
	drain_on_poll = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	/* The fake guardians end when the control socket closes; guard_free reaps. */
	close(fx->ctl[0]);
	close(fx->ctl[1]);
	guard_free(fx->g);
	if (fx->gsock >= 0)
		close(fx->gsock);
	loop_free(fx->loop);
	free(fx);
	return unit_guard_off(state);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return __real_poll(&p, 1, ms) == 1;
}

/* The next fake guardian's end of the socket (and its pid), once it has started. */
static int take_guardian(struct fx *fx)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { &fx->gpid, sizeof(fx->gpid) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *c;
	if (!readable(fx->ctl[0], WAIT_MS) || recvmsg(fx->ctl[0], &mh, MSG_CMSG_CLOEXEC) < 0)
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	if (fx->gsock >= 0)
		close(fx->gsock);
	memcpy(&fx->gsock, CMSG_DATA(c), sizeof(int));
	return 0;
}

static void start(struct fx *fx)
{
	assert_int_equal(guard_start(fx->g), 0);
	assert_true(guard_running(fx->g));
	assert_int_equal(take_guardian(fx), 0);
	assert_int_equal(fx->gpid, guard_pid(fx->g));
}

/* The next frame guard.c sent (within WAIT_MS), and the fd it carried (-1: none). */
static void next_frame(struct fx *fx, struct guardwire_msg *m, int *fd)
{
	unsigned char buf[GUARD_MSG_SIZE + 1];
	int fds[GUARD_RECV_FDS], nfds, flags;
	ssize_t n;
	assert_true(readable(fx->gsock, WAIT_MS));
	n = guardwire_recv(fx->gsock, 0, buf, sizeof(buf), fds, GUARD_RECV_FDS, &nfds, &flags);
	assert_int_equal(n, GUARD_MSG_SIZE);
	assert_false(flags & (MSG_TRUNC | MSG_CTRUNC));
	assert_true(nfds <= 1);
	*fd = nfds ? fds[0] : -1;
	assert_int_equal(guardwire_decode(buf, (size_t)n, m), 0);
}

static void expect(struct fx *fx, uint32_t type, uint64_t id, uint64_t value, const char *path)
{
	struct guardwire_msg m;
	int fd;
	next_frame(fx, &m, &fd);
	assert_int_equal(fd, -1);
	assert_int_equal(m.type, type);
	assert_int_equal(m.id, id);
	assert_int_equal(m.value, value);
	assert_string_equal(m.path, path);
}

static void guardian_says(struct fx *fx, uint32_t type, uint64_t value)
{
	struct guardwire_msg m = { .type = type, .value = value };
	unsigned char buf[GUARD_MSG_SIZE];
	guardwire_encode(&m, buf);
	assert_int_equal(send(fx->gsock, buf, sizeof(buf), MSG_NOSIGNAL), GUARD_MSG_SIZE);
}

static bool lost_once(void *arg)
{
	return ((struct fx *)arg)->lost >= 1;
}

static bool ctl_readable(void *arg)
{
	return readable(((struct fx *)arg)->ctl[0], 0);
}

static bool gone(void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", (int)*(pid_t *)arg);
	return access(path, F_OK) < 0;     /* a zombie still has its /proc entry */
}

/* ------------------------------------------------------------ start */

/* It starts the guardian with its end of a SOCK_SEQPACKET socketpair; a second start
 * while it runs starts nothing. */
static void test_start(void **state)
{
	struct fx *fx = *state;
	int type = 0;
	socklen_t len = sizeof(type);
	start(fx);
	assert_int_equal(getsockopt(fx->gsock, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	assert_int_equal(type, SOCK_SEQPACKET);
	assert_int_equal(guard_start(fx->g), 0);
	assert_false(readable(fx->ctl[0], 100));           /* no second guardian */
	assert_int_equal(fx->lost, 0);
}

/* No program to run: guard_start fails, nothing runs, arming fails (no freeze). */
static void test_start_fails(void **state)
{
	struct fx *fx = *state;
	char path[64] = "/tmp/test_guard.XXXXXX";
	int fd = mkstemp(path);
	struct guard *g;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(path, 0600), 0);            /* not executable */
	g = guard_new(fx->loop, path, on_lost, fx);
	assert_non_null(g);
	assert_int_equal(guard_start(g), -1);
	assert_false(guard_running(g));
	errno = 0;
	assert_int_equal(guard_arm(g, 1, -1, "/x"), -1);
	assert_int_equal(errno, ENOTCONN);
	guard_disarm(g, 1);                                 /* no socket: nothing happens */
	guard_free(g);
	unlink(path);
	assert_false(readable(fx->ctl[0], 0));
}

/* HELLO is taken quietly, a malformed frame is ignored, EXPIRED is lost(expired). */
static void test_guardian_says(void **state)
{
	struct fx *fx = *state;
	unsigned char junk[GUARD_MSG_SIZE] = { 0 };
	start(fx);
	guardian_says(fx, GUARD_HELLO, (uint64_t)fx->gpid);
	assert_int_equal(send(fx->gsock, junk, sizeof(junk), MSG_NOSIGNAL), GUARD_MSG_SIZE);
	assert_false(unit_run_until(fx->loop, lost_once, fx, 100));
	assert_true(guard_running(fx->g));
	guardian_says(fx, GUARD_EXPIRED, 3);
	assert_true(unit_run_until(fx->loop, lost_once, fx, WAIT_MS));
	assert_int_equal(fx->lost, 1);
	assert_int_equal(fx->expired, 1);
	assert_true(fx->running_in_lost);                  /* it still runs */
	assert_int_equal(fx->arm_in_lost, 0);
	expect(fx, GUARD_ARM, 99, 0, "/lost");
}

/* ------------------------------------------------------------ what it sends */

/* ARM: the id, the path, and the fd itself (the same directory), also from another
 * thread's point of view the same frame; a path too long for the frame is cut. */
static void test_arm(void **state)
{
	struct fx *fx = *state;
	char dir[64] = "/tmp/test_guard.XXXXXX", longp[400];
	struct guardwire_msg m;
	struct stat a, b;
	int fd, got;
	start(fx);
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(guard_arm(fx->g, 42, fd, dir), 0);
	next_frame(fx, &m, &got);
	assert_int_equal(m.type, GUARD_ARM);
	assert_int_equal(m.id, 42);
	assert_string_equal(m.path, dir);
	assert_true(got >= 0 && got != fd);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(got, &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	close(got);

	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(guard_arm(fx->g, UINT64_MAX, fd, longp), 0);
	next_frame(fx, &m, &got);
	assert_int_equal(m.id, UINT64_MAX);
	assert_int_equal(strlen(m.path), GUARD_PATH_MAX);
	assert_true(got >= 0);
	close(got);
	close(fd);
	rmdir(dir);
}

/* DISARM, DEADLINE (with the record, without, with one too long for the frame: the
 * guardian must then leave it alone), CLEAR; and at guard_free a CLEAR, then the
 * socket closes. */
static void test_disarm_deadline_clear(void **state)
{
	struct fx *fx = *state;
	char full[GUARD_PATH_MAX + 2];
	start(fx);
	guard_disarm(fx->g, 7);
	expect(fx, GUARD_DISARM, 7, 0, "");
	guard_deadline(fx->g, 30000, "/run/quiesce/frozen.list");
	expect(fx, GUARD_DEADLINE, 0, 30000, "/run/quiesce/frozen.list");
	guard_deadline(fx->g, 0, NULL);
	expect(fx, GUARD_DEADLINE, 0, 0, "");
	memset(full, 'r', sizeof(full) - 1);
	full[GUARD_PATH_MAX] = '\0';                        /* just fits */
	guard_deadline(fx->g, 5, full);
	expect(fx, GUARD_DEADLINE, 0, 5, full);
	full[GUARD_PATH_MAX] = 'r';
	full[GUARD_PATH_MAX + 1] = '\0';                    /* one too long */
	guard_deadline(fx->g, 6, full);
	expect(fx, GUARD_DEADLINE, 0, 6, "");
	guard_clear(fx->g);
	expect(fx, GUARD_CLEAR, 0, 0, "");

	close(fx->ctl[0]);                                  /* the fake may end now */
	fx->ctl[0] = -1;
	guard_free(fx->g);
	fx->g = NULL;
	expect(fx, GUARD_CLEAR, 0, 0, "");
	assert_true(readable(fx->gsock, WAIT_MS));
	assert_int_equal(recv(fx->gsock, (char[8]){ 0 }, 8, MSG_DONTWAIT), 0);   /* EOF */
	assert_true(gone(&fx->gpid));                       /* reaped by guard_free */
}

/* ------------------------------------------------------------ the guardian dies */

/* After lost(), a new guardian is started, which takes arms again; the dead one is
 * reaped. */
static void check_restart(struct fx *fx, pid_t old)
{
	assert_int_equal(fx->lost, 1);
	assert_int_equal(fx->expired, 0);
	assert_false(fx->running_in_lost);
	assert_int_equal(fx->arm_in_lost, -1);
	assert_int_equal(fx->arm_errno_in_lost, ENOTCONN);
	assert_true(unit_run_until(fx->loop, ctl_readable, fx, WAIT_MS));
	assert_int_equal(take_guardian(fx), 0);
	assert_true(fx->gpid != old);
	assert_true(guard_running(fx->g));
	assert_int_equal(guard_pid(fx->g), fx->gpid);
	assert_int_equal(guard_arm(fx->g, 5, -1, "/again"), 0);
	expect(fx, GUARD_ARM, 5, 0, "/again");
	assert_true(unit_run_until(fx->loop, gone, &old, WAIT_MS));
}

/* Whether this kernel (and valgrind: 3.19 has no pidfd_open) gives guard.c a pidfd. */
static bool have_pidfd(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Killed: its pidfd tells (its socket stays open: the test holds that end). Without
 * pidfds guard.c hears of a death only from the socket, which a real guardian's death
 * closes: the test then closes its copy. */
static void test_guardian_killed(void **state)
{
	struct fx *fx = *state;
	pid_t old;
	start(fx);
	old = fx->gpid;
	assert_int_equal(kill(old, SIGKILL), 0);
	if (!have_pidfd()) {
		printf("# no pidfd_open here: the death is seen through the socket\n");
		close(fx->gsock);
		fx->gsock = -1;
	}
	assert_true(unit_run_until(fx->loop, lost_once, fx, WAIT_MS));
	check_restart(fx, old);
}

/* Its socket closed while it still runs: lost too; it is killed later (by the test,
 * as it would end itself) and reaped then. */
static void test_guardian_closes(void **state)
{
	struct fx *fx = *state;
	pid_t old;
	setenv(DROP_ENV, "1", 1);           /* the test's copy is then the only one */
	start(fx);
	unsetenv(DROP_ENV);
	old = fx->gpid;
	close(fx->gsock);
	fx->gsock = -1;
	assert_true(unit_run_until(fx->loop, lost_once, fx, WAIT_MS));
	assert_false(gone(&old));
	assert_int_equal(kill(old, SIGKILL), 0);
	check_restart(fx, old);
}

/* ------------------------------------------------------------ a full send buffer */

/* A guardian that reads nothing: arming fails once the buffer is full, after a wait
 * of about SEND_WAIT_MS (50 ms), not at once and not for ever; what was sent before
 * arrives whole and in order, and arming works again once the guardian has read.
 * Then the wait itself: a guardian that reads while guard.c waits for room gets the
 * frame (the seam drains the socket at guard.c's poll). */
static void test_full_buffer(void **state)
{
	struct fx *fx = *state;
	uint64_t sent = 0, t0, ms;
	struct timespec ts;
	int r = 0;
	start(fx);
	while (sent < 1000000 && (r = guard_arm(fx->g, sent, -1, "/fill")) == 0)
		sent++;
	assert_int_equal(r, -1);
	assert_true(sent > 100);
	printf("# the send buffer held %llu frames\n", (unsigned long long)sent);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	polls = 0;
	errno = 0;
	assert_int_equal(guard_arm(fx->g, sent, -1, "/full"), -1);
	assert_int_equal(errno, EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - t0;
	assert_true(ms >= 49 && ms < 2000);
	assert_true(polls >= 1);
	assert_true(guard_running(fx->g));                  /* stuck is not dead */

	for (uint64_t i = 0; i < sent; i++)
		expect(fx, GUARD_ARM, i, 0, "/fill");
	assert_false(readable(fx->gsock, 0));               /* the failed ones are not sent */
	assert_int_equal(guard_arm(fx->g, 1, -1, "/after"), 0);
	expect(fx, GUARD_ARM, 1, 0, "/after");

	/* Full again; this time the guardian reads during the wait. */
	sent = 0;
	while (sent < 1000000 && guard_arm(fx->g, sent, -1, "/fill") == 0)
		sent++;
	polls = 0;
	drained = 0;
	drain_on_poll = fx->gsock;
	assert_int_equal(guard_arm(fx->g, 2, -1, "/waited"), 0);
	assert_int_equal(polls, 1);
	assert_int_equal((uint64_t)drained, sent);
	expect(fx, GUARD_ARM, 2, 0, "/waited");
}

/* ------------------------------------------------------------ allocations */

struct oom {
	struct fx *fx;
	struct loop *loop;
};

static bool oom_new_run(void *arg)
{
	struct oom *o = arg;
	struct guard *g = guard_new(o->loop, self, on_lost, o->fx);
	bool failed = failalloc_stop();
	if (!g) {
		assert_true(failed);
		return true;
	}
	assert_false(guard_running(g));
	guard_free(g);
	return failed;
}

/* Frames or guardians the fake guardians handed over, thrown away. */
static void drain_ctl(struct fx *fx)
{
	while (readable(fx->ctl[0], 0) && take_guardian(fx) == 0) {
		close(fx->gsock);
		fx->gsock = -1;
	}
}

/* guard_new and guard_start on a fresh loop (whose fd table grows for the socket): a
 * failure to watch the guardian kills and reaps it and fails the start; a start that
 * succeeds has a guardian running, which guard_free ends. */
static bool oom_start_run(void *arg)
{
	struct oom *o = arg;
	struct loop *loop = loop_new();
	struct guard *g = loop ? guard_new(loop, self, on_lost, o->fx) : NULL;
	int r = g ? guard_start(g) : -1;
	bool failed = failalloc_stop();
	pid_t pid = g ? guard_pid(g) : 0;
	if (r < 0 && pid > 0)
		assert_true(gone(&pid));
	if (r < 0) {
		assert_true(failed);
		if (g)
			assert_false(guard_running(g));
		/* The guardian it started and reaped is not its pid any more: guard_free
		 * would wait for (and kill) whatever process has that pid by then. */
		assert_int_equal(pid, 0);
	} else {
		assert_true(guard_running(g));
		assert_true(pid > 0);
	}
	guard_free(g);
	loop_free(loop);
	if (pid > 0)
		assert_true(gone(&pid));
	drain_ctl(o->fx);
	return failed;
}

static void test_out_of_memory(void **state)
{
	struct fx *fx = *state;
	struct oom o = { .fx = fx, .loop = fx->loop };
	assert_int_equal(failalloc_each("guard_new", oom_new_run, &o), 2);
	assert_true(failalloc_each("guard_new and guard_start", oom_start_run, &o) > 2);
}

int main(int argc, char **argv)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_start),
		T(test_start_fails),
		T(test_guardian_says),
		T(test_arm),
		T(test_disarm_deadline_clear),
		T(test_guardian_killed),
		T(test_guardian_closes),
		T(test_full_buffer),
		T(test_out_of_memory),
	};
#undef T
	const char *slash = strrchr(argv[0], '/');
	ssize_t n;
	if (argc == 2 && strcmp(slash ? slash + 1 : argv[0], "quiesce-guardian") == 0 &&
	    getenv(CTL_ENV))
		return fake_guardian(argv[1]);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 1;
	self[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	unit_guard("test_guard", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
