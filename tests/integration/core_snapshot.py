#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiescectl snapshot: the command runs only while frozen, the thaw always happens,
the exit status is the command's, and the freeze never outlives its client."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()

HERE = os.path.dirname(os.path.abspath(__file__))
# The command checks for itself that every scratch mount is frozen while it runs.
CHECKER = ("import sys; sys.path.insert(0, %r); import qtest; "
           "mps = [m for m in sys.argv[1:]]; "
           "print('frozen' if all(qtest.is_frozen(m) for m in mps) else 'NOT frozen')"
           % os.path.join(HERE, "..", "lib"))

s = qtest.Scratch(n=2)
d = qtest.Daemon(s)
try:
    r = d.ctl("snapshot", "--", sys.executable, "-c", CHECKER, *s.mounts)
    t.eq(r.returncode, 0, "snapshot exits 0 when the command does")
    t.eq(r.stdout.strip(), "frozen", "the command ran while both filesystems were frozen")
    t.ok("freeze: ok" in r.stderr and "thaw: ok" in r.stderr, "it reports the freeze and the thaw on stderr", r.stderr)
    t.eq(s.frozen(), [], "thawed afterwards")

    r = d.ctl("snapshot", "--", "sh", "-c", 'printf "%s" "$QUIESCE_MOUNTPOINTS"')
    t.eq(sorted(r.stdout.split("\n")), sorted(s.mounts), "the command gets the frozen mountpoints in QUIESCE_MOUNTPOINTS")

    r = d.ctl("snapshot", "--", "sh", "-c", "exit 7")
    t.eq(r.returncode, 7, "snapshot exits with the command's status")
    t.eq(s.frozen(), [], "and thaws although the command failed")

    r = d.ctl("snapshot", "--", "/nonexistent/backup-tool")
    t.eq(r.returncode, 127, "a command that does not exist: 127")
    t.eq(s.frozen(), [], "thawed")

    marker = os.path.join(s.dir, "ran")
    qtest.freeze_path(s.mounts[1])
    r = d.ctl("snapshot", "--", "touch", marker)
    qtest.thaw_path(s.mounts[1])
    t.eq(r.returncode, 125, "the freeze fails: 125")
    t.ok(not os.path.exists(marker), "and the command did not run")
    t.ok("freeze failed" in r.stderr and "not run" in r.stderr, "it says so", r.stderr)

    # The client dies while its command runs: quiesced thaws at once, not at the lease.
    p = subprocess.Popen([qtest.bin_path("quiescectl"), "--socket", d.control, "snapshot", "--",
                          "sleep", "60"], start_new_session=True, stderr=subprocess.DEVNULL)
    # Ask the daemon first: probing with FIFREEZE while it is still freezing would race
    # it for the filesystems (see qtest.is_frozen).
    t.ok(qtest.wait_for(lambda: d.state() == "frozen", 10 * qtest.SLOW) and
         sorted(s.frozen()) == sorted(s.mounts), "frozen while the command runs")
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    t0 = time.monotonic()
    t.ok(qtest.wait_for(lambda: not s.frozen(), 5 * qtest.SLOW), "killing quiescectl thaws at once")
    t.ok(time.monotonic() - t0 < 5 * qtest.SLOW, "well before the 60 s lease")

    r = d.ctl("snapshot", "--lease", "0.3", "--", "sleep", "1.5")
    t.eq(r.returncode, 124, "the lease expires during the command: 124 although it succeeded")
    t.ok("may not be consistent" in r.stderr, "with a warning", r.stderr)

    r = d.ctl("snapshot")
    t.eq(r.returncode, 2, "no command: usage error")
    t.eq(d.state(), "idle", "idle at the end")
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
