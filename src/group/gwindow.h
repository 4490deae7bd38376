// SPDX-License-Identifier: MIT
/* quiesce-group: the group's times, from each guest's (pure arithmetic, unit-tested).
 * All times are ms on the monotonic clock since the run began; < 0 means "never". */
#ifndef QUIESCE_GWINDOW_H
#define QUIESCE_GWINDOW_H

struct gwin_guest {
	double freeze_start; /* freeze asked */
	double frozen_at;    /* freeze answered: success (froze) or failure */
	double thaw_start;   /* thaw asked */
	double thaw_done;    /* thaw answered */
	int froze;           /* the freeze succeeded (even after the deadline) */
};

struct gwin {
	double all_from;    /* the last guest's freeze answered: all are frozen from here */
	double all_until;   /* the first guest's thaw asked: until here */
	double window_ms;   /* all_until - all_from, 0 if they were never all frozen */
	double blocked_total_ms; /* sum over guests of freeze asked .. thaw answered */
	double blocked_span_ms;  /* first freeze asked .. last thaw answered */
	double blocked_max_ms;   /* the longest one guest was blocked */
};

/* A guest whose freeze failed blocked writes from its freeze asked to its answer; one
 * that froze and has no thaw answer yet counts up to now_ms. */
void gwin_compute(const struct gwin_guest *g, int n, double now_ms, struct gwin *out);

#endif
