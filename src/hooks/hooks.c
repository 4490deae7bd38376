// SPDX-License-Identifier: MIT
#include "hooks/hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hooks/hookpath.h"
#include "hooks/hooks_int.h"
#include "common/util.h"
#include "common/log.h"
#include "common/nodump.h"
#include "common/loop.h"

const char *const hooks_result_names[] = {
	[H_NOT_RUN] = "not run",   [H_RUNNING] = "running",   [H_OK] = "ok",
	[H_FAILED] = "failed",     [H_SIGNALED] = "killed",   [H_TIMEOUT] = "timeout",
	[H_NO_START] = "not started", [H_CANCELLED] = "cancelled", [H_NO_TIME] = "no time left",
	[H_UNSAFE] = "refused",
};

struct hooks *hooks_new(struct loop *loop, struct engine *engine, const struct hooks_config *cfg)
{
	struct hooks *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->dir = strdup(cfg->dir);
	h->record = cfg->record ? strdup(cfg->record) : NULL;
	if (!h->dir || (cfg->record && !h->record)) {
		free(h->dir);
		free(h);
		return NULL;
	}
	h->loop = loop;
	h->engine = engine;
	h->timeout_ms = cfg->timeout_ms;
	h->budget_ms = cfg->budget_ms;
	h->pid = -1;
	h->pidfd = h->outfd = -1;
	return h;
}

void hooks_free_set(struct hooks *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].out);
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

/* ------------------------------------------------------------ the directory */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Editor and package-manager leftovers, skipped as qemu-ga's fsfreeze-hook does. */
static bool leftover(const char *name)
{
	return name[0] == '.' || ends_with(name, "~") || strstr(name, ".dpkg-") ||
	       strstr(name, ".rpm") || ends_with(name, ".bak") || ends_with(name, ".orig") ||
	       ends_with(name, ".sample");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct hook *)a)->name, ((const struct hook *)b)->name);
}

/* Read the directory into h->v, sorted. -1 with msg: a veto (unsafe, unreadable). */
static int scan(struct hooks *h, char *msg, size_t msglen)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd;
	char why[MSG_LEN], real[PATH_MAX];
	size_t cap = 0;

	hooks_free_set(h);
	fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;   /* no directory, no hooks */
		snprintf(msg, msglen, "cannot open the hook directory %s: %s", h->dir, strerror(errno));
		return -1;
	}
	/* We run these as root: anyone who can change one can run code as root. */
	if (fstat(fd, &st) < 0 || hookpath_unsafe_hookdir(&st, why, sizeof(why))) {
		snprintf(msg, msglen, "the hook directory %s is not safe: %s", h->dir, why);
		close(fd);
		return -1;
	}
	d = fdopendir(fd);
	if (!d) {
		snprintf(msg, msglen, "cannot read the hook directory %s: %s", h->dir, strerror(errno));
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (leftover(name)) {
			if (strcmp(name, ".") && strcmp(name, ".."))
				log_debug("hooks: skipping %s/%s (a leftover or hidden file)", h->dir, name);
			continue;
		}
		/* Follows symlinks, as `[ -x ]` does; the target must be safe too. */
		if (fstatat(dirfd(d), name, &st, 0) < 0) {
			log_debug("hooks: skipping %s/%s: %s", h->dir, name, strerror(errno));
			continue;
		}
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
			log_debug("hooks: skipping %s/%s: not an executable file", h->dir, name);
			continue;
		}
		/* The file and both paths (see hookpath.h); again right before each run. */
		if (hookpath_check_hook(h->dir, name, real, sizeof(real), why, sizeof(why)) < 0) {
			snprintf(msg, msglen, "hook %s/%s is not safe to run: %s", h->dir, name, why);
			closedir(d);
			hooks_free_set(h);
			return -1;
		}
		if (h->n == MAX_HOOKS) {
			snprintf(msg, msglen, "more than %d hooks in %s", MAX_HOOKS, h->dir);
			closedir(d);
			hooks_free_set(h);
			return -1;
		}
		/* Grown as hooks are found: a table for MAX_HOOKS (~80 KB) on every freeze
		 * costs a heap that grows and shrinks by it each time, for an empty dir. */
		if (h->n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct hook *nv = realloc(h->v, (ncap < MAX_HOOKS ? ncap : MAX_HOOKS) * sizeof(*nv));
			if (!nv) {
				snprintf(msg, msglen, "out of memory");
				closedir(d);
				hooks_free_set(h);
				return -1;
			}
			h->v = nv;
			cap = ncap < MAX_HOOKS ? ncap : MAX_HOOKS;
		}
		memset(&h->v[h->n], 0, sizeof(h->v[h->n]));
		str_copy(h->v[h->n].name, name, sizeof(h->v[h->n].name));
		h->n++;
	}
	closedir(d);
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), by_name);
	return 0;
}

