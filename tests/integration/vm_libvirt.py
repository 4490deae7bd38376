#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The real libvirt (Debian 12's 9.0) against the test VM's guest agent: the virsh
commands of issue 15's table, domfsfreeze/domfsthaw (also --mountpoint) and a
quiesced disk-only snapshot, on the VM running quiesced with qemu-ga behind it
($QUIESCE_VM_DIR) and on the same VM with the stock qemu-ga ($QUIESCE_VM_QGA_DIR,
make vm VM_AGENT=qemu-ga). Every command must end with the same exit status and print
the same shape (digits aside) with both agents; the table must succeed; the snapshot's
base image must be clean and end with the app's freeze record.

libvirtd runs by hand, isolated, as on a fresh machine (tests/lib/libvirtenv.py: a
private mount and PID namespace, this test's qemu.conf, nothing of the host's
/etc/libvirt written, which is checked at the end).

Only in the plain stage of a CI run: skipped under SANITIZE=1 and QUIESCE_VALGRIND=1
(nothing of quiesce on the host runs here; the guest's quiesced is tested sanitized
by vm_snapshot.sh). Skipped without root, libvirtd, virsh, QEMU or unshare."""

import json
import os
import re
import shutil
import socket
import sys

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools", "vm"))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import vmtest  # noqa: E402
import libvirtenv  # noqa: E402
from libvirtenv import Libvirtd, etc_digest  # noqa: E402
from qtest import wait_for  # noqa: E402

tap = vmtest.Tap()


AGENTS = libvirtenv.preflight(TOP)

DOM = "quiesce-libvirt-test"
BOOT_TIMEOUT = libvirtenv.BOOT_TIMEOUT
AGENT_TIMEOUT = libvirtenv.AGENT_TIMEOUT
GONE_TIMEOUT = 60


def domain_xml(vm_dir, run_dir):
    return libvirtenv.domain_xml(DOM, vm_dir, run_dir)


# (label, virsh arguments after the domain name is inserted at {d})
TABLE = [("domfsinfo", ["domfsinfo", "{d}"]),
         ("domtime", ["domtime", "{d}"]),
         ("domifaddr --source agent", ["domifaddr", "{d}", "--source", "agent"]),
         ("guestvcpus", ["guestvcpus", "{d}"]),
         ("domhostname --source agent", ["domhostname", "{d}", "--source", "agent"]),
         ("guestinfo", ["guestinfo", "{d}"])]
FREEZES = [("domfsfreeze", ["domfsfreeze", "{d}"]),
           ("domfsthaw", ["domfsthaw", "{d}"]),
           ("domfsfreeze --mountpoint", ["domfsfreeze", "{d}", "--mountpoint", "/mnt/data"]),
           # libvirt's QEMU driver refuses it itself (qemu-ga's thaw is global).
           ("domfsthaw --mountpoint", ["domfsthaw", "{d}", "--mountpoint", "/mnt/data"]),
           ("domfsthaw after it", ["domfsthaw", "{d}"])]


def shape(text):
    """The output's shape: its lines, digits and trailing blanks aside."""
    return [re.sub(r"[0-9]+", "N", ln).rstrip() for ln in text.strip().splitlines()]


