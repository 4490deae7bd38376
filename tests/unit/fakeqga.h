// SPDX-License-Identifier: MIT
/* A stand-in qemu-ga for the unit tests that start one (test_qgaback, test_qga): the
 * test binary itself, run by qgaback.c with qemu-ga's arguments (-m unix-listen -p PATH
 * ... -b BLOCKED). It listens on PATH, takes one connection and answers it line by
 * line: guest-sync and guest-sync-delimited (0xFF first) here, every other command as
 * the test's request() says. No real qemu-ga is ever run. */
#ifndef QUIESCE_FAKEQGA_H
#define QUIESCE_FAKEQGA_H

#include <stdbool.h>

struct json_object;

struct fakeqga {
	/* Before listening: 0 goes on, anything else is the exit status. */
	int (*check)(int argc, char **argv);
	const char *first;           /* sent first on the connection (NULL: nothing) */
	const char *ff_answer;       /* sent for a line that begins with 0xFF (NULL: none) */
	/* A request other than guest-sync(-delimited); name is its "execute". */
	void (*request)(int fd, const char *name, struct json_object *req);
};

/* In main, first: this binary was started as qemu-ga. */
bool fakeqga_wanted(int argc, char **argv);
/* Be qemu-ga; returns the exit status. */
int fakeqga_run(int argc, char **argv, const struct fakeqga *q);

/* The value of an option (-p, -b), or NULL. */
const char *fakeqga_arg(int argc, char **argv, const char *opt);
/* Send s, all of it, or exit 4. */
void fakeqga_send(int fd, const char *s);
/* Answer {"return": ret, "id": the request's id}. */
void fakeqga_answer_id(int fd, const char *ret, struct json_object *req);

#endif
