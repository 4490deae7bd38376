// SPDX-License-Identifier: MIT
#include "daemon/config.h"
#include "host/qgafwd.h"
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/confline.h"

#define MAX_DURATION_MS (24ull * 3600 * 1000)

enum opt_kind { OPT_FLAG, OPT_STRING, OPT_DURATION, OPT_LIST, OPT_ACTION, OPT_UINT, OPT_MODE };

struct opt_def {
	const char *name;      /* long option, and the key in the config file */
	int short_opt;         /* 0: none */
	enum opt_kind kind;
	const char *section;   /* config file section; NULL: command line only */
	size_t offset;         /* into struct config */
	const char *arg;       /* argument name for --help */
	const char *help;
};

#define OFF(field) offsetof(struct config, field)

/* The one table of settings. Keep --help, README and docs in step with it. */
static const struct opt_def opts[] = {
	{ "foreground", 'n', OPT_FLAG, NULL, OFF(foreground), NULL,
	  "stay in the foreground and log to stderr (hv_vss_daemon: --no-daemon)" },
	{ "no-daemon", 0, OPT_FLAG, NULL, OFF(foreground), NULL, NULL /* alias of -n */ },
	{ "debug", 'd', OPT_FLAG, "daemon", OFF(debug), NULL, "debug logging" },
	{ "log-ident", 0, OPT_STRING, "daemon", OFF(log_ident), "NAME",
	  "syslog ident (default quiesced; \"Hyper-V VSS\" is hv_vss_daemon's)" },
	{ "config", 'c', OPT_STRING, NULL, OFF(config_file), "FILE",
	  "config file (default " DEFAULT_CONFIG_FILE " if it exists)" },
	{ "scope", 0, OPT_STRING, "daemon", OFF(scope), "DIR",
	  "only filesystems mounted at or under DIR are candidates; loop-backed ones are then allowed" },
	{ "run-dir", 0, OPT_STRING, "daemon", OFF(run_dir), "DIR",
	  "runtime directory, a tmpfs (default " DEFAULT_RUN_DIR ")" },
	{ "control", 0, OPT_STRING, "daemon", OFF(control_path), "PATH",
	  "control socket for quiescectl (default RUN-DIR/control.sock)" },
	{ "qga", 0, OPT_STRING, "daemon", OFF(qga_path), "PATH",
	  "serve the QEMU guest agent protocol: PATH is a character device (virtio-serial "
	  "port) to open, or a Unix socket to listen on" },
	{ "qga-backend", 0, OPT_STRING, "daemon", OFF(qga_backend), "PATH",
	  "with --qga: the qemu-ga run behind quiesced for every agent command it does not "
	  "serve itself (default " QGA_BACKEND_DEFAULT ", if installed)" },
	{ "no-qga-backend", 0, OPT_FLAG, "daemon", OFF(no_qga_backend), NULL,
	  "with --qga: serve the fsfreeze commands alone, no qemu-ga behind" },
	{ "qga-backend-timeout", 0, OPT_DURATION, "daemon", OFF(qga_backend_timeout_ms), "SECONDS",
	  "longest wait for the backend's answer before an error and its restart (default 30)" },
	{ "lease", 0, OPT_DURATION, "daemon", OFF(lease_ms), "SECONDS",
	  "longest time writes are held before thawing on our own (default 60)" },
	{ "timeout", 0, OPT_DURATION, "daemon", OFF(timeout_ms), "SECONDS",
	  "per-phase bound for participants (default 15, as hv_vss(4))" },
	{ "fs-timeout", 0, OPT_DURATION, "daemon", OFF(fs_timeout_ms), "SECONDS",
	  "longest wait for one FIFREEZE before the freeze fails (default: --timeout)" },
	{ "guardian", 0, OPT_STRING, "daemon", OFF(guardian), "PATH",
	  "the thaw guardian program (default: quiesce-guardian beside quiesced, else "
	  QUIESCE_GUARDIAN_PATH ")" },
	{ "no-guardian", 0, OPT_FLAG, NULL, OFF(no_guardian), NULL,
	  "run without a thaw guardian (unsafe: if quiesced dies while frozen, nothing thaws)" },
	{ "include", 0, OPT_LIST, "filesystems", OFF(include), "PATTERN",
	  "only mountpoints matching this fnmatch(3) pattern (repeatable)" },
	{ "exclude", 0, OPT_LIST, "filesystems", OFF(exclude), "PATTERN",
	  "never mountpoints matching this pattern (repeatable)" },
	{ "include-type", 0, OPT_LIST, "filesystems", OFF(include_types), "TYPE",
	  "only filesystems of this type (repeatable; allows vfat if named)" },
	{ "exclude-type", 0, OPT_LIST, "filesystems", OFF(exclude_types), "TYPE",
	  "never filesystems of this type (repeatable)" },
	{ "hyperv", 0, OPT_STRING, "hyperv", OFF(hyperv_path), "PATH",
	  "Hyper-V VSS channel: the device (default /dev/vmbus/hv_vss if it exists) or a "
	  "SOCK_SEQPACKET socket" },
	{ "no-hyperv", 0, OPT_FLAG, "hyperv", OFF(no_hyperv), NULL, "do not serve Hyper-V VSS" },
	{ "app-socket", 0, OPT_STRING, "apps", OFF(app_socket), "PATH",
	  "socket applications register on (default RUN-DIR/app.sock)" },
	{ "app-socket-mode", 0, OPT_MODE, "apps", OFF(app_socket_mode), "MODE",
	  "its file mode, octal (default 0600, or 0660 with --app-socket-group)" },
	{ "app-socket-group", 0, OPT_STRING, "apps", OFF(app_socket_group), "GROUP",
	  "its group; members may register apps (default: root only)" },
	{ "max-apps", 0, OPT_UINT, "apps", OFF(max_apps), "N",
	  "most applications registered at once (default 1024)" },
	{ "app-connect-rate", 0, OPT_UINT, "apps", OFF(app_connect_rate), "N",
	  "app connections per second after a burst of --max-apps (default 100; 0: none)" },
	{ "hook-dir", 0, OPT_STRING, "hooks", OFF(hook_dir), "DIR",
	  "run the executables in DIR with freeze/thaw (default " DEFAULT_HOOK_DIR ")" },
	{ "hook-timeout", 0, OPT_DURATION, "hooks", OFF(hook_timeout_ms), "SECONDS",
	  "longest run of one hook (default: --timeout)" },
	{ "print-config", 0, OPT_ACTION, NULL, 0, NULL, "print the effective settings and exit" },
	{ "help", 'h', OPT_ACTION, NULL, 0, NULL, "show this help and exit" },
	{ "version", 'V', OPT_ACTION, NULL, 0, NULL, "show the version and exit" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: quiesced [OPTION]...\n"
		     "Application-consistent freeze broker: asks registered applications to hold\n"
		     "their writes, freezes filesystems (FIFREEZE) and thaws them, on request of\n"
		     "quiescectl, the QEMU guest agent protocol or Hyper-V.\n\nOptions:\n");
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		char left[64];
		const struct opt_def *o = &opts[i];
		if (!o->help)
			continue;
		if (o->short_opt)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_opt, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		/* A left column too wide for the 28 gets the help on a line of its own. */
		if (strlen(left) > 28)
			fprintf(out, "  %s\n  %-28s %s\n", left, "", o->help);
		else
			fprintf(out, "  %-28s %s\n", left, o->help);
	}
	fprintf(out, "\nThe config file has the same settings in [daemon], [filesystems], [hyperv],\n"
		     "[apps] and [hooks] sections, key = value with the long option names; command\n"
		     "line options win.\n"
		     "Exit status: 0 after a clean shutdown, 1 on a runtime failure, 2 on bad usage.\n");
}

