// SPDX-License-Identifier: MIT
#include "apps/admit.h"

#include <string.h>

void admit_init(struct admit *a, unsigned max_apps, unsigned rate, uint64_t now_ms)
{
	memset(a, 0, sizeof(*a));
	a->pending_policy = (struct slots_policy){
		.total = ADMIT_PENDING,
		.root_reserved = ADMIT_PENDING_ROOT,
		.per_uid = ADMIT_PENDING_PER_UID,
	};
	a->apps_policy = (struct slots_policy){
		.total = max_apps,
		.root_reserved = slots_root_share(max_apps),
	};
	a->rate = rate;
	/* A boot with every app starting at once is fine, a reconnect loop is not. */
	a->burst = max_apps > rate ? max_apps : rate;
	for (int i = 0; i < 2; i++) {
		a->tokens[i] = a->burst;
		a->tokens_at_ms[i] = now_ms;
	}
}

static unsigned *uid_count(struct admit *a, uid_t uid, bool add)
{
	unsigned i, free_slot = ADMIT_PENDING;
	for (i = 0; i < ADMIT_PENDING; i++) {
		if (a->per_uid[i].n && a->per_uid[i].uid == uid)
			return &a->per_uid[i].n;
		if (!a->per_uid[i].n && free_slot == ADMIT_PENDING)
			free_slot = i;
	}
	if (!add || free_slot == ADMIT_PENDING)
		return NULL;
	a->per_uid[free_slot].uid = uid;
	return &a->per_uid[free_slot].n;
}

enum slots_verdict admit_connect(struct admit *a, uid_t uid)
{
	unsigned *mine = uid ? uid_count(a, uid, false) : NULL;
	struct slots_used u = { .all = a->pending, .others = a->pending_others,
				.this_uid = mine ? *mine : 0 };
	enum slots_verdict v = slots_admit(&a->pending_policy, uid, &u);

	if (v != SLOTS_OK)
		return v;
	if (uid) {
		/* Never NULL: fewer than ADMIT_PENDING are pending, so a slot is free. */
		mine = uid_count(a, uid, true);
		if (!mine)
			return SLOTS_FULL;
		++*mine;
		a->pending_others++;
	}
	a->pending++;
	return SLOTS_OK;
}

void admit_pending_done(struct admit *a, uid_t uid)
{
	if (uid) {
		unsigned *mine = uid_count(a, uid, false);
		if (mine)
			--*mine;
		a->pending_others--;
	}
	a->pending--;
}

enum slots_verdict admit_may_register(const struct admit *a, uid_t uid)
{
	struct slots_used u = { .all = a->apps, .others = a->apps_others };
	return slots_admit(&a->apps_policy, uid, &u);
}

void admit_registered(struct admit *a, uid_t uid)
{
	a->apps++;
	a->apps_others += uid != 0;
}

void admit_unregister(struct admit *a, uid_t uid)
{
	a->apps--;
	a->apps_others -= uid != 0;
}

bool admit_token(struct admit *a, uid_t uid, uint64_t now_ms)
{
	int i = uid != 0;
	if (!a->rate)
		return true;
	a->tokens[i] += (double)(now_ms - a->tokens_at_ms[i]) * a->rate / 1000.0;
	a->tokens_at_ms[i] = now_ms;
	if (a->tokens[i] > a->burst)
		a->tokens[i] = a->burst;
	if (a->tokens[i] < 1.0)
		return false;
	a->tokens[i] -= 1.0;
	return true;
}
