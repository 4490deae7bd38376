#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault matrix: filesystems that fail us.

- a candidate frozen by someone else (EBUSY): the freeze fails as busy, names it,
  unwinds ours and leaves theirs alone;
- a candidate of a type the kernel cannot freeze (vfat, let in with --include-type):
  CHECK says so, FREEZE fails at its FIFREEZE (EOPNOTSUPP) and unwinds;
- a mount that disappears between CHECK and FREEZE: not planned, not frozen;
- a mount that disappears, or is mounted over, between the plan and its FIFREEZE (the
  window widened: 'outer' holds 'inner', which is frozen first and stalls): the
  FIFREEZE is not issued on whatever is there now, the freeze fails naming it, and
  'inner' (reached through the fd kept since its freeze, even detached) is thawed;
- a candidate mounted over before the transaction: CHECK and FREEZE both refuse it;
- a frozen mount lazily unmounted (`umount -l`) while frozen: the thaw still reaches
  it through the fd kept since its freeze; its loop image deleted while frozen: the
  thaw works and blocked writes go through (attacks that held in issue 13's run: kept
  here so that they keep holding);
- a mount that disappears while the apps hold FREEZE (after CHECK, before the plan;
  needs the app registry): it is simply not frozen;
- the log target on a frozen filesystem: quiesced's stderr is a file on a mount it
  freezes; the cycle completes, status answers while frozen, nothing is written
  while frozen, and after the thaw every line is there, in order, the freeze-time ones
  included; more lines than the hold keeps are counted as dropped, never blocking;
  SIGTERM while frozen still thaws first and logs its exit.

After every case: tests/lib/faultcheck.py's checks.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402
import stallwrite  # noqa: E402

SLOW = qtest.SLOW
t = qtest.start(stall=True)

TIMEOUT, LEASE = 1, 5


def tmpfs_scratch():
    """A Scratch whose mnt is itself a tmpfs: a path left behind by an unmount leads to
    that tmpfs, never to the filesystem /tmp is on."""
    sc = qtest.Scratch(n=0)
    qtest.run(["mount", "-t", "tmpfs", "-o", "size=1m", "quiesce-mnt", sc.mnt])
    return sc


def err(ans):
    return (ans or {}).get("error") or {}


# ---------------------------------------------------------------- someone else's freeze


def foreign_freeze():
    s = qtest.Scratch(n=3)
    chk = fc.Checker(t, s)
    d = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    try:
        qtest.freeze_path(s.mounts[1])
        ans = d.call("quiesce-freeze")
        e = err(ans)
        t.ok(e.get("class") == "FilesystemError" and
             e.get("desc") == "%s is already frozen by another freezer (busy)" % s.mounts[1],
             "  freeze: FilesystemError, busy, naming the mount", repr(e.get("desc")))
        t.eq(fc.report_fs(ans).get(s.mounts[1]), "frozen by someone else",
             "  the report marks it as someone else's freeze")
        t.eq(fc.frozen_mounts(s), [s.mounts[1]], "  ours unwound, theirs left alone")
        r = d.call("quiesce-thaw")
        t.ok(r.get("return", {}).get("count") == 0, "  a thaw afterwards thaws nothing (not theirs)", repr(r))
        t.eq(fc.frozen_mounts(s), [s.mounts[1]], "  theirs is still frozen")
    finally:
        qtest.thaw_path(s.mounts[1])
    chk.after("foreign freeze (EBUSY)", d)
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 3, "  once they thawed, a freeze works", repr(r))
    d.call("quiesce-thaw")
    chk.after("foreign freeze (EBUSY), next cycle", d)
    chk.stop_clean(d, "foreign freeze (EBUSY)")
    s.cleanup()


# ---------------------------------------------------------------- gone while frozen


