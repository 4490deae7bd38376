// SPDX-License-Identifier: MIT
/* Unit tests for src/group/gvirt.c, quiesce-group's libvirt side, on libvirt's own test
 * driver ("test:///default": a mock hypervisor inside libvirt.so, no daemon, no VM,
 * nothing really frozen; every connection of the process to it shares one state, so
 * the test, holding its own connection, defines and destroys domains under gvirt).
 *
 * What gvirt promises quiesce-group(1)'s CHECK: a guest that cannot freeze says why,
 * naming what failed: a connection that cannot be opened (its URI), a domain not there
 * (its name and URI), a domain not running (shut off, or paused: active, but its agent
 * cannot answer), an agent that does not answer (libvirt's
 * error). The test driver has no QEMU agent (virDomainQemuAgentCommand fails: the
 * error path); the linker's --wrap (UNIT_WRAP_gvirt) lets a case answer for the agent
 * instead, to see the commands sent, the agent timeout's rounding and bounds, the check
 * that succeeds, the "already frozen" diagnosis and the thaw verb's status. Freeze and
 * thaw are the test driver's own (it counts two filesystems), also on a domain
 * destroyed under them. The snapshot: the test driver takes no disk-only snapshot, so
 * the wrap records the flags and XML gvirt asks for, then lets the error through, or
 * asks for a plain snapshot to see the success path and that the name arrives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>

#include "group/gvirt.h"
#include "ginfo.h"
#include "unitguard.h"

#define BAD_URI "test:///nonexistent/quiesce-unit-test.xml"

/* Each case has guests of its own: gvirt keeps a guest's connection and domain open. */
enum {
	G_UNSUPPORTED, G_BAD_URI, G_NO_DOMAIN, G_NOT_RUNNING, G_PAUSED, G_CHECK_OK, G_FROZEN,
	G_FREEZE, G_VICTIM, G_SNAPSHOT, G_STATUS, G_BAD_URI_THAW, G_COUNT,
};

static const char *const guests[G_COUNT][2] = {
	[G_UNSUPPORTED] = { "test:///default", "test" },
	[G_BAD_URI] = { BAD_URI, "test" },
	[G_NO_DOMAIN] = { "test:///default", "nosuch" },
	[G_NOT_RUNNING] = { "test:///default", "off" },
	[G_PAUSED] = { "test:///default", "paused" },
	[G_CHECK_OK] = { "test:///default", "test" },
	[G_FROZEN] = { "test:///default", "test" },
	[G_FREEZE] = { "test:///default", "test" },
	[G_VICTIM] = { "test:///default", "victim" },
	[G_SNAPSHOT] = { "test:///default", "test" },
	[G_STATUS] = { "test:///default", "test" },
	[G_BAD_URI_THAW] = { BAD_URI, "test" },
};

static struct gspec spec;
static virConnectPtr mine; /* the test's own connection: keeps the shared state alive */

/* The agent seam: with on, canned answers by command (NULL: libvirt's own error). */
static struct {
	int on;
	const char *ping, *info, *status;
	int calls, timeout;
	char cmds[256], dom[64];
} agent;

char *__real_virDomainQemuAgentCommand(virDomainPtr d, const char *cmd, int timeout,
				       unsigned int flags);
char *__wrap_virDomainQemuAgentCommand(virDomainPtr d, const char *cmd, int timeout,
				       unsigned int flags);

char *__wrap_virDomainQemuAgentCommand(virDomainPtr d, const char *cmd, int timeout,
				       unsigned int flags)
{
	const char *a = NULL;
	size_t n = strlen(agent.cmds);

	agent.calls++;
	agent.timeout = timeout;
	snprintf(agent.cmds + n, sizeof(agent.cmds) - n, "%s%s", n ? " " : "", cmd);
	snprintf(agent.dom, sizeof(agent.dom), "%s", virDomainGetName(d));
	if (agent.on)
		a = strstr(cmd, "\"guest-ping\"") ? agent.ping
		    : strstr(cmd, "\"guest-info\"") ? agent.info
		    : strstr(cmd, "\"guest-fsfreeze-status\"") ? agent.status : NULL;
	return a ? strdup(a) : __real_virDomainQemuAgentCommand(d, cmd, timeout, flags);
}

/* The snapshot seam: what gvirt asked for; with plain, a snapshot the test driver takes. */
static struct {
	int plain;
	unsigned int flags;
	char xml[512];
} snap;

virDomainSnapshotPtr __real_virDomainSnapshotCreateXML(virDomainPtr d, const char *xml,
						       unsigned int flags);
virDomainSnapshotPtr __wrap_virDomainSnapshotCreateXML(virDomainPtr d, const char *xml,
						       unsigned int flags);

