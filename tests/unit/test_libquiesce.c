// SPDX-License-Identifier: MIT
/*
 * libquiesce against a fake daemon: a real SEQPACKET socket in a temp dir.
 *
 * Registration needs a peer that answers while quiesce_open() waits, so a
 * thread plays the registrar; after that the test drives the daemon's end of
 * the connection itself. Every blocking call's timeout, every refusal, a
 * daemon that goes away and a daemon that sends garbage are covered.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "quiesce.h"
#include "common/appfslist.h"
#include "common/appwire.h"

enum fake_mode {
	FAKE_WELCOME,	/* send answer[] after reading the hello */
	FAKE_SILENT,	/* read the hello, never answer */
	FAKE_CLOSE,	/* read the hello, hang up */
	FAKE_NOACCEPT,	/* never accept */
};

struct fake {
	char dir[64];
	char path[108];
	int lfd;
	pthread_t thread;
	int thread_running;
	enum fake_mode mode;
	uint8_t answer[256];
	size_t answer_len;
	int cfd;			/* daemon's end, after registration */
	uint8_t hello[256];
	ssize_t hello_len;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
welcome_ok(struct fake *f, uint32_t id, uint32_t timeout_ms, uint32_t flags)
{
	struct appwire_welcome w = { APPWIRE_VERSION, APPWIRE_ACCEPTED, id, timeout_ms, flags };

	appwire_encode_welcome(f->answer, &w);
	f->answer_len = APPWIRE_WELCOME_SIZE;
	f->mode = FAKE_WELCOME;
}

static void
welcome_refused(struct fake *f, uint16_t result)
{
	struct appwire_welcome w = { APPWIRE_VERSION, result, 0, 0, 0 };

	appwire_encode_welcome(f->answer, &w);
	f->answer_len = APPWIRE_WELCOME_SIZE;
	f->mode = FAKE_WELCOME;
}

static void *
registrar(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = { .fd = f->lfd, .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return NULL;
	f->cfd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (f->cfd < 0)
		return NULL;
	p.fd = f->cfd;
	if (poll(&p, 1, 5000) != 1)
		return NULL;
	f->hello_len = recv(f->cfd, f->hello, sizeof(f->hello), 0);
	if (f->mode == FAKE_WELCOME && f->answer_len > 0)
		send(f->cfd, f->answer, f->answer_len, MSG_NOSIGNAL);
	if (f->mode == FAKE_CLOSE) {
		close(f->cfd);
		f->cfd = -1;
	}
	return NULL;
}

static int
setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(f->dir, "/tmp/quiesce-libtest-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/app.sock", f->dir);
	memcpy(sa.sun_path, f->path, strlen(f->path));
	f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->lfd, 8) < 0)
		return -1;
	f->cfd = -1;
	f->hello_len = -1;
	welcome_ok(f, 7, 15000, 0);
	*state = f;
	return 0;
}

static void
fake_join(struct fake *f)
{
	if (f->thread_running) {
		pthread_join(f->thread, NULL);
		f->thread_running = 0;
	}
}

