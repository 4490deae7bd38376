#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare quiesced builds or settings, for the before/after numbers of a daemon change.

    bench/compare.py hot  'BIN [ARGS...]' 'BIN [ARGS...]' ...
        Hot freeze+thaw cycles of one scratch filesystem through the control socket,
        alternating between the daemons cycle by cycle (so that the machine's load hits
        them alike), plus the raw-ioctl cycle; medians and quartiles (bench/qbench).
    bench/compare.py rss  'BIN [ARGS...]' 'BIN [ARGS...]' ...
        VmRSS / RssAnon / RssFile of each daemon right after its start, after a cycle of
        1 filesystem and after a cycle of 16; starts interleaved, medians of --rounds.

In ARGS, HOOKDIR stands for an empty hook directory of the daemon's own. Every daemon
runs with --scope on the scratch mounts, its run dir on the scratch tmpfs and
--config /dev/null; everything is thawed, unmounted and stopped on exit (as run.py).
To compare with an older build: `git archive COMMIT | tar -x -C DIR && make -C DIR`.
"""
import argparse
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lib"))
import qtest  # noqa: E402

_procs = []


def _stop_all():
    for p in reversed(_procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    _procs.clear()


def start(spec, scratch, tag):
    argv = shlex.split(spec)
    rd = os.path.join(scratch.img, "run-" + tag)
    os.makedirs(rd)
    hooks = os.path.join(rd, "hooks.d")
    os.makedirs(hooks)
    ctl = os.path.join(rd, "control.sock")
    argv = [a.replace("HOOKDIR", hooks) for a in argv]
    log = open(os.path.join(rd, "quiesced.log"), "w")
    d = subprocess.Popen([argv[0], "-n", "--scope", scratch.mnt, "--run-dir", rd, "--control", ctl,
                          "--config", "/dev/null"] + argv[1:], stdout=log, stderr=log,
                         env=dict(os.environ, QUIESCE_REQUIRE_SCOPE="1"))
    _procs.append(d)
    if not qtest.wait_for(lambda: os.path.exists(ctl) or d.poll() is not None, 10) or d.poll() is not None:
        sys.exit("compare: %s did not start" % spec)
    return d, ctl


def qbench(*args):
    p = subprocess.Popen([os.path.join(qtest.BUILD, "bench", "qbench")] + list(args),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _procs.append(p)
    if p.stdout.readline().strip() != "ready":
        sys.exit("compare: qbench did not start")
    return p


def ask(p, line):
    p.stdin.write(line + "\n")
    p.stdin.flush()
    a = p.stdout.readline().split()
    if not a or a[0] != "ok":
        sys.exit("compare: %s: %s" % (line, " ".join(a)))
    return a


def hot(specs, cycles):
    s = qtest.Scratch(1, prefix="quiesce-bench-")
    rows = []
    for i, spec in enumerate(specs):
        _, ctl = start(spec, s, str(i))
        rows.append((spec, qbench("control", ctl, s.mounts[0])))
    rows.append(("raw ioctl", qbench("raw-serial", s.mounts[0])))
    res = {k: [] for k, _ in rows}
    for i in range(cycles + 20):
        for k, p in rows:
            a = ask(p, "cycle 1")
            if i >= 20:   # warm-up
                res[k].append((int(a[3]) - int(a[1])) / 1e3)
    for k, v in res.items():
        v.sort()
        print("%-60s median %7.1f us  quartiles %7.1f %7.1f" % (
            k[-60:], statistics.median(v), v[len(v) // 4], v[3 * len(v) // 4]))


def rss_of(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(line.split()[1])
    return out


def rss(specs, rounds):
    s = qtest.Scratch(16, prefix="quiesce-bench-")
    res = {spec: [] for spec in specs}
    for r in range(rounds):
        for i, spec in enumerate(specs):
            d, ctl = start(spec, s, "%d-%d" % (r, i))
            time.sleep(0.5)
            r0 = rss_of(d.pid)
            c = qtest.Client(ctl)
            time.sleep(0.25)
            after = []
            for n in (1, 16):
                if c.call("quiesce-freeze", {"mountpoints": s.mounts[:n]})["return"]["count"] != n:
                    sys.exit("compare: freeze failed")
                c.call("quiesce-thaw")
                time.sleep(0.5)
                after.append(rss_of(d.pid))
            c.close()
            res[spec].append((r0, after[0], after[1]))
            _stop_all()
    for spec, v in res.items():
        def m(i, k):
            return statistics.median(x[i][k] for x in v)
        print("%s\n   start %5d kB (anon %4d, file %5d) | after 1 fs %5d (anon %4d, file %5d) | "
              "after 16 fs %5d (anon %4d, file %5d) | start min-max %d-%d" % (
                  spec, m(0, "VmRSS"), m(0, "RssAnon"), m(0, "RssFile"), m(1, "VmRSS"),
                  m(1, "RssAnon"), m(1, "RssFile"), m(2, "VmRSS"), m(2, "RssAnon"), m(2, "RssFile"),
                  min(x[0]["VmRSS"] for x in v), max(x[0]["VmRSS"] for x in v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("hot", "rss"))
    ap.add_argument("daemons", nargs="+", help="'BIN [ARGS...]' per daemon")
    ap.add_argument("--cycles", type=int, default=1000, help="hot: measured cycles per daemon")
    ap.add_argument("--rounds", type=int, default=5, help="rss: starts per daemon")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("compare: needs root")
    try:
        if args.what == "hot":
            hot(args.daemons, args.cycles)
        else:
            rss(args.daemons, args.rounds)
    finally:
        _stop_all()


if __name__ == "__main__":
    main()
