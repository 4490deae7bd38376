// SPDX-License-Identifier: MIT
#include "common/guardwire.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Layout: u32 magic, u32 type, u64 id, u64 value, char path[GUARD_PATH_MAX] (NUL
 * padded; no NUL needed when full). All in host byte order: both ends are one host. */

void guardwire_encode(const struct guardwire_msg *m, unsigned char buf[GUARD_MSG_SIZE])
{
	uint32_t magic = GUARD_MAGIC;
	size_t n = strnlen(m->path, GUARD_PATH_MAX);

	memset(buf, 0, GUARD_MSG_SIZE);
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &m->type, 4);
	memcpy(buf + 8, &m->id, 8);
	memcpy(buf + 16, &m->value, 8);
	memcpy(buf + 24, m->path, n);
}

int guardwire_decode(const unsigned char *buf, size_t len, struct guardwire_msg *m)
{
	uint32_t magic;

	if (len != GUARD_MSG_SIZE)
		return -1;
	memcpy(&magic, buf, 4);
	if (magic != GUARD_MAGIC)
		return -1;
	memset(m, 0, sizeof(*m));
	memcpy(&m->type, buf + 4, 4);
	memcpy(&m->id, buf + 8, 8);
	memcpy(&m->value, buf + 16, 8);
	if (m->type < GUARD_ARM || m->type > GUARD_EXPIRED)
		return -1;
	memcpy(m->path, buf + 24, GUARD_PATH_MAX);
	m->path[GUARD_PATH_MAX] = '\0';
	return 0;
}

ssize_t guardwire_recv(int fd, int flags, unsigned char *buf, size_t cap, int *fds, int max_fds,
		       int *nfds, int *msg_flags)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * GUARD_RECV_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);

	*nfds = 0;
	if (msg_flags)
		*msg_flags = n < 0 ? 0 : mh.msg_flags;
	if (n < 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < max_fds)
				fds[(*nfds)++] = got;
			else
				close(got);
		}
	}
	return n;
}
