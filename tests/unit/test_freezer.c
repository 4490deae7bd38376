// SPDX-License-Identifier: MIT
/* Unit tests for the freezer's scheduler (src/fs/freezer.c, fsjob.c, workpool.c): the
 * order of dependent filesystems, overlap of independent ones, the deadline and the
 * straggler it leaves, the unwinding of a failed freeze, the thaw, and the guardian's
 * callbacks.
 *
 * The seam: the linker's --wrap=ioctl (UNIT_WRAP_freezer in mk/unit.mk), for this
 * binary only. The filesystems are real directories in a mkdtemp directory, so open()
 * and the mount id check run for real; the FIFREEZE/FITHAW of the workers land in
 * __wrap_ioctl, which finds the directory from /proc/self/fd and plays that
 * directory's script: return at once, fail with an errno, or block until the test
 * lets it go. It never passes FIFREEZE or FITHAW to the real ioctl: nothing is frozen.
 * Every start and end is logged in order (as is every guardian arm and disarm), and
 * the tests check the order in that log.
 *
 * Deterministic by holding states on purpose: a blocked FIFREEZE stays blocked until
 * released, and every wait is for something in the log or the freezer's state, with
 * a generous bound (never a sleep). A SIGALRM guard ends a hung test. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/loop.h"
#include "fs/freezer.h"
#include "fs/mountid.h"
#include "fs/policy.h"
#include "ioctlseam.h"
#include "unitguard.h"

#define NFS 8            /* filesystems (directories) a test may use */
#define MAXEV 256
#define WAIT_MS 5000     /* generous: only a broken scheduler takes this long */

/* ------------------------------------------------------------ the fake ioctl */

enum act { ACT_OK, ACT_BLOCK, ACT_FAIL };
enum ev { EV_FREEZE_START, EV_FREEZE_END, EV_THAW_START, EV_THAW_END, EV_ARM, EV_DISARM };

struct script {
	enum act act;
	int err;         /* for ACT_FAIL */
};

struct event {
	int fs;
	enum ev kind;
	bool ok;         /* an END: the ioctl succeeded */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static char fs_path[NFS][PATH_MAX];
static struct script freeze_script[NFS], thaw_script[NFS];
static bool released[NFS];
static struct event evlog[MAXEV];
static int nev;
static int unknown_ioctls;   /* FIFREEZE/FITHAW on an fd that is none of ours */

static const char *ev_name(enum ev kind)
{
	static const char *const names[] = {
		[EV_FREEZE_START] = "FIFREEZE start", [EV_FREEZE_END] = "FIFREEZE end",
		[EV_THAW_START] = "FITHAW start",     [EV_THAW_END] = "FITHAW end",
		[EV_ARM] = "guardian arm",            [EV_DISARM] = "guardian disarm",
	};
	return names[kind];
}

/* Called with mu held. */
static void log_event(int fs, enum ev kind, bool ok)
{
	if (nev < MAXEV)
		evlog[nev++] = (struct event){ .fs = fs, .kind = kind, .ok = ok };
	pthread_cond_broadcast(&cond);
}

static void record(int fs, enum ev kind, bool ok)
{
	pthread_mutex_lock(&mu);
	log_event(fs, kind, ok);
	pthread_mutex_unlock(&mu);
}

static int fs_of_path(const char *path)
{
	for (int i = 0; i < NFS; i++)
		if (fs_path[i][0] && strcmp(fs_path[i], path) == 0)
			return i;
	return -1;
}

/* Plays the script of fs for one FIFREEZE or FITHAW. */
static int play(int fs, bool freeze)
{
	struct script s;
	pthread_mutex_lock(&mu);
	s = freeze ? freeze_script[fs] : thaw_script[fs];
	log_event(fs, freeze ? EV_FREEZE_START : EV_THAW_START, false);
	while (s.act == ACT_BLOCK && !released[fs])
		pthread_cond_wait(&cond, &mu);
	log_event(fs, freeze ? EV_FREEZE_END : EV_THAW_END, s.act != ACT_FAIL);
	pthread_mutex_unlock(&mu);
	if (s.act == ACT_FAIL) {
		errno = s.err;
		return -1;
	}
	return 0;
}

int ioctlseam_fake(const char *path, bool freeze)
{
	int fs = fs_of_path(path);
	if (fs < 0) {
		pthread_mutex_lock(&mu);
		unknown_ioctls++;
		pthread_mutex_unlock(&mu);
		errno = ENOTTY;
		return -1;
	}
	return play(fs, freeze);
}

static void release(int fs)
{
	pthread_mutex_lock(&mu);
	released[fs] = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
}

static void script_reset(void)
{
	pthread_mutex_lock(&mu);
	memset(freeze_script, 0, sizeof(freeze_script));
	memset(thaw_script, 0, sizeof(thaw_script));
	memset(released, 0, sizeof(released));
	nev = 0;
	unknown_ioctls = 0;
	pthread_mutex_unlock(&mu);
}

static void on_freeze(int fs, enum act act, int err)
{
	pthread_mutex_lock(&mu);
	freeze_script[fs] = (struct script){ act, err };
	pthread_mutex_unlock(&mu);
}

static void on_thaw(int fs, enum act act, int err)
{
	pthread_mutex_lock(&mu);
	thaw_script[fs] = (struct script){ act, err };
	pthread_mutex_unlock(&mu);
}

/* ------------------------------------------------------------ the log */

/* Position of the first event fs/kind (with ok if want_ok), or -1. */
static int find_ev(int fs, enum ev kind, bool want_ok)
{
	int at = -1;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nev && at < 0; i++)
		if (evlog[i].fs == fs && evlog[i].kind == kind && (!want_ok || evlog[i].ok))
			at = i;
	pthread_mutex_unlock(&mu);
	return at;
}

