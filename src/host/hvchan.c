// SPDX-License-Identifier: MIT
/* The Hyper-V channel: /dev/vmbus/hv_vss (or hvsim's SOCK_SEQPACKET socket) opened,
 * registered (REGISTER1, the kernel's 4-byte answer), read, and after any failure
 * closed, the freeze Hyper-V asked for thawed, and reopened with backoff. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"
#include "host/host.h"
#include "host/hyperv_int.h"

static void open_channel(struct hyperv *hv);
static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg);

static ssize_t chan_read(struct hyperv *hv, void *buf, size_t len)
{
	/* MSG_TRUNC: the real length of a longer packet, so it is refused, not cut. */
	if (hv->is_socket)
		return recv(hv->fd, buf, len, MSG_DONTWAIT | MSG_TRUNC);
	/* The device's read blocks whatever O_NONBLOCK says: we only get here after
	 * EPOLLIN, when a message is queued. */
	return read(hv->fd, buf, len);
}

ssize_t hvchan_write(struct hyperv *hv, const void *buf, size_t len)
{
	/* A write to the device never blocks; a socket must not raise SIGPIPE. */
	if (hv->is_socket)
		return send(hv->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return write(hv->fd, buf, len);
}

void hvchan_close(struct hyperv *hv)
{
	if (hv->fd < 0)
		return;
	loop_del_fd(hv->ctx->loop, hv->fd);
	close(hv->fd);
	hv->fd = -1;
}

static void on_retry(struct loop *loop, void *arg)
{
	(void)loop;
	open_channel(arg);
}

void hvchan_schedule_open(struct hyperv *hv, uint64_t delay_ms)
{
	hv->state = HV_CLOSED;
	loop_timer_disarm(hv->ctx->loop, &hv->deadline);
	loop_timer_arm(hv->ctx->loop, &hv->retry, delay_ms, on_retry, hv);
}

/* After a failure to open or register: wait longer each time, up to the maximum. */
static void retry_later(struct hyperv *hv)
{
	hvchan_close(hv);
	hv->backoff_ms = hv->backoff_ms ? hv->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (hv->backoff_ms > BACKOFF_MAX_MS)
		hv->backoff_ms = BACKOFF_MAX_MS;
	log_debug("hyperv: retrying in %.1f s", (double)hv->backoff_ms / 1000.0);
	hvchan_schedule_open(hv, hv->backoff_ms);
}

/* A failure to open or register is logged once, then at debug level while it repeats
 * (quiesced retries for as long as it runs). */
static bool first_time(struct hyperv *hv, int code)
{
	bool again = code == hv->last_open_err;
	hv->last_open_err = code;
	return !again;
}

static void log_open_failure(struct hyperv *hv, int err)
{
	if (!first_time(hv, err)) {
		log_debug("open %s failed; error: %d %s", hv->path, err, strerror(err));
		return;
	}
	if (err == EBUSY)
		log_errx("open %s failed; error: %d %s: another VSS daemon holds it "
			 "(hv_vss_daemon, hypervvssd: stop and disable it, see docs/hyperv.md); "
			 "quiesced keeps trying, every %u s at most", hv->path, err, strerror(err),
			 BACKOFF_MAX_MS / 1000);
	else if (err == ENOENT && !hv->is_socket)
		log_errx("open %s failed; error: %d %s: not a Hyper-V guest, or the hv_utils "
			 "module is not loaded; quiesced keeps trying", hv->path, err, strerror(err));
	else
		log_errx("open %s failed; error: %d %s; quiesced keeps trying", hv->path, err,
			 strerror(err));
}

static int connect_socket(struct hyperv *hv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	size_t n = strlen(hv->path);
	int fd;

	if (n >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (hv->path[0] == '@') {
		/* Abstract: no terminating NUL counts, as hvsim binds it. */
		memcpy(sa.sun_path + 1, hv->path + 1, n - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		memcpy(sa.sun_path, hv->path, n);
		len = sizeof(sa);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void open_channel(struct hyperv *hv)
{
	uint8_t msg[HVWIRE_MSG_SIZE];
	struct stat st;
	ssize_t n;

	if (!hv->started) {
		hv->started = true;
		/* hv_vss_daemon's first line, for the log searches that expect it. */
		log_info("VSS starting; pid is:%d", (int)getpid());
	}
	hvchan_close(hv);
	hv->is_socket = hv->path[0] == '@' || (stat(hv->path, &st) == 0 && S_ISSOCK(st.st_mode));
	hv->fd = hv->is_socket ? connect_socket(hv) : open(hv->path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (hv->fd < 0) {
		log_open_failure(hv, errno);
		retry_later(hv);
		return;
	}
	/* Register: a 12-byte message with operation REGISTER1; the kernel answers with
	 * 4 bytes before it sends anything else. */
	hvwire_encode_register(msg);
	n = hvchan_write(hv, msg, sizeof(msg));
	if (n != (ssize_t)sizeof(msg)) {
		int err = n < 0 ? errno : EIO;
		/* Closed at once counts as one failure with the handshake's end of file:
		 * which of the two a second opener sees is a race. */
		bool closed = err == EPIPE || err == ECONNRESET;
		if (first_time(hv, closed ? -1 : -10 - err))
			log_errx("registration to kernel failed; error: %d %s%s; quiesced keeps trying",
				 err, strerror(err), closed ?
				 " (the channel was closed at once: does another VSS daemon hold it?)" : "");
		retry_later(hv);
		return;
	}
	if (loop_add_fd(hv->ctx->loop, hv->fd, EPOLLIN, on_fd, hv) < 0) {
		log_warn("hyperv: cannot watch %s", hv->path);
		retry_later(hv);
		return;
	}
	hv->state = HV_HANDSHAKE;
	loop_timer_arm(hv->ctx->loop, &hv->deadline, HANDSHAKE_TIMEOUT_MS, hvchan_on_deadline, hv);
	log_debug("hyperv: %s open (%s), registration sent", hv->path,
		  hv->is_socket ? "socket" : "device");
}

/* The channel is dead (read or write failure, EOF, a reset by the kernel). Whatever
 * request we held, the kernel has answered it with HV_E_FAIL: drop it, thaw what
 * Hyper-V froze, then reopen and register again. */
void hvchan_failed(struct hyperv *hv)
{
	bool was_working = hv->state == HV_READY || hv->state == HV_BUSY;

	if (hv->state == HV_BUSY)
		hv->gen++;
	hvchan_close(hv);
	loop_timer_disarm(hv->ctx->loop, &hv->deadline);
	if (!was_working) {
		retry_later(hv);
		return;
	}
	hv->n_resets++;
	hv->state = HV_RESETTING;
	if (hyperv_undo_ours(hv, "the channel was reset")) {
		/* Bounded: reopen anyway if the thaw takes longer than a THAW may. */
		if (hv->state == HV_RESETTING)
			loop_timer_arm(hv->ctx->loop, &hv->deadline, answer_by(hv->budget_ms),
				       hvchan_on_deadline, hv);
		return;
	}
	hv->backoff_ms = 0;
	hvchan_schedule_open(hv, 0);
}

void hvchan_on_deadline(struct loop *loop, void *arg)
{
	struct hyperv *hv = arg;
	(void)loop;
	switch (hv->state) {
	case HV_HANDSHAKE:
		if (first_time(hv, -3))
			log_errx("invalid version negotiation: no answer to the registration within "
				 "%u s; quiesced keeps trying", HANDSHAKE_TIMEOUT_MS / 1000);
		retry_later(hv);
		break;
	case HV_BUSY:
		hyperv_request_overdue(hv);
		break;
	case HV_RESETTING:
		log_errx("failed to thaw file system: the thaw after the reset did not finish in "
			 "%.0f s; reopening %s anyway", (double)answer_by(hv->budget_ms) / 1000.0,
			 hv->path);
		hv->backoff_ms = 0;
		hvchan_schedule_open(hv, 0);
		break;
	default:
		break;
	}
}

/* The kernel's answer to our registration did not come (n: what read returned, -1
 * with err, 0 for EOF; or -1 with err 0: the channel closed). The kernel closes the
 * channel of a second opener at once (EBUSY, as hvsim emulates it); the device
 * itself refuses the open. */
static void handshake_failed(struct hyperv *hv, ssize_t n, int err)
{
	int code = n > 0 ? -2 : -1;
	if (!first_time(hv, code))
		log_debug("invalid version negotiation (again)");
	else if (n > 0)
		log_errx("invalid version negotiation: %zd bytes (expected %d); quiesced keeps "
			 "trying", n, HVWIRE_VERSION_SIZE);
	else
		log_errx("invalid version negotiation: the channel closed during the registration "
			 "(%s; does another VSS daemon hold it?); quiesced keeps trying",
			 n < 0 && err ? strerror(err) : "end of file");
	hvchan_failed(hv);
}

static void on_fd(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct hyperv *hv = arg;
	uint8_t buf[READ_BUF];
	struct hvwire_request req;
	uint32_t version;
	ssize_t n;
	int err;
	(void)loop;
	(void)fd;

	if (hv->state == HV_BUSY) {
		/* Only EPOLLHUP/EPOLLERR are watched while we hold a request. */
		log_errx("read failed; error: the channel was closed while op=%s was under way "
			 "(the kernel has answered it HV_E_FAIL)", op_name(hv->req.op));
		hvchan_failed(hv);
		return;
	}
	if (!(events & EPOLLIN)) {
		if (hv->state == HV_HANDSHAKE)
			handshake_failed(hv, -1, 0);
		else {
			log_errx("read failed; error: the channel was closed");
			hvchan_failed(hv);
		}
		return;
	}
	n = chan_read(hv, buf, sizeof(buf));
	err = errno;
	if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return; /* woken with nothing queued: poll again */

	if (hv->state == HV_HANDSHAKE) {
		if (n <= 0 || hvwire_decode_version(buf, (size_t)n, &version) != HVWIRE_OK) {
			handshake_failed(hv, n, err);
			return;
		}
		loop_timer_disarm(hv->ctx->loop, &hv->deadline);
		hv->kernel_version = version;
		hv->state = HV_READY;
		hv->n_registrations++;
		hv->backoff_ms = 0;
		if (hv->last_open_err) {
			log_notice("hyperv: %s is open now", hv->path);
			hv->last_open_err = 0;
		}
		log_info("VSS: kernel module version: %u", version);
		return;
	}

	if (n < 0) {
		log_errx("read failed; error:%d %s", err, strerror(err));
		hvchan_failed(hv);
		return;
	}
	if (hvwire_decode_request(buf, (size_t)n, &req) != HVWIRE_OK) {
		if (n == 0)
			log_errx("read failed; error: the channel was closed");
		else
			log_errx("read failed; error: a message of %zd bytes (expected %d)", n,
				 HVWIRE_MSG_SIZE);
		hvchan_failed(hv);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* The kernel reset the channel right after sending it: it has already
		 * answered HV_E_FAIL, so doing the work would only freeze for nobody. */
		log_errx("read failed; error: the channel was closed with op=%s unanswered "
			 "(not done; the kernel has answered it HV_E_FAIL)", op_name(req.op));
		hvchan_failed(hv);
		return;
	}
	hyperv_handle_request(hv, &req);
}