/* Fatal: quiesced cannot start without its settings. */
_Noreturn static void out_of_memory(void)
{
	fprintf(stderr, "quiesced: out of memory\n");
	exit(1);
}

static void list_add(struct strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v || !(v[l->n] = strdup(s)))
		out_of_memory();
	l->v = v;
	l->n++;
}

static void list_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
		*out = true;
	else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
		 !strcasecmp(s, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

/* A string or list value: not empty, and one --print-config can write so that it
 * reads back the same (a newline in it would start another setting). */
static int check_text(const struct opt_def *o, const char *val, const char *where)
{
	if (!*val) {
		fprintf(stderr, "quiesced: %s: %s: empty value\n", where, o->name);
		return -1;
	}
	if (!confline_value_ok(val)) {
		fprintf(stderr, "quiesced: %s: %s: a line break, a blank at either end or a ';' "
			"after a blank cannot be in a value: '%s'\n", where, o->name, val);
		return -1;
	}
	return 0;
}

/* Apply one setting. from_file: value comes from the config file. */
static int apply(struct config *cfg, const struct opt_def *o, const char *val, bool from_file,
		 const char *where)
{
	char *base = (char *)cfg;
	switch (o->kind) {
	case OPT_FLAG:
		if (!from_file) {
			*(bool *)(base + o->offset) = true;
		} else if (parse_bool(val, (bool *)(base + o->offset)) < 0) {
			fprintf(stderr, "quiesced: %s: %s: expected true or false, got '%s'\n", where,
				o->name, val);
			return -1;
		}
		return 0;
	case OPT_STRING: {
		char **p = (char **)(base + o->offset);
		if (check_text(o, val, where) < 0)
			return -1;
		free(*p);
		if (!(*p = strdup(val)))
			out_of_memory();
		return 0;
	}
	case OPT_DURATION:
		if (parse_duration_ms(val, MAX_DURATION_MS, (uint64_t *)(base + o->offset)) < 0 ||
		    *(uint64_t *)(base + o->offset) == 0) {
			fprintf(stderr,
				"quiesced: %s: %s: expected seconds (e.g. 15, 2.5 or 500ms; more than "
				"0, at most a day), got '%s'\n",
				where, o->name, val);
			return -1;
		}
		return 0;
	case OPT_LIST:
		if (check_text(o, val, where) < 0)
			return -1;
		list_add((struct strlist *)(base + o->offset), val);
		return 0;
	case OPT_UINT:
	case OPT_MODE: {
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(val, &end, o->kind == OPT_MODE ? 8 : 10);
		if (!*val || *end || errno || *val == '-' ||
		    v > (o->kind == OPT_MODE ? 0777ul : 1000000ul)) {
			fprintf(stderr, "quiesced: %s: %s: expected %s, got '%s'\n", where, o->name,
				o->kind == OPT_MODE ? "an octal file mode (e.g. 0660)"
						    : "a number (at most 1000000)", val);
			return -1;
		}
		*(unsigned *)(base + o->offset) = (unsigned)v;
		return 0;
	}
	case OPT_ACTION:
		return 0;
	}
	return -1;
}

struct ini_ctx {
	struct config *cfg;
	const char *path;
	int err;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *c = user;
	char where[512];
	snprintf(where, sizeof(where), "%s: [%s]", c->path, section);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		if (opts[i].section && !strcmp(opts[i].section, section) &&
		    !strcmp(opts[i].name, name)) {
			if (apply(c->cfg, &opts[i], value, true, where) < 0)
				c->err = 1;
			return 1;
		}
	}
	fprintf(stderr, "quiesced: %s: unknown setting '%s'\n", where, name);
	c->err = 1;
	return 1;
}

