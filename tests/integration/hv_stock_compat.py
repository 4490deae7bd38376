#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The stock hv_vss_daemon against hvsim, step by step, on scratch mounts only.

SCENARIO is data: each Step lists host-side actions (hvsim commands, or a few test actions
such as arming the EIO injection) and what the stock daemon is expected to answer, from
shared/reference/anchors.md (sections 1, 2, 7.1) and peers.md (hv_vss_daemon).
run_scenario(target, ...) runs it against any Target and returns one observation per step;
the transcript (JSON + a markdown table) goes to $QUIESCE_BUILD/transcripts/.

Targets:
  StockTarget     /usr/sbin/hv_vss_daemon in the sandbox (tools/hvsim/sandbox/run-stock.sh)
  QuiescedTarget  quiesced --hyperv SOCK --scope SCRATCH/mnt -n  (runs when quiesced is
                  built, unless QUIESCE_HV_TARGETS=stock; its observations are then compared
                  with the stock daemon's, step by step, for the keys in COMPARE_KEYS, and
                  must differ exactly where EXPECTED_DIFFERENCES says, for the reason given)

Safety: the stock daemon only ever runs inside the sandbox after its refusal path was
shown to work in this very run; every freeze is on qtest.Scratch mounts, whose cleanup
thaws and unmounts; the daemon and hvsim are killed first on any exit.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
from hvsim import HvSim  # noqa: E402

NMOUNTS = 4
ZERO12 = "00" * 12
E_FAIL_REPLY = "054000800000000000000000"  # int error 0x80004005 over the 12-byte message
ALL = ["m%d" % i for i in range(NMOUNTS)]
RUN_STOCK = os.path.join(qtest.TOP, "tools", "hvsim", "sandbox", "run-stock.sh")


class Step:
    """actions: hvsim command strings, or tuples for the test itself:
         ("inject_eio", "m3") / ("inject_clear",)   arm / disarm the shim's EIO injection
         ("signal", "STOP"|"CONT")                  signal the daemon
         ("writer_start", "m0") / ("writer_check",)  a writer on a mount: blocked? done?
       expect: observation key -> expected value (see observe())."""

    def __init__(self, name, actions, expect, note=""):
        self.name, self.actions, self.expect, self.note = name, actions, expect, note


def fwd(op, mounts, result):
    return ["%s %s %s" % (op, m, result) for m in mounts]