static int events_logged(void)
{
	int n;
	pthread_mutex_lock(&mu);
	n = nev;
	pthread_mutex_unlock(&mu);
	return n;
}

static int ioctls_on_strangers(void)
{
	int n;
	pthread_mutex_lock(&mu);
	n = unknown_ioctls;
	pthread_mutex_unlock(&mu);
	return n;
}

static bool has_ev(int fs, enum ev kind)
{
	return find_ev(fs, kind, false) >= 0;
}

static int count_ev(int fs, enum ev kind)
{
	int c = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nev; i++)
		c += evlog[i].fs == fs && evlog[i].kind == kind;
	pthread_mutex_unlock(&mu);
	return c;
}

/* a's event came before b's (both there). */
static void assert_before(int fa, enum ev ka, int fb, enum ev kb)
{
	int a = find_ev(fa, ka, false), b = find_ev(fb, kb, false);
	assert_true(a >= 0);
	assert_true(b >= 0);
	if (a >= b)
		fail_msg("%s of fs%d (at %d) not before %s of fs%d (at %d)",
			 ev_name(ka), fa, a, ev_name(kb), fb, b);
}

/* Nothing left frozen: every FIFREEZE that succeeded got one FITHAW after it. */
static void assert_all_thawed(int nfs)
{
	for (int fs = 0; fs < nfs; fs++) {
		int froze = find_ev(fs, EV_FREEZE_END, true);
		if (froze < 0)
			continue;
		assert_int_equal(count_ev(fs, EV_THAW_START), 1);
		assert_true(find_ev(fs, EV_THAW_START, false) > froze);
	}
}

/* ------------------------------------------------------------ fixture */

/* The guardian's side (7.): what it was handed. */
struct guard_ctx {
	pthread_mutex_t mu;
	uint64_t id[NFS];     /* per filesystem, as armed */
	int refuse;           /* fs whose arm fails, or -1 */
	int disarms[NFS];
};


struct fx {
	struct loop *loop;
	struct freezer *fz;
	char dir[64];
	int mount_id[NFS];
	int done_calls;
	bool done_ok;
	int settled_calls;
	struct guard_ctx guard;   /* outlives the test: teardown may still disarm */
};

static void on_done(void *arg, bool ok)
{
	struct fx *fx = arg;
	fx->done_calls++;
	fx->done_ok = ok;
}

static void on_settled(void *arg)
{
	struct fx *fx = arg;
	fx->settled_calls++;
}

