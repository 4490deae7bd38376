/* The daemon's parts, wired together in main.c and reached by the command handlers. */
#ifndef QUIESCE_QUIESCED_H
#define QUIESCE_QUIESCED_H

#include <stdint.h>

#include "daemon/config.h"
#include "fs/policy.h"

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
	struct hyperv *hyperv;       /* NULL: Hyper-V not served */
	struct registry *apps;      /* the app socket: stage "apps" */
	struct hooks *hooks;        /* the hook directory: stage "hooks" */
	struct qgafwd *qgafwd;      /* with --qga: the qemu-ga backend (maybe without one) */
	uint64_t started_at;        /* wall clock ms */
};

#endif