static int
teardown(void **state)
{
	struct fake *f = *state;

	fake_join(f);
	if (f->cfd >= 0)
		close(f->cfd);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Start the registrar (in f->mode) and call quiesce_open() against it. */
static int
fake_open(struct fake *f, const char *name, const struct quiesce_options *opt, int timeout_ms,
    struct quiesce **q)
{
	int r;

	if (f->mode != FAKE_NOACCEPT) {
		assert_int_equal(pthread_create(&f->thread, NULL, registrar, f), 0);
		f->thread_running = 1;
	}
	r = quiesce_open(f->path, name, opt, timeout_ms, q);
	fake_join(f);
	return r;
}

static struct quiesce *
open_ok(struct fake *f)
{
	struct quiesce *q = NULL;

	assert_int_equal(fake_open(f, "test-app", NULL, 2000, &q), 0);
	assert_non_null(q);
	assert_true(f->cfd >= 0);
	return q;
}

/* The daemon's side: send a request / read a reply. */
static void
send_request(struct fake *f, uint32_t op, uint64_t msgid)
{
	struct appwire_msg m = { op, 0, msgid };
	uint8_t buf[APPWIRE_MSG_SIZE];

	appwire_encode_msg(buf, &m);
	assert_int_equal(send(f->cfd, buf, sizeof(buf), MSG_NOSIGNAL), sizeof(buf));
}

static void
send_raw(struct fake *f, const void *buf, size_t len)
{
	assert_int_equal(send(f->cfd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void
read_reply(struct fake *f, struct appwire_msg *m)
{
	uint8_t buf[APPWIRE_MAX_FRAME + 1];
	struct pollfd p = { .fd = f->cfd, .events = POLLIN };
	ssize_t n;

	assert_int_equal(poll(&p, 1, 2000), 1);
	n = recv(f->cfd, buf, sizeof(buf), 0);
	assert_int_equal(n, APPWIRE_MSG_SIZE);
	assert_int_equal(appwire_decode_reply(buf, (size_t)n, m), APPWIRE_OK);
}

/* 1 if the app end hung up within 2 s (what the daemon sees after a drop). */
static int
peer_hung_up(struct fake *f)
{
	struct pollfd p = { .fd = f->cfd, .events = POLLIN };
	uint8_t buf[256];

	while (poll(&p, 1, 2000) == 1) {
		if (recv(f->cfd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- registration */

static void
test_open_accepted(void **state)
{
	struct fake *f = *state;
	struct appwire_hello h;
	struct quiesce *q;
	int fl;

	welcome_ok(f, 42, 12345, 0);
	q = open_ok(f);
	assert_int_equal(appwire_decode_hello(f->hello, (size_t)f->hello_len, &h), APPWIRE_OK);
	assert_string_equal(h.name, "test-app");
	assert_int_equal(h.flags, 0);		/* required by default */
	assert_int_equal(h.timeout_ms, 0);	/* daemon's default */
	assert_int_equal(quiesce_app_id(q), 42);
	assert_int_equal(quiesce_timeout_ms(q), 12345);
	assert_int_equal(quiesce_flags(q), 0);
	assert_int_equal(quiesce_frozen(q), 0);
	fl = fcntl(quiesce_fd(q), F_GETFD);
	assert_true(fl >= 0 && (fl & FD_CLOEXEC));
	quiesce_close(q);
	assert_true(peer_hung_up(f));
}

static void
test_open_options(void **state)
{
	struct fake *f = *state;
	struct quiesce_options o = { .flags = QUIESCE_OPTIONAL, .timeout_ms = 2500 };
	struct appwire_hello h;
	struct quiesce *q = NULL;

	welcome_ok(f, 1, 2500, APPWIRE_F_OPTIONAL);
	assert_int_equal(fake_open(f, "db:main@host", &o, 2000, &q), 0);
	assert_int_equal(appwire_decode_hello(f->hello, (size_t)f->hello_len, &h), APPWIRE_OK);
	assert_string_equal(h.name, "db:main@host");
	assert_int_equal(h.flags, APPWIRE_F_OPTIONAL);
	assert_int_equal(h.timeout_ms, 2500);
	assert_int_equal(quiesce_flags(q), QUIESCE_OPTIONAL);
	quiesce_close(q);
}

static void
test_open_refusals(void **state)
{
	static const struct { uint16_t result; int err; } cases[] = {
		{ APPWIRE_REFUSED_VERSION, -EPROTONOSUPPORT },
		{ APPWIRE_REFUSED_HELLO, -EPROTO },
		{ APPWIRE_REFUSED_NAME, -EINVAL },
		{ APPWIRE_REFUSED_NAME_TAKEN, -EADDRINUSE },
		{ APPWIRE_REFUSED_TOO_MANY, -EUSERS },
		{ APPWIRE_REFUSED_PERMISSION, -EACCES },
		{ 4242, -ECONNREFUSED },
	};
	struct fake *f = *state;
	struct quiesce *q;
	size_t i;
	int fds = count_fds();

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q = (struct quiesce *)1;
		welcome_refused(f, cases[i].result);
		assert_int_equal(fake_open(f, "app", NULL, 2000, &q), cases[i].err);
		assert_null(q);
		assert_true(peer_hung_up(f));
		close(f->cfd);
		f->cfd = -1;
		assert_int_equal(count_fds(), fds);
		assert_non_null(quiesce_strerror(cases[i].err));
	}
}

static void
test_open_bad_welcome(void **state)
{
	struct fake *f = *state;
	struct appwire_msg m = { APPWIRE_OP_CHECK, 0, 1 };
	struct quiesce *q;
	uint16_t v3 = 3;

	/* A request before the welcome. */
	appwire_encode_msg(f->answer, &m);
	f->answer_len = APPWIRE_MSG_SIZE;
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -EPROTO);
	close(f->cfd);

	welcome_ok(f, 1, 1, 0);
	f->answer[0] = 'X';
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -EPROTO);
	close(f->cfd);

	welcome_ok(f, 1, 1, 0);
	f->answer_len = 31;
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -EPROTO);
	close(f->cfd);

	welcome_ok(f, 1, 1, 0);
	f->answer[25] = 1;	/* reserved */
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -EPROTO);
	close(f->cfd);

	welcome_ok(f, 0, 1, 0);	/* accepted with app id 0 */
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -EPROTO);
	close(f->cfd);

	welcome_ok(f, 1, 1, 0);
	memcpy(f->answer + 4, &v3, 2);
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -EPROTONOSUPPORT);
	close(f->cfd);

	/* Longer than any frame: truncated on receive, refused. */
	welcome_ok(f, 1, 1, 0);
	f->answer_len = 200;
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -EPROTO);
	close(f->cfd);
	f->cfd = -1;
}

static void
test_open_timeout(void **state)
{
	struct fake *f = *state;
	struct quiesce *q;
	uint64_t t0;
	int r;

	f->mode = FAKE_SILENT;
	t0 = now_ms();
	r = fake_open(f, "app", NULL, 300, &q);
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 290);
	assert_true(now_ms() - t0 < 3000);
	/* The daemon sees the abandoned connection close. */
	assert_true(peer_hung_up(f));
}