/* ------------------------------------------------------------ phases */

static void on_done_timer(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	(void)loop;
	engine_stage_done(h->engine, h->ok, h->msg);
}

static void describe(const struct hook *k, enum hook_result res, const char *why, char *buf,
		     size_t len)
{
	switch (res) {
	case H_FAILED:
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(k->status));
		break;
	case H_SIGNALED:
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(k->status));
		break;
	case H_TIMEOUT:
		snprintf(buf, len, "timed out");
		break;
	case H_NO_START:
		snprintf(buf, len, "could not be started");
		break;
	case H_CANCELLED:
		snprintf(buf, len, "was cancelled");
		break;
	case H_NO_TIME:
		snprintf(buf, len, "was not run: the phase had used up its time");
		break;
	case H_UNSAFE:
		snprintf(buf, len, "was not run: it is not safe to run: %s", why);
		break;
	default:
		snprintf(buf, len, "%s", hooks_result_names[res]);
	}
}

static void finish_phase(struct hooks *h)
{
	const char *arg = h->op == TXN_FREEZE ? "freeze" : "thaw";
	size_t ran = 0;

	h->running = false;
	loop_timer_disarm(h->loop, &h->deadline);
	/* The output, after the phase: freeze hooks run before anything is frozen and
	 * thaw hooks after everything is thawed (the log holds itself anyway). */
	for (size_t i = 0; i < h->n; i++) {
		struct hook *k = &h->v[h->op == TXN_FREEZE ? i : h->n - 1 - i];
		if (k->out)
			hookproc_log_output(h, k, arg);
		if ((h->op == TXN_FREEZE ? k->freeze_result : k->thaw_result) != H_NOT_RUN)
			ran++;
	}
	if (ran)
		log_info("hooks: %s: %zu hook%s run in %.1f ms%s%s", arg, ran, ran == 1 ? "" : "s",
			 ns_to_ms(now_ns() - h->t0), h->msg[0] ? ": " : "", h->msg);
	/* FREEZE: how each ended, for the thaw of a restart. THAW: owed nothing now. */
	if (h->op == TXN_FREEZE && ran)
		hooks_record_save(h);
	else if (h->op == TXN_THAW)
		hooks_record_clear(h);
	h->record_failed = false;
	if (h->recovering) {
		hooks_recovery_done(h);
		return;
	}
	if (!h->in_start)
		loop_timer_arm(h->loop, &h->done_timer, 0, on_done_timer, h);
}

/* Start the next hook in line, until one runs or none is left. */
void hooks_run_next(struct hooks *h)
{
	while (h->running) {
		struct hook *k;
		if (h->cur >= h->n) {
			finish_phase(h);
			return;
		}
		k = &h->v[h->cur];
		if (h->op == TXN_THAW && !k->freeze_ran) {
			h->cur += (size_t)h->dir_step;   /* wraps past 0 to SIZE_MAX: the end */
			continue;
		}
		if (hookproc_spawn(h) == 0)
			return;
		hooks_finished(h, h->op == TXN_FREEZE ? k->freeze_result : k->thaw_result);
	}
}

