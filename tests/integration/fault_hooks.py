#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault matrix: hooks and the death of quiesced (issue 13, bug 2 and hole 8).

- quiesced SIGKILL while frozen, two hooks frozen: the guardian thaws the filesystems;
  the hooks got `freeze` and no `thaw` until the next quiesced starts, finds the
  run-dir record (hooks.list) and runs their `thaw` in reverse order
  (QUIESCE_ORIGIN=restart, QUIESCE_FREEZE_RESULT as recorded); the log and status
  (quiescectl status, and --json) say so; the record is gone afterwards;
- quiesced SIGKILL while a freeze hook runs: that hook is in the record (`running`)
  before it starts, and gets its thaw at the next start;
- while that thaw runs, CHECK and FREEZE are refused (the set is the dead one's);
- a second quiesced started with the same run dir while the first is frozen refuses
  to start and runs no hook: the first one's record is not a dead one's;
- a hook that leaves a helper holding its output pipe (`setsid sleep 1000 &`), over
  20 cycles: quiesced closes its end a moment after the hook exited, its fds stay flat.

After every case: tests/lib/faultcheck.py's checks (the hooks record gone too).
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402

SLOW = qtest.SLOW
t = qtest.start()

TIMEOUT, LEASE = 3 * SLOW, 30
s = qtest.Scratch(n=1)
hd = os.path.join(s.dir, "hooks.d")
os.mkdir(hd, 0o755)
trace = os.path.join(s.dir, "trace")
chk = fc.Checker(t, s)


def hook(name, body=""):
    p = os.path.join(hd, name)
    with open(p, "w") as f:
        f.write('#!/bin/sh\necho "%s $1 $QUIESCE_ORIGIN $QUIESCE_FREEZE_RESULT" >> %s\n%s\n'
                % (name, trace, body))
    os.chmod(p, 0o755)


def clear_hooks():
    for n in os.listdir(hd):
        os.unlink(os.path.join(hd, n))


def lines():
    try:
        with open(trace) as f:
            return [" ".join(x.split()) for x in f.read().split("\n")[:-1]]
    except FileNotFoundError:
        return []


def reset():
    if os.path.exists(trace):
        os.unlink(trace)


def daemon(baseline=True):
    """baseline: take its fd baseline now (not while a hook of its runs)."""
    d = qtest.Daemon(s, "--hook-dir", hd, "--hook-timeout", "%dms" % int(TIMEOUT * 1000),
                     lease=LEASE, timeout=TIMEOUT)
    if baseline:
        chk.baseline(d)
    return d


def restart_thaw(d):
    st = fc.status(d) or {}
    for sg in st.get("stages", []):
        if sg.get("stage") == "hooks":
            return sg.get("restart_thaw")
    return None


def killed_frozen():
    clear_hooks()
    hook("10-a")
    hook("20-b")
    reset()
    d = daemon()
    g = chk.guardian_of(d)
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 1, "  frozen", repr(r)[:300])
    rec = os.path.join(d.run_dir, "hooks.list")
    t.ok(os.path.exists(rec), "  the run dir records the hooks that got freeze")
    d.kill()
    t.ok(qtest.wait_for(lambda: not fc.frozen_mounts(s), 3 * SLOW, 0.02),
         "  quiesced killed: the guardian thaws the filesystem")
    time.sleep(0.2)
    t.eq(lines(), ["10-a freeze control", "20-b freeze control"], "  no hook got thaw from the guardian")
    pos = len(d.log_text())
    d2 = daemon(baseline=False)
    want = ["10-a freeze control", "20-b freeze control",
            "20-b thaw restart ok", "10-a thaw restart ok"]
    t.ok(qtest.wait_for(lambda: lines() == want, 5 * SLOW, 0.02),
         "  the next quiesced runs their thaw at start, in reverse order (origin restart, "
         "the freeze result recorded)", repr(lines()))
    t.ok(qtest.wait_for(lambda: "thawed at start the 2 hooks a quiesced that died had frozen"
                        in d2.log_text()[pos:], 3 * SLOW), "  and says so in the log",
         d2.log_text()[pos:][-1500:])
    rt = None
    if qtest.wait_for(lambda: (restart_thaw(d2) or {}).get("running") is False, 3 * SLOW, 0.05):
        rt = restart_thaw(d2)
    t.ok(rt and [(k["name"], k["freeze_result"], k["result"]) for k in rt["hooks"]] ==
         [("20-b", "ok", "ok"), ("10-a", "ok", "ok")], "  and in status (--json)", json.dumps(rt))
    r = d2.ctl("status")
    t.ok("the thaw of 2 hooks a quiesced that died had frozen: 20-b (ok) 10-a (ok)" in r.stdout,
         "  and in quiescectl status", r.stdout)
    t.ok(not os.path.exists(rec), "  the record is gone")
    chk.baseline(d2)
    chk.after("quiesced SIGKILL while frozen: the hooks' thaw", d2, gone=[d.proc.pid, g])
    chk.stop_clean(d2, "quiesced SIGKILL while frozen")


