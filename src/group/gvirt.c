// SPDX-License-Identifier: MIT
/* quiesce-group's libvirt side. One connection per guest, opened by its check: the
 * guests of a group may be on different hosts, and one connection's failure then
 * names one guest. libvirt's connections and domains are safe to use from the
 * machine's threads, one thread per guest at a time. */
#include "group/gvirt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/util.h"
#include "group/gagent.h"

static const struct gspec *spec;
static struct gvirt_opts opts;
static virConnectPtr conns[GSPEC_MAX_GUESTS];
static virDomainPtr doms[GSPEC_MAX_GUESTS];

/* libvirt prints every error to stderr unless told otherwise; each call's own
 * message goes into the report instead. */
static void quiet(void *data, virErrorPtr err)
{
	(void)data;
	(void)err;
}

int gvirt_init(const struct gspec *s, const struct gvirt_opts *o)
{
	spec = s;
	opts = *o;
	if (virInitialize() < 0)
		return -1;
	virSetErrorFunc(NULL, quiet);
	return 0;
}

static void last_error(struct gres *r, const char *what)
{
	const char *m = virGetLastErrorMessage();
	snprintf(r->msg, sizeof(r->msg), "%s: %s", what, m ? m : "unknown error");
}

static int agent_timeout_s(void)
{
	uint64_t s = (spec->agent_timeout_ms + 999) / 1000;
	return s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
}

/* Connection and domain of guest i, opened on first use. */
static int open_guest(int i, struct gres *r)
{
	if (doms[i])
		return 0;
	if (!conns[i]) {
		conns[i] = virConnectOpen(spec->g[i].uri);
		if (!conns[i]) {
			char what[GSPEC_URI_MAX + 32];
			snprintf(what, sizeof(what), "cannot connect to %s", spec->g[i].uri);
			last_error(r, what);
			return -1;
		}
	}
	doms[i] = virDomainLookupByName(conns[i], spec->g[i].dom);
	if (!doms[i]) {
		virErrorPtr e = virGetLastError();
		if (e && e->code == VIR_ERR_NO_DOMAIN)
			snprintf(r->msg, sizeof(r->msg), "no domain '%.100s' on %.120s", spec->g[i].dom,
				 spec->g[i].uri);
		else
			last_error(r, "domain lookup");
		return -1;
	}
	return 0;
}

static int agent(int i, const char *cmd, char **reply, struct gres *r)
{
	*reply = virDomainQemuAgentCommand(doms[i], cmd, agent_timeout_s(), 0);
	if (!*reply) {
		last_error(r, "guest agent");
		return -1;
	}
	return 0;
}

/* 0 if the domain runs; else -1 and r->msg says its state. A paused domain is active
 * (virDomainIsActive says so), but its vCPUs are stopped: its agent answers nothing. */
static int check_running(int i, struct gres *r)
{
	static const char *const names[] = {
		[VIR_DOMAIN_NOSTATE] = "no state", [VIR_DOMAIN_PAUSED] = "paused",
		[VIR_DOMAIN_SHUTDOWN] = "shutting down", [VIR_DOMAIN_SHUTOFF] = "shut off",
		[VIR_DOMAIN_CRASHED] = "crashed", [VIR_DOMAIN_PMSUSPENDED] = "suspended",
	};
	int state = -1, reason = 0;

	if (virDomainGetState(doms[i], &state, &reason, 0) < 0) {
		last_error(r, "domain state");
		return -1;
	}
	if (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED)
		return 0;
	snprintf(r->msg, sizeof(r->msg), "domain is not running (%s)",
		 state >= 0 && (size_t)state < sizeof(names) / sizeof(names[0]) && names[state]
		 ? names[state] : "unknown state");
	return -1;
}

static int v_check(void *ctx, int i, struct gres *r)
{
	char *reply;
	int rc;

	(void)ctx;
	if (open_guest(i, r) < 0)
		return -1;
	if (check_running(i, r) < 0)
		return -1;
	if (agent(i, "{\"execute\":\"guest-ping\"}", &reply, r) < 0)
		return -1;
	free(reply);
	if (agent(i, "{\"execute\":\"guest-info\"}", &reply, r) < 0)
		return -1;
	rc = gagent_classify(reply, r);
	free(reply);
	/* qemu-ga (and quiesced) disable the freeze command while frozen: say so. */
	if (rc < 0 && r->agent[0] && agent(i, "{\"execute\":\"guest-fsfreeze-status\"}", &reply,
					   &(struct gres){ 0 }) == 0) {
		if (strstr(reply, "frozen"))
			snprintf(r->msg, sizeof(r->msg), "%s %s: already frozen (by another client?)",
				 r->agent, r->version);
		free(reply);
	}
	return rc;
}

static int v_freeze(void *ctx, int i, struct gres *r)
{
	int n;

	(void)ctx;
	n = virDomainFSFreeze(doms[i], NULL, 0, 0);
	if (n < 0) {
		last_error(r, "freeze");
		return -1;
	}
	r->count = n;
	snprintf(r->msg, sizeof(r->msg), "%d filesystem(s) frozen", n);
	return 0;
}

static int v_thaw(void *ctx, int i, struct gres *r)
{
	int n;

	(void)ctx;
	if (!doms[i] && open_guest(i, r) < 0)
		return -1;
	n = virDomainFSThaw(doms[i], NULL, 0, 0);
	if (n < 0) {
		last_error(r, "thaw");
		return -1;
	}
	r->count = n;
	snprintf(r->msg, sizeof(r->msg), "%d filesystem(s) thawed", n);
	return 0;
}

/* An external disk-only snapshot of every disk, where libvirt puts it by default
 * (beside each disk). No QUIESCE flag: the guest is frozen already, a second freeze
 * would fail. ATOMIC: all of a guest's disks or none. */
static int v_snapshot(void *ctx, int i, struct gres *r)
{
	unsigned int flags = VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;
	char xml[512];
	virDomainSnapshotPtr snap;

	(void)ctx;
	if (!opts.metadata)
		flags |= VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA;
	snprintf(xml, sizeof(xml), "<domainsnapshot><name>%s</name>"
		 "<description>quiesce-group %s</description></domainsnapshot>",
		 opts.snapshot_name, spec->name);
	snap = virDomainSnapshotCreateXML(doms[i], xml, flags);
	if (!snap) {
		last_error(r, "snapshot");
		return -1;
	}
	virDomainSnapshotFree(snap);
	snprintf(r->msg, sizeof(r->msg), "snapshot %s taken", opts.snapshot_name);
	return 0;
}

int gvirt_status(int i, char *out, size_t outlen)
{
	struct gres r;
	char *reply;
	const char *p;

	memset(&r, 0, sizeof(r));
	if (open_guest(i, &r) < 0 ||
	    agent(i, "{\"execute\":\"guest-fsfreeze-status\"}", &reply, &r) < 0) {
		snprintf(out, outlen, "%s", r.msg);
		return -1;
	}
	p = strstr(reply, "frozen") ? "frozen" : strstr(reply, "thawed") ? "thawed" : "?";
	snprintf(out, outlen, "%s", p);
	free(reply);
	return 0;
}

const struct gops gvirt_ops = {
	.check = v_check,
	.freeze = v_freeze,
	.thaw = v_thaw,
	.snapshot = v_snapshot,
	.command = NULL,
};
