#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two freezers at once: each gets a clear "busy" answer, nothing is tangled, and in
the end everything is thawed.

- two transports of one quiesced (control, QGA, Hyper-V through hvsim) while one of
  them is freezing (held by a stalled write) or frozen: the others are told busy /
  already frozen (QGA: qemu-ga's "disabled: the agent is in frozen state"; Hyper-V:
  HV_E_FAIL), and the owner's thaw thaws exactly its freeze;
- control and QGA freezing at the very same moment, several times: one wins, the other
  is told why, and the winner's thaw thaws both mounts;
- a second quiesced with its own run dir on the same scratch mounts: its freeze fails
  as busy naming the mount (EBUSY: frozen by another freezer), leaves the first one's
  freeze alone, also when it is SIGKILLed afterwards; both freezing at once: at most
  one wins, never half of each;
- a second quiesced started with the same run dir: refuses to start, and touches
  nothing of the running one's freeze (its run-dir record included);
- a manual FIFREEZE of one mount: every transport's freeze fails as busy, naming it,
  and leaves it alone; someone else's FITHAW of one of ours: our thaw says so.

After every case: tests/lib/faultcheck.py's checks for every quiesced involved.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402
import stallwrite  # noqa: E402
from hvsim import HvSim  # noqa: E402
from qgapeer import QgaClient  # noqa: E402

SLOW = qtest.SLOW
HAVE_HVSIM = os.path.exists(qtest.bin_path("hvsim"))

TIMEOUT, FS_TIMEOUT, LEASE = 1, 5, 10
OK, FAIL = "0x00000000", "0x80004005"
t, s, chk = fc.start()
M0, M1 = s.mounts


def err(ans):
    return (ans or {}).get("error") or {}


def disabled(name):
    return {"error": {"class": "CommandNotFound",
                      "desc": "Command %s has been disabled: the agent is in frozen state" % name}}


def freeze_list():
    return json.dumps({"execute": "guest-fsfreeze-freeze-list",
                       "arguments": {"mountpoints": [M0, M1]}}).encode() + b"\n"


class Transports:
    """One quiesced with control, QGA and (if built) Hyper-V."""

    def __init__(self):
        self.qga = os.path.join(s.dir, "qga.sock")
        extra = ["--fs-timeout", str(FS_TIMEOUT), "--qga", self.qga]
        self.sim = None
        self.errlog = None
        if HAVE_HVSIM:
            sock = os.path.join(s.dir, "hv_vss.sock")
            self.errlog = open(os.path.join(s.dir, "hvsim.err"), "a")
            self.sim = HvSim(sock, stderr=self.errlog)
            extra += ["--hyperv", sock]
        self.d = qtest.Daemon(s, *extra, lease=LEASE, timeout=TIMEOUT)
        if self.sim:
            t.ok(self.sim.cmd("wait_daemon 10s")["ok"], "  quiesced registers with hvsim")
        chk.baseline(self.d)

    def hv(self, op):
        return self.sim.request(op) if self.sim else None

    def close(self, label):
        chk.stop_clean(self.d, label)
        if self.sim:
            self.sim.close()
            self.errlog.close()


def hv_check(tr, op, status, what):
    if not tr.sim:
        t.skip(what, "hvsim not built")
        return
    r = tr.hv(op)
    t.ok(r and r.get("host_status") == status and r.get("by") == "daemon", what, r)


# ---------------------------------------------------------------- transports of one quiesced


def transports_while_freezing():
    tr = Transports()
    d = tr.d
    st = stallwrite.StalledWrite(os.path.join(M0, "stall.dat"))
    bg = fc.BgCall(d.control, "quiesce-freeze")
    t.ok(fc.wait_fs(d, {M0: "freezing", M1: "frozen"}, 5) and fc.wait_in_fifreeze(d.proc.pid),
         "  control's freeze held in FREEZING")
    ans = d.call("quiesce-freeze")
    t.ok(err(ans).get("class") == "Busy" and
         err(ans).get("desc") == "busy: a transaction is under way (freezing, from control)",
         "  a second control freeze: Busy, saying whose", repr(err(ans)))
    ans = d.call("quiesce-check")
    t.eq(err(ans).get("class"), "Busy", "  a control check: Busy")
    c = QgaClient(tr.qga)
    t.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]}),
         disabled("guest-fsfreeze-freeze-list"), "  QGA freeze: disabled, the agent is in frozen state")
    t.eq(c.call("guest-fsfreeze-status"), {"return": "frozen"}, "  QGA status: frozen")
    hv_check(tr, "freeze", FAIL, "  Hyper-V FREEZE: HV_E_FAIL (busy)")
    hv_check(tr, "hot_backup", FAIL, "  Hyper-V HOT_BACKUP: HV_E_FAIL (busy)")
    hv_check(tr, "thaw", OK, "  Hyper-V THAW: 0, control's freeze left alone")
    t.eq(fc.status(d)["state"], "freezing", "  control's freeze goes on")
    st.release()
    ans = bg.result()
    bg.close()
    t.eq(ans.get("return", {}).get("count"), 2, "  and completes")
    t.eq(c.call("guest-fsfreeze-thaw"), {"return": 2}, "  a QGA thaw ends it (one engine, any transport may thaw)")
    c.close()
    chk.after("second transport while FREEZING", d, gone=[st.proc.pid])
    tr.close("second transport while FREEZING")


