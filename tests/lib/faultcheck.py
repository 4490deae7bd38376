# SPDX-License-Identifier: MIT
"""The fault tests' common "after every test" assertions (tests/integration/fault_*.py).

After every fault:

- nothing is frozen: every mount under the scratch dir (also ones a test added) thaws
  to a probe, and the run-dir record of a freeze (frozen.list) is gone;
- the daemon answers quiesce-status, with state idle (and no stage active);
- quiesced's open fds are back to the count it had before the fault (/proc/PID/fd);
- no stray processes: quiesced's only child is its current guardian (no hook left
  over, no zombie), every guardian seen before is gone, and so is every process the
  test started and said it stopped (apps, writers, helpers);
- at the end of a daemon's life, under SANITIZE=1 or QUIESCE_VALGRIND=1, a clean
  exit (qtest.stop_clean: exit status 0, which is how ASan/LSan/valgrind report).

    chk = faultcheck.Checker(tap, scratch)
    d = chk.daemon("--fs-timeout", "1", lease=2)     # qtest.Daemon, baseline taken
    ... the fault ...
    chk.after("SIGKILL in FREEZING", d, gone=[app.pid])

Each check is its own TAP line, named "<label>: ...", and each can fail: they read
the kernel's and the daemon's state, never the test's idea of it.

Probing for "frozen" uses FIFREEZE (qtest.is_frozen), so after() first waits for the
daemon to say idle: a probe must never race the daemon's own FIFREEZE. With no daemon
(daemon=None) the caller must know that nothing is freezing any more.
"""

import os
import signal
import time

import qtest

SLOW = qtest.SLOW


