#!/usr/bin/env python3
"""Independent filesystems are frozen at the same time on every freeze, not only on the
first: the worker pool must not queue a FIFREEZE behind a busy worker while it could
start another (a worker that has not yet woken up to take the job before is not free).

Checked from the report's ioctl times: in each freeze, every FIFREEZE started before
any of them returned. A cold FIFREEZE waits for an RCU grace period (~25 ms or more
here), so one after another they could not overlap; each freeze follows an idle gap
to stay cold. This checks overlap only, never speed."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.Tap()
qtest.require_root(t)

N = 6
s = qtest.Scratch(n=N)
d = qtest.Daemon(s, "--fs-timeout", str(10 * qtest.SLOW))
try:
    c = d.client()
    for i in range(4):
        time.sleep(0.3)  # idle: the next FIFREEZEs are cold
        ans = c.call("quiesce-freeze")
        ok = ans is not None and ans.get("return", {}).get("count") == N
        t.ok(ok, "freeze %d: %d filesystems" % (i + 1, N), json.dumps(ans)[:2000])
        fs = [f for ph in (ans or {}).get("return", {}).get("report", {}).get("phases", [])
              for f in ph.get("filesystems", [])] if ok else []
        if fs:
            last_start = max(f["freeze_start_ms"] for f in fs)
            first_end = min(f["freeze_end_ms"] for f in fs)
            t.ok(last_start < first_end,
                 "freeze %d: all %d FIFREEZEs were under way at once" % (i + 1, N),
                 json.dumps([(f["mountpoint"], f["freeze_start_ms"], f["freeze_end_ms"]) for f in fs]))
        else:
            t.ok(False, "freeze %d: a report to check" % (i + 1))
        ans = c.call("quiesce-thaw")
        t.eq((ans or {}).get("return", {}).get("count"), N, "thaw %d" % (i + 1))
    t.eq(s.frozen(), [], "nothing frozen")
    c.close()
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
