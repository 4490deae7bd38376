// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for quiesced's config file parser (src/daemon/config.c, with
 * inih): config_load_string on the input, on top of the defaults.
 *
 * Beyond "no crash, no leak": what loads must print (config_print, the output of
 * --print-config) as a config file that loads again into the same settings. So
 * load(input) -> print -> load -> print must give the same text twice and the same
 * durations (unless a value from a continuation line cannot be written back). And
 * a line longer than inih's buffer (it would parse the rest of the line as a line of
 * its own) never loads. The parser's complaints go to stdio's stderr, pointed at
 * /dev/null here (file descriptor 2 is untouched: sanitizer and libFuzzer reports
 * still show).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static FILE *real_stderr;

static void check(int cond, const char *what, const char *a, const char *b)
{
	if (cond)
		return;
	fprintf(real_stderr, "fuzz_config: %s\n--- first:\n%s--- second:\n%s", what, a, b ? b : "");
	abort();
}

/* The defaults as quiesced makes them: no arguments, an empty config file. */
static void load(struct config *cfg, const char *text, int *rc, char **printed)
{
	static char a0[] = "quiesced", a1[] = "--config", a2[] = "/dev/null";
	char *argv[] = { a0, a1, a2, NULL };
	size_t len;
	FILE *f;

	check(config_init(cfg, 3, argv) == 0, "defaults", "", NULL);
	*rc = config_load_string(cfg, text);
	f = open_memstream(printed, &len);
	check(f != NULL, "open_memstream", "", NULL);
	config_print(cfg, f);
	fclose(f);
}

static size_t longest_line(const char *s)
{
	size_t max = 0;
	for (const char *nl; *s; s = nl + 1) {
		size_t n = (nl = strchr(s, '\n')) ? (size_t)(nl - s) : strlen(s);
		max = n > max ? n : max;
		if (!nl)
			break;
	}
	return max;
}

/* Whether printed settings can load back as they are: no line too long for inih even
 * as "name=value", no value with a space before a ';' (read as a comment). Only a
 * continuation line loads such values; they cannot be written back. */
static bool writable(const char *s)
{
	for (const char *nl, *eq, *end; *s; s = nl + 1) {
		size_t n = (nl = strchr(s, '\n')) ? (size_t)(nl - s) : strlen(s);
		end = s + n;
		if ((eq = memchr(s, '=', n))) {
			if (eq > s && eq[-1] == ' ' && eq + 1 < end && eq[1] == ' ')
				n -= 2;
			for (const char *p = eq + 1; p + 1 < end; p++)
				if (isspace((unsigned char)*p) && p[1] == ';')
					return false;
		}
		if (n > INI_MAX_LINE - 2)
			return false;
		if (!nl)
			break;
	}
	return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	real_stderr = stderr;
	stderr = fopen("/dev/null", "w");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config a, b;
	char *text = malloc(size + 1), *p1, *p2;
	int rc;

	check(text != NULL, "malloc", "", NULL);
	memcpy(text, data, size);
	text[size] = '\0'; /* inih reads a C string: it ends at the first NUL */
	load(&a, text, &rc, &p1);
	check(rc != 0 || longest_line(text) <= INI_MAX_LINE - 2, "a line inih splits loaded", text,
	      NULL);
	if (rc == 0 && writable(p1)) {
		load(&b, p1, &rc, &p2);
		check(rc == 0, "the printed settings do not load", p1, NULL);
		check(strcmp(p1, p2) == 0, "printing what was loaded is not stable", p1, p2);
		check(a.lease_ms == b.lease_ms && a.timeout_ms == b.timeout_ms &&
		      a.fs_timeout_ms == b.fs_timeout_ms, "a duration changed", text, p1);
		config_free(&b);
		free(p2);
	}
	config_free(&a);
	free(p1);
	free(text);
	return 0;
}
