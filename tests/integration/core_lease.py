#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The lease: when it passes, quiesced thaws on its own and the next THAW reports it."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()

s = qtest.Scratch(n=2)
d = qtest.Daemon(s, lease=0.6 * qtest.SLOW)
try:
    r = d.ctl("freeze")
    t.eq(r.returncode, 0, "freeze")
    w = qtest.Writer(s.mounts[0])
    t.ok(not w.done_within(0.2), "a writer blocks while frozen")
    t.ok(qtest.wait_for(lambda: not s.frozen(), 5 * qtest.SLOW), "the lease thaws on its own")
    t.ok(w.done_within(5), "the writer finishes after the automatic thaw")
    st = d.call("quiesce-status")["return"]
    t.ok(st["state"] == "idle" and st["lease_expired"] is True, "status: idle, lease expired", json.dumps(st))
    r = d.ctl("status")
    t.ok("lease and was thawed" in r.stdout, "quiescectl status warns about it", r.stdout)

    r = d.ctl("thaw")
    t.eq(r.returncode, 5, "the next thaw exits 5 (lease expired)")
    t.ok("lease" in r.stderr and "expired" in r.stderr and "writes were not held" in r.stderr,
         "and says the lease expired and writes were not held", r.stderr)
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "the thaw after that is a plain no-op")
    t.eq(d.call("quiesce-status")["return"]["lease_expired"], False, "status: the expiry has been reported")

    # A per-request lease overrides the daemon's, and a new freeze clears an old expiry.
    d.ctl("freeze", "--lease", "0.3")
    t.ok(qtest.wait_for(lambda: not s.frozen(), 5 * qtest.SLOW), "freeze --lease 0.3 thaws on its own")
    r = d.ctl("freeze", "--lease", "30")
    t.eq(r.returncode, 0, "a new freeze after an expired lease")
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "its thaw succeeds: the old expiry was cleared by the new freeze")
    r = d.ctl("freeze", "--lease", "0")
    t.eq(r.returncode, 2, "--lease 0 is a usage error")
    r = d.ctl("freeze", "--lease", "soon")
    t.ok(r.returncode == 2 and "expected seconds" in r.stderr, "--lease with garbage is a usage error", r.stderr)
finally:
    qtest.stop_clean(t, d)

# The news of an expired lease belongs to the transport whose freeze it was.
qga_sock = os.path.join(s.dir, "qga.sock")
d = qtest.Daemon(s, "--qga", qga_sock, lease=0.5 * qtest.SLOW)
try:
    g = qtest.Client(qga_sock)
    ans = g.call("guest-fsfreeze-freeze")
    t.eq(ans.get("return"), 2, "a freeze through the guest agent channel")
    t.ok(qtest.wait_for(lambda: not s.frozen(), 5 * qtest.SLOW), "its lease thaws on its own")
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "quiescectl's thaw is not told of the agent's expired lease")
    ans = g.call("guest-fsfreeze-thaw")
    t.ok("error" in ans and "lease" in ans["error"].get("desc", ""), "the agent's thaw is", repr(ans))
    g.close()
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
