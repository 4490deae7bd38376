#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The quiesce demo: a consistent copy of two live filesystems.

Makes two loop-mounted ext4 scratch filesystems under a temp dir, starts quiesced
scoped to them, writes a file into each (not synced: it exists only in the page
cache), then runs `quiescectl snapshot -- cp <images> <backup dir>`: the images are
copied while both filesystems are frozen. The copies are then checked: e2fsck clean,
no journal recovery needed, and the unsynced file is in them. Everything is removed
at the end, also on failure or Ctrl-C. Freezes only its own scratch filesystems.
"""
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import qtest  # noqa: E402


def say(text=""):
    print(text, flush=True)


def show(cmd):
    say("$ " + " ".join(shlex.quote(c) for c in cmd))


def check_copy(image, fname, payload):
    fsck = subprocess.run(["e2fsck", "-fn", image], capture_output=True, text=True)
    hdr = subprocess.run(["dumpe2fs", "-h", image], capture_output=True, text=True)
    cat = subprocess.run(["debugfs", "-R", "cat /" + fname, image], capture_output=True)
    clean = fsck.returncode == 0
    recovery = "needs_recovery" in hdr.stdout
    present = cat.stdout == payload
    say("  %-8s e2fsck %s, journal %s, unsynced file %s" % (
        os.path.basename(image), "clean" if clean else "NOT CLEAN (rc %d)" % fsck.returncode,
        "needs recovery" if recovery else "needs no recovery",
        "present" if present else "MISSING"))
    return clean and not recovery and present


def main():
    if os.geteuid() != 0:
        sys.exit("demo: run as root (it makes loop mounts and freezes them)")
    s = qtest.Scratch(n=2, size_mb=64, prefix="quiesce-demo-")
    d = None
    try:
        backup = os.path.join(s.dir, "backup")
        os.makedirs(backup)
        say("== quiesce demo ==")
        say("scratch dir %s: two ext4 images on a tmpfs, loop-mounted on:" % s.dir)
        for m in s.mounts:
            say("  " + m)
        say()
        d = qtest.Daemon(s, lease=30)
        show(d.cmd)
        say("(its log: %s)" % d.log_path)
        say()

        payload = ("written at %s, never synced\n" % time.strftime("%H:%M:%S")).encode()
        for m in s.mounts:
            with open(os.path.join(m, "hello.txt"), "wb") as f:
                f.write(payload)
        say("wrote hello.txt into both filesystems without fsync: it is only in the page cache")
        say()

        images = [os.path.join(s.img, os.path.basename(m) + ".img") for m in s.mounts]
        cmd = [qtest.bin_path("quiescectl"), "--socket", d.control, "snapshot", "--",
               "cp", "--sparse=always"] + images + [backup]
        show(cmd)
        r = subprocess.run(cmd)
        say()
        if r.returncode != 0:
            say("snapshot failed (exit %d)" % r.returncode)
            return 1
        say("the copies in %s, checked while the originals keep running:" % backup)
        ok = all(check_copy(os.path.join(backup, os.path.basename(i)), "hello.txt", payload)
                 for i in images)
        say()
        st = subprocess.run([qtest.bin_path("quiescectl"), "--socket", d.control, "status"],
                            capture_output=True, text=True)
        say(st.stdout.rstrip())
        say()
        say("demo %s" % ("passed: both copies are consistent and hold the unsynced data" if ok
                         else "FAILED"))
        return 0 if ok else 1
    finally:
        if d:
            d.stop()
        say("cleaned up %s" % s.dir)
        s.cleanup()


if __name__ == "__main__":
    sys.exit(main())
