#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault matrix: a host-side client that goes away in each phase.

Clients: quiescectl snapshot (the freeze is held by its connection), a raw control
freeze (quiesce-freeze: the freeze outlives the connection), a QGA client (--qga: the
freeze outlives the client, as with qemu-ga), and the Hyper-V channel (tools/hvsim: the
kernel side closes the device, or hvsim itself dies).

Phases: CHECKING (an app slow to answer CHECK), FREEZING (a write stalled in m0 holds
its FIFREEZE), FROZEN, THAWING (an app slow to answer THAW). The app cases need the
app registry (--app-socket) and are skipped without it.

Expected: a freeze held by the connection ends with it (cancelled while freezing,
thawed while frozen); a freeze that outlives its client holds until a thaw from
another client or the lease, and a thaw after the lease says writes were not held;
Hyper-V's freeze is undone when its channel goes, and quiesced registers again. After
every case: tests/lib/faultcheck.py's checks.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import faultcheck as fc  # noqa: E402
import hogs  # noqa: E402
import stallwrite  # noqa: E402
from hvsim import HvSim  # noqa: E402
from qgapeer import QgaClient  # noqa: E402

SLOW = qtest.SLOW
TIMEOUT, FS_TIMEOUT, LEASE = 1, 5, 2
OK, FAIL = "0x00000000", "0x80004005"
t, s, chk = fc.start(timeout=TIMEOUT, fs_timeout=FS_TIMEOUT, lease=LEASE)
M0, M1 = s.mounts
daemon = chk.daemon


def stall_m0(d):
    st = stallwrite.StalledWrite(os.path.join(M0, "stall.dat"))
    return st


def in_freezing(d):
    return t.ok(fc.wait_fs(d, {M0: "freezing", M1: "frozen"}, 5) and fc.wait_in_fifreeze(d.proc.pid),
                "  held in FREEZING (m0's FIFREEZE stuck)", repr(fc.status(d)))


