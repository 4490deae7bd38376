// SPDX-License-Identifier: MIT
/* quiesced: wiring only. Options, logging, the run dir, the engine and its stages, the
 * transports, then the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hooks/hooks.h"
#include "apps/appext.h"
#include "apps/registry.h"
#include "common/jsonput.h"
#include "common/util.h"
#include "daemon/config.h"
#include "common/log.h"
#include "common/loop.h"
#include "daemon/quiesced.h"
#include "engine/txn.h"
#include "common/guard.h"
#include "daemon/guardpath.h"
#include "common/nodump.h"
#include "fs/fs_stage.h"
#include "fs/leftover.h"
#include "host/cmd.h"
#include "host/control.h"
#include "host/qga.h"
#include "host/qgafwd.h"
#include "host/hyperv.h"

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	if (str_copy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* What the run dir holds is trusted (the record of what to thaw at start, the
 * sockets): nobody else may be able to write there. */
static void check_run_dir(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		fatal("run dir %s", dir);
	if (!S_ISDIR(st.st_mode))
		fatalx("run dir %s is not a directory", dir);
	if (st.st_uid != geteuid() || (st.st_mode & 0022))
		fatalx("run dir %s must be owned by uid %u and writable by it alone (it is uid %u, "
		       "mode %04o)", dir, (unsigned)geteuid(), (unsigned)st.st_uid,
		       (unsigned)(st.st_mode & 07777));
}

static void policy_from_config(struct fs_policy *p, const struct config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->scope = cfg->scope;
	p->include = cfg->include.v;
	p->n_include = cfg->include.n;
	p->exclude = cfg->exclude.v;
	p->n_exclude = cfg->exclude.n;
	p->include_types = cfg->include_types.v;
	p->n_include_types = cfg->include_types.n;
	p->exclude_types = cfg->exclude_types.v;
	p->n_exclude_types = cfg->exclude_types.n;
}

/* ---- the thaw guardian */

/* RUN-DIR/frozen.list (fs/leftover.h). */
static const char *frozen_record;

static int guard_arm_cb(void *ctx, uint64_t id, int fd, const char *path)
{
	return guard_arm(ctx, id, fd, path);
}

static void guard_disarm_cb(void *ctx, uint64_t id)
{
	guard_disarm(ctx, id);
}

static void on_guard_lost(void *arg, bool expired)
{
	struct quiesced *q = arg;
	engine_guardian_lost(q->engine, expired);
}

/* The guardian's deadline: a little beyond the longest this state may legitimately
 * last, so that quiesced's own lease and timeouts act first and the guardian only
 * acts when quiesced cannot (hung, stopped). */
/* No core dumps from the first FIFREEZE's stage to the last thaw, and while an
 * abandoned FIFREEZE may still freeze something (nodump.h). */
static void update_nodump(struct quiesced *q, enum txn_state st)
{
	nodump_set(st == TXN_FREEZING || st == TXN_FROZEN || st == TXN_THAWING ||
		   fs_stage_ops.active(q->fs));
}

/* An abandoned FIFREEZE came back and was thawed, with the engine idle since. */
static void on_fs_settled(void *arg)
{
	struct quiesced *q = arg;
	update_nodump(q, engine_state(q->engine));
}

static void on_engine_state(void *arg, enum txn_state st, uint64_t lease_ms)
{
	struct quiesced *q = arg;
	uint64_t t = q->cfg.timeout_ms, fs = q->cfg.fs_timeout_ms, ms = 0;

	update_nodump(q, st);
	if (!q->guard)
		return;
	switch (st) {
	case TXN_FREEZING:
		/* A freeze that fails at the last stage unwinds: apps and hooks freeze,
		 * the filesystems freeze and thaw, hooks and apps thaw. */
		ms = 4 * t + 2 * fs + 10000;
		break;
	case TXN_FROZEN:
		ms = lease_ms + 2000;
		break;
	case TXN_THAWING:
		ms = 2 * t + fs + 10000;
		break;
	case TXN_IDLE:
	case TXN_CHECKING:
		ms = 0;
		break;
	}
	/* FROZEN: the guardian holds everything frozen (a guardian lost while freezing
	 * fails the freeze), and no FIFREEZE is under way unless an abandoned one is. */
	guard_deadline(q->guard, ms,
		       st == TXN_FROZEN && !fs_stage_stuck(q->fs) ? frozen_record : NULL);
}