/* A real directory for filesystem i, its mount id taken the way fsjob.c checks it. */
static void make_fs(struct fx *fx, int i)
{
	char path[PATH_MAX];
	int fd;
	snprintf(path, sizeof(path), "%s/fs%d", fx->dir, i);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_non_null(realpath(path, fs_path[i]));
	fd = open(fs_path[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	if (fd_mount_id(fd, &fx->mount_id[i]) != 0)
		fx->mount_id[i] = 0; /* the kernel cannot tell: fsjob.c skips the check */
	close(fd);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	unit_guard_on(state);
	assert_non_null(fx);
	script_reset();
	fx->loop = loop_new();
	assert_non_null(fx->loop);
	fx->fz = freezer_new(fx->loop);
	assert_non_null(fx->fz);
	freezer_set_settled(fx->fz, on_settled, fx);
	pthread_mutex_init(&fx->guard.mu, NULL);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_freezer.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	for (int i = 0; i < NFS; i++)
		make_fs(fx, i);
	*state = fx;
	return 0;
}

static bool settled_down(void *arg)
{
	struct fx *fx = arg;
	return !freezer_active(fx->fz) && !freezer_stuck(fx->fz);
}

static bool nothing_frozen(void *arg)
{
	struct fx *fx = arg;
	return freezer_count(fx->fz, FS_FROZEN) + freezer_count(fx->fz, FS_THAW_FAILED) == 0;
}

/* Whatever a failed test left: let it go, thaw it, then free it all. */
static void clean_up(struct fx *fx)
{
	for (int i = 0; i < NFS; i++)
		release(i);
	for (int tries = 0; tries < 3 && !settled_down(fx); tries++) {
		if (!nothing_frozen(fx))
			(void)freezer_thaw(fx->fz, NULL, NULL); /* EBUSY: one is under way */
		unit_run_until(fx->loop, settled_down, fx, WAIT_MS);
	}
	/* A done or settled callback still due: let the loop deliver it. */
	unit_run_until(fx->loop, settled_down, fx, 10);
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX];
	clean_up(fx);
	freezer_free(fx->fz);
	loop_free(fx->loop);
	pthread_mutex_destroy(&fx->guard.mu);
	for (int i = 0; i < NFS; i++) {
		snprintf(path, sizeof(path), "%s/fs%d", fx->dir, i);
		rmdir(path);
		fs_path[i][0] = '\0';
	}
	rmdir(fx->dir);
	free(fx);
	return unit_guard_off(state);
}

/* ------------------------------------------------------------ plans */

/* Candidate i is filesystem i. */
static void plan_init(struct fx *fx, struct fs_plan *p, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->n = n;
	p->v = calloc(n, sizeof(*p->v));
	assert_non_null(p->v);
	for (size_t i = 0; i < n; i++) {
		p->v[i].mountpoint = strdup(fs_path[i]);
		p->v[i].source = strdup("/dev/fake");
		p->v[i].fstype = strdup("ext4");
		assert_non_null(p->v[i].mountpoint);
		p->v[i].mount_id = fx->mount_id[i];
		p->v[i].major = 7;
		p->v[i].minor = (unsigned)i;
	}
}

/* holder is frozen only after fs, thawed before it (a loop file of holder in fs). */
static void plan_hold(struct fs_plan *p, size_t fs, size_t holder)
{
	struct fs_candidate *c = &p->v[fs];
	size_t *h = realloc(c->holders, (c->n_holders + 1) * sizeof(*h));
	assert_non_null(h);
	h[c->n_holders++] = holder;
	c->holders = h;
}

/* ------------------------------------------------------------ driving the loop */

static bool op_done(void *arg)
{
	struct fx *fx = arg;
	return fx->done_calls > 0;
}

struct ev_wait {
	struct fx *fx;
	int fs;
	enum ev kind;
};

static bool ev_seen(void *arg)
{
	struct ev_wait *w = arg;
	return has_ev(w->fs, w->kind);
}

/* Runs the loop until fs's event is in the log. */
static void wait_ev(struct fx *fx, int fs, enum ev kind)
{
	struct ev_wait w = { fx, fs, kind };
	if (!unit_run_until(fx->loop, ev_seen, &w, WAIT_MS))
		fail_msg("%s of fs%d never came", ev_name(kind), fs);
}

struct state_wait {
	struct fx *fx;
	size_t node;
	enum fs_state state;
};

static bool state_seen(void *arg)
{
	struct state_wait *w = arg;
	size_t n;
	const struct fs_node *nodes = freezer_nodes(w->fx->fz, &n);
	return w->node < n && nodes[w->node].state == w->state;
}

/* Runs the loop until node is in state as the loop sees it. */
static void wait_state(struct fx *fx, size_t node, enum fs_state state)
{
	struct state_wait w = { fx, node, state };
	if (!unit_run_until(fx->loop, state_seen, &w, WAIT_MS))
		fail_msg("node %zu never got to %s", node, fs_state_name(state));
}

static enum fs_state state_of(struct fx *fx, size_t node)
{
	size_t n;
	const struct fs_node *nodes = freezer_nodes(fx->fz, &n);
	assert_true(node < n);
	return nodes[node].state;
}

static const struct fs_node *node_of(struct fx *fx, size_t node)
{
	size_t n;
	const struct fs_node *nodes = freezer_nodes(fx->fz, &n);
	assert_true(node < n);
	return &nodes[node];
}

static void start_freeze(struct fx *fx, struct fs_plan *p, uint64_t timeout_ms)
{
	fx->done_calls = 0;
	assert_int_equal(freezer_freeze(fx->fz, p, timeout_ms, on_done, fx), 0);
}

/* Runs the operation under way to its done callback; returns its ok. */
static bool finish(struct fx *fx)
{
	if (!unit_run_until(fx->loop, op_done, fx, WAIT_MS))
		fail_msg("the operation never finished (%d events logged)", events_logged());
	assert_int_equal(fx->done_calls, 1);
	return fx->done_ok;
}

static bool freeze_all(struct fx *fx, struct fs_plan *p)
{
	start_freeze(fx, p, 10000);
	return finish(fx);
}

static bool thaw_all(struct fx *fx)
{
	fx->done_calls = 0;
	assert_int_equal(freezer_thaw(fx->fz, on_done, fx), 0);
	return finish(fx);
}

static void assert_states(struct fx *fx, size_t n, enum fs_state s)
{
	for (size_t i = 0; i < n; i++)
		assert_string_equal(fs_state_name(state_of(fx, i)), fs_state_name(s));
}

static void assert_error_names(struct fx *fx, const char *what)
{
	const char *err = freezer_error(fx->fz);
	if (!strstr(err, what))
		fail_msg("error \"%s\" does not name \"%s\"", err, what);
}

/* ------------------------------------------------------------ 1. dependency order */

/* A held by B (B's loop file lives in A): A's FIFREEZE ends before B's starts; B's
 * FITHAW ends before A's starts. */
static void test_order_pair(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 2);
	plan_hold(&p, 0, 1);
	assert_true(freeze_all(fx, &p));
	assert_states(fx, 2, FS_FROZEN);
	assert_before(0, EV_FREEZE_END, 1, EV_FREEZE_START);
	assert_true(thaw_all(fx));
	assert_states(fx, 2, FS_THAWED);
	assert_before(1, EV_THAW_END, 0, EV_THAW_START);
	assert_string_equal(freezer_error(fx->fz), "");
	assert_int_equal(ioctls_on_strangers(), 0);
}

