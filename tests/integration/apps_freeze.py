#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Apps take part in freeze and thaw, in the right order: an app sees FREEZE while the
filesystems are still writable and THAW once they are writable again (appvss-sim -w
writes and fsyncs on the scratch mount before answering, which would block on a
frozen filesystem); CHECK asks the apps and a veto fails it (quiescectl check exit 1);
quiescectl apps lists the apps with their state and last answer."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
from apptest import Sim  # noqa: E402

t = qtest.start(needs=("appvss-sim",))

s = qtest.Scratch(n=2)
os.chmod(s.dir, 0o755)   # let an unprivileged quiescectl reach the control socket
d = qtest.Daemon(s, timeout=5)
sims = []
try:
    sock = apptest.app_socket(d)
    st = os.stat(sock)
    t.eq(oct(st.st_mode & 0o777), oct(0o600), "the app socket is mode 0600 by default (root only)")

    wdir = s.mounts[0]
    a = Sim(d, "alpha", wdir=wdir)
    b = Sim(d, "beta", "-o", wdir=wdir)
    sims += [a, b]
    t.ok(a.app_id() is not None and b.app_id() == a.app_id() + 1,
         "two apps register with consecutive ids", "%r %r" % (a.events(), b.events()))

    r = d.ctl("--json", "freeze")
    t.eq(r.returncode, 0, "freeze with two apps succeeds")
    rep = json.loads(r.stdout)["report"] if r.returncode == 0 else {}
    t.eq(sorted(s.frozen()), sorted(s.mounts), "both scratch filesystems are frozen")
    stages = [(ph["stage"], ph["op"]) for ph in rep.get("phases", [])]
    t.eq(stages, [("apps", "freeze"), ("hooks", "freeze"), ("filesystems", "freeze")],
         "stages run in order: apps, hooks, filesystems")
    t.eq(apptest.app_results(rep, "freeze"), {"alpha": "ok", "beta": "ok"}, "the report has both apps' answers")
    for sim in (a, b):
        ev = sim.events("FREEZE")
        t.ok(len(ev) == 1 and ev[0][2] == "ok" and ev[0][3].get("wrote", "").startswith(wdir),
             "%s wrote and fsynced on the scratch mount at FREEZE: it was writable" % sim.name, repr(ev))
        t.eq(sim.events("THAW"), [], "%s has no THAW while frozen" % sim.name)

    apps = apptest.apps_list(d)
    t.eq(sorted(apps), ["alpha", "beta"], "quiesce-apps lists both apps")
    t.eq((apps["alpha"]["state"], apps["beta"]["state"]), ("frozen", "frozen"), "both are listed as frozen")
    t.eq((apps["alpha"]["pid"], apps["alpha"]["uid"], apps["alpha"]["required"], apps["beta"]["required"]),
         (a.pid, 0, True, False), "pid, uid and required/optional are the apps' own")
    t.ok(apps["alpha"]["last"]["op"] == "FREEZE" and apps["alpha"]["last"]["result"] == "ok" and
         apps["alpha"]["last"]["ms"] >= 0, "the last answer is FREEZE ok with a latency", repr(apps["alpha"]))

    r = d.ctl("--json", "thaw")
    t.eq(r.returncode, 0, "thaw succeeds")
    rep = json.loads(r.stdout)["report"] if r.returncode == 0 else {}
    stages = [(ph["stage"], ph["op"]) for ph in rep.get("phases", [])]
    t.eq(stages, [("filesystems", "thaw"), ("hooks", "thaw"), ("apps", "thaw")],
         "thaw runs in reverse: filesystems, hooks, apps")
    t.eq(apptest.app_results(rep, "thaw"), {"alpha": "ok", "beta": "ok"},
         "both apps answered THAW in time (their fsync after THAW did not block: the filesystem was thawed)")
    for sim in (a, b):
        ev = sim.events("THAW")
        t.ok(len(ev) == 1 and ev[0][2] == "ok" and ev[0][3].get("wrote", "").startswith(wdir),
             "%s wrote on the scratch mount at THAW" % sim.name, repr(ev))
    t.eq(s.frozen(), [], "nothing frozen after the thaw")
    for sim in (a, b):
        with open(os.path.join(wdir, sim.name + ".freeze")) as f:
            t.ok(f.read().startswith("FREEZE msgid="), "%s's FREEZE write is on the filesystem" % sim.name)

    # The human-readable listing.
    r = d.ctl("apps")
    lines = r.stdout.splitlines()
    t.ok(r.returncode == 0 and lines[0].startswith("2 apps registered") and
         any(" alpha " in l and "required" in l and "THAW ok" in l and " idle " in l for l in lines) and
         any(" beta " in l and "optional" in l for l in lines),
         "quiescectl apps shows name, kind, state and the last answer", r.stdout + r.stderr)
    r = d.ctl("apps", user=65534)
    t.eq(r.returncode, 0, "any user may list the apps (like status)")

    # CHECK asks the apps; a required app's veto fails it, nothing is frozen.
    r = d.ctl("check")
    t.eq(r.returncode, 0, "check with two consenting apps: exit 0")
    t.ok(len(a.events("CHECK")) == 1 and len(b.events("CHECK")) == 1, "both apps were asked CHECK")
    c = Sim(d, "gamma", "-c", "2")
    sims.append(c)
    r = d.ctl("check")
    t.eq(r.returncode, 1, "check with a vetoing required app: exit 1")
    t.ok("gamma" in r.stderr and "vetoed" in r.stderr, "the error names the app and says it vetoed", r.stderr)
    t.eq(s.frozen(), [], "check froze nothing")
    t.eq([e[2] for e in c.events("CHECK")], ["fail"], "gamma was asked once and said no")
    st = d.call("quiesce-status")["return"]
    t.eq(st["state"], "idle", "idle after the failed check")
    t.ok(any(x.get("stage") == "apps" for x in st.get("stages", [])), "status lists the apps stage")
    c.stop()
    t.ok(apptest.wait_apps(d, 2), "gamma's exit unregisters it")
    r = d.ctl("check")
    t.eq(r.returncode, 0, "check passes again once gamma is gone")
finally:
    apptest.stop_all(sims)
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
