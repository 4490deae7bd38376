#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Applications and hooks in Hyper-V's requests, through hvsim, on a scratch mount.

- HOT_BACKUP asks the registered apps (CHECK): all say yes -> 0; a required app says no
  -> HV_E_FAIL (hv_vss_daemon asks nobody and answers 0); an optional one's no -> 0;
- FREEZE: the app is asked to FREEZE while nothing is frozen yet, and a freeze hook runs,
  then the filesystem is frozen, then the host gets 0; a required app's FREEZE veto ->
  HV_E_FAIL with nothing frozen;
- THAW is answered as soon as the filesystem is thawed: the host has its 0 while the
  app's THAW is still unanswered; the thaw hook runs.

Needs the app registry and the hook directory (src/apps/, tests/lib/apptest.py):
skipped where they are not built.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
from hvsim import HvSim  # noqa: E402

t = qtest.start(needs=("hvsim",))
try:
    import apptest  # noqa: E402
    from appproto import CHECK, FAIL, F_OPTIONAL, FREEZE, SUCCESS, THAW  # noqa: E402
except ImportError:
    t.skip_all("the app registry (tests/lib/apptest.py) is not in this tree")

OK, E_FAIL = "0x00000000", "0x80004005"


def answered(op, status, by="daemon"):
    return op is not None and op.get("host_status") == status and op.get("by") == by


s = qtest.Scratch(1)
mnt = s.mounts[0]
sock = os.path.join(s.dir, "hv_vss.sock")
hd = os.path.join(s.dir, "hooks.d")
os.mkdir(hd, 0o755)
trace = os.path.join(s.dir, "trace")   # outside the frozen filesystem
with open(os.path.join(hd, "10-trace"), "w") as f:
    f.write('#!/bin/sh\necho "$1" >> %s\n' % trace)
os.chmod(os.path.join(hd, "10-trace"), 0o755)


def trace_lines():
    try:
        with open(trace) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


sim = HvSim(sock, stderr=open(os.path.join(s.dir, "hvsim.err"), "w"))
d = None
apps = []
try:
    d = qtest.Daemon(s, "--hyperv", sock, "--hook-dir", hd, timeout=2)
    t.ok(sim.cmd("wait_daemon 10s")["ok"], "quiesced registers with the kernel")
    db, w = apptest.raw(d, "db")               # required, answered by hand
    apps.append(db)
    t.eq(w["result"], 0, "a required app registers")

    # ---- HOT_BACKUP asks the app
    r = sim.cmd("send hot_backup")
    opt, _, msgid = db.request()
    t.eq(opt, CHECK, "HOT_BACKUP: the app is asked CHECK")
    db.reply(CHECK, msgid, SUCCESS)
    op = sim.wait_line(lambda l: "op" in l and l.get("seq") == r["seq"], 10)
    t.ok(answered(op, OK), "the app says yes: the host gets 0", op)
    r = sim.cmd("send hot_backup")
    opt, _, msgid = db.request()
    db.reply(CHECK, msgid, FAIL)
    op = sim.wait_line(lambda l: "op" in l and l.get("seq") == r["seq"], 10)
    t.ok(answered(op, E_FAIL) and op.get("reply_hex") == "054000800000000000000000",
         "a required app says no: HV_E_FAIL (the stock daemon answers 0)", op)
    qtest.wait_log(d, "VSS: op=CHECK HOT BACKUP: failed")
    t.ok("VSS: op=CHECK HOT BACKUP: failed" in d.log_text() and "db" in
         d.log_text().split("VSS: op=CHECK HOT BACKUP: failed")[-1], "the log names the app",
         d.log_text()[-1500:])
    t.eq(trace_lines(), [], "a check runs no hook")

    # ---- FREEZE: app, hook, then the filesystem
    r = sim.cmd("send freeze")
    opt, _, msgid = db.request()
    t.eq(opt, FREEZE, "FREEZE: the app is asked to freeze")
    t.eq(s.frozen(), [], "while the filesystem is not frozen yet")
    db.reply(FREEZE, msgid, SUCCESS)
    op = sim.wait_line(lambda l: "op" in l and l.get("seq") == r["seq"], 10)
    t.ok(answered(op, OK), "then the host gets 0", op)
    t.eq(s.frozen(), [mnt], "with the filesystem frozen")
    t.eq(trace_lines(), ["freeze"], "the freeze hook ran")

    # ---- THAW: answered once the filesystem is thawed, before the app's THAW is answered
    r = sim.cmd("send thaw")
    opt, _, msgid = db.request()
    t.eq(opt, THAW, "THAW: the app is asked to thaw")
    op = sim.wait_line(lambda l: "op" in l and l.get("seq") == r["seq"], 10)
    t.ok(answered(op, OK), "the host has its 0 while the app's THAW is still unanswered", op)
    t.eq(s.frozen(), [], "the filesystem is thawed")
    db.reply(THAW, msgid, SUCCESS)
    t.ok(qtest.wait_for(lambda: d.call("quiesce-status")["return"]["state"] == "idle", 10),
         "the thaw ends once the app answers")
    t.eq(trace_lines(), ["freeze", "thaw"], "the thaw hook ran")

    # ---- a required app vetoes the FREEZE
    r = sim.cmd("send freeze")
    opt, _, msgid = db.request()
    db.reply(FREEZE, msgid, FAIL)
    op = sim.wait_line(lambda l: "op" in l and l.get("seq") == r["seq"], 10)
    t.ok(answered(op, E_FAIL), "a required app's FREEZE veto: HV_E_FAIL", op)
    t.eq(s.frozen(), [], "nothing frozen")
    db.close()
    apps.remove(db)

    # ---- an optional app's no does not fail the check
    opt_app, w = apptest.raw(d, "cache", flags=F_OPTIONAL)
    apps.append(opt_app)
    t.ok(qtest.wait_for(lambda: len(apptest.apps_list(d)) == 1, 10), "only the optional app is registered")
    r = sim.cmd("send hot_backup")
    opt, _, msgid = opt_app.request()
    opt_app.reply(CHECK, msgid, FAIL)
    op = sim.wait_line(lambda l: "op" in l and l.get("seq") == r["seq"], 10)
    t.ok(answered(op, OK), "an optional app says no: still 0", op)
    qtest.stop_clean(t, d)
    d = None
finally:
    for a in apps:
        a.close()
    if d:
        d.stop()
    sim.close()
t.eq(s.frozen(), [], "nothing frozen at the end")
s.cleanup()
t.exit()
