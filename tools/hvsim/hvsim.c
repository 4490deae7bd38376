// SPDX-License-Identifier: MIT
/*
 * hvsim: plays the kernel side of /dev/vmbus/hv_vss (hv_snapshot.c + hv_utils_transport.c)
 * on an AF_UNIX SOCK_SEQPACKET listening socket, so a VSS daemon (the stock hv_vss_daemon
 * through tools/hvsim/sandbox/hvshim.so, or quiesced --hyperv) can be tested without Hyper-V.
 *
 * The host side is driven by commands (stdin or --script), one per line; every event and
 * result is one JSON line on stdout. tools/hvsim/README.md documents both and lists which
 * kernel behaviours are reproduced and how.
 *
 * Single-threaded: one poll() loop over the control input, the listening socket and the one
 * daemon connection, with deadlines for the kernel timers.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/linux/hyperv.h */
#define VSS_MSG_SIZE 12
#define VSS_OP_REGISTER 128
#define VSS_OP_REGISTER1 129
#define HV_S_OK 0x00000000u
#define HV_E_FAIL 0x80004005u
#define VSS_HBU_NO_AUTO_RECOVERY 0x00000005u

enum vss_op {
	VSS_OP_CREATE = 0,
	VSS_OP_DELETE,
	VSS_OP_HOT_BACKUP,
	VSS_OP_GET_DM_INFO,
	VSS_OP_BU_COMPLETE,
	VSS_OP_FREEZE,
	VSS_OP_THAW,
	VSS_OP_AUTO_RECOVER,
};

static const char *const op_names[] = {
	"CREATE", "DELETE", "HOT_BACKUP", "GET_DM_INFO", "BU_COMPLETE", "FREEZE", "THAW", "AUTO_RECOVER",
};

/* enum hvutil_device_state (drivers/hv/hyperv_vmbus.h); the sim never rests in 2 or 4. */
enum dev_state { ST_INIT = 0, ST_READY = 1, ST_USERSPACE_REQ = 3 };

static const char *state_name(int st)
{
	switch (st) {
	case ST_INIT: return "DEVICE_INIT";
	case ST_READY: return "READY";
	case ST_USERSPACE_REQ: return "USERSPACE_REQ";
	}
	return "?";
}

/* A host request in the VMBus ring (or the one being handled). */
struct req {
	unsigned seq;
	int op;
	double t_submit;   /* host put it in the ring */
	double t_dispatch; /* kernel took it from the ring */
	long close_after;  /* close_mid_request: ms after sending, -1 = no */
	bool direct;       /* "direct": to the daemon even if the kernel would answer it */
	struct req *next;
};

/* What the command executor is blocked on. */
enum block_kind { B_NONE, B_REQ, B_WAIT_ALL, B_WAIT_DAEMON, B_WAIT_GONE, B_WAIT_DISCONNECT, B_SLEEP, B_WAIT_EVENT };

struct cmdline {
	char *text;
	struct cmdline *next;
};

static struct {
	/* options */
	const char *sock_name;
	double freeze_timeout_ms;
	double timeout_ms;
	double wait_timeout_ms;
	int verbose;

	double t0;
	int listen_fd;
	bool sock_is_path;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	/* the daemon connection ("the open file") */
	int conn_fd;
	unsigned conn_id;
	unsigned next_conn_id;
	int conn_version;   /* 0, 128 or 129: what this connection registered with */
	bool hs_pending;    /* 4-byte handshake reply queued, not yet read (on_read pending) */

	/* hv_snapshot.c state */
	int state;
	struct req *cur;    /* the transaction with the daemon (state USERSPACE_REQ) */
	double cur_deadline;
	double cur_close_at; /* close_mid_request */

	/* VMBus ring: host requests waiting for the kernel to read them */
	struct req *ring_head, *ring_tail;
	unsigned next_seq;

	/* control input */
	int in_fd;
	bool in_eof;
	char inbuf[8192];
	size_t inlen;
	struct cmdline *cq_head, *cq_tail;

	/* executor */
	enum block_kind block;
	char block_cmd[32];
	char block_event[24];
	unsigned block_seq;
	bool block_seq_valid;
	unsigned block_conn;
	double block_t0;
	double block_deadline;
	bool block_req_done;
	bool quit;
} g;

/* ------------------------------------------------------------------ utilities */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	va_list ap;

	if (!g.verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "hvsim: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void hexstr(char *out, const unsigned char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = 0;
}

/* A JSON line under construction. Keys are ours; string values are escaped. */
struct jl {
	char buf[4096];
	size_t len;
};

