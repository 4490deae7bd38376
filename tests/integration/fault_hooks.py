#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault matrix: hooks (issue 13, hole 8).

- a hook that leaves a helper holding its output pipe (`setsid sleep 1000 &`), over
  20 cycles: quiesced closes its end a moment after the hook exited, its fds stay flat.

After every case: tests/lib/faultcheck.py's checks.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402

SLOW = qtest.SLOW
t = qtest.Tap()
qtest.require_root(t)

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
    ("a hook helper holding the output pipe, 20 cycles", helper_holds_pipe),
]

try:
    only = os.environ.get("FAULT_ONLY")
    for name, fn in CASES:
        if only and only not in name:
            continue
        t.diag("---- " + name)
        fn()
finally:
    s.cleanup()
t.exit()
