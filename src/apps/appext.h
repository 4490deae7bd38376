// SPDX-License-Identifier: MIT
/* The app registry's protocol version 2 parts (docs/protocol.md §2.5, §2.6): the
 * detail an app sends with its answer, and the answer to its filesystem query.
 * Kept apart from appconn.c, which holds the connection states. */
#ifndef QUIESCE_APPS_APPEXT_H
#define QUIESCE_APPS_APPEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/appwire.h"
#include "common/appfslist.h"

/* The filesystems quiesced would freeze now, for the filesystem query. list fills *v
 * (malloc'd, *n entries; one too long for the frame is left out and *incomplete set)
 * and returns 0, or -1 with a reason in msg. daemon/main.c provides it from the
 * filesystems stage's plan: the participants do not reach into one another. */
struct appext_fs_source {
	int (*list)(void *arg, struct appwire_fs **v, size_t *n, bool *incomplete, char *msg,
		    size_t msglen);
	void *arg;
};

/* An answer's detail ("" for none) becomes the app's last detail and, when the answer
 * counts for the phase (member_detail not NULL), the phase report's; logged. */
void appext_note_detail(const char *name, uint32_t id, uint32_t opt, const char *detail,
			char last_detail[APPWIRE_DETAIL_FIELD], char *member_detail);

/* Send the filesystem list on fd: src's list now (no source, or a list that fails: an
 * empty list marked incomplete). 0, or -1 with errno (the app is gone or does not
 * read). */
int appext_answer_filesystems(int fd, const struct appext_fs_source *src, const char *name,
			      uint32_t id);

#endif
