#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Time to frozen with 1000 connected apps against 0 apps, in the same run.

Time to frozen = from sending quiesce-freeze on an open control connection to reading
its answer (apps asked and answered, hooks, FIFREEZE of one scratch ext4 loop mount).
The apps are bench/appswarm: N libquiesce connections in one process, each answering
at once. Cycles are cold: the daemon idles --idle seconds (default 0.25) before each
freeze; each freeze is followed by a thaw. Phases, in one daemon run:

  base    0 apps,    --cycles freezes
  loaded  N apps,    --cycles freezes
  base2   0 apps again (the swarm disconnected), --cycles freezes

The result is median(loaded) - median(base + base2); the target is at most 50 ms.
Needs root (loop mounts, FIFREEZE); freezes only its own scratch mount (--scope).

    make bench-apps                     # or:
    QUIESCE_BUILD=build bench/apps_bench.py [--apps 1000] [--cycles 20] [--idle 0.25]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import qtest  # noqa: E402

TARGET_MS = 50.0


def pct(v, p):
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def phase_ms(report, stage):
    for ph in report.get("phases", []):
        if ph.get("stage") == stage and ph.get("op") == "freeze":
            return ph.get("ms", 0.0)
    return 0.0


def run_cycles(client, n, idle, warmup=2):
    """[(time to frozen ms, apps stage ms, filesystems stage ms)] of n measured cycles."""
    out = []
    for i in range(n + warmup):
        time.sleep(idle)
        t0 = time.perf_counter()
        ans = client.call("quiesce-freeze")
        t1 = time.perf_counter()
        if "return" not in ans or ans["return"].get("count") != 1:
            raise RuntimeError("freeze failed: %s" % json.dumps(ans)[:2000])
        rep = ans["return"]["report"]
        thaw = client.call("quiesce-thaw")
        if "return" not in thaw:
            raise RuntimeError("thaw failed: %s" % json.dumps(thaw)[:2000])
        if i >= warmup:
            out.append(((t1 - t0) * 1000.0, phase_ms(rep, "apps"), phase_ms(rep, "filesystems")))
    return out


def summary(name, rows):
    t = [r[0] for r in rows]
    return {"phase": name, "n": len(t), "median": statistics.median(t), "p10": pct(t, 10),
            "p90": pct(t, 90), "min": min(t), "max": max(t),
            "apps_median": statistics.median(r[1] for r in rows),
            "fs_median": statistics.median(r[2] for r in rows)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--idle", type=float, default=0.25, help="seconds idle before each freeze")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("apps_bench: needs root (loop mounts, FIFREEZE)")
    swarm_bin, quiesced = qtest.bin_path("appswarm"), qtest.bin_path("quiesced")
    for p in (swarm_bin, quiesced):
        if not os.access(p, os.X_OK):
            sys.exit("apps_bench: %s not built (make bench-apps)" % p)

    s = qtest.Scratch(n=1)
    run_dir = os.path.join(s.dir, "run")
    log_path = os.path.join(s.dir, "quiesced.log")
    sock = os.path.join(run_dir, "app.sock")
    # Not qtest.Daemon: that one logs at debug level, two lines per app per phase.
    log = open(log_path, "w")
    d = subprocess.Popen([quiesced, "-n", "--scope", s.mnt, "--run-dir", run_dir,
                          "--max-apps", str(max(1024, a.apps + 16)), "--timeout", "15"],
                         stdout=log, stderr=log, env=dict(os.environ, QUIESCE_REQUIRE_SCOPE="1"))
    swarm = None
    try:
        ctl = os.path.join(run_dir, "control.sock")
        if not qtest.wait_for(lambda: os.path.exists(ctl) and os.path.exists(sock), 10):
            raise RuntimeError("quiesced did not come up")
        client = qtest.Client(ctl, timeout=60)
        results = [summary("base", run_cycles(client, a.cycles, a.idle))]

        t0 = time.monotonic()
        swarm = subprocess.Popen([swarm_bin, "-s", sock, "-n", str(a.apps)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        line = swarm.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("appswarm failed: %r" % line)
        registered = len(client.call("quiesce-apps")["return"]["apps"])
        if registered != a.apps:
            raise RuntimeError("%d apps registered, not %d" % (registered, a.apps))
        reg_s = time.monotonic() - t0
        results.append(summary("loaded", run_cycles(client, a.cycles, a.idle)))
        swarm.stdin.close()
        swarm.wait(30)
        swarm = None
        qtest.wait_for(lambda: not client.call("quiesce-apps")["return"]["apps"], 10)
        results.append(summary("base2", run_cycles(client, a.cycles, a.idle)))
        client.close()
    finally:
        if swarm:
            swarm.kill()
            swarm.wait()
        d.terminate()
        d.wait(30)
        log.close()
        s.cleanup()

    base = statistics.median([results[0]["median"], results[2]["median"]])
    delta = results[1]["median"] - base
    env = {"kernel": platform.release(), "cpus": os.cpu_count(),
           "loadavg": open("/proc/loadavg").read().split()[:3], "apps": a.apps,
           "cycles": a.cycles, "idle_s": a.idle, "registration_s": round(reg_s, 3)}
    if a.json:
        print(json.dumps({"env": env, "phases": results, "delta_ms": delta, "target_ms": TARGET_MS}, indent=1))
    else:
        print("apps_bench: %d apps, %d cycles per phase, %.2f s idle before each freeze" %
              (a.apps, a.cycles, a.idle))
        print("kernel %s, %d CPUs, load %s; %d apps registered in %.2f s" %
              (env["kernel"], env["cpus"], " ".join(env["loadavg"]), a.apps, reg_s))
        print("| phase | apps | cycles | time to frozen median | p10 | p90 | min | max | apps stage median | fs stage median |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print("| %s | %d | %d | %.1f ms | %.1f | %.1f | %.1f | %.1f | %.2f ms | %.1f ms |" %
                  (r["phase"], a.apps if r["phase"] == "loaded" else 0, r["n"], r["median"], r["p10"],
                   r["p90"], r["min"], r["max"], r["apps_median"], r["fs_median"]))
        print("delta (loaded - base): %+.1f ms; target at most %.0f ms: %s" %
              (delta, TARGET_MS, "met" if delta <= TARGET_MS else "NOT MET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
