# SPDX-License-Identifier: MIT
"""Helpers for the app registry's integration tests: appvss-sim processes registered
with a real quiesced (qtest.Daemon), their event logs, and the daemon's reports."""

import os
import re
import signal
import subprocess
import time

import qtest
from appproto import RawApp

SIM = qtest.bin_path("appvss-sim")
LINE = re.compile(r"^(\d+) (REGISTER|CHECK|FREEZE|THAW|DISCONNECT|EXIT) (ok|fail|timeout)"
                  r"((?: [a-z_-]+(?:=\S+)?)*)$")


def app_socket(daemon):
    return os.path.join(daemon.run_dir, "app.sock")


class Sim:
    """One appvss-sim, foreground, exiting if its registration fails (-x), with its
    event log (-l) in the scratch dir (never on a filesystem that gets frozen)."""

    def __init__(self, daemon, name, *args, wdir=None, socket=None, wait=True):
        self.name = name
        self.log = os.path.join(daemon.scratch.dir, "sim-%s.log" % name)
        self.err = os.path.join(daemon.scratch.dir, "sim-%s.err" % name)
        if os.path.exists(self.log):
            os.unlink(self.log)
        cmd = [SIM, "-n", "-x", "-s", socket or app_socket(daemon), "-N", name, "-l", self.log]
        if wdir:
            cmd += ["-w", wdir]
        cmd += list(args)
        self.errf = open(self.err, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.errf)
        self.pid = self.proc.pid
        if wait and not self.wait_registered():
            raise RuntimeError("appvss-sim %s did not register: %r\n%s" %
                               (name, self.events(), self.stderr()))

    def stderr(self):
        try:
            with open(self.err) as f:
                return f.read()
        except OSError:
            return ""

    def events(self, kind=None):
        """[(ns, EVENT, result, {k: v})] from the -l log."""
        out = []
        try:
            with open(self.log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            m = LINE.match(line)
            if not m:
                continue
            kv = {}
            for item in m.group(4).split():
                k, _, v = item.partition("=")
                kv[k] = v
            if kind is None or m.group(2) == kind:
                out.append((int(m.group(1)), m.group(2), m.group(3), kv))
        return out

    def never_left_frozen(self):
        """Every FREEZE success the app gave is followed by a THAW in its log."""
        frozen = False
        for _, ev, res, kv in self.events():
            if ev == "FREEZE" and res in ("ok", "timeout"):
                frozen = True
            elif ev == "THAW":
                frozen = False
        return not frozen

    def wait_event(self, kind, n=1, timeout=10.0):
        return qtest.wait_for(lambda: len(self.events(kind)) >= n, timeout * qtest.SLOW)

    def wait_registered(self, timeout=10.0):
        def done():
            if self.proc.poll() is not None:
                return True
            return any(e[2] == "ok" for e in self.events("REGISTER"))
        qtest.wait_for(done, timeout * qtest.SLOW)
        return any(e[2] == "ok" for e in self.events("REGISTER"))

    def app_id(self):
        for e in self.events("REGISTER"):
            if e[2] == "ok":
                return int(e[3]["id"])
        return None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.errf.close()
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)


def stop_all(sims):
    for s in sims:
        s.stop()


def raw(daemon, name=None, flags=0, timeout_ms=0, version=1):
    """A RawApp connected (and registered as name, if given); returns (app, welcome)."""
    a = RawApp(app_socket(daemon))
    w = a.register(name, flags, timeout_ms, version=version) if name else None
    return a, w


def phase(report, stage, op):
    """The report's phase for stage and op (the first one), or {}."""
    for ph in (report or {}).get("phases", []):
        if ph.get("stage") == stage and ph.get("op") == op:
            return ph
    return {}


def app_results(report, op):
    """{name: result} of the apps stage's op phase."""
    return {a["name"]: a["result"] for a in phase(report, "apps", op).get("apps", [])}


def answer(daemon, cmd, args=None):
    """Call a control command; returns (return-or-None, error-or-None, report)."""
    ans = daemon.call(cmd, args) or {}
    if "return" in ans:
        return ans["return"], None, ans["return"].get("report")
    err = ans.get("error", {})
    return None, err, err.get("report")


def apps_list(daemon):
    return {a["name"]: a for a in daemon.call("quiesce-apps")["return"]["apps"]}


def wait_apps(daemon, n, timeout=10.0):
    return qtest.wait_for(lambda: len(apps_list(daemon)) == n, timeout * qtest.SLOW)


def alive(pid):
    """True if pid runs (a zombie nobody reaped counts as dead)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return False


def now_ns():
    return time.monotonic_ns()
