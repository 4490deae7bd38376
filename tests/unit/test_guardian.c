// SPDX-License-Identifier: MIT
/* Unit tests for src/guardian/guardian.c, the thaw guardian (quiesce-guardian): until
 * now only the integration tests (core_guardian.py, fault_guardian.py) ran it, on real
 * frozen loop mounts. Covered: HELLO, the thaw of everything held when quiesced's end
 * closes (newest first), DISARM by id, CLEAR, a DEADLINE passing (EXPIRED with the
 * count thawed), replaced or cleared (0), the run-dir record removed only after a full
 * thaw (EINVAL "not frozen" counts as thawed, another error keeps it) and forgotten by
 * CLEAR, a new DEADLINE or a thaw, frames it must not trust (malformed, ARM without an
 * fd, another type with one, two fds: the fds closed, nothing applied), MAX_HELD,
 * SIGTERM/SIGHUP (thaw and exit) and SIGINT (ignored), mlockall failing, the command
 * line (--help, --version, what is not an fd).
 *
 * Each case runs guardian_main in a child process (it takes signals, mlockall, its
 * statics), the test on the other end of a real SOCK_SEQPACKET socketpair. The held
 * "filesystems" are directories of a mkdtemp dir. The seams (this binary only:
 * UNIT_WRAP_guardian in mk/unit.mk): --wrap=ioctl (tests/unit/ioctlseam.c), whose
 * FITHAW lands in ioctlseam_fake, which answers by the directory's name and logs it in
 * memory shared with the test; and --wrap=mlockall, which logs and locks nothing.
 * FIFREEZE and FITHAW never reach the kernel: nothing is frozen or thawed. Where the
 * test must know the guardian has read everything sent, it sends a DEADLINE of 1 ms
 * and waits for the EXPIRED that follows it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/guardwire.h"
#include "guardian/guardian.h"
#include "ioctlseam.h"
#include "capture.h"
#include "unitguard.h"

#define MAX_HELD 1024    /* guardian.c's */
#define MAXTHAW 1100
#define WAIT_MS 10000    /* for what must come (valgrind is slow) */
#define QUIET_MS 300     /* for what must not */

/* What the child did, written by it and read by the test (MAP_SHARED). */
struct shared {
	int n_thaw;                 /* FITHAW calls, in order: */
	char thaw[MAXTHAW][16];     /* the directory's name */
	int n_freeze;               /* FIFREEZE calls: there must be none */
	int n_mlock, mlock_flags;
	bool mlock_fails;           /* set by the test before the child starts */
	bool term_in_wait;          /* SIGTERM itself as it next goes to wait */
};

static struct shared *sh;
static char base[64], record[96];
static char outpath[96], errpath[96];
static pid_t child = -1;
static int sock = -1;       /* the test's end */
static bool in_child;       /* this process is the guardian */

/* ------------------------------------------------------------ the seams */

/* By the directory's name: "eio*" fails with EIO, "einval*" with EINVAL (not frozen),
 * anything else thaws. */
int ioctlseam_fake(const char *path, bool freeze)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int i;
	if (freeze) {
		__atomic_add_fetch(&sh->n_freeze, 1, __ATOMIC_SEQ_CST);
		errno = EPERM;
		return -1;
	}
	i = sh->n_thaw;
	if (i < MAXTHAW)
		snprintf(sh->thaw[i], sizeof(sh->thaw[i]), "%s", name);
	__atomic_store_n(&sh->n_thaw, i + 1, __ATOMIC_SEQ_CST);
	errno = !strncmp(name, "eio", 3) ? EIO : !strncmp(name, "einval", 6) ? EINVAL : 0;
	return errno ? -1 : 0;
}