static int parse_ini(struct config *cfg, const char *path, FILE *f, const char *s)
{
	struct ini_ctx c = { cfg, path, 0 };
	struct line_reader lr = { f, s, 0, 0, 0 };
	int r = ini_parse_stream(confline_read, &lr, on_ini, &c);
	if (r < 0) {
		fprintf(stderr, "quiesced: %s: out of memory\n", path);
		return -1;
	}
	if (r > 0)
		fprintf(stderr, "quiesced: %s:%d: syntax error\n", path, r);
	if (lr.too_long)
		fprintf(stderr, "quiesced: %s:%d: line too long (at most %d bytes)\n", path,
			lr.too_long, lr.max);
	return r || lr.too_long || c.err ? -1 : 0;
}

static int load_file(struct config *cfg, const char *path)
{
	FILE *f = fopen(path, "r");
	int r;
	if (!f) {
		fprintf(stderr, "quiesced: cannot read config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	r = parse_ini(cfg, path, f, NULL);
	fclose(f);
	return r;
}

int config_load_string(struct config *cfg, const char *text)
{
	return parse_ini(cfg, "(string)", NULL, text);
}

static void defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lease_ms = 60 * 1000;
	cfg->timeout_ms = 15 * 1000;
	cfg->qga_backend_timeout_ms = 30 * 1000;
	cfg->app_socket_mode = CONFIG_MODE_AUTO;
	cfg->max_apps = 1024;
	cfg->app_connect_rate = 100;
}

/* getopt's tables, from the options table: long option i is 256 + i. */
struct getopt_tables {
	struct option longopts[ARRAY_SIZE(opts) + 1];
	char shortopts[64];
};

static void make_getopt_tables(struct getopt_tables *t)
{
	size_t ns = 0;

	t->shortopts[ns++] = '+';
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		bool has_arg = opts[i].kind != OPT_FLAG && opts[i].kind != OPT_ACTION;
		t->longopts[i] = (struct option){ opts[i].name,
						  has_arg ? required_argument : no_argument,
						  NULL, 256 + (int)i };
		if (opts[i].short_opt) {
			t->shortopts[ns++] = (char)opts[i].short_opt;
			if (has_arg)
				t->shortopts[ns++] = ':';
		}
	}
	t->longopts[ARRAY_SIZE(opts)] = (struct option){ 0 };
	t->shortopts[ns] = '\0';
}

