// SPDX-License-Identifier: MIT
/* quiesce-group: which agent a guest runs, from its guest-info answer.
 *
 * quiesced answers the QEMU guest agent protocol itself and, with qemu-ga behind it
 * (--qga-backend), reports qemu-ga's version and appends qemu-ga's command list to its
 * own: guest-info has no field that names the agent. What tells them apart is the
 * list: quiesced's own commands come first, in its table's order, and qemu-ga's
 * follow, so a name appears twice (guest-ping from quiesced, then from qemu-ga); the
 * stock qemu-ga lists each name once. quiesced without a backend lists only its eight
 * commands. This is a heuristic on the answer's shape, reported as such. */
#include "group/gagent.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/util.h"

/* quiesced's own guest commands (src/host/cmd_guest.c), in its order. */
static const char *const quiesced_cmds[] = {
	"guest-sync-delimited", "guest-sync", "guest-ping", "guest-info",
	"guest-fsfreeze-status", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list",
	"guest-fsfreeze-thaw",
};

static const char *cmd_name(struct json_object *c, int *enabled)
{
	struct json_object *name, *en;

	if (!json_object_is_type(c, json_type_object) ||
	    !json_object_object_get_ex(c, "name", &name) ||
	    !json_object_is_type(name, json_type_string))
		return NULL;
	*enabled = !json_object_object_get_ex(c, "enabled", &en) || json_object_get_boolean(en);
	return json_object_get_string(name);
}

static int quiesced_shape(struct json_object *list)
{
	size_t n = json_object_array_length(list), k = ARRAY_SIZE(quiesced_cmds);
	int en;

	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++) {
		const char *name = cmd_name(json_object_array_get_idx(list, i), &en);
		if (!name || strcmp(name, quiesced_cmds[i]))
			return 0;
	}
	return 1;
}

int gagent_classify(const char *reply, struct gres *r)
{
	struct json_object *o = json_tokener_parse(reply), *ret, *ver, *list;
	int can_freeze = 0, rc = -1;
	size_t n;

	if (!o || !json_object_object_get_ex(o, "return", &ret) ||
	    !json_object_object_get_ex(ret, "supported_commands", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		snprintf(r->msg, sizeof(r->msg), "guest-info: not an answer with supported_commands");
		goto out;
	}
	if (json_object_object_get_ex(ret, "version", &ver) &&
	    json_object_is_type(ver, json_type_string))
		snprintf(r->version, sizeof(r->version), "%s", json_object_get_string(ver));
	n = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		int en = 0;
		const char *name = cmd_name(json_object_array_get_idx(list, i), &en);
		if (name && en && !strcmp(name, "guest-fsfreeze-freeze"))
			can_freeze = 1;
	}
	snprintf(r->agent, sizeof(r->agent), "%s", quiesced_shape(list) ? "quiesced" : "qemu-ga");
	if (!can_freeze) {
		snprintf(r->msg, sizeof(r->msg), "%s %s: guest-fsfreeze-freeze is not enabled",
			 r->agent, r->version);
		goto out;
	}
	snprintf(r->msg, sizeof(r->msg), "%s %s answers, %zu commands", r->agent,
		 r->version[0] ? r->version : "(no version)", n);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}