def proc_stat(pid):
    """(state, ppid) of pid, or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], int(rest[1])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid):
    """Running or stopped; a zombie counts as dead."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def children(pid):
    """{child pid: state} of every process whose parent is pid (zombies included)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[1] == pid:
            out[int(name)] = st[0]
    return out


def describe(pids):
    """What is known of these processes, for a failure's diagnostics."""
    out = []
    for pid in pids:
        info = {}
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("Name", "State", "PPid", "TracerPid", "SigPnd", "ShdPnd", "SigBlk"):
                        info[k] = v.strip()
            with open("/proc/%d/wchan" % pid) as f:
                info["wchan"] = f.read()
            with open("/proc/%d/cmdline" % pid) as f:
                info["cmdline"] = f.read().replace("\0", " ").strip()
        except OSError:
            pass
        out.append("pid %d: %r" % (pid, info))
    return "\n".join(out)


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def fd_list(pid):
    out = []
    try:
        for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
            try:
                out.append("%s -> %s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
            except OSError:
                pass
    except OSError:
        pass
    return out


def mounts_under(top):
    """Every mountpoint at or under top, in mount order (qtest.Scratch's view)."""
    return qtest.Scratch._all_mounts_under(top)


def frozen_mounts(scratch):
    """The mounts under the scratch dir that are frozen now (probed)."""
    out = []
    for mp in mounts_under(scratch.mnt):
        if mp == scratch.mnt:
            continue
        try:
            if qtest.is_frozen(mp):
                out.append(mp)
        except OSError:
            pass  # over-mounted by something that cannot be frozen (a tmpfs): not ours
    return out


def frozen_mounts_of(scratch, mounts):
    """frozen_mounts, probing only these mounts (never one whose FIFREEZE may be under
    way, e.g. behind a stalled write)."""
    out = []
    for mp in mounts:
        try:
            if qtest.is_frozen(mp):
                out.append(mp)
        except OSError:
            pass
    return out


def is_frozen_fd(fd):
    """qtest.is_frozen for an fd (a mount that was detached from the tree)."""
    import errno
    import fcntl
    try:
        fcntl.ioctl(fd, qtest.FIFREEZE, 0)
    except OSError as e:
        if e.errno == errno.EBUSY:
            return True
        raise
    fcntl.ioctl(fd, qtest.FITHAW, 0)
    return False


def status(d, timeout=5.0):
    """quiesce-status's return, or None if the daemon does not answer."""
    try:
        c = qtest.Client(d.control, timeout=timeout)
        try:
            ans = c.call("quiesce-status")
        finally:
            c.close()
        return (ans or {}).get("return")
    except (OSError, ValueError):
        return None


def settled(st):
    """Idle, and no stage active: also no FIFREEZE abandoned at its deadline still in
    the kernel (it may freeze and be thawed at any moment: never probe then)."""
    return (st is not None and st.get("state") == "idle" and
            not any(x.get("active") for x in st.get("stages", [])))


def wait_idle(d, timeout=10.0):
    """The status once the daemon is idle and settled (within timeout * SLOW), else the
    last one."""
    last = [None]

    def idle():
        last[0] = status(d, timeout=2.0)
        return settled(last[0])
    qtest.wait_for(idle, timeout * SLOW, 0.05)
    return last[0]


class Checker:
    """The after-every-test assertions for one Scratch and the daemons a test runs."""

    def __init__(self, tap, scratch, timeout=None, lease=None, fs_timeout=None):
        self.tap = tap
        self.scratch = scratch
        self.guardians = set()     # every guardian pid seen
        self.baselines = {}        # daemon pid -> fd count
        self.daemons = {}          # daemon pid -> qtest.Daemon
        # The bounds every daemon() gets unless it names its own.
        self.bounds = {k: v for k, v in (("timeout", timeout), ("lease", lease)) if v is not None}
        self.fs_timeout = fs_timeout

    # ---- daemons

    def daemon(self, *extra, **kw):
        """A qtest.Daemon, ready, with its fd baseline taken."""
        if self.fs_timeout is not None and "--fs-timeout" not in extra:
            extra = ("--fs-timeout", str(self.fs_timeout)) + extra
        d = qtest.Daemon(self.scratch, *extra, **dict(self.bounds, **kw))
        self.baseline(d)
        return d

    def baseline(self, d):
        """Record d's fd count now (call it once d has settled: transports open)."""
        self.daemons[d.proc.pid] = d
        st = status(d)
        if st and st.get("guardian_pid"):
            self.guardians.add(st["guardian_pid"])
        # Our own status call's connection may still be open on the daemon's side.
        self.baselines[d.proc.pid] = self._settled_fds(d.proc.pid)
        return self.baselines[d.proc.pid]

    @staticmethod
    def _settled_fds(pid, timeout=1.0):
        """The fd count once it stops changing for a little while."""
        last, since = fd_count(pid), time.monotonic()
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            time.sleep(0.02)
            n = fd_count(pid)
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 0.1:
                break
        return last

    def guardian_of(self, d):
        st = status(d)
        g = (st or {}).get("guardian_pid") or 0
        if g:
            self.guardians.add(g)
        return g

    # ---- the checks

    def after(self, label, d=None, gone=(), guardian=True, idle_timeout=10.0):
        """Every after-test assertion. d: the daemon that must answer (None: no daemon
        runs now); gone: pids that must not run any more; guardian: d runs one."""
        t = self.tap
        ok = True
        cur_guardian = 0
        if d is not None:
            st = wait_idle(d, idle_timeout)
            ok &= t.ok(st is not None, "%s: quiesced answers quiesce-status" % label,
                       d.log_text()[-3000:])
            ok &= t.ok(st is not None and st.get("state") == "idle",
                       "%s: quiesced is idle" % label, repr(st and st.get("state")))
            active = [s.get("stage") for s in (st or {}).get("stages", []) if s.get("active")]
            ok &= t.eq(active, [], "%s: no stage holds anything" % label)
            cur_guardian = (st or {}).get("guardian_pid") or 0
            if cur_guardian:
                self.guardians.add(cur_guardian)
        fr = frozen_mounts(self.scratch)
        ok &= t.eq(fr, [], "%s: nothing frozen" % label)
        if d is not None:
            rec = os.path.join(d.run_dir, "frozen.list")
            ok &= t.ok(not os.path.exists(rec), "%s: no freeze recorded in the run dir" % label)
            rec = os.path.join(d.run_dir, "hooks.list")
            ok &= t.ok(not os.path.exists(rec), "%s: no frozen hook recorded in the run dir" % label)
            pid = d.proc.pid
            base = self.baselines.get(pid)
            if base is not None:
                got = qtest.wait_for(lambda: fd_count(pid) == base and base, 5 * SLOW, 0.05)
                ok &= t.ok(got, "%s: quiesced's fds are back to %d" % (label, base),
                           "now %d:\n%s" % (fd_count(pid), "\n".join(fd_list(pid))))
            if guardian:
                ok &= t.ok(cur_guardian and alive(cur_guardian),
                           "%s: a guardian runs (pid %s)" % (label, cur_guardian))

            def only_guardian():
                kids = children(pid)
                return all(k == cur_guardian and s != "Z" for k, s in kids.items())
            got = qtest.wait_for(only_guardian, 5 * SLOW, 0.05)
            ok &= t.ok(got, "%s: quiesced's only child is its guardian (no hook, no zombie)" % label,
                       "children: %r, guardian %s" % (children(pid), cur_guardian))
        # Earlier guardians: all but the current ones of the daemons still running.
        current = {cur_guardian}
        for pid, other in self.daemons.items():
            if other is not d and other.proc.poll() is None:
                current.add((status(other) or {}).get("guardian_pid") or 0)
        old = [g for g in self.guardians if g not in current]
        stray = [g for g in old if not qtest.wait_for(lambda g=g: not alive(g), 5 * SLOW, 0.05)]
        ok &= t.ok(not stray, "%s: no earlier guardian still runs" % label, describe(stray))
        gone = [p for p in gone if p]
        left = [p for p in gone if not qtest.wait_for(lambda p=p: not alive(p), 5 * SLOW, 0.05)]
        ok &= t.ok(not left, "%s: no stray process (%d checked)" % (label, len(gone)), describe(left))
        return ok

    def stop_clean(self, d, label):
        """Stop d (SIGTERM) and check a clean exit: the sanitizer/valgrind check."""
        rc = qtest.stop_clean(self.tap, d, "%s: quiesced exits cleanly (status 0, no sanitizer or leak report)" % label)
        self.baselines.pop(d.proc.pid, None)
        self.daemons.pop(d.proc.pid, None)
        return rc


def kill_quietly(proc_or_pid, sig=signal.SIGKILL):
    """Kill a process we started (Popen or pid), ignoring one that is gone."""
    pid = getattr(proc_or_pid, "pid", proc_or_pid)
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, TypeError):
        pass
    if hasattr(proc_or_pid, "wait"):
        try:
            proc_or_pid.wait(10)
        except Exception:
            pass


