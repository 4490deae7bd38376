# SPDX-License-Identifier: MIT
"""MariaDB servers and the MariaDB agent for the db_mariadb tests.

Servers are Debian's mariadb-server (10.11), started by the test without systemd:
mariadb-install-db and mariadbd --no-defaults --user=mysql (as root it refuses to
start without --user), the data directory on a scratch mount, the socket and pid
file in a directory of the test, --skip-networking, the binlog in the data
directory (relative names, so that a copy restores anywhere). Clients read a
defaults file with the socket and user (root, unix_socket authentication).
stop_all() thaws, then kills what is left, by pid: register it with
qtest.at_cleanup() before the Scratch.
"""
import os
import pwd
import signal
import subprocess

import dbtest
import qtest

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
CLIENT = "/usr/bin/mariadb"
AGENT = qtest.bin_path("quiesce-agent-mariadb")
WRITER = qtest.bin_path("mdbwriter")


def available():
    for p in (MARIADBD, INSTALL_DB, CLIENT):
        if not os.access(p, os.X_OK):
            return "%s missing (scripts/deps.sh installs mariadb-server)" % p
    for p in (AGENT, WRITER):
        if not os.access(p, os.X_OK):
            return "%s not built" % p
    return None


def mysql_owned(path, mode=0o750, is_dir=True):
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        open(path, "a").close()
    pw = pwd.getpwnam("mysql")
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, mode)
    return path


class Server(dbtest.LogFile):
    def __init__(self, datadir, rundir, logfile, *extra):
        self.datadir = datadir
        self.rundir = rundir
        self.logfile = logfile
        self.socket = os.path.join(rundir, "mysqld.sock")
        self.defaults = os.path.join(rundir, "client.cnf")
        self.extra = list(extra)
        self.proc = None
        mysql_owned(rundir, 0o755)
        with open(self.defaults, "w") as f:
            f.write("[client]\nsocket=%s\nuser=root\n" % self.socket)

    def install(self):
        mysql_owned(self.datadir)
        qtest.run([INSTALL_DB, "--no-defaults", "--user=mysql", "--datadir=" + self.datadir,
                   "--skip-test-db"], timeout=120 * qtest.SLOW)

    def start(self, wait=True):
        mysql_owned(self.logfile, 0o644, is_dir=False)
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", "--user=mysql", "--datadir=" + self.datadir,
             "--socket=" + self.socket, "--skip-networking", "--log-bin=binlog", "--server-id=1",
             "--pid-file=" + os.path.join(self.rundir, "mysqld.pid"), "--log-error=" + self.logfile,
             "--innodb-buffer-pool-size=64M"] + self.extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            return qtest.wait_for(lambda: self.sql("SELECT 1", check=False, db=None) == "1" or
                                  self.proc.poll() is not None, 120 * qtest.SLOW, 0.1) and \
                self.proc.poll() is None
        return True

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60):
        if not self.running():
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout * qtest.SLOW)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def sql(self, q, check=True, timeout=60, db="t"):
        cmd = [CLIENT, "--defaults-file=" + self.defaults, "-N", "-B", "-e", q]
        if db:
            cmd.insert(2, "--database=" + db)
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=timeout * qtest.SLOW)
        except subprocess.TimeoutExpired:
            if check:
                raise
            return None
        if check and r.returncode != 0:
            raise RuntimeError("mariadb %r: %s" % (q, r.stderr))
        return r.stdout.strip() if r.returncode == 0 else None

    def background(self, q, db="t"):
        """A client running q in the background (a long query); kill() it when done."""
        return subprocess.Popen([CLIENT, "--defaults-file=" + self.defaults, "--database=" + db,
                                 "-N", "-B", "-e", q], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Agent(dbtest.AgentProc):
    """quiesce-agent-mariadb against a Daemon, for server (its client defaults file)."""

    def __init__(self, daemon, server, logfile, *extra, name="mdb"):
        super().__init__(AGENT, daemon, logfile, name, "-F", server.defaults, *extra)


class Writers(dbtest.WriterProcs):
    def __init__(self, server, logdir, n=4):
        super().__init__(WRITER, server.defaults, logdir, n)


stop_all = dbtest.stop_all
