// SPDX-License-Identifier: MIT
/*
 * libquiesce: take part in application-consistent snapshots through quiesced.
 *
 * An application registers once with quiesce_open() and keeps the connection
 * for its whole life. Around every snapshot the daemon asks it CHECK (can you
 * freeze?), FREEZE (flush and hold your writes, then answer) and, after the
 * snapshot and after the filesystems are thawed, THAW (resume writing).
 * Answer each request with quiesce_reply(), or let quiesce_run() call your
 * callbacks. See libquiesce(3) and docs/protocol.md.
 *
 * Errors: every function that can fail returns a negative errno value
 * (-ETIMEDOUT, -ECONNRESET, ...) and leaves errno alone; quiesce_strerror()
 * says what each one means here. Nothing is ever printed, no signal handler is
 * installed, SIGPIPE is never raised, exit() is never called.
 *
 * Timeouts (timeout_ms): < 0 waits forever, 0 does not wait, > 0 waits at most
 * that many milliseconds (CLOCK_MONOTONIC). Only quiesce_open(),
 * quiesce_next_request() and quiesce_run() ever wait.
 *
 * Threads: a handle is not locked; use one handle from one thread at a time.
 * Different handles are independent. quiesce_stop() is the exception: it may
 * be called from any thread or from a signal handler while the handle is open.
 */
#ifndef QUIESCE_H
#define QUIESCE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define QUIESCE_API __attribute__((visibility("default")))
#else
#define QUIESCE_API
#endif

/* Where quiesced listens; $QUIESCE_APP_SOCKET overrides it when no path is given. */
#define QUIESCE_DEFAULT_SOCKET	"/run/quiesce/app.sock"
#define QUIESCE_SOCKET_ENV	"QUIESCE_APP_SOCKET"

/* Longest name: 63 bytes of [A-Za-z0-9._:@+-]. */
#define QUIESCE_NAME_MAX	63

/* The daemon's requests. Values are hv_vss(4)'s HV_VSS_CHECK/FREEZE/THAW. */
enum quiesce_op {
	QUIESCE_CHECK = 1,	/* could you freeze now? */
	QUIESCE_FREEZE = 2,	/* flush and hold your writes, then answer */
	QUIESCE_THAW = 3,	/* the snapshot is taken, filesystems are thawed: resume */
};

/* Answers. Values are hv_vss(4)'s VSS_SUCCESS / VSS_FAIL. */
#define QUIESCE_SUCCESS	0
#define QUIESCE_FAIL	1

/* struct quiesce_options.flags */
#define QUIESCE_OPTIONAL	0x1u	/* your veto or timeout does not fail the snapshot */

struct quiesce_options {
	unsigned int flags;		/* QUIESCE_OPTIONAL or 0 (required: the default) */
	unsigned int timeout_ms;	/* time you need per request; 0 = the daemon's default */
	unsigned int reserved[6];	/* must be zero */
};

struct quiesce_request {
	unsigned int op;		/* enum quiesce_op */
	unsigned int reserved0;
	uint64_t msgid;			/* the daemon's id; 0 = made up by quiesce_run (see man page) */
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC time the daemon stops waiting */
	uint64_t reserved[2];
};

struct quiesce_callbacks {
	/* Each returns QUIESCE_SUCCESS or QUIESCE_FAIL (any nonzero value fails). NULL answers SUCCESS. */
	int (*on_check)(void *arg, const struct quiesce_request *req);
	int (*on_freeze)(void *arg, const struct quiesce_request *req);
	int (*on_thaw)(void *arg, const struct quiesce_request *req);
};

struct quiesce;	/* opaque handle */

/*
 * Connect and register. socket_path NULL: $QUIESCE_APP_SOCKET, else
 * QUIESCE_DEFAULT_SOCKET. opt NULL: required, daemon's default timeout.
 * Returns 0 and sets *out, or a negative errno: -ENOENT / -ECONNREFUSED (no
 * daemon), -EADDRINUSE (name taken), -EACCES (not allowed), -EUSERS (too many
 * apps), -EPROTONOSUPPORT (version), -EINVAL (bad name or options),
 * -ETIMEDOUT, -EINTR, -EPROTO, -ECONNRESET, -ENOMEM, ...
 */
QUIESCE_API int quiesce_open(const char *socket_path, const char *name,
    const struct quiesce_options *opt, int timeout_ms, struct quiesce **out);

/* The socket, for poll/epoll (POLLIN: a request, or the daemon went away). Never blocks. */
QUIESCE_API int quiesce_fd(const struct quiesce *q);

