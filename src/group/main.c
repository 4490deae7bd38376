// SPDX-License-Identifier: MIT
/* quiesce-group: freeze several guests as one, through libvirt, for a snapshot that
 * is consistent across them. The wiring: options, the state file, signals, report.
 * The phases are gmachine.c's, the guests gvirt.c's. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "group/gcmd.h"
#include "group/gmachine.h"
#include "group/greport.h"
#include "group/gspec.h"
#include "group/gvirt.h"

#define EXIT_USAGE 1

static struct gspec spec;
static struct grun run; /* outlives every thread it starts (gmachine.h) */
static struct gvirt_opts vopts;
static char **command;
static char state_path[512];

static void usage(FILE *f)
{
	fprintf(f,
"Usage: quiesce-group [OPTIONS] [--connect URI DOMAIN...] [-- COMMAND [ARG...]]\n"
"       quiesce-group thaw [--state-dir DIR] [--json] GROUP\n"
"Freeze several libvirt guests as one (their agents: quiesced or qemu-ga), take an\n"
"external disk-only snapshot of each (or run COMMAND) while all are frozen, thaw all.\n"
"\n"
"  -d, --domain URI:DOMAIN  a guest of the group (repeat; split at the last ':')\n"
"      --connect URI        the URI for the DOMAIN names after it (names before the\n"
"                           first --connect: the first's)\n"
"  -c, --config FILE        the group from FILE (quiesce-group(1): [group] name, guest, ...)\n"
"  -n, --name NAME          the group's name (default: group): names its state file\n"
"      --deadline DUR       every guest frozen within DUR, or all thawed (default 10s)\n"
"      --hold DUR           the snapshot or COMMAND within DUR, or killed (default 60s)\n"
"      --agent-timeout DUR  one agent call (default 10s)\n"
"      --snapshot-name NAME the snapshot's name (default: GROUP-UNIXTIME)\n"
"      --metadata           keep libvirt's snapshot metadata (default: none)\n"
"      --check              only check that every guest's agent can freeze\n"
"      --json               the report as JSON on stdout (COMMAND's stdout goes to\n"
"                           stderr then)\n"
"      --state-dir DIR      where the state file goes (default /run/quiesce-group as\n"
"                           root, else $XDG_RUNTIME_DIR/quiesce-group)\n"
"  -h, --help               this help\n"
"  -V, --version            the version\n"
"DUR: seconds (\"1.5\", \"2s\") or milliseconds (\"250ms\").\n"
"Options may come before or after the DOMAIN names; everything after -- is COMMAND's.\n"
"Exit status: 0 done; 1 usage, config or state file; 2 a guest cannot freeze (nothing\n"
"frozen); 3 a freeze failed; 4 the deadline passed; 5 the snapshot or COMMAND failed\n"
"(3-5: every guest that froze was thawed); 6 a thaw failed (see the report).\n");
}

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "quiesce-group: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'quiesce-group --help'.\n");
	exit(EXIT_USAGE);
}

static void duration(const char *name, const char *v, uint64_t *out)
{
	if (parse_duration_ms(v, 24ULL * 3600 * 1000, out) < 0 || *out == 0)
		die_usage("bad duration for %s", name);
}

/* -1 with errno, or errno 0 if there is no directory to use. */
static int state_dir(const char *opt, char *out, size_t len)
{
	const char *x = getenv("XDG_RUNTIME_DIR");
	int n;

	errno = 0;
	if (opt)
		n = snprintf(out, len, "%s", opt);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/run/quiesce-group");
	else if (x && *x)
		n = snprintf(out, len, "%s/quiesce-group", x);
	else
		return -1;
	if (n < 0 || (size_t)n >= len) { /* cut short, it would be another directory */
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void write_spec(FILE *f, void *arg)
{
	fprintf(f, "# quiesce-group: guests of a run that may be frozen; "
		"'quiesce-group thaw %s' thaws them\n", spec.name);
	gspec_print(f, arg);
}

/* The state file: written before the first freeze, removed once every guest is
 * thawed. One run per group at a time: a file left by a killed run blocks the next
 * until quiesce-group thaw. */
static int state_create(const char *dir)
{
	int fd;

	snprintf(state_path, sizeof(state_path), "%s/%s.state", dir, spec.name);
	fd = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "quiesce-group: %s: %s%s\n", state_path, strerror(errno),
			errno == EEXIST ? " (a run of this group is going on, or one was killed: "
			"quiesce-group thaw thaws its guests)" : "");
		return -1;
	}
	close(fd);
	if (file_replace(state_path, write_spec, &spec) < 0) {
		fprintf(stderr, "quiesce-group: cannot write %s: %s\n", state_path, strerror(errno));
		unlink(state_path); /* empty: it would block the next run */
		return -1;
	}
	return 0;
}

static sigset_t sigs;
static pthread_t signal_tid;
static int signal_started;

/* The thread is joined, not detached: main cancels it in sigwait (a cancellation point)
 * when the run is over, so no thread is left running at exit. */
