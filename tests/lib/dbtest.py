# SPDX-License-Identifier: MIT
"""What the database tests share (tests/lib/pgtest.py, mdbtest.py, and the
db_*.py tests): an agent process, writer processes, quiescectl --json answers."""
import json
import os
import subprocess

import qtest


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
