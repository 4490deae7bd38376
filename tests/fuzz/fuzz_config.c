/*
 * libFuzzer target for quiesced's config file parser (src/daemon/config.c, with
 * inih): config_load_string on the input, on top of the defaults.
 *
 * Beyond "no crash, no leak": what loads must print (config_print, the output of
 * --print-config) as a config file that loads again into the same settings. So
 * load(input) -> print -> load -> print must give the same text twice and the same
 * durations (unless a value is too long to print in one line that inih takes). And
 * a line longer than inih's buffer (it would parse the rest of the line as a line of
 * its own) never loads. The parser's complaints go to stdio's stderr, pointed at
 * /dev/null here (file descriptor 2 is untouched: sanitizer and libFuzzer reports
 * still show).
 */
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

/* Its longest line; with tight, as if written "name=value" rather than "name = value". */
static size_t longest_line(const char *s, bool tight)
{
	size_t max = 0;
	for (const char *nl, *eq; *s; s = nl + 1) {
		size_t n = (nl = strchr(s, '\n')) ? (size_t)(nl - s) : strlen(s);
		if (tight && (eq = memchr(s, '=', n)) && eq > s && eq[-1] == ' ' && eq[1] == ' ')
			n -= 2;
		max = n > max ? n : max;
		if (!nl)
			break;
	}
	return max;
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
	check(rc != 0 || longest_line(text, false) <= INI_MAX_LINE - 2, "a line inih splits loaded", text,
	      NULL);
	/* A value too long for a line inih takes even as "name=value" (it came from a
	 * continuation line) cannot be written back: no round trip for it. */
	if (rc == 0 && longest_line(p1, true) <= INI_MAX_LINE - 2) {
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