def transports_while_checking():
    """A control check held by a slow app: every freeze is told busy, and the check
    goes on."""
    if not fc.has_apps():
        t.skip("a second transport while CHECKING", "needs the app registry (--app-socket)")
        return
    import apptest
    tr = Transports()
    d = tr.d
    app = apptest.Sim(d, "slow", "-S", "700")
    bg = fc.BgCall(d.control, "quiesce-check")
    t.ok(fc.wait_state(d, "checking", 5), "  control's check held in CHECKING by the app")
    busy = "busy: a transaction is under way (checking, from control)"
    ans = d.call("quiesce-freeze")
    t.ok(err(ans).get("class") == "Busy" and err(ans).get("desc") == busy,
         "  a control freeze: Busy, saying whose", repr(err(ans)))
    c = QgaClient(tr.qga)
    t.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]}),
         {"error": {"class": "GenericError", "desc": busy}}, "  a QGA freeze: the same text")
    c.close()
    hv_check(tr, "freeze", FAIL, "  Hyper-V FREEZE: HV_E_FAIL (busy)")
    ans = bg.result()
    bg.close()
    t.ok(ans and "return" in ans, "  the check completes", repr(ans)[:300])
    app.stop()
    chk.after("second transport while CHECKING", d, gone=[app.pid])
    tr.close("second transport while CHECKING")


def transports_while_frozen():
    tr = Transports()
    d = tr.d
    if tr.sim:
        t.ok(tr.hv("freeze").get("host_status") == OK, "  frozen for Hyper-V")
        owner, thaw = "hyperv", lambda: tr.hv("thaw").get("host_status") == OK
    else:
        t.eq(d.call("quiesce-freeze").get("return", {}).get("count"), 2, "  frozen by control")
        owner, thaw = "control", lambda: d.call("quiesce-thaw").get("return", {}).get("count") == 2
    ans = d.call("quiesce-freeze")
    t.ok(err(ans).get("class") == "AlreadyFrozen" and ("by %s" % owner) in err(ans).get("desc", ""),
         "  control freeze: AlreadyFrozen, saying whose", repr(err(ans)))
    c = QgaClient(tr.qga)
    t.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0]}),
         disabled("guest-fsfreeze-freeze-list"), "  QGA freeze: disabled, frozen state")
    c.close()
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  the freeze is intact")
    t.ok(thaw(), "  the owner's thaw works")
    chk.after("second transport while FROZEN", d)
    tr.close("second transport while FROZEN")


def control_vs_hyperv_thaw():
    """Control thaws a Hyper-V freeze: allowed (one engine); Hyper-V's THAW then fails:
    writes were not held until it."""
    if not HAVE_HVSIM:
        t.skip("control thaws Hyper-V's freeze", "hvsim not built")
        return
    tr = Transports()
    d = tr.d
    t.ok(tr.hv("freeze").get("host_status") == OK, "  frozen for Hyper-V")
    t.eq(d.call("quiesce-thaw").get("return", {}).get("count"), 2, "  control thaws it")
    hv_check(tr, "thaw", FAIL, "  Hyper-V's THAW: HV_E_FAIL, its freeze ended early")
    chk.after("control thaws Hyper-V's freeze", d)
    tr.close("control thaws Hyper-V's freeze")


