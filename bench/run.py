#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The freeze benchmark: raw ioctls, quiesced (control and QGA sockets, with 0..1000
registered apps) and qemu-ga, on 1, 4 and 16 scratch filesystems, cold and hot.

Run it as root through `make bench` (bench/RESULTS.md says what it measures and how to
read it). Everything it freezes is a loop-mounted scratch filesystem it made under
/tmp/quiesce-bench-*/mnt (qtest.Scratch: images on a tmpfs); quiesced always runs with
--scope on those, qemu-ga only inside qgapeer's sandbox (it sees nothing but the scratch
mounts) and only ever gets guest-fsfreeze-freeze-list with explicit scratch mountpoints.
Whatever happens, the exit path stops the daemons and the helpers, then thaws, unmounts
and detaches the scratch filesystems.

Timing: bench/qbench (C, CLOCK_MONOTONIC) times every row the same way, from the request
(or the first FIFREEZE) to the answer, on a connection opened once. The frozen window
(first FIFREEZE returned .. last FITHAW returned) comes from the kernel's syscall trace
(sys_enter/sys_exit_ioctl in a tracefs instance of our own, mounted in a private mount
namespace, filtered to our processes), the same way for every row.
"""

import argparse
import atexit
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))

import qtest  # noqa: E402
import qgapeer  # noqa: E402
import stallwrite  # noqa: E402

HOLD_S = 0.1   # how long the probes' freezes are held (see "the event loop during a freeze")

FIFREEZE = 0xC0045877
FITHAW = 0xC0045878
SIZES_DEFAULT = "1,4,16"
APPS_DEFAULT = "10,100,1000"


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# ---------------------------------------------------------------- cleanup, in order

_cleanups = []  # run last-in first-out, before qgapeer's and qtest's own


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep going: the scratch must still be cleaned
            log("cleanup:", e)


atexit.register(_run_cleanups)
_prev = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}


def _on_signal(signum, frame):
    _run_cleanups()
    prev = _prev.get(signum)
    if callable(prev):
        prev(signum, frame)  # qgapeer's, then qtest's: kill qemu-ga, thaw, unmount, exit
    os._exit(128 + signum)


for _s in _prev:
    signal.signal(_s, _on_signal)


# ---------------------------------------------------------------- the syscall trace


class IoctlTrace:
    """FIFREEZE/FITHAW entries and exits of our processes, from a tracefs instance.

    tracefs is mounted in a private mount namespace held by a small shell, and read
    through /proc/<shell>/root, so the machine's mount table does not change. The
    instance traces only the pids we add (and the threads they create). If run.py dies,
    the shell sees its stdin close, removes the instance and unmounts."""

    SCRIPT = ('mount -t tracefs nodev "$1" || exit 1; echo mounted; read x; '
              'rmdir "$1/instances/$2" 2>/dev/null; umount "$1"; rmdir "$1"')
    LINE = re.compile(r"^\s*(.*)-(\d+)\s+\[\d+\]\s+\S*\s*(\d+)\.(\d+): sys_ioctl(.*)$")

    def __init__(self):
        self.mnt = tempfile.mkdtemp(prefix="quiesce-bench-tracefs-")
        self.name = "quiesce-bench-%d" % os.getpid()
        self.helper = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", self.SCRIPT, "sh",
             self.mnt, self.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True)
        if self.helper.stdout.readline().strip() != "mounted":
            self.helper.wait()
            raise RuntimeError("cannot mount tracefs")
        self.inst = "/proc/%d/root%s/instances/%s" % (self.helper.pid, self.mnt, self.name)
        os.mkdir(self.inst)
        _cleanups.append(self.close)
        self._write("trace_clock", "mono")
        self._write("buffer_size_kb", "2048")
        self._write("options/event-fork", "1")
        self.enabled = False
        self.pipe = None
        self.partial = ""
        self.pending = {}

    def _write(self, rel, text, trunc=True):
        fd = os.open(os.path.join(self.inst, rel), os.O_WRONLY | (os.O_TRUNC if trunc else 0))
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def add_process(self, pid):
        """Trace pid and its threads (those it makes later too: event-fork)."""
        for tid in os.listdir("/proc/%d/task" % pid):
            self._write("set_event_pid", tid + "\n", trunc=False)

    def enable(self):
        ev = "events/syscalls/"
        self._write(ev + "sys_enter_ioctl/filter", "cmd == %d || cmd == %d" % (FIFREEZE, FITHAW))
        self._write(ev + "sys_enter_ioctl/enable", "1")
        self._write(ev + "sys_exit_ioctl/enable", "1")
        self.enabled = True

    def take(self):
        """The events since the last take: [(ns, tid, op, ok)] with op 'freeze'/'thaw',
        one per completed FIFREEZE/FITHAW (its exit time).

        A consuming read of trace_pipe, never a reset of the buffer: a reset waits for
        an RCU grace period, and a grace period between two cycles makes the next
        freeze cold (that is the whole difference between cold and hot)."""
        if self.pipe is None:
            self.pipe = os.open(os.path.join(self.inst, "trace_pipe"), os.O_RDONLY | os.O_NONBLOCK)
        chunks = []
        while True:
            try:
                b = os.read(self.pipe, 1 << 16)
            except BlockingIOError:
                break
            if not b:
                break
            chunks.append(b)
        text = self.partial + b"".join(chunks).decode(errors="replace")
        text, sep, self.partial = text.rpartition("\n")
        out = []
        for line in text.splitlines():
            m = self.LINE.match(line)
            if not m:
                continue
            tid = int(m.group(2))
            ns = int(m.group(3)) * 1000000000 + int(m.group(4).ljust(9, "0")[:9])
            rest = m.group(5)
            if rest.startswith("("):
                cm = re.search(r"cmd: (0x[0-9a-f]+)", rest)
                if cm:
                    self.pending[tid] = int(cm.group(1), 16)
            elif rest.startswith(" -> "):
                cmd = self.pending.pop(tid, None)
                if cmd is None:
                    continue
                ret = int(rest[4:].strip(), 16)
                out.append((ns, tid, "freeze" if cmd == FIFREEZE else "thaw", ret == 0))
        return out

    def close(self):
        if self.helper.poll() is None:
            try:
                if self.pipe is not None:
                    os.close(self.pipe)
                if self.enabled:
                    self._write("events/syscalls/sys_enter_ioctl/enable", "0")
                    self._write("events/syscalls/sys_exit_ioctl/enable", "0")
                os.rmdir(self.inst)
            except OSError:
                pass
            self.helper.stdin.close()
            try:
                self.helper.wait(10)
            except subprocess.TimeoutExpired:
                self.helper.kill()
        shutil.rmtree(self.mnt, ignore_errors=True)


def window_from_trace(events, t0, t1, n):
    """First successful FIFREEZE exit .. last successful FITHAW exit within [t0, t1]."""
    fr = [e[0] for e in events if e[2] == "freeze" and e[3] and t0 - 1000000 <= e[0] <= t1 + 1000000]
    th = [e[0] for e in events if e[2] == "thaw" and e[3] and t0 - 1000000 <= e[0] <= t1 + 1000000]
    if len(fr) != n or not th:
        return None
    return max(th) - min(fr)


# ---------------------------------------------------------------- programs under test


def bench_bin(name):
    return os.path.join(qtest.BUILD, "bench", name)


def daemon_supports(option):
    out = subprocess.run([qtest.bin_path("quiesced"), "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    return option in out


def rss_of(pid):
    """VmRSS, RssAnon, RssFile in kB, and Pss from smaps_rollup."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k = line.split(":")[0]
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    out[k] = int(line.split()[1])
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


