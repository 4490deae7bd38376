// SPDX-License-Identifier: MIT
/* quiesce-group's group definition: command-line guests and the INI file (inih). */
#include "group/gspec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

#include "common/util.h"

#define MAX_DURATION_MS (24ULL * 3600 * 1000)
#define MAX_FILE_BYTES (64 * 1024)

/* The longest line inih reads as one (INI_MAX_LINE counts '\r', '\n' and NUL). */
#define LINE_MAX_BYTES (INI_MAX_LINE - 3)

/* No blanks, controls, or inih's comment characters: what the state file can hold. */
static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == ';' || *s == '#')
			return 0;
	return 1;
}

/* 0 if every line fits inih's buffer (else it parses a long line's rest as a line of
 * its own), else the number of the first that does not. */
static int long_line(const char *text)
{
	int line = 1;

	for (const char *p = text, *nl; *p; p = nl + 1, line++) {
		size_t n = (nl = strchr(p, '\n')) ? (size_t)(nl - p) : strlen(p);
		if (n > LINE_MAX_BYTES)
			return line;
		if (!nl)
			break;
	}
	return 0;
}

void gspec_defaults(struct gspec *s)
{
	memset(s, 0, sizeof(*s));
	str_copy(s->name, "group", sizeof(s->name));
	s->deadline_ms = 10000;
	s->hold_ms = 60000;
	s->agent_timeout_ms = 10000;
}

int gspec_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= GSPEC_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

int gspec_add2(struct gspec *s, const char *uri, const char *dom, char *err, size_t errlen)
{
	if (s->n >= GSPEC_MAX_GUESTS) {
		snprintf(err, errlen, "more than %d guests in a group", GSPEC_MAX_GUESTS);
		return -1;
	}
	if (!*uri || strlen(uri) >= GSPEC_URI_MAX || !printable(uri)) {
		snprintf(err, errlen, "bad connection URI (empty, blanks, ';', '#' or over %d bytes)",
			 GSPEC_URI_MAX - 1);
		return -1;
	}
	if (!*dom || strlen(dom) >= GSPEC_DOM_MAX || !printable(dom)) {
		snprintf(err, errlen, "bad domain name '%.64s' (empty, blanks, ';', '#' or over %d "
			 "bytes)", dom, GSPEC_DOM_MAX - 1);
		return -1;
	}
	/* The state file holds "guest = URI:DOMAIN": it must load back (a line inih
	 * takes whole). */
	if (strlen(uri) + strlen(dom) + strlen("guest = :") > LINE_MAX_BYTES) {
		snprintf(err, errlen, "URI and domain name together over %d bytes",
			 LINE_MAX_BYTES - (int)strlen("guest = :"));
		return -1;
	}
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->g[i].uri, uri) && !strcmp(s->g[i].dom, dom)) {
			snprintf(err, errlen, "domain %.200s on %.200s is in the group twice", dom, uri);
			return -1;
		}
	str_copy(s->g[s->n].uri, uri, GSPEC_URI_MAX);
	str_copy(s->g[s->n].dom, dom, GSPEC_DOM_MAX);
	s->n++;
	return 0;
}

int gspec_add(struct gspec *s, const char *uri_dom, char *err, size_t errlen)
{
	const char *colon = strrchr(uri_dom, ':');
	char uri[GSPEC_URI_MAX];
	size_t ulen;

	if (!colon || colon == uri_dom || !colon[1]) {
		snprintf(err, errlen, "'%.200s': want URI:DOMAIN", uri_dom);
		return -1;
	}
	ulen = (size_t)(colon - uri_dom);
	if (ulen >= sizeof(uri)) {
		snprintf(err, errlen, "connection URI over %d bytes", GSPEC_URI_MAX - 1);
		return -1;
	}
	memcpy(uri, uri_dom, ulen);
	uri[ulen] = 0;
	return gspec_add2(s, uri, colon + 1, err, errlen);
}

struct load_ctx {
	struct gspec *s;
	char *err;
	size_t errlen;
	int failed;
};

static int on_kv(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *c = user;
	struct gspec *s = c->s;
	char why[256] = "";
	uint64_t *dur = NULL;

	if (c->failed)
		return 0;
	if (strcmp(section, "group")) {
		snprintf(why, sizeof(why), "unknown section [%.60s]", section);
	} else if (!strcmp(key, "name")) {
		if (!gspec_name_ok(value))
			snprintf(why, sizeof(why), "bad group name (letters, digits, - _ .)");
		else
			str_copy(s->name, value, sizeof(s->name));
	} else if (!strcmp(key, "guest")) {
		gspec_add(s, value, why, sizeof(why));
	} else if (!strcmp(key, "deadline")) {
		dur = &s->deadline_ms;
	} else if (!strcmp(key, "hold")) {
		dur = &s->hold_ms;
	} else if (!strcmp(key, "agent-timeout")) {
		dur = &s->agent_timeout_ms;
	} else {
		snprintf(why, sizeof(why), "unknown key '%.60s'", key);
	}
	if (dur && (parse_duration_ms(value, MAX_DURATION_MS, dur) < 0 || *dur == 0))
		snprintf(why, sizeof(why), "bad duration for %s: '%.60s'", key, value);
	if (why[0]) {
		snprintf(c->err, c->errlen, "%s", why);
		c->failed = 1;
		return 0;
	}
	return 1;
}

int gspec_load_string(struct gspec *s, const char *text, char *err, size_t errlen)
{
	struct load_ctx c = { s, err, errlen, 0 };
	char why[256] = "";
	int line;

	c.err = why;
	c.errlen = sizeof(why);
	line = long_line(text);
	if (line) {
		snprintf(err, errlen, "line %d: longer than %d bytes", line, LINE_MAX_BYTES);
		return -1;
	}
	line = ini_parse_string(text, on_kv, &c);
	if (line != 0) {
		snprintf(err, errlen, "line %d: %s", line, why[0] ? why : "syntax error");
		return -1;
	}
	return 0;
}

int gspec_load_file(struct gspec *s, const char *path, char *err, size_t errlen)
{
	static char buf[MAX_FILE_BYTES + 1];
	FILE *f = fopen(path, "re");
	size_t n;
	int rc;

	if (!f) {
		snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	rc = ferror(f);
	fclose(f);
	if (rc || n > MAX_FILE_BYTES) {
		snprintf(err, errlen, "%.200s: %s", path, rc ? "read error" : "over 64 KiB");
		return -1;
	}
	buf[n] = 0;
	if (memchr(buf, 0, n)) {
		snprintf(err, errlen, "%.200s: holds a NUL byte", path);
		return -1;
	}
	if (gspec_load_string(s, buf, err, errlen) < 0) {
		char tmp[320];
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%.200s: %s", path, tmp);
		return -1;
	}
	return 0;
}

static void print_ms(FILE *f, const char *key, uint64_t ms)
{
	fprintf(f, "%s = %llums\n", key, (unsigned long long)ms);
}

void gspec_print(FILE *f, const struct gspec *s)
{
	fprintf(f, "[group]\nname = %s\n", s->name);
	print_ms(f, "deadline", s->deadline_ms);
	print_ms(f, "hold", s->hold_ms);
	print_ms(f, "agent-timeout", s->agent_timeout_ms);
	for (int i = 0; i < s->n; i++)
		fprintf(f, "guest = %s:%s\n", s->g[i].uri, s->g[i].dom);
}
