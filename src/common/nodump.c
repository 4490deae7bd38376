// SPDX-License-Identifier: MIT
#include "common/nodump.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include "common/log.h"

static bool active;
static struct rlimit saved_core;
static int saved_dumpable = -1;

void nodump_set(bool on)
{
	struct rlimit none;

	if (on == active)
		return;
	if (on) {
		if (getrlimit(RLIMIT_CORE, &saved_core) < 0) {
			log_warn("getrlimit(RLIMIT_CORE)");
			return;
		}
		none.rlim_cur = 0;
		none.rlim_max = saved_core.rlim_max;
		if (setrlimit(RLIMIT_CORE, &none) < 0)
			log_warn("no core dumps while frozen: setrlimit(RLIMIT_CORE)");
		/* Only 1 is toggled: 2 (suid_dumpable) cannot be set back with prctl. */
		saved_dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
		if (saved_dumpable == 1 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			log_warn("no core dumps while frozen: prctl(PR_SET_DUMPABLE)");
		active = true;
		return;
	}
	if (setrlimit(RLIMIT_CORE, &saved_core) < 0)
		log_warn("restoring RLIMIT_CORE after the thaw");
	if (saved_dumpable == 1 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		log_warn("restoring PR_SET_DUMPABLE after the thaw");
	active = false;
}

void nodump_child(void)
{
	if (active)
		(void)setrlimit(RLIMIT_CORE, &saved_core);
}