def control_and_qga_race(rounds=5):
    tr = Transports()
    d = tr.d
    ok_rounds = 0
    detail = []
    for i in range(rounds):
        c = QgaClient(tr.qga)
        cl = qtest.Client(d.control)
        res = {}
        go = threading.Event()

        def ctl():
            go.wait()
            res["control"] = cl.call("quiesce-freeze")

        def qga():
            go.wait()
            c.send_raw(freeze_list())
            r = c.reply(10 * SLOW)
            res["qga"] = r and r[1]
        th = [threading.Thread(target=ctl), threading.Thread(target=qga)]
        for x in th:
            x.start()
        go.set()
        for x in th:
            x.join(30 * SLOW)
        won_c = "return" in (res.get("control") or {})
        won_q = isinstance((res.get("qga") or {}).get("return"), int) and res["qga"]["return"] == 2
        ec, eq = err(res.get("control")), err(res.get("qga"))
        lost_c = ec.get("class") in ("Busy", "AlreadyFrozen")
        lost_q = (eq.get("class") == "CommandNotFound" and "frozen state" in eq.get("desc", "")) or \
            (eq.get("class") == "GenericError" and "busy" in eq.get("desc", ""))
        frozen = sorted(fc.frozen_mounts(s)) if fc.status(d)["state"] == "frozen" else None
        good = (won_c and lost_q) or (won_q and lost_c)
        good = good and frozen == sorted(s.mounts)
        if won_c:
            good = good and cl.call("quiesce-thaw").get("return", {}).get("count") == 2
        elif won_q:
            good = good and c.call("guest-fsfreeze-thaw") == {"return": 2}
        good = good and fc.settled(fc.wait_idle(d, 5)) and fc.frozen_mounts(s) == []
        ok_rounds += bool(good)
        detail.append((won_c, won_q, ec.get("desc"), eq.get("desc")))
        c.close()
        cl.close()
    t.eq(ok_rounds, rounds, "  %d rounds: one wins, the other is told busy/frozen, the winner thaws both" % rounds)
    t.diag("  (control won, qga won) per round: %s" % [(a, b) for a, b, _, _ in detail])
    if ok_rounds != rounds:
        t.diag(repr(detail))
    chk.after("control and QGA freezing at once", d)
    tr.close("control and QGA freezing at once")


# ---------------------------------------------------------------- a second quiesced


def second_daemon(name="b", run_dir=None):
    run_dir = run_dir or os.path.join(s.dir, "run-" + name)
    return chk.daemon(lease=LEASE, timeout=TIMEOUT, run_dir=run_dir,
                      log_path=os.path.join(s.dir, "quiesced-%s.log" % name))


def second_quiesced():
    a = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    b = second_daemon()
    t.eq(a.call("quiesce-freeze").get("return", {}).get("count"), 2, "  A freezes both")
    ans = b.call("quiesce-freeze")
    e = err(ans)
    t.ok(e.get("class") == "FilesystemError" and "already frozen by another freezer (busy)" in e.get("desc", ""),
         "  B's freeze: busy, frozen by another freezer", repr(e.get("desc")))
    t.ok(any(m in e.get("desc", "") for m in s.mounts), "  naming the mount")
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  A's freeze is intact")
    gb = chk.guardian_of(b)
    b.kill()
    t.ok(qtest.wait_for(lambda: not fc.alive(gb), 3 * SLOW), "  B SIGKILLed: its guardian exits")
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  and A's freeze is still intact")
    ans = a.call("quiesce-thaw")
    thawed_by_other = [f for ph in ans.get("return", {}).get("report", {}).get("phases", [])
                       for f in ph.get("filesystems", []) if f.get("thawed_by_other")]
    t.ok(ans.get("return", {}).get("count") == 2 and not thawed_by_other,
         "  A's thaw thaws both itself (nobody thawed them behind its back)", repr(ans)[:400])
    chk.after("second quiesced, A", a)
    b2 = second_daemon()
    chk.after("second quiesced, B restarted", b2, gone=[b.proc.pid, gb])

    # Both at once: at most one wins, never half of each.
    bad = []
    wins = {"a": 0, "b": 0, "none": 0}
    for i in range(6):
        res = {}
        go = threading.Event()

        def call(name, d):
            cl = qtest.Client(d.control)
            go.wait()
            res[name] = cl.call("quiesce-freeze")
            cl.close()
        th = [threading.Thread(target=call, args=("a", a)), threading.Thread(target=call, args=("b", b2))]
        for x in th:
            x.start()
        go.set()
        for x in th:
            x.join(30 * SLOW)
        won = [n for n in ("a", "b") if "return" in (res.get(n) or {})]
        lost_ok = all("busy" in err(res.get(n)).get("desc", "") for n in ("a", "b") if n not in won)
        fc.wait_idle(a, 5) if "a" not in won else None
        fc.wait_idle(b2, 5) if "b" not in won else None
        fr = sorted(fc.frozen_mounts(s))
        if len(won) > 1 or not lost_ok or fr != (sorted(s.mounts) if won else []):
            bad.append((won, res, fr))
        for n in won:
            d = a if n == "a" else b2
            if d.call("quiesce-thaw").get("return", {}).get("count") != 2:
                bad.append(("thaw", n))
        wins[won[0] if won else "none"] += 1
    t.eq(bad, [], "  6 rounds of both at once: at most one wins and holds both; the other is told busy")
    t.diag("  wins: %r" % wins)
    chk.after("two quiesced freezing at once, A", a)
    chk.after("two quiesced freezing at once, B", b2)
    chk.stop_clean(b2, "second quiesced, B")
    chk.stop_clean(a, "second quiesced, A")


