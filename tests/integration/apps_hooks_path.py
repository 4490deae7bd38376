#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A hook's path, checked right before every run (issue 13, bug 1; docs/security.md).

Hooks run as root. A hook reached through a symlink used to be checked at CHECK and
FREEZE only, and only the target file: a symlink into a directory another user can
write, or a target swapped between FREEZE and THAW, ran that user's script as root.
Now every phase resolves the real path right before the run, checks the file and every
directory on the way (owned by root, not group- or world-writable; a sticky root
directory like /tmp passes), and runs the real path ($0 is that path).

- CHECK and FREEZE refuse a symlink into a directory owned by another user, and into a
  world-writable one; nothing runs;
- a swap between CHECK and FREEZE: FREEZE refuses, nothing runs, nothing frozen;
- a swap between FREEZE and THAW: THAW does not run the other user's file; the
  filesystems are thawed anyway, the report says the hook was refused;
- $0 of a symlinked hook is its real path;
- a hook reached through another user's directory or symlink, to a root-owned program
  (every directory entered and every symlink followed counts, not only the real path)."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

NOBODY = 65534

t = qtest.start()

s = qtest.Scratch(n=1)
hd = os.path.join(s.dir, "hooks.d")
os.mkdir(hd, 0o755)
trace = os.path.join(s.dir, "trace")
pwned = os.path.join(s.dir, "pwned")
# The target's directory; "another user's" in the cases that chown it.
tdir = os.path.join(s.dir, "target")
target = os.path.join(tdir, "hook")
link = os.path.join(hd, "50-link")


