#!/usr/bin/env python3
"""End-to-end snapshot test on a real QEMU VM (TAP on stdout; exit 0 pass, 1 fail).

    tools/vm/vmtest.py [--vm-dir DIR] [--recwriter PATH] [--keep] [--freeze list|plain]
                       [--selftest-only]

The VM comes from tools/vm/build-vm.sh (DIR, default $QUIESCE_BUILD/vm or build/vm):
vmlinux (PVH direct boot), initrd.cpio (guest agent + app) and a pristine disk.qcow2.

What it does, in a run dir of its own under /tmp:
  0. self-tests the record checker on synthetic torn files (it must be able to fail),
     and, with --recwriter, the writer on the host (a plain file, nothing frozen);
  1. boots QEMU (-accel tcg) with the guest agent port org.qemu.guest_agent.0 (QGA) and
     the control port org.quiesce.vmctl.0 (init's "ready"/"shutdown"), QMP on a socket;
  2. guest-ping, guest-sync-delimited, waits for "ready", lets the app write ~1 s;
  3. guest-fsfreeze-freeze-list ["/mnt/data"] (or plain freeze; inside the guest the
     data disk is the only freezable fs), status; while frozen QMP
     blockdev-snapshot-sync and blockdev-backup; thaw; waits for BLOCK_JOB_COMPLETED;
  4. takes a control copy with no freeze; shuts the guest down over the control port;
  5. checks the frozen copies (backup, snapshot base): qemu-img check, e2fsck -fn, no
     needs_recovery, records.bin complete and ending with the app's freeze record; the
     live disk: the frozen records are its prefix and a thaw record follows; reports
     how the control copy differs (diagnostics only).
Only the VM is ever frozen. QEMU runs in its own session; if it hangs it gets SIGTERM,
then SIGKILL, by its PID only. The run dir is removed unless --keep or a failure.
"""

