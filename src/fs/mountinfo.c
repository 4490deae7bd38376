// SPDX-License-Identifier: MIT
#include "fs/mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void mountinfo_unescape(char *s)
{
	char *w = s;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			int c = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
			if (c != 0) {
				*w++ = (char)c;
				s += 4;
				continue;
			}
		}
		*w++ = *s++;
	}
	*w = '\0';
}

int mount_opts_has(const char *opts, const char *opt)
{
	size_t n = strlen(opt);
	const char *p = opts;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, opt, n) == 0)
			return 1;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 0x7fffffff)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_devno(const char *s, unsigned *maj, unsigned *min)
{
	char *end;
	unsigned long a, b;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	a = strtoul(s, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9' || a > 0xfffff)
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (errno || *end || b > 0xfffff)
		return -1;
	*maj = (unsigned)a;
	*min = (unsigned)b;
	return 0;
}

static void entry_free(struct mount_entry *e)
{
	free(e->root);
	free(e->mountpoint);
	free(e->mount_opts);
	free(e->fstype);
	free(e->source);
	free(e->super_opts);
}

/* Split one line (NUL-terminated, modified in place) into an entry.
 * Returns 1 parsed, 0 malformed, -1 out of memory. */
static int parse_line(char *line, struct mount_entry *e)
{
	char *field[64];
	size_t nf = 0, sep = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (nf == sizeof(field) / sizeof(field[0]))
			return 0;
		field[nf++] = tok;
	}
	/* Fields 0-5 are fixed, then optional fields, then "-", then three more. */
	for (size_t i = 6; i < nf; i++) {
		if (strcmp(field[i], "-") == 0) {
			sep = i;
			break;
		}
	}
	if (nf < 10 || sep == 0 || nf != sep + 4)
		return 0;
	memset(e, 0, sizeof(*e));
	if (parse_int(field[0], &e->id) || parse_int(field[1], &e->parent_id) ||
	    parse_devno(field[2], &e->major, &e->minor))
		return 0;
	if (field[4][0] != '/')
		return 0;
	e->root = strdup(field[3]);
	e->mountpoint = strdup(field[4]);
	e->mount_opts = strdup(field[5]);
	e->fstype = strdup(field[sep + 1]);
	e->source = strdup(field[sep + 2]);
	e->super_opts = strdup(field[sep + 3]);
	if (!e->root || !e->mountpoint || !e->mount_opts || !e->fstype || !e->source ||
	    !e->super_opts) {
		entry_free(e);
		return -1;
	}
	mountinfo_unescape(e->root);
	mountinfo_unescape(e->mountpoint);
	mountinfo_unescape(e->source);
	return 1;
}

int mountinfo_parse(const char *text, size_t len, struct mount_table *out, size_t *bad)
{
	size_t cap = 0, nbad = 0;
	const char *p = text, *end = text + len;
	char line[MOUNTINFO_MAX_LINE];

	out->v = NULL;
	out->n = 0;
	if (len > MOUNTINFO_MAX_BYTES) {
		errno = EFBIG;
		return -1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct mount_entry e;
		int r;

		if (n == 0) {
			p += 1;
			continue;
		}
		if (n >= sizeof(line) || memchr(p, '\0', n)) {
			nbad++;
		} else {
			memcpy(line, p, n);
			line[n] = '\0';
			r = parse_line(line, &e);
			if (r < 0)
				goto nomem;
			if (r == 0) {
				nbad++;
			} else {
				if (out->n == cap) {
					size_t ncap = cap ? cap * 2 : 32;
					struct mount_entry *v = realloc(out->v, ncap * sizeof(*v));
					if (!v) {
						entry_free(&e);
						goto nomem;
					}
					out->v = v;
					cap = ncap;
				}
				out->v[out->n++] = e;
			}
		}
		p += n + (nl ? 1 : 0);
	}
	if (bad)
		*bad = nbad;
	return 0;
nomem:
	mount_table_free(out);
	errno = ENOMEM;
	return -1;
}

int mountinfo_read(const char *path, struct mount_table *out, size_t *bad)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	int fd, r, saved;

	/* Empty on every failure, as mountinfo_parse leaves it. */
	out->v = NULL;
	out->n = 0;
	if (!buf)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -1;
	}
	for (;;) {
		ssize_t got;
		if (len == cap) {
			char *nb;
			size_t ncap = cap * 2;
			/* Room for one byte past the bound: a file of exactly
			 * MOUNTINFO_MAX_BYTES is accepted, as mountinfo_parse accepts it. */
			if (cap > MOUNTINFO_MAX_BYTES) {
				close(fd);
				free(buf);
				errno = EFBIG;
				return -1;
			}
			if (ncap > MOUNTINFO_MAX_BYTES + 1)
				ncap = MOUNTINFO_MAX_BYTES + 1;
			nb = realloc(buf, ncap);
			if (!nb) {
				close(fd);
				free(buf);
				return -1;
			}
			buf = nb;
			cap = ncap;
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			free(buf);
			errno = saved;
			return -1;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	r = mountinfo_parse(buf, len, out, bad);
	saved = errno;
	free(buf);
	errno = saved;
	return r;
}

void mount_table_free(struct mount_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		entry_free(&t->v[i]);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
