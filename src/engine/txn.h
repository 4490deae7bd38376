// SPDX-License-Identifier: MIT
/* The transaction engine: one CHECK, FREEZE or THAW at a time, an explicit state
 * machine, and the lease.
 *
 *            CHECK                 FREEZE ok                  THAW / lease / owner gone
 *   IDLE ──────────► CHECKING    IDLE ──► FREEZING ──► FROZEN ──────────► THAWING ──► IDLE
 *     ▲                 │                    │ any failure: thaw what froze     │
 *     └─────────────────┘                    └──────────────► IDLE ◄────────────┘
 *
 * The work is done by stages, run in order on FREEZE (apps, hooks, filesystems) and
 * in reverse on THAW; each stage thaws only the members it froze. A failure in the
 * middle of a FREEZE thaws the failed stage and every earlier one, so nothing stays
 * frozen. Once FROZEN, the lease bounds how long writes are held: when it passes,
 * the engine thaws on its own and the next THAW reports that the lease expired.
 *
 * Ownership is decided here, by caller token (struct txn_caller), for every
 * transport alike: a FREEZE while frozen is refused (E_FROZEN) with whose it is, so
 * a caller may take its own as done; a THAW from any caller ends the freeze (a
 * caller that must leave others' alone asks engine_whose() first); the news of an
 * early thaw goes only to the caller whose freeze it was, with its next THAW. */
#ifndef QUIESCE_TXN_H
#define QUIESCE_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct loop;
struct engine;

enum txn_state { TXN_IDLE, TXN_CHECKING, TXN_FREEZING, TXN_FROZEN, TXN_THAWING };
enum txn_op { TXN_CHECK, TXN_FREEZE, TXN_THAW };

enum txn_err {
	TXN_OK,
	TXN_E_BUSY,          /* another transaction is under way */
	TXN_E_FROZEN,        /* FREEZE while frozen */
	TXN_E_VETO,          /* a participant said no, or did not answer in time */
	TXN_E_FS,            /* a filesystem could not be frozen or thawed */
	TXN_E_LEASE,         /* THAW after the lease passed: we had thawed on our own */
	TXN_E_ABORTED,       /* FREEZE overtaken by a THAW or by its client going away */
	TXN_E_INTERNAL,      /* out of memory and the like */
};

const char *engine_state_name(enum txn_state s);
const char *engine_op_name(enum txn_op op);
const char *engine_err_name(enum txn_err e);

/* Who asks. Each transport passes its own in every request: one object (a static)
 * that lives as long as the engine, shared by all its sessions. The engine tells
 * callers apart by this address alone, never by the name, which is plain data for
 * logs, reports, status and the hooks' QUIESCE_ORIGIN. */
struct txn_caller {
	const char *name;             /* the transport's, e.g. "control" */
};

/* Whose the transaction under way (or the freeze held) is, as one caller sees it. */
enum txn_whose {
	TXN_WHOSE_NONE,               /* idle: nothing under way, nothing held */
	TXN_WHOSE_YOURS,              /* requested by this caller */
	TXN_WHOSE_OTHER,              /* by another caller, or the engine itself (a lease
				       * thaw), or a request without a caller */
};

struct txn_request {
	enum txn_op op;
	const struct txn_caller *caller; /* who asks (NULL: nobody's, never "yours") */
	const void *owner;            /* FREEZE: a session whose end thaws (NULL: the lease) */
	char *const *mountpoints;     /* FREEZE: only these (exact mountpoints) */
	size_t n_mountpoints;
	bool mountpoints_set;
	bool strict_mountpoints;      /* FREEZE: a listed mountpoint that is not a candidate
				       * fails the freeze (else it is ignored) */
	/* FREEZE: run only the stages without .filesystems (the participants that hold
	 * their own writes: apps, hooks); nothing is counted, undo_if_none does not
	 * apply, and the THAW thaws what froze. */
	bool skip_fs;
	bool undo_if_none;            /* FREEZE: no filesystem frozen -> undo, report 0 */
	uint64_t lease_ms;            /* FREEZE: 0 = the daemon's --lease */
	/* THAW: answer as soon as the .filesystems stages have thawed; the stages in
	 * front of them (in FREEZE order) thaw after the answer. For a caller whose
	 * peer gives the THAW a short budget. */
	bool early_reply;
};

