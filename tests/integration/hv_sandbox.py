#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The stock-daemon sandbox's safety layers refuse what they must (no daemon runs here).

- sandbox-exec's mount-table rule on synthetic tables;
- sandbox-exec refuses outside a private mount namespace / off a tmpfs;
- hvshim.so's FIFREEZE/FITHAW fence and its labelled EIO injection, on scratch mounts;
- run-stock.sh refuses a wrong allowlist, foreign mountpoints and a non-scratch work dir,
  and accepts the right setup (check-only: the daemon is never started).
"""

import errno
import fcntl
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()
EXEC = qtest.bin_path("hvsim-sandbox-exec")
SHIM = qtest.bin_path("hvshim.so")
RUN = os.path.join(qtest.TOP, "tools", "hvsim", "sandbox", "run-stock.sh")
for p in (EXEC, SHIM):
    if not os.path.exists(p):
        t.skip_all("%s not built (make)" % p)

tmp = tempfile.mkdtemp(prefix="hvsim-sandbox-")


def verify(table, allow):
    path = os.path.join(tmp, "mounts")
    with open(path, "w") as f:
        f.write(table)
    argv = [EXEC, "--verify-mounts", path]
    for a in allow:
        argv += ["--allow", a]
    p = subprocess.run(argv, capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


GOOD = ("hvsim-sandbox / tmpfs rw 0 0\n/dev/loop3 /mnt/m0 ext4 rw 0 0\n"
        "/dev/loop4 /mnt/m1 ext4 rw 0 0\nproc /proc proc rw 0 0\n")
ALLOW = ["/dev/loop3=/mnt/m0", "/dev/loop4=/mnt/m1"]

rc, _ = verify(GOOD, ALLOW)
t.eq(rc, 0, "verify: the expected sandbox table is accepted")
cases = [
    ("root on a disk", GOOD.replace("hvsim-sandbox / tmpfs", "/dev/vda / ext4"), ALLOW),
    ("root on a loop device", GOOD.replace("hvsim-sandbox / tmpfs", "/dev/loop3 / ext4"), ALLOW),
    ("an extra /dev entry", GOOD + "/dev/vda /mnt/x ext4 rw 0 0\n", ALLOW),
    ("an extra /dev entry under /oldroot", GOOD + "/dev/vda /oldroot ext4 rw 0 0\n", ALLOW),
    ("a loop device on another mountpoint", GOOD.replace("/dev/loop4 /mnt/m1", "/dev/loop4 /mnt/m9"), ALLOW),
    ("an allowlisted mount missing", GOOD.replace("/dev/loop4 /mnt/m1 ext4 rw 0 0\n", ""), ALLOW),
    ("allowlist naming a disk", GOOD, ALLOW + ["/dev/vda=/mnt/m2"]),
    ("allowlist mountpoint outside /mnt", GOOD, ["/dev/loop3=/", "/dev/loop4=/mnt/m1"]),
    ("allowlist with ..", GOOD, ["/dev/loop3=/mnt/../m0", "/dev/loop4=/mnt/m1"]),
    ("allowlist nested path", GOOD, ["/dev/loop3=/mnt/a/m0", "/dev/loop4=/mnt/m1"]),
    ("no / entry", GOOD.replace("hvsim-sandbox / tmpfs rw 0 0\n", ""), ALLOW),
    ("empty allowlist", GOOD, []),
]
for name, table, allow in cases:
    rc, err = verify(table, allow)
    t.ok(rc == 112 and "REFUSED" in err, "verify refuses: %s" % name, "rc=%d %s" % (rc, err))

# Outside a private namespace it must refuse before pivot_root. The cwd is an ordinary
# directory (not a mountpoint), so even a broken check could not pivot.
empty = os.path.join(tmp, "empty")
os.mkdir(empty)
p = subprocess.run([EXEC, "--check-only", "--allow", "/dev/loop3=/mnt/m0"], cwd=empty,
                   capture_output=True, text=True,
                   env={"LD_PRELOAD": "/lib/hvshim.so", "HVSHIM_ALLOW_DEV": "7:3"})
t.ok(p.returncode == 112 and "private mount namespace" in p.stderr,
     "sandbox-exec refuses in the host mount namespace", p.stderr)
p = subprocess.run(["unshare", "-m", "--propagation", "private", EXEC, "--check-only", "--allow",
                    "/dev/loop3=/mnt/m0"], cwd=empty, capture_output=True, text=True)
t.ok(p.returncode == 112 and "not a tmpfs" in p.stderr,
     "sandbox-exec refuses when cwd (the new root) is not a tmpfs", p.stderr)

# ---------------------------------------------------------------- the shim's fence

s = qtest.Scratch(2)
m0, m1 = s.mounts
dev0 = "%d:%d" % (os.major(os.stat(m0).st_dev), os.minor(os.stat(m0).st_dev))
PROBE = r"""
import fcntl, os, sys
op = {"freeze": 0xC0045877, "thaw": 0xC0045878}[sys.argv[1]]
fd = os.open(sys.argv[2], os.O_RDONLY)
try:
    fcntl.ioctl(fd, op, 0)
    print("ok")
