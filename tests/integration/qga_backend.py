#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesced --qga with the real qemu-ga 7.2 behind it (--qga-backend): every command
virsh sends for issue 15's table answered as a plain qemu-ga answers it, the frozen
allow-list, the bound on a hung command, the backend's death and restart during and
outside a freeze, the guest-sync-delimited resync, and quiesced without a backend.

Safety: the backend is tests/lib/qga-backend-safe, the distribution's qemu-ga with
power, time, CPU, memory, password, key and trim commands blocked on top of the
fsfreeze family quiesced blocks; the plain reference qemu-ga runs the same way with
the fsfreeze family blocked too, so neither can freeze or thaw anything. send()
refuses to send anything in FORBIDDEN. The commands without a success answer
(guest-shutdown, guest-suspend-*) are sent only to tests/lib/fake-qemu-ga, a
stand-in that shuts nothing down. The only freeze is quiesced's, of the scratch
mount, through freeze-list with that mountpoint.

A forwarded command hangs deterministically: the backend is stopped (SIGSTOP) before
it is sent. (A FIFO does not do it: qemu-ga 7.2 opens and reads without blocking.)"""

import base64
import json
import os
import signal
import subprocess
import sys
import time

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib")
sys.path.insert(0, LIB)
import qtest  # noqa: E402
import qgapeer  # noqa: E402

tap = qtest.start()
if not qgapeer.qemu_ga_available():
    tap.skip_all("qemu-ga is not installed (Debian package qemu-guest-agent)")

SAFE = os.path.abspath(os.path.join(LIB, "qga-backend-safe"))
FAKE = os.path.abspath(os.path.join(LIB, "fake-qemu-ga"))
FSFREEZE = ["guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw",
            "guest-fsfreeze-status"]
FORBIDDEN = {"guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
             "guest-set-time", "guest-set-vcpus", "guest-set-memory-blocks",
             "guest-set-user-password", "guest-fstrim", "guest-fsfreeze-freeze",
             "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys"}

scratch = qtest.Scratch(n=1)
M0 = scratch.mounts[0]
TEXT = os.path.join(scratch.dir, "file.txt")
with open(TEXT, "w") as f:
    f.write("quiesce passes guest-file-read through\n")


def allowed(name, args):
    assert name not in FORBIDDEN, name
    if name == "guest-fsfreeze-freeze-list":
        assert args and all(m.startswith(scratch.mnt + "/") for m in args["mountpoints"])


def send(c, name, args=None, id=None):
    allowed(name, args)
    req = dict({"execute": name}, **({"arguments": args} if args is not None else {}),
               **({"id": id} if id is not None else {}))
    c.send_raw(json.dumps(req).encode() + b"\n")


def call(c, name, args=None, id=None, timeout=15):
    allowed(name, args)
    return c.call(name, args, id=id, timeout=timeout)


def status(q):
    return qtest.Client(q.control).call("quiesce-status").get("return", {})


def backend(q):
    return status(q).get("qga_backend", {})


def wait_running(q, old_pid=None, timeout=10):
    def ok():
        b = backend(q)
        return b.get("state") == "running" and b.get("pid") != old_pid
    return qtest.wait_for(ok, timeout)


class PlainQemuGa:
    """The reference: qemu-ga (the same safe wrapper) on its own socket, fsfreeze blocked."""

    def __init__(self):
        self.dir = os.path.join(scratch.dir, "plain")
        os.makedirs(os.path.join(self.dir, "state"), mode=0o700)
        self.sock = os.path.join(self.dir, "qga.sock")
        self.err = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen([SAFE, "-m", "unix-listen", "-p", self.sock, "-t",
                                      os.path.join(self.dir, "state"), "-b", ",".join(FSFREEZE)],
                                     stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if not qtest.wait_for(lambda: os.path.exists(self.sock), 10):
            raise RuntimeError("the plain qemu-ga did not start")

    def client(self):
        return qgapeer.QgaClient(self.sock)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def shape(v):
    """The JSON shape: keys and value types, lists as the set of their items' shapes."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return sorted({json.dumps(shape(x), sort_keys=True) for x in v})
    return "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__