struct txn_result {
	enum txn_op op;
	enum txn_err err;
	const char *message;          /* "" on success */
	unsigned count;               /* filesystems frozen / thawed by this call */
	struct json_object *report;   /* details; valid during the callback only */
	/* E_FROZEN, E_BUSY: whose freeze or transaction is in the way. A caller that
	 * treats a FREEZE of its own held freeze as done reads it here. */
	enum txn_whose whose;
};

/* May be called before engine_submit() returns (e.g. for BUSY). */
typedef void (*txn_done_fn)(void *arg, const struct txn_result *res);

/* ---- stages */

enum stage_rc { STAGE_DONE, STAGE_PENDING };

struct stage_ops {
	const char *name;             /* "apps", "hooks", "filesystems" */
	bool filesystems;             /* skipped by skip_fs freezes; counted */
	/* Begin op. STAGE_DONE: finished, *ok and msg set. STAGE_PENDING: the stage calls
	 * engine_stage_done() later, from the loop, never from inside start(). For THAW
	 * the stage thaws only what it froze. */
	enum stage_rc (*start)(void *self, enum txn_op op, const struct txn_request *req,
			       bool *ok, char *msg, size_t msglen);
	/* The engine gave up waiting (watchdog, or a THAW overtook a FREEZE): finish
	 * soon, as a failure. May be NULL if the stage bounds itself. */
	void (*cancel)(void *self);
	/* Details of the current or last op, added to a JSON object. */
	void (*report)(void *self, struct json_object *out);
	/* Members frozen (FREEZE) or thawed (THAW) by the last op. */
	unsigned (*count)(void *self, enum txn_op op);
	/* Anything of this stage frozen right now. */
	bool (*active)(void *self);
};

struct engine_config {
	uint64_t lease_ms;            /* default longest hold before thawing on our own */
	uint64_t timeout_ms;          /* per-phase bound for participants */
	/* Told of every state change; lease_ms is the freeze's lease (the thaw guardian
	 * sets its own deadline from it). May be NULL. */
	void (*on_state)(void *arg, enum txn_state st, uint64_t lease_ms);
	void *state_arg;
};

struct engine *engine_new(struct loop *loop, const struct engine_config *cfg);
void engine_free(struct engine *e);
/* Stages run in the order added on FREEZE. */
int engine_add_stage(struct engine *e, const struct stage_ops *ops, void *self);
void engine_stage_done(struct engine *e, bool ok, const char *msg);

void engine_submit(struct engine *e, const struct txn_request *req, txn_done_fn done, void *arg);
/* The thaw guardian died, or its deadline passed and it thawed (expired): thaw now,
 * or abort the freeze; with expired, the next THAW reports an expired lease. */
void engine_guardian_lost(struct engine *e, bool expired);
/* The session that owns the freeze went away: thaw now (or abort the freeze). */
void engine_owner_gone(struct engine *e, const void *owner);
/* Shutting down: thaw if anything is frozen; done when idle (at once if it is). */
void engine_shutdown(struct engine *e, void (*done)(void *arg), void *arg);

enum txn_state engine_state(const struct engine *e);
/* Whose the transaction under way (or the freeze held) is, seen by caller c: the
 * one ownership answer every transport asks the same way. */
enum txn_whose engine_whose(const struct engine *e, const struct txn_caller *c);
/* The name of whom it is for (a caller's, or the engine's own: "lease", ...), for
 * logs; NULL when idle. */
const char *engine_origin(const struct engine *e);
/* Adds the state, the stages and the last report to out; -1 if out of memory (out is
 * then incomplete: not to be sent). */
int engine_status(struct engine *e, struct json_object *out);

#endif
