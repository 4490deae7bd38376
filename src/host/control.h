// SPDX-License-Identifier: MIT
/* The control socket: a Unix stream socket that quiescectl talks JSON to.
 * Anyone who can connect may read status (the socket is mode 0666); freeze, thaw
 * and check need root, checked with SO_PEERCRED on each connection. */
#ifndef QUIESCE_CONTROL_H
#define QUIESCE_CONTROL_H

#include <stdbool.h>

struct host_ctx;
struct control;

/* Binds path. Fails if another quiesced answers there; a stale socket is replaced. */
struct control *control_new(struct host_ctx *ctx, const char *path);
void control_free(struct control *c);
/* Another quiesced answers on path (checked before anything else is opened). */
bool control_in_use(const char *path);

/* The command table of quiesce's own commands (cmd_control.c). */
int cmd_control_register(void);

#endif
