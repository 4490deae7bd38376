// SPDX-License-Identifier: MIT
/* The engine's insides, shared by its files: engine.c (the entry points: submit,
 * the guardian, the owner, shutdown), sequence.c (the stages in order, and how a
 * phase ends), lease.c (the lease and the news of an early thaw), answer.c (the
 * answers, and the THAWs waiting for one) and report.c (the report and status).
 * Every function of the engine starts with engine_; nothing outside src/engine/
 * includes this. */
#ifndef QUIESCE_ENGINE_INT_H
#define QUIESCE_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "common/loop.h"
#include "engine/txn.h"

#define ENGINE_MAX_STAGES 8
#define ENGINE_MAX_WAITERS 16
#define ENGINE_MSG_LEN 512

struct stage_slot {
	const struct stage_ops *ops;
	void *self;
	bool entered;           /* its FREEZE started in this transaction: it gets THAW */
	bool ran;               /* started in this transaction: its count() is current */
	uint64_t t0;
};

struct waiter {
	txn_done_fn fn;
	void *arg;
};

struct engine {
	struct loop *loop;
	struct engine_config cfg;
	enum txn_state state;
	struct stage_slot stages[ENGINE_MAX_STAGES];
	size_t n_stages;

	/* The transaction under way. */
	struct txn_request req;       /* deep copy */
	char **req_mounts;
	const struct txn_caller *caller; /* whose it is (never NULL) */
	txn_done_fn done;             /* the caller of the FREEZE/THAW/CHECK; NULL if internal */
	void *done_arg;
	struct waiter waiters[ENGINE_MAX_WAITERS]; /* THAWs that arrived while busy */
	size_t n_waiters;
	enum txn_op phase;            /* what the stages are doing now */
	int next;                     /* next stage index to run, in direction dir */
	int dir;
	int running;                  /* stage index running, -1 if none */
	bool unwinding;               /* a FREEZE failed (or is undone): thawing what froze */
	bool undo_ok;                 /* the unwinding is an undo, the FREEZE reports success */
	bool abort_requested;         /* a THAW or the owner's end overtook the FREEZE */
	bool answered;                /* done already called (THAW early_reply) */
	bool check_failed;
	enum txn_err fail_err;
	char fail_msg[ENGINE_MSG_LEN];
	uint64_t t0;
	struct json_object *report;   /* of the transaction under way */
	struct json_object *last;     /* of the last finished one */
	struct loop_timer watchdog;

	/* Frozen. */
	const void *owner;
	uint64_t lease_ms;
	uint64_t frozen_at;           /* monotonic ms */
	uint64_t frozen_at_wall;
	struct loop_timer lease;
	/* quiesced thawed before anyone asked (lease passed, guardian died or hit its
	 * deadline): sticky until a THAW reports it or a FREEZE starts. */
	bool lease_expired;
	uint64_t lease_expired_at_wall;
	char early_thaw[160];         /* why, for the THAW's error and status */
	const struct txn_caller *early_caller; /* whose freeze it was: only its THAW hears */

	void (*shutdown_done)(void *);
	void *shutdown_arg;
};

/* engine.c */
void engine_set_state(struct engine *e, enum txn_state s);
int engine_copy_request(struct engine *e, const struct txn_request *req);
void engine_became_idle(struct engine *e);

/* sequence.c */
/* Starts a transaction's first phase: the stages from first, in direction dir. */
void engine_begin(struct engine *e, enum txn_op phase, int first, int dir);
void engine_advance(struct engine *e);
void engine_phase_complete(struct engine *e);
void engine_start_thaw(struct engine *e, const struct txn_caller *by, bool early_reply,
		       txn_done_fn done, void *arg);
void engine_cancel_running(struct engine *e);

/* lease.c */
/* Every stage froze: FROZEN, and the lease runs. */
void engine_hold(struct engine *e);
void engine_note_early_thaw(struct engine *e, const char *fmt, ...) LOG_PRINTF(2, 3);
/* A THAW with nothing frozen: true if it was answered with the news of an early
 * thaw (it is that freeze's caller's). */
bool engine_tell_early_thaw(struct engine *e, const struct txn_request *req, txn_done_fn done,
			    void *arg);

/* answer.c */
void engine_reply(txn_done_fn fn, void *arg, enum txn_op op, enum txn_err err, unsigned count,
		  struct json_object *report, const char *fmt, ...) LOG_PRINTF(7, 8);
/* A request refused because of what is under way or held: says whose that is. */
void engine_refuse(const struct engine *e, const struct txn_request *req, txn_done_fn fn,
		   void *arg, enum txn_err err, const char *fmt, ...) LOG_PRINTF(6, 7);
/* A THAW while busy waits for the transaction's end; false if too many wait. */
bool engine_add_waiter(struct engine *e, txn_done_fn done, void *arg);
void engine_call_waiters(struct engine *e, enum txn_err err, unsigned count, const char *msg);

/* report.c */
void engine_report_begin(struct engine *e);
void engine_report_stage(struct engine *e, int i, bool ok, const char *msg);
void engine_report_finish(struct engine *e, bool ok, unsigned count, const char *msg);

#endif
