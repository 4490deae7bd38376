#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hook mode: the real qemu-ga 7.2 calls quiescectl as its fsfreeze hook.

qemu-ga freezes the (scratch) filesystems itself; its hook asks quiesced for an
apps-only freeze before, and a thaw after. Checked: what quiesced sees at each
step; the hook refusing the freeze (quiesced unreachable, or already frozen by
someone else) makes qemu-ga abort; --if-running lets it go ahead; when qemu-ga
freezes nothing it calls no thaw hook and the lease ends the application hold;
the hook dropped into fsfreeze-hook.d behind Debian's stock dispatcher runs, but
cannot veto (the dispatcher always exits 0)."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import qgapeer  # noqa: E402
from appproto import FAIL, RawApp  # noqa: E402

tap = qtest.start()
if not qgapeer.qemu_ga_available():
    tap.skip_all("qemu-ga is not installed (Debian package qemu-guest-agent)")

LEASE = 3
scratch = qtest.Scratch(n=2)
M0, M1 = scratch.mounts
QUIESCECTL = qtest.bin_path("quiescectl")


def status(q):
    c = qgapeer.QgaClient(q.control)
    try:
        return c.call("quiesce-status")["return"]
    finally:
        c.close()


def hook_failed(code):
    """qemu-ga 7.2's answer when its hook exits with code."""
    return {"error": {"class": "GenericError",
                      "desc": "fsfreeze hook has failed with status %d" % code}}


def fs_active(st):
    return any(s["stage"] == "filesystems" and s["active"] for s in st["stages"])


def prepare(qdir):
    # The hook as qemu-ga runs it: a link named fsfreeze-hook to quiescectl.
    os.symlink("bin/quiescectl", os.path.join(qdir, "fsfreeze-hook"))
    # A wrapper that passes an option.
    with open(os.path.join(qdir, "hook-if-running"), "w") as f:
        f.write('#!/bin/sh\nexec /qga/bin/quiescectl fsfreeze-hook --if-running "$@"\n')
    os.chmod(os.path.join(qdir, "hook-if-running"), 0o755)
    # Debian's dispatcher, with quiescectl dropped into its fsfreeze-hook.d.
    os.makedirs(os.path.join(qdir, "dispatch", "fsfreeze-hook.d"))
    with open("/etc/qemu/fsfreeze-hook") as src, \
            open(os.path.join(qdir, "dispatch", "fsfreeze-hook"), "w") as dst:
        dst.write(src.read())
    os.chmod(os.path.join(qdir, "dispatch", "fsfreeze-hook"), 0o755)
    os.symlink("/qga/bin/quiescectl", os.path.join(qdir, "dispatch", "fsfreeze-hook.d",
                                                   "50-quiesce"))
    # The README's set-up: the hook named in qemu-ga.conf (Debian starts qemu-ga bare).
    with open(os.path.join(qdir, "qemu-ga.conf"), "w") as f:
        f.write("[general]\nfsfreeze-hook=/qga/fsfreeze-hook\n")


def start_ga(hook, **env):
    return qgapeer.QemuGa(scratch, hook=hook, programs=[QUIESCECTL], prepare=prepare,
                          env=dict(os.environ, QUIESCE_CONTROL="/qga/control.sock", **env))


def start_quiesced(ga):
    return qgapeer.Quiesced(scratch, qga=False, lease=LEASE, name="q-hook",
                            control=os.path.join(ga.qdir, "control.sock"))


# ---------------------------------------------------------------- freeze and thaw through the hook

ga = start_ga("/qga/fsfreeze-hook")
q = start_quiesced(ga)
c = ga.client()
tap.eq(status(q)["state"], "idle", "quiesced idle before")
tap.eq(c.freeze_list([M0], scratch), {"return": 1}, "qemu-ga freeze-list [m0] with our hook: 1")
st = status(q)
tap.ok(st["state"] == "frozen" and not fs_active(st) and st["last"]["op"] == "freeze" and
       st["last"]["ok"], "quiesced holds an apps-only freeze (no filesystem of its own)", st)
tap.eq(scratch.frozen(), [M0], "m0 frozen by qemu-ga")
w = qtest.Writer(M0)
tap.ok(not w.done_within(1.0), "a writer on m0 blocks")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "qemu-ga thaw: 1")
tap.ok(w.done_within(10), "the writer goes through")
st = status(q)
tap.ok(st["state"] == "idle" and st["last"]["op"] == "thaw" and st["last"]["ok"],
       "the thaw hook thawed quiesced's hold", st)

# ---------------------------------------------------------------- the hook refuses: qemu-ga aborts

ctl = qgapeer.QgaClient(q.control)
r = ctl.call("quiesce-freeze", {"mountpoints": [M1]})
tap.ok("return" in r and r["return"]["count"] == 1, "quiescectl froze m1 (not through the hook)", r)
r = c.freeze_list([M0], scratch)
tap.eq(r, hook_failed(1),
       "qemu-ga freeze-list while quiesced holds another freeze: the hook refuses (exit 1), "
       "qemu-ga fails the freeze")
