#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""100 apps at once: every app gets FREEZE at the same time (each takes 500 ms to
answer, so asking them one after another would take 50 s; in parallel the freeze takes
about one app's delay), all 100 are thawed in reverse registration order, and each
listed by quiescectl apps. The bound below only tells parallel from serial (a factor
of 10 apart); speed is measured in bench/, not here."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
from apptest import Sim  # noqa: E402
from appproto import RawApp, pack_hello, unpack_welcome  # noqa: E402

t = qtest.start(needs=("appvss-sim",))

N = 100
DELAY = 0.5
s = qtest.Scratch(n=1)
d = qtest.Daemon(s, timeout=30)
sims = []
try:
    for i in range(N):
        sims.append(Sim(d, "app%03d" % i, "-S", str(int(DELAY * 1000)), wait=False))
    ok = all(sim.wait_registered(30) for sim in sims)
    t.ok(ok, "%d apps registered" % N)
    lst = apptest.apps_list(d)
    t.eq(len(lst), N, "quiesce-apps lists all %d" % N)
    ids = [lst["app%03d" % i]["id"] for i in range(N)]
    t.eq(len(set(ids)), N, "each has its own id")

    t0 = time.monotonic()
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    took = time.monotonic() - t0
    t.ok(ret is not None and s.frozen() == s.mounts, "the freeze with %d apps succeeds" % N, repr(err))
    res = apptest.app_results(rep, "freeze")
    t.eq(sorted(set(res.values())), ["ok"], "every app answered FREEZE with success")
    t.eq(len(res), N, "... all %d of them" % N)
    t.ok(took < N * DELAY / 10, "the apps were asked in parallel: %.2f s, not %.0f s" % (took, N * DELAY))
    # Each app logs when it answered (after its 500 ms): all within one delay of each other.
    ns = [sim.events("FREEZE")[0][0] for sim in sims if sim.events("FREEZE")]
    spread = (max(ns) - min(ns)) / 1e9 if len(ns) == N else None
    t.ok(spread is not None and spread < N * DELAY / 10,
         "the answers came together (spread %s s), so the requests went out together" % spread)

    ret, err, rep = apptest.answer(d, "quiesce-thaw")
    t.ok(ret is not None and s.frozen() == [], "the thaw succeeds", repr(err))
    phase = apptest.phase(rep, "apps", "thaw").get("apps", [])
    by_id = sorted(lst, key=lambda name: lst[name]["id"], reverse=True)
    t.eq([a["name"] for a in phase], by_id, "THAW is sent in reverse registration order")
    msgids = [a["msgid"] for a in phase]
    t.eq(msgids, sorted(msgids), "... as their msgids show")
    t.ok(all(sim.wait_event("THAW") for sim in sims), "every app got THAW")
    r = d.ctl("apps")
    t.ok(r.returncode == 0 and r.stdout.startswith("%d apps registered" % N) and
         len(r.stdout.splitlines()) == N + 2, "quiescectl apps lists %d apps" % N, r.stdout[:500])

    # More connections at once than quiesced serves before their hello (64): the rest
    # wait in the listen backlog and are served as the first ones register.
    raws = [RawApp(apptest.app_socket(d)) for _ in range(N)]
    for i, a in enumerate(raws):
        a.send(pack_hello("raw%03d" % i))
    welcomes = [unpack_welcome(a.recv(10 * qtest.SLOW))["result"] for a in raws]
    t.eq(set(welcomes), {0}, "%d connections opened before any hello are all registered" % N)
    t.ok(apptest.wait_apps(d, 2 * N), "%d apps registered in all" % (2 * N))
    for a in raws:
        a.close()
finally:
    apptest.stop_all(sims)
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