def write_hook(path, body, uid=0):
    with open(path + ".tmp", "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path + ".tmp", 0o755)
    os.chown(path + ".tmp", uid, uid)
    os.rename(path + ".tmp", path)


def good_target():
    """Root's directory, root's hook: safe."""
    if os.path.lexists(tdir):
        shutil.rmtree(tdir)
    os.mkdir(tdir, 0o755)
    write_hook(target, 'echo "$0 $1" >> %s' % trace)


def users_dir():
    """What another user can do once the directory is theirs: put their own script
    in place of the hook (here done by root for them)."""
    os.chown(tdir, NOBODY, NOBODY)
    write_hook(target, 'id -u > %s; echo "$0 $1" >> %s' % (pwned, trace), uid=NOBODY)


def lines(path):
    try:
        with open(path) as f:
            return f.read().split("\n")[:-1]
    except FileNotFoundError:
        return []


def reset():
    for p in (trace, pwned):
        if os.path.exists(p):
            os.unlink(p)


def hooks_report(out):
    """The hooks of the last phase in quiescectl --json's answer."""
    try:
        ans = json.loads(out)
    except ValueError:
        return []
    for ph in (ans.get("report") or {}).get("phases", []) if isinstance(ans, dict) else []:
        if ph.get("stage") == "hooks":
            return ph.get("hooks", [])
    return []


good_target()
os.symlink(target, link)
real_target = os.path.realpath(target)
d = qtest.Daemon(s, "--hook-dir", hd, "--hook-timeout", "%dms" % int(3000 * qtest.SLOW),
                 timeout=5 * qtest.SLOW)
try:
    # ---- safe: runs, by its real path
    reset()
    t.eq(d.ctl("check").returncode, 0, "a symlink to a safe hook in a safe directory passes check")
    r = d.ctl("freeze")
    t.ok(r.returncode == 0, "and freeze", r.stderr)
    t.eq(lines(trace), ["%s freeze" % real_target], "the hook runs by its real path ($0)")
    t.eq(d.ctl("thaw").returncode, 0, "thaw")
    t.eq(lines(trace)[1:], ["%s thaw" % real_target], "the thaw too")

    # ---- another user's directory on the way: check and freeze refuse, nothing runs
    os.chown(tdir, NOBODY, NOBODY)
    reset()
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "50-link is not safe to run" in r.stderr and
         "(on its path) is owned by uid 65534" in r.stderr,
         "check refuses a symlink into a directory another user owns", r.stderr)
    r = d.ctl("freeze")
    t.ok(r.returncode == 1 and "not safe to run" in r.stderr, "so does freeze", r.stderr)
    t.eq((lines(trace), s.frozen()), ([], []), "nothing ran, nothing is frozen")

    # ---- a world-writable directory (not sticky) on the way
    os.chown(tdir, 0, 0)
    os.chmod(tdir, 0o777)
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "(on its path) is writable by everyone" in r.stderr,
         "check refuses a symlink into a world-writable directory", r.stderr)
    os.chmod(tdir, 0o1777)
    t.eq(d.ctl("check").returncode, 0, "a sticky one owned by root (as /tmp) passes")
    os.chmod(tdir, 0o755)

    # ---- the hook directory itself: no sticky exception (a name added there is a hook)
    os.chmod(hd, 0o1777)
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "hook directory" in r.stderr and "sticky or not" in r.stderr,
         "check refuses a sticky world-writable hook directory", r.stderr)
    os.chmod(hd, 0o755)

    # ---- swapped between CHECK and FREEZE
    good_target()
    reset()
    t.eq(d.ctl("check").returncode, 0, "safe again: check passes")
    users_dir()
    r = d.ctl("freeze")
    t.ok(r.returncode == 1 and "not safe to run" in r.stderr,
         "swapped after check: freeze refuses", r.stderr)
    t.eq((lines(pwned), lines(trace), s.frozen()), ([], [], []),
         "the other user's file did not run; nothing is frozen")

    # ---- swapped between FREEZE and THAW
    good_target()
    reset()
    t.eq(d.ctl("freeze").returncode, 0, "frozen, the hook's freeze ran")
    users_dir()
    r = d.ctl("--json", "thaw")
    t.eq(s.frozen(), [], "the thaw thawed the filesystems")
    t.ok(lines(pwned) == [], "the other user's file did not run as root at thaw",
         "it wrote uid %s" % lines(pwned))
    t.eq(lines(trace), ["%s freeze" % real_target], "only the freeze ran")
    hooks = hooks_report(r.stdout)
    t.ok(any(h.get("name") == "50-link" and h.get("result") == "refused" for h in hooks),
         "the thaw report says the hook was refused", r.stdout[-1500:])
    t.ok(qtest.wait_for(lambda: "not running %s/50-link thaw: it is not safe to run" % hd in d.log_text(), 3),
         "and the log says why", d.log_text()[-1500:])

    # ---- the symlink itself swapped for one to another user's file, between FREEZE and THAW
    good_target()
    reset()
    t.eq(d.ctl("freeze").returncode, 0, "frozen again")
    other = os.path.join(s.dir, "other")
    os.mkdir(other, 0o755)
    os.chown(other, NOBODY, NOBODY)
    write_hook(os.path.join(other, "hook"), 'id -u > %s' % pwned, uid=0)
    os.symlink(os.path.join(other, "hook"), link + ".new")
    os.rename(link + ".new", link)
    d.ctl("thaw")
    t.eq((lines(pwned), s.frozen()), ([], []),
         "a symlink pointed into another user's directory at thaw is not followed there")

    # ---- through another user's symlink to a root-owned program: every step counts,
    # not only the real path (which is root's all the way here)
    os.unlink(link)
    rootbin = os.path.join(s.dir, "rootbin")
    os.mkdir(rootbin, 0o755)
    write_hook(os.path.join(rootbin, "prog"), 'id -u > %s' % pwned)
    udir = os.path.join(s.dir, "udir")
    os.mkdir(udir, 0o755)
    os.symlink(os.path.join(rootbin, "prog"), os.path.join(udir, "ulink"))
    os.lchown(os.path.join(udir, "ulink"), NOBODY, NOBODY)
    os.chown(udir, NOBODY, NOBODY)
    os.symlink(os.path.join(udir, "ulink"), os.path.join(hd, "70-via"))
    reset()
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "70-via is not safe to run" in r.stderr and "owned by uid 65534" in r.stderr,
         "check refuses a hook reached through another user's directory and symlink", r.stderr)
    r = d.ctl("freeze")
    t.eq((r.returncode, lines(pwned), s.frozen()), (1, [], []), "freeze refuses it, runs nothing")
    os.chown(udir, 0, 0)
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "(a symlink on its path) is owned by uid 65534" in r.stderr,
         "in a root directory, another user's symlink on the way is refused too", r.stderr)
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