SCENARIO = [
    Step("register", ["wait_daemon 20s"],
         {"registered": [129], "frozen_after": []}),
    Step("hot_backup", ["hot_backup"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "host_flags": "0x00000000",
          "reached_daemon": True, "log_has": ["VSS: op=CHECK HOT BACKUP"], "ioctls": []},
         "reply 0 has operation byte 0, so the kernel does not set VSS_HBU_NO_AUTO_RECOVERY"),
    Step("thaw_not_frozen", ["thaw"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": [],
          "ioctls": fwd("FITHAW", ALL, "EINVAL")},
         "FITHAW EINVAL counts as success"),
    Step("freeze", ["freeze", ("writer_start", "m0"), ("writer_check",)],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": ALL,
          "ioctls": fwd("FIFREEZE", ALL, "ok"), "writer": "blocked",
          "log_has": ["VSS: op=FREEZE: succeeded"]},
         "forward /proc/mounts order"),
    Step("freeze_again", ["freeze"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": ALL,
          "ioctls": fwd("FIFREEZE", ALL, "EBUSY")},
         "FIFREEZE EBUSY counts as success (no nesting)"),
    Step("thaw", ["thaw", ("writer_check",)],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": [],
          "ioctls": fwd("FITHAW", ALL, "ok"), "writer": "done"},
         "thaw in the same forward order"),
    Step("thaw_again", ["thaw"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": [],
          "ioctls": fwd("FITHAW", ALL, "EINVAL")}),
    Step("get_dm_info", ["get_dm_info"],
         {"host_status": "0x00000000", "by": "kernel", "reached_daemon": False, "host_flags": "0x00000000"},
         "answered by the kernel, never sent to the daemon"),
    Step("unknown_op_99", ["op 99"],
         {"host_status": "0x00000000", "by": "kernel", "reached_daemon": False},
         "answered by the kernel, never sent to the daemon"),
    Step("direct_op_99", ["direct 99"],
         {"host_status": "0x00000000", "by": "daemon", "reply_hex": ZERO12, "log_has": ["Illegal op:99"],
          "ioctls": []},
         "hvsim-only: op 99 delivered to the daemon anyway; it logs and replies success"),
    Step("direct_get_dm_info", ["direct get_dm_info"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "log_has": ["Illegal op:3"]},
         "hvsim-only: GET_DM_INFO delivered to the daemon"),
    Step("malformed_4_bytes", ["raw 05000000 10s", "wait_daemon 20s"],
         {"requests": 0, "reconnected": True, "registered": [129], "log_has": ["read failed"],
          "frozen_after": []},
         "hvsim-only: a 4-byte message; the daemon reopens and re-registers"),
    Step("freeze_eio_on_m3", [("inject_eio", "m3"), "freeze", ("inject_clear",)],
         {"host_status": "0x80004005", "reply_hex": E_FAIL_REPLY, "frozen_after": [],
          "ioctls": fwd("FIFREEZE", ALL[:3], "ok") + ["FIFREEZE m3 EIO"] + fwd("FITHAW", ALL[:3], "ok")
          + ["FITHAW m3 EINVAL"],
          "log_has": ["INJECTED EIO", "FREEZE of /mnt/m3 failed; error:5"]},
         "EIO injected by the shim; it thaws every mount (forward, m3 too: EINVAL) and then logs"),
    Step("freeze_before_close", ["freeze"],
         {"host_status": "0x00000000", "frozen_after": ALL}),
    Step("channel_closed_while_frozen", ["close", "wait_daemon 20s"],
         {"requests": 0, "reconnected": True, "registered": [129], "frozen_after": [],
          "ioctls": fwd("FITHAW", ALL, "ok"), "log_has": ["read failed"]},
         "EOF -> reopen path thaws (fs_frozen) before re-registering"),
    Step("close_mid_freeze", ["close_mid_request freeze", "wait_daemon 20s"],
         {"host_status": "0x80004005", "reason": "reset", "reconnected": True, "frozen_after": [],
          "ioctls": fwd("FIFREEZE", ALL, "ok") + fwd("FITHAW", ALL, "ok"),
          "log_has": [("write failed", "read failed; error:104")]},
         "it reads the FREEZE, freezes, its reply write fails (EPIPE), it thaws and reopens; "
         "on a loaded machine the sim may lose its CPU between sending the FREEZE and closing, "
         "the reply is written before the close, and the daemon's next read fails instead "
         "(ECONNRESET: the reply was unread): the same thaw and reopen"),
    Step("freeze_before_fake_thaw", ["freeze"],
         {"host_status": "0x00000000", "frozen_after": ALL}),
    Step("fake_thaw_while_frozen", ["fake_thaw 10s", "wait_daemon 20s"],
         {"requests": 0, "einval": ["transaction not active"], "einval_hex": [ZERO12],
          "reconnected": True, "frozen_after": [], "ioctls": fwd("FITHAW", ALL, "ok")},
         "it thaws and replies 0; the reply is 'not active' -> EINVAL; it reopens"),
    Step("fake_thaw_idle", ["fake_thaw 10s", "wait_daemon 20s"],
         {"requests": 0, "einval": ["transaction not active"], "einval_hex": [ZERO12],
          "reconnected": True, "frozen_after": [], "ioctls": fwd("FITHAW", ALL, "EINVAL")}),
    Step("freeze_timeout_late_reply",
         [("signal", "STOP"), "set freeze_timeout 700ms", "freeze", "mark", ("signal", "CONT"),
          "wait_event ready 20s", "set freeze_timeout 900s"],
         {"host_status": "0x80004005", "by": "kernel", "timeout": True, "einval": ["transaction not active"],
          "reconnected": True, "frozen_after": [],
          "ioctls": fwd("FIFREEZE", ALL, "ok") + fwd("FITHAW", ALL, "ok")},
         "daemon stopped past the FREEZE timeout: host gets HV_E_FAIL; the late reply is refused; "
         "the daemon thaws and re-registers"),
    Step("freeze_foreign_m1", [("foreign_freeze", "m1"), "freeze"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": ALL,
          "ioctls": ["FIFREEZE m0 ok", "FIFREEZE m1 EBUSY", "FIFREEZE m2 ok", "FIFREEZE m3 ok"]},
         "m1 was frozen by someone else first: FIFREEZE EBUSY counts as success"),
    Step("thaw_foreign_m1", ["thaw"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": [],
          "ioctls": fwd("FITHAW", ALL, "ok")},
         "it thaws m1 too: the other freezer's freeze ends behind its back"),
    Step("foreign_thaw_m1", [("foreign_thaw", "m1")],
         {"requests": 0, "frozen_after": []},
         "the other freezer lets go of m1 (nothing left to thaw after the stock daemon)"),
    Step("hot_backup_after", ["hot_backup"],
         {"host_status": "0x00000000", "reply_hex": ZERO12, "frozen_after": []}),
]

