// SPDX-License-Identifier: MIT
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/jsonput.h"
#include "common/util.h"

int cli_connect(struct cli *cli)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(cli->socket) >= sizeof(sa.sun_path)) {
		snprintf(cli->err, sizeof(cli->err), "socket path too long: %s", cli->socket);
		return -1;
	}
	str_copy(sa.sun_path, cli->socket, sizeof(sa.sun_path));
	cli->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cli->fd < 0 || connect(cli->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(cli->err, sizeof(cli->err), "cannot connect to quiesced at %s: %s%s",
			 cli->socket, strerror(errno),
			 errno == ENOENT || errno == ECONNREFUSED ? " (is quiesced running?)" : "");
		if (cli->fd >= 0)
			close(cli->fd);
		cli->fd = -1;
		return -1;
	}
	cli->tok = json_tokener_new_ex(64);
	if (!cli->tok) {
		snprintf(cli->err, sizeof(cli->err), "out of memory");
		return -1;
	}
	return 0;
}

void cli_disconnect(struct cli *cli)
{
	if (cli->fd >= 0)
		close(cli->fd);
	cli->fd = -1;
	if (cli->tok)
		json_tokener_free(cli->tok);
	cli->tok = NULL;
}

static int send_all(struct cli *cli, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(cli->fd, s, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(cli->err, sizeof(cli->err), "lost the connection to quiesced: %s",
				 strerror(errno));
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

struct json_object *cli_lease_args(double lease)
{
	struct json_object *args = json_object_new_object();

	if (args && lease > 0 && !jput(args, "lease", json_object_new_double(lease))) {
		json_object_put(args);
		return NULL;
	}
	return args;
}

/* The request {"execute":cmd,"arguments":args,"id":id}; NULL if out of memory. Takes args
 * (freed on failure). */
static struct json_object *request(const char *cmd, struct json_object *args, int id)
{
	struct json_object *req = json_object_new_object();

	if (!req || !jput(req, "execute", json_object_new_string(cmd))) {
		json_object_put(args);
		json_object_put(req);
		return NULL;
	}
	if ((args && !jput(req, "arguments", args)) ||
	    !jput(req, "id", json_object_new_int(id))) {
		json_object_put(req);
		return NULL;
	}
	return req;
}

int cli_call(struct cli *cli, const char *cmd, struct json_object *args, struct json_object **ans)
{
	static int next_id = 1;
	int id = next_id++;
	struct json_object *req = request(cmd, args, id);
	const char *s = req ? json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN) : NULL;
	uint64_t deadline = now_ms() + (uint64_t)cli->wait_ms;
	int r;

	cli->timed_out = false;
	if (!s) {
		json_object_put(req);
		snprintf(cli->err, sizeof(cli->err), "out of memory");
		return -1;
	}
	r = send_all(cli, s, strlen(s));
	if (r == 0)
		r = send_all(cli, "\n", 1);
	json_object_put(req);
	if (r < 0)
		return -1;

	for (;;) {
		char buf[4096];
		struct pollfd p = { .fd = cli->fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;
		size_t off = 0;

		if (now >= deadline) {
			snprintf(cli->err, sizeof(cli->err),
				 "no answer from quiesced within %.1f s (see --wait)",
				 cli->wait_ms / 1000.0);
			cli->timed_out = true;
			return -1;
		}
		r = poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		n = read(cli->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(cli->err, sizeof(cli->err), "quiesced closed the connection%s%s",
				 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return -1;
		}
		while (off < (size_t)n) {
			struct json_object *v;
			enum json_tokener_error e;
			struct json_object *vid;
			v = json_tokener_parse_ex(cli->tok, buf + off, (int)((size_t)n - off));
			e = json_tokener_get_error(cli->tok);
			if (e == json_tokener_continue)
				break;
			off += json_tokener_get_parse_end(cli->tok);
			json_tokener_reset(cli->tok);
			while (off < (size_t)n && (buf[off] == '\n' || buf[off] == ' '))
				off++;
			if (e != json_tokener_success) {
				snprintf(cli->err, sizeof(cli->err), "bad answer from quiesced: %s",
					 json_tokener_error_desc(e));
				return -1;
			}
			if (json_object_object_get_ex(v, "id", &vid) && json_object_get_int(vid) == id) {
				*ans = v;
				return 0;
			}
			/* An answer without our id: the daemon refused us before reading. */
			if (!json_object_object_get_ex(v, "id", &vid) &&
			    json_object_object_get_ex(v, "error", NULL)) {
				*ans = v;
				return 0;
			}
			json_object_put(v);
		}
	}
}

struct json_object *cli_return(struct json_object *ans)
{
	struct json_object *ret = NULL;
	json_object_object_get_ex(ans, "return", &ret);
	return ret;
}

const char *cli_error_desc(struct json_object *ans)
{
	struct json_object *err, *desc;
	const char *s = NULL;
	if (json_object_object_get_ex(ans, "error", &err) &&
	    json_object_object_get_ex(err, "desc", &desc))
		s = json_object_get_string(desc); /* NULL if it is null */
	return s ? s : "failed";
}

void cli_print_json(struct json_object *v)
{
	printf("%s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
}

int cli_report_error(struct cli *cli, const char *verb, struct json_object *ans)
{
	struct json_object *err = NULL, *klass = NULL, *desc = NULL;
	const char *k;

	json_object_object_get_ex(ans, "error", &err);
	json_object_object_get_ex(err, "class", &klass);
	json_object_object_get_ex(err, "desc", &desc);
	k = klass ? json_object_get_string(klass) : "GenericError";
	if (cli->json)
		cli_print_json(ans);
	else
		fprintf(stderr, "quiescectl %s: %s\n", verb,
			desc ? json_object_get_string(desc) : "failed");
	if (!strcmp(k, "PermissionDenied"))
		return EXIT_DENIED;
	if (!strcmp(k, "LeaseExpired"))
		return EXIT_LEASE;
	if (!strcmp(k, "CommandNotFound"))
		return EXIT_UNREACHABLE; /* a daemon that does not speak our protocol */
	return EXIT_FAILED;
}

int cli_parse_seconds(const char *s, double *out)
{
	uint64_t ms;
	if (parse_duration_ms(s, 24ull * 3600 * 1000, &ms) < 0 || ms == 0)
		return -1;
	*out = (double)ms / 1000.0;
	return 0;
}