def lazy_unmount_frozen():
    s = qtest.Scratch(n=2)
    chk = fc.Checker(t, s)
    d = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    ans = d.call("quiesce-freeze")
    t.ok(ans.get("return", {}).get("count") == 2, "  both frozen", repr(ans)[:300])
    # Our own way to it once detached (and to thaw it should the daemon not).
    fd = os.open(s.mounts[1], os.O_RDONLY | os.O_DIRECTORY)
    try:
        subprocess.run(["umount", "-l", s.mounts[1]], check=True)
        t.ok(not os.path.ismount(s.mounts[1]) and fc.is_frozen_fd(fd),
             "  m1 lazily unmounted while frozen: detached, still frozen")
        ans = d.call("quiesce-thaw")
        t.ok(ans.get("return", {}).get("count") == 2, "  the thaw thaws both", repr(ans)[:300])
        t.ok(not fc.is_frozen_fd(fd), "  the detached one is thawed (through the fd kept since its freeze)")
    finally:
        if fc.is_frozen_fd(fd):
            qtest.fcntl.ioctl(fd, qtest.FITHAW, 0)
        os.close(fd)
    chk.after("lazy unmount while frozen", d)
    chk.stop_clean(d, "lazy unmount while frozen")
    s.cleanup()


def image_deleted_frozen():
    s = qtest.Scratch(n=1)
    chk = fc.Checker(t, s)
    d = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    ans = d.call("quiesce-freeze")
    t.ok(ans.get("return", {}).get("count") == 1, "  frozen", repr(ans)[:300])
    w = qtest.Writer(s.mounts[0])
    os.unlink(os.path.join(s.img, "m0.img"))
    ans = d.call("quiesce-thaw")
    t.ok(ans.get("return", {}).get("count") == 1, "  its loop image deleted while frozen: the thaw works",
         repr(ans)[:300])
    t.ok(w.done_within(5 * SLOW), "  the blocked writer goes through")
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 1, "  and a freeze after it", repr(r)[:300])
    d.call("quiesce-thaw")
    chk.after("loop image deleted while frozen", d, gone=[w.proc.pid])
    chk.stop_clean(d, "loop image deleted while frozen")
    s.cleanup()


# ---------------------------------------------------------------- a type that cannot freeze


def kernel_has(fstype):
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == fstype for line in f if line.strip())


def stuck_fifreeze():
    """m0's FIFREEZE never completes in time (a write stalled in it): the freeze fails
    at --fs-timeout, naming m0, m1 is unwound; the abandoned FIFREEZE holds a worker
    thread and keeps the next freeze out (busy) until it returns; then it is thawed at
    once, and quiesced is settled again."""
    s = qtest.Scratch(n=2)
    m0, m1 = s.mounts
    chk = fc.Checker(t, s)
    d = chk.daemon("--fs-timeout", "1", lease=LEASE, timeout=TIMEOUT)
    stall = stallwrite.StalledWrite(os.path.join(m0, "stall.dat"))
    try:
        ans = d.call("quiesce-freeze")
        e = err(ans)
        t.ok(e.get("class") == "FilesystemError" and
             e.get("desc") == "timed out freezing %s after 1000 ms" % m0,
             "  the freeze fails at --fs-timeout, naming m0", repr(e.get("desc")))
        t.eq(fc.report_fs(ans).get(m1), "thawed", "  m1, frozen meanwhile, is unwound")
        t.eq(fc.frozen_mounts_of(s, [m1]), [], "  ... really")
        st = fc.status(d)
        t.ok(st["state"] == "idle" and not fc.settled(st),
             "  quiesced is idle, the filesystems stage still active (the FIFREEZE is in the kernel)")
        rec = os.path.join(d.run_dir, "frozen.list")
        before = open(rec).read() if os.path.exists(rec) else None
        ans = d.call("quiesce-freeze", {"mountpoints": [m1]})
        t.ok(err(ans).get("desc") == "busy: an earlier freeze is still stuck in the kernel",
             "  a freeze meanwhile is refused: busy", repr(err(ans).get("desc")))
        after = open(rec).read() if os.path.exists(rec) else None
        t.ok(before is not None and m0 in before and after == before,
             "  and leaves the run-dir record naming the stuck m0 as it was",
             "before: %r\nafter: %r" % (before, after))
        t.ok(d.call("quiesce-status").get("return"), "  status still answers")
    finally:
        stall.release()
    st = fc.wait_idle(d, 5)
    t.ok(fc.settled(st), "  the FIFREEZE returned: quiesced is settled")
    t.ok(qtest.wait_for(lambda: "thawed after its late freeze" in d.log_text(), 5 * SLOW),
         "  m0, frozen late, was thawed at once", d.log_text()[-1500:])
    chk.after("a FIFREEZE stuck past --fs-timeout", d, gone=[stall.proc.pid])
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 2, "  then a freeze works", repr(r)[:300])
    d.call("quiesce-thaw")
    chk.after("a FIFREEZE stuck past --fs-timeout, next cycle", d)
    chk.stop_clean(d, "a FIFREEZE stuck past --fs-timeout")
    s.cleanup()