void hooks_finished(struct hooks *h, enum hook_result res)
{
	struct hook *k = &h->v[h->cur];
	const char *arg = h->op == TXN_FREEZE ? "freeze" : "thaw";
	char why[240];

	loop_timer_disarm(h->loop, &h->deadline);
	if (h->outfd >= 0)
		hookproc_end_output(h);
	k->ms_ns = res == H_NO_TIME || res == H_NO_START ? 0 : now_ns() - h->started_ns;
	if (h->op == TXN_FREEZE)
		k->freeze_result = (uint8_t)res;
	else
		k->thaw_result = (uint8_t)res;
	if (res == H_OK) {
		log_debug("hooks: %s %s ok in %.1f ms", k->name, arg, ns_to_ms(k->ms_ns));
	} else {
		describe(k, res, h->why, why, sizeof(why));
		if (h->op == TXN_FREEZE) {
			/* A veto: the hooks after it are not run; the engine thaws the ones
			 * that ran, this one included. */
			log_warnx("hooks: %s freeze %s", k->name, why);
			h->ok = false;
			snprintf(h->msg, sizeof(h->msg), "hook %s %s", k->name, why);
			h->cur += (size_t)h->dir_step;
			finish_phase(h);
			return;
		}
		/* THAW goes to the end whatever happens; the filesystems are thawed. */
		log_warnx("hooks: %s thaw %s", k->name, why);
		if (!h->msg[0])
			snprintf(h->msg, sizeof(h->msg), "hook %s thaw %s", k->name, why);
	}
	h->cur += (size_t)h->dir_step;
	if (!h->in_start)
		hooks_run_next(h);
}

static enum stage_rc hooks_start(void *self, enum txn_op op, const struct txn_request *req,
				 bool *ok, char *msg, size_t msglen)
{
	struct hooks *h = self;

	if (h->recovering) {
		/* The set is the dead quiesced's; a THAW here is the unwinding of a freeze
		 * this refusal failed: nothing of it ran. */
		*ok = op == TXN_THAW;
		if (op != TXN_THAW) {
			snprintf(msg, msglen, "the hooks a quiesced that died had frozen are still "
				 "being thawed; try again in a moment");
			log_warnx("hooks: %s refused: %s", engine_op_name(op), msg);
		}
		return STAGE_DONE;
	}
	loop_timer_disarm(h->loop, &h->done_timer);
	h->op = op;
	h->ok = true;
	h->msg[0] = '\0';
	h->t0 = now_ns();
	h->budget_end_ms = now_ms() + h->budget_ms;
	str_copy(h->origin, req && req->caller ? req->caller->name : "?", sizeof(h->origin));
	*ok = true;

	if (op == TXN_CHECK || op == TXN_FREEZE) {
		if (scan(h, msg, msglen) < 0) {
			log_warnx("hooks: %s", msg);
			*ok = false;
			return STAGE_DONE;
		}
		if (op == TXN_CHECK)
			return STAGE_DONE;   /* runnable and safe: that is all CHECK can say */
	}
	if (!h->n)
		return STAGE_DONE;
	h->running = true;
	h->in_start = true;
	h->dir_step = op == TXN_FREEZE ? 1 : -1;
	h->cur = op == TXN_FREEZE ? 0 : h->n - 1;
	/* In start, a hook that cannot even start is settled here, not from the loop. */
	while (h->running && h->cur < h->n) {
		struct hook *k = &h->v[h->cur];
		if (op == TXN_THAW && !k->freeze_ran) {
			h->cur += (size_t)h->dir_step;
			continue;
		}
		if (hookproc_spawn(h) == 0)
			break;
		hooks_finished(h, op == TXN_FREEZE ? k->freeze_result : k->thaw_result);
	}
	if (h->running && h->cur >= h->n)
		finish_phase(h);
	h->in_start = false;
	if (h->running)
		return STAGE_PENDING;
	*ok = h->ok;
	str_copy(msg, h->msg, msglen);
	return STAGE_DONE;
}

