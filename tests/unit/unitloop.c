// SPDX-License-Identifier: MIT
/* Running the event loop until something holds (unitguard.h). */
#include <stdbool.h>

#include "common/loop.h"
#include "unitguard.h"

struct until {
	bool (*cond)(void *arg);
	void *arg;
	struct loop_timer poll, give_up;
};

static void on_poll(struct loop *loop, void *p)
{
	struct until *u = p;
	if (u->cond(u->arg))
		loop_stop(loop, 0);
	else
		loop_timer_arm(loop, &u->poll, 1, on_poll, u);
}

static void on_give_up(struct loop *loop, void *p)
{
	(void)p;
	loop_stop(loop, 1);
}

bool unit_run_until(struct loop *loop, bool (*cond)(void *arg), void *arg, unsigned limit_ms)
{
	struct until u = { .cond = cond, .arg = arg };
	loop_timer_arm(loop, &u.poll, 0, on_poll, &u);
	loop_timer_arm(loop, &u.give_up, limit_ms, on_give_up, &u);
	loop_run(loop);
	loop_timer_disarm(loop, &u.poll);
	loop_timer_disarm(loop, &u.give_up);
	return cond(arg);
}
