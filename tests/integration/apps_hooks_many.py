#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Many hooks: the hook table grows as the directory is read (it is not sized for the
most hooks up front), so 20 hooks all run, in name order on freeze and in reverse on
thaw; 256 is the most, and 257 executables in the directory veto the freeze, as does
every other scan failure, with nothing frozen."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()

s = qtest.Scratch(n=1)
hd = os.path.join(s.dir, "hooks.d")
os.mkdir(hd, 0o755)
trace = os.path.join(s.dir, "trace")


def hook(name):
    p = os.path.join(hd, name)
    with open(p, "w") as f:
        f.write('#!/bin/sh\necho "$(basename "$0") $1" >> %s\n' % trace)
    os.chmod(p, 0o755)


def trace_lines():
    return qtest.read_lines(trace)


names = ["%02d-hook" % i for i in range(20)]
for n in reversed(names):   # the directory order is not the name order
    hook(n)

d = qtest.Daemon(s, "--hook-dir", hd, timeout=15)
try:
    r = d.ctl("freeze")
    t.eq(r.returncode, 0, "freeze with 20 hooks")
    t.eq(trace_lines(), ["%s freeze" % n for n in names], "all 20 ran freeze, in name order")
    open(trace, "w").close()
    r = d.ctl("thaw")
    t.eq(r.returncode, 0, "thaw")
    t.eq(trace_lines(), ["%s thaw" % n for n in reversed(names)], "all 20 ran thaw, in reverse")

    for i in range(20, 257):
        with open(os.path.join(hd, "%03d-x" % i), "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(os.path.join(hd, "%03d-x" % i), 0o755)
    open(trace, "w").close()
    r = d.ctl("freeze")
    t.ok(r.returncode != 0 and "more than 256 hooks" in r.stderr + r.stdout,
         "257 hooks: the freeze is refused", r.stdout + r.stderr)
    t.eq(trace_lines(), [], "no hook ran")
    t.eq(s.frozen(), [], "nothing frozen")
    os.unlink(os.path.join(hd, "256-x"))
    r = d.ctl("check")
    t.eq(r.returncode, 0, "256 hooks: check passes", )
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
