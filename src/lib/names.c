// SPDX-License-Identifier: MIT
/*
 * libquiesce: names for operations and errors.
 */
#include <errno.h>
#include <string.h>

#include "quiesce.h"

const char *
quiesce_op_name(unsigned int op)
{
	switch (op) {
	case QUIESCE_CHECK:
		return "CHECK";
	case QUIESCE_FREEZE:
		return "FREEZE";
	case QUIESCE_THAW:
		return "THAW";
	default:
		return "UNKNOWN";
	}
}

const char *
quiesce_strerror(int err)
{
	const char *s;

	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case ENOENT:
		return "no quiesced socket at that path (daemon not running?)";
	case ECONNREFUSED:
		return "quiesced refused the connection or the registration";
	case EADDRINUSE:
		return "another application is registered under this name";
	case EACCES:
		return "not allowed to register with quiesced";
	case EUSERS:
		return "quiesced has too many registered applications";
	case EPROTONOSUPPORT:
		return "quiesced does not speak this protocol version";
	case EINVAL:
		return "invalid argument (name, options, or not the outstanding request)";
	case ETIMEDOUT:
		return "timed out";
	case EINTR:
		return "interrupted by a signal";
	case ECONNRESET:
		return "quiesced closed the connection";
	case EPROTO:
		return "protocol error (invalid frame); connection closed";
	case EBUSY:
		return "the previous request has not been answered";
	case ENOTCONN:
		return "connection already lost; close the handle and open again";
	case EAGAIN:
		return "socket full (daemon not reading); try again";
	case ENAMETOOLONG:
		return "socket path too long";
	case ENOMEM:
		return "out of memory";
	case EOPNOTSUPP:
		return "the daemon speaks protocol version 1: no details, no filesystem query";
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	/* strerror() may use a shared buffer; this one returns constant text. */
	if ((s = strerrordesc_np(err)) != NULL)
		return s;
#else
	(void)s;
#endif
	return "unknown error";
}