static void *signal_thread(void *arg)
{
	int sig;

	(void)arg;
	if (sigwait(&sigs, &sig) == 0)
		gmachine_stop(&run);
	return NULL;
}

static void start_signal_thread(void)
{
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any other thread exists */
	signal_started = pthread_create(&signal_tid, NULL, signal_thread, NULL) == 0;
}

static void stop_signal_thread(void)
{
	if (!signal_started)
		return;
	pthread_cancel(signal_tid); /* harmless if a signal already ended it */
	pthread_join(signal_tid, NULL);
	signal_started = 0;
}


enum { O_CONNECT = 256, O_DEADLINE, O_HOLD, O_AGENT, O_SNAPNAME, O_METADATA, O_CHECK, O_JSON,
       O_STATEDIR };

static const struct option longopts[] = {
	{ "domain", required_argument, NULL, 'd' },
	{ "connect", required_argument, NULL, O_CONNECT },
	{ "config", required_argument, NULL, 'c' },
	{ "name", required_argument, NULL, 'n' },
	{ "deadline", required_argument, NULL, O_DEADLINE },
	{ "hold", required_argument, NULL, O_HOLD },
	{ "agent-timeout", required_argument, NULL, O_AGENT },
	{ "snapshot-name", required_argument, NULL, O_SNAPNAME },
	{ "metadata", no_argument, NULL, O_METADATA },
	{ "check", no_argument, NULL, O_CHECK },
	{ "json", no_argument, NULL, O_JSON },
	{ "state-dir", required_argument, NULL, O_STATEDIR },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	int thaw, check, json;
	const char *connect, *first_connect, *statedir, *snapname;
	int npos;                                  /* words that are not options */
	struct { const char *word, *uri; } pos[GSPEC_MAX_GUESTS + 1]; /* the first of them */
};

static void option(int c, struct args *a)
{
	char err[512];

	switch (c) {
	case 'd':
		if (gspec_add(&spec, optarg, err, sizeof(err)) < 0)
			die_usage("%s", err);
		break;
	case 'c':
		if (gspec_load_file(&spec, optarg, err, sizeof(err)) < 0)
			die_usage("%s", err);
		break;
	case 'n':
		if (!gspec_name_ok(optarg))
			die_usage("bad group name '%s' (letters, digits, - _ .)", optarg);
		str_copy(spec.name, optarg, sizeof(spec.name));
		break;
	case O_CONNECT:
		a->connect = optarg;
		if (!a->first_connect)
			a->first_connect = optarg;
		break;
	case O_DEADLINE: duration("--deadline", optarg, &spec.deadline_ms); break;
	case O_HOLD: duration("--hold", optarg, &spec.hold_ms); break;
	case O_AGENT: duration("--agent-timeout", optarg, &spec.agent_timeout_ms); break;
	case O_SNAPNAME: a->snapname = optarg; break;
	case O_METADATA: vopts.metadata = 1; break;
	case O_CHECK: a->check = 1; break;
	case O_JSON: a->json = 1; break;
	case O_STATEDIR: a->statedir = optarg; break;
	case 'h': usage(stdout); exit(0);
	case 'V': printf("quiesce-group %s\n", QUIESCE_VERSION); exit(0);
	default: die_usage("%s", "bad option");
	}
}

/* ctx: the args. With --json, stdout is the report's alone. */
static int hold_command(void *ctx, uint64_t limit_ms, struct gres *r)
{
	const struct args *a = ctx;

	return gcmd_run(command, &spec, limit_ms, a->json, &run.stop, r);
}

/* A word that is not an option: the verb "thaw" if first, else a domain name (on the
 * URI of the --connect before it) or thaw's group name. */
static void word(const char *w, struct args *a)
{
	if (!a->thaw && a->npos == 0 && !strcmp(w, "thaw")) {
		a->thaw = 1;
		return;
	}
	if (a->npos < (int)(sizeof(a->pos) / sizeof(a->pos[0]))) {
		a->pos[a->npos].word = w;
		a->pos[a->npos].uri = a->connect;
	}
	a->npos++; /* past the array: more than a group takes, gspec_add2 says so */
}

/* The domain names, in order, each on its --connect URI (before the first --connect:
 * the first's). */
static void add_names(struct args *a)
{
	char err[512];
	int n = a->npos < (int)(sizeof(a->pos) / sizeof(a->pos[0])) ? a->npos
		: (int)(sizeof(a->pos) / sizeof(a->pos[0]));

	for (int i = 0; i < n; i++) {
		const char *uri = a->pos[i].uri ? a->pos[i].uri : a->first_connect;
		if (!uri)
			die_usage("domain name '%s' without --connect URI", a->pos[i].word);
		if (gspec_add2(&spec, uri, a->pos[i].word, err, sizeof(err)) < 0)
			die_usage("%s", err);
	}
}

/* Options may come anywhere (before, between and after the words) up to "--"; what
 * follows "--" is the command (for thaw: its group name). */
