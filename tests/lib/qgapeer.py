# SPDX-License-Identifier: MIT
"""Helpers for the QEMU guest agent tests: a QMP client that speaks the agent's
stream (replies may be prefixed with 0xFF), quiesced started with --qga on a scratch
scope, and the real qemu-ga run as a comparison peer inside a sandbox.

Why a sandbox for the real qemu-ga: its guest-fsfreeze-thaw is global, it FITHAWs
every mount with a real device in its mount table. On a shared machine that thaws
the scratch filesystems other people's tests froze, behind their backs (seen: a
thaw with nothing frozen returned 1). And a freeze without a mountpoint list would
reach the root filesystem. So the peer runs chrooted, in a private mount namespace,
in a tmpfs that holds copies of the programs it needs (qemu-ga, sh, a hook) and
their libraries, /proc, /dev/null, /qga (socket, state dir, log, hook) and bind
mounts of the scratch filesystems at their very same paths. Every mount it can see
is on a device-less filesystem (tmpfs, proc) except the scratch filesystems, so
whatever it is sent, it cannot freeze or thaw anything else. check_confinement()
verifies that from outside, in /proc/<pid>/mountinfo, before a test sends anything,
and the peer is killed if it does not hold.

The agent is started as peers.md says (unix-listen, its own state dir and log,
-b guest-fsfreeze-freeze) and is only ever sent guest-fsfreeze-freeze-list with an
explicit non-empty list of scratch mountpoints (QgaClient.freeze_list enforces it).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import qtest

SENTINEL = b"\xff"

# ---------------------------------------------------------------- client


class QgaClient:
    """A connection to an agent (quiesced --qga or qemu-ga) on a Unix socket."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_line(self, timeout=None):
        """One reply line (bytes, without the newline), or None on timeout/EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            if self.eof or not self._fill(deadline):
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read_raw(self, wait=0.3):
        """Everything that arrives within wait seconds (bytes); for garbage tests."""
        deadline = time.monotonic() + wait
        while not self.eof and self._fill(deadline):
            pass
        out, self.buf = self.buf, b""
        return out

    def reply(self, timeout=None):
        """The next reply, parsed; (sentinel, obj). None on timeout/EOF."""
        line = self.read_line(timeout)
        if line is None:
            return None
        ff = line.startswith(SENTINEL)
        return ff, json.loads(line[1:] if ff else line)

    def call(self, execute, arguments=None, id=None, timeout=None):
        """Send one request and return its reply (the parsed object)."""
        req = {"execute": execute}
        if arguments is not None:
            req["arguments"] = arguments
        if id is not None:
            req["id"] = id
        self.send_raw(json.dumps(req).encode() + b"\n")
        r = self.reply(timeout)
        return None if r is None else r[1]

    def freeze_list(self, mountpoints, scratch):
        """guest-fsfreeze-freeze-list, only ever with explicit scratch mountpoints."""
        assert mountpoints, "never send freeze-list without mountpoints"
        for m in mountpoints:
            assert m.startswith(scratch.mnt + "/"), "not a scratch mountpoint: " + m
        return self.call("guest-fsfreeze-freeze-list", {"mountpoints": list(mountpoints)})

    def sync(self):
        """Drain stale replies with guest-sync-delimited, as hosts do."""
        n = int(time.monotonic() * 1000) & 0x7FFFFFFF
        self.send_raw(SENTINEL + json.dumps({"execute": "guest-sync-delimited",
                                             "arguments": {"id": n}}).encode() + b"\n")
        while True:
            line = self.read_line()
            if line is None:
                return False
            i = line.rfind(SENTINEL)
            if i >= 0:
                try:
                    if json.loads(line[i + 1:]).get("return") == n:
                        return True
                except ValueError:
                    pass


# ---------------------------------------------------------------- quiesced


class Quiesced:
    """quiesced in the foreground, scoped to the scratch mounts, with --qga."""

    def __init__(self, scratch, qga=True, lease=None, extra=(), name="q", control=None,
                 backend=None):
        """backend: the --qga-backend program (None: --no-qga-backend)."""
        self.dir = os.path.join(scratch.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.control = control or os.path.join(self.dir, "control.sock")
        self.qga = os.path.join(self.dir, "qga.sock") if qga is True else qga
        self.log_path = os.path.join(self.dir, "quiesced.log")
        cmd = [qtest.bin_path("quiesced"), "-n", "-d", "--scope", scratch.mnt,
               "--run-dir", self.dir, "--control", self.control, "--config", "/dev/null"]
        if self.qga:
            cmd += ["--qga", self.qga]
        if lease is not None:
            cmd += ["--lease", str(lease)]
        cmd += ["--qga-backend", backend] if backend else ["--no-qga-backend"]
        cmd += list(extra)
        env = dict(os.environ, QUIESCE_REQUIRE_SCOPE="1")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        ok = qtest.wait_for(lambda: os.path.exists(self.control) and
                            (not self.qga or os.path.exists(self.qga)) or
                            self.proc.poll() is not None, 10)
        if not ok or self.proc.poll() is not None:
            raise RuntimeError("quiesced did not start:\n" + self.read_log())
        _live.append(self)

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def client(self):
        return QgaClient(self.qga)

    def stop(self, timeout=15):
        """SIGTERM (quiesced thaws first); returns its exit code."""
        if self in _live:
            _live.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


# ---------------------------------------------------------------- the real qemu-ga

QEMU_GA = "/usr/sbin/qemu-ga"

# Runs in the new mount namespace: only bind mounts of the scratch filesystems, a
# fresh /proc and /dev/null go into the (already populated) root, then chroot.
_SANDBOX = r"""
set -eu
R=$1; shift
mount --bind /dev/null "$R/dev/null"
mount -t proc proc "$R/proc"
while [ "$1" != "--" ]; do
    mkdir -p "$R$1"
    mount --bind "$1" "$R$1"
    shift
