// SPDX-License-Identifier: MIT
/* Which hooks got freeze, in the run dir, and their thaw when a quiesced that died
 * left them so (src/hooks/hookrecord.h has the record; hooks.h, hooks_recover). */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/hookrecord.h"
#include "hooks/hooks_int.h"
#include "common/util.h"
#include "common/log.h"

/* The hooks whose freeze ran, and how it went; before the filesystems freeze. */
void hooks_record_save(struct hooks *h)
{
	const char *names[MAX_HOOKS], *results[MAX_HOOKS];
	size_t n = 0;
	if (!h->record)
		return;
	for (size_t i = 0; i < h->n; i++) {
		if (!h->v[i].freeze_ran)
			continue;
		names[n] = h->v[i].name;
		results[n++] = hooks_result_names[h->v[i].freeze_result];
	}
	if (!n) {
		hooks_record_clear(h);
		return;
	}
	if (hookrecord_save(h->record, h->dir, names, results, n) < 0 && !h->record_failed) {
		h->record_failed = true;
		log_warn("hooks: cannot record in %s which hooks got freeze (if quiesced dies, a "
			 "restart could not thaw them)", h->record);
	}
}

void hooks_record_clear(struct hooks *h)
{
	if (h->record && unlink(h->record) < 0 && errno != ENOENT)
		log_warn("hooks: removing %s", h->record);
}

static uint8_t result_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(hooks_result_names) / sizeof(hooks_result_names[0]); i++)
		if (hooks_result_names[i] && !strcmp(hooks_result_names[i], name))
			return (uint8_t)i;
	return H_NOT_RUN;
}

/* What the thaw at start did, kept for status: {"at", "dir", "running", "hooks":
 * [{"name", "freeze_result", "result"}]}. */
static void recovery_status(struct hooks *h, bool running)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	json_object_object_add(o, "at", json_object_new_int64((int64_t)wall_ms()));
	json_object_object_add(o, "dir", json_object_new_string(h->rec_dir));
	json_object_object_add(o, "running", json_object_new_boolean(running));
	for (size_t i = h->n; i-- > 0;) {
		struct json_object *k = json_object_new_object();
		json_object_object_add(k, "name", json_object_new_string(h->v[i].name));
		json_object_object_add(k, "freeze_result",
				       json_object_new_string(hooks_result_names[h->v[i].freeze_result]));
		json_object_object_add(k, "result",
				       json_object_new_string(hooks_result_names[h->v[i].thaw_result]));
		json_object_array_add(arr, k);
	}
	json_object_object_add(o, "hooks", arr);
	json_object_put(h->recovered);
	h->recovered = o;
}

void hooks_recovery_done(struct hooks *h)
{
	size_t ok = 0;
	for (size_t i = 0; i < h->n; i++)
		ok += h->v[i].thaw_result == H_OK;
	recovery_status(h, false);
	log_notice("hooks: thawed at start the %zu hook%s a quiesced that died had frozen: "
		   "%zu ok%s%s", h->n, h->n == 1 ? "" : "s", ok, h->msg[0] ? "; " : "", h->msg);
	h->recovering = false;
}

int hooks_recover(struct hooks *h)
{
	struct hookrecord rec;
	int r;

	if (!h->record || h->running)
		return 0;
	r = hookrecord_load(h->record, &rec);
	if (r <= 0) {
		if (r < 0) {
			log_warn("hooks: cannot read %s: the hooks a quiesced that died had frozen "
				 "(if any) get no thaw", h->record);
			hooks_record_clear(h);
		}
		return 0;
	}
	hooks_free_set(h);
	free(h->rec_dir);
	h->v = calloc(rec.n ? rec.n : 1, sizeof(*h->v));
	h->rec_dir = strdup(rec.dir);
	if (!h->v || !h->rec_dir) {
		log_warnx("hooks: out of memory: the hooks in %s get no thaw", h->record);
		hookrecord_free(&rec);
		return 0;
	}
	for (size_t i = 0; i < rec.n; i++) {
		str_copy(h->v[i].name, rec.v[i].name, sizeof(h->v[i].name));
		h->v[i].freeze_ran = true;
		h->v[i].freeze_result = result_by_name(rec.v[i].result);
	}
	h->n = rec.n;
	hookrecord_free(&rec);
	log_warnx("hooks: a quiesced that died had run freeze for %zu hook%s in %s and never "
		  "their thaw: running it now", h->n, h->n == 1 ? "" : "s", h->rec_dir);
	/* As a THAW phase of the engine's, but nobody waits for it. */
	h->recovering = true;
	h->op = TXN_THAW;
	h->ok = true;
	h->msg[0] = '\0';
	h->t0 = now_ns();
	h->budget_end_ms = now_ms() + h->budget_ms;
	str_copy(h->origin, "restart", sizeof(h->origin));
	h->running = true;
	h->dir_step = -1;
	h->cur = h->n - 1;
	recovery_status(h, true);
	hooks_run_next(h);
	return 1;
}
