#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault matrix: quiesced itself killed (SIGKILL), hung (SIGSTOP) or stopped (SIGTERM) in
each phase of a transaction: CHECKING, FREEZING, FROZEN, THAWING.

How each phase is held long enough to hit it:
  CHECKING  an app that is slow to answer CHECK (appvss-sim -S)
  FREEZING  a write stuck in m0 (tests/lib/stallwrite.py): m0's FIFREEZE waits for it
  FROZEN    a plain freeze
  THAWING   an app that is slow to answer THAW (appvss-sim -t 1: answers after the deadline)
The app cases need the app registry (--app-socket); without it they are skipped.

After every case (tests/lib/faultcheck.py): nothing frozen, no freeze record, the daemon
(the same one, or a new one where it died) answers idle, its fds back to the baseline,
no stray process; and every quiesced that exits must exit cleanly (0; sanitizers and
valgrind report through that status).
"""
import os
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
t, s, chk = fc.start(timeout=TIMEOUT, fs_timeout=FS_TIMEOUT, lease=LEASE)
M0, M1 = s.mounts
daemon = chk.daemon


def guardian_said(d, text):
    return qtest.wait_for(lambda: text in d.log_text(), 5 * SLOW, 0.05)


class Held:
    """A daemon held in a phase, and what holds it."""

    def __init__(self, d):
        self.d = d
        self.stall = None
        self.app = None
        self.bg = None       # the transaction's client call
        self.gone = []       # pids that must be gone afterwards

    def release(self):
        if self.stall:
            self.stall.release()
            self.gone.append(self.stall.proc.pid)
            self.stall = None

    def cleanup(self):
        self.release()
        if self.app:
            self.app.stop()
            self.gone.append(self.app.pid)
            self.app = None


def enter_freezing(d):
    """FREEZING: m1 frozen, m0's FIFREEZE stuck behind a stalled write."""
    h = Held(d)
    h.stall = stallwrite.StalledWrite(os.path.join(M0, "stall.dat"))
    h.bg = fc.BgCall(d.control, "quiesce-freeze")
    ok = fc.wait_fs(d, {M0: "freezing", M1: "frozen"}, 5) and fc.wait_in_fifreeze(d.proc.pid)
    t.ok(ok, "  held in FREEZING: m1 frozen, m0's FIFREEZE stuck", repr(fc.status(d)))
    return h


def enter_frozen(d):
    h = Held(d)
    r = d.call("quiesce-freeze")
    t.ok("return" in r and r["return"]["count"] == 2, "  FROZEN: both frozen", repr(r))
    return h


# ---------------------------------------------------------------- SIGKILL


def kill_freezing():
    """The killed quiesced cannot finish dying while a thread of it is in FIFREEZE; once
    the FIFREEZE returns it does, its guardian's socket closes and the guardian thaws
    both (m0 froze just before)."""
    d = daemon()
    g = chk.guardian_of(d)
    h = enter_freezing(d)
    os.kill(d.proc.pid, signal.SIGKILL)
    time.sleep(0.3 * SLOW)
    t.ok(fc.proc_stat(d.proc.pid) is not None,
         "  while its FIFREEZE is stuck in the kernel, the killed quiesced lingers (documented limit)")
    t.ok(M1 in fc.frozen_mounts_of(s, [M1]),
         "  ... and m1 stays frozen meanwhile (its guardian's socket is still open)")
    h.release()
    d.kill()
    t.ok(qtest.wait_for(lambda: not fc.frozen_mounts(s), 3 * SLOW, 0.02),
         "  once the FIFREEZE returns, quiesced is gone and everything is thawed")
    t.ok(guardian_said(d, "quiesced is gone: thawed 2 filesystems"),
         "  by the guardian (m0 froze just before; both thawed)", d.log_text()[-1500:])
    t.eq(h.bg.result(), None, "  the client's connection ends without an answer")
    d2 = daemon()
    chk.after("SIGKILL in FREEZING", d2, gone=[d.proc.pid, g] + h.gone)
    chk.stop_clean(d2, "SIGKILL in FREEZING")


