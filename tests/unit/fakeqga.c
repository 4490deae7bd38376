// SPDX-License-Identifier: MIT
/* The stand-in qemu-ga of test_qgaback and test_qga: see fakeqga.h. It runs in its own
 * process (no cmocka there): a failure is an exit status the test sees as the backend
 * dying. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fakeqga.h"

#include "common/util.h"

bool fakeqga_wanted(int argc, char **argv)
{
	return argc > 2 && !strcmp(argv[1], "-m");
}

const char *fakeqga_arg(int argc, char **argv, const char *opt)
{
	const char *v = NULL;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], opt))
			v = argv[i + 1];
	return v;
}

void fakeqga_send(int fd, const char *s)
{
	size_t n = strlen(s);
	if (write(fd, s, n) != (ssize_t)n)
		_exit(4);
}

void fakeqga_answer_id(int fd, const char *ret, struct json_object *req)
{
	struct json_object *id = NULL;
	char buf[512];

	json_object_object_get_ex(req, "id", &id);
	snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %s}\n", ret,
		 json_object_to_json_string_ext(id, JSON_C_TO_STRING_PLAIN));
	fakeqga_send(fd, buf);
}

static void line(int fd, const char *text, const struct fakeqga *q)
{
	struct json_object *req = json_tokener_parse(text), *exec, *args;
	const char *name;
	char buf[256];

	if (!req || !json_object_object_get_ex(req, "execute", &exec))
		_exit(5);
	name = json_object_get_string(exec);
	if (!strcmp(name, "guest-sync-delimited") || !strcmp(name, "guest-sync")) {
		json_object_object_get_ex(req, "arguments", &args);
		snprintf(buf, sizeof(buf), "%s{\"return\": %lld}\n", name[10] == '-' ? "\xff" : "",
			 (long long)json_object_get_int64(json_object_object_get(args, "id")));
		fakeqga_send(fd, buf);
	} else {
		q->request(fd, name, req);
	}
	json_object_put(req);
}

static int listen_accept(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;

	str_copy(sa.sun_path, path, sizeof(sa.sun_path));
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
		return -1;
	return accept(lfd, NULL, NULL);
}

int fakeqga_run(int argc, char **argv, const struct fakeqga *q)
{
	const char *path = fakeqga_arg(argc, argv, "-p");
	char buf[8192];
	size_t len = 0;
	int r = q->check(argc, argv), fd;

	if (r != 0)
		return r;
	if (!path || (fd = listen_accept(path)) < 0)
		return 6;
	if (q->first)
		fakeqga_send(fd, q->first);
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *nl;
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = memchr(buf, '\n', len))) {
			char *text = buf;
			*nl = '\0';
			if ((unsigned char)text[0] == 0xff) {
				if (q->ff_answer)
					fakeqga_send(fd, q->ff_answer);
				text++;
			}
			if (*text)
				line(fd, text, q);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
	}
}
