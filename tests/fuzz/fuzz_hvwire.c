// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the /dev/vmbus/hv_vss messages (src/host/hvwire.c).
 *
 * Whatever the kernel (or hvsim, or a broken peer) sends, the decoders must not
 * crash, must accept exactly the sizes the protocol has (12 bytes for a request, 4
 * for the registration answer), and a reply must be the request with only bytes 0-3
 * replaced: the kernel reads nothing else, but hv_vss_daemon echoes the rest and so
 * must we.
 *
 * Built as every fuzz target is (mk/fuzz.mk): with libFuzzer (make fuzz-hvwire), and
 * with tests/fuzz/replay.c as a TAP program that replays tests/fuzz/corpus/hvwire/ in
 * every test run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/hvwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvwire_request req;
	uint8_t out[HVWIRE_MSG_SIZE], reg[HVWIRE_MSG_SIZE];
	uint32_t version, error;
	enum hvwire_err e;

	e = hvwire_decode_request(data, size, &req);
	check(hvwire_strerror(e) != NULL);
	check((e == HVWIRE_OK) == (size == HVWIRE_MSG_SIZE));
	check(e == HVWIRE_OK || e == (size < HVWIRE_MSG_SIZE ? HVWIRE_E_SHORT : HVWIRE_E_LONG));
	if (e == HVWIRE_OK) {
		check(req.op == data[0]);
		check(memcmp(req.raw, data, HVWIRE_MSG_SIZE) == 0);
		/* Both answers, and an error taken from the input itself. */
		memcpy(&error, data + 8, sizeof(error));
		for (int i = 0; i < 3; i++) {
			uint32_t v = i == 0 ? HVWIRE_S_OK : i == 1 ? HVWIRE_E_FAIL : error;
			uint32_t got;
			hvwire_encode_reply(&req, v, out);
			memcpy(&got, out, sizeof(got));
			check(got == v);
			check(memcmp(out + 4, data + 4, HVWIRE_MSG_SIZE - 4) == 0);
		}
		(void)hvwire_op_name(req.op);
	} else {
		check(req.op == 0);
	}

	e = hvwire_decode_version(data, size, &version);
	check((e == HVWIRE_OK) == (size == HVWIRE_VERSION_SIZE));
	if (e == HVWIRE_OK)
		check(memcmp(&version, data, sizeof(version)) == 0);
	else
		check(version == 0);

	hvwire_encode_register(reg);
	check(reg[0] == HVWIRE_OP_REGISTER1);
	for (size_t i = 1; i < sizeof(reg); i++)
		check(reg[i] == 0);
	if (size)
		(void)hvwire_op_name(data[0]);
	return 0;
}