virDomainSnapshotPtr __wrap_virDomainSnapshotCreateXML(virDomainPtr d, const char *xml,
						       unsigned int flags)
{
	snap.flags = flags;
	snprintf(snap.xml, sizeof(snap.xml), "%s", xml);
	if (snap.plain)
		flags &= ~(unsigned int)(VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |
					 VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA);
	return __real_virDomainSnapshotCreateXML(d, xml, flags);
}

static const char *const quiesced_info = GINFO(QUIESCED8 "," C("guest-get-time"));
/* quiesced while frozen: its freeze command disabled. */
static const char *const quiesced_frozen_info =
	GINFO(C("guest-sync-delimited") "," C("guest-sync") "," C("guest-ping") "," C("guest-info")
	      "," C("guest-fsfreeze-status") "," C_OFF("guest-fsfreeze-freeze") ","
	      C_OFF("guest-fsfreeze-freeze-list") "," C("guest-fsfreeze-thaw"));

static void fake_agent(const char *info, const char *status)
{
	memset(&agent, 0, sizeof(agent));
	agent.on = 1;
	agent.ping = "{\"return\":{}}";
	agent.info = info;
	agent.status = status;
}

static void no_agent(void)
{
	memset(&agent, 0, sizeof(agent));
}

static const char *const domain_xml =
	"<domain type='test'><name>%s</name><memory>8192</memory>"
	"<os><type>hvm</type></os></domain>";

static int define(const char *name, int start)
{
	char xml[256];
	virDomainPtr d;
	int rc;

	snprintf(xml, sizeof(xml), domain_xml, name);
	d = virDomainDefineXML(mine, xml);
	if (!d)
		return -1;
	rc = start ? virDomainCreate(d) : 0;
	virDomainFree(d);
	return rc;
}

