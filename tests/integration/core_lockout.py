#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Other users cannot lock root out of the control socket (issue 13, item 3).

Ten users hold eight idle connections each, more than the socket's 64 slots. Root must
still freeze, read status and thaw (16 slots are root's alone), the users get at most
the 48 others' slots, and quiesced closes their idle connections after 10 s."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import hogs  # noqa: E402
import qtest  # noqa: E402

t = qtest.start()
UIDS = range(60001, 60011)
IDLE_S = 10

s = qtest.Scratch(n=1)
os.chmod(s.dir, 0o755)   # let the unprivileged clients reach the socket
d = qtest.Daemon(s)
held = []
try:
    held = [hogs.Hog(d.control, uid, 8) for uid in UIDS]
    kept = sum(h.kept for h in held)
    t.ok(40 <= kept <= 48, "other users hold at most the 48 slots not kept for root (%d)" % kept,
         "\n".join(str(h.first) for h in held))
    t.ok(any("too many clients" in x for h in held for x in h.refused),
         "the connections beyond them are refused as too many")

    r = d.ctl("freeze")
    t.eq(r.returncode, 0, "root freezes with every other slot held by idle users")
    t.eq(s.frozen(), s.mounts, "frozen")
    r = d.ctl("status")
    t.ok(r.returncode == 0 and "frozen" in r.stdout, "root reads status", r.stdout + r.stderr)
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "root thaws")
    t.eq(s.frozen(), [], "thawed")

    # Root may use its own slots all at once, too, and more: another user's idle
    # connection makes way.
    roots = hogs.Hog(d.control, 0, 16)
    t.eq(roots.kept, 16, "root holds 16 connections beside the others' 48")
    r = d.ctl("status")
    t.eq(r.returncode, 0, "with all 64 slots taken, root still gets in")
    t.ok("to make room for root" in d.log_text(), "  another user's idle connection made way")
    roots.close()

    t.ok(qtest.wait_for(lambda: all(h.check() == 0 for h in held), (IDLE_S + 10) * qtest.SLOW, 0.5),
         "idle connections of other users are closed after %d s" % IDLE_S,
         "still open: %s" % [h.check() for h in held])
    r = d.ctl("status", user=65534)
    t.eq(r.returncode, 0, "then other users get in again")
    t.ok("closing idle client" in d.log_text(), "the log says why they were closed")
finally:
    for h in held:
        h.close()
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
