// SPDX-License-Identifier: MIT
#include "common/slots.h"

enum slots_verdict slots_admit(const struct slots_policy *p, uid_t uid, const struct slots_used *u)
{
	unsigned reserved = p->root_reserved < p->total ? p->root_reserved : p->total;

	if (u->all >= p->total)
		return SLOTS_FULL;
	if (uid == 0)
		return SLOTS_OK;
	/* Checked before the total so that a user at its cap hears that, not "full". */
	if (p->per_uid && u->this_uid >= p->per_uid)
		return SLOTS_UID_FULL;
	if (u->others >= p->total - reserved)
		return SLOTS_FULL;
	return SLOTS_OK;
}

const char *slots_verdict_name(enum slots_verdict v)
{
	switch (v) {
	case SLOTS_OK: return "ok";
	case SLOTS_FULL: return "full";
	case SLOTS_UID_FULL: return "this user's share is taken";
	}
	return "?";
}

unsigned slots_root_share(unsigned n)
{
	unsigned share = n / 8;
	if (share == 0 && n > 1)
		share = 1;
	return share > 64 ? 64 : share;
}
