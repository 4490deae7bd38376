# SPDX-License-Identifier: MIT
"""The real libvirt for tests, as on a fresh machine (no systemd, no
libvirt-daemon-system): libvirtd started by hand in a private mount and PID namespace
(unshare) where a tmpfs holds /etc/libvirt (this module's qemu.conf: root, no security
driver, no cgroups, no namespaces, no dynamic ownership, stdio to files since no virtlogd
runs) and tmpfses cover /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and
/var/log/libvirt. The host's /etc/libvirt is never written (etc_digest() checks it). The
socket is in the test's directory (Libvirtd.uri). The QEMU driver wants the libvirt-qemu
user and group: ensure_qemu_user() creates them if missing and leaves them, as a
package would.

Pitfalls found on the way (tools/vm/README.md has the story):
* libvirtd must not be PID 1 of the namespace (it never reaps the QEMU processes it
  probes capabilities with): a shell loop is init and reaps them. Killing that init
  from outside ends every process in the namespace at once: Libvirtd.stop().
* The test VM's /init blocks writing "ready" to its control port until the host side
  is connected: Guest.boot() connects to that channel's socket.
* libvirtd's pid file is /run/libvirtd.pid unless told: two tests (or two sessions)
  at once then fail ("Failed to acquire pid file"). Each gets its own, in its dir.
* libvirt answers "QEMU guest agent is not connected" until the guest opened the port:
  Guest.boot() waits for guest-ping through libvirt first.

Used by tests/integration/vm_libvirt.py and vm_group.py, and bench/group.py."""

import atexit
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

from qtest import wait_for

QEMU_DRIVER = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"
BOOT_TIMEOUT = 90
AGENT_TIMEOUT = 60

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
libvirtd --config "$D/libvirtd.conf" --pid-file "$D/libvirtd.pid" &
while :; do wait; sleep 0.2; done
"""


def missing():
    """Why the real libvirt cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    for prog, pkg in (("libvirtd", "libvirt-daemon"), ("virsh", "libvirt-clients"),
                      ("qemu-system-x86_64", "qemu-system-x86"), ("unshare", "util-linux")):
        if shutil.which(prog) is None:
            return "%s is not installed (Debian package %s)" % (prog, pkg)
    if not os.path.exists(QEMU_DRIVER):
        return "libvirt's QEMU driver is not installed (libvirt-daemon-driver-qemu)"
    return None


def _skip_all(why):
    print("1..0 # SKIP %s" % why, flush=True)
    sys.exit(0)


def preflight(top):
    """What a test on the real libvirt and the test VMs checks first: it runs once per
    CI run (skipped under SANITIZE=1 and QUIESCE_VALGRIND=1), needs root and libvirt
    (else skipped), and both VMs (skipped without them, failed if make check should
    have built them). Returns [("quiesced", dir), ("qemu-ga", dir)]."""
    if os.environ.get("SANITIZE") == "1" or os.environ.get("QUIESCE_VALGRIND") == "1":
        _skip_all("once per CI run: not in the sanitizer or valgrind stage")
    why = missing()
    if why:
        _skip_all(why)
    build = os.environ.get("QUIESCE_BUILD", os.path.join(top, "build"))
    agents = [("quiesced", os.environ.get("QUIESCE_VM_DIR") or os.path.join(build, "vm")),
              ("qemu-ga", os.environ.get("QUIESCE_VM_QGA_DIR") or os.path.join(build, "vm-qemu-ga"))]
    for name, d in agents:
        if not os.path.exists(os.path.join(d, "initrd.cpio")):
            if "QUIESCE_VM_QGA_DIR" in os.environ:  # make check builds both: not a reason to skip
                print("1..1\nnot ok 1 - VM image in %s\n# make check should have built it" % d)
                sys.exit(1)
            _skip_all("no %s VM in %s (make vm%s)"
                      % (name, d, " VM_AGENT=qemu-ga" if name == "qemu-ga" else ""))
    return agents


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


def ensure_qemu_user():
    if subprocess.run(["getent", "group", "libvirt-qemu"], stdout=subprocess.DEVNULL).returncode:
        subprocess.run(["groupadd", "--system", "libvirt-qemu"], check=True)
    if subprocess.run(["getent", "passwd", "libvirt-qemu"], stdout=subprocess.DEVNULL).returncode:
        subprocess.run(["useradd", "--system", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt",
                        "-M", "-s", "/usr/sbin/nologin", "libvirt-qemu"], check=True)


class Libvirtd:
    def __init__(self, prefix="quiesce-libvirt-"):
        self.dir = tempfile.mkdtemp(prefix=prefix)
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

        def up():
            return self.virsh("version").returncode == 0 or self.proc.poll() is not None
        # It probes QEMU's capabilities (starting QEMU) before it answers: seconds on a
        # quiet machine, more on a loaded one (a full CI run once took over 30 s).
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

    def stop_at_exit(self, tap, before=None):
        """The end, also on failure or a signal: before() (the test's own), every
        domain destroyed and the namespace killed; the directory removed if every test
        passed, else kept (and said)."""
        def cleanup(*_):
            if before:
                before()
            self.stop()
            if not tap.failed:
                shutil.rmtree(self.dir, ignore_errors=True)
            elif os.path.exists(self.dir):
                print("# kept: %s" % self.dir, flush=True)

        def on_signal(signum, _frame):
            cleanup()
            os._exit(128 + signum)
        atexit.register(cleanup)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, on_signal)

    def leftovers(self):
        """True if a process of this libvirtd (libvirtd, QEMU) is still there."""
        return subprocess.run(["pgrep", "-f", self.dir], stdout=subprocess.DEVNULL).returncode != 1

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "libvirtd.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


