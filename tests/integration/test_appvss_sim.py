#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""appvss-sim against a fake daemon: registration, -c/-f/-t 0|1|2, -w, -l, signals,
reconnection, refusals, daemon mode; and, as root, that -w notices a filesystem
frozen too early."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
from appproto import (CHECK, FREEZE, THAW, SUCCESS, FAIL, F_OPTIONAL,  # noqa: E402
                      REFUSED_NAME_TAKEN, REFUSED_PERMISSION, FakeDaemon, Timeout)

SIM = qtest.bin_path("appvss-sim")
LINE = re.compile(r"^(\d+) (REGISTER|CHECK|FREEZE|THAW|DISCONNECT|EXIT) (ok|fail|timeout)"
                  r"((?: [a-z_-]+(?:=\S+)?)*)$")

t = qtest.start(root=False, needs=("appvss-sim",))

work = tempfile.mkdtemp(prefix="quiesce-sim-")
sock = os.path.join(work, "app.sock")
daemon = FakeDaemon(sock)
procs = []


def start(*args, log=None, wdir=None, name="sim"):
    cmd = [SIM, "-n", "-s", sock, "-N", name]
    if log:
        cmd += ["-l", log]
    if wdir:
        cmd += ["-w", wdir]
    p = subprocess.Popen(cmd + list(args), stderr=subprocess.DEVNULL)
    procs.append(p)
    return p


stop = qtest.stop_proc


def events(log):
    """Parsed -l lines: list of (ns, EVENT, result, {k: v}); asserts every line parses."""
    out = []
    if not os.path.exists(log):
        return out
    with open(log) as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                raise AssertionError("bad event line %r" % line)
            kv = {}
            for item in m.group(4).split():
                k, _, v = item.partition("=")
                kv[k] = v
            out.append((int(m.group(1)), m.group(2), m.group(3), kv))
    return out


def fresh(name):
    return os.path.join(work, name)


