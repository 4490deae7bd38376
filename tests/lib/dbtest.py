# SPDX-License-Identifier: MIT
"""What the database tests share (tests/lib/pgtest.py, mdbtest.py, and the
db_*.py tests): an agent process, writer processes, quiescectl --json answers."""
import json
import os
import subprocess
import sys
import time

import apptest
import qtest


class LogFile:
    """log_text(): the whole of self.logfile, "" while there is none (a server's log)."""

    def log_text(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class AgentProc:
    """An agent (quiesce-agent-<db>) against a qtest.Daemon, its stderr in a file."""

    def __init__(self, program, daemon, logfile, name, *args):
        self.logfile = logfile
        self.log = open(logfile, "a")
        self.proc = subprocess.Popen(
            [program, "-v", "-n", name, "-s", os.path.join(daemon.run_dir, "app.sock"), "-r", "500"]
            + list(args), stdout=self.log, stderr=self.log)

    def text(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def wait_log(self, what, n=1, timeout=20):
        return qtest.wait_for(lambda: self.text().count(what) >= n, timeout * qtest.SLOW, 0.05)

    def stop(self):
        """SIGTERM; the exit status (under SANITIZE a sanitizer report makes it nonzero)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20 * qtest.SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class WriterProcs:
    """n writers (program CONN WRITER LOGFILE); stop() returns {writer: [(seq, t_ns)]}."""

    def __init__(self, program, conn, logdir, n=4):
        self.logs = [os.path.join(logdir, "writer%d.log" % i) for i in range(n)]
        self.procs = [subprocess.Popen([program, conn, str(i), self.logs[i]],
                                       stderr=subprocess.DEVNULL) for i in range(n)]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(30 * qtest.SLOW)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        out = {}
        for i, path in enumerate(self.logs):
            with open(path) as f:
                out[i] = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
        return out


def ctl_json(d, *args):
    """(exit status, answer) of quiescectl --json ARGS."""
    r = d.ctl("--json", *args)
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        return r.returncode, {"raw": r.stdout + r.stderr}


def report_of(ans):
    """quiescectl --json prints the report on success, {"error": {...}} on failure."""
    return ans.get("report") or (ans.get("error") or {}).get("report") or {}


def desc_of(ans):
    return (ans.get("error") or {}).get("desc", "")


def freeze_detail(ans, name):
    """The detail of app name's answer to the freeze in a quiescectl --json answer."""
    for ph in report_of(ans).get("phases", []):
        if ph.get("stage") == "apps" and ph.get("op") == "freeze":
            for a in ph.get("apps", []):
                if a["name"] == name:
                    return a.get("detail", "")
    return ""


def stop_all(servers, agents, mounts, others=()):
    """The cleanup: thaw (a server cannot stop on a frozen filesystem), end the other
    processes and the agents, kill the servers; all by pid."""
    for mp in mounts:
        if os.path.ismount(mp):
            qtest.thaw_path(mp)
    for p in others:
        if p.poll() is None:
            p.kill()
            p.wait()
    for a in agents:
        a.kill()
    for s in servers:
        s.kill()


# ---- the restore tests (db_postgresql.py, db_mariadb.py)


def require(t, why, valgrind=True):
    """Skip the whole test without its database (why: pgtest's or mdbtest's available()),
    and under valgrind unless valgrind (the agents are not run under it)."""
    if why:
        t.skip_all(why)
    if not valgrind and os.environ.get("QUIESCE_VALGRIND") == "1":
        t.skip_all("the agent is not run under valgrind (its code runs under ASan in SANITIZE=1)")


def skip_unless_plain_stage(t):
    """The restore tests run once per CI run: not again under SANITIZE or valgrind."""
    if os.environ.get("SANITIZE") == "1" or os.environ.get("QUIESCE_VALGRIND") == "1" or \
            qtest.BUILD.rstrip("/").endswith("sanitize"):
        t.skip_all("the restore test runs once per CI run, in the plain stage")


class Restores:
    """Copied images attached and mounted under the test dir; cleanup() undoes all."""

    def __init__(self, topdir):
        self.topdir = topdir
        self.mounts, self.loops = [], []

    def mount(self, tag, image):
        lo = qtest.run(["losetup", "--find", "--show", image]).stdout.strip()
        self.loops.append(lo)
        mp = os.path.join(self.topdir, "restore-" + tag)
        os.makedirs(mp)
        qtest.run(["mount", "-t", "ext4", lo, mp])
        self.mounts.append(mp)
        os.chmod(mp, 0o755)
        return mp

    def cleanup(self):
        for mp in self.mounts:
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        for lo in self.loops:
            subprocess.run(["losetup", "-d", lo], stderr=subprocess.DEVNULL)
        self.mounts, self.loops = [], []


# The snapshot's command: the copy, with the times it began and ended.
_COPY = ("import subprocess, sys, time\n"
         "f = open(sys.argv[1], 'w'); f.write('%d\\n' % time.monotonic_ns()); f.flush()\n"
         "subprocess.run(['cp', '--sparse=always', sys.argv[2], sys.argv[3]], check=True)\n"
         "f.write('%d\\n' % time.monotonic_ns()); f.close()\n")


def snapshot_copy(d, image, backup, marks):
    """quiescectl snapshot -- cp image backup. (result, t_freeze, t_thawed, t_copy,
    {app: freeze detail}): t_freeze before asking, t_thawed once quiescectl is back
    (after the thaw), t_copy when the copy began (everything frozen)."""
    t_freeze = time.monotonic_ns()
    r = d.ctl("--json", "snapshot", "--", sys.executable, "-c", _COPY, marks, image, backup)
    t_thawed = time.monotonic_ns()
    details = {}
    # snapshot --json prints the freeze's and the thaw's answers on stderr, one a line.
    for line in r.stderr.splitlines():
        try:
            ans = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ans, dict):
            continue
        for ph in (ans.get("report") or ans).get("phases", []):
            for app in ph.get("apps", []):
                if ph.get("op") == "freeze" and app.get("detail"):
                    details[app["name"]] = app["detail"]
    t_copy = t_freeze
    try:
        with open(marks) as f:
            t_copy = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return r, t_freeze, t_thawed, t_copy, details


def judge(acks, got, t_freeze, t_thawed):
    """The writers' acknowledged commits ({w: [(seq, t)]}) against a restored copy
    ({w: (rows, max seq, counter)}): counts and verdicts."""
    out = {"before": 0, "after": 0, "window": 0, "window_present": 0,
           "ok_before": True, "ok_after": True, "ok_gapless": True}
    for wid, lst in acks.items():
        n, top, k = got.get(wid, (0, 0, 0))
        out["ok_gapless"] &= n == top == k
        before = [seq for seq, ts in lst if ts < t_freeze]
        after = [seq for seq, ts in lst if ts > t_thawed]
        inw = [seq for seq, ts in lst if t_freeze <= ts <= t_thawed]
        out["ok_before"] &= not before or top >= max(before)
        out["ok_after"] &= not after or top < min(after)
        out["before"] += len(before)
        out["after"] += len(after)
        out["window"] += len(inw)
        out["window_present"] += sum(1 for seq in inw if seq <= top)
    return out


def assert_restored(t, label, j):
    t.ok(j["ok_before"], "%s: every commit acknowledged before the freeze began is there (%d)"
         % (label, j["before"]))
    t.ok(j["ok_after"], "%s: none acknowledged after the thaw is there (%d)" % (label, j["after"]))
    t.ok(j["ok_gapless"], "%s: each writer's rows are gapless and match its counter (one transaction)"
         % label)


class Procs:
    """What a database test started: cleanup() thaws, ends writers, agents and servers
    (by pid) and unmounts the restored copies. Register it with qtest.at_cleanup()
    before making the Scratch, so that it runs before the Scratch is unmounted."""

    def __init__(self, stop_all):
        self.stop_all = stop_all
        self.servers, self.agents, self.mounts, self.writers = [], [], [], []
        self.restores = None

    def cleanup(self):
        # Thaw first: a writer blocked on a frozen filesystem would take its whole stop
        # bound (30 s each) before being killed, and hold the freeze that long.
        for mp in self.mounts:
            if os.path.ismount(mp):
                qtest.thaw_path(mp)
        for w in self.writers:
            w.stop()
        self.stop_all(self.servers, self.agents, self.mounts)
        if self.restores:
            self.restores.cleanup()


# ---- the restore tests' steps, the same for every database


def restore_start(db):
    """The opening of a restore test of db (the module pgtest or mdbtest): (tap, Procs,
    the scratch mount of 512 MB (its directories open to the server's user), quiesced
    on it, the mount's image). The cleanup is registered before the Scratch is made,
    so that it runs before the unmount."""
    t = qtest.start()
    skip_unless_plain_stage(t)
    require(t, db.available())
    procs = Procs(db.stop_all)
    qtest.at_cleanup(procs.cleanup)
    s = qtest.Scratch(n=1, size_mb=512)
    procs.restores = Restores(s.dir)
    procs.mounts += s.mounts
    for p in (s.dir, s.mnt, s.mounts[0]):
        os.chmod(p, 0o755)   # mkdtemp's 0700: let the server's user through
    d = qtest.Daemon(s, timeout=20, lease=120)
    return t, procs, s, d, os.path.join(s.img, "m0.img")


def agent_up(t, d, procs, agent, connected, label):
    """agent (an AgentProc) registered with d and connected (its log says connected)."""
    procs.agents.append(agent)
    t.ok(agent.wait_log(connected) and apptest.wait_apps(d, 1),
         "%s: the agent is registered and connected" % label)
    return agent


def agent_down(procs, agent):
    agent.stop()
    procs.agents.remove(agent)


def snapshot_under_writers(t, d, s, procs, new_writers, image, tag, label):
    """new_writers(logdir) committing, `quiescectl snapshot -- cp image backup`, then
    the writers stopped: (backup, acks, t_freeze, t_thawed, t_copy, details) as
    snapshot_copy's, acks the writers'."""
    logdir = os.path.join(s.dir, "writers-" + tag)
    os.makedirs(logdir)
    w = new_writers(logdir)
    procs.writers.append(w)
    t.ok(qtest.wait_for(lambda: all(os.path.exists(p) and os.path.getsize(p) > 4000 for p in w.logs),
                        60), "%s: the writers commit" % label)
    time.sleep(2)
    backup = os.path.join(s.dir, "backup-%s.img" % tag)
    r, t_freeze, t_thawed, t_copy, details = snapshot_copy(
        d, image, backup, os.path.join(s.dir, "marks-" + tag))
    time.sleep(1)
    acks = w.stop()
    procs.writers.remove(w)
    t.ok(r.returncode == 0, "%s: quiescectl snapshot -- cp ran and thawed" % label,
         r.stdout[-1500:] + r.stderr[-1500:])
    t.eq(s.frozen(), [], "%s: nothing frozen after it" % label)
    return backup, acks, t_freeze, t_thawed, t_copy, details


def drop_restore(procs, server, backup):
    """The restored copy's server stopped, the copy unmounted and deleted."""
    server.stop()
    procs.servers.remove(server)
    procs.restores.cleanup()
    os.unlink(backup)
