// SPDX-License-Identifier: MIT
/* The QEMU guest agent transport: a character device or a Unix socket carrying
 * qemu-ga's stream of JSON requests, fed to the shared command layer (cmd.c).
 *
 * Whoever is on the other end is the host, so every session is privileged (root);
 * that is why the socket is created mode 0600. Every connection has its own parser
 * (qemu-ga keeps one across clients, so a half-sent request of one client used to
 * prefix the next one's). The frozen-state allow-list is the session's gate. */
#include "host/qga.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/host.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/jsonconn.h"
#include "host/qgafwd.h"
#include "host/listener.h"

/* qemu-ga serves one socket client at a time and leaves the others waiting in the
 * backlog, where a client that never hangs up blocks the host for good. We serve a
 * few at once; a freeze from one is seen (and gated) by all, as it is one engine. */
#define QGA_MAX_CLIENTS 4
#define QGA_REOPEN_MS 1000
/* Requests a client may send ahead of an answer it waits for (qemu-ga reads on
 * only when it has answered); more, and it is dropped. */
#define QGA_MAX_QUEUED 16

/* qemu-ga takes up to 64 MiB per request and 1024 levels of nesting. The few
 * commands served here need a few hundred bytes and 3 levels; the limits leave
 * room for a long mountpoint list and an elaborate "id". */
#define QGA_MAX_VALUE (64 * 1024)
#define QGA_MAX_DEPTH 32
#define QGA_MAX_OUTPUT (1024 * 1024)
/* A socket client that has sent part of a request has this long to send the rest;
 * then it is dropped, so that half-sent requests cannot hold the QGA_MAX_CLIENTS slots
 * for good (hosts write a request whole). An idle client is not dropped: a host
 * keeps its channel open between snapshots. The device has one peer, the host. */
#define QGA_REQUEST_MS 5000

/* Every QGA session asks the engine as this one caller (engine/txn.h). */
static const struct txn_caller qga_caller = { "qga" };

/* What the socket and the device share: they differ only in how a peer may go quiet
 * (a socket client has QGA_REQUEST_MS to finish a request; on the device a hang-up
 * means no host yet, not the end). */
#define QGA_LIMITS                                                                          \
	.max_value = QGA_MAX_VALUE, .max_depth = QGA_MAX_DEPTH, .max_output = QGA_MAX_OUTPUT, \
	.ff_resync = true, .ff_report = true, .skip_line = true, .validate_utf8 = true,     \
	.strict_utf8 = true, .no_nonchars = true, .reject_nul_keys = true

static const struct jsonconn_limits socket_limits = { QGA_LIMITS,
						      .value_timeout_ms = QGA_REQUEST_MS };
static const struct jsonconn_limits device_limits = { QGA_LIMITS, .keep_on_hup = true };

/* Input waiting for the answer to an earlier request (see drain()). */
struct qga_input {
	struct json_object *value;  /* a request (NULL for JSON null), or */
	char *parse_error;          /* the error to send for input that did not parse */
};

struct qga_client {
	struct cmd_session s;       /* first: the session is the client */
	struct qga *g;
	struct qga_client *prev, *next;
	struct qga_input queue[QGA_MAX_QUEUED];
	unsigned head, queued;
	bool draining;
};

struct qga {
	struct host_ctx *ctx;
	char *path;
	bool device;
	int listen_fd;              /* socket mode; -1 for a device */
	struct listener_pause pause;  /* socket mode, out of fds: stop polling for a while */
	unsigned clients;
	struct qga_client *list;
	struct loop_timer reopen;   /* device mode: open again after an error */
	bool reopen_failing;        /* say so once, not every second */
	bool closing;
};

/* ------------------------------------------------------------ sessions */

static bool gate(struct cmd_session *s, const char *name, unsigned flags, const char **klass,
		 char *desc, size_t desclen)
{
	if ((flags & CMD_FROZEN_OK) || !guest_agent_frozen(s->ctx->engine))
		return true;
	*klass = "CommandNotFound";
	snprintf(desc, desclen, "Command %s has been disabled: the agent is in frozen state", name);
	return false;
}

static void client_release(struct cmd_session *s)
{
	struct qga_client *cl = (struct qga_client *)s;
	struct qga *g = cl->g;
	while (cl->queued) {
		struct qga_input *in = &cl->queue[cl->head];
		json_object_put(in->value);
		free(in->parse_error);
		cl->head = (cl->head + 1) % QGA_MAX_QUEUED;
		cl->queued--;
	}
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		g->list = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	g->clients--;
	free(cl);
}

/* Answers go out in the order of the requests, as from qemu-ga (which does one
 * thing at a time). Hosts rely on it: after a timeout they send
 * guest-sync-delimited and take the first answer after its reply as the answer to
 * their next request; a freeze answered after that sync would be taken for it. So
 * while a call is pending (a freeze waits for the engine), later input waits. */
