// SPDX-License-Identifier: MIT
/* The Hyper-V adapter's insides, shared by hyperv.c (the requests, the engine calls,
 * the answers, setup and status) and hvchan.c (the channel: opening, registering,
 * reading, reopening with backoff after a failure). */
#ifndef QUIESCE_HYPERV_INT_H
#define QUIESCE_HYPERV_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/loop.h"
#include "host/hvwire.h"
#include "host/hyperv.h"

/* The kernel's timers for our answer (drivers/hv/hv_snapshot.c: VSS_FREEZE_TIMEOUT,
 * drivers/hv/hyperv_vmbus.h: HV_UTIL_TIMEOUT). They start when the kernel hands us
 * the request; past them the host has HV_E_FAIL and our late answer is refused. */
#define KERNEL_FREEZE_TIMEOUT_MS (900u * 1000)
#define KERNEL_TIMEOUT_MS (30u * 1000)

#define ORIGIN "hyperv"
#define HANDSHAKE_TIMEOUT_MS 10000     /* the kernel answers a registration at once */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
#define READ_BUF 64                    /* more than any message: a longer one is an error */
#define LEASE_WARN_MS 10000

enum hv_state {
	HV_CLOSED,      /* waiting to (re)open */
	HV_HANDSHAKE,   /* registered, waiting for the kernel's 4-byte answer */
	HV_READY,       /* waiting for a request */
	HV_BUSY,        /* a request is with the engine: the kernel sends nothing else */
	HV_RESETTING,   /* the channel failed: thawing what Hyper-V froze before reopening */
};

enum call_kind { CALL_REQUEST, CALL_UNDO };

/* One engine_submit(). The engine calls back exactly once, maybe after the request
 * it served was answered by the deadline or lost with the channel (gen differs). */
struct hv_call {
	struct hyperv *hv;          /* NULL once the adapter is gone */
	enum call_kind kind;
	uint64_t gen;
	bool ended_early;           /* THAW of a freeze that had already ended */
	struct hv_call *prev, *next;
};

struct hyperv {
	struct host_ctx *ctx;
	char *path;
	bool is_socket;
	int fd;
	enum hv_state state;
	struct loop_timer retry;    /* reopen */
	struct loop_timer deadline; /* handshake, the held request's budget, the reset's thaw */
	uint64_t backoff_ms;
	int last_open_err;          /* a failure logged once, then at debug level */
	bool started;
	uint32_t kernel_version;

	uint64_t freeze_budget_ms;  /* the kernel's timers (QUIESCE_HV_KERNEL_TIMEOUTS) */
	uint64_t budget_ms;

	struct hvwire_request req;  /* the request held (HV_BUSY) */
	uint64_t gen;               /* bumped for each request, and when one is given up */
	uint64_t req_t0;
	bool frozen_by_us;          /* our FREEZE succeeded and no THAW of ours ended it */
	unsigned undo_pending;      /* thaws started on our own (reset, abandoned freeze) */
	struct hv_call *calls;

	unsigned long n_requests, n_registrations, n_resets, n_deadlines;
	char last_op[16];
	char last_result[16];
	double last_ms;
};

/* Answer by: the budget less a margin for the way back through the kernel. */
static inline uint64_t answer_by(uint64_t budget_ms)
{
	uint64_t margin = budget_ms / 5 < 5000 ? budget_ms / 5 : 5000;
	return budget_ms - margin;
}

static inline const char *op_name(unsigned op)
{
	const char *n = hvwire_op_name(op);
	return n ? n : "unknown";
}

/* hvchan.c: the channel. */
void hvchan_schedule_open(struct hyperv *hv, uint64_t delay_ms);
void hvchan_close(struct hyperv *hv);
ssize_t hvchan_write(struct hyperv *hv, const void *buf, size_t len);
/* The channel is dead: drop the request held, thaw what Hyper-V froze, reopen. */
void hvchan_failed(struct hyperv *hv);
/* hv->deadline: the handshake's, the held request's, the reset's thaw's. */
void hvchan_on_deadline(struct loop *loop, void *arg);

/* hyperv.c: the requests. */
void hyperv_handle_request(struct hyperv *hv, const struct hvwire_request *req);
void hyperv_request_overdue(struct hyperv *hv);
/* Thaw what Hyper-V froze, or stop a freeze of ours under way: true if a thaw was
 * started whose end the caller should wait for. */
bool hyperv_undo_ours(struct hyperv *hv, const char *why);

#endif