# What must be equal between the stock daemon and a drop-in replacement. "fs_effects" is
# the FIFREEZE/FITHAW trace without the no-ops (FIFREEZE EBUSY, FITHAW EINVAL), sorted:
# quiesced freezes in parallel and never issues the no-ops, the stock daemon does both in
# /proc/mounts order.
COMPARE_KEYS = ["host_status", "by", "reply_hex", "host_flags", "timeout", "reached_daemon",
                "einval", "reconnected", "frozen_after", "fs_effects"]

FOREIGN_FREEZE = ("quiesced never counts a filesystem frozen by someone else as its own freeze "
                  "(it dedups mounts by superblock, so EBUSY can only mean another freezer): "
                  "that freezer may thaw it during the checkpoint, so the FREEZE fails, "
                  "HV_E_FAIL, after thawing what it froze")
# (step, key) -> (what quiesced observes, why it differs from the stock daemon). A listed
# difference that goes away fails the test too: the list is kept exact.
EXPECTED_DIFFERENCES = {
    ("freeze_foreign_m1", "host_status"): ("0x80004005", FOREIGN_FREEZE),
    ("freeze_foreign_m1", "reply_hex"): (E_FAIL_REPLY, FOREIGN_FREEZE),
    ("freeze_foreign_m1", "frozen_after"): (["m1"], FOREIGN_FREEZE + "; m1 stays the other freezer's"),
    ("thaw_foreign_m1", "frozen_after"): (["m1"], "quiesced thaws only what it froze for Hyper-V; "
                                          "the stock daemon's FITHAW ended the other freezer's freeze"),
    ("thaw_foreign_m1", "fs_effects"): ([], "nothing was frozen for Hyper-V: no FITHAW at all"),
}
# Steps whose fs_effects are not compared, and why.
EFFECTS_NOT_COMPARED = {
    "freeze_eio_on_m3": "quiesced freezes in parallel: how many of m0-m2 froze (and were thawed "
                        "again) before m3's EIO stopped the freeze is a race; frozen_after is compared",
    "close_mid_freeze": "quiesced does not act on a request whose channel is already closed when "
                        "it reads it (the kernel has answered HV_E_FAIL); whether the close is "
                        "visible then is a race; frozen_after is compared",
    "freeze_foreign_m1": "parallel freeze, stopped by m1's EBUSY: as freeze_eio_on_m3",
}
# Log lines quiesced promises (hv_vss_daemon's strings, for existing log searches). While
# frozen nothing is written: the FREEZE's line appears with the THAW's.
QUIESCED_LOG_HAS = {
    "register": ["VSS starting; pid is:", "VSS: kernel module version: 129"],
    "hot_backup": ["VSS: op=CHECK HOT BACKUP"],
    "thaw_not_frozen": ["VSS: op=THAW: succeeded"],
    "thaw": ["VSS: op=FREEZE: succeeded", "VSS: op=THAW: succeeded"],
    "direct_op_99": ["Illegal op:99"],
    "direct_get_dm_info": ["Illegal op:3"],
    "malformed_4_bytes": ["read failed", "VSS: kernel module version: 129"],
    "freeze_eio_on_m3": ["VSS: op=FREEZE: failed", "FREEZE of {mnt}/m3 failed; error:5 Input/output error"],
    "channel_closed_while_frozen": ["read failed", "VSS: kernel module version: 129"],
    "freeze_foreign_m1": ["VSS: op=FREEZE: failed", "FREEZE of {mnt}/m1 failed; error:16 Device or resource busy"],
}


