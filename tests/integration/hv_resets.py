#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesced's Hyper-V channel when things go wrong, through hvsim and a hand-made kernel
side, on real scratch mounts. After each, nothing may stay frozen and quiesced must be
registered again.

- the channel closed while frozen: thaw, reopen, register;
- the hibernation fake THAW, with nothing frozen and while frozen: its answer is refused
  (EINVAL, emulated by closing), quiesced reopens;
- a FREEZE slowed by a stuck writer (tests/lib/stallwrite.py):
  * the channel closed during it: the kernel answers HV_E_FAIL; quiesced undoes the
    freeze and reopens only once nothing is frozen;
  * the kernel's timer expires first: the host has HV_E_FAIL, quiesced's late answer is
    refused, it thaws and reopens;
  * quiesced's own deadline (the kernel's timers shortened with QUIESCE_HV_KERNEL_TIMEOUTS
    to match hvsim's): quiesced answers HV_E_FAIL itself before the kernel's timer, and
    undoes the freeze;
  * SIGTERM during it: the host gets HV_E_FAIL, quiesced exits 0, nothing frozen;
- quiesced restarted while frozen: it thaws before it exits; the kernel answers the
  host's THAW itself meanwhile; the new quiesced registers and serves;
- another daemon holds the device (EBUSY): quiesced says so, keeps its other transports
  and takes the channel once it is free;
