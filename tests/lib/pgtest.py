# SPDX-License-Identifier: MIT
"""PostgreSQL servers and the PostgreSQL agent for the db_postgresql tests.

Servers are Debian's postgresql-15, started by the test without systemd: initdb and
pg_ctl as the postgres user (/usr/lib/postgresql/15/bin, not on PATH), the data
directory on a scratch mount, the socket in a directory of the test, no TCP
(listen_addresses=''). cleanup() thaws the scratch mounts first (a server cannot
stop on a frozen filesystem), then stops every server immediately and kills what
is left, by pid: register it with qtest.at_cleanup() before the Scratch, so that it
runs before the Scratch is unmounted.
"""
import os
import re
import signal
import subprocess
import time

import dbtest
import qtest

PGBIN = "/usr/lib/postgresql/15/bin"
PSQL = "/usr/bin/psql"
AGENT = qtest.bin_path("quiesce-agent-postgresql")
WRITER = qtest.bin_path("pgwriter")


def available():
    """None, or why the tests cannot run here."""
    for p in (os.path.join(PGBIN, "initdb"), os.path.join(PGBIN, "pg_ctl"), PSQL):
        if not os.access(p, os.X_OK):
            return "%s missing (scripts/deps.sh installs postgresql)" % p
    for p in (AGENT, WRITER):
        if not os.access(p, os.X_OK):
            return "%s not built" % p
    return None


def pg_owned_dir(path, mode=0o700):
    os.makedirs(path, exist_ok=True)
    os.chown(path, _pg_uid(), _pg_gid())
    os.chmod(path, mode)
    return path


def _pg_uid():
    import pwd
    return pwd.getpwnam("postgres").pw_uid


def _pg_gid():
    import pwd
    return pwd.getpwnam("postgres").pw_gid


def as_postgres(cmd, timeout=120, check=True):
    return qtest.run(["runuser", "-u", "postgres", "--"] + cmd, timeout=timeout * qtest.SLOW,
                     check=check)


def open_path(*dirs):
    """Let the postgres user through the test's directories (mkdtemp makes them 0700)."""
    for d in dirs:
        os.chmod(d, 0o755)


class Server(dbtest.LogFile):
    """One cluster. port only names the socket file (no TCP)."""

    def __init__(self, datadir, sockdir, port, logfile):
        self.datadir = datadir
        self.sockdir = sockdir
        self.port = port
        self.logfile = logfile
        self.conninfo = "host=%s port=%d user=postgres dbname=postgres" % (sockdir, port)

    def initdb(self, waldir=None):
        pg_owned_dir(self.datadir)
        pg_owned_dir(self.sockdir, 0o755)
        cmd = [os.path.join(PGBIN, "initdb"), "-D", self.datadir, "-A", "trust", "-U", "postgres",
               "--no-instructions"]
        if waldir:
            cmd += ["-X", waldir]
        as_postgres(cmd)

    def start(self, check=True):
        # pg_ctl opens the log as postgres, in a directory of root's.
        open(self.logfile, "a").close()
        os.chown(self.logfile, _pg_uid(), _pg_gid())
        opts = "-k %s -p %d -c listen_addresses='' -c log_checkpoints=on" % (self.sockdir, self.port)
        return as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.datadir, "-w", "-t", "120",
                            "-l", self.logfile, "-o", opts, "start"], check=check)

    def stop(self, mode="fast", wait=True, timeout=60):
        cmd = [os.path.join(PGBIN, "pg_ctl"), "-D", self.datadir, "-m", mode, "-t", str(timeout)]
        cmd += ["stop"] if wait else ["-W", "stop"]
        return as_postgres(cmd, timeout=timeout + 10, check=False)

    def pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def running(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill(self):
        """Immediate stop, then SIGKILL to the postmaster and its children (by pid)."""
        pid = self.pid()
        if pid is None:
            return
        self.stop("immediate", timeout=10)
        if qtest.wait_for(lambda: not self.running(), 10):
            return
        kids = subprocess.run(["pgrep", "-P", str(pid)], stdout=subprocess.PIPE, text=True).stdout.split()
        for p in [pid] + [int(k) for k in kids]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def psql(self, sql, check=True, timeout=60):
        r = subprocess.run([PSQL, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo,
                            "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout * qtest.SLOW)
        if check and r.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, r.stderr))
        return r.stdout.strip() if r.returncode == 0 else None


def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def redo_range(log):
    """(redo start, redo done) LSNs of the last recovery in a server log, or None."""
    starts = re.findall(r"redo starts at ([0-9A-F]+/[0-9A-F]+)", log)
    done = re.findall(r"redo done at ([0-9A-F]+/[0-9A-F]+)", log)
    if not starts or not done:
        return None
    return lsn(starts[-1]), lsn(done[-1])


def redo_seconds(log):
    m = re.findall(r"redo done at .*elapsed: ([0-9.]+) s", log)
    return float(m[-1]) if m else None


class Agent(dbtest.AgentProc):
    """quiesce-agent-postgresql against a Daemon, for server's cluster."""

    def __init__(self, daemon, server, logfile, *extra, name="pg"):
        super().__init__(AGENT, daemon, logfile, name, "-d", server.conninfo, *extra)


class Writers(dbtest.WriterProcs):
    def __init__(self, server, logdir, n=4):
        super().__init__(WRITER, server.conninfo, logdir, n)


stop_all = dbtest.stop_all
