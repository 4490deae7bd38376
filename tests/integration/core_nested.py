#!/usr/bin/env python3
"""Dependencies between filesystems, on real mounts: a filesystem mounted inside another
is frozen before it, a loop filesystem whose image lives on another is frozen before
the one holding its image (the other way round, its flush would block on the frozen
image forever), independent ones are frozen at the same time, and thaw runs in reverse."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.Tap()
qtest.require_root(t)

s = qtest.Scratch(n=3, size_mb=64)
m0, m1, m2 = s.mounts
# inner: an ext4 image stored on m0, loop-mounted in the scope.
inner = s.add(name="inner", image=os.path.join(m0, "inner.img"), size_mb=16)
# sub: mounted on a directory of m1.
sub = s.add(name="sub", mountpoint=os.path.join(m1, "sub"), size_mb=16)
# Dirty data in inner, so that freezing it must write through to its image on m0.
with open(os.path.join(inner, "dirty"), "wb") as f:
    f.write(os.urandom(4 << 20))

d = qtest.Daemon(s, "--fs-timeout", str(10 * qtest.SLOW))
try:
    r = d.ctl("--json", "freeze")
    t.eq(r.returncode, 0, "freeze of nested and loop-on-loop filesystems completes", )
    if r.returncode:
        t.diag(r.stderr)
    ans = json.loads(r.stdout) if r.returncode == 0 else {"report": {"phases": []}}
    fs = {f["mountpoint"]: f for ph in ans["report"]["phases"] for f in ph.get("filesystems", [])}
    t.eq(sorted(fs), sorted([m0, m1, m2, inner, sub]), "all five are frozen")
    t.eq(sorted(s.frozen()), sorted([m0, m1, m2, inner, sub]), "... really")

    def before(a, b, phase):
        return fs[a][phase + "_end_ms"] <= fs[b][phase + "_start_ms"]

    t.ok(before(inner, m0, "freeze"), "inner (image on m0) froze before m0 started freezing",
         json.dumps({k: fs[k] for k in (inner, m0)}))
    t.ok(before(sub, m1, "freeze"), "sub (mounted on m1) froze before m1", json.dumps({k: fs[k] for k in (sub, m1)}))
    # m2, inner and sub hold nothing: they start together. A cold FIFREEZE waits ~25 ms
    # or more for RCU, so one after another they could not overlap.
    t.ok(fs[m2]["freeze_start_ms"] < fs[inner]["freeze_end_ms"] and
         fs[inner]["freeze_start_ms"] < fs[m2]["freeze_end_ms"],
         "independent filesystems froze in parallel (their freezes overlap)",
         json.dumps({k: fs[k] for k in (m2, inner)}))

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
