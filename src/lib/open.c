// SPDX-License-Identifier: MIT
/*
 * libquiesce: connect, register, close, and what the daemon granted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "quiesce.h"
#include "lib/internal.h"

static const char *
socket_path_default(void)
{
	/* secure_getenv: a setuid program must not be pointed at another socket. */
	const char *env = secure_getenv(QUIESCE_SOCKET_ENV);

	return env != NULL && env[0] != '\0' ? env : QUIESCE_DEFAULT_SOCKET;
}

static int
options_valid(const struct quiesce_options *opt)
{
	size_t i;

	if (opt == NULL)
		return 1;
	if (opt->flags & ~QUIESCE_OPTIONAL)
		return 0;
	for (i = 0; i < sizeof(opt->reserved) / sizeof(opt->reserved[0]); i++)
		if (opt->reserved[i] != 0)
			return 0;
	return 1;
}

/* Sleep up to 10 ms, never past deadline. 0, or -ETIMEDOUT / -EINTR. */
static int
nap(uint64_t deadline)
{
	uint64_t now = quiesce__now_ns(), ns = 10000000u;
	struct timespec ts;

	if (deadline != QUIESCE_NO_DEADLINE) {
		if (now >= deadline)
			return -ETIMEDOUT;
		if (deadline - now < ns)
			ns = deadline - now;
	}
	ts.tv_sec = 0;
	ts.tv_nsec = (long)ns;
	return nanosleep(&ts, NULL) == 0 ? 0 : -EINTR;
}

static int
connect_bounded(int fd, const struct sockaddr_un *sa, uint64_t deadline)
{
	int r;

	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		/* A non-blocking AF_UNIX connect says EAGAIN while the listen backlog is full. */
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((r = nap(deadline)) < 0)
			return r;
	}
}

static int
refusal_errno(unsigned int result)
{
	switch (result) {
	case APPWIRE_REFUSED_VERSION:
		return -EPROTONOSUPPORT;
	case APPWIRE_REFUSED_HELLO:
		return -EPROTO;
	case APPWIRE_REFUSED_NAME:
		return -EINVAL;
	case APPWIRE_REFUSED_NAME_TAKEN:
		return -EADDRINUSE;
	case APPWIRE_REFUSED_TOO_MANY:
		return -EUSERS;
	case APPWIRE_REFUSED_PERMISSION:
		return -EACCES;
	default:
		return -ECONNREFUSED;
	}
}

static int
receive_welcome(struct quiesce *q, uint64_t deadline)
{
	uint8_t buf[APPWIRE_MAX_FRAME];
	struct appwire_welcome w;
	enum appwire_err e;
	int n;

	n = quiesce__recv_frame_wait(q->fd, buf, sizeof(buf), deadline);
	if (n < 0)
		return n;
	e = appwire_decode_welcome(buf, (size_t)n, &w);
	if (e == APPWIRE_E_VERSION)
		return -EPROTONOSUPPORT;
	if (e != APPWIRE_OK)
		return -EPROTO;
	if (w.result != APPWIRE_ACCEPTED) {
		/* For a version refusal: the highest the daemon speaks, to retry with. */
		q->version = w.version;
		return refusal_errno(w.result);
	}
	/* The daemon answers in the hello's version; anything else is garbage. */
	if (w.version != q->version)
		return -EPROTO;
	q->app_id = w.app_id;
	q->timeout_ms = w.timeout_ms;
	q->flags = w.flags;
	return 0;
}

/* One connection and registration with the given hello. *qp is set even on failure
 * (the caller closes it) so that a version refusal can be read from it. */
static int
attempt(const struct sockaddr_un *sa, const struct appwire_hello *hello, uint64_t deadline,
    struct quiesce **qp)
{
	uint8_t hello_buf[APPWIRE_HELLO_SIZE];
	struct quiesce *q;
	int r;

	*qp = NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	*qp = q;
	q->stop_fd = -1;
	q->version = hello->version;
	appwire_encode_hello(hello_buf, hello);
	q->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (q->fd < 0)
		return -errno;
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->stop_fd < 0)
		return -errno;
	if ((r = connect_bounded(q->fd, sa, deadline)) < 0)
		return r;
	if ((r = quiesce__send(q->fd, hello_buf, sizeof(hello_buf), deadline)) < 0) {
		/* quiesced refuses a connection beyond the pending slots its user may
		 * take as it accepts it: its refusal is already here, say that. */
		if (r == -ECONNRESET && receive_welcome(q, deadline) == -EUSERS)
			r = -EUSERS;
		return r;
	}
	q->version = hello->version;
	return receive_welcome(q, deadline);
}

int
quiesce_open(const char *socket_path, const char *name, const struct quiesce_options *opt,
    int timeout_ms, struct quiesce **out)
{
	uint64_t deadline = quiesce__deadline(timeout_ms);
	struct appwire_hello hello;
	struct sockaddr_un sa;
	struct quiesce *q = NULL;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (!appwire_name_valid(name) || !options_valid(opt))
		return -EINVAL;
	if (socket_path == NULL)
		socket_path = socket_path_default();
	if (socket_path[0] == '\0')
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, socket_path, strlen(socket_path));

	memset(&hello, 0, sizeof(hello));
	hello.flags = opt != NULL && (opt->flags & QUIESCE_OPTIONAL) ? APPWIRE_F_OPTIONAL : 0;
	hello.timeout_ms = opt != NULL ? opt->timeout_ms : 0;
	memcpy(hello.name, name, strlen(name));

	/* Our highest version first; a daemon that refuses it names the highest it speaks
	 * (docs/protocol.md §2.3), and a version 1 daemon gets a version 1 hello. */
	hello.version = APPWIRE_VERSION;
	for (;;) {
		r = attempt(&sa, &hello, deadline, &q);
		if (r == -EPROTONOSUPPORT && q != NULL && q->version >= APPWIRE_VERSION_MIN &&
		    q->version < hello.version) {
			hello.version = q->version;
			quiesce_close(q);
			continue;
		}
		break;
	}
	if (r < 0) {
		quiesce_close(q);
		return r;
	}
	*out = q;
	return 0;
}

void
quiesce_close(struct quiesce *q)
{
	if (q == NULL)
		return;
	if (q->fd >= 0)
		close(q->fd);
	if (q->stop_fd >= 0)
		close(q->stop_fd);
	free(q);
}

int
quiesce_fd(const struct quiesce *q)
{
	return q != NULL ? q->fd : -EINVAL;
}

unsigned int
quiesce_app_id(const struct quiesce *q)
{
	return q != NULL ? q->app_id : 0;
}

unsigned int
quiesce_timeout_ms(const struct quiesce *q)
{
	return q != NULL ? q->timeout_ms : 0;
}

unsigned int
quiesce_flags(const struct quiesce *q)
{
	return q != NULL ? q->flags : 0;
}

unsigned int
quiesce_protocol_version(const struct quiesce *q)
{
	return q != NULL ? q->version : 0;
}

int
quiesce_frozen(const struct quiesce *q)
{
	return q != NULL && q->frozen;
}