class Quiesced:
    """quiesced in the foreground as it would run for real (no -d), scoped to the
    scratch mounts, with its own run dir, control socket, optional QGA socket and, when
    this build has the app registry, an app socket and an empty hook dir.

    The run dir (and its log) are on the scratch tmpfs, as /run is a tmpfs on a real
    system: quiesced writes its freeze record there before each freeze, and on this
    machine /tmp and /run are on the root ext4, where that costs ~0.1 ms per cycle."""

    def __init__(self, scratch, name, qga=False, apps=True, max_apps=0):
        self.dir = os.path.join(scratch.img, "run-" + name)
        os.makedirs(self.dir)
        self.control = os.path.join(self.dir, "control.sock")
        self.qga = os.path.join(self.dir, "qga.sock") if qga else None
        self.app_socket = None
        self.log_path = os.path.join(self.dir, "quiesced.log")
        cmd = [qtest.bin_path("quiesced"), "-n", "--scope", scratch.mnt, "--run-dir", self.dir,
               "--control", self.control, "--config", "/dev/null"]
        if self.qga:
            cmd += ["--qga", self.qga]
        if apps and daemon_supports("--app-socket"):
            self.app_socket = os.path.join(self.dir, "app.sock")
            hooks = os.path.join(self.dir, "hooks.d")
            os.makedirs(hooks)
            cmd += ["--app-socket", self.app_socket, "--hook-dir", hooks]
            if daemon_supports("--app-connect-rate"):
                cmd += ["--app-connect-rate", "0"]
            if max_apps > 1024:  # the default; 10,000 apps need it raised
                cmd += ["--max-apps", str(max_apps)]
        self.cmd = cmd
        self.log = open(self.log_path, "w")
        env = dict(os.environ, QUIESCE_REQUIRE_SCOPE="1")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        _cleanups.append(self.stop)
        want = [self.control] + ([self.qga] if self.qga else []) + \
            ([self.app_socket] if self.app_socket else [])
        if not qtest.wait_for(lambda: all(os.path.exists(p) for p in want) or
                              self.proc.poll() is not None, 10) or self.proc.poll() is not None:
            raise RuntimeError("quiesced did not start: %s\n%s" % (cmd, self.read_log()))

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def guardian_pid(self):
        try:
            c = qtest.Client(self.control, timeout=5)
            st = c.call("quiesce-status")["return"]
            c.close()
            return st.get("guardian_pid") or None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # it thaws first if anything is frozen
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# Apps per appswarm process: each app is two fds there (its socket and its stop
# eventfd), and a usual hard limit of 20,000 open files (which only CAP_SYS_RESOURCE
# may raise) does not hold 10,000 of them.
SWARM_MAX = 5000