static void jl_raw(struct jl *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jl_raw(struct jl *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->len >= sizeof(j->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		j->len += (size_t)n;
	if (j->len >= sizeof(j->buf))
		j->len = sizeof(j->buf) - 1;
}

/* How many events of each name were printed, and the counts at the last "mark". */
#define MAX_EVNAMES 24
static struct evcount {
	char name[24];
	unsigned long n, marked;
} evcounts[MAX_EVNAMES];

static struct evcount *evcount(const char *name)
{
	int i;

	for (i = 0; i < MAX_EVNAMES && evcounts[i].name[0]; i++)
		if (strcmp(evcounts[i].name, name) == 0)
			return &evcounts[i];
	if (i == MAX_EVNAMES || strlen(name) >= sizeof(evcounts[i].name))
		return NULL;
	strcpy(evcounts[i].name, name);
	return &evcounts[i];
}

static void jl_begin(struct jl *j, const char *kind, const char *value)
{
	if (strcmp(kind, "event") == 0) {
		struct evcount *c = evcount(value);

		if (c)
			c->n++;
	}
	j->len = 0;
	jl_raw(j, "{\"%s\":\"%s\"", kind, value);
}

static void jl_str(struct jl *j, const char *key, const char *s)
{
	jl_raw(j, ",\"%s\":\"", key);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			jl_raw(j, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			jl_raw(j, "\\u%04x", c);
		else
			jl_raw(j, "%c", c);
	}
	jl_raw(j, "\"");
}

static void jl_int(struct jl *j, const char *key, long long v)
{
	jl_raw(j, ",\"%s\":%lld", key, v);
}

static void jl_bool(struct jl *j, const char *key, bool v)
{
	jl_raw(j, ",\"%s\":%s", key, v ? "true" : "false");
}

static void jl_ms(struct jl *j, const char *key, double v)
{
	jl_raw(j, ",\"%s\":%.3f", key, v);
}

static void jl_end(struct jl *j)
{
	jl_ms(j, "t", now_ms() - g.t0);
	jl_raw(j, "}");
	fwrite(j->buf, 1, j->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static void event_simple(const char *ev)
{
	struct jl j;

	jl_begin(&j, "event", ev);
	if (g.conn_id)
		jl_int(&j, "conn", g.conn_id);
	jl_end(&j);
}

static const char *op_name(int op, char *tmp, size_t n)
{
	if (op >= 0 && op < (int)(sizeof(op_names) / sizeof(op_names[0])))
		return op_names[op];
	snprintf(tmp, n, "OP_%d", op);
	return tmp;
}

/*
 * Durations: "500ms", "2s", "1.5s", or a bare number of milliseconds.
 * Returns -1 if malformed.
 */
static double parse_duration(const char *s)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -1;
	if (*end == 0 || strcmp(end, "ms") == 0)
		return v;
	if (strcmp(end, "s") == 0)
		return v * 1000.0;
	return -1;
}

/* ------------------------------------------------------------------ the daemon connection */

/* Bytes the daemon has not read yet (SIOCOUTQ counts unconsumed skbs on AF_UNIX). */
static int conn_unread(void)
{
	int n = 0;

	if (g.conn_fd < 0)
		return 0;
	if (ioctl(g.conn_fd, SIOCOUTQ, &n) < 0)
		return 0;
	return n;
}

/*
 * hvutil_transport_send(): -EINVAL if nobody has the device open, -EFAULT if the previous
 * message was not read yet ("Previous message wasn't received"), else queued.
 */
static int transport_send(const void *msg, size_t len)
{
	ssize_t n;

	if (g.conn_fd < 0)
		return -EINVAL;
	if (conn_unread() > 0)
		return -EFAULT;
	n = send(g.conn_fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)len)
		return -EFAULT;
	return 0;
}

static void req_result(struct req *r, const char *by, int64_t host_status, const unsigned char *reply,
		       const char *reason, bool timeout, long long host_flags)
{
	struct jl j;
	char tmp[16], hx[2 * VSS_MSG_SIZE + 1];
	double t = now_ms();

	jl_begin(&j, "op", op_name(r->op, tmp, sizeof(tmp)));
	jl_int(&j, "code", r->op);
	jl_int(&j, "seq", r->seq);
	if (host_status < 0) {
		jl_raw(&j, ",\"host_status\":null");
	} else {
		snprintf(tmp, sizeof(tmp), "0x%08" PRIx32, (uint32_t)host_status);
		jl_str(&j, "host_status", tmp);
	}
	jl_str(&j, "by", by);
	if (r->direct)
		jl_bool(&j, "direct", true);
	if (reply) {
		hexstr(hx, reply, VSS_MSG_SIZE);
		jl_str(&j, "reply_hex", hx);
	}
	if (host_flags >= 0) {
		snprintf(tmp, sizeof(tmp), "0x%08llx", host_flags);
		jl_str(&j, "host_flags", tmp);
	}
	if (timeout)
		jl_bool(&j, "timeout", true);
	if (reason)
		jl_str(&j, "reason", reason);
	jl_ms(&j, "ms", t - r->t_dispatch);
	jl_ms(&j, "queued_ms", r->t_dispatch - r->t_submit);
	jl_end(&j);

	if (g.block == B_REQ && g.block_seq == r->seq)
		g.block_req_done = true;
	free(r);
}

/* vss_respond_to_host() for the current transaction + vss_poll_wrapper(): state READY. */
static void finish_cur(const char *by, int64_t status, const unsigned char *reply, const char *reason,
		       bool timeout, long long host_flags)
{
	struct req *r = g.cur;

	g.cur = NULL;
	g.state = ST_READY;
	req_result(r, by, status, reply, reason, timeout, host_flags);
}

/* vss_on_reset(): the device was released. */
static void on_reset(const char *why)
{
	if (g.cur) {
		struct req *r = g.cur;

		g.cur = NULL;
		req_result(r, "kernel", HV_E_FAIL, NULL, why, false, -1);
	}
	g.state = ST_INIT;
}

static void conn_close(const char *by, const char *reason)
{
	struct jl j;

	if (g.conn_fd < 0)
		return;
	close(g.conn_fd);
	g.conn_fd = -1;
	jl_begin(&j, "event", "disconnected");
	jl_int(&j, "conn", g.conn_id);
	jl_str(&j, "by", by);
	if (reason)
		jl_str(&j, "reason", reason);
	jl_end(&j);
	g.hs_pending = false;
	g.conn_version = 0;
	/* hvt_op_release(): queued message dropped, vss_on_reset() */
	on_reset(strcmp(by, "daemon") == 0 ? "daemon closed" : "reset");
}

/*
 * The real kernel fails the daemon's write() with this errno. A socket cannot fail a
 * write that already happened, so the sim reports it and closes the connection: the
 * daemon's next poll/read fails, as its write would have, and it has to reopen.
 */
static void emulate_write_error(const char *err, const char *reason, const unsigned char *msg, size_t len)
{
	struct jl j;
	char hx[2 * 64 + 1];
	char what[64];

	if (len > 64)
		len = 64;
	hexstr(hx, msg, len);
	jl_begin(&j, "event", strcmp(err, "EINVAL") == 0 ? "einval" : "write_error");
	jl_int(&j, "conn", g.conn_id);
	jl_str(&j, "errno", err);
	jl_str(&j, "reason", reason);
	jl_str(&j, "hex", hx);
	jl_end(&j);
	logmsg("%s (emulated): %s", err, reason);
	snprintf(what, sizeof(what), "%s (emulated)", err);
	conn_close("sim", what);
}

static void pump(void);

/* vss_on_msg(): one message written by the daemon. */
static void on_daemon_msg(const unsigned char *msg, size_t len)
{
	char reason[64];
	uint8_t op;

	if (len != VSS_MSG_SIZE) {
		snprintf(reason, sizeof(reason), "wrong size %zu", len);
		emulate_write_error("EINVAL", reason, msg, len);
		return;
	}
	op = msg[0];
	if (op == VSS_OP_REGISTER || op == VSS_OP_REGISTER1) {
		struct jl j;

		if (g.state > ST_READY) {
			emulate_write_error("EINVAL", "registration during a transaction", msg, len);
			return;
		}
		if (op == VSS_OP_REGISTER1) {
			uint32_t our_ver = VSS_OP_REGISTER1;

			if (transport_send(&our_ver, sizeof(our_ver)) < 0) {
				emulate_write_error("EFAULT", "handshake reply cannot be queued", msg, len);
				return;
			}
			g.hs_pending = true; /* vss_register_done() runs when it is read */
		}
		g.conn_version = op;
		logmsg("VSS: userspace daemon ver. %d connected", op);
		jl_begin(&j, "event", "registered");
		jl_int(&j, "conn", g.conn_id);
		jl_int(&j, "version", op);
		jl_end(&j);
		return;
	}
	if (g.state == ST_USERSPACE_REQ && g.cur) {
		int32_t err;
		long long flags = -1;

		memcpy(&err, msg, sizeof(err));
		/* The kernel checks the reply's operation byte, which error overlays. */
		if (g.cur->op == VSS_OP_HOT_BACKUP)
			flags = op == VSS_OP_HOT_BACKUP ? VSS_HBU_NO_AUTO_RECOVERY : 0;
		finish_cur("daemon", (uint32_t)err, msg, NULL, false, flags);
		pump();
		return;
	}
	emulate_write_error("EINVAL", "transaction not active", msg, len);
}

static void handle_conn(short revents)
{
	unsigned char buf[65536];
	ssize_t n;

	n = recv(g.conn_fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_close("daemon", strerror(errno));
		pump();
		return;
	}
	if (n == 0 && (revents & (POLLHUP | POLLRDHUP))) {
		conn_close("daemon", "closed");
		pump();
		return;
	}
	if ((size_t)n > sizeof(buf)) {
		char reason[64];

		snprintf(reason, sizeof(reason), "wrong size %zd", n);
		emulate_write_error("EINVAL", reason, buf, sizeof(buf));
		pump();
		return;
	}
	on_daemon_msg(buf, (size_t)n);
	pump();
}

static void handle_accept(void)
{
	int fd = accept4(g.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct jl j;

	if (fd < 0)
		return;
	if (g.conn_fd >= 0) {
		/* A close of the current connection may be pending: look before refusing. */
		struct pollfd p = { .fd = g.conn_fd, .events = POLLIN | POLLRDHUP };

		while (g.conn_fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLRDHUP)))
			handle_conn(p.revents);
	}
	if (g.conn_fd >= 0) {
		/* open() of the misc device by a second opener: -EBUSY. */
		close(fd);
		jl_begin(&j, "event", "ebusy");
		jl_int(&j, "conn", g.conn_id);
		jl_str(&j, "reason", "second opener refused (EBUSY emulated)");
		jl_end(&j);
		return;
	}
	g.conn_fd = fd;
	g.conn_id = ++g.next_conn_id;
	g.conn_version = 0;
	g.hs_pending = false;
	event_simple("connected");
	logmsg("daemon connected (conn %u)", g.conn_id);
}

/* ------------------------------------------------------------------ host requests */

/* vss_send_op() */
static void send_op(struct req *r)
{
	unsigned char msg[VSS_MSG_SIZE] = { 0 };
	char tmp[16], hx[2 * VSS_MSG_SIZE + 1];
	struct jl j;
	int rc;

	msg[0] = (unsigned char)r->op;
	g.cur = r;
	g.state = ST_USERSPACE_REQ;
	g.cur_deadline = now_ms() + (r->op == VSS_OP_FREEZE ? g.freeze_timeout_ms : g.timeout_ms);
	g.cur_close_at = -1;
	rc = transport_send(msg, sizeof(msg));
	if (rc) {
		logmsg("VSS: failed to communicate to the daemon: %d", rc);
		finish_cur("kernel", HV_E_FAIL, NULL,
			   rc == -EFAULT ? "send failed: previous message not read (EFAULT)"
					 : "send failed: device not open (EINVAL)",
			   false, -1);
		return;
	}
	hexstr(hx, msg, sizeof(msg));
	jl_begin(&j, "event", "request");
	jl_int(&j, "conn", g.conn_id);
	jl_int(&j, "seq", r->seq);
	jl_str(&j, "name", op_name(r->op, tmp, sizeof(tmp)));
	jl_str(&j, "hex", hx);
	jl_end(&j);
	if (r->close_after == 0) {
		conn_close("sim", "close_mid_request");
	} else if (r->close_after > 0) {
		g.cur_close_at = now_ms() + (double)r->close_after;
	}
}

/*
 * hv_vss_onchannelcallback() + vss_handle_request(): take host messages from the ring
 * while no transaction is open (the kernel reads no host packet while state > READY).
 */
static void pump(void)
{
	while (g.ring_head && g.state <= ST_READY) {
		struct req *r = g.ring_head;

		g.ring_head = r->next;
		if (!g.ring_head)
			g.ring_tail = NULL;
		r->next = NULL;
		r->t_dispatch = now_ms();
		switch (r->direct ? VSS_OP_HOT_BACKUP : r->op) {
		case VSS_OP_FREEZE:
		case VSS_OP_THAW:
		case VSS_OP_HOT_BACKUP:
			if (g.state < ST_READY) {
				logmsg("VSS: Not ready for request.");
				req_result(r, "kernel", HV_E_FAIL, NULL, "not ready (no registered daemon)", false,
					   -1);
				break;
			}
			send_op(r);
			break;
		case VSS_OP_GET_DM_INFO:
			req_result(r, "kernel", HV_S_OK, NULL, NULL, false, 0);
			break;
		default:
			req_result(r, "kernel", HV_S_OK, NULL, NULL, false, -1);
			break;
		}
	}
}

static unsigned host_submit(int op, long close_after, bool direct)
{
	struct req *r = calloc(1, sizeof(*r));

	if (!r) {
		perror("hvsim: calloc");
		exit(1);
	}
	r->seq = ++g.next_seq;
	r->op = op;
	r->t_submit = now_ms();
	r->close_after = close_after;
	r->direct = direct;
	if (g.ring_tail)
		g.ring_tail->next = r;
	else
		g.ring_head = r;
	g.ring_tail = r;
	return r->seq;
}

/* hv_vss_pre_suspend(): fake THAW to the daemon, cancel the transaction, force READY. */
static void fake_thaw(struct jl *j)
{
	unsigned char msg[VSS_MSG_SIZE] = { 0 };
	int rc;

	msg[0] = VSS_OP_THAW;
	if (g.cur) {
		struct req *r = g.cur;

		/* hv_vss_cancel_work(): the timer is cancelled; the host gets no answer. */
		g.cur = NULL;
		jl_int(j, "cancelled_seq", r->seq);
		req_result(r, "kernel", -1, NULL, "cancelled by fake_thaw (no host reply)", false, -1);
	}
	rc = transport_send(msg, sizeof(msg)); /* return value ignored by the kernel */
	jl_bool(j, "sent", rc == 0);
	if (rc)
		jl_str(j, "send_error", rc == -EFAULT ? "EFAULT" : "EINVAL");
	g.state = ST_READY;
}

/* ------------------------------------------------------------------ commands */

static int parse_op(const char *s)
{
	static const struct {
		const char *name;
		int op;
	} names[] = {
		{ "create", VSS_OP_CREATE },	   { "delete", VSS_OP_DELETE },
		{ "hot_backup", VSS_OP_HOT_BACKUP }, { "get_dm_info", VSS_OP_GET_DM_INFO },
		{ "bu_complete", VSS_OP_BU_COMPLETE }, { "freeze", VSS_OP_FREEZE },
		{ "thaw", VSS_OP_THAW },	   { "auto_recover", VSS_OP_AUTO_RECOVER },
	};
	size_t i;
	char *end;
	long v;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].op;
	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < 0 || v > 255)
		return -1;
	return (int)v;
}

