#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvsim's own behaviour, against a hand-driven fake daemon (no filesystem is touched).

Each check is written so that the wrong kernel behaviour makes it fail: e.g. the
one-at-a-time check would see the second request early, the timer check would see the
THAW timeout used for FREEZE.
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
from hvsim import (HV_E_FAIL, VSS_OP_REGISTER, FakeDaemon, HvSim)  # noqa: E402

t = qtest.start(root=False, needs=("hvsim",))

_n = [0]


def sockname():
    _n[0] += 1
    return "@hvsim-proto-%d-%d" % (os.getpid(), _n[0])


def zeros_but(op):
    return bytes([op]) + bytes(11)


def st(line):
    return None if line is None else line.get("host_status")


# ------------------------------------------------------------ handshake

sim = HvSim(sockname())
d = FakeDaemon(sim.sock, register=False)
t.ok(sim.wait_line(lambda l: l.get("event") == "connected", 5), "connection is reported")
d.register(read_reply=False)
t.ok(sim.wait_line(lambda l: l.get("event") == "registered" and l.get("version") == 129, 5),
     "REGISTER1 is reported as registered, version 129")
# The kernel sets READY only when the 4-byte reply has been read (vss_register_done is
# the transport's on_read callback): a request before that read fails at once.
time.sleep(0.1)
r = sim.request("hot_backup")
t.eq((st(r), r.get("by"), r.get("reason")), ("0x80004005", "kernel", "not ready (no registered daemon)"),
     "request before the daemon read the handshake reply: HV_E_FAIL from the kernel")
reply = d.recv(2)
t.eq(reply, struct.pack("<I", 129), "handshake reply is exactly the 4-byte u32 129")
t.ok(sim.cmd("wait_daemon 5s").get("ok"), "wait_daemon succeeds once the reply was read")
t.ok(sim.events("ready"), "ready event after the reply was read")

# ------------------------------------------------------------ requests and replies

r_cmd = sim.cmd("send freeze")
msg = d.recv(2)
t.eq(msg, zeros_but(5), "FREEZE reaches the daemon as 12 zeroed bytes with only operation=5")
d.reply(msg, 0)
r = sim.op_result(r_cmd["seq"], 5)
t.eq((st(r), r.get("by"), r.get("reply_hex")), ("0x00000000", "daemon", "000000000000000000000000"),
     "daemon's reply 0 -> host HV_S_OK, reply bytes reported")

r_cmd = sim.cmd("send thaw")
msg = d.recv(2)
t.eq(msg, zeros_but(6), "THAW reaches the daemon as operation=6")
d.reply(msg, 0x12345678)
r = sim.op_result(r_cmd["seq"], 5)
t.eq(st(r), "0x12345678", "the host gets exactly the daemon's int error (not normalised)")

r_cmd = sim.cmd("send hot_backup")
msg = d.recv(2)
t.eq(msg, zeros_but(2), "HOT_BACKUP reaches the daemon as operation=2")
d.reply(msg, 0)
r = sim.op_result(r_cmd["seq"], 5)
t.eq((st(r), r.get("host_flags")), ("0x00000000", "0x00000000"),
     "HOT_BACKUP reply 0: error overlays operation, so no VSS_HBU_NO_AUTO_RECOVERY flag")
r_cmd = sim.cmd("send hot_backup")
msg = d.recv(2)
d.reply(msg, 2)  # operation byte 2 = HOT_BACKUP, as a daemon that keeps the op byte would
r = sim.op_result(r_cmd["seq"], 5)
t.eq(r.get("host_flags"), "0x00000005", "reply with operation byte 2 -> host flags VSS_HBU_NO_AUTO_RECOVERY")

# ------------------------------------------------------------ ops the kernel answers itself

for name, code in (("get_dm_info", 3), ("create", 0), ("delete", 1), ("bu_complete", 4),
                   ("auto_recover", 7), ("op 99", 99)):
    r = sim.request(name)
    t.eq((st(r), r.get("by"), r.get("code")), ("0x00000000", "kernel", code),
         "%s is answered HV_S_OK by the kernel" % name)
t.eq(d.recv(0.3), None, "none of them reached the daemon")
r_cmd = sim.cmd("send direct 99")
t.eq((r_cmd.get("ok"), r_cmd.get("cmd")), (False, "send"), "'send direct' is not a command")
sim.send("direct 99")
msg = d.recv(2)
t.eq(msg, zeros_but(99), "direct 99 bypasses the kernel's op filter and reaches the daemon")
d.reply(msg, 0x80004005)
r = sim.wait_line(lambda l: l.get("op") == "OP_99" and l.get("direct"), 5)
t.eq((st(r), r.get("by")), ("0x80004005", "daemon"), "direct op: the daemon's reply goes to the host")
sim.wait_line(lambda l: l.get("cmd") == "direct", 5)

