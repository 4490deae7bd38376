// SPDX-License-Identifier: MIT
/* Unit tests for src/common/guardwire.c: quiesced <-> thaw guardian messages. The codec
 * is pure, and guardwire_recv (one frame and its fds, on a real socketpair) allocates
 * nothing either: every test runs with every allocation failing (failalloc.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/guardwire.h"
#include "failalloc.h"

static void test_round_trip(void **state)
{
	struct guardwire_msg m = { GUARD_ARM, 7, 30000, "/run/quiesce/frozen" }, out;
	unsigned char buf[GUARD_MSG_SIZE];
	(void)state;
	guardwire_encode(&m, buf);
	assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.type, GUARD_ARM);
	assert_int_equal(out.id, 7);
	assert_int_equal(out.value, 30000);
	assert_string_equal(out.path, "/run/quiesce/frozen");
}

/* A path of GUARD_PATH_MAX bytes fills the field (no NUL on the wire) and comes back
 * NUL-terminated; a longer one is cut. */
static void test_full_path(void **state)
{
	struct guardwire_msg m = { .type = GUARD_DEADLINE }, out;
	unsigned char buf[GUARD_MSG_SIZE];
	(void)state;
	memset(m.path, 'p', GUARD_PATH_MAX);
	m.path[GUARD_PATH_MAX] = '\0';
	guardwire_encode(&m, buf);
	assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(strlen(out.path), GUARD_PATH_MAX);
}

static void test_refused(void **state)
{
	struct guardwire_msg m = { .type = GUARD_HELLO }, out;
	unsigned char buf[GUARD_MSG_SIZE];
	uint32_t type;
	(void)state;
	guardwire_encode(&m, buf);
	assert_int_equal(guardwire_decode(buf, sizeof(buf) - 1, &out), -1);
	assert_int_equal(guardwire_decode(buf, 0, &out), -1);
	buf[0] ^= 1;                                    /* the magic */
	assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), -1);
	buf[0] ^= 1;
	for (type = 0; type < 9; type += 8) {           /* 0 and past GUARD_EXPIRED */
		memcpy(buf + 4, &type, 4);
		assert_int_equal(guardwire_decode(buf, sizeof(buf), &out), -1);
	}
}

static int count_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* A frame of len bytes with nfds copies of fd. */
static void send_frame(int sock, size_t len, int fd, int nfds)
{
	unsigned char buf[GUARD_MSG_SIZE + 8] = { 0 };
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(&ctl, 0, sizeof(ctl));
	if (nfds) {
		struct cmsghdr *c;
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		*c = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds),
				       .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS };
		for (int i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(c) + (size_t)i * sizeof(int), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

/* Receives the next frame; checks its length, flags and fds kept (closed after). */
static void expect_recv(int sock, int max_fds, ssize_t len, int flags, int nfds)
{
	unsigned char buf[GUARD_MSG_SIZE + 1];
	int fds[GUARD_RECV_FDS], got, got_flags, before = count_fds();
	assert_int_equal(guardwire_recv(sock, MSG_DONTWAIT, buf, sizeof(buf), fds, max_fds, &got,
					&got_flags), len);
	assert_int_equal(got_flags & (MSG_TRUNC | MSG_CTRUNC), flags);
	assert_int_equal(got, nfds);
	assert_int_equal(count_fds(), before + nfds);  /* the rest closed */
	for (int i = 0; i < got; i++) {
		assert_int_equal(fcntl(fds[i], F_GETFD), FD_CLOEXEC);
		close(fds[i]);
	}
}

/* guardwire_recv: a frame and its fds (kept up to max_fds, the rest closed; more than
 * GUARD_RECV_FDS cut by the kernel), a long frame, the end, nothing queued. */
static void test_recv(void **state)
{
	int sv[2], fd = open("/", O_RDONLY | O_CLOEXEC), before = count_fds();
	unsigned char buf[GUARD_MSG_SIZE + 1];
	int fds[GUARD_RECV_FDS], nfds = 5, flags = 5;
	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	send_frame(sv[0], GUARD_MSG_SIZE, -1, 0);
	expect_recv(sv[1], GUARD_RECV_FDS, GUARD_MSG_SIZE, 0, 0);
	send_frame(sv[0], GUARD_MSG_SIZE, fd, 1);
	expect_recv(sv[1], GUARD_RECV_FDS, GUARD_MSG_SIZE, 0, 1);
	send_frame(sv[0], GUARD_MSG_SIZE, fd, 3);
	expect_recv(sv[1], 1, GUARD_MSG_SIZE, 0, 1);
	send_frame(sv[0], GUARD_MSG_SIZE, fd, 3);
	expect_recv(sv[1], 0, GUARD_MSG_SIZE, 0, 0);
	send_frame(sv[0], GUARD_MSG_SIZE, fd, GUARD_RECV_FDS + 2);
	expect_recv(sv[1], GUARD_RECV_FDS, GUARD_MSG_SIZE, MSG_CTRUNC, GUARD_RECV_FDS);
	send_frame(sv[0], GUARD_MSG_SIZE + 8, fd, 1);
	expect_recv(sv[1], GUARD_RECV_FDS, GUARD_MSG_SIZE + 1, MSG_TRUNC, 1);
	assert_int_equal(guardwire_recv(sv[1], MSG_DONTWAIT, buf, sizeof(buf), fds, 4, &nfds, &flags),
			 -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(nfds, 0);
	close(sv[0]);
	assert_int_equal(guardwire_recv(sv[1], 0, buf, sizeof(buf), fds, 4, &nfds, NULL), 0);
	assert_int_equal(nfds, 0);
	close(sv[1]);
	assert_int_equal(count_fds(), before);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_full_path),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_recv),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	/* It never allocates: every allocation fails from the first. */
	return cmocka_run_group_tests(tests, failalloc_forbid, failalloc_none);
}