def unfreezable_type():
    if not kernel_has("vfat"):
        t.skip("a candidate the kernel cannot freeze (vfat)", "this kernel has no vfat")
        return
    s = qtest.Scratch(n=2)
    vf = s.add("vfat", name="vfat")
    chk = fc.Checker(t, s)
    d = chk.daemon("--include-type", "ext4", "--include-type", "vfat", lease=LEASE, timeout=TIMEOUT)
    ans = d.call("quiesce-check")
    t.ok(err(ans).get("desc") == "%s cannot be frozen: vfat does not support it" % vf,
         "  check: the vfat candidate cannot be frozen", repr(err(ans).get("desc")))
    ans = d.call("quiesce-freeze")
    e = err(ans)
    t.ok(e.get("class") == "FilesystemError" and vf in e.get("desc", "") and
         "Operation not supported" in e.get("desc", ""),
         "  freeze: FilesystemError naming it (EOPNOTSUPP)", repr(e.get("desc")))
    states = fc.report_fs(ans)
    t.ok(states.get(vf) == "failed" and all(states.get(m) in ("thawed", "skipped") for m in s.mounts[:2]),
         "  the others are unwound", repr(states))
    chk.after("unfreezable type (vfat)", d)
    chk.stop_clean(d, "unfreezable type (vfat)")
    s.cleanup()


# ---------------------------------------------------------------- mounts that go away


def gone_after_check():
    s = qtest.Scratch(n=3)
    chk = fc.Checker(t, s)
    d = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    ans = d.call("quiesce-check")
    t.ok("return" in ans, "  check passes with three candidates")
    subprocess.run(["umount", s.mounts[2]], check=True)
    ans = d.call("quiesce-freeze")
    t.ok(ans.get("return", {}).get("count") == 2, "  freeze after the unmount freezes the other two", repr(ans)[:300])
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts[:2]), "  exactly those")
    d.call("quiesce-thaw")
    chk.after("mount gone between CHECK and FREEZE", d)
    chk.stop_clean(d, "mount gone between CHECK and FREEZE")
    s.cleanup()


def changed_after_plan(how):
    """'outer' holds 'inner' (inner is mounted on a directory of outer), so inner is frozen
    first; a write stalled in inner holds its FIFREEZE while outer waits, planned but
    not yet frozen. Then outer goes away (how='unmount': umount -l, inner with it) or is
    mounted over (how='overmount'), and the stall is released."""
    s = tmpfs_scratch()
    outer = s.add(name="outer")
    inner = s.add(name="inner", mountpoint=os.path.join(outer, "in"))
    chk = fc.Checker(t, s)
    d = chk.daemon("--fs-timeout", str(10 * SLOW), lease=LEASE, timeout=TIMEOUT)
    label = "outer %s between plan and FIFREEZE" % ("unmounted" if how == "unmount" else "mounted over")
    inner_fd = os.open(inner, os.O_RDONLY | os.O_DIRECTORY)
    outer_fd = os.open(outer, os.O_RDONLY | os.O_DIRECTORY)
    stall = stallwrite.StalledWrite(os.path.join(inner, "stall.dat"))
    try:
        bg = fc.BgCall(d.control, "quiesce-freeze")
        t.ok(fc.wait_fs(d, {inner: "freezing", outer: "pending"}, 5) and fc.wait_in_fifreeze(d.proc.pid),
             "  inner's FIFREEZE is stuck in the kernel; outer is planned, waiting for it", repr(fc.status(d)))
        if how == "unmount":
            qtest.run(["umount", "-l", outer])
        else:
            qtest.run(["mount", "-t", "tmpfs", "-o", "size=1m", "quiesce-over", outer])
        stall.release()
        ans = bg.result()
        bg.close()
        e = err(ans)
        t.ok(e.get("class") == "FilesystemError" and
             e.get("desc") == "%s changed since it was planned (unmounted or mounted over)" % outer,
             "  the freeze fails: outer changed since it was planned", repr(e.get("desc")))
        states = fc.report_fs(ans)
        t.eq((states.get(inner), states.get(outer)), ("thawed", "failed"),
             "  inner froze and was thawed; outer was never frozen")
        st = fc.wait_idle(d)
        t.ok(fc.settled(st), "  quiesced is idle")
        t.eq((fc.is_frozen_fd(inner_fd), fc.is_frozen_fd(outer_fd)), (False, False),
             "  through fds kept from before: neither is frozen")
        t.ok("frozen" not in fc.fs_states(st).values(), "  (status agrees)", repr(fc.fs_states(st)))
    finally:
        stall.release()
        stall.kill()
        for fd in (inner_fd, outer_fd):
            try:
                fcntl_thaw(fd)
            finally:
                os.close(fd)
    chk.after(label, d, gone=[stall.proc.pid])
    chk.stop_clean(d, label)
    s.cleanup()