static void cmd_done(const char *cmd, bool ok, const char *err)
{
	struct jl j;

	jl_begin(&j, "cmd", cmd);
	jl_bool(&j, "ok", ok);
	if (err)
		jl_str(&j, "error", err);
	jl_end(&j);
}

static void block_on(enum block_kind k, const char *cmd, double timeout_ms)
{
	g.block = k;
	snprintf(g.block_cmd, sizeof(g.block_cmd), "%s", cmd);
	g.block_t0 = now_ms();
	g.block_deadline = timeout_ms >= 0 ? g.block_t0 + timeout_ms : -1;
	g.block_req_done = false;
	g.block_seq_valid = k == B_REQ;
}

static bool daemon_ready(void)
{
	return g.conn_fd >= 0 && g.conn_version == VSS_OP_REGISTER1 && !g.hs_pending && g.state >= ST_READY;
}

static void print_status(void)
{
	struct jl j;
	unsigned queued = 0;
	struct req *r;

	for (r = g.ring_head; r; r = r->next)
		queued++;
	jl_begin(&j, "cmd", "status");
	jl_bool(&j, "ok", true);
	jl_str(&j, "state", state_name(g.state));
	jl_bool(&j, "connected", g.conn_fd >= 0);
	jl_int(&j, "conn", g.conn_fd >= 0 ? (long long)g.conn_id : 0);
	jl_int(&j, "version", g.conn_version);
	jl_bool(&j, "ready", daemon_ready());
	if (g.cur)
		jl_int(&j, "outstanding_seq", g.cur->seq);
	else
		jl_raw(&j, ",\"outstanding_seq\":null");
	jl_int(&j, "queued", queued);
	jl_ms(&j, "freeze_timeout_ms", g.freeze_timeout_ms);
	jl_ms(&j, "timeout_ms", g.timeout_ms);
	jl_end(&j);
}