try:
    # --- usage
    r = subprocess.run([SIM, "--help"], capture_output=True, text=True)
    t.ok(r.returncode == 0 and "-f N" in r.stdout and "-w dir" in r.stdout, "--help prints usage, exit 0")
    r = subprocess.run([SIM, "-f", "3"], capture_output=True, text=True)
    t.eq(r.returncode, 2, "-f 3 is a usage error")
    r = subprocess.run([SIM, "-N", "bad name", "-n", "-x", "-s", sock], capture_output=True, text=True)
    t.eq(r.returncode, 1, "an invalid name is refused by the library, exit 1")

    # --- registration
    log = fresh("reg.log")
    p = start("-T", "2500", log=log, name="db@main")
    app = daemon.register(timeout_ms=2500, app_id=9)
    t.eq(app.hello["name"], b"db@main", "hello carries -N name")
    t.eq(app.hello["flags"], 0, "registers as required by default")
    t.eq(app.hello["timeout_ms"], 2500, "hello carries -T timeout")
    t.eq(app.hello["reserved"], b"\0" * 48, "hello reserved bytes are zero")
    t.eq(app.ask(CHECK), SUCCESS, "CHECK answered with success")
    t.eq(stop(p), 0, "SIGTERM: exit 0")
    ev = events(log)
    t.eq([e[1] for e in ev], ["REGISTER", "CHECK", "EXIT"], "event log: REGISTER, CHECK, EXIT")
    t.ok(ev[0][3].get("id") == "9" and ev[0][3].get("timeout_ms") == "2500" and
         ev[0][3].get("flags") == "required" and ev[0][3].get("pid") == str(p.pid),
         "REGISTER line has id, effective timeout, flags, pid", ev[0])
    t.eq(ev[2][3].get("signal"), "TERM", "EXIT line names the signal")
    t.ok(app.closed_within(2), "daemon sees the hang-up")
    app.close()

    p = start("-o", name="opt")
    app = daemon.register(flags=F_OPTIONAL)
    t.eq(app.hello["flags"], F_OPTIONAL, "-o registers as optional")
    stop(p, signal.SIGINT)
    t.eq(p.returncode, 0, "SIGINT: exit 0")
    app.close()

    # --- -c/-f/-t 0 and 2: answers; timeouts: answer only after the daemon's timeout
    for opt, op in (("-c", CHECK), ("-f", FREEZE), ("-t", THAW)):
        name = {CHECK: "CHECK", FREEZE: "FREEZE", THAW: "THAW"}[op]
        log = fresh("sim%s.log" % opt)
        p = start(opt, "2", log=log)
        app = daemon.register(timeout_ms=400)
        t.eq(app.ask(op), FAIL, "%s 2: %s answered with failure" % (opt, name))
        stop(p)
        app.close()
        ev = [e for e in events(log) if e[1] == name]
        t.ok(len(ev) == 1 and ev[0][2] == "fail" and "simulated" in ev[0][3],
             "%s 2: logged as a simulated failure" % opt, ev)

        log = fresh("sim%s1.log" % opt)
        p = start(opt, "1", log=log)
        app = daemon.register(timeout_ms=400)
        t0 = time.monotonic()
        msgid = app.request(op)
        try:
            app.reply(timeout=0.4)
            early = True
        except Timeout:
            early = False
        t.ok(not early, "%s 1: no answer within the daemon's timeout" % opt)
        ropt, status, rid = app.reply(timeout=5)
        late = time.monotonic() - t0
        t.ok((ropt, status, rid) == (op, SUCCESS, msgid) and 1.3 <= late < 4,
             "%s 1: late success answer about 1 s after the timeout (%.2fs)" % (opt, late))
        stop(p)
        app.close()
        ev = [e for e in events(log) if e[1] == name]
        t.ok(len(ev) == 1 and ev[0][2] == "timeout", "%s 1: logged as timeout" % opt, ev)

    # -L: how late the timeout answer comes
    p = start("-f", "1", "-L", "100")
    app = daemon.register(timeout_ms=300)
    t0 = time.monotonic()
    t.eq(app.ask(FREEZE, timeout=0.3), None, "-f 1 -L 100: no answer in time")
    late = app.reply(timeout=3)
    dt = time.monotonic() - t0
    t.ok(late[:2] == (FREEZE, SUCCESS) and 0.35 <= dt < 1.0, "-L 100: answers ~100 ms after the deadline (%.2fs)" % dt)
    stop(p)
    app.close()

    # --- a timeout simulation is cut short by SIGTERM
    p = start("-f", "1")
    app = daemon.register(timeout_ms=30000)
    app.request(FREEZE)
    time.sleep(0.3)
    t0 = time.monotonic()
    rc = stop(p)
    t.ok(rc == 0 and time.monotonic() - t0 < 2, "SIGTERM during a simulated timeout exits at once")
    app.close()

    # --- -w and -l across a whole CHECK/FREEZE/THAW
    wdir = fresh("w")
    os.mkdir(wdir)
    log = fresh("w.log")
    p = start(log=log, wdir=wdir, name="wsim")
    app = daemon.register(timeout_ms=2000)
    t.eq(app.ask(CHECK), SUCCESS, "-w: CHECK ok")
    t.ok(not os.listdir(wdir), "-w: CHECK writes nothing")
    freeze_id = app.request(FREEZE)
    reply = app.reply()
    # The file must be there, with this msgid, as soon as the answer is.
    with open(os.path.join(wdir, "wsim.freeze")) as f:
        content = f.read()
    t.ok(reply == (FREEZE, SUCCESS, freeze_id) and "msgid=%d" % freeze_id in content,
         "-w: FREEZE file written before the answer", content)
    thaw_id = app.request(THAW)
    reply = app.reply()
    with open(os.path.join(wdir, "wsim.thaw")) as f:
        content = f.read()
    t.ok(reply == (THAW, SUCCESS, thaw_id) and "msgid=%d" % thaw_id in content,
         "-w: THAW file written before the answer")
    stop(p)
    app.close()
    ev = events(log)
    t.eq([(e[1], e[2]) for e in ev],
         [("REGISTER", "ok"), ("CHECK", "ok"), ("FREEZE", "ok"), ("THAW", "ok"), ("EXIT", "ok")],
         "-l: one line per event")
    t.ok(all(ev[i][0] < ev[i + 1][0] for i in range(len(ev) - 1)), "-l: monotonic times increase")
    t.eq(ev[2][3].get("wrote"), os.path.join(wdir, "wsim.freeze"), "-l: FREEZE line names the file")
    t.eq(ev[2][3].get("msgid"), str(freeze_id), "-l: FREEZE line has the msgid")
    t.eq(ev[3][3].get("wrote"), os.path.join(wdir, "wsim.thaw"), "-l: THAW line names the file")

    # -f 2 with -w: a vetoed freeze writes nothing
    wdir2 = fresh("w2")
    os.mkdir(wdir2)
    p = start("-f", "2", wdir=wdir2)
    app = daemon.register()
    t.eq(app.ask(FREEZE), FAIL, "-f 2 -w: FREEZE vetoed")
    t.ok(not os.listdir(wdir2), "-f 2 -w: no file written")
    stop(p)
    app.close()

    # -w into a directory we cannot write: the FREEZE fails and says why
    if os.geteuid() != 0:
        t.skip("-w unwritable", "root writes anywhere")
    else:
        rodir = fresh("ro")
        os.mkdir(rodir)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "quiesce-ro", rodir], check=True)
        try:
            log = fresh("ro.log")
            p = start(log=log, wdir=rodir)
            app = daemon.register()
            t.eq(app.ask(FREEZE), FAIL, "-w on a read-only fs: FREEZE fails")
            stop(p)
            app.close()
            ev = [e for e in events(log) if e[1] == "FREEZE"]
            t.ok(ev and ev[0][2] == "fail" and ev[0][3].get("error") == "EROFS",
                 "-w failure logged with error=EROFS", ev)
        finally:
            subprocess.run(["umount", rodir])

    # --- the daemon goes away while the app is frozen: thaw, log, reconnect
    wdir3 = fresh("w3")
    os.mkdir(wdir3)
    log = fresh("lost.log")
    p = start(log=log, wdir=wdir3, name="lost")
    app = daemon.register(app_id=1)
    t.eq(app.ask(FREEZE), SUCCESS, "frozen")
    app.close()
    app2 = daemon.register(timeout=5, app_id=2)
    t.eq(app2.hello["name"], b"lost", "reconnects after the daemon hung up")
    ev = events(log)
    kinds = [(e[1], e[2]) for e in ev]
    t.ok(("THAW", "ok") in kinds and "lost-connection" in ev[kinds.index(("THAW", "ok"))][3],
         "thaws itself when the connection is lost while frozen", kinds)
    t.ok(os.path.exists(os.path.join(wdir3, "lost.thaw")), "and writes its thaw file")
    t.ok(("DISCONNECT", "fail") in kinds, "DISCONNECT logged")
    t.eq(app2.ask(CHECK), SUCCESS, "new connection works")
    # garbage: the app drops the connection and comes back
    app2.send(b"\x01" * 64)
    t.ok(app2.closed_within(2), "garbage from the daemon: the app hangs up")
    app3 = daemon.register(timeout=5, app_id=3)
    t.eq(app3.ask(CHECK), SUCCESS, "and registers again")
    stop(p)
    app2.close()
    app3.close()
    ev = events(log)
    t.ok(any(e[1] == "DISCONNECT" and e[3].get("error") == "EPROTO" for e in ev),
         "DISCONNECT error=EPROTO logged")

    # -x: exit instead of reconnecting
    p = start("-x")
    app = daemon.register()
    app.close()
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq(rc, 1, "-x: exit 1 when the daemon hangs up")

    # --- refusals
    log = fresh("taken.log")
    p = start("-x", log=log)
    app = daemon.accept()
    app.read_hello()
    app.welcome(result=REFUSED_NAME_TAKEN)
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq(rc, 1, "-x: name taken: exit 1")
    ev = events(log)
    t.ok(ev and ev[0][1] == "REGISTER" and ev[0][2] == "fail" and
         ev[0][3].get("error") == "EADDRINUSE", "REGISTER fail error=EADDRINUSE logged", ev)
    app.close()

    p = start()
    app = daemon.accept()
    app.read_hello()
    app.welcome(result=REFUSED_NAME_TAKEN)
    app.close()
    app = daemon.register(timeout=5)
    t.ok(True, "name taken without -x: tries again")
    stop(p)
    app.close()

    p = start()
    app = daemon.accept()
    app.read_hello()
    app.welcome(result=REFUSED_PERMISSION)
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq(rc, 1, "permission refused: gives up (exit 1) even without -x")
    app.close()

    # --- no daemon yet: keeps trying, registers when it appears
    daemon.close()
    log = fresh("late.log")
    p = start(log=log)
    time.sleep(1.5)
    daemon = FakeDaemon(sock)
    app = daemon.register(timeout=5)
    t.eq(app.ask(CHECK), SUCCESS, "registers once the daemon appears")
    stop(p)
    app.close()
    regs = [e for e in events(log) if e[1] == "REGISTER"]
    t.ok(len(regs) == 2 and regs[0][2] == "fail" and regs[1][2] == "ok",
         "one REGISTER fail line (not one per retry), then ok", regs)

    # --- daemon mode
    log = fresh("bg.log")
    r = subprocess.run([SIM, "-s", os.path.relpath(sock), "-N", "bg", "-l", log], timeout=10)
    t.eq(r.returncode, 0, "without -n: the parent exits 0")
    app = daemon.register(timeout=5)
    t.eq(app.ask(CHECK), SUCCESS, "the daemonized child (relative -s) answers")
    pid = int([e for e in events(log) if e[1] == "REGISTER"][0][3]["pid"])
    t.ok(pid != os.getpid(), "child pid logged")
    os.kill(pid, signal.SIGTERM)
    t.ok(app.closed_within(5), "child exits on SIGTERM")
    app.close()

    # --- as root: a filesystem frozen before FREEZE makes the -w write hang, so the
    # answer misses the timeout. This is how the sim shows a daemon that freezes too early.
    if os.geteuid() != 0:
        t.skip("early-freeze detection", "needs root")
    else:
        scratch = qtest.Scratch(n=1)
        mp = scratch.mounts[0]
        p = start(wdir=mp, name="early")
        app = daemon.register(timeout_ms=500)
        t.eq(app.ask(FREEZE), SUCCESS, "fs not frozen: FREEZE write works")
        t.eq(app.ask(THAW), SUCCESS, "THAW write works")
        qtest.freeze_path(mp)
        t.eq(app.ask(FREEZE, timeout=1.0), None, "fs frozen too early: no answer in time")
        qtest.thaw_path(mp)
        late = app.reply(timeout=5)
        t.ok(late[0] == FREEZE and late[1] == SUCCESS, "answer comes once the fs is thawed")
        stop(p)
        app.close()
        scratch.cleanup()
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
    daemon.close()
    subprocess.run(["rm", "-rf", work])

t.exit()
