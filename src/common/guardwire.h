// SPDX-License-Identifier: MIT
/* Messages between quiesced and its thaw guardian, over a SOCK_SEQPACKET socketpair.
 * Encode/decode are pure, no I/O (fuzzed by tests/fuzz/fuzz_guardwire.c);
 * guardwire_recv is the one read of a frame and its fds, for both ends' tests and the
 * guardian.
 *
 *   quiesced -> guardian   ARM      id, path; one fd in SCM_RIGHTS: hold it, thaw it if
 *                                    we die or the deadline passes
 *                          DISARM   id: forget it (thawed by us, or never frozen)
 *                          DEADLINE value = ms from now (0: none); path: the run-dir
 *                                    record to remove once everything held is
 *                                    thawed ("": none)
 *                          CLEAR    forget everything
 *   guardian -> quiesced   HELLO    value = guardian's pid, once at start
 *                          EXPIRED  value = how many it thawed when the deadline passed
 *
 * Every frame is exactly GUARD_MSG_SIZE bytes. */
#ifndef QUIESCE_GUARDWIRE_H
#define QUIESCE_GUARDWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GUARD_MAGIC 0x44524751u /* "QGRD" little-endian */
#define GUARD_PATH_MAX 240
#define GUARD_MSG_SIZE 264
/* The most fds guardwire_recv takes with one frame (more are cut by the kernel). */
#define GUARD_RECV_FDS 4

enum guardwire_type {
	GUARD_ARM = 1,
	GUARD_DISARM = 2,
	GUARD_DEADLINE = 3,
	GUARD_CLEAR = 4,
	GUARD_HELLO = 5,
	GUARD_EXPIRED = 6,
};

struct guardwire_msg {
	uint32_t type;
	uint64_t id;
	uint64_t value;
	char path[GUARD_PATH_MAX + 1]; /* NUL-terminated; ARM, DEADLINE */
};

/* Encode into buf (GUARD_MSG_SIZE bytes); the path is truncated to GUARD_PATH_MAX. */
void guardwire_encode(const struct guardwire_msg *m, unsigned char buf[GUARD_MSG_SIZE]);
/* Decode len bytes. Returns 0, or -1 if the frame is not a valid message. */
int guardwire_decode(const unsigned char *buf, size_t len, struct guardwire_msg *m);
/* One frame from fd: recvmsg with flags | MSG_CMSG_CLOEXEC, into buf (cap bytes; take
 * GUARD_MSG_SIZE + 1 to tell a long frame from a right one). The fds of its
 * SCM_RIGHTS (at most GUARD_RECV_FDS) go to fds, the first max_fds of them (*nfds);
 * the rest are closed. *msg_flags (if not NULL): recvmsg's (MSG_TRUNC, MSG_CTRUNC).
 * Returns recvmsg's: the frame's length, 0 at the end, -1 with errno (*nfds 0). */
ssize_t guardwire_recv(int fd, int flags, unsigned char *buf, size_t cap, int *fds, int max_fds,
		       int *nfds, int *msg_flags);

#endif
