// SPDX-License-Identifier: MIT
#include "daemon/guardpath.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quiesce-paths.h"

char *guardpath_find(const char *self_exe, const char *installed)
{
	const char *slash = self_exe ? strrchr(self_exe, '/') : NULL;
	char *beside;
	/* Beside quiesced first: a build tree's quiesced must run that tree's guardian,
	 * not an older installed one. */
	if (slash) {
		if (asprintf(&beside, "%.*s/quiesce-guardian", (int)(slash - self_exe),
			     self_exe) < 0)
			return NULL;
		if (access(beside, X_OK) == 0)
			return beside;
		free(beside);
	}
	return strdup(installed);
}

char *guardpath_default(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return guardpath_find(NULL, QUIESCE_GUARDIAN_PATH);
	self[n] = '\0';
	return guardpath_find(self, QUIESCE_GUARDIAN_PATH);
}
