// SPDX-License-Identifier: MIT
/* guest-info answers for quiesce-group's unit tests (test_gagent, test_gvirt,
 * test_gmain): one entry of supported_commands, quiesced's eight commands, and the
 * answer around a list. */
#ifndef QUIESCE_TEST_GINFO_H
#define QUIESCE_TEST_GINFO_H

#define C(name) "{\"enabled\":true,\"name\":\"" name "\"}"
#define C_OFF(name) "{\"enabled\":false,\"name\":\"" name "\"}"
#define QUIESCED8                                                                           \
	C("guest-sync-delimited") "," C("guest-sync") "," C("guest-ping") "," C("guest-info") "," \
	C("guest-fsfreeze-status") "," C("guest-fsfreeze-freeze") ","                          \
	C("guest-fsfreeze-freeze-list") "," C("guest-fsfreeze-thaw")
/* The answer of an agent of version 7.2.15 with the commands list (entries, comma-joined). */
#define GINFO(list) "{\"return\":{\"version\":\"7.2.15\",\"supported_commands\":[" list "]}}"

#endif