# ---------------------------------------------------------------- holding a phase


class BgCall:
    """One command on a socket (control by default), answered in a thread, so that the
    test can act while the daemon works on it. close() is the client going away."""

    def __init__(self, path, cmd, args=None, client=None):
        import threading
        self.client = client or qtest.Client(path, timeout=60)
        self.answer = None
        self.error = None
        self.cmd = cmd

        def run():
            try:
                self.answer = self.client.call(cmd, args)
            except (OSError, ValueError) as e:
                self.error = e
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def result(self, timeout=20.0):
        """The answer (None if the connection ended without one); raises on a hang."""
        self.thread.join(timeout * SLOW)
        if self.thread.is_alive():
            raise RuntimeError("no answer to %s within %.0f s" % (self.cmd, timeout * SLOW))
        return self.answer

    def done(self):
        return not self.thread.is_alive()

    def close(self):
        import socket
        try:
            self.client.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.client.close()
        self.thread.join(10)


def wait_state(d, state, timeout=10.0):
    """True once quiesce-status says state."""
    return qtest.wait_for(lambda: (status(d, 2.0) or {}).get("state") == state,
                          timeout * SLOW, 0.02)


def fs_states(st):
    """{mountpoint: state} of the filesystems stage in a status answer."""
    for s in (st or {}).get("stages", []):
        if s.get("stage") == "filesystems":
            return {f["mountpoint"]: f["state"] for f in s.get("filesystems", [])}
    return {}


