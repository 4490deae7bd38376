// SPDX-License-Identifier: MIT
/* A listening socket that runs out of file descriptors (EMFILE, ENFILE) or memory stays
 * readable: with a level-triggered epoll, accept fails again at once, and the loop spins
 * at full CPU writing a warning per try (gigabytes of log in seconds) until a descriptor
 * is freed. listener_accept_failed() stops polling it for a while instead, and warns once
 * per episode. (The app socket's registry has the same pause of its own.) */
#ifndef QUIESCE_LISTENER_H
#define QUIESCE_LISTENER_H

#include <stdbool.h>

#include "common/loop.h"

#define LISTENER_RETRY_MS 200

struct listener_pause {
	struct loop *loop;
	int fd;
	const char *name;          /* for the log: "control", "qga" */
	struct loop_timer timer;
	bool warned;               /* said so for this episode */
};

void listener_pause_init(struct listener_pause *p, struct loop *loop, int fd, const char *name);
/* accept() failed with errno: a transient error is ignored, anything else pauses the
 * listener for LISTENER_RETRY_MS. */
void listener_accept_failed(struct listener_pause *p);
/* accept() succeeded: ends an episode (said in the log). */
void listener_accepted(struct listener_pause *p);
/* The retry timer disarmed; p itself (and fd) stay the caller's. */
void listener_pause_free(struct listener_pause *p);

#endif
