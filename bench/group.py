#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesce-group versus one guest after another, on the real libvirt (as root; the
set-up of tests/lib/libvirtenv.py: libvirtd in its own namespaces, transient TCG
domains of the test VM build/vm, each with quiesced and its recwriter).

For N guests, ROUNDS times each, alternating:
* group: `quiesce-group --json` takes a disk-only snapshot of all N while all are
  frozen. From its report: writes blocked (sum over guests of freeze asked .. thaw
  answered), the all-frozen window, the spread of the snapshot points (0: one point)
  and the wall time.
* one after another: `virsh snapshot-create-as DOM --disk-only --quiesce --atomic
  --no-metadata` for each guest in turn (what a backup does today). A guest's writes
  are blocked at most for its virsh call (freeze, snapshot, thaw and the RPC around
  them): the sum of the calls is an upper bound of the writes blocked. The guests are
  never all frozen at once (window 0); the snapshot points spread over the first
  call's start to the last call's end.

Prints a Markdown table (medians) for bench/RESULTS.md. Under TCG compare ratios, not
absolute times.

  bench/group.py [--guests N] [--rounds R] [--vm-dir DIR]"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import libvirtenv  # noqa: E402


class Tap:  # what stop_at_exit needs
    failed = False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    build = os.environ.get("QUIESCE_BUILD", os.path.join(TOP, "build"))
    ap.add_argument("--guests", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--vm-dir", default=os.path.join(build, "vm"))
    ap.add_argument("--group", default=os.path.join(build, "quiesce-group"))
    a = ap.parse_args()
    why = libvirtenv.missing()
    if why:
        sys.exit("bench/group.py: %s" % why)
    lv = libvirtenv.Libvirtd(prefix="quiesce-bench-group-")
    guests = []
    lv.stop_at_exit(Tap(), lambda: [g.close() for g in guests])
    libvirtenv.ensure_qemu_user()
    if not lv.start():
        sys.exit("bench/group.py: libvirtd did not start\n" + lv.log_tail())
    for i in range(a.guests):
        guests.append(libvirtenv.Guest(lv, "bench-%d" % i, a.vm_dir, lv.dir))
    for g in guests:
        if g.create().returncode:
            sys.exit("bench/group.py: virsh create %s failed" % g.name)
    for g in guests:
        if not g.wait_ready().startswith(b"ready") or not g.wait_agent():
            sys.exit("bench/group.py: %s did not come up" % g.name)
    rows = {"group": [], "seq": []}
    for k in range(a.rounds):
        args = [a.group, "--json", "--state-dir", os.path.join(lv.dir, "state"),
                "--snapshot-name", "g%d" % k]
        for g in guests:
            args += ["-d", "%s:%s" % (lv.uri, g.name)]
        t0 = time.monotonic()
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=300)
        wall = (time.monotonic() - t0) * 1000
        if r.returncode:
            sys.exit("bench/group.py: quiesce-group exited %d\n%s%s" % (r.returncode, r.stdout,
                                                                        r.stderr))
        rep = json.loads(r.stdout)
        rows["group"].append({"blocked": rep["writes_blocked"]["total_ms"],
                              "window": rep["all_frozen"]["window_ms"],
                              "spread": 0.0, "wall": wall})
        spans = []
        t0 = time.monotonic()
        for g in guests:
            s = time.monotonic()
            r = lv.virsh("snapshot-create-as", g.name, "s%d" % k, "--disk-only", "--quiesce",
                         "--atomic", "--no-metadata")
            spans.append((time.monotonic() - s) * 1000)
            if r.returncode:
                sys.exit("bench/group.py: virsh snapshot-create-as failed: %s" % r.stderr)
        wall = (time.monotonic() - t0) * 1000
        rows["seq"].append({"blocked": sum(spans), "window": 0.0, "spread": wall, "wall": wall})
        print("round %d: group %s | one after another %s" % (
            k + 1, json.dumps(rows["group"][-1]), json.dumps(rows["seq"][-1])), flush=True)
    for g in guests:
        g.shutdown()

    def med(kind, key):
        return statistics.median(x[key] for x in rows[kind])
    print()
    print("| %d guests, median of %d | writes blocked (sum) | all frozen at once | snapshot "
          "points spread over | wall time |" % (a.guests, a.rounds))
    print("|---|---|---|---|---|")
    for kind, label in (("group", "quiesce-group"), ("seq", "virsh --quiesce, one after another")):
        print("| %s | %.0f ms | %.0f ms | %.0f ms | %.0f ms |" % (
            label, med(kind, "blocked"), med(kind, "window"), med(kind, "spread"),
            med(kind, "wall")))
    print("| ratio group / one after another | %.2f | - | - | %.2f |" % (
        med("group", "blocked") / med("seq", "blocked"), med("group", "wall") / med("seq", "wall")))


if __name__ == "__main__":
    main()