tap.eq(scratch.frozen(), [M1], "  m0 was not frozen")
tap.eq(c.call("guest-fsfreeze-status"), {"return": "thawed"}, "  qemu-ga says thawed")
tap.ok(ctl.call("quiesce-thaw").get("return", {}).get("count") == 1, "quiescectl thaws m1")
ctl.close()

# ---------------------------------------------------------------- nothing frozen: no thaw hook, the lease ends the hold

r = c.freeze_list([scratch.mnt + "/not-a-mount"], scratch)
tap.eq(r, {"return": 0}, "qemu-ga freeze-list of no mount: 0 (its freeze hook ran)")
st = status(q)
tap.eq(st["state"], "frozen",
       "qemu-ga calls no thaw hook when it froze nothing: the applications stay held")
qtest.wait_for(lambda: status(q)["state"] == "idle", (LEASE + 5) * qtest.SLOW, 0.05)
st = status(q)
tap.ok(st["state"] == "idle" and st["lease_expired"], "until quiesced's lease ends the hold", st)
r = c.call("guest-fsfreeze-thaw")
tap.eq(r, hook_failed(5),
       "the next qemu-ga thaw reports the hook's failure: the hold had not lasted (exit 5)")
tap.eq(status(q)["lease_expired"], False, "  and that was said once")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 0}, "the next thaw is clean")

# ---------------------------------------------------------------- quiesced not running: the freeze is refused

tap.eq(q.stop(), 0, "quiesced stopped")
r = c.freeze_list([M0], scratch)
tap.eq(r, hook_failed(3),
       "quiesced unreachable: the hook fails (exit 3) and qemu-ga aborts the freeze")
tap.eq(scratch.frozen(), [], "  nothing frozen")
tap.eq(c.call("guest-fsfreeze-status"), {"return": "thawed"}, "  qemu-ga thawed")

# ---------------------------------------------------------------- an application vetoes: qemu-ga aborts

q = start_quiesced(ga)
app = RawApp(os.path.join(q.dir, "app.sock"))
tap.eq(app.register("vetoer")["result"], 0, "an application registers with quiesced")


def veto():
    opt, _, msgid = app.request(30)
    app.reply(opt, msgid, FAIL)


th = threading.Thread(target=veto)
th.start()
r = c.freeze_list([M0], scratch)
th.join(30)
tap.eq(r, hook_failed(1),
       "it vetoes the FREEZE: quiesce-freeze fails (Vetoed), the hook exits 1, qemu-ga aborts")
tap.eq(scratch.frozen(), [], "  nothing frozen")
tap.eq(c.call("guest-fsfreeze-status"), {"return": "thawed"}, "  qemu-ga says thawed")
app.close()
tap.eq(q.stop(), 0, "quiesced stopped")
c.close()
ga.kill()

# ---------------------------------------------------------------- --if-running

ga = start_ga("/qga/hook-if-running")
c = ga.client()
tap.eq(c.freeze_list([M0], scratch), {"return": 1},
       "hook with --if-running, quiesced not running: qemu-ga's freeze goes ahead")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "  and its thaw")
c.close()
ga.kill()

# ---------------------------------------------------------------- the hook named in qemu-ga.conf

ga = start_ga(None, QGA_CONF="/qga/qemu-ga.conf")
q = start_quiesced(ga)
c = ga.client()
tap.eq(c.freeze_list([M0], scratch), {"return": 1}, "hook set in qemu-ga.conf (no -F): 1")
st = status(q)
tap.ok(st["state"] == "frozen" and not fs_active(st), "  quiesced made the apps-only freeze", st)
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "  thaw")
tap.eq(status(q)["state"], "idle", "  quiesced thawed")
c.close()
tap.eq(q.stop(), 0, "quiesced stopped")
ga.kill()

# ---------------------------------------------------------------- behind Debian's dispatcher (fsfreeze-hook.d)

ga = start_ga("/qga/dispatch/fsfreeze-hook")
q = start_quiesced(ga)
c = ga.client()
tap.eq(c.freeze_list([M0], scratch), {"return": 1}, "dispatcher + fsfreeze-hook.d/50-quiesce: 1")
st = status(q)
tap.ok(st["state"] == "frozen" and not fs_active(st),
       "quiescectl recognised fsfreeze-hook.d and made the apps-only freeze", st)
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "qemu-ga thaw")
tap.eq(status(q)["state"], "idle", "  quiesced thawed")
tap.eq(q.stop(), 0, "quiesced stopped")
tap.eq(c.freeze_list([M0], scratch), {"return": 1},
       "behind the stock dispatcher a failing hook cannot stop the freeze (it always exits 0)")
with open(os.path.join(ga.root, "var/log/qga-fsfreeze-hook.log")) as f:
    log = f.read()
tap.ok("50-quiesce finished with status=3" in log, "  the dispatcher only logged our exit 3", log)
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "  thaw")
c.close()
ga.kill()
tap.eq(scratch.frozen(), [], "nothing left frozen")

tap.exit()