def start_swarms(d, n, key):
    """n apps registered with d, from as many appswarm processes as that takes."""
    swarms = []
    for i, first in enumerate(range(0, n, SWARM_MAX)):
        m = min(SWARM_MAX, n - first)
        sw = Helper([qtest.bin_path("appswarm"), "-s", d.app_socket, "-n", str(m),
                     "-p", "b%d-%d-" % (n, i)], "%s-swarm%d" % (key, i))
        if sw.first != "ready %d" % m:
            raise RuntimeError("appswarm: %s" % sw.first)
        swarms.append(sw)
    return swarms


class Helper:
    """A long-running process spoken to in lines (qbench, appswarm)."""

    def __init__(self, argv, name):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        _cleanups.append(self.stop)
        self.first = self.proc.stdout.readline().strip()
        if not self.first:
            raise RuntimeError("%s did not start: %s" % (name, argv))

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ans = self.proc.stdout.readline()
        if not ans:
            raise RuntimeError("%s died" % self.name)
        return ans.split()

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Row:
    def __init__(self, key, label, helper, pids, kind):
        self.key, self.label, self.helper, self.pids, self.kind = key, label, helper, pids, kind


# ---------------------------------------------------------------- statistics


def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summary(v):
    return {"n": len(v), "median": statistics.median(v) if v else None,
            "p25": pct(v, 25), "p75": pct(v, 75), "p99": pct(v, 99), "min": min(v) if v else None,
            "max": max(v) if v else None}


def fmt_ms(ns):
    ms = ns / 1e6
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    if ms >= 1:
        return "%.2f" % ms
    return "%.3f" % ms


# ---------------------------------------------------------------- the run


