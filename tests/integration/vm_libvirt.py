#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The real libvirt (Debian 12's 9.0) against the test VM's guest agent: the virsh
commands of issue 15's table, domfsfreeze/domfsthaw (also --mountpoint) and a
quiesced disk-only snapshot, on the VM running quiesced with qemu-ga behind it
($QUIESCE_VM_DIR) and on the same VM with the stock qemu-ga ($QUIESCE_VM_QGA_DIR,
make vm VM_AGENT=qemu-ga). Every command must end with the same exit status and print
the same shape (digits aside) with both agents; the table must succeed; the snapshot's
base image must be clean and end with the app's freeze record.

libvirtd runs by hand, isolated, as on a fresh machine (no systemd, no
libvirt-daemon-system): in a private mount and PID namespace (unshare) where a tmpfs
holds /etc/libvirt (this test's qemu.conf: root, no security driver, no cgroups, no
namespaces, no dynamic ownership, stdio to files since no virtlogd runs) and tmpfses
cover /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt. The
host's /etc/libvirt is never written (checked at the end), so there is nothing to put
back. Its socket is in this test's directory (virsh -c 'qemu:///system?socket=...').
The QEMU driver wants the libvirt-qemu user and group to exist (libvirt-daemon-system
would make them): they are created if missing and left, as a package would.

The end, also on failure or a signal: every domain destroyed, then the namespace's
init killed, which ends every process in it (libvirtd and any QEMU) at once.

Only in the plain stage of a CI run: skipped under SANITIZE=1 and QUIESCE_VALGRIND=1
(nothing of quiesce on the host runs here; the guest's quiesced is tested sanitized
by vm_snapshot.sh). Skipped without root, libvirtd, virsh, QEMU or unshare."""

import atexit
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools", "vm"))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import vmtest  # noqa: E402
from qtest import wait_for  # noqa: E402

tap = vmtest.Tap()


def skip_all(why):
    print("1..0 # SKIP %s" % why, flush=True)
    sys.exit(0)


if os.environ.get("SANITIZE") == "1" or os.environ.get("QUIESCE_VALGRIND") == "1":
    skip_all("once per CI run: not in the sanitizer or valgrind stage")
if os.geteuid() != 0:
    skip_all("needs root")
for prog, pkg in (("libvirtd", "libvirt-daemon"), ("virsh", "libvirt-clients"),
                  ("qemu-system-x86_64", "qemu-system-x86"), ("unshare", "util-linux")):
    if shutil.which(prog) is None:
        skip_all("%s is not installed (Debian package %s)" % (prog, pkg))
if not os.path.exists("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"):
    skip_all("libvirt's QEMU driver is not installed (libvirt-daemon-driver-qemu)")

build = os.environ.get("QUIESCE_BUILD", os.path.join(TOP, "build"))
AGENTS = [("quiesced", os.environ.get("QUIESCE_VM_DIR") or os.path.join(build, "vm")),
          ("qemu-ga", os.environ.get("QUIESCE_VM_QGA_DIR") or os.path.join(build, "vm-qemu-ga"))]
for name, d in AGENTS:
    if not os.path.exists(os.path.join(d, "initrd.cpio")):
        if "QUIESCE_VM_QGA_DIR" in os.environ:  # make check builds both: not a reason to skip
            print("1..1\nnot ok 1 - VM image in %s\n# make check should have built it" % d)
            sys.exit(1)
        skip_all("no %s VM in %s (make vm%s)" % (name, d,
                                                 " VM_AGENT=qemu-ga" if name == "qemu-ga" else ""))

DOM = "quiesce-libvirt-test"
BOOT_TIMEOUT = 90
AGENT_TIMEOUT = 60
GONE_TIMEOUT = 60

QEMU_CONF = """user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
dynamic_ownership = 0
remember_owner = 0
stdio_handler = "file"
"""

# In the new namespaces: private tmpfses, then libvirtd under a shell that, as the
# namespace's PID 1, reaps the QEMU processes libvirtd leaves to init.
NS_SCRIPT = r"""
set -eu
D=$1
mount -t tmpfs -o mode=0755 quiesce-libvirt-etc /etc/libvirt
cp "$D/qemu.conf" /etc/libvirt/qemu.conf
for d in /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
    mkdir -p "$d"
    mount -t tmpfs -o mode=0755 quiesce-libvirt "$d"
