// SPDX-License-Identifier: MIT
#include "fs/freezer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"
#include "fs/workpool.h"
#include "fs/freezer_int.h"

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

/* ------------------------------------------------------------ scheduling */

static void on_jobs_done(void *arg, struct workpool_job *finished);
static void finish_op(struct freezer *fz);
static void start_unwind(struct freezer *fz);

void freezer_set_error(struct freezer *fz, const char *fmt, ...)
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
	j->holders_wait = kind == JOB_FREEZE && nd->cand->n_holders;
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
	if (fsjob_submit(fz, j) < 0) {
		nd->state = kind == JOB_FREEZE ? FS_PENDING : FS_FROZEN;
		if (kind == JOB_FREEZE)
			fsjob_release(fz);
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
			freezer_set_error(fz, "failed to freeze %s: %s", nd->cand->mountpoint,
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
		/* A FITHAW that failed is tried again by the next thaw, not at once by
		 * this one: that would spin for as long as FITHAW fails. */
		if ((nd->state != FS_FROZEN && nd->state != FS_THAW_FAILED) || nd->waiting ||
		    nd->abandoned || nd->thaw_tried)
			continue;
		if (dispatch(fz, i, JOB_THAW) < 0) {
			nd->state = FS_THAW_FAILED;
			nd->thaw_tried = true;
			freezer_set_error(fz, "failed to thaw %s: %s", nd->cand->mountpoint,
				  strerror(ENOMEM));
		}
	}
}

/* For a thaw: each node waits for its holders that are frozen. */
static void count_thaw_waits(struct freezer *fz)
{
	for (size_t i = 0; i < fz->n; i++) {
		fz->nodes[i].waiting = 0;
		fz->nodes[i].thaw_tried = false;
	}
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
	/* Jobs back but not heard of yet (workpool_job.no_hurry) are not late. */
	workpool_collect(fz->pool);
	if (fz->op != OP_FREEZE || fz->unwinding)
		return;
	for (size_t i = 0; i < fz->n; i++) {
		struct fs_node *nd = &fz->nodes[i];
		if (nd->state != FS_FREEZING)
			continue;
		freezer_set_error(fz, "timed out freezing %s after %llu ms", nd->cand->mountpoint,
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
			freezer_set_error(fz, "timed out after %llu ms before %s could be frozen",
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
			if (fsjob_straggler_returned(fz, j))
				continue;
			straggled = true;
		} else {
			struct fs_node *nd = &fz->nodes[j->node];
			fz->inflight--;
			if (j->kind == JOB_FREEZE)
				fsjob_freeze_done(fz, nd, j);
			else
				fsjob_thaw_done(fz, nd, j);
		}
		fsjob_free(&j->wj);
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
	/* A worker per CPU from the start: even FIFREEZEs of 0.1 ms go twice as fast
	 * on two CPUs as on one (bench/RESULTS.md); more only when they are slow. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	workpool_set_base(fz->pool, cpus > 0 ? (unsigned)cpus : 1);
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

void freezer_forget(struct freezer *fz)
{
	if (fz->op == OP_NONE && !loop_timer_armed(&fz->notify) && !freezer_active(fz))
		drop_set(fz);
}

void freezer_free(struct freezer *fz)
{
	if (!fz)
		return;
	loop_timer_disarm(fz->loop, &fz->deadline);
	loop_timer_disarm(fz->loop, &fz->notify);
	if (!workpool_free(fz->pool, fsjob_free))
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