done
shift
exec chroot "$R" "$@"
"""

_live = []


def _kill_live(*_):
    for p in list(_live):
        try:
            if isinstance(p, QemuGa):
                p.kill()
            else:
                p.stop(5)
        except Exception:
            pass


_prev_handlers = {}


def _on_signal(signum, frame):
    _kill_live()
    prev = _prev_handlers.get(signum)
    if callable(prev):
        prev(signum, frame)
    os._exit(128 + signum)


import atexit  # noqa: E402  (registered after qtest's: runs before its cleanup)

atexit.register(_kill_live)
for _s in (signal.SIGTERM, signal.SIGINT):
    _prev_handlers[_s] = signal.getsignal(_s)
    signal.signal(_s, _on_signal)


def qemu_ga_available():
    return os.access(QEMU_GA, os.X_OK)


def qemu_ga_version():
    out = subprocess.run([QEMU_GA, "-V"], stdout=subprocess.PIPE, text=True).stdout
    return out.split()[-1] if out else ""


def _libs(path):
    """The shared libraries path loads, as ldd names them (the loader's paths)."""
    out = subprocess.run(["ldd", path], stdout=subprocess.PIPE, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


class QemuGa:
    """The real qemu-ga on a Unix socket, sandboxed (see the module comment).

    Paths inside the sandbox: /qga is self.qdir outside (the socket, the state dir,
    the log); /qga/bin holds copies of the programs in `programs` (with their
    libraries); prepare(qdir) may add files (a hook) before the start. hook: the
    path for -F, as seen inside (glued on, as qemu-ga wants). env: its
    environment, which a hook inherits unchanged."""

    BASE_PROGRAMS = [QEMU_GA, "/bin/sh", "/usr/bin/date", "/usr/bin/dirname", "/usr/bin/cat"]

    def __init__(self, scratch, hook=None, env=None, verbose=False, programs=(), prepare=None):
        self.scratch = scratch
        self.root = os.path.join(scratch.dir, "qga-root")
        self.qdir = os.path.join(self.root, "qga")
        self.sock = os.path.join(self.qdir, "qga.sock")
        self.log_path = os.path.join(self.qdir, "qga.log")
        self.stderr_path = os.path.join(scratch.dir, "qga-sandbox.err")
        self.proc = None
        os.makedirs(self.root, exist_ok=True)
        qtest.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "qga-root", self.root])
        self.mounted = True
        _live.append(self)
        try:
            self._populate(list(programs))
            if prepare:
                prepare(self.qdir)
            self._start(hook, env, verbose)
        except Exception:
            self.kill()
            raise

    def inside(self, path):
        """A path under self.root as qemu-ga (and its hook) see it."""
        assert path.startswith(self.root + "/")
        return path[len(self.root):]

    def _copy(self, src, dst=None):
        dst = self.root + (dst or src)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            shutil.copy2(src, dst)  # follows links: the file itself, under the link's name

    def _populate(self, programs):
        R = self.root
        for d in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "dev", "proc", "tmp",
                  "var/log", "etc", "qga/state", "qga/bin"]:
            os.makedirs(os.path.join(R, d), exist_ok=True)
        for link in ["bin", "sbin", "lib", "lib64"]:
            os.symlink("usr/" + link, os.path.join(R, link))
        open(os.path.join(R, "dev/null"), "w").close()
        for prog in self.BASE_PROGRAMS + programs:
            if prog in self.BASE_PROGRAMS:
                self._copy(prog)
            else:
                self._copy(prog, "/qga/bin/" + os.path.basename(prog))
            for lib in _libs(prog):
                self._copy(lib)

    def _start(self, hook, env, verbose):
        binds = list(self.scratch.mounts)
        for b in binds:
            assert b.startswith(self.scratch.mnt + "/")
        argv = ["/usr/sbin/qemu-ga", "-m", "unix-listen", "-p", "/qga/qga.sock",
                "-t", "/qga/state", "-l", "/qga/qga.log", "-b", "guest-fsfreeze-freeze"]
        if hook:
            argv.append("-F" + hook)
        if verbose:
            argv.append("-v")
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", _SANDBOX, "sandbox",
               self.root] + binds + ["--"] + argv
        self.err = open(self.stderr_path, "w")
        # A session of its own, as peers.md's setsid: the hook gets the same.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env if env is not None else dict(os.environ))
        self.pid = self.proc.pid
        if not qtest.wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                              10) or self.proc.poll() is not None:
            raise RuntimeError("qemu-ga did not start: " + self.diag())
        problem = self.check_confinement()
        if problem:
            raise RuntimeError("qemu-ga sandbox not as expected, killed it: " + problem)

    def check_confinement(self):
        """None if the only mounts the agent sees that are on a device (FIFREEZE
        and FITHAW reach only those) are the scratch filesystems; else what is wrong."""
        scratch = set(self.scratch.mounts)
        seen = set()
        try:
            with open("/proc/%d/mountinfo" % self.pid) as f:
                lines = f.read().splitlines()
        except OSError as e:
            return "cannot read its mountinfo: %s" % e
        if not lines or lines[0].split()[4] != "/" or lines[0].split()[2].split(":")[0] != "0":
            return "its / is not a device-less filesystem: %r" % (lines[:1],)
        for line in lines:
            fields = line.split()
            mm, mp = fields[2], fields[4]
            if mm.split(":")[0] == "0":
                continue
            if mp in scratch:
                seen.add(mp)
                continue
            return "it sees a mount with a device that is not a scratch mount: %s (%s)" % (mp, mm)
        if seen != scratch:
            return "scratch mounts missing: %s" % sorted(scratch - seen)
        return None

    def diag(self):
        out = []
        for p in (self.stderr_path, self.log_path):
            try:
                with open(p, errors="replace") as f:
                    out.append("%s:\n%s" % (os.path.basename(p), f.read()[-3000:]))
            except OSError:
                pass
        return "\n".join(out)

    def client(self):
        return QgaClient(self.sock)

    def kill(self):
        """SIGKILL (qemu-ga ignores SIGTERM while frozen), then unmount its root.
        Whatever it left frozen, the scratch cleanup thaws."""
        if self in _live:
            _live.remove(self)
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.proc:
            self.err.close()
        if self.mounted:
            subprocess.run(["umount", "-l", self.root], stderr=subprocess.DEVNULL)
            self.mounted = False