def ctl_proc(d, *args):
    return subprocess.Popen([qtest.bin_path("quiescectl"), "--socket", d.control] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def snapshot_cmd(pidfile):
    """A CMD for quiescectl snapshot that says its pid (outside the frozen mounts) and waits."""
    return ["sh", "-c", "echo $$ > %s; exec sleep 60" % pidfile]


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


# ---------------------------------------------------------------- control


def snapshot_freezing():
    """quiescectl snapshot killed while the freeze is stuck: the freeze is cancelled
    (it ends as soon as the FIFREEZE returns), CMD never runs."""
    d = daemon()
    st = stall_m0(d)
    pidfile = os.path.join(s.dir, "cmd.pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    p = ctl_proc(d, "snapshot", "--", *snapshot_cmd(pidfile))
    in_freezing(d)
    p.kill()
    p.wait()
    time.sleep(0.2)
    t.eq(fc.status(d)["state"], "freezing", "  the freeze still waits for its stuck FIFREEZE")
    st.release()
    t.ok(fc.settled(fc.wait_idle(d)), "  once it returns, the freeze is cancelled and undone")
    t.ok(qtest.wait_for(lambda: "the client went away during the freeze" in d.log_text(), 3 * SLOW),
         "  quiesced says the client went away")
    t.eq(read_pid(pidfile), 0, "  CMD never ran")
    chk.after("quiescectl snapshot killed in FREEZING", d, gone=[p.pid, st.proc.pid])
    chk.stop_clean(d, "quiescectl snapshot killed in FREEZING")


def snapshot_frozen():
    d = daemon(lease=30)
    pidfile = os.path.join(s.dir, "cmd.pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    p = ctl_proc(d, "snapshot", "--", *snapshot_cmd(pidfile))
    t.ok(qtest.wait_for(lambda: read_pid(pidfile), 10 * SLOW), "  frozen, CMD runs")
    cmd = read_pid(pidfile)
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  both frozen")
    p.kill()
    p.wait()
    t.ok(qtest.wait_for(lambda: fc.settled(fc.status(d)), 3 * SLOW, 0.02),
         "  quiescectl killed: quiesced thaws at once (lease 30 s)")
    t.ok(qtest.wait_for(lambda: "the client holding the freeze went away" in d.log_text(), 3 * SLOW),
         "  and says why")
    fc.kill_quietly(cmd)  # CMD, orphaned by quiescectl's death, is ours to end
    chk.after("quiescectl snapshot killed in FROZEN", d, gone=[p.pid, cmd])
    chk.stop_clean(d, "quiescectl snapshot killed in FROZEN")


def raw_snapshot_freezing():
    """The same with a raw quiesce-snapshot whose connection closes (no signal)."""
    d = daemon()
    st = stall_m0(d)
    bg = fc.BgCall(d.control, "quiesce-snapshot")
    in_freezing(d)
    bg.close()
    st.release()
    t.ok(fc.settled(fc.wait_idle(d)), "  the freeze is cancelled and undone")
    last = d.call("quiesce-status")["return"].get("last", {})
    t.ok(last.get("ok") is False and "cancelled" in last.get("message", ""),
         "  status: the last transaction was cancelled", repr(last.get("message")))
    chk.after("quiesce-snapshot connection closed in FREEZING", d, gone=[st.proc.pid])
    chk.stop_clean(d, "quiesce-snapshot connection closed in FREEZING")


def raw_freeze_freezing():
    """A plain quiesce-freeze outlives its connection: closed while freezing, the freeze
    completes and holds until another client thaws it."""
    d = daemon(lease=30)
    st = stall_m0(d)
    bg = fc.BgCall(d.control, "quiesce-freeze")
    in_freezing(d)
    bg.close()
    st.release()
    t.ok(fc.wait_state(d, "frozen", 5), "  the freeze completes without its client")
    t.eq(sorted(fc.frozen_mounts(s)), sorted(s.mounts), "  and holds both")
    r = d.call("quiesce-thaw")
    t.eq(r.get("return", {}).get("count"), 2, "  another client thaws it")
    chk.after("quiesce-freeze connection closed in FREEZING", d, gone=[st.proc.pid])
    chk.stop_clean(d, "quiesce-freeze connection closed in FREEZING")


def raw_freeze_frozen():
    """Closed while frozen: held until the lease; the thaw after it says so (exit 5)."""
    d = daemon()
    c = qtest.Client(d.control)
    r = c.call("quiesce-freeze")
    t.eq(r.get("return", {}).get("count"), 2, "  frozen")
    c.close()
    time.sleep(0.3)
    t.eq(fc.status(d)["state"], "frozen", "  its client gone: still frozen")
    t.ok(qtest.wait_for(lambda: fc.settled(fc.status(d)), (LEASE + 3) * SLOW, 0.05),
         "  the lease thaws it")
    r = d.ctl("thaw")
    t.eq(r.returncode, 5, "  the next thaw says writes were not held (exit 5)")
    chk.after("quiesce-freeze connection closed in FROZEN", d)
    chk.stop_clean(d, "quiesce-freeze connection closed in FROZEN")


# ---------------------------------------------------------------- QGA


def qga_daemon(lease=LEASE):
    path = os.path.join(s.dir, "qga.sock")
    d = daemon("--qga", path, lease=lease)
    return d, path


def qga_freezing():
    d, path = qga_daemon(lease=30)
    st = stall_m0(d)
    c = QgaClient(path)
    c.send_raw(json.dumps({"execute": "guest-fsfreeze-freeze-list",
                           "arguments": {"mountpoints": [M0, M1]}}).encode() + b"\n")
    in_freezing(d)
    c.close()
    st.release()
    t.ok(fc.wait_state(d, "frozen", 5), "  QGA client gone while freezing: the freeze completes (as qemu-ga)")
    c = QgaClient(path)
    t.eq(c.call("guest-fsfreeze-status"), {"return": "frozen"}, "  a new client sees it frozen")
    t.eq(c.call("guest-fsfreeze-thaw"), {"return": 2}, "  and thaws it")
    c.close()
    chk.after("QGA client gone in FREEZING", d, gone=[st.proc.pid])
    chk.stop_clean(d, "QGA client gone in FREEZING")


def qga_frozen():
    d, path = qga_daemon()
    c = QgaClient(path)
    t.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]}), {"return": 2}, "  frozen over QGA")
    c.close()
    time.sleep(0.3)
    t.eq(fc.status(d)["state"], "frozen", "  its client gone: still frozen")
    t.ok(qtest.wait_for(lambda: fc.settled(fc.status(d)), (LEASE + 3) * SLOW, 0.05), "  until the lease")
    c = QgaClient(path)
    r = c.call("guest-fsfreeze-thaw")
    t.ok(r.get("error", {}).get("desc", "").startswith("couldn't hold writes: the lease of"),
         "  a new client's thaw: couldn't hold writes", repr(r))
    t.eq(c.call("guest-fsfreeze-thaw"), {"return": 0}, "  said once")
    c.close()
    chk.after("QGA client gone in FROZEN", d)
    chk.stop_clean(d, "QGA client gone in FROZEN")


