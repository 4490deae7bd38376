// SPDX-License-Identifier: MIT
/* Native-byte-order field access at fixed offsets, for the app socket's wire formats
 * (appwire.c, appfslist.c). memcpy: no alignment is assumed. */
#ifndef QUIESCE_WIREBYTES_H
#define QUIESCE_WIREBYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* getN(p, off) and putN(p, off, v) for N = 16, 32, 64. */
#define WIREBYTES(bits)                                                                  \
	static inline uint##bits##_t get##bits(const uint8_t *p, size_t off)            \
	{                                                                                \
		uint##bits##_t v;                                                        \
		memcpy(&v, p + off, sizeof(v));                                          \
		return v;                                                                \
	}                                                                                \
	static inline void put##bits(uint8_t *p, size_t off, uint##bits##_t v)          \
	{                                                                                \
		memcpy(p + off, &v, sizeof(v));                                          \
	}

WIREBYTES(16)
WIREBYTES(32)
WIREBYTES(64)

#endif
