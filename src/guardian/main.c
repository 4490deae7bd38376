// SPDX-License-Identifier: MIT
/* quiesce-guardian: the thaw guardian. All of it is in guardian.c, so that its unit
 * test (tests/unit/test_guardian.c) can run it with FITHAW faked. */
#include "guardian/guardian.h"

int main(int argc, char **argv)
{
	return guardian_main(argc, argv);
}
