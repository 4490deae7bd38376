// SPDX-License-Identifier: MIT
#include "daemon/confline.h"

#include <ctype.h>
#include <ini.h>
#include <string.h>

char *confline_read(char *buf, int size, void *arg)
{
	struct line_reader *r = arg;
	size_t n;

	if (r->f) {
		if (!fgets(buf, size, r->f))
			return NULL;
		n = strlen(buf);
	} else {
		const char *nl = strchr(r->s, '\n');
		if (!*r->s)
			return NULL;
		n = nl ? (size_t)(nl - r->s) + 1 : strlen(r->s);
		if (n > (size_t)size - 1)
			n = (size_t)size - 1;
		memcpy(buf, r->s, n);
		buf[n] = '\0';
		r->s += n;
	}
	r->line++;
	r->max = size - 2;
	if (n == (size_t)size - 1 && buf[n - 1] != '\n') {
		r->too_long = r->line;
		return NULL;
	}
	return buf;
}

bool confline_value_ok(const char *value)
{
	size_t n = strlen(value);

	if (strpbrk(value, "\r\n") || (n && (isspace((unsigned char)value[0]) ||
					     isspace((unsigned char)value[n - 1]))))
		return false;
	for (size_t i = 1; i < n; i++)
		if (value[i] == ';' && isspace((unsigned char)value[i - 1]))
			return false;
	return true;
}

/* "name = ;x" would read as an empty value (a ';' after a space starts a comment), and
 * a line too long for inih does not load, so the spaces go only where they fit. (A value
 * from a continuation line may not fit at all.) */
void confline_print(FILE *out, const char *name, const char *value)
{
	bool tight = value[0] == ';' || strlen(name) + strlen(value) + 3 > INI_MAX_LINE - 2;
	fprintf(out, "%s%s%s\n", name, tight ? "=" : " = ", value);
}
