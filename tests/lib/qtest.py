# SPDX-License-Identifier: MIT
"""Shared helpers for quiesce's integration tests.

Every test that freezes anything uses Scratch: loop-mounted images under a fresh
temp dir, and a cleanup (atexit and on SIGTERM/SIGINT) that thaws and unmounts
them even when the test fails. Tests emit TAP through Tap; prove runs them.

Nothing here ever freezes a filesystem outside a Scratch directory.
"""

import atexit
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FIFREEZE = 0xC0045877
FITHAW = 0xC0045878

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("QUIESCE_BUILD", os.path.join(TOP, "build"))
# Whatever runs a test (run-suite, prove by hand), quiesced refuses to start unscoped.
os.environ["QUIESCE_REQUIRE_SCOPE"] = "1"


def bin_path(name):
    """Path of a program built by make (build/ or build/sanitize/)."""
    return os.path.join(BUILD, name)


# ---------------------------------------------------------------- TAP


class Tap:
    """A minimal TAP producer: ok/eq/skip, plan printed at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        atexit.register(self._finish)

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            if diag:
                self.diag(diag)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP %s" % why, flush=True)
        self.n = -1
        sys.exit(0)

    def _finish(self):
        if self.n >= 0:
            print("1..%d" % self.n, flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)


def require_root(tap):
    if os.geteuid() != 0:
        tap.skip_all("needs root (loop mounts and FIFREEZE)")


def start(root=True, needs=(), stall=False):
    """The opening of every test program: its TAP output, and the whole test skipped
    where it cannot run: not root (with root), a program it needs not built (needs:
    names in QUIESCE_BUILD), no stalled writes (stall: tests/lib/stallwrite.py)."""
    tap = Tap()
    if root:
        require_root(tap)
    for name in needs:
        if not os.access(bin_path(name), os.X_OK):
            tap.skip_all("%s not built (make)" % name)
    if stall:
        import stallwrite
        stallwrite.require(tap)
    return tap


# ---------------------------------------------------------------- scratch filesystems

_live_scratch = []


class _Cleanup:
    def __init__(self, fn):
        self.fn = fn

    def cleanup(self):
        if self in _live_scratch:
            _live_scratch.remove(self)
            self.fn()


def at_cleanup(fn):
    """Run fn() once, at exit or on SIGTERM/SIGINT, before the Scratch cleanups made
    after this call (tests/packaging/deb.py purges its packages so). Returns a
    function that runs it now (and not again)."""
    c = _Cleanup(fn)
    _live_scratch.append(c)
    return c.cleanup


def _cleanup_all(*_):
    for s in list(_live_scratch):
        s.cleanup()


def _on_signal(signum, _frame):
    _cleanup_all()
    os._exit(128 + signum)


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def thaw_path(path):
    """FITHAW until the kernel says it is not frozen. Returns how many thaws it took."""
    n = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return 0
    try:
        while n < 64:
            try:
                fcntl.ioctl(fd, FITHAW, 0)
                n += 1
            except OSError:
                break
    finally:
        os.close(fd)
    return n


def is_frozen(path):
    """True if the filesystem at path is frozen now.

    Probes with FIFREEZE: EBUSY means frozen; success means it was not, and we
    thaw at once (util-linux's fsfreeze test relies on the same kernel rule).
    Never probe while a freeze is in progress: the probe can take a filesystem
    first, and the freezer then sees it as frozen by someone else. Wait for the
    daemon to say "frozen" (or for its freeze answer) first."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.ioctl(fd, FIFREEZE, 0)
        except OSError as e:
            if e.errno == errno.EBUSY:
                return True
            raise
        fcntl.ioctl(fd, FITHAW, 0)
        return False
    finally:
        os.close(fd)


def freeze_path(path):
    """Freeze one scratch mount by hand (a 'foreign' freezer in tests)."""
    assert "/quiesce-test-" in path, "refusing to freeze outside a scratch dir: " + path
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, FIFREEZE, 0)
    finally:
        os.close(fd)


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


