// SPDX-License-Identifier: MIT
/* Allocation failure injection for json-c (failalloc.h): its constructors, its
 * tokenizer and its printer, each counted as one allocation and failing as json-c does
 * when out of memory (NULL). json_object_object_add and json_object_array_add are left
 * alone: when they fail json-c leaves the value with the caller, and a stand-in would
 * mostly test json-c's own interface. A test binary that links this file links json-c
 * and FAILALLOC_WRAP_JSON. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "failalloc.h"

#define WRAP0(ret, name)                                                                   \
	ret __real_##name(void);                                                            \
	ret __wrap_##name(void);                                                            \
	ret __wrap_##name(void) { return failalloc_now_json() ? NULL : __real_##name(); }
#define WRAP1(ret, name, t1)                                                               \
	ret __real_##name(t1 a);                                                            \
	ret __wrap_##name(t1 a);                                                            \
	ret __wrap_##name(t1 a) { return failalloc_now_json() ? NULL : __real_##name(a); }
#define WRAP2(ret, name, t1, t2)                                                           \
	ret __real_##name(t1 a, t2 b);                                                      \
	ret __wrap_##name(t1 a, t2 b);                                                      \
	ret __wrap_##name(t1 a, t2 b) { return failalloc_now_json() ? NULL : __real_##name(a, b); }

WRAP0(struct json_object *, json_object_new_object)
WRAP0(struct json_object *, json_object_new_array)
WRAP1(struct json_object *, json_object_new_string, const char *)
WRAP2(struct json_object *, json_object_new_string_len, const char *, int)
WRAP1(struct json_object *, json_object_new_int, int32_t)
WRAP1(struct json_object *, json_object_new_int64, int64_t)
WRAP1(struct json_object *, json_object_new_uint64, uint64_t)
WRAP1(struct json_object *, json_object_new_boolean, json_bool)
WRAP1(struct json_object *, json_object_new_double, double)
WRAP0(struct json_tokener *, json_tokener_new)
WRAP1(struct json_tokener *, json_tokener_new_ex, int)
WRAP1(struct json_object *, json_tokener_parse, const char *)
WRAP2(const char *, json_object_to_json_string_ext, struct json_object *, int)
