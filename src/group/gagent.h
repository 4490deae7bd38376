// SPDX-License-Identifier: MIT
/* quiesce-group: what guest-info says about a guest's agent (pure, unit-tested). */
#ifndef QUIESCE_GAGENT_H
#define QUIESCE_GAGENT_H

#include "group/gmachine.h"

/* reply: the agent's whole answer, {"return": {"version": ..., "supported_commands":
 * [...]}}. Fills r->agent, r->version and r->msg. 0 if the agent can freeze, -1 (with
 * the reason in r->msg) if not or if the answer makes no sense. */
int gagent_classify(const char *reply, struct gres *r);

#endif