static void
test_open_nonblocking(void **state)
{
	struct fake *f = *state;
	struct quiesce *q;

	/* timeout 0: do not wait for the welcome at all. */
	f->mode = FAKE_NOACCEPT;
	assert_int_equal(fake_open(f, "app", NULL, 0, &q), -ETIMEDOUT);
}

static void
test_open_backlog_full(void **state)
{
	struct fake *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct quiesce *q;
	int fill[16], n = 0, i;
	uint64_t t0;

	/* Fill the listen backlog so that connect() itself has to wait. */
	close(f->lfd);
	unlink(f->path);
	memcpy(sa.sun_path, f->path, strlen(f->path));
	f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 0), 0);
	while (n < 16) {
		fill[n] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (connect(fill[n], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(fill[n]);
			break;
		}
		n++;
	}
	assert_true(n < 16);
	f->mode = FAKE_NOACCEPT;
	t0 = now_ms();
	assert_int_equal(fake_open(f, "app", NULL, 250, &q), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 240 && now_ms() - t0 < 3000);
	for (i = 0; i < n; i++)
		close(fill[i]);
}

static void
test_open_daemon_hangs_up(void **state)
{
	struct fake *f = *state;
	struct quiesce *q;

	f->mode = FAKE_CLOSE;
	assert_int_equal(fake_open(f, "app", NULL, 2000, &q), -ECONNRESET);
}

static void
test_open_no_daemon(void **state)
{
	struct fake *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[128];
	struct quiesce *q;
	int fd, fds = count_fds();

	snprintf(path, sizeof(path), "%s/nothing.sock", f->dir);
	assert_int_equal(quiesce_open(path, "app", NULL, 1000, &q), -ENOENT);
	/* A stale socket file: nobody listens. */
	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(quiesce_open(path, "app", NULL, 1000, &q), -ECONNREFUSED);
	unlink(path);
	assert_int_equal(count_fds(), fds);
}

static void
test_open_bad_args(void **state)
{
	struct fake *f = *state;
	struct quiesce_options o;
	struct quiesce *q;
	char longname[80], longpath[200];

	memset(longname, 'a', 64);
	longname[64] = '\0';
	assert_int_equal(quiesce_open(f->path, "app", NULL, 100, NULL), -EINVAL);
	assert_int_equal(quiesce_open(f->path, NULL, NULL, 100, &q), -EINVAL);
	assert_int_equal(quiesce_open(f->path, "", NULL, 100, &q), -EINVAL);
	assert_int_equal(quiesce_open(f->path, "my app", NULL, 100, &q), -EINVAL);
	assert_int_equal(quiesce_open(f->path, longname, NULL, 100, &q), -EINVAL);
	longname[63] = '\0';
	f->mode = FAKE_NOACCEPT;
	assert_int_equal(quiesce_open(f->path, longname, NULL, 0, &q), -ETIMEDOUT);
	memset(&o, 0, sizeof(o));
	o.flags = 0x2;
	assert_int_equal(quiesce_open(f->path, "app", &o, 100, &q), -EINVAL);
	memset(&o, 0, sizeof(o));
	o.reserved[5] = 1;
	assert_int_equal(quiesce_open(f->path, "app", &o, 100, &q), -EINVAL);
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(quiesce_open(longpath, "app", NULL, 100, &q), -ENAMETOOLONG);
	assert_int_equal(quiesce_open("", "app", NULL, 100, &q), -EINVAL);
}

static void
test_open_env(void **state)
{
	struct fake *f = *state;
	struct quiesce *q = NULL;
	int r;

	setenv(QUIESCE_SOCKET_ENV, f->path, 1);
	assert_int_equal(pthread_create(&f->thread, NULL, registrar, f), 0);
	f->thread_running = 1;
	r = quiesce_open(NULL, "env-app", NULL, 2000, &q);
	fake_join(f);
	unsetenv(QUIESCE_SOCKET_ENV);
	assert_int_equal(r, 0);
	quiesce_close(q);
}

/* ---------------------------------------------------------------- requests */

static void
test_round_trips(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct appwire_msg m;
	struct quiesce *q = open_ok(f);

	send_request(f, APPWIRE_OP_CHECK, 1001);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(req.op, QUIESCE_CHECK);
	assert_true(req.msgid == 1001);
	assert_true(req.deadline_ns > 0);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), 0);
	read_reply(f, &m);
	assert_int_equal(m.opt, APPWIRE_OP_CHECK);
	assert_int_equal(m.status, APPWIRE_STATUS_SUCCESS);
	assert_true(m.msgid == 1001);

	send_request(f, APPWIRE_OP_FREEZE, 0xfedcba9876543210ull);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(req.op, QUIESCE_FREEZE);
	assert_int_equal(quiesce_frozen(q), 0);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), 0);
	assert_int_equal(quiesce_frozen(q), 1);
	read_reply(f, &m);
	assert_true(m.opt == APPWIRE_OP_FREEZE && m.status == 0 && m.msgid == 0xfedcba9876543210ull);

	send_request(f, APPWIRE_OP_THAW, 1003);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(req.op, QUIESCE_THAW);
	assert_int_equal(quiesce_frozen(q), 0);
	/* Any nonzero status is a failure on the wire (1). */
	assert_int_equal(quiesce_reply(q, &req, 77), 0);
	read_reply(f, &m);
	assert_true(m.opt == APPWIRE_OP_THAW && m.status == APPWIRE_STATUS_FAIL && m.msgid == 1003);

	/* A vetoed FREEZE does not leave the app frozen. */
	send_request(f, APPWIRE_OP_FREEZE, 1004);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_FAIL), 0);
	assert_int_equal(quiesce_frozen(q), 0);
	read_reply(f, &m);
	assert_true(m.status == APPWIRE_STATUS_FAIL);
	quiesce_close(q);
}

