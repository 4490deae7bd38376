#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Apps coming and going: one killed while frozen counts as thawed (the thaw works and
the others are thawed); one that disconnects with FREEZE outstanding fails the freeze;
one that registers during a transaction is welcomed at once and joins the next
transaction; a restarted app may take its name back at once; on shutdown quiesced
thaws the filesystems, then the apps, then closes their connections."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
from apptest import Sim  # noqa: E402
from appproto import FREEZE, THAW, SUCCESS, Timeout  # noqa: E402

t = qtest.start(needs=("appvss-sim",))

s = qtest.Scratch(n=1)
d = qtest.Daemon(s, timeout=3)
sims = []
try:
    # ---- killed while frozen
    a, b, c = Sim(d, "a", wdir=s.mounts[0]), Sim(d, "b"), Sim(d, "c", wdir=s.mounts[0])
    sims += [a, b, c]
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    t.ok(ret is not None and s.frozen() == s.mounts, "frozen with three apps", repr(err))
    b.kill()
    t.ok(apptest.wait_apps(d, 2), "the killed app is unregistered")
    t.eq(d.state(), "frozen", "the filesystems stay frozen")
    ret, err, rep = apptest.answer(d, "quiesce-thaw")
    t.ok(ret is not None and ret.get("count") == 1, "the thaw succeeds", repr(err))
    t.ok(qtest.wait_for(lambda: "app b (id 2): disconnected while frozen; it counts as thawed" in d.log_text(), 3),
         "the log (held while frozen) says the killed app counts as thawed")
    t.eq(apptest.app_results(rep, "thaw"), {"c": "ok", "a": "ok"}, "the other two apps got THAW, not the dead one")
    t.ok(len(a.events("THAW")) == 1 and len(c.events("THAW")) == 1, "and answered it")
    t.eq(s.frozen(), [], "nothing is frozen")

    # ---- a required app disconnecting with FREEZE outstanding fails the freeze
    x, w = apptest.raw(d, "quitter")
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    opt, _, msgid = x.request()
    t.eq(opt, FREEZE, "the raw app is asked FREEZE")
    t.ok(a.wait_event("FREEZE", 2) and c.wait_event("FREEZE", 2), "the two sims answered FREEZE")
    x.close()
    th.join(30)
    ret, err, rep = box["ans"]
    t.ok(err and "quitter" in err.get("desc", "") and "disconnected" in err.get("desc", ""),
         "its disconnect fails the freeze, saying so", repr(err))
    t.eq(s.frozen(), [], "nothing frozen")
    t.eq(apptest.app_results(rep, "thaw"), {"c": "ok", "a": "ok"}, "the apps that froze were thawed")

    # ---- joining mid-transaction
    slow, _ = apptest.raw(d, "slow")
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    opt, _, msgid = slow.request()
    t.eq(d.state(), "freezing", "the freeze waits for the slow app")
    j, w = apptest.raw(d, "joiner")
    t.ok(w["result"] == 0 and w["app_id"] > 0, "an app registering mid-transaction is welcomed at once")
    slow.reply(FREEZE, msgid)
    th.join(30)
    ret, err, rep = box["ans"]
    t.ok(ret is not None, "the freeze succeeds", repr(err))
    t.ok("joiner" not in apptest.app_results(rep, "freeze"), "the joiner was not part of it")
    try:
        got = j.recv(0.3)
        t.ok(False, "the joiner is asked nothing during that transaction", repr(got))
    except Timeout:
        t.ok(True, "the joiner is asked nothing during that transaction")
    t.ok("joins from the next transaction" in d.log_text(), "its registration says it joins the next one")
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-thaw")))
    th.start()
    opt, _, tid = slow.request()
    slow.reply(THAW, tid)
    th.join(30)
    t.ok(box["ans"][0] is not None and "joiner" not in apptest.app_results(box["ans"][2], "thaw"),
         "nor is it thawed (it did not freeze)")
    try:
        got = j.recv(0.3)
        t.ok(False, "the joiner got no THAW", repr(got))
    except Timeout:
        t.ok(True, "the joiner got no THAW")
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    got = {}
    for app, name in ((slow, "slow"), (j, "joiner")):
        opt, _, mid = app.request()
        got[name] = opt
        app.reply(opt, mid)
    th.join(30)
    t.eq(got, {"slow": FREEZE, "joiner": FREEZE}, "the next freeze goes to the joiner too")
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-thaw")))
    th.start()
    for app in (j, slow):
        opt, _, mid = app.request()
        app.reply(opt, mid)
    th.join(30)
    t.eq(s.frozen(), [], "thawed")

    # ---- a thaw overtaking the freeze while an app is still working on it
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    opts = {}
    for app, name in ((slow, "slow"), (j, "joiner")):
        opts[name] = app.request()
    j.reply(FREEZE, opts["joiner"][2])          # the joiner freezes, slow keeps working
    t.ok(qtest.wait_for(lambda: apptest.apps_list(d)["joiner"]["state"] == "frozen", 3), "one app froze")
    ret, err, rep = apptest.answer(d, "quiesce-thaw")
    t.ok(ret is not None, "a thaw while an app is still answering FREEZE succeeds", repr(err))
    th.join(30)
    ret, err, rep = box["ans"]
    t.ok(err and err.get("class") == "Aborted", "the freeze is aborted", repr(err))
    t.eq(apptest.app_results(rep, "freeze").get("slow"), "cancelled", "the app still working is reported cancelled")
    t.eq(s.frozen(), [], "nothing frozen")
    opt, _, tid = j.request()
    t.eq(opt, THAW, "the app that froze got THAW")
    j.reply(THAW, tid)
    slow.reply(FREEZE, opts["slow"][2])        # its success comes after all that: owed a THAW
    opt, _, tid = slow.request()
    t.eq(opt, THAW, "the cancelled app's late success gets a THAW at once")
    slow.reply(THAW, tid)
    t.ok(qtest.wait_for(lambda: all(a["state"] == "idle" for a in apptest.apps_list(d).values()), 3),
         "every app is idle again")

    # ---- a restarted app takes its name back at once
    first, w1 = apptest.raw(d, "restarter")
    first.close()
    again, w2 = apptest.raw(d, "restarter")
    t.ok(w1["result"] == 0 and w2["result"] == 0 and w2["app_id"] > w1["app_id"],
         "a new connection may take the name of a closed one at once (new id %s)" % w2["app_id"])
    dup, w3 = apptest.raw(d, "restarter")
    t.eq(w3["result"], 4, "while the holder is alive the name is taken (REFUSED_NAME_TAKEN)")
    for app in (again, dup, slow, j):
        app.close()
    t.ok(apptest.wait_apps(d, 2), "closed raw apps are unregistered")
finally:
    apptest.stop_all(sims)
    qtest.stop_clean(t, d)

# ---- shutdown while frozen: filesystems thawed, then THAW to the apps, then the close
d = qtest.Daemon(s, timeout=3)
sims = []
try:
    a = Sim(d, "sa", wdir=s.mounts[0])
    r, _ = apptest.raw(d, "sraw")
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    opt, _, mid = r.request()
    r.reply(opt, mid)
    th.join(30)
    t.eq(s.frozen(), s.mounts, "frozen, with two apps")
    d.proc.send_signal(signal.SIGTERM)
    opt, _, tid = r.request(5 * qtest.SLOW)
    t.eq(opt, THAW, "on SIGTERM the apps get THAW")
    t.eq(s.frozen(), [], "... after the filesystems were thawed")
    r.reply(THAW, tid)
    t.ok(r.recv(5 * qtest.SLOW) == b"", "then their connections are closed")
    t.ok(a.wait_event("THAW") and a.events("THAW")[0][3].get("msgid") != "0",
         "the sim got a real THAW (not a lost connection)", repr(a.events()))
    r.close()
finally:
    sims.append(a)
    apptest.stop_all(sims)
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