import argparse
import atexit
import json
import os
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
        self.has_time = None

    def cmd(self, execute, timeout=CMD_TIMEOUT, **args):
        msg = {"execute": execute}
        if args:
            msg["arguments"] = args
        self.send(msg)
        reply = self.read_msg(time.monotonic() + timeout)
        if "error" in reply:
            raise Failed("QGA %s: %s" % (execute, reply["error"].get("desc", reply["error"])))
        return reply.get("return")

    def get_time(self):
        """guest-get-time (ns), or None if the agent lacks it. Asked once: after an
        error or no answer it resyncs and does not ask again."""
        if self.has_time is False:
            return None
        try:
            t = self.cmd("guest-get-time", timeout=5)
            self.has_time = True
            return t
        except Failed:
            self.has_time = False
            self.sync()
            return None

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

    def expect(self, word, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(deadline).strip().decode(errors="replace")
            if line == word:
                return
            if line:
                raise Failed("control port: %r where %r was expected" % (line, word))


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


def check_frozen_image(tap, label, img):
    """The checks every copy taken while frozen must pass. Returns its records or None."""
    good, out = img.qemu_img_check()
    tap.ok(good, "%s: qemu-img check" % label, out)
    rc, out = img.e2fsck()
    tap.ok(rc == 0, "%s: e2fsck -fn clean" % label, "rc %d\n%s" % (rc, out))
    tap.ok(not img.needs_recovery(), "%s: journal has no needs_recovery flag" % label)
    data = img.records()
    if not tap.ok(data is not None, "%s: holds %s" % (label, RECORDS)):
        return None
    records, errors = qrec.check_frozen(data)
    tap.ok(not errors, "%s: records complete and consistent, last one is the freeze record" % label,
           "\n".join(errors))
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


# ---------------------------------------------------------------- the scenario


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
        time.sleep(0.2)
        r1 = run([recwriter, "--ctl", sock, "freeze"])
        time.sleep(0.1)
        with open(path, "rb") as f:
            held = f.read()
        r2 = run([recwriter, "--ctl", sock, "thaw"])
        time.sleep(0.1)
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


def scenario(tap, args, run_dir, timings):
    vm = Vm(args.vm_dir, run_dir, args.accel, args.mem)
    qmp = qga = ctl = None
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
            tap.ok(False, "guest agent answers guest-ping", str(e))
            raise
        timings["boot-to-ping"] = time.monotonic() - t0
        tap.ok(True, "guest agent answers guest-ping (%.1f s after start)" % timings["boot-to-ping"])
        qga.sync()
        tap.ok(True, "guest-sync-delimited")
        ctl.expect("ready", BOOT_TIMEOUT)
        timings["boot-to-ready"] = time.monotonic() - t0
        tap.ok(True, "guest init reports the app ready")

        time.sleep(args.write_time)  # the app writes, nothing synced

        # Guest clock around the freeze, for the order of the app's records. Optional:
        # an agent may not implement guest-get-time.
        t_guest_before = qga.get_time()

        size = json.loads(run(["qemu-img", "info", "-U", "--output=json",
                               vm.path("disk.qcow2")], check=True).stdout)["virtual-size"]
        run(["qemu-img", "create", "-q", "-f", "qcow2", vm.path("backup.qcow2"), str(size)], check=True)
        qmp.cmd("blockdev-add", driver="qcow2", **{"node-name": "bk0"},
                file={"driver": "file", "filename": vm.path("backup.qcow2")})

        t_freeze = time.monotonic()
        try:
            if args.freeze == "list":
                n = qga.cmd("guest-fsfreeze-freeze-list", mountpoints=[DATA_MOUNT])
            else:
                n = qga.cmd("guest-fsfreeze-freeze")
        except Failed as e:
            tap.ok(False, "guest-fsfreeze-freeze%s" % ("-list" if args.freeze == "list" else ""), str(e))
            raise
        timings["freeze call"] = time.monotonic() - t_freeze
        tap.ok(n == 1, "guest froze 1 filesystem (the data disk)", "got %r" % n)
        status = qga.cmd("guest-fsfreeze-status")
        tap.ok(status == "frozen", "guest-fsfreeze-status is frozen", "got %r" % status)
        try:
            # The external snapshot first: it fails while a backup job runs.
            qmp.cmd("blockdev-snapshot-sync", device="disk0", format="qcow2",
                    **{"snapshot-file": vm.path("overlay.qcow2")})
            snap_ok = True
        except Failed as e:
            snap_ok = False
            tap.diag(str(e))
        tap.ok(snap_ok, "blockdev-snapshot-sync while frozen")
        try:
            # Point-in-time at job start (copy-before-write), so thawing now is safe.
            qmp.cmd("blockdev-backup", device="disk0", target="bk0", sync="full",
                    **{"job-id": "bk"})
            backup_ok = True
        except Failed as e:
            backup_ok = False
            tap.diag(str(e))
        tap.ok(backup_ok, "blockdev-backup started while frozen")
        n = qga.cmd("guest-fsfreeze-thaw")
        timings["freeze window"] = time.monotonic() - t_freeze
        tap.ok(n == 1, "guest thawed 1 filesystem", "got %r" % n)
        status = qga.cmd("guest-fsfreeze-status")
        tap.ok(status == "thawed", "guest-fsfreeze-status is thawed", "got %r" % status)
        t_guest_after = qga.get_time()

        if backup_ok:
            ev = qmp.wait_event("BLOCK_JOB_COMPLETED", lambda d: d.get("device") == "bk", JOB_TIMEOUT)
            tap.ok("error" not in ev["data"], "backup job completed", ev)
        qmp.cmd("blockdev-del", **{"node-name": "bk0"})

        # Control copy: the same backup with no freeze, after the app wrote a while.
        time.sleep(args.write_time / 2)
        t_control = qga.get_time()
        run(["qemu-img", "create", "-q", "-f", "qcow2", vm.path("control.qcow2"), str(size)], check=True)
        qmp.cmd("blockdev-add", driver="qcow2", **{"node-name": "ctl0"},
                file={"driver": "file", "filename": vm.path("control.qcow2")})
        qmp.cmd("blockdev-backup", device="disk0", target="ctl0", sync="full", **{"job-id": "ctl"})
        qmp.wait_event("BLOCK_JOB_COMPLETED", lambda d: d.get("device") == "ctl", JOB_TIMEOUT)
        qmp.cmd("blockdev-del", **{"node-name": "ctl0"})

        # Clean shutdown through /init: stops the app, unmounts, powers off.
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

    # ---- the copies, on the host
    t_checks = time.monotonic()
    backup = Image(vm.path("backup.qcow2"), vm.path("backup.raw"))
    base = Image(vm.path("disk.qcow2"), vm.path("base.raw"))
    live = Image(vm.path("overlay.qcow2"), vm.path("live.raw"))
    control = Image(vm.path("control.qcow2"), vm.path("control.raw"))

    frozen = check_frozen_image(tap, "backup copy", backup) if backup_ok else None
    base_records = check_frozen_image(tap, "snapshot base", base) if snap_ok else None
    if frozen is not None and base_records is not None:
        tap.ok([r.raw for r in frozen] == [r.raw for r in base_records],
               "backup copy and snapshot base hold the same records")

    live_records = None
    if snap_ok:
        good, out = live.qemu_img_check()
        tap.ok(good, "live disk: qemu-img check", out)
        rc, out = live.e2fsck()
        tap.ok(rc == 0, "live disk: e2fsck -fn clean after the guest unmounted it", out)
        tap.ok(not live.needs_recovery(), "live disk: no needs_recovery (the guest unmounted it)")
        data = live.records()
        if frozen is not None and data is not None:
            live_records, errors = qrec.check_live(frozen, data)
            tap.ok(not errors, "live disk: records consistent, the thaw record follows the freeze "
                   "record (the app held its writes)", "\n".join(errors))
            tap.diag("live disk: %s" % qrec.summary(live_records))
        else:
            tap.ok(False, "live disk: records to compare with the frozen copy")

    if frozen is not None and live_records is not None and t_guest_before is not None \
            and t_guest_after is not None:
        fr = frozen[-1]
        th = live_records[fr.index + 1]
        tap.ok(t_guest_before <= fr.time_ns <= t_guest_after and fr.time_ns <= th.time_ns
               <= t_guest_after,
               "the app saw FREEZE after the freeze request and THAW before the thaw reply",
               "guest times: before freeze %d, freeze record %d, thaw record %d, after thaw %d"
               % (t_guest_before, fr.time_ns, th.time_ns, t_guest_after))
    elif t_guest_before is None:
        tap.skip("freeze/thaw records within the request times", "agent has no guest-get-time")

    report_control(tap, control, live_records, t_control)
    timings["checks"] = time.monotonic() - t_checks


def main():
    default_build = os.environ.get("QUIESCE_BUILD", os.path.join(TOP, "build"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vm-dir", default=os.path.join(default_build, "vm"),
                    help="build-vm.sh's output (default: %(default)s)")
    ap.add_argument("--recwriter", help="also test this recwriter binary on the host")
    ap.add_argument("--freeze", choices=("list", "plain"), default="list",
                    help="guest-fsfreeze-freeze-list [\"/mnt/data\"] or plain guest-fsfreeze-freeze")
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