static void
test_request_deadline(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct timespec ts;
	uint64_t now;
	struct quiesce *q;

	welcome_ok(f, 3, 4000, 0);
	q = open_ok(f);
	send_request(f, APPWIRE_OP_CHECK, 5);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	assert_true(req.deadline_ns > now + 3000000000ull);
	assert_true(req.deadline_ns <= now + 4000000000ull);
	quiesce_close(q);
}

static void
test_next_request_timeouts(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct quiesce *q = open_ok(f);
	uint64_t t0;

	t0 = now_ms();
	assert_int_equal(quiesce_next_request(q, &req, 0), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 100);
	t0 = now_ms();
	assert_int_equal(quiesce_next_request(q, &req, 300), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 290 && now_ms() - t0 < 3000);
	/* Still usable after a timeout. */
	send_request(f, APPWIRE_OP_CHECK, 9);
	assert_int_equal(quiesce_next_request(q, &req, 0), 0);
	quiesce_close(q);
}

static void
test_reply_rules(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req, other;
	struct appwire_msg m;
	struct quiesce *q = open_ok(f);

	memset(&req, 0, sizeof(req));
	req.op = QUIESCE_CHECK;
	req.msgid = 1;
	/* Nothing asked yet. */
	assert_int_equal(quiesce_reply(q, &req, 0), -EINVAL);

	send_request(f, APPWIRE_OP_FREEZE, 11);
	send_request(f, APPWIRE_OP_THAW, 12);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	/* One at a time: the next is not read before this one is answered. */
	assert_int_equal(quiesce_next_request(q, &other, 0), -EBUSY);
	other = req;
	other.msgid = 99;
	assert_int_equal(quiesce_reply(q, &other, 0), -EINVAL);
	other = req;
	other.op = QUIESCE_THAW;
	assert_int_equal(quiesce_reply(q, &other, 0), -EINVAL);
	assert_int_equal(quiesce_reply(q, &req, 0), 0);
	/* Twice: the second would be a reply to nothing. */
	assert_int_equal(quiesce_reply(q, &req, 0), -EINVAL);
	read_reply(f, &m);
	assert_true(m.msgid == 11);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_true(req.msgid == 12);
	assert_int_equal(quiesce_reply(NULL, &req, 0), -EINVAL);
	assert_int_equal(quiesce_reply(q, NULL, 0), -EINVAL);
	assert_int_equal(quiesce_next_request(NULL, &req, 0), -EINVAL);
	quiesce_close(q);
}

static void
test_daemon_disappears(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct quiesce *q = open_ok(f);
	uint64_t t0;

	close(f->cfd);
	f->cfd = -1;
	t0 = now_ms();
	assert_int_equal(quiesce_next_request(q, &req, 5000), -ECONNRESET);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(quiesce_next_request(q, &req, 0), -ENOTCONN);
	quiesce_close(q);
}

static void
test_daemon_gone_before_reply(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct quiesce *q = open_ok(f);

	/* SIGPIPE would kill this test: the library must use MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_DFL);
	send_request(f, APPWIRE_OP_FREEZE, 21);
	close(f->cfd);
	f->cfd = -1;
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), -ECONNRESET);
	/* The app was about to hold writes: it must know to resume. */
	assert_int_equal(quiesce_frozen(q), 1);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), -ENOTCONN);
	quiesce_close(q);
}

static void
garbage_case(struct fake *f, const void *buf, size_t len)
{
	struct quiesce_request req;
	struct quiesce *q = open_ok(f);

	send_raw(f, buf, len);
	assert_int_equal(quiesce_next_request(q, &req, 1000), -EPROTO);
	/* Dropped at once: the daemon sees the hang-up without waiting for close. */
	assert_true(peer_hung_up(f));
	assert_int_equal(quiesce_next_request(q, &req, 0), -ENOTCONN);
	assert_int_equal(quiesce_reply(q, &req, 0), -ENOTCONN);
	quiesce_close(q);
	close(f->cfd);
	f->cfd = -1;
}

