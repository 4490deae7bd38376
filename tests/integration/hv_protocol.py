#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesced as the Hyper-V VSS daemon, through hvsim (the kernel side of /dev/vmbus/hv_vss),
on real scratch mounts: the whole protocol, byte for byte, and how it meets the other
transports and foreign freezes.

- registration: REGISTER1, the 4-byte version read, hv_vss_daemon's log lines under
  --log-ident "Hyper-V VSS";
- HOT_BACKUP -> CHECK (answer 0), FREEZE -> every candidate frozen, a writer blocks, the
  FREEZE's log line is held in memory until the thaw; a second FREEZE -> 0, same freeze and
  lease; HOT_BACKUP while frozen -> HV_E_FAIL; THAW -> 0 once thawed, the writer finishes;
  THAW with nothing frozen -> 0; an unknown op -> 0 and "Illegal op";
- a freeze held by quiescectl: Hyper-V's FREEZE -> HV_E_FAIL, its THAW -> 0 and leaves it;
- a candidate frozen by someone else: FREEZE -> HV_E_FAIL, ours thawed, theirs left alone;
- a THAW after quiescectl thawed Hyper-V's freeze, or after the lease passed -> HV_E_FAIL
  (writes were not held until it);
- HOT_BACKUP with a candidate that cannot be frozen (hidden under another mount) ->
  HV_E_FAIL, where hv_vss_daemon always answers 0; the FREEZE after it fails too.

Apps and hooks in Hyper-V's requests: tests/integration/hv_apps.py.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
from hvsim import HvSim  # noqa: E402

OK, FAIL = "0x00000000", "0x80004005"
ZERO12 = "00" * 12
E_FAIL_REPLY = "054000800000000000000000"

t = qtest.start(needs=("hvsim",))


def hv_status(d):
    return d.call("quiesce-status")["return"]


def answered(op, status, by="daemon"):
    return op is not None and op.get("host_status") == status and op.get("by") == by