static void on_shutdown_done(void *arg)
{
	struct quiesced *q = arg;
	loop_stop(q->loop, 0);
}

static void on_signal(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct quiesced *q = arg;
	struct signalfd_siginfo si;
	(void)loop;
	(void)events;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			/* Unlike qemu-ga and hv_vss_daemon, never exit frozen: thaw first. */
			log_notice("signal %d: shutting down", (int)si.ssi_signo);
			engine_shutdown(q->engine, on_shutdown_done, q);
			break;
		case SIGHUP:
			log_info("SIGHUP ignored (restart quiesced to reload its settings)");
			break;
		default:
			break;
		}
	}
}

static int setup_signals(struct quiesced *q)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -1;
	return loop_add_fd(q->loop, fd, EPOLLIN, on_signal, q);
}

/* quiesce-status: what only the daemon knows (host_ctx.status). */
static int status_cb(void *arg, struct json_object *ret)
{
	const struct quiesced *q = arg;
	bool ok = jput(ret, "uptime_ms",
		       json_object_new_int64((int64_t)(wall_ms() - q->started_at))) &&
		(!q->cfg.scope || jput(ret, "scope", json_object_new_string(q->cfg.scope))) &&
		jput(ret, "lease_default_ms", json_object_new_int64((int64_t)q->cfg.lease_ms)) &&
		jput(ret, "timeout_ms", json_object_new_int64((int64_t)q->cfg.timeout_ms)) &&
		jput(ret, "guardian_pid", json_object_new_int(q->guard && guard_running(q->guard)
								   ? (int)guard_pid(q->guard) : 0));
	return ok ? 0 : -1;
}

/* The apps' filesystem query, answered from the filesystems stage's plan. */
static int fs_list_cb(void *arg, struct appwire_fs **v, size_t *n, bool *incomplete, char *msg,
		      size_t msglen)
{
	return fs_stage_fs_list(arg, v, n, incomplete, msg, msglen);
}

/* quiesce-apps (host_ctx.apps). */
static int apps_cb(void *arg, struct json_object *ret)
{
	const struct quiesced *q = arg;
	return registry_list(q->apps, ret);
}

/* The QGA channel with its qemu-ga backend, and Hyper-V: each from its own settings. */
static void open_transports(struct quiesced *q, struct qga **qga)
{
	struct qgafwd_config fc = { q->cfg.qga_backend, q->cfg.no_qga_backend,
				    q->cfg.qga_backend_timeout_ms, q->cfg.run_dir };
	struct hyperv_config hc = { q->cfg.hyperv_path, q->cfg.no_hyperv, q->cfg.timeout_ms,
				    q->cfg.fs_timeout_ms, q->cfg.lease_ms };

	q->host = (struct host_ctx){ .loop = q->loop, .engine = q->engine, .status = status_cb,
				     .apps = apps_cb, .arg = q };
	if (q->cfg.qga_path && !(q->host.qgafwd = qgafwd_new(&q->host, &fc)))
		fatal("cannot set up the qemu-ga backend");
	if (q->cfg.qga_path && !(*qga = qga_new(&q->host, q->cfg.qga_path)))
		fatalx("cannot serve the guest agent protocol on %s", q->cfg.qga_path);
	if (hyperv_new(&q->host, &hc, &q->host.hyperv) < 0)
		fatal("cannot set up the Hyper-V channel");
}

/* The files and sockets in the run dir, each from its option or the default name. */
struct run_paths {
	char *control, *record, *hooks_record, *app;
};