def kill_frozen():
    d = daemon()
    g = chk.guardian_of(d)
    enter_frozen(d)
    w = qtest.Writer(M0)
    d.kill()
    t0 = time.monotonic()
    t.ok(qtest.wait_for(lambda: not fc.frozen_mounts(s), 3 * SLOW, 0.01),
         "  the guardian thaws at once (%.2f s)" % (time.monotonic() - t0))
    t.ok(w.done_within(5 * SLOW), "  the blocked writer goes through")
    t.ok(guardian_said(d, "quiesced is gone: thawed 2 filesystems"), "  the guardian says so")
    t.ok(qtest.wait_for(lambda: not os.path.exists(os.path.join(d.run_dir, "frozen.list")), 3 * SLOW),
         "  and removes the run-dir record: nothing of the freeze is frozen (issue 13, hole 9)")
    d2 = daemon()
    chk.after("SIGKILL in FROZEN", d2, gone=[d.proc.pid, g, w.proc.pid])
    chk.stop_clean(d2, "SIGKILL in FROZEN")


def crash_frozen(sig):
    """Killed by a signal that dumps core, with cores on and the working directory on a
    frozen mount (as `/` is in production): the dying quiesced must not block writing
    its core there, or the guardian only sees it die at its deadline (lease + 2 s)."""
    def run():
        import resource

        def cores_on():
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        lease = 60
        d = daemon(lease=lease, cwd=M0, preexec_fn=cores_on)
        g = chk.guardian_of(d)
        enter_frozen(d)
        os.kill(d.proc.pid, sig)
        t0 = time.monotonic()
        thawed = qtest.wait_for(lambda: not fc.frozen_mounts(s), 5 * SLOW, 0.01)
        took = time.monotonic() - t0
        t.ok(thawed, "  the guardian thaws at once (%.2f s), not at its deadline (lease %d s + 2 s)"
             % (took, lease))
        if not thawed:
            qtest.wait_for(lambda: not fc.frozen_mounts(s), lease + 5, 0.1)
        d.kill()
        t.ok(d.returncode in (-sig, 1, 99), "  it died of the signal (%s)" % d.returncode)
        cores = [f for f in os.listdir(M0) if f.startswith("core") or f.startswith("vgcore")]
        t.eq(cores, [], "  no core written on the frozen mount")
        for f in cores:
            os.unlink(os.path.join(M0, f))
        d2 = daemon()
        chk.after("%s in FROZEN" % signal.Signals(sig).name, d2, gone=[d.proc.pid, g])
        chk.stop_clean(d2, "%s in FROZEN" % signal.Signals(sig).name)
    return run


# ---------------------------------------------------------------- SIGSTOP


def stop_freezing_guardian():
    """Stopped for good in FREEZING: the guardian's deadline for the state (4 * timeout
    + 2 * fs-timeout + 10 s, src/daemon/main.c) thaws, also the FIFREEZE that completed
    while quiesced was stopped. Resumed, quiesced never reports a consistent freeze."""
    d = daemon()
    h = enter_freezing(d)
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        h.release()  # m0's FIFREEZE completes inside the stopped process
        deadline = 4 * TIMEOUT + 2 * FS_TIMEOUT + 10
        t0 = time.monotonic()
        thawed = qtest.wait_for(lambda: not fc.frozen_mounts(s), (deadline + 5) * SLOW, 0.1)
        took = time.monotonic() - t0
        t.ok(thawed, "  the guardian thaws at its FREEZING deadline (%.1f s)" % took)
        t.ok(took >= deadline - 2, "  ... not before it (%.1f s of %d s)" % (took, deadline))
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    ans = h.bg.result()
    h.bg.close()
    if ans and "return" in ans:
        r = d.call("quiesce-thaw")
        t.eq(r.get("error", {}).get("class"), "LeaseExpired",
             "  resumed: its freeze answered success, so the thaw says writes were not held")
    else:
        t.ok(ans and "error" in ans, "  resumed: its freeze answers an error", repr(ans))
        r = d.call("quiesce-thaw")
        t.ok("return" in r or r.get("error", {}).get("class") == "LeaseExpired",
             "  and a thaw afterwards works", repr(r))
    t.ok(guardian_said(d, "the thaw guardian's deadline passed"), "  quiesced logs the guardian's deadline")
    chk.after("SIGSTOP in FREEZING (guardian deadline)", d, gone=h.gone)
    chk.stop_clean(d, "SIGSTOP in FREEZING (guardian deadline)")