static void
test_garbage_from_daemon(void **state)
{
	struct fake *f = *state;
	struct appwire_msg m;
	uint8_t buf[300];
	uint64_t one = 1;

	memset(buf, 0, sizeof(buf));
	m = (struct appwire_msg){ APPWIRE_OP_CHECK, 0, 1 };
	appwire_encode_msg(buf, &m);
	garbage_case(f, buf, 63);
	garbage_case(f, buf, 65);
	garbage_case(f, buf, 300);
	garbage_case(f, buf, 1);
	m = (struct appwire_msg){ APPWIRE_OP_NONE, 0, 1 };
	appwire_encode_msg(buf, &m);
	garbage_case(f, buf, 64);
	m = (struct appwire_msg){ 7, 0, 1 };
	appwire_encode_msg(buf, &m);
	garbage_case(f, buf, 64);
	m = (struct appwire_msg){ APPWIRE_OP_FREEZE, 1, 1 };
	appwire_encode_msg(buf, &m);
	garbage_case(f, buf, 64);
	m = (struct appwire_msg){ APPWIRE_OP_FREEZE, 0, 0 };
	appwire_encode_msg(buf, &m);
	garbage_case(f, buf, 64);
	m = (struct appwire_msg){ APPWIRE_OP_THAW, 0, 1 };
	appwire_encode_msg(buf, &m);
	memcpy(buf + 40, &one, sizeof(one));
	garbage_case(f, buf, 64);
	/* A second welcome. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, APPWIRE_WELCOME_MAGIC, 4);
	garbage_case(f, buf, APPWIRE_WELCOME_SIZE);
}

static void
test_fd_passing_is_garbage(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct appwire_msg m = { APPWIRE_OP_CHECK, 0, 1 };
	uint8_t buf[APPWIRE_MSG_SIZE];
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
	    .msg_controllen = sizeof(cm.b) };
	struct quiesce *q = open_ok(f);
	int fds_before, passed = 0;

	appwire_encode_msg(buf, &m);
	memset(&cm, 0, sizeof(cm));
	cm.h.cmsg_level = SOL_SOCKET;
	cm.h.cmsg_type = SCM_RIGHTS;
	cm.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&cm.h), &passed, sizeof(int));
	fds_before = count_fds();
	assert_int_equal(sendmsg(f->cfd, &mh, MSG_NOSIGNAL), sizeof(buf));
	assert_int_equal(quiesce_next_request(q, &req, 1000), -EPROTO);
	/* The passed fd was not installed in this process. */
	assert_int_equal(count_fds(), fds_before);
	quiesce_close(q);
}

/* ---------------------------------------------------------------- quiesce_run */

struct calls {
	int check, freeze, thaw, synthetic_thaw;
	int check_status, freeze_status, thaw_status;
	struct quiesce *q;
	int stop_after_thaw;
};

static int
on_check(void *arg, const struct quiesce_request *req)
{
	struct calls *c = arg;

	assert_int_equal(req->op, QUIESCE_CHECK);
	c->check++;
	return c->check_status;
}

static int
on_freeze(void *arg, const struct quiesce_request *req)
{
	struct calls *c = arg;

	assert_int_equal(req->op, QUIESCE_FREEZE);
	c->freeze++;
	return c->freeze_status;
}

static int
on_thaw(void *arg, const struct quiesce_request *req)
{
	struct calls *c = arg;

	assert_int_equal(req->op, QUIESCE_THAW);
	if (req->msgid == 0)
		c->synthetic_thaw++;
	else
		c->thaw++;
	if (c->stop_after_thaw)
		quiesce_stop(c->q);
	return c->thaw_status;
}

static const struct quiesce_callbacks cbs = { on_check, on_freeze, on_thaw };

static void
test_run_serves(void **state)
{
	struct fake *f = *state;
	struct calls c = { .freeze_status = QUIESCE_FAIL };
	struct appwire_msg m;
	struct quiesce *q = open_ok(f);
	uint64_t t0;

	send_request(f, APPWIRE_OP_CHECK, 31);
	t0 = now_ms();
	/* Runs until its timeout; requests are answered on the way. */
	assert_int_equal(quiesce_run(q, &cbs, &c, 300), 0);
	assert_true(now_ms() - t0 >= 290 && now_ms() - t0 < 3000);
	assert_int_equal(c.check, 1);
	read_reply(f, &m);
	assert_true(m.opt == APPWIRE_OP_CHECK && m.status == 0 && m.msgid == 31);

	send_request(f, APPWIRE_OP_FREEZE, 32);
	assert_int_equal(quiesce_run(q, &cbs, &c, 200), 0);
	read_reply(f, &m);
	assert_true(m.opt == APPWIRE_OP_FREEZE && m.status == APPWIRE_STATUS_FAIL && m.msgid == 32);
	assert_int_equal(quiesce_frozen(q), 0);

	c.freeze_status = QUIESCE_SUCCESS;
	c.stop_after_thaw = 1;
	c.q = q;
	send_request(f, APPWIRE_OP_FREEZE, 33);
	send_request(f, APPWIRE_OP_THAW, 34);
	/* quiesce_stop() from the THAW callback ends the loop long before its timeout. */
	t0 = now_ms();
	assert_int_equal(quiesce_run(q, &cbs, &c, -1), 0);
	assert_true(now_ms() - t0 < 2000);
	read_reply(f, &m);
	assert_true(m.opt == APPWIRE_OP_FREEZE && m.status == 0);
	read_reply(f, &m);
	assert_true(m.opt == APPWIRE_OP_THAW && m.status == 0 && m.msgid == 34);
	assert_int_equal(c.freeze, 2);
	assert_int_equal(c.thaw, 1);
	assert_int_equal(c.synthetic_thaw, 0);
	quiesce_close(q);
}

