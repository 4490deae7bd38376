#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault matrix: an application (or a hook) that misbehaves in each phase.

Faults (apps are appvss-sim processes, garbage comes from a hand-driven RawApp):
  crash     SIGKILL while it holds the request (it sits on it: -c/-f/-t 1 with a long -L)
  hang      never answers (-c/-f/-t 1, -L far past the late window): timed out at the
            deadline, dropped as hung at twice its timeout
  slow-in   answers just inside its timeout (-S a third of it)
  slow-out  answers just outside it, inside the late window (-c/-f/-t 1, -L a third of
            the timeout): timed out, the late answer accepted (a late FREEZE success is
            owed a THAW)
  garbage   a frame that breaks the protocol instead of the answer: dropped
Phases: CHECK, FREEZE, FROZEN (crash and garbage only: nothing is asked then), THAW.
Each for a required and an optional app.

Expected: at CHECK and FREEZE, a required app's crash, hang, late answer or garbage
fails the transaction (Vetoed, naming it) and nothing stays frozen; an optional one's
is ignored. While frozen and at THAW, whatever the app does it counts as thawed and
the thaw succeeds. An app is never left frozen: every FREEZE success it gave is
followed by a THAW (asked, or its own on losing the connection). Hooks: one that
hangs or kills itself at freeze vetoes it, its process group is killed, and it gets
its thaw; one that hangs at thaw is killed and the thaw succeeds.

After every case: tests/lib/faultcheck.py's checks on the same quiesced (its fds back
to the baseline: no app connection or hook pipe left over).
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402

t = qtest.start(needs=("appvss-sim",))
if not fc.has_apps():
    t.skip_all("needs the app registry (--app-socket)")
import apptest  # noqa: E402
from appproto import CHECK, FREEZE, THAW, F_OPTIONAL, SUCCESS, pack_msg  # noqa: E402

SLOW = qtest.SLOW
TIMEOUT = min(0.5 * SLOW, 2.0)          # the daemon's --timeout: every app's deadline
TMS = int(TIMEOUT * 1000)
LEASE = 30

s = qtest.Scratch(n=2)
hookdir = os.path.join(s.dir, "hooks.d")
os.makedirs(hookdir)
os.chmod(hookdir, 0o755)
chk = fc.Checker(t, s)
d = chk.daemon("--hook-dir", hookdir, "--hook-timeout", str(TIMEOUT), lease=LEASE, timeout=TIMEOUT)

SIM_FLAG = {"CHECK": "-c", "FREEZE": "-f", "THAW": "-t"}
OP = {"CHECK": CHECK, "FREEZE": FREEZE, "THAW": THAW}


def err(ans):
    return (ans or {}).get("error") or {}


def app_member(name):
    """The app's result in the apps stage of the transaction under way (status)."""
    for st in (fc.status(d) or {}).get("stages", []):
        if st.get("stage") == "apps":
            for a in st.get("apps", []):
                if a.get("name") == name:
                    return a.get("result")
    return None


def registered(name):
    return name in apptest.apps_list(d)


