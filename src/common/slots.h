// SPDX-License-Identifier: MIT
/* Who may take a connection slot: the one rule the control socket and the app socket
 * share, so that no user other than root can fill a socket and lock root out.
 *
 * A socket has `total` slots. The last `root_reserved` of them only root (uid 0, from
 * SO_PEERCRED at accept) may take; any one other uid at most `per_uid` (0: no cap of
 * its own). Pure arithmetic on counts the caller keeps: no I/O, no allocation. */
#ifndef QUIESCE_SLOTS_H
#define QUIESCE_SLOTS_H

#include <sys/types.h>

struct slots_policy {
	unsigned total;
	unsigned root_reserved;
	unsigned per_uid;
};

/* What is taken now: every slot, those of uids other than 0, those of this uid. */
struct slots_used {
	unsigned all;
	unsigned others;
	unsigned this_uid;
};

enum slots_verdict {
	SLOTS_OK,
	SLOTS_FULL,         /* every slot is taken (root) or every unreserved one (others) */
	SLOTS_UID_FULL,     /* this uid holds its per_uid share already */
};

enum slots_verdict slots_admit(const struct slots_policy *p, uid_t uid, const struct slots_used *u);
const char *slots_verdict_name(enum slots_verdict v);
/* The share kept for root out of n: an eighth, at least 1 when n > 1, at most 64. */
unsigned slots_root_share(unsigned n);

#endif