def stop_freezing_resumed():
    """Stopped in FREEZING past its own fs deadline, the stuck FIFREEZE completing while
    it is stopped, then resumed: whichever it sees first (the late FIFREEZE or its
    deadline), the freeze either holds everything or nothing."""
    d = daemon()
    h = enter_freezing(d)
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(FS_TIMEOUT + 1)
        h.release()
        time.sleep(0.2)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    ans = h.bg.result()
    h.bg.close()
    st = fc.wait_idle(d, 3) if not (ans and "return" in ans) else fc.status(d)
    if ans and "return" in ans:
        t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  resumed: the freeze succeeded and holds both")
        r = d.call("quiesce-thaw")
        t.ok("return" in r and r["return"]["count"] == 2, "  and thaws both", repr(r))
    else:
        t.ok(ans and ans.get("error", {}).get("class") == "FilesystemError" and
             "timed out freezing" in ans["error"]["desc"],
             "  resumed: the freeze failed at its deadline, naming m0", repr(ans))
        t.eq(st and st.get("state"), "idle", "  and quiesced unwound it")
    chk.after("SIGSTOP in FREEZING (resumed)", d, gone=h.gone)
    chk.stop_clean(d, "SIGSTOP in FREEZING (resumed)")


def stop_frozen():
    d = daemon()
    enter_frozen(d)
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        thawed = qtest.wait_for(lambda: not fc.frozen_mounts(s), (LEASE + 2 + 5) * SLOW, 0.05)
        took = time.monotonic() - t0
        t.ok(thawed, "  the guardian thaws at lease + 2 s (%.1f s)" % took)
        t.ok(took >= LEASE + 2 - 0.5, "  ... not before (%.1f s)" % took)
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    fc.wait_idle(d)   # resumed: it learns its lease passed and unwinds first
    r = d.ctl("thaw")
    t.ok(r.returncode == 5, "  resumed: the thaw says writes were not held (exit 5)", r.stderr)
    chk.after("SIGSTOP in FROZEN", d)
    chk.stop_clean(d, "SIGSTOP in FROZEN")


# ---------------------------------------------------------------- SIGTERM


def term_freezing():
    """SIGTERM while m0's FIFREEZE is stuck past --fs-timeout: the freeze is abandoned and
    unwound, quiesced stops; its stuck thread keeps the process until the FIFREEZE
    returns, and then m0, frozen late, must still be thawed (by the guardian)."""
    d = daemon()
    g = chk.guardian_of(d)
    h = enter_freezing(d)
    d.proc.send_signal(signal.SIGTERM)
    ans = h.bg.result()
    h.bg.close()
    t.ok(ans and ans.get("error", {}).get("class") in ("FilesystemError", "Aborted"),
         "  the freeze is answered with an error", repr(ans))
    t.ok(qtest.wait_for(lambda: M1 not in fc.frozen_mounts_of(s, [M1]), 5 * SLOW),
         "  m1 is thawed before quiesced stops")
    h.release()
    rc = chk.stop_clean(d, "SIGTERM in FREEZING")
    t.ok(qtest.wait_for(lambda: not fc.frozen_mounts(s), 5 * SLOW, 0.05),
         "  m0, frozen after quiesced gave up on it, is thawed when quiesced is gone",
         "rc %s; log:\n%s" % (rc, d.log_text()[-2000:]))
    d2 = daemon()
    chk.after("SIGTERM in FREEZING", d2, gone=[d.proc.pid, g] + h.gone)
    chk.stop_clean(d2, "SIGTERM in FREEZING (next quiesced)")


def term_frozen():
    d = daemon()
    g = chk.guardian_of(d)
    enter_frozen(d)
    chk.stop_clean(d, "SIGTERM in FROZEN")
    t.eq(fc.frozen_mounts(s), [], "  it thawed before exiting")
    t.ok("shutting down: thawing first" in d.log_text(), "  and says so")
    d2 = daemon()
    chk.after("SIGTERM in FROZEN", d2, gone=[d.proc.pid, g])
    chk.stop_clean(d2, "SIGTERM in FROZEN (next quiesced)")


# ---------------------------------------------------------------- phases held by an app

SLOW_MS = 700     # an app that takes this long over every request: inside --timeout (1 s)


def app_pending(d, name):
    for st in (fc.status(d, 2.0) or {}).get("stages", []):
        if st.get("stage") == "apps":
            return any(a.get("name") == name and a.get("result") == "pending" for a in st.get("apps", []))
    return False


def enter_with_app(d, phase):
    """CHECKING, FREEZING (the apps stage) or THAWING (the apps stage, after the
    filesystems thawed), held by an app that takes SLOW_MS over each request."""
    import apptest
    h = Held(d)
    h.app = apptest.Sim(d, "slow", "-S", str(SLOW_MS))
    if phase == "THAWING":
        r = d.call("quiesce-freeze")
        t.ok(r.get("return", {}).get("count") == 2, "  frozen (the app too)", repr(r)[:300])
    cmd = {"CHECKING": "quiesce-check", "FREEZING": "quiesce-freeze", "THAWING": "quiesce-thaw"}[phase]
    h.bg = fc.BgCall(d.control, cmd)
    ok = qtest.wait_for(lambda: app_pending(d, "slow"), 5 * SLOW, 0.01)
    t.ok(ok and fc.status(d)["state"] == phase.lower(), "  held in %s by the app" % phase)
    return h