# ------------------------------------------------------------ one message at a time

m = sim.mark()
a = sim.cmd("send freeze")["seq"]
b = sim.cmd("send thaw")["seq"]
c = sim.cmd("send get_dm_info")["seq"]
msg = d.recv(2)
t.eq(msg, zeros_but(5), "first queued request (FREEZE) is sent")
t.eq(d.recv(0.4), None, "no second message reaches the daemon while FREEZE is unanswered")
stt = sim.cmd("status")
t.eq((stt.get("state"), stt.get("outstanding_seq"), stt.get("queued")), ("USERSPACE_REQ", a, 2),
     "status: FREEZE outstanding, THAW and GET_DM_INFO wait in the ring")
t.eq(sim.op_result(c), None, "even a kernel-answered op waits behind the open transaction")
d.reply(msg, 0)
msg2 = d.recv(2)
t.eq(msg2, zeros_but(6), "THAW is sent only after the FREEZE reply")
d.reply(msg2, 0)
t.ok(sim.cmd("wait 5s").get("ok"), "wait: all answered")
order = [l["seq"] for l in sim.lines_since(m) if "op" in l]
t.eq(order, [a, b, c], "host replies come in order")

# ------------------------------------------------------------ timeouts

# Bounds only tell the two timers apart (and catch hangs); they measure no speed.
sim.cmd("set timeout 200ms")
sim.cmd("set freeze_timeout 1500ms")
r = sim.request("thaw")
late = d.recv(2)
t.eq((st(r), r.get("timeout"), r.get("by")), ("0x80004005", True, "kernel"), "THAW unanswered -> HV_E_FAIL from the kernel, timeout")
t.ok(0.195 <= r["ms"] / 1000 < 1.45, "THAW used the THAW/HOT_BACKUP timeout (200 ms): %.0f ms" % r["ms"])
r = sim.request("freeze")
msg = d.recv(2)
t.ok(st(r) == "0x80004005" and r.get("timeout") and 1.495 <= r["ms"] / 1000 < 10,
     "FREEZE used the FREEZE timeout (1500 ms), not the THAW one: %.0f ms" % r["ms"])
m = sim.mark()
d.reply(msg, 0)  # late reply: the transaction is over
ev = sim.wait_line(lambda l: l.get("event") == "einval", 3, since=m)
t.eq(ev and ev.get("reason"), "transaction not active", "late reply after timeout -> EINVAL (emulated)")
t.eq(d.recv(2), b"", "... and the connection is closed, as the stock daemon's write would fail")
st_ = sim.cmd("status")
t.eq((st_.get("state"), st_.get("connected")), ("DEVICE_INIT", False), "device back to DEVICE_INIT, daemon must re-register")
sim.cmd("set timeout 30s")
sim.cmd("set freeze_timeout 900s")

# ------------------------------------------------------------ no daemon

t0 = time.monotonic()
for name in ("freeze", "thaw", "hot_backup"):
    r = sim.request(name)
    t.eq((st(r), r.get("reason")), ("0x80004005", "not ready (no registered daemon)"),
         "%s with no daemon -> HV_E_FAIL" % name)
t.ok(time.monotonic() - t0 < 10, "... at once, not after a (30 s) timeout")
r = sim.request("get_dm_info")
t.eq(st(r), "0x00000000", "GET_DM_INFO with no daemon is still answered by the kernel")
d.close()

# ------------------------------------------------------------ wrong sizes, re-registration

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
m = sim.mark()
a = sim.cmd("send freeze")["seq"]
msg = d.recv(2)
d.send_raw(b"\0\0\0\0")
ev = sim.wait_line(lambda l: l.get("event") == "einval", 3, since=m)
t.eq(ev and ev.get("reason"), "wrong size 4", "4-byte reply -> EINVAL (emulated) 'wrong size 4'")
r = sim.op_result(a, 3)
t.eq((st(r), r.get("reason")), ("0x80004005", "reset"), "outstanding FREEZE -> HV_E_FAIL when the connection is dropped")
t.eq(d.recv(2), b"", "daemon sees EOF after the EINVAL emulation")
d.close()

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
m = sim.mark()
d.send_raw(b"x" * 20000)
ev = sim.wait_line(lambda l: l.get("event") == "einval", 3, since=m)
t.eq(ev and ev.get("reason"), "wrong size 20000", "oversized write -> EINVAL with its real size")
d.close()

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
m = sim.mark()
a = sim.cmd("send thaw")["seq"]
d.recv(2)
d.register(read_reply=False)
ev = sim.wait_line(lambda l: l.get("event") == "einval", 3, since=m)
t.eq(ev and ev.get("reason"), "registration during a transaction", "re-registration mid-transaction -> EINVAL")
t.eq(st(sim.op_result(a, 3)), "0x80004005", "... and the open THAW fails")
d.close()

