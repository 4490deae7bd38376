// SPDX-License-Identifier: MIT
/* The Hyper-V host channel: quiesced as a drop-in for hv_vss_daemon.
 *
 * The guest kernel (hv_utils, drivers/hv/hv_snapshot.c) passes the host's backup
 * requests through /dev/vmbus/hv_vss, one at a time, and waits for the answer:
 *
 *   HOT_BACKUP -> the engine's CHECK   (apps and hooks asked, candidates checked)
 *   FREEZE     -> the engine's FREEZE  (apps, hooks, filesystems; held by the lease)
 *   THAW       -> the engine's THAW    (answered as soon as the filesystems are thawed)
 *   other      -> logged, answered 0, as hv_vss_daemon does
 *
 * Every answer is sent within the kernel's budget for it (FREEZE 900 s, the others
 * 30 s): if the engine has not finished by then, the host gets HV_E_FAIL and a freeze
 * under way is undone. On any failure of the channel (a read or write error, a
 * kernel reset, the hibernation fake THAW whose answer the kernel refuses) what
 * Hyper-V froze is thawed, and the channel is reopened and registered again.
 *
 * PATH may also be a Unix SOCK_SEQPACKET socket (or @name for an abstract one): the
 * same protocol, spoken by tools/hvsim in the tests. See docs/hyperv.md. */
#ifndef QUIESCE_HYPERV_H
#define QUIESCE_HYPERV_H

#include <stdbool.h>
#include <stdint.h>

struct json_object;
struct host_ctx;

struct hyperv_config {
	const char *path;           /* --hyperv; NULL: the device if it exists */
	bool disabled;              /* --no-hyperv */
	/* The daemon's bounds, checked against the kernel's budgets (warnings only). */
	uint64_t timeout_ms, fs_timeout_ms, lease_ms;
};
struct hyperv;

#define HYPERV_DEFAULT_DEVICE "/dev/vmbus/hv_vss"

/* From the settings (--hyperv, --no-hyperv): *out is NULL when Hyper-V is not served
 * (--no-hyperv, or no --hyperv and no device). The channel is opened from the event
 * loop, and reopened until it works: a device held by another daemon is logged, not
 * fatal. Returns -1 only when it cannot be set up at all (out of memory). */
int hyperv_new(struct host_ctx *ctx, const struct hyperv_config *cfg, struct hyperv **out);
void hyperv_free(struct hyperv *hv);

/* "hyperv": {...} for quiesce-status; -1 if out of memory (then nothing is added). */
int hyperv_status(const struct hyperv *hv, struct json_object *out);

#endif
