#include "fs/freezer.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "fs/mountid.h"
#include "fs/workpool.h"

/* A FIFREEZE that took this long or more: the next freeze fans out at once (its
 * filesystems will most likely be as slow; see workpool.h). */
#define SLOW_FREEZE_NS (1000 * 1000)

/* JOB_LATE_THAW: thaw of an abandoned FIFREEZE that came back frozen; its node is
 * no longer tracked, the job carries the fd and path. */
enum job_kind { JOB_FREEZE, JOB_THAW, JOB_LATE_THAW };

struct job {
	struct workpool_job wj;  /* first: a job is its workpool_job */
	struct freezer *fz;
	enum job_kind kind;
	size_t node;
	unsigned epoch;        /* which freeze the node belongs to */
	/* in */
	char *path;
	int mount_id;
	int fd;
	uint64_t guard_id;     /* non-zero: arm the guardian with this id first */
	/* out */
	int err;
	const char *step;
	uint64_t t_start, t_end; /* monotonic ns around the ioctl */
};

struct freezer {
	struct loop *loop;
	struct workpool *pool;

	struct freezer_guard guard;
	bool has_guard;
	/* Filesystems that may be frozen by us: a FIFREEZE queued, under way or done,
	 * not thawed yet. The worker that brings it to 0 removes the record at once. */
	atomic_uint maybe_frozen;
	char *record;           /* the run-dir record (leftover.h), or NULL */

	/* Owned by the loop thread. */
	unsigned epoch;
	struct fs_plan plan;
	struct fs_node *nodes;
	size_t n;
	enum { OP_NONE, OP_FREEZE, OP_THAW } op;
	bool stopping;          /* the freeze failed: issue no more FIFREEZE */
	size_t inflight;        /* jobs of the current op not back yet */
	size_t stragglers;      /* abandoned FIFREEZEs still in the kernel */
	bool holding_log;
	uint64_t op_t0;         /* monotonic ns when the current op began */
	bool unwinding;         /* a failed freeze is thawing what it froze */
	char error[512];
	struct loop_timer deadline;
	struct loop_timer notify;
	bool slow_seen;             /* a FIFREEZE of the current freeze was slow */
	uint64_t timeout_ms;
	freezer_done_fn done;
	void *done_arg;
	void (*settled)(void *arg);
	void *settled_arg;
};

