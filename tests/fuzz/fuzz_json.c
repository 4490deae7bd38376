// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the JSON command layer as quiesced runs it: the input goes
 * through a real socket into the control or the QGA transport (src/host/control.c,
 * qga.c), its jsonconn (framing, limits, 0xFF resync) and cmd_dispatch with the real
 * command tables (cmd_control.c, cmd_guest.c) and the transaction engine
 * (src/engine/), on the daemon's event loop.
 *
 * Nothing can be frozen: src/fs is not linked in and the engine's only stage is a
 * fake one that does nothing. The first byte of the input ('0'..'?') sets up:
 *   bit 0     0: the control socket (as root: every command is allowed), 1: QGA
 *   bits 1-2  the fake stage: 0 none, 1 done at once, 2 done later from the loop
 *             (failing if the engine cancelled it meanwhile), 3 vetoes freeze and check
 *   bit 3     the fake stage counts as a filesystem stage (1 member), so a freeze
 *             reaches the frozen state (QGA's gate) instead of being undone
 * The rest is what the client sends. The loop runs, round by round, until the daemon
 * has read, answered and sent all of it; then the client shuts down its side, and the
 * loop runs until the connection is gone and the engine is at rest (a freeze left
 * standing is then thawed). Checked: every answer is one line holding a JSON object
 * with "return" or "error", valid UTF-8 (RFC 3629: no overlong forms, no surrogates;
 * a QGA host's parser rejects anything else), with no NUL in any string on the
 * control socket (which refuses NULs), and nothing leaks.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "apps/registry.h"
#include "common/jsonput.h"
#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "engine/txn.h"
#include "host/cmd.h"
#include "host/host.h"
#include "host/control.h"
#include "host/hyperv.h"
#include "host/jsontext.h"
#include "host/qga.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct host_ctx q;   /* what the transports see (no status or apps parts) */
static struct control *control;
static char dir[] = "/tmp/quiesce-fuzz-XXXXXX";
static struct sockaddr_un addr[2]; /* control, QGA */
static struct qga *qga;
static unsigned setup;
static enum txn_op stage_op;
static bool stage_pending, stage_cancelled, stage_frozen, client_gone;
static struct loop_timer stage_timer, tick;
static char out[4 << 20];
static size_t out_len;

static void check(int cond)
{
	if (!cond)
		abort();
}

/* The app registry and the Hyper-V channel are not linked in (they have tests of their
 * own): the daemon as it is with no app registered and Hyper-V not served. */
int registry_list(struct registry *r, struct json_object *ret)
{
	(void)r;
	return jput(ret, "apps", json_object_new_array()) &&
	       jput(ret, "count", json_object_new_int64(0)) ? 0 : -1;
}

int hyperv_status(const struct hyperv *hv, struct json_object *ret)
{
	(void)hv, (void)ret;
	abort(); /* q.hyperv is NULL */
}

static void stage_later(struct loop *loop, void *arg)
{
	(void)loop, (void)arg;
	stage_pending = false;
	stage_frozen = stage_op == TXN_FREEZE && !stage_cancelled;
	engine_stage_done(q.engine, !stage_cancelled, stage_cancelled ? "cancelled" : "");
	stage_cancelled = false;
}

/* The engine gave up on the stage (a thaw overtook the freeze): it fails. */
static void stage_cancel(void *self)
{
	(void)self;
	stage_cancelled = true;
}

static enum stage_rc stage_start(void *self, enum txn_op op, const struct txn_request *req,
				 bool *ok, char *msg, size_t len)
{
	(void)self, (void)req;
	stage_op = op;
	if ((setup >> 1 & 3) == 2) {
		stage_pending = true;
		loop_timer_arm(q.loop, &stage_timer, 0, stage_later, NULL);
		return STAGE_PENDING;
	}
	*ok = (setup >> 1 & 3) != 3 || op == TXN_THAW;
	if (!*ok)
		snprintf(msg, len, "vetoed by the fake stage");
	stage_frozen = op == TXN_FREEZE && *ok;
	return STAGE_DONE;
}
static unsigned stage_count(void *self, enum txn_op op) { (void)self, (void)op; return 1; }
static bool stage_active(void *self) { (void)self; return stage_frozen; }
static struct stage_ops stage = { .name = "apps", .start = stage_start, .cancel = stage_cancel,
				  .count = stage_count, .active = stage_active };

static void on_answers(struct loop *loop, int fd, uint32_t events, void *arg)
{
	ssize_t n = -1;
	(void)events, (void)arg;
	while (out_len < sizeof(out) && (n = read(fd, out + out_len, sizeof(out) - out_len)) > 0)
		out_len += (size_t)n;
	if (out_len == sizeof(out) || n == 0 || errno != EAGAIN) {
		loop_del_fd(loop, fd);
		close(fd);
		client_gone = true;
	}
}

static void on_tick(struct loop *loop, void *arg)
{
	(void)arg;
	loop_stop(loop, 0);
}

/* One round of the daemon's loop: the events that are ready, the timers that are due. */
static void run_once(void)
{
	loop_timer_arm(q.loop, &tick, 0, on_tick, NULL);
	loop_run(q.loop);
}

/* Bytes sent that the daemon has not read yet. */
static int unread(int fd)
{
	int n = 0;
	check(ioctl(fd, SIOCOUTQ, &n) == 0);
	return n;
}

static void nothing(void *arg, const struct txn_result *res) { (void)arg, (void)res; }

static bool at_rest(void)
{
	enum txn_state st = engine_state(q.engine);
	return !stage_pending && (st == TXN_IDLE || st == TXN_FROZEN);
}

static void check_answers(bool on_qga)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *v;
	struct jsontext text = { .no_nonchars = false };
	char *p = out, *nl;

	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	/* A last line may be cut short: the daemon drops what it could not send yet
	 * when the client's side is closed. */
	for (; (nl = memchr(p, '\n', (size_t)(out + out_len - p))); p = nl + 1) {
		p += *p == '\xff'; /* guest-sync-delimited */
		json_tokener_reset(tok);
		v = json_tokener_parse_ex(tok, p, (int)(nl - p));
		check(v && json_tokener_get_parse_end(tok) == (size_t)(nl - p));
		check(json_object_object_get_ex(v, "return", NULL) ||
		      json_object_object_get_ex(v, "error", NULL));
		json_object_put(v);
		jsontext_reset(&text);
		jsontext_feed(&text, p, (size_t)(nl - p));
		check(!text.bad_utf8 && (on_qga || text.nuls == 0));
	}
	json_tokener_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct engine_config ecfg = { .lease_ms = 60000, .timeout_ms = 15000 };
	static const struct txn_caller fuzz_caller = { "fuzz" };
	struct txn_request thaw = { .op = TXN_THAW, .caller = &fuzz_caller };
	int fd;

	setup = size ? data[0] & 15 : 0;
	q.engine = engine_new(q.loop, &ecfg);
	check(q.engine && ((setup >> 1 & 3) == 0 || engine_add_stage(q.engine, &stage, NULL) == 0));
	stage.filesystems = setup & 8;
	stage_frozen = client_gone = false;
	out_len = 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	check(fd >= 0 && connect(fd, (struct sockaddr *)&addr[setup & 1], sizeof(addr[0])) == 0);
	/* Whatever fits in the socket's buffer (far more than libFuzzer's inputs). */
	if (size > 1)
		(void)send(fd, data + 1, size - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	check(fd_set_nonblock(fd) == 0 && loop_add_fd(q.loop, fd, EPOLLIN, on_answers, NULL) == 0);
	/* Everything read and answered, and the answers sent (no new ones for two rounds:
	 * a backlog goes out as the client reads), unless the daemon closes first. Only
	 * then the end of the input: the daemon drops what it has not sent at that point. */
	for (int quiet = 0; !client_gone && quiet < 2;) {
		size_t before = out_len;
		run_once();
		quiet = !client_gone && out_len == before && !unread(fd) && at_rest() ? quiet + 1 : 0;
	}
	if (!client_gone)
		shutdown(fd, SHUT_WR);
	while (!client_gone || !at_rest())
		run_once();
	if (engine_state(q.engine) == TXN_FROZEN)
		engine_submit(q.engine, &thaw, nothing, NULL);
	while (!at_rest())
		run_once();
	check(engine_state(q.engine) == TXN_IDLE);
	if (getenv("FUZZ_JSON_SHOW")) /* the answers, to see what an input does */
		fprintf(stderr, "--- setup %u, %zu bytes of answers:\n%.*s", setup, out_len,
			(int)out_len, out);
	check_answers(setup & 1);
	engine_free(q.engine);
	q.engine = NULL;
	return 0;
}

static void cleanup(void)
{
	unlink(addr[0].sun_path);
	unlink(addr[1].sun_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	/* Debug logging formats every line, into the held buffer: nothing is written. */
	log_init("fuzz_json", true, true);
	log_hold(true);
	check(mkdtemp(dir) != NULL && (q.loop = loop_new()) != NULL);
	check(cmd_control_register() == 0 && cmd_guest_register() == 0);
	for (int i = 0; i < 2; i++) {
		addr[i].sun_family = AF_UNIX;
		snprintf(addr[i].sun_path, sizeof(addr[i].sun_path), "%s/%s", dir,
			 i ? "qga.sock" : "control.sock");
	}
	check((control = control_new(&q, addr[0].sun_path)) != NULL);
	check((qga = qga_new(&q, addr[1].sun_path)) != NULL);
	atexit(cleanup);
	return 0;
}
