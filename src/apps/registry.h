// SPDX-License-Identifier: MIT
/* The app registry: the app socket (docs/protocol.md) and the "apps" stage of the
 * transaction engine.
 *
 * Apps connect to an AF_UNIX SOCK_SEQPACKET socket, register with a hello and stay
 * connected; the registry asks them CHECK, FREEZE and THAW on that connection. CHECK
 * and FREEZE go to every registered app at once, each bounded by its own timeout; a
 * required app's veto, timeout or disconnect fails the phase at once (optional apps
 * are logged and ignored). THAW goes, after the filesystems are thawed, to exactly
 * the apps that froze, sent in reverse registration order. A misbehaving app is
 * dropped and logged; the daemon and the other apps go on. docs/apps.md has the
 * rules and the reasons. */
#ifndef QUIESCE_APPS_REGISTRY_H
#define QUIESCE_APPS_REGISTRY_H

#include <stdint.h>
#include <sys/types.h>

#include "engine/txn.h"

struct loop;
struct engine;
struct json_object;
struct registry;

struct registry_config {
	const char *socket_path;
	unsigned mode;                /* of the socket file, e.g. 0600 */
	const char *group;            /* name or number: owns the socket, may register; NULL: none */
	unsigned max_apps;            /* registered at once (>= 1) */
	unsigned connect_rate;        /* connections per second (burst: max_apps); 0: no limit */
	uint32_t default_timeout_ms;  /* an app that asks for none gets this (--timeout) */
	uint32_t max_timeout_ms;      /* and none gets more (--timeout) */
};

extern const struct stage_ops registry_stage_ops;

/* Creates and listens on the socket (replacing a stale one). NULL on failure, logged. */
struct registry *registry_new(struct loop *loop, struct engine *engine,
			      const struct registry_config *cfg);
/* Closes every app connection (apps take it as a disconnect) and the socket. */
void registry_free(struct registry *r);

/* The filesystem stage that answers the apps' v2 filesystem query (docs/protocol.md
 * §2.6). Until it is set, the answer is an empty list marked incomplete. */
struct appext_fs_source;
void registry_set_fs(struct registry *r, const struct appext_fs_source *src);

/* quiescectl apps: {"apps": [...], "count", "max", "socket"} added to out; -1 when out
 * of memory (some may be in: the caller drops out). */
int registry_list(struct registry *r, struct json_object *out);

#endif
