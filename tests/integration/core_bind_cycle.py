#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A loop filesystem whose image is on m0, with m0 bind-mounted inside it (as a chroot
built in an image file gets /home bound in): mount nesting says m0 before inner, the
image says inner before m0. The image wins: freezing m0 first would leave inner's
flush blocked on its frozen image for good. The freeze completes in that order, and
the thaw runs in reverse."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()

s = qtest.Scratch(n=1, size_mb=64)
m0 = s.mounts[0]
inner = s.add(name="inner", image=os.path.join(m0, "inner.img"), size_mb=16)
bound = os.path.join(inner, "host")
os.makedirs(bound)
qtest.run(["mount", "--bind", m0, bound])  # Scratch.cleanup unmounts it with the rest
# Dirty data in inner, so that freezing it must write through to its image on m0.
with open(os.path.join(inner, "dirty"), "wb") as f:
    f.write(os.urandom(4 << 20))

d = qtest.Daemon(s, "--fs-timeout", str(10 * qtest.SLOW))
try:
    r = d.ctl("--json", "freeze")
    t.eq(r.returncode, 0, "freeze of a loop filesystem with its image's filesystem bound inside completes")
    if r.returncode:
        t.diag(r.stdout + r.stderr)
    ans = json.loads(r.stdout) if r.returncode == 0 else {"report": {"phases": []}}
    fs = {f["mountpoint"]: f for ph in ans["report"]["phases"] for f in ph.get("filesystems", [])}
    t.eq(sorted(fs), sorted([m0, inner]), "both are frozen, m0 once (its bind mount is the same superblock)")
    t.eq(sorted(s.frozen()), sorted([m0, inner]), "... really")
    if len(fs) == 2:
        t.ok(fs[inner]["freeze_end_ms"] <= fs[m0]["freeze_start_ms"],
             "inner (image on m0) froze before m0 started freezing", json.dumps(fs))
    else:
        t.ok(False, "inner (image on m0) froze before m0 started freezing", json.dumps(fs))
    t.ok("dependencies form a cycle" in d.log_text(), "the log says the order was a choice")

    r = d.ctl("--json", "thaw")
    t.eq(r.returncode, 0, "thaw")
    ans = json.loads(r.stdout) if r.returncode == 0 else {"report": {"phases": []}}
    fs = {f["mountpoint"]: f for ph in ans["report"]["phases"] for f in ph.get("filesystems", [])}
    t.ok(len(fs) == 2 and fs[m0]["thaw_end_ms"] <= fs[inner]["thaw_start_ms"], "m0 thawed before inner",
         json.dumps(fs))
    t.eq(s.frozen(), [], "nothing frozen")
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