static void drain(struct qga_client *cl)
{
	if (cl->draining)
		return;
	cl->draining = true;
	cmd_session_get(&cl->s); /* cl stays, whatever the calls do */
	while (cl->queued && cl->s.pending == 1 && !cl->s.closed) {
		struct qga_input in = cl->queue[cl->head];
		cl->head = (cl->head + 1) % QGA_MAX_QUEUED;
		cl->queued--;
		/* A request may be NULL: json-c's JSON null (answered as not an object). */
		if (in.parse_error) {
			cmd_send_error(&cl->s, "GenericError", in.parse_error);
			free(in.parse_error);
		} else {
			cmd_dispatch(&cl->s, in.value);
			json_object_put(in.value);
		}
	}
	cl->draining = false;
	cmd_session_put(&cl->s);
}

static void on_idle(struct cmd_session *s)
{
	drain((struct qga_client *)s);
}

static void enqueue(struct jsonconn *c, struct qga_client *cl, struct json_object *v,
		    const char *parse_error)
{
	struct qga_input *in;
	if (cl->queued == QGA_MAX_QUEUED) {
		log_warnx("qga: client sent %d requests ahead of an answer: dropping it",
			  QGA_MAX_QUEUED);
		json_object_put(v);
		jsonconn_free(c);
		return;
	}
	in = &cl->queue[(cl->head + cl->queued) % QGA_MAX_QUEUED];
	in->value = v;
	in->parse_error = parse_error ? strdup(parse_error) : NULL;
	if (parse_error && !in->parse_error) {
		jsonconn_free(c);
		return;
	}
	cl->queued++;
	qgafwd_queued(&cl->s, v); /* a thaw behind a forwarded command hurries it */
	drain(cl);
}

static void on_value(struct jsonconn *c, struct json_object *v, void *arg)
{
	enqueue(c, arg, v, NULL);
}

/* qemu-ga answers input it cannot parse with a GenericError without an id. Its
 * lexer's texts cannot be had from json-c, except for the cases a host meets on
 * purpose: the 0xFF it sends before guest-sync-delimited, and the limits. */
static void on_parse_error(struct jsonconn *c, const char *why, void *arg)
{
	struct qga_client *cl = arg;
	char desc[256];
	if (!strcmp(why, JSONCONN_WHY_FF))
		/* qemu-ga reads 0xFF as an invalid UTF-8 byte and shows it as U+FFFD. */
		str_copy(desc, "JSON parse error, stray '\xef\xbf\xbd'", sizeof(desc));
	else if (!strcmp(why, JSONCONN_WHY_TOO_LONG))
		str_copy(desc, "JSON token size limit exceeded", sizeof(desc));
	else if (!strcmp(why, jsonconn_why_depth()))
		str_copy(desc, "JSON nesting depth limit exceeded", sizeof(desc));
	else
		snprintf(desc, sizeof(desc), "JSON parse error, %s", why);
	if (strcmp(why, JSONCONN_WHY_FF))
		log_debug("qga: %s", desc);
	enqueue(c, cl, NULL, desc);
}

static void start_reopen(struct qga *g);

static void on_close(struct jsonconn *c, void *arg)
{
	struct qga_client *cl = arg;
	struct qga *g = cl->g;
	(void)c;
	/* A freeze made over this channel outlives the client (as with qemu-ga): it
	 * ends with guest-fsfreeze-thaw from the next client, or with the lease. */
	if (engine_state(g->ctx->engine) == TXN_FROZEN)
		log_notice("qga: client gone while frozen; waiting for a thaw or the lease");
	cmd_session_closed(&cl->s);
	if (g->device && !g->closing)
		start_reopen(g);
}

static const struct jsonconn_ops client_ops = {
	.on_value = on_value,
	.on_parse_error = on_parse_error,
	.on_close = on_close,
};

static struct qga_client *add_client(struct qga *g, int fd, const struct jsonconn_limits *lim,
				     uid_t uid, pid_t pid)
{
	struct qga_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	cl->g = g;
	cl->s.ctx = g->ctx;
	cl->s.transport = CMD_QGA;
	cl->s.caller = &qga_caller;
	cl->s.uid = uid;
	cl->s.pid = pid;
	cl->s.root = true; /* the host */
	cl->s.release = client_release;
	cl->s.idle = on_idle;
	cl->s.gate = gate;
	cl->s.lookup = qgafwd_lookup; /* the rest of qemu-ga's commands */
	cl->s.info_extra = qgafwd_info;
	cl->s.conn = jsonconn_new(g->ctx->loop, fd, lim, &client_ops, cl);
	if (!cl->s.conn) {
		free(cl);
		return NULL;
	}
	g->clients++;
	cl->next = g->list;
	if (g->list)
		g->list->prev = cl;
	g->list = cl;
	return cl;
}

/* ------------------------------------------------------------ character device */

