#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The hook directory (qemu-ga's fsfreeze-hook.d convention, bounded): hooks run as
`HOOK freeze` in name order after the apps froze and before the filesystems freeze,
and `HOOK thaw` in reverse after the filesystems thawed and before the apps thaw;
leftovers (*~, *.dpkg-*, *.rpm*, *.bak, *.orig, *.sample, dotfiles), non-executables
and directories are skipped; a failing or hanging freeze hook vetoes the freeze, and
exactly the hooks whose freeze ran get thaw; a hook past its timeout is killed with
its process group; output goes to the log after the phase; stdin is /dev/null, each
hook leads its own session; CHECK runs nothing but refuses unsafe hooks."""
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
from apptest import Sim  # noqa: E402

t = qtest.start()

s = qtest.Scratch(n=1)
mnt = s.mounts[0]
hd = os.path.join(s.dir, "hooks.d")
os.mkdir(hd, 0o755)
trace = os.path.join(s.dir, "trace")   # outside the frozen filesystem
outside = os.path.join(s.dir, "outside-hook")

# Every hook appends "NAME ARG" to the trace; extra shell code per hook.
COMMON = 'echo "$(basename "$0") $1" >> %s\n' % trace


def hook(name, body="", mode=0o755, path=None):
    p = path or os.path.join(hd, name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + COMMON + body + "\n")
    os.chmod(p, mode)
    return p


def trace_lines():
    return qtest.read_lines(trace)


def reset_trace():
    open(trace, "w").close()


def log_index(d, text):
    log = d.log_text()
    return log.find(text)


hook("10-first", 'echo "out of 10 $1"; echo "err of 10 $1" >&2\n'
     'readlink /proc/self/fd/0 > %s/10.stdin\n'
     'awk \'{print $6}\' /proc/$$/stat > %s/10.sid; echo $$ > %s/10.pid\n'
     'env > %s/10.env\n'
     'echo "$1" > %s/hook-$1 && sync %s/hook-$1\n'
     'python3 -c "import time; print(time.monotonic_ns())" > %s/10.$1.ns'
     % (s.dir, s.dir, s.dir, s.dir, mnt, mnt, s.dir))
hook("20-second")
hook("30-third")
for leftover in ("25-x~", "26-x.dpkg-old", "27-x.rpmnew", "28-x.bak", "29-x.orig", "31-x.sample", ".hidden"):
    hook(leftover)
hook("40-noexec", mode=0o644)
os.mkdir(os.path.join(hd, "50-dir"), 0o755)
hook(None, path=outside)
os.symlink(outside, os.path.join(hd, "60-link"))

# Hooks here start python3: give them room on a loaded machine (valgrind, sanitizers).
HOOK_TIMEOUT_MS = int(2000 * qtest.SLOW)
d = qtest.Daemon(s, "--hook-dir", hd, "--hook-timeout", "%dms" % HOOK_TIMEOUT_MS,
                 timeout=5 * qtest.SLOW)
sims = []
try:
    app = Sim(d, "hk-app") if os.access(apptest.SIM, os.X_OK) else None
    sims += [app] if app else []

    # ---- CHECK runs nothing
    reset_trace()
    r = d.ctl("--json", "check")
    t.eq(r.returncode, 0, "check with safe hooks passes")
    t.eq(trace_lines(), [], "check runs no hook")

    # ---- order, skipping, environment
    r = d.ctl("--json", "freeze")
    t.eq(r.returncode, 0, "freeze with hooks succeeds")
    t.eq(trace_lines(), ["10-first freeze", "20-second freeze", "30-third freeze", "outside-hook freeze"],
         "freeze hooks ran in name order (a symlink to a safe hook counts, run by its real "
         "path); leftovers, "
         "non-executables and directories skipped")
    t.eq(s.frozen(), s.mounts, "then the filesystem froze")
    with open(os.path.join(mnt, "hook-freeze")) as f:
        t.eq(f.read(), "freeze\n", "the freeze hook wrote and synced on the filesystem: it was not frozen yet")
    with open(os.path.join(s.dir, "10.stdin")) as f:
        t.eq(f.read().strip(), "/dev/null", "stdin is /dev/null")
    with open(os.path.join(s.dir, "10.sid")) as f, open(os.path.join(s.dir, "10.pid")) as g:
        t.eq(f.read().strip(), g.read().strip(), "the hook leads its own session (setsid)")
    with open(os.path.join(s.dir, "10.env")) as f:
        env = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    t.ok(env.get("QUIESCE_PHASE") == "freeze" and env.get("QUIESCE_ORIGIN") == "control" and
         env.get("QUIESCE_HOOK_TIMEOUT_MS") == str(HOOK_TIMEOUT_MS) and "PATH" in env and
         not any(k.startswith("QUIESCE_REQUIRE") for k in env),
         "the environment is the documented minimal one", repr(env))
    reset_trace()
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "thaw succeeds")
    t.eq(trace_lines(), ["outside-hook thaw", "30-third thaw", "20-second thaw", "10-first thaw"],
         "thaw hooks ran in reverse order")
    with open(os.path.join(mnt, "hook-thaw")) as f:
        t.eq(f.read(), "thaw\n", "the thaw hook wrote on the filesystem: it was thawed already")
    with open(os.path.join(s.dir, "10.env")) as f:
        t.ok("QUIESCE_FREEZE_RESULT=ok" in f.read(), "a thaw hook is told how its freeze went")

    # ---- order against apps: app FREEZE < hook freeze; hook thaw < app THAW
    if app:
        with open(os.path.join(s.dir, "10.freeze.ns")) as f:
            hook_freeze = int(f.read())
        with open(os.path.join(s.dir, "10.thaw.ns")) as f:
            hook_thaw = int(f.read())
        app_freeze = app.events("FREEZE")[0][0]
        app_thaw = app.events("THAW")[0][0] if app.wait_event("THAW") else None
        t.ok(app_freeze < hook_freeze, "the app answered FREEZE before the hooks ran")
        t.ok(app_thaw and hook_thaw < app_thaw, "the hooks thawed before the app got THAW")
    else:
        t.skip("order against apps", "appvss-sim not built")
        t.skip("order against apps (thaw)", "appvss-sim not built")

    # ---- output in the log, after each phase
    log = d.log_text()
    i_freeze_out = log.find("hook 10-first freeze: out of 10 freeze")
    i_freeze_err = log.find("hook 10-first freeze: err of 10 freeze")
    i_froze = log.find("control: froze 1 filesystem")
    i_thaw_out = log.find("hook 10-first thaw: out of 10 thaw")
    i_thawing = log.find("transaction: frozen -> thawing")
    t.ok(0 <= i_freeze_out < i_froze and i_freeze_err >= 0,
         "freeze hook output (stdout and stderr) is in the log, before the filesystems froze")
    t.ok(i_thaw_out > i_thawing >= 0, "thaw hook output is in the log, after the thaw began")

    # ---- veto and unwinding: 20 fails, 30 never runs, 20 and 10 get thaw
    hook("20-second", '[ "$1" = freeze ] && { echo "cannot freeze"; exit 3; }\nenv > %s/20.env; exit 0' % s.dir)
    reset_trace()
    r = d.ctl("--json", "freeze")
    t.eq(r.returncode, 1, "a failing freeze hook fails the freeze")
    t.ok("hook 20-second exited with status 3" in r.stderr or "hook 20-second exited with status 3" in r.stdout,
         "the error names the hook and its status", r.stdout + r.stderr)
    t.eq(s.frozen(), [], "no filesystem was frozen")
    t.eq(trace_lines(), ["10-first freeze", "20-second freeze", "20-second thaw", "10-first thaw"],
         "unwinding: thaw for the hooks whose freeze ran (the failed one included), in reverse; "
         "the hooks after it never ran")
    with open(os.path.join(s.dir, "20.env")) as f:
        t.ok("QUIESCE_FREEZE_RESULT=failed" in f.read(), "the failed hook's thaw is told its freeze failed")
    t.ok("hook 20-second freeze: cannot freeze" in d.log_text(), "its output is in the log")
    if app:
        t.ok(app.wait_event("THAW", 2), "the app that froze before the hooks was thawed")

    # ---- timeout: the hook and what it started are killed
    hook("20-second", '[ "$1" = thaw ] && exit 0\nsleep 60 & echo $! > %s/20.pids; echo $$ >> %s/20.pids; wait'
         % (s.dir, s.dir))
    reset_trace()
    t0 = time.monotonic()
    r = d.ctl("freeze")
    took = time.monotonic() - t0
    t.ok(r.returncode == 1 and "hook 20-second timed out" in r.stderr, "a hanging freeze hook times out: veto", r.stderr)
    t.ok(took < 5 * qtest.SLOW, "after its --hook-timeout (%.1f s), not the hook's 60 s" % took)
    t.eq(s.frozen(), [], "nothing frozen")
    with open(os.path.join(s.dir, "20.pids")) as f:
        pids = [int(x) for x in f.read().split()]
    t.ok(len(pids) == 2 and qtest.wait_for(lambda: not any(apptest.alive(p) for p in pids), 3),
         "the hook and the sleep it started were killed (its process group)")
    t.eq(trace_lines(), ["10-first freeze", "20-second freeze", "20-second thaw", "10-first thaw"],
         "the killed hook and the one before it get thaw")

    # ---- a thaw overtaking a freeze hook: the hook is killed and unwound
    hook("20-second", '[ "$1" = thaw ] && exit 0\nsleep 60 & echo $! > %s/20.pids; echo $$ >> %s/20.pids; wait'
         % (s.dir, s.dir))
    reset_trace()
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("r", d.ctl("freeze")))
    th.start()
    qtest.wait_for(lambda: "20-second freeze" in trace_lines() and os.path.exists(os.path.join(s.dir, "20.pids")), 3)
    time.sleep(0.1)
    r = d.ctl("thaw")
    th.join(30)
    t.ok(r.returncode == 0 and box["r"].returncode == 1 and "cancelled" in box["r"].stderr,
         "a thaw during a freeze hook cancels the freeze", box["r"].stderr)
    t.eq(trace_lines(), ["10-first freeze", "20-second freeze", "20-second thaw", "10-first thaw"],
         "the cancelled hook and the one before it get thaw")
    t.eq(s.frozen(), [], "nothing frozen")
    with open(os.path.join(s.dir, "20.pids")) as f:
        pids = [int(x) for x in f.read().split()]
    t.ok(len(pids) == 2 and qtest.wait_for(lambda: not any(apptest.alive(p) for p in pids), 3),
         "the cancelled hook and its child were killed")
    os.unlink(os.path.join(s.dir, "20.pids"))

    # ---- a failing thaw hook does not fail the thaw
    hook("20-second", '[ "$1" = thaw ] && exit 4; exit 0')
    r = d.ctl("freeze")
    t.eq(r.returncode, 0, "freeze")
    r = d.ctl("--json", "thaw")
    t.eq(r.returncode, 0, "a failing thaw hook does not fail the thaw (the filesystems are thawed)")
    t.ok("hook 20-second thaw exited with status 4" in r.stdout, "the report says it failed", r.stdout[-1500:])
    t.eq(s.frozen(), [], "thawed")

    # ---- a hook that cannot be executed
    hook("20-second")
    with open(os.path.join(hd, "15-badinterp"), "w") as f:
        f.write("#!/nonexistent/interpreter\n")
    os.chmod(os.path.join(hd, "15-badinterp"), 0o755)
    r = d.ctl("freeze")
    if qtest.VALGRIND:
        # valgrind follows the fork and reports the failed execve itself (status 101).
        t.ok(r.returncode == 1 and "hook 15-badinterp exited with status" in r.stderr,
             "a hook that cannot be executed vetoes", r.stderr)
        t.skip("... and says so in the log", "valgrind handles the failed execve itself")
    else:
        t.ok(r.returncode == 1 and "hook 15-badinterp exited with status 127" in r.stderr,
             "a hook that cannot be executed vetoes (status 127)", r.stderr)
        t.ok("hook 15-badinterp freeze: quiesced: cannot execute the hook" in d.log_text(),
             "... and says so in the log")
    os.unlink(os.path.join(hd, "15-badinterp"))

    # ---- lots of output: the last 4 KiB are kept
    hook("20-second", 'i=0; while [ $i -lt 3000 ]; do echo "line $i of the output"; i=$((i+1)); done')
    r = d.ctl("freeze")
    t.eq(r.returncode, 0, "a hook with 60 KB of output")
    d.ctl("thaw")
    log = d.log_text()
    t.ok("hook 20-second freeze: line 2999 of the output" in log and
         "hook 20-second freeze: line 100 of the output" not in log and "bytes of output before these were dropped" in log,
         "only the end of a long output is logged, with a note")
    hook("20-second")

    # ---- unsafe hooks: check and freeze refuse, nothing runs
    os.chmod(os.path.join(hd, "30-third"), 0o777)
    reset_trace()
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "30-third is not safe to run: writable by everyone" in r.stderr,
         "check refuses a world-writable hook", r.stderr)
    r = d.ctl("freeze")
    t.ok(r.returncode == 1 and "not safe to run" in r.stderr, "so does freeze", r.stderr)
    t.eq(trace_lines(), [], "and no hook ran")
    os.chmod(os.path.join(hd, "30-third"), 0o755)
    os.chown(os.path.join(hd, "30-third"), 1234, 0)
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "owned by uid 1234" in r.stderr, "check refuses a hook not owned by root", r.stderr)
    os.chown(os.path.join(hd, "30-third"), 0, 0)
    os.chmod(hd, 0o777)
    r = d.ctl("check")
    t.ok(r.returncode == 1 and "hook directory" in r.stderr and "not safe" in r.stderr,
         "check refuses a world-writable hook directory", r.stderr)
    os.chmod(hd, 0o755)
    t.eq(d.ctl("check").returncode, 0, "safe again: check passes")

    # ---- no directory, no hooks
    shutil.rmtree(hd)
    r = d.ctl("freeze")
    t.eq(r.returncode, 0, "a missing hook directory means no hooks")
    d.ctl("thaw")
    t.eq(s.frozen(), [], "thawed")
finally:
    apptest.stop_all(sims)
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
