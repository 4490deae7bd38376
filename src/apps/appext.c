// SPDX-License-Identifier: MIT
/* The app registry's protocol version 2 parts: details and the filesystem query. */
#include "apps/appext.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/appfslist.h"
#include "common/util.h"
#include "common/log.h"

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

int appext_answer_filesystems(int fd, const struct appext_fs_source *src, const char *name,
			      uint32_t id)
{
	uint8_t *buf = malloc(APPWIRE_FSLIST_MAX);
	char msg[256] = "the filesystem stage is not set up";
	struct appwire_fs *v = NULL;
	bool incomplete = false;
	uint16_t flags = 0;
	uint32_t count = 0;
	size_t len, n = 0;
	ssize_t sent;
	int err;

	if (!buf)
		return -1;
	appwire_fslist_begin(buf, APPWIRE_FSLIST_MAX, &len);
	if (src && src->list && src->list(src->arg, &v, &n, &incomplete, msg, sizeof(msg)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (appwire_fslist_add(buf, APPWIRE_FSLIST_MAX, &len, &count, &v[i]) < 0)
				incomplete = true;
		free(v);
	} else {
		log_warnx("app %s (id %u): filesystem query: %s", name, id, msg);
		incomplete = true;
	}
	if (incomplete)
		flags |= APPWIRE_FSLIST_F_INCOMPLETE;
	appwire_fslist_end(buf, flags, count);
	log_debug("app %s (id %u): filesystem query: %u filesystems%s", name, id, count,
		  flags ? " (incomplete)" : "");
	sent = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	err = errno;
	free(buf);
	errno = err;
	return sent == (ssize_t)len ? 0 : -1;
}
