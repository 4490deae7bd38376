// SPDX-License-Identifier: MIT
/* The app registry's protocol version 2 parts: details and the filesystem query. */
#include "apps/appext.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/appfslist.h"
#include "common/util.h"
#include "daemon/log.h"
#include "fs/fs_stage.h"
#include "fs/policy.h"

void appext_note_detail(const char *name, uint32_t id, uint32_t opt, const char *detail,
			char last_detail[APPWIRE_DETAIL_FIELD], char *member_detail)
{
	str_copy(last_detail, detail, APPWIRE_DETAIL_FIELD);
	if (member_detail)
		str_copy(member_detail, detail, APPWIRE_DETAIL_FIELD);
	/* The detail is printable ASCII (appwire checked it): safe in a log line. */
	if (detail[0])
		log_info("app %s (id %u): %s: %s", name, id, appwire_op_name(opt), detail);
}

/* One candidate into the frame; a name too long for the frame marks it incomplete. */
static void add_candidate(uint8_t *buf, size_t *len, uint32_t *count, uint16_t *flags,
			  const struct fs_candidate *c)
{
	struct appwire_fs f;

	memset(&f, 0, sizeof(f));
	f.major = c->major;
	f.minor = c->minor;
	if (strlen(c->fstype) > APPWIRE_FS_TYPE_MAX || strlen(c->mountpoint) > APPWIRE_FS_PATH_MAX ||
	    strlen(c->source) > APPWIRE_FS_PATH_MAX) {
		*flags |= APPWIRE_FSLIST_F_INCOMPLETE;
		return;
	}
	str_copy(f.fstype, c->fstype, sizeof(f.fstype));
	str_copy(f.source, c->source, sizeof(f.source));
	str_copy(f.mountpoint, c->mountpoint, sizeof(f.mountpoint));
	if (appwire_fslist_add(buf, APPWIRE_FSLIST_MAX, len, count, &f) < 0)
		*flags |= APPWIRE_FSLIST_F_INCOMPLETE;
}

int appext_answer_filesystems(int fd, struct fs_stage *fs, const char *name, uint32_t id)
{
	struct fs_plan plan;
	uint8_t *buf = malloc(APPWIRE_FSLIST_MAX);
	char msg[256] = "the filesystem stage is not set up";
	uint16_t flags = 0;
	uint32_t count = 0;
	size_t len;
	ssize_t n;
	int err;

	if (!buf)
		return -1;
	memset(&plan, 0, sizeof(plan));
	appwire_fslist_begin(buf, APPWIRE_FSLIST_MAX, &len);
	if (fs && fs_stage_plan(fs, &plan, msg, sizeof(msg)) == 0) {
		for (size_t i = 0; i < plan.n; i++)
			add_candidate(buf, &len, &count, &flags, &plan.v[i]);
		fs_plan_free(&plan);
	} else {
		log_warnx("app %s (id %u): filesystem query: %s", name, id, msg);
		flags |= APPWIRE_FSLIST_F_INCOMPLETE;
	}
	appwire_fslist_end(buf, flags, count);
	log_debug("app %s (id %u): filesystem query: %u filesystems%s", name, id, count,
		  flags ? " (incomplete)" : "");
	n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	err = errno;
	free(buf);
	errno = err;
	return n == (ssize_t)len ? 0 : -1;
}