# Re-registration while idle is allowed (state READY): a second 4-byte reply.
d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
t.eq(d.register(), struct.pack("<I", 129), "re-registration while READY gets a fresh 4-byte reply")
d.close()
sim.cmd("wait_disconnect 5s")

# ------------------------------------------------------------ legacy REGISTER (128)

d = FakeDaemon(sim.sock, register=False)
d.register(op=VSS_OP_REGISTER, read_reply=False)
t.ok(sim.wait_line(lambda l: l.get("event") == "registered" and l.get("version") == 128, 5),
     "legacy REGISTER 128 is reported")
t.eq(d.recv(0.4), None, "legacy REGISTER gets no reply")
r = sim.request("freeze")
t.eq((st(r), r.get("reason")), ("0x80004005", "not ready (no registered daemon)"),
     "after a legacy REGISTER the device stays not ready: FREEZE -> HV_E_FAIL")
t.eq(sim.cmd("wait_daemon 300ms").get("ok"), False, "wait_daemon does not accept a legacy registration")
d.close()

# A first message that is no registration: "transaction not active".
d = FakeDaemon(sim.sock, register=False)
m = sim.mark()
d.send_raw(zeros_but(5))
ev = sim.wait_line(lambda l: l.get("event") == "einval", 3, since=m)
t.eq(ev and ev.get("reason"), "transaction not active", "unsolicited 12-byte message -> EINVAL")
d.close()

# ------------------------------------------------------------ daemon closes mid-request

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
a = sim.cmd("send freeze")["seq"]
d.recv(2)
t0 = time.monotonic()
d.close()
r = sim.op_result(a, 5)
t.eq((st(r), r.get("reason")), ("0x80004005", "daemon closed"), "daemon closes with FREEZE open -> HV_E_FAIL")
t.ok(time.monotonic() - t0 < 10, "... at once (the FREEZE timeout is 900 s)")

# ------------------------------------------------------------ EBUSY for a second opener

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
m = sim.mark()
d2 = FakeDaemon(sim.sock, register=False)
t.ok(sim.wait_line(lambda l: l.get("event") == "ebusy", 3, since=m), "second connection -> ebusy event")
t.eq(d2.recv(2), b"", "second connection is closed")
a = sim.cmd("send hot_backup")["seq"]
msg = d.recv(2)
d.reply(msg, 0)
t.eq(st(sim.op_result(a, 3)), "0x00000000", "first connection keeps working")
d2.close()

# ------------------------------------------------------------ unread message: EFAULT

sim.cmd("set timeout 150ms")
r = sim.request("thaw")           # d does not read it; it times out
t.ok(r.get("timeout"), "THAW times out while still unread")
sim.cmd("set timeout 5s")
r = sim.request("hot_backup")     # the kernel cannot queue: previous message not read
t.eq((st(r), r.get("reason")), ("0x80004005", "send failed: previous message not read (EFAULT)"),
     "next request while the old one is unread -> HV_E_FAIL at once (transport EFAULT)")
t.ok(r["ms"] < 2500, "... without waiting for the 5 s timeout")
sim.cmd("set timeout 30s")
d.close()

# ------------------------------------------------------------ hibernation fake THAW

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
m = sim.mark()
sim.send("fake_thaw 3s")
msg = d.recv(2)
t.eq(msg, zeros_but(6), "fake THAW reaches the daemon as an ordinary THAW")
d.reply(msg, 0)
res = sim.wait_line(lambda l: l.get("cmd") == "fake_thaw", 5, since=m)
ev = sim.wait_line(lambda l: l.get("event") == "einval", 0, since=m)
t.ok(res and res.get("ok") and ev and ev.get("reason") == "transaction not active",
     "the daemon's reply to the fake THAW -> EINVAL 'transaction not active'")
sent = sim.wait_line(lambda l: l.get("event") == "fake_thaw_sent", 0, since=m)
t.eq(sent and sent.get("sent"), True, "fake_thaw_sent reports the message was queued")
t.eq(d.recv(2), b"", "daemon sees EOF and must reopen")
d.close()

# fake THAW with a FREEZE open (read by the daemon): the host gets no reply for it.
d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
m = sim.mark()
a = sim.cmd("send freeze")["seq"]
d.recv(2)
sim.send("fake_thaw 3s")
msg = d.recv(2)
t.eq(msg, zeros_but(6), "fake THAW sent while FREEZE was open")
r = sim.op_result(a, 3)
t.eq((r and r.get("host_status"), r and r.get("reason")), (None, "cancelled by fake_thaw (no host reply)"),
     "the open FREEZE is cancelled without a host reply")
