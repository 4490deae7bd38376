#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The app socket against bad peers. Every malformed frame (wrong size, unknown op,
bad status, mismatched op or msgid, msgid 0, reserved bytes, oversize garbage, a frame
carrying a file descriptor, a reply nobody asked for) gets that app dropped and logged
while the daemon and the other apps go on. Bad hellos get the right refusal code and
a close; a silent connection is closed after 5 s. Limits and access control: name
taken, too many apps, connection rate, non-root refused when the socket mode lets it
connect, a configured group allowed."""
import array
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
from apptest import Sim  # noqa: E402
from appproto import (FREEZE, THAW, SUCCESS, F_OPTIONAL, RawApp, Timeout, pack_msg,  # noqa: E402
                      pack_hello, unpack_welcome, ACCEPTED, REFUSED_VERSION, REFUSED_HELLO,
                      REFUSED_NAME, REFUSED_NAME_TAKEN, REFUSED_TOO_MANY, REFUSED_PERMISSION)

t = qtest.start(needs=("appvss-sim",))

NOBODY = 65534
s = qtest.Scratch(n=1)
os.chmod(s.dir, 0o755)   # unprivileged clients must reach the sockets
d = qtest.Daemon(s, "--max-apps", "4", timeout=2)
sims = []


def closed(app, timeout=3.0):
    try:
        return app.recv(timeout * qtest.SLOW) == b""
    except Timeout:
        return False


def freeze_with_bad(name, bad_frame, required=False):
    """Register a raw app, freeze, answer the FREEZE with bad_frame(msgid); returns
    (closed by the daemon, freeze answer)."""
    app, w = apptest.raw(d, name, 0 if required else F_OPTIONAL)
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    opt, _, msgid = app.request()
    frame = bad_frame(msgid)
    if isinstance(frame, tuple):       # (data, fds): send with SCM_RIGHTS
        data, fds = frame
        app.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        app.send(frame)
    gone = closed(app)
    th.join(30)
    app.close()
    if box["ans"][0] is not None:
        apptest.answer(d, "quiesce-thaw")
    return gone, box["ans"]


try:
    good = Sim(d, "good")
    sims.append(good)

    devnull = os.open("/dev/null", os.O_RDONLY)
    cases = [
        ("short", lambda m: pack_msg(FREEZE, m)[:63], "wrong frame size 63"),
        ("oversize", lambda m: pack_msg(FREEZE, m) + b"\0" * 136, "wrong frame size 200"),
        ("huge", lambda m: b"\xee" * 4096, "a frame longer than any frame"),
        ("unknown-op", lambda m: pack_msg(7, m), "unknown operation"),
        ("bad-status", lambda m: pack_msg(FREEZE, m, status=2), "bad status"),
        ("msgid-zero", lambda m: pack_msg(FREEZE, 0), "msgid is zero"),
        ("reserved", lambda m: pack_msg(FREEZE, m, reserved=b"x"), "reserved bytes not zero"),
        ("bad-msgid", lambda m: pack_msg(FREEZE, m + 1), "reply does not match the request"),
        ("wrong-op", lambda m: pack_msg(THAW, m), "reply does not match the request"),
        ("with-fd", lambda m: (pack_msg(FREEZE, m), [devnull]), "a frame with ancillary data"),
    ]
    for name, frame, logged in cases:
        gone, (ret, err, rep) = freeze_with_bad(name, frame)
        t.ok(gone, "%s: the app is dropped" % name)
        t.ok(ret is not None and apptest.app_results(rep, "freeze").get("good") == "ok",
             "%s: the freeze goes on with the good app (the bad one was optional)" % name, repr(err))
        t.eq(apptest.app_results(rep, "freeze").get(name), "disconnected", "%s: reported as disconnected" % name)
        t.ok(qtest.wait_for(lambda: "app %s (id" % name in d.log_text() and logged in d.log_text(), 3),
             "%s: the log names the app and the reason (%s)" % (name, logged))
    os.close(devnull)

    gone, (ret, err, rep) = freeze_with_bad("garbage", lambda m: b"garbage")
    t.ok(gone and ret is not None, "an optional app sending 7 bytes of garbage is dropped, the freeze goes on")
    gone, (ret, err, rep) = freeze_with_bad("required-bad", lambda m: b"garbage", required=True)
    t.ok(gone and err and "required-bad" in err.get("desc", "") and "disconnected" in err.get("desc", ""),
         "... and, being required, fails the freeze", repr(err))
    t.eq(s.frozen(), [], "nothing frozen")

    # A reply nobody asked for, and an empty record (a hang-up on SEQPACKET).
    idle, _ = apptest.raw(d, "chatty", F_OPTIONAL)
    idle.send(pack_msg(FREEZE, 1))
    t.ok(closed(idle), "an idle app sending a reply nobody asked for is dropped")
    t.ok(qtest.wait_for(lambda: "reply to a request that was not asked" in d.log_text(), 3), "... logged")
    empty, _ = apptest.raw(d, "empty", F_OPTIONAL)
    empty.send(b"")
    t.ok(closed(empty), "an empty record counts as a hang-up")

    # ---- hellos
    def hello(raw_bytes):
        a = RawApp(apptest.app_socket(d))
        a.send(raw_bytes)
        try:
            w = unpack_welcome(a.recv(3 * qtest.SLOW))
        except (Timeout, ValueError) as e:
            a.close()
            return None, False
        gone = closed(a)
        a.close()
        return w, gone

    for what, raw_bytes, want in [
        ("a 64-byte frame first", pack_msg(FREEZE, 1), REFUSED_HELLO),
        ("a bad magic", pack_hello("x", magic=b"QAPX"), REFUSED_HELLO),
        ("unknown flags", pack_hello("x", flags=2), REFUSED_HELLO),
        ("reserved bytes", pack_hello("x", reserved=b"r"), REFUSED_HELLO),
        ("a short hello", pack_hello("x")[:100], REFUSED_HELLO),
        ("oversize garbage", b"QAPH" + b"\x01" * 600, REFUSED_HELLO),
        ("version 3", pack_hello("x", version=3), REFUSED_VERSION),
        ("a name with a space", pack_hello("has space"), REFUSED_NAME),
        ("an empty name", pack_hello(""), REFUSED_NAME),
    ]:
        w, gone = hello(raw_bytes)
        # A version refusal names the highest version spoken (2); the others answer in 1.
        t.ok(w is not None and w["result"] == want and w["app_id"] == 0 and gone and
             w["version"] == (2 if want == REFUSED_VERSION else 1),
             "hello with %s: refused with %d and closed" % (what, want), repr(w))

    silent = RawApp(apptest.app_socket(d))
    t0 = time.monotonic()
    got = silent.recv(10 * qtest.SLOW)
    took = time.monotonic() - t0
    t.ok(got == b"" and 4.5 < took < 8 * qtest.SLOW,
         "a connection that never says hello is closed without an answer after 5 s (%.1f s)" % took)
    silent.close()

    # ---- limits: name taken, --max-apps 4 (good + 3)
    dup, w = apptest.raw(d, "good")
    t.eq(w["result"], REFUSED_NAME_TAKEN, "a name held by a live app: REFUSED_NAME_TAKEN")
    t.ok(closed(dup), "... and closed")
    extra = [apptest.raw(d, "extra%d" % i)[0] for i in range(3)]
    over, w = apptest.raw(d, "one-too-many")
    t.eq(w["result"], REFUSED_TOO_MANY, "beyond --max-apps: REFUSED_TOO_MANY")
    t.ok(closed(over), "... and closed")
    for a in extra:
        a.close()
    t.ok(apptest.wait_apps(d, 1), "the extra apps are gone")
    ret, err, rep = apptest.answer(d, "quiesce-freeze")
    t.ok(ret is not None and apptest.app_results(rep, "freeze") == {"good": "ok"},
         "after all of that, the good app still freezes", repr(err))
    ret, err, rep = apptest.answer(d, "quiesce-thaw")
    t.ok(ret is not None and good.events("THAW"), "and thaws")
    t.eq(good.events("DISCONNECT"), [], "the good app never lost its connection")
    t.eq(d.state(), "idle", "the daemon answers")
finally:
    apptest.stop_all(sims)
    qtest.stop_clean(t, d)

NONROOT_HELLO = r"""
import socket, struct, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect": e.errno})); sys.exit(0)
s.send(struct.pack("=4sHHII64s48s", b"QAPH", 1, 0, 0, 0, sys.argv[2].encode().ljust(64, b"\0"), b"\0" * 48))
w = s.recv(256)
m, v, res, app_id, tmo, fl, _ = struct.unpack("=4sHHIII12s", w)
print(json.dumps({"result": res, "app_id": app_id}))
"""


def nonroot_register(daemon, name, uid=NOBODY, gid=NOBODY):
    r = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                        sys.executable, "-c", NONROOT_HELLO, apptest.app_socket(daemon), name],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"error": r.stderr}


# ---- access control: mode 0666 lets anyone connect, only root may register
d = qtest.Daemon(s, "--app-socket-mode", "0666")
try:
    t.eq(oct(os.stat(apptest.app_socket(d)).st_mode & 0o777), oct(0o666), "--app-socket-mode 0666 is applied")
    got = nonroot_register(d, "intruder")
    t.eq(got.get("result"), REFUSED_PERMISSION, "a non-root app may connect but is refused: REFUSED_PERMISSION")
    t.ok(qtest.wait_for(lambda: "uid 65534 gid 65534 may not register intruder" in d.log_text(), 3),
         "the refusal is logged with the peer's credentials")
    a, w = apptest.raw(d, "rootapp")
    t.eq(w["result"], ACCEPTED, "root still registers")
    a.close()
finally:
    qtest.stop_clean(t, d)

# ---- a group: the socket is 0660 root:GROUP and its members may register
d = qtest.Daemon(s, "--app-socket-group", "nogroup")
try:
    st = os.stat(apptest.app_socket(d))
    t.eq((oct(st.st_mode & 0o777), st.st_gid), (oct(0o660), NOBODY), "with a group the socket is 0660, owned by the group")
    got = nonroot_register(d, "member")
    t.eq(got.get("result"), ACCEPTED, "a member of the group may register")
    got = nonroot_register(d, "stranger", uid=1234, gid=1234)
    t.ok("connect" in got, "a non-member cannot even connect (the file mode)", repr(got))
finally:
    qtest.stop_clean(t, d)

# ---- connection rate: a burst of --max-apps, then --app-connect-rate per second
d = qtest.Daemon(s, "--max-apps", "3", "--app-connect-rate", "1")
try:
    results = []
    for i in range(4):
        a, w = apptest.raw(d, "burst%d" % i)
        results.append(w["result"])
        a.close()
    t.eq(results, [ACCEPTED, ACCEPTED, ACCEPTED, REFUSED_TOO_MANY],
         "after a burst of 3, a 4th connection at once is refused (REFUSED_TOO_MANY) though nobody is registered")
    t.ok(qtest.wait_for(lambda: "connections per second" in d.log_text(), 3), "the refusal names the rate")
    time.sleep(1.2)
    a, w = apptest.raw(d, "later")
    t.eq(w["result"], ACCEPTED, "a second later there is room again")
    a.close()
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
