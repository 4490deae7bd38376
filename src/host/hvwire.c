// SPDX-License-Identifier: MIT
#include "host/hvwire.h"

#include <string.h>

enum hvwire_err hvwire_decode_request(const void *buf, size_t len, struct hvwire_request *out)
{
	memset(out, 0, sizeof(*out));
	if (len < HVWIRE_MSG_SIZE)
		return HVWIRE_E_SHORT;
	if (len > HVWIRE_MSG_SIZE)
		return HVWIRE_E_LONG;
	memcpy(out->raw, buf, HVWIRE_MSG_SIZE);
	out->op = out->raw[0];
	return HVWIRE_OK;
}

enum hvwire_err hvwire_decode_version(const void *buf, size_t len, uint32_t *version)
{
	*version = 0;
	if (len < HVWIRE_VERSION_SIZE)
		return HVWIRE_E_SHORT;
	if (len > HVWIRE_VERSION_SIZE)
		return HVWIRE_E_LONG;
	/* A __u32 in the guest's byte order, as the kernel wrote it. */
	memcpy(version, buf, HVWIRE_VERSION_SIZE);
	return HVWIRE_OK;
}

void hvwire_encode_register(uint8_t out[HVWIRE_MSG_SIZE])
{
	memset(out, 0, HVWIRE_MSG_SIZE);
	out[0] = HVWIRE_OP_REGISTER1;
}

void hvwire_encode_reply(const struct hvwire_request *req, uint32_t error,
			 uint8_t out[HVWIRE_MSG_SIZE])
{
	/* `int error` shares bytes 0-3 with the operation and reserved[0..2]: the kernel
	 * reads it in the guest's byte order, so copy the integer's bytes as they are. */
	memcpy(out, req->raw, HVWIRE_MSG_SIZE);
	memcpy(out, &error, sizeof(error));
}

const char *hvwire_op_name(unsigned op)
{
	static const char *const names[] = { "CREATE", "DELETE", "HOT_BACKUP", "GET_DM_INFO",
					     "BU_COMPLETE", "FREEZE", "THAW", "AUTO_RECOVER" };
	if (op < sizeof(names) / sizeof(names[0]))
		return names[op];
	if (op == HVWIRE_OP_REGISTER)
		return "REGISTER";
	if (op == HVWIRE_OP_REGISTER1)
		return "REGISTER1";
	return NULL;
}

const char *hvwire_strerror(enum hvwire_err e)
{
	switch (e) {
	case HVWIRE_OK: return "ok";
	case HVWIRE_E_SHORT: return "message too short";
	case HVWIRE_E_LONG: return "message too long";
	}
	return "unknown error";
}
