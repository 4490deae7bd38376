#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Freeze and thaw real loop mounts (ext4, and xfs/btrfs when their tools exist):
writers block while frozen and finish after the thaw; nothing outside the scope is
touched, not even through a bind mount into the scope; counts and repeats."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()

SIZES = {"ext4": 32, "xfs": 320, "btrfs": 128}
TOOLS = {"ext4": "mkfs.ext4", "xfs": "mkfs.xfs", "btrfs": "mkfs.btrfs"}


def scenario(fstype):
    s = qtest.Scratch(n=2, fstype=fstype, size_mb=SIZES[fstype])
    other = qtest.Scratch(n=1, fstype="ext4")      # outside the scope
    # A bind mount of an outside filesystem into the scope must not make it a candidate.
    bind = os.path.join(s.mnt, "bind")
    os.makedirs(bind)
    qtest.run(["mount", "--bind", other.mounts[0], bind])
    d = qtest.Daemon(s)
    try:
        r = d.ctl("status")
        t.ok(r.returncode == 0 and "state:   idle" in r.stdout, "%s: status says idle" % fstype, r.stdout + r.stderr)

        r = d.ctl("--json", "freeze")
        ans = json.loads(r.stdout) if r.returncode == 0 else {}
        t.eq(ans.get("count"), 2, "%s: freeze reports 2 filesystems" % fstype)
        t.eq(sorted(s.frozen()), sorted(s.mounts), "%s: both scratch filesystems are frozen" % fstype)
        t.ok(not qtest.is_frozen(other.mounts[0]), "%s: the filesystem outside the scope is not frozen" % fstype)
        names = sorted(f["mountpoint"] for ph in ans.get("report", {}).get("phases", [])
                       for f in ph.get("filesystems", []))
        t.eq(names, sorted(s.mounts), "%s: the report names exactly the scratch mounts" % fstype)

        w = qtest.Writer(s.mounts[0])
        t.ok(not w.done_within(0.5), "%s: a writer blocks while frozen" % fstype)
        st = d.call("quiesce-status")["return"]
        t.eq(st["state"], "frozen", "%s: status says frozen" % fstype)

        r = d.ctl("freeze")
        t.ok(r.returncode == 1 and "already frozen" in r.stderr, "%s: freeze while frozen is an error" % fstype, r.stderr)
        t.eq(sorted(s.frozen()), sorted(s.mounts), "%s: ... and changes nothing" % fstype)

        r = d.ctl("--json", "thaw")
        t.ok(r.returncode == 0 and json.loads(r.stdout).get("count") == 2, "%s: thaw reports 2" % fstype, r.stdout + r.stderr)
        t.ok(w.done_within(10), "%s: the writer finishes after the thaw" % fstype)
        t.eq(s.frozen(), [], "%s: nothing is frozen after the thaw" % fstype)

        r = d.ctl("--json", "thaw")
        t.ok(r.returncode == 0 and json.loads(r.stdout).get("count") == 0, "%s: thaw while thawed succeeds with 0" % fstype, r.stdout + r.stderr)

        r = d.ctl("--json", "freeze", s.mounts[1])
        t.ok(r.returncode == 0 and json.loads(r.stdout).get("count") == 1, "%s: freeze of one mountpoint reports 1" % fstype, r.stdout + r.stderr)
        t.eq(s.frozen(), [s.mounts[1]], "%s: only that one is frozen" % fstype)
        d.ctl("thaw")

        r = d.ctl("freeze", bind)
        t.ok(r.returncode == 1 and "outside the scope" in r.stderr, "%s: freezing the bind mount of an outside filesystem is refused, saying why" % fstype, r.stderr)
        r = d.ctl("freeze", "/")
        t.ok(r.returncode == 1 and "not a filesystem quiesced can freeze" in r.stderr, "%s: freezing / under a scope is refused" % fstype, r.stderr)
        t.eq(d.state(), "idle", "%s: refused freezes leave the daemon idle" % fstype)
        w.kill()
    finally:
        qtest.stop_clean(t, d, "%s: quiesced exits cleanly" % fstype)
        subprocess.run(["umount", bind])
        s.cleanup()
        other.cleanup()


for fstype in ("ext4", "xfs", "btrfs"):
    if shutil.which(TOOLS[fstype]):
        scenario(fstype)
    else:
        t.skip("%s scenario" % fstype, "%s not installed" % TOOLS[fstype])
t.exit()