static void
test_run_null_callbacks(void **state)
{
	struct fake *f = *state;
	struct appwire_msg m;
	struct quiesce *q = open_ok(f);

	send_request(f, APPWIRE_OP_CHECK, 41);
	send_request(f, APPWIRE_OP_FREEZE, 42);
	assert_int_equal(quiesce_run(q, NULL, NULL, 200), 0);
	read_reply(f, &m);
	assert_true(m.msgid == 41 && m.status == 0);
	read_reply(f, &m);
	assert_true(m.msgid == 42 && m.status == 0);
	quiesce_close(q);
}

static void
test_run_lost_while_frozen(void **state)
{
	struct fake *f = *state;
	struct calls c = { 0 };
	struct appwire_msg m;
	struct quiesce *q = open_ok(f);

	send_request(f, APPWIRE_OP_FREEZE, 51);
	assert_int_equal(quiesce_run(q, &cbs, &c, 200), 0);
	read_reply(f, &m);
	assert_int_equal(quiesce_frozen(q), 1);
	close(f->cfd);
	f->cfd = -1;
	/* Nobody will send THAW now: the loop makes one up, then reports the loss. */
	assert_int_equal(quiesce_run(q, &cbs, &c, 2000), -ECONNRESET);
	assert_int_equal(c.synthetic_thaw, 1);
	assert_int_equal(c.thaw, 0);
	assert_int_equal(quiesce_frozen(q), 0);
	assert_int_equal(quiesce_run(q, &cbs, &c, 0), -ENOTCONN);
	assert_int_equal(c.synthetic_thaw, 1);
	quiesce_close(q);
}

static void
test_run_garbage_while_frozen(void **state)
{
	struct fake *f = *state;
	struct calls c = { 0 };
	struct appwire_msg m;
	struct quiesce *q = open_ok(f);

	send_request(f, APPWIRE_OP_FREEZE, 61);
	assert_int_equal(quiesce_run(q, &cbs, &c, 200), 0);
	read_reply(f, &m);
	send_raw(f, "garbage", 7);
	assert_int_equal(quiesce_run(q, &cbs, &c, 2000), -EPROTO);
	assert_int_equal(c.synthetic_thaw, 1);
	quiesce_close(q);
}

static void
test_run_not_frozen_no_synthetic(void **state)
{
	struct fake *f = *state;
	struct calls c = { 0 };
	struct quiesce *q = open_ok(f);

	close(f->cfd);
	f->cfd = -1;
	assert_int_equal(quiesce_run(q, &cbs, &c, 2000), -ECONNRESET);
	assert_int_equal(c.synthetic_thaw + c.thaw, 0);
	quiesce_close(q);
}

static void *
stopper(void *arg)
{
	struct timespec ts = { 0, 200000000 };

	nanosleep(&ts, NULL);
	quiesce_stop(arg);
	return NULL;
}

static void
test_run_stop_from_thread(void **state)
{
	struct fake *f = *state;
	struct quiesce *q = open_ok(f);
	pthread_t t;
	uint64_t t0;

	t0 = now_ms();
	assert_int_equal(pthread_create(&t, NULL, stopper, q), 0);
	assert_int_equal(quiesce_run(q, &cbs, NULL, -1), 0);
	assert_true(now_ms() - t0 >= 150 && now_ms() - t0 < 3000);
	pthread_join(t, NULL);
	/* A stop while not running ends the next run at once. */
	quiesce_stop(q);
	t0 = now_ms();
	assert_int_equal(quiesce_run(q, &cbs, NULL, 5000), 0);
	assert_true(now_ms() - t0 < 1000);
	quiesce_close(q);
}

static volatile sig_atomic_t got_alarm;

static void
on_alarm(int sig)
{
	(void)sig;
	got_alarm = 1;
}

static void
test_run_interrupted(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct sigaction sa;
	struct quiesce *q = open_ok(f);
	uint64_t t0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;	/* poll() is interrupted even so */
	sigaction(SIGALRM, &sa, NULL);
	got_alarm = 0;
	ualarm(200000, 0);
	t0 = now_ms();
	assert_int_equal(quiesce_run(q, &cbs, NULL, 5000), -EINTR);
	assert_true(got_alarm);
	assert_true(now_ms() - t0 < 3000);
	got_alarm = 0;
	ualarm(200000, 0);
	assert_int_equal(quiesce_next_request(q, &req, 5000), -EINTR);
	assert_true(got_alarm);
	signal(SIGALRM, SIG_DFL);
	/* The connection is unharmed. */
	send_request(f, APPWIRE_OP_CHECK, 71);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	quiesce_close(q);
}