static void hooks_cancel(void *self)
{
	struct hooks *h = self;
	if (!h->running || h->recovering)
		return;
	if (h->pid >= 0) {
		log_warnx("hooks: cancelling %s %s", h->v[h->cur].name,
			  h->op == TXN_FREEZE ? "freeze" : "thaw");
		hookproc_kill_running(h);
	}
	if (h->op == TXN_FREEZE) {
		h->v[h->cur].freeze_result = H_CANCELLED;
		h->ok = false;
		if (!h->msg[0])
			snprintf(h->msg, sizeof(h->msg), "hook %s freeze was cancelled",
				 h->v[h->cur].name);
	} else {
		/* The thaws not run yet are reported as not run. */
		h->v[h->cur].thaw_result = H_CANCELLED;
		if (!h->msg[0])
			snprintf(h->msg, sizeof(h->msg), "hook %s thaw was cancelled; the thaws after "
				 "it were not run", h->v[h->cur].name);
	}
	finish_phase(h);
}

static void hooks_report(void *self, struct json_object *out)
{
	struct hooks *h = self;
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < h->n; i++) {
		const struct hook *k = &h->v[h->op == TXN_THAW ? h->n - 1 - i : i];
		struct json_object *o = json_object_new_object();
		uint8_t res = h->op == TXN_THAW ? k->thaw_result : k->freeze_result;
		if (h->op == TXN_THAW && !k->freeze_ran) {
			json_object_put(o);
			continue;
		}
		json_object_object_add(o, "name", json_object_new_string(k->name));
		if (h->op != TXN_CHECK) {
			json_object_object_add(o, "result", json_object_new_string(hooks_result_names[res]));
			if (res == H_FAILED)
				json_object_object_add(o, "exit",
						       json_object_new_int(WEXITSTATUS(k->status)));
			if (res == H_SIGNALED)
				json_object_object_add(o, "signal",
						       json_object_new_int(WTERMSIG(k->status)));
			if (res != H_NOT_RUN && res != H_NO_TIME && res != H_NO_START &&
			    res != H_UNSAFE)
				json_object_object_add(o, "ms", json_object_new_double(ns_to_ms(k->ms_ns)));
		}
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "hooks", arr);
	json_object_object_add(out, "hook_dir", json_object_new_string(h->dir));
	if (h->recovered)
		json_object_object_add(out, "restart_thaw", json_object_get(h->recovered));
}

static unsigned hooks_count(void *self, enum txn_op op)
{
	struct hooks *h = self;
	unsigned n = 0;
	for (size_t i = 0; i < h->n; i++)
		n += op == TXN_FREEZE ? h->v[i].freeze_result == H_OK
				      : h->v[i].freeze_ran && h->v[i].thaw_result != H_NOT_RUN;
	return n;
}

static bool hooks_active(void *self)
{
	struct hooks *h = self;
	if (h->op != TXN_FREEZE)
		return h->running;
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].freeze_ran)
			return true;
	return false;
}

const struct stage_ops hooks_stage_ops = {
	.name = "hooks",
	.filesystems = false,
	.start = hooks_start,
	.cancel = hooks_cancel,
	.report = hooks_report,
	.count = hooks_count,
	.active = hooks_active,
};

void hooks_free(struct hooks *h)
{
	if (!h)
		return;
	hookproc_free(h);
	loop_timer_disarm(h->loop, &h->deadline);
	loop_timer_disarm(h->loop, &h->done_timer);
	hooks_free_set(h);
	free(h->dir);
	free(h->record);
	free(h->rec_dir);
	json_object_put(h->recovered);
	free(h);
}