def qga_half_request():
    """A client that leaves in the middle of a request: nothing happens."""
    d, path = qga_daemon()
    c = QgaClient(path)
    c.send_raw(b'{"execute": "guest-fsfreeze-freeze-list", "arguments": {"mountpoints": ["' +
               M0.encode())
    time.sleep(0.2)
    c.close()
    time.sleep(0.3)
    t.eq(fc.status(d)["state"], "idle", "  half a freeze request, then gone: nothing started")
    c = QgaClient(path)
    t.eq(c.call("guest-fsfreeze-status"), {"return": "thawed"}, "  the next client starts clean")
    c.close()
    chk.after("QGA client gone mid-request", d)
    chk.stop_clean(d, "QGA client gone mid-request")


def qga_half_requests_hold_slots():
    """Four clients each send half a request and stay: they hold every QGA slot, and
    the host cannot thaw until quiesced drops them (5 s for a request to arrive)."""
    d, path = qga_daemon(lease=60)
    c = QgaClient(path)
    t.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]}), {"return": 2}, "  frozen over QGA")
    c.close()
    time.sleep(0.2)
    held = hogs.Hog(path, 0, 4, send=b'{"execute": "guest-fsfreeze-thaw", "arg', settle=0.3)
    t.eq(held.kept, 4, "  four half-sent requests hold the four slots")
    refused = hogs.Hog(path, 0, 1, settle=0.3)
    t.ok(refused.refused and "too many clients" in refused.refused[0], "  a fifth client is refused",
         repr(refused.first))
    refused.close()
    t.ok(qtest.wait_for(lambda: held.check() == 0, 15 * SLOW, 0.2),
         "  the half-sent requests are dropped after 5 s")
    held.close()
    c = QgaClient(path)
    t.eq(c.call("guest-fsfreeze-thaw"), {"return": 2}, "  then the host thaws, long before the lease")
    c.close()
    t.ok("did not arrive whole within" in d.log_text(), "  the log says why the clients were dropped")
    # A bad line is skipped up to its newline: one that never ends is bounded too.
    c = QgaClient(path)
    c.send_raw(b"garbage")
    t.ok(c.read_line(timeout=5 * SLOW) is not None, "  garbage without a newline: answered")
    t.ok(c.read_line(timeout=15 * SLOW) is None and c.eof,
         "  and dropped when its line does not end within 5 s")
    c.close()
    chk.after("QGA half-sent requests hold every slot", d)
    chk.stop_clean(d, "QGA half-sent requests hold every slot")


# ---------------------------------------------------------------- Hyper-V


def hv_setup(name="hv_vss.sock"):
    sock = os.path.join(s.dir, name)
    errlog = open(os.path.join(s.dir, "hvsim.err"), "a")
    sim = HvSim(sock, stderr=errlog)
    d = daemon("--hyperv", sock, wait=True)
    ok = sim.cmd("wait_daemon 10s")["ok"]
    t.ok(ok, "  quiesced registers with hvsim")
    chk.baseline(d)  # with the channel open
    return d, sim, sock, errlog


def hv_ready_since(sim, mark, timeout=20):
    return sim.wait_line(lambda l: l.get("event") == "ready", timeout * SLOW, since=mark) is not None


def hv_freezing():
    d, sim, sock, errlog = hv_setup()
    st = stall_m0(d)
    m = sim.mark()
    res = sim.cmd("close_mid_request freeze 300ms")
    op = sim.op_result(res.get("seq"))
    t.ok(op and op.get("host_status") == FAIL and op.get("by") == "kernel",
         "  channel closed during a stuck FREEZE: the kernel answers HV_E_FAIL", op)
    st.release()
    t.ok(hv_ready_since(sim, m), "  quiesced undoes the freeze and registers again")
    chk.after("Hyper-V channel closed in FREEZING", d, gone=[st.proc.pid])
    t.ok(sim.request("freeze").get("host_status") == OK and sim.request("thaw").get("host_status") == OK,
         "  FREEZE and THAW work again")
    chk.after("Hyper-V channel closed in FREEZING, next cycle", d)
    chk.stop_clean(d, "Hyper-V channel closed in FREEZING")
    sim.close()
    errlog.close()


