// SPDX-License-Identifier: MIT
#include "host/control.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/host.h"
#include "common/slots.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/jsonconn.h"
#include "host/listener.h"

/* Root may use every slot, and the last CONTROL_ROOT_SLOTS only root may take; one
 * other user holds at most a few, and an idle one is dropped, so that nobody without
 * root can fill the socket and lock root's quiescectl out (docs/security.md). */
#define MAX_CLIENTS 64
#define CONTROL_ROOT_SLOTS 16
#define MAX_CLIENTS_PER_USER 8
/* A non-root client with no call pending that sends no complete request for this
 * long is closed: quiescectl sends its request at once and waits for the answer. */
#define CONTROL_IDLE_MS 10000

/* Every control session asks the engine as this one caller (engine/txn.h). */
static const struct txn_caller control_caller = { "control" };

static const struct slots_policy control_slots = {
	.total = MAX_CLIENTS,
	.root_reserved = CONTROL_ROOT_SLOTS,
	.per_uid = MAX_CLIENTS_PER_USER,
};

static const struct jsonconn_limits control_limits = {
	.max_value = 64 * 1024,
	.max_depth = 16,
	.max_output = 4 * 1024 * 1024,
	/* Never echo bytes that are not UTF-8, nor act on a string cut at a NUL. */
	.validate_utf8 = true,
	.strict_utf8 = true,
	.reject_nul = true,
};

struct control_client {
	struct cmd_session s;       /* first: the session is the client */
	struct control *ctl;
	struct control_client *prev, *next;
	struct loop_timer idle;     /* non-root only: CONTROL_IDLE_MS without a request */
};

struct control {
	struct host_ctx *ctx;
	int fd;
	char *path;
	unsigned clients;
	struct control_client *list;
	struct listener_pause pause;   /* out of fds: stop polling for a while */
};

static void client_release(struct cmd_session *s)
{
	struct control_client *cl = (struct control_client *)s;
	if (!cl->ctl) {
		/* The listener closed before this client's last call was answered. */
		free(cl);
		return;
	}
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		cl->ctl->list = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	cl->ctl->clients--;
	free(cl);
}

static void on_idle_timer(struct loop *loop, void *arg)
{
	struct control_client *cl = arg;
	if (cl->s.pending) {
		/* Waiting for an answer is not idle. */
		loop_timer_arm(loop, &cl->idle, CONTROL_IDLE_MS, on_idle_timer, cl);
		return;
	}
	log_info("control: closing idle client pid %d uid %u (no request for %d s)", (int)cl->s.pid,
		 (unsigned)cl->s.uid, CONTROL_IDLE_MS / 1000);
	if (cl->s.conn)
		jsonconn_free(cl->s.conn);
}

static void on_value(struct jsonconn *c, struct json_object *v, void *arg)
{
	struct control_client *cl = arg;
	(void)c;
	/* Only a whole request counts as activity: a byte now and then does not. */
	if (!cl->s.root)
		loop_timer_arm(cl->s.ctx->loop, &cl->idle, CONTROL_IDLE_MS, on_idle_timer, cl);
	cmd_dispatch(&cl->s, v);
	json_object_put(v);
}

static void on_parse_error(struct jsonconn *c, const char *why, void *arg)
{
	struct control_client *cl = arg;
	char desc[256];
	(void)c;
	snprintf(desc, sizeof(desc), "JSON parse error, %s", why);
	cmd_send_error(&cl->s, "GenericError", desc);
}

static void on_close(struct jsonconn *c, void *arg)
{
	struct control_client *cl = arg;
	(void)c;
	loop_timer_disarm(cl->s.ctx->loop, &cl->idle);
	/* A freeze held by this client (quiescectl snapshot) ends with it. */
	if (cl->ctl)
		engine_owner_gone(cl->ctl->ctx->engine, &cl->s);
	cmd_session_closed(&cl->s);
}

static const struct jsonconn_ops client_ops = {
	.on_value = on_value,
	.on_parse_error = on_parse_error,
	.on_close = on_close,
};

/* Root finds every slot taken (all 16 of its own among them): the oldest client of
 * another user that waits for no answer makes way, so that root is served first.
 * Closing it releases its slot at once (nothing pending). */
static bool make_way_for_root(struct control *ctl)
{
	struct control_client *victim = NULL;
	for (struct control_client *cl = ctl->list; cl; cl = cl->next)
		if (!cl->s.root && cl->s.conn && !cl->s.pending)
			victim = cl;   /* the list is newest first */
	if (!victim)
		return false;
	log_info("control: closing pid %d uid %u to make room for root", (int)victim->s.pid,
		 (unsigned)victim->s.uid);
	jsonconn_free(victim->s.conn);
	return true;
}

