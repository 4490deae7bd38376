// SPDX-License-Identifier: MIT
/* Who may connect to the app socket and register (docs/security.md), so that members
 * of the app socket's group cannot keep root's own apps out:
 *
 * - pending connections (no hello yet): ADMIT_PENDING in all, ADMIT_PENDING_ROOT of
 *   them root's alone, ADMIT_PENDING_PER_UID at most for any one other uid; beyond
 *   that a connection is refused as it is accepted;
 * - registered apps: max_apps in all, slots_root_share(max_apps) of them root's alone;
 * - the connection rate (--app-connect-rate): root and the others have a bucket each,
 *   so that the others' reconnect loop does not use up root's.
 *
 * The counts only; the registry says when a connection comes, registers and goes. */
#ifndef QUIESCE_ADMIT_H
#define QUIESCE_ADMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/slots.h"

#define ADMIT_PENDING 64
#define ADMIT_PENDING_ROOT 16
#define ADMIT_PENDING_PER_UID 8

struct admit {
	struct slots_policy pending_policy, apps_policy;
	unsigned pending, pending_others, apps, apps_others;
	/* Pending connections per uid other than 0: at most ADMIT_PENDING of them. */
	struct { uid_t uid; unsigned n; } per_uid[ADMIT_PENDING];
	unsigned rate;
	double burst;
	double tokens[2];                /* [0] root, [1] everyone else */
	uint64_t tokens_at_ms[2];
};

void admit_init(struct admit *a, unsigned max_apps, unsigned rate, uint64_t now_ms);
/* A connection is accepted: counted as pending if the verdict is SLOTS_OK. */
enum slots_verdict admit_connect(struct admit *a, uid_t uid);
/* A pending connection registers (then admit_register) or goes. */
void admit_pending_done(struct admit *a, uid_t uid);
/* May uid register one more app? Then admit_registered when it does. */
enum slots_verdict admit_may_register(const struct admit *a, uid_t uid);
void admit_registered(struct admit *a, uid_t uid);
void admit_unregister(struct admit *a, uid_t uid);
/* The connection rate: false if uid's bucket is empty (0 rate: no limit). */
bool admit_token(struct admit *a, uid_t uid, uint64_t now_ms);

#endif
