#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault matrix: the thaw guardian (quiesce-guardian) killed, terminated or stopped in
each phase, and quiesced and its guardian both killed.

- guardian SIGKILL in IDLE, FREEZING (m0's FIFREEZE stuck behind a stalled write),
  FROZEN, THAWING (an app slow to thaw; needs the app registry): quiesced thaws what
  is frozen at once (writes are no longer protected), starts a new guardian, and the
  transport that froze hears that writes were not held;
- guardian SIGTERM in FROZEN: it thaws and exits; quiesced notices the same way;
- guardian SIGSTOP: quiesced's own lease still thaws; and if quiesced is killed
  meanwhile, the stopped guardian thaws only once it runs again (documented limit);
- both killed in FROZEN: the next quiesced thaws what the run-dir record names;
- both killed in FREEZING with a FIFREEZE stuck: the dead quiesced lingers until the
  FIFREEZE returns, a new one refuses to start meanwhile (its control socket is still
  answered), then starts and thaws from the record.

After every case: tests/lib/faultcheck.py's checks (also: no zombie guardian left).
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402
import stallwrite  # noqa: E402

SLOW = qtest.SLOW
TIMEOUT, FS_TIMEOUT, LEASE = 1, 1, 2
# A freeze held in FREEZING on purpose must outlive the checks made while it is held
# (several status calls, a guardian restart: seconds under valgrind), not time out first.
HOLD = int(10 * SLOW)
t, s, chk = fc.start(timeout=TIMEOUT, fs_timeout=FS_TIMEOUT, lease=LEASE)
M0, M1 = s.mounts
daemon = chk.daemon


def new_guardian(d, old):
    """The guardian quiesced started after old died (0 if none within the bound)."""
    def new():
        g = chk.guardian_of(d)
        return g if g and g != old else 0
    return qtest.wait_for(new, 5 * SLOW, 0.05) or 0


def traced(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in f)
    except OSError:
        return False


def thaw_class(d):
    r = d.call("quiesce-thaw")
    return r.get("error", {}).get("class") or "ok", r


# ---------------------------------------------------------------- guardian SIGKILL


def kill_idle():
    """Killed five times over: each time a new one, and every dead one reaped (quiesced
    may see the socket close before the kernel has made the guardian a zombie)."""
    d = daemon()
    first = g = chk.guardian_of(d)
    killed = []
    for _ in range(5):
        os.kill(g, signal.SIGKILL)
        killed.append(g)
        g = new_guardian(d, g)
        if not g:
            break
    t.ok(g and fc.alive(g), "  a new guardian is started after each death (pid %s)" % g)
    t.ok(qtest.wait_for(lambda: "the thaw guardian (pid %d) " % first in d.log_text(), 5 * SLOW),
         "  quiesced logs the death")
    zombies = qtest.wait_for(lambda: not [k for k in killed if fc.proc_stat(k)], 5 * SLOW, 0.05)
    t.ok(zombies, "  every dead guardian is reaped (no zombie)", repr(fc.children(d.proc.pid)))
    r = d.call("quiesce-freeze")
    t.ok("return" in r and r["return"]["count"] == 2, "  a freeze works with the new guardian", repr(r))
    t.eq(thaw_class(d)[0], "ok", "  and its thaw (nothing was lost: nothing was frozen)")
    chk.after("guardian SIGKILL in IDLE", d, gone=killed)
    chk.stop_clean(d, "guardian SIGKILL in IDLE")


def kill_freezing():
    """The guardian dies while m0's FIFREEZE is stuck: the freeze is cancelled; once the
    FIFREEZE returns everything is thawed and the freeze answered Aborted."""
    d = daemon("--fs-timeout", str(HOLD), timeout=HOLD)
    g = chk.guardian_of(d)
    stall = stallwrite.StalledWrite(os.path.join(M0, "stall.dat"))
    bg = fc.BgCall(d.control, "quiesce-freeze")
    t.ok(fc.wait_fs(d, {M0: "freezing", M1: "frozen"}, 5) and fc.wait_in_fifreeze(d.proc.pid), "  held in FREEZING")
    os.kill(g, signal.SIGKILL)
    # (Its log lines are held in memory while anything is frozen: ask, do not read.)
    t.ok(new_guardian(d, g), "  quiesced notices the guardian's death during the freeze: a new one runs")
    t.eq(fc.status(d)["state"], "freezing", "  the freeze waits for its stuck FIFREEZE")
    stall.release()
    ans = bg.result()
    bg.close()
    t.ok(ans and ans.get("error", {}).get("class") == "Aborted",
         "  the freeze is answered Aborted: it was not protected", repr(ans))
    chk.after("guardian SIGKILL in FREEZING", d, gone=[g, stall.proc.pid])
    r = d.call("quiesce-freeze")
    t.ok("return" in r, "  a freeze works afterwards", repr(r))
    thaw_class(d)
    chk.after("guardian SIGKILL in FREEZING, next cycle", d)
    chk.stop_clean(d, "guardian SIGKILL in FREEZING")


def kill_frozen():
    d = daemon(lease=30)
    g = chk.guardian_of(d)
    t.eq(d.ctl("freeze").returncode, 0, "  frozen")
    w = qtest.Writer(M0)
    os.kill(g, signal.SIGKILL)
    t.ok(qtest.wait_for(lambda: not fc.frozen_mounts(s), 3 * SLOW, 0.02) or fc.wait_idle(d, 1) and not fc.frozen_mounts(s),
         "  quiesced thaws at once")
    t.ok(w.done_within(5 * SLOW), "  the blocked writer goes through")
    r = d.ctl("thaw")
    t.ok(r.returncode == 5 and "guardian died" in r.stderr,
         "  the next thaw says the guardian died: writes were not held (exit 5)", r.stderr)
    chk.after("guardian SIGKILL in FROZEN", d, gone=[g, w.proc.pid])
    chk.stop_clean(d, "guardian SIGKILL in FROZEN")


# ---------------------------------------------------------------- guardian SIGTERM, SIGSTOP


def term_frozen():
    d = daemon(lease=30)
    g = chk.guardian_of(d)
    t.eq(d.ctl("freeze").returncode, 0, "  frozen")
    os.kill(g, signal.SIGTERM)
    t.ok(qtest.wait_for(lambda: "quiesce-guardian: terminated: thawed 2 filesystems" in d.log_text(),
                        5 * SLOW), "  the guardian thaws what it holds and exits", d.log_text()[-1500:])
    t.ok(fc.wait_idle(d, 5) is not None, "  quiesced goes idle")
    r = d.ctl("thaw")
    t.ok(r.returncode == 5 and "guardian died" in r.stderr,
         "  the next thaw says writes were not held (exit 5)", r.stderr)
    t.ok(new_guardian(d, g), "  a new guardian runs")
    chk.after("guardian SIGTERM in FROZEN", d, gone=[g])
    chk.stop_clean(d, "guardian SIGTERM in FROZEN")


def stop_frozen():
    """A stopped guardian changes nothing while quiesced runs: its lease thaws."""
    d = daemon()
    g = chk.guardian_of(d)
    os.kill(g, signal.SIGSTOP)
    try:
        t.eq(d.ctl("freeze").returncode, 0, "  a freeze works with the guardian stopped (arming is queued)")
        t.ok(qtest.wait_for(lambda: fc.status(d)["state"] == "idle", (LEASE + 3) * SLOW, 0.1),
             "  quiesced's own lease thaws")
    finally:
        os.kill(g, signal.SIGCONT)
    t.eq(d.ctl("thaw").returncode, 5, "  the thaw after it reports the lease (exit 5)")
    t.eq(chk.guardian_of(d), g, "  the same guardian goes on")
    r = d.call("quiesce-freeze")
    t.ok("return" in r, "  a freeze after it resumed works", repr(r))
    t.eq(thaw_class(d)[0], "ok", "  and its thaw")
    chk.after("guardian SIGSTOP in FROZEN", d)
    chk.stop_clean(d, "guardian SIGSTOP in FROZEN")


def stop_guardian_kill_daemon():
    """Guardian stopped, quiesced killed while frozen. The guardian leads its own process
    group; with quiesced gone that group is orphaned and, as it has a stopped member,
    the kernel sends it SIGHUP and SIGCONT: the guardian thaws at once. (Were its
    parent a subreaper in the same session, the group would not be orphaned and the
    thaw would wait until the guardian runs again.)"""
    d = daemon(lease=30)
    g = chk.guardian_of(d)
    t.eq(d.ctl("freeze").returncode, 0, "  frozen")
    pos = len(d.log_text())
    os.kill(g, signal.SIGSTOP)
    try:
        d.kill()
        thawed = qtest.wait_for(lambda: not fc.frozen_mounts(s), 3 * SLOW, 0.05)
        t.diag("  thawed while we held the guardian stopped: %s" % bool(thawed))
    finally:
        os.kill(g, signal.SIGCONT)
    t.ok(qtest.wait_for(lambda: not fc.frozen_mounts(s), 3 * SLOW, 0.02),
         "  quiesced killed while its guardian was stopped: the guardian thaws once it runs")
    t.ok(qtest.wait_for(lambda: re.search(r"quiesce-guardian: (quiesced is gone|terminated): "
                                          r"thawed 2 filesystems", d.log_text()[pos:]), 3 * SLOW),
         "  the guardian says so", d.log_text()[pos:])
    if qtest.SANITIZE and not qtest.wait_for(lambda: not fc.alive(g), 5 * SLOW) and traced(g):
        # LeakSanitizer's exit-time check in the ASan-built guardian can spin for good in
        # a process that was stopped and continued (its tracer never sees the threads
        # stop). The guardian had thawed and said so: a sanitizer artifact, not ours.
        t.diag("  the guardian (pid %d) hangs in LeakSanitizer's exit check; killing it" % g)
        fc.kill_quietly(g)
    d2 = daemon()
    chk.after("guardian SIGSTOP, quiesced SIGKILL in FROZEN", d2, gone=[g, d.proc.pid])
    chk.stop_clean(d2, "guardian SIGSTOP, quiesced SIGKILL in FROZEN")


def term_then_kill_daemon():
    """Issue 13, hole 9: the guardian terminated and quiesced killed 0.5 ms later left
    the filesystems thawed (by the guardian) and the run-dir record behind, so the
    next start thawed those mounts again. Made deterministic: quiesced is stopped
    before the guardian's SIGTERM, so only the guardian can remove the record."""
    d = daemon(lease=30)
    g = chk.guardian_of(d)
    t.eq(d.ctl("freeze").returncode, 0, "  frozen")
    rec = os.path.join(d.run_dir, "frozen.list")
    t.ok(os.path.exists(rec), "  the freeze is recorded in the run dir")
    os.kill(d.proc.pid, signal.SIGSTOP)
    os.kill(g, signal.SIGTERM)
    t.ok(qtest.wait_for(lambda: "quiesce-guardian: terminated: thawed 2 filesystems" in d.log_text(),
                        5 * SLOW), "  the guardian thaws what it holds", d.log_text()[-1000:])
    d.kill()
    t.eq(fc.frozen_mounts(s), [], "  quiesced killed while stopped: nothing is frozen")
    t.ok(not os.path.exists(rec), "  and no record says otherwise (the guardian removed it)")
    pos = len(d.log_text())
    d2 = daemon()
    t.ok("left frozen by a quiesced that died" not in d2.log_text()[pos:],
         "  the next quiesced thaws nothing", d2.log_text()[pos:][-1000:])
    chk.after("guardian SIGTERM, then quiesced SIGKILL", d2, gone=[g, d.proc.pid])
    chk.stop_clean(d2, "guardian SIGTERM, then quiesced SIGKILL")


# ---------------------------------------------------------------- both killed


def kill_both(d, g):
    """quiesced and its guardian killed so that neither can thaw (see core_guardian)."""
    os.kill(d.proc.pid, signal.SIGSTOP)
    os.kill(g, signal.SIGKILL)
    qtest.wait_for(lambda: not fc.alive(g), 3)
    os.kill(d.proc.pid, signal.SIGKILL)


def both_frozen():
    d = daemon(lease=30)
    g = chk.guardian_of(d)
    t.eq(d.ctl("freeze").returncode, 0, "  frozen")
    kill_both(d, g)
    d.kill()
    time.sleep(0.2)
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  both dead: still frozen")
    pos = len(d.log_text())
    d2 = daemon()
    t.ok("left frozen by a quiesced that died" in d2.log_text()[pos:],
         "  the next quiesced thaws what the record names, before it answers")
    chk.after("quiesced and guardian SIGKILL in FROZEN", d2, gone=[g, d.proc.pid])
    chk.stop_clean(d2, "quiesced and guardian SIGKILL in FROZEN")


def both_freezing():
    """Both killed while m0's FIFREEZE is stuck. The dead quiesced lingers until the
    FIFREEZE returns (m0 then frozen too); a new quiesced refuses to start meanwhile,
    because the old control socket still accepts; afterwards it thaws both."""
    d = daemon("--fs-timeout", str(HOLD), timeout=HOLD, lease=30)
    g = chk.guardian_of(d)
    stall = stallwrite.StalledWrite(os.path.join(M0, "stall.dat"))
    bg = fc.BgCall(d.control, "quiesce-freeze")
    t.ok(fc.wait_fs(d, {M0: "freezing", M1: "frozen"}, 5) and fc.wait_in_fifreeze(d.proc.pid), "  held in FREEZING")
    kill_both(d, g)
    time.sleep(0.3)
    t.ok(fc.proc_stat(d.proc.pid) is not None, "  the killed quiesced lingers (a thread in FIFREEZE)")
    r = subprocess.run([qtest.bin_path("quiesced"), "-n", "--scope", s.mnt, "--run-dir", d.run_dir],
                       capture_output=True, text=True, timeout=30 * SLOW)
    t.ok(r.returncode != 0 and "another quiesced is already running" in r.stderr,
         "  a new quiesced refuses to start while the old one lingers", r.stderr)
    stall.release()
    d.kill()
    bg.close()
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  the FIFREEZE returned: both frozen, nobody to thaw")
    pos = len(d.log_text())
    d2 = daemon()
    t.ok(d2.log_text()[pos:].count("left frozen by a quiesced that died") == 2,
         "  the next quiesced thaws both from the record", d2.log_text()[pos:])
    chk.after("quiesced and guardian SIGKILL in FREEZING", d2, gone=[g, d.proc.pid, stall.proc.pid])
    chk.stop_clean(d2, "quiesced and guardian SIGKILL in FREEZING")


def kill_with_app(phase):
    """The guardian killed while an app holds CHECKING or THAWING (the filesystems are
    thawed already then): nothing to thaw; the transaction completes as if nothing had
    happened, and a new guardian runs."""
    import apptest

    def run():
        d = daemon()
        g = chk.guardian_of(d)
        app = apptest.Sim(d, "slow", "-S", "700")
        if phase == "THAWING":
            t.eq(d.call("quiesce-freeze").get("return", {}).get("count"), 2, "  frozen")
        bg = fc.BgCall(d.control, "quiesce-check" if phase == "CHECKING" else "quiesce-thaw")
        t.ok(fc.wait_state(d, phase.lower(), 5), "  held in %s by the app" % phase)
        os.kill(g, signal.SIGKILL)
        ans = bg.result()
        bg.close()
        t.ok(ans and "return" in ans, "  the %s completes normally" % phase.lower(), repr(ans)[:300])
        t.ok(new_guardian(d, g), "  a new guardian runs")
        if phase == "THAWING":
            t.eq(thaw_class(d)[0], "ok", "  no 'writes were not held' afterwards (they were)")
        app.stop()
        chk.after("guardian SIGKILL in " + phase, d, gone=[g, app.pid])
        chk.stop_clean(d, "guardian SIGKILL in " + phase)
    return run


CASES = [
    ("guardian SIGKILL in IDLE", kill_idle, False),
    ("guardian SIGKILL in CHECKING (held by an app)", kill_with_app("CHECKING"), True),
    ("guardian SIGKILL in FREEZING (stuck FIFREEZE)", kill_freezing, False),
    ("guardian SIGKILL in FROZEN", kill_frozen, False),
    ("guardian SIGKILL in THAWING (held by an app)", kill_with_app("THAWING"), True),
    ("guardian SIGTERM in FROZEN", term_frozen, False),
    ("guardian SIGSTOP in FROZEN (quiesced's lease thaws)", stop_frozen, False),
    ("guardian SIGSTOP, quiesced SIGKILL in FROZEN", stop_guardian_kill_daemon, False),
    ("guardian SIGTERM, then quiesced SIGKILL in FROZEN", term_then_kill_daemon, False),
    ("quiesced and guardian SIGKILL in FROZEN", both_frozen, False),
    ("quiesced and guardian SIGKILL in FREEZING (stuck FIFREEZE)", both_freezing, False),
]

fc.run_all(t, s, CASES)
