#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The PostgreSQL agent proven by restoring: a real PostgreSQL 15 on a scratch loop
mount, writers committing continuously (4 sessions, two tables in each
transaction), and while they run `quiescectl snapshot -- cp <image> <backup>`. A
second server started on the copy must start; every commit acknowledged before the
freeze began must be there and nothing acknowledged after the thaw; each writer's
rows must be gapless and agree with its counter row (both tables in one
transaction); amcheck must find nothing. The WAL replayed at its start is measured.

Then the same without the agent (a crash-consistent snapshot), as the comparison:
the figures of both runs are printed as TAP diagnostics. What is asserted holds for
both (PostgreSQL is crash safe): the agent's gain is the length of the recovery,
reported, not asserted, and the WAL position it reports for the snapshot.

Runs once per CI run: skipped under SANITIZE=1 and QUIESCE_VALGRIND=1 (the agent's
own code runs under ASan+UBSan in db_postgresql_agent.py). Servers, agents, writers,
restored mounts and loop devices are cleaned up in every case, also on failure."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
import pgtest  # noqa: E402

t = qtest.Tap()
qtest.require_root(t)
if os.environ.get("SANITIZE") == "1" or os.environ.get("QUIESCE_VALGRIND") == "1" or \
        qtest.BUILD.rstrip("/").endswith("sanitize"):
    t.skip_all("the restore test runs once per CI run, in the plain stage")
why = pgtest.available()
if why:
    t.skip_all(why)

WRITERS = 4
servers, agents, mounts, restored, loops, writers = [], [], [], [], [], []


def cleanup():
    for w in writers:
        w.stop()
    pgtest.stop_all(servers, agents, mounts)
    for mp in restored:
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    for lo in loops:
        subprocess.run(["losetup", "-d", lo], stderr=subprocess.DEVNULL)


qtest.at_cleanup(cleanup)
s = qtest.Scratch(n=1, size_mb=512)
mounts += s.mounts
pgtest.open_path(s.dir, s.mnt, s.mounts[0])
d = qtest.Daemon(s, timeout=20, lease=120)
image = os.path.join(s.img, "m0.img")
pg = pgtest.Server(os.path.join(s.mounts[0], "pgdata"), os.path.join(s.dir, "sock"), 54351,
                   os.path.join(s.dir, "pg.log"))
servers.append(pg)


def restore(tag, backup):
    """Mount the copied image and start a second server on it; (server, mountpoint)."""
    lo = qtest.run(["losetup", "--find", "--show", backup]).stdout.strip()
    loops.append(lo)
    mp = os.path.join(s.dir, "restore-" + tag)
    os.makedirs(mp)
    qtest.run(["mount", "-t", "ext4", lo, mp])
    restored.append(mp)
    pgtest.open_path(mp)
    r = pgtest.Server(os.path.join(mp, "pgdata"), os.path.join(s.dir, "sock-" + tag), 54352,
                      os.path.join(s.dir, "restored-%s.log" % tag))
    servers.append(r)
    pgtest.pg_owned_dir(r.sockdir, 0o755)
    # The copy's postmaster.pid names the original server's pid. PostgreSQL refuses to
    # start while that pid exists, and on this machine it may (the original's exit not
    # reaped yet, or reused): a restore on another machine never sees it. No server
    # runs on the copy, so removing it is what the documentation allows.
    os.unlink(os.path.join(r.datadir, "postmaster.pid"))
    return r, mp


def rows(server):
    """{writer: (count, max seq, counter)} of a server's tables."""
    out = {}
    for line in server.psql("SELECT c.writer, count(*), max(seq), max(k.n) FROM commits c "
                            "JOIN counters k USING (writer) GROUP BY c.writer").splitlines():
        w, n, top, k = (int(x) for x in line.split("|"))
        out[w] = (n, top, k)
    return out


