// SPDX-License-Identifier: MIT
/* The lease: how long a freeze may hold writes before the engine thaws on its own,
 * and the news of such an early thaw (the lease passed, the thaw guardian died or
 * hit its deadline), kept for the THAW of the caller whose freeze it was. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/util.h"
#include "engine/engine_int.h"

static const struct txn_caller by_lease = { "lease" };

void engine_note_early_thaw(struct engine *e, const char *fmt, ...)
{
	va_list ap;
	e->lease_expired = true;
	e->lease_expired_at_wall = wall_ms();
	/* Called while the freeze's request is still the current one. */
	e->early_caller = e->caller;
	va_start(ap, fmt);
	vsnprintf(e->early_thaw, sizeof(e->early_thaw), fmt, ap);
	va_end(ap);
}

static void on_lease(struct loop *loop, void *arg)
{
	struct engine *e = arg;
	(void)loop;
	if (e->state != TXN_FROZEN)
		return;
	log_warnx("the lease of %.1f s passed with no thaw: thawing on our own",
		  (double)e->lease_ms / 1000.0);
	engine_note_early_thaw(e, "the lease of %.1f s expired", (double)e->lease_ms / 1000.0);
	engine_start_thaw(e, &by_lease, false, NULL, NULL);
}

void engine_hold(struct engine *e)
{
	e->owner = e->req.owner;
	/* Before the state change: on_state passes the lease to the thaw guardian. */
	e->lease_ms = e->req.lease_ms ? e->req.lease_ms : e->cfg.lease_ms;
	engine_set_state(e, TXN_FROZEN);
	e->frozen_at = now_ms();
	e->frozen_at_wall = wall_ms();
	loop_timer_arm(e->loop, &e->lease, e->lease_ms, on_lease, e);
}

bool engine_tell_early_thaw(struct engine *e, const struct txn_request *req, txn_done_fn done,
			    void *arg)
{
	char when[64];
	time_t t;
	struct tm tm;

	/* The caller that froze is owed the news; another one's thaw of nothing is
	 * just that, and leaves the news for the owner. */
	if (!e->lease_expired || !req->caller || req->caller != e->early_caller)
		return false;
	t = (time_t)(e->lease_expired_at_wall / 1000);
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	e->lease_expired = false;
	engine_reply(done, arg, TXN_THAW, TXN_E_LEASE, 0, NULL,
		     "%s at %s and quiesced thawed on its own: writes were not held "
		     "until this thaw", e->early_thaw, when);
	return true;
}
