#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesced --qga: the wire protocol, on a Unix socket and on a character device.

Requests and their exact answers (qemu-ga 7.2's texts), id echo, guest-sync and
guest-sync-delimited, the 0xFF resync, garbage, partial and oversized input, deep
nesting, a client that never reads, too many clients, the socket's mode, and the
same commands on the control socket. Freezing is in qga_states.py."""

import json
import os
import pty
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import qgapeer  # noqa: E402
from qgapeer import QgaClient  # noqa: E402

tap = qtest.start()

FF_ERROR = {"error": {"class": "GenericError", "desc": "JSON parse error, stray '\ufffd'"}}


def err(klass, desc):
    return {"error": {"class": klass, "desc": desc}}


def generic(desc):
    return err("GenericError", desc)


def raw_replies(c, data, fence_id=None):
    """Send data, then a guest-sync fence; return the parsed replies before it."""
    fence_id = fence_id or int(time.monotonic() * 1e6) & 0x7FFFFFFF
    c.send_raw(data + b'\n{"execute":"guest-sync","arguments":{"id":%d}}\n' % fence_id)
    out = []
    while True:
        r = c.reply()
        if r is None:
            out.append("<no reply>")
            return out
        if r[1] == {"return": fence_id}:
            return out
        out.append(r if r[0] else r[1])


scratch = qtest.Scratch(n=1)
q = qgapeer.Quiesced(scratch)
c = q.client()

# ---------------------------------------------------------------- the socket

st = os.stat(q.qga)
tap.ok(stat.S_ISSOCK(st.st_mode), "--qga on a path that is not a device listens on a Unix socket")
tap.eq(stat.S_IMODE(st.st_mode), 0o600, "the socket is root-only (the peer may freeze)")

# ---------------------------------------------------------------- requests and answers

tap.eq(c.call("guest-ping"), {"return": {}}, "guest-ping")
tap.eq(c.call("guest-ping", id=5), {"return": {}, "id": 5}, "an integer id is echoed")
tap.eq(c.call("guest-ping", id={"a": [1, "x"]}), {"return": {}, "id": {"a": [1, "x"]}},
       "any JSON id is echoed as is")
tap.eq(raw_replies(c, b'{"execute":"guest-ping","id":null}'), [{"return": {}, "id": None}],
       "\"id\": null is echoed")
tap.eq(c.call("guest-sync", {"id": 1234}), {"return": 1234}, "guest-sync returns its id")
tap.eq(c.call("guest-sync", {"id": -9223372036854775808}, id="x"),
       {"return": -9223372036854775808, "id": "x"}, "guest-sync: int64 minimum, and request id")
tap.eq(c.call("guest-sync", {"id": 9223372036854775807}), {"return": 9223372036854775807},
       "guest-sync: int64 maximum")
tap.eq(c.call("guest-sync", {"id": 9223372036854775808}),
       generic("Invalid parameter type for 'id', expected: integer"),
       "guest-sync: above int64 is not an integer")
tap.eq(c.call("guest-sync", {"id": 1.5}),
       generic("Invalid parameter type for 'id', expected: integer"), "guest-sync: 1.5 refused")
tap.eq(c.call("guest-sync", {"id": "7"}),
       generic("Invalid parameter type for 'id', expected: integer"), "guest-sync: string refused")
tap.eq(c.call("guest-sync"), generic("Parameter 'id' is missing"), "guest-sync: id missing")
tap.eq(c.call("guest-sync", {"id": 1, "x": 2}), generic("Parameter 'x' is unexpected"),
       "guest-sync: unexpected parameter")
tap.eq(c.call("guest-sync", {"id": "s", "x": 2}, id=7),
       {"error": {"class": "GenericError",
                  "desc": "Invalid parameter type for 'id', expected: integer"}, "id": 7},
       "declared parameters are checked before unexpected ones; errors echo the id")
tap.eq(c.call("guest-ping", {"x": None}), generic("Parameter 'x' is unexpected"),
       "guest-ping takes no arguments")

c.send_raw(b'{"execute":"guest-sync-delimited","arguments":{"id":99},"id":"d"}\n')
line = c.read_line()
tap.ok(line is not None and line.startswith(b"\xff"), "guest-sync-delimited: answer prefixed with 0xFF",
       repr(line))
tap.eq(json.loads(line[1:]) if line else None, {"return": 99, "id": "d"},
       "guest-sync-delimited: returns its id, echoes the request id")
c.send_raw(b'{"execute":"guest-sync-delimited"}\n')
line = c.read_line()
tap.ok(line is not None and not line.startswith(b"\xff") and
       json.loads(line) == generic("Parameter 'id' is missing"),
       "guest-sync-delimited: an error is not delimited", repr(line))

tap.eq(c.call("guest-no-such-thing", id=4),
       {"error": {"class": "CommandNotFound",
                  "desc": "The command guest-no-such-thing has not been found"}, "id": 4},
       "unknown command: CommandNotFound")
tap.eq(c.call("quiesce-status"),
       err("CommandNotFound", "The command quiesce-status has not been found"),
       "quiesce's own commands are not served on the agent channel")
tap.eq(raw_replies(c, b'{"execute":5,"id":6}'),
       [{"error": {"class": "GenericError", "desc": "QMP input member 'execute' must be a string"},
         "id": 6}], "execute must be a string")
tap.eq(raw_replies(c, b'{"execute":"guest-ping","arguments":[]}'),
       [generic("QMP input member 'arguments' must be an object")], "arguments must be an object")
tap.eq(raw_replies(c, b'{"execute":"guest-ping","control":1}'),
       [generic("QMP input member 'control' is unexpected")], "unexpected request member")
tap.eq(raw_replies(c, b'{"exec-oob":"guest-ping"}'),
       [generic("QMP input member 'exec-oob' is unexpected")], "exec-oob is not accepted")
tap.eq(raw_replies(c, b'{"id":3}'),
       [{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}, "id": 3}],
       "execute missing")
tap.eq(raw_replies(c, b'[1,2] 42 "s"'), [generic("QMP input must be a JSON object")] * 3,
       "values that are not objects")
tap.eq(raw_replies(c, b'{"execute":"guest-ping"}{"execute":"guest-ping","id":2}'),
       [{"return": {}}, {"return": {}, "id": 2}], "two requests on one line, no separator")
tap.eq(raw_replies(c, b'  \r\n\t {"execute":\n"guest-ping"\n}'), [{"return": {}}],
       "whitespace and newlines inside and between requests")
tap.eq(raw_replies(c, b"{'execute':'guest-ping'}"), [{"return": {}}],
       "single-quoted strings (qemu-ga accepts them too)")

info = c.call("guest-info")["return"]
names = [x["name"] for x in info["supported_commands"]]
tap.eq(info["version"], subprocess.run([qtest.bin_path("quiesced"), "--version"],
                                       stdout=subprocess.PIPE, text=True).stdout.split()[-1],
       "guest-info: quiesced's version")
tap.eq(sorted(names), sorted(["guest-sync", "guest-sync-delimited", "guest-ping", "guest-info",
                              "guest-fsfreeze-status", "guest-fsfreeze-freeze",
                              "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw"]),
       "guest-info: exactly the commands served")
tap.ok(all(x["enabled"] is True and x["success-response"] is True and
           sorted(x) == ["enabled", "name", "success-response"]
           for x in info["supported_commands"]),
       "guest-info: each enabled, with success-response, qemu-ga's three members")

# ---------------------------------------------------------------- resync and garbage

tap.eq(raw_replies(c, b'\xff'), [FF_ERROR], "a lone 0xFF: qemu-ga's stray-byte error")
tap.eq(raw_replies(c, b'{"execute":"guest-sync","arguments":{"id":\xff{"execute":"guest-ping","id":1}'),
       [FF_ERROR, {"return": {}, "id": 1}],
       "0xFF mid-object drops the partial object; the next one is served")
c.send_raw(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":42}}\n')
got = [c.reply(), c.reply()]
tap.eq(got, [(False, FF_ERROR), (True, {"return": 42})],
       "0xFF then guest-sync-delimited, as a host resyncs: the error, then the delimited answer")

r = raw_replies(c, b'garbage')
tap.ok(len(r) == 1 and r[0]["error"]["class"] == "GenericError" and
       r[0]["error"]["desc"].startswith("JSON parse error, ") and "id" not in r[0],
       "garbage: one GenericError 'JSON parse error, ...'", r)
r = raw_replies(c, b'{"execute":"guest-ping", "id": 1}]]]')
tap.ok(len(r) == 2 and r[0] == {"return": {}, "id": 1} and
       r[1]["error"]["desc"].startswith("JSON parse error"),
       "a good request followed by junk on its line: answered, then one error", r)
r = raw_replies(c, b'{"execute":"guest-ping", "id": "\xc3"}')
tap.ok(len(r) == 1 and r[0]["error"]["desc"].startswith("JSON parse error"),
       "invalid UTF-8 in a string is a parse error", r)
r = raw_replies(c, b'\x00\x01\x02\x03\x04')
tap.ok(len(r) >= 1 and all("error" in x for x in r), "control bytes: errors", r)
tap.eq(c.call("guest-ping"), {"return": {}}, "still served after all that")

# ---------------------------------------------------------------- limits

deep = b'{"execute":"guest-ping","id":' + b'[' * 40 + b']' * 40 + b'}'
r = raw_replies(c, deep)
tap.eq(r, [generic("JSON nesting depth limit exceeded")], "nesting deeper than 32: one error")
ok_deep = b'{"execute":"guest-ping","id":' + b'[' * 30 + b']' * 30 + b'}'
r = raw_replies(c, ok_deep)
tap.ok(len(r) == 1 and r[0].get("return") == {}, "nesting of 31 is served", r)

big = b'{"execute":"guest-ping","id":"' + b'a' * (70 * 1024) + b'"}'
r = raw_replies(c, big)
tap.eq(r, [generic("JSON token size limit exceeded")],
       "a 70 KiB request: one error, the rest of its line is dropped")
fits = b'{"execute":"guest-ping","id":"' + b'b' * (60 * 1024) + b'"}'
r = raw_replies(c, fits)
tap.ok(len(r) == 1 and r[0].get("return") == {} and len(r[0].get("id", "")) == 60 * 1024,
       "a 60 KiB request is served", str(r)[:200])
# A huge line without newline, in pieces: the daemon keeps nothing of it.
c.send_raw(b'{"execute":"guest-ping","id":"')
for _ in range(64):
    c.send_raw(b'z' * 65536)
c.send_raw(b'"}\n')
r = c.reply()
tap.eq(r, (False, generic("JSON token size limit exceeded")), "4 MiB in pieces: one error")
tap.eq(c.call("guest-ping", id="after"), {"return": {}, "id": "after"},
       "and the connection goes on after the oversized line")

# ---------------------------------------------------------------- clients

# A partial request left by one client must not prefix the next client's input
# (qemu-ga keeps its parser across clients; see qga_compat.py).
c2 = q.client()
c2.send_raw(b'{"execute":"guest-sync","arguments":{"id":')
time.sleep(0.2)
c2.close()
c3 = q.client()
r = raw_replies(c3, b'12}}')
tap.ok(len(r) >= 1 and r[0] == generic("QMP input must be a JSON object") and
       {"return": 12} not in r,
       "a truncated request then disconnect: the next client starts clean", r)
c3.close()

# A client that sends and never reads is dropped once 1 MiB of answers is queued.
hog = socket.socket(socket.AF_UNIX)
hog.connect(q.qga)
hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
req = b'{"execute":"guest-info"}\n' * 100
dropped = False
hog.settimeout(0.5)
try:
    for _ in range(400):
        hog.sendall(req)
except (BrokenPipeError, ConnectionResetError):
    dropped = True
except socket.timeout:
    pass
if not dropped:
    # Its answers were queued; the daemon must have hung up: read to the end.
    hog.settimeout(10)
    try:
        while hog.recv(1 << 20):
            pass
        dropped = True
    except ConnectionResetError:
        dropped = True
    except socket.timeout:
        pass
tap.ok(dropped and "does not read its replies" in q.read_log(),
       "a client that never reads is dropped", q.read_log()[-500:])
hog.close()
tap.eq(c.call("guest-ping"), {"return": {}}, "the others are still served")

extra = [q.client() for _ in range(3)]  # c + 3 = 4, the most served at once
tap.eq([x.call("guest-ping") for x in extra], [{"return": {}}] * 3, "four clients at once")
fifth = q.client()
r = fifth.reply(timeout=5)
tap.ok(r is not None and r[1]["error"]["desc"].startswith("too many clients"),
       "a fifth is refused with an error", r)
tap.ok(fifth.read_line(timeout=5) is None and fifth.eof, "and hung up on")
for x in extra + [fifth]:
    x.close()


def served_again():
    """A new client is answered (not refused as too many): once quiesced has seen the
    others go, which it does when its loop gets to their hang-ups."""
    c4 = q.client()
    try:
        return c4.call("guest-ping") == {"return": {}}
    except (OSError, ValueError):
        return False
    finally:
        c4.close()


tap.ok(qtest.wait_for(served_again, 5 * qtest.SLOW, 0.05), "a client is served again once others left")

# ---------------------------------------------------------------- the control socket

ctl = QgaClient(q.control)
tap.eq(ctl.call("guest-sync", {"id": 5}), {"return": 5}, "control socket: guest-sync")
tap.eq(ctl.call("guest-fsfreeze-status"), {"return": "thawed"},
       "control socket: guest-fsfreeze-status")
st = ctl.call("quiesce-status")
tap.ok("return" in st and st["return"]["state"] == "idle",
       "control socket: and quiesce's own commands", st)
ctl.close()
os.chmod(scratch.dir, 0o711)  # let uid 65534 reach the control socket
nobody = subprocess.run(
    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
     "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
     "s.sendall(b'{\"execute\":\"guest-fsfreeze-thaw\"}\\n')\nprint(s.recv(4096).decode())",
     q.control], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
tap.ok('"PermissionDenied"' in nobody.stdout,
       "control socket: guest-fsfreeze-thaw needs root there", nobody.stdout + nobody.stderr)

rc = q.stop()
tap.eq(rc, 0, "quiesced exits cleanly")
tap.ok(not os.path.exists(q.qga), "and removes its socket")

# ---------------------------------------------------------------- a regular file is not replaced

path = os.path.join(scratch.dir, "not-a-socket")
with open(path, "w") as f:
    f.write("keep me\n")
p = subprocess.run([qtest.bin_path("quiesced"), "-n", "--scope", scratch.mnt, "--config",
                    "/dev/null", "--run-dir", scratch.dir, "--control",
                    os.path.join(scratch.dir, "c2.sock"), "--qga", path],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=10,
                   env=dict(os.environ, QUIESCE_REQUIRE_SCOPE="1"))
tap.ok(p.returncode != 0 and open(path).read() == "keep me\n",
       "--qga on a regular file: refused, the file is left alone", p.stdout)

missing = "/dev/quiesce-test-no-such-port-%d" % os.getpid()
q3 = qgapeer.Quiesced(scratch, qga=False, name="q3", extra=["--qga", missing])
qtest.wait_for(lambda: "retrying" in q3.read_log(), 5 * qtest.SLOW, 0.05)
tap.ok(q3.proc.poll() is None and not os.path.exists(missing) and
       "retrying" in q3.read_log(),
       "--qga on a /dev path that is not there yet: waits for it, makes no socket there",
       q3.read_log())
tap.eq(q3.stop(), 0, "  and stops cleanly")

# ---------------------------------------------------------------- a character device

master, slave = pty.openpty()
slave_path = os.ttyname(slave)
os.close(slave)  # quiesced opens it by name
q2 = qgapeer.Quiesced(scratch, qga=slave_path, name="q2")
time.sleep(0.3)


def dev_exchange(data, timeout=5):
    os.write(master, data)
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf and time.monotonic() < deadline:
        import select
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            buf += os.read(master, 65536)
    return buf


out = dev_exchange(b'{"execute":"guest-ping","id":1}\n')
tap.eq(out, b'{"return":{},"id":1}\n', "a character device (a pty): served, no echo")
out = dev_exchange(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":3}}\n')
lines = out.split(b"\n")
while len(lines) < 3 and out:
    more = dev_exchange(b"", 2)
    if not more:
        break
    out += more
    lines = out.split(b"\n")
tap.ok(len(lines) >= 2 and json.loads(lines[0]) == FF_ERROR and lines[1] == b'\xff{"return":3}',
       "raw mode: 0xFF reaches the parser and goes out as the sentinel", out)
tap.ok(q2.proc.poll() is None, "quiesced keeps the device open")
os.close(master)
time.sleep(1.5)
tap.ok(q2.proc.poll() is None, "the other side gone: quiesced goes on (and retries the device)",
       q2.read_log()[-800:])
tap.eq(q2.stop(), 0, "and stops cleanly")

tap.exit()