def amcheck(server):
    server.psql("CREATE EXTENSION IF NOT EXISTS amcheck")
    idx = server.psql("SELECT count(bt_index_check(c.oid, true)) FROM pg_index i "
                      "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                      "WHERE a.amname = 'btree' AND c.relpersistence = 'p'")
    heap = server.psql("SELECT (SELECT count(*) FROM verify_heapam('commits')) + "
                       "(SELECT count(*) FROM verify_heapam('counters'))")
    return int(idx), int(heap)


def scenario(tag, with_agent):
    """One snapshot under load and its restore; returns the figures for the diagnostics."""
    label = "with the agent" if with_agent else "crash-consistent (no agent)"
    if not pg.running():
        pg.start()
    a = None
    if with_agent:
        a = pgtest.Agent(d, pg, os.path.join(s.dir, "agent.log"))
        agents.append(a)
        t.ok(a.wait_log("connected to PostgreSQL") and apptest.wait_apps(d, 1),
             "%s: the agent is registered and connected" % label)
    # Each run starts from empty tables (the writers number their commits from 1).
    pg.psql("TRUNCATE commits, counters")
    logdir = os.path.join(s.dir, "writers-" + tag)
    os.makedirs(logdir)
    w = pgtest.Writers(pg, logdir, WRITERS)
    writers.append(w)
    t.ok(qtest.wait_for(lambda: all(os.path.exists(p) and os.path.getsize(p) > 4000 for p in w.logs),
                        60), "%s: the writers commit" % label)
    time.sleep(2)
    backup = os.path.join(s.dir, "backup-%s.img" % tag)
    marks = os.path.join(s.dir, "marks-" + tag)
    copy = ("import subprocess, sys, time\n"
            "f = open(sys.argv[1], 'w'); f.write('%d\\n' % time.monotonic_ns()); f.flush()\n"
            "subprocess.run(['cp', '--sparse=always', sys.argv[2], sys.argv[3]], check=True)\n"
            "f.write('%d\\n' % time.monotonic_ns()); f.close()\n")
    t_freeze = time.monotonic_ns()
    r = d.ctl("--json", "snapshot", "--", sys.executable, "-c", copy, marks, image, backup)
    t_thawed = time.monotonic_ns()
    time.sleep(1)
    acks = w.stop()
    writers.remove(w)
    t.ok(r.returncode == 0, "%s: quiescectl snapshot -- cp ran and thawed" % label,
         r.stdout[-1500:] + r.stderr)
    t.eq(s.frozen(), [], "%s: nothing frozen after it" % label)
    detail = ""
    # snapshot --json prints the freeze's and the thaw's answers on stderr, one a line.
    for line in r.stderr.splitlines():
        try:
            ans = json.loads(line)
        except ValueError:
            continue
        for ph in (ans.get("report") or ans).get("phases", []) if isinstance(ans, dict) else []:
            for app in ph.get("apps", []):
                if ph.get("op") == "freeze" and app.get("detail"):
                    detail = app["detail"]
    if with_agent:
        t.ok(detail.startswith("lsn "), "%s: the snapshot's report has the WAL position" % label, detail)
        a.stop()
        agents.remove(a)
    with open(marks) as f:
        t_cp0, t_cp1 = (int(x) for x in f.read().split())
    pg.stop()

    rs, mp = restore(tag, backup)
    started = rs.start(check=False).returncode == 0
    t.ok(started, "%s: a server starts on the copy" % label, rs.log_text()[-2000:])
    fig = {"label": label, "detail": detail}
    if not started:
        return fig
    got = rows(rs)
    before = after = present_in_window = window = 0
    ok_before = ok_after = ok_gapless = True
    for wid, lst in acks.items():
        n, top, k = got.get(wid, (0, 0, 0))
        ok_gapless &= n == top == k
        acked_before = [seq for seq, ts in lst if ts < t_freeze]
        acked_after = [seq for seq, ts in lst if ts > t_thawed]
        ok_before &= not acked_before or top >= max(acked_before)
        ok_after &= not acked_after or top < min(acked_after)
        before += len(acked_before)
        after += len(acked_after)
        inw = [seq for seq, ts in lst if t_freeze <= ts <= t_thawed]
        window += len(inw)
        present_in_window += sum(1 for seq in inw if seq <= top)
    t.ok(ok_before, "%s: every commit acknowledged before the freeze began is there (%d)" % (label, before))
    t.ok(ok_after, "%s: none acknowledged after the thaw is there (%d)" % (label, after))
    t.ok(ok_gapless, "%s: each writer's rows are gapless and match its counter (one transaction)"
         % label, repr(got))
    idx, heap = amcheck(rs)
    t.ok(idx >= 2 and heap == 0, "%s: amcheck: %d btree indexes and the heaps check clean" % (label, idx))
    redo = pgtest.redo_range(rs.log_text())
    fig.update(before=before, after=after, window=window, window_present=present_in_window,
               restored=sum(v[0] for v in got.values()),
               wal=(redo[1] - redo[0]) if redo else 0, redo_s=pgtest.redo_seconds(rs.log_text()),
               freeze_ms=(t_cp0 - t_freeze) / 1e6, held_ms=(t_thawed - t_freeze) / 1e6)
    rs.stop()
    servers.remove(rs)
    subprocess.run(["umount", mp])
    restored.remove(mp)
    lo = loops.pop()
    subprocess.run(["losetup", "-d", lo])
    os.unlink(backup)
    return fig


try:
    pg.initdb()
    pg.start()
    pg.psql("CREATE TABLE commits (writer int, seq bigint, pad text, PRIMARY KEY (writer, seq)); "
            "CREATE TABLE counters (writer int PRIMARY KEY, n bigint NOT NULL)")
    figs = [scenario("agent", True), scenario("crash", False)]
    for f in figs:
        if "wal" not in f:
            continue
        t.diag("%s: %d commits acknowledged before the freeze, %d while it ran (%d of them in "
               "the copy), %d after the thaw; %d rows restored" % (
                   f["label"], f["before"], f["window"], f["window_present"], f["after"], f["restored"]))
        t.diag("%s: WAL replayed at the restored start: %d bytes (%s s); freeze %.0f ms, "
               "snapshot held %.0f ms%s" % (
                   f["label"], f["wal"], f["redo_s"], f["freeze_ms"], f["held_ms"],
                   "; agent: " + f["detail"] if f["detail"] else ""))
    if len(figs) == 2 and all("wal" in f for f in figs):
        t.diag("WAL replayed: %d bytes with the agent, %d crash-consistent" % (figs[0]["wal"], figs[1]["wal"]))
    qtest.stop_clean(t, d)
finally:
    cleanup()
    d.kill()
    s.cleanup()
t.exit()