done
libvirtd --config "$D/libvirtd.conf" &
while :; do wait; sleep 0.2; done
"""


def etc_digest():
    """What the host's /etc/libvirt holds (names and contents)."""
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk("/etc/libvirt")):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode())
            try:
                with open(p, "rb") as fh:
                    h.update(fh.read())
            except OSError:
                pass
    return h.hexdigest()


class Libvirtd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="quiesce-libvirt-")
        self.sock_dir = os.path.join(self.dir, "sock")
        os.mkdir(self.sock_dir, 0o700)
        self.uri = "qemu:///system?socket=%s/libvirt-sock" % self.sock_dir
        self.proc = None
        self.init_pid = None
        with open(os.path.join(self.dir, "qemu.conf"), "w") as f:
            f.write(QEMU_CONF)
        with open(os.path.join(self.dir, "libvirtd.conf"), "w") as f:
            f.write('unix_sock_dir = "%s"\nunix_sock_ro_perms = "0700"\n'
                    'unix_sock_rw_perms = "0700"\nauth_unix_ro = "none"\nauth_unix_rw = "none"\n'
                    'log_outputs = "3:file:%s/libvirtd.log"\n' % (self.sock_dir, self.dir))

    def start(self):
        self.err = open(os.path.join(self.dir, "ns.log"), "w")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "-p", "-f", "--kill-child", "--mount-proc", "--propagation",
             "private", "sh", "-c", NS_SCRIPT, "ns", self.dir],
            stdin=subprocess.DEVNULL, stdout=self.err, stderr=subprocess.STDOUT,
            start_new_session=True)
        path = "/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)

        def child():
            try:
                with open(path) as f:
                    kids = f.read().split()
            except OSError:
                return False
            self.init_pid = int(kids[0]) if kids else None
            return self.init_pid is not None
        wait_for(child, 10, 0.05)

        # It probes QEMU's capabilities (starting QEMU) before it answers: seconds on a
        # quiet machine, more on a loaded one; bounded generously.
        def up():
            return self.virsh("version").returncode == 0 or self.proc.poll() is not None
        return wait_for(up, 120, 0.1) and self.proc.poll() is None

    def virsh(self, *args, timeout=120):
        return subprocess.run(["virsh", "-c", self.uri] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def stop(self):
        """Every domain destroyed, then everything in the namespaces killed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                names = self.virsh("list", "--name", timeout=20).stdout.split()
                for n in names:
                    self.virsh("destroy", n, timeout=30)
            except (subprocess.TimeoutExpired, OSError):
                pass
            # SIGKILL to the namespace's init from outside ends every process in it.
            if self.init_pid:
                try:
                    os.kill(self.init_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        self.proc = None

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "libvirtd.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


def domain_xml(vm_dir, run_dir):
    return """<domain type='qemu'>
  <name>%(dom)s</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%(vm)s/vmlinux</kernel>
    <initrd>%(vm)s/initrd.cpio</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%(run)s/disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'><source path='%(run)s/console.log'/><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <channel type='unix'>
      <source mode='bind' path='%(run)s/ctl.sock'/>
      <target type='virtio' name='org.quiesce.vmctl.0'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
""" % {"dom": DOM, "vm": os.path.abspath(vm_dir), "run": run_dir}


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
done = False


def cleanup(*_):
    lv.stop()
    if not tap.failed:
        shutil.rmtree(lv.dir, ignore_errors=True)
    elif not done:
        print("# kept: %s" % lv.dir, flush=True)


def on_signal(signum, _frame):
    cleanup()
    os._exit(128 + signum)


atexit.register(cleanup)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, on_signal)

for grp in ("libvirt-qemu",):
    if subprocess.run(["getent", "group", grp], stdout=subprocess.DEVNULL).returncode:
        subprocess.run(["groupadd", "--system", grp], check=True)
if subprocess.run(["getent", "passwd", "libvirt-qemu"], stdout=subprocess.DEVNULL).returncode:
    subprocess.run(["useradd", "--system", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt", "-M",
                    "-s", "/usr/sbin/nologin", "libvirt-qemu"], check=True)

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
tap.ok(subprocess.run(["pgrep", "-f", lv.dir], stdout=subprocess.DEVNULL).returncode == 1,
       "no libvirtd or QEMU of this test is left")
done = True
print("1..%d" % tap.n, flush=True)
sys.exit(1 if tap.failed else 0)