/* Pass 1: --help, --version and the config file name. 1: done (printed), -1: error. */
static int first_pass(struct config *cfg, int argc, char **argv, const struct getopt_tables *t,
		      bool *print)
{
	int c, idx;

	opterr = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, t->shortopts, t->longopts, &idx)) != -1) {
		const struct opt_def *o = NULL;
		if (c == '?') {
			fprintf(stderr, "Try 'quiesced --help'.\n");
			return -1;
		}
		for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
			if (c == 256 + (int)i || (opts[i].short_opt && c == opts[i].short_opt))
				o = &opts[i];
		if (!o)
			continue;
		if (!strcmp(o->name, "help")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(o->name, "version")) {
			printf("quiesced %s\n", QUIESCE_VERSION);
			return 1;
		}
		if (!strcmp(o->name, "print-config"))
			*print = true;
		if (!strcmp(o->name, "config") && apply(cfg, o, optarg, false, "--config") < 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "quiesced: unexpected argument '%s'\nTry 'quiesced --help'.\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

/* Pass 2: the command line wins. A list given on the command line replaces the config
 * file's list rather than adding to it. */
static int second_pass(struct config *cfg, int argc, char **argv, const struct getopt_tables *t)
{
	bool seen_list[ARRAY_SIZE(opts)] = { false };
	int c, idx;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, t->shortopts, t->longopts, &idx)) != -1) {
		for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
			const struct opt_def *o = &opts[i];
			char where[64];
			if (c != 256 + (int)i && !(o->short_opt && c == o->short_opt))
				continue;
			if (o->kind == OPT_ACTION || !strcmp(o->name, "config"))
				break;
			if (o->kind == OPT_LIST && !seen_list[i]) {
				list_clear((struct strlist *)((char *)cfg + o->offset));
				seen_list[i] = true;
			}
			snprintf(where, sizeof(where), "--%s", o->name);
			if (apply(cfg, o, optarg, false, where) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

/* The defaults that follow from other settings, absolute paths, the range checks. */
static int finish(struct config *cfg)
{
	if (!cfg->fs_timeout_ms)
		cfg->fs_timeout_ms = cfg->timeout_ms;
	if (!cfg->run_dir && !(cfg->run_dir = strdup(DEFAULT_RUN_DIR)))
		out_of_memory();
	/* Absolute paths: a daemon changes to / and relative ones would then point
	 * elsewhere (and be unlinked there at exit). "@NAME" is an abstract socket. */
	char **paths[] = { &cfg->run_dir, &cfg->control_path, &cfg->guardian, &cfg->app_socket,
			   &cfg->hook_dir, &cfg->qga_backend, &cfg->qga_path,
			   cfg->hyperv_path && cfg->hyperv_path[0] == '@' ? NULL : &cfg->hyperv_path };
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		if (paths[i] && path_make_absolute(paths[i]) < 0) {
			fprintf(stderr, "quiesced: cannot make %s absolute: %s\n", *paths[i],
				strerror(errno));
			return -1;
		}
	if (!cfg->hook_dir && !(cfg->hook_dir = strdup(DEFAULT_HOOK_DIR)))
		out_of_memory();
	if (!cfg->hook_timeout_ms)
		cfg->hook_timeout_ms = cfg->timeout_ms;
	if (cfg->app_socket_mode == CONFIG_MODE_AUTO)
		cfg->app_socket_mode = cfg->app_socket_group ? 0660 : 0600;
	if (cfg->max_apps == 0 || cfg->max_apps > 65536) {
		fprintf(stderr, "quiesced: max-apps: must be 1 to 65536\n");
		return -1;
	}
	if (cfg->scope) {
		/* Canonical, so it compares with mountinfo's paths. */
		char *real = realpath(cfg->scope, NULL);
		if (!real) {
			fprintf(stderr, "quiesced: --scope %s: %s\n", cfg->scope, strerror(errno));
			return -1;
		}
		free(cfg->scope);
		cfg->scope = real;
	}
	return 0;
}

int config_init(struct config *cfg, int argc, char **argv)
{
	struct getopt_tables t;
	bool print = false;
	int r;

	defaults(cfg);
	make_getopt_tables(&t);
	r = first_pass(cfg, argc, argv, &t, &print);
	if (r != 0)
		return r;
	if (cfg->config_file) {
		if (load_file(cfg, cfg->config_file) < 0)
			return -1;
	} else if (access(DEFAULT_CONFIG_FILE, F_OK) == 0) {
		if (load_file(cfg, DEFAULT_CONFIG_FILE) < 0)
			return -1;
	}
	if (second_pass(cfg, argc, argv, &t) < 0 || finish(cfg) < 0)
		return -1;
	if (print) {
		config_print(cfg, stdout);
		return 1;
	}
	return 0;
}

void config_print(const struct config *cfg, FILE *out)
{
	const char *section = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		const struct opt_def *o = &opts[i];
		const char *base = (const char *)cfg;
		if (!o->section)
			continue;
		if (!section || strcmp(section, o->section)) {
			fprintf(out, "%s[%s]\n", section ? "\n" : "", o->section);
			section = o->section;
		}
		switch (o->kind) {
		case OPT_FLAG:
			fprintf(out, "%s = %s\n", o->name, *(const bool *)(base + o->offset) ? "true" : "false");
			break;
		case OPT_STRING: {
			const char *s = *(char *const *)(base + o->offset);
			if (s)
				confline_print(out, o->name, s);
			else
				fprintf(out, "# %s =\n", o->name);
			break;
		}
		case OPT_DURATION: {
			char secs[32];
			fprintf(out, "%s = %s\n", o->name,
				format_duration_ms(*(const uint64_t *)(base + o->offset), secs, sizeof(secs)));
			break;
		}
		case OPT_LIST: {
			const struct strlist *l = (const struct strlist *)(base + o->offset);
			if (!l->n)
				fprintf(out, "# %s =\n", o->name);
			for (size_t k = 0; k < l->n; k++)
				confline_print(out, o->name, l->v[k]);
			break;
		}
		case OPT_UINT:
			fprintf(out, "%s = %u\n", o->name, *(const unsigned *)(base + o->offset));
			break;
		case OPT_MODE:
			fprintf(out, "%s = %04o\n", o->name, *(const unsigned *)(base + o->offset));
			break;
		case OPT_ACTION:
			break;
		}
	}
}

void config_free(struct config *cfg)
{
	free(cfg->config_file);
	free(cfg->scope);
	free(cfg->run_dir);
	free(cfg->control_path);
	free(cfg->guardian);
	free(cfg->qga_path);
	free(cfg->qga_backend);
	free(cfg->log_ident);
	free(cfg->hyperv_path);
	list_clear(&cfg->include);
	list_clear(&cfg->exclude);
	list_clear(&cfg->include_types);
	list_clear(&cfg->exclude_types);
	free(cfg->app_socket);
	free(cfg->app_socket_group);
	free(cfg->hook_dir);
}

char *config_run_path(const struct config *cfg, const char *explicit_path, const char *name)
{
	char *p;
	if (explicit_path)
		return strdup(explicit_path);
	if (asprintf(&p, "%s/%s", cfg->run_dir, name) < 0)
		return NULL;
	return p;
}