class Case:
    def __init__(self, fault, phase, optional):
        self.fault, self.phase, self.optional = fault, phase, optional
        self.name = "app-%s-%s-%s" % (fault, phase.lower(), "opt" if optional else "req")
        self.label = "%s app %s at %s" % ("optional" if optional else "required", fault, phase)
        self.sim = None
        self.raw = None
        self.raw_thread = None
        self.gone = []

    def start_app(self):
        opts = ["-o"] if self.optional else []
        f, ph = self.fault, self.phase
        if f == "garbage":
            flags = F_OPTIONAL if self.optional else 0
            self.raw, w = apptest.raw(d, self.name, flags)
            t.eq(w["result"], 0, "  the raw app registers")
            return
        if f == "crash" and ph != "FROZEN":
            opts += [SIM_FLAG[ph], "1", "-L", "60000"]
        elif f == "hang":
            opts += [SIM_FLAG[ph], "1", "-L", "60000"]
        elif f == "slow-in":
            opts += ["-S", str(TMS // 3)]
        elif f == "slow-out":
            opts += [SIM_FLAG[ph], "1", "-L", str(TMS // 3)]
        self.sim = apptest.Sim(d, self.name, *opts)

    def garbage(self):
        """In a thread: answer the request of this phase with garbage (a different kind per
        phase); while frozen, send an unasked frame."""
        def run():
            try:
                if self.phase == "FROZEN":
                    self.raw.send(pack_msg(FREEZE, 12345))
                    return
                if self.phase in ("THAW", "FROZEN-answer"):
                    opt, _, msgid = self.raw.request(30)       # FREEZE: answer it properly
                    self.raw.reply(opt, msgid, SUCCESS)
                if self.phase == "FROZEN-answer":
                    return
                opt, _, msgid = self.raw.request(30)
                if self.phase == "CHECK":
                    self.raw.send(b"\x01" * 10)                 # wrong frame size
                elif self.phase == "FREEZE":
                    self.raw.reply(opt, msgid + 1, SUCCESS)     # another msgid
                else:
                    self.raw.send(pack_msg(77, msgid))          # unknown op
            except Exception as e:  # noqa: BLE001 - shown by the checks
                self.raw_error = e
        self.raw_thread = threading.Thread(target=run, daemon=True)
        self.raw_thread.start()

    def crash_when_holding(self):
        """SIGKILL the app once quiesced shows it asked and not answered."""
        ok = qtest.wait_for(lambda: app_member(self.name) == "pending", 5 * SLOW, 0.01)
        t.ok(ok, "  the app holds the %s request" % self.phase)
        self.sim.kill()

    def cleanup(self):
        if self.sim:
            self.sim.stop()
            self.gone.append(self.sim.pid)
        if self.raw:
            self.raw.close()
        if self.raw_thread:
            self.raw_thread.join(10)


def expect_fail(c):
    """A required app's fault at CHECK/FREEZE fails the transaction."""
    return not c.optional and c.fault != "slow-in" and c.phase in ("CHECK", "FREEZE")


def call_in_bg(cmd):
    return fc.BgCall(d.control, cmd)


def run_case(c):
    t.diag("---- " + c.label)
    c.start_app()
    if c.fault == "garbage" and c.phase != "FROZEN":
        c.garbage()
    try:
        if c.phase in ("CHECK", "FREEZE"):
            bg = call_in_bg("quiesce-check" if c.phase == "CHECK" else "quiesce-freeze")
            if c.fault == "crash":
                c.crash_when_holding()
            ans = bg.result(30)
            bg.close()
            if expect_fail(c):
                e = err(ans)
                t.ok(e.get("class") == "Vetoed" and c.name in e.get("desc", ""),
                     "  %s fails: Vetoed, naming the app" % c.phase.lower(), repr(e.get("desc")))
                t.eq(fc.frozen_mounts(s) if fc.settled(fc.wait_idle(d, 5)) else ["?"], [],
                     "  nothing frozen")
            else:
                t.ok("return" in ans, "  %s succeeds without it" % c.phase.lower()
                     if c.fault != "slow-in" else "  %s succeeds" % c.phase.lower(), repr(ans)[:400])
                if c.phase == "FREEZE":
                    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  both frozen")
                    r = d.call("quiesce-thaw")
                    t.ok(r.get("return", {}).get("count") == 2, "  and thawed", repr(r)[:300])
        else:
            if c.fault == "garbage" and c.phase == "FROZEN":
                c.phase = "FROZEN-answer"   # the raw app answers the FREEZE properly
                c.garbage()
            r = d.call("quiesce-freeze")
            t.ok(r.get("return", {}).get("count") == 2, "  frozen with the app", repr(r)[:300])
            if c.phase.startswith("FROZEN"):
                if c.fault == "crash":
                    c.sim.kill()
                else:
                    c.raw_thread.join(10)
                    c.phase = "FROZEN"
                    c.garbage()
                t.ok(qtest.wait_for(lambda: not registered(c.name), 5 * SLOW),
                     "  while frozen: quiesced drops the app (it counts as thawed)")
                t.eq(fc.status(d)["state"], "frozen", "  the freeze holds")
                r = d.call("quiesce-thaw")
            else:
                bg = call_in_bg("quiesce-thaw")
                if c.fault == "crash":
                    c.crash_when_holding()
                r = bg.result(30)
                bg.close()
            t.ok(r.get("return", {}).get("count") == 2, "  the thaw succeeds", repr(r)[:400])
        # What happens to the app afterwards.
        if c.fault in ("crash", "garbage"):
            t.ok(qtest.wait_for(lambda: not registered(c.name), 5 * SLOW), "  the app is gone from the registry")
        elif c.fault == "hang":
            t.ok(qtest.wait_for(lambda: not registered(c.name), (4 * TIMEOUT + 5) * SLOW, 0.05),
                 "  the hung app is dropped (at twice its timeout)")
            t.ok(qtest.wait_for(lambda: re.search(r"app %s \(id \d+, pid \d+\): hung: no answer" % c.name,
                                                  d.log_text()), 5 * SLOW),
                 "  as hung")
        elif c.fault == "slow-out":
            t.ok(qtest.wait_for(lambda: app_is_idle(c.name), (2 * TIMEOUT + 3) * SLOW, 0.05),
                 "  its late answer is taken: still registered, nothing outstanding")
        else:
            t.ok(registered(c.name), "  the app stays registered")
        if c.sim and c.fault != "crash" and not (c.fault == "hang" and c.phase == "THAW"):
            # (An app hung in its THAW handler got the THAW; it holds until it returns.)
            t.ok(qtest.wait_for(lambda: c.sim.never_left_frozen(), 5 * SLOW, 0.05),
                 "  the app was never left frozen (a THAW follows its FREEZE success)", repr(c.sim.events()))
    finally:
        c.cleanup()
    if c.sim and c.fault not in ("crash",):
        t.ok(c.sim.never_left_frozen(), "  ... also after it stopped")
    chk.after(c.label, d, gone=c.gone)


def app_is_idle(name):
    a = apptest.apps_list(d).get(name)
    return a is not None and a.get("state") == "idle"


# ---------------------------------------------------------------- hooks


def hook(name, body):
    path = os.path.join(hookdir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def hook_pids_file():
    return os.path.join(s.dir, "hook.pids")


def hook_case(label, body, phase):
    """One hook misbehaving at freeze or at thaw; it writes its pid (and a child's) first."""
    t.diag("---- " + label)
    pids = hook_pids_file()
    if os.path.exists(pids):
        os.unlink(pids)
    path = hook("50-fault", 'echo "$1 $$" >> %s\n' % pids + body)
    try:
        r = d.call("quiesce-freeze")
        if phase == "freeze":
            e = err(r)
            t.ok(e.get("class") == "Vetoed" and "50-fault" in e.get("desc", ""),
                 "  the freeze fails: the hook vetoes", repr(e.get("desc")))
            t.eq(fc.frozen_mounts(s), [], "  nothing frozen")
        else:
            t.ok(r.get("return", {}).get("count") == 2, "  frozen", repr(r)[:300])
            r = d.call("quiesce-thaw")
            t.ok(r.get("return", {}).get("count") == 2, "  the thaw succeeds", repr(r)[:300])
        with open(pids) as f:
            lines = f.read().split()
        t.ok("thaw" in lines, "  the hook got its thaw", repr(lines))
        all_pids = [int(x) for x in lines if x.isdigit()]
    finally:
        os.unlink(path)
    chk.after(label, d, gone=all_pids)


APP_CASES = []
for phase in ("CHECK", "FREEZE", "FROZEN", "THAW"):
    for fault in ("crash", "hang", "slow-in", "slow-out", "garbage"):
        if phase == "FROZEN" and fault not in ("crash", "garbage"):
            continue
        for optional in (False, True):
            APP_CASES.append(Case(fault, phase, optional))

try:
    only = os.environ.get("FAULT_ONLY")
    for c in APP_CASES:
        if only and only not in c.label:
            continue
        run_case(c)
    HOOKS = [
        ("hook hangs at freeze", 'if [ "$1" = freeze ]; then sleep 60 & echo "child $!" >> %s; wait; fi\n'
         % hook_pids_file(), "freeze"),
        ("hook kills itself at freeze", '[ "$1" = freeze ] && kill -9 $$\nexit 0\n', "freeze"),
        ("hook hangs at thaw", 'if [ "$1" = thaw ]; then sleep 60 & echo "child $!" >> %s; wait; fi\n'
         % hook_pids_file(), "thaw"),
    ]
    for label, body, phase in HOOKS:
        if only and only not in label:
            continue
        hook_case(label, body, phase)
finally:
    chk.stop_clean(d, "fault_apps")
    s.cleanup()
t.exit()