def exec_echo(c):
    r = call(c, "guest-exec", {"path": "/bin/echo", "arg": ["hello from", "guest-exec"],
                               "capture-output": True}, id="exec")
    pid = r.get("return", {}).get("pid") if r else None
    st = None
    for _ in range(200):
        st = call(c, "guest-exec-status", {"pid": pid}, id="st")
        if not st or "return" not in st or st["return"].get("exited"):
            break
        time.sleep(0.05)
    return r, st


def read_file(c):
    h = call(c, "guest-file-open", {"path": TEXT, "mode": "r"}, id="open")
    handle = h.get("return") if h else None
    rd = call(c, "guest-file-read", {"handle": handle, "count": 4096}, id="read")
    cl = call(c, "guest-file-close", {"handle": handle}, id="close")
    return h, rd, cl


# The commands of virsh domfsinfo, domtime, domifaddr --source agent, guestvcpus,
# domhostname --source agent, guestinfo (users, os, timezone, hostname, fs, disks).
TABLE = ["guest-get-fsinfo", "guest-get-time", "guest-network-get-interfaces",
         "guest-get-vcpus", "guest-get-host-name", "guest-get-users", "guest-get-osinfo",
         "guest-get-timezone", "guest-get-disks"]
# Answers that cannot change between the two calls on this machine (disks can: other
# tests add and remove loop devices; compared without them below).
SAME_VALUE = {"guest-get-vcpus", "guest-get-host-name", "guest-get-users", "guest-get-osinfo",
              "guest-get-timezone"}


def transcript(c):
    out = {}
    for i, name in enumerate(TABLE):
        send(c, name, id=i)
        line = c.read_line(15)
        out[name] = (line, json.loads(line) if line else None)
    out["guest-info"] = (None, call(c, "guest-info", id="info"))
    out["exec"] = exec_echo(c)
    out["file"] = read_file(c)
    return out


# ---------------------------------------------------------------- the table

plain = PlainQemuGa()
try:
    pc = plain.client()
    ref = transcript(pc)
    pc.close()
finally:
    plain.kill()

q = qgapeer.Quiesced(scratch, backend=SAFE)
tap.ok(wait_running(q), "the backend qemu-ga is started and greeted", backend(q))
c = q.client()
got = transcript(c)

for name in TABLE:
    (rline, r), (gline, g) = ref[name], got[name]
    tap.ok(r is not None and "return" in r, "%s: the plain qemu-ga answers it" % name, r)
    tap.eq(shape(g), shape(r), "%s: the same answer shape through quiesced" % name)
    if name in SAME_VALUE:
        tap.eq(g, r, "%s: the same answer" % name)
# Relayed byte for byte: qemu-ga's own formatting, not json-c's.
tap.eq(got["guest-get-host-name"][0], ref["guest-get-host-name"][0],
       "guest-get-host-name: the very same bytes")
fs_root = [x for x in got["guest-get-fsinfo"][1]["return"] if x.get("mountpoint") == "/"]
ref_root = [x for x in ref["guest-get-fsinfo"][1]["return"] if x.get("mountpoint") == "/"]
tap.eq([shape(x) for x in fs_root], [shape(x) for x in ref_root],
       "guest-get-fsinfo: the root filesystem's entry has the same members")
def not_loops(a):
    return sorted((x for x in a[1]["return"] if not x["name"].startswith("/dev/loop")),
                  key=lambda x: x["name"])


tap.eq(not_loops(got["guest-get-disks"]), not_loops(ref["guest-get-disks"]),
       "guest-get-disks: the same disks, loop devices aside")
names = lambda a: sorted(x["name"] for x in a[1]["return"])  # noqa: E731
tap.eq(names(got["guest-network-get-interfaces"]), names(ref["guest-network-get-interfaces"]),
       "guest-network-get-interfaces: the same interfaces")

