#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The MariaDB agent proven by restoring: a real MariaDB 10.11 on a scratch loop mount
(binlog on), writers committing continuously (4 sessions; InnoDB transactions on two
tables, then a row in an Aria table), and while they run `quiescectl snapshot -- cp
<image> <backup>`. A second server started on the copy must start; every commit
acknowledged before the freeze began must be there and nothing acknowledged after the
thaw; each writer's rows gapless and matching its counter. With the agent, the copy's
binlog GTID position is exactly the one the agent reported (commits were blocked from
that moment to the thaw), every table checks clean (CHECK TABLE) and each Aria log
matches its writer's commits.

Then the same without the agent (crash-consistent), as the comparison; the figures
of both runs (InnoDB redo applied at start, Aria recovery, CHECK TABLE, binlog against
data) are printed as TAP diagnostics; for the crash-consistent copy only what holds
for any crash is asserted.

Runs once per CI run: skipped under SANITIZE=1 and QUIESCE_VALGRIND=1 (the agent's
own code runs under ASan+UBSan in db_mariadb_agent.py). Servers, agents, writers,
restored mounts and loop devices are cleaned up in every case, also on failure."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import dbtest  # noqa: E402
import mdbtest  # noqa: E402

WRITERS = 4
t, procs, s, d, image = dbtest.restore_start(mdbtest)
servers, restores = procs.servers, procs.restores
db = mdbtest.Server(os.path.join(s.mounts[0], "mdata"), os.path.join(s.dir, "run-mdb"),
                    os.path.join(s.dir, "mariadb.log"))
servers.append(db)


def restore(tag, backup):
    """Mount the copied image and make a second server on it (not started)."""
    mp = restores.mount(tag, backup)
    r = mdbtest.Server(os.path.join(mp, "mdata"), os.path.join(s.dir, "run-" + tag),
                       os.path.join(s.dir, "restored-%s.log" % tag))
    servers.append(r)
    return r


def rows(server):
    out = {}
    for line in server.sql("SELECT c.writer, COUNT(*), MAX(c.seq), MAX(k.n) FROM commits c "
                           "JOIN counters k USING (writer) GROUP BY c.writer").splitlines():
        w, n, top, k = (int(x) for x in line.split())
        out[w] = (n, top, k)
    aria = {}
    for line in server.sql("SELECT writer, COUNT(*), MAX(seq) FROM arialog GROUP BY writer").splitlines():
        w, n, top = (int(x) for x in line.split())
        aria[w] = (n, top)
    return out, aria


def check_tables(server):
    """{table: CHECK TABLE's last Msg_text}."""
    out = {}
    for line in server.sql("CHECK TABLE commits, counters, arialog").splitlines():
        f = line.split("\t")
        out[f[0].split(".")[-1]] = f[-1]
    return out


def recovery(log):
    """(InnoDB redo bytes applied, Aria recovery line or '') from a server's log."""
    start = re.findall(r"Starting crash recovery from checkpoint LSN=(\d+)", log)
    end = re.findall(r"End of log at LSN=(\d+)", log)
    redo = int(end[-1]) - int(start[-1]) if start and end else 0
    aria = [ln.split("] ", 1)[-1] for ln in log.splitlines() if "Aria" in ln and "recover" in ln.lower()]
    return redo, "; ".join(aria[-2:])


def scenario(tag, with_agent):
    label = "with the agent" if with_agent else "crash-consistent (no agent)"
    if not db.running():
        t.ok(db.start(), "%s: the server starts" % label, db.log_text()[-800:])
    a = None
    if with_agent:
        a = dbtest.agent_up(t, d, procs, mdbtest.Agent(d, db, os.path.join(s.dir, "agent.log")),
                            "connected to MariaDB", label)
    db.sql("TRUNCATE commits; TRUNCATE counters; TRUNCATE arialog")
    backup, acks, t_freeze, t_thawed, t_copy, details = dbtest.snapshot_under_writers(
        t, d, s, procs, lambda logdir: mdbtest.Writers(db, logdir, WRITERS), image, tag, label)
    detail = details.get("mdb", "")
    gtid = re.search(r"gtid ([0-9,-]+)", detail)
    if with_agent:
        t.ok(gtid is not None, "%s: the snapshot's report has the binlog position and GTID" % label, detail)
        dbtest.agent_down(procs, a)
    db.stop()

    rs = restore(tag, backup)
    started = rs.start()
    t.ok(started, "%s: a server starts on the copy" % label, rs.log_text()[-2000:])
    fig = {"label": label, "detail": detail}
    if not started:
        return fig
    got, aria = rows(rs)
    j = dbtest.judge(acks, got, t_freeze, t_thawed)
    dbtest.assert_restored(t, label, j)
    ok_aria = True
    for wid, (n, top, k) in got.items():
        an, atop = aria.get(wid, (0, 0))
        ok_aria &= an == atop and top - 1 <= atop <= top
    checks = check_tables(rs)
    restored_gtid = rs.sql("SELECT @@gtid_binlog_pos", db=None)
    if with_agent:
        t.ok(gtid is not None and restored_gtid == gtid.group(1),
             "%s: the copy's binlog ends exactly at the reported GTID" % label,
             "reported %s, copy %s" % (gtid.group(1) if gtid else None, restored_gtid))
        t.ok(all(v == "OK" for v in checks.values()), "%s: CHECK TABLE: all OK" % label, repr(checks))
        t.ok(ok_aria, "%s: each Aria log matches its writer's commits" % label, repr((got, aria)))
    redo, aria_rec = recovery(rs.log_text())
    fig.update(j, restored=sum(v[0] for v in got.values()),
               aria=sum(v[0] for v in aria.values()), aria_ok=ok_aria, checks=checks, redo=redo,
               aria_rec=aria_rec, gtid=restored_gtid, freeze_ms=(t_copy - t_freeze) / 1e6,
               held_ms=(t_thawed - t_freeze) / 1e6)
    dbtest.drop_restore(procs, rs, backup)
    return fig


try:
    db.install()
    t.ok(db.start(), "mariadbd starts", db.log_text()[-1000:])
    db.sql("CREATE DATABASE t", db=None)
    db.sql("CREATE TABLE commits (writer int, seq bigint, pad text, PRIMARY KEY (writer, seq)) "
           "ENGINE=InnoDB; CREATE TABLE counters (writer int PRIMARY KEY, n bigint NOT NULL) "
           "ENGINE=InnoDB; CREATE TABLE arialog (writer int, seq bigint) ENGINE=Aria")
    figs = [scenario("agent", True), scenario("crash", False)]
    for f in figs:
        if "redo" not in f:
            continue
        t.diag("%s: %d commits acknowledged before the freeze, %d after the thaw; %d rows "
               "restored, %d Aria rows (match the commits: %s)" % (
                   f["label"], f["before"], f["after"], f["restored"], f["aria"], f["aria_ok"]))
        t.diag("%s: InnoDB redo applied at the restored start: %d bytes; Aria: %s; CHECK TABLE: %s" % (
            f["label"], f["redo"], f["aria_rec"] or "no recovery logged",
            ", ".join("%s %s" % kv for kv in sorted(f["checks"].items()))))
        t.diag("%s: the copy's binlog GTID %s%s; freeze %.0f ms, snapshot held %.0f ms" % (
            f["label"], f["gtid"], " (agent: %s)" % f["detail"] if f["detail"] else "",
            f["freeze_ms"], f["held_ms"]))
    qtest.stop_clean(t, d)
finally:
    procs.cleanup()
    d.kill()
    s.cleanup()
t.exit()
