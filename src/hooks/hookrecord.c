// SPDX-License-Identifier: MIT
#include "hooks/hookrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < '!' || c == '\\' || c == 0x7f)
			fprintf(f, "\\%03o", c);
		else
			fputc(c, f);
	}
}

/* Unescape one field [p, end) into out (size len). -1 if malformed or too long. */
static int get_field(const char *p, const char *end, char *out, size_t len)
{
	size_t o = 0;
	if (p == end)
		return -1;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			unsigned v = 0;
			if (end - p < 4)
				return -1;
			for (int i = 1; i <= 3; i++) {
				if (p[i] < '0' || p[i] > '7')
					return -1;
				v = v * 8 + (unsigned)(p[i] - '0');
			}
			if (v == 0 || v > 0xff)
				return -1;
			c = (unsigned char)v;
			p += 4;
		} else if (c < '!' || c == 0x7f) {
			return -1;
		} else {
			p++;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* One line [p, end): "dir X" (first line only) or "hook RESULT NAME". */
static int parse_line(const char *p, const char *end, bool first, struct hookrecord *rec)
{
	const char *sp;
	struct hookrecord_entry *e;

	if (first) {
		if (end - p < 4 || memcmp(p, "dir ", 4) != 0)
			return -1;
		return get_field(p + 4, end, rec->dir, sizeof(rec->dir));
	}
	if (end - p < 5 || memcmp(p, "hook ", 5) != 0 || rec->n == HOOKRECORD_MAX)
		return -1;
	p += 5;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp)
		return -1;
	if (!rec->v && !(rec->v = calloc(HOOKRECORD_MAX, sizeof(*rec->v))))
		return -2;
	e = &rec->v[rec->n];
	if (get_field(p, sp, e->result, sizeof(e->result)) < 0 ||
	    get_field(sp + 1, end, e->name, sizeof(e->name)) < 0 || strchr(e->name, '/') ||
	    !strcmp(e->name, ".") || !strcmp(e->name, ".."))
		return -1;
	rec->n++;
	return 0;
}

int hookrecord_parse(const char *buf, size_t len, struct hookrecord *rec)
{
	const char *p = buf, *end = buf + len;
	bool first = true;
	int err = EINVAL, r;

	memset(rec, 0, sizeof(*rec));
	if (len > HOOKRECORD_MAX_BYTES)
		goto bad;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			goto bad;   /* cut short: not written by hookrecord_save */
		if ((r = parse_line(p, nl, first, rec)) < 0) {
			/* Out of memory is no reason to call the record malformed. */
			err = r == -2 ? ENOMEM : EINVAL;
			goto bad;
		}
		first = false;
		p = nl + 1;
	}
	if (first)
		goto bad;
	return 0;
bad:
	hookrecord_free(rec);
	errno = err;
	return -1;
}

void hookrecord_free(struct hookrecord *rec)
{
	free(rec->v);
	memset(rec, 0, sizeof(*rec));
}

void hookrecord_write(FILE *f, const char *dir, const char *const *names,
		      const char *const *results, size_t n)
{
	fputs("dir ", f);
	put_escaped(f, dir);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		fputs("hook ", f);
		put_escaped(f, results[i]);
		fputc(' ', f);
		put_escaped(f, names[i]);
		fputc('\n', f);
	}
}

struct save_args {
	const char *dir;
	const char *const *names, *const *results;
	size_t n;
};

static void write_args(FILE *f, void *arg)
{
	const struct save_args *a = arg;
	hookrecord_write(f, a->dir, a->names, a->results, a->n);
}

int hookrecord_save(const char *path, const char *dir, const char *const *names,
		    const char *const *results, size_t n)
{
	struct save_args a = { dir, names, results, n };
	return file_replace(path, write_args, &a);
}

int hookrecord_load(const char *path, struct hookrecord *rec)
{
	char *buf;
	size_t len = 0;
	ssize_t r;
	int saved;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	memset(rec, 0, sizeof(*rec));
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	buf = malloc(HOOKRECORD_MAX_BYTES + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (len <= HOOKRECORD_MAX_BYTES &&
	       (r = read(fd, buf + len, HOOKRECORD_MAX_BYTES + 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	r = hookrecord_parse(buf, len, rec);
	saved = errno;
	free(buf);
	if (r < 0) {
		errno = saved;
		return -1;
	}
	return 1;
}