def hv_frozen():
    d, sim, sock, errlog = hv_setup()
    t.ok(sim.request("freeze").get("host_status") == OK, "  FREEZE")
    m = sim.mark()
    sim.cmd("close")
    t.ok(hv_ready_since(sim, m), "  channel closed while frozen: quiesced thaws and registers again")
    chk.after("Hyper-V channel closed in FROZEN", d)
    chk.stop_clean(d, "Hyper-V channel closed in FROZEN")
    sim.close()
    errlog.close()


def hv_sim_killed():
    """The host side dies (hvsim SIGKILLed) while frozen: quiesced thaws, retries the
    channel, and registers with a new simulator on the same socket."""
    d, sim, sock, errlog = hv_setup()
    t.ok(sim.request("freeze").get("host_status") == OK, "  FREEZE")
    pid = sim.proc.pid
    sim.kill()
    t.ok(qtest.wait_for(lambda: fc.settled(fc.status(d)), 5 * SLOW, 0.05),
         "  hvsim killed while frozen: quiesced thaws")
    t.eq(fc.frozen_mounts(s), [], "  nothing frozen")
    sim = HvSim(sock, stderr=errlog)
    t.ok(sim.cmd("wait_daemon 40s")["ok"], "  a new hvsim on the socket: quiesced registers there")
    chk.after("hvsim killed in FROZEN", d, gone=[pid])
    t.ok(sim.request("thaw").get("host_status") == OK, "  its THAW (nothing frozen for Hyper-V): 0")
    chk.stop_clean(d, "hvsim killed in FROZEN")
    sim.close()
    errlog.close()


# ---------------------------------------------------------------- CHECKING and THAWING (apps)

SLOW_MS = 700   # an app that takes this long over each request (inside --timeout, 1 s)


def slow_app(d):
    import apptest
    return apptest.Sim(d, "slow", "-S", str(SLOW_MS))


def finish_app(app):
    t.ok(qtest.wait_for(lambda: app.never_left_frozen(), 5 * SLOW), "  the app is not left frozen",
         repr(app.events()))
    app.stop()
    return app.pid


def ctl_check_checking():
    d = daemon()
    app = slow_app(d)
    p = ctl_proc(d, "check")
    t.ok(fc.wait_state(d, "checking", 5), "  held in CHECKING by the app")
    p.kill()
    p.wait()
    t.ok(fc.settled(fc.wait_idle(d, 5)), "  quiescectl check killed: the check ends on its own")
    t.ok(d.call("quiesce-status")["return"].get("last", {}).get("ok") is True,
         "  (and it passed, answered to nobody)")
    chk.after("quiescectl check killed in CHECKING", d, gone=[p.pid, finish_app(app)])
    chk.stop_clean(d, "quiescectl check killed in CHECKING")


