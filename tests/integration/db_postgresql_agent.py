#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesce-agent-postgresql against a real PostgreSQL 15 and quiesced, without the
restore (tests/integration/db_postgresql.py has it): short enough to run in every
stage, so the agent's own code runs under ASan+UBSan too (SANITIZE=1).

- FREEZE: CHECKPOINT, and the WAL position in the report and in quiescectl apps;
- a tablespace, or pg_wal, on a filesystem quiesced will not freeze: vetoed, naming
  the directory and its mount; nothing frozen;
- the server down at CHECK: a required agent vetoes; an optional one is logged;
  the agent connects again by itself once the server is back;
- the agent killed while frozen: the thaw works, nothing stays frozen, it registers
  again; the server killed while frozen: the same, and the agent reconnects;
- a thaw after the lease expired: the daemon had thawed (the agent got THAW), the
  next freeze works.
Every case ends with tests/lib/faultcheck.py's checks. Servers and agents are stopped
also when the test fails (pgtest.stop_all, before the Scratch is unmounted)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
import dbtest  # noqa: E402
from dbtest import desc_of  # noqa: E402
import faultcheck  # noqa: E402
import pgtest  # noqa: E402

t = qtest.start()
dbtest.require(t, pgtest.available(), valgrind=False)

servers, agents = [], []
mounts = []
qtest.at_cleanup(lambda: pgtest.stop_all(servers, agents, mounts))
s = qtest.Scratch(n=1, size_mb=128)
other = qtest.Scratch(n=1, size_mb=64)   # not under the daemon's --scope: never frozen
outside = other.mounts[0]
mounts += s.mounts
pgtest.open_path(s.dir, s.mnt, s.mounts[0], other.dir, other.mnt, outside)
chk = faultcheck.Checker(t, s)
LEASE = 4
d = chk.daemon(timeout=10, lease=LEASE)

pg = pgtest.Server(os.path.join(s.mounts[0], "pgdata"), os.path.join(s.dir, "sock"), 54331,
                   os.path.join(s.dir, "pg.log"))
servers.append(pg)


def agent(*extra):
    a = pgtest.Agent(d, pg, os.path.join(s.dir, "agent.log"), *extra)
    agents.append(a)
    t.ok(a.wait_log("registered with quiesced") and apptest.wait_apps(d, 1),
         "the agent registers%s" % (" (%s)" % " ".join(extra) if extra else ""), a.text()[-500:])
    return a