/*
 * Wait for the next request. 0 and *req filled, or -ETIMEDOUT, -EINTR,
 * -ECONNRESET (daemon closed the connection), -EPROTO (daemon sent garbage;
 * connection shut down), -EBUSY (the last request is not answered yet),
 * -ENOTCONN (the connection was lost earlier).
 */
QUIESCE_API int quiesce_next_request(struct quiesce *q, struct quiesce_request *req,
    int timeout_ms);

/*
 * Answer the request quiesce_next_request() returned, with QUIESCE_SUCCESS or
 * QUIESCE_FAIL (nonzero). Never blocks. 0, or -EINVAL (not the outstanding
 * request), -ECONNRESET, -ENOTCONN, -EAGAIN.
 */
QUIESCE_API int quiesce_reply(struct quiesce *q, const struct quiesce_request *req,
    int status);

/*
 * Serve requests with cb until timeout_ms passes or quiesce_stop() is called
 * (then 0), a signal interrupts the wait (-EINTR) or an error. A request that
 * has been read is always answered before returning. If the connection is
 * lost while you are frozen, on_thaw is called with msgid 0 first: thaw.
 */
QUIESCE_API int quiesce_run(struct quiesce *q, const struct quiesce_callbacks *cb, void *arg,
    int timeout_ms);

/* Make quiesce_run() return 0 soon. Async-signal-safe and thread-safe. */
QUIESCE_API void quiesce_stop(struct quiesce *q);

/* 1 while you answered FREEZE with success and have not been given THAW yet. */
QUIESCE_API int quiesce_frozen(const struct quiesce *q);

/* What the daemon granted: app id (>= 1), per-request timeout, flags. */
QUIESCE_API unsigned int quiesce_app_id(const struct quiesce *q);
QUIESCE_API unsigned int quiesce_timeout_ms(const struct quiesce *q);
QUIESCE_API unsigned int quiesce_flags(const struct quiesce *q);

/* Disconnect (the daemon counts a frozen app as thawed) and free. NULL is fine. */
QUIESCE_API void quiesce_close(struct quiesce *q);

/*
 * Protocol version 2 (quiesced 0.1.0 and later speak it; with an older daemon the
 * connection speaks version 1 and these return -EOPNOTSUPP).
 */

/* The protocol version the connection speaks: 1 or 2. */
QUIESCE_API unsigned int quiesce_protocol_version(const struct quiesce *q);

/* Longest detail: 127 bytes; longer is cut, bytes outside 0x20..0x7e become '?'. */
#define QUIESCE_DETAIL_MAX	127

/*
 * Attach a short detail to the answer to the outstanding request (a veto's reason,
 * a position such as a WAL LSN or a GTID): quiesced logs it and shows it in its
 * report and in quiescectl apps. Call it before quiesce_reply(), or from a
 * quiesce_run() callback. 0, or -EINVAL (no request outstanding), -EOPNOTSUPP.
 */
QUIESCE_API int quiesce_set_detail(struct quiesce *q, const char *detail);

/* A filesystem quiesced would freeze now. The strings live in the list. */
struct quiesce_fs {
	unsigned int major, minor;	/* the superblock's device number (st_dev of its files) */
	const char *fstype;		/* "ext4", "xfs", ... */
	const char *source;		/* the mount source, "/dev/vda1"; may be "" */
	const char *mountpoint;
	void *reserved[2];
};

/* quiesce_filesystems() flags: the list may miss some (the daemon could not list them all). */
#define QUIESCE_FS_INCOMPLETE	0x1u

/*
 * Ask quiesced which filesystems it would freeze now (its candidates, after --scope
 * and the include/exclude lists), to check that the app's files are covered. 0 and
 * *list (free with quiesce_filesystems_free(); NULL when *count is 0), *count and
 * *flags (may be NULL) set; or -EOPNOTSUPP, -ETIMEDOUT, -ECONNRESET, -EPROTO,
 * -ENOMEM, ... Any failure but -EOPNOTSUPP and -ENOMEM ends the connection. May
 * be called while a request is outstanding (in on_check). Otherwise a request may
 * arrive first: it is kept, and the next quiesce_next_request() returns it without
 * waiting (poll on quiesce_fd() does not show it: call quiesce_next_request(q, 0)).
 */
QUIESCE_API int quiesce_filesystems(struct quiesce *q, struct quiesce_fs **list, size_t *count,
    unsigned int *flags, int timeout_ms);
QUIESCE_API void quiesce_filesystems_free(struct quiesce_fs *list);

/* "CHECK", "FREEZE", "THAW" or "UNKNOWN". */
QUIESCE_API const char *quiesce_op_name(unsigned int op);

/* What err (negative or positive errno) means when a libquiesce call returns it. */
QUIESCE_API const char *quiesce_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
