// SPDX-License-Identifier: MIT
/* quiesced's config file, line by line as inih reads it (confline.c): the reader that
 * refuses a line too long, which values a line can hold, and the line --print-config
 * writes for one setting. Private to config.c. */
#ifndef QUIESCE_CONFLINE_H
#define QUIESCE_CONFLINE_H

#include <stdbool.h>
#include <stdio.h>

/* inih reads a line in pieces of its buffer's size (INI_MAX_LINE - 1 bytes) and
 * parses each piece as a line of its own: the end of a long value would be read as
 * a setting ("exclude = /...scope=/"). So a line that does not fit stops the parse
 * and is an error. The lines come from a file (f) or a string (s). */
struct line_reader {
	FILE *f;
	const char *s;
	int line;
	int too_long;           /* the line number, 0 if none */
	int max;                /* the longest line inih takes */
};

/* ini_parse_stream's reader; arg is a struct line_reader. */
char *confline_read(char *buf, int size, void *arg);

/* True if "name = value" reads back as value: false for a line break (CR or LF: the
 * rest would be a line of its own, another setting), a blank at either end (inih strips
 * them) and a ';' after a blank (an inline comment). */
bool confline_value_ok(const char *value);

/* Writes "name = value" as it loads back (value: confline_value_ok). */
void confline_print(FILE *out, const char *name, const char *value);

#endif
