#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The scenario matrix: time to frozen (freeze request written -> its answer read) of
raw ioctls, qemu-ga and quiesced, where the kernel is fast and where it is slow.

Scenarios: /sys/kernel/rcu_expedited 0 and 1 (set for the run, the value found put
back at the end, also when interrupted); images on a tmpfs and on the root
filesystem's disk; 1 and 16 filesystems; cold (after an idle gap), hot (right after a
raw warm-up cycle) and dirty (12 MB written without sync into each filesystem before
the cycle, cold). Rows, interleaved in a new random order every round: raw serial,
raw thread-per-fs, the floor (the faster of the two medians), qemu-ga (freeze-list
over its socket), quiesced over QGA and over the control socket. Every figure is a
median of --cycles samples and a ratio to the floor of the same scenario and cell.

Run as root through `make bench-matrix` (bench/README.md). Everything it freezes is a
loop-mounted scratch filesystem it made; quiesced runs with --scope on those, qemu-ga
only in qgapeer's sandbox, and only ever gets freeze-list with scratch mountpoints."""
import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as brun  # noqa: E402  (its cleanups and signal handling come with it)

qtest, qgapeer, log = brun.qtest, brun.qgapeer, brun.log
RCU = "/sys/kernel/rcu_expedited"
DIRTY_BYTES = 12 << 20
ROWS = ("raw-serial", "raw-parallel", "qemu-ga", "qga", "control")


def set_rcu(value):
    with open(RCU, "w") as f:
        f.write("%d\n" % value)


def keep_rcu():
    """Put back the rcu_expedited value found, at exit and on a signal (run.py's
    cleanups run on both)."""
    try:
        with open(RCU) as f:
            found = int(f.read().strip())
    except (OSError, ValueError):
        return None
    brun._cleanups.insert(0, lambda: set_rcu(found))  # last of all
    return found


def make_scratch(n, storage):
    """n scratch filesystems; their images on the scratch tmpfs, or on the root
    filesystem's disk (a temp dir of ours under /var/tmp, removed at the end)."""
    s = qtest.Scratch(0, prefix="quiesce-bench-")
    # Room on the tmpfs for the images and their dirty data (sparse: only what is used).
    qtest.run(["mount", "-o", "remount,size=%dm" % (n * 48 + 64), s.img])
    if storage == "disk":
        d = tempfile.mkdtemp(prefix="quiesce-bench-img-", dir="/var/tmp")
        brun._cleanups.append(lambda: shutil.rmtree(d, True))
        for i in range(n):
            s.add(size_mb=48, image=os.path.join(d, "m%d.img" % i))
    else:
        for i in range(n):
            s.add(size_mb=48)
    brun._cleanups.append(s.cleanup)
    return s