static void make_run_dir(struct quiesced *q, struct run_paths *rp)
{
	if (mkdir_p(q->cfg.run_dir, 0755) < 0)
		fatal("cannot create the run dir %s", q->cfg.run_dir);
	check_run_dir(q->cfg.run_dir);
	rp->control = config_run_path(&q->cfg, q->cfg.control_path, "control.sock");
	rp->record = config_run_path(&q->cfg, NULL, "frozen.list");
	rp->hooks_record = config_run_path(&q->cfg, NULL, "hooks.list");
	rp->app = config_run_path(&q->cfg, q->cfg.app_socket, "app.sock");
	if (!rp->control || !rp->record || !rp->hooks_record || !rp->app)
		fatal("out of memory");
}

static void free_run_paths(struct run_paths *rp)
{
	free(rp->control);
	free(rp->record);
	free(rp->hooks_record);
	free(rp->app);
}

static void make_engine(struct quiesced *q)
{
	struct engine_config ecfg = { 0 };

	q->loop = loop_new();
	if (!q->loop || setup_signals(q) < 0)
		fatal("cannot set up the event loop");
	ecfg.lease_ms = q->cfg.lease_ms;
	ecfg.timeout_ms = q->cfg.timeout_ms;
	ecfg.on_state = on_engine_state;
	ecfg.state_arg = q;
	q->engine = engine_new(q->loop, &ecfg);
	if (!q->engine)
		fatal("cannot set up the engine");
}

/* Stages freeze in this order and thaw in reverse: apps hold their writes, then the
 * hook scripts run, then the filesystems freeze. */
static void add_stages(struct quiesced *q, const struct run_paths *rp)
{
	struct registry_config rc = {
		.socket_path = rp->app, .mode = q->cfg.app_socket_mode,
		.group = q->cfg.app_socket_group, .max_apps = q->cfg.max_apps,
		.connect_rate = q->cfg.app_connect_rate,
		.default_timeout_ms = (uint32_t)q->cfg.timeout_ms,
		.max_timeout_ms = (uint32_t)q->cfg.timeout_ms,
	};
	/* The hooks of one phase together are one participant: --timeout. */
	struct hooks_config hc = { .dir = q->cfg.hook_dir, .timeout_ms = q->cfg.hook_timeout_ms,
				   .budget_ms = q->cfg.timeout_ms, .record = rp->hooks_record };

	q->apps = registry_new(q->loop, q->engine, &rc);
	if (!q->apps)
		fatalx("cannot open the app socket %s", rp->app);
	q->hooks = hooks_new(q->loop, q->engine, &hc);
	if (!q->hooks || engine_add_stage(q->engine, &registry_stage_ops, q->apps) < 0 ||
	    engine_add_stage(q->engine, &hooks_stage_ops, q->hooks) < 0)
		fatal("cannot set up the engine");
	q->fs = fs_stage_new(q->loop, q->engine, &q->policy, q->cfg.fs_timeout_ms);
	if (!q->fs || engine_add_stage(q->engine, &fs_stage_ops, q->fs) < 0)
		fatal("cannot set up the engine");
	fs_stage_set_record(q->fs, rp->record);
	fs_stage_set_settled(q->fs, on_fs_settled, q);
	frozen_record = rp->record;
	registry_set_fs(q->apps, &(struct appext_fs_source){ fs_list_cb, q->fs });
}

/* After daemon(): the guardian must be our child, not the exited parent's. Returns
 * the guardian's path (the caller frees it), NULL with --no-guardian. */
static char *start_guardian(struct quiesced *q)
{
	struct freezer_guard fg = { guard_arm_cb, guard_disarm_cb, NULL };
	char *guardian;

	if (q->cfg.no_guardian) {
		log_warnx("running without a thaw guardian (--no-guardian): if quiesced dies "
			  "while frozen, nothing thaws");
		return NULL;
	}
	guardian = q->cfg.guardian ? strdup(q->cfg.guardian) : guardpath_default();
	q->guard = guardian ? guard_new(q->loop, guardian, on_guard_lost, q) : NULL;
	if (!q->guard || guard_start(q->guard) < 0)
		fatalx("cannot start the thaw guardian %s (--no-guardian runs without one, "
		       "unsafely)", guardian ? guardian : "");
	fg.ctx = q->guard;
	fs_stage_set_guard(q->fs, &fg);
	return guardian;
}