int __wrap_mlockall(int flags);
int __wrap_mlockall(int flags)
{
	sh->n_mlock++;
	sh->mlock_flags = flags;
	if (sh->mlock_fails) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* The guardian's wait (poll or ppoll): with term_in_wait, a SIGTERM comes right
 * before it, after the guardian last looked whether one had come. */
int __real_poll(struct pollfd *p, nfds_t n, int ms);
int __wrap_poll(struct pollfd *p, nfds_t n, int ms);
int __real_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *mask);
int __wrap_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *mask);

static void term_in_wait(void)
{
	if (in_child && sh->term_in_wait) {
		sh->term_in_wait = false;
		kill(getpid(), SIGTERM);
	}
}

int __wrap_poll(struct pollfd *p, nfds_t n, int ms)
{
	term_in_wait();
	return __real_poll(p, n, ms);
}

int __wrap_ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	term_in_wait();
	return __real_ppoll(p, n, t, mask);
}

/* ------------------------------------------------------------ fixture */

static int setup(void **state)
{
	char tmpl[] = "/tmp/test_guardian.XXXXXX";
	static const char *const names[] = { "a", "b", "c", "eio", "einval" };
	unit_guard_on(state);
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(base, sizeof(base), "%s", tmpl);
	snprintf(record, sizeof(record), "%s/frozen.list", base);
	snprintf(outpath, sizeof(outpath), "%s/stdout", base);
	snprintf(errpath, sizeof(errpath), "%s/stderr", base);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char d[128];
		snprintf(d, sizeof(d), "%s/%s", base, names[i]);
		if (mkdir(d, 0700) < 0)
			return -1;
	}
	memset(sh, 0, sizeof(*sh));
	sh->mlock_fails = true; /* as for a user without CAP_IPC_LOCK */
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	int r;
	if (sock >= 0)
		close(sock);
	sock = -1;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	child = -1;
	assert_int_equal(sh->n_freeze, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	r = system(cmd);
	(void)r;
	return unit_guard_off(state);
}

/* ------------------------------------------------------------ the child */

static void redirect(int fd, const char *path)
{
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f < 0 || dup2(f, fd) < 0)
		_exit(99);
	close(f);
}

