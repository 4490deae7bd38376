#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Independent filesystems are frozen at the same time on every freeze, not only on the
first: the freezer never waits for one slow FIFREEZE before it starts the next
independent one, and its worker pool does not queue a FIFREEZE behind a busy worker
while it could start another.

The FIFREEZEs are made slow on purpose, not hoped to be: a stalled write on every
scratch filesystem (tests/lib/stallwrite.py) holds each FIFREEZE inside the kernel
until the test releases it. While they are held, N threads of quiesced must be in
FIFREEZE at once; a freezer that runs them one after another has only one there, and
this test fails on it. Nothing here depends on how long the kernel takes: fast,
unheld freezes may rightly run one after another, and this test does not look at them."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402
import stallwrite  # noqa: E402

t = qtest.start(stall=True)

N = 4
FREEZES = 3   # the pool must fan out again on later freezes (it once fell back to serial)


def held_freeze(d, s, i):
    """One freeze with every FIFREEZE held in the kernel until all N are under way."""
    stalls = []
    try:
        for k, mp in enumerate(s.mounts):
            stalls.append(stallwrite.StalledWrite(os.path.join(mp, "stall-%d-%d.dat" % (i, k))))
        call = fc.BgCall(d.control, "quiesce-freeze")
        all_in = fc.wait_in_fifreeze(d.proc.pid, N, timeout=10)
        t.ok(all_in, "freeze %d: all %d FIFREEZEs are under way at once while held" % (i, N),
             "threads of quiesced in FIFREEZE: %d" % fc.threads_in_fifreeze(d.proc.pid))
        for st in stalls:
            st.release()
        ans = call.result()
        t.eq((ans or {}).get("return", {}).get("count"), N,
             "freeze %d: froze %d once released" % (i, N))
    finally:
        for st in stalls:
            st.release()
            st.kill()
    ans = d.call("quiesce-thaw")
    t.eq((ans or {}).get("return", {}).get("count"), N, "thaw %d" % i)


s = qtest.Scratch(n=N)
d = qtest.Daemon(s, "--fs-timeout", str(30 * qtest.SLOW), "--timeout", str(30 * qtest.SLOW))
try:
    for i in range(1, FREEZES + 1):
        held_freeze(d, s, i)
    t.eq(s.frozen(), [], "nothing frozen")
    # The workers that the held freezes needed are let go once idle (quiesced goes
    # back to its idle size): only the main thread is left, within a bound.
    tasks = lambda: len(os.listdir("/proc/%d/task" % d.proc.pid))  # noqa: E731
    t.ok(qtest.wait_for(lambda: tasks() == 1, 10 * qtest.SLOW, 0.05),
         "idle workers are retired after the freeze", "threads: %d" % tasks())
    held_freeze(d, s, FREEZES + 1)   # and come back when needed
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