static int group_setup(void **state)
{
	struct gvirt_opts o = { "s1", 0 };

	(void)state;
	gspec_defaults(&spec);
	snprintf(spec.name, sizeof(spec.name), "unit");
	/* gspec_add2 refuses a guest twice; here each case has its own: filled in directly. */
	spec.n = G_COUNT;
	for (int i = 0; i < G_COUNT; i++) {
		snprintf(spec.g[i].uri, sizeof(spec.g[i].uri), "%s", guests[i][0]);
		snprintf(spec.g[i].dom, sizeof(spec.g[i].dom), "%s", guests[i][1]);
	}
	if (gvirt_init(&spec, &o) < 0)
		return -1;
	mine = virConnectOpen("test:///default");
	if (!mine || define("off", 0) < 0 || define("victim", 1) < 0 || define("paused", 1) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	virConnectClose(mine);
	return 0;
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int check(int i, struct gres *r)
{
	memset(r, 0, sizeof(*r));
	return gvirt_ops.check(NULL, i, r);
}

/* The test driver has no guest agent: the check says so, in libvirt's words. */
static void test_agent_unsupported(void **state)
{
	struct gres r;
	char out[GRES_MSG];

	(void)state;
	no_agent();
	assert_int_equal(check(G_UNSUPPORTED, &r), -1);
	assert_true(starts_with(r.msg, "guest agent: "));
	assert_non_null(strstr(r.msg, "not supported"));
	assert_string_equal(agent.cmds, "{\"execute\":\"guest-ping\"}");
	assert_string_equal(agent.dom, "test");
	assert_int_equal(gvirt_status(G_UNSUPPORTED, out, sizeof(out)), -1);
	assert_true(starts_with(out, "guest agent: "));
}

/* No connection: the message names the URI, with libvirt's reason; the agent is not
 * asked. The same from the thaw and the status, which open the guest themselves. */
static void test_connect_fails(void **state)
{
	struct gres r;
	char out[GRES_MSG];

	(void)state;
	no_agent();
	assert_int_equal(check(G_BAD_URI, &r), -1);
	assert_true(starts_with(r.msg, "cannot connect to " BAD_URI ": "));
	assert_true(strlen(r.msg) > strlen("cannot connect to " BAD_URI ": "));
	memset(&r, 0, sizeof(r));
	assert_int_equal(gvirt_ops.thaw(NULL, G_BAD_URI_THAW, &r), -1);
	assert_true(starts_with(r.msg, "cannot connect to " BAD_URI ": "));
	assert_int_equal(gvirt_status(G_BAD_URI_THAW, out, sizeof(out)), -1);
	assert_true(starts_with(out, "cannot connect to " BAD_URI ": "));
	assert_int_equal(agent.calls, 0);
}

static void test_no_domain(void **state)
{
	struct gres r;

	(void)state;
	no_agent();
	assert_int_equal(check(G_NO_DOMAIN, &r), -1);
	assert_string_equal(r.msg, "no domain 'nosuch' on test:///default");
	assert_int_equal(agent.calls, 0);
}

static void test_not_running(void **state)
{
	struct gres r;

	(void)state;
	fake_agent(quiesced_info, NULL);
	assert_int_equal(check(G_NOT_RUNNING, &r), -1);
	assert_string_equal(r.msg, "domain is not running (shut off)");
	assert_int_equal(agent.calls, 0);
}

/* A paused domain is active (virDomainIsActive says 1) but its agent cannot answer: the
 * check fails there, saying so, without asking the agent; once resumed it passes. */
static void test_paused(void **state)
{
	virDomainPtr d;
	struct gres r;

	(void)state;
	fake_agent(quiesced_info, NULL);
	d = virDomainLookupByName(mine, "paused");
	assert_non_null(d);
	assert_int_equal(virDomainSuspend(d), 0);
	assert_int_equal(virDomainIsActive(d), 1);
	assert_int_equal(check(G_PAUSED, &r), -1);
	assert_string_equal(r.msg, "domain is not running (paused)");
	assert_int_equal(agent.calls, 0);
	assert_int_equal(virDomainResume(d), 0);
	assert_int_equal(check(G_PAUSED, &r), 0);
	virDomainFree(d);
}

/* An agent that can freeze: ping, then guest-info, each bounded by the agent timeout
 * in whole seconds (rounded up, 1 s to 1 h). */
static void test_check_ok(void **state)
{
	struct gres r;

	(void)state;
	fake_agent(quiesced_info, NULL);
	spec.agent_timeout_ms = 1500;
	assert_int_equal(check(G_CHECK_OK, &r), 0);
	assert_string_equal(r.agent, "quiesced");
	assert_string_equal(r.version, "7.2.15");
	assert_string_equal(r.msg, "quiesced 7.2.15 answers, 9 commands");
	assert_string_equal(agent.cmds,
			    "{\"execute\":\"guest-ping\"} {\"execute\":\"guest-info\"}");
	assert_int_equal(agent.timeout, 2);
	spec.agent_timeout_ms = 1;
	assert_int_equal(check(G_CHECK_OK, &r), 0);
	assert_int_equal(agent.timeout, 1);
	spec.agent_timeout_ms = 0; /* gspec refuses it; gvirt still asks for 1 s, not 0 */
	assert_int_equal(check(G_CHECK_OK, &r), 0);
	assert_int_equal(agent.timeout, 1);
	spec.agent_timeout_ms = 10ULL * 3600 * 1000;
	assert_int_equal(check(G_CHECK_OK, &r), 0);
	assert_int_equal(agent.timeout, 3600);
	spec.agent_timeout_ms = 10000;
	/* An agent whose guest-ping fails: its error, guest-info not asked. */
	fake_agent(quiesced_info, NULL);
	agent.ping = NULL;
	assert_int_equal(check(G_CHECK_OK, &r), -1);
	assert_true(starts_with(r.msg, "guest agent: "));
	assert_int_equal(agent.calls, 1);
}

/* guest-info without an enabled freeze: if guest-fsfreeze-status says frozen, the
 * check says so; if thawed, that the freeze is not enabled; an answer that makes no
 * sense: no status asked. */
static void test_check_already_frozen(void **state)
{
	struct gres r;

	(void)state;
	fake_agent(quiesced_frozen_info, "{\"return\":\"frozen\"}");
	assert_int_equal(check(G_FROZEN, &r), -1);
	assert_string_equal(r.msg, "quiesced 7.2.15: already frozen (by another client?)");
	assert_non_null(strstr(agent.cmds, "guest-fsfreeze-status"));
	fake_agent(quiesced_frozen_info, "{\"return\":\"thawed\"}");
	assert_int_equal(check(G_FROZEN, &r), -1);
	assert_string_equal(r.msg, "quiesced 7.2.15: guest-fsfreeze-freeze is not enabled");
	fake_agent(quiesced_frozen_info, NULL); /* the status fails: the first reason stays */
	assert_int_equal(check(G_FROZEN, &r), -1);
	assert_string_equal(r.msg, "quiesced 7.2.15: guest-fsfreeze-freeze is not enabled");
	fake_agent("{\"error\":{\"class\":\"GenericError\"}}", "{\"return\":\"frozen\"}");
	assert_int_equal(check(G_FROZEN, &r), -1);
	assert_string_equal(r.msg, "guest-info: not an answer with supported_commands");
	assert_int_equal(agent.calls, 2);
}

/* The test driver's freeze and thaw: two filesystems, counted and said. */
static void test_freeze_thaw(void **state)
{
	struct gres r;

	(void)state;
	fake_agent(quiesced_info, NULL);
	assert_int_equal(check(G_FREEZE, &r), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gvirt_ops.freeze(NULL, G_FREEZE, &r), 0);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.msg, "2 filesystem(s) frozen");
	memset(&r, 0, sizeof(r));
	assert_int_equal(gvirt_ops.thaw(NULL, G_FREEZE, &r), 0);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.msg, "2 filesystem(s) thawed");
}

