#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the database agents add to a freeze, and how long writers are blocked.

For each database (PostgreSQL 15, MariaDB 10.11; Debian's servers started as the restore
tests start them, tests/lib/pgtest.py and mdbtest.py, data on a scratch loop mount), two
quiesced scoped to that mount: one with the agent registered (quiesce-agent-postgresql:
CHECKPOINT; quiesce-agent-mariadb: BACKUP STAGE BLOCK_COMMIT), one without any app, the
comparison. Two conditions: the server idle, and under the writers' load (--writers
sessions of tests/tools/pgwriter or mdbwriter committing as fast as they can). In each,
--cycles freeze+thaw cycles per daemon, interleaved (agent first in even cycles, last in
odd ones), --gap seconds idle before each freeze, --hold seconds frozen.

Per cycle, from a control connection opened once (tests/lib/qtest.py's Client):
* time to frozen: quiesce-freeze written -> its answer read (apps, hooks, FIFREEZE);
* the apps stage and the filesystems stage of the freeze, from the answer's report
  (report.phases[].ms): the apps stage is the agent's own share;
* the whole cycle: freeze request -> thaw answer;
* under load, the writers blocked: the writers log every acknowledged commit with its
  CLOCK_MONOTONIC time (tests/tools/writer.h). "all stalled" is the longest gap between
  two consecutive acknowledgements of any writer that overlaps the cycle (no commit got
  through); "sum over writers" adds each writer's own longest gap overlapping the cycle
  (writer-milliseconds lost). The writers' usual gap between commits is printed too.

Medians; Markdown for bench/RESULTS.md on stdout (--json for every sample). Needs root;
freezes only its own scratch mount (qtest.Scratch, --scope); servers, agents, writers and
daemons are stopped on every exit, by pid (dbtest.Procs, before the Scratch cleanup).

    make bench-db                          # or:
    QUIESCE_BUILD=build bench/db.py [--only postgresql,mariadb] [--cycles 20] [--writers 4]
"""
import argparse
import bisect
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
import dbtest  # noqa: E402
import mdbtest  # noqa: E402
import pgtest  # noqa: E402


def stage_ms(report, stage, op):
    return apptest.phase(report, stage, op).get("ms", 0.0)


def cycle(client, gap, hold):
    """One freeze+thaw on an open control connection: its times (monotonic ns) and
    stage figures (ms)."""
    time.sleep(gap)
    t0 = time.monotonic_ns()
    ans = client.call("quiesce-freeze")
    t1 = time.monotonic_ns()
    if not ans or "return" not in ans or ans["return"].get("count") != 1:
        client.call("quiesce-thaw")
        raise RuntimeError("freeze failed: %s" % json.dumps(ans)[:2000])
    rep = ans["return"].get("report") or {}
    if hold:
        time.sleep(hold)
    t2 = time.monotonic_ns()
    thaw = client.call("quiesce-thaw")
    t3 = time.monotonic_ns()
    if not thaw or "return" not in thaw:
        raise RuntimeError("thaw failed: %s" % json.dumps(thaw)[:2000])
    trep = thaw["return"].get("report") or {}
    return {"t_freeze": t0, "t_frozen": t1, "t_thaw": t2, "t_thawed": t3,
            "frozen_ms": (t1 - t0) / 1e6, "cycle_ms": (t3 - t0) / 1e6,
            "apps_ms": stage_ms(rep, "apps", "freeze"), "fs_ms": stage_ms(rep, "filesystems", "freeze"),
            "thaw_apps_ms": stage_ms(trep, "apps", "thaw")}


def longest_gap(times, lo, hi):
    """The longest gap (ns) between consecutive sorted times that overlaps [lo, hi]:
    from the last time before lo ... to the first after hi, in the worst case."""
    i = max(0, bisect.bisect_left(times, lo) - 1)
    j = min(len(times) - 1, bisect.bisect_right(times, hi))
    return max((times[k + 1] - times[k] for k in range(i, j)), default=0)


def blocked(acks, cycles):
    """Fill in each cycle's writer figures from the writers' logs ({w: [(seq, t)]})."""
    per = {w: sorted(t for _, t in lst) for w, lst in acks.items()}
    merged = sorted(t for lst in per.values() for t in lst)
    for c in cycles:
        lo, hi = c["t_freeze"], c["t_thawed"]
        c["stall_ms"] = longest_gap(merged, lo, hi) / 1e6
        c["writers_ms"] = sum(longest_gap(ts, lo, hi) for ts in per.values()) / 1e6
    # The usual gap between one writer's commits, away from every cycle.
    quiet = []
    for ts in per.values():
        quiet += [b - a for a, b in zip(ts, ts[1:])
                  if not any(a <= c["t_thawed"] and b >= c["t_freeze"] for c in cycles)]
    return statistics.median(quiet) / 1e6 if quiet else 0.0, len(merged)


def interleaved(clients, n, gap, hold):
    """{name: [cycle]}: n cycles per daemon, the order swapped every cycle."""
    out = {name: [] for name in clients}
    names = list(clients)
    for i in range(n):
        for name in (names if i % 2 == 0 else names[::-1]):
            out[name].append(cycle(clients[name], gap, hold))
    return out


class Pg:
    name, app = "postgresql", "pg"

    def __init__(self, s):
        pgtest.open_path(s.dir, s.mnt, s.mounts[0])
        self.server = pgtest.Server(os.path.join(s.mounts[0], "pgdata"), os.path.join(s.dir, "sock"),
                                    54371, os.path.join(s.dir, "pg.log"))

    def start(self):
        self.server.initdb()
        self.server.start()
        # The restore test's tables. A lower max_wal_size keeps the WAL of a long run
        # inside the scratch mount (checkpoints by volume, as on a real server).
        self.server.psql("CREATE TABLE commits (writer int, seq bigint, pad text, PRIMARY KEY (writer, seq)); "
                         "CREATE TABLE counters (writer int PRIMARY KEY, n bigint NOT NULL)")
        self.server.psql("ALTER SYSTEM SET max_wal_size = '256MB'")
        self.server.psql("SELECT pg_reload_conf()")

    def agent(self, d, logfile):
        a = pgtest.Agent(d, self.server, logfile, name=self.app)
        return a, "connected to PostgreSQL"

    def writers(self, logdir, n):
        return pgtest.Writers(self.server, logdir, n)

    def version(self):
        return self.server.psql("SHOW server_version")


class Mdb:
    name, app = "mariadb", "mdb"

    def __init__(self, s):
        for p in (s.dir, s.mnt, s.mounts[0]):
            os.chmod(p, 0o755)
        self.server = mdbtest.Server(os.path.join(s.mounts[0], "mdata"), os.path.join(s.dir, "run-mdb"),
                                     os.path.join(s.dir, "mariadb.log"))

    def start(self):
        self.server.install()
        if not self.server.start():
            raise RuntimeError("mariadbd did not start:\n" + self.server.log_text()[-2000:])
        self.server.sql("CREATE DATABASE t", db=None)
        self.server.sql("CREATE TABLE commits (writer int, seq bigint, pad text, PRIMARY KEY (writer, seq)) "
                        "ENGINE=InnoDB; CREATE TABLE counters (writer int PRIMARY KEY, n bigint NOT NULL) "
                        "ENGINE=InnoDB; CREATE TABLE arialog (writer int, seq bigint) ENGINE=Aria")

    def agent(self, d, logfile):
        return mdbtest.Agent(d, self.server, logfile, name=self.app), "connected to MariaDB"

    def writers(self, logdir, n):
        return mdbtest.Writers(self.server, logdir, n)

    def version(self):
        return self.server.sql("SELECT VERSION()", db=None)


def bench_db(kind, a):
    """Both conditions for one database; every process stopped on any exit."""
    procs = dbtest.Procs(dbtest.stop_all)
    daemons = []

    def cleanup():
        # Interrupted mid-cycle, a filesystem may be frozen, and procs.cleanup() waits
        # for the writers (blocked on it) before it thaws: end the daemons first (no
        # freeze can start after that; the guardian of each thaws what it held), then
        # thaw what is left, then stop the writers, agents and servers.
        for d in daemons:
            d.kill()
        for mp in procs.mounts:
            qtest.thaw_path(mp)
        procs.cleanup()
    done = qtest.at_cleanup(cleanup)
    s = qtest.Scratch(n=1, size_mb=a.size_mb)
    try:
        db = kind(s)
        procs.mounts += s.mounts
        procs.servers.append(db.server)
        db.start()
        with_agent = qtest.Daemon(s, timeout=20, lease=120)
        daemons.append(with_agent)
        without = qtest.Daemon(s, timeout=20, lease=120, run_dir=os.path.join(s.dir, "run-none"),
                               log_path=os.path.join(s.dir, "quiesced-none.log"))
        daemons.append(without)
        agent, connected = db.agent(with_agent, os.path.join(s.dir, "agent.log"))
        procs.agents.append(agent)
        if not (agent.wait_log(connected) and apptest.wait_apps(with_agent, 1)):
            raise RuntimeError("the agent did not register:\n" + agent.text()[-2000:])
        clients = {"agent": with_agent.client(), "none": without.client()}
        for c in clients.values():
            c.sock.settimeout(120)
        out = {"version": db.version()}
        out["idle"] = interleaved(clients, a.cycles, a.gap, a.hold)

        logdir = os.path.join(s.dir, "writers")
        os.makedirs(logdir)
        w = db.writers(logdir, a.writers)
        procs.writers.append(w)
        if not qtest.wait_for(lambda: all(os.path.exists(p) and os.path.getsize(p) > 4000 for p in w.logs), 60):
            raise RuntimeError("the writers do not commit")
        t0 = time.monotonic_ns()
        out["load"] = interleaved(clients, a.cycles, a.gap, a.hold)
        time.sleep(a.gap)
        t1 = time.monotonic_ns()
        acks = w.stop()
        procs.writers.remove(w)
        cycles = out["load"]["agent"] + out["load"]["none"]
        out["quiet_gap_ms"], out["acks"] = blocked(acks, cycles)
        out["commits_per_s"] = sum(1 for lst in acks.values() for _, t in lst if t0 <= t <= t1) / ((t1 - t0) / 1e9)
        for c in clients.values():
            c.close()
        return out
    finally:
        done()
        s.cleanup()


def med(cycles, key):
    return statistics.median(c[key] for c in cycles) if cycles else 0.0


def spread(cycles, key):
    """'median ms (p25-p75)'."""
    v = sorted(c[key] for c in cycles)
    q = statistics.quantiles(v, n=4) if len(v) > 1 else v * 3
    return "%.1f ms (%.1f-%.1f)" % (statistics.median(v), q[0], q[2])


def table(results):
    lines = ["| database | load | quiesced | time to frozen (IQR) | apps stage (agent) (IQR) | fs stage | "
             "thaw apps stage | whole cycle | writers all stalled (IQR) | writers blocked, sum |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for cond in ("idle", "load"):
            for who in ("agent", "none"):
                cs = r[cond][who]
                stall = spread(cs, "stall_ms") if cond == "load" else "-"
                wsum = "%.1f ms" % med(cs, "writers_ms") if cond == "load" else "-"
                lines.append("| %s | %s | %s | %s | %s | %.1f ms | %.1f ms | %.1f ms | %s | %s |" % (
                    name, cond, "with agent" if who == "agent" else "no app", spread(cs, "frozen_ms"),
                    spread(cs, "apps_ms"), med(cs, "fs_ms"), med(cs, "thaw_apps_ms"), med(cs, "cycle_ms"),
                    stall, wsum))
            ra, rn = r[cond]["agent"], r[cond]["none"]
            ratio = ["%.2fx" % (med(ra, k) / med(rn, k)) if k in rn[0] and med(rn, k) else "-"
                     for k in ("frozen_ms", "cycle_ms", "stall_ms", "writers_ms")]
            lines.append("| %s | %s | ratio agent / none | %s | | | | %s | %s | %s |" % (
                name, cond, *ratio))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="postgresql,mariadb", help="databases, comma-separated")
    ap.add_argument("--cycles", type=int, default=20, help="cycles per daemon and condition")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--gap", type=float, default=0.25, help="seconds idle before each freeze")
    ap.add_argument("--hold", type=float, default=0.0, help="seconds frozen before the thaw")
    ap.add_argument("--size-mb", type=int, default=1024, help="the scratch filesystem's size")
    ap.add_argument("--json", help="write every sample here")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/db.py: needs root (loop mounts, FIFREEZE, the servers' users)")
    kinds = {"postgresql": (Pg, pgtest.available), "mariadb": (Mdb, mdbtest.available)}
    results = {}
    env = {"kernel": platform.release(), "cpus": os.cpu_count(), "cycles": a.cycles,
           "writers": a.writers, "gap_s": a.gap, "hold_s": a.hold,
           "load_start": open("/proc/loadavg").read().split()[:3],
           "rcu_expedited": open("/sys/kernel/rcu_expedited").read().strip(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for name in a.only.split(","):
        kind, available = kinds[name]
        why = available()
        if why:
            sys.exit("bench/db.py: %s" % why)
        results[name] = bench_db(kind, a)
    env["load_end"] = open("/proc/loadavg").read().split()[:3]
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "results": results}, f, indent=1)
    print("bench/db.py: kernel %s (rcu_expedited %s), %d CPUs, load %s at the start, %s at the end; %s" % (
        env["kernel"], env["rcu_expedited"], env["cpus"], " ".join(env["load_start"]), " ".join(env["load_end"]), env["date"]))
    print("%d cycles per daemon and condition, interleaved; %.2f s idle before each freeze, "
          "%.2f s frozen; %d writers; medians" % (a.cycles, a.gap, a.hold, a.writers))
    for name, r in results.items():
        print("%s %s: %.0f commits/s under load, one writer's usual gap between commits %.2f ms" % (
            name, r["version"], r["commits_per_s"], r["quiet_gap_ms"]))
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
