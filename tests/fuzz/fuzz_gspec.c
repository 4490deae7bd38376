// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for quiesce-group's config file (src/group/gspec.c, with inih),
 * which is also its state file: gspec_load_string on the input. Beyond "no crash, no
 * leak": what loads prints (gspec_print, what the state file holds) as text that
 * loads again into the same group, since `quiesce-group thaw` must read back every
 * group a run wrote.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/gspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same group: names and strings compared as strings (a name set twice keeps
 * the longer one's bytes after the NUL). */
static int same(const struct gspec *a, const struct gspec *b)
{
	if (strcmp(a->name, b->name) || a->deadline_ms != b->deadline_ms ||
	    a->hold_ms != b->hold_ms || a->agent_timeout_ms != b->agent_timeout_ms || a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->g[i].uri, b->g[i].uri) || strcmp(a->g[i].dom, b->g[i].dom))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gspec a, b;
	char err[600] = "", *text, *printed = NULL;
	size_t len = 0;
	FILE *f;

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	gspec_defaults(&a);
	if (gspec_load_string(&a, text, err, sizeof(err)) == 0) {
		f = open_memstream(&printed, &len);
		if (!f)
			abort();
		gspec_print(f, &a);
		fclose(f);
		gspec_defaults(&b);
		if (gspec_load_string(&b, printed, err, sizeof(err)) != 0 ||
		    !same(&a, &b)) {
			fprintf(stderr, "fuzz_gspec: printed group does not load back: %s\n%s", err,
				printed);
			abort();
		}
		free(printed);
	}
	free(text);
	return 0;
}