/* A domain destroyed after its check: the freeze and the thaw fail with libvirt's
 * reason, each prefixed with what failed. */
static void test_freeze_thaw_not_running(void **state)
{
	struct gres r;
	virDomainPtr d;

	(void)state;
	fake_agent(quiesced_info, NULL);
	assert_int_equal(check(G_VICTIM, &r), 0);
	d = virDomainLookupByName(mine, "victim");
	assert_non_null(d);
	assert_int_equal(virDomainDestroy(d), 0);
	virDomainFree(d);
	memset(&r, 0, sizeof(r));
	assert_int_equal(gvirt_ops.freeze(NULL, G_VICTIM, &r), -1);
	assert_true(starts_with(r.msg, "freeze: "));
	assert_non_null(strstr(r.msg, "not running"));
	memset(&r, 0, sizeof(r));
	assert_int_equal(gvirt_ops.thaw(NULL, G_VICTIM, &r), -1);
	assert_true(starts_with(r.msg, "thaw: "));
	assert_non_null(strstr(r.msg, "not running"));
}

/* What the snapshot asks for: DISK_ONLY, ATOMIC, NO_METADATA unless --metadata, never
 * QUIESCE; the name and the group in its XML. The test driver refuses a disk-only one:
 * its error; a plain one (the wrap): the success. */
static void test_snapshot(void **state)
{
	const unsigned int disk = VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |
				  VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;
	struct gvirt_opts o = { "s2", 1 };
	virDomainSnapshotPtr found;
	virDomainPtr d;
	struct gres r;

	(void)state;
	fake_agent(quiesced_info, NULL);
	assert_int_equal(check(G_SNAPSHOT, &r), 0);
	memset(&snap, 0, sizeof(snap));
	memset(&r, 0, sizeof(r));
	assert_int_equal(gvirt_ops.snapshot(NULL, G_SNAPSHOT, &r), -1);
	assert_true(starts_with(r.msg, "snapshot: "));
	assert_int_equal(snap.flags, disk | VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA);
	assert_string_equal(snap.xml, "<domainsnapshot><name>s1</name>"
			    "<description>quiesce-group unit</description></domainsnapshot>");
	assert_int_equal(gvirt_init(&spec, &o), 0);
	snap.plain = 1;
	memset(&r, 0, sizeof(r));
	assert_int_equal(gvirt_ops.snapshot(NULL, G_SNAPSHOT, &r), 0);
	assert_string_equal(r.msg, "snapshot s2 taken");
	assert_int_equal(snap.flags, disk);
	d = virDomainLookupByName(mine, "test");
	assert_non_null(d);
	found = virDomainSnapshotLookupByName(d, "s2", 0);
	assert_non_null(found);
	virDomainSnapshotDelete(found, 0);
	virDomainSnapshotFree(found);
	virDomainFree(d);
	o = (struct gvirt_opts){ "s1", 0 };
	assert_int_equal(gvirt_init(&spec, &o), 0);
}

/* The thaw verb's question: frozen, thawed, or an answer it cannot read. */
static void test_status(void **state)
{
	char out[GRES_MSG];

	(void)state;
	fake_agent(quiesced_info, "{\"return\":\"frozen\"}");
	assert_int_equal(gvirt_status(G_STATUS, out, sizeof(out)), 0);
	assert_string_equal(out, "frozen");
	assert_string_equal(agent.cmds, "{\"execute\":\"guest-fsfreeze-status\"}");
	fake_agent(quiesced_info, "{\"return\":\"thawed\"}");
	assert_int_equal(gvirt_status(G_STATUS, out, sizeof(out)), 0);
	assert_string_equal(out, "thawed");
	fake_agent(quiesced_info, "{\"return\":{}}");
	assert_int_equal(gvirt_status(G_STATUS, out, sizeof(out)), 0);
	assert_string_equal(out, "?");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, unit_guard_on, unit_guard_off)
	const struct CMUnitTest tests[] = {
		T(test_agent_unsupported), T(test_connect_fails),    T(test_no_domain),
		T(test_not_running),       T(test_paused),           T(test_check_ok),         T(test_check_already_frozen),
		T(test_freeze_thaw),       T(test_freeze_thaw_not_running),
		T(test_snapshot),          T(test_status),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	unit_guard("test_gvirt", 30);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
