// SPDX-License-Identifier: MIT
/* quiesced's settings: defaults, then the config file, then the command line.
 *
 * Every setting is one row of the table in config.c, which drives getopt_long, the
 * config file parser (inih) and --help alike, so the three cannot disagree. */
#ifndef QUIESCE_CONFIG_H
#define QUIESCE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* QUIESCE_SYSCONFDIR: make's SYSCONFDIR (Makefile, "install directories"). */
#include "quiesce-paths.h"

struct strlist {
	char **v;
	size_t n;
};

struct config {
	bool foreground;
	bool debug;
	char *config_file;
	char *scope;
	char *run_dir;
	char *control_path;
	char *qga_path;             /* --qga: NULL = no guest agent channel */
	char *qga_backend;          /* NULL: QGA_BACKEND_DEFAULT */
	bool no_qga_backend;
	uint64_t qga_backend_timeout_ms;
	uint64_t lease_ms;
	uint64_t timeout_ms;
	uint64_t fs_timeout_ms;
	char *guardian;
	bool no_guardian;
	struct strlist include, exclude, include_types, exclude_types;
	char *log_ident;            /* NULL: "quiesced" */
	char *hyperv_path;          /* NULL: the default device if it exists */
	bool no_hyperv;
	/* apps and hooks (src/apps/, docs/apps.md) */
	char *app_socket;
	unsigned app_socket_mode;       /* CONFIG_MODE_AUTO: 0600, or 0660 with a group */
	char *app_socket_group;
	unsigned max_apps;
	unsigned app_connect_rate;      /* per second; 0: no limit */
	char *hook_dir;
	uint64_t hook_timeout_ms;       /* 0 until parsed: then --timeout */
};

#define CONFIG_MODE_AUTO 01000u
#define DEFAULT_HOOK_DIR QUIESCE_SYSCONFDIR "/quiesce/hooks.d"

#define DEFAULT_CONFIG_FILE QUIESCE_SYSCONFDIR "/quiesce/quiesced.conf"
#define DEFAULT_RUN_DIR "/run/quiesce"

/* Parses argv (and the config file it names, or the default one if it exists).
 * Returns 0 to run, 1 if it already did its job (--help, --version: exit 0),
 * -1 on error (message printed to stderr: exit 2). */
int config_init(struct config *cfg, int argc, char **argv);
void config_free(struct config *cfg);
/* Settings in config file syntax from memory, on top of cfg, as the config file is
 * read (errors printed to stderr). Returns 0, or -1. */
int config_load_string(struct config *cfg, const char *text);
/* The effective settings, in config file syntax. */
void config_print(const struct config *cfg, FILE *out);

/* The path of a file in the run dir, or the explicit path if one was given. */
char *config_run_path(const struct config *cfg, const char *explicit_path, const char *name);

#endif
