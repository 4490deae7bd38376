// SPDX-License-Identifier: MIT
/* quiesce-group's state machine: CHECK, FREEZE (in parallel, one deadline), HOLD,
 * THAW (in parallel, to the end). The guests are reached through gops, so the unit
 * tests drive it with fake guests and main.c with libvirt (gvirt.c). */
#ifndef QUIESCE_GMACHINE_H
#define QUIESCE_GMACHINE_H

#include <pthread.h>
#include <stdint.h>

#include "group/gspec.h"
#include "group/gwindow.h"

#define GRES_MSG 256

/* What one call on one guest answered. */
struct gres {
	char msg[GRES_MSG];   /* the error, or the answer in short */
	char agent[32];       /* check: "quiesced", "qemu-ga" */
	char version[32];     /* check: guest-info's version */
	int count;            /* freeze/thaw: filesystems */
};

/* Each call blocks; each must be bounded by the implementation (libvirt's agent
 * timeout); the machine bounds its own waits on top and never joins a late call. */
struct gops {
	int (*check)(void *ctx, int i, struct gres *r);
	int (*freeze)(void *ctx, int i, struct gres *r);
	int (*thaw)(void *ctx, int i, struct gres *r);
	int (*snapshot)(void *ctx, int i, struct gres *r);
	/* The user's command, bounded by limit_ms (killed after it). NULL: snapshots. */
	int (*command)(void *ctx, uint64_t limit_ms, struct gres *r);
};

enum gstate {
	GS_NEW, GS_CHECKED, GS_CHECK_FAILED, GS_FREEZING, GS_FROZEN, GS_FREEZE_FAILED,
	GS_THAWED, GS_THAW_FAILED, GS_UNKNOWN, /* no answer: may still be frozen */
};

enum gresult {
	GR_OK = 0,
	GR_CHECK = 2,    /* a guest cannot freeze: nothing was frozen */
	GR_FREEZE = 3,   /* a freeze failed or was vetoed: every guest that froze thawed */
	GR_DEADLINE = 4, /* the group's freeze deadline passed: the same */
	GR_HOLD = 5,     /* the snapshot or the command failed or ran over: thawed */
	GR_THAW = 6,     /* a thaw failed or never answered: a guest may be left frozen */
};

struct gjob {
	struct grun *r;
	int i;
	int (*op)(void *ctx, int i, struct gres *res);
	int started, done, rc;
	double t_start, t_end;
	struct gres res;
};

struct gguest {
	enum gstate st;
	int late;          /* its freeze answered after the group's deadline */
	struct gjob check, freeze, thaw, snap;
};

struct grun {
	const struct gspec *spec;
	const struct gops *ops;
	void *ctx;
	int n;
	uint64_t deadline_ms, hold_ms, agent_timeout_ms;
	uint64_t t0_ns;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct gguest g[GSPEC_MAX_GUESTS];
	enum gresult result;
	char why[512];
	double hold_start, hold_end;
	struct gres hold; /* the command's outcome */
	int stop;         /* a signal asked to stop: thaw now (gmachine_stop) */
};

/* The struct must outlive every thread it started: a call that never answers keeps
 * its thread (main.c's run is static). */
void gmachine_init(struct grun *r, const struct gops *ops, void *ctx, const struct gspec *s);
/* CHECK every guest in parallel, bounded by the agent timeout. GR_OK or GR_CHECK. */
enum gresult gmachine_check(struct grun *r);
/* FREEZE, HOLD, THAW. Returns the result (also in r->result, the reason in r->why). */
enum gresult gmachine_run(struct grun *r);
/* Thaw every guest (quiesce-group thaw). GR_OK or GR_THAW. */
enum gresult gmachine_thaw_only(struct grun *r);

/* From a signal-handling thread: end the freeze or hold now, thaw. */
void gmachine_stop(struct grun *r);
double gmachine_now(const struct grun *r);
const char *gstate_name(enum gstate st);
const char *gresult_name(enum gresult res);
/* The per-guest times in gwindow's terms. */
void gmachine_times(const struct grun *r, struct gwin_guest *out);

#endif