except OSError as e:
    print(os.strerror(e.errno))
"""


def shim_ioctl(what, path, allow=None, inject=None):
    env = {"LD_PRELOAD": SHIM, "PATH": "/usr/bin:/bin"}
    if allow is not None:
        env["HVSHIM_ALLOW_DEV"] = allow
    if inject is not None:
        env["HVSHIM_INJECT_FILE"] = inject
    p = subprocess.run([sys.executable, "-c", PROBE, what, path], capture_output=True, text=True, env=env)
    return p.stdout.strip(), p.stderr


out, err = shim_ioctl("freeze", m1, allow=dev0)
t.ok(out == os.strerror(errno.EPERM) and "FENCE: refused FIFREEZE" in err,
     "fence: FIFREEZE on a device not allowlisted -> EPERM, logged", out + err)
t.eq(s.frozen(), [], "fence: nothing got frozen")
out, err = shim_ioctl("freeze", m0)
t.eq(out, os.strerror(errno.EPERM), "fence: HVSHIM_ALLOW_DEV unset -> every FIFREEZE refused")
out, err = shim_ioctl("freeze", m0, allow="")
t.eq(out, os.strerror(errno.EPERM), "fence: empty allowlist -> refused")
out, err = shim_ioctl("freeze", m0, allow="garbage")
t.eq(out, os.strerror(errno.EPERM), "fence: unparsable allowlist -> refused")
out, err = shim_ioctl("freeze", m0, allow=dev0)
t.eq((out, s.frozen()), ("ok", [m0]), "fence: FIFREEZE on the allowlisted device goes through")
out, err = shim_ioctl("thaw", m1, allow=dev0)
t.eq(out, os.strerror(errno.EPERM), "fence: FITHAW is fenced too")
out, err = shim_ioctl("thaw", m0, allow=dev0)
t.eq((out, s.frozen()), ("ok", []), "fence: FITHAW on the allowlisted device goes through")

inject = os.path.join(s.img, "inject")  # on the scratch tmpfs, never frozen
with open(inject, "w") as f:
    f.write("eio %s\n" % m0)
out, err = shim_ioctl("freeze", m0, allow=dev0, inject=inject)
t.ok(out == os.strerror(errno.EIO) and "INJECTED EIO (simulated failure)" in err,
     "injection: FIFREEZE of the named path -> EIO, labelled INJECTED", out + err)
t.eq(s.frozen(), [], "injection: the ioctl never reached the kernel")
with open(inject, "w") as f:
    f.write("")
out, err = shim_ioctl("freeze", m0, allow=dev0, inject=inject)
t.eq(out, "ok", "injection disarmed: FIFREEZE works again")
qtest.thaw_path(m0)
t.eq(s.frozen(), [], "scratch thawed")

# ---------------------------------------------------------------- run-stock.sh


def run_stock(args, work=None):
    p = subprocess.run([RUN, "-c", "-s", "hvsim-sandbox-test", "-w", work or s.dir] + args,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr


rc, err = run_stock(s.mounts)
t.ok(rc == 0 and "mount table verified" in err, "run-stock -c: the real sandbox passes the gate", err)
lines = [l.split("mounts: ", 1)[1] for l in err.splitlines() if "sandbox-exec: mounts: " in l]
dev_lines = [l.split()[:2] for l in lines if l.startswith("/dev/")]
t.eq(sorted(dev_lines), sorted([[s.loops[0], "/mnt/m0"], [s.loops[1], "/mnt/m1"]]),
     "inside, the only /dev entries are the two scratch loops on /mnt/m0, /mnt/m1")
t.ok(any(l.split()[1] == "/" and l.split()[2] == "tmpfs" for l in lines), "inside, / is a tmpfs")
t.ok(not any(l.split()[1].startswith("/sys") for l in lines), "inside, no /sys")
rc, err = run_stock(["-k", "1"] + s.mounts)
t.ok(rc == 112 and "REFUSED" in err and "not allowlisted" in err,
     "run-stock with a wrong (short) allowlist: sandbox-exec refuses (112)", err)
rc, err = run_stock(["-k", "0"] + s.mounts)
t.ok(rc == 112 and "REFUSED" in err, "run-stock with an empty allowlist refuses", err)
rc, err = run_stock(["/"])
t.ok(rc == 112 and "not directly under" in err, "run-stock refuses a mountpoint outside the scratch dir", err)
rc, err = run_stock([s.img])
t.ok(rc == 112, "run-stock refuses the scratch tmpfs itself (not a loop mount under mnt/)", err)
rc, err = run_stock(s.mounts, work=tmp)
t.ok(rc == 112 and "scratch dir" in err, "run-stock refuses a work dir that is not /tmp/quiesce-test-*", err)
t.eq(s.frozen(), [], "nothing frozen at the end")
s.cleanup()
subprocess.run(["rm", "-rf", tmp])
t.exit()