s = qtest.Scratch(3)
sock = os.path.join(s.dir, "hv_vss.sock")
sim = HvSim(sock, stderr=open(os.path.join(s.dir, "hvsim.err"), "w"))
d = None
writer = None
try:
    d = qtest.Daemon(s, "--hyperv", sock, "--log-ident", "Hyper-V VSS")
    t.ok(sim.cmd("wait_daemon 10s")["ok"], "quiesced registers with the kernel")
    reg = sim.events("registered")
    t.eq([e["version"] for e in reg], [129], "with REGISTER1 (129), once")
    t.eq(len(sim.events("ready")), 1, "and reads the 4-byte version answer (state READY)")
    st = hv_status(d).get("hyperv", {})
    t.ok(st.get("state") == "ready" and st.get("kernel_version") == 129 and st.get("channel") == "socket",
         "status: the channel is ready, kernel version 129, a socket", json.dumps(st))
    log = d.log_text()
    t.ok("Hyper-V VSS: VSS starting; pid is:%d" % d.proc.pid in log,
         "logs hv_vss_daemon's start line under its ident", log[-2000:])
    t.ok("Hyper-V VSS: VSS: kernel module version: 129" in log, "logs the kernel module version")

    # HOT_BACKUP: the engine's CHECK; nothing frozen.
    op = sim.request("hot_backup")
    t.ok(answered(op, OK) and op.get("reply_hex") == ZERO12,
         "HOT_BACKUP: answered 0 by the daemon, the 12 bytes echoed with error 0", op)
    t.eq(op.get("host_flags"), "0x00000000", "HOT_BACKUP: the reply's operation byte is 0, as the stock daemon's")
    t.eq(s.frozen(), [], "HOT_BACKUP freezes nothing")
    t.ok("VSS: op=CHECK HOT BACKUP" in d.log_text(), "HOT_BACKUP logged as the stock daemon does")

    # FREEZE: everything, a writer blocks, the log holds its lines.
    op = sim.request("freeze")
    t.ok(answered(op, OK) and op.get("reply_hex") == ZERO12, "FREEZE: answered 0 by the daemon", op)
    t.eq(sorted(s.frozen()), sorted(s.mounts), "FREEZE: every scratch mount is frozen")
    writer = qtest.Writer(s.mounts[0])
    t.ok(not writer.done_within(1.0), "a writer blocks between FREEZE and THAW")
    st = hv_status(d)
    t.ok(st["state"] == "frozen" and st.get("origin") == "hyperv" and st["hyperv"]["frozen_for_hyperv"],
         "status: frozen for hyperv", json.dumps({k: st.get(k) for k in ("state", "origin", "hyperv")}))
    t.ok("VSS: op=FREEZE: succeeded" not in d.log_text(),
         "nothing is written to the log while frozen (the line waits in memory)")
    lease_left = st.get("lease_remaining_ms", 0)

    op = sim.request("freeze")
    t.ok(answered(op, OK), "a second FREEZE while frozen for Hyper-V: 0 (as the stock daemon)", op)
    st = hv_status(d)
    t.ok(st["state"] == "frozen" and st.get("lease_remaining_ms", 10 ** 9) <= lease_left,
         "the same freeze goes on: its lease is not renewed", "%s > %s" % (st.get("lease_remaining_ms"), lease_left))
    op = sim.request("hot_backup")
    t.ok(answered(op, FAIL) and op.get("reply_hex") == E_FAIL_REPLY,
         "HOT_BACKUP while frozen: HV_E_FAIL (a check cannot run during a freeze)", op)
    t.eq(sorted(s.frozen()), sorted(s.mounts), "still frozen after that")

    # THAW: answered once the filesystems are thawed.
    op = sim.request("thaw")
    t.ok(answered(op, OK) and op.get("reply_hex") == ZERO12, "THAW: answered 0 by the daemon", op)
    t.eq(s.frozen(), [], "THAW: nothing frozen")
    t.ok(writer.done_within(10.0), "the writer finishes after the THAW")
    writer = None
    qtest.wait_log(d, "VSS: op=THAW: succeeded")
    log = d.log_text()
    i_f, i_t = log.find("VSS: op=FREEZE: succeeded"), log.find("VSS: op=THAW: succeeded")
    t.ok(0 <= i_f < i_t, "after the thaw the log has the FREEZE's line, then the THAW's", log[-3000:])

    op = sim.request("thaw")
    t.ok(answered(op, OK), "THAW with nothing frozen: 0", op)
    op = sim.request("direct 99")
    t.ok(answered(op, OK) and op.get("reply_hex") == ZERO12, "an unknown operation: 0", op)
    t.ok("Illegal op:99" in d.log_text(), "and logged as 'Illegal op:99'")

    # A freeze held through quiescectl is not Hyper-V's.
    r = d.ctl("freeze")
    t.eq(r.returncode, 0, "quiescectl freeze")
    op = sim.request("freeze")
    t.ok(answered(op, FAIL) and op.get("reply_hex") == E_FAIL_REPLY,
         "FREEZE while quiescectl holds a freeze: HV_E_FAIL", op)
    op = sim.request("thaw")
    t.ok(answered(op, OK), "THAW from Hyper-V then: 0 (nothing frozen for Hyper-V)", op)
    t.eq(sorted(s.frozen()), sorted(s.mounts), "and quiescectl's freeze is left alone")
    st = hv_status(d)
    t.eq((st["state"], st.get("origin")), ("frozen", "control"), "status: still frozen for control")
    r = d.ctl("thaw")
    t.ok(r.returncode == 0 and s.frozen() == [], "quiescectl thaw ends it", r.stderr)

    # Someone else froze m1: our FREEZE fails and leaves theirs alone.
    qtest.freeze_path(s.mounts[1])
    op = sim.request("freeze")
    t.ok(answered(op, FAIL) and op.get("reply_hex") == E_FAIL_REPLY,
         "FREEZE with a candidate frozen by someone else: HV_E_FAIL", op)
    t.eq(s.frozen(), [s.mounts[1]], "what quiesced froze is thawed; the other freeze is left alone")
    t.ok(qtest.wait_log(d, "FREEZE of %s failed; error:16 Device or resource busy" % s.mounts[1]),
         "logged as hv_vss_daemon words it: 'FREEZE of <mount> failed; error:16 ...'")
    qtest.thaw_path(s.mounts[1])

    # quiescectl thaws Hyper-V's freeze before Hyper-V does: the checkpoint is not consistent.
    op = sim.request("freeze")
    t.ok(answered(op, OK), "FREEZE", op)
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "quiescectl thaw ends Hyper-V's freeze early")
    op = sim.request("thaw")
    t.ok(answered(op, FAIL), "Hyper-V's THAW then: HV_E_FAIL (writes were not held until it)", op)
    t.ok("VSS: op=THAW: failed" in d.log_text(), "logged 'VSS: op=THAW: failed'")
    op = sim.request("thaw")
    t.ok(answered(op, OK), "another THAW: 0 (nothing frozen for Hyper-V)", op)

    st = hv_status(d)["hyperv"]
    t.ok(st["requests"] == 13 and st["resets"] == 0 and st["registrations"] == 1,
         "status counts the requests; no reset, one registration", json.dumps(st))
    t.eq(len(sim.events("disconnected")), 0, "the channel stayed up throughout")
    qtest.stop_clean(t, d)
    d = None
    t.ok(sim.wait_line(lambda l: l.get("event") == "disconnected", 10) is not None,
         "the kernel sees quiesced close the device when it stops")

    # A candidate that cannot be reached: m2 is hidden under another mount (a tmpfs
    # mounted over it), so it cannot be opened to be frozen. The check says no in advance.
    mark = sim.mark()
    d = qtest.Daemon(s, "--hyperv", sock)
    t.ok(sim.wait_line(lambda l: l.get("event") == "ready", 10, since=mark) is not None,
         "a new quiesced registers again")
    qtest.run(["mount", "-t", "tmpfs", "-o", "size=1m", "quiesce-over", s.mounts[2]])
    try:
        op = sim.request("hot_backup")
        t.ok(answered(op, FAIL) and op.get("reply_hex") == E_FAIL_REPLY,
             "HOT_BACKUP with a candidate mounted over: HV_E_FAIL (the stock daemon answers 0)", op)
        qtest.wait_log(d, "VSS: op=CHECK HOT BACKUP: failed")
        log = d.log_text()
        t.ok("VSS: op=CHECK HOT BACKUP: failed" in log and s.mounts[2] in log,
             "the log says which filesystem and why", log[-2000:])
        op = sim.request("freeze")
        t.ok(answered(op, FAIL), "a FREEZE anyway: HV_E_FAIL", op)
        # (m2 itself is out of reach: quiesced could not open it either.)
        t.eq([m for m in s.mounts[:2] if qtest.is_frozen(m)], [], "and nothing stays frozen")
    finally:
        qtest.run(["umount", s.mounts[2]], check=False)
    op = sim.request("hot_backup")
    t.ok(answered(op, OK), "HOT_BACKUP once it is reachable again: 0", op)
    qtest.stop_clean(t, d)
    d = None

    # The lease passes before Hyper-V's THAW: quiesced thaws on its own, the THAW fails.
    mark = sim.mark()
    d = qtest.Daemon(s, "--hyperv", sock, lease=1)
    t.ok(sim.wait_line(lambda l: l.get("event") == "ready", 10, since=mark) is not None,
         "quiesced with a 1 s lease registers")
    t.ok("--lease 1.0 s" in d.log_text(), "and warns that the lease is short for Hyper-V")
    op = sim.request("freeze")
    t.ok(answered(op, OK), "FREEZE", op)
    t.ok(qtest.wait_for(lambda: hv_status(d)["state"] == "idle", 10, 0.05), "the lease passes: thawed on its own")
    t.eq(s.frozen(), [], "nothing frozen")
    op = sim.request("thaw")
    t.ok(answered(op, FAIL) and op.get("reply_hex") == E_FAIL_REPLY,
         "Hyper-V's THAW after the lease: HV_E_FAIL (writes were not held until it)", op)
    qtest.wait_log(d, "VSS: op=THAW: failed")
    t.ok("VSS: op=THAW: failed" in d.log_text() and "lease" in d.log_text().split("VSS: op=THAW: failed")[-1],
         "the log says the THAW failed because of the lease", d.log_text()[-1500:])
    op = sim.request("thaw")
    t.ok(answered(op, OK), "the next THAW: 0 (nothing frozen for Hyper-V)", op)
    qtest.stop_clean(t, d)
    d = None

    # --no-hyperv wins over --hyperv; without either (and no device), no channel at all.
    mark = sim.mark()
    d = qtest.Daemon(s, "--hyperv", sock, "--no-hyperv")
    time.sleep(0.5)
    t.eq(sim.events("connected", mark), [], "--no-hyperv: quiesced does not open the channel")
    t.ok("hyperv" not in hv_status(d) and "--no-hyperv given" in d.log_text(),
         "status has no hyperv part; the log says --hyperv was ignored")
    qtest.stop_clean(t, d)
    d = qtest.Daemon(s)
    t.ok("hyperv" not in hv_status(d), "no --hyperv and no device here: Hyper-V is not served")
    qtest.stop_clean(t, d)
    d = None
finally:
    if writer:
        for m in s.mounts:
            qtest.thaw_path(m)
        writer.kill()
    if d:
        d.stop()
    sim.close()
t.eq(s.frozen(), [], "nothing frozen at the end")
s.cleanup()
t.exit()
