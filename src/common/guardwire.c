// SPDX-License-Identifier: MIT
#include "common/guardwire.h"

#include <string.h>

/* Layout: u32 magic, u32 type, u64 id, u64 value, char path[GUARD_PATH_MAX] (NUL
 * padded; no NUL needed when full). All in host byte order: both ends are one host. */

void guardwire_encode(const struct guardwire_msg *m, unsigned char buf[GUARD_MSG_SIZE])
{
	uint32_t magic = GUARD_MAGIC;
	size_t n = strnlen(m->path, GUARD_PATH_MAX);

	memset(buf, 0, GUARD_MSG_SIZE);
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &m->type, 4);
	memcpy(buf + 8, &m->id, 8);
	memcpy(buf + 16, &m->value, 8);
	memcpy(buf + 24, m->path, n);
}

int guardwire_decode(const unsigned char *buf, size_t len, struct guardwire_msg *m)
{
	uint32_t magic;

	if (len != GUARD_MSG_SIZE)
		return -1;
	memcpy(&magic, buf, 4);
	if (magic != GUARD_MAGIC)
		return -1;
	memset(m, 0, sizeof(*m));
	memcpy(&m->type, buf + 4, 4);
	memcpy(&m->id, buf + 8, 8);
	memcpy(&m->value, buf + 16, 8);
	if (m->type < GUARD_ARM || m->type > GUARD_EXPIRED)
		return -1;
	memcpy(m->path, buf + 24, GUARD_PATH_MAX);
	m->path[GUARD_PATH_MAX] = '\0';
	return 0;
}
