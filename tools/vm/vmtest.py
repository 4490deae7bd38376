#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end snapshot test on a real QEMU VM (TAP on stdout; exit 0 pass, 1 fail).

    tools/vm/vmtest.py [--vm-dir DIR] [--recwriter PATH] [--keep] [--freeze both|plain|list]
                       [--selftest-only]

The VM comes from tools/vm/build-vm.sh (DIR, default $QUIESCE_BUILD/vm or build/vm):
vmlinux (PVH direct boot), initrd.cpio (guest agent + app), a pristine disk.qcow2, and
vm.conf (what the guest runs; APP_HOLDS=0 there means the app cannot take part in
freezes, and the app-consistency checks are skipped, saying why).

What it does, in a run dir of its own under /tmp:
  0. self-tests the record checker on synthetic torn files (it must be able to fail),
     and, with --recwriter, the phase-1 stand-in writer on the host (a plain file,
     nothing frozen);
  1. boots QEMU (-accel tcg) with the guest agent port org.qemu.guest_agent.0 (QGA) and
     the control port org.quiesce.vmctl.0 (init's "ready", "time", "shutdown"), QMP on
     a socket;
  2. guest-ping, guest-sync-delimited, the commands virsh sends for issue 15's table
     (guest-get-fsinfo, -time, -vcpus, ...: from qemu-ga, or from quiesced with qemu-ga
     behind it), waits for "ready" (the app has registered), lets the app write ~1 s;
  3. guest-fsfreeze-freeze (plain; inside the guest the data disk is the only
     freezable fs, and quiesced is scoped to it), status; while frozen QMP
     blockdev-snapshot-sync and blockdev-backup; thaw; waits for BLOCK_JOB_COMPLETED;
  4. takes a control copy with no freeze; with --freeze both (the default) a second
     freeze/thaw with guest-fsfreeze-freeze-list ["/mnt/data"]; shuts the guest down
     over the control port (the app, then the agent, must exit 0);
  5. checks the frozen copies (backup, snapshot base): qemu-img check, e2fsck -fn, no
     needs_recovery, records.bin complete and ending with the app's freeze record; the
     live disk: the frozen records are its prefix and a thaw record follows every
     freeze record; the guest clock (over the control port) shows the app's freeze
     record after the freeze request and before the copies, and its thaw record after
     the copies and before the thaw reply; reports how the control copy differs
     (diagnostics only).
Only the VM is ever frozen. QEMU runs in its own session; if it hangs it gets SIGTERM,
then SIGKILL, by its PID only. The run dir is removed unless --keep or a failure.
"""

import argparse
import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import qrec  # noqa: E402

QGA_PORT = "org.qemu.guest_agent.0"
CTL_PORT = "org.quiesce.vmctl.0"
DATA_MOUNT = "/mnt/data"
RECORDS = "/records.bin"  # on the data disk

# Generous bounds to catch hangs; they measure nothing.
BOOT_TIMEOUT = 90
CMD_TIMEOUT = 30
JOB_TIMEOUT = 60
SHUTDOWN_TIMEOUT = 30


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                self.diag(diag)
        return bool(cond)

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)


class Failed(Exception):
    """A step the rest of the test depends on failed (already reported as not ok)."""


def run(cmd, check=False, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=check, **kw)


# ---------------------------------------------------------------- JSON-line channels


class Channel:
    """One newline-delimited JSON connection (QMP or QGA) on a Unix socket."""

    def __init__(self, path, name, deadline):
        self.name = name
        self.buf = b""
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise Failed("%s: cannot connect to %s" % (name, path))
                time.sleep(0.02)

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def read_line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed("%s: no reply in time" % self.name)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise Failed("%s: connection closed" % self.name)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read_msg(self, deadline):
        while True:
            # guest-sync-delimited replies start with 0xFF; the guest may also send
            # 0xFF alone to flush the host's parser.
            line = self.read_line(deadline).lstrip(b"\xff").strip()
            if line:
                return json.loads(line)

    def close(self):
        self.sock.close()


class Qmp(Channel):
    def __init__(self, path, deadline):
        super().__init__(path, "QMP", deadline)
        self.events = []
        greeting = self.read_msg(deadline)
        if "QMP" not in greeting:
            raise Failed("QMP: unexpected greeting %r" % greeting)
        self.cmd("qmp_capabilities")

    def cmd(self, execute, timeout=CMD_TIMEOUT, **args):
        msg = {"execute": execute}
        if args:
            msg["arguments"] = args
        self.send(msg)
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read_msg(deadline)
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise Failed("QMP %s: %s" % (execute, reply["error"].get("desc", reply["error"])))
            return reply.get("return")

    def wait_event(self, name, match, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev["event"] == name and match(ev.get("data", {})):
                    self.events.remove(ev)
                    return ev
            msg = self.read_msg(deadline)
            if "event" in msg:
                self.events.append(msg)


class Qga(Channel):
    def __init__(self, path, deadline):
        super().__init__(path, "QGA", deadline)

    def cmd(self, execute, timeout=CMD_TIMEOUT, **args):
        msg = {"execute": execute}
        if args:
            msg["arguments"] = args
        self.send(msg)
        reply = self.read_msg(time.monotonic() + timeout)
        if "error" in reply:
            raise Failed("QGA %s: %s" % (execute, reply["error"].get("desc", reply["error"])))
        return reply.get("return")

    def sync(self, timeout=CMD_TIMEOUT):
        """guest-sync-delimited: drop anything stale, then expect our id back.

        No 0xFF is sent first to reset the agent's parser: qemu-ga answers it with a
        parse error, and the connection is fresh anyway."""
        sync_id = int.from_bytes(os.urandom(4), "little") >> 1
        self.send({"execute": "guest-sync-delimited", "arguments": {"id": sync_id}})
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read_msg(deadline)
            if reply.get("return") == sync_id:
                return sync_id
            if "error" in reply:
                raise Failed("QGA guest-sync-delimited: %s" % reply["error"])


class Ctl(Channel):
    """The guest /init's control port: lines, not JSON."""

    def __init__(self, path, deadline):
        super().__init__(path, "control port", deadline)

    def expect(self, words, timeout):
        """The next non-empty line, which must be one of words."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(deadline).strip().decode(errors="replace")
            if line in words:
                return line
            if line:
                raise Failed("control port: %r where one of %s was expected" % (line, words))

    def time(self, timeout=CMD_TIMEOUT):
        """The guest's CLOCK_REALTIME in ns (microsecond resolution): the clock of the
        app's records. Asked over the control port, so it works with any agent and
        while the data disk is frozen."""
        self.send_raw(b"time\n")
        deadline = time.monotonic() + timeout
        while True:
            words = self.read_line(deadline).decode(errors="replace").split()
            if len(words) == 3 and words[0] == "time":
                return int(words[1]) * 1_000_000_000 + int(words[2]) * 1000
            if words:
                raise Failed("control port: %r where a time was expected" % " ".join(words))


# ---------------------------------------------------------------- the VM


class Vm:
    def __init__(self, vm_dir, run_dir, accel, mem):
        self.vm_dir = vm_dir
        self.run_dir = run_dir
        self.accel = accel
        self.mem = mem
        self.proc = None
        self.console = os.path.join(run_dir, "console.log")

    def path(self, name):
        return os.path.join(self.run_dir, name)

    def start(self):
        # A pristine disk per run: a reused image boots with needs_recovery set.
        shutil.copyfile(os.path.join(self.vm_dir, "disk.qcow2"), self.path("disk.qcow2"))
        for s in ("qmp.sock", "qga.sock", "ctl.sock"):
            if len(self.path(s)) >= 107:
                raise Failed("socket path too long: " + self.path(s))
        cmd = [
            "qemu-system-x86_64", "-accel", self.accel, "-m", str(self.mem), "-no-reboot",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-chardev", "file,id=con0,path=" + self.console, "-serial", "chardev:con0",
            "-kernel", os.path.join(self.vm_dir, "vmlinux"),
            "-initrd", os.path.join(self.vm_dir, "initrd.cpio"),
            "-append", "console=ttyS0 quiet panic=-1",
            "-drive", "file=%s,if=virtio,format=qcow2,id=disk0" % self.path("disk.qcow2"),
            "-device", "virtio-serial",
            "-chardev", "socket,path=%s,server=on,wait=off,id=qga0" % self.path("qga.sock"),
            "-device", "virtserialport,chardev=qga0,name=" + QGA_PORT,
            "-chardev", "socket,path=%s,server=on,wait=off,id=ctl0" % self.path("ctl.sock"),
            "-device", "virtserialport,chardev=ctl0,name=" + CTL_PORT,
            "-qmp", "unix:%s,server=on,wait=off" % self.path("qmp.sock"),
        ]
        with open(self.path("qemu.log"), "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, qmp=None):
        """QMP quit, then SIGTERM, then SIGKILL: to our QEMU's PID only."""
        if not self.alive():
            return "exited"
        if qmp is not None:
            try:
                qmp.send({"execute": "quit"})
                if self.wait_exit(10):
                    return "quit"
            except OSError:
                pass
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                return "exited"
            if self.wait_exit(wait):
                return signal.Signals(sig).name
        return "still running"

    def console_tail(self, n=40):
        try:
            with open(self.console, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


# ---------------------------------------------------------------- image checks


class Image:
    """A copy of the data disk, read on the host (never mounted)."""

    def __init__(self, path, raw):
        self.path = path
        self.raw = raw
        self.converted = False

    def qemu_img_check(self):
        r = run(["qemu-img", "check", "-U", self.path])
        return r.returncode == 0, r.stdout.strip()

    def convert(self):
        if not self.converted:
            run(["qemu-img", "convert", "-U", "-O", "raw", self.path, self.raw], check=True)
            self.converted = True

    def e2fsck(self):
        self.convert()
        r = run(["e2fsck", "-fn", self.raw])
        return r.returncode, r.stdout.strip()

    def needs_recovery(self):
        self.convert()
        r = run(["dumpe2fs", "-h", self.raw], check=True)
        for line in r.stdout.splitlines():
            if line.startswith("Filesystem features:"):
                return "needs_recovery" in line.split()
        raise Failed("dumpe2fs -h printed no features line")

    def records(self):
        """records.bin's bytes as the filesystem holds them, or None if it has none."""
        self.convert()
        out = self.raw + ".records"
        if os.path.exists(out):
            os.unlink(out)
        r = run(["debugfs", "-R", "dump %s %s" % (RECORDS, out), self.raw])
        if not os.path.exists(out) or "not found" in r.stdout:
            return None
        with open(out, "rb") as f:
            return f.read()


NO_HOLD = "the app does not take part in freezes in this VM (vm.conf APP_HOLDS=0: " \
    "quiesced without the app registry, or no app)"


def read_vm_conf(vm_dir):
    """build-vm.sh's vm.conf (shell assignments, single-quoted) as a dict."""
    conf = {}
    try:
        with open(os.path.join(vm_dir, "vm.conf")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, _, value = line.partition("=")
                    words = shlex.split(value)
                    conf[key] = words[0] if words else ""
    except OSError:
        pass
    return conf


def check_frozen_image(tap, label, img, holds):
    """The checks every copy taken while frozen must pass. Returns its records or None."""
    good, out = img.qemu_img_check()
    tap.ok(good, "%s: qemu-img check" % label, out)
    rc, out = img.e2fsck()
    tap.ok(rc == 0, "%s: e2fsck -fn clean" % label, "rc %d\n%s" % (rc, out))
    tap.ok(not img.needs_recovery(), "%s: journal has no needs_recovery flag" % label)
    data = img.records()
    if not tap.ok(data is not None, "%s: holds %s" % (label, RECORDS)):
        return None
    if holds:
        records, errors = qrec.check_frozen(data)
        tap.ok(not errors, "%s: records complete and consistent, last one is the freeze record"
               % label, "\n".join(errors))
    else:
        records, errors = qrec.parse(data)
        if not records and not errors:
            errors = ["no records"]
        tap.ok(not errors, "%s: records complete and consistent (no torn record)" % label,
               "\n".join(errors))
        tap.skip("%s: last record is the freeze record" % label, NO_HOLD)
    tap.diag("%s: %s" % (label, qrec.summary(records)))
    return records if not errors else None


def report_control(tap, img, live_records, t_copy):
    """The copy taken without freezing: differences are reported, not judged."""
    notes = []
    good, _ = img.qemu_img_check()
    notes.append("qemu-img check %s" % ("ok" if good else "FAILED"))
    rc, _ = img.e2fsck()
    notes.append("e2fsck -fn rc %d" % rc)
    notes.append("needs_recovery %s" % ("SET" if img.needs_recovery() else "absent"))
    data = img.records()
    if data is None:
        notes.append("%s absent" % RECORDS)
    else:
        records, errors = qrec.parse(data)
        valid = len(records) - sum(1 for e in errors if e.startswith("record "))
        notes.append("%s: %d bytes, %d record slots, %d problem(s)%s"
                     % (RECORDS, len(data), len(records), len(errors),
                        ": " + errors[0] if errors else ""))
        if live_records is not None and t_copy is not None:
            before = sum(1 for r in live_records if r.time_ns < t_copy)
            notes.append("the guest had written %d records when the copy began; the copy holds "
                         "%d slots (%d at most valid): %d missing"
                         % (before, len(records), valid, max(0, before - valid)))
    tap.ok(True, "control copy (no freeze) examined")
    for n in notes:
        tap.diag("control copy: " + n)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def check_console(tap, console_path):
    """What /init logged at shutdown: the app and the agent exited 0 on SIGTERM, and
    nothing in the guest reported a sanitizer error (a SANITIZE=1 build)."""
    try:
        with open(console_path, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    for who in ("app", "agent"):
        found = re.findall(r"vm-init: (?:\[[0-9.]+\] )?%s exit status (\d+)" % who, text)
        status = found[-1] if found else None
        tap.ok(status == "0", "guest: the %s exited 0 on SIGTERM" % who,
               "exit status %s" % status if status else "no exit status logged")
    bad = [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKS)]
    tap.ok(not bad, "guest: no sanitizer report", "\n".join(bad[:20]))


# ---------------------------------------------------------------- the scenario


def wait_size(path, size, deadline):
    """Until path holds at least size bytes, or the deadline (monotonic) passes."""
    while time.monotonic() < deadline:
        try:
            if os.path.getsize(path) >= size:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.01)


def host_writer_test(tap, recwriter, tmp):
    """The writer on the host, on a plain file in a temp dir (nothing is frozen): its
    records must satisfy the checker, and a copy taken while it holds must end with
    the freeze record."""
    path = os.path.join(tmp, "records.bin")
    sock = os.path.join(tmp, "rw.sock")
    proc = subprocess.Popen([recwriter, "-r", "500", "-s", sock, path],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.01)
        # Wait for what each step needs (records written), never a fixed pause.
        wait_size(path, 64 * 10, deadline)
        r1 = run([recwriter, "--ctl", sock, "freeze"])
        with open(path, "rb") as f:
            held = f.read()
        r2 = run([recwriter, "--ctl", sock, "thaw"])
        wait_size(path, len(held) + 64 * 2, time.monotonic() + 10)   # thaw record and one more
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    tap.ok(r1.returncode == 0 and r2.returncode == 0, "host: recwriter answers freeze and thaw",
           r1.stdout + r2.stdout + err)
    fr, errors = qrec.check_frozen(held)
    tap.ok(not errors, "host: recwriter's file while held ends with its freeze record",
           "\n".join(errors))
    with open(path, "rb") as f:
        _, errors = qrec.check_live(fr, f.read())
    tap.ok(not errors, "host: recwriter's file has the thaw record right after", "\n".join(errors))


def freeze_cycle(tap, qga, ctl, mode, timings, label, while_frozen=None):
    """One guest freeze and thaw over QGA. mode: "plain" (guest-fsfreeze-freeze) or
    "list" (guest-fsfreeze-freeze-list ["/mnt/data"]). while_frozen() runs between the
    freeze reply and the thaw request. Returns the guest clock before the freeze
    request, while frozen (after while_frozen) and after the thaw reply."""
    cmd = "guest-fsfreeze-freeze" + ("-list" if mode == "list" else "")
    args = {"mountpoints": [DATA_MOUNT]} if mode == "list" else {}
    t_before = ctl.time()
    t0 = time.monotonic()
    try:
        n = qga.cmd(cmd, **args)
    except Failed as e:
        tap.ok(False, "%s: %s" % (label, cmd), str(e))
        raise
    timings["%s freeze call" % label] = time.monotonic() - t0
    tap.ok(n == 1, "%s: %s froze 1 filesystem (the data disk)" % (label, cmd), "got %r" % n)
    status = qga.cmd("guest-fsfreeze-status")
    tap.ok(status == "frozen", "%s: guest-fsfreeze-status is frozen" % label, "got %r" % status)
    if while_frozen is not None:
        while_frozen()
    t_frozen = ctl.time()
    n = qga.cmd("guest-fsfreeze-thaw")
    timings["%s freeze window" % label] = time.monotonic() - t0
    tap.ok(n == 1, "%s: guest-fsfreeze-thaw thawed 1 filesystem" % label, "got %r" % n)
    status = qga.cmd("guest-fsfreeze-status")
    tap.ok(status == "thawed", "%s: guest-fsfreeze-status is thawed" % label, "got %r" % status)
    t_after = ctl.time()
    return t_before, t_frozen, t_after


def check_cycle_times(tap, label, mark, records, freeze_index, times):
    """The app's freeze record after the freeze request and before the frozen-time
    mark (taken after the copies), its thaw record after that mark and before the thaw
    reply."""
    t_before, t_frozen, t_after = times
    fr = records[freeze_index]
    th = records[freeze_index + 1] if freeze_index + 1 < len(records) else None
    tap.ok(th is not None and t_before <= fr.time_ns <= t_frozen <= th.time_ns <= t_after,
           "%s: the app saw FREEZE after the freeze request and before %s, THAW "
           "after that and before the thaw reply" % (label, mark),
           "guest times (ns): before freeze %d, freeze record %d, while frozen %d, "
           "thaw record %s, after thaw %d"
           % (t_before, fr.time_ns, t_frozen, th.time_ns if th else "none", t_after))


# What libvirt's virsh sends for domfsinfo, domtime, domifaddr --source agent,
# guestvcpus, domhostname --source agent and guestinfo, and a member each answer has.
AGENT_TABLE = [("guest-get-fsinfo", list, None), ("guest-get-time", int, None),
               ("guest-network-get-interfaces", list, "name"), ("guest-get-vcpus", list, "online"),
               ("guest-get-host-name", dict, "host-name"), ("guest-get-users", list, None),
               ("guest-get-osinfo", dict, "kernel-release"), ("guest-get-timezone", dict, "offset"),
               ("guest-get-disks", list, None)]


def agent_table(tap, qga, conf):
    """Every command of issue 15's virsh table answers, from qemu-ga itself or from
    quiesced with qemu-ga behind it (--qga-backend); quiesced alone skips them."""
    cmd = conf.get("AGENT_CMD", "")
    if cmd.startswith("quiesced") and "--qga-backend" not in cmd:
        tap.skip("the agent commands of virsh's table", "quiesced runs without qemu-ga behind it")
        return
    for name, kind, member in AGENT_TABLE:
        try:
            ret = qga.cmd(name)
        except Failed as e:
            tap.ok(False, "%s answers" % name, str(e))
            continue
        item = ret[0] if kind is list and ret else ret
        tap.ok(isinstance(ret, kind) and (member is None or member in item),
               "%s answers (%s%s)" % (name, kind.__name__, ", " + member if member else ""),
               json.dumps(ret)[:300])


def scenario(tap, args, run_dir, timings):
    conf = read_vm_conf(args.vm_dir)
    holds = conf.get("APP_HOLDS", "1") == "1"
    agent = (conf.get("AGENT_CMD", "?").split() or ["?"])[0]
    tap.diag("guest agent: %s" % conf.get("AGENT_CMD", "? (no vm.conf)"))
    tap.diag("guest app: %s" % (conf.get("APP_CMD") or "none"))
    if not holds:
        tap.diag("NOTE: " + NO_HOLD + "; app-consistency checks are skipped")
    first_mode = "list" if args.freeze == "list" else "plain"

    vm = Vm(args.vm_dir, run_dir, args.accel, args.mem)
    qmp = qga = ctl = None
    backup_ok = snap_ok = False
    cycles = []
    t0 = time.monotonic()
    vm.start()
    try:
        deadline = t0 + BOOT_TIMEOUT
        qmp = Qmp(vm.path("qmp.sock"), deadline)
        qga = Qga(vm.path("qga.sock"), deadline)
        ctl = Ctl(vm.path("ctl.sock"), deadline)

        # Bytes sent before the guest opens its port are held by QEMU, so one ping
        # sent now is answered as soon as the agent is up.
        try:
            qga.cmd("guest-ping", timeout=BOOT_TIMEOUT)
        except Failed as e:
            tap.ok(False, "guest agent (%s) answers guest-ping" % agent, str(e))
            raise
        timings["boot-to-ping"] = time.monotonic() - t0
        tap.ok(True, "guest agent (%s) answers guest-ping (%.1f s after start)"
               % (agent, timings["boot-to-ping"]))
        qga.sync()
        tap.ok(True, "guest-sync-delimited")
        agent_table(tap, qga, conf)
        # "not-ready": the app's ready test (for quiesced: it has registered) failed
        # for 10 s. Go on all the same: the record checks then show what that costs.
        ready = ctl.expect(("ready", "not-ready"), BOOT_TIMEOUT)
        timings["boot-to-ready"] = time.monotonic() - t0
        tap.ok(ready == "ready", "guest init reports the app ready%s"
               % (" (%s)" % conf["APP_READY"] if conf.get("APP_READY") else ""),
               "the guest's ready test failed for 10 s: %s" % conf.get("APP_READY"))

        time.sleep(args.write_time)  # the app writes, nothing synced

        size = json.loads(run(["qemu-img", "info", "-U", "--output=json",
                               vm.path("disk.qcow2")], check=True).stdout)["virtual-size"]
        run(["qemu-img", "create", "-q", "-f", "qcow2", vm.path("backup.qcow2"), str(size)], check=True)
        qmp.cmd("blockdev-add", driver="qcow2", **{"node-name": "bk0"},
                file={"driver": "file", "filename": vm.path("backup.qcow2")})

        def copies():
            nonlocal snap_ok, backup_ok
            try:
                # The external snapshot first: it fails while a backup job runs.
                qmp.cmd("blockdev-snapshot-sync", device="disk0", format="qcow2",
                        **{"snapshot-file": vm.path("overlay.qcow2")})
                snap_ok = True
            except Failed as e:
                tap.diag(str(e))
            tap.ok(snap_ok, "blockdev-snapshot-sync while frozen")
            try:
                # Point-in-time at job start (copy-before-write), so thawing now is safe.
                qmp.cmd("blockdev-backup", device="disk0", target="bk0", sync="full",
                        **{"job-id": "bk"})
                backup_ok = True
            except Failed as e:
                tap.diag(str(e))
            tap.ok(backup_ok, "blockdev-backup started while frozen")

        cycles.append(freeze_cycle(tap, qga, ctl, first_mode, timings, "snapshot", copies))

        if backup_ok:
            ev = qmp.wait_event("BLOCK_JOB_COMPLETED", lambda d: d.get("device") == "bk", JOB_TIMEOUT)
            tap.ok("error" not in ev["data"], "backup job completed", ev)
        qmp.cmd("blockdev-del", **{"node-name": "bk0"})

        # Control copy: the same backup with no freeze, after the app wrote a while.
        time.sleep(args.write_time / 2)
        t_control = ctl.time()
        run(["qemu-img", "create", "-q", "-f", "qcow2", vm.path("control.qcow2"), str(size)], check=True)
        qmp.cmd("blockdev-add", driver="qcow2", **{"node-name": "ctl0"},
                file={"driver": "file", "filename": vm.path("control.qcow2")})
        qmp.cmd("blockdev-backup", device="disk0", target="ctl0", sync="full", **{"job-id": "ctl"})
        qmp.wait_event("BLOCK_JOB_COMPLETED", lambda d: d.get("device") == "ctl", JOB_TIMEOUT)
        qmp.cmd("blockdev-del", **{"node-name": "ctl0"})

        if args.freeze == "both":
            # The other request form, on the same agent: no copies, the app must hold
            # and resume again.
            time.sleep(0.1)
            cycles.append(freeze_cycle(tap, qga, ctl, "list", timings, "second freeze"))

        # Clean shutdown through /init: stops the app and the agent, unmounts, powers off.
        t_down = time.monotonic()
        ctl.send_raw(b"shutdown\n")
        clean = vm.wait_exit(SHUTDOWN_TIMEOUT)
        timings["shutdown"] = time.monotonic() - t_down
        tap.ok(clean, "guest shut down cleanly", vm.console_tail())
    finally:
        how = vm.stop(qmp)
        if how not in ("exited", "quit"):
            tap.diag("QEMU stopped with %s" % how)
        for ch in (qga, ctl, qmp):
            if ch is not None:
                ch.close()
    timings["VM"] = time.monotonic() - t0
    check_console(tap, vm.console)

    # ---- the copies, on the host
    t_checks = time.monotonic()
    backup = Image(vm.path("backup.qcow2"), vm.path("backup.raw"))
    base = Image(vm.path("disk.qcow2"), vm.path("base.raw"))
    live = Image(vm.path("overlay.qcow2"), vm.path("live.raw"))
    control = Image(vm.path("control.qcow2"), vm.path("control.raw"))

    frozen = check_frozen_image(tap, "backup copy", backup, holds) if backup_ok else None
    base_records = check_frozen_image(tap, "snapshot base", base, holds) if snap_ok else None
    if frozen is not None and base_records is not None:
        tap.ok([r.raw for r in frozen] == [r.raw for r in base_records],
               "backup copy and snapshot base hold the same records")
    if frozen is None:
        frozen = base_records

    live_records = None
    if snap_ok:
        good, out = live.qemu_img_check()
        tap.ok(good, "live disk: qemu-img check", out)
        rc, out = live.e2fsck()
        tap.ok(rc == 0, "live disk: e2fsck -fn clean after the guest unmounted it", out)
        tap.ok(not live.needs_recovery(), "live disk: no needs_recovery (the guest unmounted it)")
        data = live.records()
        if frozen is not None and data is not None:
            if holds:
                live_records, errors = qrec.check_live(frozen, data)
                tap.ok(not errors, "live disk: records consistent, the thaw record follows the "
                       "freeze record (the app held its writes)", "\n".join(errors))
            else:
                live_records, errors = qrec.check_prefix(frozen, data)
                tap.ok(not errors, "live disk: records consistent, the frozen copy is a prefix",
                       "\n".join(errors))
            tap.diag("live disk: %s" % qrec.summary(live_records))
            if errors:
                live_records = None
        else:
            tap.ok(False, "live disk: records to compare with the frozen copy")

    if not holds:
        tap.skip("live disk: every freeze record followed by a thaw record", NO_HOLD)
        tap.skip("the app's freeze and thaw records within the requests", NO_HOLD)
    elif live_records is not None:
        freezes = [r.index for r in live_records if r.type == qrec.FREEZE]
        errors = qrec.check_holds(live_records)
        if len(freezes) != len(cycles):
            errors.append("%d freeze records for %d freeze requests" % (len(freezes), len(cycles)))
        tap.ok(not errors, "live disk: one hold per freeze request (%d), each freeze record "
               "followed by its thaw record" % len(cycles), "\n".join(errors))
        if not errors:
            for i, (index, times) in enumerate(zip(freezes, cycles)):
                if i == 0:
                    check_cycle_times(tap, "snapshot", "the copies", live_records, index, times)
                else:
                    check_cycle_times(tap, "second freeze", "the frozen status", live_records,
                                      index, times)

    report_control(tap, control, live_records, t_control if live_records else None)
    timings["checks"] = time.monotonic() - t_checks


def main():
    default_build = os.environ.get("QUIESCE_BUILD", os.path.join(TOP, "build"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vm-dir", default=os.path.join(default_build, "vm"),
                    help="build-vm.sh's output (default: %(default)s)")
    ap.add_argument("--recwriter", help="also test this recwriter binary on the host")
    ap.add_argument("--freeze", choices=("both", "plain", "list"), default="both",
                    help="the snapshot's freeze: plain guest-fsfreeze-freeze, or "
                    "guest-fsfreeze-freeze-list [\"/mnt/data\"]; both (default): plain, then "
                    "a second freeze with the list")
    ap.add_argument("--write-time", type=float, default=1.0, help="seconds the app writes first")
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--keep", action="store_true", help="keep the run dir")
    ap.add_argument("--selftest-only", action="store_true", help="only the checker self-tests")
    args = ap.parse_args()

    tap = Tap()
    t_start = time.monotonic()
    timings = {}
    tmp = tempfile.mkdtemp(prefix="qvm-%d-" % os.getpid(), dir="/tmp")
    keep = args.keep

    def on_signal(signum, _frame):
        tap.ok(False, "not interrupted", "got %s" % signal.Signals(signum).name)
        raise SystemExit(128 + signum)  # unwinds through scenario's finally: QEMU is stopped

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def finish():
        if keep or tap.failed:
            print("# run dir kept: %s" % tmp, flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        print("1..%d" % tap.n, flush=True)

    atexit.register(finish)

    qrec.selftest(tap)
    if args.recwriter:
        host_writer_test(tap, args.recwriter, tmp)
    if args.selftest_only:
        sys.exit(1 if tap.failed else 0)

    missing = [f for f in ("vmlinux", "initrd.cpio", "disk.qcow2")
               if not os.path.exists(os.path.join(args.vm_dir, f))]
    if shutil.which("qemu-system-x86_64") is None:
        tap.skip("VM scenario", "qemu-system-x86_64 not installed")
    elif missing:
        tap.ok(False, "VM image in %s" % args.vm_dir,
               "missing %s; run tools/vm/build-vm.sh %s" % (", ".join(missing), args.vm_dir))
    else:
        run_dir = os.path.join(tmp, "run")
        os.mkdir(run_dir)
        try:
            scenario(tap, args, run_dir, timings)
        except Failed as e:
            tap.ok(False, "VM scenario ran to the end", str(e))
        except Exception:
            tap.ok(False, "VM scenario ran to the end", traceback.format_exc())
        if tap.failed:
            tail = Vm(args.vm_dir, run_dir, "", 0).console_tail()
            if tail:
                tap.diag("guest console (last lines):\n" + tail)
    timings["total"] = time.monotonic() - t_start
    tap.diag("timings: " + ", ".join("%s %.2f s" % kv for kv in timings.items()))
    sys.exit(1 if tap.failed else 0)


if __name__ == "__main__":
    main()
