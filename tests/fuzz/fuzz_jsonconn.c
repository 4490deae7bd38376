// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for jsonconn's framing (src/host/jsonconn.c) with small limits, so
 * that the size and depth limits, the 0xFF resync and the line skipping meet at input
 * sizes libFuzzer makes (the json target has the transports' real limits, 64 KiB).
 *
 * The first two bytes set the limits: byte 0 bits 0-5 max_value - 1, bit 6
 * ff_resync, bit 7 skip_line; byte 1 bits 0-3 max_depth - 1, bit 4 ff_report, bit 5
 * validate_utf8, bit 6 a max_output of 256 bytes, bit 7 the checks of jsontext.c:
 * strict_utf8 with reject_nul (the control socket's), or with bit 4 set
 * no_nonchars and reject_nul_keys (QGA's). The rest arrives on a socket; each
 * value is sent back, each parse error answered with a short line. Checked: no
 * callback after on_close, which comes exactly once, 0xFF is reported only if
 * asked for, and with reject_nul no value handed on holds a NUL.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "host/jsonconn.h"
#include "host/jsontext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *loop;
static struct loop_timer tick;
static struct jsonconn_limits lim;
static int closed, values;
static bool client_gone;

static void check(int cond)
{
	if (!cond)
		abort();
}

static void on_value(struct jsonconn *c, struct json_object *v, void *arg)
{
	(void)arg;
	check(!closed && (!lim.reject_nul || jsontext_nuls_in_values(v) == 0));
	jsonconn_send(c, v, ++values % 2); /* v may be NULL (null); the send may close c */
	json_object_put(v);
}

static void on_parse_error(struct jsonconn *c, const char *why, void *arg)
{
	struct json_object *e = json_object_new_string(why);
	(void)arg;
	check(!closed && why && (strcmp(why, JSONCONN_WHY_FF) || (lim.ff_resync && lim.ff_report)));
	jsonconn_send(c, e, false);
	json_object_put(e);
}

static void on_close(struct jsonconn *c, void *arg)
{
	(void)c, (void)arg;
	check(closed++ == 0);
}

static const struct jsonconn_ops ops = { on_value, on_parse_error, on_close };

static void on_answers(struct loop *l, int fd, uint32_t events, void *arg)
{
	static char buf[1 << 16];
	ssize_t n;
	(void)events, (void)arg;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n == 0 || errno != EAGAIN) {
		loop_del_fd(l, fd);
		close(fd);
		client_gone = true;
	}
}

static void on_tick(struct loop *l, void *arg)
{
	(void)arg;
	loop_stop(l, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2], unread;

	if (size < 2)
		return 0;
	if (!loop) {
		log_init("fuzz_jsonconn", true, true);
		log_hold(true); /* formatted, never written */
		check((loop = loop_new()) != NULL);
	}
	lim = (struct jsonconn_limits){
		.max_value = 1 + (data[0] & 63), .ff_resync = data[0] & 64, .skip_line = data[0] & 128,
		.max_depth = 1 + (data[1] & 15), .ff_report = data[1] & 16,
		.validate_utf8 = data[1] & 32, .max_output = data[1] & 64 ? 256 : 1 << 20,
		.strict_utf8 = data[1] & 128, .reject_nul = (data[1] & 144) == 128,
		.no_nonchars = (data[1] & 144) == 144, .reject_nul_keys = (data[1] & 144) == 144,
	};
	closed = values = 0;
	client_gone = false;
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	check(jsonconn_new(loop, sv[0], &lim, &ops, NULL) != NULL);
	(void)send(sv[1], data + 2, size - 2, MSG_DONTWAIT | MSG_NOSIGNAL);
	check(fd_set_nonblock(sv[1]) == 0 && loop_add_fd(loop, sv[1], EPOLLIN, on_answers, NULL) == 0);
	/* Until all is read (or the connection closed), then the end of the input. */
	do {
		loop_timer_arm(loop, &tick, 0, on_tick, NULL);
		loop_run(loop);
		check(client_gone || ioctl(sv[1], SIOCOUTQ, &unread) == 0);
		if (!client_gone && !unread && !closed)
			shutdown(sv[1], SHUT_WR);
	} while (!client_gone);
	check(closed == 1);
	return 0;
}