static void
test_run_busy(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct quiesce *q = open_ok(f);

	send_request(f, APPWIRE_OP_CHECK, 81);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(quiesce_run(q, &cbs, NULL, 100), -EBUSY);
	assert_int_equal(quiesce_reply(q, &req, 0), 0);
	quiesce_close(q);
}

static void
test_no_fd_leaks(void **state)
{
	struct fake *f = *state;
	int fds = count_fds(), i;
	struct quiesce *q;

	for (i = 0; i < 5; i++) {
		q = open_ok(f);
		quiesce_close(q);
		close(f->cfd);
		f->cfd = -1;
	}
	f->mode = FAKE_SILENT;
	assert_int_equal(fake_open(f, "app", NULL, 50, &q), -ETIMEDOUT);
	close(f->cfd);
	f->cfd = -1;
	assert_int_equal(count_fds(), fds);
	quiesce_close(NULL);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(quiesce_op_name(QUIESCE_CHECK), "CHECK");
	assert_string_equal(quiesce_op_name(QUIESCE_FREEZE), "FREEZE");
	assert_string_equal(quiesce_op_name(QUIESCE_THAW), "THAW");
	assert_string_equal(quiesce_op_name(0), "UNKNOWN");
	assert_string_equal(quiesce_strerror(0), "success");
	assert_string_equal(quiesce_strerror(-ETIMEDOUT), quiesce_strerror(ETIMEDOUT));
	assert_non_null(quiesce_strerror(-EXDEV));
	assert_non_null(quiesce_strerror(-100000));
	assert_int_equal(quiesce_fd(NULL), -EINVAL);
	assert_int_equal(quiesce_frozen(NULL), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* ---- protocol version 2: details, the filesystem query, an older daemon */

static void
test_v2_detail(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct appwire_msg m;
	struct quiesce *q = open_ok(f);
	uint8_t buf[APPWIRE_MAX_FRAME + 1];
	char d[APPWIRE_DETAIL_FIELD];
	uint16_t v;

	memcpy(&v, f->hello + 4, 2);
	assert_int_equal(v, 2);
	assert_int_equal(quiesce_protocol_version(q), 2);
	assert_int_equal(quiesce_set_detail(q, "early"), -EINVAL);	/* nothing to answer */
	send_request(f, APPWIRE_OP_FREEZE, 11);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(quiesce_set_detail(q, "lsn 0/3000148\n"), 0);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), 0);
	assert_int_equal(recv(f->cfd, buf, sizeof(buf), 0), APPWIRE_DETAIL_SIZE);
	assert_int_equal(appwire_decode_reply_detail(buf, APPWIRE_DETAIL_SIZE, &m, d), APPWIRE_OK);
	assert_string_equal(d, "lsn 0/3000148?");
	assert_true(m.opt == APPWIRE_OP_FREEZE && m.msgid == 11 && m.status == 0);
	/* The detail was for that answer only. */
	send_request(f, APPWIRE_OP_THAW, 12);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), 0);
	read_reply(f, &m);
	assert_true(m.msgid == 12);
	quiesce_close(q);
}

static void
send_fslist(struct fake *f, int n)
{
	static uint8_t buf[APPWIRE_FSLIST_MAX];
	struct appwire_fs fs;
	uint32_t count = 0;
	size_t len;
	int i;

	appwire_fslist_begin(buf, sizeof(buf), &len);
	for (i = 0; i < n; i++) {
		memset(&fs, 0, sizeof(fs));
		fs.major = 7;
		fs.minor = (uint32_t)i;
		strcpy(fs.fstype, "ext4");
		snprintf(fs.source, sizeof(fs.source), "/dev/loop%d", i);
		snprintf(fs.mountpoint, sizeof(fs.mountpoint), "/mnt/m%d", i);
		assert_int_equal(appwire_fslist_add(buf, sizeof(buf), &len, &count, &fs), 0);
	}
	appwire_fslist_end(buf, 0, count);
	send_raw(f, buf, len);
}

static void
test_v2_filesystems(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct quiesce_fs *list;
	struct quiesce *q = open_ok(f);
	uint8_t buf[64];
	unsigned int flags = 99;
	uint16_t kind;
	size_t n;

	/* A request that crossed the query is kept for quiesce_next_request(). */
	send_request(f, APPWIRE_OP_CHECK, 5);
	send_fslist(f, 2);
	assert_int_equal(quiesce_filesystems(q, &list, &n, &flags, 1000), 0);
	assert_int_equal(recv(f->cfd, buf, sizeof(buf), 0), APPWIRE_QUERY_SIZE);
	assert_int_equal(appwire_decode_query(buf, APPWIRE_QUERY_SIZE, &kind), APPWIRE_OK);
	assert_true(n == 2 && flags == 0);
	assert_true(list[1].major == 7 && list[1].minor == 1);
	assert_string_equal(list[1].mountpoint, "/mnt/m1");
	assert_string_equal(list[1].source, "/dev/loop1");
	assert_string_equal(list[0].fstype, "ext4");
	quiesce_filesystems_free(list);
	assert_int_equal(quiesce_next_request(q, &req, 0), 0);
	assert_true(req.op == QUIESCE_CHECK && req.msgid == 5);

	/* With the request outstanding (as in on_check); an empty list. */
	send_fslist(f, 0);
	assert_int_equal(quiesce_filesystems(q, &list, &n, NULL, 1000), 0);
	assert_true(n == 0 && list == NULL);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), 0);

	/* No answer: the connection ends (a late answer could not be told apart). */
	assert_int_equal(quiesce_filesystems(q, &list, &n, NULL, 50), -ETIMEDOUT);
	assert_int_equal(quiesce_filesystems(q, &list, &n, NULL, 50), -ENOTCONN);
	quiesce_close(q);
}