def snapshot_thawing():
    d = daemon(lease=30)
    app = slow_app(d)
    pidfile = os.path.join(s.dir, "cmd.pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    p = ctl_proc(d, "snapshot", "--", "sh", "-c", "echo $$ > %s" % pidfile)
    t.ok(qtest.wait_for(lambda: fc.status(d)["state"] == "thawing", 10 * SLOW, 0.01),
         "  CMD ran; the snapshot's thaw is held in THAWING by the app")
    p.kill()
    p.wait()
    t.ok(fc.settled(fc.wait_idle(d, 5)), "  quiescectl killed: the thaw completes")
    t.eq(fc.frozen_mounts(s), [], "  nothing frozen")
    chk.after("quiescectl snapshot killed in THAWING", d, gone=[p.pid, read_pid(pidfile), finish_app(app)])
    chk.stop_clean(d, "quiescectl snapshot killed in THAWING")


def qga_thawing():
    d, path = qga_daemon(lease=30)
    app = slow_app(d)
    c = QgaClient(path)
    t.eq(c.call("guest-fsfreeze-freeze-list", {"mountpoints": [M0, M1]}), {"return": 2}, "  frozen over QGA")
    c.send_raw(b'{"execute": "guest-fsfreeze-thaw"}\n')
    t.ok(qtest.wait_for(lambda: fc.status(d)["state"] == "thawing", 5 * SLOW, 0.01), "  held in THAWING by the app")
    c.close()
    t.ok(fc.settled(fc.wait_idle(d, 5)), "  QGA client gone while thawing: the thaw completes")
    c = QgaClient(path)
    t.eq(c.call("guest-fsfreeze-status"), {"return": "thawed"}, "  a new client sees it thawed")
    t.eq(c.call("guest-fsfreeze-thaw"), {"return": 0}, "  and its thaw has nothing to do (no error)")
    c.close()
    chk.after("QGA client gone in THAWING", d, gone=[finish_app(app)])
    chk.stop_clean(d, "QGA client gone in THAWING")


def hv_app_setup():
    d, sim, sock, errlog = hv_setup()
    app = slow_app(d)
    return d, sim, errlog, app


def hv_checking():
    d, sim, errlog, app = hv_app_setup()
    m = sim.mark()
    res = sim.cmd("close_mid_request hot_backup 200ms")
    op = sim.op_result(res.get("seq"))
    t.ok(op and op.get("host_status") == FAIL and op.get("by") == "kernel",
         "  channel closed during a slow HOT_BACKUP: the kernel answers HV_E_FAIL", op)
    t.ok(hv_ready_since(sim, m), "  quiesced registers again")
    t.ok(fc.settled(fc.wait_idle(d, 5)), "  the check it was running ends (its answer goes nowhere)")
    op = sim.request("hot_backup")
    t.ok(op.get("host_status") == OK, "  the next HOT_BACKUP: 0", op)
    chk.after("Hyper-V channel closed in CHECKING", d, gone=[finish_app(app)])
    chk.stop_clean(d, "Hyper-V channel closed in CHECKING")
    sim.close()
    errlog.close()


def hv_thawing():
    d, sim, errlog, app = hv_app_setup()
    t.ok(sim.request("freeze").get("host_status") == OK, "  FREEZE (the app too)")
    op = sim.request("thaw")
    t.ok(op.get("host_status") == OK and fc.status(d)["state"] == "thawing",
         "  THAW is answered once the filesystems thawed; the app is still thawing", op)
    t.eq(fc.frozen_mounts_of(s, s.mounts), [], "  the filesystems are thawed")
    m = sim.mark()
    sim.cmd("close")
    t.ok(hv_ready_since(sim, m), "  channel closed in THAWING: quiesced registers again")
    t.ok(fc.settled(fc.wait_idle(d, 5)), "  and the app's thaw completes")
    chk.after("Hyper-V channel closed in THAWING", d, gone=[finish_app(app)])
    chk.stop_clean(d, "Hyper-V channel closed in THAWING")
    sim.close()
    errlog.close()


CASES = [
    ("quiescectl snapshot killed in FREEZING", snapshot_freezing, False),
    ("quiescectl snapshot killed in FROZEN", snapshot_frozen, False),
    ("quiesce-snapshot connection closed in FREEZING", raw_snapshot_freezing, False),
    ("quiesce-freeze connection closed in FREEZING", raw_freeze_freezing, False),
    ("quiesce-freeze connection closed in FROZEN", raw_freeze_frozen, False),
    ("QGA client gone in FREEZING", qga_freezing, False),
    ("QGA client gone in FROZEN", qga_frozen, False),
    ("QGA client gone mid-request", qga_half_request, False),
    ("QGA half-sent requests hold every slot", qga_half_requests_hold_slots, False),
    ("Hyper-V channel closed in FREEZING", hv_freezing, False),
    ("Hyper-V channel closed in FROZEN", hv_frozen, False),
    ("hvsim killed in FROZEN", hv_sim_killed, False),
    ("quiescectl check killed in CHECKING", ctl_check_checking, True),
    ("quiescectl snapshot killed in THAWING", snapshot_thawing, True),
    ("QGA client gone in THAWING", qga_thawing, True),
    ("Hyper-V channel closed in CHECKING", hv_checking, True),
    ("Hyper-V channel closed in THAWING", hv_thawing, True),
]

try:
    if not os.path.exists(qtest.bin_path("hvsim")):
        t.diag("hvsim not built: the Hyper-V cases are skipped")
    have_hvsim = os.path.exists(qtest.bin_path("hvsim"))
    fc.run_cases(t, CASES, skip=lambda name: "hvsim not built (make)" if (
        "Hyper-V" in name or "hvsim" in name) and not have_hvsim else None)
finally:
    s.cleanup()
t.exit()
