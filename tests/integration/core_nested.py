#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Dependencies between filesystems, on real mounts: a filesystem mounted inside another
is frozen before it, a loop filesystem whose image lives on another is frozen before
the one holding its image (the other way round, its flush would block on the frozen
image forever), independent ones are frozen at the same time, and thaw runs in reverse.

"At the same time" is checked with FIFREEZEs held on purpose (stalled writes in m2 and
inner, tests/lib/stallwrite.py), never by hoping that a cold FIFREEZE is slow: while
both are held, both are under way at once, sub and m1 (which wait for neither) freeze,
and m0 (which holds inner's image) waits for inner."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402
import stallwrite  # noqa: E402

t = qtest.start(stall=True)

s = qtest.Scratch(n=3, size_mb=64)
m0, m1, m2 = s.mounts
# inner: an ext4 image stored on m0, loop-mounted in the scope.
inner = s.add(name="inner", image=os.path.join(m0, "inner.img"), size_mb=16)
# sub: mounted on a directory of m1.
sub = s.add(name="sub", mountpoint=os.path.join(m1, "sub"), size_mb=16)
# Dirty data in inner, so that freezing it must write through to its image on m0.
with open(os.path.join(inner, "dirty"), "wb") as f:
    f.write(os.urandom(4 << 20))

d = qtest.Daemon(s, "--fs-timeout", str(30 * qtest.SLOW), "--timeout", str(30 * qtest.SLOW))


def held_freeze():
    """The freeze answer, with m2's and inner's FIFREEZEs held in the kernel a while."""
    stall_m2 = stallwrite.StalledWrite(os.path.join(m2, "stall.dat"))
    stall_inner = stallwrite.StalledWrite(os.path.join(inner, "stall.dat"))
    try:
        call = fc.BgCall(d.control, "quiesce-freeze")
        t.ok(fc.wait_in_fifreeze(d.proc.pid, 2, timeout=10),
             "independent m2 and inner: both FIFREEZEs under way at once while held",
             "threads in FIFREEZE: %d" % fc.threads_in_fifreeze(d.proc.pid))
        t.ok(fc.wait_fs(d, {sub: "frozen", m1: "frozen", m2: "freezing", inner: "freezing"}),
             "meanwhile sub, then m1 (which holds it) froze",
             json.dumps(fc.fs_states(fc.status(d))))
        t.eq(fc.fs_states(fc.status(d)).get(m0), "pending",
             "m0 (holds inner's image) waits for inner")
        stall_inner.release()
        t.ok(fc.wait_fs(d, {inner: "frozen", m0: "frozen", m2: "freezing"}),
             "inner released: inner, then m0 froze while m2 is still held",
             json.dumps(fc.fs_states(fc.status(d))))
        stall_m2.release()
        return call.result()
    finally:
        for st in (stall_inner, stall_m2):
            st.release()
            st.kill()


try:
    ans = held_freeze()
    ok = "return" in (ans or {})
    t.ok(ok, "freeze of nested and loop-on-loop filesystems completes", json.dumps(ans)[:2000])
    body = ans["return"] if ok else {"report": {"phases": []}}
    fs = {f["mountpoint"]: f for ph in body["report"]["phases"] for f in ph.get("filesystems", [])}
    t.eq(sorted(fs), sorted([m0, m1, m2, inner, sub]), "all five are frozen")
    t.eq(sorted(s.frozen()), sorted([m0, m1, m2, inner, sub]), "... really")

    def before(a, b, phase):
        return fs[a][phase + "_end_ms"] <= fs[b][phase + "_start_ms"]

    t.ok(before(inner, m0, "freeze"), "inner (image on m0) froze before m0 started freezing",
         json.dumps({k: fs[k] for k in (inner, m0)}))
    t.ok(before(sub, m1, "freeze"), "sub (mounted on m1) froze before m1", json.dumps({k: fs[k] for k in (sub, m1)}))

    r = d.ctl("--json", "thaw")
    t.eq(r.returncode, 0, "thaw")
    ans = json.loads(r.stdout) if r.returncode == 0 else {"report": {"phases": []}}
    fs = {f["mountpoint"]: f for ph in ans["report"]["phases"] for f in ph.get("filesystems", [])}
    t.ok(before(m0, inner, "thaw"), "m0 thawed before inner", json.dumps({k: fs.get(k) for k in (inner, m0)}))
    t.ok(before(m1, sub, "thaw"), "m1 thawed before sub")
    t.eq(s.frozen(), [], "nothing frozen")
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