def domain_xml(name, vm_dir, run_dir, agent=True, mem_mib=256, initrd=None):
    """A transient TCG domain of the test VM (tools/vm/): its data disk a copy in
    run_dir, its console and control channel there too. agent=False: no guest agent
    channel at all. initrd: another initramfs than vm_dir's."""
    agent_ch = ("    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
                "</channel>\n") if agent else ""
    return """<domain type='qemu'>
  <name>%(dom)s</name>
  <memory unit='MiB'>%(mem)d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%(vm)s/vmlinux</kernel>
    <initrd>%(initrd)s</initrd>
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
%(agent)s    <channel type='unix'>
      <source mode='bind' path='%(run)s/ctl.sock'/>
      <target type='virtio' name='org.quiesce.vmctl.0'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
""" % {"dom": name, "vm": os.path.abspath(vm_dir), "run": run_dir, "agent": agent_ch,
       "mem": mem_mib,
       "initrd": initrd or os.path.join(os.path.abspath(vm_dir), "initrd.cpio")}


class Guest:
    """One transient domain of the test VM under a Libvirtd, in root/<name>/."""

    def __init__(self, lv, name, vm_dir, root, agent=True, initrd=None):
        self.lv, self.name, self.vm_dir = lv, name, vm_dir
        self.run_dir = os.path.join(root, name)
        self.agent = agent
        self.ctl = None
        os.mkdir(self.run_dir)
        self.disk = os.path.join(self.run_dir, "disk.qcow2")
        shutil.copyfile(os.path.join(vm_dir, "disk.qcow2"), self.disk)
        self.xml = os.path.join(self.run_dir, "domain.xml")
        with open(self.xml, "w") as f:
            f.write(domain_xml(name, vm_dir, self.run_dir, agent, initrd=initrd))

    def create(self):
        """virsh create; returns virsh's CompletedProcess."""
        return self.lv.virsh("create", self.xml)

    def wait_ready(self):
        """Connect to the control channel (the guest's /init waits for it) and read its
        first line; returns it (b"ready" when the app runs)."""
        ready = b""
        path = os.path.join(self.run_dir, "ctl.sock")
        if wait_for(lambda: os.path.exists(path), 30, 0.1):
            self.ctl = socket.socket(socket.AF_UNIX)
            self.ctl.connect(path)
            self.ctl.settimeout(BOOT_TIMEOUT)
            try:
                ready = self.ctl.recv(64)
            except socket.timeout:
                pass
        return ready

    def agent_cmd(self, cmd, timeout=30):
        return self.lv.virsh("qemu-agent-command", self.name, cmd, timeout=timeout)

    def wait_agent(self):
        """True once libvirt gets an answer to guest-ping."""
        return wait_for(lambda: self.agent_cmd('{"execute":"guest-ping"}').returncode == 0,
                        AGENT_TIMEOUT, 0.2)

    def frozen(self):
        """The agent's guest-fsfreeze-status ("frozen", "thawed"), or None."""
        r = self.agent_cmd('{"execute":"guest-fsfreeze-status"}')
        if r.returncode:
            return None
        return "frozen" if "frozen" in r.stdout else "thawed" if "thawed" in r.stdout else None

    def shutdown(self, timeout=60):
        """The guest's clean shutdown through its control channel (/init stops the app
        and the agent, unmounts, powers off); destroy if it does not end in time."""
        try:
            if self.ctl:
                self.ctl.sendall(b"shutdown\n")
        except OSError:
            pass
        gone = wait_for(lambda: self.name not in self.lv.virsh("list", "--name").stdout.split(),
                        timeout, 0.2)
        if not gone:
            self.lv.virsh("destroy", self.name)
        self.close()
        return gone

    def disk_source(self):
        """The file vda is on now (an external snapshot moves it to the overlay)."""
        r = self.lv.virsh("domblklist", self.name)
        for line in r.stdout.splitlines():
            w = line.split()
            if len(w) == 2 and w[0] == "vda":
                return w[1]
        return None

    def close(self):
        if self.ctl:
            self.ctl.close()
            self.ctl = None


def initrd_with(vm_dir, out, files, conf_edit=None):
    """A copy of vm_dir's initramfs with files ({path: (mode, bytes)}) replaced, and
    /etc/vm/vm.conf replaced by conf_edit(text): a second newc archive appended (the
    kernel unpacks both; the later file wins)."""
    files = dict(files)
    if conf_edit:
        with open(os.path.join(vm_dir, "vm.conf")) as f:
            files["etc/vm/vm.conf"] = (0o644, conf_edit(f.read()).encode())
    shutil.copyfile(os.path.join(vm_dir, "initrd.cpio"), out)

    def entry(name, mode, data, ino):
        name_b = name.encode() + b"\0"
        hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0)
        b = hdr.encode() + name_b
        b += b"\0" * (-len(b) % 4) + data
        return b + b"\0" * (-len(b) % 4)
    arc = entry("etc", 0o40755, b"", 900001) + entry("etc/vm", 0o40755, b"", 900002)
    for n, (path, (mode, data)) in enumerate(sorted(files.items())):
        arc += entry(path, 0o100000 | mode, data, 900010 + n)
    arc += entry("TRAILER!!!", 0, b"", 0)
    with open(out, "ab") as f:
        f.write(b"\0" * (-f.tell() % 4) + arc)