/* A chain of 3: 0 held by 1 held by 2 (and 2 by nothing). */
static void test_order_chain(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 3);
	plan_hold(&p, 0, 1);
	plan_hold(&p, 1, 2);
	assert_true(freeze_all(fx, &p));
	assert_before(0, EV_FREEZE_END, 1, EV_FREEZE_START);
	assert_before(1, EV_FREEZE_END, 2, EV_FREEZE_START);
	assert_true(thaw_all(fx));
	assert_before(2, EV_THAW_END, 1, EV_THAW_START);
	assert_before(1, EV_THAW_END, 0, EV_THAW_START);
	assert_states(fx, 3, FS_THAWED);
	assert_all_thawed(3);
}

/* ------------------------------------------------------------ 2. overlap */

/* As many FIFREEZEs blocked as the pool has workers from the start (one per CPU, up to
 * NFS - 2): two more independent ones still start and end meanwhile (the pool fans
 * out), the blocked ones still blocked. */
static void test_overlap(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int nblock = cpus < 1 ? 1 : cpus > NFS - 2 ? NFS - 2 : (int)cpus;
	plan_init(fx, &p, (size_t)nblock + 2);
	for (int i = 0; i < nblock; i++)
		on_freeze(i, ACT_BLOCK, 0);
	start_freeze(fx, &p, 10000);
	wait_ev(fx, nblock, EV_FREEZE_END);
	wait_ev(fx, nblock + 1, EV_FREEZE_END);
	for (int i = 0; i < nblock; i++) {
		wait_ev(fx, i, EV_FREEZE_START);
		assert_false(has_ev(i, EV_FREEZE_END));
	}
	assert_int_equal(fx->done_calls, 0);
	for (int i = 0; i < nblock; i++)
		release(i);
	assert_true(finish(fx));
	assert_states(fx, (size_t)nblock + 2, FS_FROZEN);
	assert_true(thaw_all(fx));
	assert_all_thawed(nblock + 2);
}