def killed_in_hook():
    """Killed while a freeze hook runs: it is recorded before it starts."""
    clear_hooks()
    hook("10-a")
    pidf = os.path.join(s.dir, "20-slow.pid")
    hook("20-slow", '[ "$1" = freeze ] && { echo $$ > %s; exec sleep 60; }' % pidf)
    reset()
    if os.path.exists(pidf):
        os.unlink(pidf)
    d = daemon()
    g = chk.guardian_of(d)
    bg = fc.BgCall(d.control, "quiesce-freeze")
    t.ok(qtest.wait_for(lambda: os.path.exists(pidf) and os.path.getsize(pidf), 5 * SLOW, 0.02),
         "  held in the freeze hook 20-slow")
    d.kill()
    bg.close()
    with open(pidf) as f:
        hook_pid = int(f.read())
    fc.kill_quietly(hook_pid)
    # Its thaw at the next start blocks CHECK and FREEZE for a moment.
    hook("20-slow", 'if [ "$1" = thaw ]; then sleep %.1f; fi' % (1.0 * SLOW))
    d2 = daemon(baseline=False)
    r = d2.call("quiesce-freeze")
    e = r.get("error") or {}
    t.ok("still being thawed" in e.get("desc", ""),
         "  a freeze while the thaw at start runs is refused", repr(r)[:300])
    t.ok(qtest.wait_for(lambda: "20-slow thaw restart running" in lines() and
                        "10-a thaw restart ok" in lines(), 5 * SLOW, 0.02),
         "  the hook that was in its freeze gets thaw (its freeze result: running)", repr(lines()))
    fc.wait_idle(d2)
    qtest.wait_for(lambda: (restart_thaw(d2) or {}).get("running") is False, 3 * SLOW, 0.05)
    chk.baseline(d2)
    r = d2.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 1, "  afterwards a freeze works", repr(r)[:300])
    d2.call("quiesce-thaw")
    chk.after("quiesced SIGKILL in a freeze hook", d2, gone=[d.proc.pid, g, hook_pid])
    chk.stop_clean(d2, "quiesced SIGKILL in a freeze hook")


def second_daemon():
    clear_hooks()
    hook("10-a")
    reset()
    d = daemon()
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 1, "  A frozen", repr(r)[:300])
    rec = os.path.join(d.run_dir, "hooks.list")
    r = subprocess.run([qtest.bin_path("quiesced"), "-n", "--scope", s.mnt, "--run-dir", d.run_dir,
                        "--hook-dir", hd], capture_output=True, text=True, timeout=30 * SLOW)
    t.ok(r.returncode != 0 and "another quiesced is already running" in r.stderr,
         "  a second quiesced with the same run dir refuses to start", r.stderr)
    t.eq(lines(), ["10-a freeze control"], "  and runs no hook's thaw")
    t.ok(os.path.exists(rec), "  A's record of its hooks stays")
    r = d.call("quiesce-thaw")
    t.eq(lines(), ["10-a freeze control", "10-a thaw control ok"], "  A thaws them itself")
    chk.after("second quiesced, same run dir, hooks frozen", d)
    chk.stop_clean(d, "second quiesced, same run dir, hooks frozen")


def helper_holds_pipe():
    """A hook leaves a helper holding its output (`setsid sleep 1000 &`): each cycle
    used to cost quiesced two fds for as long as the helper lived."""
    clear_hooks()
    pids = os.path.join(s.dir, "helpers")
    hook("30-helper", 'setsid sleep 1000 & echo $! >> %s' % pids)
    d = daemon()
    cycles = 20
    for _ in range(cycles):
        r = d.call("quiesce-freeze")
        if "return" not in r:
            break
        d.call("quiesce-thaw")
    t.ok("return" in r, "  %d cycles with a hook that leaves a helper behind" % cycles, repr(r)[:300])
    with open(pids) as f:
        helpers = [int(x) for x in f.read().split()]
    base = chk.baselines[d.proc.pid]
    flat = qtest.wait_for(lambda: fc.fd_count(d.proc.pid) == base, 5 * SLOW, 0.05)
    t.ok(flat, "  quiesced's fds are back to %d while the %d helpers still run" % (base, len(helpers)),
         "now %d" % fc.fd_count(d.proc.pid))
    t.ok(all(fc.alive(p) for p in helpers), "  (they do)")
    for p in helpers:
        fc.kill_quietly(p)
    os.unlink(pids)
    chk.after("a hook helper holding the output pipe", d, gone=helpers)
    chk.stop_clean(d, "a hook helper holding the output pipe")


CASES = [
    ("quiesced SIGKILL while frozen: the hooks get thaw at the next start", killed_frozen),
    ("quiesced SIGKILL in a freeze hook", killed_in_hook),
    ("a second quiesced with the same run dir, hooks frozen", second_daemon),
    ("a hook helper holding the output pipe, 20 cycles", helper_holds_pipe),
]

fc.run_all(t, s, CASES)
