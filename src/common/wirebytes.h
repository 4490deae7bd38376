// SPDX-License-Identifier: MIT
/* Native-byte-order field access at fixed offsets, for the app socket's wire formats
 * (appwire.c, appfslist.c). memcpy: no alignment is assumed. */
#ifndef QUIESCE_WIREBYTES_H
#define QUIESCE_WIREBYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t
get16(const uint8_t *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static inline uint32_t
get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static inline uint64_t
get64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static inline void
put16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static inline void
put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static inline void
put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

#endif
