// SPDX-License-Identifier: MIT
/* The engine faked for the transports' unit tests (test_cmd, test_control, test_qga,
 * test_hyperv): every engine_* function the host layer calls, so that each error class
 * and each state can be had without freezing anything.
 *
 * engine_submit records the whole request (fake_eng.last, kept after the answer) and
 * keeps the call pending (fake_eng.q, oldest first); the test answers it when and how
 * it chooses (fake_engine_answer), or has every call answered at once (answer_now).
 * A test passes (struct engine *)&fake_eng as its engine. */
#ifndef QUIESCE_FAKEENGINE_H
#define QUIESCE_FAKEENGINE_H

#include <stdbool.h>

#include "engine/txn.h"

#define FAKE_ENGINE_CALLS 8
#define FAKE_ENGINE_MOUNTS 4

struct fake_call {
	struct txn_request req;      /* mountpoints NULL: the first ones are copied below */
	char mounts[FAKE_ENGINE_MOUNTS][64];
	txn_done_fn done;
	void *arg;
};

struct fake_engine {
	/* What the test sets. */
	enum txn_state state;        /* engine_state() */
	enum txn_whose whose;        /* engine_whose() */
	const char *whose_caller;    /* engine_whose() asked by this caller only (NULL: any) */
	const char *origin;          /* engine_origin() */
	bool answer_now;             /* answer inside engine_submit: now_err, "busy", others' */
	enum txn_err now_err;
	bool one_at_a_time;          /* a call while another is pending fails the test */
	/* What it records. */
	unsigned submitted, owner_gone;
	struct fake_call last;       /* the last call, answered or not */
	struct fake_call q[FAKE_ENGINE_CALLS]; /* the calls not answered yet, oldest first */
	unsigned n;
};

extern struct fake_engine fake_eng;

/* Everything back to zero (idle, nothing recorded): in each test's setup. */
void fake_engine_reset(void);

/* Answer the i-th pending call (0: the oldest) with this outcome; report is the
 * caller's (NULL: none). */
void fake_engine_answer(unsigned i, enum txn_err err, const char *msg, unsigned count,
			enum txn_whose whose, struct json_object *report);

/* A call is pending (for unit_run_until). */
bool fake_engine_called(void *arg);

#endif