/* ------------------------------------------------------------ 3. dependent waits */

/* 0 held by 1, 2 independent; 0 blocked: 2 freezes, 1 does not start until 0 is
 * let go, and then only after 0's FIFREEZE has ended. */
static void test_dependent_waits(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 3);
	plan_hold(&p, 0, 1);
	on_freeze(0, ACT_BLOCK, 0);
	start_freeze(fx, &p, 10000);
	wait_ev(fx, 0, EV_FREEZE_START);
	wait_state(fx, 2, FS_FROZEN);
	assert_false(has_ev(1, EV_FREEZE_START));
	assert_int_equal(state_of(fx, 1), FS_PENDING);
	assert_int_equal(state_of(fx, 0), FS_FREEZING);
	release(0);
	assert_true(finish(fx));
	assert_before(0, EV_FREEZE_END, 1, EV_FREEZE_START);
	assert_states(fx, 3, FS_FROZEN);
}

/* ------------------------------------------------------------ 4. unwinding */

/* 0 held by 1 held by 2 held by 3; 2's FIFREEZE fails with EIO: 3 never starts, 0 and
 * 1 are thawed, 1 before 0; the error names 2. */
static void test_failure_unwinds(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 4);
	plan_hold(&p, 0, 1);
	plan_hold(&p, 1, 2);
	plan_hold(&p, 2, 3);
	on_freeze(2, ACT_FAIL, EIO);
	assert_false(freeze_all(fx, &p));
	assert_int_equal(state_of(fx, 0), FS_THAWED);
	assert_int_equal(state_of(fx, 1), FS_THAWED);
	assert_int_equal(state_of(fx, 2), FS_FAILED);
	assert_int_equal(state_of(fx, 3), FS_SKIPPED);
	assert_int_equal(node_of(fx, 2)->err, EIO);
	assert_string_equal(node_of(fx, 2)->failed_step, "freeze");
	assert_false(has_ev(3, EV_FREEZE_START));
	assert_false(has_ev(2, EV_THAW_START));
	assert_before(1, EV_THAW_END, 0, EV_THAW_START);
	assert_all_thawed(4);
	assert_error_names(fx, fs_path[2]);
	assert_error_names(fx, strerror(EIO));
	assert_false(freezer_active(fx->fz));
}

/* A failure while an independent FIFREEZE is still under way: no more FIFREEZE is
 * issued, and the one under way is thawed once it is back. */
static void test_failure_waits_for_inflight(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 3);
	plan_hold(&p, 0, 2);
	on_freeze(0, ACT_BLOCK, 0);
	on_freeze(1, ACT_FAIL, EIO);
	start_freeze(fx, &p, 10000);
	wait_state(fx, 1, FS_FAILED);
	assert_int_equal(fx->done_calls, 0);
	release(0);
	assert_false(finish(fx));
	assert_int_equal(state_of(fx, 0), FS_THAWED);
	assert_int_equal(state_of(fx, 2), FS_SKIPPED);
	assert_false(has_ev(2, EV_FREEZE_START));
	assert_all_thawed(3);
	assert_error_names(fx, fs_path[1]);
}

/* EBUSY: someone else froze it. Ours not to thaw: no FITHAW for it. */
static void test_busy_is_foreign(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 2);
	plan_hold(&p, 0, 1);
	on_freeze(1, ACT_FAIL, EBUSY);
	assert_false(freeze_all(fx, &p));
	assert_int_equal(state_of(fx, 0), FS_THAWED);
	assert_int_equal(state_of(fx, 1), FS_FOREIGN);
	assert_false(has_ev(1, EV_THAW_START));
	assert_all_thawed(2);
	assert_error_names(fx, "already frozen by another freezer");
	assert_false(freezer_active(fx->fz));
}

