// SPDX-License-Identifier: MIT
/* The QEMU guest agent channel (--qga PATH): the fsfreeze family of qemu-ga's
 * protocol, for hosts that drive guest-fsfreeze-* (libvirt, Proxmox, ...), and every
 * other qemu-ga command passed to the qemu-ga backend (qgafwd.c).
 *
 * PATH is a character device (the virtio-serial port
 * /dev/virtio-ports/org.qemu.guest_agent.0, or a serial line) that is opened and
 * kept, or else a Unix stream socket that quiesced listens on. The commands are
 * the guest-* table of cmd_guest.c, also served on the control socket; what is
 * served and how it differs from qemu-ga 7.2 is in docs/qga.md. */
#ifndef QUIESCE_QGA_H
#define QUIESCE_QGA_H

#include <stdbool.h>

struct engine;
struct host_ctx;
struct qga;

/* Opens the device or binds the socket. NULL (logged) on failure. */
struct qga *qga_new(struct host_ctx *ctx, const char *path);
void qga_free(struct qga *g);

/* cmd_guest.c: the guest-* commands. */
int cmd_guest_register(void);
/* The agent's "frozen state" (guest-fsfreeze-status, the command allow-list):
 * from the start of a freeze until its thaw has finished. */
bool guest_agent_frozen(const struct engine *e);

#endif