def wait_fs(d, want, timeout=10.0):
    """True once the daemon's filesystems stage shows every {mountpoint: state} of want
    (e.g. the stalled mount 'freezing' and the others 'frozen')."""
    def ok():
        got = fs_states(status(d, 2.0))
        return all(got.get(mp) == s for mp, s in want.items())
    return qtest.wait_for(ok, timeout * SLOW, 0.02)


IOCTL_NR = {"x86_64": 16, "aarch64": 29}


def threads_in_fifreeze(pid):
    """How many threads of pid are inside FIFREEZE now (/proc/PID/task/*/syscall: the
    syscall number and its arguments of a thread blocked in the kernel)."""
    import platform
    nr = IOCTL_NR.get(platform.machine())
    n = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                fields = f.read().split()
        except OSError:
            continue
        if len(fields) >= 3 and fields[0] == str(nr) and int(fields[2], 16) == qtest.FIFREEZE:
            n += 1
    return n


def wait_in_fifreeze(pid, n=1, timeout=5.0):
    """True once n threads of pid are blocked in FIFREEZE (a stalled write holds them)."""
    return qtest.wait_for(lambda: threads_in_fifreeze(pid) >= n, timeout * SLOW, 0.01)


def report_fs(ans):
    """{mountpoint: state} of the last filesystems phase in a freeze/thaw answer (or error)."""
    body = (ans or {}).get("return") or (ans or {}).get("error") or {}
    out = {}
    for ph in (body.get("report") or {}).get("phases", []):
        for f in ph.get("filesystems", []):
            out[f["mountpoint"]] = f["state"]
    return out


def has_apps():
    """quiesced has the app registry (--app-socket)."""
    import subprocess
    try:
        r = subprocess.run([qtest.bin_path("quiesced"), "--help"], capture_output=True,
                           text=True, timeout=10)
    except OSError:
        return False
    return "--app-socket" in r.stdout


def start(n=2, stall=True, **bounds):
    """The opening of a fault test: its TAP output (qtest.start), n scratch mounts and
    their Checker, whose daemon() gets bounds (timeout, lease, fs_timeout)."""
    tap = qtest.start(stall=stall)
    scratch = qtest.Scratch(n=n)
    return tap, scratch, Checker(tap, scratch, **bounds)


def run_cases(tap, cases, skip=None):
    """Runs a fault file's cases in order: (name, fn) or (name, fn, needs_apps).
    FAULT_ONLY=TEXT runs only the cases whose name holds TEXT; a case that needs the app
    registry is skipped without it; skip(name) may give another reason to skip."""
    only = os.environ.get("FAULT_ONLY")
    apps = None
    for case in cases:
        name, fn = case[0], case[1]
        if only and only not in name:
            continue
        if len(case) > 2 and case[2]:
            apps = has_apps() if apps is None else apps
            if not apps:
                tap.skip(name, "needs the app registry (--app-socket)")
                continue
        why = skip(name) if skip else None
        if why:
            tap.skip(name, why)
            continue
        tap.diag("---- " + name)
        fn()


def run_all(tap, scratch, cases, skip=None):
    """The end of a fault test: run_cases, then scratch cleaned up (also when a case
    raised) and the TAP output ended."""
    try:
        run_cases(tap, cases, skip)
    finally:
        scratch.cleanup()
    tap.exit()
