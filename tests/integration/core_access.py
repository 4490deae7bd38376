#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Access control on the control socket: any local user may read status; freeze, thaw,
check and snapshot are refused to non-root clients (SO_PEERCRED), with exit status 4."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()
NOBODY = 65534

s = qtest.Scratch(n=1)
os.chmod(s.dir, 0o755)   # let the unprivileged client reach the socket
d = qtest.Daemon(s)
try:
    r = d.ctl("status", user=NOBODY)
    t.ok(r.returncode == 0 and "state:   idle" in r.stdout, "a non-root user may read status", r.stdout + r.stderr)
    for verb in ("freeze", "thaw", "check"):
        r = d.ctl(verb, user=NOBODY)
        t.eq(r.returncode, 4, "non-root %s: exit status 4" % verb)
        t.ok("permission denied" in r.stderr and "needs root" in r.stderr,
             "non-root %s: says it needs root" % verb, r.stderr)
    t.eq(s.frozen(), [], "nothing was frozen by the refused client")
    r = d.ctl("snapshot", "--", "true", user=NOBODY)
    t.ok(r.returncode == 125 and "needs root" in r.stderr, "non-root snapshot: the freeze is refused, the command does not run", r.stderr)

    # Root freezes; a non-root thaw must not release it.
    t.eq(d.ctl("freeze").returncode, 0, "root may freeze")
    r = d.ctl("thaw", user=NOBODY)
    t.eq(r.returncode, 4, "non-root thaw of root's freeze is refused")
    t.eq(s.frozen(), s.mounts, "still frozen")
    r = d.ctl("--json", "status", user=NOBODY)
    t.eq(json.loads(r.stdout)["state"] if r.returncode == 0 else None, "frozen", "non-root status shows frozen")
    t.eq(d.ctl("thaw").returncode, 0, "root may thaw")
    t.eq(s.frozen(), [], "thawed")

    # An unprivileged user cannot fill the control socket and lock root out.
    hogs = []
    for _ in range(12):
        p = subprocess.Popen(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                              sys.executable, "-c",
                              "import socket,sys,time\nc=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.settimeout(2)\n"
                              "try: print(c.recv(4096).decode().strip() or 'closed', flush=True)\n"
                              "except socket.timeout: print('open', flush=True)\n"
                              "time.sleep(30)", d.control],
                             stdout=subprocess.PIPE, text=True)
        hogs.append(p)
    first = [p.stdout.readline().strip() for p in hogs]
    refused = [x for x in first if "too many connections from your user" in x]
    t.ok(len(refused) >= 4, "a user's connections beyond its share are refused (%d of 12)" % len(refused), "\n".join(first))
    r = d.ctl("status")
    t.eq(r.returncode, 0, "root still gets through")
    for p in hogs:
        p.kill()
        p.wait()
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