try:
    pg.initdb()
    pg.start()
    a = agent()
    t.ok(a.wait_log("connected to PostgreSQL"), "it connects to PostgreSQL (libpq conninfo)")
    chk.baseline(d)   # with the agent's connection: it registers again after each case

    # ---- a freeze: CHECKPOINT, the WAL position in the answer
    rc, ans = dbtest.ctl_json(d, "freeze")
    det = dbtest.freeze_detail(ans, "pg")
    t.ok(rc == 0 and det.startswith("lsn ") and "checkpoint" in det,
         "freeze: the agent answers with the WAL position", json.dumps(ans)[-600:])
    t.ok("checkpoint complete" in pg.log_text() or "checkpoint starting: immediate" in pg.log_text(),
         "the server ran a CHECKPOINT")
    st = d.ctl("status", "--json").stdout
    t.ok(det and det in st, "quiescectl status --json shows it")
    t.ok(det and det in d.ctl("apps").stdout, "quiescectl apps shows it")
    rc, _ = dbtest.ctl_json(d, "thaw")
    t.eq(rc, 0, "thaw")
    chk.after("freeze", d)

    # ---- a tablespace on a filesystem that is not frozen
    ts = pgtest.pg_owned_dir(os.path.join(outside, "ts"))
    pg.psql("CREATE TABLESPACE outts LOCATION '%s'" % ts)
    rc, ans = dbtest.ctl_json(d, "freeze")
    desc = desc_of(ans)
    t.ok(rc == 1 and "tablespace outts %s is on %s (ext4 " % (ts, outside) in desc,
         "a tablespace outside the frozen filesystems: vetoed, naming it and its mount", desc)
    t.eq(s.frozen(), [], "nothing frozen")
    rc, ans = dbtest.ctl_json(d, "check")
    t.ok(rc == 1 and "tablespace outts" in json.dumps(ans), "check vetoes it too")
    pg.psql("DROP TABLESPACE outts")
    rc, ans = dbtest.ctl_json(d, "check")
    t.eq(rc, 0, "without it, check passes")
    chk.after("tablespace", d)

    # ---- the server down at CHECK
    pg.stop()
    t.ok(a.wait_log("reconnecting") or a.wait_log("connection lost"), "the agent sees the server go")
    rc, ans = dbtest.ctl_json(d, "check")
    desc = desc_of(ans)
    t.ok(rc == 1 and "PostgreSQL: connect" in desc, "server down at CHECK: a required agent vetoes", desc)
    a.stop()
    agents.remove(a)
    apptest.wait_apps(d, 0)
    a = agent("--optional")
    rc, ans = dbtest.ctl_json(d, "check")
    t.eq(rc, 0, "server down at CHECK: an optional agent does not fail it")
    t.ok(qtest.wait_for(lambda: "optional) vetoed the check: PostgreSQL: connect" in d.log_text(), 5),
         "and the daemon logs its veto with the reason")
    n = a.text().count("connected to PostgreSQL")
    pg.start()
    t.ok(a.wait_log("connected to PostgreSQL", n + 1), "the agent connects again once the server is back")
    a.stop()
    agents.remove(a)
    apptest.wait_apps(d, 0)
    a = agent()
    chk.after("server down", d)

    # ---- the agent killed while frozen
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.ok(rc == 0 and dbtest.freeze_detail(ans, "pg").startswith("lsn "), "frozen, with the agent")
    a.kill()
    agents.remove(a)
    rc, ans = dbtest.ctl_json(d, "thaw")
    t.eq(rc, 0, "agent killed while frozen: the thaw works")
    t.eq(s.frozen(), [], "nothing stays frozen")
    a = agent()
    chk.after("agent killed", d, gone=[a.proc.pid] and [])

    # ---- the server killed while frozen (it cannot finish dying until the thaw)
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.eq(rc, 0, "frozen again")
    n = a.text().count("connected to PostgreSQL")
    pg.stop("immediate", wait=False)
    rc, ans = dbtest.ctl_json(d, "thaw")
    t.eq(rc, 0, "server killed while frozen: the thaw works")
    t.ok(qtest.wait_for(lambda: not pg.running(), 30), "the server is gone")
    t.eq(s.frozen(), [], "nothing stays frozen")
    pg.start()
    t.ok(a.wait_log("connected to PostgreSQL", n + 1), "the agent reconnects to the new server")
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.ok(rc == 0 and dbtest.freeze_detail(ans, "pg").startswith("lsn "), "and freezes with it")
    dbtest.ctl_json(d, "thaw")
    chk.after("server killed", d)

    # ---- the thaw after the lease expired
    n = a.text().count("thawed")
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.eq(rc, 0, "frozen with a %d s lease" % LEASE)
    t.ok(qtest.wait_for(lambda: s.frozen() == [], (LEASE + 10)), "the lease expires: thawed by the daemon")
    t.ok(a.wait_log("thawed", n + 1), "the agent got its THAW")
    rc, _ = dbtest.ctl_json(d, "thaw")
    t.eq(rc, 5, "the late thaw says the lease had expired")
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.eq(rc, 0, "the next freeze works")
    dbtest.ctl_json(d, "thaw")
    chk.after("lease", d)

    # ---- pg_wal on a filesystem that is not frozen (a second cluster, initdb -X)
    pg.stop()
    a.stop()
    agents.remove(a)
    pg2 = pgtest.Server(os.path.join(s.mounts[0], "pgdata2"), os.path.join(s.dir, "sock2"), 54332,
                        os.path.join(s.dir, "pg2.log"))
    servers.append(pg2)
    pg2.initdb(waldir=pgtest.pg_owned_dir(os.path.join(outside, "wal2")))
    pg2.start()
    pg = pg2
    a = agent()
    rc, ans = dbtest.ctl_json(d, "freeze")
    desc = desc_of(ans)
    t.ok(rc == 1 and ("pg_wal %s/wal2 is on %s" % (outside, outside)) in desc,
         "pg_wal (a symlink) outside the frozen filesystems: vetoed, naming the real place", desc)
    t.eq(s.frozen(), [], "nothing frozen")
    chk.after("pg_wal", d)
    t.eq(a.stop(), 0, "the agent exits cleanly on SIGTERM (no sanitizer report)")
    agents.remove(a)
    pg2.stop()
    chk.stop_clean(d, "end")
finally:
    pgtest.stop_all(servers, agents, mounts)
    d.kill()
    s.cleanup()
    other.cleanup()
t.exit()
