// SPDX-License-Identifier: MIT
/* The freezer's jobs: FIFREEZE/FITHAW in a worker thread (the fd opened and checked
 * against the plan, the guardian armed first), and the result brought back into the
 * freezer's state on the loop. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"
#include "fs/freezer_int.h"
#include "fs/mountid.h"

/* One filesystem is known not to be frozen by us any more (its FIFREEZE failed, or it
 * was thawed). The last one removes the run-dir record here, in the thread that saw
 * it: were it left to the loop's next turns, a death in between (the guardian killed,
 * quiesced thawing, then killed) left a record of a freeze that is over, and the next
 * start thawed those mounts again, maybe someone else's freeze by then. */
void fsjob_release(struct freezer *fz)
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
			fsjob_release(j->fz);
			return;
		}
		/* The path must still lead to the planned mount: it may have been
		 * unmounted, or something mounted over it, since the plan was made. */
		if (fd_mount_id(j->fd, &id) == 0 && id != j->mount_id) {
			j->err = ESTALE;
			j->step = "mount check";
			fsjob_release(j->fz);
			return;
		}
		/* The guardian gets the fd first: from here on, if quiesced dies, it thaws. */
		if (j->guard_id && j->fz->guard.arm(j->fz->guard.ctx, j->guard_id, j->fd, j->path) < 0) {
			j->err = errno ? errno : ENOTCONN;
			j->step = "guardian";
			fsjob_release(j->fz);
			return;
		}
		j->t_start = now_ns();
		if (ioctl(j->fd, FIFREEZE, &unused) < 0) {
			j->err = errno;
			j->step = "freeze";
			fsjob_release(j->fz);
		}
		j->t_end = now_ns();
		/* Only a failure or a filesystem others wait for needs the loop at once. */
		j->wj.no_hurry = !j->err && !j->holders_wait;
	} else {
		j->t_start = now_ns();
		if (ioctl(j->fd, FITHAW, &unused) < 0) {
			j->err = errno;
			j->step = "thaw";
		}
		j->t_end = now_ns();
		/* EINVAL: not frozen (someone else thawed it). */
		if (!j->err || j->err == EINVAL)
			fsjob_release(j->fz);
	}
}

int fsjob_submit(struct freezer *fz, struct job *j)
{
	j->wj.run = run_job;
	return workpool_submit(fz->pool, &j->wj);
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
bool fsjob_straggler_returned(struct freezer *fz, struct job *j)
{
	if (j->kind == JOB_FREEZE && !j->err) {
		log_warnx("%s froze after its deadline; thawing it", j->path);
		j->kind = JOB_LATE_THAW;
		if (fsjob_submit(fz, j) == 0)
			return true;
		/* No worker to be had: FITHAW here rather than leave it frozen. */
		int unused = 0;
		if (ioctl(j->fd, FITHAW, &unused) < 0 && errno != EINVAL)
			log_warn("thawing %s", j->path);
		else
			fsjob_release(fz);
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

void fsjob_freeze_done(struct freezer *fz, struct fs_node *nd, struct job *j)
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
		freezer_set_error(fz, "no thaw guardian to hand %s to (%s): refusing to freeze",
			  nd->cand->mountpoint, strerror(j->err));
	} else if (j->err == EBUSY && strcmp(j->step, "freeze") == 0) {
		nd->state = FS_FOREIGN;
		freezer_set_error(fz, "%s is already frozen by another freezer (busy)",
			  nd->cand->mountpoint);
	} else if (j->err == ESTALE && strcmp(j->step, "mount check") == 0) {
		nd->state = FS_FAILED;
		freezer_set_error(fz, "%s changed since it was planned (unmounted or mounted over)",
			  nd->cand->mountpoint);
	} else {
		nd->state = FS_FAILED;
		freezer_set_error(fz, "failed to %s %s: %s", j->step, nd->cand->mountpoint,
			  strerror(j->err));
	}
	fz->stopping = true;
}

void fsjob_thaw_done(struct freezer *fz, struct fs_node *nd, struct job *j)
{
	nd->thaw_ns = j->t_end - j->t_start;
	nd->thaw_start_ns = since(fz->op_t0, j->t_start);
	nd->thaw_end_ns = since(fz->op_t0, j->t_end);
	if (j->err && j->err != EINVAL) {
		nd->state = FS_THAW_FAILED;
		nd->thaw_tried = true;
		nd->err = j->err;
		nd->failed_step = "thaw";
		freezer_set_error(fz, "failed to thaw %s: %s", nd->cand->mountpoint, strerror(j->err));
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

void fsjob_free(struct workpool_job *wj)
{
	struct job *j = (struct job *)wj;
	free(j->path);
	free(j);
}