(re, rs), (ge, gs) = ref["exec"], got["exec"]
tap.eq(shape(ge), shape(re), "guest-exec: the same answer shape")
tap.ok(gs and gs.get("return", {}).get("exited") and
       base64.b64decode(gs["return"].get("out-data", "")) == b"hello from guest-exec\n",
       "guest-exec-status: the command's output through quiesced", gs)
tap.eq(shape(gs), shape(rs), "guest-exec-status: the same answer shape")
(ro, rr, rc), (go, gr, gc) = ref["file"], got["file"]
tap.eq(shape(go), shape(ro), "guest-file-open: the same answer shape")
tap.eq(gr, rr, "guest-file-read: the same answer (the file's bytes)")
tap.eq(gc, rc, "guest-file-close: the same answer")

info, rinfo = got["guest-info"][1]["return"], ref["guest-info"][1]["return"]
gcmds = {x["name"]: x for x in info["supported_commands"]}
rcmds = {x["name"]: x for x in rinfo["supported_commands"]}
tap.eq(info["version"], rinfo["version"], "guest-info: qemu-ga's version")
tap.eq(sorted(set(rcmds) - set(gcmds)), [], "guest-info: every command of qemu-ga is listed")
tap.eq(len(info["supported_commands"]), len(gcmds), "guest-info: each command once")
tap.eq({n: (x["enabled"], x["success-response"]) for n, x in gcmds.items() if n not in FSFREEZE},
       {n: (x["enabled"], x["success-response"]) for n, x in rcmds.items() if n not in FSFREEZE},
       "guest-info: the same enabled and success-response flags as qemu-ga")
tap.eq([gcmds[n]["enabled"] for n in FSFREEZE], [True] * 4,
       "guest-info: the fsfreeze family is quiesced's, enabled")
tap.eq(call(c, "guest-no-such", id=3),
       {"error": {"class": "CommandNotFound", "desc": "The command guest-no-such has not been found"},
        "id": 3}, "an unknown command: qemu-ga's CommandNotFound")

# ---------------------------------------------------------------- frozen

tap.eq(call(c, "guest-fsfreeze-freeze-list", {"mountpoints": [M0]}), {"return": 1},
       "freeze-list of the scratch mount: 1")
tap.eq(call(c, "guest-get-time", id="t"),
       {"error": {"class": "CommandNotFound",
                  "desc": "Command guest-get-time has been disabled: the agent is in frozen state"},
        "id": "t"}, "frozen: a forwarded command gets qemu-ga's disabled error")
finfo = {x["name"]: x["enabled"] for x in call(c, "guest-info")["return"]["supported_commands"]}
allow = {"guest-ping", "guest-info", "guest-sync", "guest-sync-delimited", "guest-fsfreeze-status",
         "guest-fsfreeze-thaw"}
tap.eq(sorted(n for n, e in finfo.items() if e), sorted(allow),
       "frozen: guest-info enables qemu-ga 7.2's allow-list alone")
tap.eq(call(c, "guest-fsfreeze-thaw"), {"return": 1}, "thaw: 1")
tap.ok("return" in (call(c, "guest-get-time") or {}), "thawed: forwarded again")

# ---------------------------------------------------------------- death and restart

pid = backend(q).get("pid")
os.kill(pid, signal.SIGKILL)
tap.ok(wait_running(q, pid), "killed outside a freeze: a new backend runs", backend(q))
tap.ok("return" in (call(c, "guest-get-host-name") or {}), "and answers")
tap.eq(call(c, "guest-fsfreeze-freeze-list", {"mountpoints": [M0]}), {"return": 1},
       "freeze again")
pid = backend(q).get("pid")
os.kill(pid, signal.SIGKILL)
tap.ok(wait_running(q, pid), "killed while frozen: a new backend runs", backend(q))
tap.eq(call(c, "guest-fsfreeze-status"), {"return": "frozen"}, "the freeze is untouched")
tap.ok(qtest.is_frozen(M0), "the scratch mount is still frozen")
tap.eq(call(c, "guest-fsfreeze-thaw"), {"return": 1}, "and thaws: 1")
tap.ok("return" in (call(c, "guest-get-host-name") or {}), "the new backend answers")
tap.ok("is lost" in q.read_log(), "the log says the backend's state is lost")