/* The path leads to another mount than planned: not frozen, the freeze fails. */
static void test_mount_changed(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	if (fx->mount_id[0] == 0)
		skip(); /* no mount id from this kernel: nothing is checked */
	plan_init(fx, &p, 2);
	p.v[1].mount_id = fx->mount_id[1] + 1;
	plan_hold(&p, 0, 1);
	assert_false(freeze_all(fx, &p));
	assert_int_equal(state_of(fx, 1), FS_FAILED);
	assert_string_equal(node_of(fx, 1)->failed_step, "mount check");
	assert_false(has_ev(1, EV_FREEZE_START));
	assert_int_equal(state_of(fx, 0), FS_THAWED);
	assert_all_thawed(2);
}

/* ------------------------------------------------------------ 5. deadline */

static bool settled(void *arg)
{
	struct fx *fx = arg;
	return fx->settled_calls > 0;
}

/* 0's FIFREEZE outlives a 50 ms deadline: the freeze fails at the deadline with 1
 * thawed, 0 abandoned (stuck); no new freeze meanwhile. Let go, 0 froze late: it is
 * thawed, and the settled callback says so. */
static void test_deadline(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p, again;
	plan_init(fx, &p, 2);
	on_freeze(0, ACT_BLOCK, 0);
	start_freeze(fx, &p, 50);
	assert_false(finish(fx));
	const struct fs_node *a = node_of(fx, 0);
	assert_true(a->abandoned);
	assert_int_equal(a->state, FS_FAILED);
	assert_int_equal(a->err, ETIMEDOUT);
	assert_false(has_ev(0, EV_FREEZE_END));
	/* 1 froze at once: thawed by the unwinding (or, had its job not been back by the
	 * deadline on a very slow machine, abandoned too and thawed when heard of). */
	assert_true(state_of(fx, 1) == FS_THAWED || node_of(fx, 1)->abandoned);
	assert_error_names(fx, "timed out");
	assert_error_names(fx, fs_path[0]);
	assert_true(freezer_stuck(fx->fz));
	assert_int_equal(fx->settled_calls, 0);

	plan_init(fx, &again, 1);
	errno = 0;
	assert_int_equal(freezer_freeze(fx->fz, &again, 50, on_done, fx), -1);
	assert_int_equal(errno, EBUSY);

	release(0);
	if (!unit_run_until(fx->loop, settled, fx, WAIT_MS))
		fail_msg("the settled callback never came");
	assert_int_equal(fx->settled_calls, 1);
	assert_false(freezer_stuck(fx->fz));
	assert_false(freezer_active(fx->fz));
	assert_before(0, EV_FREEZE_END, 0, EV_THAW_START);
	assert_all_thawed(2);
}

/* ------------------------------------------------------------ 6. thaw */

/* A good freeze thawed in reverse order; EINVAL from a FITHAW: thawed by another. */
static void test_thaw_einval(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 3);
	plan_hold(&p, 0, 1);
	plan_hold(&p, 1, 2);
	assert_true(freeze_all(fx, &p));
	on_thaw(1, ACT_FAIL, EINVAL);
	assert_true(thaw_all(fx));
	assert_states(fx, 3, FS_THAWED);
	assert_true(node_of(fx, 1)->thawed_by_other);
	assert_false(node_of(fx, 0)->thawed_by_other);
	assert_false(node_of(fx, 2)->thawed_by_other);
	assert_before(2, EV_THAW_END, 1, EV_THAW_START);
	assert_before(1, EV_THAW_END, 0, EV_THAW_START);
	assert_false(freezer_active(fx->fz));
	assert_string_equal(freezer_error(fx->fz), "");
}

/* A FITHAW that fails (EIO): reported, the one it held still thawed (never stop half
 * way), and the next thaw tries it again. */