def dirty(mounts):
    """12 MB into each filesystem, not synced: its FIFREEZE must write them back."""
    buf = os.urandom(1 << 20)
    for mp in mounts:
        fd = os.open(os.path.join(mp, "dirty.dat"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for _ in range(DIRTY_BYTES >> 20):
                os.write(fd, buf)
        finally:
            os.close(fd)


def start_rows(scratch, want_qemu_ga):
    qb = brun.bench_bin("qbench")
    mounts = scratch.mounts
    helpers = {}

    def helper(key, argv):
        h = brun.Helper(argv, key)
        if h.first != "ready":
            raise RuntimeError("%s: %s" % (key, h.first))
        helpers[key] = h

    helper("raw-serial", [qb, "raw-serial"] + mounts)
    helper("raw-parallel", [qb, "raw-parallel"] + mounts)
    d = brun.Quiesced(scratch, "q", qga=True)
    helper("qga", [qb, "qga", d.qga] + mounts)
    helper("control", [qb, "control", d.control] + mounts)
    if want_qemu_ga and qgapeer.qemu_ga_available():
        peer = qgapeer.QemuGa(scratch)
        brun._cleanups.append(peer.kill)
        helper("qemu-ga", [qb, "qga", peer.sock, "--single"] + mounts)
    return helpers, d


def time_to_frozen(h, n):
    a = h.ask("cycle %d" % n)
    if a[0] != "ok":
        raise RuntimeError("cycle %d: %s" % (n, " ".join(a)))
    return int(a[2]) - int(a[1])


def scenario(rcu, storage, args, rnd):
    """{(kind, n): {row: [ns...]}} for one rcu_expedited value and one storage."""
    set_rcu(rcu)
    n_max = max(args.sizes)
    s = make_scratch(n_max, storage)
    helpers, d = start_rows(s, not args.no_qemu_ga)
    out = {}
    warm = helpers["raw-parallel"]
    cells = [(kind, n) for kind in ("cold", "hot") for n in args.sizes] + [("dirty", n_max)]
    for rnd_i in range(args.cycles):
        rnd.shuffle(cells)
        for kind, n in cells:
            keys = list(helpers)
            rnd.shuffle(keys)
            for key in keys:
                if kind == "dirty":
                    dirty(s.mounts[:n])
                    time.sleep(args.gap)
                elif kind == "cold":
                    time.sleep(args.gap)
                else:
                    time_to_frozen(warm, n)  # hot: right after a raw cycle
                out.setdefault((kind, n), {}).setdefault(key, []).append(
                    time_to_frozen(helpers[key], n))
        log("rcu_expedited=%d %s: round %d/%d" % (rcu, storage, rnd_i + 1, args.cycles))
    for h in helpers.values():
        h.stop()
    d.stop()
    return out


def table(name, res):
    lines = ["\n### %s\n" % name,
             "| cell | " + " | ".join(ROWS) + " | floor |", "|---|" + "---|" * (len(ROWS) + 1)]
    for (kind, n), rows in sorted(res.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        med = {k: statistics.median(v) for k, v in rows.items()}
        floor = min(med["raw-serial"], med["raw-parallel"])
        cols = []
        for k in ROWS:
            if k not in med:
                cols.append("—")
            else:
                cols.append("%s ms (%.2fx)" % (brun.fmt_ms(med[k]), med[k] / floor))
        lines.append("| %d fs, %s | %s | %s ms |" % (n, kind, " | ".join(cols), brun.fmt_ms(floor)))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(qtest.BUILD, "bench"))
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--sizes", default="1,16")
    ap.add_argument("--rcu", default="0,1", help="rcu_expedited values to run with")
    ap.add_argument("--storage", default="tmpfs,disk")
    ap.add_argument("--gap", type=float, default=0.25)
    ap.add_argument("--no-qemu-ga", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    if os.geteuid() != 0:
        sys.exit("bench: needs root (loop mounts, FIFREEZE, rcu_expedited)")
    found = keep_rcu()
    if found is None:
        sys.exit("bench: cannot read %s" % RCU)
    rnd = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    info = brun.machine_info()
    info["rcu_expedited_found"] = found
    info["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = {}
    lines = ["## Scenario matrix (bench/matrix.py)\n",
             "Kernel %s, %s cores, %s; rcu_expedited found %d (put back after); %s; "
             "medians of %d; time to frozen, request written -> answer read; (ratio to the "
             "floor: the faster of raw serial and raw thread-per-fs in the same cell)." % (
                 info.get("kernel"), info.get("nproc"), info.get("qemu_ga", "no qemu-ga"), found,
                 info["date"], args.cycles)]
    for rcu in [int(x) for x in args.rcu.split(",") if x]:
        for storage in [x for x in args.storage.split(",") if x]:
            res = scenario(rcu, storage, args, rnd)
            name = "rcu_expedited=%d, images on %s" % (rcu, storage)
            results[name] = {"%s|%d" % k: v for k, v in res.items()}
            lines += table(name, res)
    set_rcu(found)
    with open(os.path.join(args.out, "matrix.json"), "w") as f:
        json.dump({"machine": info, "results": results}, f, indent=1)
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "matrix.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