def fcntl_thaw(fd):
    import fcntl
    try:
        fcntl.ioctl(fd, qtest.FITHAW, 0)
    except OSError:
        pass


def overmounted_before():
    s = qtest.Scratch(n=2)
    chk = fc.Checker(t, s)
    d = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    m1 = s.mounts[1]
    qtest.run(["mount", "-t", "tmpfs", "-o", "size=1m", "quiesce-over", m1])
    try:
        ans = d.call("quiesce-check")
        t.ok(m1 in err(ans).get("desc", "") and "mounted over" in err(ans).get("desc", ""),
             "  check: the candidate is mounted over", repr(err(ans).get("desc")))
        ans = d.call("quiesce-freeze")
        e = err(ans)
        t.ok(e.get("class") == "FilesystemError" and m1 in e.get("desc", ""),
             "  freeze: FilesystemError naming it", repr(e.get("desc")))
        t.eq(fc.frozen_mounts(s), [], "  nothing frozen (the tmpfs on top neither)")
    finally:
        subprocess.run(["umount", m1])
    chk.after("candidate mounted over", d)
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 2, "  uncovered again: a freeze works", repr(r)[:300])
    d.call("quiesce-thaw")
    chk.after("candidate mounted over, next cycle", d)
    chk.stop_clean(d, "candidate mounted over")
    s.cleanup()


# ---------------------------------------------------------------- the log on a frozen filesystem

STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) ")


def stamps(text):
    out = []
    for line in text.splitlines():
        m = STAMP.match(line)
        if m:
            h, mi, sec, ms = map(int, m.groups())
            out.append(((h * 60 + mi) * 60 + sec) * 1000 + ms)
    return out