d.reply(msg, 0)
t.ok(sim.wait_line(lambda l: l.get("cmd") == "fake_thaw", 5, since=m), "fake_thaw completes")
d.close()

# ------------------------------------------------------------ close mid-request

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
r = sim.request("close_mid_request freeze")
t.eq((st(r), r.get("reason")), ("0x80004005", "reset"), "close_mid_request: host gets HV_E_FAIL")
t.eq(d.recv(2), zeros_but(5), "the daemon can still read the FREEZE")
t.eq(d.recv(2), b"", "... then EOF")
try:
    d.reply(zeros_but(5), 0)
    wrote = True
except (BrokenPipeError, ConnectionResetError):
    wrote = False
t.eq(wrote, False, "the daemon's reply write fails (it has to reopen)")
d.close()
st_ = sim.cmd("status")
t.eq(st_.get("state"), "DEVICE_INIT", "device is DEVICE_INIT after the reset")

# with a delay: the close happens DELAY after sending
d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
r = sim.request("close_mid_request thaw 300ms")
t.ok(st(r) == "0x80004005" and r["ms"] >= 290, "close_mid_request thaw 300ms closes after 300 ms (%.0f ms)" % r["ms"])
d.close()

# ------------------------------------------------------------ mark / wait_event

sim.cmd("mark")
t.eq(sim.cmd("wait_event ready 200ms").get("ok"), False, "wait_event: no new 'ready' since the mark -> times out")
d = FakeDaemon(sim.sock)
t.eq(sim.cmd("wait_event ready 5s").get("ok"), True, "wait_event: a 'ready' after the mark counts, even if it came first")
t.eq(sim.cmd("wait_event ready 200ms").get("ok"), True, "... and keeps counting until the next mark")
sim.cmd("mark")
t.eq(sim.cmd("wait_event ready 200ms").get("ok"), False, "a new mark resets it")
d.close()

# ------------------------------------------------------------ raw bytes, bad commands

d = FakeDaemon(sim.sock)
sim.cmd("wait_daemon 5s")
sim.send("raw 05000000 1s")
t.eq(d.recv(2), b"\x05\x00\x00\x00", "raw sends the bytes as given (4-byte malformed message)")
d.close()
res = sim.wait_line(lambda l: l.get("cmd") == "raw", 3)
t.ok(res and res.get("ok"), "raw completes when the daemon drops the connection")
res = sim.cmd("frobnicate")
t.eq((res.get("cmd"), res.get("ok")), ("error", False), "unknown command -> ok:false")
res = sim.cmd("op banana")
t.eq(res.get("ok"), False, "bad op -> ok:false")
t.eq(sim.close(), 0, "quit -> exit 0")
t.ok(sim.lines[-1].get("event") == "quit", "last line is the quit event")

# ------------------------------------------------------------ path socket, --script

tmp = tempfile.mkdtemp(prefix="hvsim-proto-")
path = os.path.join(tmp, "hv_vss.sock")
with open(path, "w") as f:
    f.write("not a socket")
p = subprocess.run([qtest.bin_path("hvsim"), "-s", path], input="quit\n", capture_output=True, text=True)
t.ok(p.returncode != 0 and "not a socket" in p.stderr, "refuses to replace a file that is not a socket")
os.unlink(path)
sim = HvSim(path)
d = FakeDaemon(path)
t.ok(sim.cmd("wait_daemon 5s").get("ok"), "path sockets work (as quiesced --hyperv PATH will use)")
d.close()
sim.close()
t.ok(not os.path.exists(path), "socket path removed on exit")

script = os.path.join(tmp, "script")
with open(script, "w") as f:
    f.write("# comment\n\nhot_backup\nget_dm_info\nsleep 50\n")
p = subprocess.run([qtest.bin_path("hvsim"), "-s", "@hvsim-proto-script-%d" % os.getpid(), "--script", script],
                   capture_output=True, text=True, timeout=20)
import json  # noqa: E402
out = [json.loads(x) for x in p.stdout.splitlines()]
cmds = [x["cmd"] for x in out if "cmd" in x]
ops = [(x["op"], x["host_status"]) for x in out if "op" in x]
t.eq(cmds, ["hot_backup", "get_dm_info", "sleep"], "--script: one cmd line per command, comments ignored")
t.eq(ops, [("HOT_BACKUP", "0x80004005"), ("GET_DM_INFO", "0x00000000")], "--script: results, exits at end")
t.eq(p.returncode, 0, "--script exit 0")
os.unlink(script)
os.rmdir(tmp)
t.exit()