/* After the loop: the transports first, then the stages, then the engine. */
static void tear_down(struct quiesced *q, struct qga *qga)
{
	/* A FIFREEZE abandoned at its deadline may still be in the kernel, and may yet
	 * freeze its filesystem: this process cannot end before it returns, and nothing
	 * in it will run then. Leave the guardian armed with it: our end of its socket
	 * closes only when the process really ends, after that FIFREEZE, and the guardian
	 * thaws it then. (guard_free would clear it first.) */
	bool stuck = fs_stage_ops.active(q->fs);

	/* First: it answers the forwarded calls still pending, so the sessions can go. */
	qgafwd_free(q->host.qgafwd);
	qga_free(qga);
	hyperv_free(q->host.hyperv);
	/* The engine thawed everything before the loop stopped; only now do the apps
	 * lose their connections (protocol §4.7). */
	registry_free(q->apps);
	hooks_free(q->hooks);
	control_free(q->control);
	fs_stage_free(q->fs);
	if (!stuck)
		guard_free(q->guard);
	engine_free(q->engine);
	loop_free(q->loop);
}

int main(int argc, char **argv)
{
	static struct quiesced q;
	struct qga *qga = NULL;
	struct run_paths rp;
	char *guardian;
	int r, code;

	r = config_init(&q.cfg, argc, argv);
	if (r != 0) {
		config_free(&q.cfg);
		return r > 0 ? 0 : 2;
	}
	/* The test suite's safety net: never run unscoped where tests run. */
	if (getenv("QUIESCE_REQUIRE_SCOPE") && !q.cfg.scope) {
		fprintf(stderr, "quiesced: QUIESCE_REQUIRE_SCOPE is set: refusing to run without --scope\n");
		return 2;
	}
	log_init(q.cfg.log_ident ? q.cfg.log_ident : "quiesced", q.cfg.foreground, q.cfg.debug);
	q.started_at = wall_ms();
	policy_from_config(&q.policy, &q.cfg);

	make_run_dir(&q, &rp);
	make_engine(&q);
	add_stages(&q, &rp);
	if (cmd_control_register() < 0 || cmd_guest_register() < 0)
		fatal("cannot register commands");
	/* Before any channel is touched: a second quiesced must leave the first one's alone. */
	if (control_in_use(rp.control))
		fatalx("another quiesced is already running (it answers on %s)", rp.control);
	open_transports(&q, &qga);
	/* Last: once the control socket answers, every other listener exists. */
	q.control = control_new(&q.host, rp.control);
	if (!q.control)
		fatalx("cannot open the control socket %s", rp.control);
	/* A quiesced that died with its guardian may have left filesystems frozen. Only
	 * now: control_new() refuses when another quiesced answers on the socket, and
	 * the record of a live one names its freeze, not a leftover. Nothing is answered
	 * before the loop runs. */
	if (leftover_thaw(rp.record) < 0)
		log_warn("cannot read %s", rp.record);

	if (!q.cfg.foreground && daemon(0, 0) < 0)
		fatal("daemon");
	guardian = start_guardian(&q);
	/* After daemon() too: our child. */
	qgafwd_start(q.host.qgafwd);
	log_notice("quiesced %s started (pid %d)%s%s; control socket %s", QUIESCE_VERSION,
		   (int)getpid(), q.cfg.scope ? "; scope " : "", q.cfg.scope ? q.cfg.scope : "",
		   rp.control);
	/* The hooks a quiesced that died had frozen get their thaw. After daemon(): they
	 * must be our children. The filesystems were thawed above (or by the guardian). */
	hooks_recover(q.hooks);

	code = loop_run(q.loop);

	log_notice("quiesced stopped");
	tear_down(&q, qga);
	free_run_paths(&rp);
	free(guardian);
	config_free(&q.cfg);
	return code;
}