const char *fs_state_name(enum fs_state s)
{
	static const char *const names[] = {
		[FS_PENDING] = "pending",   [FS_FREEZING] = "freezing", [FS_FROZEN] = "frozen",
		[FS_THAWING] = "thawing",   [FS_THAWED] = "thawed",     [FS_FAILED] = "failed",
		[FS_SKIPPED] = "skipped",   [FS_FOREIGN] = "frozen by someone else",
		[FS_THAW_FAILED] = "thaw failed",
	};
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

/* ------------------------------------------------------------ workers */

/* One filesystem is known not to be frozen by us any more (its FIFREEZE failed, or it
 * was thawed). The last one removes the run-dir record here, in the thread that saw
 * it: were it left to the loop's next turns, a death in between (the guardian killed,
 * quiesced thawing, then killed) left a record of a freeze that is over, and the next
 * start thawed those mounts again, maybe someone else's freeze by then. */
static void release(struct freezer *fz)
{
	if (atomic_fetch_sub(&fz->maybe_frozen, 1) == 1 && fz->record)
		(void)unlink(fz->record);
}

static void run_job(struct workpool_job *wj)
{
	struct job *j = (struct job *)wj;
	/* FIFREEZE/FITHAW are declared _IOWR(..., int) though the kernel ignores the
	 * argument; pass a real int so that memory checkers see a valid pointer. */
	int unused = 0;

	if (j->kind == JOB_FREEZE) {
		int id;
		j->fd = open(j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
		if (j->fd < 0) {
			j->err = errno;
			j->step = "open";
			release(j->fz);
			return;
		}
		/* The path must still lead to the planned mount: it may have been
		 * unmounted, or something mounted over it, since the plan was made. */
		if (fd_mount_id(j->fd, &id) == 0 && id != j->mount_id) {
			j->err = ESTALE;
			j->step = "mount check";
			release(j->fz);
			return;
		}
		/* The guardian gets the fd first: from here on, if quiesced dies, it thaws. */
		if (j->guard_id && j->fz->guard.arm(j->fz->guard.ctx, j->guard_id, j->fd, j->path) < 0) {
			j->err = errno ? errno : ENOTCONN;
			j->step = "guardian";
			release(j->fz);
			return;
		}
		j->t_start = now_ns();
		if (ioctl(j->fd, FIFREEZE, &unused) < 0) {
			j->err = errno;
			j->step = "freeze";
			release(j->fz);
		}
		j->t_end = now_ns();
	} else {
		j->t_start = now_ns();
		if (ioctl(j->fd, FITHAW, &unused) < 0) {
			j->err = errno;
			j->step = "thaw";
		}
		j->t_end = now_ns();
		/* EINVAL: not frozen (someone else thawed it). */
		if (!j->err || j->err == EINVAL)
			release(j->fz);
	}
}

static int submit(struct freezer *fz, struct job *j)
{
	j->wj.run = run_job;
	return workpool_submit(fz->pool, &j->wj);
}

/* ------------------------------------------------------------ scheduling */

static void on_jobs_done(void *arg, struct workpool_job *finished);
static void finish_op(struct freezer *fz);
static void start_unwind(struct freezer *fz);

static void set_error(struct freezer *fz, const char *fmt, ...) LOG_PRINTF(2, 3);

static void set_error(struct freezer *fz, const char *fmt, ...)
{
	va_list ap;
	if (fz->error[0])
		return; /* keep the first failure: it is the cause */
	va_start(ap, fmt);
	vsnprintf(fz->error, sizeof(fz->error), fmt, ap);
	va_end(ap);
}

static void update_log_hold(struct freezer *fz)
{
	bool need = fz->stragglers > 0;
	for (size_t i = 0; i < fz->n && !need; i++) {
		enum fs_state s = fz->nodes[i].state;
		need = s == FS_FREEZING || s == FS_FROZEN || s == FS_THAWING || s == FS_THAW_FAILED;
	}
	if (need != fz->holding_log) {
		fz->holding_log = need;
		log_hold(need);
	}
}

static int dispatch(struct freezer *fz, size_t i, enum job_kind kind)
{
	struct fs_node *nd = &fz->nodes[i];
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		goto fail;
	j->kind = kind;
	j->fz = fz;
	j->node = i;
	j->epoch = fz->epoch;
	if (kind == JOB_FREEZE && fz->has_guard) {
		nd->guard_id = (uint64_t)fz->epoch << 32 | (uint64_t)(i + 1);
		j->guard_id = nd->guard_id;
	}
	j->fd = nd->fd;
	j->mount_id = nd->cand->mount_id;
	if (kind == JOB_FREEZE) {
		j->path = strdup(nd->cand->mountpoint);
		if (!j->path)
			goto fail;
	}
	/* State first: the log is held before the first FIFREEZE can start. */
	nd->state = kind == JOB_FREEZE ? FS_FREEZING : FS_THAWING;
	update_log_hold(fz);
	if (kind == JOB_FREEZE)
		atomic_fetch_add(&fz->maybe_frozen, 1);
	if (submit(fz, j) < 0) {
		nd->state = kind == JOB_FREEZE ? FS_PENDING : FS_FROZEN;
		if (kind == JOB_FREEZE)
			release(fz);
		goto fail;
	}
	fz->inflight++;
	return 0;
fail:
	if (j)
		free(j->path);
	free(j);
	nd->err = ENOMEM;
	nd->failed_step = kind == JOB_FREEZE ? "freeze" : "thaw";
	return -1;
}

/* Freeze whatever is ready: every filesystem whose dependents are all frozen. */
static void freeze_ready(struct freezer *fz)
{
	for (size_t i = 0; i < fz->n && !fz->stopping; i++) {
		struct fs_node *nd = &fz->nodes[i];
		if (nd->state != FS_PENDING || nd->waiting)
			continue;
		if (dispatch(fz, i, JOB_FREEZE) < 0) {
			nd->state = FS_FAILED;
			set_error(fz, "failed to freeze %s: %s", nd->cand->mountpoint,
				  strerror(ENOMEM));
			fz->stopping = true;
		}
	}
}

/* Thaw whatever is ready: every frozen filesystem whose holders are all thawed. */
static void thaw_ready(struct freezer *fz)
{
	for (size_t i = 0; i < fz->n; i++) {
		struct fs_node *nd = &fz->nodes[i];
		if ((nd->state != FS_FROZEN && nd->state != FS_THAW_FAILED) || nd->waiting ||
		    nd->abandoned)
			continue;
		if (dispatch(fz, i, JOB_THAW) < 0) {
			nd->state = FS_THAW_FAILED;
			set_error(fz, "failed to thaw %s: %s", nd->cand->mountpoint,
				  strerror(ENOMEM));
		}
	}
}

/* For a thaw: each node waits for its holders that are frozen. */
static void count_thaw_waits(struct freezer *fz)
{
	for (size_t i = 0; i < fz->n; i++)
		fz->nodes[i].waiting = 0;
	for (size_t i = 0; i < fz->n; i++) {
		const struct fs_candidate *c = fz->nodes[i].cand;
		for (size_t h = 0; h < c->n_holders; h++) {
			enum fs_state s = fz->nodes[c->holders[h]].state;
			if (s == FS_FROZEN || s == FS_THAW_FAILED)
				fz->nodes[i].waiting++;
		}
	}
}

static void start_thaw_pass(struct freezer *fz)
{
	count_thaw_waits(fz);
	thaw_ready(fz);
}

static void on_deadline(struct loop *loop, void *arg)
{
	struct freezer *fz = arg;
	(void)loop;
	if (fz->op != OP_FREEZE || fz->unwinding)
		return;
	for (size_t i = 0; i < fz->n; i++) {
		struct fs_node *nd = &fz->nodes[i];
		if (nd->state != FS_FREEZING)
			continue;
		set_error(fz, "timed out freezing %s after %llu ms", nd->cand->mountpoint,
			  (unsigned long long)fz->timeout_ms);
		/* Its FIFREEZE may never return. Stop waiting for it; if it does return
		 * and succeeded, it is thawed at once (see straggler_returned). */
		nd->abandoned = true;
		nd->state = FS_FAILED;
		nd->err = ETIMEDOUT;
		nd->failed_step = "freeze";
		fz->inflight--;
		fz->stragglers++;
	}
	fz->stopping = true;
	for (size_t i = 0; i < fz->n; i++)
		if (fz->nodes[i].state == FS_PENDING) {
			fz->nodes[i].state = FS_SKIPPED;
			/* A freeze stopped by its deadline failed, also when no FIFREEZE
			 * was under way (a plan whose orders waited on each other did that
			 * before policy.c broke every cycle): never report it as done. */
			set_error(fz, "timed out after %llu ms before %s could be frozen",
				  (unsigned long long)fz->timeout_ms, fz->nodes[i].cand->mountpoint);
		}
	start_unwind(fz);
}

static void start_unwind(struct freezer *fz)
{
	if (fz->inflight)
		return; /* wait for the FIFREEZEs under way */
	fz->unwinding = true;
	start_thaw_pass(fz);
	if (!fz->inflight)
		finish_op(fz);
}

static bool any_failed(const struct freezer *fz)
{
	return fz->error[0] != '\0';
}

static void notify_done(struct loop *loop, void *arg)
{
	struct freezer *fz = arg;
	freezer_done_fn done = fz->done;
	(void)loop;
	fz->done = NULL;
	if (done)
		done(fz->done_arg, !any_failed(fz));
}

static void finish_op(struct freezer *fz)
{
	loop_timer_disarm(fz->loop, &fz->deadline);
	if (fz->op == OP_FREEZE)
		workpool_set_eager(fz->pool, fz->slow_seen);
	workpool_rest(fz->pool);
	fz->op = OP_NONE;
	fz->unwinding = false;
	update_log_hold(fz);
	/* Always from the loop, never from inside freezer_freeze/thaw: the caller may
	 * not be ready for its callback yet. The next loop turn costs microseconds. */
	loop_timer_arm(fz->loop, &fz->notify, 0, notify_done, fz);
}

/* The guardian need not hold it any more: thawed, or never frozen by us. */
static void disarm(struct freezer *fz, uint64_t *guard_id)
{
	if (*guard_id && fz->has_guard)
		fz->guard.disarm(fz->guard.ctx, *guard_id);
	*guard_id = 0;
}

/* An abandoned FIFREEZE came back. If it froze the filesystem nobody else will thaw
 * it, so thaw it now on the same fd, in a worker like every other ioctl.
 * Returns true if the job was reused for that. */
static bool straggler_returned(struct freezer *fz, struct job *j)
{
	if (j->kind == JOB_FREEZE && !j->err) {
		log_warnx("%s froze after its deadline; thawing it", j->path);
		j->kind = JOB_LATE_THAW;
		if (submit(fz, j) == 0)
			return true;
		/* No worker to be had: FITHAW here rather than leave it frozen. */
		int unused = 0;
		if (ioctl(j->fd, FITHAW, &unused) < 0 && errno != EINVAL)
			log_warn("thawing %s", j->path);
		else
			release(fz);
	} else if (j->kind == JOB_LATE_THAW) {
		if (!j->err || j->err == EINVAL)
			disarm(fz, &j->guard_id);
		if (j->err && j->err != EINVAL)
			log_warnx("failed to thaw %s after its late freeze: %s", j->path,
				  strerror(j->err));
		else
			log_notice("%s thawed after its late freeze", j->path);
	}
	if (j->kind == JOB_FREEZE)
		disarm(fz, &j->guard_id); /* its FIFREEZE failed: nothing to thaw */
	if (j->fd >= 0)
		close(j->fd);
	fz->stragglers--;
	return false;
}

static uint64_t since(uint64_t t0, uint64_t t)
{
	return t > t0 ? t - t0 : 0;
}

static void freeze_job_done(struct freezer *fz, struct fs_node *nd, struct job *j)
{
	if (j->t_end) {
		nd->freeze_ns = j->t_end - j->t_start;
		if (nd->freeze_ns >= SLOW_FREEZE_NS)
			fz->slow_seen = true;
		nd->freeze_start_ns = since(fz->op_t0, j->t_start);
		nd->freeze_end_ns = since(fz->op_t0, j->t_end);
	}
	if (!j->err) {
		nd->fd = j->fd;
		nd->state = FS_FROZEN;
		/* The filesystems it holds may go next. */
		for (size_t h = 0; h < nd->cand->n_holders; h++)
			fz->nodes[nd->cand->holders[h]].waiting--;
		return;
	}
	if (j->fd >= 0)
		close(j->fd);
	disarm(fz, &nd->guard_id);
	nd->err = j->err;
	nd->failed_step = j->step;
	if (strcmp(j->step, "guardian") == 0) {
		nd->state = FS_FAILED;
		set_error(fz, "no thaw guardian to hand %s to (%s): refusing to freeze",
			  nd->cand->mountpoint, strerror(j->err));
	} else if (j->err == EBUSY && strcmp(j->step, "freeze") == 0) {
		nd->state = FS_FOREIGN;
		set_error(fz, "%s is already frozen by another freezer (busy)",
			  nd->cand->mountpoint);
	} else if (j->err == ESTALE && strcmp(j->step, "mount check") == 0) {
		nd->state = FS_FAILED;
		set_error(fz, "%s changed since it was planned (unmounted or mounted over)",
			  nd->cand->mountpoint);
	} else {
		nd->state = FS_FAILED;
		set_error(fz, "failed to %s %s: %s", j->step, nd->cand->mountpoint,
			  strerror(j->err));
	}
	fz->stopping = true;
}

static void thaw_job_done(struct freezer *fz, struct fs_node *nd, struct job *j)
{
	nd->thaw_ns = j->t_end - j->t_start;
	nd->thaw_start_ns = since(fz->op_t0, j->t_start);
	nd->thaw_end_ns = since(fz->op_t0, j->t_end);
	if (j->err && j->err != EINVAL) {
		nd->state = FS_THAW_FAILED;
		nd->err = j->err;
		nd->failed_step = "thaw";
		set_error(fz, "failed to thaw %s: %s", nd->cand->mountpoint, strerror(j->err));
	} else {
		/* EINVAL: not frozen any more; someone else thawed it. Ours is done. */
		nd->thawed_by_other = j->err == EINVAL;
		nd->state = FS_THAWED;
		close(nd->fd);
		nd->fd = -1;
		disarm(fz, &nd->guard_id);
	}
	/* Whatever it holds may thaw now (even after a failure: never stop half way). */
	for (size_t i = 0; i < fz->n; i++) {
		const struct fs_candidate *c = fz->nodes[i].cand;
		for (size_t h = 0; h < c->n_holders; h++)
			if (&fz->nodes[c->holders[h]] == nd && fz->nodes[i].waiting)
				fz->nodes[i].waiting--;
	}
}

static void free_job(struct workpool_job *wj)
{
	struct job *j = (struct job *)wj;
	free(j->path);
	free(j);
}

static void on_jobs_done(void *arg, struct workpool_job *finished)
{
	struct freezer *fz = arg;
	struct workpool_job *list = finished;
	bool straggled = false;

	while (list) {
		struct job *j = (struct job *)list;
		list = list->next;
		if (j->kind == JOB_LATE_THAW ||
		    (j->kind == JOB_FREEZE &&
		     (j->epoch != fz->epoch || fz->nodes[j->node].abandoned))) {
			if (straggler_returned(fz, j))
				continue;
			straggled = true;
		} else {
			struct fs_node *nd = &fz->nodes[j->node];
			fz->inflight--;
			if (j->kind == JOB_FREEZE)
				freeze_job_done(fz, nd, j);
			else
				thaw_job_done(fz, nd, j);
		}
		free_job(&j->wj);
	}

	if (fz->op == OP_FREEZE && !fz->unwinding) {
		if (!fz->stopping)
			freeze_ready(fz);
		if (fz->stopping) {
			for (size_t i = 0; i < fz->n; i++)
				if (fz->nodes[i].state == FS_PENDING)
					fz->nodes[i].state = FS_SKIPPED;
			start_unwind(fz);
		} else if (!fz->inflight) {
			finish_op(fz);
		}
	} else if (fz->op == OP_FREEZE || fz->op == OP_THAW) {
		thaw_ready(fz);
		if (!fz->inflight)
			finish_op(fz);
	}
	update_log_hold(fz);
	/* The last straggler is back and thawed, after its operation ended. */
	if (straggled && fz->op == OP_NONE && !freezer_active(fz) && fz->settled)
		fz->settled(fz->settled_arg);
}

/* ------------------------------------------------------------ API */

struct freezer *freezer_new(struct loop *loop)
{
	struct freezer *fz = calloc(1, sizeof(*fz));
	if (!fz)
		return NULL;
	fz->loop = loop;
	fz->pool = workpool_new(loop, on_jobs_done, fz);
	if (!fz->pool) {
		free(fz);
		return NULL;
	}
	return fz;
}

static void drop_set(struct freezer *fz)
{
	for (size_t i = 0; i < fz->n; i++)
		if (fz->nodes[i].fd >= 0 && !fz->nodes[i].abandoned)
			close(fz->nodes[i].fd);
	free(fz->nodes);
	fz->nodes = NULL;
	fz->n = 0;
	fs_plan_free(&fz->plan);
}

void freezer_free(struct freezer *fz)
{
	if (!fz)
		return;
	loop_timer_disarm(fz->loop, &fz->deadline);
	loop_timer_disarm(fz->loop, &fz->notify);
	if (!workpool_free(fz->pool, free_job))
		return; /* a worker is stuck in the kernel: leave it all to process exit */
	drop_set(fz);
	free(fz->record);
	free(fz);
}

int freezer_freeze(struct freezer *fz, struct fs_plan *plan, uint64_t timeout_ms,
		   freezer_done_fn done, void *arg)
{
	if (fz->op != OP_NONE || loop_timer_armed(&fz->notify) || fz->stragglers ||
	    freezer_active(fz)) {
		fs_plan_free(plan);
		errno = EBUSY;
		return -1;
	}
	drop_set(fz);
	fz->plan = *plan;
	memset(plan, 0, sizeof(*plan));
	fz->n = fz->plan.n;
	fz->nodes = calloc(fz->n ? fz->n : 1, sizeof(*fz->nodes));
	if (!fz->nodes) {
		fs_plan_free(&fz->plan);
		fz->n = 0;
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < fz->n; i++) {
		fz->nodes[i].cand = &fz->plan.v[i];
		fz->nodes[i].fd = -1;
		fz->nodes[i].state = FS_PENDING;
	}
	/* A holder waits for everything it holds. */
	for (size_t i = 0; i < fz->n; i++)
		for (size_t h = 0; h < fz->plan.v[i].n_holders; h++)
			fz->nodes[fz->plan.v[i].holders[h]].waiting++;
	fz->epoch++;
	fz->error[0] = '\0';
	fz->slow_seen = false;
	fz->stopping = false;
	fz->unwinding = false;
	fz->inflight = 0;
	if (fz->n == 0)
		return 1;
	fz->op = OP_FREEZE;
	fz->op_t0 = now_ns();
	fz->done = done;
	fz->done_arg = arg;
	fz->timeout_ms = timeout_ms;
	if (timeout_ms)
		loop_timer_arm(fz->loop, &fz->deadline, timeout_ms, on_deadline, fz);
	freeze_ready(fz);
	if (fz->stopping)
		start_unwind(fz);
	return 0;
}

int freezer_thaw(struct freezer *fz, freezer_done_fn done, void *arg)
{
	if (fz->op != OP_NONE || loop_timer_armed(&fz->notify)) {
		errno = EBUSY;
		return -1;
	}
	fz->error[0] = '\0';
	if (freezer_count(fz, FS_FROZEN) + freezer_count(fz, FS_THAW_FAILED) == 0)
		return 1;
	fz->op = OP_THAW;
	fz->op_t0 = now_ns();
	fz->done = done;
	fz->done_arg = arg;
	start_thaw_pass(fz);
	if (!fz->inflight)
		finish_op(fz); /* every dispatch failed (out of memory) */
	return 0;
}

void freezer_set_settled(struct freezer *fz, void (*fn)(void *arg), void *arg)
{
	fz->settled = fn;
	fz->settled_arg = arg;
}

void freezer_set_record(struct freezer *fz, const char *path)
{
	free(fz->record);
	fz->record = path ? strdup(path) : NULL;
}

bool freezer_stuck(const struct freezer *fz)
{
	return fz->stragglers > 0;
}

void freezer_set_guard(struct freezer *fz, const struct freezer_guard *guard)
{
	fz->guard = *guard;
	fz->has_guard = true;
}

const struct fs_node *freezer_nodes(const struct freezer *fz, size_t *n)
{
	*n = fz->n;
	return fz->nodes;
}

size_t freezer_count(const struct freezer *fz, enum fs_state s)
{
	size_t c = 0;
	for (size_t i = 0; i < fz->n; i++)
		c += fz->nodes[i].state == s;
	return c;
}

bool freezer_active(const struct freezer *fz)
{
	if (fz->stragglers)
		return true;
	for (size_t i = 0; i < fz->n; i++) {
		enum fs_state s = fz->nodes[i].state;
		if (s == FS_FREEZING || s == FS_FROZEN || s == FS_THAWING || s == FS_THAW_FAILED)
			return true;
	}
	return false;
}

const char *freezer_error(const struct freezer *fz)
{
	return fz->error;
}
