// SPDX-License-Identifier: MIT
/* The messages of /dev/vmbus/hv_vss, as pure functions (no I/O), so they can be
 * unit-tested and fuzzed.
 *
 * Between the guest kernel (drivers/hv/hv_snapshot.c) and its daemon everything is a
 * packed 12-byte struct hv_vss_msg (include/uapi/linux/hyperv.h):
 *
 *   offset 0  u8 operation, u8 reserved[7]     -- in a request
 *   offset 0  int error                        -- in a reply (a union with the above)
 *   offset 8  u32 flags                        -- vss_cf / dm_info, 0 from the kernel
 *
 * except the kernel's answer to the registration, a 4-byte u32 (VSS_OP_REGISTER1).
 * A reply is the request echoed with `error` written over bytes 0-3, in the guest's
 * byte order (the kernel reads it as an int), exactly as hv_vss_daemon does. */
#ifndef QUIESCE_HVWIRE_H
#define QUIESCE_HVWIRE_H

#include <stddef.h>
#include <stdint.h>

#define HVWIRE_MSG_SIZE 12
#define HVWIRE_VERSION_SIZE 4

/* enum hv_vss_op and the registration opcodes of the uapi header. */
enum {
	HVWIRE_OP_CREATE = 0,
	HVWIRE_OP_DELETE = 1,
	HVWIRE_OP_HOT_BACKUP = 2,
	HVWIRE_OP_GET_DM_INFO = 3,
	HVWIRE_OP_BU_COMPLETE = 4,
	HVWIRE_OP_FREEZE = 5,
	HVWIRE_OP_THAW = 6,
	HVWIRE_OP_AUTO_RECOVER = 7,
	HVWIRE_OP_REGISTER = 128,   /* legacy: the kernel never answers it; not used */
	HVWIRE_OP_REGISTER1 = 129,  /* "full handshake": the kernel answers 4 bytes */
};

#define HVWIRE_S_OK 0x00000000u
#define HVWIRE_E_FAIL 0x80004005u

enum hvwire_err {
	HVWIRE_OK,
	HVWIRE_E_SHORT,     /* fewer bytes than the message */
	HVWIRE_E_LONG,      /* more bytes than the message */
};

struct hvwire_request {
	uint8_t op;
	uint8_t raw[HVWIRE_MSG_SIZE];  /* the message as received, echoed in the reply */
};

/* A request from the kernel: exactly 12 bytes. Only the operation byte means
 * anything; the rest is kept as is for the reply. */
enum hvwire_err hvwire_decode_request(const void *buf, size_t len, struct hvwire_request *out);

/* The kernel's answer to REGISTER1: exactly 4 bytes, the kernel's version (129). */
enum hvwire_err hvwire_decode_version(const void *buf, size_t len, uint32_t *version);

/* The registration message: operation REGISTER1, the rest zero. */
void hvwire_encode_register(uint8_t out[HVWIRE_MSG_SIZE]);

/* The reply to req: req's 12 bytes with error over bytes 0-3. */
void hvwire_encode_reply(const struct hvwire_request *req, uint32_t error,
			 uint8_t out[HVWIRE_MSG_SIZE]);

/* "FREEZE", "THAW", "HOT_BACKUP", ...; NULL for an operation the header does not name. */
const char *hvwire_op_name(unsigned op);
const char *hvwire_strerror(enum hvwire_err e);

#endif
