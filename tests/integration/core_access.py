#!/usr/bin/env python3
"""Access control on the control socket: any local user may read status; freeze, thaw,
check and snapshot are refused to non-root clients (SO_PEERCRED), with exit status 4."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.Tap()
qtest.require_root(t)
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
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
