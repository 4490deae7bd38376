// SPDX-License-Identifier: MIT
#include "fs/leftover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"
#include "fs/mountid.h"
#include "fs/mountinfo.h"

/* One line per filesystem: "<mount id> <major>:<minor> <mountpoint>", the mountpoint
 * escaped as in mountinfo (\040 for a space and so on). */
static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\\')
			fprintf(f, "\\%03o", c);
		else
			fputc(c, f);
	}
}

static void write_plan(FILE *f, void *arg)
{
	const struct fs_plan *plan = arg;
	for (size_t i = 0; i < plan->n; i++) {
		fprintf(f, "%d %u:%u ", plan->v[i].mount_id, plan->v[i].major, plan->v[i].minor);
		put_escaped(f, plan->v[i].mountpoint);
		fputc('\n', f);
	}
}

int leftover_save(const char *path, const struct fs_plan *plan)
{
	return file_replace(path, write_plan, (void *)plan);
}

void leftover_clear(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("removing %s", path);
}

/* One record line: the filesystem it names thawed if it is still the one recorded.
 * Returns 1 if it thawed it. The line (any length: an escaped mountpoint may be four
 * times PATH_MAX) is changed in place. */
static int thaw_line(char *line)
{
	int id, cur, fd, unused = 0, thawed = 0;
	unsigned maj, min;
	int at = -1;

	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "%d %u:%u %n", &id, &maj, &min, &at) != 3 || at < 0 || !line[at] ||
	    strpbrk(line + at, " \t"))
		return 0;
	char *mp = line + at;
	mountinfo_unescape(mp);
	fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0; /* gone: nothing frozen there any more */
	if (fd_mount_id(fd, &cur) == 0 && cur != id) {
		/* Something else is mounted there now; it is not ours to thaw. */
		log_warnx("leftover record names %s, but another mount is there now; skipped", mp);
	} else if (ioctl(fd, FITHAW, &unused) == 0) {
		thawed = 1;
		log_warnx("thawed %s, left frozen by a quiesced that died", mp);
	} else if (errno != EINVAL) {
		log_warn("thawing %s, left frozen by a quiesced that died", mp);
	}
	close(fd);
	return thawed;
}

int leftover_thaw(const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int thawed = 0;

	if (!f)
		return errno == ENOENT ? 0 : -1;
	while (getline(&line, &cap, f) >= 0)
		thawed += thaw_line(line);
	/* Not read to its end (a read error, no memory for a line): the record stays,
	 * so that what it names after that point is thawed on a later try. */
	bool complete = feof(f);
	free(line);
	fclose(f);
	if (!complete)
		return -1;
	leftover_clear(path);
	return thawed;
}