def machine_info():
    info = {"kernel": platform.release(), "nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_mb"] = int(f.readline().split()[1]) // 1024
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        pass
    info["loadavg_start"] = os.getloadavg()
    try:
        info["commit"] = subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                                        stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        pass
    if qgapeer.qemu_ga_available():
        info["qemu_ga"] = qgapeer.qemu_ga_version()
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(qtest.BUILD, "bench"), help="output directory")
    ap.add_argument("--cycles", type=int, default=30, help="measured cycles per cell (>= 20)")
    ap.add_argument("--sizes", default=SIZES_DEFAULT, help="filesystem counts")
    ap.add_argument("--apps", default=APPS_DEFAULT, help="app counts for the app rows")
    ap.add_argument("--gap", type=float, default=0.25, help="idle seconds before a cold cycle (>= 0.2)")
    ap.add_argument("--hot-warmup", type=int, default=3,
                    help="hot: raw cycles before each round of a size (and one before every cycle)")
    ap.add_argument("--probes", type=int, default=10, help="status-latency probes (16 fs, cold)")
    ap.add_argument("--no-qemu-ga", action="store_true")
    ap.add_argument("--no-trace", action="store_true", help="no syscall trace (no frozen window)")
    ap.add_argument("--only", default="", help="comma-separated row keys (raw-serial, raw-parallel,"
                    " control, qga, qemu-ga, apps-N)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("bench: needs root (loop mounts and FIFREEZE)")
    if args.gap < 0.2:
        log("warning: --gap below 0.2 s: the cold rows may not be cold")
    sizes = [int(x) for x in args.sizes.split(",") if x]
    app_counts = [int(x) for x in args.apps.split(",") if x]
    only = set(x for x in args.only.split(",") if x)
    rnd = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    info = machine_info()
    results = {"machine": info, "args": vars(args), "sizes": sizes}

    # ---- scratch filesystems, tracing, daemons, helpers
    nfs = max(sizes)
    log("making %d scratch filesystems" % nfs)
    scratch = qtest.Scratch(nfs, prefix="quiesce-bench-")
    mounts = scratch.mounts
    assert all(m.startswith(scratch.mnt + "/") for m in mounts)

    tracer = None
    if not args.no_trace:
        try:
            tracer = IoctlTrace()
        except (OSError, RuntimeError) as e:
            log("no syscall trace (%s): no frozen window for the daemon rows" % e)

    def want(key):
        return not only or key in only

    apps_ok = daemon_supports("--app-socket")
    rows = []
    daemons = {}
    rss = {}

    def add_row(key, label, argv, pids, kind):
        h = Helper(argv, key)
        if h.first != "ready":
            raise RuntimeError("%s: %s" % (key, h.first))
        rows.append(Row(key, label, h, pids + [h.proc.pid], kind))

    qb = bench_bin("qbench")
    if want("raw-serial"):
        add_row("raw-serial", "raw ioctl, one after another", [qb, "raw-serial"] + mounts, [], "raw")
    if want("raw-parallel") or True:  # the floor: always
        add_row("raw-parallel", "raw ioctl, in parallel (floor)", [qb, "raw-parallel"] + mounts, [],
                "raw")
    if want("control") or want("qga"):
        d = Quiesced(scratch, "q0", qga=True)
        daemons["q0"] = d
        time.sleep(0.5)
        rss["quiesced (start)"] = rss_of(d.pid)
        if want("control"):
            add_row("control", "quiesced, control socket%s" % (" (0 apps)" if apps_ok else ""),
                    [qb, "control", d.control] + mounts, [d.pid], "daemon")
        if want("qga"):
            add_row("qga", "quiesced, QGA socket", [qb, "qga", d.qga] + mounts, [d.pid], "daemon")
    qga_peer = None
    if want("qemu-ga") and not args.no_qemu_ga:
        if qgapeer.qemu_ga_available():
            qga_peer = qgapeer.QemuGa(scratch)
            _cleanups.append(qga_peer.kill)
            time.sleep(0.5)
            rss["qemu-ga (start)"] = rss_of(qga_peer.pid)
            add_row("qemu-ga", "qemu-ga %s freeze-list" % info.get("qemu_ga", ""),
                    [qb, "qga", qga_peer.sock, "--single"] + mounts, [qga_peer.pid], "daemon")
        else:
            log("qemu-ga is not installed: no qemu-ga row")
    if apps_ok:
        for n in app_counts:
            key = "apps-%d" % n
            if not want(key):
                continue
            d = Quiesced(scratch, "qa%d" % n, max_apps=n)
            daemons[key] = d
            t = time.monotonic()
            swarms = start_swarms(d, n, key)
            log("%d apps registered in %.2f s" % (n, time.monotonic() - t))
            add_row(key, "quiesced + %d apps" % n, [qb, "control", d.control] + mounts,
                    [d.pid] + [sw.proc.pid for sw in swarms], "daemon")
    else:
        log("this quiesced has no app registry (--app-socket): no app rows")
    results["apps_supported"] = apps_ok

    if tracer:
        for r in rows:
            for pid in r.pids:
                tracer.add_process(pid)
        tracer.enable()

    # ---- one cycle
    samples = {}  # (row, size, temp) -> list of dicts

    def cycle(row, n, temp, keep=True):
        if tracer:
            tracer.take()  # drop anything older
        a = row.helper.ask("cycle %d" % n)
        if a[0] != "ok":
            raise RuntimeError("%s, %d fs: %s" % (row.key, n, " ".join(a)))
        t0, t1, t2, w0, w1 = (int(x) for x in a[1:6])
        win = None
        if tracer:
            win = window_from_trace(tracer.take(), t0, t2, n)
        elif w1:
            win = w1 - w0
        if keep:
            samples.setdefault((row.key, n, temp), []).append(
                {"frozen": t1 - t0, "cycle": t2 - t0, "window": win,
                 "self_window": (w1 - w0) if w1 else None})

    # ---- cold: every (row, size) once per round, in a new random order each round,
    # each after an idle gap
    cells = [(r, n) for r in rows for n in sizes]
    t_start = time.monotonic()
    log("cold: %d rounds of %d cells" % (args.cycles, len(cells)))
    for rnd_i in range(args.cycles):
        rnd.shuffle(cells)
        for r, n in cells:
            time.sleep(args.gap)
            cycle(r, n, "cold")
        if rnd_i % 5 == 4:
            log("cold round %d/%d (%.0f s)" % (rnd_i + 1, args.cycles, time.monotonic() - t_start))

    # ---- hot: every row once per round, in a new random order each round (sizes too),
    # each measured cycle right after a raw warm-up cycle on the same filesystems, so
    # that they were frozen well within the ~10 ms that keep a FIFREEZE hot, whatever
    # ran before; and the load drifts hit every row alike.
    warm = next(r for r in rows if r.key == "raw-parallel")
    log("hot: %d rounds of %d cells, each after a warm-up cycle" % (args.cycles, len(cells)))
    for _ in range(args.cycles):
        order = list(sizes)
        rnd.shuffle(order)
        for n in order:
            rs = list(rows)
            rnd.shuffle(rs)
            for _w in range(args.hot_warmup):
                cycle(warm, n, "hot", keep=False)
            for r in rs:
                cycle(warm, n, "hot", keep=False)
                cycle(r, n, "hot")

    results["loadavg_end"] = os.getloadavg()
    info["loadavg_end"] = os.getloadavg()

    # ---- the event loop during a freeze: status latency while 16 cold FIFREEZEs run.
    # A freeze of clean filesystems may end in a millisecond (where RCU grace periods are
    # expedited), before any probe: so one mount's FIFREEZE is held on purpose for
    # HOLD_S by a stalled write, and the probes always fall inside a freeze.
    def ask_held(helper, cmd):
        if not stallwrite.supported():
            return helper.ask(cmd)
        with stallwrite.StalledWrite(os.path.join(mounts[0], "bench-stall.dat")) as st:
            timer = threading.Timer(HOLD_S, st.release)
            timer.start()
            try:
                return helper.ask(cmd)
            finally:
                timer.join()

    probes = {}
    for key in ("control", "qga"):
        row = next((r for r in rows if r.key == key), None)
        if not row:
            continue
        n = max(sizes)
        time.sleep(args.gap)
        idle = row.helper.ask("idle %d 200 1" % n)
        lat_idle = [int(x) for x in idle[1:]]
        lat, busy, freeze_ns = [], 0, []
        for _ in range(args.probes):
            time.sleep(args.gap)
            a = ask_held(row.helper, "probe %d 1" % n)
            if a[0] != "ok":
                raise RuntimeError("probe: " + " ".join(a))
            freeze_ns.append(int(a[1]))
            busy += int(a[3])
            lat += [int(x) for x in a[4:]]
        mids = []
        for _ in range(5):
            time.sleep(args.gap)
            a = ask_held(row.helper, "thawmid %d 10" % n)
            mids.append({"thaw_latency_ns": int(a[1]), "freeze_answer_ns": int(a[2]),
                         "thaw_answer": a[3][:160], "freeze_answer": a[4][:160]})
        probes[key] = {"n_fs": n, "idle": summary(lat_idle), "during_freeze": summary(lat),
                       "samples_during_freeze": len(lat), "answered_busy": busy,
                       "freeze": summary(freeze_ns), "thaw_mid": mids}
    results["probes"] = probes

    # ---- where the time goes with apps: the daemon's own report (stage times), for
    # 0 and the most apps, cold and hot, on the most filesystems. Diagnostic only: a
    # Python client, not the timed rows.
    stages = {}
    most = max(app_counts) if app_counts else None
    for key in ("control", "apps-%d" % most if most else None):
        d = daemons.get("q0" if key == "control" else key)
        if not key or not d:
            continue
        n = max(sizes)
        c = qtest.Client(d.control, timeout=30)
        for temp in ("cold", "hot"):
            rec = {}
            for i in range(10 + (3 if temp == "hot" else 0)):
                if temp == "cold":
                    time.sleep(args.gap)
                a = c.call("quiesce-freeze", {"mountpoints": mounts[:n]})
                b = c.call("quiesce-thaw")
                if temp == "hot" and i < 3:
                    continue
                for ans in (a, b):
                    for ph in ans.get("return", {}).get("report", {}).get("phases", []):
                        rec.setdefault("%s %s" % (ph["stage"], ph["op"]), []).append(ph["ms"])
            stages["%s|%s" % (key, temp)] = {k: statistics.median(v) for k, v in rec.items()}
        c.close()
    results["stages"] = stages

    # ---- idle memory: after the whole run, and a fresh daemon before/after one cycle
    for key, d in daemons.items():
        rss["quiesced %s (after the run)" % key] = rss_of(d.pid)
        g = d.guardian_pid()
        if g and key == "q0":
            rss["quiesce-guardian (after the run)"] = rss_of(g)
    if qga_peer:
        rss["qemu-ga (after the run)"] = rss_of(qga_peer.pid)
    fresh = Quiesced(scratch, "qfresh")
    time.sleep(0.5)
    rss["quiesced fresh: start"] = rss_of(fresh.pid)
    h = Helper([qb, "control", fresh.control] + mounts, "fresh")
    time.sleep(args.gap)
    a = h.ask("cycle %d" % max(sizes))
    if a[0] != "ok":
        raise RuntimeError("fresh cycle: " + " ".join(a))
    time.sleep(0.5)
    rss["quiesced fresh: after one cycle (%d fs)" % max(sizes)] = rss_of(fresh.pid)
    # Its FIFREEZE workers leave 2 s after the last operation (src/fs/workpool.h).
    time.sleep(2.5)
    rss["quiesced fresh: after one cycle (%d fs), workers retired" % max(sizes)] = \
        rss_of(fresh.pid)
    h.stop()
    fresh.stop()
    results["rss"] = rss

    # ---- summaries
    summ = {}
    for (key, n, temp), v in samples.items():
        s = {}
        for metric in ("frozen", "cycle", "window"):
            vals = [x[metric] for x in v if x[metric] is not None]
            s[metric] = summary(vals)
        summ["%s|%d|%s" % (key, n, temp)] = s
    results["summary"] = summ
    results["samples"] = {"%s|%d|%s" % k: v for k, v in samples.items()}
    results["rows"] = [{"key": r.key, "label": r.label} for r in rows]

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    md = report(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    chart(results, args.out)
    print(md)
    log("results in %s (results.md, results.json, chart.png)" % args.out)


# ---------------------------------------------------------------- report


def med(results, key, n, temp, metric):
    s = results["summary"].get("%s|%d|%s" % (key, n, temp))
    return s[metric]["median"] if s and s[metric]["n"] else None


def cell(results, key, n, temp, metric):
    s = results["summary"].get("%s|%d|%s" % (key, n, temp))
    floor = med(results, "raw-parallel", n, temp, metric)
    if not s or not s[metric]["n"] or not floor:
        return "—"
    m = s[metric]
    return "%.2f× (%s ms, IQR %s–%s)" % (m["median"] / floor, fmt_ms(m["median"]), fmt_ms(m["p25"]),
                                        fmt_ms(m["p75"]))


def report(results):
    sizes = results["sizes"]
    rows = results["rows"]
    out = []
    mi = results["machine"]
    out.append("Machine: %s, %s CPUs, %s MiB, kernel %s, Debian %s; qemu-ga %s; tree %s. "
               "Load average %.2f at the start, %.2f at the end.\n" % (
                   mi.get("cpu", "?"), mi.get("nproc"), mi.get("mem_mb"), mi.get("kernel"),
                   mi.get("debian", "?"), mi.get("qemu_ga", "not installed"), mi.get("commit", "?"),
                   mi["loadavg_start"][0], mi["loadavg_end"][0]))
    names = {"frozen": "time to frozen (request → answer: every filesystem frozen)",
             "cycle": "whole cycle (freeze request → thaw answer)",
             "window": "frozen window (first FIFREEZE returned → last FITHAW returned)"}
    for temp in ("cold", "hot"):
        for metric in ("frozen", "cycle", "window"):
            out.append("\n### %s, %s\n" % (temp.capitalize(), names[metric]))
            out.append("Ratio to the parallel raw-ioctl floor of this run (median; the median in "
                       "ms and the interquartile range in brackets).\n")
            out.append("| | " + " | ".join("%d fs" % n for n in sizes) + " |")
            out.append("|---|" + "---|" * len(sizes))
            for r in rows:
                out.append("| %s | %s |" % (r["label"], " | ".join(
                    cell(results, r["key"], n, temp, metric) for n in sizes)))
    out.append("\n### Targets\n")
    out.append("| target | measured | met |")
    out.append("|---|---|---|")
    for line in targets(results):
        out.append("| %s | %s | %s |" % line)
    app_keys = [r["key"] for r in rows if r["key"].startswith("apps-")]
    if app_keys:
        out.append("\n### Connected apps: the cost over 0 apps (median minus median, ms)\n")
        out.append("| | " + " | ".join("%s %d fs" % (t, n) for t in ("cold", "hot") for n in sizes) + " |")
        out.append("|---|" + "---|" * (2 * len(sizes)))
        for key in app_keys:
            for metric in ("frozen", "cycle"):
                cells = []
                for temp in ("cold", "hot"):
                    for n in sizes:
                        v0, v = med(results, "control", n, temp, metric), med(results, key, n, temp, metric)
                        cells.append("%+.2f" % ((v - v0) / 1e6) if v and v0 else "—")
                out.append("| %s apps, %s | %s |" % (key[5:], {"frozen": "time to frozen",
                                                                "cycle": "whole cycle"}[metric],
                                                     " | ".join(cells)))
    st = results.get("stages", {})
    if st:
        names = sorted({k for v in st.values() for k in v})
        out.append("\n### Stage times from the daemon's own report (%d fs, median of 10, ms)\n"
                   % max(sizes))
        out.append("| | " + " | ".join(names) + " |")
        out.append("|---|" + "---|" * len(names))
        for k, v in st.items():
            key, temp = k.split("|")
            out.append("| %s, %s | %s |" % (key, temp, " | ".join(
                "%.2f" % v[nm] if nm in v else "—" for nm in names)))
    pr = results.get("probes", {})
    if pr:
        out.append("\n### The event loop during a freeze\n")
        out.append("Status requests on a second connection, 1 ms apart, while the first connection's "
                   "freeze of %d cold filesystems is under way, one of them held %d ms by a stalled write "
                   "(%d freezes).\n" % (
                       next(iter(pr.values()))["n_fs"], HOLD_S * 1000, results["args"]["probes"]))
        out.append("| channel | idle: median / p99 / max | during the freeze: median / p99 / max "
                   "| samples (said freezing/frozen) | freeze took (median) |")
        out.append("|---|---|---|---|---|")
        for key, p in pr.items():
            i, d = p["idle"], p["during_freeze"]
            out.append("| %s | %s / %s / %s ms | %s / %s / %s ms | %d (%d) | %s ms |" % (
                key, fmt_ms(i["median"]), fmt_ms(i["p99"]), fmt_ms(i["max"]),
                fmt_ms(d["median"]), fmt_ms(d["p99"]), fmt_ms(d["max"]),
                p["samples_during_freeze"], p["answered_busy"], fmt_ms(p["freeze"]["median"])))
        for key, p in pr.items():
            t = sorted(m["thaw_latency_ns"] for m in p["thaw_mid"])
            out.append("\n%s: a thaw sent 10 ms into the freeze answered in %s ms (median of %d; "
                       "max %s ms); the freeze's answer: `%s`" % (
                           key, fmt_ms(statistics.median(t)), len(t), fmt_ms(max(t)),
                           p["thaw_mid"][0]["freeze_answer"][:120]))
    out.append("\n### Memory (kB)\n")
    out.append("| process | VmRSS | RssAnon | RssFile | Pss |")
    out.append("|---|---|---|---|---|")
    for k, v in results.get("rss", {}).items():
        out.append("| %s | %s | %s | %s | %s |" % (k, v.get("VmRSS", "?"), v.get("RssAnon", "?"),
                                                    v.get("RssFile", "?"), v.get("Pss", "?")))
    return "\n".join(out) + "\n"


def targets(results):
    out = []
    n16 = 16 if 16 in results["sizes"] else max(results["sizes"])
    floor = med(results, "raw-parallel", n16, "cold", "frozen")
    for key in ("control", "qga"):
        v = med(results, key, n16, "cold", "frozen")
        if v and floor:
            out.append(("%d fs, cold: time to frozen ≤ 1.25 × floor (%s)" % (n16, key),
                        "%.2f× (%s ms vs %s ms)" % (v / floor, fmt_ms(v), fmt_ms(floor)),
                        "yes" if v <= 1.25 * floor else "**no**"))
    raw = med(results, "raw-parallel", 1, "hot", "cycle")
    for key in ("control", "qga"):
        v = med(results, key, 1, "hot", "cycle")
        if v and raw:
            out.append(("1 fs, hot: cycle ≤ raw cycle + 0.5 ms (%s)" % key,
                        "+%.3f ms (%s ms vs %s ms)" % ((v - raw) / 1e6, fmt_ms(v), fmt_ms(raw)),
                        "yes" if v - raw <= 0.5e6 else "**no**"))
    base = "control"
    for apps, bound_ms in ((1000, 50), (10000, 300)):
        for metric in ("frozen", "cycle"):
            worst = None
            for temp in ("cold", "hot"):
                for n in results["sizes"]:
                    v0 = med(results, base, n, temp, metric)
                    v = med(results, "apps-%d" % apps, n, temp, metric)
                    if v and v0 and (worst is None or v - v0 > worst[0]):
                        worst = (v - v0, n, temp, v, v0)
            if worst:
                d, n, temp, v, v0 = worst
                out.append(("%d apps ≤ 0 apps + %d ms (%s; the worst of every size, cold and "
                            "hot: %d fs, %s)" % (apps, bound_ms, {"frozen": "time to frozen",
                                                                 "cycle": "whole cycle"}[metric],
                                                 n, temp),
                            "+%.2f ms (%s ms vs %s ms)" % (d / 1e6, fmt_ms(v), fmt_ms(v0)),
                            "yes" if d <= bound_ms * 1e6 else "**no**"))
    for k, v in results.get("rss", {}).items():
        if k.startswith("quiesced fresh"):
            out.append(("idle RSS of quiesced ≤ 2 MiB (%s)" % k.replace("quiesced fresh: ", ""),
                        "%d kB" % v.get("VmRSS", 0), "yes" if v.get("VmRSS", 1 << 30) <= 2048 else "**no**"))
    return out


# ---------------------------------------------------------------- chart


def chart(results, outdir):
    """chart.png: ratio to the floor, cold time to frozen and hot whole cycle (gnuplot)."""
    if not shutil.which("gnuplot"):
        log("no gnuplot: no chart")
        return
    sizes = results["sizes"]
    rows = [r for r in results["rows"]]
    dat = os.path.join(outdir, "chart.dat")
    with open(dat, "w") as f:
        for temp, metric in (("cold", "frozen"), ("hot", "cycle"), ("cold", "window")):
            f.write("# %s %s: row, then the ratio for %s filesystems\n" % (
                temp, metric, " ".join(str(n) for n in sizes)))
            for r in rows:
                vals = []
                for n in sizes:
                    v, fl = med(results, r["key"], n, temp, metric), med(results, "raw-parallel", n,
                                                                         temp, metric)
                    vals.append("%.4f" % (v / fl) if v and fl else "NaN")
                f.write('"%s" %s\n' % (r["label"].replace(", ", "\\n", 1), " ".join(vals)))
            f.write("\n\n")
    gp = os.path.join(outdir, "chart.gp")
    plots = ", ".join("'%s' index IDX using %d:xtic(1) title '%d fs'" % (dat, i + 2, n)
                      for i, n in enumerate(sizes))
    titles = ["Cold: time to frozen", "Hot: whole freeze+thaw cycle", "Cold: frozen window"]
    with open(gp, "w") as f:
        f.write("set terminal pngcairo size 1400,1500 font 'sans,10'\n")
        f.write("set output '%s'\n" % os.path.join(outdir, "chart.png"))
        f.write("set multiplot layout 3,1 title 'quiesce benchmark: ratio to the parallel raw-ioctl "
                "floor of the same run (median, log scale)'\n")
        f.write("set style data histograms\nset style histogram clustered gap 1\n")
        f.write("set style fill solid 0.8 border -1\nset logscale y\nset grid ytics\n")
        f.write("set yrange [0.5:*]\nset key top left\nset xtics font 'sans,8'\n")
        f.write("set ylabel 'x floor'\n")
        for i, t in enumerate(titles):
            f.write("set title '%s'\n" % t)
            f.write("plot %s, 1 with lines lc 'black' dt 2 notitle\n" % plots.replace("IDX", str(i)))
        f.write("unset multiplot\n")
    r = subprocess.run(["gnuplot", gp], stderr=subprocess.PIPE, text=True)
    if r.returncode:
        log("gnuplot failed: " + r.stderr[-2000:])


if __name__ == "__main__":
    main()
