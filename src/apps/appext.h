// SPDX-License-Identifier: MIT
/* The app registry's protocol version 2 parts (docs/protocol.md §2.5, §2.6): the
 * detail an app sends with its answer, and the answer to its filesystem query.
 * Kept apart from registry.c, which holds the connection states. */
#ifndef QUIESCE_APPS_APPEXT_H
#define QUIESCE_APPS_APPEXT_H

#include <stdint.h>

#include "common/appwire.h"

struct fs_stage;

/* An answer's detail ("" for none) becomes the app's last detail and, when the answer
 * counts for the phase (member_detail not NULL), the phase report's; logged. */
void appext_note_detail(const char *name, uint32_t id, uint32_t opt, const char *detail,
			char last_detail[APPWIRE_DETAIL_FIELD], char *member_detail);

/* Send the filesystem list on fd: the candidates of fs's plan now (fs NULL or a plan
 * that fails: an empty list marked incomplete). 0, or -1 with errno (the app is gone
 * or does not read). */
int appext_answer_filesystems(int fd, struct fs_stage *fs, const char *name, uint32_t id);

#endif
