// SPDX-License-Identifier: MIT
/* quiesce-group's report: text for people, JSON (--json) for programs. */
#ifndef QUIESCE_GREPORT_H
#define QUIESCE_GREPORT_H

#include <stdio.h>

#include "group/gmachine.h"

struct greport_info {
	const char *mode;      /* "snapshot", "command", "check", "thaw" */
	const char *snapshot;  /* its name, in snapshot mode */
};

void greport_text(FILE *f, const struct grun *r, const struct greport_info *info);
void greport_json(FILE *f, const struct grun *r, const struct greport_info *info);

#endif