# ---------------------------------------------------------------- targets


class Target:
    name = "?"
    sock = None
    proc = None

    def start(self, sim, scratch):
        raise NotImplementedError

    def mount_path(self, mname):
        """The path of scratch mount mname as the daemon sees it (for the injection)."""
        raise NotImplementedError

    def inject_file(self):
        """Where the test writes the injection file."""
        raise NotImplementedError

    def log_lines(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout=10):
        """After hvsim quit: the daemon should exit by itself. Returns its exit status."""
        if not self.proc:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return "killed"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.kill()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass


class StockTarget(Target):
    name = "stock"

    def __init__(self, scratch):
        self.scratch = scratch
        self.sock = "@hvsim-stock-%d" % os.getpid()
        self.log_path = os.path.join(scratch.dir, "stock-daemon.log")

    def argv(self, extra=()):
        return [RUN_STOCK, "-s", self.sock[1:], "-w", self.scratch.dir, "-i", "/inject", "-t",
                "-b", qtest.BUILD] + list(extra) + self.scratch.mounts

    def start(self, sim, scratch):
        self.proc = subprocess.Popen(self.argv(), stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def mount_path(self, mname):
        return "/mnt/" + mname

    def inject_file(self):
        # The sandbox root is only reachable through the daemon's /proc entry.
        return "/proc/%d/root/inject" % self.proc.pid


class QuiescedTarget(Target):
    """HOOK for quiesced's hyperv adapter (not written yet)."""
    name = "quiesced"

    def __init__(self, scratch):
        self.scratch = scratch
        self.sock = os.path.join(scratch.dir, "hv_vss.sock")
        self.log_path = os.path.join(scratch.dir, "quiesced.log")

    def start(self, sim, scratch):
        devs = ",".join("%d:%d" % (os.major(os.stat(m).st_dev), os.minor(os.stat(m).st_dev))
                        for m in scratch.mounts)
        env = dict(os.environ, LD_PRELOAD=qtest.bin_path("hvshim.so"), HVSHIM_ALLOW_DEV=devs,
                   HVSHIM_INJECT_FILE=self.inject_file(), HVSHIM_TRACE="1", QUIESCE_REQUIRE_SCOPE="1")
        if qtest.SANITIZE:
            # The shim is not built with ASan and comes first in the preload list.
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                         "verify_asan_link_order=0"]))
        argv = [qtest.bin_path("quiesced"), "--hyperv", self.sock, "--scope", scratch.mnt, "-n",
                "--run-dir", os.path.join(scratch.dir, "run")]
        self.proc = subprocess.Popen(argv, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    def mount_path(self, mname):
        return os.path.join(self.scratch.mnt, mname)

    def inject_file(self):
        return os.path.join(self.scratch.img, "inject")  # the scratch tmpfs: never frozen

    def stop(self, timeout=10):
        """quiesced keeps retrying the channel when hvsim is gone: SIGTERM ends it."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return "killed"


# ---------------------------------------------------------------- running a scenario


def parse_ioctls(lines, target):
    """'TRACE FIFREEZE /mnt/m0 -> ok' lines -> ['FIFREEZE m0 ok', ...]."""
    out = []
    for l in lines:
        if "TRACE " not in l:
            continue
        parts = l.split("TRACE ", 1)[1].split()
        if len(parts) >= 4:
            out.append("%s %s %s" % (parts[0], os.path.basename(parts[1]), parts[3]))
    return out


def observe(step, lines, log, target, scratch, extra):
    ops = [l for l in lines if "op" in l]
    first = ops[0] if ops else {}
    ev = lambda name: [l for l in lines if l.get("event") == name]  # noqa: E731
    obs = {
        "requests": len(ops),
        "host_status": first.get("host_status"),
        "by": first.get("by"),
        "reply_hex": first.get("reply_hex"),
        "host_flags": first.get("host_flags"),
        "reason": first.get("reason"),
        "timeout": bool(first.get("timeout")),
        "reached_daemon": bool(ev("request")),
        "einval": [e.get("reason") for e in ev("einval")],
        "einval_hex": [e.get("hex") for e in ev("einval")],
        "reconnected": bool(ev("connected")),
        "registered": [e.get("version") for e in ev("registered")],
        "frozen_after": sorted(os.path.basename(m) for m in scratch.frozen()),
        "ioctls": parse_ioctls(log, target),
        "fs_effects": sorted(i for i in parse_ioctls(log, target) if not (
            (i.startswith("FIFREEZE ") and i.endswith(" EBUSY")) or
            (i.startswith("FITHAW ") and i.endswith(" EINVAL")))),
        "daemon_log": [l for l in log if "TRACE " not in l],
        "ms": first.get("ms"),
    }
    obs.update(extra)
    return obs


def check_expect(obs, expect):
    """[(key, ok, got, want)]"""
    out = []
    for key, want in expect.items():
        if key == "log_has":
            text = "\n".join(obs["daemon_log"])
            for s in want:
                # A tuple: any one of them (a race of the peer's own, see the step).
                alts = s if isinstance(s, tuple) else (s,)
                out.append(("log has %r" % (s if len(alts) > 1 else alts[0],),
                            any(a in text for a in alts), None, s))
            continue
        got = obs.get(key)
        out.append((key, got == want, got, want))
    return out


def run_scenario(target, scratch, steps, tap, sim_args=None):
    """Run steps against target; returns [{"step":..., "obs":..., "checks":...}]."""
    sim = HvSim(target.sock, stderr=open(os.path.join(scratch.dir, "hvsim-%s.err" % target.name), "w"),
                **(sim_args or {}))
    target.sim = sim
    records = []
    writer = None
    try:
        target.start(sim, scratch)
        for step in steps:
            m = sim.mark()
            log0 = len(target.log_lines())
            extra = {}
            for a in step.actions:
                if isinstance(a, str):
                    res = sim.cmd(a, timeout=120)
                    if not res.get("ok"):
                        extra.setdefault("cmd_errors", []).append("%s: %s" % (a, res.get("error")))
                elif a[0] == "inject_eio":
                    with open(target.inject_file(), "w") as f:
                        f.write("eio %s\n" % target.mount_path(a[1]))
                elif a[0] == "inject_clear":
                    with open(target.inject_file(), "w") as f:
                        f.write("")
                elif a[0] == "foreign_freeze":
                    qtest.freeze_path(os.path.join(scratch.mnt, a[1]))
                elif a[0] == "foreign_thaw":
                    qtest.thaw_path(os.path.join(scratch.mnt, a[1]))
                elif a[0] == "signal":
                    target.signal(getattr(signal, "SIG" + a[1]))
                elif a[0] == "writer_start":
                    writer = qtest.Writer(os.path.join(scratch.mnt, a[1]))
                elif a[0] == "writer_check":
                    if writer is None:
                        extra["writer"] = "none"
                    elif writer.done_within(1.0 if scratch.frozen() else 10.0):
                        extra["writer"] = "done"
                        writer = None
                    else:
                        extra["writer"] = "blocked"
            # Let the daemon's last log lines land: wait until the log stops growing
            # (a fixed pause is too short on a loaded machine, under valgrind).
            settle_until = time.monotonic() + 2.0 * qtest.SLOW
            n = -1
            while time.monotonic() < settle_until:
                time.sleep(0.2)
                cur = len(target.log_lines())
                if cur == n:
                    break
                n = cur
            log = target.log_lines()[log0:]
            if step.name == "register":
                # The startup lines may come before this step began: check them
                # against the log from the start.
                extra["startup_log"] = [l for l in target.log_lines() if "TRACE " not in l]
            obs = observe(step, sim.lines_since(m), log, target, scratch, extra)
            checks = check_expect(obs, step.expect)
            if "cmd_errors" in extra:
                checks.append(("hvsim commands ok", False, extra["cmd_errors"], []))
            records.append({"step": step.name, "actions": [a if isinstance(a, str) else list(a)
                                                           for a in step.actions],
                            "note": step.note, "obs": obs, "checks": checks})
            if target.proc.poll() is not None:
                records[-1]["checks"].append(("daemon still running", False, target.proc.returncode, None))
                break
    finally:
        if writer:
            qtest.thaw_path(os.path.join(scratch.mnt, "m0"))
            writer.kill()
        sim.close()
        rc = target.stop()
        records.append({"step": "_exit", "obs": {"daemon_exit": rc, "hvsim_exit": sim.proc.returncode,
                                                 "frozen_after": [os.path.basename(m) for m in scratch.frozen()],
                                                 "daemon_log": target.log_lines()[-3:]},
                        "checks": []})
        with open(os.path.join(scratch.dir, "hvsim-%s.jsonl" % target.name), "w") as f:
            f.write("\n".join(sim.raw) + "\n")
    return records


def transcript_table(records):
    rows = ["| step | host status | reply (12 bytes hex) | by | notes |", "|---|---|---|---|---|"]
    for r in records:
        o = r["obs"]
        if r["step"] == "_exit":
            rows.append("| (hvsim quits) | | | | daemon exit %s; frozen after: %s |" % (o["daemon_exit"], o["frozen_after"] or "none"))
            continue
        notes = []
        if o.get("timeout"):
            notes.append("timeout")
        if o.get("reason") and not o.get("timeout"):
            notes.append(o["reason"])
        if o.get("einval"):
            notes.append("EINVAL: %s (reply %s)" % (", ".join(o["einval"]), ", ".join(o["einval_hex"])))
        if o.get("reconnected"):
            notes.append("(re)connected + registered")
        if o.get("ioctls"):
            notes.append("ioctls: " + ", ".join(o["ioctls"]))
        if o.get("writer"):
            notes.append("writer " + o["writer"])
        notes.append("frozen after: %s" % (", ".join(o["frozen_after"]) or "none"))
        interesting = [l.split("]: ", 1)[-1] for l in o["daemon_log"]
                       if "hvshim" not in l or "INJECTED" in l]
        if interesting:
            notes.append("log: " + " / ".join(interesting))
        rows.append("| %s | %s | %s | %s | %s |" % (
            r["step"], o.get("host_status") or "(none)", o.get("reply_hex") or "(none)", o.get("by") or "",
            "; ".join(notes).replace("|", "\\|")))
    return "\n".join(rows)


def write_transcript(name, records):
    outdir = os.path.join(qtest.BUILD, "transcripts")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(records, f, indent=1, default=str)
    with open(os.path.join(outdir, name + ".md"), "w") as f:
        f.write(transcript_table(records) + "\n")
    return outdir


# ---------------------------------------------------------------- stock vs quiesced


def compare(t, stock, quiesced, scratch):
    """Step by step: equal for COMPARE_KEYS, except the listed differences, which must be
    exactly as listed; quiesced's own log promises (QUIESCED_LOG_HAS)."""
    for a, b in zip(stock[:-1], quiesced[:-1]):
        step = a["step"]
        for key in COMPARE_KEYS:
            got, theirs = b["obs"].get(key), a["obs"].get(key)
            if key == "fs_effects" and step in EFFECTS_NOT_COMPARED:
                t.skip("quiesced %s: %s" % (step, key), EFFECTS_NOT_COMPARED[step])
                continue
            diff = EXPECTED_DIFFERENCES.get((step, key))
            if diff is None:
                t.eq(got, theirs, "quiesced %s: %s as stock" % (step, key))
            else:
                want, why = diff
                t.ok(got == want and got != theirs,
                     "quiesced %s: %s differs from stock as expected (%s)" % (step, key, why),
                     "quiesced: %r\nstock:    %r\nexpected: %r" % (got, theirs, want))
        for line in QUIESCED_LOG_HAS.get(step, []):
            line = line.format(mnt=scratch.mnt)
            text = "\n".join(b["obs"].get("startup_log") or b["obs"]["daemon_log"])
            t.ok(line in text, "quiesced %s: log has %r" % (step, line), "log:\n" + text)
        for key, ok, got, want in b["checks"]:
            if key.startswith("hvsim commands") or key.startswith("daemon still"):
                t.ok(ok, "quiesced %s: %s" % (step, key), "got: %r" % (got,))


def write_differences(stock, quiesced):
    rows = ["| step | key | stock | quiesced | why |", "|---|---|---|---|---|"]
    by_step = {r["step"]: r for r in quiesced}
    for a in stock[:-1]:
        b = by_step.get(a["step"])
        if not b:
            continue
        for key in COMPARE_KEYS:
            if a["obs"].get(key) != b["obs"].get(key):
                why = EXPECTED_DIFFERENCES.get((a["step"], key), (None, None))[1]
                if why is None and key == "fs_effects":
                    why = EFFECTS_NOT_COMPARED.get(a["step"], "UNEXPECTED")
                rows.append("| %s | %s | %s | %s | %s |" % (a["step"], key, a["obs"].get(key),
                                                            b["obs"].get(key), why or "UNEXPECTED"))
    outdir = os.path.join(qtest.BUILD, "transcripts")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "hv_stock_compat.differences.md"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return outdir


# ---------------------------------------------------------------- main

def main():
    t = qtest.start(root=False)
    qtest.require_root(t)
    for b in ("hvsim", "hvshim.so", "hvsim-sandbox-exec"):
        if not os.path.exists(qtest.bin_path(b)):
            t.skip_all("%s not built (make)" % b)
    if not os.access("/usr/sbin/hv_vss_daemon", os.X_OK):
        t.skip_all("hyperv-daemons not installed")

    scratch = qtest.Scratch(NMOUNTS)
    stock = StockTarget(scratch)
    targets = [stock]

    def on_signal(signum, frame):
        for tg in targets:
            tg.kill()
        qtest._on_signal(signum, frame)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # The refusal path first: a wrong allowlist must stop the daemon from ever running.
    p = subprocess.run(stock.argv(["-k", str(NMOUNTS - 1)]), capture_output=True, text=True, timeout=60)
    if not t.ok(p.returncode == 112 and "REFUSED" in p.stderr,
                "sandbox refuses a wrong allowlist before the daemon runs", p.stderr):
        t.diag("not running the stock daemon: the sandbox gate is broken")
        t.exit()
    t.eq(scratch.frozen(), [], "nothing frozen before the run")

    try:
        records = run_scenario(stock, scratch, SCENARIO, t)
    finally:
        stock.kill()
    for r in records[:-1]:
        for key, ok, got, want in r["checks"]:
            t.ok(ok, "stock %s: %s" % (r["step"], key), "got:  %r\nwant: %r" % (got, want))
    t.eq(len(records) - 1, len(SCENARIO), "every step ran")
    ex = records[-1]["obs"]
    t.eq(ex["daemon_exit"], 1, "stock daemon exits 1 by itself once hvsim is gone (reopen refused)")
    t.eq(ex["frozen_after"], [], "nothing frozen after the run")
    outdir = write_transcript("hv_stock_compat.stock", records)
    t.diag("transcript: %s/hv_stock_compat.stock.{md,json}" % outdir)
    t.diag(transcript_table(records))

    # The same scenario against quiesced, compared step by step with the stock daemon.
    wanted = os.environ.get("QUIESCE_HV_TARGETS", "stock,quiesced").split(",")
    if "quiesced" not in wanted:
        t.skip("quiesced --hyperv vs stock, step by step", "QUIESCE_HV_TARGETS=%s"
               % os.environ.get("QUIESCE_HV_TARGETS"))
    elif not os.path.exists(qtest.bin_path("quiesced")):
        t.ok(False, "quiesced requested but %s is not built" % qtest.bin_path("quiesced"))
    else:
        for m in scratch.mounts:
            qtest.thaw_path(m)
        q = QuiescedTarget(scratch)
        targets.append(q)
        try:
            qrec = run_scenario(q, scratch, SCENARIO, t)
        finally:
            q.kill()
        write_transcript("hv_stock_compat.quiesced", qrec)
        t.eq(len(qrec) - 1, len(SCENARIO), "quiesced: every step ran")
        compare(t, records, qrec, scratch)
        ex = qrec[-1]["obs"]
        t.eq(ex["daemon_exit"], 0, "quiesced exits 0 on SIGTERM once hvsim is gone (it keeps "
             "retrying the channel meanwhile)")
        t.eq(ex["frozen_after"], [], "nothing frozen after the quiesced run")
        outdir = write_differences(records, qrec)
        t.diag("differences: %s/hv_stock_compat.differences.md" % outdir)

    t.eq(scratch.frozen(), [], "nothing frozen at the end")
    scratch.cleanup()
    t.exit()


if __name__ == "__main__":
    main()