static void test_thaw_fails(void **state)
{
	struct fx *fx = *state;
	struct fs_plan p;
	plan_init(fx, &p, 2);
	plan_hold(&p, 0, 1);
	assert_true(freeze_all(fx, &p));
	on_thaw(1, ACT_FAIL, EIO);
	assert_false(thaw_all(fx));
	assert_int_equal(state_of(fx, 1), FS_THAW_FAILED);
	assert_int_equal(state_of(fx, 0), FS_THAWED);
	assert_error_names(fx, fs_path[1]);
	assert_true(freezer_active(fx->fz));
	on_thaw(1, ACT_OK, 0);
	assert_true(thaw_all(fx));
	assert_int_equal(state_of(fx, 1), FS_THAWED);
	assert_int_equal(count_ev(1, EV_THAW_START), 2);
	assert_false(freezer_active(fx->fz));
}

/* ------------------------------------------------------------ 7. the guardian */


static int guard_arm(void *ctx, uint64_t id, int fd, const char *path)
{
	struct guard_ctx *g = ctx;
	int fs = fs_of_path(path);
	(void)fd;
	if (fs < 0 || id == 0)
		return -1;
	record(fs, EV_ARM, fs != g->refuse);
	pthread_mutex_lock(&g->mu);
	g->id[fs] = id;
	pthread_mutex_unlock(&g->mu);
	if (fs == g->refuse) {
		errno = ECONNREFUSED;
		return -1;
	}
	return 0;
}

static void guard_disarm(void *ctx, uint64_t id)
{
	struct guard_ctx *g = ctx;
	int fs = -1;
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < NFS && fs < 0; i++)
		if (g->id[i] == id)
			fs = i;
	if (fs >= 0)
		g->disarms[fs]++;
	pthread_mutex_unlock(&g->mu);
	record(fs, EV_DISARM, true);
}

static struct guard_ctx *set_guard(struct fx *fx, int refuse)
{
	struct guard_ctx *g = &fx->guard;
	g->refuse = refuse;
	freezer_set_guard(fx->fz, &(struct freezer_guard){ guard_arm, guard_disarm, g });
	return g;
}

/* Armed before every FIFREEZE, each with an id of its own; disarmed after its thaw. */
static void test_guard_arm_disarm(void **state)
{
	struct fx *fx = *state;
	struct guard_ctx *g = set_guard(fx, -1);
	struct fs_plan p;
	plan_init(fx, &p, 3);
	plan_hold(&p, 0, 1);
	assert_true(freeze_all(fx, &p));
	for (int fs = 0; fs < 3; fs++) {
		assert_before(fs, EV_ARM, fs, EV_FREEZE_START);
		assert_int_equal(count_ev(fs, EV_DISARM), 0);
		for (int o = 0; o < fs; o++)
			assert_true(g->id[fs] != g->id[o]);
	}
	assert_true(thaw_all(fx));
	for (int fs = 0; fs < 3; fs++) {
		assert_int_equal(g->disarms[fs], 1);
		assert_before(fs, EV_THAW_END, fs, EV_DISARM);
	}
	assert_int_equal(count_ev(-1, EV_DISARM), 0);
}

/* The guardian refuses 1 (held after 0): 1 is never frozen, the freeze fails, 0 is
 * thawed and disarmed. */
static void test_guard_refuses(void **state)
{
	struct fx *fx = *state;
	struct guard_ctx *g = set_guard(fx, 1);
	struct fs_plan p;
	plan_init(fx, &p, 2);
	plan_hold(&p, 0, 1);
	assert_false(freeze_all(fx, &p));
	assert_true(has_ev(1, EV_ARM));
	assert_false(has_ev(1, EV_FREEZE_START));
	assert_int_equal(state_of(fx, 1), FS_FAILED);
	assert_string_equal(node_of(fx, 1)->failed_step, "guardian");
	assert_int_equal(node_of(fx, 1)->err, ECONNREFUSED);
	assert_error_names(fx, "guardian");
	assert_int_equal(state_of(fx, 0), FS_THAWED);
	assert_all_thawed(2);
	assert_before(0, EV_THAW_END, 0, EV_DISARM);
	assert_int_equal(g->disarms[0], 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_order_pair),
		T(test_order_chain),
		T(test_overlap),
		T(test_dependent_waits),
		T(test_failure_unwinds),
		T(test_failure_waits_for_inflight),
		T(test_busy_is_foreign),
		T(test_mount_changed),
		T(test_deadline),
		T(test_thaw_einval),
		T(test_thaw_fails),
		T(test_guard_arm_disarm),
		T(test_guard_refuses),
	};
#undef T
	unit_guard("test_freezer", 30);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
