#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A freeze that cannot complete leaves everything thawed and says which mount and why;
a foreign freeze is reported as busy and left alone; a mount that disappears between
CHECK and FREEZE is simply not frozen."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()

s = qtest.Scratch(n=3)
d = qtest.Daemon(s)
try:
    # Someone else (a manual fsfreeze, another agent) froze m1.
    qtest.freeze_path(s.mounts[1])
    r = d.ctl("freeze")
    t.eq(r.returncode, 1, "freeze fails when a candidate is frozen by someone else")
    t.ok(s.mounts[1] in r.stderr and "already frozen by another freezer" in r.stderr,
         "the error names the mount and says it is someone else's freeze", r.stderr)
    t.eq(s.frozen(), [s.mounts[1]], "what we froze was thawed; the foreign freeze is left alone")
    st = d.call("quiesce-status")["return"]
    t.eq(st["state"], "idle", "status: idle after the failed freeze")
    t.ok(st.get("last", {}).get("ok") is False and "busy" in st["last"].get("message", ""),
         "status: the last transaction failed as busy", json.dumps(st.get("last")))
    fs = {f["mountpoint"]: f["state"] for ph in st["last"]["phases"] for f in ph.get("filesystems", [])}
    t.eq(fs.get(s.mounts[1]), "frozen by someone else", "status: that mount is marked as someone else's freeze")
    qtest.thaw_path(s.mounts[1])

    r = d.ctl("--json", "thaw")
    t.ok(r.returncode == 0 and json.loads(r.stdout)["count"] == 0, "a thaw afterwards has nothing to thaw", r.stdout + r.stderr)

    # The daemon goes on: a normal cycle works.
    r = d.ctl("--json", "freeze")
    t.ok(r.returncode == 0 and json.loads(r.stdout)["count"] == 3, "a normal freeze works after the failure", r.stderr)
    t.eq(sorted(s.frozen()), sorted(s.mounts), "all three frozen")
    # Someone else thaws one of ours behind our back: our thaw says so and does not fail.
    qtest.thaw_path(s.mounts[2])
    r = d.ctl("--json", "thaw")
    ans = json.loads(r.stdout) if r.returncode == 0 else {}
    t.eq(ans.get("count"), 2, "thaw counts only the filesystems it thawed itself")
    fs = {f["mountpoint"]: f for ph in ans["report"]["phases"] for f in ph.get("filesystems", [])}
    t.ok(fs.get(s.mounts[2], {}).get("thawed_by_other") is True, "the one thawed by someone else is marked so")
    t.eq(s.frozen(), [], "nothing frozen")

    # A scratch mount disappears between CHECK and FREEZE.
    r = d.ctl("--json", "check")
    ans = json.loads(r.stdout) if r.returncode == 0 else {}
    checked = [f["mountpoint"] for ph in ans.get("report", {}).get("phases", []) for f in ph.get("filesystems", [])]
    t.eq(sorted(checked), sorted(s.mounts), "check lists the three candidates")
    subprocess.run(["umount", s.mounts[2]], check=True)
    r = d.ctl("--json", "freeze")
    t.ok(r.returncode == 0 and json.loads(r.stdout)["count"] == 2, "freeze after the unmount freezes the two that remain", r.stdout + r.stderr)
    t.eq(sorted(s.frozen()), sorted(s.mounts[:2]), "exactly those two are frozen")
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "thaw")
    t.eq(d.state(), "idle", "the daemon answers and is idle")

    # A freeze that fails before any FIFREEZE (a mountpoint that is not a candidate):
    # its report names no filesystem of the previous freeze.
    r = d.ctl("--json", "freeze", s.dir)
    ans = json.loads(r.stdout) if r.stdout.strip() else {}
    named = [f["mountpoint"] for ph in ans.get("error", {}).get("report", {}).get("phases", [])
             for f in ph.get("filesystems", [])]
    t.ok(r.returncode == 1 and named == [],
         "a freeze refused before any FIFREEZE reports no filesystem of the last one",
         r.stdout + r.stderr)
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
