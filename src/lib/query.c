// SPDX-License-Identifier: MIT
/*
 * libquiesce: the version 2 filesystem query (docs/protocol.md §2.6).
 *
 * A query that fails in any way (timeout and signal included) ends the connection:
 * its answer could still come and would not be told from later frames.
 *
 * The answer may be preceded by a request the daemon sent before it read our
 * query (only when no request is outstanding): that one is kept for the next
 * quiesce_next_request(), which returns it without reading.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quiesce.h"
#include "common/appfslist.h"
#include "lib/internal.h"

/* Wait for the list; keep one request that comes first. Frame length, or -errno. */
static int
receive_list(struct quiesce *q, uint8_t *buf, size_t cap, uint64_t deadline)
{
	struct appwire_msg m;
	int n;

	for (;;) {
		/* A late answer could not be told from later frames: a query that times
		 * out (or is interrupted) ends the connection. */
		n = quiesce__recv_frame_wait(q->fd, buf, cap, deadline);
		if (n < 0)
			break;
		if ((size_t)n >= APPWIRE_MAGIC_LEN &&
		    memcmp(buf, APPWIRE_FSLIST_MAGIC, APPWIRE_MAGIC_LEN) == 0)
			return n;
		/* Anything else must be a request that crossed our query. */
		if (q->pending || q->stashed || appwire_decode_request(buf, (size_t)n, &m) != APPWIRE_OK) {
			n = -EPROTO;
			break;
		}
		q->stash = m;
		q->stashed = 1;
	}
	quiesce__kill(q, n);
	return n;
}

/* One allocation: the array, then every string after it. */
static struct quiesce_fs *
copy_out(const uint8_t *buf, size_t len, uint32_t count)
{
	struct appwire_fs fs;
	struct quiesce_fs *v;
	size_t off = APPWIRE_FSLIST_HDR, strings = 0, i;
	char *p;

	/* The frame bounds the strings: never more than its own length plus 3 NULs each. */
	strings = len + 3 * (size_t)count + 1;
	v = calloc(1, (size_t)count * sizeof(*v) + strings);
	if (v == NULL)
		return NULL;
	p = (char *)(v + count);
	for (i = 0; i < count; i++) {
		if (appwire_fslist_entry(buf, len, &off, &fs) != APPWIRE_OK) {
			free(v);
			return NULL;
		}
		v[i].major = fs.major;
		v[i].minor = fs.minor;
		v[i].fstype = strcpy(p, fs.fstype);
		p += strlen(p) + 1;
		v[i].source = strcpy(p, fs.source);
		p += strlen(p) + 1;
		v[i].mountpoint = strcpy(p, fs.mountpoint);
		p += strlen(p) + 1;
	}
	return v;
}

int
quiesce_filesystems(struct quiesce *q, struct quiesce_fs **list, size_t *count,
    unsigned int *flags, int timeout_ms)
{
	uint64_t deadline = quiesce__deadline(timeout_ms);
	uint8_t query[APPWIRE_QUERY_SIZE], *buf;
	struct appwire_fslist hdr;
	int n;

	if (q == NULL || list == NULL || count == NULL)
		return -EINVAL;
	*list = NULL;
	*count = 0;
	if (flags != NULL)
		*flags = 0;
	if (q->dead)
		return -ENOTCONN;
	if (q->version < 2)
		return -EOPNOTSUPP;
	appwire_encode_query(query, APPWIRE_QUERY_FILESYSTEMS);
	if ((n = quiesce__send(q->fd, query, sizeof(query), deadline)) < 0) {
		quiesce__kill(q, n);
		return n;
	}
	/* One byte more than the largest list, so that an oversize one shows. */
	if ((buf = malloc(APPWIRE_FSLIST_MAX + 1)) == NULL)
		return -ENOMEM;
	n = receive_list(q, buf, APPWIRE_FSLIST_MAX + 1, deadline);
	if (n >= 0 && appwire_decode_fslist(buf, (size_t)n, &hdr) != APPWIRE_OK) {
		quiesce__kill(q, -EPROTO);
		n = -EPROTO;
	}
	if (n >= 0 && hdr.count > 0 && (*list = copy_out(buf, (size_t)n, hdr.count)) == NULL)
		n = -ENOMEM;
	free(buf);
	if (n < 0)
		return n;
	*count = hdr.count;
	if (flags != NULL)
		*flags = hdr.flags & APPWIRE_FSLIST_F_INCOMPLETE ? QUIESCE_FS_INCOMPLETE : 0;
	return 0;
}

void
quiesce_filesystems_free(struct quiesce_fs *list)
{
	free(list);
}
