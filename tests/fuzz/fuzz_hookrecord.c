// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the run-dir record of the hooks that got freeze
 * (src/hooks/hookrecord.c), read by a quiesced at start.
 *
 * What parses must be a record hookrecord_write could have written: at most
 * HOOKRECORD_MAX hooks, names without '/' that are not "." or "..", every field
 * terminated within its buffer. Writing it and parsing that gives the same record,
 * and writing that again gives the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hookrecord.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static char *write_text(const struct hookrecord *r, size_t *len)
{
	const char *names[HOOKRECORD_MAX], *results[HOOKRECORD_MAX];
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	check(f != NULL);
	for (size_t i = 0; i < r->n; i++) {
		names[i] = r->v[i].name;
		results[i] = r->v[i].result;
	}
	hookrecord_write(f, r->dir, names, results, r->n);
	check(fclose(f) == 0);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hookrecord r, r2;
	char *t1, *t2;
	size_t l1, l2;

	if (hookrecord_parse((const char *)data, size, &r) < 0) {
		check(r.n == 0 && r.v == NULL);
		return 0;
	}
	check(r.n <= HOOKRECORD_MAX && r.dir[0]);
	for (size_t i = 0; i < r.n; i++) {
		check(r.v[i].name[0] && !strchr(r.v[i].name, '/'));
		check(strcmp(r.v[i].name, ".") && strcmp(r.v[i].name, ".."));
		check(r.v[i].result[0]);
	}
	t1 = write_text(&r, &l1);
	check(hookrecord_parse(t1, l1, &r2) == 0 && r2.n == r.n && !strcmp(r2.dir, r.dir));
	for (size_t i = 0; i < r.n; i++)
		check(!strcmp(r.v[i].name, r2.v[i].name) && !strcmp(r.v[i].result, r2.v[i].result));
	t2 = write_text(&r2, &l2);
	check(l1 == l2 && memcmp(t1, t2, l1) == 0);
	free(t1);
	free(t2);
	hookrecord_free(&r);
	hookrecord_free(&r2);
	return 0;
}
