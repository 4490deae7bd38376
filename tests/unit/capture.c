// SPDX-License-Identifier: MIT
/* The unit tests' capture of stdout and stderr (quiescectl's output and messages):
 * each fd is pointed at an unlinked temp file while fn runs, then put back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"

struct redirect {
	int fd, tmp, saved;
};

static void redirect(struct redirect *r, int fd)
{
	char path[] = "/tmp/test_capture.XXXXXX";

	r->fd = fd;
	r->tmp = mkstemp(path);
	r->saved = dup(fd);
	assert_true(r->tmp >= 0 && r->saved >= 0);
	unlink(path);
	fflush(NULL);
	assert_true(dup2(r->tmp, fd) == fd);
}

static char *undo(struct redirect *r)
{
	off_t len;
	char *text;

	fflush(NULL);
	assert_true(dup2(r->saved, r->fd) == r->fd);
	close(r->saved);
	len = lseek(r->tmp, 0, SEEK_END);
	assert_true(len >= 0);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(pread(r->tmp, text, (size_t)len, 0), len);
	close(r->tmp);
	return text;
}

void capture(void (*fn)(void *arg), void *arg, char **out, char **err)
{
	struct redirect o, e;

	redirect(&o, 1);
	redirect(&e, 2);
	fn(arg);
	*err = undo(&e);
	*out = undo(&o);
}

size_t capture_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return 0;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return n;
}
