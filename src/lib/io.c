// SPDX-License-Identifier: MIT
/*
 * libquiesce: clocks, bounded waits and frame I/O. All sockets are non-blocking;
 * waiting happens only in quiesce__wait(), which bounds it with a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/internal.h"

uint64_t
quiesce__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
quiesce__deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return QUIESCE_NO_DEADLINE;
	return quiesce__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* poll() timeout for what is left until deadline, rounded up so we never wake early. */
static int
remaining_ms(uint64_t deadline)
{
	uint64_t now, left;

	if (deadline == QUIESCE_NO_DEADLINE)
		return -1;
	now = quiesce__now_ns();
	if (now >= deadline)
		return 0;
	left = (deadline - now + 999999u) / 1000000u;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/*
 * Wait until fd has events, or stop_fd (if >= 0) is readable. 1 = fd ready,
 * 2 = stop requested, -ETIMEDOUT, -EINTR, or another negative errno.
 */
int
quiesce__wait(int fd, short events, int stop_fd, uint64_t deadline)
{
	struct pollfd pfd[2];
	nfds_t n = 1;
	int r;

	for (;;) {
		pfd[0].fd = fd;
		pfd[0].events = events;
		pfd[0].revents = 0;
		if (stop_fd >= 0) {
			pfd[1].fd = stop_fd;
			pfd[1].events = POLLIN;
			pfd[1].revents = 0;
			n = 2;
		}
		r = poll(pfd, n, remaining_ms(deadline));
		if (r < 0)
			return errno == EINTR ? -EINTR : -errno;
		if (n == 2 && pfd[1].revents)
			return 2;
		/* POLLHUP/POLLERR count as ready: the next recv/send reports what happened. */
		if (pfd[0].revents)
			return 1;
		if (deadline != QUIESCE_NO_DEADLINE && quiesce__now_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

/*
 * Read one frame without blocking. Returns its length (> 0), or -EAGAIN,
 * -ECONNRESET (peer closed), -EPROTO (frame longer than cap, or it carried
 * file descriptors), or another negative errno.
 */
int
quiesce__recv_frame(int fd, uint8_t *buf, size_t cap)
{
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN)
			return -ECONNRESET;
		return -errno;
	}
	/* On SEQPACKET, 0 is end of stream (an empty record would be garbage anyway). */
	if (n == 0)
		return -ECONNRESET;
	/* With no control buffer the kernel closes any passed fds and sets MSG_CTRUNC. */
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EPROTO;
	return (int)n;
}

/* One frame, waiting for it until deadline: its length, or -errno as above (and
 * quiesce__wait's). */
int
quiesce__recv_frame_wait(int fd, uint8_t *buf, size_t cap, uint64_t deadline)
{
	int n;

	while ((n = quiesce__recv_frame(fd, buf, cap)) == -EAGAIN)
		if ((n = quiesce__wait(fd, POLLIN, -1, deadline)) < 0)
			return n;
	return n;
}

/* End the connection after a fatal error; the fd stays valid until quiesce_close(). */
void
quiesce__kill(struct quiesce *q, int err)
{
	if (q->dead)
		return;
	q->dead = err;
	q->pending = 0;
	/* The daemon sees the hang-up now, not whenever the app gets round to closing. */
	shutdown(q->fd, SHUT_RDWR);
}

/* Send one frame, waiting for room until deadline. 0, or a negative errno. */
int
quiesce__send(int fd, const void *buf, size_t len, uint64_t deadline)
{
	ssize_t n;
	int r;

	for (;;) {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EPROTO;	/* SEQPACKET sends whole records; cannot happen */
		if (errno == EPIPE || errno == ECONNRESET)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if ((r = quiesce__wait(fd, POLLOUT, -1, deadline)) < 0)
			return r;
	}
}
