// SPDX-License-Identifier: MIT
/*
 * appfslist: the v2 answer to a filesystem query (docs/protocol.md §2.6), as pure
 * functions: the filesystems quiesced would freeze now, each with its device
 * number, type, source and mountpoint, so an app can check that its directories
 * are covered. No I/O, no allocation; decoding any byte string is safe.
 *
 * Layout (native byte order): a 16-byte header
 *   "QAPF", u16 version (2), u16 flags, u32 count, u32 reserved (0)
 * then count entries, each a 16-byte head
 *   u32 major, u32 minor, u16 type_len, u16 source_len, u16 path_len, u16 reserved (0)
 * followed by that many bytes of type, source and mountpoint (no NUL bytes, no
 * terminator). The frame ends exactly after the last entry.
 */
#ifndef QUIESCE_APPFSLIST_H
#define QUIESCE_APPFSLIST_H

#include <stddef.h>
#include <stdint.h>

#include "common/appwire.h"

#define APPWIRE_FSLIST_MAGIC	"QAPF"
#define APPWIRE_FSLIST_HDR	16
#define APPWIRE_FSLIST_ENTRY_HDR 16
#define APPWIRE_FSLIST_MAX	65536	/* the largest frame; receive with a bigger buffer */
#define APPWIRE_FSLIST_F_INCOMPLETE 0x0001u	/* some left out (too many, names too long) or the plan failed */

#define APPWIRE_FS_TYPE_MAX	31	/* fstype: 1..31 bytes */
#define APPWIRE_FS_PATH_MAX	1023	/* source: 0..1023 bytes; mountpoint: 1..1023, starts with / */

struct appwire_fs {
	uint32_t major, minor;			/* the superblock's device number */
	char fstype[APPWIRE_FS_TYPE_MAX + 1];	/* NUL-terminated */
	char source[APPWIRE_FS_PATH_MAX + 1];
	char mountpoint[APPWIRE_FS_PATH_MAX + 1];
};

struct appwire_fslist {
	uint16_t version;
	uint16_t flags;		/* APPWIRE_FSLIST_F_* */
	uint32_t count;
};

/* Build: begin, add each filesystem (-1 if it does not fit in cap or its strings
 * break the rules; the frame is unchanged then), end. */
void appwire_fslist_begin(uint8_t *buf, size_t cap, size_t *len);
int appwire_fslist_add(uint8_t *buf, size_t cap, size_t *len, uint32_t *count,
    const struct appwire_fs *fs);
void appwire_fslist_end(uint8_t *buf, uint16_t flags, uint32_t count);

/* Check a whole frame (header and every entry). */
enum appwire_err appwire_decode_fslist(const void *buf, size_t len, struct appwire_fslist *out);
/* The entry at *off (start with APPWIRE_FSLIST_HDR) of a frame that decoded; moves *off on. */
enum appwire_err appwire_fslist_entry(const void *buf, size_t len, size_t *off,
    struct appwire_fs *out);

#endif