static void parse_args(int argc, char **argv, struct args *a)
{
	int dashes = 0;

	for (;;) {
		int at = optind, c = getopt_long(argc, argv, "+d:c:n:hV", longopts, NULL);

		if (c != -1) {
			option(c, a);
			continue;
		}
		if (optind == at + 1 && !strcmp(argv[at], "--")) { /* getopt took it */
			dashes = 1;
			break;
		}
		if (optind >= argc)
			break;
		word(argv[optind++], a);
	}
	if (a->thaw) {
		for (; dashes && optind < argc; optind++)
			word(argv[optind], a);
		if (a->npos != 1 || !gspec_name_ok(a->pos[0].word))
			die_usage("%s", "thaw takes one group name");
		str_copy(spec.name, a->pos[0].word, sizeof(spec.name));
		return;
	}
	add_names(a);
	if (!dashes)
		return;
	if (optind >= argc)
		die_usage("%s", "nothing after --");
	command = &argv[optind];
}

static void report(const struct args *a, const char *mode)
{
	struct greport_info info = { mode, !strcmp(mode, "snapshot") ? vopts.snapshot_name : NULL };

	if (a->json)
		greport_json(stdout, &run, &info);
	else
		greport_text(stdout, &run, &info);
	fflush(stdout);
}

/* quiesce-group thaw GROUP: thaw the guests the state file names, each only if its
 * agent says it is frozen. */
static int v_thaw_if_frozen(void *ctx, int i, struct gres *r)
{
	char st[GRES_MSG];

	if (gvirt_status(i, st, sizeof(st)) == 0 && !strcmp(st, "thawed")) {
		snprintf(r->msg, sizeof(r->msg), "was not frozen");
		return 0;
	}
	return gvirt_ops.thaw(ctx, i, r);
}

static int do_thaw(const struct args *a, const char *dir)
{
	static struct gops ops;
	char err[600];
	char name[GSPEC_NAME_MAX];

	str_copy(name, spec.name, sizeof(name));
	snprintf(state_path, sizeof(state_path), "%s/%s.state", dir, name);
	if (access(state_path, F_OK) < 0) {
		if (errno != ENOENT) { /* it may be there: not ours to say nothing is frozen */
			fprintf(stderr, "quiesce-group: %s: %s\n", state_path, strerror(errno));
			return EXIT_USAGE;
		}
		fprintf(stderr, "quiesce-group: %s: no state file: nothing of group %s is left frozen\n",
			state_path, name);
		return 0;
	}
	gspec_defaults(&spec);
	if (gspec_load_file(&spec, state_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "quiesce-group: %s\n", err);
		return EXIT_USAGE;
	}
	ops = gvirt_ops;
	ops.thaw = v_thaw_if_frozen;
	if (gvirt_init(&spec, &vopts) < 0)
		return EXIT_USAGE;
	gmachine_init(&run, &ops, NULL, &spec);
	if (gmachine_thaw_only(&run) == GR_OK)
		unlink(state_path);
	report(a, "thaw");
	return run.result;
}

/* A group run: check every guest, then freeze, hold (snapshot or command), thaw. */
static int do_run(struct args *a, const char *dir)
{
	static struct gops ops;

	ops = gvirt_ops;
	if (command)
		ops.command = hold_command;
	if (gvirt_init(&spec, &vopts) < 0) {
		fprintf(stderr, "quiesce-group: libvirt would not initialize\n");
		return EXIT_USAGE;
	}
	gmachine_init(&run, &ops, a, &spec); /* a: for hold_command */
	if (gmachine_check(&run) != GR_OK || a->check) {
		report(a, "check");
		return run.result;
	}
	if (state_create(dir) < 0)
		return EXIT_USAGE;
	gmachine_run(&run);
	if (run.result != GR_THAW)
		unlink(state_path);
	report(a, command ? "command" : "snapshot");
	if (run.result == GR_THAW)
		fprintf(stderr, "quiesce-group: a guest may be left frozen: %s is kept; "
			"quiesce-group thaw %s\n", state_path, spec.name);
	return run.result;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	char dir[400];
	int rc;

	gspec_defaults(&spec);
	parse_args(argc, argv, &a);
	if (state_dir(a.statedir, dir, sizeof(dir)) < 0) {
		fprintf(stderr, "quiesce-group: no state directory (%s): give --state-dir\n",
			errno ? strerror(errno) : "not root and no XDG_RUNTIME_DIR");
		return EXIT_USAGE;
	}
	if (!a.thaw) {
		if (spec.n == 0)
			die_usage("%s", "no guests: give -d URI:DOMAIN, --connect URI DOMAIN... "
				  "or -c FILE");
		if (a.snapname)
			snprintf(vopts.snapshot_name, sizeof(vopts.snapshot_name), "%s", a.snapname);
		else
			snprintf(vopts.snapshot_name, sizeof(vopts.snapshot_name), "%s-%lld",
				 spec.name, (long long)time(NULL));
		if (strpbrk(vopts.snapshot_name, "<>&'\"/"))
			die_usage("%s", "bad snapshot name (no < > & ' \" /)");
	}
	start_signal_thread();
	rc = a.thaw ? do_thaw(&a, dir) : do_run(&a, dir);
	stop_signal_thread();
	return rc;
}