def log_on_frozen():
    s = qtest.Scratch(n=2)
    m0 = s.mounts[0]
    log = os.path.join(m0, "quiesced.log")
    chk = fc.Checker(t, s)
    d = chk.daemon(lease=LEASE, timeout=TIMEOUT, log_path=log)
    label = "log on a frozen filesystem"
    size0 = os.path.getsize(log)
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 2, "  freeze completes with stderr on m0", repr(r)[:300])
    size1 = os.path.getsize(log)
    w = qtest.Writer(m0, name="w.dat")
    t.ok(not w.done_within(0.3), "  a writer on m0 blocks: m0 is really frozen")
    for i in range(5):
        st = fc.status(d, timeout=5)
        if not (st and st.get("state") == "frozen"):
            break
    t.ok(st and st.get("state") == "frozen", "  status answers while frozen (logging does not block it)")
    t.eq(os.path.getsize(log), size1, "  nothing was written to the log while frozen")
    r = d.call("quiesce-thaw")
    t.ok(r.get("return", {}).get("count") == 2, "  the thaw completes", repr(r)[:300])
    t.ok(w.done_within(10 * SLOW), "  the writer goes through")
    text = open(log).read()
    after_freeze = text[size0:]
    t.ok(re.search(r"control: froze 2 filesystems in [0-9.]+ ms; lease", after_freeze),
         "  after the thaw: the freeze line is there")
    n_status = after_freeze.count("control: quiesce-status (uid 0)")
    t.ok(n_status >= 5, "  the lines logged while frozen are there (%d status calls)" % n_status)
    t.ok(re.search(r"control: thawed 2 filesystems", after_freeze), "  and the thaw line")
    order = [after_freeze.find(x) for x in ("transaction: idle -> freezing", "froze 2 filesystems",
                                            "quiesce-status", "quiesce-thaw", "thawed 2 filesystems")]
    t.ok(all(x >= 0 for x in order) and order == sorted(order), "  in the order they happened", repr(order))
    ts = stamps(after_freeze)
    t.ok(ts and ts == sorted(ts), "  their timestamps never go back")

    # More lines than the hold keeps: counted as dropped, never blocking.
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 2, "  frozen again")
    pos = os.path.getsize(log)
    for i in range(300):  # two debug lines each
        c = qtest.Client(d.control, timeout=5)
        c.call("quiesce-status")
        c.close()
    t.eq(os.path.getsize(log), pos, "  600 lines while frozen: nothing written")
    r = d.call("quiesce-thaw")
    t.ok(r.get("return", {}).get("count") == 2, "  the thaw completes")
    tail = open(log).read()[pos:]
    m = re.search(r"warning: (\d+) log lines were dropped while frozen", tail)
    t.ok(m and int(m.group(1)) > 0, "  the lines beyond the hold are counted as dropped", tail[-500:])

    # SIGTERM while frozen: thaw first, then the held lines, then the exit.
    pos = os.path.getsize(log)
    r = d.call("quiesce-freeze")
    t.ok(r.get("return", {}).get("count") == 2, "  frozen again")
    g = chk.guardian_of(d)
    chk.stop_clean(d, label + ", SIGTERM while frozen")
    tail = open(log).read()[pos:]
    order = [tail.find(x) for x in ("froze 2 filesystems", "signal 15: shutting down",
                                    "shutting down: thawing first", "thawed 2 filesystems",
                                    "quiesced stopped")]
    t.ok(all(x >= 0 for x in order) and order == sorted(order),
         "  SIGTERM while frozen: every line written, in order, after the thaw", tail[-1500:])
    d2 = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    chk.after(label, d2, gone=[d.proc.pid, g, w.proc.pid])
    chk.stop_clean(d2, label + " (next quiesced)")
    s.cleanup()


def gone_while_apps_freeze():
    """Unmounted while an app holds FREEZE: the plan is made after the apps, so the mount
    is simply not planned, and the freeze freezes the rest."""
    import apptest
    s = qtest.Scratch(n=3)
    chk = fc.Checker(t, s)
    d = chk.daemon(lease=LEASE, timeout=TIMEOUT)
    app = apptest.Sim(d, "slow", "-S", "700")
    bg = fc.BgCall(d.control, "quiesce-freeze")
    t.ok(fc.wait_state(d, "freezing", 5), "  the app holds FREEZE")
    subprocess.run(["umount", s.mounts[2]], check=True)
    ans = bg.result()
    bg.close()
    t.ok(ans and ans.get("return", {}).get("count") == 2, "  the freeze freezes the two left", repr(ans)[:300])
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts[:2]), "  exactly those")
    t.eq(d.call("quiesce-thaw").get("return", {}).get("count"), 2, "  thaw")
    app.stop()
    chk.after("mount gone while the apps hold FREEZE", d, gone=[app.pid])
    chk.stop_clean(d, "mount gone while the apps hold FREEZE")
    s.cleanup()


CASES = [
    ("a candidate frozen by someone else (EBUSY)", foreign_freeze, False),
    ("a FIFREEZE stuck past --fs-timeout", stuck_fifreeze, False),
    ("a candidate the kernel cannot freeze (vfat)", unfreezable_type, False),
    ("a mount gone between CHECK and FREEZE", gone_after_check, False),
    ("a mount gone while the apps hold FREEZE", gone_while_apps_freeze, True),
    ("a mount gone between plan and FIFREEZE", lambda: changed_after_plan("unmount"), False),
    ("a mount covered between plan and FIFREEZE", lambda: changed_after_plan("overmount"), False),
    ("a candidate mounted over", overmounted_before, False),
    ("a mount lazily unmounted while frozen", lazy_unmount_frozen, False),
    ("a loop image deleted while frozen", image_deleted_frozen, False),
    ("the log target on a frozen filesystem", log_on_frozen, False),
]

fc.run_cases(t, CASES)
t.exit()
