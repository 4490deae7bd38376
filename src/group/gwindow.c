// SPDX-License-Identifier: MIT
/* quiesce-group: the all-frozen window and the writes-blocked times.
 *
 * A guest is surely frozen from the moment its freeze answered until its thaw was
 * asked (before the answer the freeze may still be in progress; after the thaw is
 * asked it may already be thawing). The group's window is where all these intervals
 * overlap: conservative, so a positive window means every guest was frozen at once.
 * Writes are blocked, in the worst case, from the freeze asked to the thaw answered. */
#include "group/gwindow.h"

static double blocked_of(const struct gwin_guest *g, double now_ms, double *end)
{
	if (g->freeze_start < 0)
		return 0;
	if (g->froze)
		*end = g->thaw_done >= 0 ? g->thaw_done : now_ms;
	else
		*end = g->frozen_at >= 0 ? g->frozen_at : now_ms;
	return *end > g->freeze_start ? *end - g->freeze_start : 0;
}

void gwin_compute(const struct gwin_guest *g, int n, double now_ms, struct gwin *out)
{
	double first = -1, last = -1;
	int all = n > 0;

	out->all_from = -1;
	out->all_until = -1;
	out->window_ms = 0;
	out->blocked_total_ms = 0;
	out->blocked_max_ms = 0;
	for (int i = 0; i < n; i++) {
		double end = -1, b = blocked_of(&g[i], now_ms, &end);
		double until = g[i].thaw_start >= 0 ? g[i].thaw_start : now_ms;

		out->blocked_total_ms += b;
		if (b > out->blocked_max_ms)
			out->blocked_max_ms = b;
		if (g[i].freeze_start >= 0 && (first < 0 || g[i].freeze_start < first))
			first = g[i].freeze_start;
		if (end > last)
			last = end;
		if (!g[i].froze || g[i].frozen_at < 0) {
			all = 0;
			continue;
		}
		if (out->all_from < 0 || g[i].frozen_at > out->all_from)
			out->all_from = g[i].frozen_at;
		if (out->all_until < 0 || until < out->all_until)
			out->all_until = until;
	}
	out->blocked_span_ms = first >= 0 && last > first ? last - first : 0;
	if (!all) {
		out->all_from = out->all_until = -1;
		return;
	}
	if (out->all_until > out->all_from)
		out->window_ms = out->all_until - out->all_from;
}
