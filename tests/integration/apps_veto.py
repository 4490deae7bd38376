#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Vetoes and timeouts. A required app's veto or timeout fails the freeze: no
filesystem is frozen and the apps that froze get THAW, sent in reverse registration
order. An optional app's veto or timeout is logged and the freeze goes on. A FREEZE
success that comes too late is owed a THAW: at once if the freeze is over, else with
the transaction's thaw. An app that never answers is dropped after twice its timeout;
one still busy with an earlier request counts as timed out at once."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
from apptest import Sim  # noqa: E402
from appproto import FREEZE, THAW, CHECK, SUCCESS, FAIL, F_OPTIONAL, Timeout  # noqa: E402

t = qtest.start(needs=("appvss-sim",))

TIMEOUT = 1.0   # the daemon's --timeout: every app's deadline
s = qtest.Scratch(n=1)
d = qtest.Daemon(s, timeout=TIMEOUT)
sims = []


def freeze_async():
    """Start a freeze in a thread; returns (thread, box) with box['ans'] once done."""
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    return th, box


def thaw_msgid(sim):
    ev = sim.events("THAW")
    return int(ev[0][3]["msgid"]) if ev else None


try:
    # ---- a required veto, after two apps froze: they get THAW in reverse order
    r1 = Sim(d, "r1")
    r2 = Sim(d, "r2")
    sims += [r1, r2]
    v, w = apptest.raw(d, "vetoer")        # registered last
    t.eq(w["result"], 0, "the vetoing raw app registers")
    th, box = freeze_async()
    opt, _, msgid = v.request()
    t.eq(opt, FREEZE, "the raw app is asked FREEZE")
    t.ok(r1.wait_event("FREEZE") and r2.wait_event("FREEZE"), "r1 and r2 answered FREEZE (success)")
    t.eq(s.frozen(), [], "nothing is frozen while an app has not answered")
    v.reply(FREEZE, msgid, FAIL)
    th.join(30)
    ret, err, rep = box["ans"]
    t.ok(err and err.get("class") == "Vetoed" and "vetoer" in err.get("desc", ""),
         "the freeze fails as Vetoed, naming the app", repr(err))
    t.eq(s.frozen(), [], "no filesystem was frozen")
    t.eq(apptest.phase(rep, "filesystems", "freeze"), {}, "the filesystems stage never ran")
    t.eq(apptest.app_results(rep, "thaw"), {"r2": "ok", "r1": "ok"}, "the unwinding thawed r1 and r2")
    t.ok(r1.wait_event("THAW") and r2.wait_event("THAW"), "r1 and r2 got THAW")
    m1, m2 = thaw_msgid(r1), thaw_msgid(r2)
    t.ok(m1 and m2 and m2 < m1, "THAW went to r2 before r1: reverse registration order (msgids %s, %s)" % (m2, m1))
    try:
        extra = v.recv(0.3)
        t.ok(False, "the vetoer gets no THAW", repr(extra))
    except Timeout:
        t.ok(True, "the vetoer gets no THAW")
    v.close()
    t.ok(apptest.wait_apps(d, 2), "the raw app's close unregisters it")

    # ---- an immediate veto by a sim: apps whose success comes after the veto still get THAW
    q = Sim(d, "quick-veto", "-f", "2")
    sims.append(q)
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    t.ok(err and "quick-veto" in err.get("desc", ""), "a sim's veto fails the freeze", repr(err))
    t.eq(s.frozen(), [], "nothing frozen")
    t.ok(r1.wait_event("THAW", 2) and r2.wait_event("THAW", 2),
         "r1 and r2 got THAW for the second failed freeze too (before or after the veto)")
    t.eq(len(q.events("THAW")), 0, "the vetoing app gets no THAW")
    q.stop()
    apptest.wait_apps(d, 2)

    # ---- an optional veto: logged, the freeze goes on, no THAW for it
    o = Sim(d, "opt-veto", "-o", "-f", "2")
    sims.append(o)
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    t.ok(ret is not None and ret.get("count") == 1, "an optional app's veto does not fail the freeze", repr(err))
    t.eq(s.frozen(), s.mounts, "the filesystem is frozen")
    t.eq(apptest.app_results(rep, "freeze"), {"r1": "ok", "r2": "ok", "opt-veto": "failed"},
         "the report shows the optional app's failure")
    t.ok("optional app" in apptest.phase(rep, "apps", "freeze").get("message", ""),
         "the apps phase says an optional app did not take part")
    ret, err, rep = apptest.answer(d, "quiesce-thaw")
    t.eq(sorted(apptest.app_results(rep, "thaw")), ["r1", "r2"], "THAW goes only to the apps that froze")
    t.eq(len(o.events("THAW")), 0, "the optional vetoer got no THAW")
    t.ok("going on without it" in d.log_text(), "the optional veto is logged")
    o.stop()
    apptest.wait_apps(d, 2)

    # ---- a required timeout: the freeze fails after the deadline; the late success is owed a THAW
    late = Sim(d, "late-req", "-f", "1", "-L", "300")
    sims.append(late)
    t0 = time.monotonic()
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    took = time.monotonic() - t0
    t.ok(err and "late-req" in err.get("desc", "") and "did not answer the freeze within 1000 ms" in err.get("desc", ""),
         "a required app's timeout fails the freeze, saying so", repr(err))
    t.ok(took >= TIMEOUT * 0.9, "the freeze waited for the deadline (%.2f s)" % took)
    t.eq(s.frozen(), [], "nothing frozen")
    t.eq(apptest.app_results(rep, "freeze").get("late-req"), "timeout", "the report says timeout")
    t.ok(late.wait_event("FREEZE") and late.events("FREEZE")[0][2] == "timeout", "the app answered late")
    t.ok(late.wait_event("THAW", timeout=5), "the late FREEZE success got a THAW at once (it was owed one)")
    t.ok(qtest.wait_for(lambda: "late success answer to FREEZE" in d.log_text(), 3), "the late answer is logged")
    lst = apptest.apps_list(d)
    t.eq(lst["late-req"]["state"], "idle", "the late app is idle (not frozen) afterwards")
    late.stop()
    apptest.wait_apps(d, 2)

    # ---- an optional timeout: the freeze goes on; its late success waits for the transaction's THAW
    lo = Sim(d, "late-opt", "-o", "-f", "1", "-L", "200")
    sims.append(lo)
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    t.ok(ret is not None, "an optional app's timeout does not fail the freeze", repr(err))
    t.eq(s.frozen(), s.mounts, "frozen")
    t.eq(apptest.app_results(rep, "freeze").get("late-opt"), "timeout", "the report says timeout")
    t.ok(lo.wait_event("FREEZE"), "it answered late")
    t.ok(qtest.wait_for(lambda: apptest.apps_list(d)["late-opt"]["state"] == "frozen", 3),
         "its late success makes it frozen")
    time.sleep(0.3)
    t.eq(lo.events("THAW"), [], "it gets no THAW while the filesystems are frozen")
    ret, err, rep = apptest.answer(d, "quiesce-thaw")
    t.eq(apptest.app_results(rep, "thaw").get("late-opt"), "ok", "it gets THAW with the transaction's thaw")
    t.ok(lo.wait_event("THAW"), "... and saw it")
    lo.stop()
    apptest.wait_apps(d, 2)

    # ---- busy: an optional raw app that never answers counts as timed out at once next time,
    # and is dropped as hung after twice its timeout
    h, _ = apptest.raw(d, "hung", F_OPTIONAL)
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    t.ok(ret is not None and apptest.app_results(rep, "freeze").get("hung") == "timeout",
         "an optional app that does not answer times out", repr(err))
    apptest.answer(d, "quiesce-thaw")
    opt, _, msgid = h.request()
    t.eq(opt, FREEZE, "the hung app had its FREEZE")
    ret, err, rep = apptest.answer(d, "quiesce-check")
    t.eq(apptest.app_results(rep, "check").get("hung"), "busy",
         "the next transaction counts it as busy at once (still in its late window)")
    t.ok(h.recv(TIMEOUT * 3 * qtest.SLOW) == b"", "it is dropped when the late window ends")
    t.ok(qtest.wait_for(lambda: "hung: no answer to FREEZE" in d.log_text(), 3), "... logged as hung")
    t.ok(apptest.wait_apps(d, 2), "and unregistered")

    # ---- busy and required: the phase fails at once, nobody is asked
    h2, _ = apptest.raw(d, "slowpoke")
    th, box = freeze_async()
    opt, _, msgid = h2.request()
    th.join(30)
    t.ok(box["ans"][1] is not None, "a required app that does not answer fails the freeze")
    before = len(r1.events("CHECK"))
    ret, err, rep = apptest.answer(d, "quiesce-check")
    t.ok(err and "slowpoke" in err.get("desc", "") and "busy with msgid %d" % msgid in err.get("desc", ""),
         "a check while it is still busy fails at once, naming the msgid", repr(err))
    time.sleep(0.2)
    t.eq(len(r1.events("CHECK")), before, "and the other apps were not even asked")
    h2.reply(FREEZE, msgid, SUCCESS)   # late, within the window: owed a THAW at once
    opt, _, tid = h2.request(3)
    t.eq(opt, THAW, "its late FREEZE success is answered with a THAW at once")
    h2.reply(THAW, tid)
    th = threading.Thread(target=lambda: box.__setitem__("chk", apptest.answer(d, "quiesce-check")))
    th.start()
    opt, _, cid = h2.request(3)
    t.eq(opt, CHECK, "once it answered, it is asked again (CHECK)")
    h2.reply(CHECK, cid)
    th.join(30)
    t.ok(box["chk"][0] is not None, "... and the check passes", repr(box["chk"][1]))
    h2.close()
    h.close()
    t.eq(d.state(), "idle", "the daemon is idle and answering")
finally:
    apptest.stop_all(sims)
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
