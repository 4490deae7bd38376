#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesced --qga: every command in every state.

States: thawed; frozen (by the agent channel, and by the control socket); after a
failed freeze; after the lease expired. In each, the allow-list (qemu-ga 7.2's
ga_freeze_allowlist) runs and the rest is refused with qemu-ga's exact text; a
client that leaves while frozen leaves it frozen; writes block while frozen and
go through after the thaw."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import qgapeer  # noqa: E402

tap = qtest.start()

ALLOWED = ["guest-sync-delimited", "guest-sync", "guest-ping", "guest-info",
           "guest-fsfreeze-status", "guest-fsfreeze-thaw"]
FREEZERS = ["guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list"]


def generic(desc):
    return {"error": {"class": "GenericError", "desc": desc}}


def disabled(name):
    return {"error": {"class": "CommandNotFound",
                      "desc": "Command %s has been disabled: the agent is in frozen state" % name}}


def check_common(c, state, label):
    """The commands that never freeze, and what the state says about the rest."""
    frozen = state == "frozen"
    tap.eq(c.call("guest-ping", id=label), {"return": {}, "id": label}, label + ": guest-ping")
    tap.eq(c.call("guest-sync", {"id": 77}), {"return": 77}, label + ": guest-sync")
    c.send_raw(b'{"execute":"guest-sync-delimited","arguments":{"id":78}}\n')
    tap.eq(c.reply(), (True, {"return": 78}), label + ": guest-sync-delimited")
    tap.eq(c.call("guest-fsfreeze-status"), {"return": state}, label + ": guest-fsfreeze-status")
    info = c.call("guest-info")["return"]["supported_commands"]
    enabled = {x["name"]: x["enabled"] for x in info}
    want = {n: (n in ALLOWED or not frozen) for n in ALLOWED + FREEZERS}
    tap.eq(enabled, want, label + ": guest-info shows the %s commands enabled" %
           ("allow-listed" if frozen else "all"))
    tap.eq(c.call("guest-bogus"),
           {"error": {"class": "CommandNotFound",
                      "desc": "The command guest-bogus has not been found"}},
           label + ": an unknown command is not found (not 'disabled')")
    if frozen:
        tap.eq(c.call("guest-fsfreeze-freeze"), disabled("guest-fsfreeze-freeze"),
               label + ": guest-fsfreeze-freeze is disabled")
        tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [scratch.mounts[1]]}),
               disabled("guest-fsfreeze-freeze-list"),
               label + ": guest-fsfreeze-freeze-list is disabled")
        tap.eq(c.call("guest-fsfreeze-freeze-list", {"bogus": 1}),
               disabled("guest-fsfreeze-freeze-list"),
               label + ": disabled is said before the arguments are looked at")


scratch = qtest.Scratch(n=2)
M0, M1 = scratch.mounts
q = qgapeer.Quiesced(scratch)
c = q.client()

# ---------------------------------------------------------------- thawed

check_common(c, "thawed", "thawed")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 0}, "thawed: guest-fsfreeze-thaw returns 0")
for args, what in [({"mountpoints": ["/nonexistent"]}, "an unknown mountpoint"),
                   ({"mountpoints": [M0 + "/"]}, "a mountpoint spelt differently"),
                   ({"mountpoints": []}, "an empty list")]:
    tap.eq(c.call("guest-fsfreeze-freeze-list", args), {"return": 0},
           "freeze-list with %s freezes nothing and returns 0" % what)
    tap.ok(c.call("guest-fsfreeze-status") == {"return": "thawed"} and not scratch.frozen(),
           "  and stays thawed")
tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": None}),
       generic("Invalid parameter type for 'mountpoints', expected: array"),
       "freeze-list with \"mountpoints\": null is a type error (never 'freeze all')")
tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, 5]}),
       generic("Invalid parameter type for 'mountpoints[1]', expected: string"),
       "freeze-list with a non-string mountpoint")
tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0], "x": 1}),
       generic("Parameter 'x' is unexpected"), "freeze-list with an unexpected parameter")
tap.eq(c.call("guest-fsfreeze-freeze", {"mountpoints": [M0]}),
       generic("Parameter 'mountpoints' is unexpected"), "guest-fsfreeze-freeze takes no list")
tap.ok(not scratch.frozen(), "none of those froze anything")

# ---------------------------------------------------------------- frozen

tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M0]}), {"return": 1},
       "freeze-list [m0, m0] returns 1")
tap.eq(scratch.frozen(), [M0], "m0 is frozen, m1 is not")
w0 = qtest.Writer(M0)
w1 = qtest.Writer(M1, name="w1.dat")
tap.ok(not w0.done_within(1.0), "a writer on m0 blocks while frozen")
tap.ok(w1.done_within(10), "a writer on m1 goes through")
check_common(c, "frozen", "frozen")

c.close()
time.sleep(0.3)
tap.eq(scratch.frozen(), [M0], "the client left: still frozen (until a thaw or the lease)")
c = q.client()
tap.eq(c.call("guest-fsfreeze-status"), {"return": "frozen"}, "a new client sees 'frozen'")
check_common(c, "frozen", "frozen, new client")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "guest-fsfreeze-thaw returns 1")
tap.ok(w0.done_within(10), "the blocked writer goes through after the thaw")
tap.eq(scratch.frozen(), [], "nothing frozen")
check_common(c, "thawed", "thawed again")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 0}, "a second thaw returns 0")