static int open_device(struct qga *g)
{
	int fd = open(g->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	struct termios tio;

	if (fd < 0)
		return -1;
	/* A serial line (isa-serial, or a pty in tests) must pass every byte as is:
	 * no echo, no line editing, and 0xFF through untouched. */
	if (isatty(fd)) {
		if (tcgetattr(fd, &tio) == 0) {
			cfmakeraw(&tio);
			tcsetattr(fd, TCSANOW, &tio);
		}
		tcflush(fd, TCIOFLUSH);
	}
	if (!add_client(g, fd, &device_limits, 0, 0)) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void on_reopen(struct loop *loop, void *arg)
{
	struct qga *g = arg;
	(void)loop;
	if (open_device(g) == 0) {
		if (g->reopen_failing)
			log_notice("qga: %s is back", g->path);
		g->reopen_failing = false;
		return;
	}
	if (!g->reopen_failing)
		log_warn("qga: cannot reopen %s (retrying every %d ms)", g->path, QGA_REOPEN_MS);
	g->reopen_failing = true;
	start_reopen(g);
}

static void start_reopen(struct qga *g)
{
	loop_timer_arm(g->ctx->loop, &g->reopen, QGA_REOPEN_MS, on_reopen, g);
}

/* ------------------------------------------------------------ Unix socket */

static void on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct qga *g = arg;
	struct ucred cred = { .pid = 0, .uid = 0 };
	socklen_t len = sizeof(cred);
	int cfd;
	(void)loop;
	(void)events;

	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		listener_accept_failed(&g->pause);
		return;
	}
	listener_accepted(&g->pause);
	(void)getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	if (g->clients >= QGA_MAX_CLIENTS) {
		log_warnx("qga: refusing pid %d: %u clients already connected", (int)cred.pid,
			  g->clients);
		jsonconn_refuse(cfd, "too many clients connected to the agent channel; try again later");
		return;
	}
	if (!add_client(g, cfd, &socket_limits, cred.uid, cred.pid)) {
		close(cfd);
		return;
	}
	log_debug("qga: client pid %d uid %u", (int)cred.pid, (unsigned)cred.uid);
}

static int listen_socket(struct qga *g)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(g->path) >= sizeof(sa.sun_path)) {
		log_warnx("qga: socket path too long: %s", g->path);
		return -1;
	}
	str_copy(sa.sun_path, g->path, sizeof(sa.sun_path));
	if (lstat(g->path, &st) == 0) {
		/* Replace a stale socket, never anything else (nor a live one). */
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("qga: %s exists and is neither a character device nor a socket",
				  g->path);
			return -1;
		}
		if (unix_socket_answers(&sa, SOCK_STREAM)) {
			log_warnx("qga: something already answers on %s", g->path);
			return -1;
		}
		unlink(g->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_warn("qga: socket");
		return -1;
	}
	/* The peer may freeze and thaw: root only. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		log_warn("qga: bind %s", g->path);
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, 4) < 0 || loop_add_fd(g->ctx->loop, fd, EPOLLIN, on_accept, g) < 0) {
		log_warn("qga: %s", g->path);
		unlink(g->path);
		close(fd);
		return -1;
	}
	g->listen_fd = fd;
	listener_pause_init(&g->pause, g->ctx->loop, fd, "qga");
	return 0;
}

/* ------------------------------------------------------------ open and close */

struct qga *qga_new(struct host_ctx *ctx, const char *path)
{
	struct qga *g = calloc(1, sizeof(*g));
	struct stat st;

	if (!g)
		return NULL;
	g->ctx = ctx;
	g->listen_fd = -1;
	/* Absolute: the daemon changes to / when it detaches, and unlinks at exit. */
	g->path = strdup(path);
	if (!g->path || path_make_absolute(&g->path) < 0)
		goto fail;
	/* A device path is never turned into a socket: a virtio-serial port that is
	 * not there yet (hot-plugged later) is waited for. */
	g->device = (stat(g->path, &st) == 0 && S_ISCHR(st.st_mode)) ||
		    str_has_prefix(g->path, "/dev/");
	if (g->device) {
		if (open_device(g) < 0) {
			log_warn("qga: cannot open %s (retrying every %d ms)", g->path,
				 QGA_REOPEN_MS);
			g->reopen_failing = true;
			start_reopen(g);
		}
	} else if (listen_socket(g) < 0) {
		goto fail;
	}
	log_info("qga: serving the guest agent protocol on %s (%s)", g->path,
		 g->device ? "character device" : "Unix socket");
	return g;
fail:
	free(g->path);
	free(g);
	return NULL;
}

void qga_free(struct qga *g)
{
	if (!g)
		return;
	g->closing = true;
	loop_timer_disarm(g->ctx->loop, &g->reopen);
	/* A client is freed once no call of its is pending; calls still pending at
	 * shutdown are answered (to nobody) when the engine finishes. */
	for (struct qga_client *cl = g->list, *next; cl; cl = next) {
		next = cl->next;
		if (cl->s.conn)
			jsonconn_free(cl->s.conn);
	}
	if (g->listen_fd >= 0) {
		listener_pause_free(&g->pause);
		loop_del_fd(g->ctx->loop, g->listen_fd);
		close(g->listen_fd);
		unlink(g->path);
	}
	free(g->path);
	/* Sessions with calls pending still point at g: leak it rather than free it
	 * under them; this happens only at exit. */
	if (!g->list)
		free(g);
}
