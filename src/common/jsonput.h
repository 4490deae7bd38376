// SPDX-License-Identifier: MIT
/* Building JSON with json-c when memory may run out: its constructors return NULL then,
 * and json_object_object_add / json_object_array_add can fail (the value stays with
 * the caller). These take the value whatever happens, so that a chain of them
 * (a && b && ...) either builds the whole object or says it could not. */
#ifndef QUIESCE_JSONPUT_H
#define QUIESCE_JSONPUT_H

#include <json-c/json.h>
#include <stdbool.h>

/* o[key] = v; false (v freed, o as it was) if o or v is NULL or the add failed. */
static inline bool jput(struct json_object *o, const char *key, struct json_object *v)
{
	if (!o || !v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

/* v appended to the array a; false (v freed) as for jput. */
static inline bool jappend(struct json_object *a, struct json_object *v)
{
	if (!a || !v || json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

#endif
