// SPDX-License-Identifier: MIT
/*
 * libquiesce internals shared by the files in src/lib. Nothing here is exported:
 * the shared library is built with -fvisibility=hidden and a version script.
 */
#ifndef QUIESCE_LIB_INTERNAL_H
#define QUIESCE_LIB_INTERNAL_H

#include <stdint.h>

#include "common/appwire.h"

struct quiesce {
	int fd;			/* SEQPACKET socket to quiesced */
	int stop_fd;		/* eventfd written by quiesce_stop() */
	int dead;		/* 0, or the error that ended the connection */
	int frozen;		/* FREEZE answered with success, THAW not delivered yet */
	int pending;		/* req read and not answered */
	struct appwire_msg req;	/* the outstanding request when pending */
	unsigned int app_id;
	unsigned int timeout_ms;
	unsigned int flags;
	uint16_t version;	/* the protocol the connection speaks (1 or 2) */
	char detail[APPWIRE_DETAIL_FIELD];	/* v2: sent with the next answer */
	int stashed;		/* a request read while waiting for a query's answer */
	struct appwire_msg stash;
};

/* No deadline: wait forever. */
#define QUIESCE_NO_DEADLINE	UINT64_MAX

/* io.c */
uint64_t quiesce__now_ns(void);
uint64_t quiesce__deadline(int timeout_ms);
int quiesce__wait(int fd, short events, int stop_fd, uint64_t deadline);
int quiesce__recv_frame(int fd, uint8_t *buf, size_t cap);
int quiesce__recv_frame_wait(int fd, uint8_t *buf, size_t cap, uint64_t deadline);
void quiesce__kill(struct quiesce *q, int err);
int quiesce__send(int fd, const void *buf, size_t len, uint64_t deadline);

#endif
