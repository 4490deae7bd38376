#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesce-group with the real libvirt (tests/lib/libvirtenv.py: libvirtd in its own
mount and PID namespace): two transient TCG domains of the test VM, one running
quiesced (build/vm, with a 6 s lease: its vm.conf replaced in an appended initramfs
archive) and one the stock qemu-ga (build/vm-qemu-ga), each with its recwriter, each
on its own connection (qemu:// and qemu+unix:// to the same socket). A mixed group,
then, in every case:

* check: both agents answer, each named right (quiesced, qemu-ga); also from a
  config file, with the text report;
* group snapshot: exit 0, the report's all-frozen window positive, both thawed, each
  guest's disk moved to its overlay, each base image clean (qemu-img check, e2fsck -fn)
  with its freeze record last;
* abort, agent absent: a third domain, paused, without an agent channel: exit 2,
  nothing frozen, the report names it;
* abort, a guest cannot freeze (qemu-ga's filesystems frozen already by someone else):
  exit 3, the other guest thawed, no snapshot;
* abort, missed deadline (qemu-ga's hook takes 3 s while /run/slow exists, the
  deadline is 1 s): exit 4, both thawed, the late freeze too, no snapshot;
* the user's command over --hold: killed, exit 5, both thawed; SIGTERM to
  quiesce-group during the command: the same, no state file left;
* killed while frozen (SIGKILL during the user's command): the quiesced guest thaws
  by its lease, the qemu-ga guest stays frozen until `quiesce-group thaw`, which thaws
  it and removes the state file.

Once per CI run: skipped under SANITIZE=1 and QUIESCE_VALGRIND=1 (quiesce-group's
logic runs sanitized in its unit tests). Skipped without root or libvirt."""

import json
import os
import signal
import subprocess
import sys
import time

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools", "vm"))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import vmtest  # noqa: E402
import libvirtenv  # noqa: E402
from qtest import wait_for  # noqa: E402

tap = vmtest.Tap()


(_, VMQ), (_, VMG) = libvirtenv.preflight(TOP)
build = os.environ.get("QUIESCE_BUILD", os.path.join(TOP, "build"))
GROUP = os.path.join(build, "quiesce-group")
LEASE = 6

lv = libvirtenv.Libvirtd(prefix="quiesce-group-")
guests = []


def close_channels():
    for g in guests:
        g.close()


lv.stop_at_exit(tap, close_channels)

STATE = os.path.join(lv.dir, "state")
URI_A = lv.uri
URI_B = lv.uri.replace("qemu:///", "qemu+unix:///", 1)


def group(*args, timeout=120):
    """quiesce-group --json ARGS; returns (exit status, report or None, stderr)."""
    r = subprocess.run([GROUP, "--json", "--state-dir", STATE] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = None
    return r.returncode, rep, r.stderr + r.stdout[-2000:]


def members():
    return ["-d", "%s:%s" % (URI_A, a.name), "-d", "%s:%s" % (URI_B, b.name)]


def states():
    return [g.frozen() for g in (a, b)]


def by_dom(rep):
    return {g["domain"]: g for g in rep["guests"]} if rep else {}


libvirtenv.ensure_qemu_user()
if not tap.ok(lv.start(), "libvirtd runs, in its own mount and PID namespaces", lv.log_tail()):
    print("1..%d" % tap.n)
    sys.exit(1)

initrd_a = os.path.join(lv.dir, "initrd-lease.cpio")
libvirtenv.initrd_with(VMQ, initrd_a, {}, lambda t: t.replace("quiesced -n ",
                                                               "quiesced -n --lease %d " % LEASE))
# qemu-ga's fsfreeze hook vetoes (exits 1 at freeze) while /run/veto exists: the stock
# agent's way for an app to refuse a freeze. While /run/slow exists it takes 3 s first:
# a slow app.
initrd_b = os.path.join(lv.dir, "initrd-veto.cpio")
with open(os.path.join(TOP, "tools", "vm", "fsfreeze-hook"), "rb") as f:
    hook = f.read().replace(b"\nexec ", b'\n[ "$1" = freeze ] && [ -e /run/veto ] && '
                            b'{ echo "vetoed by /run/veto"; exit 1; }\n'
                            b'[ "$1" = freeze ] && [ -e /run/slow ] && sleep 3\nexec ', 1)
libvirtenv.initrd_with(VMG, initrd_b, {"etc/vm/fsfreeze-hook": (0o755, hook)})
a = libvirtenv.Guest(lv, "qg-quiesced", VMQ, lv.dir, initrd=initrd_a)
b = libvirtenv.Guest(lv, "qg-qemu-ga", VMG, lv.dir, initrd=initrd_b)
guests += [a, b]
for g in (a, b):
    r = g.create()
    tap.ok(r.returncode == 0, "%s: virsh create (transient TCG domain)" % g.name, r.stderr)
for g in (a, b):
    tap.ok(g.wait_ready().startswith(b"ready"), "%s: booted, its app ready" % g.name)
    if not tap.ok(g.wait_agent(), "%s: libvirt sees its agent" % g.name):
        print("1..%d" % tap.n)
        sys.exit(1)

# ------------------------------------------------------------------ check
rc, rep, err = group("--check", *members())
d = by_dom(rep)
tap.ok(rc == 0 and rep and rep["result"] == "ok", "check: exit 0", err)
tap.ok(d.get(a.name, {}).get("agent") == "quiesced", "check: quiesced named quiesced", err)
tap.ok(d.get(b.name, {}).get("agent") == "qemu-ga", "check: qemu-ga named qemu-ga", err)
tap.ok(d.get(a.name, {}).get("lease") is True and d.get(b.name, {}).get("lease") is False,
       "check: the report says which guest has a lease (quiesced) and which not (qemu-ga)", err)
tap.ok(states() == ["thawed", "thawed"], "check: nothing frozen", states())
conf = os.path.join(lv.dir, "shop.group")
with open(conf, "w") as f:
    f.write("[group]\nname = shop\ndeadline = 20s\nguest = %s:%s\nguest = %s:%s\n"
            % (URI_A, a.name, URI_B, b.name))
r = subprocess.run([GROUP, "--state-dir", STATE, "-c", conf, "--check"], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True, timeout=60)
tap.ok(r.returncode == 0 and r.stdout.startswith("group shop (check): ok")
       and "quiesced" in r.stdout and "qemu-ga" in r.stdout and "no lease" in r.stdout,
       "check from a config file, text report: both agents, the note on qemu-ga's lease",
       r.stdout)

# ------------------------------------------------------------------ group snapshot
src0 = [g.disk_source() for g in (a, b)]
rc, rep, err = group("--name", "snap", "--snapshot-name", "s1", *members())
d = by_dom(rep)
tap.ok(rc == 0 and rep and rep["result"] == "ok", "snapshot: exit 0", err)
window = rep["all_frozen"]["window_ms"] if rep else 0
tap.ok(window > 0, "snapshot: all frozen at once for %.1f ms" % window, err)
tap.ok(all(g["state"] == "thawed" and g["snapshot"]["ok"] for g in d.values()),
       "snapshot: each guest snapshotted and thawed", err)
tap.ok(rep and rep["writes_blocked"]["total_ms"] > 0, "snapshot: writes-blocked time reported")
tap.ok(states() == ["thawed", "thawed"], "snapshot: both agents say thawed", states())
src1 = [g.disk_source() for g in (a, b)]
tap.ok(all(s1 and s1 != s0 for s0, s1 in zip(src0, src1)),
       "snapshot: each disk now on its overlay", "%s -> %s" % (src0, src1))
tap.ok(not os.path.exists(os.path.join(STATE, "snap.state")), "snapshot: no state file left")
for g in (a, b):
    img = vmtest.Image(g.disk, os.path.join(g.run_dir, "base.raw"))
    vmtest.check_frozen_image(tap, "snapshot: %s's base image" % g.name, img, True)

# ------------------------------------------------------------------ agent absent
c = libvirtenv.Guest(lv, "qg-no-agent", VMG, lv.dir, agent=False)
guests.append(c)
r = lv.virsh("create", c.xml, "--paused")
tap.ok(r.returncode == 0, "no agent: a paused domain without an agent channel", r.stderr)
rc, rep, err = group(*members(), "-d", "%s:%s" % (URI_A, c.name))
d = by_dom(rep)
tap.ok(rc == 2 and rep and rep["result"] == "check-failed", "no agent: exit 2 (check)", err)
tap.ok(rep and c.name in (rep["reason"] or "") and "agent" in (rep["reason"] or ""),
       "no agent: the report names the guest and its agent", err)
tap.ok(all(g["freeze"] is None for g in d.values()), "no agent: nothing was asked to freeze", err)
tap.ok(states() == ["thawed", "thawed"], "no agent: nothing frozen", states())
rc, rep, err = group("-d", "%s:no-such-domain" % URI_A)
tap.ok(rc == 2 and "no domain 'no-such-domain'" in (rep or {}).get("reason", ""),
       "unknown domain: exit 2, said so", err)
rc, rep, err = group("-d", "qemu:///system?socket=%s/nothing-here:x" % lv.dir)
tap.ok(rc == 2 and "cannot connect" in (rep or {}).get("reason", ""),
       "dead connection: exit 2, said so", err)
lv.virsh("destroy", c.name)

# ------------------------------------------------------------------ already frozen
src1 = [g.disk_source() for g in (a, b)]
r = lv.virsh("domfsfreeze", b.name)
tap.ok(r.returncode == 0, "already frozen: %s frozen by someone else first" % b.name, r.stderr)
rc, rep, err = group(*members())
d = by_dom(rep)
tap.ok(rc == 2 and "already frozen" in (rep or {}).get("reason", ""),
       "already frozen: exit 2 (check), said so", err)
tap.ok(d.get(a.name, {}).get("freeze") is None and a.frozen() == "thawed",
       "already frozen: the other guest was never frozen", err)
lv.virsh("domfsthaw", b.name)

# ------------------------------------------------------------------ an app vetoes
def agent_json(g, cmd):
    r = g.agent_cmd(json.dumps(cmd))
    return json.loads(r.stdout)["return"] if r.returncode == 0 else None


def touch(g, path):
    """Create path in the guest (guest-file-open); True if it did."""
    h = agent_json(g, {"execute": "guest-file-open", "arguments": {"path": path, "mode": "w"}})
    if h is not None:
        agent_json(g, {"execute": "guest-file-close", "arguments": {"handle": h}})
    return h is not None


def remove(g, path):
    """Remove path in the guest (guest-exec rm); True once it is gone."""
    r = g.agent_cmd(json.dumps({"execute": "guest-exec", "arguments": {
        "path": "/bin/rm", "arg": ["-f", path]}}))
    return r.returncode == 0 and wait_for(lambda: agent_json(g, {
        "execute": "guest-file-open", "arguments": {"path": path, "mode": "r"}}) is None, 10, 0.2)


tap.ok(touch(b, "/run/veto"), "veto: /run/veto created in %s (guest-file-open)" % b.name)
rc, rep, err = group(*members())
d = by_dom(rep)
tap.ok(rc == 3 and rep and rep["result"] == "freeze-failed", "veto: exit 3 (freeze failed)", err)
tap.ok(rep and b.name in (rep["reason"] or "") and "hook" in (rep["reason"] or ""),
       "veto: the report names the guest and its hook", err)
tap.ok(d.get(a.name, {}).get("state") == "thawed" and (d.get(a.name, {}).get("thaw") or {}).get("ok"),
       "veto: the guest that froze was thawed", err)
tap.ok(states() == ["thawed", "thawed"], "veto: both agents say thawed", states())
tap.ok([g.disk_source() for g in (a, b)] == src1, "veto: no snapshot taken")
tap.ok(remove(b, "/run/veto"), "veto: /run/veto removed (guest-exec)")

# ------------------------------------------------------------------ missed deadline
tap.ok(touch(b, "/run/slow"), "deadline: /run/slow created in %s: its hook takes 3 s" % b.name)
rc, rep, err = group("--deadline", "1s", *members())
d = by_dom(rep)
da, db = d.get(a.name, {}), d.get(b.name, {})
tap.ok(rc == 4 and rep and rep["result"] == "deadline" and b.name in (rep["reason"] or ""),
       "deadline: exit 4, the slow guest named", err)
tap.ok(db.get("late") is True and db.get("state") == "thawed" and (db.get("thaw") or {}).get("ok"),
       "deadline: the slow guest's freeze answered after it, and it was thawed then", err)
tap.ok(da.get("state") == "thawed" and (da.get("thaw") or {}).get("asked_ms", 1e9)
       < (db.get("freeze") or {}).get("answered_ms", 0),
       "deadline: the other guest was thawed at once, before the late freeze landed", err)
tap.ok(states() == ["thawed", "thawed"], "deadline: both agents say thawed", states())
tap.ok([g.disk_source() for g in (a, b)] == src1, "deadline: no snapshot taken")
tap.ok(remove(b, "/run/slow"), "deadline: /run/slow removed")

# ------------------------------------------------------------------ the hold limit
rc, rep, err = group("--hold", "1s", *members(), "--", "sleep", "30")
tap.ok(rc == 5 and "ran over the hold limit" in (rep or {}).get("reason", ""),
       "hold limit: the command killed after 1 s, exit 5", err)
tap.ok(states() == ["thawed", "thawed"], "hold limit: both thawed", states())

# ------------------------------------------------------------------ SIGTERM while frozen
pidfile = os.path.join(lv.dir, "term.pid")
p = subprocess.Popen([GROUP, "--json", "--state-dir", STATE, "--name", "term"] + members()
                     + ["--", "sh", "-c", 'echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 100',
                        "cmd", pidfile], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
wait_for(lambda: os.path.exists(pidfile), 60, 0.05)
p.send_signal(signal.SIGTERM)
out, errs = p.communicate(timeout=60)
tap.ok(p.returncode == 5 and "signal" in out, "SIGTERM: the command ended, exit 5, said so",
       out[-1500:] + errs)
tap.ok(states() == ["thawed", "thawed"], "SIGTERM: both thawed", states())
tap.ok(not os.path.exists(os.path.join(STATE, "term.state")), "SIGTERM: no state file left")

# ------------------------------------------------------------------ killed while frozen
pidfile = os.path.join(lv.dir, "cmd.pid")
envfile = os.path.join(lv.dir, "cmd.env")
p = subprocess.Popen([GROUP, "--state-dir", STATE, "--name", "killed", "--hold", "100s"]
                     + members() + ["--", "sh", "-c", 'env | grep ^QUIESCE_GROUP > "$1"; '
                                    'echo $$ > "$2.tmp"; mv "$2.tmp" "$2"; exec sleep 100',
                                    "cmd", envfile, pidfile],
                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(lv.dir, "killed.err"), "w"))
held = wait_for(lambda: os.path.exists(pidfile), 60, 0.05)
if not tap.ok(held and states() == ["frozen", "frozen"], "killed: the command runs, both frozen",
              "%s %s" % (states(), open(os.path.join(lv.dir, "killed.err")).read())):
    p.kill()
    print("1..%d" % tap.n)
    sys.exit(1)
with open(envfile) as f:
    env = f.read()
tap.ok("QUIESCE_GROUP=killed" in env and a.name in env and b.name in env,
       "killed: the command has the group in its environment", env)
t_kill = time.monotonic()
p.send_signal(signal.SIGKILL)
p.wait()
with open(pidfile) as f:
    os.kill(int(f.read()), signal.SIGKILL)  # our own sleep, left by the killed run
tap.ok(os.path.exists(os.path.join(STATE, "killed.state")), "killed: its state file is left")
lease_thaw = wait_for(lambda: a.frozen() == "thawed", LEASE + 30, 0.5)
tap.ok(lease_thaw, "killed: quiesced thawed by its %d s lease (%.1f s after the kill)"
       % (LEASE, time.monotonic() - t_kill))
tap.ok(b.frozen() == "frozen", "killed: qemu-ga (no lease) is still frozen")
rc, rep, err = group("thaw", "killed")
d = by_dom(rep)
tap.ok(rc == 0 and rep and rep["result"] == "ok", "thaw GROUP: exit 0", err)
tap.ok(states() == ["thawed", "thawed"], "thaw GROUP: both thawed", states())
tap.ok("not frozen" in (d.get(a.name, {}).get("thaw") or {}).get("answer", ""),
       "thaw GROUP: says the quiesced guest was not frozen any more", err)
tap.ok(not os.path.exists(os.path.join(STATE, "killed.state")), "thaw GROUP: state file removed")
rc, _, err = group("thaw", "killed")
tap.ok(rc == 0 and "no state file" in err, "thaw GROUP again: nothing to do", err)

# ------------------------------------------------------------------ the end
for g in (a, b):
    tap.ok(g.shutdown(), "%s: clean shutdown" % g.name)
    vmtest.check_console(tap, os.path.join(g.run_dir, "console.log"))
lv.stop()
tap.ok(not lv.leftovers(), "no libvirtd or QEMU of this test is left")
print("1..%d" % tap.n, flush=True)
sys.exit(1 if tap.failed else 0)
