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
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import dbtest  # noqa: E402
import pgtest  # noqa: E402

WRITERS = 4
t, procs, s, d, image = dbtest.restore_start(pgtest)
servers, restores = procs.servers, procs.restores
pg = pgtest.Server(os.path.join(s.mounts[0], "pgdata"), os.path.join(s.dir, "sock"), 54351,
                   os.path.join(s.dir, "pg.log"))
servers.append(pg)


def restore(tag, backup):
    """Mount the copied image and make a second server on it (not started)."""
    mp = restores.mount(tag, backup)
    r = pgtest.Server(os.path.join(mp, "pgdata"), os.path.join(s.dir, "sock-" + tag), 54352,
                      os.path.join(s.dir, "restored-%s.log" % tag))
    servers.append(r)
    pgtest.pg_owned_dir(r.sockdir, 0o755)
    # The copy's postmaster.pid names the original server's pid. PostgreSQL refuses to
    # start while that pid exists, and on this machine it may (the original's exit not
    # reaped yet, or reused): a restore on another machine never sees it. No server
    # runs on the copy, so removing it is what the documentation allows.
    os.unlink(os.path.join(r.datadir, "postmaster.pid"))
    return r


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
        a = dbtest.agent_up(t, d, procs, pgtest.Agent(d, pg, os.path.join(s.dir, "agent.log")),
                            "connected to PostgreSQL", label)
    # Each run starts from empty tables (the writers number their commits from 1).
    pg.psql("TRUNCATE commits, counters")
    backup, acks, t_freeze, t_thawed, t_copy, details = dbtest.snapshot_under_writers(
        t, d, s, procs, lambda logdir: pgtest.Writers(pg, logdir, WRITERS), image, tag, label)
    detail = details.get("pg", "")
    if with_agent:
        t.ok(detail.startswith("lsn "), "%s: the snapshot's report has the WAL position" % label, detail)
        dbtest.agent_down(procs, a)
    pg.stop()

    rs = restore(tag, backup)
    started = rs.start(check=False).returncode == 0
    t.ok(started, "%s: a server starts on the copy" % label, rs.log_text()[-2000:])
    fig = {"label": label, "detail": detail}
    if not started:
        return fig
    got = rows(rs)
    j = dbtest.judge(acks, got, t_freeze, t_thawed)
    dbtest.assert_restored(t, label, j)
    idx, heap = amcheck(rs)
    t.ok(idx >= 2 and heap == 0, "%s: amcheck: %d btree indexes and the heaps check clean" % (label, idx))
    redo = pgtest.redo_range(rs.log_text())
    fig.update(j, restored=sum(v[0] for v in got.values()),
               wal=(redo[1] - redo[0]) if redo else 0, redo_s=pgtest.redo_seconds(rs.log_text()),
               freeze_ms=(t_copy - t_freeze) / 1e6, held_ms=(t_thawed - t_freeze) / 1e6)
    dbtest.drop_restore(procs, rs, backup)
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
    procs.cleanup()
    d.kill()
    s.cleanup()
t.exit()