class Scratch:
    """N loop-mounted scratch filesystems under a fresh temp dir.

    Layout: <dir>/img is a tmpfs holding the images (so no backing file lives on a
    freezable filesystem), <dir>/mnt/m<i> are the mountpoints. The daemon under
    test gets --scope <dir>/mnt. cleanup() thaws, unmounts and detaches all of it.
    """

    def __init__(self, n=2, fstype="ext4", size_mb=32, prefix="quiesce-test-"):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.img = os.path.join(self.dir, "img")
        self.mnt = os.path.join(self.dir, "mnt")
        self.mounts = []
        self.loops = []
        self.fstype = fstype
        self._tmpfs = False
        _live_scratch.append(self)
        os.makedirs(self.img)
        os.makedirs(self.mnt)
        run(["mount", "-t", "tmpfs", "-o", "size=%dm" % (n * size_mb + 64), "quiesce-img", self.img])
        self._tmpfs = True
        for i in range(n):
            self.add(fstype, size_mb)

    def add(self, fstype=None, size_mb=32, name=None, image=None, mountpoint=None):
        """Make, loop-attach and mount one more filesystem. image: where the image
        file lives (default: the tmpfs); mountpoint: default <mnt>/<name>. The loop
        device is detached by cleanup() whatever holds the image."""
        fstype = fstype or self.fstype
        i = len(self.mounts)
        name = name or "m%d" % i
        image = image or os.path.join(self.img, name + ".img")
        with open(image, "wb") as f:
            f.truncate(size_mb * 1024 * 1024)
        mkfs = {"ext4": ["mkfs.ext4", "-q", "-F"], "xfs": ["mkfs.xfs", "-q", "-f"],
                "btrfs": ["mkfs.btrfs", "-q", "-f"], "vfat": ["mkfs.vfat"]}[fstype]
        run(mkfs + [image])
        loop = run(["losetup", "--find", "--show", image]).stdout.strip()
        self.loops.append(loop)
        mp = mountpoint or os.path.join(self.mnt, name)
        os.makedirs(mp, exist_ok=True)
        run(["mount", "-t", fstype, loop, mp])
        self.mounts.append(mp)
        return mp

    def cleanup(self):
        if self not in _live_scratch:
            return
        _live_scratch.remove(self)
        # Thaw first: unmounting a frozen filesystem would hang on its final sync.
        for mp in reversed(self._all_mounts_under(self.mnt)):
            thaw_path(mp)
        for mp in reversed(self._all_mounts_under(self.mnt)):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        for loop in self.loops:
            subprocess.run(["losetup", "-d", loop], stderr=subprocess.DEVNULL)
        if self._tmpfs:
            subprocess.run(["umount", "-l", self.img], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _all_mounts_under(top):
        out = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == top or mp.startswith(top + "/"):
                    out.append(mp)
        return out

    def frozen(self):
        """The mountpoints that are frozen now."""
        return [mp for mp in self.mounts if os.path.ismount(mp) and is_frozen(mp)]


# ---------------------------------------------------------------- writers


class Writer:
    """A child process that writes one file on a mount and fsyncs it.

    Used to show that writes block while frozen and finish after the thaw."""

    def __init__(self, mountpoint, name="writer.dat", nbytes=4096):
        path = os.path.join(mountpoint, name)
        code = ("import os,sys\n"
                "fd=os.open(%r,os.O_WRONLY|os.O_CREAT|os.O_TRUNC,0o644)\n"
                "os.write(fd,b'x'*%d)\nos.fsync(fd)\nos.close(fd)\n" % (path, nbytes))
        self.proc = subprocess.Popen([sys.executable, "-c", code])

    def done_within(self, seconds):
        try:
            self.proc.wait(timeout=seconds)
            return self.proc.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


# ---------------------------------------------------------------- waiting


def wait_for(pred, timeout=5.0, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def readable_copy(*paths):
    """A copy of the given files in a fresh world-readable temp dir (removed at exit),
    for a test step that runs as another user: that user may not be able to read the
    checkout or the build dir (a clone in a 0700 temp dir, as CI makes). Returns the
    copies' paths, in order; a program's libraries beside it ($ORIGIN) come along if
    given too."""
    d = tempfile.mkdtemp(prefix="quiesce-readable-")
    atexit.register(shutil.rmtree, d, True)
    os.chmod(d, 0o755)
    out = []
    for p in paths:
        dst = os.path.join(d, os.path.basename(p))
        shutil.copy(p, dst)
        os.chmod(dst, 0o755 if os.access(p, os.X_OK) else 0o644)
        out.append(dst)
    return out


def wait_log(daemon, text, timeout=5.0):
    """True once text is in the daemon's log (within timeout * SLOW): a log line is
    written when the daemon gets to it, never at a fixed time after its answer."""
    return wait_for(lambda: text in daemon.log_text(), timeout * SLOW, 0.02)


def wait_for_socket(path, timeout=5.0):
    return wait_for(lambda: os.path.exists(path), timeout)


# ---------------------------------------------------------------- the daemon under test

VALGRIND = os.environ.get("QUIESCE_VALGRIND") == "1"
SANITIZE = os.environ.get("SANITIZE") == "1"
# Slow runners (valgrind) get longer bounds on waits that detect hangs.
SLOW = 8.0 if VALGRIND else (2.0 if SANITIZE else 1.0)


class Client:
    """A JSON client for the control socket (or any QMP-style stream socket)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout * SLOW)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        self.last_ff = False

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self):
        """The next answer (quiesced ends each with a newline), or None if the peer
        closed. A leading 0xFF sentinel is removed and noted in self.last_ff."""
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                self.last_ff = line.startswith(b"\xff")
                line = line.lstrip(b"\xff").strip()
                if line:
                    return json.loads(line)
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def call(self, cmd, args=None):
        req = {"execute": cmd, "id": self.next_id}
        self.next_id += 1
        if args is not None:
            req["arguments"] = args
        self.send_raw(json.dumps(req).encode() + b"\n")
        while True:
            ans = self.recv()
            if ans is None or ans.get("id") == req["id"] or "id" not in ans:
                return ans

    def close(self):
        self.sock.close()


class Daemon:
    """quiesced in the foreground, scoped to a Scratch, with its log in the scratch dir.

    stop() sends SIGTERM and returns the exit status; under SANITIZE or valgrind a
    non-zero status is how memory errors and leaks show."""

    def __init__(self, scratch, *extra, lease=None, timeout=None, scope=None, wait=True,
                 env=None, run_dir=None, log_path=None, program=None, ctl_program=None,
                 cwd=None, preexec_fn=None):
        self.scratch = scratch
        self.run_dir = run_dir or os.path.join(scratch.dir, "run")
        self.control = os.path.join(self.run_dir, "control.sock")
        self.log_path = log_path or os.path.join(scratch.dir, "quiesced.log")
        # program, ctl_program: an installed quiesced and quiescectl (tests/packaging/).
        self.ctl_program = ctl_program or bin_path("quiescectl")
        cmd = [program or bin_path("quiesced"), "-n", "-d", "--scope", scope or scratch.mnt,
               "--run-dir", self.run_dir]
        if lease is not None:
            cmd += ["--lease", str(lease)]
        if timeout is not None:
            cmd += ["--timeout", str(timeout)]
        cmd += list(extra)
        # The qemu-ga backend only where a test asks for it (--qga-backend).
        if "--qga" in cmd and not any(a.startswith("--qga-backend") for a in cmd):
            cmd.append("--no-qga-backend")
        if VALGRIND:
            cmd = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                   "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
                   "--track-fds=no"] + cmd
        full_env = dict(os.environ, QUIESCE_REQUIRE_SCOPE="1")
        full_env.update(env or {})
        self.cmd = cmd
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=full_env, cwd=cwd,
                                     preexec_fn=preexec_fn)
        self.returncode = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=10.0):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("quiesced exited %s:\n%s" % (self.proc.returncode, self.log_text()))
            # An answer, not just a connection: the socket accepts before the loop
            # runs, and start-up work (thawing a dead quiesced's leftovers) comes
            # in between.
            try:
                c = Client(self.control, timeout=1)
                try:
                    ans = c.call("quiesce-status")
                finally:
                    c.close()
                return bool(ans and "return" in ans)
            except (OSError, ValueError):
                return False
        if not wait_for(ready, timeout * SLOW, 0.02):
            raise RuntimeError("quiesced did not come up:\n" + self.log_text())

    def client(self):
        return Client(self.control)

    def call(self, cmd, args=None):
        c = self.client()
        try:
            return c.call(cmd, args)
        finally:
            c.close()

    def ctl(self, *args, user=None, timeout=60.0, env=None):
        """Run quiescectl against this daemon; returns the CompletedProcess."""
        cmd = [self.ctl_program, "--socket", self.control] + list(args)
        if user is not None:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout * SLOW, env=env)

    def state(self):
        return self.call("quiesce-status")["return"]["state"]

    def log_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
        self.log.close()
        return self.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)


def read_lines(path):
    """The lines of a file (a hooks' trace), [] while there is none."""
    try:
        with open(path) as f:
            return f.read().split("\n")[:-1]
    except FileNotFoundError:
        return []


def stop_proc(p, sig=signal.SIGTERM, timeout=5):
    """Ends the Popen p (sig, then SIGKILL after timeout s): its exit status, None if it
    had to be killed."""
    if p.poll() is None:
        p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return None


def stop_clean(tap, daemon, name="quiesced exits cleanly (no sanitizer or leak report)"):
    """Stop the daemon and check its exit status; shows the log tail on failure."""
    rc = daemon.stop()
    tap.ok(rc == 0, name, "exit status %s; log:\n%s" % (rc, daemon.log_text()[-4000:]))
    return rc
