// SPDX-License-Identifier: MIT
/* What the transports get from the daemon: the loop, the engine, their own parts,
 * and two callbacks for what lies outside them. daemon/main.c fills it in; no
 * transport sees the daemon's other parts (the app registry, the guardian, the
 * config): the layers (docs/hacking.md) run daemon -> host -> engine. */
#ifndef QUIESCE_HOST_H
#define QUIESCE_HOST_H

struct engine;
struct hyperv;
struct json_object;
struct loop;
struct qgafwd;

struct host_ctx {
	struct loop *loop;
	struct engine *engine;
	struct hyperv *hyperv;      /* NULL: Hyper-V not served */
	struct qgafwd *qgafwd;      /* with --qga: the qemu-ga backend (maybe without one) */
	/* quiesce-status: the daemon's own part (uptime, scope, defaults, guardian); -1
	 * when out of memory (the status is then an error). */
	int (*status)(void *arg, struct json_object *ret);
	/* quiesce-apps: the registered apps; -1 when out of memory (the answer is then an
	 * error). */
	int (*apps)(void *arg, struct json_object *ret);
	void *arg;
};

#endif
