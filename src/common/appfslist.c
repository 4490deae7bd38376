// SPDX-License-Identifier: MIT
/*
 * appfslist: encode and decode the v2 filesystem list (see appfslist.h). Every read
 * is bounds-checked against the frame's length first.
 */
#include <string.h>

#include "common/wirebytes.h"
#include "common/appfslist.h"

#define OFF_MAGIC	0
#define OFF_VERSION	4
#define OFF_FLAGS	6
#define OFF_COUNT	8
#define OFF_RESERVED	12

#define E_MAJOR		0
#define E_MINOR		4
#define E_TYPE_LEN	8
#define E_SOURCE_LEN	10
#define E_PATH_LEN	12
#define E_RESERVED	14

#define FSLIST_VERSION	2

void
appwire_fslist_begin(uint8_t *buf, size_t cap, size_t *len)
{
	*len = 0;
	if (cap < APPWIRE_FSLIST_HDR)
		return;
	memset(buf, 0, APPWIRE_FSLIST_HDR);
	memcpy(buf + OFF_MAGIC, APPWIRE_FSLIST_MAGIC, APPWIRE_MAGIC_LEN);
	put16(buf, OFF_VERSION, FSLIST_VERSION);
	*len = APPWIRE_FSLIST_HDR;
}

static int
strings_valid(size_t tl, size_t sl, size_t pl, const char *path)
{
	return tl >= 1 && tl <= APPWIRE_FS_TYPE_MAX && sl <= APPWIRE_FS_PATH_MAX &&
	    pl >= 1 && pl <= APPWIRE_FS_PATH_MAX && path[0] == '/';
}

int
appwire_fslist_add(uint8_t *buf, size_t cap, size_t *len, uint32_t *count,
    const struct appwire_fs *fs)
{
	size_t tl = strnlen(fs->fstype, sizeof(fs->fstype));
	size_t sl = strnlen(fs->source, sizeof(fs->source));
	size_t pl = strnlen(fs->mountpoint, sizeof(fs->mountpoint));
	size_t need = APPWIRE_FSLIST_ENTRY_HDR + tl + sl + pl;
	uint8_t *e;

	if (cap > APPWIRE_FSLIST_MAX)
		cap = APPWIRE_FSLIST_MAX;
	if (*len < APPWIRE_FSLIST_HDR || *len > cap || !strings_valid(tl, sl, pl, fs->mountpoint) ||
	    need > cap - *len)
		return -1;
	e = buf + *len;
	put32(e, E_MAJOR, fs->major);
	put32(e, E_MINOR, fs->minor);
	put16(e, E_TYPE_LEN, (uint16_t)tl);
	put16(e, E_SOURCE_LEN, (uint16_t)sl);
	put16(e, E_PATH_LEN, (uint16_t)pl);
	put16(e, E_RESERVED, 0);
	e += APPWIRE_FSLIST_ENTRY_HDR;
	memcpy(e, fs->fstype, tl);
	memcpy(e + tl, fs->source, sl);
	memcpy(e + tl + sl, fs->mountpoint, pl);
	*len += need;
	(*count)++;
	return 0;
}

void
appwire_fslist_end(uint8_t *buf, uint16_t flags, uint32_t count)
{
	put16(buf, OFF_FLAGS, flags);
	put32(buf, OFF_COUNT, count);
}

enum appwire_err
appwire_fslist_entry(const void *buf, size_t len, size_t *off, struct appwire_fs *out)
{
	const uint8_t *p = buf, *e;
	size_t tl, sl, pl;

	memset(out, 0, sizeof(*out));
	if (*off > len || len - *off < APPWIRE_FSLIST_ENTRY_HDR)
		return APPWIRE_E_SIZE;
	e = p + *off;
	tl = get16(e, E_TYPE_LEN);
	sl = get16(e, E_SOURCE_LEN);
	pl = get16(e, E_PATH_LEN);
	if (get16(e, E_RESERVED) != 0)
		return APPWIRE_E_RESERVED;
	if (len - *off - APPWIRE_FSLIST_ENTRY_HDR < tl + sl + pl)
		return APPWIRE_E_SIZE;
	e += APPWIRE_FSLIST_ENTRY_HDR;
	if (tl < 1 || tl > APPWIRE_FS_TYPE_MAX || sl > APPWIRE_FS_PATH_MAX || pl < 1 ||
	    pl > APPWIRE_FS_PATH_MAX || e[tl + sl] != '/' ||
	    memchr(e, 0, tl + sl + pl) != NULL)
		return APPWIRE_E_FIELD;
	out->major = get32(p + *off, E_MAJOR);
	out->minor = get32(p + *off, E_MINOR);
	memcpy(out->fstype, e, tl);
	memcpy(out->source, e + tl, sl);
	memcpy(out->mountpoint, e + tl + sl, pl);
	*off += APPWIRE_FSLIST_ENTRY_HDR + tl + sl + pl;
	return APPWIRE_OK;
}

enum appwire_err
appwire_decode_fslist(const void *buf, size_t len, struct appwire_fslist *out)
{
	const uint8_t *p = buf;
	struct appwire_fs fs;
	enum appwire_err e;
	size_t off = APPWIRE_FSLIST_HDR;
	uint32_t i;

	memset(out, 0, sizeof(*out));
	if (len < APPWIRE_FSLIST_HDR || len > APPWIRE_FSLIST_MAX)
		return APPWIRE_E_SIZE;
	if (memcmp(p + OFF_MAGIC, APPWIRE_FSLIST_MAGIC, APPWIRE_MAGIC_LEN) != 0)
		return APPWIRE_E_MAGIC;
	out->version = get16(p, OFF_VERSION);
	if (out->version != FSLIST_VERSION)
		return APPWIRE_E_VERSION;
	out->flags = get16(p, OFF_FLAGS);
	out->count = get32(p, OFF_COUNT);
	if (get32(p, OFF_RESERVED) != 0)
		return APPWIRE_E_RESERVED;
	if (out->flags & ~APPWIRE_FSLIST_F_INCOMPLETE)
		return APPWIRE_E_FLAGS;
	/* Each entry takes at least 18 bytes, so count is bounded by len before the walk. */
	for (i = 0; i < out->count; i++)
		if ((e = appwire_fslist_entry(buf, len, &off, &fs)) != APPWIRE_OK)
			return e;
	return off == len ? APPWIRE_OK : APPWIRE_E_SIZE;
}