tap.eq(c.call("guest-fsfreeze-freeze"), {"return": 2},
       "guest-fsfreeze-freeze freezes every candidate (both scratch mounts: --scope)")
tap.eq(sorted(scratch.frozen()), sorted([M0, M1]), "both frozen")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 2}, "thaw returns 2")

# ---------------------------------------------------------------- after a failed freeze

qtest.freeze_path(M1)  # a foreign freezer holds m1
r = c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]})
tap.eq(r, generic("%s is already frozen by another freezer (busy)" % M1),
       "freeze-list over a foreign freeze fails (qemu-ga: skips it; see docs/qga.md)")
tap.eq(scratch.frozen(), [M1], "what we froze was thawed; the foreign freeze is left alone")
check_common(c, "thawed", "after a failed freeze")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 0},
       "after a failed freeze: thaw returns 0 and does not touch the foreign freeze")
tap.eq(scratch.frozen(), [M1], "m1 is still frozen by its owner")
qtest.thaw_path(M1)
tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0]}), {"return": 1},
       "after a failed freeze: a freeze works again")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "  and its thaw")

# ---------------------------------------------------------------- a freeze from the control socket

ctl = qgapeer.QgaClient(q.control)
r = ctl.call("quiesce-freeze", {"mountpoints": [M1]})
tap.ok("return" in r and r["return"]["count"] == 1, "quiescectl's freeze (control socket)", r)
check_common(c, "frozen", "frozen by the control socket")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "the agent's thaw ends it (one engine)")
tap.eq(scratch.frozen(), [], "thawed")
ctl.close()

# ---------------------------------------------------------------- answers in request order

# A freeze answers when the filesystems are frozen; what the client sent after it
# waits, so that a guest-sync behind a freeze is answered after the freeze.
c.send_raw(b'{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["%s"]},"id":1}\n'
           b'{"execute":"guest-sync","arguments":{"id":2}}\n'
           b'\xff{"execute":"guest-fsfreeze-status","id":3}\n' % M0.encode())
got = [c.reply(), c.reply(), c.reply()]
tap.eq(got, [(False, {"return": 1, "id": 1}), (False, {"return": 2}),
             (False, {"error": {"class": "GenericError", "desc": "JSON parse error, stray '\ufffd'"}})],
       "pipelined behind a freeze: its answer first, then the sync, then the 0xFF error")
tap.eq(c.reply(), (False, {"return": "frozen", "id": 3}), "  then the status")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "  and a thaw")

hog = q.client()
hog.send_raw(b'{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["%s"]}}\n'
             % M0.encode() + b'{"execute":"guest-ping"}\n' * 20)
first = hog.reply()
tap.ok(first is None and hog.eof,
       "more than 16 requests behind a pending freeze: the client is dropped", first)
hog.close()
c.close()
c = q.client()
tap.ok(qtest.wait_for(lambda: c.call("guest-fsfreeze-status") == {"return": "frozen"}, 5),
       "  its freeze went ahead and holds (no owner: until a thaw or the lease)")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "  a new client thaws it")
tap.ok(qtest.wait_for(lambda: "16 requests ahead of an answer" in q.read_log(), 5),
       "  the drop is logged (held in memory while frozen, written after the thaw)")

# ---------------------------------------------------------------- after the lease expired

c.close()
tap.eq(q.stop(), 0, "quiesced stops")
q = qgapeer.Quiesced(scratch, lease=1, name="q-lease")
c = q.client()
tap.eq(c.call("guest-fsfreeze-status"), {"return": "thawed"}, "a new quiesced starts thawed")
tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0]}), {"return": 1},
       "freeze with --lease 1")
tap.ok(qtest.wait_for(lambda: scratch.frozen() == [], 10 * qtest.SLOW, 0.05),
       "the lease passed: quiesced thawed on its own", scratch.frozen())
check_common(c, "thawed", "after the lease expired")
r = c.call("guest-fsfreeze-thaw")
desc = r.get("error", {}).get("desc", "")
tap.ok(r.get("error", {}).get("class") == "GenericError" and
       desc.startswith("couldn't hold writes: the lease of 1.0 s expired"),
       "the next thaw is an error: couldn't hold writes", r)
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 0}, "it is said once; the next thaw returns 0")
tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0]}), {"return": 1},
       "after the lease: a freeze works again")
tap.eq(c.call("guest-fsfreeze-thaw"), {"return": 1}, "  and a thaw in time returns 1")

# ---------------------------------------------------------------- SIGTERM while frozen

tap.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]}), {"return": 2},
       "frozen again")
q.proc.send_signal(signal.SIGTERM)
try:
    rc = q.proc.wait(15)
except Exception:
    rc = None
tap.eq(rc, 0, "SIGTERM while frozen: quiesced exits (qemu-ga ignores it)")
tap.eq(scratch.frozen(), [], "  after thawing first")
q.stop()

tap.exit()
