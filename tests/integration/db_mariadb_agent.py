#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesce-agent-mariadb against a real MariaDB 10.11 and quiesced, without the
restore (tests/integration/db_mariadb.py has it): short enough to run in every stage,
so the agent's own code runs under ASan+UBSan too (SANITIZE=1).

- FREEZE: BACKUP STAGE BLOCK_COMMIT held on the agent's session (another session
  cannot take the backup lock until THAW), the binlog position and GTID in the report;
- the lock wait exceeded (a long CREATE ... SELECT holds it): vetoed within the
  deadline, nothing frozen, nothing stays locked, writers go on;
- the binlog on a filesystem quiesced will not freeze: vetoed, naming it;
- the server down at CHECK: a required agent vetoes;
- the agent killed while frozen: the server ends its session (the lock with it),
  the thaw works, nothing stays frozen; the server killed while frozen: the thaw
  works, the agent reconnects to the new server;
- a thaw after the lease expired: the agent got THAW and released the lock.
Every case ends with tests/lib/faultcheck.py's checks; servers and agents are
stopped also when the test fails."""
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
import mdbtest  # noqa: E402

t = qtest.start()
dbtest.require(t, mdbtest.available(), valgrind=False)

servers, agents, mounts, others = [], [], [], []
qtest.at_cleanup(lambda: mdbtest.stop_all(servers, agents, mounts, others))
s = qtest.Scratch(n=1, size_mb=256)
other = qtest.Scratch(n=1, size_mb=64)   # not under the daemon's --scope: never frozen
mounts += s.mounts
for p in (s.dir, s.mnt, s.mounts[0]):
    os.chmod(p, 0o755)   # mkdtemp's 0700: let the mysql user through
chk = faultcheck.Checker(t, s)
LEASE = 5
TIMEOUT = 4     # the daemon's --timeout: the agent's lock wait is 3 s
d = chk.daemon(timeout=TIMEOUT, lease=LEASE)
db = mdbtest.Server(os.path.join(s.mounts[0], "mdata"), os.path.join(s.dir, "run-mdb"),
                    os.path.join(s.dir, "mariadb.log"))
servers.append(db)
LOCK_PROBE = ("SET SESSION lock_wait_timeout = 1; BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT; "
              "BACKUP STAGE END; SELECT 'free'")


def agent(*extra):
    a = mdbtest.Agent(d, db, os.path.join(s.dir, "agent.log"), *extra)
    agents.append(a)
    t.ok(a.wait_log("registered with quiesced") and apptest.wait_apps(d, 1),
         "the agent registers", a.text()[-500:])
    return a


def sessions():
    """Client sessions other than the asking one."""
    return int(db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE "
                      "COMMAND <> 'Daemon' AND ID <> CONNECTION_ID()", db=None))


try:
    db.install()
    t.ok(db.start(), "mariadbd starts", db.log_text()[-1000:])
    db.sql("CREATE DATABASE t", db=None)
    db.sql("CREATE TABLE i (x int) ENGINE=InnoDB; CREATE TABLE a (x int) ENGINE=Aria")
    a = agent()
    t.ok(a.wait_log("connected to MariaDB"), "it connects (option file)")
    chk.baseline(d)

    # ---- a freeze holds the backup lock; the answer has the binlog position
    rc, ans = dbtest.ctl_json(d, "freeze")
    det = dbtest.freeze_detail(ans, "mdb")
    t.ok(rc == 0 and det.startswith("binlog binlog.0") and "gtid" in det,
         "freeze: BLOCK_COMMIT held, binlog position and GTID in the answer", det or json.dumps(ans)[-500:])
    t.eq(db.sql(LOCK_PROBE, check=False), None, "another session cannot take the backup lock meanwhile")
    rc, _ = dbtest.ctl_json(d, "thaw")
    t.ok(rc == 0 and a.wait_log("backup lock released"), "thaw: BACKUP STAGE END")
    t.eq(db.sql(LOCK_PROBE, check=False), "free", "the backup lock is free again")
    chk.after("freeze", d)

    # ---- the lock wait exceeded
    long_q = db.background("CREATE TABLE slow ENGINE=Aria AS SELECT SLEEP(%d) AS s" % (TIMEOUT + 6))
    others.append(long_q)
    time.sleep(0.5)
    t0 = time.monotonic()
    rc, ans = dbtest.ctl_json(d, "freeze")
    took = time.monotonic() - t0
    t.ok(rc == 1 and "Lock wait timeout exceeded" in desc_of(ans) and took < TIMEOUT + 2,
         "a long DDL holds the backup lock: vetoed within the deadline (%.1f s)" % took, desc_of(ans))
    t.eq(s.frozen(), [], "nothing frozen")
    t0 = time.monotonic()
    ins = db.sql("INSERT INTO i VALUES (1); SELECT 'done'", check=False, timeout=10)
    t.ok(ins == "done" and time.monotonic() - t0 < 3, "writers go on at once (nothing stays locked)")
    long_q.wait(30)
    others.remove(long_q)
    t.eq(db.sql(LOCK_PROBE, check=False), "free", "the backup lock is free once the DDL is done")
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.eq(rc, 0, "and the next freeze works")
    dbtest.ctl_json(d, "thaw")
    db.sql("DROP TABLE slow")
    chk.after("lock wait", d)

    # ---- the server down at CHECK
    db.stop()
    t.ok(a.wait_log("reconnecting"), "the agent sees the server go")
    rc, ans = dbtest.ctl_json(d, "check")
    t.ok(rc == 1 and "MariaDB: connect" in desc_of(ans), "server down at CHECK: vetoed", desc_of(ans))
    n = a.text().count("connected to MariaDB")
    t.ok(db.start() and a.wait_log("connected to MariaDB", n + 1), "the agent reconnects once it is back")
    chk.after("server down", d)

    # ---- the agent killed while frozen
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.eq(rc, 0, "frozen, with the agent holding the lock")
    a.kill()
    agents.remove(a)
    t.ok(qtest.wait_for(lambda: sessions() == 0, 10), "agent killed while frozen: the server ended its session")
    rc, ans = dbtest.ctl_json(d, "thaw")
    t.eq(rc, 0, "the thaw works")
    t.eq(s.frozen(), [], "nothing stays frozen")
    t.eq(db.sql(LOCK_PROBE, check=False), "free", "no backup lock is left")
    a = agent()
    chk.after("agent killed", d)

    # ---- the server killed while frozen
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.eq(rc, 0, "frozen again")
    n = a.text().count("connected to MariaDB")
    db.proc.kill()
    rc, ans = dbtest.ctl_json(d, "thaw")
    t.eq(rc, 0, "server killed while frozen: the thaw works")
    db.proc.wait(30)
    t.eq(s.frozen(), [], "nothing stays frozen")
    t.ok(db.start(), "the server starts again (crash recovery)", db.log_text()[-1000:])
    t.ok(a.wait_log("connected to MariaDB", n + 1), "the agent reconnects to it")
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.ok(rc == 0 and dbtest.freeze_detail(ans, "mdb").startswith("binlog"), "and freezes with it")
    dbtest.ctl_json(d, "thaw")
    chk.after("server killed", d)

    # ---- the thaw after the lease expired
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.eq(rc, 0, "frozen with a %d s lease" % LEASE)
    n = a.text().count("backup lock released")
    t.ok(qtest.wait_for(lambda: s.frozen() == [], LEASE + 10), "the lease expires: thawed by the daemon")
    t.ok(a.wait_log("backup lock released", n + 1), "the agent got THAW and released the lock")
    rc, _ = dbtest.ctl_json(d, "thaw")
    t.eq(rc, 5, "the late thaw says the lease had expired")
    t.eq(db.sql(LOCK_PROBE, check=False), "free", "no backup lock is left")
    chk.after("lease", d)

    # ---- the binlog on a filesystem that is not frozen
    db.stop()
    binlogs = mdbtest.mysql_owned(os.path.join(other.mounts[0], "binlogs"))
    for p in (other.dir, other.mnt, other.mounts[0]):
        os.chmod(p, 0o755)
    db.extra = ["--log-bin=%s/binlog" % binlogs]
    t.ok(db.start(), "the server starts with its binlog elsewhere", db.log_text()[-800:])
    rc, ans = dbtest.ctl_json(d, "freeze")
    t.ok(rc == 1 and ("binlog %s is on %s" % (binlogs, other.mounts[0])) in desc_of(ans),
         "the binlog outside the frozen filesystems: vetoed, naming it and its mount", desc_of(ans))
    t.eq(s.frozen(), [], "nothing frozen")
    chk.after("binlog", d)
    t.eq(a.stop(), 0, "the agent exits cleanly on SIGTERM (no sanitizer report)")
    agents.remove(a)
    db.stop()
    chk.stop_clean(d, "end")
finally:
    mdbtest.stop_all(servers, agents, mounts, others)
    d.kill()
    s.cleanup()
    other.cleanup()
t.exit()
