#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""recwriter against a fake daemon: the record format (checked with zlib here, not with
recwriter's own code), holding writes between FREEZE and THAW, thawing when the daemon
goes, continuing a file, the -c checker; and, as root, a consistent on-disk image of a
scratch filesystem frozen the way quiesced does it (app FREEZE, then FIFREEZE)."""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
from appproto import CHECK, FREEZE, THAW, SUCCESS, FakeDaemon  # noqa: E402

REC = qtest.bin_path("recwriter")
DATA, FRZ, THW, START = 0, 1, 2, 3

t = qtest.start(root=False, needs=("recwriter",))

work = tempfile.mkdtemp(prefix="quiesce-rec-")
sock = os.path.join(work, "app.sock")
daemon = FakeDaemon(sock)
procs = []


def records(path):
    """Every record, checked independently of recwriter: (type, seq, time_ns)."""
    with open(path, "rb") as f:
        b = f.read()
    assert len(b) % 64 == 0, "torn record"
    out = []
    for i in range(0, len(b), 64):
        r = b[i:i + 64]
        magic, typ, seq, tns = struct.unpack("<4sIQQ", r[:24])
        (crc,) = struct.unpack("<I", r[60:])
        assert magic == b"QREC", "magic at %d" % i
        assert crc == zlib.crc32(r[:60]), "crc at %d" % i
        assert r[24:60] == bytes((seq + j) & 0xff for j in range(36)), "payload at %d" % i
        out.append((typ, seq, tns))
    return out


def start(path, *args):
    p = subprocess.Popen([REC, "-n", "-s", sock] + list(args) + [path], stderr=subprocess.DEVNULL)
    procs.append(p)
    return p


stop = qtest.stop_proc


def check(path):
    return subprocess.run([REC, "-c", path], capture_output=True, text=True)


def size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def wait_records(path, n, timeout=5.0):
    """True once path holds more than n records (the writer got that far: no fixed
    pause, which a loaded machine can outlast)."""
    return qtest.wait_for(lambda: size(path) > n * 64, timeout * qtest.SLOW, 0.01)


try:
    r = subprocess.run([REC, "--help"], capture_output=True, text=True)
    t.ok(r.returncode == 0 and "FILE" in r.stdout, "--help")
    t.eq(subprocess.run([REC], capture_output=True).returncode, 2, "no file: usage error")

    # --- steady writing, registration
    f1 = os.path.join(work, "a.dat")
    p = start(f1, "-t", "-r", "400", "-N", "rw1")
    app = daemon.register(timeout_ms=3000)
    t.eq(app.hello["name"], b"rw1", "registers with -N")
    t.eq(app.hello["flags"], 0, "required by default")
    t.ok(wait_records(f1, 60), "it writes")
    recs = records(f1)
    t.ok(recs[0][0] == START and recs[0][1] == 0, "first record: start, seq 0")
    t.ok(all(recs[i][1] == i for i in range(len(recs))), "seq contiguous from 0")
    # -r is a ceiling: never faster (by its own clock). How much slower depends on the
    # load of the machine, so that is not checked.
    rate = (len(recs) - 2) / max((recs[-1][2] - recs[1][2]) / 1e9, 1e-9)
    t.ok(rate <= 400 * 1.1, "at most 400 records/s (%.0f/s)" % rate)
    t.ok(abs(recs[-1][2] / 1e9 - time.time()) < 5, "time_ns is CLOCK_REALTIME")
    t.eq(app.ask(CHECK), SUCCESS, "CHECK ok")

    # --- FREEZE: freeze record durable before the answer, then nothing until THAW
    msgid = app.request(FREEZE)
    reply = app.reply()
    at_reply = records(f1)
    t.ok(reply == (FREEZE, SUCCESS, msgid), "FREEZE answered with success")
    t.eq(at_reply[-1][0], FRZ, "the freeze record is the last one when the answer arrives")
    time.sleep(0.5)
    t.eq(size(f1), len(at_reply) * 64, "no writes while held (0.5 s)")
    t.eq(app.ask(FREEZE), SUCCESS, "a second FREEZE while held is answered, nothing written")
    t.eq(size(f1), len(at_reply) * 64, "still held")
    t.eq(app.ask(THAW), SUCCESS, "THAW ok")
    n = len(at_reply)
    wait_records(f1, n + 10)
    recs = records(f1)
    t.ok(recs[n][0] == THW and recs[n][1] == at_reply[-1][1] + 1, "thaw record right after freeze")
    t.ok(len(recs) > n + 10 and all(r[0] == DATA for r in recs[n + 1:]), "data records resume")

    # --- the daemon goes away while held: thaw record, resume, reconnect
    t.eq(app.ask(FREEZE), SUCCESS, "frozen again")
    held = len(records(f1))
    app.close()
    wait_records(f1, held + 5)
    recs = records(f1)
    t.ok(recs[held - 1][0] == FRZ and recs[held][0] == THW and len(recs) > held + 5,
         "connection lost while held: thaw record, writing resumes")
    app = daemon.register(timeout=5)
    t.eq(app.ask(CHECK), SUCCESS, "reconnects")
    app.send(b"nonsense")
    t.ok(app.closed_within(2), "garbage: drops the connection")
    app.close()
    app = daemon.register(timeout=5)
    t.eq(app.ask(CHECK), SUCCESS, "and reconnects again")
    t.eq(stop(p), 0, "SIGTERM: exit 0")
    app.close()
    r = check(f1)
    t.ok(r.returncode == 0 and "errors=0" in r.stdout and "partial_bytes=0" in r.stdout,
         "-c: the file is sound", r.stdout + r.stderr)
    t.ok("freeze=2 thaw=2" in r.stdout, "-c counts: 2 freezes (the repeated FREEZE wrote none), 2 thaws",
         r.stdout)

    # --- restart continues the sequence; -t starts over
    before = records(f1)
    p = start(f1)
    app = daemon.register()
    wait_records(f1, len(before))
    stop(p)
    app.close()
    recs = records(f1)
    t.ok(recs[len(before)][0] == START and recs[len(before)][1] == before[-1][1] + 1,
         "restart: a start record continues the sequence")
    t.eq(check(f1).returncode, 0, "-c: still sound")
    n_before = len(records(f1))
    p = start(f1, "-t")
    app = daemon.register()
    # truncated, then a few records (the checks below mutate the 3rd and 4th)
    qtest.wait_for(lambda: 5 * 64 <= size(f1) < n_before * 64, 5 * qtest.SLOW, 0.01)
    stop(p)
    app.close()
    t.eq(records(f1)[0][:2], (START, 0), "-t: starts over at seq 0")

    bad = os.path.join(work, "bad.dat")
    with open(bad, "wb") as f:
        f.write(b"x" * 100)
    p = start(bad)
    t.eq(p.wait(5), 1, "refuses to append to a file that is not a record file")

    # --- the checker finds what is wrong
    good = os.path.join(work, "good.dat")
    shutil.copy(f1, good)
    b = bytearray(open(good, "rb").read())
    cases = {
        "flipped byte": lambda x: x.__setitem__(64 * 2 + 30, x[64 * 2 + 30] ^ 1),
        "torn tail": lambda x: x.extend(b"QREC"),
        "missing record": lambda x: x.__delitem__(slice(64 * 3, 64 * 4)),
    }
    for name, mutate in cases.items():
        x = bytearray(b)
        mutate(x)
        with open(bad, "wb") as f:
            f.write(x)
        t.eq(check(bad).returncode, 1, "-c finds a %s" % name)

    # data written while held is a violation of the hold
    def rec(typ, seq):
        r = b"QREC" + struct.pack("<IQQ", typ, seq, 0) + bytes((seq + j) & 0xff for j in range(36))
        return r + struct.pack("<I", zlib.crc32(r))
    with open(bad, "wb") as f:
        f.write(rec(START, 0) + rec(DATA, 1) + rec(FRZ, 2) + rec(DATA, 3) + rec(THW, 4))
    r = check(bad)
    t.ok(r.returncode == 1 and "while held" in r.stderr, "-c finds data written while held")
    with open(bad, "wb") as f:
        f.write(rec(START, 0) + rec(DATA, 1) + rec(FRZ, 2))
    r = check(bad)
    t.ok(r.returncode == 0 and "last=freeze" in r.stdout, "-c: a file ending held is sound, last=freeze")

    # --- as root: what a snapshot would see. App FREEZE, then FIFREEZE (the daemon's order),
    # copy the image while frozen, thaw; the copy must end with the freeze record.
    if os.geteuid() != 0:
        t.skip("snapshot image", "needs root")
    else:
        scratch = qtest.Scratch(n=1)
        mp = scratch.mounts[0]
        f2 = os.path.join(mp, "rec.dat")
        p = start(f2, "-r", "1000")
        app = daemon.register(timeout_ms=3000)
        wait_records(f2, 100)
        t.eq(app.ask(FREEZE), SUCCESS, "snapshot: app frozen")
        qtest.freeze_path(mp)
        image = os.path.join(scratch.img, "m0.img")
        copy = os.path.join(scratch.img, "snap.img")
        shutil.copyfile(image, copy)
        qtest.thaw_path(mp)
        t.eq(app.ask(THAW), SUCCESS, "snapshot: app thawed after the fs")
        time.sleep(0.2)
        stop(p)
        app.close()
        snap_mp = os.path.join(scratch.mnt, "snap")
        os.makedirs(snap_mp)
        loop = qtest.run(["losetup", "--find", "--show", copy]).stdout.strip()
        scratch.loops.append(loop)
        qtest.run(["mount", "-o", "ro", loop, snap_mp])
        r = check(os.path.join(snap_mp, "rec.dat"))
        t.ok(r.returncode == 0 and "last=freeze" in r.stdout and "partial_bytes=0" in r.stdout,
             "snapshot image: every record intact, ends with the freeze record", r.stdout + r.stderr)
        live = check(f2)
        t.ok(live.returncode == 0 and "thaw=1" in live.stdout, "live file: sound, thawed once")
        scratch.cleanup()
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
    daemon.close()
    shutil.rmtree(work, ignore_errors=True)

t.exit()
