// SPDX-License-Identifier: MIT
/* quiesce-group: what a group is (its guests, each a domain on a libvirt URI) and
 * its limits, from the command line or a small INI file. Pure parsing, no libvirt. */
#ifndef QUIESCE_GSPEC_H
#define QUIESCE_GSPEC_H

#include <stdint.h>
#include <stdio.h>

#define GSPEC_MAX_GUESTS 32
#define GSPEC_URI_MAX 512
#define GSPEC_DOM_MAX 256
#define GSPEC_NAME_MAX 64

struct gspec_guest {
	char uri[GSPEC_URI_MAX];
	char dom[GSPEC_DOM_MAX];
};

struct gspec {
	char name[GSPEC_NAME_MAX];
	uint64_t deadline_ms;      /* the whole group's freeze */
	uint64_t hold_ms;          /* the snapshot or the user's command */
	uint64_t agent_timeout_ms; /* one agent call (check, and the wait for a late freeze) */
	int n;
	struct gspec_guest g[GSPEC_MAX_GUESTS];
};

void gspec_defaults(struct gspec *s);

/* "URI:DOMAIN", split at the last ':' (URIs have colons, domain names rarely).
 * 0, or -1 with a reason in err. */
int gspec_add(struct gspec *s, const char *uri_dom, char *err, size_t errlen);
/* The same with the URI given apart (--connect URI NAME...). */
int gspec_add2(struct gspec *s, const char *uri, const char *dom, char *err, size_t errlen);

/* A group name: letters, digits, '-', '_', '.'; it names the state file. */
int gspec_name_ok(const char *name);

/* The config file format (also the state file's):
 *   [group]
 *   name = shop
 *   deadline = 10s
 *   hold = 60s
 *   agent-timeout = 10s
 *   guest = qemu:///system:db         (one line per guest)
 * Text must be NUL-terminated. 0, or -1 with the line and reason in err. */
int gspec_load_string(struct gspec *s, const char *text, char *err, size_t errlen);
int gspec_load_file(struct gspec *s, const char *path, char *err, size_t errlen);

/* Writes s in the format above (what the state file holds). */
void gspec_print(FILE *f, const struct gspec *s);

#endif