def pidfds(pid):
    """quiesced's pidfds: one per process it watches (the guardian, the backend)."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[pidfd]"
        except OSError:
            pass
    return n


# A dead backend's pidfd stays readable: kept in the loop it would spin it for ever.
tap.eq(pidfds(q.proc.pid), 2, "after two restarts quiesced watches two processes (pidfds)")

# ---------------------------------------------------------------- resync

c.close()
half = q.client()
half.send_raw(b'{"execute":"guest-get-time","arguments":{')
time.sleep(0.2)
half.close()
c = q.client()
c.send_raw(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":77}}\n')
tap.eq(c.reply(), (False, {"error": {"class": "GenericError",
                                     "desc": "JSON parse error, stray '\ufffd'"}}),
       "resync after a reconnect: the 0xFF's error")
tap.eq(c.reply(), (True, {"return": 77}), "then the delimited sync's answer")
tap.ok("return" in (call(c, "guest-get-time", id=1) or {}), "then forwarded commands again")
c.close()
st = status(q)["qga_backend"]
tap.ok(st.get("forwarded", 0) >= 15 and st.get("timeouts") == 0,
       "status: commands passed through, none timed out", st)
out = subprocess.run([qtest.bin_path("quiescectl"), "--socket", q.control, "status"],
                     stdout=subprocess.PIPE, text=True).stdout
tap.ok("qga:     qemu-ga 7.2" in out and "running" in out, "quiescectl status shows the backend",
       out)
tap.eq(q.stop(), 0, "quiesced stops cleanly")
tap.ok(not qtest.wait_for(lambda: False, 0) and
       subprocess.run(["pgrep", "-P", str(q.proc.pid)], stdout=subprocess.PIPE).stdout == b"",
       "and leaves no child behind")

# ---------------------------------------------------------------- a hung command

HANG_S = 6
q2 = qgapeer.Quiesced(scratch, backend=SAFE, name="q2",
                      extra=["--qga-backend-timeout", str(HANG_S)])
wait_running(q2)
a, b = q2.client(), q2.client()


def hang(c, id):
    """Stop the backend, then send it a command: it hangs there until killed."""
    assert wait_running(q2)
    os.kill(backend(q2)["pid"], signal.SIGSTOP)
    send(c, "guest-get-time", id=id)


t0 = time.monotonic()
hang(a, "hang")
time.sleep(0.3)
tap.eq(call(b, "guest-fsfreeze-freeze-list", {"mountpoints": [M0]}, id="f"),
       {"return": 1, "id": "f"}, "another client's freeze while a command hangs in qemu-ga")
tap.eq(call(b, "guest-fsfreeze-thaw", id="t"), {"return": 1, "id": "t"}, "and its thaw")
tap.ok(time.monotonic() - t0 < HANG_S - 1, "neither waited for the hung command")
r = a.reply(HANG_S + 10)
waited = time.monotonic() - t0
e = (r[1] if r else {}).get("error", {})
tap.ok(r and r[1].get("id") == "hang" and e.get("class") == "GenericError" and
       "was restarted" in e.get("desc", "") and "is lost" in e.get("desc", ""),
       "the hung command gets an error saying the backend was restarted and its state lost", r)
tap.ok(HANG_S - 0.5 <= waited < HANG_S + 8, "after --qga-backend-timeout (%.1f s)" % waited)
tap.ok("return" in (call(a, "guest-get-time", timeout=15) or {}),
       "the next command is served by a new backend")
tap.eq(backend(q2).get("timeouts"), 1, "status counts the timeout")

# The same client's thaw behind its own hung command cuts the wait short.
t0 = time.monotonic()
hang(a, "h2")
time.sleep(0.2)
send(a, "guest-fsfreeze-freeze-list", {"mountpoints": [M0]}, id="f2")
r1, r2 = a.reply(HANG_S + 10), a.reply(10)
tap.ok(r1 and r1[1].get("id") == "h2" and "error" in r1[1], "first the hung command's error", r1)
tap.eq(r2, (False, {"return": 1, "id": "f2"}), "then the freeze behind it, in order")
tap.ok(time.monotonic() - t0 < HANG_S - 2,
       "within about a second, not the timeout (%.1f s)" % (time.monotonic() - t0))
tap.eq(call(a, "guest-fsfreeze-thaw", id="t2"), {"return": 1, "id": "t2"}, "thaw")

# A host that gave up on an answer resyncs with 0xFF + guest-sync-delimited.
hang(a, "h3")
tap.ok(a.reply(0.5) is None, "a host's own timeout on a hung command")
t0 = time.monotonic()
tap.ok(a.sync(), "its guest-sync-delimited resync succeeds")
tap.ok(time.monotonic() - t0 < HANG_S - 2, "without waiting for the timeout")
tap.eq(call(a, "guest-get-host-name", id="hn").get("id"), "hn",
       "and the next answer is the next command's")
a.close()
b.close()
tap.eq(q2.stop(), 0, "quiesced stops cleanly")

# ---------------------------------------------------------------- no success answer (fake)

os.environ["FAKE_QGA_LOG"] = os.path.join(scratch.dir, "fake.log")
q3 = qgapeer.Quiesced(scratch, backend=FAKE, name="q3")
tap.ok(wait_running(q3), "a stand-in backend for guest-shutdown (it shuts nothing down)")
c = q3.client()
sd = [x for x in call(c, "guest-info")["return"]["supported_commands"]
      if x["name"] == "guest-shutdown"]
tap.eq(sd, [{"enabled": True, "name": "guest-shutdown", "success-response": False}],
       "guest-info: guest-shutdown has no success answer")
c.send_raw(b'{"execute":"guest-shutdown","id":"s"}\n')
tap.ok(c.reply(1.0) is None, "guest-shutdown: no answer, as from qemu-ga")
tap.eq(call(c, "guest-get-time", id="t"), {"return": 1234567890, "id": "t"},
       "the next command is answered at once, as its own")
with open(os.environ["FAKE_QGA_LOG"]) as f:
    seen = [json.loads(x)["execute"] for x in f.read().splitlines()]
tap.eq(seen[-3:], ["guest-shutdown", "guest-sync", "guest-get-time"],
       "quiesced followed it with a guest-sync of its own")
c.send_raw(b'{"execute":"guest-shutdown","arguments":{"mode":"bogus"},"id":"b"}\n')
tap.eq(c.reply(), (False, {"error": {"class": "GenericError", "desc":
                                     "mode is invalid (valid values are: halt|powerdown|reboot"},
                           "id": "b"}), "but its error, if any, is relayed")
c.close()
tap.eq(q3.stop(), 0, "quiesced stops cleanly")

# ---------------------------------------------------------------- no backend

q4 = qgapeer.Quiesced(scratch, backend="/nonexistent/qemu-ga", name="q4")
c = q4.client()
tap.eq(call(c, "guest-get-time", id=1),
       {"error": {"class": "CommandNotFound", "desc": "The command guest-get-time has not been found"},
        "id": 1}, "without qemu-ga: other commands are not found")
tap.eq(call(c, "guest-fsfreeze-status"), {"return": "thawed"}, "the fsfreeze family is served")
st = backend(q4)
tap.ok(st.get("state") == "none" and "/nonexistent/qemu-ga not found" in st.get("reason", ""),
       "status says there is no backend, and why", st)
out = subprocess.run([qtest.bin_path("quiescectl"), "--socket", q4.control, "status"],
                     stdout=subprocess.PIPE, text=True).stdout
tap.ok("fsfreeze commands only" in out, "quiescectl status says so", out)
c.close()
tap.eq(q4.stop(), 0, "quiesced stops cleanly")
tap.eq(q4.read_log().count("no qemu-ga backend"), 1, "the log says so once")

tap.exit()
