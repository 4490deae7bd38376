# SPDX-License-Identifier: MIT
"""A write stuck in the middle, so that a FIFREEZE of its filesystem waits: a slow freeze
on demand, for tests of what happens when a freeze takes longer than someone's budget.

    with StalledWrite(os.path.join(scratch_mount, "stall.dat")) as st:   # the write is stuck
        ...                      # a FIFREEZE of that filesystem now blocks
        st.release()             # the write finishes, the FIFREEZE goes on

How: a child process writes from a buffer whose page is registered with userfaultfd(2)
and never filled. write(2) has entered the filesystem (sb_start_write) when it faults
on the buffer, and stays there; FIFREEZE waits for every such writer (sb_wait_write).
Closing the userfaultfd lets the fault complete with a zero page. If the child dies the
kernel closes it too: nothing stays stuck after the test. Only ever on scratch mounts.
"""

import os
import platform
import subprocess
import sys

CHILD = r'''
import ctypes, fcntl, mmap, os, select, struct, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
nr = {"x86_64": 323, "aarch64": 282}[sys.argv[2]]
uffd = libc.syscall(nr, os.O_CLOEXEC | os.O_NONBLOCK)
if uffd < 0:
    print("error userfaultfd: errno %d" % ctypes.get_errno(), flush=True)
    sys.exit(1)
fcntl.ioctl(uffd, 0xC018AA3F, bytearray(struct.pack("QQQ", 0xAA, 0, 0)))     # UFFDIO_API
m = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
fcntl.ioctl(uffd, 0xC020AA00, bytearray(struct.pack("QQQQ", addr, 4096, 1, 0)))  # REGISTER, MISSING
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
res = {}
def write():
    try:
        res["n"] = os.write(fd, memoryview(m)[:4096])
    except OSError as e:
        res["errno"] = e.errno
th = threading.Thread(target=write, daemon=True)
th.start()
# The fault is pending on the userfaultfd once the write is stuck inside the kernel.
r, _, _ = select.select([uffd], [], [], 10)
print("stalled" if r else "error: the write did not stall", flush=True)
sys.stdin.readline()
os.close(uffd)
th.join(10)
print("released %r" % (res,), flush=True)
'''


class StallError(Exception):
    pass


def supported():
    return platform.machine() in ("x86_64", "aarch64") and os.geteuid() == 0


def require(t):
    """Skip the whole test (qtest.Tap t) where stalled writes cannot be made."""
    if not supported():
        t.skip_all("the stalled writer needs userfaultfd on x86_64 or aarch64")


class StalledWrite:
    def __init__(self, path):
        assert "/quiesce-test-" in path or "/quiesce-bench-" in path, \
            "stalled writes only on scratch mounts: " + path
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, path, platform.machine()],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "stalled":
            self.kill()
            raise StallError(line or "the stall helper exited")
        self.released = None

    def release(self, timeout=15):
        """Let the write finish; returns the helper's report ('released {...}')."""
        if self.released is not None:
            return self.released
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        self.released = (self.proc.stdout.readline() or "").strip()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.released

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        self.kill()
        return False