- the simulator goes away and comes back: quiesced retries and registers again;
- a reply write that fails (EPIPE, as the kernel's EINVAL): thaw, reopen, register;
- an answer to the registration that is not 4 bytes: a failed handshake, retried.
"""
import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402
import stallwrite  # noqa: E402
from hvsim import FakeDaemon, HvSim  # noqa: E402

OK, FAIL = "0x00000000", "0x80004005"
E_FAIL_REPLY = "054000800000000000000000"

t = qtest.start(needs=("hvsim",), stall=True)


def answered(op, status, by="daemon"):
    return op is not None and op.get("host_status") == status and op.get("by") == by


def ready_since(sim, mark, timeout=20):
    return sim.wait_line(lambda l: l.get("event") == "ready", timeout, since=mark) is not None


def status(d):
    return d.call("quiesce-status")["return"]


def wait_idle(d, timeout=20):
    return qtest.wait_for(lambda: status(d)["state"] == "idle", timeout, 0.05)


s = qtest.Scratch(3)
sock = os.path.join(s.dir, "hv_vss.sock")
errlog = open(os.path.join(s.dir, "hvsim.err"), "a")
sim = HvSim(sock, stderr=errlog)
d = None
stall = None
writer = None
fk = None
try:
    d = qtest.Daemon(s, "--hyperv", sock)
    t.ok(sim.cmd("wait_daemon 10s")["ok"], "quiesced registers")

    # ---- the channel closed while frozen
    t.ok(answered(sim.request("freeze"), OK), "FREEZE")
    m = sim.mark()
    sim.cmd("close")
    t.ok(ready_since(sim, m), "channel closed while frozen: quiesced registers again")
    t.eq(s.frozen(), [], "and thawed first")
    t.ok("thawing what Hyper-V froze" in d.log_text(), "the log says why it thawed")
    st = status(d)
    t.ok(st["hyperv"]["resets"] == 1 and st["state"] == "idle", "status: one reset, idle",
         json.dumps(st["hyperv"]))

    # ---- hibernation: the fake THAW
    m = sim.mark()
    sim.cmd("fake_thaw 10s")
    t.eq([e["reason"] for e in sim.events("einval", m)], ["transaction not active"],
         "fake THAW with nothing frozen: the answer is refused (EINVAL)")
    t.ok(ready_since(sim, m), "and quiesced registers again")
    t.ok(answered(sim.request("freeze"), OK), "FREEZE")
    writer = qtest.Writer(s.mounts[0])
    m = sim.mark()
    sim.cmd("fake_thaw 10s")
    t.eq(len(sim.events("einval", m)), 1, "fake THAW while frozen: the answer is refused")
    t.ok(ready_since(sim, m), "quiesced registers again")
    t.eq(s.frozen(), [], "and the fake THAW thawed everything")
    t.ok(writer.done_within(10), "the blocked writer finishes")
    writer = None

    # ---- a FREEZE that takes long (a writer stuck in m0), the channel closed during it
    stall = stallwrite.StalledWrite(os.path.join(s.mounts[0], "stall.dat"))
    m = sim.mark()
    res = sim.cmd("close_mid_request freeze 500ms")
    op = sim.op_result(res.get("seq"))
    t.ok(answered(op, FAIL, "kernel") and op.get("reason") == "reset",
         "channel closed during a slow FREEZE: the kernel answers HV_E_FAIL", op)
    time.sleep(0.5)
    t.eq(sim.events("connected", m), [],
         "quiesced does not reopen while its freeze is still stuck (it must thaw first)")
    stall.release()
    stall = None
    t.ok(ready_since(sim, m), "once the write goes on, quiesced undoes the freeze and registers again")
    t.ok(wait_idle(d), "the engine is idle")
    t.eq(s.frozen(), [], "nothing frozen")
    t.ok("the channel was closed while op=FREEZE was under way" in d.log_text(),
         "the log says the channel closed during the FREEZE")

    # ---- the kernel's FREEZE timer expires before the slow freeze is done
    sim.cmd("set freeze_timeout 700ms")
    stall = stallwrite.StalledWrite(os.path.join(s.mounts[0], "stall.dat"))
    m = sim.mark()
    op = sim.request("freeze")
    t.ok(answered(op, FAIL, "kernel") and op.get("timeout") is True,
         "the kernel times out the FREEZE: the host has HV_E_FAIL", op)
    t.eq(status(d)["hyperv"]["state"], "busy", "quiesced still holds the request (the kernel does not tell it)")
    stall.release()
    stall = None
    t.ok(ready_since(sim, m), "its late answer is refused; quiesced thaws and registers again")
    t.eq([e["reason"] for e in sim.events("einval", m)], ["transaction not active"],
         "the late answer was refused as 'transaction not active'")
    t.ok(wait_idle(d), "the engine is idle")
    t.eq(s.frozen(), [], "nothing frozen after the late freeze")
    sim.cmd("set freeze_timeout 900s")

    # ---- quiesced restarted while frozen
    t.ok(answered(sim.request("freeze"), OK), "FREEZE")
    m = sim.mark()
    rc = d.stop()
    t.eq(rc, 0, "SIGTERM while frozen: quiesced exits 0")
    d = None
    t.eq(s.frozen(), [], "it thawed before exiting")
    t.ok(sim.wait_line(lambda l: l.get("event") == "disconnected", 5, since=m) is not None,
         "the kernel sees the device closed")
    op = sim.request("thaw")
    t.ok(answered(op, FAIL, "kernel") and "not ready" in op.get("reason", ""),
         "a THAW while no daemon is registered: the kernel answers it HV_E_FAIL", op)

    # ---- another daemon holds the device
    other = FakeDaemon(sock)
    t.ok(sim.cmd("wait_daemon 5s")["ok"], "another daemon registers first")
    m = sim.mark()
    d = qtest.Daemon(s, "--hyperv", sock)
    t.ok(sim.wait_line(lambda l: l.get("event") == "ebusy", 10, since=m) is not None,
         "quiesced's open is refused (EBUSY)")
    t.ok(qtest.wait_log(d, "does another VSS daemon hold it?"), "quiesced says another daemon may hold it",
         d.log_text()[-1500:])
    st = status(d)
    t.ok(st["hyperv"]["state"] in ("closed", "registering") and st["state"] == "idle",
         "quiesced keeps running and answers its control socket", json.dumps(st["hyperv"]))
    other.close()
    t.ok(ready_since(sim, m, 40), "once the other daemon is gone, quiesced takes the channel")
    op = sim.request("thaw")
    t.ok(answered(op, OK), "the host's THAW after the restart: 0 (nothing frozen)", op)
    t.ok(answered(sim.request("hot_backup"), OK), "HOT_BACKUP: 0")

    # ---- SIGTERM during a slow FREEZE
    stall = stallwrite.StalledWrite(os.path.join(s.mounts[0], "stall.dat"))
    res = sim.cmd("send freeze")
    t.ok(sim.wait_line(lambda l: l.get("event") == "request" and l.get("name") == "FREEZE", 5) is not None,
         "a FREEZE reaches quiesced")
    t.ok(fc.wait_in_fifreeze(d.proc.pid), "  its FIFREEZE is held in the kernel")
    d.proc.send_signal(signal.SIGTERM)
    t.ok(qtest.wait_log(d, "signal %d: shutting down" % signal.SIGTERM), "  SIGTERM seen while it is held")
    stall.release()
    stall = None
    rc = d.stop()
    d = None
    t.eq(rc, 0, "SIGTERM during a stuck FREEZE: quiesced exits 0 once the freeze is undone")
    op = sim.wait_line(lambda l: "op" in l and l.get("seq") == res.get("seq"), 10)
    t.ok(op is not None and op.get("host_status") == FAIL, "the host gets HV_E_FAIL for that FREEZE", op)
    t.eq(s.frozen(), [], "nothing frozen")

    # ---- the simulator goes away and comes back
    m = sim.mark()
    d = qtest.Daemon(s, "--hyperv", sock)
    t.ok(ready_since(sim, m), "a new quiesced registers")
    sim.close()
    t.ok(qtest.wait_log(d, "open %s failed; error: " % sock), "quiesced logs the failed reopen",
         d.log_text()[-1500:])
    sim = HvSim(sock, stderr=errlog)
    t.ok(sim.cmd("wait_daemon 40s")["ok"], "a new simulator on the same socket: quiesced registers there")
    t.ok(answered(sim.request("freeze"), OK) and sorted(s.frozen()) == sorted(s.mounts), "FREEZE on it")
    t.ok(answered(sim.request("thaw"), OK) and s.frozen() == [], "THAW on it")
    sim.close()

    # ---- a hand-made kernel side: the reply write fails, a bad handshake
    fk = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fk.bind(sock)
    fk.listen(4)
    fk.settimeout(40)
    c, _ = fk.accept()
    c.settimeout(10)
    reg = c.recv(64)
    t.eq(reg, bytes([129]) + bytes(11), "registration: 12 bytes, REGISTER1 then zeros")
    c.send((129).to_bytes(4, "little"))
    c.send(bytes([5]) + bytes(11))                 # FREEZE
    c.shutdown(socket.SHUT_RD)                     # its answer will fail with EPIPE
    t.ok(qtest.wait_for(lambda: "write failed; error: 32" in d.log_text(), 10),
         "the FREEZE's answer cannot be written: 'write failed'", d.log_text()[-1500:])
    c2, _ = fk.accept()
    c2.settimeout(10)
    t.eq(c2.recv(64), bytes([129]) + bytes(11), "quiesced reopens and registers again")
    t.eq(s.frozen(), [], "after thawing what it froze")
    c.close()
    c2.send(bytes([129]) + bytes(11))              # 12 bytes where 4 are due
    c3, _ = fk.accept()
    c3.settimeout(10)
    t.eq(c3.recv(64), bytes([129]) + bytes(11), "a 12-byte answer to the registration: handshake failed, retried")
    t.ok("invalid version negotiation" in d.log_text(), "logged as 'invalid version negotiation'")
    c2.close()
    c3.send((129).to_bytes(4, "little"))
    c3.send(bytes([2]) + bytes(11))                # HOT_BACKUP
    t.eq(c3.recv(64), bytes(12), "HOT_BACKUP answered: 12 bytes, error 0")
    c3.send(bytes([6]) + bytes(11))                # THAW
    t.eq(c3.recv(64), bytes(12), "THAW answered: 12 bytes, error 0")
    c3.close()
    fk.close()
    os.unlink(sock)
    fk = None
    qtest.stop_clean(t, d)
    d = None

    # ---- quiesced's own deadline, before the kernel's timer
    sim = HvSim(sock, stderr=errlog, freeze_timeout="2s", timeout="2s")
    d = qtest.Daemon(s, "--hyperv", sock, env={"QUIESCE_HV_KERNEL_TIMEOUTS": "2000,2000"})
    t.ok(sim.cmd("wait_daemon 10s")["ok"], "quiesced registers (kernel timers taken as 2 s)")
    t.ok("QUIESCE_HV_KERNEL_TIMEOUTS" in d.log_text(), "it says which timers it assumes")
    stall = stallwrite.StalledWrite(os.path.join(s.mounts[0], "stall.dat"))
    op = sim.request("freeze")
    t.ok(answered(op, FAIL) and not op.get("timeout") and op.get("reply_hex") == E_FAIL_REPLY,
         "a FREEZE stuck past quiesced's deadline: quiesced answers HV_E_FAIL before the kernel's timer", op)
    st = status(d)
    t.ok(st["hyperv"]["overdue"] == 1 and st["hyperv"]["state"] == "ready",
         "status: one overdue request; the channel is ready again", json.dumps(st["hyperv"]))
    stall.release()
    stall = None
    t.ok(wait_idle(d), "the freeze is undone once the write goes on")
    t.eq(s.frozen(), [], "nothing frozen")
    # (Written once nothing is frozen any more: m1 and m2 were frozen when it gave up.)
    t.ok("no result after" in d.log_text(), "the log says it gave up waiting")
    t.ok(answered(sim.request("hot_backup"), OK), "HOT_BACKUP afterwards: 0")
    t.eq(sim.events("disconnected"), [], "and the channel never had to be reset for it")
    qtest.stop_clean(t, d)
    d = None
finally:
    if stall:
        stall.release()
    if writer:
        writer.kill()
    if d:
        d.stop()
    if fk:
        fk.close()
    sim.close()
t.eq(s.frozen(), [], "nothing frozen at the end")
s.cleanup()
t.exit()