/* guardian_main(argv) in a child, its stdout and stderr in files. */
static void run_child(char **argv, int drop)
{
	int argc = 0, rc;
	struct rlimit rl;
	fflush(NULL); /* nothing of ours printed twice */
	child = fork();
	assert_true(child >= 0);
	if (child > 0)
		return;
	in_child = true;
	if (drop >= 0)
		close(drop);
	redirect(1, outpath);
	redirect(2, errpath);
	/* Room for MAX_HELD fds and the rest, as far as the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	while (argv[argc])
		argc++;
	rc = guardian_main(argc, argv);
	fflush(NULL);
	_exit(rc);
}

/* The child's exit status (or 128 + signal), within WAIT_MS. */
static int reap(void)
{
	const struct timespec ms = { 0, 1000000 };
	int st;
	for (int i = 0; i < WAIT_MS; i++) {
		pid_t p = waitpid(child, &st, WNOHANG);
		assert_true(p >= 0);
		if (p == child) {
			child = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		nanosleep(&ms, NULL);
	}
	fail_msg("the guardian did not exit");
	return -1;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* The next frame from the guardian; false if none came within ms. */
static bool next_frame(struct guardwire_msg *m, int ms)
{
	unsigned char buf[GUARD_MSG_SIZE + 1];
	int fds[GUARD_RECV_FDS], nfds;
	ssize_t n;
	if (!readable(sock, ms))
		return false;
	n = guardwire_recv(sock, MSG_DONTWAIT, buf, sizeof(buf), fds, GUARD_RECV_FDS, &nfds, NULL);
	assert_int_equal(n, GUARD_MSG_SIZE);
	assert_int_equal(nfds, 0);
	assert_int_equal(guardwire_decode(buf, (size_t)n, m), 0);
	return true;
}

/* A guardian on a new socketpair, its HELLO read; what pre() sends is queued before
 * it starts. */
static void start_with(void (*pre)(void))
{
	int sv[2];
	char fdarg[16];
	char *argv[] = { "quiesce-guardian", fdarg, NULL };
	struct guardwire_msg m;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
	sock = sv[0];
	if (pre)
		pre();
	run_child(argv, sv[0]);
	close(sv[1]);
	assert_true(next_frame(&m, WAIT_MS));
	assert_int_equal(m.type, GUARD_HELLO);
	assert_int_equal(m.value, (uint64_t)child);
	assert_int_equal(sh->n_mlock, 1);
	assert_int_equal(sh->mlock_flags, MCL_CURRENT | MCL_FUTURE);
}

static void start(void)
{
	start_with(NULL);
}

/* ------------------------------------------------------------ sending */

static void send_raw(const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(&ctl, 0, sizeof(ctl));
	if (nfds > 0) {
		struct cmsghdr *c;
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_frame(uint32_t type, uint64_t id, uint64_t value, const char *path, int fd)
{
	struct guardwire_msg m = { .type = type, .id = id, .value = value };
	unsigned char buf[GUARD_MSG_SIZE];
	snprintf(m.path, sizeof(m.path), "%s", path ? path : "");
	guardwire_encode(&m, buf);
	send_raw(buf, sizeof(buf), &fd, fd >= 0 ? 1 : 0);
}

/* An fd of our directory name (closed again: the guardian has its own copy). */
static void arm(uint64_t id, const char *name)
{
	char d[128];
	int fd;
	snprintf(d, sizeof(d), "%s/%s", base, name);
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	send_frame(GUARD_ARM, id, 0, d, fd);
	close(fd);
}

static void deadline(uint64_t ms, const char *rec)
{
	send_frame(GUARD_DEADLINE, 0, ms, rec, -1);
}

/* Everything sent so far read: a DEADLINE of 1 ms, and its EXPIRED. Returns the
 * count thawed (it thaws all that is held). */
static uint64_t sync_expire(void)
{
	struct guardwire_msg m;
	deadline(1, "");
	assert_true(next_frame(&m, WAIT_MS));
	assert_int_equal(m.type, GUARD_EXPIRED);
	return m.value;
}

/* quiesced gone: the guardian thaws and exits 0. */
static void hang_up(void)
{
	close(sock);
	sock = -1;
	assert_int_equal(reap(), 0);
}

/* ------------------------------------------------------------ checking */

/* The FITHAWs so far were of exactly these directories, in this order. */
static void expect_thaws(int n, ...)
{
	va_list ap;
	assert_int_equal(__atomic_load_n(&sh->n_thaw, __ATOMIC_SEQ_CST), n);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(sh->thaw[i], va_arg(ap, const char *));
	va_end(ap);
}

static const char *slurp(const char *path)
{
	static char buf[8192];

	assert_int_equal(access(path, F_OK), 0);
	capture_read(path, buf, sizeof(buf));
	return buf;
}

static void expect_err(const char *text)
{
	const char *err = slurp(errpath);
	if (!strstr(err, text))
		fail_msg("stderr lacks \"%s\":\n%s", text, err);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void make_record(void)
{
	FILE *f = fopen(record, "we");
	assert_non_null(f);
	fclose(f);
}

static int child_fds(void)
{
	char dir[64], link[128], target[PATH_MAX];
	int n = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)child);
	for (int fd = 0; fd < 4096; fd++) {
		snprintf(link, sizeof(link), "%s/%d", dir, fd);
		if (readlink(link, target, sizeof(target)) >= 0)
			n++;
	}
	return n;
}

/* ------------------------------------------------------------ cases */

/* quiesced's end closes: all held thawed, newest first, logged after; exit 0. Its
 * mlockall failing (unprivileged) changes nothing. */
static void test_close_thaws_all(void **state)
{
	(void)state;
	start();
	arm(1, "a");
	arm(2, "b");
	arm(3, "c");
	hang_up();
	expect_thaws(3, "c", "b", "a");
	expect_err("quiesce-guardian: quiesced is gone: thawed 3 filesystems");
	expect_err("/c: thawed");
}

/* Nothing held: nothing thawed, nothing said. */
static void test_close_idle(void **state)
{
	(void)state;
	sh->mlock_fails = false;
	start();
	hang_up();
	expect_thaws(0);
	assert_string_equal(slurp(errpath), "");
}

/* DISARM forgets that id only (an unknown id: nothing). */
static void test_disarm(void **state)
{
	(void)state;
	start();
	arm(1, "a");
	arm(2, "b");
	arm(3, "c");
	send_frame(GUARD_DISARM, 2, 0, NULL, -1);
	send_frame(GUARD_DISARM, 99, 0, NULL, -1);
	hang_up();
	expect_thaws(2, "c", "a");
}

/* CLEAR forgets all held, the deadline and the record; what comes after is held. */
static void test_clear(void **state)
{
	struct guardwire_msg m;
	(void)state;
	make_record();
	start();
	arm(1, "a");
	arm(2, "b");
	deadline(50, record);
	send_frame(GUARD_CLEAR, 0, 0, NULL, -1);
	arm(3, "c");
	assert_false(next_frame(&m, QUIET_MS));
	expect_thaws(0);
	hang_up();
	expect_thaws(1, "c");
	assert_true(exists(record));
}

/* The deadline passes: all held thawed, EXPIRED with how many thawed (a failure is
 * not counted, and said); then nothing is held and the deadline is gone. */
static void test_deadline_expires(void **state)
{
	struct guardwire_msg m;
	(void)state;
	start();
	arm(1, "a");
	arm(2, "eio");
	arm(3, "b");
	deadline(30, "");
	assert_true(next_frame(&m, WAIT_MS));
	assert_int_equal(m.type, GUARD_EXPIRED);
	assert_int_equal(m.value, 2);
	expect_thaws(3, "b", "eio", "a");
	expect_err("deadline passed: thawed 2 filesystems");
	expect_err("/eio: thaw failed: Input/output error");
	arm(4, "c");
	assert_false(next_frame(&m, QUIET_MS));
	hang_up();
	expect_thaws(4, "b", "eio", "a", "c");
}

/* DEADLINE 0 clears it; a newer deadline replaces an older one. */
static void test_deadline_cleared(void **state)
{
	struct guardwire_msg m;
	(void)state;
	start();
	arm(1, "a");
	deadline(30, "");
	deadline(0, "");
	assert_false(next_frame(&m, QUIET_MS));
	expect_thaws(0);
	deadline(3600 * 1000, "");
	deadline(20, "");
	assert_true(next_frame(&m, WAIT_MS));
	assert_int_equal(m.type, GUARD_EXPIRED);
	assert_int_equal(m.value, 1);
	expect_thaws(1, "a");
	hang_up();
}

/* After a full thaw the record goes (EINVAL: it was not frozen, also fine). */
static void test_record_removed(void **state)
{
	char line[160];
	(void)state;
	make_record();
	start();
	arm(1, "a");
	arm(2, "einval");
	deadline(0, record);
	hang_up();
	assert_false(exists(record));
	expect_thaws(2, "einval", "a");
	snprintf(line, sizeof(line), "quiesce-guardian:   removed %s\n", record);
	expect_err(line);
	expect_err("thawed 1 filesystem\n");
}

/* A thaw that failed keeps the record: the next quiesced acts on it. */
static void test_record_kept_on_failure(void **state)
{
	(void)state;
	make_record();
	start();
	arm(1, "a");
	arm(2, "eio");
	deadline(0, record);
	hang_up();
	assert_true(exists(record));
	expect_thaws(2, "eio", "a");
}

/* A DEADLINE without a record forgets the one before. */
static void test_record_replaced(void **state)
{
	(void)state;
	make_record();
	start();
	arm(1, "a");
	deadline(0, record);
	deadline(0, "");
	hang_up();
	assert_true(exists(record));
	expect_thaws(1, "a");
}

/* The thaw that removed the record forgets it: a later one removes nothing (the
 * record is then the next freeze's, and quiesced sends it again). */
static void test_record_once(void **state)
{
	struct guardwire_msg m;
	(void)state;
	make_record();
	start();
	arm(1, "a");
	deadline(20, record);
	assert_true(next_frame(&m, WAIT_MS));
	assert_int_equal(m.type, GUARD_EXPIRED);
	assert_int_equal(m.value, 1);
	assert_false(exists(record));
	make_record();
	arm(2, "b");
	hang_up();
	assert_true(exists(record));
	expect_thaws(2, "a", "b");
}

static int dir_fd(const char *name)
{
	char d[128];
	int fd;
	snprintf(d, sizeof(d), "%s/%s", base, name);
	fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Frames it cannot trust are dropped, their fds closed: ARM without an fd or with
 * two, a DISARM with one, a bad magic, short and long frames, an unknown type, the
 * guardian's own types. It goes on serving. */
static void test_untrusted_frames(void **state)
{
	struct guardwire_msg m = { .type = GUARD_ARM, .id = 7, .path = "x" };
	unsigned char buf[GUARD_MSG_SIZE + 8] = { 0 };
	int fds[2] = { dir_fd("b"), dir_fd("c") }, base_fds;
	(void)state;
	start();
	assert_int_equal(sync_expire(), 0);
	base_fds = child_fds();
	arm(1, "a");
	send_frame(GUARD_ARM, 2, 0, "no fd", -1);
	send_frame(GUARD_DISARM, 1, 0, NULL, fds[0]);      /* not applied: a is held */
	send_frame(GUARD_CLEAR, 0, 0, NULL, fds[0]);
	send_frame(GUARD_HELLO, 0, 0, NULL, fds[0]);
	send_frame(GUARD_EXPIRED, 0, 0, NULL, -1);
	send_frame(99, 0, 0, NULL, fds[0]);
	guardwire_encode(&m, buf);
	send_raw(buf, GUARD_MSG_SIZE, fds, 2);               /* ARM, two fds */
	send_raw(buf, GUARD_MSG_SIZE - 1, fds, 1);           /* short */
	send_raw(buf, GUARD_MSG_SIZE + 1, fds, 1);           /* long */
	buf[0] ^= 1;
	send_raw(buf, GUARD_MSG_SIZE, fds, 1);               /* bad magic */
	assert_int_equal(sync_expire(), 1);
	expect_thaws(1, "a");
	assert_int_equal(child_fds(), base_fds);
	arm(3, "c");
	hang_up();
	expect_thaws(2, "a", "c");
	close(fds[0]);
	close(fds[1]);
}

/* MAX_HELD held at most: one more is closed, not held; a DISARM makes room. */
static void test_max_held(void **state)
{
	int fd = dir_fd("a"), base_fds;
	bool seen_c = false;
	(void)state;
	start();
	assert_int_equal(sync_expire(), 0);
	base_fds = child_fds();
	for (int i = 0; i < MAX_HELD; i++)
		send_frame(GUARD_ARM, (uint64_t)i + 1, 0, "a", fd);
	arm(5000, "b");
	send_frame(GUARD_DISARM, 1, 0, NULL, -1);
	arm(5001, "c");
	assert_int_equal(sync_expire(), MAX_HELD);
	assert_int_equal(sh->n_thaw, MAX_HELD);
	for (int i = 0; i < MAX_HELD; i++) {
		assert_string_not_equal(sh->thaw[i], "b");
		seen_c |= !strcmp(sh->thaw[i], "c");
	}
	assert_true(seen_c);
	assert_int_equal(child_fds(), base_fds);
	close(fd);
	hang_up();
}

/* SIGTERM and SIGHUP: everything sent before is read, then all thawed; exit 0. */
static void terminated(int sig)
{
	sh->mlock_fails = false;
	start();
	arm(1, "a");
	arm(2, "b");
	assert_int_equal(kill(child, sig), 0);
	assert_int_equal(reap(), 0);
	expect_thaws(2, "b", "a");
	expect_err("quiesce-guardian: terminated: thawed 2 filesystems");
}

static void test_sigterm(void **state)
{
	(void)state;
	terminated(SIGTERM);
}

static void test_sighup(void **state)
{
	(void)state;
	terminated(SIGHUP);
}

static void arm_ab(void);

/* A SIGTERM that comes after the guardian last looked for one, just before it waits
 * for quiesced, still ends it at once (it does not wait for quiesced's next frame). */
static void test_sigterm_before_wait(void **state)
{
	(void)state;
	sh->term_in_wait = true;
	start_with(arm_ab);
	assert_int_equal(reap(), 0);
	assert_false(sh->term_in_wait);
	expect_thaws(2, "b", "a");
	expect_err("quiesce-guardian: terminated: thawed 2 filesystems");
}

static void arm_ab(void)
{
	arm(1, "a");
	arm(2, "b");
}

/* SIGINT (Ctrl-C in quiesced's terminal) is quiesced's to handle. */
static void test_sigint_ignored(void **state)
{
	(void)state;
	start();
	arm(1, "a");
	assert_int_equal(kill(child, SIGINT), 0);
	assert_int_equal(kill(child, SIGPIPE), 0);
	arm(2, "b");
	assert_int_equal(sync_expire(), 2);
	hang_up();
	expect_thaws(2, "b", "a");
}

/* The command line alone: exit status and output; nothing started. */
static int run_args(char **argv)
{
	run_child(argv, -1);
	return reap();
}

static void test_help_version(void **state)
{
	char *opts[] = { "-h", "--help", "-V", "--version" };
	(void)state;
	for (int i = 0; i < 4; i++) {
		char *argv[] = { "quiesce-guardian", opts[i], NULL };
		assert_int_equal(run_args(argv), 0);
		if (i < 2)
			assert_non_null(strstr(slurp(outpath), "Usage: quiesce-guardian FD\n"));
		else
			assert_string_equal(slurp(outpath), "quiesce-guardian " QUIESCE_VERSION "\n");
	}
	assert_int_equal(sh->n_mlock, 0);
}

static void test_bad_usage(void **state)
{
	/* Not digits alone: "" (strtol's 0), a blank or a sign before an open fd. */
	char *bad[] = { "x", "-1", "1025", "3x", "1000", "--fd", "", " 1", "+1", "1 ", "\t2", "-0" };
	char *none[] = { "quiesce-guardian", NULL };
	char *two[] = { "quiesce-guardian", "3", "4", NULL };
	(void)state;
	assert_true(fcntl(1000, F_GETFD) < 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { "quiesce-guardian", bad[i], NULL };
		char want[64];
		assert_int_equal(run_args(argv), 2);
		snprintf(want, sizeof(want), "quiesce-guardian: %s is not an open fd\n", bad[i]);
		assert_string_equal(slurp(errpath), want);
	}
	assert_int_equal(run_args(none), 2);
	expect_err("started by quiesced only");
	assert_int_equal(run_args(two), 2);
	expect_err("started by quiesced only");
	assert_int_equal(sh->n_mlock, 0);
	expect_thaws(0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_close_thaws_all),
		T(test_close_idle),
		T(test_disarm),
		T(test_clear),
		T(test_deadline_expires),
		T(test_deadline_cleared),
		T(test_record_removed),
		T(test_record_kept_on_failure),
		T(test_record_replaced),
		T(test_record_once),
		T(test_untrusted_frames),
		T(test_max_held),
		T(test_sigterm),
		T(test_sighup),
		T(test_sigterm_before_wait),
		T(test_sigint_ignored),
		T(test_help_version),
		T(test_bad_usage),
	};
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	unit_guard("test_guardian", 60);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