def same_run_dir():
    """A second quiesced with the same run dir while the first holds a freeze: it refuses
    to start and leaves the freeze and its record alone."""
    a = chk.daemon(lease=30, timeout=TIMEOUT)
    t.eq(a.call("quiesce-freeze").get("return", {}).get("count"), 2, "  A frozen")
    rec = os.path.join(a.run_dir, "frozen.list")
    t.ok(os.path.exists(rec), "  its record is in the run dir")
    r = subprocess.run([qtest.bin_path("quiesced"), "-n", "--scope", s.mnt, "--run-dir", a.run_dir],
                       capture_output=True, text=True, timeout=30 * SLOW)
    t.ok(r.returncode != 0 and "another quiesced is already running" in r.stderr,
         "  a second quiesced with the same run dir refuses to start", r.stderr)
    t.ok("left frozen" not in r.stderr, "  without thawing anything", r.stderr)
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  A's freeze is intact")
    t.ok(os.path.exists(rec), "  and so is its record")
    t.eq(a.call("quiesce-thaw").get("return", {}).get("count"), 2, "  A thaws both itself")
    chk.after("second quiesced, same run dir", a)
    chk.stop_clean(a, "second quiesced, same run dir")


# ---------------------------------------------------------------- a manual freeze


def manual_freeze():
    tr = Transports()
    d = tr.d
    qtest.freeze_path(M1)
    try:
        busy = "%s is already frozen by another freezer (busy)" % M1
        ans = d.call("quiesce-freeze")
        t.ok(err(ans).get("class") == "FilesystemError" and err(ans).get("desc") == busy,
             "  control freeze: busy, naming the mount", repr(err(ans)))
        c = QgaClient(tr.qga)
        t.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]}),
             {"error": {"class": "GenericError", "desc": busy}}, "  QGA freeze-list: the same")
        t.eq(c.call("guest-fsfreeze-status"), {"return": "thawed"}, "  QGA status: thawed (ours is)")
        c.close()
        hv_check(tr, "freeze", FAIL, "  Hyper-V FREEZE: HV_E_FAIL")
        t.eq(fc.frozen_mounts(s), [M1], "  every attempt unwound; the manual freeze is left alone")
        t.eq(d.call("quiesce-thaw").get("return", {}).get("count"), 0, "  a thaw leaves it alone too")
        t.eq(fc.frozen_mounts(s), [M1], "  ... really")
    finally:
        qtest.thaw_path(M1)
    chk.after("manual FIFREEZE of one mount", d)

    # Someone else thaws one of ours behind our back.
    t.eq(d.call("quiesce-freeze").get("return", {}).get("count"), 2, "  frozen")
    qtest.thaw_path(M0)
    ans = d.call("quiesce-thaw")
    fs = {f["mountpoint"]: f for ph in ans.get("return", {}).get("report", {}).get("phases", [])
          for f in ph.get("filesystems", [])}
    t.ok(ans.get("return", {}).get("count") == 1 and fs.get(M0, {}).get("thawed_by_other") is True,
         "  a manual FITHAW of ours: our thaw counts 1 and marks m0 thawed by someone else", repr(ans)[:400])
    chk.after("manual FITHAW of our freeze", d)
    tr.close("manual freeze")


CASES = [
    ("a second transport while CHECKING", transports_while_checking),
    ("a second transport while FREEZING", transports_while_freezing),
    ("a second transport while FROZEN", transports_while_frozen),
    ("control thaws Hyper-V's freeze", control_vs_hyperv_thaw),
    ("control and QGA freezing at once", control_and_qga_race),
    ("a second quiesced on the same mounts", second_quiesced),
    ("a second quiesced with the same run dir", same_run_dir),
    ("a manual FIFREEZE / FITHAW", manual_freeze),
]

fc.run_all(t, s, CASES)