static void
test_v2_filesystems_garbage(void **state)
{
	struct fake *f = *state;
	struct quiesce_fs *list;
	struct quiesce *q = open_ok(f);
	uint8_t bad[APPWIRE_FSLIST_HDR] = "QAPF";
	size_t n;

	send_raw(f, bad, sizeof(bad));	/* version 0 */
	assert_int_equal(quiesce_filesystems(q, &list, &n, NULL, 1000), -EPROTO);
	quiesce_close(q);
	f->cfd = -1;
	q = open_ok(f);
	/* Two requests in a row cannot happen: the second is garbage. */
	send_request(f, APPWIRE_OP_CHECK, 5);
	send_request(f, APPWIRE_OP_CHECK, 6);
	assert_int_equal(quiesce_filesystems(q, &list, &n, NULL, 1000), -EPROTO);
	quiesce_close(q);
}

/* A version 1 daemon refuses the version 2 hello, naming version 1; the library
 * registers again in version 1, and the version 2 calls say -EOPNOTSUPP. */
static void *
old_daemon(void *arg)
{
	struct fake *f = arg;
	struct appwire_welcome no = { 1, APPWIRE_REFUSED_VERSION, 0, 0, 0 };
	struct appwire_welcome yes = { 1, APPWIRE_ACCEPTED, 3, 100, 0 };
	uint8_t buf[APPWIRE_WELCOME_SIZE];
	int i, fd;

	for (i = 0; i < 2; i++) {
		fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return NULL;
		f->hello_len = recv(fd, f->hello, sizeof(f->hello), 0);
		appwire_encode_welcome(buf, f->hello[4] == 1 ? &yes : &no);
		send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (f->hello[4] == 1) {
			f->cfd = fd;
			return NULL;
		}
		close(fd);
	}
	return NULL;
}

static void
test_v2_old_daemon(void **state)
{
	struct fake *f = *state;
	struct quiesce_request req;
	struct quiesce_fs *list;
	struct appwire_msg m;
	struct quiesce *q = NULL;
	size_t n;

	assert_int_equal(pthread_create(&f->thread, NULL, old_daemon, f), 0);
	f->thread_running = 1;
	assert_int_equal(quiesce_open(f->path, "app", NULL, 2000, &q), 0);
	fake_join(f);
	assert_int_equal(quiesce_protocol_version(q), 1);
	assert_int_equal(quiesce_app_id(q), 3);
	assert_int_equal(quiesce_filesystems(q, &list, &n, NULL, 100), -EOPNOTSUPP);
	send_request(f, APPWIRE_OP_FREEZE, 9);
	assert_int_equal(quiesce_next_request(q, &req, 1000), 0);
	assert_int_equal(quiesce_set_detail(q, "x"), -EOPNOTSUPP);
	assert_int_equal(quiesce_reply(q, &req, QUIESCE_SUCCESS), 0);
	read_reply(f, &m);	/* the plain 64-byte reply */
	assert_true(m.msgid == 9);
	assert_string_not_equal(quiesce_strerror(-EOPNOTSUPP), "unknown error");
	quiesce_close(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_accepted),
		T(test_open_options),
		T(test_open_refusals),
		T(test_open_bad_welcome),
		T(test_open_timeout),
		T(test_open_nonblocking),
		T(test_open_backlog_full),
		T(test_open_daemon_hangs_up),
		T(test_open_no_daemon),
		T(test_open_bad_args),
		T(test_open_env),
		T(test_round_trips),
		T(test_request_deadline),
		T(test_next_request_timeouts),
		T(test_reply_rules),
		T(test_daemon_disappears),
		T(test_daemon_gone_before_reply),
		T(test_garbage_from_daemon),
		T(test_fd_passing_is_garbage),
		T(test_run_serves),
		T(test_run_null_callbacks),
		T(test_run_lost_while_frozen),
		T(test_run_garbage_while_frozen),
		T(test_run_not_frozen_no_synthetic),
		T(test_run_stop_from_thread),
		T(test_run_interrupted),
		T(test_run_busy),
		T(test_no_fd_leaks),
		T(test_names),
		T(test_v2_detail),
		T(test_v2_filesystems),
		T(test_v2_filesystems_garbage),
		T(test_v2_old_daemon),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
