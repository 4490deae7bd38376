// SPDX-License-Identifier: MIT
/* Which hooks got `freeze`, recorded in the run dir (RUN-DIR/hooks.list, a tmpfs).
 *
 * Written before each freeze hook is started (and once more when the freeze phase
 * ends, with how each ended), removed once their thaw phase is over. If quiesced dies
 * in between, the thaw guardian thaws the filesystems but nobody tells the hooks; the
 * next quiesced finds the record at start and runs their `thaw`.
 *
 *   dir <the hook directory>
 *   hook <freeze result> <name>
 *
 * one hook a line, in the order their freeze ran; every field escaped as \ooo where it
 * has a byte below '!', a backslash or DEL (a name may hold a space or a newline). */
#ifndef QUIESCE_APPS_HOOKRECORD_H
#define QUIESCE_APPS_HOOKRECORD_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#define HOOKRECORD_MAX 256
/* Larger is not a record we wrote: 256 names of 255 bytes, each byte escaped. */
#define HOOKRECORD_MAX_BYTES (HOOKRECORD_MAX * (NAME_MAX * 4 + 64) + PATH_MAX * 4 + 16)

struct hookrecord_entry {
	char name[NAME_MAX + 1];
	char result[32];
};

struct hookrecord {
	char dir[PATH_MAX];
	struct hookrecord_entry *v;
	size_t n;
};

/* Parse len bytes. 0, or -1 (rec is then empty) with errno EINVAL if it is not a
 * well-formed record, ENOMEM if memory ran out. */
int hookrecord_parse(const char *buf, size_t len, struct hookrecord *rec);
void hookrecord_free(struct hookrecord *rec);

/* The record's text, to f. */
void hookrecord_write(FILE *f, const char *dir, const char *const *names,
		      const char *const *results, size_t n);
/* Write dir and the n hooks atomically to path. 0, or -1 with errno. */
int hookrecord_save(const char *path, const char *dir, const char *const *names,
		    const char *const *results, size_t n);
/* 1 with rec filled, 0 if there is no record, -1 with errno (EINVAL: malformed,
 * ENOMEM). */
int hookrecord_load(const char *path, struct hookrecord *rec);

#endif