def one_agent(lv, agent, vm_dir, root):
    """Boot the VM for one agent under libvirt, run every command; returns
    {label: (rc, stdout, stderr)}."""
    run_dir = os.path.join(root, agent)
    os.mkdir(run_dir)
    shutil.copyfile(os.path.join(vm_dir, "disk.qcow2"), os.path.join(run_dir, "disk.qcow2"))
    xml = os.path.join(run_dir, "domain.xml")
    with open(xml, "w") as f:
        f.write(domain_xml(vm_dir, run_dir))
    out = {}
    r = lv.virsh("create", xml)
    if not tap.ok(r.returncode == 0, "%s: virsh create (transient TCG domain)" % agent,
                  r.stderr + "\n" + lv.log_tail()):
        return out
    # The guest's /init blocks on telling the host "ready" until someone listens.
    ctl = socket.socket(socket.AF_UNIX)
    ready = b""
    if wait_for(lambda: os.path.exists(os.path.join(run_dir, "ctl.sock")), 30, 0.1):
        ctl.connect(os.path.join(run_dir, "ctl.sock"))
        ctl.settimeout(BOOT_TIMEOUT)
        try:
            ready = ctl.recv(64)
        except socket.timeout:
            pass
    tap.ok(ready.startswith(b"ready"), "%s: the guest booted and its app is ready" % agent,
           repr(ready))

    def agent_up():
        return lv.virsh("qemu-agent-command", DOM, '{"execute":"guest-ping"}',
                        timeout=30).returncode == 0
    tap.ok(wait_for(agent_up, AGENT_TIMEOUT, 0.2), "%s: libvirt sees the agent" % agent)
    for label, args in TABLE + FREEZES:
        r = lv.virsh(*[a.format(d=DOM) for a in args])
        out[label] = (r.returncode, r.stdout, r.stderr)
    snap = ["snapshot-create-as", DOM, "quiesced-snap", "--disk-only", "--quiesce",
            "--no-metadata", "--atomic", "--diskspec",
            "vda,file=%s" % os.path.join(run_dir, "overlay.qcow2")]
    r = lv.virsh(*snap)
    out["snapshot-create-as --disk-only --quiesce"] = (r.returncode, r.stdout, r.stderr)
    tap.ok(r.returncode == 0, "%s: snapshot-create-as --disk-only --quiesce --atomic" % agent,
           r.stderr)
    r = lv.virsh("shutdown", DOM, "--mode", "agent")
    out["shutdown --mode agent"] = (r.returncode, r.stdout, r.stderr)
    gone = wait_for(lambda: DOM not in lv.virsh("list", "--name").stdout.split(), GONE_TIMEOUT, 0.2)
    tap.ok(r.returncode == 0 and gone, "%s: shutdown --mode agent powers the guest off" % agent,
           r.stderr)
    ctl.close()
    if not gone:
        lv.virsh("destroy", DOM)
    vmtest.check_console(tap, os.path.join(run_dir, "console.log"))
    base = vmtest.Image(os.path.join(run_dir, "disk.qcow2"), os.path.join(run_dir, "base.raw"))
    if out["snapshot-create-as --disk-only --quiesce"][0] == 0:
        vmtest.check_frozen_image(tap, "%s: the snapshot's base image" % agent, base, True)
    return out


digest = etc_digest()
lv = Libvirtd()
lv.stop_at_exit(tap)
libvirtenv.ensure_qemu_user()

if not tap.ok(lv.start(), "libvirtd runs, in its own mount and PID namespaces",
              lv.log_tail()):
    print("1..%d" % tap.n)
    sys.exit(1)

results = {}
for agent, vm_dir in AGENTS:
    try:
        results[agent] = one_agent(lv, agent, vm_dir, lv.dir)
    except Exception as e:  # report, then go on with the other agent
        tap.ok(False, "%s: the scenario ran to the end" % agent, repr(e))
        results[agent] = {}
    lv.virsh("destroy", DOM)

q, g = results.get("quiesced", {}), results.get("qemu-ga", {})
for label, _ in TABLE:
    rc = q.get(label, (None,))[0]
    tap.ok(rc == 0, "quiesced: virsh %s succeeds" % label, q.get(label))
for label in [x for x, _ in TABLE + FREEZES] + ["snapshot-create-as --disk-only --quiesce",
                                                 "shutdown --mode agent"]:
    a, b = q.get(label), g.get(label)
    if a is None or b is None:
        tap.ok(False, "virsh %s: the same with both agents" % label, "not run")
        continue
    tap.ok(a[0] == b[0] and shape(a[1]) == shape(b[1]) and shape(a[2]) == shape(b[2]),
           "virsh %s: the same exit status (%s) and output shape with both agents" % (label, a[0]),
           "quiesced: %s\nqemu-ga:  %s" % (json.dumps(a), json.dumps(b)))

lv.stop()
tap.ok(etc_digest() == digest, "the host's /etc/libvirt is untouched")
tap.ok(not lv.leftovers(), "no libvirtd or QEMU of this test is left")
print("1..%d" % tap.n, flush=True)
sys.exit(1 if tap.failed else 0)