/* Decode "00aa11..." into buf; returns length or -1. */
static int parse_hex(const char *s, unsigned char *buf, size_t max)
{
	size_t n = 0;

	while (s[0] && s[1]) {
		unsigned v;

		if (n >= max || sscanf(s, "%2x", &v) != 1)
			return -1;
		buf[n++] = (unsigned char)v;
		s += 2;
	}
	return s[0] ? -1 : (int)n;
}

/* Run one command line; a command that has to wait sets g.block. */
static void run_command(char *line)
{
	char *argv[8];
	int argc = 0;
	char *save = NULL, *tok;
	const char *cmd;
	double d;

	for (tok = strtok_r(line, " \t\r", &save); tok && argc < 8; tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	if (argc == 0 || argv[0][0] == '#')
		return;
	cmd = argv[0];

	if (strcmp(cmd, "op") == 0 || strcmp(cmd, "send") == 0 || strcmp(cmd, "direct") == 0 || parse_op(cmd) >= 0) {
		bool async = strcmp(cmd, "send") == 0;
		bool direct = strcmp(cmd, "direct") == 0;
		const char *ops = (strcmp(cmd, "op") == 0 || async || direct) ? (argc > 1 ? argv[1] : NULL) : cmd;
		int op = parse_op(ops);
		unsigned seq;

		if (op < 0 || (ops == cmd && isdigit((unsigned char)cmd[0]))) {
			cmd_done(cmd, false, "usage: op N | send OP | direct OP | hot_backup | freeze | thaw | ...");
			return;
		}
		seq = host_submit(op, -1, direct);
		if (async) {
			struct jl j;

			jl_begin(&j, "cmd", "send");
			jl_bool(&j, "ok", true);
			jl_int(&j, "seq", seq);
			jl_end(&j);
			pump();
			return;
		}
		block_on(B_REQ, cmd, -1);
		g.block_seq = seq;
		pump();
		return;
	}
	if (strcmp(cmd, "close_mid_request") == 0) {
		int op = parse_op(argc > 1 ? argv[1] : NULL);
		double delay = argc > 2 ? parse_duration(argv[2]) : 0;

		if (op < 0 || delay < 0) {
			cmd_done(cmd, false, "usage: close_mid_request OP [DELAY]");
			return;
		}
		block_on(B_REQ, cmd, -1);
		g.block_seq = host_submit(op, (long)delay, false);
		pump();
		return;
	}
	if (strcmp(cmd, "wait") == 0 || strcmp(cmd, "wait_daemon") == 0 || strcmp(cmd, "wait_disconnect") == 0) {
		d = argc > 1 ? parse_duration(argv[1]) : g.wait_timeout_ms;
		if (d < 0) {
			cmd_done(cmd, false, "bad duration");
			return;
		}
		block_on(strcmp(cmd, "wait") == 0 ? B_WAIT_ALL
			 : strcmp(cmd, "wait_daemon") == 0 ? B_WAIT_DAEMON : B_WAIT_DISCONNECT,
			 cmd, d);
		return;
	}
	if (strcmp(cmd, "mark") == 0) {
		int i;

		for (i = 0; i < MAX_EVNAMES && evcounts[i].name[0]; i++)
			evcounts[i].marked = evcounts[i].n;
		cmd_done(cmd, true, NULL);
		return;
	}
	if (strcmp(cmd, "wait_event") == 0) {
		d = argc > 2 ? parse_duration(argv[2]) : g.wait_timeout_ms;
		if (argc < 2 || d < 0 || strlen(argv[1]) >= sizeof(g.block_event) || !evcount(argv[1])) {
			cmd_done(cmd, false, "usage: wait_event NAME [TIMEOUT]");
			return;
		}
		snprintf(g.block_event, sizeof(g.block_event), "%s", argv[1]);
		block_on(B_WAIT_EVENT, cmd, d);
		return;
	}
	if (strcmp(cmd, "sleep") == 0) {
		d = argc > 1 ? parse_duration(argv[1]) : -1;
		if (d < 0) {
			cmd_done(cmd, false, "usage: sleep MS");
			return;
		}
		block_on(B_SLEEP, cmd, d);
		return;
	}
	if (strcmp(cmd, "fake_thaw") == 0 || strcmp(cmd, "raw") == 0) {
		struct jl j;
		bool raw = strcmp(cmd, "raw") == 0;
		unsigned char buf[512];
		int n = 0;

		d = g.timeout_ms;
		if (raw) {
			n = argc > 1 ? parse_hex(argv[1], buf, sizeof(buf)) : -1;
			if (argc > 2)
				d = parse_duration(argv[2]);
		} else if (argc > 1) {
			d = parse_duration(argv[1]);
		}
		if (n < 0 || d < 0) {
			cmd_done(cmd, false, raw ? "usage: raw HEX [TIMEOUT]" : "usage: fake_thaw [TIMEOUT]");
			return;
		}
		if (g.conn_fd < 0 && raw) {
			cmd_done(cmd, false, "no daemon connection");
			return;
		}
		/* Reported before the wait, so the send result precedes what the daemon does. */
		jl_begin(&j, "event", raw ? "raw_sent" : "fake_thaw_sent");
		jl_int(&j, "conn", g.conn_fd >= 0 ? (long long)g.conn_id : 0);
		if (raw) {
			int rc = transport_send(buf, (size_t)n);

			jl_bool(&j, "sent", rc == 0);
			jl_int(&j, "len", n);
		} else {
			fake_thaw(&j);
		}
		jl_end(&j);
		if (g.conn_fd < 0) {
			cmd_done(cmd, true, NULL);
			pump();
			return;
		}
		/* Wait for the connection to go (EINVAL emulation or daemon reopen) or the timeout. */
		block_on(B_WAIT_GONE, cmd, d);
		g.block_conn = g.conn_id;
		pump();
		return;
	}
	if (strcmp(cmd, "close") == 0) {
		conn_close("sim", "close");
		cmd_done(cmd, true, NULL);
		pump();
		return;
	}
	if (strcmp(cmd, "set") == 0) {
		d = argc > 2 ? parse_duration(argv[2]) : -1;
		if (d < 0 || (strcmp(argv[1], "freeze_timeout") != 0 && strcmp(argv[1], "timeout") != 0)) {
			cmd_done(cmd, false, "usage: set freeze_timeout|timeout DURATION");
			return;
		}
		if (strcmp(argv[1], "freeze_timeout") == 0)
			g.freeze_timeout_ms = d;
		else
			g.timeout_ms = d;
		cmd_done(cmd, true, NULL);
		return;
	}
	if (strcmp(cmd, "status") == 0) {
		print_status();
		return;
	}
	if (strcmp(cmd, "quit") == 0) {
		cmd_done(cmd, true, NULL);
		g.quit = true;
		return;
	}
	{
		char err[128];

		snprintf(err, sizeof(err), "unknown command: %.80s", cmd);
		cmd_done("error", false, err);
	}
}

/* Is the executor's block over? Prints the command's result line when it is. */
static void check_block(void)
{
	double t = now_ms();
	bool done = false, ok = true;
	const char *err = NULL;

	switch (g.block) {
	case B_NONE:
		return;
	case B_REQ:
		done = g.block_req_done;
		break;
	case B_WAIT_ALL:
		done = !g.cur && !g.ring_head;
		break;
	case B_WAIT_DAEMON:
		done = daemon_ready();
		break;
	case B_WAIT_GONE:
		done = g.conn_fd < 0 || g.conn_id != g.block_conn;
		break;
	case B_WAIT_DISCONNECT:
		done = g.conn_fd < 0;
		break;
	case B_SLEEP:
		done = t >= g.block_deadline;
		break;
	case B_WAIT_EVENT: {
		struct evcount *c = evcount(g.block_event);

		done = c && c->n > c->marked;
		break;
	}
	}
	if (!done && g.block_deadline >= 0 && t >= g.block_deadline) {
		done = true;
		ok = false;
		err = "timed out";
	}
	if (!done)
		return;
	g.block = B_NONE;
	{
		struct jl j;

		jl_begin(&j, "cmd", g.block_cmd);
		jl_bool(&j, "ok", ok);
		if (g.block_seq_valid)
			jl_int(&j, "seq", g.block_seq);
		if (err)
			jl_str(&j, "error", err);
		jl_ms(&j, "ms", t - g.block_t0);
		jl_end(&j);
	}
}

static void run_commands(void)
{
	check_block();
	while (g.block == B_NONE && !g.quit && g.cq_head) {
		struct cmdline *c = g.cq_head;

		g.cq_head = c->next;
		if (!g.cq_head)
			g.cq_tail = NULL;
		run_command(c->text);
		free(c->text);
		free(c);
		check_block();
	}
	if (g.block == B_NONE && !g.cq_head && g.in_eof)
		g.quit = true;
}

static void read_input(void)
{
	ssize_t n;
	char *nl;

	n = read(g.in_fd, g.inbuf + g.inlen, sizeof(g.inbuf) - 1 - g.inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		g.in_eof = true;
		if (g.inlen == 0)
			return;
		g.inbuf[g.inlen++] = '\n'; /* last line without newline */
	} else {
		g.inlen += (size_t)n;
	}
	g.inbuf[g.inlen] = 0;
	while ((nl = memchr(g.inbuf, '\n', g.inlen))) {
		struct cmdline *c = calloc(1, sizeof(*c));

		*nl = 0;
		if (!c || !(c->text = strdup(g.inbuf))) {
			perror("hvsim: alloc");
			exit(1);
		}
		if (g.cq_tail)
			g.cq_tail->next = c;
		else
			g.cq_head = c;
		g.cq_tail = c;
		g.inlen -= (size_t)(nl + 1 - g.inbuf);
		memmove(g.inbuf, nl + 1, g.inlen);
	}
	if (g.inlen == sizeof(g.inbuf) - 1) {
		g.inlen = 0; /* absurdly long line: drop it */
		cmd_done("error", false, "line too long");
	}
}

/* ------------------------------------------------------------------ timers */

static void check_timers(void)
{
	double t = now_ms();

	/* vss_register_done() runs when the daemon has read the 4-byte reply. */
	if (g.hs_pending && conn_unread() == 0) {
		g.hs_pending = false;
		g.state = ST_READY;
		event_simple("ready");
		pump();
	}
	if (g.cur && g.cur_close_at >= 0 && t >= g.cur_close_at) {
		g.cur_close_at = -1;
		conn_close("sim", "close_mid_request");
		pump();
	}
	if (g.cur && t >= g.cur_deadline) {
		/* vss_timeout_func(): the daemon is not told; its message stays queued. */
		logmsg("VSS: timeout waiting for daemon to reply");
		finish_cur("kernel", HV_E_FAIL, NULL, "timeout", true, -1);
		pump();
	}
}

static int poll_timeout(void)
{
	double t = now_ms(), next = -1;

	if (g.hs_pending)
		next = t + 1; /* no wakeup when the peer reads: poll SIOCOUTQ */
	if (g.cur && (next < 0 || g.cur_deadline < next))
		next = g.cur_deadline;
	if (g.cur && g.cur_close_at >= 0 && (next < 0 || g.cur_close_at < next))
		next = g.cur_close_at;
	if (g.block != B_NONE && g.block_deadline >= 0 && (next < 0 || g.block_deadline < next))
		next = g.block_deadline;
	if (next < 0)
		return -1;
	if (next <= t)
		return 0;
	return (int)ceil(next - t);
}

/* ------------------------------------------------------------------ setup */

static int make_listener(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	size_t n;
	int fd;

	if (name[0] == '@') {
		n = strlen(name + 1);
		if (n == 0 || n >= sizeof(sa.sun_path) - 1) {
			fprintf(stderr, "hvsim: bad abstract socket name\n");
			return -1;
		}
		memcpy(sa.sun_path + 1, name + 1, n);
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	} else {
		struct stat st;

		n = strlen(name);
		if (n == 0 || n >= sizeof(sa.sun_path)) {
			fprintf(stderr, "hvsim: socket path too long\n");
			return -1;
		}
		memcpy(sa.sun_path, name, n);
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		/* Replace a stale socket, never anything else. */
		if (lstat(name, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				fprintf(stderr, "hvsim: %s exists and is not a socket\n", name);
				return -1;
			}
			unlink(name);
		}
		g.sock_is_path = true;
		snprintf(g.sock_path, sizeof(g.sock_path), "%s", name);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 4) < 0) {
		fprintf(stderr, "hvsim: %s: %s\n", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hvsim --socket PATH|@NAME [options]\n"
		"  -s, --socket PATH|@NAME    listening SOCK_SEQPACKET socket (@ = abstract)\n"
		"  -f, --freeze-timeout DUR   FREEZE timeout (kernel: 900s)\n"
		"  -t, --timeout DUR          THAW / HOT_BACKUP timeout (kernel: 30s)\n"
		"  -w, --wait-timeout DUR     default bound of wait* commands (30s)\n"
		"  -S, --script FILE          read commands from FILE instead of stdin\n"
		"  -v, --verbose              kernel-style log lines on stderr\n"
		"DUR: 500ms, 2s, 1.5s, or a bare number of milliseconds.\n"
		"Commands and output: tools/hvsim/README.md\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, 0, 's' },      { "freeze-timeout", required_argument, 0, 'f' },
		{ "timeout", required_argument, 0, 't' },     { "wait-timeout", required_argument, 0, 'w' },
		{ "script", required_argument, 0, 'S' },      { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },	      { 0, 0, 0, 0 },
	};
	const char *script = NULL;
	int o;

	g.freeze_timeout_ms = 900 * 1000.0;
	g.timeout_ms = 30 * 1000.0;
	g.wait_timeout_ms = 30 * 1000.0;
	g.conn_fd = -1;
	g.listen_fd = -1;
	g.in_fd = 0;

	while ((o = getopt_long(argc, argv, "s:f:t:w:S:vh", opts, NULL)) != -1) {
		double *dst = NULL;

		switch (o) {
		case 's': g.sock_name = optarg; break;
		case 'f': dst = &g.freeze_timeout_ms; break;
		case 't': dst = &g.timeout_ms; break;
		case 'w': dst = &g.wait_timeout_ms; break;
		case 'S': script = optarg; break;
		case 'v': g.verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (dst && (*dst = parse_duration(optarg)) < 0) {
			fprintf(stderr, "hvsim: bad duration: %s\n", optarg);
			return 2;
		}
	}
	if (!g.sock_name || optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	g.t0 = now_ms();
	if (script) {
		g.in_fd = open(script, O_RDONLY | O_CLOEXEC);
		if (g.in_fd < 0) {
			fprintf(stderr, "hvsim: %s: %s\n", script, strerror(errno));
			return 1;
		}
	}
	g.listen_fd = make_listener(g.sock_name);
	if (g.listen_fd < 0)
		return 1;
	{
		struct jl j;

		jl_begin(&j, "event", "listening");
		jl_str(&j, "socket", g.sock_name);
		jl_ms(&j, "freeze_timeout_ms", g.freeze_timeout_ms);
		jl_ms(&j, "timeout_ms", g.timeout_ms);
		jl_end(&j);
	}

	for (;;) {
		struct pollfd p[3];
		int np = 0, ip = -1, lp, cp = -1, rc;

		run_commands();
		if (g.quit)
			break;
		if (!g.in_eof) {
			ip = np;
			p[np++] = (struct pollfd){ .fd = g.in_fd, .events = POLLIN };
		}
		lp = np;
		p[np++] = (struct pollfd){ .fd = g.listen_fd, .events = POLLIN };
		if (g.conn_fd >= 0) {
			cp = np;
			p[np++] = (struct pollfd){ .fd = g.conn_fd, .events = POLLIN | POLLRDHUP };
		}
		rc = poll(p, (nfds_t)np, poll_timeout());
		if (rc < 0 && errno != EINTR) {
			perror("hvsim: poll");
			return 1;
		}
		check_timers();
		if (rc > 0) {
			if (cp >= 0 && g.conn_fd >= 0 && p[cp].revents)
				handle_conn(p[cp].revents);
			if (p[lp].revents)
				handle_accept();
			if (ip >= 0 && p[ip].revents)
				read_input();
		}
	}

	{
		struct jl j;
		unsigned pending = g.cur ? 1 : 0;
		struct req *r;

		for (r = g.ring_head; r; r = r->next)
			pending++;
		jl_begin(&j, "event", "quit");
		jl_int(&j, "unanswered", pending);
		jl_end(&j);
	}
	/* Unanswered requests and unread commands are dropped (the host side goes away). */
	free(g.cur);
	while (g.ring_head) {
		struct req *r = g.ring_head;

		g.ring_head = r->next;
		free(r);
	}
	while (g.cq_head) {
		struct cmdline *c = g.cq_head;

		g.cq_head = c->next;
		free(c->text);
		free(c);
	}
	if (g.conn_fd >= 0)
		close(g.conn_fd);
	close(g.listen_fd);
	if (g.sock_is_path)
		unlink(g.sock_path);
	return 0;
}
