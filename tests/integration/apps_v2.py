#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""App protocol version 2 against the real daemon (docs/protocol.md §2.5, §2.6): a v2
hello is welcomed in version 2; an answer's detail shows in the freeze report, in
quiescectl apps and in the veto's message; the filesystem query lists exactly the
daemon's candidates (device numbers as stat() sees them) and leaves an outstanding
request alone. A version 1 app is unchanged: the same frames are garbage from it."""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import apptest  # noqa: E402
from appproto import (FREEZE, THAW, SUCCESS, FAIL, pack_detail_reply,  # noqa: E402
                      pack_query)

t = qtest.start()
s = qtest.Scratch(n=2)
d = qtest.Daemon(s, timeout=5)


def freeze_async():
    box = {}
    th = threading.Thread(target=lambda: box.__setitem__("ans", apptest.answer(d, "quiesce-freeze")))
    th.start()
    return th, box


try:
    a, w = apptest.raw(d, "v2app", version=2)
    t.ok(w["result"] == 0 and w["version"] == 2, "a version 2 hello is welcomed in version 2", repr(w))
    old, w1 = apptest.raw(d, "v1app")
    t.ok(w1["result"] == 0 and w1["version"] == 1, "a version 1 hello is still welcomed in version 1")
    t.eq(apptest.apps_list(d)["v2app"].get("protocol"), 2, "quiescectl apps shows the protocol")

    # ---- the filesystem query, while idle
    flags, fss = a.filesystems()
    want = {}
    for mp in s.mounts:
        st = os.stat(mp)
        want[mp] = (os.major(st.st_dev), os.minor(st.st_dev))
    got = {e[4]: (e[0], e[1]) for e in fss}
    t.eq(got, want, "the query lists the scratch mounts with their st_dev")
    t.ok(flags == 0 and all(e[2] == "ext4" and e[3].startswith("/dev/loop") for e in fss),
         "with fs type and source, complete", repr((flags, fss)))

    # ---- a veto with its reason (a freeze asks FREEZE; the query leaves the request alone)
    old.close()   # keep the v1 app out of the freezes below
    apptest.wait_apps(d, 1)
    th, box = freeze_async()
    opt, _, msgid = a.request()
    t.eq(opt, FREEZE, "the v2 app is asked FREEZE")
    flags, fss = a.filesystems()
    t.eq(len(fss), 2, "a query with the FREEZE outstanding is answered")
    a.send(pack_detail_reply(FREEZE, msgid, FAIL, "pg_wal /x/pg_wal is on / (not frozen)"))
    th.join(30)
    ret, err, rep = box["ans"]
    t.ok(err and "pg_wal /x/pg_wal is on / (not frozen)" in err.get("desc", ""),
         "the veto's message carries the detail", repr(err))
    ph = apptest.phase(rep, "apps", "freeze")
    t.ok(ph.get("apps") and ph["apps"][0].get("detail") == "pg_wal /x/pg_wal is on / (not frozen)",
         "the report's app entry has the detail", repr(ph))
    t.eq(s.frozen(), [], "nothing frozen after the veto")

    # ---- a freeze whose answer carries a position
    th, box = freeze_async()
    opt, _, msgid = a.request()
    t.eq(opt, FREEZE, "FREEZE again")
    a.send(pack_detail_reply(FREEZE, msgid, SUCCESS, "lsn 0/3000148"))
    th.join(30)
    ret, err, rep = box["ans"]
    t.ok(ret is not None, "the freeze succeeds", repr(err))
    st = d.ctl("status", "--json")
    t.ok('"lsn 0/3000148"' in st.stdout, "quiescectl status --json shows the freeze's detail",
         st.stdout[-800:])
    apps = d.ctl("apps", "--json")
    last = json.loads(apps.stdout)["apps"][0].get("last", {}) if apps.returncode == 0 else {}
    t.eq(last.get("detail"), "lsn 0/3000148", "quiescectl apps shows the last detail")
    t.ok("lsn 0/3000148" in d.ctl("apps").stdout, "and so does its text output")
    th = threading.Thread(target=lambda: box.__setitem__("thaw", apptest.answer(d, "quiesce-thaw")))
    th.start()
    opt, _, msgid = a.request()
    t.eq(opt, THAW, "THAW after the thaw")
    a.reply(THAW, msgid)
    th.join(30)
    t.eq(s.frozen(), [], "thawed")

    # ---- bad v2 frames from a v2 app: dropped
    for what, frame in [("a query with reserved bytes", pack_query(reserved=b"x")),
                        ("a query of another kind", pack_query(kind=9))]:
        b, _ = apptest.raw(d, "bad", version=2)
        b.send(frame)
        t.eq(b.recv(5), b"", "%s: the app is dropped" % what)
        b.close()
        apptest.wait_apps(d, 1)
    b, _ = apptest.raw(d, "bad", version=2)
    th, box = freeze_async()
    a_req = a.request()
    _, _, msgid = b.request()
    b.send(pack_detail_reply(FREEZE, msgid, SUCCESS, "tab\there"))
    t.eq(b.recv(5), b"", "a detail with a control byte: the app is dropped")
    a.reply(FREEZE, a_req[2], FAIL)   # a success would be owed a THAW now
    th.join(30)
    t.ok(box["ans"][1] is not None, "and the freeze it answered fails")
    apptest.wait_apps(d, 1)

    # ---- the same frames from a version 1 app: garbage, as before
    v1, _ = apptest.raw(d, "v1again")
    v1.send(pack_query())
    t.eq(v1.recv(5), b"", "a version 1 app that sends a query is dropped")
    v1, _ = apptest.raw(d, "v1again")
    th, box = freeze_async()
    a_req = a.request()
    _, _, msgid = v1.request()
    v1.send(pack_detail_reply(FREEZE, msgid, SUCCESS, "x"))
    t.eq(v1.recv(5), b"", "a version 1 app that sends a detail reply is dropped")
    a.reply(FREEZE, a_req[2], FAIL)
    th.join(30)
    t.ok("wrong frame size 192" in d.log_text(), "logged as a wrong frame size")
    a.close()
    qtest.stop_clean(t, d)
finally:
    d.kill()
    s.cleanup()
t.exit()