/* The slot rule (daemon/slots.h): root always finds one of its reserved slots, and
 * beyond them takes one of another user's. */
static enum slots_verdict admit(struct control *ctl, const struct ucred *cred)
{
	struct slots_used u = { .all = ctl->clients };
	enum slots_verdict v;

	if (cred->uid == 0 && ctl->clients >= MAX_CLIENTS && make_way_for_root(ctl))
		return SLOTS_OK;

	for (struct control_client *cl = ctl->list; cl; cl = cl->next) {
		u.others += !cl->s.root;
		u.this_uid += cl->s.uid == cred->uid && cl->s.conn;
	}
	v = slots_admit(&control_slots, cred->uid, &u);
	if (v != SLOTS_OK)
		log_warnx("control: refusing pid %d uid %u: %s (%u clients, %u of other users, %u of its "
		  "user)", (int)cred->pid, cred->uid, slots_verdict_name(v), u.all, u.others,
		  u.this_uid);
	return v;
}

static void on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct control *ctl = arg;
	struct control_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int cfd;
	(void)events;

	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		listener_accept_failed(&ctl->pause);
		return;
	}
	listener_accepted(&ctl->pause);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("control: SO_PEERCRED");
		close(cfd);
		return;
	}
	switch (admit(ctl, &cred)) {
	case SLOTS_OK:
		break;
	case SLOTS_UID_FULL:
		jsonconn_refuse(cfd, "too many connections from your user to quiesced");
		return;
	case SLOTS_FULL:
		jsonconn_refuse(cfd, "too many clients connected to quiesced; try again later");
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(cfd);
		return;
	}
	cl->ctl = ctl;
	cl->s.ctx = ctl->ctx;
	cl->s.transport = CMD_CONTROL;
	cl->s.caller = &control_caller;
	cl->s.uid = cred.uid;
	cl->s.pid = cred.pid;
	cl->s.root = cred.uid == 0;
	cl->s.release = client_release;
	cl->s.conn = jsonconn_new(loop, cfd, &control_limits, &client_ops, cl);
	if (!cl->s.conn) {
		close(cfd);
		free(cl);
		return;
	}
	ctl->clients++;
	cl->next = ctl->list;
	if (ctl->list)
		ctl->list->prev = cl;
	ctl->list = cl;
	if (!cl->s.root)
		loop_timer_arm(loop, &cl->idle, CONTROL_IDLE_MS, on_idle_timer, cl);
	log_debug("control: client pid %d uid %u", (int)cred.pid, cred.uid);
}

bool control_in_use(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (str_copy(sa.sun_path, path, sizeof(sa.sun_path)) >= sizeof(sa.sun_path))
		return false;
	return unix_socket_answers(&sa, SOCK_STREAM);
}

struct control *control_new(struct host_ctx *ctx, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *ctl;
	struct stat st;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warnx("control socket path too long: %s", path);
		return NULL;
	}
	str_copy(sa.sun_path, path, sizeof(sa.sun_path));
	if (unix_socket_answers(&sa, SOCK_STREAM)) {
		log_warnx("another quiesced is already running (it answers on %s)", path);
		errno = EADDRINUSE;
		return NULL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return NULL;
	ctl->ctx = ctx;
	ctl->path = strdup(path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!ctl->path || ctl->fd < 0)
		goto fail;
	/* A stale socket (nobody answered above) is replaced; anything else is not ours. */
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_warnx("control: %s exists and is not a socket; not replacing it", path);
		goto fail;
	}
	unlink(path);
	old = umask(0111);
	if (bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		log_warn("control: bind %s", path);
		goto fail;
	}
	umask(old);
	listener_pause_init(&ctl->pause, ctx->loop, ctl->fd, "control");
	/* Status is for everyone; the commands that freeze check the peer's uid. */
	if (chmod(path, 0666) < 0 || listen(ctl->fd, 16) < 0 ||
	    loop_add_fd(ctx->loop, ctl->fd, EPOLLIN, on_accept, ctl) < 0) {
		log_warn("control: %s", path);
		unlink(path);
		goto fail;
	}
	return ctl;
fail:
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl->path);
	free(ctl);
	return NULL;
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	/* Closing a client releases it once no call of its is pending; calls still
	 * pending at shutdown are answered (to nobody) when the engine finishes. */
	for (struct control_client *cl = ctl->list, *next; cl; cl = next) {
		next = cl->next;
		if (cl->s.conn)
			jsonconn_free(cl->s.conn);
	}
	/* Clients still waiting for an answer outlive us: detach them. */
	for (struct control_client *cl = ctl->list; cl; cl = cl->next)
		cl->ctl = NULL;
	ctl->list = NULL;
	listener_pause_free(&ctl->pause);
	loop_del_fd(ctl->ctx->loop, ctl->fd);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
