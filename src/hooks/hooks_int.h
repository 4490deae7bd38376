// SPDX-License-Identifier: MIT
/* The hook stage's insides, shared by hooks.c (the stage) and hookrestart.c (the
 * record of which hooks got freeze, and their thaw after a restart). Nothing else
 * includes this. */
#ifndef QUIESCE_APPS_HOOKS_INT_H
#define QUIESCE_APPS_HOOKS_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hooks/hooks.h"
#include "common/loop.h"

#define MAX_HOOKS 256
#define MSG_LEN 512
#define ENV_N 6
#define ENV_LEN 256

enum hook_result {
	H_NOT_RUN,
	H_RUNNING,
	H_OK,
	H_FAILED,       /* exited non-zero */
	H_SIGNALED,
	H_TIMEOUT,      /* killed at its deadline */
	H_NO_START,     /* could not be started (fork, pipe) */
	H_CANCELLED,    /* killed because the engine stopped waiting */
	H_NO_TIME,      /* not run: the phase's time was used up */
	H_UNSAFE,       /* not run: its path was not safe right before the run */
};

/* Indexed by enum hook_result: the names in reports, logs and QUIESCE_FREEZE_RESULT. */
extern const char *const hooks_result_names[H_UNSAFE + 1];

struct hook {
	char name[NAME_MAX + 1];
	bool freeze_ran;            /* started with "freeze": it gets "thaw" */
	uint8_t freeze_result, thaw_result;
	int status;                 /* wait status of the last run */
	uint64_t ms_ns;             /* duration of the last run */
	char *out;                  /* output of the last run (OUTPUT_KEEP), until logged */
	size_t out_len;
	size_t out_dropped;         /* bytes lost off the front */
};

struct drain;
struct zombie;

struct hooks {
	struct loop *loop;
	struct engine *engine;
	char *dir;
	uint64_t timeout_ms, budget_ms;

	struct hook *v;             /* the set of the last FREEZE (or CHECK) */
	size_t n;
	enum txn_op op;
	bool running, in_start;
	size_t cur;                 /* index of the hook running, or next to run */
	int dir_step;               /* +1 freeze, -1 thaw */
	uint64_t t0, budget_end_ms;
	char origin[32];
	bool ok;
	char msg[MSG_LEN];
	char why[192];              /* why the last hook refused was not safe */

	/* The hook running. */
	pid_t pid;
	int pidfd, outfd;
	uint64_t started_ns;
	struct loop_timer deadline;
	struct loop_timer done_timer;
	/* Without pidfds (kernels before 5.3, valgrind): waitpid(WNOHANG) on a timer. */
	struct loop_timer poll_child, poll_zombies;
	uint64_t poll_ms;
	bool no_pidfd;

	struct drain *drains;
	struct zombie *zombies;
	char env[ENV_N][ENV_LEN];

	/* Which hooks got freeze, in the run dir (hookrecord.h). */
	char *record;
	bool record_failed;         /* said once per phase */
	/* Thawing, at start, the hooks a quiesced that died had frozen (from rec_dir). */
	bool recovering;
	char *rec_dir;
	struct json_object *recovered;   /* what that thaw did, for status */
};

void hooks_free_set(struct hooks *h);
/* Start the next hook in line, until one runs or none is left (then the phase ends). */
void hooks_run_next(struct hooks *h);

/* hookrestart.c */
/* Record the hooks whose freeze ran (and how it went); none: remove the record. */
void hooks_record_save(struct hooks *h);
void hooks_record_clear(struct hooks *h);
/* The thaw at start is over (from the end of its phase). */
void hooks_recovery_done(struct hooks *h);

/* hookproc.c: the hooks' processes. */
int hookproc_spawn(struct hooks *h);
void hookproc_kill_running(struct hooks *h);
void hookproc_log_output(struct hooks *h, struct hook *k, const char *arg);
void hookproc_end_output(struct hooks *h);
void hookproc_free(struct hooks *h);
/* hooks.c: the running hook is over (exited, killed, timed out, not started). */
void hooks_finished(struct hooks *h, enum hook_result res);

#endif
