// SPDX-License-Identifier: MIT
/* The daemon's parts, wired together in main.c. The transports see only host_ctx. */
#ifndef QUIESCE_QUIESCED_H
#define QUIESCE_QUIESCED_H

#include <stdint.h>

#include "daemon/config.h"
#include "fs/policy.h"
#include "host/host.h"

struct loop;
struct engine;
struct fs_stage;
struct control;
struct guard;
struct hyperv;
struct registry;
struct hooks;
struct qgafwd;

struct quiesced {
	struct loop *loop;
	struct config cfg;
	struct fs_policy policy;
	struct engine *engine;
	struct fs_stage *fs;
	struct control *control;
	struct guard *guard;        /* NULL with --no-guardian */
	struct registry *apps;      /* the app socket: stage "apps" */
	struct hooks *hooks;        /* the hook directory: stage "hooks" */
	struct host_ctx host;       /* what the transports see: loop, engine, their parts */
	uint64_t started_at;        /* wall clock ms */
};

#endif
