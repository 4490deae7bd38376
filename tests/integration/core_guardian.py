#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The thaw guardian and restarts: nothing stays frozen when quiesced dies (SIGKILL),
hangs (SIGSTOP past the deadline), or loses its guardian, or when both die; SIGTERM
while frozen thaws first."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()


def guardian_pid(d):
    return d.call("quiesce-status")["return"]["guardian_pid"]


def alive(pid):
    """Running (a zombie whose parent has not reaped it yet counts as dead)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


s = qtest.Scratch(n=2)
try:
    # 1. quiesced killed while frozen: the guardian thaws within a second.
    d = qtest.Daemon(s)
    g = guardian_pid(d)
    t.ok(g > 0 and alive(g), "a guardian runs beside quiesced (pid %s)" % g)
    t.eq(d.ctl("freeze").returncode, 0, "freeze")
    w = qtest.Writer(s.mounts[0])
    t.ok(not w.done_within(0.3), "a writer blocks while frozen")
    d.kill()
    t0 = time.monotonic()
    thawed = qtest.wait_for(lambda: not s.frozen(), 3 * qtest.SLOW, 0.01)
    took = time.monotonic() - t0
    t.ok(thawed, "quiesced SIGKILLed while frozen: everything is thawed")
    t.ok(took < 1.0 * qtest.SLOW, "within a second (%.3f s)" % took)
    t.ok(w.done_within(5), "the writer finishes")
    t.ok(qtest.wait_for(lambda: not alive(g), 3), "the guardian exits after thawing")
    t.ok("quiesced is gone: thawed 2 filesystems" in d.log_text(), "it says so in the log", d.log_text()[-1500:])

    # 2. The guardian killed while frozen: quiesced thaws at once, starts a new one,
    #    and the next thaw reports that writes were not held.
    d = qtest.Daemon(s)
    g = guardian_pid(d)
    t.eq(d.ctl("freeze").returncode, 0, "freeze")
    os.kill(g, signal.SIGKILL)
    t.ok(qtest.wait_for(lambda: not s.frozen(), 3 * qtest.SLOW), "guardian SIGKILLed: quiesced thaws")
    g2 = qtest.wait_for(lambda: guardian_pid(d) not in (0, g) and guardian_pid(d), 5 * qtest.SLOW)
    t.ok(g2 and alive(g2), "a new guardian is started (pid %s)" % g2)
    r = d.ctl("thaw")
    t.ok(r.returncode == 5 and "guardian died" in r.stderr, "the next thaw says the guardian died and writes were not held", r.stderr)
    t.eq(d.ctl("freeze").returncode, 0, "freezing works again with the new guardian")
    t.eq(d.ctl("thaw").returncode, 0, "thaw")
    qtest.stop_clean(t, d)

    # 3. quiesced hangs (SIGSTOP) while frozen: the guardian's deadline (lease + 2 s) thaws.
    d = qtest.Daemon(s, lease=1)
    t.eq(d.ctl("freeze").returncode, 0, "freeze with a 1 s lease")
    os.kill(d.proc.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        thawed = qtest.wait_for(lambda: not s.frozen(), 10 * qtest.SLOW, 0.05)
        took = time.monotonic() - t0
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    t.ok(thawed, "quiesced stopped while frozen: the guardian thaws at its deadline")
    t.ok(2.0 <= took + 0.1, "... not before the lease and its margin (%.2f s)" % took)
    # Resumed, it first learns that its lease passed (and unwinds): wait until it has.
    qtest.wait_for(lambda: d.state() == "idle", 5 * qtest.SLOW, 0.05)
    r = d.ctl("thaw")
    t.eq(r.returncode, 5, "after it resumes, the thaw reports that writes were not held")
    t.eq(d.state(), "idle", "quiesced goes on")
    qtest.stop_clean(t, d)

    # 4. quiesced and its guardian both killed: the next quiesced thaws what the record names.
    d = qtest.Daemon(s)
    g = guardian_pid(d)
    t.eq(d.ctl("freeze").returncode, 0, "freeze")
    record = os.path.join(d.run_dir, "frozen.list")
    t.ok(os.path.exists(record), "the freeze is recorded in the run dir")
    # Neither may get to thaw: stop quiesced so it cannot react to the guardian's
    # death, kill the guardian, then quiesced. (Stopping the guardian instead does not
    # work: when quiesced dies, its orphaned process group gets SIGHUP and SIGCONT,
    # and the guardian thaws on SIGHUP.)
    os.kill(d.proc.pid, signal.SIGSTOP)
    os.kill(g, signal.SIGKILL)
    t.ok(qtest.wait_for(lambda: not alive(g), 3), "the guardian is dead")
    d.kill()
    time.sleep(0.2)
    t.eq(sorted(s.frozen()), sorted(s.mounts), "both dead: still frozen")
    d = qtest.Daemon(s)
    t.eq(s.frozen(), [], "a new quiesced thaws them at start")
    t.ok("left frozen by a quiesced that died" in d.log_text(), "and says so")
    t.ok(not os.path.exists(record), "the record is gone")

    # 5. SIGTERM while frozen: thaw first, then exit 0.
    t.eq(d.ctl("freeze").returncode, 0, "freeze")
    rc = d.stop(signal.SIGTERM)
    t.eq(rc, 0, "SIGTERM while frozen: exit 0")
    t.eq(s.frozen(), [], "... after thawing")
    t.ok("shutting down: thawing first" in d.log_text(), "it thawed before exiting")

    # 6. Without a guardian program quiesced does not start; --no-guardian runs, warning.
    r = subprocess.run([qtest.bin_path("quiesced"), "-n", "--scope", s.mnt, "--run-dir",
                        os.path.join(s.dir, "run2"), "--guardian", "/nonexistent/guardian"],
                       capture_output=True, text=True, timeout=10)
    t.ok(r.returncode != 0 and "cannot start the thaw guardian" in r.stderr, "a missing guardian stops startup", r.stderr)
    d = qtest.Daemon(s, "--no-guardian")
    t.ok(qtest.wait_for(lambda: "running without a thaw guardian" in d.log_text(), 5 * qtest.SLOW),
         "--no-guardian warns")
    t.eq(guardian_pid(d), 0, "and runs none")
    t.eq(d.ctl("freeze").returncode, 0, "freezing still works")
    t.eq(d.ctl("thaw").returncode, 0, "thaw")
    qtest.stop_clean(t, d)
finally:
    s.cleanup()
t.exit()