def app_case(phase, sig):
    name = "%s in %s (held by an app)" % (sig, phase)

    def run():
        d = daemon()
        g = chk.guardian_of(d)
        h = enter_with_app(d, phase)
        app = h.app
        if sig == "SIGKILL":
            d.kill()
            t.eq(fc.frozen_mounts(s), [], "  nothing frozen (%s)" % (
                "the filesystems thaw before the apps" if phase == "THAWING" else "none was yet"))
            t.eq(h.bg.result(), None, "  the client's connection ends without an answer")
            t.ok(qtest.wait_for(lambda: app.proc.poll() is not None, 10 * SLOW),
                 "  the app loses its connection (and, with -x, exits)")
            d2 = daemon()
            t.ok(app.never_left_frozen(), "  the app is not left frozen", repr(app.events()))
            h.cleanup()
            chk.after(name, d2, gone=[d.proc.pid, g] + h.gone)
            chk.stop_clean(d2, name)
            return
        if sig == "SIGSTOP":
            os.kill(d.proc.pid, signal.SIGSTOP)
            try:
                time.sleep(2 * TIMEOUT)     # past the app's deadline
            finally:
                os.kill(d.proc.pid, signal.SIGCONT)
            ans = h.bg.result()
            h.bg.close()
            t.ok(ans and ("return" in ans or ans.get("error", {}).get("class") == "Vetoed"),
                 "  resumed: the %s is answered (done, or vetoed: the app's deadline passed)"
                 % phase.lower(), repr(ans)[:300])
            if phase == "FREEZING" and ans and "return" in ans:
                d.call("quiesce-thaw")
            t.ok(fc.settled(fc.wait_idle(d, 5)), "  quiesced is idle")
            t.ok(qtest.wait_for(lambda: app.never_left_frozen(), 5 * SLOW), "  the app is not left frozen",
                 repr(app.events()))
            h.cleanup()
            chk.after(name, d, gone=h.gone)
            chk.stop_clean(d, name)
            return
        # SIGTERM: the transaction under way finishes (or is cancelled), then quiesced exits.
        d.proc.send_signal(signal.SIGTERM)
        ans = h.bg.result()
        h.bg.close()
        if phase == "FREEZING":
            t.ok(ans is None or ans.get("error", {}).get("class") in ("Aborted", "Vetoed", "Busy"),
                 "  the freeze is not answered success", repr(ans)[:300])
        else:
            t.ok(ans is not None and "return" in ans, "  the %s completes" % phase.lower(), repr(ans)[:300])
        chk.stop_clean(d, name)
        t.eq(fc.frozen_mounts(s), [], "  nothing frozen")
        t.ok(qtest.wait_for(lambda: app.never_left_frozen(), 5 * SLOW), "  the app is not left frozen",
             repr(app.events()))
        d2 = daemon()
        h.cleanup()
        chk.after(name, d2, gone=[d.proc.pid, g] + h.gone)
        chk.stop_clean(d2, name + " (next quiesced)")
    return name, run


APP_CASES = [app_case(ph, sig) for ph in ("CHECKING", "FREEZING", "THAWING")
             for sig in ("SIGKILL", "SIGSTOP", "SIGTERM")]

CASES = [
    ("SIGKILL in FREEZING (stuck FIFREEZE)", kill_freezing, False),
    ("SIGKILL in FROZEN", kill_frozen, False),
    ("SIGSEGV in FROZEN, cores on, cwd on a frozen mount", crash_frozen(signal.SIGSEGV), False),
    ("SIGABRT in FROZEN, cores on, cwd on a frozen mount", crash_frozen(signal.SIGABRT), False),
    ("SIGSTOP in FREEZING, resumed past its deadlines", stop_freezing_resumed, False),
    ("SIGSTOP in FREEZING until the guardian's deadline", stop_freezing_guardian, False),
    ("SIGSTOP in FROZEN until the guardian's deadline", stop_frozen, False),
    ("SIGTERM in FREEZING (stuck FIFREEZE past --fs-timeout)", term_freezing, False),
    ("SIGTERM in FROZEN", term_frozen, False),
] + [(name, fn, True) for name, fn in APP_CASES]

fc.run_all(t, s, CASES)
